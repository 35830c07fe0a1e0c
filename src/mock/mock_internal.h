/* mock_internal.h - what the files of `tether mock` share: the server's
 * state, the deferred response (a reply sent now or from a timer, with the
 * fault injection's delays and resets: mock_server.c), the fault decision
 * and the handlers of the API families (mock_chat.c: chat completions,
 * Anthropic messages, responses, legacy completions; mock_signals.c:
 * /classify, /score, /pooling and embeddings). mock_server.c holds the
 * route table and the lifecycle. Not a public interface. */
#ifndef TETHER_MOCK_MOCK_INTERNAL_H
#define TETHER_MOCK_MOCK_INTERNAL_H
#include "mock/mock.h"
#include "core/buf.h"
#include "http/server.h"
#include "mock/mock_agent.h"
#include "mock/mock_reply.h"
#include "mock/mock_script.h"
#include "mock/mock_session.h"
#include "mock/mock_stats.h"
#include "mock/mock_strict.h"
#include <cjson/cJSON.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct mock {
    mock_config_t cfg;
    char **models; /* owned copies */
    hsrv_server_t *srv;
    mock_registry_t *reg;
    mock_cache_t *cache;
    mock_stats_t *stats;
    mock_script_t *script;
    pthread_mutex_t rng_mu;
    uint64_t rng;
};

/* ---- helpers (mock_server.c) */
double mock_rng_next(mock_t *m); /* the fault PRNG: [0, 1) */
void mock_respond_json(hsrv_req_t *req, int status, const buf_t *b);
void mock_respond_error(hsrv_req_t *req, int status, const char *type, const char *code,
                        const char *message);
bool mock_model_served(const mock_t *m, const char *model);
void mock_respond_bad_json(mock_t *m, hsrv_req_t *req, const char *at);
void mock_respond_unknown_model(hsrv_req_t *req, const char *model);

/* ---- deferred responses (mock_server.c) */
typedef enum { PH_BEGIN, PH_CHUNKS, PH_RESET } phase_t;

typedef struct mreq {
    mock_t *m;
    hsrv_req_t *req;
    struct event *ev;
    phase_t phase;
    int status;
    bool streaming;
    buf_t body;    /* non-streaming body */
    buf_t *chunks; /* streaming chunks */
    size_t n_chunks, next;
    long long reset_after; /* bytes of body/stream to send before a reset; < 0: none */
    long long sent;        /* body/stream bytes sent so far */
    uint64_t ttft_ms, chunk_delay_ms;
    int reset_polls;
} mreq_t;

mreq_t *mock_mreq_new(mock_t *m, hsrv_req_t *req, int status);
/* Take ownership of r and run it, after `delay_ms` when non-zero. */
void mock_mreq_run(mreq_t *r, uint64_t delay_ms);

/* ---- faults (mock_server.c) */
/* Fault decision of one API request: the script step first, else the seeded
 * rolls (both always drawn, so a seed gives the same sequence). */
typedef struct faults {
    const mock_step_t *step;
    double reset_roll;
    uint64_t delay_ms;
} faults_t;

/* Returns true when a fault answered the request. */
bool mock_faults_apply(mock_t *m, hsrv_req_t *req, faults_t *f);

/* ---- handlers */
/* mock_chat.c */
void mock_handle_chat(mock_t *m, hsrv_req_t *req);
void mock_handle_api(mock_t *m, hsrv_req_t *req, mock_shape_t shape);
void mock_handle_count_tokens(mock_t *m, hsrv_req_t *req);
void mock_handle_completions(mock_t *m, hsrv_req_t *req);
/* mock_signals.c */
typedef enum { CLS_CLASSIFY, CLS_POOLING, CLS_SCORE } cls_api_t;
void mock_handle_classify(mock_t *m, hsrv_req_t *req, cls_api_t api);
/* /pooling asked for a classification ("task": "classify") while a keyword
 * table is set: the classifier answers, else the embedder. */
bool mock_pooling_classifies(const mock_t *m, const hsrv_req_t *req);
void mock_handle_embeddings(mock_t *m, hsrv_req_t *req, bool pooling);
#endif
