"""tools/pyroot.sh, the Debian root that holds CPython 3.14 and 3.15 for
`make test`: made once and reused, remade when half-made (never removing
through a mount), one maker at a time, nothing left mounted when a run
ends however it ends, and a clear refusal where it cannot work.

The roots here are small and local: a stand-in for debootstrap
(tests/targets/fake_debootstrap.sh) copies this machine's sh into a
temporary directory, so no network is needed and the real root
(~/.cache/stackwatch/forky-root) is never touched.
"""

import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import ROOT, TARGETS

PYROOT = os.path.join(ROOT, "tools", "pyroot.sh")


def _usable():
    if os.geteuid() != 0:
        return "needs root (mount, chroot)"
    for tool in ("unshare", "flock", "chroot", "ldd"):
        if shutil.which(tool) is None:
            return "no %s here" % tool
    probe = subprocess.run(["unshare", "--mount", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        return "no private mount namespace (unshare) here"
    return None


needs_root = pytest.mark.skipif(_usable() is not None,
                                reason=str(_usable()))


def codename():
    with open("/etc/os-release") as f:
        for line in f:
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return "bookworm"


@pytest.mark.parametrize("layout", ["deb822", "one-line"])
def test_the_mirror_is_the_one_apt_uses_here(tmp_path, layout):
    here = codename()
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    if layout == "deb822":
        (apt / "sources.list.d" / "a-other.sources").write_text(
            "Types: deb\nURIs: https://packages.example.invalid/apt\n"
            "Suites: nodistro\nComponents: main\n")
        (apt / "sources.list.d" / "debian.sources").write_text(
            "Types: deb-src\nURIs: http://src.invalid/debian\n"
            "Suites: %(c)s\nComponents: main\n\n"
            "Types: deb\n# http://snapshot.invalid/ in a comment\n"
            "URIs: http://security.invalid/debian-security\n"
            "Suites: %(c)s-security\nComponents: main\n\n"
            "Types: deb\nURIs: http://mirror.invalid/debian\n"
            "Suites: %(c)s %(c)s-updates\nComponents: main\n" % {"c": here})
    else:
        (apt / "sources.list").write_text(
            "# deb http://old.invalid/debian %(c)s main\n"
            "deb http://security.invalid/debian-security %(c)s-security main\n"
            "deb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian "
            "%(c)s main\n" % {"c": here})
    env = dict(os.environ, STACKWATCH_APT_DIR=str(apt))
    env.pop("STACKWATCH_MIRROR", None)
    proc = subprocess.run([PYROOT, "mirror"], capture_output=True,
                          text=True, env=env, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "http://mirror.invalid/debian\n"


@pytest.fixture
def box(tmp_path):
    """A place for one root, with the fake debootstrap first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "debootstrap"
    fake.write_text('#!/bin/sh\nexec sh "%s" "$@"\n'
                    % os.path.join(TARGETS, "fake_debootstrap.sh"))
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    env = dict(os.environ,
               PATH="%s:%s" % (bin_dir, os.environ.get("PATH", "")),
               STACKWATCH_ROOT=str(tmp_path / "root"),
               STACKWATCH_MIRROR="http://mirror.invalid/debian",
               FAKE_DEBOOTSTRAP_LOG=str(calls))
    env.pop("STACKWATCH_CHECKOUT", None)
    env.pop("FAKE_DEBOOTSTRAP_FAIL", None)

    class Box:
        root = tmp_path / "root"
        partial = tmp_path / "root.partial"

        def __init__(self):
            self.env = env

        def calls(self):
            return calls.read_text().splitlines() if calls.exists() else []

        def run(self, *args, wrap=(), timeout=60, **extra):
            return subprocess.run(list(wrap) + [PYROOT] + list(args),
                                  capture_output=True, text=True,
                                  timeout=timeout, env=dict(env, **extra))

    yield Box()
    # Whatever a failing test left, never removed through a mount.
    assert mounts_under(tmp_path) == []


def mounts_under(path):
    """Mount points at or below path, in this process's namespace."""
    path = str(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if point == path or point.startswith(path + "/"):
                found.append(point)
    return found


@needs_root
def test_made_once_then_reused_and_runs_in_the_checkout(box):
    first = box.run("ensure")
    assert first.returncode == 0, first.stderr
    assert "made %s" % box.root in first.stdout
    assert box.calls() == ["forky http://mirror.invalid/debian"]
    assert not box.partial.exists()

    again = box.run("ensure")
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert len(box.calls()) == 1

    # The checkout at its own path, the command's own status, the host's
    # CA bundle copied in for pip.
    proc = box.run("run", "3.14", "sh", "-c",
                   'pwd; test -f /etc/ssl/certs/ca-certificates.crt '
                   '|| echo no-ca; exit 3')
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.splitlines() == [ROOT]
    assert mounts_under(box.root) == []
    assert os.listdir(str(box.root / "proc")) == []


@needs_root
def test_a_half_made_root_is_made_again_never_through_a_mount(box, tmp_path):
    # An interrupted first attempt: debootstrap fails half-way.
    failed = box.run("ensure", FAKE_DEBOOTSTRAP_FAIL="1")
    assert failed.returncode == 2
    assert failed.stderr.splitlines()[-1].startswith(
        "pyroot: debootstrap failed")
    assert not box.root.exists()
    # ... and one killed while something was still mounted inside it,
    # with a complete-looking root beside it that lacks the stamp.
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep").write_text("must survive")
    (box.partial / "mnt").mkdir(parents=True)
    (box.root / "bin").mkdir(parents=True)
    proc = box.run("ensure", wrap=[
        "unshare", "--mount", "--propagation", "private", "sh", "-c",
        'mount --bind "$0" "$1" && exec "$2" ensure',
        str(precious), str(box.partial / "mnt")])
    # (unshare runs sh, which execs pyroot.sh with "ensure")
    assert proc.returncode == 0, proc.stderr
    assert (precious / "keep").read_text() == "must survive"
    assert len(box.calls()) == 2
    assert not box.partial.exists()
    assert box.run("run", "-", "sh", "-c", ":").returncode == 0


@needs_root
def test_two_runs_make_it_once(box):
    cmd = [PYROOT, "ensure"]
    env = dict(box.env, FAKE_DEBOOTSTRAP_SLEEP="1")
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(box.calls()) == 1


@needs_root
def test_an_interrupted_run_leaves_nothing_mounted(box):
    assert box.run("ensure").returncode == 0
    ready = box.root / "tmp" / "ready"
    proc = subprocess.Popen(
        [PYROOT, "run", "-", "sh", "-c", "echo > /tmp/ready; exec sleep 60"],
        env=box.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
        # As at a terminal: a suite started in the background (nohup, a
        # non-interactive shell's `&`) ignores SIGINT, and children
        # inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # Mounted in its own namespace: never visible here, even now.
        assert mounts_under(box.root) == []
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    assert mounts_under(box.root) == []
    assert os.listdir(str(box.root / "dev")) == []


@needs_root
def test_umount_clears_what_an_older_run_left(box):
    assert box.run("ensure").returncode == 0
    proc = box.run("umount", wrap=[
        "unshare", "--mount", "--propagation", "private", "sh", "-c",
        'mount -t tmpfs left "$0/dev" && "$1" umount && '
        'grep -c " $0/" /proc/self/mountinfo',
        str(box.root), PYROOT])
    # grep -c prints 0 and exits 1 when nothing is left under the root
    assert proc.stdout.strip() == "0", proc.stderr


@needs_root
def test_not_root_is_refused_in_one_line_and_make_says_untested(box):
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv here to become nobody")
    proc = box.run("ensure", wrap=nobody)
    assert proc.returncode == 2
    assert proc.stderr == ("pyroot: cannot use the root: not running as "
                           "root (mount, chroot)\n")
    make = subprocess.run(nobody + ["make", "-s", "test-root"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env=dict(box.env, PYROOT_REQUIRED=""))
    assert make.returncode == 0, make.stderr
    assert ("!!!!! CPython 3.14 3.15 NOT TESTED: pyroot: cannot use the "
            "root: not running as root (mount, chroot)") in make.stderr
    # CI asks for all seven: there the same is a failure.
    make = subprocess.run(nobody + ["make", "-s", "test-root"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env=dict(box.env, PYROOT_REQUIRED="1"))
    assert make.returncode != 0
