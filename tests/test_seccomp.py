"""Without ptrace-class rights: `record --pid`, `top PID` and `dump` of an
enabled process, with the CLI under a seccomp filter that makes ptrace,
process_vm_readv and process_vm_writev fail with EPERM (as in a container
without CAP_SYS_PTRACE): they need none of them, the target reads itself.
The filter: tests/helpers/seccomp_cli.py (libseccomp through ctypes)."""
import ctypes.util
import os
import subprocess
import sys

import pytest
from conftest import HELPERS, child_env, line_of

from test_ondemand import leaves, running  # noqa: F401 (fixture)
from test_top import snapshots

pytestmark = pytest.mark.skipif(
    not (ctypes.util.find_library("seccomp")
         or os.path.exists("/lib/x86_64-linux-gnu/libseccomp.so.2")),
    reason="needs libseccomp")


def run_cli_seccomp(*args, timeout=120):
    return subprocess.run(
        [sys.executable, os.path.join(HELPERS, "seccomp_cli.py")]
        + list(args), capture_output=True, text=True, timeout=timeout,
        env=child_env())


def test_the_filter_holds():
    # The helper refuses to run the CLI (status 3) unless process_vm_readv
    # fails with EPERM; a plain command passes through it.
    proc = run_cli_seccomp("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("stackwatch ")


def test_record_pid_without_ptrace(running, tmp_path):
    t = running("loop")
    out = tmp_path / "p.txt"
    proc = run_cli_seccomp("record", "--pid", str(t.pid), "-d", "1", "-o",
                           str(out))
    assert proc.returncode == 0, proc.stderr
    assert "od_spin" in leaves(out)
    assert t.alive()


def test_top_without_ptrace(running):
    t = running("loop")
    proc = run_cli_seccomp("top", "-d", "2.5", str(t.pid))
    assert proc.returncode == 0, proc.stderr
    snaps = snapshots(proc.stdout)
    assert snaps and any("od_spin (ondemand_target.py)" in line
                         for _, lines in snaps for line in lines), proc.stdout


def test_dump_without_ptrace(target):
    t = target(name="dump_sleeper")
    proc = run_cli_seccomp("dump", str(t.pid))
    assert proc.returncode == 0, proc.stderr
    assert "waiting_here (dump_sleeper.py:%d)" % line_of(
        "dump_sleeper", "waiting-here") in proc.stdout
    assert t.alive()
