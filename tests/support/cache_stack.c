/* cache_stack.c - test support: a mock and a router whose decisions use
 * the response cache on the chat, Messages and Responses endpoints (see
 * cache_stack.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cache_stack.h"
#include "stack.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int tcache_stack_start(tcache_stack_t *s, const char *name)
{
    s->mport = tstack_mock(&s->mock, NULL);
    if (s->mport <= 0) return -1;
    s->rport = tsupport_free_port();
    snprintf(s->cfg, sizeof s->cfg, "/tmp/tether-%s-%d.yaml", name, (int)getpid());
    FILE *f = fopen(s->cfg, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d, timeout: 30s}\n"
            "providers:\n  defaults: {default_model: gpt}\n  models:\n"
            "    - name: gpt\n      provider_model_id: up-gpt\n"
            "      backend_refs: [{name: o1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: claude\n      provider_model_id: up-claude\n      api_format: anthropic\n"
            "      backend_refs: [{name: c1, base_url: \"http://127.0.0.1:%d/v1\", provider: "
            "anthropic}]\n"
            "routing:\n  modelCards: [{name: gpt}, {name: claude}]\n"
            "  signals:\n    keywords:\n"
            "      - {name: faq, keywords: [opening hours]}\n"
            "      - {name: deep, keywords: [tide tables]}\n"
            "  decisions:\n"
            "    - name: faq\n      priority: 50\n      rules: {type: keyword, name: faq}\n"
            "      modelRefs: [{model: gpt}]\n"
            "      plugins: [{type: response_cache, configuration: {mode: exact, scope: global}}]\n"
            "    - name: deep\n      priority: 40\n      rules: {type: keyword, name: deep}\n"
            "      modelRefs: [{model: claude}]\n"
            "      plugins: [{type: response_cache, configuration: {mode: exact, scope: global}}]\n"
            "    - {name: other, modelRefs: [{model: gpt}]}\n",
            s->rport, s->mport, s->mport);
    fclose(f);
    return tstack_serve_n(&s->router, s->cfg, 1, 10000) > 0 ? 0 : -1;
}

void tcache_stack_post(const tcache_stack_t *s, const char *path, const char *body, thttp_resp_t *r)
{
    assert_int_equal(
        thttp_request("127.0.0.1", s->rport, "POST", path, NULL, body, strlen(body), r), 0);
    if (r->status != 200) fail_msg("%s: status %d body %s", path, r->status, r->body);
}

int tcache_stack_stop(tcache_stack_t *s)
{
    int st = tproc_stop(&s->router, 10000);
    tproc_stop(&s->mock, 5000);
    unlink(s->cfg);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

tcache_stack_t tcache;

int tcache_setup(void **state)
{
    (void)state;
    return tcache_stack_start(&tcache, program_invocation_short_name);
}

int tcache_teardown(void **state)
{
    (void)state;
    return tcache_stack_stop(&tcache);
}
