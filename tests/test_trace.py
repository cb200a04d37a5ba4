"""stackwatch trace: the tracer's engine and its Chrome trace output
(issue 15), through the real CLI in child processes."""

import gzip
import json
import os
import signal
import sys

import pytest

from conftest import child_env, run_cli, run_target, target_path
from stackwatch import _native
from helpers.trace_check import all_slices, load, outline, thread_names, tracks

CALLTREE = """\
<module>
  main
    fib
      fib
        fib
        fib
      fib
    outer_gen
      gen
    outer_gen
      gen
    outer_gen
      gen
    catch
      fail_deep
        fail_deep
          fail_deep
    run_coro
      coro
        leaf
        leaf"""


def _trace(tmp_path, *args, name="trace_calltree", out="out.json",
           target_args=()):
    path = str(tmp_path / out)
    proc = run_cli("trace", "-o", path, *args, target_path(name),
                   *target_args)
    return proc, path


def _main_track(doc):
    roots = tracks(doc)
    names = thread_names(doc)
    main = [tid for tid, n in names.items() if n == "MainThread"]
    assert len(main) == 1, names
    return roots.get(main[0], [])


def test_known_call_tree_gives_exactly_its_slices(tmp_path):
    proc, path = _trace(tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = load(path)
    got = outline(_main_track(doc), "trace_calltree.py")
    assert "\n".join(got) == CALLTREE
    # Each slice names its file and first line.
    fib = [s for s in all_slices(_main_track(doc)) if s.name == "fib"]
    assert {s.args["line"] for s in fib} == {12}
    assert "events" in proc.stderr and "0 dropped" in proc.stderr
    assert "ui.perfetto.dev" in proc.stderr


def test_gzip_output_when_the_name_ends_in_gz(tmp_path):
    proc, path = _trace(tmp_path, out="out.json.gz")
    assert proc.returncode == 0, proc.stderr
    with open(path, "rb") as f:
        assert f.read(2) == b"\x1f\x8b"
    got = outline(_main_track(load(path)), "trace_calltree.py")
    assert "\n".join(got) == CALLTREE
    # Compressed, not only wrapped: a trace is hundreds of MB of JSON,
    # and a gzip of stored blocks (what the writer wrote before) is as
    # large as the JSON.  The same trace plain, for its size:
    proc, plain = _trace(tmp_path, out="out.json")
    assert proc.returncode == 0, proc.stderr
    with gzip.open(path, "rb") as f:
        unpacked = len(f.read())
    assert unpacked == pytest.approx(os.path.getsize(plain), rel=0.05)
    if not _native.GZIP_COMPRESSES:
        pytest.skip("built without zlib: .gz output is stored blocks")
    assert os.path.getsize(path) * 4 < unpacked, (
        os.path.getsize(path), unpacked)


@pytest.mark.parametrize("how,status", [("exit", 3),
                                        ("interrupt", -signal.SIGINT)])
def test_exit_and_ctrl_c_still_write_a_complete_trace(tmp_path, how,
                                                      status):
    proc, path = _trace(tmp_path, target_args=[how])
    assert proc.returncode == status, proc.stderr
    doc = load(path)  # tracks() checks the balance
    got = outline(_main_track(doc), "trace_calltree.py")
    assert "\n".join(got) == CALLTREE + "\n    end"


def test_unwritable_output_is_one_line_and_status_2(tmp_path):
    proc = run_cli("trace", "-o", str(tmp_path / "no" / "such" / "x.json"),
                   target_path("trace_calltree"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0], proc.stderr


def test_a_buffer_that_is_not_a_size_is_one_line_and_status_2(tmp_path):
    proc, _ = _trace(tmp_path, "--buffer", "lots")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "--buffer" in proc.stderr and "Traceback" not in proc.stderr


def test_excluded_module_never_appears_and_includes_narrow(tmp_path):
    proc, path = _trace(tmp_path, "--exclude", "trace_hot",
                        name="trace_filters")
    assert proc.returncode == 0, proc.stderr
    names = {s.name for s in all_slices(_main_track(load(path)))}
    assert "main" in names and "deep" in names
    assert not names & {"hot_loop", "hot_leaf"}, names
    assert "warning" not in proc.stderr
    # Without the filter they are there (the test can fail).
    proc, path = _trace(tmp_path, name="trace_filters")
    names = {s.name for s in all_slices(_main_track(load(path)))}
    assert {"hot_loop", "hot_leaf"} <= names
    assert "dumps" in names  # the standard library is traced by default
    # --include the target alone: nothing from json, nor from trace_hot.
    proc, path = _trace(tmp_path, "--include",
                        target_path("trace_filters"), name="trace_filters")
    slices = all_slices(_main_track(load(path)))
    assert {s.file for s in slices} == {
        s.file for s in slices if s.file.endswith("trace_filters.py")}
    assert {"main", "deep"} <= {s.name for s in slices}


def test_a_filter_that_matches_nothing_is_a_warning(tmp_path):
    proc, path = _trace(tmp_path, "--exclude", "no_such_module_here",
                        name="trace_filters")
    assert proc.returncode == 0, proc.stderr
    assert "warning: --exclude no_such_module_here matches no file or " \
        "module" in proc.stderr
    proc, path = _trace(tmp_path, "--include", "no_such_module_here",
                        name="trace_filters")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "stackwatch trace: error: --include matches no file or module")


def test_max_depth_bounds_the_nesting(tmp_path):
    proc, path = _trace(tmp_path, "--max-depth", "3", name="trace_filters")
    assert proc.returncode == 0, proc.stderr
    slices = all_slices(_main_track(load(path)))
    # <module>, main, deep; and as deep after the script (threading's
    # shutdown)
    assert max(s.depth for s in slices) == 2
    assert [s.name for s in slices if s.depth == 2].count("deep") == 1


def test_threads_get_their_own_tracks(tmp_path):
    out = str(tmp_path / "t.json")
    proc = run_target("trace_threads", out)
    assert proc.returncode == 0, proc.stderr
    doc = load(out)
    roots = tracks(doc)
    by_name = {name: roots.get(tid, []) for tid, name in
               thread_names(doc).items()}
    early = {s.name for s in all_slices(by_name["early"])}
    late = {s.name for s in all_slices(by_name["late"])}
    assert "early_work" in early and "late_work" not in early
    assert "late_work" in late and "early_work" not in late


def test_forked_child_does_not_touch_the_parents_tracks(tmp_path):
    # The child's events are a process of their own in the trace
    # (tests/test_trace_forks.py), never on the parent's tracks.
    proc, path = _trace(tmp_path, name="trace_fork")
    assert proc.returncode == 0, proc.stderr
    doc = load(path)
    root = int(doc["traceEvents"][0]["pid"])
    names = {s.name for r in tracks(doc, root).values()
             for s in all_slices(r)}
    assert "parent_work" in names and "child_work" not in names
    pids = {ev["pid"] for ev in doc["traceEvents"]}
    assert len(pids) == 2 and root in pids, pids
    (child,) = pids - {root}
    assert "child_work" in {s.name for r in tracks(doc, child).values()
                            for s in all_slices(r)}
    assert proc.stderr.count("wrote the trace") == 1, proc.stderr


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason="sys.monitoring is 3.12+")
def test_another_tool_on_profiler_id_keeps_working(tmp_path):
    out = str(tmp_path / "t.json")
    proc = run_target("trace_other_tool", out)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("tool ") and lines[0] != "tool 2", lines
    assert lines[1] == "other-ok"
    assert lines[2] == ("full: every sys.monitoring tool id (0-5) is taken "
                        "by other tools: the tracer needs one"), lines
    names = {s.name for s in all_slices(_main_track(load(out)))}
    assert "work" in names


