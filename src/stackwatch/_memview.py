"""``stackwatch mem graph|peaks|report``: the memory profile's readers.

- graph DIR/PID: ``Processing data for thread NAME`` per thread, then
  ``memg.svg`` (every thread's live memory and the process's RSS over
  time, csrc/writers/memchart.c) and ``memg.txt`` (per thread: peak,
  when, final, total allocated) in the current directory (or ``-o``).
- peaks DIR/PID [-n N]: the N highest points of the process and of each
  thread and, with .stack files, the stacks holding most live memory then.
- report DIR/PID -o report.html: one offline page: the chart (hover: line,
  time, bytes; click a legend entry to isolate its line), the peaks table
  and the allocation stacks as a flame graph.

Bad input (not a profile directory, a file cut or corrupt) is one line
naming the file and the line, exit status 2; ``--partial`` reads what can
be read and says what was left out (docs/memory-format.md).
"""

from __future__ import annotations

import bisect
import json
import os
import sys
from array import array

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any, Dict, List, Optional, Tuple

    from stackwatch._memread import Profile, Series

MiB = 1024.0 * 1024.0

#: How many points of each line the report page keeps (its chart's
#: columns; csrc/writers/memchart.h's SW_MEMCHART_PLOT_W).
REPORT_COLUMNS = 1000


def add_parsers(sub: Any) -> None:
    """Adds graph, peaks and report to the `stackwatch mem` group."""
    common = dict(metavar="DIR/PID", help="the profile directory of one "
                  "process (DIR/<pid>, as `mem record -o DIR` wrote it)")
    partial = dict(action="store_true", help="read a cut or corrupt file "
                   "up to its first bad line (and say what was left out) "
                   "instead of refusing it")
    g = sub.add_parser(
        "graph", help="chart every thread's memory and the process's RSS "
                      "(memg.svg, memg.txt)",
        description="Chart every thread's live memory (python + c) and "
                    "the process's RSS over time, peaks marked: writes "
                    "memg.svg and memg.txt (per thread: peak, when, final, "
                    "total allocated).")
    g.add_argument("profile", **common)
    g.add_argument("-o", "--output-dir", metavar="OUTDIR", default=".",
                   help="where to write memg.svg and memg.txt (default: "
                        "the current directory)")
    g.add_argument("--partial", **partial)
    p = sub.add_parser(
        "peaks", help="the highest points of the process and each thread",
        description="Print the N highest points (peaks at least a fiftieth "
                    "of the run apart) of the process's RSS and of each "
                    "thread's live memory, with time and size, and, when "
                    "the profile has .stack files, the allocation stacks "
                    "holding most live memory at that moment (estimated "
                    "from the sampled blocks).")
    p.add_argument("profile", **common)
    p.add_argument("-n", type=int, default=3, metavar="N",
                   help="peaks per line (default 3)")
    p.add_argument("--stacks", type=int, default=3, metavar="K",
                   help="stacks shown per peak (default 3)")
    p.add_argument("--partial", **partial)
    r = sub.add_parser(
        "report", help="one offline HTML page: chart, peaks, flame graph",
        description="Write one self-contained HTML page (no network): the "
                    "chart (hover: line, time, bytes; click a legend entry "
                    "to show its line alone), the peaks table and the "
                    "allocation stacks as a flame graph.")
    r.add_argument("profile", **common)
    r.add_argument("-o", "--output", metavar="report.html", required=True)
    r.add_argument("-n", type=int, default=3, metavar="N",
                   help="peaks per line in the table (default 3)")
    r.add_argument("--partial", **partial)


def main(ns: argparse.Namespace) -> int:
    from stackwatch import cli

    prog = "%s mem %s" % (cli.PROG, ns.mem_command)
    if getattr(ns, "n", 1) < 1:
        cli.fail("argument -n: must be at least 1, not %d" % ns.n, prog)
    if getattr(ns, "stacks", 0) < 0:
        cli.fail("argument --stacks: must be at least 0, not %d"
                 % ns.stacks, prog)
    return {"graph": graph, "peaks": peaks_command,
            "report": report}[ns.mem_command](ns, prog)


