#!/usr/bin/env bash
# run.sh - the deployment tests: the Helm chart (chart.mjs: rendered by the
# Go renderer in render/, checked against the Kubernetes schemas from npm,
# values.schema.json, tether validate and promtool) and the container image
# layout (image.sh layout; `image.sh build` is the slow, opt-in real build).
#
# Installs the pinned npm packages into tests/deploy/node_modules when
# missing or older than the lock, builds the renderer with Debian's Go
# (GO111MODULE=off, sprig and sigs.k8s.io/yaml from /usr/share/gocode;
# scripts/deps.sh installs them). Environment: TETHER_BIN (default
# build/tether), TETHER_IMAGE_TEST=1 to also build and run the real image.
# Ends with "deploy: N passed, M failed"; exit 0 only when nothing failed,
# 2 when a dependency cannot be had (the message says which).
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${TETHER_BIN:-$root/build/tether}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
die() { echo "deploy: $*" >&2; echo "deploy: 0 passed, 1 failed"; exit 2; }
command -v node >/dev/null || die "node not found (Node.js >= 20 is needed)"
command -v npm >/dev/null || die "npm not found"
command -v go >/dev/null || die "go not found: run scripts/deps.sh (golang-go)"
[ -x "$bin" ] || die "tether binary not found at $bin (make build/tether)"
gopath=/usr/share/gocode
[ -d "$gopath/src/github.com/Masterminds/sprig" ] || die "sprig missing: run scripts/deps.sh (golang-github-masterminds-sprig-dev)"
[ -d "$gopath/src/sigs.k8s.io/yaml" ] || die "sigs.k8s.io/yaml missing: run scripts/deps.sh (golang-k8s-sigs-yaml-dev)"

out="$root/build/deploy"
mkdir -p "$out"
# the renderer: rebuilt when its source is newer
render="$out/render"
if [ ! -x "$render" ] || [ "$here/render/main.go" -nt "$render" ]; then
    (cd "$here/render" && GO111MODULE=off GOPATH="$gopath" GOCACHE="$out/gocache" GOFLAGS= \
        go build -o "$render" .) || die "building the chart renderer failed"
fi
# npm packages: npm ci only when node_modules is missing or older than the lock
(
    flock -w 600 9 || exit 1
    stamp="$here/node_modules/.tether-deploy-stamp"
    if [ ! -f "$stamp" ] || [ "$here/package-lock.json" -nt "$stamp" ]; then
        (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >"$out/npm.log" 2>&1) || { cat "$out/npm.log" >&2; exit 1; }
        touch "$stamp"
    fi
) 9>"${TMPDIR:-/tmp}/tether-deploy-npm.lock" || die "npm ci failed in $here"

pass=0; fail=0
tally() { # log -> adds its "X: N passed, M failed" line
    local line p f
    line="$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed' "$1" | tail -1)"
    p="$(echo "$line" | sed -n 's/.* \([0-9]*\) passed.*/\1/p')"
    f="$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')"
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-1}))
    if [ "$2" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then fail=$((fail + 1)); fi
}
log="$(mktemp)"
node "$here/chart.mjs" "$render" "$bin" 2>&1 | tee "$log"; tally "$log" "${PIPESTATUS[0]}"
TETHER_BIN="$bin" "$here/image.sh" layout 2>&1 | tee "$log"; tally "$log" "${PIPESTATUS[0]}"
if [ "${TETHER_IMAGE_TEST:-0}" = 1 ]; then
    TETHER_BIN="$bin" "$here/image.sh" build 2>&1 | tee "$log"; tally "$log" "${PIPESTATUS[0]}"
fi
rm -f "$log"
echo "deploy: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
