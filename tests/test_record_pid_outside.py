"""`stackwatch record --pid PID` of a process that did not enable
stackwatch: read from outside (process_vm_readv, _outside.record) where
the system allows it, from this one CLI installation, whatever the
target's CPython; the stderr says which path was used; Ctrl-C and the
target's exit keep what was sampled; where neither path works, one line
says why and how to enable either. An enabled process is still asked
(it profiles itself) unless --outside says otherwise."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import (child_env, line_of, run_cli, run_target,
                      stackwatch_cmd, target_cmd, target_path)
from helpers.folded import collapsed
from test_outside import pyenv_python

LOOP = target_path("outside_loop")
HERE = "%d.%d" % sys.version_info[:2]


def spin_frame():
    return "spin_here (%s:%d)" % (LOOP, line_of(LOOP, "outside-spin"))


def ends_in_spin(path):
    """How many samples end in spin_here (its loop's lines); none unless
    its inner loop's line is among them."""
    st = collapsed(path)
    if not any(s.endswith(spin_frame()) for s in st):
        return 0
    return sum(n for s, n in st.items()
               if s.rpartition(";")[2].startswith("spin_here (%s:" % LOOP))


def loop_under(target, version, *args):
    """outside_loop.py under pyenv's CPython `version` (None: this one)."""
    if version is None:
        return target(name="outside_loop", name_args=list(args))
    python = pyenv_python(version)
    if python is None:
        pytest.skip("CPython %s is not installed" % version)
    return target(args=[python, LOOP] + list(args))


@pytest.mark.parametrize("version", [None, "3.9", "3.13"])
def test_record_pid_of_an_unprepared_loop(target, tmp_path, version):
    t = loop_under(target, version)
    out = tmp_path / "p.txt"
    proc = run_cli("record", "--pid", str(t.pid), "-d", "1", "-o", str(out),
                   "--full-paths", timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == (
        "[stackwatch] process %d did not enable stackwatch: reading it from "
        "outside with process_vm_readv at 100 Hz for 1 s (Ctrl-C stops it "
        "earlier); the process is not stopped" % t.pid), proc.stderr
    assert "samples of process %d in" % t.pid in lines[1]
    assert "read from outside (CPython %s" % (version or HERE) in lines[1]
    assert lines[2] == "[stackwatch] wrote collapsed to %s" % out
    # Nearly every sample of the main thread is in the loop.
    total = sum(collapsed(out).values())
    assert ends_in_spin(out) >= 0.8 * total > 30, collapsed(out)
    assert t.alive()


def test_ctrl_c_writes_what_was_sampled(target, tmp_path):
    t = loop_under(target, None)
    out = tmp_path / "p.txt"
    cli = subprocess.Popen(
        stackwatch_cmd("record", "--pid", str(t.pid), "-o", str(out),
                       "--full-paths"),
        stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        first = cli.stderr.readline()
        assert "reading it from outside" in first and "until Ctrl-C" in \
            first, first
        time.sleep(1.0)
        cli.send_signal(signal.SIGINT)
        err = first + cli.communicate(timeout=30)[1]
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 0, err
    assert "(stopped early by Ctrl-C: what was sampled until then is " \
        "written)" in err
    assert ends_in_spin(out) > 30, collapsed(out)
    assert t.alive()


def test_target_exits_mid_profile(tmp_path):
    proc = subprocess.Popen(target_cmd("outside_loop", "3"),
                            stdout=subprocess.PIPE, text=True,
                            env=child_env())
    out = tmp_path / "p.txt"
    try:
        assert proc.stdout.readline().strip() == "ready"
        cli = run_cli("record", "--pid", str(proc.pid), "-d", "30", "-o",
                      str(out), "--full-paths", timeout=60)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()
    assert cli.returncode == 0, cli.stderr
    assert "(process %d exited " % proc.pid in cli.stderr
    assert "into the profile: what was sampled until then is written)" in \
        cli.stderr
    assert ends_in_spin(out) > 30, collapsed(out)


def test_enabled_target_is_still_asked(target, tmp_path):
    # The enabled, in-process path stays the default.
    t = target(name="outside_loop", env=child_env(STACKWATCH_DUMP="1"))
    out = tmp_path / "p.txt"
    proc = run_cli("record", "--pid", str(t.pid), "-d", "1", "-o", str(out),
                   "--full-paths", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "process %d is sampling itself" % t.pid in proc.stderr
    assert "outside" not in proc.stderr
    assert ends_in_spin(out) > 30, collapsed(out)
    # --outside forces the outside path.
    out2 = tmp_path / "q.txt"
    proc = run_cli("record", "--pid", str(t.pid), "--outside", "-d", "1",
                   "-o", str(out2), "--full-paths", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith(
        "[stackwatch] process %d: reading it from outside" % t.pid)
    assert ends_in_spin(out2) > 30, collapsed(out2)
    assert t.alive()


def test_outside_needs_pid():
    proc = run_cli("record", "--outside", target_path("outside_loop"))
    assert proc.returncode == 2
    assert proc.stderr == "stackwatch record: error: --outside needs --pid\n"


def test_dead_pid_with_outside(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    proc = run_cli("record", "--pid", str(dead.pid), "--outside", "-o",
                   str(tmp_path / "p.txt"))
    assert proc.returncode == 1
    assert proc.stderr == ("stackwatch record: error: no such process: %d\n"
                           % dead.pid)
    assert not (tmp_path / "p.txt").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_another_users_unprepared_process_gives_one_clear_line(target,
                                                               tmp_path):
    # The program runs as nobody and did not enable stackwatch; the CLI
    # runs as another unprivileged user: neither path is possible.
    t = target(name="outside_as_user", name_args=["65534"])
    proc = run_target("outside_as_user", "65533", "record", "--pid",
                      str(t.pid), "-d", "1", "-o", "-")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == (
        "stackwatch record: error: permission denied: process %d belongs "
        "to another user, whose processes this command may not ask for a "
        "profile, and reading it from outside is not permitted: it runs as "
        "uid 65534 and this command as uid 65533, without CAP_SYS_PTRACE; "
        "run stackwatch record --pid as the process's user (with "
        "kernel.yama.ptrace_scope 0), or with CAP_SYS_PTRACE (root, or "
        "docker run --cap-add SYS_PTRACE)\n" % t.pid)
    assert t.alive()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_not_enabled_and_not_permitted_says_how_to_enable_either(target):
    # Same user, but the program changed user and is not dumpable.
    t = target(name="outside_as_user", name_args=["65534", "nodump"])
    proc = run_target("outside_as_user", "65534", "record", "--pid",
                      str(t.pid), "-d", "1", "-o", "-")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith(
        "stackwatch record: error: stackwatch is not enabled in process %d, "
        "and reading it from outside is not permitted: it is not dumpable "
        % t.pid), proc.stderr
    assert proc.stderr.endswith(
        "; either enable stackwatch in it (stackwatch.enable_dump(), "
        "STACKWATCH_DUMP=1, or start it with stackwatch record), or run "
        "stackwatch record --pid as the process's user (with "
        "kernel.yama.ptrace_scope 0), or with CAP_SYS_PTRACE (root, or "
        "docker run --cap-add SYS_PTRACE)\n"), proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert t.alive()


def test_top_of_an_unprepared_process_to_a_pipe(target):
    from test_top import snapshots

    t = target(name="outside_loop")
    proc = run_cli("top", "-d", "3", "-n", "5", str(t.pid), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith(
        "[stackwatch] process %d did not enable stackwatch: read from "
        "outside with process_vm_readv (CPython %s" % (t.pid, HERE)), proc.stderr
    snaps = snapshots(proc.stdout)
    assert len(snaps) >= 2, proc.stdout
    # The hot function by the second refresh, at the top.
    first = [lines for n, lines in snaps if n <= 2]
    assert any(lines[4].endswith("spin_here (outside_loop.py)")
               for lines in first), proc.stdout
    row = snaps[-1][1][4]
    own, total, gil, cpu = map(float, row.split()[:4])
    assert 80 <= own <= total <= 100, row
    # Spinning: on a CPU (read from /proc at each pass; it showed 0 in
    # wall mode before), margins for a loaded machine.
    assert 30 <= cpu <= 100, row
    assert "rate 100 Hz" in snaps[-1][1][1]
    assert t.alive()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_top_when_neither_path_works(target):
    t = target(name="outside_as_user", name_args=["65534", "nodump"])
    proc = run_target("outside_as_user", "65534", "top", "-d", "1",
                      str(t.pid))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith(
        "stackwatch top: error: stackwatch is not enabled in process %d, "
        "and reading it from outside is not permitted: it is not dumpable "
        % t.pid), proc.stderr
    assert proc.stderr.endswith(
        "; either enable stackwatch in it (stackwatch.enable_dump(), "
        "STACKWATCH_DUMP=1, or start it with stackwatch record), or run "
        "stackwatch top as the process's user (with "
        "kernel.yama.ptrace_scope 0), or with CAP_SYS_PTRACE (root, or "
        "docker run --cap-add SYS_PTRACE)\n"), proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert t.alive()
