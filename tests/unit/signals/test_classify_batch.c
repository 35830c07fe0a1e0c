/* test_classify_batch.c - a batched /classify or /pooling reply split back
 * to its requests (sig_cls_parse_batch, its fast path sig_cls_batch_fast):
 * on generated batches (1-6 requests of 1-3 inputs, entries shuffled by
 * "index" or in order without it, labels with escapes, numbers in many
 * formats, odd entries) every request's outcome is bit for bit what its own
 * reply gives (sig_cls_parse_classify / sig_cls_parse_pooling on the
 * entries of its inputs alone, index from 0, as a call of its own would
 * answer); on thousands of mutated batches the outcome is that of a
 * reference split written here with cJSON. The usual shape takes the fast
 * path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "signals/classify.h"
#include "cls_tables.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQ 6
#define MAX_IN  (MAX_REQ * 3)

static const char *const labels_json[] = {
    "\"benign\"", "\"jailbreak\"",      "\"toxic\"",     "\"caf\\u00e9\"", "\"caf\xc3\xa9\"",
    "\"x\\\"y\"", "\"\\ud83d\\ude00\"", "\"Jailbreak\"", "\"t\\u006fxic\""};

static void num(buf_t *b, unsigned r)
{
    static const char *const fmts[] = {"%.17g", "%.6g", "%g", "%.3e", "%.1f", "%.4g"};
    double v = (double)(r % 100001) / 100000.0;
    if (r % 13 == 0)
        buf_puts(b, r & 1 ? "1" : "0");
    else
        buf_printf(b, fmts[r / 100001 % 6], v);
}

/* The members of entry number `in` other than "index" (odd: sometimes a
 * shape the readers refuse). */
static void entry_body(buf_t *b, bool pooling, bool odd)
{
    if (pooling) {
        buf_puts(b, ",\"object\":\"pooling\",\"data\":[");
        int np = 2 + rand() % 2;
        for (int j = 0; j < np; j++) {
            if (j) buf_putc(b, ',');
            if (odd && rand() % 8 == 0)
                buf_puts(b, "\"x\"");
            else
                num(b, (unsigned)rand());
        }
        buf_puts(b, "]");
        return;
    }
    buf_printf(b, ",\"label\":%s",
               odd && rand() % 8 == 0
                   ? "7"
                   : labels_json[rand() % (sizeof labels_json / sizeof *labels_json)]);
    buf_puts(b, ",\"probs\":[");
    int np = rand() % 6 ? 2 + rand() % 2 : 0;
    for (int j = 0; j < np; j++) {
        if (j) buf_putc(b, ',');
        if (odd && rand() % 10 == 0)
            buf_puts(b, "1.5");
        else
            num(b, (unsigned)rand());
    }
    buf_printf(b, "],\"num_classes\":%d", np);
}

typedef struct {
    int n_req, count[MAX_REQ], first[MAX_REQ], total;
    int order[MAX_IN]; /* the reply's entries: which input each answers */
    buf_t ent[MAX_IN]; /* members of input i's entry, after its index */
    bool with_index;
} batch_t;

static void gen(batch_t *g, unsigned seed, bool pooling)
{
    srand(seed);
    bool odd = rand() % 4 == 0;
    g->n_req = 1 + rand() % MAX_REQ;
    g->total = 0;
    for (int r = 0; r < g->n_req; r++) {
        g->first[r] = g->total;
        g->count[r] = 1 + rand() % 3;
        g->total += g->count[r];
    }
    for (int i = 0; i < g->total; i++) {
        g->ent[i] = (buf_t)BUF_INIT;
        entry_body(&g->ent[i], pooling, odd);
        g->order[i] = i;
    }
    g->with_index = rand() % 5 != 0;
    if (g->with_index) /* a server may answer out of order: index says which */
        for (int i = g->total - 1; i > 0; i--) {
            int j = rand() % (i + 1), t = g->order[i];
            g->order[i] = g->order[j];
            g->order[j] = t;
        }
}

static void gen_free(batch_t *g)
{
    for (int i = 0; i < g->total; i++)
        buf_free(&g->ent[i]);
}

/* The batched reply, as a server answering every input at once. */
static void render_batch(const batch_t *g, buf_t *b)
{
    buf_reset(b);
    buf_puts(b, "{\"id\":\"classify-1\",\"object\":\"list\",\"data\":[");
    for (int e = 0; e < g->total; e++) {
        int in = g->order[e];
        buf_puts(b, e ? ",{" : "{");
        if (g->with_index) buf_printf(b, "\"index\":%d", in);
        buf_append(b, g->ent[in].data + (g->with_index ? 0 : 1),
                   g->ent[in].len - (g->with_index ? 0 : 1));
        buf_putc(b, '}');
    }
    buf_puts(b, "],\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}");
}

