/* test_members.c - adding a member to a family is one new file and one
 * registry line (STYLE.md, docs/extending.md). This binary links tether's
 * registries plus one line each for three test-only members, each one file
 * written exactly as it would be under src/ (members/, included here
 * because a test binary is built from one .c file): a signal family `echo`
 * with its own options struct, a selection algorithm `last`, a plugin
 * `stamp`, and a replay store backend `tally` with its own options. Nothing
 * else in tether was edited for them, yet each one loads from YAML with
 * unknown-key warnings and did-you-mean, appears in the generated reference
 * (`tether config schema`), is migrated (the family), compiles from the DSL
 * (the three routing members), and runs (the store: records written through
 * the replay queue reach it). The two other store registries get a
 * member each the same way: a Responses store backend `pinned` and a
 * response cache backend `sized`, each with its own options block, loaded,
 * checked, documented, migrated from the flat layout and opened by the
 * server's own code. Also pins that the built-in family ids of
 * config/routing.h are their positions in the signal registry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/migrate.h"
#include "dsl/compile.h"
#include "dsl/ast.h"
#include "json/scan.h"
#include "plugins/registry.h"
#include "replay/registry.h"
#include "request/request.h"
#include "select/registry.h"
#include "signals/registry.h"
#include "signals/signal.h"

#include "api/response_store_registry.h"
#include "plugins/response_cache_registry.h"

#include "../replay/replay_fixture.h"
#include "core/clock.h"
#include "members/plg_stamp.c"
#include "members/rc_sized.c"
#include "members/replay_tally.c"
#include "members/rstore_pinned.c"
#include "members/sel_last.c"
#include "members/sig_echo.c"

/* The registries of this binary: tether's members, plus one line each. */
const cfg_sig_family_t *const cfg_sig_registry[] = {
    SIG_FAMILIES(SIG_FAMILY_ENTRY) & sig_echo_family, NULL};
const cfg_selector_t *const cfg_sel_registry[] = {SEL_ALGORITHMS(SEL_ALGO_ENTRY) & sel_last_algo,
                                                  NULL};
const cfg_plugin_kind_t *const cfg_plg_registry[] = {
    PLG_PLUGINS(PLG_PLUGIN_ENTRY) & plg_stamp_plugin, NULL};
const cfg_store_backend_t *const cfg_replay_store_registry[] = {
    REPLAY_STORES(REPLAY_STORE_ENTRY) & replay_tally_store, NULL};
const cfg_store_backend_t *const cfg_rstore_registry[] = {
    RSTORE_BACKENDS(RSTORE_BACKEND_ENTRY) & rstore_pinned_store, NULL};
const cfg_store_backend_t *const cfg_rc_store_registry[] = {
    RC_BACKENDS(RC_BACKEND_ENTRY) & rc_sized_store, NULL};

rstore_t *api_response_store(const cfg_t *cfg); /* api/responses.c: the server's store */

static const char config_yaml[] = "version: v0.3\n"
                                  "providers:\n"
                                  "  defaults: {default_model: a}\n"
                                  "  models:\n"
                                  "    - {name: a, backend_refs: [{endpoint: 'h:1'}]}\n"
                                  "    - {name: b, backend_refs: [{endpoint: 'h:1'}]}\n"
                                  "routing:\n"
                                  "  modelCards: [{name: a}, {name: b}]\n"
                                  "  signals:\n"
                                  "    echoes:\n"
                                  "      - {name: fruit, word: banana, wieght: 0.9}\n"
                                  "      - {name: veg, word: leek, weight: 0.8}\n"
                                  "  decisions:\n"
                                  "    - name: d\n"
                                  "      rules:\n"
                                  "        operator: OR\n"
                                  "        conditions: [{type: echo, name: fruit}, {type: echo, "
                                  "name: veg}]\n"
                                  "      modelRefs: [{model: a}, {model: b}]\n"
                                  "      algorithm: {type: last, last: {step: 0.25, stepp: 1}}\n"
                                  "      plugins:\n"
                                  "        - {type: stamp, configuration: {value: v1, valeu: x}}\n";

