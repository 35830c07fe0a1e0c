#!/bin/bash
# Build and run the libFuzzer harnesses in tests/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined). Each harness is built from the src/
# files it needs (never against the gcc-built libtether.a), put into an
# archive of its own so that only what the harness reaches is linked (each
# source file is compiled once a run, for every harness that lists it).
#   scripts/fuzz.sh short   ~20 s per harness (part of make test)
#   scripts/fuzz.sh long    10 min per harness (FUZZ_SECONDS overrides)
# FUZZ_ONLY="fuzz_a fuzz_b" limits a run to those harnesses (e.g. to run two
# lanes side by side with nice -n 19 on a shared machine). FUZZ_JOBS=N runs
# N harnesses side by side (default 1; make test uses one per core), each
# still for its full seconds.
# Seeds live in tests/fuzz/corpus/<name>/ (checked in); new corpus entries go
# to build/fuzz/corpus/<name>/, crashes to build/fuzz/crash-<name>-*.
# Exit status: 0 when every harness ran clean, 1 otherwise.
set -u
MODE=${1:-short}
case "$MODE" in
short) SECS=${FUZZ_SECONDS:-20} ;;
long) SECS=${FUZZ_SECONDS:-600} ;;
*) echo "usage: $0 short|long" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
OUT=build/fuzz
mkdir -p "$OUT"
CC=${FUZZ_CC:-clang}
CXX=${FUZZ_CXX:-clang++}
SAN="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc"
# libpq's header lives outside the default path (the config harness reaches
# the postgres stores)
CFLAGS="-std=gnu11 $SAN -D_GNU_SOURCE $(pkg-config --cflags libpq 2>/dev/null)"
CXXFLAGS="-std=gnu++17 $SAN"
JOBS=$(nproc 2>/dev/null || echo 2)

# harness name -> the src/ files it may link, and extra libraries. To add a
# harness: one line here; optional seeds in tests/fuzz/corpus/<name>/ and a
# tests/fuzz/<harness>.dict.
declare -A SRCS LIBS
SRCS[fuzz_scan]="src/json/scan.c src/json/scan_span.c src/json/scan_str.c src/json/splice.c src/http/sse.c src/core/arena.c src/core/thread_exit.c src/core/buf.c"
SRCS[fuzz_reply]="src/json/reply_scan.c src/json/scan.c src/json/scan_span.c src/json/scan_str.c src/core/arena.c src/core/thread_exit.c src/core/buf.c"
SRCS[fuzz_dsl]="src/dsl/lexer.c src/dsl/parser.c src/dsl/fmt.c src/dsl/diag.c src/core/arena.c src/core/thread_exit.c src/core/buf.c src/core/sort.c"
SRCS[fuzz_forward]="src/upstream/forward_headers.c src/core/buf.c src/core/arena.c src/core/thread_exit.c"
SRCS[fuzz_http]="src/http/server_parse.c src/http/h1_head.c src/core/buf.c src/core/arena.c src/core/thread_exit.c"
# the fast head reader against http-parser (both through server_parse.c)
SRCS[fuzz_h1]="${SRCS[fuzz_http]}"
SRCS[fuzz_log]="src/core/log.c src/core/log_format.c src/core/log_text.c src/core/buf.c src/core/arena.c src/core/thread_exit.c"
SRCS[fuzz_translate]="$(echo src/api/translate*.c) src/json/scan.c src/json/scan_span.c src/json/scan_str.c src/core/arena.c src/core/thread_exit.c src/core/buf.c src/core/hash.c src/core/sort.c"
SRCS[fuzz_binding]="src/session/binding_token.c src/core/sha256.c"
SRCS[fuzz_cred]="src/api/client_cred.c"
SRCS[fuzz_classify]="src/signals/classify_parse.c src/signals/classify_fast.c src/json/scan.c src/json/scan_span.c src/json/scan_str.c src/core/arena.c src/core/thread_exit.c"
LIBS[fuzz_classify]="-lcjson"
SRCS[fuzz_embed]="src/signals/embed_parse.c"
SRCS[fuzz_trace]="src/telemetry/span.c src/telemetry/otlp_json.c src/core/buf.c src/core/arena.c src/core/thread_exit.c"
SRCS[fuzz_redis_record]="src/session/store_redis_record.c src/core/buf.c src/core/arena.c src/core/thread_exit.c src/core/hash.c src/core/sort.c"
SRCS[fuzz_replay]="src/replay/query.c src/replay/aggregate.c src/replay/trajectory.c src/replay/store.c \
    src/replay/record.c src/replay/frag_check.c src/replay/frag_memo.c src/session/policy.c src/session/policy_start.c \
    src/session/policy_facts.c src/config/yaml.c src/config/diag.c src/json/scan.c src/json/scan_span.c src/json/scan_str.c src/core/arena.c src/core/thread_exit.c src/core/buf.c src/core/hash.c src/core/sort.c"
