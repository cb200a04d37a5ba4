#!/bin/sh
# A Debian forky root holding CPython 3.14 and 3.15 (pyenv here stops at
# 3.13), made once with debootstrap and reused; see issue 13.
#
#   tools/pyroot.sh ensure             make the root unless it is complete
#   tools/pyroot.sh run 3.14 CMD...    run CMD in the root, in this checkout
#                                      (bind-mounted at the same path);
#                                      "-" for no particular version
#   tools/pyroot.sh test 3.14 [ARGS]   in the root: .venv/root/3.14 made and
#                                      updated by tools/venv.sh, then the
#                                      suite (pytest ARGS tests) when
#                                      src/stackwatch/_versions.py supports
#                                      3.14, else only the refusal check
#                                      (PYROOT_SET_UP=1: no venv update)
#   tools/pyroot.sh setup 3.14         only the venv and the test packages
#   tools/pyroot.sh check              can a root be made here? (prints why not)
#   tools/pyroot.sh umount             unmount whatever is still mounted in it
#   tools/pyroot.sh path               print the root's path
#   tools/pyroot.sh mirror             print the mirror it would use
#
# STACKWATCH_CHECKOUT names another checkout to bind-mount and start in.
# STACKWATCH_ROOT overrides the place (default ~/.cache/stackwatch/forky-root,
# outside the checkout); STACKWATCH_MIRROR the Debian mirror, which is
# otherwise read from this machine's apt sources (never written here;
# STACKWATCH_APT_DIR: another directory than /etc/apt to read them from).
#
# Mounts (proc, /dev, the checkout) are made in a private mount namespace
# (unshare) for each run, so concurrent runs do not share them and none
# outlives its run; a trap unmounts them too on every exit path.  A lock
# (flock) keeps two runs from making the root at once and keeps a remake
# from removing a root in use.  A root is complete when its stamp matches
# the recipe below; anything else (an interrupted debootstrap) is removed,
# never with a mount left inside it, and made again.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
# The checkout to bind-mount (another worktree may borrow this script).
top=$(cd "${STACKWATCH_CHECKOUT:-$top}" && pwd)
ROOT=${STACKWATCH_ROOT:-$HOME/.cache/stackwatch/forky-root}
SUITE=forky
# bookworm's debootstrap has no forky script; sid's fits.
SCRIPT=/usr/share/debootstrap/scripts/sid
PACKAGES=python3.14-dev,python3.15-dev,python3.14-venv,python3.15-venv,gcc,libc6-dev,make
RECIPE="$SUITE minbase $PACKAGES"
STAMP=.stackwatch-root-complete
LOCK=$ROOT.lock

die() {
    echo "pyroot: $*" >&2
    exit 2
}

# Why the root cannot be entered here, or nothing when it can.
why_not_enter() {
    [ "$(id -u)" = 0 ] || { echo "not running as root (mount, chroot)"; return; }
    command -v unshare >/dev/null 2>&1 || { echo "no unshare (util-linux)"; return; }
    command -v flock >/dev/null 2>&1 || { echo "no flock (util-linux)"; return; }
    command -v chroot >/dev/null 2>&1 || { echo "no chroot (coreutils)"; return; }
}

# Why the root cannot be made or entered here, or nothing when it can.
why_not() {
    why=$(why_not_enter)
    [ -z "$why" ] || { echo "$why"; return; }
    if complete; then return; fi
    command -v debootstrap >/dev/null 2>&1 ||
        { echo "no debootstrap (tools/system-deps.sh installs it)"; return; }
    [ -n "$(mirror)" ] || { echo "no Debian mirror in /etc/apt/sources*"; return; }
}

complete() {
    [ -f "$ROOT/$STAMP" ] && [ "$(cat "$ROOT/$STAMP")" = "$RECIPE" ]
}

