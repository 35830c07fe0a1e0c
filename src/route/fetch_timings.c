/* fetch_timings.c - the timings of a request's signal fetch (route/fetch.h)
 * as JSON, for the replay record's signal_fetch: per external classifier
 * when its call started and how long the call took on the loop, and for
 * the remote embedder the time in the gather queue, the batch call it
 * waited on and the LRU hits. Lets a reader (scripts/bench_signal_fetch.sh)
 * subtract the slowest call from the routing time exactly. */
#include "route/fetch.h"
#include "core/buf.h"
#include <string.h>

void fetch_put_u(buf_t *b, const char *pre, uint64_t v)
{
    /* the digits backwards into a stack buffer behind pre, then one append
     * (a buf_putc per digit was ~160 instructions per field of the replay
     * record's signal_fetch) */
    size_t pl = strlen(pre);
    if (pl > 64) {
        buf_puts(b, pre);
        pl = 0;
        pre = "";
    }
    char t[64 + 24], *end = t + sizeof t, *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    p -= pl;
    memcpy(p, pre, pl);
    buf_append(b, p, (size_t)(end - p));
}

void fetch_put_head(buf_t *b, const char *path, const char *host, int port, size_t n)
{
    /* the head's size at once: growing from empty cost two reallocs */
    buf_reserve(b, strlen(path) + strlen(host) + 128);
    buf_puts(b, "POST ");
    buf_puts(b, path);
    buf_puts(b, " HTTP/1.1\r\nHost: ");
    buf_puts(b, host);
    fetch_put_u(b, ":", (uint64_t)port);
    fetch_put_u(
        b, "\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: ", n);
    buf_puts(b, "\r\n");
}

static uint32_t since(uint64_t at, uint64_t t0)
{
    return at > t0 ? (uint32_t)(at - t0) : 0;
}

bool fetch_timings_json(buf_t *b, const sig_cls_results_t *cls, const sig_emb_results_t *emb,
                        uint64_t signals_at_us)
{
    bool has_cls = cls && cls->n && cls->t0_us, has_emb = emb && emb->t0_us;
    if (!has_cls && !has_emb) return false;
    uint64_t t0 = has_cls ? cls->t0_us : emb->t0_us;
    if (has_emb && emb->t0_us < t0) t0 = emb->t0_us;
    uint32_t slowest = 0;
    buf_puts(b, "{\"classifiers\":[");
    bool first = true;
    for (size_t i = 0; has_cls && i < cls->n; i++) {
        const sig_cls_out_t *o = &cls->items[i];
        if (!o->asked) continue;
        if (!first) buf_putc(b, ',');
        first = false;
        buf_puts(b, "{\"name\":");
        buf_json_str(b, o->name ? o->name : "", o->name ? strlen(o->name) : 0);
        buf_json_opt(b, "outcome", o->outcome);
        fetch_put_u(b, ",\"sent_us\":", o->sent_us);
        fetch_put_u(b, ",\"call_us\":", o->call_us);
        fetch_put_u(b, ",\"latency_us\":", o->latency_us);
        if (o->batch_requests > 1) fetch_put_u(b, ",\"batch_requests\":", o->batch_requests);
        buf_putc(b, '}');
        if (o->call_us > slowest) slowest = o->call_us;
    }
    buf_puts(b, "],\"embeddings\":");
    if (has_emb) {
        buf_puts(b, "{\"outcome\":");
        const char *oc = emb->outcome ? emb->outcome : "";
        buf_json_str(b, oc, strlen(oc));
        fetch_put_u(b, ",\"texts\":", emb->asked);
        fetch_put_u(b, ",\"cached\":", emb->cached);
        fetch_put_u(b, ",\"batch_texts\":", emb->batch_texts);
        fetch_put_u(b, ",\"queue_us\":", emb->queue_us);
        fetch_put_u(b, ",\"call_us\":", emb->call_us);
        fetch_put_u(b, ",\"latency_us\":", emb->latency_us);
        buf_putc(b, '}');
        if (emb->call_us > slowest) slowest = emb->call_us;
    } else {
        buf_puts(b, "null");
    }
    /* wall: fetch start -> the signals began (both fetches done) */
    fetch_put_u(b, ",\"slowest_call_us\":", slowest);
    fetch_put_u(b, ",\"wall_us\":", since(signals_at_us, t0));
    buf_putc(b, '}');
    return true;
}
