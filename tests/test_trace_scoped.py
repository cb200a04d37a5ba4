"""Scoped tracing (issue 15): @stackwatch.trace.traced and functions
named "MODULE:QUALNAME": a thread records only while such a function
runs in it, in a real child interpreter."""

import json

from conftest import run_target
from helpers.trace_check import load, outline, thread_names, tracks

MAIN = """\
handler
  helper
  helper
handler
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
        "handler\n  helper\n  helper"
    # The hot loop (200 calls, and the ones between the generator's
    # steps) and main() never appear: only the 16 + 3 slices do.
    assert stats["events"] == 2 * (16 + 3), stats
    names = {e.get("name") for e in doc["traceEvents"] if e.get("ph") == "B"}
    assert "hot" not in names and "main" not in names


def test_a_function_named_by_module_and_qualname_imported_later(tmp_path):
    out = str(tmp_path / "out.json")
    proc = run_target("trace_scoped", out, "trace_scoped_mod:Handler.handle",
                      check=True)
    stats = json.loads(proc.stdout.splitlines()[-1])
    assert stats["unmatched"] == []
    threads = _by_thread(load(out))
    got = outline(threads["MainThread"], "trace_scoped_mod.py")
    assert [g.strip() for g in got] == ["Handler.handle", "inner"], got
    assert got[1].startswith("  ")


def test_a_function_that_names_nothing_is_reported(tmp_path):
    out = str(tmp_path / "out.json")
    proc = run_target("trace_scoped", out, "trace_scoped_mod:nothing_here",
                      check=True)
    stats = json.loads(proc.stdout.splitlines()[-1])
    assert stats["unmatched"] == ["trace_scoped_mod:nothing_here"]