def _read(ns: argparse.Namespace, prog: str) -> Profile:
    from stackwatch import _memread, cli

    try:
        return _memread.read_profile(ns.profile, ns.partial, note=cli.note)
    except _memread.MemFormatError as e:
        cli.fail(str(e), prog,
                 hint=None if ns.partial or " line " not in str(e)
                 else "--partial reads the part before it")


def _write(path: str, data: bytes, prog: str) -> None:
    from stackwatch import _output, cli

    try:
        _output.write_file(path, data)
    except _output.OutputError as e:
        cli.fail(str(e), prog, status=1)


def _check_out(path: str, prog: str) -> None:
    from stackwatch import _output, cli

    try:
        _output.check_writable(path)
    except _output.OutputError as e:
        cli.fail(str(e), prog)


def _mib(b: float) -> str:
    return "%.1f MiB" % (b / MiB)


# -- what the readers compute ------------------------------------------------

#: Greenlets drawn on the chart: those with the highest peaks (a server
#: has one per connection; all are in memg.txt and the peaks).
CHART_GREENLETS = 8


def _lines(prof: Profile) -> "List[Tuple[str, array, array, bool]]":
    """The chart's lines: the process's RSS, then each thread's live
    bytes, then (greenlets=True) the live bytes of the CHART_GREENLETS
    greenlets with the highest peaks, "greenlet <label>" (their bytes are
    also in their threads')."""
    assert prof.process is not None
    out = [("process RSS", prof.process.t, prof.process.col("rss"), True)]
    for s in prof.threads:
        out.append((s.name, s.t, s.live(), False))
    peaks = []
    for i, s in enumerate(prof.greenlets):
        live = s.live()
        peaks.append((-(max(live) if len(live) else 0), i, s, live))
    for _, _, s, live in sorted(peaks, key=lambda p: p[:2])[
            :CHART_GREENLETS]:
        out.append(("greenlet " + s.name, s.t, live, False))
    return out


def _peak(t: array, v: array) -> "Tuple[float, float]":
    if not len(v):
        return 0.0, 0.0
    best = max(v)
    return t[v.index(best)], best


#: find_peaks: peaks are at least this share of the run apart.
PEAK_GAP = 1 / 50.0


#: find_peaks: between two peaks the series falls by at least this share
#: of its range.
PEAK_DIP = 1 / 100.0


def _lowest(t: array, v: array, i: int, tj: float) -> float:
    """The lowest value of v between index i and time tj."""
    j = bisect.bisect_left(t, tj)
    a, b = min(i, j), max(i, j)
    return min(v[a:b + 1])


def find_peaks(t: array, v: array, n: int) -> "List[Tuple[float, float]]":
    """The n highest peaks of (t, v), highest first: [(t, bytes)]. The
    run is cut in fiftieths; the highest point of each that is a local
    maximum (no higher neighbour) is a candidate, and candidates are
    taken from the highest down, each at least a fiftieth of the run
    from those taken and parted from each by a dip of a hundredth of the
    series' range (t ascending, as in a .mem file)."""
    count = len(v)
    if not count:
        return []
    t0, span = t[0], t[-1] - t[0]
    gap = span * PEAK_GAP
    cands = []
    if span <= 0:
        cuts = [0, count]
    else:
        cuts = [bisect.bisect_left(t, t0 + span * k * PEAK_GAP)
                for k in range(int(round(1 / PEAK_GAP)))] + [count]
    for a, b in zip(cuts, cuts[1:]):
        if a >= b:
            continue
        part = v[a:b]
        top = max(part)
        i = a + part.index(top)
        if (i > 0 and v[i - 1] > top) or (i + 1 < count and v[i + 1] > top):
            continue
        cands.append((top, -t[i], t[i]))
    # Two candidates with no dip between them are one hill (a plateau cut
    # in fiftieths): only its first highest point is a peak.
    dip = max(PEAK_DIP * (max(v) - min(v)), 1.0)
    taken: "List[Tuple[float, float]]" = []
    for top, _, ti in sorted(cands, reverse=True):
        if any(abs(ti - tj) < gap for tj, _ in taken):
            continue
        i = bisect.bisect_left(t, ti)
        if any(top - _lowest(t, v, i, tj) < dip for tj, _ in taken):
            continue
        taken.append((ti, top))
        if len(taken) == n:
            break
    return taken


