"""`stackwatch dump PID` against live processes, without ptrace: a process
stuck in a C call that holds the GIL answers at once; every failure is one
clear line; a process that did not enable dumps is never harmed."""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import (STUCK_PATH, child_env, line_of, run_cli, run_target,
                      stackwatch_cmd, target_cmd, target_path, wait_for)

#: The name of re.match's code (3.15 makes re.match re.prefixmatch).
MATCH = re.match.__code__.co_name

#: "stuck_in_c (<helpers/stuck.py>:<line>)", as a dump writes it.
# Files show short, without the sys.path entry they are under (helpers
# and targets are each on sys.path: test_paths.py).
STUCK_FRAME = "stuck_in_c (stuck.py:%d)" % line_of(STUCK_PATH, "stuck-call")


def _ptrace_scope():
    try:
        with open("/proc/sys/kernel/yama/ptrace_scope") as f:
            return int(f.read())
    except OSError:
        return None


def waiting_here_frame():
    path = target_path("dump_sleeper")
    return "waiting_here (dump_sleeper.py:%d)" % line_of(path, "waiting-here")


def test_dump_of_a_process_stuck_in_a_gil_holding_c_call(target):
    t = target(name="dump_stuck", name_args=["idle"])
    def dump_in_c_call():
        # "ready" is printed just before the call: ask until it is in it.
        start = time.monotonic()
        proc = run_cli("dump", str(t.pid))
        assert proc.returncode == 0, proc.stderr
        return "    %s (" % MATCH in proc.stdout and (proc.stdout,
                                                 time.monotonic() - start)

    out, took = wait_for(dump_in_c_call, timeout=30)
    assert out.startswith("Process %d:" % t.pid)
    main = [b for b in out.split("\n\n") if '"MainThread"' in b]
    assert len(main) == 1, out
    assert "holds the GIL" in main[0]
    first_frame = main[0].splitlines()[1].strip()
    assert first_frame.startswith(MATCH + " ("), first_frame
    assert STUCK_FRAME in main[0]
    assert '"idle-thread"' in out
    # The GIL side could not answer: said plainly, the stacks still there.
    assert "the GIL was not released within 1.0 s" in out
    assert "thread MainThread (0x" in out
    assert "holds the GIL in %s (" % MATCH in out
    assert took < 4.0
    assert t.alive()  # still stuck, never disturbed


def test_dump_with_the_gil_available_has_names_and_no_note(target):
    t = target(name="dump_sleeper")
    proc = run_cli("dump", str(t.pid))
    assert proc.returncode == 0, proc.stderr
    assert '"MainThread"' in proc.stdout
    assert waiting_here_frame() in proc.stdout
    assert "not released" not in proc.stdout


def test_json_dump(target):
    t = target(name="dump_stuck")
    def dump_in_c_call():
        proc = run_cli("dump", "--json", str(t.pid))
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        main = [th for th in doc["stacks"]["threads"]
                if th["name"] == "MainThread"]
        return main and main[0]["frames"][0]["name"] == MATCH and doc

    doc = wait_for(dump_in_c_call, timeout=30)
    assert doc["pid"] == t.pid
    assert doc["gil_answered"] is False
    main = [th for th in doc["stacks"]["threads"]
            if th["name"] == "MainThread"]
    assert len(main) == 1 and main[0]["holds_gil"] is True
    assert [f["name"] for f in main[0]["frames"][:2]] == [MATCH,
                                                         "stuck_in_c"]


def test_no_such_process():
    # A pid that existed and is gone.
    p = subprocess.Popen(["true"])
    p.wait()
    proc = run_cli("dump", str(p.pid))
    assert proc.returncode == 1
    assert proc.stderr == "stackwatch dump: error: no such process: %d\n" \
        % p.pid


def _read_from_outside(proc, pid):
    # Not asked, since it does not answer: read from outside, which the
    # system allows here (the same user; tests/test_outside.py has the
    # refusals), and said so on stderr.
    assert proc.returncode == 0, proc.stderr
    path = target_path("dump_sleeper")
    # Its file without its script's directory, as it would show it.
    assert "waiting_here (%s:%d)" % (os.path.basename(path),
                                     line_of(path, "waiting-here")) \
        in proc.stdout
    assert proc.stderr.startswith(
        "[stackwatch] process %d did not enable stackwatch: read from "
        "outside with process_vm_readv" % pid)