/* Request r's own reply: its inputs' entries, in the batch's order,
 * numbered from 0. */
static void render_own(const batch_t *g, int r, buf_t *b)
{
    buf_reset(b);
    buf_puts(b, "{\"object\":\"list\",\"data\":[");
    int k = 0;
    for (int e = 0; e < g->total; e++) {
        int in = g->order[e];
        if (in < g->first[r] || in >= g->first[r] + g->count[r]) continue;
        buf_puts(b, k ? ",{" : "{");
        if (g->with_index) buf_printf(b, "\"index\":%d", in - g->first[r]);
        buf_append(b, g->ent[in].data + (g->with_index ? 0 : 1),
                   g->ent[in].len - (g->with_index ? 0 : 1));
        buf_putc(b, '}');
        k++;
    }
    buf_puts(b, "]}");
}

static void same_outcome(int rc, const sig_cls_out_t *o, int want_rc, const sig_cls_out_t *w,
                         const char *body)
{
    if (rc != want_rc) fail_msg("rc %d, want %d on %s", rc, want_rc, body);
    if (rc) return;
    if (!o->label || !w->label || strcmp(o->label, w->label) ||
        memcmp(&o->score, &w->score, sizeof o->score) ||
        memcmp(&o->positive, &w->positive, sizeof o->positive))
        fail_msg("outcome %s %.17g %.17g, want %s %.17g %.17g on %s",
                 o->label ? o->label : "(null)", o->score, o->positive,
                 w->label ? w->label : "(null)", w->score, w->positive, body);
}

static long n_fast, n_parts;

/* Split body for the requests of g under classifier k; compare each part
 * with want (rc, out) per request. */
static void split(const cfg_classifier_t *k, bool pooling, const batch_t *g, const char *body,
                  size_t len, arena_t *a, sig_cls_part_t *parts, sig_cls_out_t *outs)
{
    for (int r = 0; r < g->n_req; r++) {
        outs[r] = (sig_cls_out_t){0};
        parts[r] = (sig_cls_part_t){.first = (uint32_t)g->first[r],
                                    .count = (uint32_t)g->count[r],
                                    .a = a,
                                    .out = &outs[r],
                                    .rc = 99};
    }
    if (!pooling) {
        sig_cls_out_t fo[MAX_REQ] = {{0}};
        sig_cls_part_t fp[MAX_REQ];
        memcpy(fp, parts, sizeof fp);
        for (int r = 0; r < g->n_req; r++)
            fp[r].out = &fo[r];
        bool fast = sig_cls_batch_fast(k, body, len, fp, (size_t)g->n_req);
        n_fast += fast;
        if (fast) { /* the cJSON reader gives the same, part by part */
            sig_cls_out_t to[MAX_REQ] = {{0}};
            sig_cls_part_t tp[MAX_REQ];
            memcpy(tp, parts, sizeof tp);
            for (int r = 0; r < g->n_req; r++)
                tp[r].out = &to[r];
            sig_cls_parse_batch_tree(k, false, body, len, tp, (size_t)g->n_req);
            for (int r = 0; r < g->n_req; r++)
                same_outcome(fp[r].rc, &fo[r], tp[r].rc, &to[r], body);
        } else {
            for (int r = 0; r < g->n_req; r++)
                assert_null(fo[r].label); /* declined: untouched */
        }
    }
    sig_cls_parse_batch(k, pooling, body, len, parts, (size_t)g->n_req);
    n_parts += g->n_req;
}

static void check_generated(bool pooling)
{
    buf_t b = BUF_INIT, own = BUF_INIT;
    n_fast = n_parts = 0;
    for (unsigned s = 1; s <= 2000; s++) {
        batch_t g;
        gen(&g, s, pooling);
        render_batch(&g, &b);
        for (int w = 0; w < 4; w++) {
            cfg_classifier_t k = table(w);
            arena_t a;
            arena_init(&a, 1024);
            sig_cls_part_t parts[MAX_REQ];
            sig_cls_out_t outs[MAX_REQ];
            split(&k, pooling, &g, b.data, b.len, &a, parts, outs);
            for (int r = 0; r < g.n_req; r++) {
                render_own(&g, r, &own);
                sig_cls_out_t want = {0};
                int wrc = pooling ? sig_cls_parse_pooling(&k, own.data, own.len, &a, &want)
                                  : sig_cls_parse_classify(&k, own.data, own.len, &a, &want);
                same_outcome(parts[r].rc, &outs[r], wrc, &want, b.data);
            }
            arena_deinit(&a);
        }
        gen_free(&g);
    }
    /* the usual shape takes the fast path (/classify) */
    if (!pooling) assert_true(n_fast * 2 > 2000 * 4); /* over half of them */
    buf_free(&b);
    buf_free(&own);
}

