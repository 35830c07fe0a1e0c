/* generate.c - `tether dsl generate` (SPEC §10.5): natural language -> DSL
 * through an OpenAI-compatible chat endpoint (libcurl, blocking). The model
 * gets a reference built from the parser's keyword table and the config
 * loader's field tables (signal families and their keys, algorithm blocks,
 * plugin types, SESSION and EMIT keys), so it cannot drift from what the
 * parser and loader accept. Each answer is stripped of fences and prose,
 * parsed, validated and compiled through the loader; errors go back to the
 * model in a repair turn, up to the attempt limit. A program that does not
 * parse is never returned. */
#include "dsl/generate.h"
#include "config/family.h"
#include "dsl/ast.h"
#include "dsl/compile.h"
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

extern const cfg_schema_t cfg_schema_session, cfg_schema_retention, cfg_schema_model_card,
    cfg_schema_plugin, cfg_schema_partition, cfg_schema_score, cfg_schema_mapping;

static const char grammar[] =
    "program    = { routing | signal | projection | model | plugin_tpl | route | tree | test | "
    "recipe | entrypoint } ;\n"
    "routing    = \"ROUTING\" block ;                       (* { strategy: "
    "\"priority\"|\"confidence\"|\"tiers\" } *)\n"
    "signal     = \"SIGNAL\" family name block ;\n"
    "projection = \"PROJECTION\" (\"partition\" | \"score\" | \"mapping\") name block | "
    "\"SIGNAL_GROUP\" name block ;\n"
    "model      = \"MODEL\" name block ;                     (* model card *)\n"
    "plugin_tpl = \"PLUGIN\" name plugin_type block ;        (* template *)\n"
    "route      = \"ROUTE\" name \"{\" { route_item } \"}\" ;\n"
    "route_item = \"PRIORITY\" int | \"TIER\" int | \"DESCRIPTION\" string | \"WHEN\" expr\n"
    "           | \"MODEL\" model_ref { \",\" model_ref } | \"ALGORITHM\" ident [ block ]\n"
    "           | \"PLUGIN\" name [ block ] | \"EMIT\" \"retention\" block | \"SESSION\" block ;\n"
    "model_ref  = (string | name) [ \"(\" opt { [\",\"] opt } \")\" ] ;  (* opts: reasoning effort "
    "weight lora *)\n"
    "tree       = \"DECISION_TREE\" name \"{\" \"IF\" expr \"{\" { tree_item } \"}\" { \"ELSE\" "
    "\"IF\" expr \"{\" ... \"}\" } \"ELSE\" \"{\" ... \"}\" \"}\" ;\n"
    "test       = \"TEST\" name \"{\" { string \"->\" name [ \"WITH\" block ] [ \"EXPECT\" block ] "
    "} \"}\" ;\n"
    "expr       = and_expr { \"OR\" and_expr } ;  and_expr = unary { \"AND\" unary } ;\n"
    "unary      = \"NOT\" unary | \"(\" expr \")\" | family \"(\" string { [\",\"] field } \")\" "
    ";\n"
    "opt        = ident \"=\" value ;   block = \"{\" { field } \"}\" ;   field = ident \":\" "
    "value [\",\"] ;\n"
    "value      = string | number | bool | name | \"[\" [ value { [\",\"] value } ] \"]\" | block "
    ";\n";

static const char example[] =
    "ROUTING { strategy: \"tiers\" }\n"
    "SIGNAL keyword code_terms { keywords: [\"stack trace\", \"segfault\"] }\n"
    "SIGNAL jailbreak injection { threshold: 0.7 }\n"
    "ROUTE block_injection {\n  TIER 1 PRIORITY 100\n  WHEN jailbreak(\"injection\")\n  MODEL "
    "local/small\n"
    "  PLUGIN fast_response { message: \"Blocked by policy.\" }\n}\n"
    "ROUTE coding {\n  TIER 2 PRIORITY 50\n  WHEN keyword(\"code_terms\") AND NOT "
    "jailbreak(\"injection\")\n"
    "  MODEL local/coder, cloud/big (reasoning = true, effort = \"high\")\n"
    "  ALGORITHM multi_factor { quality_weight: 0.6 cost_weight: 0.4 }\n  SESSION { stay_bias: "
    "0.15 }\n}\n"
    "TEST smoke {\n  \"This unit test fails with a segfault\" -> coding\n}\n";

static void keys_of(buf_t *out, const cfg_schema_t *s)
{
    int n = 0;
    for (const cfg_field_t *f = s->fields; f->key; f++)
        buf_printf(out, "%s%s", n++ ? ", " : "", f->key);
    if (!n) buf_puts(out, "(no keys)");
}

