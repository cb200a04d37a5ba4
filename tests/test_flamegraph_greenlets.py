"""A readable flame graph of a gevent server recorded with --greenlets
(issue 12, item 9): the greenlets are grouped by what they run, so 50
connections make one tower, and the SVG spans the window, with labels
fitted to their boxes at the real width.

The server (tests/targets/fg_gevent_server.py, a gevent.pywsgi server
whose handler computes fib) runs under `stackwatch record`, loaded by 50
keep-alive connections (tests/targets/fg_load_client.py, another
process)."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import pytest

from conftest import (child_env, copy_target, line_of, run_target,
                      stackwatch_cmd)
from helpers import browser

pytest.importorskip("gevent")

SVG = "{http://www.w3.org/2000/svg}"
CONNECTIONS = 50
GROUP_RE = re.compile(r"^greenlets running WSGIServer\.handle \(x(\d+)\)$")


@pytest.fixture(scope="module")
def short_dir():
    # A short directory, so the handler's label ("handle_request
    # (/tmp/sw.../fg.py:25)") is about as long as a real one.
    d = tempfile.mkdtemp(prefix="sw", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def record_server(directory, out, *options):
    """Records the server under load with `options`; returns the path of
    its copy (the file named in the profile's labels)."""
    server = copy_target("fg_gevent_server", directory, "fg.py")
    proc = subprocess.Popen(
        stackwatch_cmd("record", *options, "-o", str(out), server, "3"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=child_env())
    try:
        port = proc.stdout.readline().strip()
        assert port.isdigit(), (port, proc.stderr.read())
        client = run_target("fg_load_client", port, str(CONNECTIONS),
                            timeout=120)
        assert client.returncode == 0, client.stderr
        requests, busy = map(int, client.stdout.split())
        assert busy == CONNECTIONS, client.stdout
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    return server


def greenlet_profiles(path):
    return [p["name"] for p in json.loads(path.read_text())["profiles"]]


def test_greenlets_are_grouped_by_what_they_run(tmp_path, short_dir):
    out = tmp_path / "grouped.json"
    record_server(short_dir, out, "--greenlets")
    names = greenlet_profiles(out)
    groups = [GROUP_RE.match(n) for n in names]
    groups = [int(m.group(1)) for m in groups if m]
    # One group for the connections' greenlets, most of them sampled.
    assert len(groups) == 1, names
    assert groups[0] >= CONNECTIONS * 0.6, names
    # No connection greenlet has a profile of its own.
    assert not [n for n in names if "WSGIServer.handle" in n
                and not GROUP_RE.match(n)], names
    assert len(names) <= 5, names


def test_greenlets_each_keeps_one_profile_per_greenlet(tmp_path, short_dir):
    out = tmp_path / "each.json"
    record_server(short_dir, out, "--greenlets=each")
    names = greenlet_profiles(out)
    handlers = [n for n in names
                if re.fullmatch(r"greenlet Greenlet-\d+ #\d+ "
                                r"\(WSGIServer\.handle\)", n)]
    assert len(handlers) >= CONNECTIONS * 0.6, names
    assert len(set(handlers)) == len(handlers), names


def test_collapsed_output_follows_the_groups(tmp_path, short_dir):
    out = tmp_path / "grouped.txt"
    record_server(short_dir, out, "--greenlets")
    firsts = {line.split(";")[0] for line in out.read_text().splitlines()}
    assert len([f for f in firsts if GROUP_RE.match(f)]) == 1, firsts
    assert not [f for f in firsts if f.startswith("greenlet Greenlet-")], \
        firsts


# ---- the flame graph in a real browser --------------------------------


def dump_dom(svg, width, height=900):
    """The document after its script ran in a width x height window."""
    proc = browser._run_chromium(
        ["--dump-dom", "--virtual-time-budget=3000",
         "--window-size=%d,%d" % (width, height),
         "file://" + os.path.abspath(svg)], browser.DEFAULT_TIMEOUT)
    return ET.fromstring(proc.stdout)


def frames_of(root):
    layer = root.find(".//%sg[@id='sw-frames']" % SVG)
    out = []
    for g in layer.iter(SVG + "g"):
        if "frame" not in (g.get("class") or "").split():
            continue
        rect, text = g.find(SVG + "rect"), g.find(SVG + "text")
        out.append({"label": g.get("data-label"), "cls": g.get("class"),
                    "w": float(rect.get("width")), "x": float(rect.get("x")),
                    "text": text.text or ""})
    return layer, out


def check_labels_fit(frames, char_w):
    """Every label is whole when it fits its box, else the longest
    prefix that fits with an ellipsis (or nothing below 3 characters)."""
    for f in frames:
        label, text = f["label"], f["text"]
        # The document has widths to 0.01 px; the script knew them exactly.
        rooms = {int((f["w"] + dw - 6) / char_w + 0.01) for dw in (-.01, .01)}
        want = {label if len(label) <= room else
                "" if room < 3 else label[:room - 1] + "\u2026"
                for room in rooms}
        assert text in want, (f, rooms)


@pytest.fixture(scope="module")
def flame_graph(short_dir):
    """(path of the SVG, path of the server) of one recording."""
    if browser.find_chromium() is None:
        pytest.skip("Debian's chromium is not installed (tools/"
                    "system-deps.sh installs it when run as root)")
    out = os.path.join(short_dir, "out.svg")
    server = record_server(short_dir, out, "--greenlets")
    return out, server


@pytest.mark.parametrize("width", [1400, 1000])
def test_flame_graph_spans_the_window_with_whole_labels(flame_graph, width):
    out, server = flame_graph
    root = ET.parse(out).getroot()
    assert root.get("width") == "100%"
    layer, frames = frames_of(dump_dom(out, width))
    # The width of a character, measured in the page's font by the
    # script (the file has the writer's guess, "7.20").
    assert re.fullmatch(r"\d\.\d{4}", layer.get("data-charw")), \
        layer.get("data-charw")
    char_w = float(layer.get("data-charw"))
    # The graph spans the window (10 px margins).
    (all_box,) = [f for f in frames if "root" in f["cls"].split()]
    assert abs(all_box["x"] - 10) < 0.5, all_box
    assert abs(all_box["w"] - (width - 20)) < 1, all_box
    check_labels_fit(frames, char_w)
    # The connections' tower is labelled whole...
    (group,) = [f for f in frames if GROUP_RE.match(f["label"])]
    assert group["text"] == group["label"], group
    # ... and so is the handler, at 1400 px (issue 12's window).
    # (The file as the label shows it: whole or shortened.)
    handler = re.compile(r"handle_request \((.*)fg\.py:%d\)$" % line_of(
        "fg_gevent_server", "handler"))
    box = max((f for f in frames if handler.match(f["label"])
               and server.endswith(handler.match(f["label"]).group(1)
                                   + "fg.py")),
              key=lambda f: f["w"])
    if width == 1400:
        assert box["text"] == box["label"], box
    assert box["w"] > 0.3 * all_box["w"], (box, all_box)


RESIZE_JS = r"""
var layer = document.getElementById("sw-frames");
var svg = layer.ownerSVGElement;
function rootWidth() {
  return Number(layer.querySelector("g.root rect").getAttribute("width"));
}
var res = {before: rootWidth(), page: svg.getBoundingClientRect().width};
svg.style.width = "700px";
window.dispatchEvent(new Event("resize"));
res.after = rootWidth();
var f = window.stackwatchFlame.frames.filter(function (f) {
  return !f.root && f.count * 2 < layer.getAttribute("data-total");
})[0];
window.stackwatchFlame.zoom(f);
svg.style.width = "1100px";
window.dispatchEvent(new Event("resize"));
res.zoomed = Number(f.rect.getAttribute("width"));
out.textContent = JSON.stringify(res);
"""


def test_flame_graph_is_laid_out_again_on_resize(flame_graph):
    out, _ = flame_graph
    r = browser.run_in_page(out, RESIZE_JS)
    assert abs(r["before"] - (r["page"] - 20)) < 1, r
    assert abs(r["after"] - 680) < 1, r
    # A zoomed frame stays zoomed, and fills the new width.
    assert abs(r["zoomed"] - 1080) < 1, r


def test_raw_greenlets_are_grouped_by_their_run_function():
    proc = run_target("fg_raw_greenlets")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    grouped = {line.split(";")[0] for line in out["grouped"].splitlines()}
    assert "greenlets running crunch (x4)" in grouped, grouped
    assert "greenlets running other (x2)" in grouped, grouped
    assert not [g for g in grouped if "#" in g and "main" not in g], grouped
    each = {line.split(";")[0] for line in out["each"].splitlines()}
    assert len([g for g in each if g.endswith("(crunch)")]) == 4, each
    assert len([g for g in each if g.endswith("(other)")]) == 2, each
