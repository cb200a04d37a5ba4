"""`stackwatch run`: runs a target exactly as python would, with the
watchdog on; bad settings are refused before the target runs. Also the
STACKWATCH_MONITOR=1 autostart of any program."""

import os
import re
import stat

import pytest

from conftest import (TARGETS, child_env, line_of, run_cli, run_py,
                      run_target, target_path)

#: An asyncio program whose task blocks the loop in a GIL-holding C call,
#: then in time.sleep; exits with status 3.
BLOCKING_ASYNCIO = target_path("run_blocking_asyncio")
#: A greenlet that blocks the hub in a GIL-holding C call.
GEVENT_GIL_STALL = target_path("run_gevent_gil_stall")


def blocks(stderr):
    return [b for b in stderr.split("[stackwatch ")[1:] if "blocked for" in b]


def test_run_reports_asyncio_stall_and_keeps_status():
    target = BLOCKING_ASYNCIO
    proc = run_cli("run", "--max-blocking-time", "0.1", target, "x", "-y")
    assert proc.returncode == 3, proc.stderr
    assert "argv=[%r, 'x', '-y'] name=__main__" % target in proc.stdout
    reports = blocks(proc.stderr)
    # Two stalls: crunch() (GIL held), then time.sleep (GIL released).
    assert len(reports) >= 2, proc.stderr
    assert "asyncio loop" in reports[0]
    assert "line %d, in crunch" % line_of(target, "crunch-line") in reports[0]
    assert "The thread holds the GIL." in reports[0]
    assert "line %d, in handler" % line_of(target,
                                           "handler-sleep") in reports[1]
    assert "running task the-handler" in reports[1]
    assert "unblocked after" in proc.stderr


def test_run_gevent_stall_in_gil_held_call():
    pytest.importorskip("gevent")
    target = GEVENT_GIL_STALL
    proc = run_cli("run", "--max-blocking-time", "0.1", target)
    assert proc.returncode == 0, proc.stderr
    reports = blocks(proc.stderr)
    assert len(reports) == 1, proc.stderr
    assert "gevent hub blocked" in reports[0]
    assert 'line %d, in crunch' % line_of(target, "crunch-line") in reports[0]
    assert "The thread holds the GIL." in reports[0]


def test_run_module_and_report_file(tmp_path):
    report = tmp_path / "reports" / "watchdog.log"
    report.parent.mkdir()
    proc = run_cli("run", "--report", str(report), "-m",
                   "run_blocking_asyncio", "a", cwd=TARGETS)
    assert proc.returncode == 3, proc.stderr
    assert "name=__main__" in proc.stdout
    assert "[stackwatch " not in proc.stderr
    text = report.read_text()
    assert "asyncio loop" in text and "handler" in text
    assert stat.S_IMODE(os.stat(report).st_mode) == 0o600


def test_run_uncaught_exception_as_python():
    target = target_path("run_raises")
    proc = run_cli("run", target)
    plain = run_target("run_raises")
    assert proc.returncode == plain.returncode == 1
    # The traceback as python shows it; stackwatch's own lines after it.
    theirs = [line for line in proc.stderr.splitlines()
              if not line.startswith("[stackwatch] ")]
    assert theirs[-1] == "KeyError: 'boom'"
    assert "line %d, in f" % line_of(target, "raise-boom") in proc.stderr


@pytest.mark.parametrize("args, env, message", [
    (["--max-blocking-time", "-1"], {}, "--max-blocking-time must be a "
     "positive number of seconds"),
    (["--max-blocking-time", "abc"], {}, "--max-blocking-time must be a "
     "number of seconds"),
    (["--max-memory", "lots"], {}, "not a memory size: 'lots'"),
    (["--memory-period", "0"], {}, "--memory-period must be a positive"),
    (["--report", "/nonexistent-dir/x.log"], {}, "cannot open the report "
     "file '/nonexistent-dir/x.log'"),
    ([], {"STACKWATCH_MAX_MEMORY_USAGE": "lots"},
     "STACKWATCH_MAX_MEMORY_USAGE: not a memory size"),
    ([], {"STACKWATCH_MAX_BLOCKING_TIME": "nan"},
     "STACKWATCH_MAX_BLOCKING_TIME:"),
])
def test_run_bad_settings(script, args, env, message):
    target = script("print('target ran')\n")
    proc = run_cli("run", *args, target, env=child_env(**env))
    assert proc.returncode == 2
    assert "target ran" not in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stackwatch run: error:")
    assert message in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


def test_run_good_settings_run_the_target(script):
    """The control of test_run_bad_settings' "the target did not run":
    with settings that are good, the same target runs and prints."""
    target = script("print('target ran')\n")
    proc = run_cli("run", "--max-blocking-time", "1", "--max-memory", "1G",
                   "--memory-period", "1", target)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "target ran\n"


def test_run_missing_target(tmp_path):
    proc = run_cli("run", str(tmp_path / "missing.py"))
    assert proc.returncode == 2
    assert "can't open file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli("run", "-m", "no_such_module_here")
    assert proc.returncode == 2
    assert "No module named no_such_module_here" in proc.stderr


def test_autostart_from_environment():
    env = child_env(STACKWATCH_MONITOR="1",
                    STACKWATCH_MAX_BLOCKING_TIME="0.1")
    proc = run_target("run_blocking_asyncio", env=env)
    assert proc.returncode == 3
    assert len(blocks(proc.stderr)) >= 2, proc.stderr
    bad = run_py("print('started')",
                 env=child_env(STACKWATCH_MONITOR="1",
                               STACKWATCH_MAX_MEMORY_USAGE="lots"))
    assert bad.returncode == 0 and "started" in bad.stdout
    assert ("STACKWATCH_MONITOR is set but the watchdog cannot start: "
            "STACKWATCH_MAX_MEMORY_USAGE") in bad.stderr


def test_run_format_run_info():
    pytest.importorskip("gevent")
    target = target_path("run_greenlet_stall")

    proc = run_cli("run", "--format-run-info", target)
    assert proc.returncode == 0, proc.stderr
    report, _, info = proc.stderr.partition(
        "[stackwatch] run info after the stall report:")
    assert "gevent hub blocked" in report and "in blocker" in report
    # Every thread, then every greenlet with its state and stack.
    assert 'Thread 0x' in info and '"MainThread"' in info
    assert re.search(r"\+-- Greenlet-\d+ #\d+: running \(minimal_ident "
                     r"\d+, runs blocker\)", info), info
    assert re.search(r"\+-- Greenlet-\d+ #\d+: suspended \(minimal_ident "
                     r"\d+, runs idle_one\)\n.*line %d, in idle_one"
                     % line_of(target, "idle-sleep"), info, re.S), info
