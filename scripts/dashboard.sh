#!/bin/sh
# Build the dashboard's bundle (`make dashboard`; the C build embeds it):
# install the pinned npm packages of dashboard/package-lock.json with
# `npm ci` into dashboard/node_modules (only when the lockfile changed
# since the last install; one install at a time, so `make` and
# `make SAN=1` may run together), then bundle dashboard/src with esbuild
# into OUTDIR (dashboard/build.mjs; fails over the size budget).
# Usage: dashboard.sh OUTDIR. Needs node and npm (scripts/deps.sh installs
# Debian's) and the npm registry (or a warm npm cache).
set -e
root="$(cd "$(dirname "$0")/.." && pwd)"
out=$1
[ -n "$out" ] || { echo "usage: dashboard.sh OUTDIR" >&2; exit 2; }
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
command -v node >/dev/null 2>&1 || { echo "dashboard: node not found (install it with: sudo scripts/deps.sh)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "dashboard: npm not found (install it with: sudo scripts/deps.sh)" >&2; exit 1; }
dir="$root/dashboard"
stamp="$dir/node_modules/.tether-stamp"
(
    flock -w 600 9 || { echo "dashboard: timed out waiting for the npm install lock" >&2; exit 1; }
    if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ] || [ "$dir/package.json" -nt "$stamp" ]; then
        log="$(mktemp)"
        if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >"$log" 2>&1); then
            cat "$log" >&2
            rm -f "$log"
            echo "dashboard: 'npm ci' failed in $dir" >&2
            exit 1
        fi
        rm -f "$log"
        touch "$stamp"
    fi
    node "$dir/build.mjs" "$out"
) 9>"$dir/.npm-lock"
