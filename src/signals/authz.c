/* authz.c - the authz family (SPEC §5.4 authz, YAML role_bindings). The
 * identity is sig_env_t.user / groups (the listener key's user and
 * groups), else, when global.services.authz.trust_identity_headers is set,
 * the configured user and groups headers (groups comma-separated). A
 * binding matches when one of its subjects is the user (kind User), one
 * of the groups (kind Group), the client key's name (kind Key) or team
 * (kind Team), or one of the key's metadata pairs (kind Metadata, name
 * `key=value`). Leaves name the role, so bindings sharing a
 * role share the outcome. Without an identity every rule errors with
 * "no_identity". */
#include "config/family.h"
#include "signals/family.h"

#include <stdlib.h>
#include <string.h>

typedef enum { AZ_USER = 0, AZ_GROUP, AZ_KEY, AZ_TEAM, AZ_METADATA } az_kind_t;

typedef struct az_subject {
    az_kind_t kind;
    const char *name;
} az_subject_t;

static const char *const az_kinds[] = {"User", "Group", "Key", "Team", "Metadata", NULL};

static int az_kind_of(const char *s)
{
    for (int i = 0; az_kinds[i]; i++)
        if (!strcmp(s, az_kinds[i])) return i;
    return -1;
}

/* A Metadata subject `k=v` against the key's metadata. */
static bool az_meta_match(const sig_env_t *env, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq) return false;
    size_t kl = (size_t)(eq - kv);
    for (size_t i = 0; i < env->n_metadata; i++) {
        const cfg_kv_t *m = &env->metadata[i];
        if (m->name && m->value && strlen(m->name) == kl && !memcmp(m->name, kv, kl) &&
            !strcmp(m->value, eq + 1))
            return true;
    }
    return false;
}

typedef struct az_rule {
    az_subject_t *subj;
    size_t n;
} az_rule_t;

typedef struct az_state {
    sig_rule_table_t rules; /* of az_rule_t */
    bool trust_headers;
    const char *user_header, *groups_header;
} az_state_t;

static int az_rule(const sig_build_t *b, size_t r, void *rec, cfg_diags_t *d)
{
    const cfg_signal_t *sg = b->rules[r];
    const cfg_node_t *sub = sg->subjects;
    az_rule_t *ar = rec;
    if (!sub || sub->kind != CFG_NODE_SEQ || !sub->n) {
        sig_rule_error(d, b->cfg, sg,
                       "subjects must be a non-empty list of "
                       "{kind: User|Group|Key|Team|Metadata, name}");
        return -1;
    }
    int rc = 0;
    ar->subj = calloc(sub->n, sizeof *ar->subj);
    for (size_t i = 0; i < sub->n; i++) {
        const cfg_node_t *k = cfg_node_get(sub->items[i], "kind"),
                         *nm = cfg_node_get(sub->items[i], "name");
        int kind = k && k->kind == CFG_NODE_SCALAR ? az_kind_of(k->str) : -1;
        if (sub->items[i]->kind != CFG_NODE_MAP || kind < 0 || !nm || nm->kind != CFG_NODE_SCALAR ||
            (kind == AZ_METADATA && !strchr(nm->str, '='))) {
            sig_rule_error(d, b->cfg, sg,
                           "subjects[%zu] must be {kind: User|Group|Key|Team|Metadata, name} "
                           "(Metadata names are key=value)",
                           i);
            rc = -1;
            continue;
        }
        ar->subj[ar->n++] = (az_subject_t){(az_kind_t)kind, nm->str};
    }
    return rc;
}

static void az_rule_free(void *rec)
{
    free(((az_rule_t *)rec)->subj);
}

static int az_compile(const sig_build_t *b, void **state, cfg_diags_t *d)
{
    az_state_t *s = calloc(1, sizeof *s);
    *state = s;
    const cfg_global_ext_t *g = b->cfg ? b->cfg->global_ext : NULL;
    if (g) {
        s->trust_headers = g->services.authz.trust_identity_headers;
        s->user_header = g->services.authz.user_header;
        s->groups_header = g->services.authz.groups_header;
    }
    return sig_rule_table_init(&s->rules, b, sizeof(az_rule_t), az_rule, az_rule_free, d);
}

