/* show.c - `tether config show`: the loaded configuration after ${VAR}
 * expansion, as YAML or JSON, with every secret value `<redacted>`. */
#include "config/yaml.h"

void cfg_show(const cfg_t *c, bool json, buf_t *out)
{
    cfg_emit_opts_t o = {.json = json, .redact = true};
    if (c->tree) cfg_yaml_emit(out, c->tree, &o);
}