SRCS[fuzz_cache_stream]="src/plugins/response_cache_sse.c src/plugins/response_cache_stream.c src/http/sse.c src/core/buf.c src/core/arena.c src/core/thread_exit.c"
# The loader reads the member registries of signals/, select/ and plugins/
# and the store backend registries of replay/ and session/ (config/family.h,
# config/stores.c), so the config harness links those folders too; the
# session Redis backend reaches the kv/ layer (hiredis, libevent); the
# response store registry (api/) and what it reaches (translation, the SSE
# parser, metrics) come along.
# The signals reach the HTTP client (external classifiers, embedder:
# http/upstream.c, with libevent's OpenSSL bufferevents).
SRCS[fuzz_config]="$(echo src/config/*.c src/core/*.c src/json/*.c src/request/*.c src/decision/*.c \
    src/signals/*.c src/signals/*.cc src/select/*.c src/plugins/*.c src/replay/*.c src/session/*.c src/kv/*.c \
    src/metrics/*.c src/http/sse.c src/http/upstream.c src/http/upstream_pool.c src/http/h1_head.c src/api/response_store*.c src/api/translate*.c)"
# The management API harness drives the eval, outcomes and feedback handlers
# (route/ and those admin/ files) on the same sources; sharing the list
# shares one archive (an archive links only what a harness reaches).
SRCS[fuzz_config]+=" $(echo src/route/*.c) src/admin/eval_api.c src/admin/eval_rewrite.c src/admin/outcomes_api.c src/admin/replay_api.c"
# import (OpenClaw, /models, CRD inventories) merges with the real loader
SRCS[fuzz_import]="${SRCS[fuzz_config]}"
LIBS[fuzz_config]="-lpq -lhs -lpcre2-8 -lstemmer -lutf8proc -lcld2 -lxxhash -lsqlite3 -lhiredis -levent_pthreads -levent_openssl -levent \
    -lssl -lcrypto -lm -lstdc++"
LIBS[fuzz_import]="${LIBS[fuzz_config]}"
# The trajectory rebuilt from captured bodies (replay/trajectory.c) runs on
# the replay store interface, which reaches the config registries: the same
# sources as the config harness (the same archive, built once).
SRCS[fuzz_trajectory]="${SRCS[fuzz_config]}"
LIBS[fuzz_trajectory]="${LIBS[fuzz_config]}"
# The management API's JSON bodies (eval, outcomes, feedback) through their
# handlers: the config harness's archive.
SRCS[fuzz_mgmt]="${SRCS[fuzz_config]}"
LIBS[fuzz_mgmt]="${LIBS[fuzz_config]}"

# Which harnesses run (FUZZ_ONLY), in a fixed order.
harnesses=()
for h in $(printf '%s\n' "${!SRCS[@]}" | sort); do
    if [ -n "${FUZZ_ONLY:-}" ] && [[ " $FUZZ_ONLY " != *" $h "* ]]; then continue; fi
    harnesses+=("$h")
done
status=0
# secs_since START: seconds since the $EPOCHREALTIME value START
secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
t_build=$EPOCHREALTIME

# Every source file any of these harnesses needs is compiled once, into
# $OUT/obj/all/ (all harnesses use the same flags), JOBS at a time; then
# each distinct source list gets an archive of its own from those objects
# ($OUT/obj/<harness>/lib.a, shared by harnesses with the same list), so
# that only what a harness reaches is linked.
objdir="$OUT/obj/all"
rm -rf "$OUT/obj" && mkdir -p "$objdir" || exit 1
obj_of() { local s=$1; echo "$objdir/${s//\//_}.o"; }
declare -A NEED
for h in "${harnesses[@]}"; do for s in ${SRCS[$h]}; do NEED[$s]=1; done; done
export CC CXX CFLAGS CXXFLAGS objdir
# shellcheck disable=SC2016
printf '%s\n' "${!NEED[@]}" | sort | xargs -r -P "$JOBS" -n1 bash -c '
    o="$objdir/${0//\//_}.o"
    case "$0" in
    *.cc) $CXX $CXXFLAGS -c "$0" -o "$o" ;;
    *) $CC $CFLAGS -c "$0" -o "$o" ;;
    esac || { rm -f "$o"; exit 1; }'
