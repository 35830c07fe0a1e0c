#!/bin/sh
# Install every Debian package tether needs to build, test and benchmark.
# Idempotent: packages already installed are skipped, and apt is only
# touched when something is missing.
set -e
PKGS="gcc g++ make pkg-config clang clang-format cppcheck libclang-rt-14-dev \
libevent-dev libhttp-parser-dev libssl-dev libcjson-dev libfyaml-dev libxxhash-dev \
libcurl4-openssl-dev libsqlite3-dev libpcre2-dev libhiredis-dev libcmocka-dev \
libcld2-dev libutf8proc-dev libstemmer-dev libvectorscan-dev \
libpq-dev postgresql \
redis-server nginx-light wrk curl openssl prometheus chromium \
golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# taskset (make bench pins its one-connection runs with it) is util-linux,
# essential on Debian but absent from some minimal images.
if ! command -v taskset >/dev/null 2>&1; then
    missing="$missing util-linux"
fi
# Node.js and npm (tests/interop, tests/browser): Debian's packages when
# none is on PATH (a nodejs from elsewhere carries its own npm).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi
if [ -z "$missing" ]; then
    exit 0
fi
echo "deps.sh: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
