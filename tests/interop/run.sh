#!/usr/bin/env bash
# run.sh - interop tests: the official OpenAI and Anthropic JavaScript SDKs
# talking to `tether serve`, which routes to strict `tether mock` backends.
#
# Installs the pinned SDKs into tests/interop/node_modules when missing or
# out of date, starts a strict mock (reached both as an OpenAI-format backend
# and as an api_format: anthropic backend) and a router on free loopback ports,
# runs chat.mjs, responses.mjs and anthropic.mjs, and stops everything it started.
#
# Environment: TETHER_BIN (default ./build/tether, relative to the repo
# root), INTEROP_VERBOSE=1 to show the processes' stderr on the terminal.
# Exit status: 0 when every script passed, 1 otherwise, 2 on a setup error.
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tag=interop
keep="${INTEROP_KEEP:-0}"
verbose="${INTEROP_VERBOSE:-0}"
wait_tries=200 # 10 s
# root, bin, die, runner_init, runner_npm_ci, start, wait_port, free_port
# shellcheck source=../support/npm_runner.sh
. "$here/../support/npm_runner.sh"

command -v node >/dev/null 2>&1 || die "node not found in PATH (Node.js >= 18 is required)"
command -v npm >/dev/null 2>&1 || die "npm not found in PATH"
[ -x "$bin" ] || die "tether binary not found at $bin (build it with: make build/tether)"

# scratch directory; every process started below is stopped on exit (each
# must exit 0 on SIGTERM); the pinned SDKs installed when out of date
runner_init
runner_npm_ci "the SDKs"

# One strict mock plays both providers: it serves /v1/chat/completions,
# /v1/responses and /v1/messages, and it must recognise the tool call ids it
# issued on one API when a conversation continues on the other (a Responses
# chain that moves between the two models), which two separate strict mocks
# would reject although real providers accept any well-formed id.
start mock "$bin" mock --listen 127.0.0.1:0 --strict
mport="$(wait_port mock)" || die "tether mock did not start"
rport="$(free_port)" || die "no free port"
gport="$(free_port)" || die "no free port"

cat >"$work/tether.yaml" <<YAML
version: v0.3
global:
  services:
    management_api: {listen: "127.0.0.1:$gport"}
listeners:
  - {name: main, address: 127.0.0.1, port: $rport, timeout: 30s}
providers:
  defaults:
    default_model: gpt
  models:
    - name: gpt
      provider_model_id: up-gpt
      backend_refs: [{name: o1, endpoint: "127.0.0.1:$mport"}]
    - name: claude
      provider_model_id: up-claude
      api_format: anthropic
      backend_refs: [{name: c1, base_url: "http://127.0.0.1:$mport/v1", provider: anthropic}]
routing:
  modelCards:
    - {name: gpt}
    - {name: claude}
YAML

start router "$bin" serve --config "$work/tether.yaml" --workers 1
port="$(wait_port router)" || die "tether serve did not start"

export TETHER_URL="http://127.0.0.1:$port"
fail=0
for name in chat.mjs responses.mjs anthropic.mjs; do
    script="$here/$name"
    if (cd "$here" && node "$script"); then
        echo "interop: PASS $name"
    else
        echo "interop: FAIL $name" >&2
        fail=1
    fi
done
exit "$fail"