def _stack_files(prof: Profile, series: Optional[Series]):
    """The .stack files of one thread (series) or of all (None)."""
    from stackwatch import _memread

    if series is None:
        return list(prof.stacks.values())
    stem = os.path.splitext(os.path.basename(series.path))[0]
    st = prof.stacks.get(stem)
    return [st] if isinstance(st, _memread.Stacks) else []


def top_stacks(prof: Profile, series: Optional[Series], t: float, k: int
               ) -> "List[Tuple[int, List[str], str]]":
    """The k stacks holding most live bytes at t (estimated from the
    sampled blocks) in one thread's .stack file (or all): [(bytes, frames
    root first, thread name)]."""
    rows = []
    for st in _stack_files(prof, series):
        for sid, live in st.live_at(t).items():
            rows.append((live, st.stacks[sid], st.name))
    rows.sort(key=lambda r: -r[0])
    return rows[:k]


# -- graph -------------------------------------------------------------------

def _subtitle(prof: Profile) -> str:
    assert prof.process is not None
    h = prof.process.headers
    return "pid %s, %.2f s, profile %s, %d thread%s" % (
        prof.pid, prof.duration, h.get("profile", "?"), len(prof.threads),
        "" if len(prof.threads) == 1 else "s")


def memg_text(prof: Profile) -> str:
    assert prof.process is not None
    rows = [("thread", "peak bytes", "peak", "at s", "final bytes", "final",
             "allocated bytes", "allocated")]

    def row(name, t, v, alloc):
        at, peak = _peak(t, v)
        final = v[-1] if len(v) else 0
        rows.append((name, "%d" % peak, _mib(peak), "%.3f" % at,
                     "%d" % final, _mib(final), "%d" % alloc, _mib(alloc)))

    for s in prof.threads:
        row(s.name, s.t, s.live(), s.last("py_alloc") + s.last("c_alloc"))
    p = prof.process
    row("process (rss)", p.t, p.col("rss"),
        p.last("py_alloc") + p.last("c_alloc"))
    for s in prof.greenlets:
        row("greenlet " + s.name, s.t, s.live(),
            s.last("py_alloc") + s.last("c_alloc"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["# stackwatch mem graph %s: %s" % (prof.path, _subtitle(prof)),
           "# live memory (python + c) per thread, the process's RSS; "
           "times in seconds since the start; allocated: total since the "
           "start"]
    for r in rows:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths))
                             ).rstrip())
    return "\n".join(out) + "\n"


def chart_svg(prof: Profile) -> bytes:
    from stackwatch import _native

    return _native.mem_chart_svg(
        _lines(prof), "Memory of process %s" % prof.pid, _subtitle(prof))


def graph(ns: argparse.Namespace, prog: str) -> int:
    from stackwatch import cli

    if not os.path.isdir(ns.output_dir):
        cli.fail("argument -o/--output-dir: %s is not a directory"
                 % ns.output_dir, prog)
    svg_path = os.path.join(ns.output_dir, "memg.svg")
    txt_path = os.path.join(ns.output_dir, "memg.txt")
    _check_out(svg_path, prog)
    _check_out(txt_path, prog)
    prof = _read(ns, prog)
    for s in prof.threads:
        print("Processing data for thread %s" % s.name)
    for s in prof.greenlets:
        print("Processing data for greenlet %s" % s.name)
    print("Processing data for the process")
    sys.stdout.flush()
    _write(svg_path, chart_svg(prof), prog)
    _write(txt_path, memg_text(prof).encode("utf-8"), prog)
    print("Wrote %s and %s" % (svg_path, txt_path))
    return 0


