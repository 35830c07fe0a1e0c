/* fetch_timings.c - the timings of a request's signal fetch (route/fetch.h)
 * as JSON, for the replay record's signal_fetch: per external classifier
 * when its call started and how long the call took on the loop, and for
 * the remote embedder the time in the gather queue, the batch call it
 * waited on and the LRU hits. Lets a reader (scripts/bench_signal_fetch.sh)
 * subtract the slowest call from the routing time exactly. */
#include "route/fetch.h"
#include "core/buf.h"
#include <string.h>

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
        buf_printf(b, ",\"sent_us\":%u,\"call_us\":%u,\"latency_us\":%u}", o->sent_us, o->call_us,
                   o->latency_us);
        if (o->call_us > slowest) slowest = o->call_us;
    }
    buf_puts(b, "],\"embeddings\":");
    if (has_emb) {
        buf_puts(b, "{\"outcome\":");
        const char *oc = emb->outcome ? emb->outcome : "";
        buf_json_str(b, oc, strlen(oc));
        buf_printf(b,
                   ",\"texts\":%u,\"cached\":%u,\"batch_texts\":%u,\"queue_us\":%u,\"call_us\":%u,"
                   "\"latency_us\":%u}",
                   emb->asked, emb->cached, emb->batch_texts, emb->queue_us, emb->call_us,
                   emb->latency_us);
        if (emb->call_us > slowest) slowest = emb->call_us;
    } else {
        buf_puts(b, "null");
    }
    /* wall: fetch start -> the signals began (both fetches done) */
    buf_printf(b, ",\"slowest_call_us\":%u,\"wall_us\":%u}", slowest, since(signals_at_us, t0));
    return true;
}