def test_code_left_out_comes_back_in_the_next_session(tmp_path):
    first, second = str(tmp_path / "1.json"), str(tmp_path / "2.json")
    proc = run_target("trace_sessions", first, second)
    assert proc.returncode == 0, proc.stderr
    names = {s.name for s in all_slices(
        [s for r in tracks(load(second)).values() for s in r])}
    assert {"hot_loop", "hot_leaf"} <= names, names


def test_a_full_buffer_drops_and_counts_and_the_trace_stays_whole(tmp_path):
    first, second = str(tmp_path / "1.json"), str(tmp_path / "2.json")
    proc = run_target("trace_sessions", first, second)
    assert proc.returncode == 0, proc.stderr
    events, dropped = map(int, proc.stdout.split())
    # fib(18) makes 8361 calls: 16722 events, of which 4094 (one 64 KiB
    # chunk) fit.
    assert events == 4094 and events + dropped >= 16722, (events, dropped)
    roots = tracks(load(first))  # balanced, monotonic
    fibs = [s for r in roots.values() for s in all_slices(r)
            if s.name == "fib"]
    assert 2000 <= len(fibs) <= 4094


def test_buffer_size_too_small_is_refused(tmp_path):
    proc, _ = _trace(tmp_path, "--buffer", "1000")
    assert proc.returncode == 2
    assert "at least 64KiB" in proc.stderr


