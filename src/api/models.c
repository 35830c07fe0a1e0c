/* models.c - GET /v1/models: the auto names and (when enabled) the
 * configured models, in OpenAI's list shape. */
#include "api/app.h"
#include "core/buf.h"
#include <string.h>

static void add_model(buf_t *b, const char *id, const char *owner, int *first)
{
    if (!*first) buf_putc(b, ',');
    *first = 0;
    buf_puts(b, "{\"id\":");
    buf_json_str(b, id, strlen(id));
    buf_puts(b, ",\"object\":\"model\",\"created\":0,\"owned_by\":");
    buf_json_str(b, owner, strlen(owner));
    buf_putc(b, '}');
}

void api_models_list(hsrv_req_t *req, const cfg_t *cfg)
{
    buf_t b = BUF_INIT;
    int first = 1;
    buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < cfg->router.n_auto_model_names; i++)
        add_model(&b, cfg->router.auto_model_names[i], "tether", &first);
    if (cfg->router.include_config_models_in_list)
        for (size_t i = 0; i < cfg->providers.n_models; i++)
            add_model(&b, cfg->providers.models[i].name, "tether-config", &first);
    buf_puts(&b, "]}");
    hsrv_header_t h[2] = {
        {"content-type", 12, "application/json", 16},
        {"x-tether-request-id", 19, req->request_id, strlen(req->request_id)},
    };
    hsrv_respond(req, 200, h, 2, b.data, b.len);
    buf_free(&b);
}