@pytest.mark.skipif(os.geteuid() != 0 and _ptrace_scope() not in (None, 0),
                    reason="reading from outside is not permitted here")
def test_process_without_stackwatch_is_read_from_outside_and_not_harmed(
        target):
    t = target(name="dump_sleeper", name_args=["plain"])
    _read_from_outside(run_cli("dump", str(t.pid)), t.pid)
    time.sleep(0.2)
    assert t.alive()


@pytest.mark.skipif(os.geteuid() != 0 and _ptrace_scope() not in (None, 0),
                    reason="reading from outside is not permitted here")
def test_disabled_dumps_are_not_asked_and_the_process_not_harmed(target):
    t = target(name="dump_sleeper", name_args=["disabled"])
    _read_from_outside(run_cli("dump", str(t.pid)), t.pid)
    time.sleep(0.2)
    assert t.alive()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch user")
def test_permission_denied(target):
    t = target(name="dump_sleeper")
    # The CLI as another user: imported as root (our interpreter lives
    # under /root), then switched to nobody before it does anything.
    proc = run_target("dump_as_nobody", str(t.pid))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith(
        "stackwatch dump: error: permission denied")
    assert len(proc.stderr.splitlines()) == 1
    assert t.alive()


def test_timeout_when_the_process_cannot_answer(target):
    t = target(name="dump_sleeper")
    os.kill(t.pid, signal.SIGSTOP)
    try:
        proc = run_cli("dump", "--timeout", "1", str(t.pid))
    finally:
        os.kill(t.pid, signal.SIGCONT)
    assert proc.returncode == 1
    assert proc.stderr == ("stackwatch dump: error: timeout: process %d did "
                           "not answer within 1 s\n" % t.pid)
    time.sleep(0.3)
    assert t.alive()


@pytest.mark.parametrize("arg", ["abc", "-5", "0"])
def test_bad_pid_is_one_line(arg):
    proc = run_cli("dump", arg)
    assert proc.returncode in (1, 2)
    assert proc.stderr.startswith("stackwatch dump: error: ")
    assert len(proc.stderr.splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_stackwatch_dump_env_enables_dumps_without_code_changes(target):
    t = target(name="dump_sleeper", name_args=["plain"],
               env=child_env(STACKWATCH_DUMP="1"))
    proc = run_cli("dump", str(t.pid))
    assert proc.returncode == 0, proc.stderr
    assert waiting_here_frame() in proc.stdout


def test_process_started_by_record_answers(target, tmp_path):
    script = target_path("dump_served")
    t = target(None, args=stackwatch_cmd("record", "-o",
                                         str(tmp_path / "out.svg"),
                                         script))
    proc = run_cli("dump", str(t.pid))
    assert proc.returncode == 0, proc.stderr
    assert "serve_forever (dump_served.py:%d)" % line_of(
        script, "serve-forever") in proc.stdout


def test_plain_kill_writes_the_dump_to_stderr(tmp_path):
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(
            target_cmd("dump_sleeper"), stdout=subprocess.PIPE, stderr=err,
            text=True, env=child_env())
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGRTMIN + 6)
        text = wait_for(lambda: "waiting_here (" in err_path.read_text()
                        and err_path.read_text())
        assert "stackwatch: dump requested by pid %d" % os.getpid() in text
        assert "waiting_here (dump_sleeper.py:" in text
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_forked_child_answers_for_itself(target):
    t = target(name="dump_fork")
    child = int(t.proc.stdout.readline())
    try:
        def answered(pid, text):
            proc = run_cli("dump", str(pid))
            return proc.returncode == 0 and text in proc.stdout and proc
        parent = wait_for(lambda: answered(t.pid, "in_the_parent ("))
        assert "in_the_child (" not in parent.stdout
        kid = wait_for(lambda: answered(child, "in_the_child ("))
        assert kid.stdout.startswith("Process %d:" % child)
        assert "in_the_parent (" not in kid.stdout
    finally:
        os.kill(child, signal.SIGKILL)


def test_in_process_dump_function(tmp_path):
    proc = run_target("dump_in_process")
    assert proc.returncode == 0, proc.stderr
    assert '"waiter"' in proc.stdout
    path = target_path("dump_in_process")
    assert "calling_dump (dump_in_process.py:%d)" % line_of(
        path, "calling-dump") in proc.stdout
