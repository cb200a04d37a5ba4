"""`stackwatch dump PID` of a process that did not enable stackwatch: read
from outside (process_vm_readv on its pid, its interpreter found from its
ELF symbols, its layout from the table compiled for its version), from
this one CLI installation, on every supported CPython: pyenv's 3.9-3.13
and the Debian root's 3.14 and 3.15 (tools/pyroot.sh). The target is
never stopped: it runs on afterwards. Where the system does not allow it
(another user, no CAP_SYS_PTRACE), one line says why and how to enable
either path."""

import glob
import os
import re
import select
import subprocess
import sys
import time

import pytest

from conftest import (ROOT, child_env, line_of, run_cli, run_target,
                      target_path)
from stackwatch import _native
from test_dump import _ptrace_scope

PYROOT = os.path.join(ROOT, "tools", "pyroot.sh")
HOST_VERSIONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]
ROOT_VERSIONS = ["3.14", "3.15"]


def pyenv_python(version):
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for path in sorted(glob.glob(os.path.join(root, "versions", version + ".*",
                                              "bin", "python" + version))):
        return path
    return None


def root_usable(version):
    """Why the Debian root cannot run pythonX.Y here, or None."""
    if os.geteuid() != 0:
        return "the Debian root needs root"
    path = subprocess.run([PYROOT, "path"], capture_output=True,
                          text=True).stdout.strip()
    if not os.path.isfile(os.path.join(path, ".stackwatch-root-complete")):
        return "the Debian root is not made (tools/pyroot.sh ensure)"
    if not os.access(os.path.join(path, "usr", "bin", "python" + version),
                     os.X_OK):
        return "no python%s in the Debian root" % version
    return None


