#!/bin/bash
# Peak router memory for bodies of many tiny messages (issue 20 item 6):
# starts `tether mock` and `tether serve` (one worker, max_body_bytes 64MiB,
# max_messages as given) on loopback, posts each body once and prints the
# router's RSS before, its peak during (VmHWM, reset before each request
# through /proc/PID/clear_refs) and its RSS 4.5 s after, with the status.
#   scripts/mem_probe.sh [TETHER_BIN] [MAX_MESSAGES]
# e.g. scripts/mem_probe.sh build/tether 2000000   (the bound, raised limit)
#      scripts/mem_probe.sh build/tether           (the default limit: 413s)
# MEM_PROBE_N="1000000 100000" (default) sets the message counts; each count
# runs chat, messages, responses in this order on the same router.
set -u
BIN=${1:-build/tether}
MAXM=${2:-}
PR=${MEM_PROBE_PORT:-18930}
D=$(mktemp -d)
trap 'kill $RP $MP 2>/dev/null; wait 2>/dev/null; rm -rf "$D"' EXIT
# body KIND N: KIND chat | messages | responses, N messages {"role":"user","content":"hi"}
body() {
    case $1 in
    chat) printf '{"model":"gpt","messages":[' ;;
    messages) printf '{"model":"gpt","max_tokens":16,"messages":[' ;;
    responses) printf '{"model":"gpt","input":[' ;;
    esac
    yes '{"role":"user","content":"hi"}' | head -n "$2" | paste -sd, -
    printf ']}'
}
"$BIN" mock --listen 127.0.0.1:$((PR + 1)) >/dev/null 2>&1 &
MP=$!
cat >"$D/c.yaml" <<Y
version: v0.3
listeners:
  - {name: main, address: 127.0.0.1, port: $PR, timeout: 120s}
global:
  router:
    limits: {max_body_bytes: 64MiB${MAXM:+, max_messages: $MAXM}}
providers:
  defaults: {default_model: gpt}
  models:
    - name: gpt
      provider_model_id: up-gpt
      backend_refs: [{name: o1, endpoint: "127.0.0.1:$((PR + 1))"}]
routing:
  modelCards: [{name: gpt}]
Y
"$BIN" serve --config "$D/c.yaml" --workers 1 >"$D/log" 2>&1 &
RP=$!
sleep 1.5
mb() { echo $(($(awk -v k="$1:" '$1 == k {print $2}' /proc/$RP/status) / 1024)); }
printf '%-10s %-22s %8s %6s %10s %6s %9s\n' case path body_MB status before_MB peak_MB after_MB
CASES=""
for n in ${MEM_PROBE_N:-1000000 100000}; do
    CASES="$CASES chat:$n:/v1/chat/completions messages:$n:/v1/messages responses:$n:/v1/responses"
done
for c in $CASES; do
    IFS=: read -r kind n path <<<"$c"
    body "$kind" "$n" >"$D/body"
    before=$(mb VmRSS)
    echo 5 >/proc/$RP/clear_refs
    code=$(curl -s -o "$D/out" -w '%{http_code}' -H 'content-type: application/json' \
        --data-binary @"$D/body" "http://127.0.0.1:$PR$path")
    sleep 4.5 # past two malloc_trim ticks (src/api/mem_trim.c)
    printf '%-10s %-22s %8s %6s %10s %6s %9s\n' "$kind/$n" "$path" \
        $(($(stat -c %s "$D/body") / 1000000)) "$code" "$before" "$(mb VmHWM)" "$(mb VmRSS)"
done
