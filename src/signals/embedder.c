/* embedder.c - backend-independent parts of the embedder interface
 * (embedder.h): dispatch, status names, vector helpers. Backends live in
 * embed_builtin.c and embed_openai.c. */
#include "signals/embedder.h"

#include <math.h>

const char *emb_status_str(emb_status_t s)
{
    switch (s) {
    case EMB_OK: return "ok";
    case EMB_ERR_TIMEOUT: return "timeout";
    case EMB_ERR_REMOTE: return "embedding_unavailable";
    case EMB_ERR_DIMENSIONS: return "embedding_dimensions";
    }
    return "embedding_unavailable";
}

emb_status_t emb_embed(emb_t *e, const char *text, size_t len, float *out)
{
    return e->ops->embed_batch(e, &text, &len, 1, out);
}

emb_status_t emb_embed_batch(emb_t *e, const char *const *texts, const size_t *lens, size_t n,
                             float *out)
{
    if (!n) return EMB_OK;
    return e->ops->embed_batch(e, texts, lens, n, out);
}

void emb_free(emb_t *e)
{
    if (e) e->ops->free(e);
}

float emb_dot(const float *a, const float *b, int dims)
{
    /* four accumulators: lets the compiler vectorise without -ffast-math */
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= dims; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < dims; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

void emb_normalize(float *v, int dims)
{
    double ss = 0;
    for (int i = 0; i < dims; i++)
        ss += (double)v[i] * v[i];
    if (ss <= 0) return;
    float inv = (float)(1.0 / sqrt(ss));
    for (int i = 0; i < dims; i++)
        v[i] *= inv;
}