static void test_generated_batches_give_each_request_its_own_reply(void **st)
{
    (void)st;
    check_generated(false);
}

static void test_generated_pooling_batches_give_each_request_its_own_reply(void **st)
{
    (void)st;
    check_generated(true);
}

/* v as JSON whose numbers read back bit for bit (cJSON's printer keeps 15
 * digits when they compare equal within an epsilon). */
static void print_exact(const cJSON *v, buf_t *b)
{
    if (cJSON_IsNumber(v)) {
        buf_printf(b, "%.17g", v->valuedouble);
    } else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        buf_putc(b, cJSON_IsArray(v) ? '[' : '{');
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c != v->child) buf_putc(b, ',');
            if (cJSON_IsObject(v)) {
                cJSON *key = cJSON_CreateString(c->string);
                char *ks = cJSON_PrintUnformatted(key);
                buf_puts(b, ks);
                buf_putc(b, ':');
                cJSON_free(ks);
                cJSON_Delete(key);
            }
            print_exact(c, b);
        }
        buf_putc(b, cJSON_IsArray(v) ? ']' : '}');
    } else {
        char *s = cJSON_PrintUnformatted(v);
        buf_puts(b, s);
        cJSON_free(s);
    }
}

/* The rule of sig_cls_parse_batch, written again with cJSON: an entry is
 * input "index" when that is an integral number, else its position;
 * each request parses its entries as {"data":[...]}. */
static void reference(const cfg_classifier_t *k, const batch_t *g, const char *body, size_t len,
                      arena_t *a, int *rc, sig_cls_out_t *outs)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    buf_t sub[MAX_REQ];
    for (int r = 0; r < g->n_req; r++) {
        rc[r] = -1;
        sub[r] = (buf_t)BUF_INIT;
        buf_puts(&sub[r], "{\"data\":[");
    }
    int pos = 0, n[MAX_REQ] = {0};
    for (const cJSON *d = cJSON_IsArray(data) ? data->child : NULL; d; d = d->next, pos++) {
        const cJSON *ji = cJSON_GetObjectItemCaseSensitive(d, "index");
        double at =
            cJSON_IsNumber(ji) && ji->valuedouble == floor(ji->valuedouble) ? ji->valuedouble : pos;
        for (int r = 0; r < g->n_req; r++) {
            if (at < g->first[r] || at >= g->first[r] + g->count[r]) continue;
            if (n[r]++) buf_putc(&sub[r], ',');
            print_exact(d, &sub[r]);
        }
    }
    for (int r = 0; r < g->n_req; r++) {
        buf_puts(&sub[r], "]}");
        if (n[r]) rc[r] = sig_cls_parse_classify_tree(k, sub[r].data, sub[r].len, a, &outs[r]);
        buf_free(&sub[r]);
    }
    cJSON_Delete(root);
}

static void test_mutated_batches_follow_the_rule(void **st)
{
    (void)st;
    static const char alphabet[] = "{}[]\",:.-+eE0123456789 \\u\x01\xc3\xa9nulltruefalse";
    buf_t b = BUF_INIT;
    char *m = NULL;
    srand(777);
    long accepted = 0;
    n_fast = n_parts = 0;
    for (int it = 0; it < 4000; it++) {
        batch_t g;
        gen(&g, 50000u + (unsigned)it, false);
        render_batch(&g, &b);
        size_t n = b.len;
        m = realloc(m, n + 8);
        memcpy(m, b.data, n);
        srand(90000u + (unsigned)it);
        int edits = 1 + rand() % 3;
        for (int e = 0; e < edits && n; e++) {
            size_t at = (size_t)rand() % n;
            char c = alphabet[rand() % (int)(sizeof alphabet - 1)];
            switch (rand() % 3) {
            case 0: m[at] = c; break;
            case 1:
                memmove(m + at, m + at + 1, n - at - 1);
                n--;
                break;
            default:
                memmove(m + at + 1, m + at, n - at);
                m[at] = c;
                n++;
                break;
            }
        }
        m[n] = 0; /* printed on a failure (m has room) */
        cfg_classifier_t k = table(it % 4);
        arena_t a;
        arena_init(&a, 1024);
        sig_cls_part_t parts[MAX_REQ];
        sig_cls_out_t outs[MAX_REQ], want[MAX_REQ] = {{0}};
        int wrc[MAX_REQ];
        long before = n_fast;
        split(&k, false, &g, m, n, &a, parts, outs);
        accepted += n_fast > before;
        reference(&k, &g, m, n, &a, wrc, want);
        for (int r = 0; r < g.n_req; r++)
            same_outcome(parts[r].rc, &outs[r], wrc[r], &want[r], m);
        arena_deinit(&a);
        gen_free(&g);
    }
    assert_true(accepted > 100);
    free(m);
    buf_free(&b);
}

