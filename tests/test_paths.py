"""Short paths (issue 12 item 10): every text that shows a frame leaves out
the longest sys.path entry (or the current directory) the file is under --
"gevent/hub.py:647", not ".../site-packages/gevent/hub.py:647" -- unless
--full-paths (full_paths=True in the API). Profiles, `stackwatch dump`,
the run info, the watchdog's stall reports, the slow-script log and
stackwatch.dump(); JSON and speedscope's "file" keep full paths; two files
that would read the same keep their full paths in a profile's labels."""

import asyncio
import json
import os
import re

import pytest

from conftest import (child_env, copy_target, line_of, run_cli, run_target,
                      target_path)

gevent = pytest.importorskip("gevent")

#: Real files under real sys.path entries: gevent's hub (site-packages)
#: and asyncio's event loop (the standard library).
HUB = os.path.join(os.path.dirname(gevent.__file__), "hub.py")
BASE_EVENTS = os.path.join(os.path.dirname(asyncio.__file__),
                           "base_events.py")
WAIT = target_path("paths_wait")


def record(tmp_path, fmt, *args, options=()):
    out = tmp_path / ("out." + {"collapsed": "txt", "svg": "svg",
                                "speedscope": "json"}[fmt])
    proc = run_cli("record", "-r", "200", "-o", str(out), *options, *args)
    assert proc.returncode == 0, proc.stderr
    return out.read_text()


# -- profiles ----------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["collapsed", "svg"])
def test_profile_labels_are_short(tmp_path, fmt):
    text = record(tmp_path, fmt, WAIT, "gevent", "0.5")
    assert re.search(r"run \(gevent/hub\.py:\d+\)", text), text[-3000:]
    assert HUB not in text
    # The target's own directory is its sys.path[0].
    assert "(paths_wait.py:" in text


@pytest.mark.parametrize("fmt", ["collapsed", "svg"])
def test_profile_labels_full_with_the_option(tmp_path, fmt):
    text = record(tmp_path, fmt, WAIT, "gevent", "0.5",
                  options=["--full-paths"])
    assert re.search(r"run \(%s:\d+\)" % re.escape(HUB), text)
    assert "(%s:" % WAIT in text


def test_speedscope_keeps_the_full_file(tmp_path):
    doc = json.loads(record(tmp_path, "speedscope", WAIT, "asyncio", "0.5"))
    files = {f.get("file") for f in doc["shared"]["frames"]}
    assert BASE_EVENTS in files and WAIT in files
    assert "asyncio/base_events.py" not in files


def test_two_files_with_the_same_short_path_stay_apart(tmp_path):
    # util.py next to the script (sys.path[0]) and util.py in a directory
    # on PYTHONPATH: both would read "util.py".
    here, there = tmp_path / "app", tmp_path / "lib"
    here.mkdir()
    there.mkdir()
    script = copy_target("paths_twins", here)
    mine = copy_target("paths_util", here, "util.py")
    theirs = copy_target("paths_util", there, "util.py")
    out = tmp_path / "out.txt"
    env = child_env()
    env["PYTHONPATH"] = str(there) + os.pathsep + env["PYTHONPATH"]
    proc = run_cli("record", "-o", str(out), script, theirs, env=env)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    line = line_of(mine, "wait-line")
    assert "wait (%s:%d)" % (mine, line) in text, text
    assert "wait (%s:%d)" % (theirs, line) in text, text
    assert "(util.py:" not in text
    # Other files are still short.
    assert "(paths_twins.py:" in text


# -- stackwatch dump PID -----------------------------------------------------

def dump_of(target, *options, kind="gevent"):
    t = target(name="paths_wait", name_args=[kind, "60"],
               env=child_env(STACKWATCH_DUMP="1"))
    proc = run_cli("dump", str(t.pid), *options)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_dump_is_short(target):
    text = dump_of(target)
    assert re.search(r"run \(gevent/hub\.py:\d+\)", text), text
    assert HUB not in text
    assert 'File "paths_wait.py", line' in text, text
    # The script's directory came on sys.path after dumps were enabled.
    text = dump_of(target, kind="asyncio")
    assert "(paths_wait.py:%d)" % line_of(WAIT, "asyncio-run") in text, text
    assert "(asyncio/base_events.py:" in text
    assert "(%s:" % WAIT not in text and BASE_EVENTS not in text


def test_dump_full_with_the_option(target):
    text = dump_of(target, "--full-paths")
    assert re.search(r"run \(%s:\d+\)" % re.escape(HUB), text), text
    # The greenlet tree (run info) too.
    assert 'File "%s", line' % WAIT in text, text


def test_dump_json_keeps_full_paths(target):
    doc = json.loads(dump_of(target, "--json"))
    files = {f["file"] for t in doc["stacks"]["threads"] for f in t["frames"]}
    assert HUB in files, files