def test_spans_and_marks_nest_among_function_slices(tmp_path):
    out = str(tmp_path / "s.json")
    proc = run_target("trace_spans", out)
    assert proc.returncode == 0, proc.stderr
    doc = load(out)
    got = outline(_main_track(doc), "")
    assert got == ["request", "  handler", "    db query", "      lookup",
                   "  handler", "    db query", "      lookup"], got
    queries = [s for s in all_slices(_main_track(doc))
               if s.name == "db query"]
    assert [q.args for q in queries] == [{"table": "users", "row": 1},
                                         {"table": "users", "row": 2}]
    marks = [ev for ev in doc["traceEvents"] if ev["ph"] == "i"]
    assert [(m["name"], m["args"]) for m in marks] == [
        ("done", {"row": 1}), ("done", {"row": 2})]


def test_c_calls_are_slices_with_c_calls(tmp_path):
    proc, path = _trace(tmp_path, "--c-calls", name="trace_c_calls")
    assert proc.returncode == 0, proc.stderr
    slices = _main_track(load(path))
    main = [s for s in all_slices(slices) if s.name == "main"]
    assert len(main) == 1
    got = outline(main, "")
    # Before 3.12 a profile function does not see types called (int()).
    assert got == ["main", "  sorted", "    key", "    key", "    key"] + (
        ["  int"] if sys.version_info >= (3, 12) else []) + [
        "  list.append", "  time.sleep"], got
    # Without the option, only Python functions.
    proc, path = _trace(tmp_path, name="trace_c_calls")
    main = [s for s in all_slices(_main_track(load(path)))
            if s.name == "main"]
    assert outline(main, "") == ["main", "  key", "  key", "  key"]


def test_memory_adds_an_rss_counter_track(tmp_path):
    proc, path = _trace(tmp_path, "--memory=0.005", name="trace_memory")
    assert proc.returncode == 0, proc.stderr
    doc = load(path)
    counters = [ev for ev in doc["traceEvents"] if ev["ph"] == "C"]
    rss = [ev for ev in counters if ev["name"] == "memory"]
    assert len(rss) >= 20, len(rss)
    # The others: live bytes per thread (tests/test_trace_live_bytes.py).
    assert all(ev["name"].startswith("live bytes: ") for ev in counters
               if ev not in rss)
    ts = [ev["ts"] for ev in rss]
    assert ts == sorted(ts)
    values = [ev["args"]["RSS MiB"] for ev in rss]
    assert max(values) - values[0] > 40, values
    assert max(values) - values[-1] > 40, values
    # The sampling thread is stackwatch's: no track of its own.
    assert not [n for n in thread_names(doc).values()
                if n.startswith("stackwatch-")]
    # Without --memory, no counter.
    proc, path = _trace(tmp_path, name="trace_memory")
    assert not [ev for ev in load(path)["traceEvents"] if ev["ph"] == "C"]


