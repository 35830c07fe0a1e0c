/* models.c - GET /v1/models: the auto names and (when enabled) the
 * configured models, in OpenAI's list shape, only those the client key may
 * ask for when it has a `models` list; a configured model carries its
 * routing.modelCards[] facts under "tether" (description, capabilities,
 * quality, context window, parameter size, modality, tags, LoRA adapters). */
#include "api/app.h"
#include "api/client_auth.h"
#include "config/routing.h"
#include "core/buf.h"
#include <string.h>

static void str_field(buf_t *b, const char *key, const char *v)
{
    if (!v) return;
    buf_printf(b, ",\"%s\":", key);
    buf_json_str(b, v, strlen(v));
}

static void list_field(buf_t *b, const char *key, const cfg_strlist_t *l)
{
    if (!l->n) return;
    buf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < l->n; i++) {
        if (i) buf_putc(b, ',');
        buf_json_str(b, l->v[i], strlen(l->v[i]));
    }
    buf_putc(b, ']');
}

/* The client endpoints a configured model serves (providers.models[].endpoints). */
static void endpoints_field(buf_t *b, const cfg_model_t *m)
{
    static const struct {
        unsigned bit;
        const char *name;
    } eps[] = {{CFG_EP_CHAT, "chat"},
               {CFG_EP_EMBEDDINGS, "embeddings"},
               {CFG_EP_COMPLETIONS, "completions"}};
    buf_puts(b, "\"endpoints\":[");
    int n = 0;
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++)
        if (cfg_model_serves(m, eps[i].bit)) buf_printf(b, "%s\"%s\"", n++ ? "," : "", eps[i].name);
    buf_putc(b, ']');
}

static void add_model(buf_t *b, const char *id, const char *owner, const cfg_model_card_t *card,
                      const cfg_model_t *m, int *first)
{
    if (!*first) buf_putc(b, ',');
    *first = 0;
    buf_puts(b, "{\"id\":");
    buf_json_str(b, id, strlen(id));
    buf_puts(b, ",\"object\":\"model\",\"created\":0,\"owned_by\":");
    buf_json_str(b, owner, strlen(owner));
    if (m) {
        buf_puts(b, ",\"tether\":{");
        endpoints_field(b, m);
    }
    if (card) {
        buf_printf(b, "%s\"quality_score\":%g", m ? "," : ",\"tether\":{", card->quality_score);
        if (card->context_window_size)
            buf_printf(b, ",\"context_window_size\":%llu",
                       (unsigned long long)card->context_window_size);
        str_field(b, "description", card->description);
        str_field(b, "param_size", card->param_size);
        str_field(b, "modality", card->modality);
        list_field(b, "capabilities", &card->capabilities);
        list_field(b, "tags", &card->tags);
        list_field(b, "loras", &card->loras);
    }
    if (m || card) buf_putc(b, '}');
    buf_putc(b, '}');
}

void api_models_list(hsrv_req_t *req, const cfg_t *cfg)
{
    buf_t b = BUF_INIT;
    int first = 1;
    buf_puts(&b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < cfg->router.n_auto_model_names; i++)
        if (client_auth_model_allowed(req, cfg->router.auto_model_names[i]))
            add_model(&b, cfg->router.auto_model_names[i], "tether", NULL, NULL, &first);
    if (cfg->router.include_config_models_in_list)
        for (size_t i = 0; i < cfg->providers.n_models; i++)
            if (client_auth_model_allowed(req, cfg->providers.models[i].name))
                add_model(&b, cfg->providers.models[i].name, "tether-config",
                          cfg_find_card(cfg, cfg->providers.models[i].name),
                          &cfg->providers.models[i], &first);
    buf_puts(&b, "]}");
    hsrv_header_t h[2] = {
        {"content-type", 12, "application/json", 16},
        {"x-tether-request-id", 19, req->request_id, strlen(req->request_id)},
    };
    hsrv_respond(req, 200, h, 2, b.data, b.len);
    buf_free(&b);
}
