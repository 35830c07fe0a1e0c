#!/usr/bin/env bash
# image.sh - tests of the container image (deploy/Dockerfile).
#
#   image.sh layout   (default; seconds) checks that the Dockerfile's runtime
#       packages cover every library build/tether needs, assembles the
#       image's runtime filesystem (binary, entrypoint, /etc/tether/config.yaml,
#       /var/lib/tether, the shared libraries) in a temp dir and runs the
#       entrypoint there under chroot as uid 10001: /health and /ready answer,
#       SIGTERM exits 0, a missing config fails with a clear message.
#   image.sh build    (minutes; opt-in) builds the real image with buildah
#       (chroot isolation) on a debootstrapped bookworm standing in for
#       debian:bookworm-slim (no image registry is reachable here), then runs
#       the entrypoint inside the built image and probes it the same way.
#       podman run cannot start containers in this sandbox (crun: setrlimit
#       RLIMIT_NOFILE: Operation not permitted), so buildah run is used.
# Prints "image: N passed, M failed"; exit 0 only when nothing failed.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${TETHER_BIN:-$root/build/tether}"
mode="${1:-layout}"
pass=0; fail=0
ok() { echo "image: PASS $*"; pass=$((pass + 1)); }
bad() { echo "image: FAIL $*" >&2; fail=$((fail + 1)); }
work="$(mktemp -d "${TMPDIR:-/tmp}/tether-image.XXXXXX")"
pid=""
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "${ctr:-}" ] && buildah rm "$ctr" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
[ -x "$bin" ] || { echo "image: $bin not built" >&2; exit 2; }

