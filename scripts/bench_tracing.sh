#!/bin/bash
# bench_tracing.sh - the router's CPU per request with OpenTelemetry tracing
# off and on (sample_ratio 1, every request exported to a loopback OTLP/HTTP
# JSON receiver written in Python). One `tether mock` backend, one router
# worker, N sequential keep-alive chat requests per run; the figure is the
# router process's user+system CPU (from /proc/PID/stat) divided by N.
# Usage: scripts/bench_tracing.sh [N=3000] [ROUNDS=3]   (needs build/tether)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3000}
ROUNDS=${2:-3}
BIN=${TETHER_BIN:-build/tether}
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
MPORT=$(free_port); CPORT=$(free_port)
"$BIN" mock --listen 127.0.0.1:$MPORT >/dev/null 2>&1 & PIDS+=($!)
cat > "$TMP/col.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$TMP/col.py" $CPORT & PIDS+=($!)
cat > "$TMP/client.py" <<'PY'
import http.client, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
body = '{"model":"auto","messages":[{"role":"user","content":"hello there, how are you"}]}'
c = http.client.HTTPConnection("127.0.0.1", port)
for i in range(n):
    c.request("POST", "/v1/chat/completions", body, {"content-type": "application/json", "x-session-id": "s%d" % (i % 50)})
    r = c.getresponse(); r.read()
    if r.status != 200: sys.exit("status %d" % r.status)
PY
sleep 0.5
cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
run() { # $1 = tracing on|off
    local port mgmt
    port=$(free_port); mgmt=$(free_port)
    cat > "$TMP/cfg.yaml" <<YAML
version: v0.3
listeners:
  - {name: main, address: 127.0.0.1, port: $port}
providers:
  defaults: {default_model: small}
  models:
    - name: small
      backend_refs: [{name: s1, endpoint: "127.0.0.1:$MPORT"}]
routing:
  modelCards: [{name: small}]
  decisions:
    - {name: everyday, modelRefs: [{model: small}]}
global:
  services:
    management_api: {listen: "127.0.0.1:$mgmt"}
    router_replay: {enabled: false}
    logging: {access_log: false}
    tracing: {enabled: $([ "$1" = on ] && echo true || echo false), endpoint: "http://127.0.0.1:$CPORT"}
YAML
    "$BIN" serve --config "$TMP/cfg.yaml" --workers 1 >/dev/null 2>&1 & local rp=$!
    for _ in $(seq 50); do curl -s -o /dev/null "127.0.0.1:$port/v1/models" && break; sleep 0.1; done
    python3 "$TMP/client.py" $port 200 # warm up
    local t0; t0=$(cpu_ticks $rp)
    python3 "$TMP/client.py" $port "$N"
    sleep 1.5 # the exporter's last batches
    local t1; t1=$(cpu_ticks $rp)
    local hz; hz=$(getconf CLK_TCK)
    local dropped; dropped=$(curl -s "127.0.0.1:$mgmt/metrics" | awk '/^tether_trace_spans_dropped_total/ {s+=$2} END {print s+0}')
    local exported; exported=$(curl -s "127.0.0.1:$mgmt/metrics" | awk '/^tether_trace_spans_exported_total/ {s+=$2} END {print s+0}')
    kill $rp; wait $rp 2>/dev/null || true
    awk -v a=$t0 -v b=$t1 -v hz=$hz -v n=$N -v m="$1" -v d=$dropped -v e=$exported \
        'BEGIN {printf "tracing %-3s  %7.1f us CPU/request  (spans exported %d, dropped %d)\n", m, (b-a)*1e6/hz/n, e, d}'
}
for r in $(seq "$ROUNDS"); do run off; run on; done