# -- peaks -------------------------------------------------------------------

def _all_peaks(prof: Profile, n: int, k: int):
    """[(label, series or None, [(t, bytes, top stacks)])] for the
    process, each thread and each greenlet (greenlet files: a profile
    recorded with greenlets=True)."""
    assert prof.process is not None
    out = []
    p = prof.process
    out.append(("process (RSS)", None, [
        (t, b, top_stacks(prof, None, t, k))
        for t, b in find_peaks(p.t, p.col("rss"), n)]))
    for kind, group in (("thread", prof.threads),
                        ("greenlet", prof.greenlets)):
        for s in group:
            out.append(("%s %s" % (kind, s.name), s, [
                (t, b, top_stacks(prof, s, t, k))
                for t, b in find_peaks(s.t, s.live(), n)]))
    return out


def peaks_command(ns: argparse.Namespace, prog: str) -> int:
    from stackwatch import _memread

    prof = _read(ns, prog)
    out = ["Peaks of %s (%s)" % (prof.path, _subtitle(prof))]
    if not prof.stacks:
        out.append("(no .stack files: record with --stacks to see the "
                   "allocation stacks at each peak)")
    for label, _, peaks in _all_peaks(prof, ns.n, ns.stacks):
        out.append("")
        out.append(label + ("" if label.startswith("process")
                            else " (live: python + c)"))
        if not peaks:
            out.append("   no data")
        for i, (t, b, stacks) in enumerate(peaks, 1):
            out.append("  %2d. %10s  %14d B  at %9.3f s"
                       % (i, _mib(b), b, t))
            if stacks:
                out.append("      live then, by allocation stack "
                           "(sampled estimate):")
            for live, frames, tname in stacks:
                out.append("        %10s  %s%s" % (
                    _mib(live), "[%s] " % tname if label.startswith(
                        "process") else "", _memread.stack_label(frames)))
    sys.stdout.write("\n".join(out) + "\n")
    return 0


# -- report ------------------------------------------------------------------

def _flame(prof: Profile) -> "Tuple[str, Dict[str, Any]]":
    """The flame graph's tree (root 'all', then threads, then frames
    root first) of the live bytes at the process's peak, estimated from
    the sampled blocks; when none is live then, of the bytes allocated
    over the run. Returns (what it shows, tree)."""
    assert prof.process is not None
    at, _ = _peak(prof.process.t, prof.process.col("rss"))
    root: "Dict[str, Any]" = {"name": "all", "value": 0, "children": {}}
    what = "live at the process's peak (%.2f s), sampled estimate" % at
    per = [(st, st.live_at(at)) for st in prof.stacks.values()]
    if not any(live for _, live in per):
        what = "allocated over the run, sampled"
        per = [(st, st.allocated()) for st in prof.stacks.values()]
    for st, by_stack in per:
        for sid, b in by_stack.items():
            node = root
            node["value"] += b
            for name in [st.name] + st.stacks[sid]:
                node = node["children"].setdefault(
                    name, {"name": name, "value": 0, "children": {}})
                node["value"] += b

    def plain(node):
        kids = sorted(node["children"].values(), key=lambda c: -c["value"])
        return {"n": node["name"], "v": node["value"],
                "c": [plain(c) for c in kids]}

    return what, plain(root)