/* Index rules and odd replies, by hand. */
static void test_known_batches(void **st)
{
    (void)st;
    cfg_classifier_t k = table(1);
    arena_t a;
    arena_init(&a, 1024);
    sig_cls_out_t o[3];
    sig_cls_part_t p[3];
#define PARTS()                                                                                    \
    do {                                                                                           \
        memset(o, 0, sizeof o);                                                                    \
        p[0] = (sig_cls_part_t){.first = 0, .count = 1, .a = &a, .out = &o[0]};                    \
        p[1] = (sig_cls_part_t){.first = 1, .count = 2, .a = &a, .out = &o[1]};                    \
        p[2] = (sig_cls_part_t){.first = 3, .count = 1, .a = &a, .out = &o[2]};                    \
    } while (0)
    /* by index, out of order; request 1 has two inputs, the most positive wins */
    const char *r1 = "{\"data\":[{\"index\":3,\"label\":\"benign\",\"probs\":[0.8,0.2]},"
                     "{\"index\":2,\"label\":\"jailbreak\",\"probs\":[0.3,0.7]},"
                     "{\"index\":0,\"label\":\"jailbreak\",\"probs\":[0.1,0.9]},"
                     "{\"index\":1,\"label\":\"benign\",\"probs\":[0.6,0.4]}]}";
    PARTS();
    assert_true(sig_cls_batch_fast(&k, r1, strlen(r1), p, 3));
    assert_int_equal(p[0].rc + p[1].rc + p[2].rc, 0);
    assert_string_equal(o[0].label, "jailbreak");
    assert_true(o[0].score == 0.9);
    assert_string_equal(o[1].label, "jailbreak");
    assert_true(o[1].positive == 0.7);
    assert_string_equal(o[2].label, "benign");
    /* an index beyond the inputs is nobody's; request 2 then has none */
    const char *r2 = "{\"data\":[{\"index\":0,\"label\":\"benign\",\"probs\":[0.8,0.2]},"
                     "{\"index\":1,\"label\":\"benign\",\"probs\":[0.8,0.2]},"
                     "{\"index\":9,\"label\":\"benign\",\"probs\":[0.8,0.2]}]}";
    PARTS();
    sig_cls_parse_batch(&k, false, r2, strlen(r2), p, 3);
    assert_int_equal(p[0].rc, 0);
    assert_int_equal(p[1].rc, 0);
    assert_int_equal(p[2].rc, -1);
    /* an integral index written 2.0 counts (the cJSON path); a bad entry
     * fails its own request only */
    const char *r3 = "{\"data\":[{\"index\":2.0,\"label\":\"jailbreak\",\"probs\":[0.2,0.8]},"
                     "{\"index\":0,\"label\":7},{\"index\":3,\"label\":\"benign\"}]}";
    PARTS();
    assert_false(sig_cls_batch_fast(&k, r3, strlen(r3), p, 3));
    assert_null(o[0].label); /* declined: untouched */
    sig_cls_parse_batch(&k, false, r3, strlen(r3), p, 3);
    assert_int_equal(p[0].rc, -1);
    assert_int_equal(p[1].rc, 0);
    assert_string_equal(o[1].label, "jailbreak");
    assert_int_equal(p[2].rc, 0);
    /* not a reply: every request fails */
    const char *bad[] = {"{\"data\":{}}", "[]", "{\"data\":[", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        PARTS();
        sig_cls_parse_batch(&k, false, bad[i], strlen(bad[i]), p, 3);
        assert_int_equal(p[0].rc + p[1].rc + p[2].rc, -3);
    }
#undef PARTS
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_batches),
        cmocka_unit_test(test_generated_batches_give_each_request_its_own_reply),
        cmocka_unit_test(test_generated_pooling_batches_give_each_request_its_own_reply),
        cmocka_unit_test(test_mutated_batches_follow_the_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
