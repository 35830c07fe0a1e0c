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
root="$(cd "$here/../.." && pwd)"
bin="${TETHER_BIN:-./build/tether}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac

die() { echo "interop: $*" >&2; exit 2; }

command -v node >/dev/null 2>&1 || die "node not found in PATH (Node.js >= 18 is required)"
command -v npm >/dev/null 2>&1 || die "npm not found in PATH"
[ -x "$bin" ] || die "tether binary not found at $bin (build it with: make build/tether)"

# --- scratch directory; every process started below is stopped on exit
installlock="${TMPDIR:-/tmp}/tether-interop-npm.lock"
work="$(mktemp -d "${TMPDIR:-/tmp}/tether-interop.XXXXXX")" || die "mktemp failed"
pids=()
names=()
# Stop every started process with SIGTERM; each must exit 0 (a sanitizer
# report or a crash on shutdown fails the run).
cleanup() {
    local rc=$? i st
    for i in "${!pids[@]}"; do kill -TERM "${pids[$i]}" 2>/dev/null; done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" 2>/dev/null
        st=$?
        if [ "$st" -ne 0 ]; then
            echo "interop: ${names[$i]} exited with status $st on SIGTERM" >&2
            tail -n 40 "$work/${names[$i]}.err" >&2 2>/dev/null
            [ "$rc" -eq 0 ] && rc=1
        fi
    done
    if [ "${INTEROP_KEEP:-0}" = 1 ]; then echo "interop: logs kept in $work" >&2; else rm -rf "$work"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- dependencies: npm ci only when node_modules is missing or older than the
# lock; serialised by a lock file so two concurrent runs do not both install
install_deps() {
    local stamp="$here/node_modules/.tether-interop-stamp" lock="$here/package-lock.json" cmd
    if [ -f "$stamp" ] && [ ! "$lock" -nt "$stamp" ] && [ ! "$here/package.json" -nt "$stamp" ]; then
        return 0
    fi
    if [ -f "$lock" ]; then cmd=(npm ci); else cmd=(npm install); fi
    if ! (cd "$here" && "${cmd[@]}" --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1); then
        cat "$work/npm.log" >&2
        echo "interop: '${cmd[*]}' failed in $here" >&2
        return 1
    fi
    touch "$stamp"
}
(
    flock -w 600 9 || { echo "interop: timed out waiting for $installlock" >&2; exit 1; }
    install_deps
) 9>"$installlock" || die "installing the SDKs failed"

# start NAME ARGS...: run in the background, stdout to $work/NAME.out
start() {
    local name="$1"
    shift
    if [ "${INTEROP_VERBOSE:-0}" = 1 ]; then
        "$@" >"$work/$name.out" &
    else
        "$@" >"$work/$name.out" 2>"$work/$name.err" &
    fi
    pids+=($!)
    names+=("$name")
}

# wait_port NAME: the port of the "listening on HOST:PORT" line, within 10 s
wait_port() {
    local name="$1" i line
    for ((i = 0; i < 200; i++)); do
        line="$(grep -m1 '^listening on ' "$work/$name.out" 2>/dev/null)"
        if [ -n "$line" ]; then
            echo "${line##*:}"
            return 0
        fi
        sleep 0.05
    done
    cat "$work/$name.err" >&2 2>/dev/null
    return 1
}

free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
}

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
