#!/bin/sh
# Prints the path of a CPython X.Y interpreter: the newest pyenv build of
# that version, else pythonX.Y on PATH.  Usage: tools/find-python.sh 3.12
set -u
v=$1
root=${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}
for d in $(ls -d "$root"/versions/"$v".* 2>/dev/null | sort -t. -k3 -n -r); do
    case "$d" in *[!0-9.]) continue ;; esac
    if [ -x "$d/bin/python$v" ]; then
        echo "$d/bin/python$v"
        exit 0
    fi
done
if command -v "python$v" >/dev/null 2>&1; then
    command -v "python$v"
    exit 0
fi
echo "find-python: no CPython $v found (install it with: pyenv install $v)" >&2
exit 1
