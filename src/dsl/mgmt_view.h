/* mgmt_view.h - the DSL view of the running config on the management
 * listener (GET /api/v1/config/dsl, viewer): registered by `tether serve`
 * beside the admin routes, since dsl sits above admin in the layers. */
#ifndef TETHER_DSL_MGMT_VIEW_H
#define TETHER_DSL_MGMT_VIEW_H
#include "admin/mgmt.h"

/* Call after mgmt_start, before mgmt_listen. */
void dsl_mgmt_register(mgmt_t *m);
#endif
