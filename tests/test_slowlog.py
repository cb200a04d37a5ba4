"""The slow-script log of `stackwatch run` and dumps with run information:
snapshots while the target is blocked in I/O, stuck in a GIL-holding C
call, or running greenlets; locals redacted; the target untouched (argv,
exit status, traceback); bad settings refused before it starts."""

import json
import os
import re
import stat
import subprocess

import pytest

from conftest import (CHILD_TMP, STUCK_PATH, TARGETS, child_env, line_of,
                      line_with, run_cli, stackwatch_cmd, target_path,
                      wait_for)

#: The name of re.match's code (3.15 makes re.match re.prefixmatch).
MATCH = re.match.__code__.co_name

#: Blocks in sock.recv until a timer thread sends, 1.2 s later.
RECV = target_path("slowlog_recv")


def short(path):
    """A target's or helper's file as text shows it: its directory is on
    sys.path (test_paths.py)."""
    return os.path.basename(path)


def log_path(stderr):
    found = re.findall(r"^\[stackwatch\] Writing output to: (.+)$", stderr,
                       re.M)
    assert len(found) == 1, stderr
    return found[0]


def snapshots(text):
    return [s for s in re.split(r"^==== stackwatch snapshot ", text,
                                flags=re.M) if s.strip()]


def test_log_of_a_script_blocked_in_recv():
    script_file = RECV
    recv_line = line_with(RECV, "return sock.recv(buffer_size)")
    proc = run_cli("run", "--interval", "0.3", script_file, "arg1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "got b'payload' ['arg1']\n"
    assert "[stackwatch] Sampling every 0.300000 seconds\n" in proc.stderr
    path = log_path(proc.stderr)
    assert path.startswith(CHILD_TMP + os.sep)  # a private temporary file
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        snaps = snapshots(f.read())
    assert len(snaps) >= 2, snaps
    snap = snaps[1]
    assert re.match(r"2 at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} "
                    r"\(0\.6\d\d s after start\) ====", snap), snap[:120]
    # First the stacks (read without the GIL), with source lines...
    stacks, sep, full = snap.partition("Full backtrace with local "
                                       "variables:")
    assert sep, snap
    assert "wait_for_data (%s:%d)\n        return sock.recv(buffer_size)\n" \
        % (short(script_file), recv_line) in stacks
    assert "<module> (%s:%d)" % (short(script_file),
                                 line_of(RECV, "print-got")) in stacks
    # The script's threads are there, stackwatch's own frames and thread
    # are not.
    assert '"MainThread"' in stacks, stacks
    assert "_runner.py" not in stacks and "cli.py" not in stacks
    assert "stackwatch-service" not in stacks
    # ... then every frame's arguments and locals, the secret redacted.
    assert 'File "%s", line %d, in wait_for_data' % (short(script_file),
                                                      recv_line) in full
    assert "Arguments: wait_for_data(sock=<socket.socket" in full
    assert "buffer_size=4096)" in full
    assert "request_id = 4242" in full
    assert "password = <redacted>" in full
    assert "hunter2" not in full
    assert re.search(r"^\[stackwatch\] [34] snapshots written to %s$"
                     % re.escape(path), proc.stderr, re.M), proc.stderr


def test_log_of_a_script_stuck_in_a_gil_holding_c_call(tmp_path):
    script_file = target_path("slowlog_stuck")
    log = tmp_path / "stuck.log"
    proc = subprocess.Popen(
        stackwatch_cmd("run", "--interval", "0.3", "--gil-wait", "0.2",
                       "--log", str(log), script_file),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env())
    try:
        def two_snapshots():
            return log.exists() and len(snapshots(log.read_text())) >= 2
        wait_for(two_snapshots, timeout=30)
        assert proc.poll() is None  # still stuck, not disturbed
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    snap = snapshots(log.read_text())[1]
    main = [b for b in snap.split("\n\n") if '"MainThread"' in b]
    assert len(main) == 1, snap
    assert "holds the GIL)" in main[0]
    assert "stuck_in_c (%s:%d)\n" % (
        short(STUCK_PATH), line_of(STUCK_PATH, "stuck-call")) in main[0]
    assert "<module> (%s:" % short(script_file) in main[0]
    assert 're.match(r"(a+)+$", "a" * 40 + "b")' in main[0]
    assert ("Note: the GIL was not released within 0.2 s; thread MainThread"
            in snap)
    # The log asks for locals: those of simple types, read natively.
    assert ("greenlets and tasks unavailable, locals of simple types only"
            in snap)
    assert "        pattern = '(a+)+$'\n" in main[0]
    assert "Full backtrace" not in snap
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_log_shows_greenlet_tree_with_their_locals():
    script_file = target_path("slowlog_greenlets")
    proc = run_cli("run", "--interval", "0.4", script_file)
    assert proc.returncode == 0, proc.stderr
    with open(log_path(proc.stderr)) as f:
        snap = snapshots(f.read())[0]
    assert "Greenlets, as a tree by spawner:" in snap
    parent = re.search(r"^( *)\+-- the-parent #\d+: suspended", snap, re.M)
    assert parent, snap
    kids = re.findall(r"^%s    \+-- (Greenlet-\d+) #\d+: suspended"
                      % parent.group(1), snap, re.M)
    assert len(kids) == 2, snap
    assert "child_local = 11" in snap and "child_local = 22" in snap
    assert 'in child\n' in snap


def test_no_locals_and_environment_interval():
    script_file = RECV
    proc = run_cli("run", "--no-locals", script_file,
                   env=child_env(STACKWATCH_INTERVAL="0.5"))
    assert proc.returncode == 0, proc.stderr
    assert "[stackwatch] Sampling every 0.500000 seconds\n" in proc.stderr
    with open(log_path(proc.stderr)) as f:
        text = f.read()
    assert len(snapshots(text)) == 2, text
    # The stacks with their source lines, and no locals.
    assert "wait_for_data (%s:%d)\n        return sock.recv(buffer_size)\n" \
        % (short(script_file),
           line_with(RECV, "return sock.recv(buffer_size)")) \
        in text, text
    assert "Full backtrace" not in text and "request_id" not in text


def test_script_ending_before_the_first_snapshot_leaves_no_log(script):
    script_file = script("print('quick')\n")
    proc = run_cli("run", script_file)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "quick\n"
    path = log_path(proc.stderr)
    assert not os.path.exists(path)
    assert ("[stackwatch] The script ended before the first snapshot "
            "(5.000000 seconds); the empty log %s was removed\n" % path
            ) in proc.stderr


def test_exit_status_and_traceback_are_the_targets(script):
    script_file = target_path("slowlog_fail")
    proc = run_cli("run", "--interval", "0.2", script_file)
    assert proc.returncode == 1
    assert "Traceback (most recent call last):" in proc.stderr
    assert 'line %d, in fail\n' % line_of(script_file,
                                           "raise-missing-key") in proc.stderr
    assert "KeyError: 'missing-key'" in proc.stderr
    assert "_runner" not in proc.stderr.split("Traceback")[1]
    status = run_cli("run", "--interval", "0.2",
                     script("import sys; sys.exit(7)\n", name="seven.py"))
    assert status.returncode == 7, status.stderr


def test_module_target_and_appending_to_a_given_log(tmp_path):
    module = target_path("slowlog_module")
    log = tmp_path / "given.log"
    log.write_text("kept line\n")
    os.chmod(str(log), 0o600)
    proc = run_cli("run", "--interval", "0.2", "--log", str(log), "-m",
                   "slowlog_module", "x", cwd=TARGETS)
    assert proc.returncode == 0, proc.stderr
    # As python -m: argv[0] is the module's file.
    assert proc.stdout == "__main__ [%r, 'x']\n" % module
    assert log_path(proc.stderr) == str(log)
    text = log.read_text()
    assert text.startswith("kept line\n==== stackwatch snapshot 1 at ")
    assert "marker = 'in-slowmod'" in text
    assert "work (%s:%d)" % (short(module),
                             line_of(module, "slowmod-sleep")) in text
    # A new log is created 0600.
    new = tmp_path / "new.log"
    proc = run_cli("run", "--interval", "0.2", "--log", str(new), "-m",
                   "slowlog_module", cwd=TARGETS)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(new.stat().st_mode) == 0o600


def good_run_logs_into(tmp, script_file):
    """The control of the "no log left behind" checks: with good settings
    the same `stackwatch run` leaves its log in `tmp` (its TMPDIR), so an
    empty `tmp` after a refused run does mean no log was left.  The run
    lasts long enough for snapshots (an empty temporary log is removed)."""
    control = os.path.join(os.path.dirname(script_file), "control.py")
    with open(control, "w") as f:
        f.write("import runpy, time\nrunpy.run_path(%r)\ntime.sleep(0.4)\n"
                % script_file)
    proc = run_cli("run", "--interval", "0.05", control,
                   env=child_env(TMPDIR=str(tmp)))
    assert proc.returncode == 0, proc.stderr
    assert log_path(proc.stderr).startswith(str(tmp) + os.sep)
    assert len(os.listdir(str(tmp))) == 1, os.listdir(str(tmp))


@pytest.mark.parametrize("args, message", [
    (["--interval", "abc"], "not a number: 'abc'"),
    (["--interval", "-1"], "the interval must be between 0.01 and 86400"),
    (["--gil-wait", "99"], "the GIL wait must be between 0 and 60"),
    (["--log", "/nonexistent-dir/x.log"],
     "cannot write the log /nonexistent-dir/x.log: No such file or "
     "directory"),
])
def test_bad_log_settings_are_one_line_and_nothing_runs(
        tmp_path, script, args, message):
    script_file = script("open(%r, 'w').close()\n" % str(tmp_path / "ran"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = run_cli("run", *args, script_file, env=child_env(TMPDIR=str(tmp)))
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "stackwatch run: error: "), proc.stderr
    assert message in lines[0]
    assert not (tmp_path / "ran").exists()
    assert os.listdir(str(tmp)) == []  # no log left behind
    good_run_logs_into(tmp, script_file)
    assert (tmp_path / "ran").exists()


def test_missing_script_is_one_line_and_leaves_no_log(tmp_path, script):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = run_cli("run", str(tmp_path / "nope.py"),
                   env=child_env(TMPDIR=str(tmp)))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "nope.py" in proc.stderr
    assert os.listdir(str(tmp)) == []
    good_run_logs_into(tmp, script("print('ran')\n"))


# ---- dumps with run information -------------------------------------------

def test_dump_with_locals_of_a_live_process(target):
    t = target(name="dump_serve_locals",
               env=child_env(THE_KEY="k-123-secret"))
    path = target_path("dump_serve_locals")
    serve_frame = "serve (%s:%d)" % (short(path),
                                     line_of(path, "serve-sleep"))
    proc = run_cli("dump", "--locals", str(t.pid))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    stacks, sep, full = out.partition("Full backtrace with local variables:")
    assert sep, out
    assert serve_frame in stacks
    assert "Arguments: serve(port=8080, api_key=<redacted>)" in full
    assert "connections = ['c1', 'c2']" in full
    assert "k-123-secret" not in out
    # JSON: the stacks, and the run information as data.
    proc = run_cli("dump", "--locals", "--json", str(t.pid))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["gil_answered"] is True
    main = [th for th in doc["run_info"]["threads"]
            if th["name"] == "MainThread"]
    assert len(main) == 1
    frame = main[0]["stack"][0]
    assert frame["name"] == "serve" and frame["args"] == ["port", "api_key"]
    assert frame["locals"]["connections"] == "['c1', 'c2']"
    assert frame["locals"]["api_key"] == "<redacted>"
    assert main[0]["info"]["held_gil"] is False
    # Without --locals: no backtrace with locals.
    proc = run_cli("dump", str(t.pid))
    assert proc.returncode == 0, proc.stderr
    assert "Full backtrace" not in proc.stdout
    assert serve_frame in proc.stdout


def test_dump_with_locals_while_the_gil_is_never_released(target):
    t = target(name="dump_stuck",
               env=child_env(STACKWATCH_DUMP_GIL_WAIT="0.3"))

    def dump_in_c_call():
        proc = run_cli("dump", "--locals", str(t.pid))
        assert proc.returncode == 0, proc.stderr
        return "    %s (" % MATCH in proc.stdout and proc.stdout

    out = wait_for(dump_in_c_call, timeout=30)
    assert "stuck_in_c (%s:%d)" % (
        short(STUCK_PATH), line_of(STUCK_PATH, "stuck-call")) in out
    assert ("Note: the GIL was not released within 0.3 s; thread MainThread"
            in out)
    assert "holds the GIL in %s (" % MATCH in out
    # Locals of simple types, read without the GIL, under each frame.
    assert ("greenlets and tasks unavailable, locals of simple types only"
            in out)
    assert "        pattern = '(a+)+$'\n" in out
    assert "        string = '%s'\n" % ("a" * 40 + "b") in out
    assert "Full backtrace" not in out
    assert t.alive()


def test_dump_shows_the_greenlet_tree_and_tasks(target):
    t = target(name="dump_greenlets_and_tasks")
    proc = run_cli("dump", str(t.pid))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    spawner = re.search(r"^( *)\+-- the-spawner #\d+: suspended", out, re.M)
    assert spawner, out
    assert re.search(r"^%s    \+-- the-handler #\d+: suspended"
                     % spawner.group(1), out, re.M), out
    outer = re.search(r"^( *)\+-- Task Task-1: pending \(coroutine outer\)",
                      out, re.M)
    assert outer, out
    assert re.search(r"^%s    \+-- Task inner-task: pending \(coroutine "
                     r"inner\)" % outer.group(1), out, re.M), out