static void az_free(void *p)
{
    az_state_t *s = p;
    if (!s) return;
    sig_rule_table_deinit(&s->rules);
    free(s);
}

static bool in_csv(const char *csv, size_t n, const char *name)
{
    size_t nl = strlen(name);
    size_t i = 0;
    while (i < n) {
        while (i < n && (csv[i] == ' ' || csv[i] == ','))
            i++;
        size_t st = i;
        while (i < n && csv[i] != ',')
            i++;
        size_t en = i;
        while (en > st && csv[en - 1] == ' ')
            en--;
        if (en - st == nl && !memcmp(csv + st, name, nl)) return true;
    }
    return false;
}

static void az_eval(const void *p, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const az_state_t *s = p;
    const sig_env_t *env = cx->env;
    const char *user = env->user;
    const char *hgroups = NULL;
    size_t hglen = 0;
    if (!user && !env->n_groups && s->trust_headers && cx->rq) {
        size_t ul = 0;
        const char *u = s->user_header ? rq_header(cx->rq, s->user_header, &ul) : NULL;
        if (u && ul) user = arena_strndup(cx->a, u, ul);
        if (s->groups_header) hgroups = rq_header(cx->rq, s->groups_header, &hglen);
    }
    bool has_identity = (user && *user) || env->n_groups || (hgroups && hglen) || env->key_name;
    for (size_t i = 0; i < n; i++) {
        sig_result_t *res = refs[i].res;
        if (!has_identity) {
            /* an error (the leaf's on_error decides) unless the binding is fail_open */
            if (!res->rule || !res->rule->fail_open) res->error = SIG_ERR_NO_IDENTITY;
            continue;
        }
        const az_rule_t *ar = sig_rule_at(&s->rules, refs[i].id);
        for (size_t k = 0; k < ar->n && !res->matched; k++) {
            const az_subject_t *sj = &ar->subj[k];
            switch (sj->kind) {
            case AZ_USER: res->matched = user && !strcmp(user, sj->name); break;
            case AZ_GROUP:
                for (size_t g = 0; g < env->n_groups && !res->matched; g++)
                    res->matched = env->groups[g] && !strcmp(env->groups[g], sj->name);
                if (!res->matched && hgroups) res->matched = in_csv(hgroups, hglen, sj->name);
                break;
            case AZ_KEY: res->matched = env->key_name && !strcmp(env->key_name, sj->name); break;
            case AZ_TEAM: res->matched = env->team && !strcmp(env->team, sj->name); break;
            case AZ_METADATA: res->matched = az_meta_match(env, sj->name); break;
            }
        }
        res->score = res->matched ? 1.0 : 0.0;
    }
    /* leaves name roles: a role matches when any of its bindings does */
    for (size_t i = 0; i < n; i++) {
        if (!refs[i].res->matched || !refs[i].rule->role) continue;
        for (size_t j = 0; j < n; j++)
            if (refs[j].rule->role && !strcmp(refs[j].rule->role, refs[i].rule->role) &&
                !refs[j].res->error) {
                refs[j].res->matched = true;
                refs[j].res->score = 1.0;
            }
    }
}

CFG_SIG_FAMILY(
    sig_authz_family, "authz", "role_bindings", "authz role bindings",
    "Role bindings (YAML key role_bindings, leaf type authz).",
    .fields =
        (const cfg_field_t[]){
            CFG_FSTR_REQ(cfg_signal_t, "role", role, "the role leaves name"),
            CFG_FNODE(cfg_signal_t, "subjects", subjects,
                      "[{kind: User|Group|Key|Team|Metadata, name}] (Metadata: name key=value)"),
            CFG_FBOOL(cfg_signal_t, "fail_open", fail_open, "false",
                      "without an identity the rule does not match (instead of an error)"),
            {0}},
    .flags = CFG_SIGFAM_ROLE_LEAVES,
    .ops = &(const sig_family_ops_t){.compile = az_compile, .free = az_free, .eval = az_eval});
