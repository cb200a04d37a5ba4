"""`stackwatch mem graph|peaks|report`: the memory profile's readers
(issue 14), on profile directories written by the fixture writer
(tests/helpers/memfixtures.py) in the documented format, and, once the
engine exists, on a real profile (test_engine_profile_read_by_the_readers).
"""

import os
import re
import xml.etree.ElementTree as ET

import pytest

import stackwatch
from conftest import run_cli, run_target
from helpers import browser
from helpers import memfixtures as mf

MiB = mf.MiB
SVG = "{http://www.w3.org/2000/svg}"


def _profile(tmp_path, stacks=False, **kw):
    """Three threads: MainThread up to 100 MiB at 3 s, 'worker 1' to 10
    MiB at 1 s (half through C), 'worker 2' to 30 MiB at 4.5 s, ending
    at 5 MiB."""
    threads = {
        "MainThread": mf.ramp(100 * MiB, 3.0, 6.0),
        "worker 1": mf.ramp(10 * MiB, 1.0, 6.0, c_share=0.5),
        "worker 2": mf.ramp(30 * MiB, 4.5, 6.0, final=5 * MiB),
    }
    st = None
    if stacks:
        st = {"MainThread": (
            {1: ["main (app.py:10)", "build (app.py:40)"],
             2: ["main (app.py:10)", "cache (app.py:55)"],
             3: ["main (app.py:10)", "log (app.py:70)"]},
            [("+", 0.5, 1, 1, 40 * MiB), ("+", 1.0, 2, 2, 20 * MiB),
             ("+", 1.5, 3, 3, 30 * MiB), ("-", 2.0, 3),
             ("-", 4.0, 1), ("-", 5.0, 2)])}
    return mf.write_profile(tmp_path / "prof", 4242, threads, stacks=st,
                            **kw)


def _one_line_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


# -- bad input -----------------------------------------------------------------

def _edit(path, fn):
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(fn(text))


def _replace_line(n, new):
    def fn(text):
        lines = text.split("\n")
        lines[n - 1] = new
        return "\n".join(lines)
    return fn


def _swap_lines(a, b):
    def fn(text):
        lines = text.split("\n")
        lines[a - 1], lines[b - 1] = lines[b - 1], lines[a - 1]
        return "\n".join(lines)
    return fn