def test_memory_period_out_of_range_is_one_line(tmp_path):
    proc, _ = _trace(tmp_path, "--memory=100", name="trace_memory")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "stackwatch trace: error: argument --memory: the sampling period "
        "must be between 0.001 and 60 seconds, not 100"]


def test_ring_keeps_the_last_seconds(tmp_path):
    proc, path = _trace(tmp_path, "--ring", "0.2", name="trace_ring",
                        target_args=["paced"])
    assert proc.returncode == 0, proc.stderr
    names = [s.name for s in all_slices(_main_track(load(path)))]
    assert names.count("b") > 100 and "a" not in names, set(names)
    # Without --ring: both.
    proc, path = _trace(tmp_path, name="trace_ring", target_args=["paced"])
    names = {s.name for s in all_slices(_main_track(load(path)))}
    assert {"a", "b"} <= names


def test_ring_recycles_the_oldest_records_when_the_buffer_is_full(tmp_path):
    proc, path = _trace(tmp_path, "--ring", "60", "--buffer", "256KiB",
                        name="trace_ring")
    assert proc.returncode == 0, proc.stderr
    assert "older ones let go (--ring)" in proc.stderr
    assert " 0 dropped" in proc.stderr
    slices = all_slices(_main_track(load(path)))  # balanced, monotonic
    names = [s.name for s in slices]
    assert names.count("b") > 1000 and "a" not in names, set(names)


def test_speedscope_evented_output(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    proc, path = _trace(tmp_path, "-f", "speedscope", out="t.speedscope.json")
    assert proc.returncode == 0, proc.stderr
    assert "speedscope.app" in proc.stderr
    doc = load(path)
    with open(os.path.join(os.path.dirname(__file__), "data",
                           "speedscope.schema.json")) as f:
        jsonschema.validate(doc, json.load(f))
    frames = doc["shared"]["frames"]
    main = [p for p in doc["profiles"] if p["name"] == "MainThread"]
    assert len(main) == 1
    # The same call tree as the Chrome trace, from the O/C events.
    lines, depth, last = [], 0, 0
    for ev in main[0]["events"]:
        assert ev["at"] >= last
        last = ev["at"]
        frame = frames[ev["frame"]]
        if ev["type"] == "O":
            if frame.get("file", "").endswith("trace_calltree.py"):
                lines.append("  " * depth + frame["name"])
                depth += 1
        elif frame.get("file", "").endswith("trace_calltree.py"):
            depth -= 1
    assert depth == 0
    assert "\n".join(lines) == CALLTREE


def test_asyncio_tasks_get_their_own_tracks(tmp_path):
    proc, path = _trace(tmp_path, "--asyncio", name="trace_asyncio")
    assert proc.returncode == 0, proc.stderr
    doc = load(path)
    roots = tracks(doc)  # balanced, monotonic
    by_name = {n: all_slices(roots.get(tid, []))
               for tid, n in thread_names(doc).items()}
    a = [n for n in by_name if n.startswith("A #") and "(worker_a)" in n]
    b = [n for n in by_name if n.startswith("B #") and "(worker_b)" in n]
    assert len(a) == 1 and len(b) == 1, list(by_name)
    names_a = [s.name for s in by_name[a[0]]]
    names_b = [s.name for s in by_name[b[0]]]
    assert names_a.count("work_a") == 5 and "work_b" not in names_a
    assert names_b.count("work_b") == 5 and "work_a" not in names_b
    # One slice per step: the first and one per resumption.
    assert names_a.count("worker_a") == 6, names_a
    main = [s.name for s in by_name["MainThread"]]
    assert not {"work_a", "work_b", "worker_a", "worker_b"} & set(main)
    # Without --asyncio, all on the thread.
    proc, path = _trace(tmp_path, name="trace_asyncio")
    doc = load(path)
    assert list(thread_names(doc).values()) == ["MainThread"]