def test_dump_run_info_is_short(target):
    text = dump_of(target, "--locals", kind="asyncio")
    assert 'File "asyncio/base_events.py", line' in text, text
    assert BASE_EVENTS not in text
    text = dump_of(target, "--locals", "--full-paths", kind="asyncio")
    assert 'File "%s", line' % BASE_EVENTS in text, text


# -- stackwatch run: stall reports, the slow-script log ----------------------

BLOCKING = target_path("run_blocking_asyncio")


def test_stall_report_is_short():
    proc = run_cli("run", "--max-blocking-time", "0.1", BLOCKING)
    assert proc.returncode == 3, proc.stderr
    assert 'File "asyncio/base_events.py", line' in proc.stderr, proc.stderr
    assert BASE_EVENTS not in proc.stderr
    assert 'File "run_blocking_asyncio.py", line %d, in crunch' % line_of(
        BLOCKING, "crunch-line") in proc.stderr


def test_stall_report_full_with_the_option():
    proc = run_cli("run", "--full-paths", "--max-blocking-time", "0.1",
                   BLOCKING)
    assert proc.returncode == 3, proc.stderr
    assert 'File "%s", line' % BASE_EVENTS in proc.stderr, proc.stderr
    assert 'File "%s", line %d, in crunch' % (
        BLOCKING, line_of(BLOCKING, "crunch-line")) in proc.stderr


@pytest.mark.parametrize("full", [False, True])
def test_slow_script_log(tmp_path, full):
    log = tmp_path / "slow.log"
    proc = run_cli("run", *(["--full-paths"] if full else []), "--interval",
                   "0.2", "--log", str(log), WAIT, "asyncio", "1")
    assert proc.returncode == 0, proc.stderr
    text = log.read_text()
    if full:
        assert "(%s:" % BASE_EVENTS in text, text
    else:
        assert "(asyncio/base_events.py:" in text, text
        # Frames only: a local's repr may hold a path (a code object's,
        # while the target imports asyncio).
        assert "(%s:" % BASE_EVENTS not in text, text
        assert 'File "%s"' % BASE_EVENTS not in text, text


@pytest.mark.parametrize("full", [False, True])
def test_monitor_start_full_paths(full):
    # monitor.start(full_paths=) as `run --full-paths`: the stall report.
    target = target_path("monitor_full_paths")
    proc = run_target("monitor_full_paths", "full" if full else "short")
    assert proc.returncode == 0, proc.stderr
    assert "blocked" in proc.stderr, proc.stderr
    line = line_of(target, "block-line")
    if full:
        assert 'File "%s", line' % BASE_EVENTS in proc.stderr, proc.stderr
        assert 'File "%s", line %d, in sleep_here' % (
            target, line) in proc.stderr, proc.stderr
    else:
        assert 'File "asyncio/base_events.py", line' in proc.stderr, \
            proc.stderr
        assert BASE_EVENTS not in proc.stderr, proc.stderr
        assert 'File "monitor_full_paths.py", line %d, in sleep_here' % (
            line) in proc.stderr, proc.stderr


def summary_of(stderr):
    lines = stderr.splitlines()
    head = [i for i, line in enumerate(lines)
            if "where the samples were" in line]
    assert head, stderr
    return "\n".join(lines[head[0] + 1:])


@pytest.mark.parametrize("full", [False, True])
def test_record_summary_has_the_profiles_paths(tmp_path, full):
    # The stderr summary names files as the profile's labels do: the loop
    # waits in selectors, called from asyncio/base_events.py.
    out = tmp_path / "out.txt"
    proc = run_cli("record", "-r", "200", "-o", str(out),
                   *(["--full-paths"] if full else []), WAIT, "asyncio",
                   "0.5")
    assert proc.returncode == 0, proc.stderr
    summary = summary_of(proc.stderr)
    if full:
        assert "(%s:" % BASE_EVENTS in summary, summary
    else:
        assert "(asyncio/base_events.py:" in summary, summary
        assert BASE_EVENTS not in summary, summary
        # Every file of the summary reads as in the profile's labels.
        labels = set(re.findall(r"\(([^()]+\.py):\d+\)", out.read_text()))
        shown = set(re.findall(r"\(([^()]+\.py):\d+\)", summary))
        assert shown and shown <= labels, (shown, labels)


# -- the API -----------------------------------------------------------------

def test_api_short_by_default_full_on_request():
    proc = run_target("paths_api", check=True)
    parts = dict(re.findall(r"^--- (.*)\n((?:(?!--- ).*\n)*)", proc.stdout,
                            re.M))
    assert "(asyncio/base_events.py:" in parts["dump"], proc.stdout
    assert BASE_EVENTS not in parts["dump"]
    assert "(%s:" % BASE_EVENTS in parts["dump full"]
    assert 'File "asyncio/base_events.py"' in parts["run info"]
    assert BASE_EVENTS not in parts["run info"]
    assert 'File "%s"' % BASE_EVENTS in parts["run info full"]
    assert 'File "%s"' % BASE_EVENTS in parts["format_run_info full"]
    assert parts["frame"].split("\n")[:2] == ["asyncio/base_events.py",
                                               BASE_EVENTS]
