#!/usr/bin/env bash
# npm_runner.sh - the shared part of the test runners that drive Node
# scripts against `tether serve` and `tether mock` (tests/browser/run.sh,
# tests/interop/run.sh): the binary under test, a scratch directory, the
# processes started (each must exit 0 on SIGTERM: a sanitizer report or a
# crash on shutdown fails the run), `npm ci` of the runner's pinned
# packages (only when node_modules is missing or older than the lock,
# serialised by a lock file so two concurrent runs do not both install),
# and free loopback ports. Sourced by a runner, never run by itself:
#
#   tag=interop                         # message prefix; names the lock,
#                                       # the scratch dir and the npm stamp
#   here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"  # package.json
#   keep="${INTEROP_KEEP:-0}"           # 1: keep the scratch dir (logs)
#   verbose="${INTEROP_VERBOSE:-0}"     # 1: processes' stderr to the terminal
#   wait_tries=200                      # wait_port: tries 50 ms apart (>= 1800)
#   . "$here/../support/npm_runner.sh"  # sets root, bin; defines die
#   ...checks of the runner's own tools (die "...")...
#   runner_init                         # work, pids, the cleanup trap
#   runner_npm_ci "the SDKs"            # else: die "installing the SDKs failed"
#   start NAME CMD...; port="$(wait_port NAME)"; p="$(free_port)"
#
# Environment: TETHER_BIN (default ./build/tether, relative to the repo
# root). Exit status of die: 2 (a setup error).

# shellcheck disable=SC2154 # here and tag come from the runner
root="$(cd "$here/../.." && pwd)"
bin="${TETHER_BIN:-./build/tether}"
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac

# shellcheck disable=SC2154
die() { echo "$tag: $*" >&2; exit 2; }

# The scratch directory and the exit trap; every process started below is
# stopped on exit and must exit 0.
runner_init() {
    installlock="${TMPDIR:-/tmp}/tether-$tag-npm.lock"
    work="$(mktemp -d "${TMPDIR:-/tmp}/tether-$tag.XXXXXX")" || die "mktemp failed"
    pids=()
    names=()
    trap runner_cleanup EXIT
    trap 'exit 130' INT TERM
}

runner_cleanup() {
    local rc=$? i st
    for i in "${!pids[@]}"; do kill -TERM "${pids[$i]}" 2>/dev/null; done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" 2>/dev/null
        st=$?
        if [ "$st" -ne 0 ]; then
            echo "$tag: ${names[$i]} exited with status $st on SIGTERM" >&2
            tail -n 40 "$work/${names[$i]}.err" >&2 2>/dev/null
            [ "$rc" -eq 0 ] && rc=1
        fi
    done
    if [ "${keep:-0}" = 1 ]; then echo "$tag: logs kept in $work" >&2; else rm -rf "$work"; fi
    exit "$rc"
}

runner_install_deps() {
    local stamp="$here/node_modules/.tether-$tag-stamp" lock="$here/package-lock.json" cmd
    if [ -f "$stamp" ] && [ ! "$lock" -nt "$stamp" ] && [ ! "$here/package.json" -nt "$stamp" ]; then
        return 0
    fi
    if [ -f "$lock" ]; then cmd=(npm ci); else cmd=(npm install); fi
    if ! (cd "$here" && "${cmd[@]}" --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1); then
        cat "$work/npm.log" >&2
        echo "$tag: '${cmd[*]}' failed in $here" >&2
        return 1
    fi
    touch "$stamp"
}

# runner_npm_ci WHAT: install the pinned packages (WHAT names them in the
# error) under the lock, or die.
runner_npm_ci() {
    (
        flock -w 600 9 || { echo "$tag: timed out waiting for $installlock" >&2; exit 1; }
        runner_install_deps
    ) 9>"$installlock" || die "installing $1 failed"
}

# start NAME ARGS...: run in the background, stdout to $work/NAME.out
start() {
    local name="$1"
    shift
    if [ "${verbose:-0}" = 1 ]; then
        "$@" >"$work/$name.out" &
    else
        "$@" >"$work/$name.out" 2>"$work/$name.err" &
    fi
    pids+=($!)
    names+=("$name")
}

# wait_port NAME: the port of the "listening on HOST:PORT" line, within
# wait_tries tries 50 ms apart (at least 1800: 90 s, since the ASan router
# compiling its signal patterns on a loaded machine took 40 s to start);
# a process that exits ends the wait at once
wait_port() {
    local name="$1" i j line pid="" tries="${wait_tries:-200}"
    [ "$tries" -lt 1800 ] && tries=1800
    for j in "${!names[@]}"; do [ "${names[$j]}" = "$name" ] && pid="${pids[$j]}"; done
    for ((i = 0; i < tries; i++)); do
        line="$(grep -m1 '^listening on ' "$work/$name.out" 2>/dev/null)"
        if [ -n "$line" ]; then
            echo "${line##*:}"
            return 0
        fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then break; fi
        sleep 0.05
    done
    cat "$work/$name.err" >&2 2>/dev/null
    return 1
}

# free_port: a loopback port free a moment ago, for a server to listen on:
# picked at random below the kernel's ephemeral range (32768-60999), so no
# outgoing connection takes it as its source port before the server binds
# it, and never one this runner handed out before (recorded in $work/ports:
# callers run it in a subshell)
# (from this runner's job slot's share of the range when scripts/run-tests.sh
# runs binaries side by side: TETHER_TEST_PORT_SLOT of _SLOTS, as proc.c)
free_port() {
    local p i lo=20000 n=12768 slot=${TETHER_TEST_PORT_SLOT:-0} slots=${TETHER_TEST_PORT_SLOTS:-1}
    if [[ "$slot$slots" =~ ^[0-9]+$ ]] && [ "$slots" -ge 2 ] && [ "$slots" -le 64 ] && [ "$slot" -lt "$slots" ]; then
        n=$((12768 / slots)); lo=$((20000 + slot * n))
    fi
    for ((i = 0; i < 200; i++)); do
        p=$((lo + RANDOM % n))
        grep -qx "$p" "$work/ports" 2>/dev/null && continue
        if node -e 'const s=require("net").createServer();s.on("error",()=>process.exit(1));s.listen(Number(process.argv[1]),"127.0.0.1",()=>s.close());' "$p"; then
            echo "$p" >>"$work/ports"
            echo "$p"
            return 0
        fi
    done
    return 1
}