void dsl_gen_reference(buf_t *out)
{
    buf_puts(
        out,
        "You write routing programs in the tether routing DSL. Answer with the program only.\n\n"
        "Lexical rules: # and // start comments; strings, numbers and booleans are JSON; "
        "identifiers "
        "match [A-Za-z_][A-Za-z0-9_./:-]*; the arrow is ->; commas between fields are optional.\n"
        "Reserved keywords:");
    for (size_t i = 0; dsl_keywords[i]; i++)
        buf_printf(out, " %s", dsl_keywords[i]);
    buf_puts(out, "\n\nGrammar (EBNF):\n");
    buf_puts(out, grammar);
    buf_puts(out, "\nSignal families and the fields of their SIGNAL blocks:\n");
    for (size_t f = 0; f < cfg_signal_family_count(); f++) {
        buf_printf(out, "- %s: ", cfg_signal_family_name((cfg_signal_family_t)f));
        keys_of(out, cfg_signal_schema((cfg_signal_family_t)f));
        buf_putc(out, '\n');
    }
    buf_puts(out,
             "Conditions reference a declared signal as family(\"name\"), or a mapping output as "
             "projection(\"name\"); optional fields label:, predicate: {gt|gte|lt|lte|eq}, "
             "on_error:.\n");
    buf_puts(out, "\nALGORITHM types and their block fields:\n");
    for (size_t i = 0; i < cfg_selector_count(); i++) {
        buf_printf(out, "- %s: ", cfg_selector_at(i)->name);
        keys_of(out, cfg_selector_schema(i));
        buf_putc(out, '\n');
    }
    const cfg_field_t *pt = cfg_schema_field(&cfg_schema_plugin, "type");
    buf_printf(out, "\nPLUGIN types: %s\n", pt && pt->doc ? pt->doc : "");
    static const struct {
        const char *label;
        const cfg_schema_t *schema;
    } blocks[] = {{"SESSION fields: ", &cfg_schema_session},
                  {"\nEMIT retention fields: ", &cfg_schema_retention},
                  {"\nMODEL (card) fields: ", &cfg_schema_model_card},
                  {"\nPROJECTION partition fields: ", &cfg_schema_partition},
                  {"\nPROJECTION score fields: ", &cfg_schema_score},
                  {"\nPROJECTION mapping fields: ", &cfg_schema_mapping}};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        buf_puts(out, blocks[i].label);
        keys_of(out, blocks[i].schema);
    }
    buf_puts(
        out,
        "\n\nRules: every ROUTE needs MODEL; TIER >= 1; PRIORITY >= 0; routes that can match the "
        "same input should differ in rank or exclude each other with NOT.\n\nExample:\n");
    buf_puts(out, example);
}

static bool starts_top(const char *s, size_t n)
{
    static const char *const kws[] = {
        "ROUTING",       "SIGNAL", "PROJECTION", "SIGNAL_GROUP", "MODEL", "PLUGIN", "ROUTE",
        "DECISION_TREE", "TEST",   "RECIPE",     "ENTRYPOINT",   "#",     "//",     NULL};
    for (size_t i = 0; kws[i]; i++) {
        size_t l = strlen(kws[i]);
        if (n >= l && !strncmp(s, kws[i], l) && (l <= 2 || n == l || s[l] == ' ' || s[l] == '{'))
            return true;
    }
    return false;
}

void dsl_gen_extract(const char *ans, size_t len, buf_t *out)
{
    const char *f = NULL;
    for (size_t i = 0; i + 3 <= len; i++)
        if (!strncmp(ans + i, "```", 3) && (i == 0 || ans[i - 1] == '\n')) {
            f = ans + i;
            break;
        }
    if (f) {
        const char *body = memchr(f, '\n', (size_t)(ans + len - f));
        if (body) {
            body++;
            const char *end = body;
            while (end < ans + len) {
                if ((end == body || end[-1] == '\n') && ans + len - end >= 3 &&
                    !strncmp(end, "```", 3))
                    break;
                end++;
            }
            buf_append(out, body, (size_t)(end - body));
            return;
        }
    }
    /* no fence: from the first line that starts a declaration, dropping prose lines after the
     * program */
    const char *p = ans, *e = ans + len, *start = NULL, *last = NULL;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(e - p);
        if (!start && starts_top(p, l)) start = p;
        if (start && l &&
            (p[0] == ' ' || p[0] == '\t' || p[0] == '}' || p[0] == '"' || starts_top(p, l)))
            last = p + l;
        p = nl ? nl + 1 : e;
    }
    if (start && last > start) {
        buf_append(out, start, (size_t)(last - start));
        buf_putc(out, '\n');
    }
}

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    buf_append(ud, p, sz * n);
    return sz * n;
}