def report_html(prof: Profile, n: int) -> bytes:
    import html
    from stackwatch import _memread, _native

    assert prof.process is not None
    svg = chart_svg(prof).decode("utf-8")
    svg = svg[svg.index("<svg"):]
    t1 = prof.duration
    lines = []
    for name, t, v, process in _lines(prof):
        dt, dv = _native.mem_downsample(t, v, 0.0, t1 or 1.0,
                                        REPORT_COLUMNS)
        at, av = array("d"), array("d")
        at.frombytes(dt)
        av.frombytes(dv)
        lines.append({"name": name, "process": process,
                      "t": [round(x, 6) for x in at],
                      "v": [int(x) for x in av]})
    rows = []
    for label, _, peaks in _all_peaks(prof, n, 1):
        for i, (t, b, stacks) in enumerate(peaks, 1):
            top = (_memread.stack_label(stacks[0][1]) + " (%s)"
                   % _mib(stacks[0][0])) if stacks else ""
            rows.append("<tr><td>%s</td><td>%d</td><td>%.3f s</td>"
                        "<td>%s</td><td>%d</td><td>%s</td></tr>" % (
                            html.escape(label), i, t, _mib(b), b,
                            html.escape(top)))
    what, tree = _flame(prof)
    data = json.dumps({"lines": lines, "flame": tree},
                      separators=(",", ":")).replace("</", "<\\/")
    page = _PAGE % {
        "title": html.escape("Memory of process %s" % prof.pid),
        "sub": html.escape(_subtitle(prof)),
        "svg": svg,
        "rows": "\n".join(rows) or "<tr><td colspan=6>no data</td></tr>",
        "what": html.escape(what) if prof.stacks else
        "no .stack files (record with --stacks)",
        "data": data,
        "script": _SCRIPT,
    }
    return page.encode("utf-8")


