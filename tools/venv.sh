#!/bin/sh
# Creates (once) .venv/X.Y for CPython X.Y and (re)installs stackwatch in
# it from this checkout, with the extras given (default: test).
# Usage: tools/venv.sh 3.12 [extras]
set -eu
v=$1
extras=${2:-test}
top=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV_DIR:-$top/.venv}/$v
pip="$venv/bin/python -m pip --disable-pip-version-check -q"
if [ ! -x "$venv/bin/python" ]; then
    py=$("$top/tools/find-python.sh" "$v")
    echo "creating $venv with $py"
    "$py" -m venv "$venv"
    $pip install --upgrade pip "setuptools>=77" wheel
fi
# The extras' dependencies, again whenever pyproject.toml changes.  Wheels
# are preferred (the newest gevent has no wheel for 3.9: pip would build
# it from source), and CFLAGS/LDFLAGS (CI's -Werror, make asan's
# sanitizers) are for stackwatch's build only, never for a dependency's.
stamp="$venv/.stackwatch-$extras"
# The flags of the last build of our extension for this Python.
tag=$("$venv/bin/python" -c 'import sys; print("%d%d" % sys.version_info[:2])')
flags="CFLAGS=${CFLAGS:-} LDFLAGS=${LDFLAGS:-}"
flagmark="$top/build/.stackwatch-flags-$tag"
want=$(cksum < "$top/pyproject.toml")
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    env -u CFLAGS -u LDFLAGS $pip install --prefer-binary "$top[$extras]"
    echo "$want" > "$stamp"
    rm -f "$flagmark"  # that install built our extension without the flags
fi
# Our package, rebuilt from source every time, without build isolation:
# quick, and CFLAGS (CI sets -Werror) reach the compiler.  setuptools
# rebuilds only what is older than its sources, whatever the flags: when
# they differ from the last build's for this Python (make asan after make
# test, CI's -Werror after the step above), its build directories go first.
if [ ! -f "$flagmark" ] || [ "$(cat "$flagmark")" != "$flags" ]; then
    rm -rf "$top"/build/lib.*-cpython-"$tag" "$top"/build/temp.*-cpython-"$tag"
fi
$pip install --no-build-isolation --force-reinstall --no-deps "$top"
mkdir -p "$top/build"
echo "$flags" > "$flagmark"
