"""`stackwatch run` and `record` do not change the program (issue 12,
item 5): no module the program did not import (greenlet, asyncio...), no
frame of stackwatch's in its threads' stacks; the watchdog still watches
its asyncio loops and gevent hubs once it imports them."""

import os

import pytest

import stackwatch
from conftest import (line_of, run_cli, run_target, stackwatch_cmd,
                      target_path)

TARGET = target_path("run_unchanged")
#: Where stackwatch's own Python files are.
PACKAGE_DIR = os.path.dirname(os.path.abspath(stackwatch.__file__))


def under(how, tmp_path):
    """The command line that runs a target `how` ("run" or "record")."""
    if how == "run":
        return ["run"]
    return ["record", "-f", "collapsed", "-o", str(tmp_path / "p.txt")]


@pytest.mark.parametrize("what", ["nothing", "asyncio", "greenlet",
                                  "gevent"])
@pytest.mark.parametrize("how", ["run", "record"])
def test_the_program_loads_the_modules_it_loads_under_python(
        tmp_path, how, what):
    if what in ("greenlet", "gevent"):
        pytest.importorskip(what)
    plain = run_target("run_unchanged", "modules", what, check=True)
    ours = run_cli(*under(how, tmp_path), TARGET, "modules", what)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == plain.stdout
    if what == "nothing":
        assert ours.stdout == ""
    if what == "asyncio":
        assert "greenlet" not in ours.stdout


@pytest.mark.parametrize("how", ["run", "record"])
def test_a_dump_shows_the_programs_frames_only(target, tmp_path, how):
    t = target(args=stackwatch_cmd(*under(how, tmp_path), TARGET, "serve"))
    plain = run_cli("dump", str(t.pid))
    full = run_cli("dump", "--locals", str(t.pid))
    assert plain.returncode == 0 and full.returncode == 0, full.stderr
    for out in (plain.stdout, full.stdout):
        assert PACKAGE_DIR not in out, out
        assert "greenlet" not in out, out
        assert "run_unchanged.py:" in out or "run_unchanged.py\"" in out
    # The tasks are still listed, with their stacks.
    assert "Task the-waiter: pending (coroutine wait_here)" in full.stdout
    assert 'line %d, in wait_here' % line_of(TARGET, "serve-wait") \
        in full.stdout


def test_a_loop_already_running_when_the_monitor_starts_is_watched():
    proc = run_target("run_unchanged", "late")
    assert proc.returncode == 0, proc.stderr
    assert "asyncio loop _UnixSelectorEventLoop" in proc.stderr
    assert "blocked for" in proc.stderr and "unblocked after" in proc.stderr
    assert "line %d, in late" % line_of(TARGET, "late-block") in proc.stderr


def test_run_watches_the_loops_of_a_program_that_imports_asyncio():
    proc = run_cli("run", "--max-blocking-time", "0.1",
                   target_path("run_blocking_asyncio"))
    assert proc.returncode == 3, proc.stderr
    assert "asyncio loop" in proc.stderr and "blocked for" in proc.stderr
    # The report's stack is the program's: no frame of ours under it.
    assert PACKAGE_DIR not in proc.stderr