static char *diag_text(const cfg_diags_t *d)
{
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < d->n; i++) {
        cfg_diag_format(&b, &d->items[i]);
        buf_putc(&b, '\n');
    }
    return b.data ? b.data : strdup("");
}

static cfg_t *load(const char *yaml, cfg_diags_t *d)
{
    cfg_diags_init(d);
    return cfg_load_string("t.yaml", yaml, strlen(yaml), NULL, d);
}

static void test_builtin_ids_are_registry_positions(void **st)
{
    static const struct {
        cfg_signal_family_t id;
        const char *name;
    } builtin[] = {
        {CFG_SIG_KEYWORD, "keyword"},
        {CFG_SIG_PII, "pii"},
        {CFG_SIG_JAILBREAK, "jailbreak"},
        {CFG_SIG_LANGUAGE, "language"},
        {CFG_SIG_CONTEXT, "context"},
        {CFG_SIG_CONVERSATION, "conversation"},
        {CFG_SIG_STRUCTURE, "structure"},
        {CFG_SIG_EVENT, "event"},
        {CFG_SIG_MODALITY, "modality"},
        {CFG_SIG_AUTHZ, "authz"},
        {CFG_SIG_EMBEDDING, "embedding"},
        {CFG_SIG_DOMAIN, "domain"},
        {CFG_SIG_COMPLEXITY, "complexity"},
        {CFG_SIG_KB, "kb"},
        {CFG_SIG_PREFERENCE, "preference"},
        {CFG_SIG_REASK, "reask"},
        {CFG_SIG_FACT_CHECK, "fact_check"},
        {CFG_SIG_USER_FEEDBACK, "user_feedback"},
        {18, "classifier"},
    };
    for (size_t i = 0; i < sizeof builtin / sizeof *builtin; i++)
        assert_string_equal(cfg_signal_family_name(builtin[i].id), builtin[i].name);
    /* the new family takes the next id; nothing had to name it */
    assert_int_equal(cfg_signal_family_count(), 20);
    assert_int_equal(cfg_signal_family_by_name("echo"), 19);
    assert_string_equal(cfg_signal_family_key(19), "echoes");
}