def report(ns: argparse.Namespace, prog: str) -> int:
    _check_out(ns.output, prog)
    prof = _read(ns, prog)
    _write(ns.output, report_html(prof, ns.n), prog)
    if ns.output != "-":
        print("Wrote %s" % ns.output)
    return 0


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>%(title)s</title>
<style>
body { font-family: Verdana, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
h2 { font-size: 16px; margin: 24px 0 8px 0; }
.sub { color: #555; margin: 0 0 12px 0; }
#chart { position: relative; }
#tip { position: absolute; pointer-events: none; background: #fffbe6;
  border: 1px solid #aaa; padding: 4px 6px; font-size: 12px;
  white-space: nowrap; display: none; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
#flame { position: relative; width: 1100px; font-size: 11px; }
#flame div { position: absolute; height: 17px; overflow: hidden;
  white-space: nowrap; border: 1px solid #fff; box-sizing: border-box;
  padding-left: 2px; line-height: 15px; cursor: default; }
.sw-hidden { display: none; }
</style></head><body>
<h1>%(title)s</h1>
<p class="sub">%(sub)s. Hover the chart for a line's time and bytes;
click a legend entry to show that line alone (click again for all).</p>
<div id="chart">%(svg)s<div id="tip"></div></div>
<h2>Peaks</h2>
<table id="peaks"><tr><th>line</th><th>#</th><th>at</th><th>size</th>
<th>bytes</th><th>stack holding most then</th></tr>
%(rows)s
</table>
<h2>Allocation stacks</h2>
<p class="sub">Bytes %(what)s; the root at the bottom.</p>
<div id="flame"></div>
<script id="sw-data" type="application/json">%(data)s</script>
<script>%(script)s</script>
</body></html>
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("sw-data").textContent);
  var svg = document.querySelector("#chart svg");
  var tip = document.getElementById("tip");
  var A = function (k) { return parseFloat(svg.getAttribute("data-" + k)); };
  var x0 = A("x0"), x1 = A("x1"), t0 = A("t0"), t1 = A("t1");
  var y0 = A("y0"), y1 = A("y1"), v0 = A("v0"), v1 = A("v1");
  var alone = -1;
  function mib(b) { return (b / 1048576).toFixed(1) + " MiB"; }
  function valueAt(line, t) {
    var lo = 0, hi = line.t.length - 1;
    if (hi < 0 || t < line.t[0]) { return null; }
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (line.t[mid] <= t) { lo = mid; } else { hi = mid - 1; }
    }
    return line.v[lo];
  }
  function visible(i) { return alone < 0 || alone === i; }
  /* The line nearest the point (chart coordinates), and its value. */
  function hover(x, y) {
    if (x < x0 || x > x1 || y < y1 || y > y0) { return null; }
    var t = t0 + (x - x0) / (x1 - x0) * (t1 - t0), best = null;
    data.lines.forEach(function (line, i) {
      if (!visible(i)) { return; }
      var v = valueAt(line, t);
      if (v === null) { return; }
      var ly = y0 + (v - v0) / (v1 - v0) * (y1 - y0);
      var d = Math.abs(ly - y);
      if (best === null || d < best.d) {
        best = {d: d, i: i, name: line.name, t: t, v: v};
      }
    });
    return best;
  }
  window.swHover = hover;
  svg.addEventListener("mousemove", function (ev) {
    var pt = svg.createSVGPoint();
    pt.x = ev.clientX; pt.y = ev.clientY;
    var p = pt.matrixTransform(svg.getScreenCTM().inverse());
    var h = hover(p.x, p.y);
    if (h === null) { tip.style.display = "none"; return; }
    tip.textContent = h.name + " \u2014 " + h.t.toFixed(3) + " s \u2014 " +
      h.v.toLocaleString("en-US") + " bytes (" + mib(h.v) + ")";
    tip.setAttribute("data-line", String(h.i));
    tip.style.display = "block";
    var box = document.getElementById("chart").getBoundingClientRect();
    tip.style.left = (ev.clientX - box.left + 14) + "px";
    tip.style.top = (ev.clientY - box.top + 14) + "px";
  });
  svg.addEventListener("mouseleave", function () {
    tip.style.display = "none";
  });
  function isolate(i) {
    alone = (alone === i) ? -1 : i;
    svg.querySelectorAll(".sw-line, .sw-peak").forEach(function (el) {
      var k = parseInt(el.getAttribute("data-i"), 10);
      el.classList.toggle("sw-hidden", !visible(k));
    });
    svg.querySelectorAll(".sw-peak-label").forEach(function (el) {
      el.classList.toggle("sw-hidden", alone >= 0);
    });
    svg.querySelectorAll(".sw-legend").forEach(function (el) {
      var k = parseInt(el.getAttribute("data-i"), 10);
      el.style.opacity = visible(k) ? "1" : "0.35";
    });
  }
  svg.querySelectorAll(".sw-legend").forEach(function (el) {
    el.addEventListener("click", function () {
      isolate(parseInt(el.getAttribute("data-i"), 10));
    });
  });

  /* The flame graph: boxes as divs, the root at the bottom. */
  var flame = document.getElementById("flame");
  var W = 1100, H = 18, total = data.flame.v;
  function depth(n) {
    var d = 0;
    n.c.forEach(function (c) { d = Math.max(d, depth(c)); });
    return d + 1;
  }
  var rows = depth(data.flame);
  flame.style.height = (rows * H + 4) + "px";
  function hue(name) {
    var h = 0;
    for (var i = 0; i < name.length; i++) { h = (h * 31 + name.charCodeAt(i)) % 360; }
    return "hsl(" + (h % 50 + 10) + ", 80%, " + (62 + h % 12) + "%)";
  }
  function draw(n, d, left) {
    if (total <= 0) { return; }
    var w = n.v / total * W;
    if (w < 0.5) { return; }
    var box = document.createElement("div");
    box.className = "sw-box";
    box.style.left = left + "px";
    box.style.width = w + "px";
    box.style.top = ((rows - 1 - d) * H) + "px";
    box.style.background = d === 0 ? "#ddd" : hue(n.n);
    box.title = n.n + " \u2014 " + mib(n.v) + " (" +
      (100 * n.v / total).toFixed(1) + "%)";
    box.textContent = w > 40 ? n.n : "";
    flame.appendChild(box);
    var x = left;
    n.c.forEach(function (c) { draw(c, d + 1, x); x += c.v / total * W; });
  }
  draw(data.flame, 0, 0);
  if (total <= 0) { flame.textContent = "No sampled stacks."; }
})();
"""
