"""Aggregation options people use with py-spy (issue 12, item 14):
--function (the lines of a function merge: frames keyed by its first
line), --nolineno (no line numbers), --idle / --no-idle (spellings of
--mode wall / cpu); the same as Profiler keyword arguments; in every
output format that shows lines (collapsed, speedscope, svg, the summary).
"""

import json
import re

import pytest

from conftest import line_of, run_cli, run_target, target_path

TARGET = "agg_lines"
FORMATS = {"collapsed": "txt", "speedscope": "json", "svg": "svg"}


def record(tmp_path, fmt, *options):
    out = tmp_path / ("out." + FORMATS[fmt])
    proc = run_cli("record", "-r", "500", *options, "-o", str(out),
                   target_path(TARGET))
    assert proc.returncode == 0, proc.stderr
    return out.read_text(), proc.stderr


def labels_of(fmt, text):
    """Every frame label of a document, "name (file:line)" or
    "name (file)"; speedscope's frames as (name, line) pairs."""
    if fmt == "collapsed":
        return {f for line in text.splitlines()
                for f in line.rpartition(" ")[0].split(";")}
    if fmt == "speedscope":
        return {(f["name"], f.get("line"))
                for f in json.loads(text)["shared"]["frames"]}
    return set(re.findall(r'class="frame func" data-label="([^"]*)"', text))


def work_lines(fmt, text):
    """The line numbers frames of work() show (None: no number)."""
    out = set()
    for label in labels_of(fmt, text):
        if fmt == "speedscope":
            if label[0] == "work":
                out.add(label[1])
            continue
        m = re.fullmatch(r"work \((.*?)(?::(\d+))?\)", label)
        if m and m.group(1).endswith("agg_lines.py"):
            out.add(int(m.group(2)) if m.group(2) else None)
    return out


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_lines_of_a_function_are_separate_by_default(tmp_path, fmt):
    text, _ = record(tmp_path, fmt)
    lines = work_lines(fmt, text)
    assert {line_of(TARGET, "first"), line_of(TARGET, "second")} <= lines


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_function_merges_the_lines_of_a_function(tmp_path, fmt):
    text, err = record(tmp_path, fmt, "--function")
    assert work_lines(fmt, text) == {line_of(TARGET, "def")}
    # The summary's hottest line is the function's first line too.
    assert "work (agg_lines.py:%d)" % line_of(TARGET, "def") in err


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_nolineno_drops_line_numbers(tmp_path, fmt):
    text, err = record(tmp_path, fmt, "--nolineno")
    assert work_lines(fmt, text) == {None}
    labels = labels_of(fmt, text)
    if fmt == "speedscope":
        assert all(line is None for _, line in labels), labels
    else:
        assert not [l for l in labels if re.search(r":\d+\)$", l)], labels
    assert "work (agg_lines.py)" in err


@pytest.mark.parametrize("kwargs, want", [
    ({}, "lines"), ({"function": True}, "def"), ({"lineno": False}, None)])
def test_profiler_keyword_arguments(kwargs, want):
    proc = run_target(TARGET, json.dumps(kwargs))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    sample_lines = {line for s in out["samples"] for name, line in s
                    if name == "work"}
    if want == "lines":
        want_lines = {line_of(TARGET, "first"), line_of(TARGET, "second")}
        assert want_lines <= sample_lines
        for fmt in FORMATS:
            text = out[fmt] if fmt != "speedscope" else json.dumps(
                out[fmt])
            assert want_lines <= work_lines(fmt, text), fmt
        return
    expect = {line_of(TARGET, "def") if want == "def" else -1}
    assert sample_lines == expect
    for fmt in FORMATS:
        text = out[fmt] if fmt != "speedscope" else json.dumps(out[fmt])
        assert work_lines(fmt, text) == (
            {line_of(TARGET, "def")} if want == "def" else {None}), fmt


def sleeper_share(text):
    """The share of samples of the thread named "sleeper"."""
    counts = {}
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        thread = stack.split(";")[0].split(" (tid")[0]
        counts[thread] = counts.get(thread, 0) + int(n)
    return counts.get("sleeper", 0) / sum(counts.values())


def test_idle_is_wall_mode_and_no_idle_is_cpu_mode(tmp_path):
    # The sleeper waits the whole run: in wall mode it has about half of
    # the samples; in cpu mode (only threads that run) next to none (it
    # may be seen as it starts).
    idle, err = record(tmp_path, "collapsed", "--idle", "--threads")
    assert "wall mode" in err
    assert sleeper_share(idle) > 0.3
    busy, err = record(tmp_path, "collapsed", "--no-idle", "--threads")
    assert "cpu mode" in err
    assert sleeper_share(busy) < 0.05


@pytest.mark.parametrize("options", [
    ("--idle", "--mode", "cpu"), ("--idle", "--mode", "gil"),
    ("--no-idle", "--mode", "wall"), ("--idle", "--no-idle"),
    ("--greenlets=all",)])
def test_contradictions_and_bad_values_are_one_line(tmp_path, options):
    out = tmp_path / "out.svg"
    proc = run_cli("record", *options, "-o", str(out), target_path(TARGET))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_no_idle_with_gil_mode_is_consistent(tmp_path):
    _, err = record(tmp_path, "collapsed", "--no-idle", "--mode", "gil")
    assert "gil mode" in err


def test_profiler_idle_argument():
    import stackwatch

    assert stackwatch.Profiler().mode == "wall"
    assert stackwatch.Profiler(idle=True).mode == "wall"
    assert stackwatch.Profiler(idle=False).mode == "cpu"
    assert stackwatch.Profiler(idle=False, mode="gil").mode == "gil"
    for bad in ({"idle": True, "mode": "cpu"},
                {"idle": False, "mode": "wall"}):
        with pytest.raises(ValueError, match="contradicts"):
            stackwatch.Profiler(**bad)
    with pytest.raises(ValueError, match="greenlets"):
        stackwatch.Profiler(greenlets="all")
    assert stackwatch.Profiler(greenlets="each").greenlets == "each"
