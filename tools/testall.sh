#!/bin/sh
# make test's suites: the whole suite on every Python, TEST_JOBS suites
# at a time (default: 2 on a machine with 2 CPUs or more, else 1).  A
# suite keeps about 80 % of one CPU busy (the rest is waiting: child
# processes starting, timeouts, sleeps), so two at a time on 2 CPUs
# nearly halve the wall time.  The builds share this checkout (its build/
# and egg-info), so they run one at a time: the root's first, then the
# pyenv Pythons' in one job of the queue while the root's suites run;
# a suite of theirs waits until that job has ended.  Each suite writes
# its own log, printed whole when that suite ends.  Exits 1 when any
# Python could not be set up or any suite failed.
#
# PYTHONS: from pyenv (tools/venv.sh); PYTHONS_ROOT: in the Debian root
# (tools/pyroot.sh; where it cannot be made, one loud line says they were
# not tested, and that fails only with PYROOT_REQUIRED set, as in CI);
# PYTEST_ARGS: pytest's options (default -q).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
PYTEST_ARGS=${PYTEST_ARGS:--q}
VENV_DIR=${VENV_DIR:-$top/.venv}
export VENV_DIR

# One suite, in a child of xargs: its log, its status, then the log shown.
if [ "${1:-}" = __one ]; then
    suite=$2
    logs=$3
    log=$logs/$suite.log
    if [ "$suite" = setup ]; then
        # The pyenv Pythons' venvs and builds, one after the other.
        for v in ${PYTHONS:-}; do
            echo "===== setting up CPython $v"
            if tools/venv.sh "$v" test </dev/null; then
                : >"$logs/setup-$v.ok"
            else
                echo "could not set up CPython $v" >&2
            fi
        done
        : >"$logs/setup.done"
        exit 0
    fi
    start=$(date +%s)
    status=0
    # pytest's options as a shell would split them (quotes kept: -k 'a or
    # b'), as when make put them in its command line.
    eval "set -- $PYTEST_ARGS"
    case "$suite" in
        root-*)
            v=${suite#root-}
            PYROOT_SET_UP=1 tools/pyroot.sh test "$v" "$@" \
                >"$log" 2>&1 || status=$?
            what="CPython $v (Debian root)"
            ;;
        *)
            what="CPython $suite"
            while [ ! -e "$logs/setup.done" ]; do sleep 1; done
            if [ ! -e "$logs/setup-$suite.ok" ]; then
                echo "$what could not be set up (above)" >"$log"
                status=1
            else
                start=$(date +%s)
                "$VENV_DIR/$suite/bin/python" -m pytest "$@" tests \
                    >"$log" 2>&1 </dev/null || status=$?
            fi
            ;;
    esac
    echo "$status" >"$logs/$suite.rc"
    took=$(($(date +%s) - start))
    verdict=passed
    [ "$status" -eq 0 ] || verdict="FAILED (status $status)"
    # One log at a time on the terminal.
    (
        flock 8
        echo "===== $what: $verdict in ${took} s"
        cat "$log"
    ) 8>"$logs/.print"
    exit 0
fi

jobs=${TEST_JOBS:-}
if [ -z "$jobs" ]; then
    jobs=1
    [ "$(nproc 2>/dev/null || echo 1)" -ge 2 ] && jobs=2
fi
case "$jobs" in
    '' | *[!0-9]* | 0) echo "TEST_JOBS must be a number of suites at a time, not '$jobs'" >&2; exit 2 ;;
esac

fail=0
suites=""
logs=$(mktemp -d "${TMPDIR:-/tmp}/stackwatch-tests.XXXXXX")
trap 'rm -rf "$logs"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# The root's builds first, then its first suite runs while the pyenv
# Pythons are set up.
if [ -n "${PYTHONS_ROOT:-}" ]; then
    echo "===== the Debian root for CPython $PYTHONS_ROOT"
    if why=$(tools/pyroot.sh ensure 2>&1); then
        [ -z "$why" ] || echo "$why"
        for v in $PYTHONS_ROOT; do
            echo "===== setting up CPython $v (Debian root)"
            if tools/pyroot.sh setup "$v"; then
                suites="$suites root-$v"
            else
                echo "could not set up CPython $v in the root" >&2
                fail=1
            fi
        done
    else
        why=$(printf '%s\n' "$why" | tail -n 1)
        echo "!!!!! CPython $PYTHONS_ROOT NOT TESTED: $why" >&2
        [ -z "${PYROOT_REQUIRED:-}" ] || fail=1
    fi
fi
queue=""
set -- $suites
if [ $# -gt 0 ]; then
    queue=$1
    shift
fi
queue="$queue setup $*"
for v in ${PYTHONS:-}; do
    queue="$queue $v"
    suites="$suites $v"
done
echo "===== the suites, $jobs at a time:$suites"
# shellcheck disable=SC2086
printf '%s\n' $queue | xargs -P "$jobs" -I{} "$0" __one {} "$logs"
summary=""
for s in $suites; do
    rc=$(cat "$logs/$s.rc" 2>/dev/null || echo missing)
    if [ "$rc" != 0 ]; then
        fail=1
        summary="$summary $s"
    fi
done
if [ "$fail" -ne 0 ]; then
    echo "FAILED on at least one Python:${summary:- (set-up)}" >&2
fi
exit "$fail"
