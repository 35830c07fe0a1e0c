#!/bin/sh
# docker-entrypoint.sh - the image's entrypoint. `serve` (the default) runs
# tether serve with --config $TETHER_CONFIG (default /etc/tether/config.yaml)
# unless --config is given; other tether commands run as they are; anything
# else is executed (a shell for debugging). tether replaces this shell (exec)
# so it is PID 1 and receives SIGTERM itself, which drains and exits.
set -eu
tether=/usr/local/bin/tether
case "${1:-serve}" in
-*) set -- serve "$@" ;;
esac
[ $# -eq 0 ] && set -- serve
case "$1" in
serve)
    shift
    has_config=0
    for a in "$@"; do
        [ "$a" = "--config" ] && has_config=1
    done
    if [ "$has_config" = 0 ]; then
        config=${TETHER_CONFIG:-/etc/tether/config.yaml}
        if [ ! -r "$config" ]; then
            echo "docker-entrypoint: cannot read the config $config (mount a ConfigMap or file there, or set TETHER_CONFIG)" >&2
            exit 1
        fi
        set -- --config "$config" "$@"
    fi
    if [ -n "${TETHER_WORKERS:-}" ]; then
        set -- "$@" --workers "$TETHER_WORKERS"
    fi
    exec "$tether" serve "$@"
    ;;
mock | validate | config | bench | eval | replay | dsl)
    exec "$tether" "$@"
    ;;
*)
    exec "$@"
    ;;
esac