declare -A ARCH BUILT
for h in "${harnesses[@]}"; do
    key=$(printf '%s' "${SRCS[$h]}" | md5sum | cut -c1-12)
    if [ -z "${ARCH[$key]:-}" ]; then
        ARCH[$key]=$h
        objs=()
        for s in ${SRCS[$h]}; do objs+=("$(obj_of "$s")"); done
        mkdir -p "$OUT/obj/$h" && ar rcs "$OUT/obj/$h/lib.a" "${objs[@]}" || rm -f "$OUT/obj/$h/lib.a"
    fi
done
# link the harnesses, JOBS at a time
link_one() {
    local h=$1 key
    key=$(printf '%s' "${SRCS[$h]}" | md5sum | cut -c1-12)
    local lib="$OUT/obj/${ARCH[$key]}/lib.a"
    [ -f "$lib" ] && $CC $CFLAGS -o "$OUT/$h" "tests/fuzz/$h.c" "$lib" -lfyaml -lcurl -lcjson -lhttp_parser -lxxhash -lcrypto \
        -lpthread ${LIBS[$h]:-} && touch "$OUT/obj/$h.linked"
}
running=0
for h in "${harnesses[@]}"; do
    rm -f "$OUT/obj/$h.linked"
    if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
    link_one "$h" &
    running=$((running + 1))
done
wait
for h in "${harnesses[@]}"; do
    if [ -f "$OUT/obj/$h.linked" ]; then BUILT[$h]=1; else
        echo "fuzz: $h: build failed" >&2
        status=1
    fi
done
build_s=$(secs_since "$t_build")

# Run harness $1 for $SECS s; its messages go to $OUT/$1.msg, its exit
# status to $OUT/$1.rc.
run_one() {
    local h=$1 name=${1#fuzz_}
    mkdir -p "$OUT/corpus/$name"
    local seeds="tests/fuzz/corpus/$name" log="$OUT/$h.log" dict=()
    if [ -f "tests/fuzz/$h.dict" ]; then dict=(-dict="tests/fuzz/$h.dict"); fi
    {
        echo "fuzz: $h for ${SECS}s (log $log)"
        if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            "$OUT/$h" "${dict[@]}" -max_total_time="$SECS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="$OUT/crash-$name-" \
            "$OUT/corpus/$name" "$seeds" >"$log" 2>&1; then
            echo "fuzz: $h: clean, $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs"
            echo 0 >"$OUT/$h.rc"
        else
            echo "fuzz: $h: FAILED, see $log and $OUT/crash-$name-*"
            tail -30 "$log"
            echo 1 >"$OUT/$h.rc"
        fi
    } >"$OUT/$h.msg" 2>&1
}

# FUZZ_JOBS harnesses run side by side (default 1; each libFuzzer run is
# one process busy on one core for its SECS seconds, so on an idle machine
# up to one per core keeps every harness's seconds and speed). Their
# messages are printed in harness order.
FJOBS=${FUZZ_JOBS:-1}
[[ "$FJOBS" =~ ^[1-9][0-9]*$ ]] || FJOBS=1
t_run=$EPOCHREALTIME
running=0; next=0
print_done() {
    while [ "$next" -lt "${#harnesses[@]}" ]; do
        local h=${harnesses[$next]}
        if [ -n "${BUILT[$h]:-}" ]; then
            [ -f "$OUT/$h.rc" ] || break
            if [ "$(cat "$OUT/$h.rc")" = 0 ]; then cat "$OUT/$h.msg"; else
                cat "$OUT/$h.msg" >&2
                status=1
            fi
        fi
        next=$((next + 1))
    done
}
for h in "${harnesses[@]}"; do
    [ -n "${BUILT[$h]:-}" ] || continue
    rm -f "$OUT/$h.rc" "$OUT/$h.msg"
    if [ "$running" -ge "$FJOBS" ]; then wait -n; running=$((running - 1)); print_done; fi
    run_one "$h" &
    running=$((running + 1))
done
wait
print_done
echo "fuzz: ${#harnesses[@]} harnesses: build ${build_s} s ($JOBS jobs), runs $(secs_since "$t_run") s ($FJOBS at a time; load $(cut -d' ' -f1-3 /proc/loadavg))"
exit $status