# a free loopback port below the ephemeral range (32768-60999): no outgoing
# connection takes it as its source port before the router binds it
free_port() { python3 -c 'import random,socket
for _ in range(200):
    p=random.randint(20000,32767); s=socket.socket()
    try: s.bind(("127.0.0.1",p)); print(p); break
    except OSError: pass
    finally: s.close()'; }
http_get() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1$2"; }
wait_ready() { # port -> 0 once /ready answers 200 (bounded: 30 s, a loaded machine)
    for _ in $(seq 300); do [ "$(http_get "$1" /ready)" = 200 ] && return 0; sleep 0.1; done
    return 1
}
write_config() { # file port
    cat >"$1" <<YAML
version: v0.3
listeners:
  - {name: main, address: 127.0.0.1, port: $2}
global:
  services:
    management_api: {listen: "127.0.0.1:0"}
    router_replay: {path: /var/lib/tether/replay.db}
YAML
}
# probe CMD...: start CMD (the entrypoint), probe /health and /ready, SIGTERM
probe() {
    local label="$1" port="$2"
    shift 2
    "$@" >"$work/$label.out" 2>"$work/$label.err" &
    pid=$!
    if wait_ready "$port" && [ "$(http_get "$port" /health)" = 200 ]; then
        ok "$label: /health and /ready answer 200"
    else
        bad "$label: the router did not become ready"; tail -20 "$work/$label.err" >&2
    fi
    # the tether process itself (under buildah run it is a descendant)
    local target="$pid" d
    for _ in 1 2 3 4 5; do
        [ "$(cat /proc/"$target"/comm 2>/dev/null)" = tether ] && break
        d="$(cat /proc/"$target"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -m1 .)"
        [ -n "$d" ] && target="$d"
    done
    kill -TERM "$target"
    wait "$pid"
    local st=$?
    pid=""
    if [ "$st" -eq 0 ]; then ok "$label: SIGTERM drains and exits 0"; else bad "$label: exit status $st after SIGTERM"; fi
}

# --- the runtime packages of the Dockerfile cover the binary's libraries
runtime_pkgs="$(sed -n '/^# RUNTIME-PACKAGES/,/rm -rf/p' "$root/deploy/Dockerfile" | tr ' \\' '\n\n' | grep -E '^lib|^ca-' | sort -u)"
missing=""
for lib in $(readelf -d "$bin" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p'); do
    path="$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x86_64/ {print $NF; exit}')"
    [ -n "$path" ] || path="$(ldd "$bin" | awk -v l="$lib" '$1 == l {print $3}')"
    pkg="$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)"
    [ -z "$pkg" ] && pkg="$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1)"
    case "$pkg" in libc6 | libgcc-s1) continue ;; esac # in every Debian base image
    echo "$runtime_pkgs" | grep -qx "$pkg" || missing="$missing $lib($pkg)"
done
if [ -z "$missing" ]; then ok "Dockerfile runtime packages cover every NEEDED library"; else bad "Dockerfile runtime packages miss:$missing"; fi

if [ "$mode" = layout ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "image: layout run under chroot needs root; skipped"
        echo "image: $pass passed, $fail failed"
        [ "$fail" -eq 0 ]; exit
    fi
    fs="$work/rootfs"
    mkdir -p "$fs/usr/local/bin" "$fs/etc/tether" "$fs/var/lib/tether" "$fs/bin" "$fs/tmp"
    chmod 1777 "$fs/tmp"
    cp "$bin" "$fs/usr/local/bin/tether"
    install -m 0755 "$root/deploy/docker-entrypoint.sh" "$fs/usr/local/bin/docker-entrypoint.sh"
    cp /bin/sh "$fs/bin/sh"
    for f in "$bin" /bin/sh; do
        ldd "$f" | grep -o '/[^ ]*' | while read -r l; do
            mkdir -p "$fs$(dirname "$l")"; cp -L "$l" "$fs$l"
        done
    done
    chown -R 10001:10001 "$fs/var/lib/tether"
    # the image's own config validates
    if "$bin" validate --config "$root/deploy/config.yaml" >/dev/null; then ok "deploy/config.yaml validates"; else bad "deploy/config.yaml is invalid"; fi
    # no config at the documented path: a clear error
    if chroot --userspec=10001:10001 "$fs" /usr/local/bin/docker-entrypoint.sh >/dev/null 2>"$work/noconf.err"; then
        bad "the entrypoint started without a config"
    elif grep -q '/etc/tether/config.yaml' "$work/noconf.err"; then ok "a missing /etc/tether/config.yaml is reported"
    else bad "no clear message without a config: $(cat "$work/noconf.err")"; fi
    port="$(free_port)"
    write_config "$fs/etc/tether/config.yaml" "$port"
    probe layout "$port" chroot --userspec=10001:10001 "$fs" /usr/local/bin/docker-entrypoint.sh
    if [ -s "$fs/var/lib/tether/replay.db" ] && [ "$(stat -c %u "$fs/var/lib/tether/replay.db")" = 10001 ]; then
        ok "the replay store is written by uid 10001 under /var/lib/tether"
    else bad "no replay store owned by 10001 under /var/lib/tether"; fi
elif [ "$mode" = build ]; then
    command -v buildah >/dev/null || { echo "image: buildah not installed (apt-get install buildah)"; exit 2; }
    cache="${TETHER_IMAGE_CACHE:-/var/tmp/tether-image}"
    mkdir -p "$cache"
    if ! buildah inspect --type image localhost/tether-bookworm-base >/dev/null 2>&1; then
        if [ ! -x "$cache/bookworm/bin/sh" ]; then
            command -v debootstrap >/dev/null || { echo "image: debootstrap not installed"; exit 2; }
            debootstrap --variant=minbase bookworm "$cache/bookworm" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
                { tail "$work/debootstrap.log"; echo "image: debootstrap failed"; exit 2; }
        fi
        tar -C "$cache/bookworm" -c . | buildah import - localhost/tether-bookworm-base >/dev/null 2>"$work/import.err" ||
            tar -C "$cache/bookworm" -c . | podman import - localhost/tether-bookworm-base >/dev/null ||
            { cat "$work/import.err"; echo "image: import of the base failed"; exit 2; }
    fi
    if buildah bud --isolation chroot --build-arg BASE=localhost/tether-bookworm-base \
        -f "$root/deploy/Dockerfile" -t localhost/tether:test "$root" >"$work/build.log" 2>&1; then
        ok "buildah builds deploy/Dockerfile"
    else
        tail -30 "$work/build.log" >&2; bad "the image build failed"
        echo "image: $pass passed, $fail failed"; exit 1
    fi
    cfg="$(buildah inspect --type image --format '{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Cmd}}' localhost/tether:test)"
    [ "$cfg" = "10001:10001 [/usr/local/bin/docker-entrypoint.sh] [serve]" ] && ok "image user, entrypoint, cmd: $cfg" || bad "image config: $cfg"
    ctr="$(buildah from localhost/tether:test)"
    port="$(free_port)"
    write_config "$work/config.yaml" "$port"
    # the image's own libraries only: ldd finds everything
    if buildah run --isolation chroot "$ctr" sh -c '! ldd /usr/local/bin/tether | grep -q "not found"'; then ok "every library resolves inside the image"; else bad "missing libraries in the image"; fi
    probe build "$port" buildah run --isolation chroot --user 10001:10001 \
        -v "$work/config.yaml:/etc/tether/config.yaml:ro" "$ctr" /usr/local/bin/docker-entrypoint.sh
fi
echo "image: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