class Program:
    """tests/targets/outside_target.py under CPython `version`."""

    def __init__(self, version, mode="sleep"):
        path = target_path("outside_target")
        env = child_env()
        if version in ROOT_VERSIONS:
            why = root_usable(version)
            if why:
                pytest.skip(why)
            cmd = [PYROOT, "run", version, "python" + version, path, mode]
        else:
            python = pyenv_python(version)
            if python is None:
                pytest.skip("CPython %s is not installed" % version)
            cmd = [python, path, mode]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=env)
        line = self.readline(60)
        assert line.startswith("ready "), (line, self.proc.stderr.read())
        self.pid = int(line.split()[1])
        # In its loop (not still printing "ready"): it has counted.
        while self.count() == 0:
            time.sleep(0.01)

    def readline(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "the program did not answer within %g s" % timeout
        return self.proc.stdout.readline()

    def count(self):
        """The program's progress counter: it answers, so it runs."""
        self.proc.stdin.write("?\n")
        self.proc.stdin.flush()
        line = self.readline(30)
        assert line.startswith("alive "), line
        return int(line.split()[1])

    def close(self):
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass
        self.proc.kill()
        self.proc.communicate(timeout=30)


@pytest.fixture
def program():
    made = []

    def make(version, mode="sleep"):
        p = Program(version, mode)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


def in_work(text, full=False):
    """Whether text shows the target's main thread in work() (mode
    "sleep"): in its sleep, or, caught between two sleeps (it waits for
    the GIL at the loop's back edge on a busy machine), counting."""
    return frame("work", "main-sleep", full) in text or \
        frame("work", "main-count", full) in text


def frame(name, tag, full=False):
    """A frame of the target as a dump shows it: its file without the
    script's directory (sys.path[0]), or whole (full: --full-paths)."""
    path = target_path("outside_target")
    return "%s (%s:%d)" % (name, path if full else os.path.basename(path),
                           line_of(path, tag))


def test_the_table_for_this_python_is_the_in_process_layout():
    # compat/layouts.c (tools/gen_layouts.py) must say what compat/layout.c
    # says for the running version: same offsets, same debug checks.
    assert _native._test_layout_table_diff() is None


@pytest.mark.parametrize("version", HOST_VERSIONS + ROOT_VERSIONS)
def test_dump_of_a_process_that_did_not_enable_stackwatch(program, version):
    p = program(version)
    before = p.count()
    proc = run_cli("dump", str(p.pid), timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert in_work(text), text
    assert frame("<module>", "main-call") in text, text
    assert frame("worker_loop", "worker-wait") in text, text
    assert len(re.findall(r"^Thread 0x[0-9a-f]+", text, re.M)) == 3, text
    # The process's first thread (kernel id = pid) is MainThread, the
    # others are named by what they run.
    main = [b for b in text.split("\n\n") if in_work(b)]
    assert len(main) == 1, text
    assert main[0].splitlines()[0].startswith(
        "Thread 0x") and ' "MainThread" (tid %d, ' % p.pid in main[0], main
    # The path is named, with the version it found.
    note = proc.stderr.strip().splitlines()
    assert len(note) == 1, proc.stderr
    assert note[0].startswith(
        "[stackwatch] process %d did not enable stackwatch: read from "
        "outside with process_vm_readv (CPython %s" % (p.pid, version)), note
    # Its files as it would show them itself: the standard library's
    # without the directory its extension modules were loaded from.
    assert "(threading.py:" in text and "/lib/python" not in text, text
    full = run_cli("dump", "--full-paths", str(p.pid), timeout=60)
    assert full.returncode == 0, full.stderr
    assert in_work(full.stdout, full=True), full.stdout
    assert "/lib/python" in full.stdout, full.stdout
    # Not stopped, not harmed: it answers and has gone on counting.
    after = p.count()
    assert after > before


@pytest.mark.parametrize("version", ["3.9", "3.12", "3.14"])
def test_outside_dump_while_the_gil_is_held_in_c(program, version):
    p = program(version, "gil")
    proc = run_cli("dump", str(p.pid), timeout=60)
    assert proc.returncode == 0, proc.stderr
    blocks = proc.stdout.split("\n\n")
    main = [b for b in blocks if frame("hog", "main-gil") in b]
    assert len(main) == 1, proc.stdout
    # Read while the thread holds the GIL in the regex engine; a dump may
    # fall between two matches, so ask until one shows it held.
    for _ in range(20):
        if "holds the GIL" in main[0].splitlines()[0]:
            break
        proc = run_cli("dump", str(p.pid), timeout=60)
        main = [b for b in proc.stdout.split("\n\n")
                if frame("hog", "main-gil") in b]
    assert "holds the GIL" in main[0].splitlines()[0], proc.stdout
    assert p.count() >= 0


def test_outside_json(program):
    import json

    p = program("3.12")
    proc = run_cli("dump", "--json", str(p.pid), timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    # The in-process dump's shape, with what needs stackwatch inside
    # absent.
    assert doc["pid"] == p.pid and doc["python"].startswith("3.12.")
    assert doc["outside"] is True and doc["run_info"] is None
    threads = doc["stacks"]["threads"]
    names = {f["name"] for t in threads for f in t["frames"]}
    assert {"work", "worker_loop", "<module>"} <= names
    lines = {(f["name"], f["line"]) for t in threads
             for f in t["frames"]}
    assert {("work", line_of(target_path("outside_target"), tag))
            for tag in ("main-sleep", "main-count")} & lines, lines


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_another_users_process_gives_one_clear_line(target):
    # The program runs as nobody; the CLI as another unprivileged user
    # (both start as root, then switch: tests/targets/outside_as_user.py).
    t = target(name="outside_as_user", name_args=["65534"])
    proc = run_target("outside_as_user", "65533", "dump", str(t.pid))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0] == (
        "stackwatch dump: error: permission denied: process %d belongs to "
        "another user, whose processes this command may not ask for a "
        "dump, and reading it from outside is not permitted: it runs as uid "
        "65534 and this command as uid 65533, without CAP_SYS_PTRACE; run "
        "stackwatch dump as the process's user (with "
        "kernel.yama.ptrace_scope 0), or with CAP_SYS_PTRACE (root, or "
        "docker run --cap-add SYS_PTRACE)" % t.pid)
    assert t.alive()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_same_user_without_privileges(target):
    # Program and CLI both as nobody, the CLI without any capability: the
    # kernel allows it (no Yama, or ptrace_scope 0; under 1 the CLI is not
    # the program's ancestor). The interpreter's files are under /root,
    # which nobody may not enter: its symbols are read from its memory.
    scope = _ptrace_scope()
    if scope not in (None, 0):
        pytest.skip("kernel.yama.ptrace_scope is %d" % scope)
    t = target(name="outside_as_user", name_args=["65534"])
    proc = run_target("outside_as_user", "65534", "dump", str(t.pid))
    assert proc.returncode == 0, proc.stderr
    path = target_path("outside_as_user")
    assert "sleeping (%s:%d)" % (os.path.basename(path),
                                 line_of(path, "as-user-sleep")) \
        in proc.stdout
    assert "read from outside with process_vm_readv" in proc.stderr
    assert t.alive()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_a_process_that_is_not_dumpable_gives_one_clear_line(target):
    # Same user, but the program changed user and is not dumpable: the
    # kernel refuses; the line says so, and how to enable either path.
    t = target(name="outside_as_user", name_args=["65534", "nodump"])
    proc = run_target("outside_as_user", "65534", "dump", str(t.pid))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (
        "stackwatch dump: error: stackwatch is not enabled in process %d, "
        "and reading it from outside is not permitted: it is not dumpable "
        "(it changed user, or called prctl(PR_SET_DUMPABLE, 0)), or a "
        "seccomp filter or security module refused; CAP_SYS_PTRACE would "
        "be needed; either enable stackwatch in it "
        "(stackwatch.enable_dump(), STACKWATCH_DUMP=1, or start it with "
        "stackwatch record), or run stackwatch dump as the process's user "
        "(with kernel.yama.ptrace_scope 0), or with CAP_SYS_PTRACE (root, "
        "or docker run --cap-add SYS_PTRACE)\n" % t.pid)
    assert t.alive()


@pytest.mark.parametrize("version", ["3.9", "3.13", "3.14"])
def test_symbols_found_in_memory_when_files_cannot_be_opened(program,
                                                             version):
    # What the loader mapped of .dynsym, found through the program headers
    # (3.14's executable is not position-independent: no bias).
    p = program(version)
    _native._test_outside_memory_only(True)
    try:
        res = _native.outside_dump(p.pid)
    finally:
        _native._test_outside_memory_only(False)
    assert res["python"].startswith(version), res
    assert in_work(res["text"], full=True), res["text"]


def test_outside_option_reads_an_enabled_process_from_outside(target):
    # --outside: not asked (no signal, no socket), read from outside.
    t = target(name="dump_sleeper")
    proc = run_cli("dump", "--outside", str(t.pid), timeout=60)
    assert proc.returncode == 0, proc.stderr
    path = target_path("dump_sleeper")
    assert "waiting_here (%s:%d)" % (os.path.basename(path),
                                     line_of(path, "waiting-here")) \
        in proc.stdout
    assert proc.stdout.startswith("Process %d: " % t.pid)
    assert proc.stderr.startswith(
        "[stackwatch] process %d: read from outside with process_vm_readv"
        % t.pid)
    assert t.alive()


def test_outside_option_on_a_process_that_is_not_python(target):
    p = subprocess.Popen(["sleep", "30"])
    try:
        proc = run_cli("dump", "--outside", str(p.pid), timeout=60)
    finally:
        p.kill()
        p.wait()
    assert proc.returncode == 1
    assert proc.stderr == (
        "stackwatch dump: error: process %d: it could not be read from "
        "outside: no CPython interpreter found in it (no _PyRuntime symbol "
        "in its executable or a libpython it maps)\n" % p.pid)


@pytest.mark.parametrize("scope, uids, cap, ancestor, want", [
    (3, (0, 0, 0), True, False,
     "kernel.yama.ptrace_scope is 3: no process may read another's memory "
     "on this system"),
    (2, None, False, False,
     "kernel.yama.ptrace_scope is 2: only processes with CAP_SYS_PTRACE "
     "may read another's memory"),
    (1, None, False, False,
     "kernel.yama.ptrace_scope is 1: only its ancestors (or "
     "CAP_SYS_PTRACE) may read its memory, and this command is not one"),
    (1, (4242, 4242, 4242), False, False,
     "it runs as uid 4242 and this command as uid %d, without "
     "CAP_SYS_PTRACE" % os.geteuid()),
    (0, None, True, False,
     "the system refused although this command has CAP_SYS_PTRACE (a "
     "seccomp filter or a security module)"),
], ids=["scope3", "scope2", "scope1", "other-user", "seccomp"])
def test_why_not_names_the_rule_that_refuses(monkeypatch, scope, uids, cap,
                                             ancestor, want):
    # The reasons the kernel's ptrace access rule gives, as the message
    # says them (Yama is not on every kernel: its answers are given).
    from stackwatch import _outside

    me = os.geteuid(), os.getegid()
    ids = uids or (me[0],) * 3
    status = {"Uid": "\t".join(map(str, ids)),
              "Gid": "\t".join([str(me[1])] * 3), "PPid": "1",
              "CapEff": "%016x" % ((1 << 19) if cap else 0)}
    monkeypatch.setattr(_outside, "_ptrace_scope", lambda: scope)
    monkeypatch.setattr(_outside, "_status", lambda pid: status)
    assert _outside.why_not(12345) == want


def test_dead_process_after_the_registration_check(target):
    # A pid that is gone: the same one line as before.
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    proc = run_cli("dump", str(p.pid))
    assert proc.returncode == 1
    assert proc.stderr == "stackwatch dump: error: no such process: %d\n" \
        % p.pid
