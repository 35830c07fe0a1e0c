/* fuzz_import.c - libFuzzer harness for `tether config import` (build and run
 * with scripts/fuzz.sh): the inventories it reads come from outside - an
 * OpenClaw file (JSON or YAML), an OpenAI-compatible GET /models body, and
 * Kubernetes manifests with IntelligentPool/IntelligentRoute objects - and
 * each is merged into a small config and validated with the real loader.
 * `tether config migrate` is fuzzed by fuzz_config (same bytes, both paths).
 * The first byte picks the source (and bit 2 the merge's replace flag); the
 * rest is the text. */
#include <stdint.h>
#include <stdlib.h>

#include "config/config.h"
#include "config/migrate.h"

/* libfyaml 0.7.12 leaks a scalar's materialised text (see fuzz_config.c). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfyaml.so\n";
}

static const char TARGET[] = "version: v0.3\n"
                             "listeners:\n"
                             "  - name: main\n"
                             "    port: 8080\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 18)) return 0;
    int mode = data[0] & 3;
    bool replace = data[0] & 4;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const char *target = data[0] & 8 ? NULL : TARGET;
    size_t tlen = target ? sizeof TARGET - 1 : 0;
    cfg_import_t im;
    cfg_import_init(&im);
    switch (mode) {
    case 0:
    case 3:
        if (cfg_import_read_openclaw(&im, "openclaw.json", text, len))
            cfg_import_merge(&im, "tether.yaml", target, tlen, replace);
        break;
    case 1:
        if (cfg_import_read_openai(&im, "local", "http://127.0.0.1:9/v1", "LOCAL_KEY", text, len))
            cfg_import_merge(&im, "tether.yaml", target, tlen, replace);
        break;
    case 2:
        if (cfg_import_read_crd(&im, "crd.yaml", text, len))
            cfg_import_merge_crd(&im, "tether.yaml", target, tlen, replace);
        break;
    }
    cfg_import_deinit(&im);
    return 0;
}