static void test_new_members_load_with_key_checks(void **st)
{
    cfg_diags_t d;
    cfg_t *c = load(config_yaml, &d);
    char *txt = diag_text(&d);
    assert_non_null(c);
    assert_int_equal(d.n_errors, 0);
    /* unknown keys of each member's own table, with did-you-mean */
    assert_non_null(strstr(txt, "t.yaml:11:37: warning: routing.signals.echoes[fruit].wieght: "
                                "unknown field \"wieght\" (did you mean \"weight\"?)"));
    assert_non_null(strstr(txt, "warning: routing.decisions[d].algorithm.last.stepp: unknown "
                                "field \"stepp\" (did you mean \"step\"?)"));
    assert_non_null(strstr(txt, "warning: routing.decisions[d].plugins[0].configuration.valeu: "
                                "unknown field \"valeu\" (did you mean \"value\"?)"));
    /* the family's own options live in its own struct, defaults applied */
    const cfg_recipe_t *rc = &c->routing->recipes[0];
    assert_int_equal(rc->n_signals, 2);
    assert_int_equal(rc->n_per_family[19], 2);
    const echo_opts_t *o = rc->signals[0].opts;
    assert_string_equal(o->word, "banana");
    assert_true(o->weight == 0.5);
    assert_true(((const echo_opts_t *)rc->signals[1].opts)->weight == 0.8);
    assert_string_equal(rc->decisions[0].algorithm, "last");
    assert_string_equal(rc->decisions[0].plugins[0].type, "stamp");
    free(txt);
    cfg_free(c);
    cfg_diags_free(&d);

    /* did-you-mean over the registries, and the family's required key */
    static const char bad[] = "version: v0.3\n"
                              "providers:\n"
                              "  defaults: {default_model: a}\n"
                              "  models: [{name: a, backend_refs: [{endpoint: 'h:1'}]}]\n"
                              "routing:\n"
                              "  modelCards: [{name: a}]\n"
                              "  signals:\n"
                              "    echos: []\n"
                              "    echoes: [{name: x}]\n"
                              "  decisions:\n"
                              "    - name: d\n"
                              "      rules: {type: ecko, name: x}\n"
                              "      modelRefs: [{model: a}]\n"
                              "      algorithm: {type: lasst}\n"
                              "      plugins: [{type: stamps}]\n";
    c = load(bad, &d);
    txt = diag_text(&d);
    assert_non_null(strstr(txt, "routing.signals.echos: unknown field \"echos\" (did you mean "
                                "\"echoes\"?)"));
    assert_non_null(strstr(txt, "routing.signals.echoes[x]: missing required field \"word\""));
    assert_non_null(strstr(txt, "unknown signal type \"ecko\" (did you mean \"echo\"?)"));
    assert_non_null(strstr(txt, "unknown algorithm type \"lasst\" (did you mean \"last\"?) (one of "
                                "static|weighted|multi_factor|latency_aware|router_dc|elo|last)"));
    assert_non_null(strstr(txt, "unknown plugin type \"stamps\" (did you mean \"stamp\"?)"));
    free(txt);
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_new_members_are_documented(void **st)
{
    buf_t md = BUF_INIT;
    cfg_schema_markdown(&md); /* what `tether config schema` prints */
    assert_non_null(strstr(md.data, "| `echoes` | mapping/list | - | echo rules |\n"));
    assert_non_null(strstr(md.data,
                           "### `routing.signals.echoes[]`\n\n"
                           "Test-only: the query contains a word.\n\n"
                           "| key | type | default | description |\n|---|---|---|---|\n"
                           "| `name` | string | required | rule name (leaves refer to it) |\n"
                           "| `description` | string | - | free text |\n"
                           "| `word` | string | required | the word to find |\n"
                           "| `weight` | number | `0.5` | score of a match [0..1] |\n"));
    assert_non_null(strstr(md.data, "static \\| weighted \\| multi_factor \\| latency_aware \\| "
                                    "router_dc \\| elo \\| last (static)"));
    assert_non_null(strstr(md.data, "| `last` | see text | - | see algorithm.last |\n"));
    assert_non_null(strstr(md.data, "### `routing.decisions[].algorithm.last`\n\n"
                                    "Test-only: the last candidate first.\n\n"
                                    "| key | type | default | description |\n|---|---|---|---|\n"
                                    "| `step` | see text | - | 0.1 |\n"));
    assert_non_null(
        strstr(md.data, "request_params \\| response_cache \\| router_replay \\| stamp |"));
    assert_non_null(strstr(md.data, "### `routing.decisions[].plugins[].configuration (stamp)`\n\n"
                                    "Test-only: a response header.\n\n"
                                    "| key | type | default | description |\n|---|---|---|---|\n"
                                    "| `value` | see text | - | the header's value |\n"));
    buf_free(&md);
}

static void test_new_family_is_migrated(void **st)
{
    static const char old[] = "default_model: a\n"
                              "vllm_endpoints:\n"
                              "  - {name: gpu, address: 10.0.0.1, port: 8000, weight: 1}\n"
                              "model_config:\n"
                              "  a: {preferred_endpoints: [gpu]}\n"
                              "echo_rules:\n"
                              "  - {name: fruit, word: banana, colour: yellow}\n";
    cfg_migrate_t m;
    cfg_migrate_init(&m);
    cfg_migrate_run(&m, "old.yaml", old, strlen(old), "new.yaml");
    assert_true(m.converted);
    assert_non_null(strstr(m.out.data, "  signals:\n    echoes:\n"));
    assert_non_null(strstr(m.out.data, "word: banana"));
    assert_null(strstr(m.out.data, "colour"));
    char *notes = diag_text(&m.notes);
    assert_non_null(strstr(notes, "echo_rules[fruit].colour"));
    free(notes);
    cfg_migrate_deinit(&m);
}

static void test_new_members_compile_from_dsl(void **st)
{
    static const char src[] = "SIGNAL echo fruit { word: \"banana\" }\n"
                              "ROUTE r {\n"
                              "  PRIORITY 1\n"
                              "  WHEN echo(\"fruit\")\n"
                              "  MODEL a, b\n"
                              "  ALGORITHM last { step: 0.5 }\n"
                              "  PLUGIN stamp { value: \"v\" }\n"
                              "}\n";
    arena_t a;
    arena_init(&a, 65536);
    dsl_diags_t dd;
    dsl_diags_init(&dd, "t.dsl");
    dsl_program_t *p = dsl_parse(&a, src, strlen(src), &dd);
    dsl_validate(p, NULL, &dd);
    assert_int_equal(dd.n_errors, 0);
    buf_t yaml = BUF_INIT;
    dsl_compile_in_t ci = {.prog = p};
    assert_int_equal(dsl_compile(&ci, &yaml, NULL, &dd), 0);
    assert_non_null(strstr(yaml.data, "echoes:"));
    assert_non_null(strstr(yaml.data, "type: last"));
    assert_non_null(strstr(yaml.data, "type: stamp"));
    buf_free(&yaml);
    dsl_diags_free(&dd);
    arena_deinit(&a);
}

/* Load, build the engine, evaluate one prompt: the new family runs, the
 * new algorithm selects and the new plugin answers. */
static void test_new_members_run(void **st)
{
    cfg_diags_t d;
    cfg_t *c = load(config_yaml, &d);
    assert_non_null(c);
    sig_engine_t *e = sig_engine_new(c, &d);
    assert_non_null(e);
    const cfg_recipe_t *rc = &c->routing->recipes[0];
    assert_true(sig_recipe_uses(e, rc, 19));
    arena_t a;
    arena_init(&a, 1 << 16);
    static const char body[] =
        "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"a banana please\"}]}";
    jreq_t *jr = arena_calloc(&a, sizeof *jr);
    assert_int_equal(jscan_request(body, strlen(body), &a, jr, NULL), 0);
    rq_t *rq = rq_from_chat(&a, body, strlen(body), jr, NULL, 0);
    sig_results_t res;
    assert_int_equal(sig_eval(e, rc, rq, NULL, &a, &res), 0);
    assert_true(res.family_ran[19]);
    const sig_result_t *fruit = sig_results_find(&res, 19, "fruit");
    const sig_result_t *veg = sig_results_find(&res, 19, "veg");
    assert_true(fruit->matched);
    assert_true(fruit->score == 0.5);
    assert_false(veg->matched);

    sel_input_t in = {.cfg = c, .decision = &rc->decisions[0], .sig = &res, .now_ms = 1};
    sel_result_t sr;
    assert_int_equal(sel_run(&in, &a, &sr), 0);
    assert_string_equal(sr.used, "last");
    assert_string_equal(sr.models[sr.best], "b");
    assert_true(sr.scores[0] == 0.75);

    plg_ctx_t pc = {.cfg = c,
                    .decision = &rc->decisions[0],
                    .proto = RQ_PROTO_CHAT,
                    .body = body,
                    .body_len = strlen(body),
                    .jr = jr,
                    .arena = &a};
    plg_out_t out;
    plg_out_init(&out);
    assert_int_equal(plg_run_pre(&pc, &out), 0);
    assert_int_equal(plg_run_post(&pc, &out), 0);
    assert_int_equal(out.n_resp_headers, 1);
    assert_string_equal(out.resp_headers[0].name, "x-tether-stamp");
    assert_string_equal(out.resp_headers[0].value, "v1");
    assert_int_equal(out.n_applied, 1);
    assert_string_equal(out.applied[0], "stamp");
    plg_out_deinit(&out);

    arena_deinit(&a);
    sig_engine_free(e);
    cfg_free(c);
    cfg_diags_free(&d);
}

static const char store_yaml[] = "version: v0.3\n"
                                 "providers:\n"
                                 "  defaults: {default_model: a}\n"
                                 "  models: [{name: a, backend_refs: [{endpoint: 'h:1'}]}]\n"
                                 "routing:\n"
                                 "  modelCards: [{name: a}]\n"
                                 "  decisions: [{name: d, modelRefs: [{model: a}]}]\n"
                                 "global:\n"
                                 "  services:\n"
                                 "    router_replay:\n"
                                 "      store: tally\n"
                                 "      tally: {label: t1, keep: 3, kepp: 1}\n";

/* The store backend: chosen and configured from YAML, its block's keys
 * checked, its name suggested; the built-in names still work. */
static void test_new_store_loads_with_key_checks(void **st)
{
    cfg_diags_t d;
    cfg_t *c = load(store_yaml, &d);
    char *txt = diag_text(&d);
    assert_non_null(c);
    assert_int_equal(d.n_errors, 0);
    assert_non_null(strstr(txt, "warning: global.services.router_replay.tally.kepp: unknown field "
                                "\"kepp\" (did you mean \"keep\"?)"));
    const tally_opts_t *o = c->global_ext->services.router_replay.store_opts;
    assert_non_null(o);
    assert_string_equal(o->label, "t1");
    assert_int_equal(o->keep, 3);
    free(txt);
    cfg_free(c);
    cfg_diags_free(&d);

    /* an unknown backend: the registry's names, and the closest one */
    char bad[sizeof store_yaml + 16];
    snprintf(bad, sizeof bad, "%.*s      store: taly\n",
             (int)(strstr(store_yaml, "      store:") - store_yaml), store_yaml);
    c = load(bad, &d);
    txt = diag_text(&d);
    assert_null(c);
    assert_non_null(strstr(txt,
                           "global.services.router_replay.store: \"taly\" is not one of "
                           "sqlite|jsonl|memory|redis|postgres|tally (did you mean \"tally\"?)"));
    free(txt);
    cfg_diags_free(&d);
    /* the session store's backends come from their registry the same way */
    c = load("version: v0.3\nglobal:\n  stores: {session: {backend: reddis}}\n", &d);
    txt = diag_text(&d);
    assert_null(c);
    assert_non_null(strstr(txt, "global.stores.session.backend: \"reddis\" is not one of "
                                "memory|redis (did you mean \"redis\"?)"));
    free(txt);
    cfg_diags_free(&d);

    /* without its block the backend gets its defaults; others get none */
    snprintf(bad, sizeof bad, "%.*s      store: tally\n",
             (int)(strstr(store_yaml, "      store:") - store_yaml), store_yaml);
    c = load(bad, &d);
    assert_non_null(c);
    o = c->global_ext->services.router_replay.store_opts;
    assert_null(o->label);
    assert_int_equal(o->keep, 8);
    cfg_free(c);
    cfg_diags_free(&d);
    snprintf(bad, sizeof bad, "%.*s      store: memory\n",
             (int)(strstr(store_yaml, "      store:") - store_yaml), store_yaml);
    c = load(bad, &d);
    assert_non_null(c);
    assert_null(c->global_ext->services.router_replay.store_opts);
    assert_string_equal(c->global_ext->services.router_replay.store, "memory");
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_new_store_is_documented(void **st)
{
    buf_t md = BUF_INIT;
    cfg_schema_markdown(&md);
    assert_non_null(strstr(md.data, "| `store` | enum | `sqlite` | trace store "
                                    "(sqlite\\|jsonl\\|memory\\|redis\\|postgres\\|tally) |\n"));
    assert_non_null(strstr(md.data, "| `tally` | mapping/list | - | see "
                                    "global.services.router_replay.tally |\n"));
    assert_non_null(strstr(md.data, "### `global.services.router_replay.tally`\n\n"
                                    "Test-only: the last records in memory, under a label.\n\n"
                                    "| key | type | default | description |\n|---|---|---|---|\n"
                                    "| `label` | string | - | a name |\n"
                                    "| `keep` | integer | `8` | records kept [1..1000] |\n"));
    buf_free(&md);
}

static bool count_row(void *ctx, const replay_row_t *r)
{
    (*(size_t *)ctx)++;
    return true;
}

/* What the server does at start (api/app.c): the config names the backend,
 * replay_store_open opens it with its options, the queue writes to it. */
static void test_new_store_receives_records(void **st)
{
    cfg_diags_t d;
    cfg_t *c = load(store_yaml, &d);
    assert_non_null(c);
    replay_config_t rc;
    replay_config_from_cfg(c, &rc);
    buf_t err = BUF_INIT;
    replay_store_t *s = replay_store_open(&rc, &err);
    assert_non_null(s);
    tally_store_t *t = (tally_store_t *)s;
    assert_string_equal(t->label, "t1");
    assert_int_equal(t->keep, 3);
    replay_queue_t *q = replay_queue_new_ex(s, &rc, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(replay_queue_push(
                             q, fx_record(1000 + (uint64_t)i, "s1", i + 1, "d", "a", "cold_start")),
                         REPLAY_OK);
    assert_true(replay_queue_flush(q, 10000));
    replay_stats_t fin;
    replay_queue_free(q, 5000, &fin);
    assert_int_equal(fin.written, 4);
    assert_int_equal(t->written, 4);
    size_t rows = 0;
    replay_filter_t f = {.session_id = "s1"};
    assert_int_equal(replay_store_scan(s, &f, count_row, &rows, &err), REPLAY_OK);
    assert_int_equal(rows, 3); /* keep: 3 */
    replay_store_close(s);
    buf_free(&err);
    cfg_free(c);
    cfg_diags_free(&d);

    /* an unknown name still fails to open, listing the registry */
    replay_config_defaults(&rc);
    rc.store = "tallly";
    assert_null(replay_store_open(&rc, &err));
    assert_string_equal(
        err.data,
        "unknown replay store 'tallly' (expected sqlite, jsonl, memory, redis, postgres or tally)");
    buf_free(&err);
}

static const char resp_yaml[] = "version: v0.3\n"
                                "global:\n"
                                "  stores:\n"
                                "    responses: {backend: pinned, pinned: {keep: 1, keeep: 3}}\n"
                                "    response_cache: {backend: sized, sized: {shards: 4, shard: "
                                "2}}\n";

/* The Responses store and response cache backends: chosen and configured
 * from YAML, their blocks' keys checked, their names suggested. */
static void test_new_response_stores_load_with_key_checks(void **st)
{
    cfg_diags_t d;
    cfg_t *c = load(resp_yaml, &d);
    char *txt = diag_text(&d);
    assert_non_null(c);
    assert_int_equal(d.n_errors, 0);
    assert_non_null(strstr(txt, "warning: global.stores.responses.pinned.keeep: unknown field "
                                "\"keeep\" (did you mean \"keep\"?)"));
    assert_non_null(strstr(txt, "warning: global.stores.response_cache.sized.shard: unknown "
                                "field \"shard\" (did you mean \"shards\"?)"));
    const pinned_opts_t *po = c->global_ext->stores.responses.backend_opts;
    const sized_opts_t *so = c->global_ext->stores.response_cache.backend_opts;
    assert_int_equal(po->keep, 1);
    assert_int_equal(so->shards, 4);
    free(txt);
    cfg_free(c);
    cfg_diags_free(&d);

    c = load("version: v0.3\nglobal:\n  stores: {responses: {backend: pinnd}}\n", &d);
    txt = diag_text(&d);
    assert_null(c);
    assert_non_null(strstr(txt, "global.stores.responses.backend: \"pinnd\" is not one of "
                                "memory|redis|pinned (did you mean \"pinned\"?)"));
    free(txt);
    cfg_diags_free(&d);
    c = load("version: v0.3\nglobal:\n  stores: {response_cache: {backend: sizd}}\n", &d);
    txt = diag_text(&d);
    assert_null(c);
    assert_non_null(strstr(txt, "global.stores.response_cache.backend: \"sizd\" is not one of "
                                "memory|redis|sized (did you mean \"sized\"?)"));
    free(txt);
    cfg_diags_free(&d);
    /* the built-in redis backends still need an address (their flag) */
    c = load("version: v0.3\nglobal:\n  stores: {responses: {backend: redis}}\n", &d);
    txt = diag_text(&d);
    assert_null(c);
    assert_non_null(strstr(txt, "global.stores.responses: backend redis needs redis.address"));
    free(txt);
    cfg_diags_free(&d);
}

static void test_new_response_stores_are_documented(void **st)
{
    buf_t md = BUF_INIT;
    cfg_schema_markdown(&md);
    assert_non_null(strstr(md.data, "| `backend` | enum | `memory` | Responses API store "
                                    "(memory\\|redis\\|pinned) |\n"));
    assert_non_null(strstr(md.data, "### `global.stores.responses.pinned`\n\n"
                                    "Test-only: at most keep responses in memory.\n\n"));
    assert_non_null(strstr(md.data, "| `backend` | enum | `memory` | cache store "
                                    "(memory\\|redis\\|sized) |\n"));
    assert_non_null(strstr(md.data,
                           "### `global.stores.response_cache.sized`\n\n"
                           "Test-only: the memory cache with a fixed number of shards."
                           "\n\n| key | type | default | description |\n|---|---|---|---|\n"
                           "| `shards` | integer | `1` | shards [1..64] |\n"));
    buf_free(&md);
}

static void test_new_response_stores_are_migrated(void **st)
{
    static const char old[] = "default_model: a\n"
                              "vllm_endpoints:\n"
                              "  - {name: gpu, address: 10.0.0.1, port: 8000, weight: 1}\n"
                              "model_config:\n"
                              "  a: {preferred_endpoints: [gpu]}\n"
                              "semantic_cache:\n"
                              "  enabled: false\n"
                              "  backend_type: sized\n"
                              "  sized: {shards: 8}\n"
                              "response_api: {enabled: true, store_backend: pinned}\n";
    cfg_migrate_t m;
    cfg_migrate_init(&m);
    cfg_migrate_run(&m, "old.yaml", old, strlen(old), "new.yaml");
    assert_true(m.converted);
    char *notes = diag_text(&m.notes);
    assert_non_null(strstr(m.out.data, "backend: sized"));
    assert_non_null(strstr(m.out.data, "shards: 8"));
    assert_non_null(strstr(m.out.data, "backend: pinned"));
    assert_null(strstr(notes, "sized"));
    free(notes);
    cfg_migrate_deinit(&m);
}

/* What the server does at start: the config names the backend, and the
 * Responses store (api/responses.c) and the response cache (rc_cache_new)
 * open it with its options. */
static void test_new_response_stores_open(void **st)
{
    cfg_diags_t d;
    cfg_t *c = load(resp_yaml, &d);
    assert_non_null(c);
    rstore_t *s = api_response_store(c);
    assert_int_equal(pinned_opened, 1);
    for (int i = 0; i < 3; i++) {
        rstore_entry_t e = {.model = "a", .input = "[]", .output = "[]", .response = "{}"};
        rstore_new_id(e.id);
        rstore_put(s, &e, 1000 + (uint64_t)i);
    }
    assert_int_equal(rstore_count(s), 1); /* keep: 1 */
    rc_cache_t *rc = rc_cache_new(c);
    assert_int_equal(sized_shards_opened, 4);
    rc_cache_free(rc);
    cfg_free(c);
    cfg_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_ids_are_registry_positions),
        cmocka_unit_test(test_new_members_load_with_key_checks),
        cmocka_unit_test(test_new_members_are_documented),
        cmocka_unit_test(test_new_family_is_migrated),
        cmocka_unit_test(test_new_members_compile_from_dsl),
        cmocka_unit_test(test_new_members_run),
        cmocka_unit_test(test_new_store_loads_with_key_checks),
        cmocka_unit_test(test_new_store_is_documented),
        cmocka_unit_test(test_new_store_receives_records),
        cmocka_unit_test(test_new_response_stores_load_with_key_checks),
        cmocka_unit_test(test_new_response_stores_are_documented),
        cmocka_unit_test(test_new_response_stores_are_migrated),
        cmocka_unit_test(test_new_response_stores_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
