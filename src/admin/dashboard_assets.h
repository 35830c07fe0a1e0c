/* dashboard_assets.h - the dashboard's files, embedded at build time
 * (scripts/embed-assets.sh turns dashboard/ into a generated C file that
 * the Makefile compiles into libtether). Read-only, process lifetime. */
#ifndef TETHER_ADMIN_DASHBOARD_ASSETS_H
#define TETHER_ADMIN_DASHBOARD_ASSETS_H
#include <stddef.h>

typedef struct dash_asset {
    const char *path; /* relative to /dashboard/, e.g. "app.js" */
    const char *type; /* content-type */
    const unsigned char *data;
    size_t len;
} dash_asset_t;

/* Terminated by an entry with path NULL. */
extern const dash_asset_t dash_assets[];
extern const size_t dash_n_assets;
#endif