# The Debian mirror this machine's apt already uses: the first source
# (deb822 .sources or one-line .list) whose suites include this host's
# release codename.
mirror() {
    if [ -n "${STACKWATCH_MIRROR:-}" ]; then
        echo "$STACKWATCH_MIRROR"
        return
    fi
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || codename=bookworm
    apt=${STACKWATCH_APT_DIR:-/etc/apt}
    for f in "$apt"/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v want="$codename" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") && uri != "")
                    { print uri; found = 1; exit }
                types = ""; suites = ""; uri = ""
            }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]*#/ { next }
            tolower($1) == "types:" { $1 = ""; types = $0 }
            tolower($1) == "suites:" { $1 = ""; suites = $0 }
            tolower($1) == "uris:" { uri = $2 }
            END { if (!found) flush() }
        ' "$f"
    done | head -n 1 | grep . && return
    cat "$apt"/sources.list "$apt"/sources.list.d/*.list 2>/dev/null |
        awk -v want="$codename" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == want) { print $i; exit }
            }'
}

# Mount points below $1 in this mount namespace, deepest first.
mounts_under() {
    awk -v r="$1" '$5 == r || index($5, r "/") == 1 { print $5 }' \
        /proc/self/mountinfo | sort -r
}

umount_under() {
    for m in $(mounts_under "$1"); do
        umount -l "$m" 2>/dev/null || true
    done
    [ -z "$(mounts_under "$1")" ]
}

# Copies in what pip needs to reach the same index as the host: DNS, the
# CA bundle, pip's configuration.  Again on every run: the host's may change.
copy_config() {
    r=$1
    cp -L /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
    mkdir -p "$r/etc/ssl/certs"
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        cp -L /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/"
    fi
    if [ -f /etc/pip.conf ]; then cp -L /etc/pip.conf "$r/etc/pip.conf"; fi
    if [ -d /etc/xdg/pip ]; then
        rm -rf "$r/etc/xdg/pip"
        mkdir -p "$r/etc/xdg"
        cp -RL /etc/xdg/pip "$r/etc/xdg/pip"
    fi
}

build() {
    why=$(why_not)
    [ -z "$why" ] || die "cannot make the root: $why"
    m=$(mirror)
    partial=$ROOT.partial
    # An interrupted earlier run's leftovers: never remove through a mount.
    for d in "$partial" "$ROOT"; do
        [ -e "$d" ] || continue
        umount_under "$d" || die "cannot unmount everything under $d"
        rm -rf --one-file-system "$d"
    done
    mkdir -p "$(dirname "$ROOT")"
    echo "pyroot: making $ROOT ($SUITE, from the host's mirror; a minute or two)"
    start=$(date +%s)
    # debootstrap mounts proc and sys inside the target: in a namespace of
    # its own, they cannot outlive it even when it is killed.
    if ! unshare --mount --propagation private \
        debootstrap --variant=minbase --include="$PACKAGES" \
        "$SUITE" "$partial" "$m" "$SCRIPT" >"$partial.log" 2>&1; then
        tail -n 20 "$partial.log" >&2
        die "debootstrap failed (log: $partial.log)"
    fi
    for v in 3.14 3.15; do
        chroot "$partial" "python$v" -c pass ||
            die "python$v does not start in $partial"
    done
    echo "$RECIPE" >"$partial/$STAMP"
    mv "$partial" "$ROOT"
    rm -f "$partial.log"
    echo "pyroot: made $ROOT in $(($(date +%s) - start)) s"
}

# Holds the lock on fd 9: shared while the root is used, exclusive while
# it is made.
ensure() {
    why=$(why_not_enter)
    [ -z "$why" ] || die "cannot use the root: $why"
    mkdir -p "$(dirname "$LOCK")"
    exec 9>"$LOCK"
    flock -s 9
    complete && return 0
    flock -u 9
    flock -x 9
    complete || build
    flock -s 9
}

# Runs in the private namespace: mount, run, unmount (also on a signal).
inner() {
    v=$1
    shift
    trap 'umount_under "$ROOT" || true' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    # The root on itself: inside, / is then a mount point, as unshare
    # (and the tests that use it) need.
    mount --bind "$ROOT" "$ROOT"
    mount -t proc proc "$ROOT/proc"
    mount --rbind /dev "$ROOT/dev"
    mount --make-rslave "$ROOT/dev"
    mkdir -p "$ROOT$top"
    mount --bind "$top" "$ROOT$top"
    path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    status=0
    # The host's PYTHONPATH, venv, pyenv and local wheel directory mean
    # nothing inside.
    env -u PYTHONPATH -u PYTHONHOME -u VIRTUAL_ENV -u PYENV_VERSION \
        -u PIP_FIND_LINKS \
        PATH="$path" LC_ALL=C.UTF-8 HOME=/root \
        chroot "$ROOT" sh -c 'cd "$1" && shift && exec "$@"' sh "$top" "$@" ||
        status=$?
    exit $status
}

run() {
    [ $# -ge 2 ] || die "usage: tools/pyroot.sh run 3.14 CMD..."
    v=$1
    case "$v" in -|3.1[0-9]) ;; *) die "not a version here: $v" ;; esac
    ensure
    copy_config "$ROOT"
    if [ "$v" != - ] && [ ! -x "$ROOT/usr/bin/python$v" ]; then
        die "no python$v in $ROOT"
    fi
    # fd 9 (the shared lock) is inherited: held until the run ends.
    status=0
    unshare --mount --propagation private "$0" __inner "$@" || status=$?
    return $status
}

# Inside the root: what the suite needs besides Python (Debian's chromium
# for the SVG checks, as tools/system-deps.sh installs on the host), once.
# The mirror may be a frozen snapshot whose Release files have expired.
TEST_PACKAGES=chromium
test_packages() {
    missing=""
    for p in $TEST_PACKAGES; do
        command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "pyroot: installing in the root:$missing"
    apt="apt-get -qq -o Acquire::Check-Valid-Until=false -o DPkg::Lock::Timeout=600"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $apt update >/dev/null &&
        DEBIAN_FRONTEND=noninteractive $apt install -y \
            --no-install-recommends $missing >/dev/null ||
        die "apt-get could not install in the root:$missing"
}

# Inside the root: the venv, and the test packages where the suite runs.
in_root_setup() {
    VENV_DIR=$top/.venv/root "$top/tools/venv.sh" "$1" test ||
        die "could not set up CPython $1 in the root"
    ! supported "$top/.venv/root/$1/bin/python" || test_packages
}

supported() {
    "$1" -c 'import runpy, sys
v = runpy.run_path(sys.argv[1])
sys.exit(0 if v["supported"](sys.version_info) else 1)' \
        "$top/src/stackwatch/_versions.py"
}

# Inside the root: the venv (unless PYROOT_SET_UP=1: set up already by
# `setup`, as tools/testall.sh does, since it runs suites side by side and
# two builds at once in this checkout would clash), then the suite or,
# for a version stackwatch does not support yet, what can be checked
# today.
in_root_test() {
    v=$1
    shift
    py=$top/.venv/root/$v/bin/python
    [ -n "${PYROOT_SET_UP:-}" ] || in_root_setup "$v"
    if supported "$py"; then
        exec "$py" -m pytest "$@" tests
    fi
    full=$("$py" -c 'import sys; print(sys.version.split()[0])')
    echo "CPython $full is outside src/stackwatch/_versions.py's range:" \
        "the suite is NOT run; checking only that the test dependencies" \
        "and the package install and that import refuses in one line"
    "$py" -c 'import greenlet, gevent, pytest, jsonschema' ||
        die "CPython $v: the test dependencies do not import"
    status=0
    err=$("$py" -c 'import stackwatch' 2>&1 >/dev/null) || status=$?
    last=$(printf '%s\n' "$err" | tail -n 1)
    case "$status:$last" in
        "1:RuntimeError: stackwatch supports CPython 3."*"; this is CPython $full") ;;
        *) die "CPython $v: import stackwatch did not refuse as expected" \
            "(status $status): $last" ;;
    esac
    echo "CPython $full: refusal checked ($last); the suite waits for support"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    ensure) ensure ;;
    run) run "$@" ;;
    __inner) inner "$@" ;;
    __test) in_root_test "$@" ;;
    __setup) in_root_setup "$@" ;;
    setup)
        [ $# -eq 1 ] || die "usage: tools/pyroot.sh setup VERSION"
        run "$1" "$top/tools/pyroot.sh" __setup "$1"
        ;;
    test)
        [ $# -ge 1 ] || die "usage: tools/pyroot.sh test VERSION [PYTEST ARGS]"
        run "$1" "$top/tools/pyroot.sh" __test "$@"
        ;;
    check)
        why=$(why_not)
        if [ -n "$why" ]; then echo "$why"; exit 1; fi
        ;;
    umount)
        umount_under "$ROOT" || die "something under $ROOT is still mounted"
        umount_under "$ROOT.partial" || die "something under $ROOT.partial is still mounted"
        ;;
    path) echo "$ROOT" ;;
    mirror) mirror ;;
    *) die "usage: tools/pyroot.sh ensure | run VERSION CMD... | test VERSION [ARGS] | check | umount | path | mirror" ;;
esac
