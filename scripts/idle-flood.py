#!/usr/bin/env python3
"""idle-flood.py - reproduce the idle-connection flood of issue 20 (item 5)
against a running router on loopback: open N sockets that send nothing (or
only an empty line now and then), then make a few normal requests with curl
and report how many succeeded. Bounded in count and time; loopback only.

  scripts/idle-flood.py --port 8899 [--sockets 4200] [--requests 5]
                        [--path /v1/models] [--crlf-every 0] [--hold 2]

--crlf-every S sends "\\r\\n" on every idle socket each S seconds (the
keep-it-open trick); --hold waits that many seconds after opening the
sockets before the requests."""
import argparse
import socket
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--sockets", type=int, default=4200)
    ap.add_argument("--requests", type=int, default=5)
    ap.add_argument("--path", default="/v1/models")
    ap.add_argument("--crlf-every", type=float, default=0.0)
    ap.add_argument("--hold", type=float, default=2.0)
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("loopback only")
    socks, failed = [], 0
    for _ in range(a.sockets):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((a.host, a.port))
            s.setblocking(False)
            socks.append(s)
        except OSError:
            failed += 1
            s.close()
    print(f"opened {len(socks)} idle sockets ({failed} failed to connect)")
    end = time.time() + a.hold
    while time.time() < end:
        if a.crlf_every > 0:
            for s in socks:
                try:
                    s.send(b"\r\n")
                except OSError:
                    pass
            time.sleep(min(a.crlf_every, max(0.0, end - time.time())))
        else:
            time.sleep(max(0.0, end - time.time()))
    ok = 0
    for i in range(a.requests):
        r = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5",
             f"http://{a.host}:{a.port}{a.path}"],
            capture_output=True, text=True)
        code = r.stdout.strip() or "000"
        print(f"request {i + 1}: HTTP {code} (curl exit {r.returncode})")
        ok += code == "200"
    alive = 0
    for s in socks:
        try:
            while s.recv(65536):  # a 400 for too many empty lines may come first
                pass
        except BlockingIOError:
            alive += 1  # nothing more to read and no FIN: still open
        except OSError:
            pass  # reset by the server
        s.close()
    print(f"{ok}/{a.requests} requests succeeded; {alive}/{len(socks)} idle sockets still open")
    return 0 if ok == a.requests else 1


if __name__ == "__main__":
    sys.exit(main())
