/* trace.c - the decision trace (SPEC §6.2): every evaluated decision as a
 * tree of nodes {kind, signal, label, matched, confidence, skipped, error,
 * children}, printed as text with ✓/✗ marks (`eval --trace`) or as JSON
 * (eval --format json, the management API, replay). */
#include "decision/decision.h"
#include <string.h>

/* A string literal: its length is known, no strlen (renderers on the
 * request path) */
#define PUTL(b, lit) buf_append((b), (lit), sizeof(lit) - 1)

static const char *kind_name(cfg_rule_kind_t k)
{
    switch (k) {
    case CFG_RULE_AND: return "AND";
    case CFG_RULE_OR: return "OR";
    case CFG_RULE_NOT: return "NOT";
    default: return "leaf";
    }
}

static void indent(buf_t *b, int depth)
{
    for (int i = 0; i < depth; i++)
        PUTL(b, "  ");
}

static void node_text(buf_t *b, const dec_node_t *n, int depth)
{
    indent(b, depth);
    buf_puts(b, n->skipped ? "\xC2\xB7 " : n->matched ? "\xE2\x9C\x93 " : "\xE2\x9C\x97 ");
    buf_puts(b, n->kind == CFG_RULE_LEAF ? (n->signal ? n->signal : "?") : kind_name(n->kind));
    if (n->label) buf_printf(b, " [label=%s]", n->label);
    if (n->skipped)
        PUTL(b, " (skipped)");
    else
        buf_printf(b, " %.3f", n->confidence);
    if (n->error) buf_printf(b, " (error: %s)", n->error);
    if (n->fallback) buf_printf(b, " (fallback: %s)", n->fallback);
    buf_putc(b, '\n');
    for (size_t i = 0; i < n->n_children; i++)
        node_text(b, &n->children[i], depth + 1);
}

void dec_trace_text(buf_t *b, const dec_trace_t *t)
{
    buf_printf(b, "%s decision %s %.3f%s\n", t->matched ? "\xE2\x9C\x93" : "\xE2\x9C\x97",
               t->name ? t->name : "", t->confidence, t->is_catch_all ? " (catch-all)" : "");
    if (!t->is_catch_all) node_text(b, &t->root, 1);
}

/* The JSON forms are rendered for every routed request (replay): no printf
 * (buf_g6 writes printf's "%.6g" bytes). */
void dec_node_json(buf_t *b, const dec_node_t *n)
{
    PUTL(b, "{\"kind\":\"");
    buf_puts(b, kind_name(n->kind));
    PUTL(b, "\",\"signal\":");
    buf_json_cstr(b, n->signal);
    PUTL(b, ",\"label\":");
    buf_json_cstr(b, n->label);
    buf_puts(b, n->matched ? ",\"matched\":true,\"confidence\":"
                           : ",\"matched\":false,\"confidence\":");
    buf_g6(b, n->confidence);
    buf_puts(b, n->skipped ? ",\"skipped\":true,\"error\":" : ",\"skipped\":false,\"error\":");
    buf_json_cstr(b, n->error);
    buf_json_opt(b, "fallback", n->fallback);
    PUTL(b, ",\"children\":[");
    for (size_t i = 0; i < n->n_children; i++) {
        if (i) buf_putc(b, ',');
        dec_node_json(b, &n->children[i]);
    }
    PUTL(b, "]}");
}

void dec_trace_json(buf_t *b, const dec_trace_t *t)
{
    PUTL(b, "{\"name\":");
    buf_json_cstr(b, t->name);
    buf_puts(b, t->matched ? ",\"matched\":true,\"confidence\":"
                           : ",\"matched\":false,\"confidence\":");
    buf_g6(b, t->confidence);
    buf_puts(b,
             t->is_catch_all ? ",\"catch_all\":true,\"root\":" : ",\"catch_all\":false,\"root\":");
    dec_node_json(b, &t->root);
    buf_putc(b, '}');
}

void dec_result_json(buf_t *b, const dec_result_t *r)
{
    PUTL(b, "{\"outcome\":\"");
    buf_puts(b, dec_outcome_name(r->outcome));
    PUTL(b, "\",\"decision\":");
    buf_json_cstr(b, r->name);
    PUTL(b, ",\"confidence\":");
    buf_g6(b, r->confidence);
    PUTL(b, ",\"algorithm\":");
    buf_json_cstr(b, r->algorithm);
    PUTL(b, ",\"strategy\":\"");
    buf_puts(b, dec_strategy_name(r->strategy));
    buf_putc(b, '"');
    if (r->outcome == DEC_DEFAULT) {
        PUTL(b, ",\"model\":");
        buf_json_cstr(b, r->default_model);
    }
    buf_json_opt(b, "failed_leaf", r->failed_leaf);
    PUTL(b, ",\"ranking\":[");
    for (size_t i = 0; i < r->n_ranking; i++) {
        if (i) buf_putc(b, ',');
        buf_json_cstr(b, r->traces[r->ranking[i].index].name);
    }
    PUTL(b, "],\"trace\":[");
    for (size_t i = 0; i < r->n_traces; i++) {
        if (i) buf_putc(b, ',');
        dec_trace_json(b, &r->traces[i]);
    }
    PUTL(b, "]}");
}

void dec_result_text(buf_t *b, const dec_result_t *r)
{
    for (size_t i = 0; i < r->n_traces; i++)
        dec_trace_text(b, &r->traces[i]);
    switch (r->outcome) {
    case DEC_FAIL:
        buf_printf(b, "=> fail: signal_unavailable (%s)\n", r->failed_leaf ? r->failed_leaf : "?");
        break;
    case DEC_DEFAULT:
        buf_printf(b, "=> no decision matched: default_model %s\n",
                   r->default_model ? r->default_model : "(none)");
        break;
    default:
        buf_printf(b, "=> %s (%s, %s, confidence %.3f)\n", r->name, dec_outcome_name(r->outcome),
                   dec_strategy_name(r->strategy), r->confidence);
    }
}