/* POST the conversation; the assistant's content into out. 0 ok, -1 with log. */
static int chat(const dsl_gen_opts_t *o, cJSON *messages, buf_t *out, buf_t *log)
{
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "model", o->model);
    cJSON_AddNumberToObject(req, "temperature", o->temperature);
    cJSON_AddItemReferenceToObject(req, "messages", messages);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    char url[2048];
    size_t ul = strlen(o->api_url);
    while (ul && o->api_url[ul - 1] == '/')
        ul--;
    if (ul >= 17 && !strncmp(o->api_url + ul - 17, "/chat/completions", 17))
        snprintf(url, sizeof url, "%.*s", (int)ul, o->api_url);
    else
        snprintf(url, sizeof url, "%.*s/chat/completions", (int)ul, o->api_url);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    const char *key = o->api_key_env ? getenv(o->api_key_env) : NULL;
    char auth[4096];
    if (key && *key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        h = curl_slist_append(h, auth);
    }
    buf_t resp = BUF_INIT;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 60000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(body);
    int ret = -1;
    if (rc != CURLE_OK) {
        buf_printf(log, "dsl generate: %s: %s\n", url, curl_easy_strerror(rc));
    } else if (status != 200) {
        buf_printf(log, "dsl generate: %s answered HTTP %ld: %.*s\n", url, status,
                   (int)(resp.len > 300 ? 300 : resp.len), resp.data ? resp.data : "");
    } else {
        cJSON *j = cJSON_ParseWithLength(resp.data ? resp.data : "", resp.len);
        cJSON *ch = j ? cJSON_GetObjectItem(j, "choices") : NULL;
        cJSON *m = cJSON_IsArray(ch) && cJSON_GetArraySize(ch) > 0
                       ? cJSON_GetObjectItem(cJSON_GetArrayItem(ch, 0), "message")
                       : NULL;
        cJSON *content = m ? cJSON_GetObjectItem(m, "content") : NULL;
        if (cJSON_IsString(content)) {
            buf_puts(out, content->valuestring);
            ret = 0;
        } else {
            buf_printf(log, "dsl generate: the answer has no choices[0].message.content\n");
        }
        cJSON_Delete(j);
    }
    buf_free(&resp);
    return ret;
}

int dsl_generate(const dsl_gen_opts_t *o, buf_t *out, buf_t *log)
{
    cJSON *msgs = cJSON_CreateArray();
    buf_t ref = BUF_INIT;
    dsl_gen_reference(&ref);
    cJSON *sys = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", ref.data);
    cJSON_AddItemToArray(msgs, sys);
    buf_free(&ref);
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "role", "user");
    cJSON_AddStringToObject(u, "content", o->instruction);
    cJSON_AddItemToArray(msgs, u);
    int result = 1;
    buf_t diags = BUF_INIT;
    for (int attempt = 1; attempt <= o->max_attempts; attempt++) {
        buf_t ans = BUF_INIT, prog = BUF_INIT;
        if (chat(o, msgs, &ans, log) != 0) {
            buf_free(&ans);
            result = 2;
            break;
        }
        dsl_gen_extract(ans.data ? ans.data : "", ans.len, &prog);
        arena_t a;
        arena_init(&a, 65536);
        dsl_diags_t d;
        dsl_diags_init(&d, "generated.dsl");
        dsl_program_t *p = dsl_parse(&a, prog.data ? prog.data : "", prog.len, &d);
        bool parsed = d.n_errors == 0 && p->n > 0;
        if (!prog.len || !p->n)
            dsl_diag_add(&d, DSL_ERROR, 1, 1, NULL, "the answer holds no DSL program");
        if (parsed) {
            dsl_validate(p, NULL, &d);
            if (!d.n_errors) {
                buf_t y = BUF_INIT;
                dsl_compile_in_t ci = {.prog = p};
                dsl_compile(&ci, &y, NULL, &d);
                buf_free(&y);
            }
            /* keep the last program that parsed; never one that does not */
            buf_reset(out);
            dsl_fmt(out, p);
        }
        dsl_diags_sort(&d);
        buf_reset(&diags);
        dsl_diags_format(&diags, &d);
        bool ok = parsed && d.n_errors == 0;
        buf_printf(log, "dsl generate: attempt %d/%d: %s\n", attempt, o->max_attempts,
                   ok       ? "valid"
                   : parsed ? "parses, has errors"
                            : "does not parse");
        if (!ok) buf_append(log, diags.data, diags.len);
        dsl_diags_free(&d);
        arena_deinit(&a);
        if (ok) {
            result = 0;
            buf_free(&ans);
            buf_free(&prog);
            break;
        }
        cJSON *as = cJSON_CreateObject();
        cJSON_AddStringToObject(as, "role", "assistant");
        cJSON_AddStringToObject(as, "content", ans.data ? ans.data : "");
        cJSON_AddItemToArray(msgs, as);
        buf_t fix = BUF_INIT;
        buf_puts(&fix, "The program has these errors:\n");
        buf_append(&fix, diags.data, diags.len);
        buf_puts(&fix, "Return the corrected complete program only, with no explanation.");
        cJSON *ru = cJSON_CreateObject();
        cJSON_AddStringToObject(ru, "role", "user");
        cJSON_AddStringToObject(ru, "content", fix.data);
        cJSON_AddItemToArray(msgs, ru);
        buf_free(&fix);
        buf_free(&ans);
        buf_free(&prog);
    }
    if (result == 2 && !o->allow_invalid) buf_reset(out);
    if (result == 1 && !o->allow_invalid) {
        buf_puts(log, "dsl generate: no valid program within the attempt limit (use "
                      "--allow-invalid to keep the "
                      "last one that parsed)\n");
    }
    buf_free(&diags);
    cJSON_Delete(msgs);
    return result;
}
