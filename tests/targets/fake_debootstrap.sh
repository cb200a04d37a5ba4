#!/bin/sh
# A stand-in for debootstrap (tests/test_pyroot.py puts it on PATH as
# "debootstrap"): makes the smallest root tools/pyroot.sh accepts, without
# a network: this machine's sh, sleep and cat with their libraries, and
# python3.14/python3.15 that only exit 0.  Called as debootstrap is:
# [--options] SUITE TARGET MIRROR [SCRIPT].
#   FAKE_DEBOOTSTRAP_LOG    appends one line per call ("SUITE MIRROR")
#   FAKE_DEBOOTSTRAP_SLEEP  seconds to take (to overlap two runs)
#   FAKE_DEBOOTSTRAP_FAIL   fail half-way, as an interrupted run would
set -eu
while [ $# -gt 0 ]; do
    case "$1" in --*) shift ;; *) break ;; esac
done
suite=$1 target=$2 mirror=$3
if [ -n "${FAKE_DEBOOTSTRAP_LOG:-}" ]; then
    echo "$suite $mirror" >>"$FAKE_DEBOOTSTRAP_LOG"
fi
mkdir -p "$target/bin" "$target/usr/bin" "$target/proc" "$target/dev" \
    "$target/etc" "$target/tmp"
sleep "${FAKE_DEBOOTSTRAP_SLEEP:-0}"
if [ -n "${FAKE_DEBOOTSTRAP_FAIL:-}" ]; then
    echo "fake debootstrap: failing as asked" >&2
    exit 1
fi
for prog in sh sleep cat; do
    path=$(command -v "$prog")
    cp -L "$path" "$target/bin/$prog"
    for lib in $(ldd "$path" | awk '$1 ~ /^\// { print $1 } $3 ~ /^\// { print $3 }'); do
        mkdir -p "$target$(dirname "$lib")"
        cp -L "$lib" "$target$lib"
    done
done
for v in 3.14 3.15; do
    printf '#!/bin/sh\nexit 0\n' >"$target/usr/bin/python$v"
    chmod +x "$target/usr/bin/python$v"
done
