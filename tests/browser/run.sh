#!/usr/bin/env bash
# run.sh - browser tests of the dashboard: headless Chromium (Debian's
# chromium package) driven by playwright-core (pinned in package-lock.json,
# installed into tests/browser/node_modules when missing or out of date)
# against a real `tether serve` routing to two `tether mock` backends, all
# on free loopback ports and stopped on exit. Runs dashboard.test.mjs.
#
# Environment: TETHER_BIN (default ./build/tether), CHROMIUM (default
# chromium on PATH), DASH_ARTIFACTS (screenshots; default
# tests/browser/artifacts), DASH_VERBOSE=1 to show the processes' stderr.
# An argument names another script to run in the same setup (measure.mjs
# prints each page's first render time).
# Exit status: 0 when every check passed, 1 otherwise, 2 on a setup error
# (no chromium/node/npm, npm ci failed, a process did not start): the
# browser tests never pass silently; scripts/deps.sh installs what they need.
set -u

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${TETHER_BIN:-./build/tether}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac

die() { echo "browser: $*" >&2; exit 2; }

chromium="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
[ -n "$chromium" ] && [ -x "$chromium" ] || die "chromium not found (install it with: sudo scripts/deps.sh)"
command -v node >/dev/null 2>&1 || die "node not found in PATH (install it with: sudo scripts/deps.sh)"
command -v npm >/dev/null 2>&1 || die "npm not found in PATH (install it with: sudo scripts/deps.sh)"
[ -x "$bin" ] || die "tether binary not found at $bin (build it with: make build/tether)"

installlock="${TMPDIR:-/tmp}/tether-browser-npm.lock"
work="$(mktemp -d "${TMPDIR:-/tmp}/tether-browser.XXXXXX")" || die "mktemp failed"
pids=()
names=()
cleanup() {
    local rc=$? i st
    for i in "${!pids[@]}"; do kill -TERM "${pids[$i]}" 2>/dev/null; done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" 2>/dev/null
        st=$?
        if [ "$st" -ne 0 ]; then
            echo "browser: ${names[$i]} exited with status $st on SIGTERM" >&2
            tail -n 40 "$work/${names[$i]}.err" >&2 2>/dev/null
            [ "$rc" -eq 0 ] && rc=1
        fi
    done
    if [ "${DASH_KEEP:-0}" = 1 ]; then echo "browser: logs kept in $work" >&2; else rm -rf "$work"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

install_deps() {
    local stamp="$here/node_modules/.tether-browser-stamp" lock="$here/package-lock.json"
    if [ -f "$stamp" ] && [ ! "$lock" -nt "$stamp" ] && [ ! "$here/package.json" -nt "$stamp" ]; then
        return 0
    fi
    if ! (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1); then
        cat "$work/npm.log" >&2
        echo "browser: 'npm ci' failed in $here" >&2
        return 1
    fi
    touch "$stamp"
}
(
    flock -w 600 9 || { echo "browser: timed out waiting for $installlock" >&2; exit 1; }
    install_deps
) 9>"$installlock" || die "installing playwright-core failed"

start() {
    local name="$1"
    shift
    if [ "${DASH_VERBOSE:-0}" = 1 ]; then
        "$@" >"$work/$name.out" &
    else
        "$@" >"$work/$name.out" 2>"$work/$name.err" &
    fi
    pids+=($!)
    names+=("$name")
}

wait_port() {
    local name="$1" i line
    for ((i = 0; i < 600; i++)); do # 30 s: a loaded machine, an ASan build
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

start small "$bin" mock --listen 127.0.0.1:0 --models sim-small
start large "$bin" mock --listen 127.0.0.1:0 --models sim-large
DASH_SMALL_PORT="$(wait_port small)" || die "tether mock did not start"
DASH_LARGE_PORT="$(wait_port large)" || die "tether mock did not start"
DASH_PORT="$(free_port)" || die "no free port"
DASH_MGMT_PORT="$(free_port)" || die "no free port"
export DASH_SMALL_PORT DASH_LARGE_PORT DASH_PORT DASH_MGMT_PORT
export DASH_VIEWER_TOKEN="viewer-$RANDOM$RANDOM" DASH_OPERATOR_TOKEN="operator-$RANDOM$RANDOM"
export DASH_ADMIN_TOKEN="admin-$RANDOM$RANDOM"
# a copy: the Config page's Apply writes over the file it serves
cp "$here/router.yaml" "$work/router.yaml"
start router "$bin" serve --config "$work/router.yaml" --workers 1
wait_port router >/dev/null || die "tether serve did not start"
for ((i = 0; i < 600; i++)); do
    curl -sf "http://127.0.0.1:$DASH_MGMT_PORT/health" >/dev/null 2>&1 && break
    sleep 0.05
done

export CHROMIUM="$chromium"
export DASH_ARTIFACTS="${DASH_ARTIFACTS:-$here/artifacts}"
mkdir -p "$DASH_ARTIFACTS"
(cd "$here" && node "${1:-dashboard.test.mjs}")
