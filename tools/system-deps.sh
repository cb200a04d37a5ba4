#!/bin/sh
# Installs the system packages the tests and lint need (Debian's chromium
# for rendering SVG reports, clang-format for the C style check; as root,
# debootstrap for tools/pyroot.sh's CPython 3.14/3.15 root) when they
# are missing and we can: as root with apt-get.  Otherwise it says what is
# missing; the checks that need them then fail or skip with that reason.
set -u
missing=""
command -v clang-format >/dev/null 2>&1 || missing="$missing clang-format"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v gcc >/dev/null 2>&1 || missing="$missing gcc"
# The real consumers of our formats that the tests run: go tool pprof
# (golang-go) and promtool (prometheus); the tests skip without them.
command -v go >/dev/null 2>&1 || missing="$missing golang-go"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
# Only root can make or enter that root: nobody else needs debootstrap.
if [ "$(id -u)" = 0 ]; then
    command -v debootstrap >/dev/null 2>&1 ||
        [ -x /usr/sbin/debootstrap ] || missing="$missing debootstrap"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null || {
        echo "system-deps: apt-get could not install:$missing" >&2
        exit 1
    }
    exit 0
fi
echo "system-deps: missing:$missing (install them, or run make as root)" >&2
exit 0
