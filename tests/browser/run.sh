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
tag=browser
keep="${DASH_KEEP:-0}"
verbose="${DASH_VERBOSE:-0}"
wait_tries=1800 # 90 s bound: the ASan router compiles its signal patterns slowly on a loaded machine
# root, bin, die, runner_init, runner_npm_ci, start, wait_port, free_port
# shellcheck source=../support/npm_runner.sh
. "$here/../support/npm_runner.sh"

chromium="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
[ -n "$chromium" ] && [ -x "$chromium" ] || die "chromium not found (install it with: sudo scripts/deps.sh)"
command -v node >/dev/null 2>&1 || die "node not found in PATH (install it with: sudo scripts/deps.sh)"
command -v npm >/dev/null 2>&1 || die "npm not found in PATH (install it with: sudo scripts/deps.sh)"
[ -x "$bin" ] || die "tether binary not found at $bin (build it with: make build/tether)"

runner_init
runner_npm_ci playwright-core

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
for ((i = 0; i < 1800; i++)); do
    curl -sf "http://127.0.0.1:$DASH_MGMT_PORT/health" >/dev/null 2>&1 && break
    sleep 0.05
done

export CHROMIUM="$chromium"
export DASH_ARTIFACTS="${DASH_ARTIFACTS:-$here/artifacts}"
mkdir -p "$DASH_ARTIFACTS"
(cd "$here" && node "${1:-dashboard.test.mjs}")
