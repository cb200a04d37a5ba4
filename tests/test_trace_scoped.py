"""Scoped tracing (issue 15): @stackwatch.trace.traced and functions
named "MODULE:QUALNAME": a thread records only while such a function
runs in it, in a real child interpreter."""

import json
import sys

import pytest

from conftest import run_cli, run_target, target_path
from helpers.trace_check import load, outline, thread_names, tracks

MAIN = """\
handler
  global_events
  helper
  helper
handler
  global_events
  helper
  helper
fact
  fact
    fact
counter
  helper
counter
  helper
counter
fails
  helper"""


def _by_thread(doc):
    roots = tracks(doc)  # checks B/E balance and monotonic timestamps
    names = thread_names(doc)
    return {names.get(tid, tid): slices for tid, slices in roots.items()}


def test_only_the_traced_functions_and_what_they_call(tmp_path):
    out = str(tmp_path / "out.json")
    proc = run_target("trace_scoped", out, check=True)
    stats = json.loads(proc.stdout.splitlines()[-1])
    doc = load(out)
    threads = _by_thread(doc)
    assert "\n".join(outline(threads["MainThread"],
                             "trace_scoped.py")) == MAIN
    assert "\n".join(outline(threads["worker"], "trace_scoped.py")) == \
        "handler\n  global_events\n  helper\n  helper"
    # The hot loop (200 calls, and the ones between the generator's
    # steps) and main() never appear: only the 18 + 4 slices do.
    assert stats["events"] == 2 * (18 + 4), stats
    names = {e.get("name") for e in doc["traceEvents"] if e.get("ph") == "B"}
    assert "hot" not in names and "main" not in names
    # 3.12+: the tool's global events are on only inside a traced function.
    ev = stats["global_events"]
    if hasattr(sys, "monitoring"):
        assert ev["before"] == 0 and ev["after"] == 0, ev
        assert ev["inside"] != 0, ev
    else:
        assert ev == {}


def test_a_function_named_by_module_and_qualname_imported_later(tmp_path):
    out = str(tmp_path / "out.json")
    proc = run_target("trace_scoped", out, "trace_scoped_mod:Handler.handle",
                      check=True)
    stats = json.loads(proc.stdout.splitlines()[-1])
    assert stats["unmatched"] == []
    threads = _by_thread(load(out))
    got = outline(threads["MainThread"], "trace_scoped_mod.py")
    # (Slices are named by co_qualname where the code has one, 3.11+.)
    assert [g.strip() for g in got] in (["Handler.handle", "inner"],
                                        ["handle", "inner"]), got
    assert got[1].startswith("  ")


def test_a_function_that_names_nothing_is_reported(tmp_path):
    out = str(tmp_path / "out.json")
    proc = run_target("trace_scoped", out, "trace_scoped_mod:nothing_here",
                      check=True)
    stats = json.loads(proc.stdout.splitlines()[-1])
    assert stats["unmatched"] == ["trace_scoped_mod:nothing_here"]


def test_cli_function_traces_only_that_function(tmp_path):
    out = str(tmp_path / "out.json")
    proc = run_cli("trace", "-o", out, "--function",
                   "trace_scoped_mod:Handler.handle",
                   target_path("trace_scoped_cli"))
    assert proc.returncode == 0, proc.stderr
    threads = _by_thread(load(out))
    got = [ln for t in threads.values()
           for ln in outline(t, "trace_scoped_mod.py")]
    assert got in (["Handler.handle", "  inner"] * 2,
                   ["handle", "  inner"] * 2), got
    assert "named no function" not in proc.stderr


@pytest.mark.parametrize("module", ["trace_scoped_cli", "__main__"])
def test_cli_function_of_the_script_itself(tmp_path, module):
    # The script is run as __main__ and its functions do not exist yet
    # when tracing starts: they are found in its compiled code, by the
    # script's own name (what a user types for app.py) or __main__.
    out = str(tmp_path / "out.json")
    proc = run_cli("trace", "-o", out, "--function", module + ":Local.work",
                   target_path("trace_scoped_cli"))
    assert proc.returncode == 0, proc.stderr
    assert "named no function" not in proc.stderr
    threads = _by_thread(load(out))
    got = [ln for t in threads.values()
           for ln in outline(t, "trace_scoped_cli.py")]
    assert got in (["Local.work", "  busy"], ["work", "  busy"]), got


def test_cli_function_that_names_nothing_is_a_warning(tmp_path):
    out = str(tmp_path / "out.json")
    proc = run_cli("trace", "-o", out, "--function", "trace_scoped_mod:nope",
                   target_path("trace_scoped_cli"))
    assert proc.returncode == 0, proc.stderr
    assert "warning: --function trace_scoped_mod:nope named no function" \
        in proc.stderr


@pytest.mark.parametrize("spec,says", [
    ("no_colon", "wants MODULE:QUALNAME"),
    ("mod:", "wants MODULE:QUALNAME")])
def test_cli_bad_function_is_one_line_and_status_2(tmp_path, spec, says):
    proc = run_cli("trace", "-o", str(tmp_path / "out.json"), "--function",
                   spec, target_path("trace_scoped_cli"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "--function" in proc.stderr and says in proc.stderr
