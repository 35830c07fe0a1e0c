/* mgmt_view.c - GET /api/v1/config/dsl: the running config's routing as
 * the DSL, what `tether dsl decompile` prints for the same file (the
 * dashboard's Config page shows it). Decompiled from the redacted config
 * text (config/show: secrets `<redacted>`, environment references as
 * written), so it discloses nothing GET /config does not. Viewer role. */
#include "dsl/mgmt_view.h"
#include "core/arena.h"
#include "core/buf.h"
#include "dsl/ast.h"
#include "dsl/compile.h"
#include <string.h>

static void h_dsl(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    buf_t yaml = BUF_INIT, out = BUF_INIT;
    cfg_show(cfg, false, &yaml);
    arena_t a;
    arena_init(&a, 65536);
    dsl_diags_t d;
    dsl_diags_init(&d, "running");
    dsl_program_t *p = yaml.len ? dsl_decompile(&a, "running", yaml.data, yaml.len, &d) : NULL;
    if (!p || d.n_errors) {
        dsl_diags_format(&out, &d);
        mgmt_error(req, 422, "not_decompilable",
                   out.len ? out.data : "the running config cannot be shown as DSL");
    } else {
        dsl_fmt(&out, p);
        hsrv_header_t h[1] = {{"content-type", 12, "text/plain; charset=utf-8", 25}};
        hsrv_respond(req, 200, h, 1, out.data ? out.data : "", out.len);
    }
    dsl_diags_free(&d);
    arena_deinit(&a);
    buf_free(&yaml);
    buf_free(&out);
}

void dsl_mgmt_register(mgmt_t *m)
{
    mgmt_route_add(m, HSRV_GET, "/api/v1/config/dsl", MGMT_VIEWER, h_dsl, NULL);
}