BAD = {
    # name: (file, edit, words of the error)
    "wrong_version": ("process.mem", _replace_line(
        1, "# stackwatch-mem 2 process"), ["process.mem", "line 1",
                                           "wrong version line"]),
    "not_ours": ("MainThread.mem", _replace_line(1, "hello"),
                 ["MainThread.mem", "line 1", "not a stackwatch memory"]),
    "cut_mid_line": ("worker_1.mem", lambda t: t[:t.index("# end") - 9],
                     ["worker_1.mem", "line 304", "cut mid-way"]),
    "garbage": ("worker_2.mem", _replace_line(20, "\x00\x01garbage!"),
                ["worker_2.mem", "line 20", "fields"]),
    "not_a_number": ("MainThread.mem", _replace_line(
        9, "0.100000 12 0 1x 0 0 0"), ["MainThread.mem", "line 9",
                                       "field 4 is not an integer"]),
    "header_after_data": ("process.mem", _replace_line(
        30, "# columns t rss"), ["process.mem", "line 30",
                                 "header after the data"]),
    "end_not_last": ("worker_2.mem", _replace_line(50, "# end 1.000000"),
                     ["worker_2.mem", "line 50", "'# end' is not the last"]),
    "stack_before_definition": ("MainThread.stack", lambda t: t.replace(
        "s 2 main", "s 9 main"), ["MainThread.stack", "line 8",
                                  "stack 2 is used before it is defined"]),
    "stack_defined_after_its_use": ("MainThread.stack", _swap_lines(7, 8),
                                    ["MainThread.stack", "line 7",
                                     "stack 2 is used before it is defined"]),
    "not_a_record": ("MainThread.stack", _replace_line(9, "x 3 a (b:1)"),
                     ["MainThread.stack", "line 9", "not a record"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_file_is_one_line_naming_file_and_line(tmp_path, case):
    d = _profile(tmp_path, stacks=True)
    name, edit, words = BAD[case]
    _edit(os.path.join(d, name), edit)
    out = tmp_path / "out"
    out.mkdir()
    for command in (["graph", d, "-o", str(out)], ["peaks", d],
                    ["report", d, "-o", str(out / "r.html")]):
        r = run_cli("mem", *command)
        _one_line_error(r, "stackwatch mem %s: error:" % command[0], *words)
    assert os.listdir(out) == []  # nothing half-written


def test_not_a_profile_directory(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(run_cli("mem", "graph", str(empty)),
                    str(empty), "is not a memory profile directory",
                    "no process.mem")
    _one_line_error(run_cli("mem", "peaks", str(tmp_path / "nothing")),
                    "does not exist")
    f = tmp_path / "file"
    f.write_text("x")
    _one_line_error(run_cli("mem", "report", str(f), "-o",
                            str(tmp_path / "r.html")),
                    "not a directory")


def test_the_parent_directory_is_refused_with_the_pid_to_give(tmp_path):
    d = _profile(tmp_path)
    parent = os.path.dirname(d)
    _one_line_error(run_cli("mem", "graph", parent, cwd=str(tmp_path)),
                    "no process.mem", "process 4242", "give " + d)


def test_partial_reads_the_part_before_the_bad_line(tmp_path):
    d = _profile(tmp_path)
    # MainThread.mem: 4 headers, then t = 0.02 * k on line 4 + k: cut
    # the line of t = 2.00 s (k = 100) mid-way, and drop what follows.
    _edit(os.path.join(d, "MainThread.mem"),
          lambda t: t[:t.index("\n2.000000 ") + 9])
    r = run_cli("mem", "graph", d, cwd=str(tmp_path))
    _one_line_error(r, "MainThread.mem", "line 104", "cut mid-way",
                    "--partial")
    assert not (tmp_path / "memg.svg").exists()
    r = run_cli("mem", "graph", "--partial", d, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "MainThread.mem: line 104" in r.stderr
    assert "kept the 103 lines before it, dropped 1" in r.stderr
    row = _memg_rows(tmp_path / "memg.txt")["MainThread"]
    # The kept part ends at 1.98 s, on the way up to 100 MiB at 3 s.
    assert row["at"] == pytest.approx(1.98)
    assert row["peak"] == int(100 * MiB * 1.98 / 3.0)


def test_partial_leaves_out_a_file_with_a_wrong_version(tmp_path):
    d = _profile(tmp_path)
    _edit(os.path.join(d, "worker_2.mem"),
          _replace_line(1, "# stackwatch-mem 7 thread"))
    r = run_cli("mem", "graph", "--partial", d, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "worker_2.mem: line 1: wrong version line" in r.stderr
    assert "the file is left out" in r.stderr
    assert "worker 2" not in r.stdout
    assert "Processing data for thread worker 1" in r.stdout


def test_a_file_without_end_is_read_with_a_note(tmp_path):
    d = _profile(tmp_path, end=False)
    r = run_cli("mem", "graph", d, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    notes = [line for line in r.stderr.splitlines() if line]
    assert len(notes) == 4  # process.mem and the three threads
    assert all("has no '# end' line" in n for n in notes), notes
    assert _memg_rows(tmp_path / "memg.txt")["MainThread"]["peak"] == \
        100 * MiB


# -- graph ---------------------------------------------------------------------

def _memg_rows(path):
    rows = {}
    for line in open(path).read().splitlines()[3:]:
        m = re.match(r"(.+?)\s+(-?\d+)\s+[\d.]+ MiB\s+([\d.]+)\s+(-?\d+)\s+"
                     r"[\d.]+ MiB\s+(\d+)\s+[\d.]+ MiB$", line)
        assert m, line
        rows[m.group(1)] = {"peak": int(m.group(2)),
                            "at": float(m.group(3)),
                            "final": int(m.group(4)),
                            "allocated": int(m.group(5))}
    return rows


def test_graph_writes_memg_svg_and_txt(tmp_path):
    d = _profile(tmp_path)
    r = run_cli("mem", "graph", d, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[:4] == [
        "Processing data for thread MainThread",
        "Processing data for thread worker 1",
        "Processing data for thread worker 2",
        "Processing data for the process"]
    rows = _memg_rows(tmp_path / "memg.txt")
    assert rows["MainThread"] == {"peak": 100 * MiB, "at": 3.0, "final": 0,
                                  "allocated": 100 * MiB}
    assert rows["worker 1"]["peak"] == 10 * MiB
    assert rows["worker 1"]["at"] == 1.0
    assert rows["worker 2"]["final"] == 5 * MiB
    assert rows["worker 2"]["at"] == 4.5
    # The process's RSS: 20 MiB plus the threads' live bytes.
    assert rows["process (rss)"]["peak"] == 20 * MiB + 100 * MiB + int(
        10 * MiB * (1 - 2.0 / 5.0)) + int(30 * MiB * 3.0 / 4.5)
    root = ET.parse(str(tmp_path / "memg.svg")).getroot()
    texts = [t.text or "" for t in root.iter(SVG + "text")]
    assert "time (seconds)" in texts and "memory (MiB)" in texts
    lines = root.findall(".//%spolyline" % SVG)
    assert len(lines) == 4
    assert [t.text for t in root.iter(SVG + "title")][1:5] == [
        "process RSS", "MainThread", "worker 1", "worker 2"]
    legend = [t.text for t in root.findall(".//%sg/%stext" % (SVG, SVG))]
    assert legend[1] == "MainThread (peak 100 MiB at 3.0 s)"
    peaks = root.findall(".//%scircle" % SVG)
    assert len(peaks) == 4
    # MainThread's peak marker is at its peak: 3 s of 6 s across.
    x0, x1 = float(root.get("data-x0")), float(root.get("data-x1"))
    main_peak = [c for c in peaks if c.get("data-i") == "1"][0]
    assert float(main_peak.get("cx")) == pytest.approx(
        x0 + (x1 - x0) * 3.0 / 6.0, abs=0.1)
    assert "peak 100 MiB at 3.00 s (MainThread)" in texts


def test_graph_svg_in_chromium(tmp_path):
    if browser.find_chromium() is None:
        pytest.skip("Debian's chromium is not installed")
    d = _profile(tmp_path)
    r = run_cli("mem", "graph", d, "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    png = browser.screenshot(str(tmp_path / "memg.svg"),
                             str(tmp_path / "memg.png"), 1130, 620)
    colours, inked = browser.png_colors(png)
    assert colours > 20 and 0.02 < inked < 0.6, (colours, inked)


def test_graph_of_many_points_keeps_the_peak_and_stays_small(tmp_path):
    # 10 minutes at 20 ms: a single 1-point spike must still be drawn.
    rows = [(i * 0.02, 1 * MiB, 0, 1 * MiB, 0) for i in range(1, 30001)]
    rows[12345] = (rows[12345][0], 50 * MiB, 0, 50 * MiB, 0)
    d = mf.write_profile(tmp_path / "prof", 7, {"spiky": rows})
    r = run_cli("mem", "graph", d, "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    root = ET.parse(str(tmp_path / "memg.svg")).getroot()
    y_of = float(root.get("data-y0")) - (
        float(root.get("data-y0")) - float(root.get("data-y1"))
    ) * 50 * MiB / float(root.get("data-v1"))
    line = root.findall(".//%spolyline" % SVG)[1]
    points = [tuple(map(float, p.split(","))) for p in
              line.get("points").split()]
    assert len(points) < 8200
    assert min(y for _, y in points) == pytest.approx(y_of, abs=0.1)
    assert os.path.getsize(str(tmp_path / "memg.svg")) < 200000


# -- peaks ---------------------------------------------------------------------

def test_peaks_with_the_stacks_holding_memory_then(tmp_path):
    d = _profile(tmp_path, stacks=True)
    r = run_cli("mem", "peaks", d, "-n", "2")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    main = out[out.index("thread MainThread"):out.index("thread worker 1")]
    first = main.splitlines()[1]
    assert "100.0 MiB" in first and "104857600 B" in first
    assert "3.000 s" in first
    stacks = [line.split() for line in main.splitlines()[3:5]]
    # At 3 s: build's 40 MiB and cache's 20 MiB are live, log's was freed.
    assert stacks[0][:2] == ["40.0", "MiB"]
    assert "build (app.py:40) <- main (app.py:10)" in main
    assert stacks[1][:2] == ["20.0", "MiB"]
    assert "log (app.py:70)" not in main
    proc = out[out.index("process (RSS)"):out.index("thread MainThread")]
    assert "[MainThread] build (app.py:40)" in proc


def test_stacks_show_paths_as_profiles_do():
    # A module under sys.path by its package path ("aiohttp/web_app.py",
    # as `record` shows it), not the venv's whole site-packages path;
    # pseudo-files and odd names stay as they are.
    from stackwatch import _memread

    site = os.path.dirname(os.path.dirname(pytest.__file__))
    frames = ["odd", "x (<frozen importlib._bootstrap>:935)",
              "fixture (%s:12)" % os.path.join(site, "pytest", "fix.py"),
              "f (a (b).py:7)"]
    assert _memread.stack_label(frames, depth=9) == (
        "f (a (b).py:7) <- fixture (pytest/fix.py:12) <- "
        "x (<frozen importlib._bootstrap>:935) <- odd")


def test_peaks_are_distinct_highs(tmp_path):
    # Two humps (30 MiB at 2 s, 50 MiB at 6 s) with a valley between.
    rows = []
    for i in range(1, 401):
        t = i * 0.02
        live = int(max(30 * MiB * (1 - abs(t - 2.0)),
                       50 * MiB * (1 - abs(t - 6.0)), 1 * MiB))
        rows.append((t, live, 0, 0, 0))
    d = mf.write_profile(tmp_path / "prof", 8, {"humps": rows})
    r = run_cli("mem", "peaks", d, "-n", "3")
    assert r.returncode == 0, r.stderr
    part = r.stdout[r.stdout.index("thread humps"):]
    found = re.findall(r"(\d+)\. +([\d.]+) MiB +\d+ B +at +([\d.]+) s", part)
    assert [(f[1], f[2]) for f in found[:2]] == [("50.0", "6.000"),
                                                ("30.0", "2.000")]
    assert "no .stack files" in r.stdout


def test_a_plateau_is_one_peak(tmp_path):
    # Up to 40 MiB at 1 s, flat until 7 s, then down: one hill, one peak
    # (at its first highest point), not one per fiftieth of the run; a
    # later, lower hump parted from it by a valley is the second.
    rows = []
    for i in range(1, 501):
        t = i * 0.02
        if t < 1:
            live = 40 * MiB * t
        elif t < 7:
            live = 40 * MiB
        elif t < 8:
            live = 39 * MiB * (8 - t) + MiB
        else:
            live = MiB + 10 * MiB * (1 - abs(t - 9.0))
        rows.append((t, int(max(live, MiB)), 0, 0, 0))
    d = mf.write_profile(tmp_path / "prof", 8, {"flat": rows})
    r = run_cli("mem", "peaks", d, "-n", "3")
    assert r.returncode == 0, r.stderr
    part = r.stdout[r.stdout.index("thread flat"):]
    found = re.findall(r"(\d+)\. +([\d.]+) MiB +\d+ B +at +([\d.]+) s", part)
    assert [(f[1], f[2]) for f in found] == [("40.0", "1.000"),
                                            ("11.0", "9.000")], part


def test_bad_numbers_of_peaks(tmp_path):
    d = _profile(tmp_path)
    _one_line_error(run_cli("mem", "peaks", d, "-n", "0"), "-n")
    _one_line_error(run_cli("mem", "peaks", d, "-n", "x"), "-n")


# -- report --------------------------------------------------------------------

def test_report_is_one_offline_page(tmp_path):
    d = _profile(tmp_path, stacks=True)
    out = tmp_path / "report.html"
    r = run_cli("mem", "report", d, "-o", str(out))
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<svg" in page and "<table id=\"peaks\">" in page
    assert "build (app.py:40) &lt;- main (app.py:10) (40.0 MiB)" in page


def test_report_in_chromium_hover_and_isolate(tmp_path):
    if browser.find_chromium() is None:
        pytest.skip("Debian's chromium is not installed")
    d = _profile(tmp_path, stacks=True)
    out = tmp_path / "report.html"
    r = run_cli("mem", "report", d, "-o", str(out))
    assert r.returncode == 0, r.stderr
    png = browser.screenshot(str(out), str(tmp_path / "r.png"), 1200, 1200)
    colours, inked = browser.png_colors(png)
    assert colours > 20 and inked > 0.02, (colours, inked)
    # A real mouse event over MainThread's peak; then isolate worker 1
    # by a click on its legend entry and hover over its peak.
    result = browser.run_in_html(str(out), r"""
      var svg = document.querySelector("#chart svg");
      var tip = document.getElementById("tip");
      function moveTo(i) {
        var c = svg.querySelector('circle.sw-peak[data-i="' + i + '"]');
        var b = c.getBoundingClientRect();
        svg.dispatchEvent(new MouseEvent("mousemove", {
          clientX: b.left + b.width / 2, clientY: b.top + b.height / 2,
          bubbles: true}));
        return {text: tip.textContent, shown: tip.style.display};
      }
      var first = moveTo(1);
      svg.querySelector('.sw-legend[data-i="2"]').dispatchEvent(
        new MouseEvent("click", {bubbles: true}));
      var hidden = Array.prototype.map.call(
        svg.querySelectorAll("polyline.sw-hidden"),
        function (el) { return el.getAttribute("data-i"); });
      var second = moveTo(2);
      svg.querySelector('.sw-legend[data-i="2"]').dispatchEvent(
        new MouseEvent("click", {bubbles: true}));
      var after = svg.querySelectorAll("polyline.sw-hidden").length;
      var boxes = document.querySelectorAll("#flame .sw-box").length;
      out.textContent = JSON.stringify({first: first, hidden: hidden,
        second: second, after: after, boxes: boxes});
    """)
    first = result["first"]
    assert first["shown"] == "block"
    assert first["text"].startswith("MainThread \u2014 ")
    m = re.search(r"\u2014 ([\d.]+) s \u2014 ([\d,]+) bytes", first["text"])
    assert m, first["text"]
    assert float(m.group(1)) == pytest.approx(3.0, abs=0.05)
    assert int(m.group(2).replace(",", "")) == pytest.approx(100 * MiB,
                                                             rel=0.02)
    assert sorted(result["hidden"]) == ["0", "1", "3"]
    assert result["second"]["text"].startswith("worker 1 \u2014 ")
    assert result["after"] == 0
    # all, MainThread, main, then build and cache (live at the peak).
    assert result["boxes"] == 5


# -- the real engine -------------------------------------------------------------

@pytest.mark.skipif(not hasattr(stackwatch, "MemoryProfiler"),
                    reason="stackwatch.MemoryProfiler (the engine, issue "
                           "14) is not in this build yet")
def test_engine_profile_read_by_the_readers(tmp_path):
    r = run_target("mem_two_threads", str(tmp_path / "prof"))
    assert r.returncode == 0, r.stderr
    d = r.stdout.strip().splitlines()[-1]
    assert os.path.isfile(os.path.join(d, "process.mem")), d
    g = run_cli("mem", "graph", d, "-o", str(tmp_path))
    assert g.returncode == 0, g.stderr
    assert "Processing data for thread big" in g.stdout
    assert "Processing data for thread small" in g.stdout
    rows = _memg_rows(tmp_path / "memg.txt")
    assert 95 * MiB <= rows["big"]["peak"] <= 110 * MiB, rows["big"]
    assert 9.5 * MiB <= rows["small"]["peak"] <= 11 * MiB, rows["small"]
    p = run_cli("mem", "peaks", d)
    assert p.returncode == 0, p.stderr
    big = p.stdout[p.stdout.index("thread big"):]
    assert "fill_big" in big  # the allocating function, from .stack
    h = run_cli("mem", "report", d, "-o", str(tmp_path / "r.html"))
    assert h.returncode == 0, h.stderr


def test_graph_holds_a_value_until_the_next_line(tmp_path):
    # A line is written only when the counters changed: 64 MiB from 1 s
    # until 9 s is a flat step, not a slope down to the 0 of 9 s.
    rows = [(1.0, 64 * MiB, 0, 64 * MiB, 0), (9.0, 0, 0, 64 * MiB, 0),
            (10.0, 0, 0, 64 * MiB, 0)]
    d = mf.write_profile(tmp_path / "prof", 9, {"sparse": rows})
    r = run_cli("mem", "graph", d, "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    root = ET.parse(str(tmp_path / "memg.svg")).getroot()
    x0, x1 = float(root.get("data-x0")), float(root.get("data-x1"))
    t1 = float(root.get("data-t1"))
    line = root.findall(".//%spolyline" % SVG)[1]
    points = [tuple(map(float, p.split(","))) for p in
              line.get("points").split()]
    top = min(y for _, y in points)
    at_top = [x for x, y in points if y == top]
    assert min(at_top) == pytest.approx(x0 + (x1 - x0) * 1.0 / t1, abs=0.1)
    assert max(at_top) == pytest.approx(x0 + (x1 - x0) * 9.0 / t1, abs=0.1)


def test_two_threads_with_one_name_are_told_apart(tmp_path):
    d = mf.write_profile(tmp_path / "prof", 10, {
        "worker": mf.ramp(8 * MiB, 1.0, 2.0),
        "other": mf.ramp(4 * MiB, 1.0, 2.0)})
    # The engine names the later one <name>-<native_id>.mem.
    with open(os.path.join(d, "other.mem")) as f:
        text = f.read().replace("# name other", "# name worker")
    os.unlink(os.path.join(d, "other.mem"))
    with open(os.path.join(d, "worker-1001.mem"), "w") as f:
        f.write(text)
    r = run_cli("mem", "graph", d, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "Processing data for thread worker (tid 1000)" in r.stdout
    assert "Processing data for thread worker (tid 1001)" in r.stdout
    rows = _memg_rows(tmp_path / "memg.txt")
    assert rows["worker (tid 1000)"]["peak"] == 8 * MiB
    assert rows["worker (tid 1001)"]["peak"] == 4 * MiB


def test_greenlet_files_are_listed_and_the_highest_drawn(tmp_path):
    greenlets = {7: ("handle-7", mf.ramp(6 * MiB, 0.5, 2.0))}
    for gid in range(20, 30):  # ten small ones: only 7 of them drawn
        greenlets[gid] = ("small-%d" % gid, mf.ramp(gid * 1024, 0.5, 2.0))
    d = mf.write_profile(
        tmp_path / "prof", 11, {"MainThread": mf.ramp(8 * MiB, 1.0, 2.0)},
        greenlets=greenlets)
    r = run_cli("mem", "graph", d, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "Processing data for greenlet handle-7" in r.stdout
    rows = _memg_rows(tmp_path / "memg.txt")
    assert rows["greenlet handle-7"]["peak"] == 6 * MiB
    assert "greenlet small-20" in rows and "greenlet small-29" in rows
    root = ET.parse(str(tmp_path / "memg.svg")).getroot()
    # RSS, the thread, and the 8 greenlets with the highest peaks.
    assert len(root.findall(".//%spolyline" % SVG)) == 2 + 8
    with open(str(tmp_path / "memg.svg")) as f:
        svg = f.read()
    assert "greenlet handle-7" in svg and "greenlet small-29" in svg
    assert "small-21" not in svg and "small-20" not in svg
    r = run_cli("mem", "peaks", d)
    assert r.returncode == 0, r.stderr
    part = r.stdout[r.stdout.index("greenlet handle-7"):]
    assert "6.0 MiB" in part and "0.500 s" in part


def test_threads_in_a_readable_order(tmp_path):
    names = ["Thread-10", "Thread-2", "MainThread", "Thread-1", "alpha"]
    d = mf.write_profile(tmp_path / "prof", 12, {
        n: mf.ramp(MiB, 0.5, 1.0) for n in names})
    r = run_cli("mem", "graph", d, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert [line.rsplit(" ", 1)[1] for line in r.stdout.splitlines()
            if line.startswith("Processing data for thread")] == [
        "MainThread", "Thread-1", "Thread-2", "Thread-10", "alpha"]


def test_long_names_get_fewer_legend_columns(tmp_path):
    label = "Greenlet-12 #345 (myapp.handlers.UploadHandler.handle_upload)"
    d = mf.write_profile(
        tmp_path / "prof", 13, {"MainThread": mf.ramp(8 * MiB, 1.0, 2.0),
                                "worker": mf.ramp(MiB, 1.0, 2.0)},
        greenlets={345: (label, mf.ramp(6 * MiB, 0.5, 2.0))})
    r = run_cli("mem", "graph", d, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    root = ET.parse(str(tmp_path / "memg.svg")).getroot()
    xs = {float(g.find("%sline" % SVG).get("x1"))
          for g in root.iter("%sg" % SVG) if g.get("class") == "sw-legend"}
    # One entry per row: a long label would run into the next column.
    assert len(xs) == 1, xs
