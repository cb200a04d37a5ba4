"""Checks a stackwatch SVG flame graph in a real browser (Chromium).

    python tests/helpers/check_svg.py FILE.svg

1. The file is well-formed XML with an <svg> root and references nothing
   outside itself (no href/src attributes, no url() or @import in styles).
2. A headless screenshot is not blank: it has about as many non-white
   pixels as the frames cover and at least as many colours as they use.
3. In a page that inlines the document (so its script runs):
   - hovering a frame shows "name (file:line) — N samples (P%)" in the
     details line;
   - clicking it zooms: the frame becomes (nearly) full width, its
     descendants stay inside it, its ancestors are full width, a frame
     outside its subtree is hidden, and "Reset zoom" appears;
   - "Reset zoom" restores every frame;
   - "Search" (with window.prompt answered) highlights the frame and shows
     "Matched: P%"; a second click clears.

A document that says "No samples" only gets checks 1 and 2.

Exit status: 0 when every check passes, 1 when one fails (the message
says which), 2 for bad usage or no Chromium. Also usable from pytest:
check(path) raises CheckFailed.
"""

import os
import re
import sys
import tempfile
import xml.etree.ElementTree as ET

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import browser  # noqa: E402
else:
    from . import browser

SVG_NS = "{http://www.w3.org/2000/svg}"
MARGINS = 20.0  # left and right, px: the graph spans the rest
FULL_WIDTH_SLACK = 1.0  # px
LABEL_RE = re.compile(r"^(?P<name>.*) \((?P<file>.*):(?P<line>-?\d+)\)$")
DETAILS_RE = re.compile(
    r"^(?P<label>.*) \u2014 (?P<n>\d+) samples? \((?P<pct>\d+\.\d\d)%\)$"
)


class CheckFailed(AssertionError):
    """A check of the document failed."""


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


# ---- 1. the document ---------------------------------------------------


def check_xml(path):
    """Parses the document; returns its root element."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise CheckFailed("not well-formed XML: %s" % exc) from exc
    expect(root.tag == SVG_NS + "svg",
           "the root element is %s, not an SVG <svg>" % root.tag)
    for el in root.iter():
        for name, value in el.attrib.items():
            local = name.rsplit("}", 1)[-1]
            expect(local not in ("href", "src"),
                   "element %s refers to %r: the document must be "
                   "self-contained" % (el.tag, value))
        if el.tag == SVG_NS + "style":
            css = el.text or ""
            expect("@import" not in css and "url(" not in css,
                   "the style sheet loads an external resource")
    return root


def frame_elements(root):
    """The g.frame elements of the document."""
    return [
        g for g in root.iter(SVG_NS + "g")
        if "frame" in (g.get("class") or "").split()
    ]


# ---- 2. the screenshot -------------------------------------------------


def check_screenshot(path, root, workdir):
    """Renders the document and compares the pixels with its frames."""
    height = int(float(root.get("height", "900")))
    png = os.path.join(workdir, "shot.png")
    win_w, win_h = 1300, min(max(900, height + 20), 8000)
    browser.screenshot(path, png, width=win_w, height=win_h)
    colours, nonwhite = browser.png_colors(png)
    covered = 0.0
    fills = set()
    for g in frame_elements(root):
        rect = g.find(SVG_NS + "rect")
        w = float(rect.get("width"))
        covered += w * float(rect.get("height"))
        if w >= 2:
            fills.add(rect.get("fill"))
    expected = covered / (win_w * win_h)
    if covered == 0:
        # "No samples": only text is drawn.
        expect(nonwhite > 0.0005 and colours >= 2,
               "the screenshot is blank (%.4f%% non-white, %d colours)"
               % (100 * nonwhite, colours))
    else:
        expect(nonwhite >= 0.8 * expected,
               "the screenshot is (nearly) blank: %.2f%% non-white pixels, "
               "the frames cover %.2f%%" % (100 * nonwhite, 100 * expected))
        want = min(len(fills), 100)
        expect(colours >= want,
               "the screenshot has %d colours, the frames use %d"
               % (colours, want))
    return colours, nonwhite


# ---- 3. interactions ---------------------------------------------------

# Runs in the page after load; `out` is the result element.
INTERACT_JS = r"""
var layer = document.getElementById("sw-frames");
var details = document.getElementById("sw-details");
var unzoom = document.getElementById("sw-unzoom");
var searchCtl = document.getElementById("sw-search");
var matched = document.getElementById("sw-matched");
var all = Array.prototype.slice.call(layer.querySelectorAll("g.frame"));
function num(g, a) { return Number(g.getAttribute(a)); }
function meta(g) {
  return {label: g.getAttribute("data-label"), s: num(g, "data-s"),
          n: num(g, "data-n"), d: num(g, "data-d"),
          cls: g.getAttribute("class")};
}
function box(g) {
  var r = g.querySelector("rect");
  return {x: Number(r.getAttribute("x")), w: Number(r.getAttribute("width"))};
}
function hidden(el) { return getComputedStyle(el).display === "none"; }
function contains(a, b) {  /* b is a or above a in a's subtree */
  var ma = meta(a), mb = meta(b);
  return mb.d >= ma.d && mb.s >= ma.s && mb.s + mb.n <= ma.s + ma.n;
}
function fire(g, type) {
  g.querySelector("rect").dispatchEvent(
    new MouseEvent(type, {bubbles: true, cancelable: true, view: window}));
}
var candidates = all.filter(function (g) {
  return !g.classList.contains("root");
});
candidates.sort(function (a, b) {
  var fa = a.classList.contains("func") ? 0 : 1;
  var fb = b.classList.contains("func") ? 0 : 1;
  return fa - fb || num(b, "data-n") - num(a, "data-n") ||
    num(a, "data-d") - num(b, "data-d");
});
var target = null, outside = null;
for (var i = 0; i < candidates.length && !target; i++) {
  for (var j = 0; j < all.length; j++) {
    if (!contains(candidates[i], all[j]) && !contains(all[j], candidates[i])) {
      target = candidates[i];
      outside = all[j];
      break;
    }
  }
}
if (!target) {
  target = candidates.length ? candidates[0] : all[0];
}
var rootBox = box(all.filter(function (g) {
  return g.classList.contains("root");
})[0]);
var res = {frames: all.length, target: meta(target),
           inner: rootBox.w, left: rootBox.x,
           page: document.getElementById("sw-frames").ownerSVGElement
             .getBoundingClientRect().width,
           total: num(layer, "data-total"),
           outside: outside ? meta(outside) : null,
           before: box(target), text_before: target.textContent};

fire(target, "mouseover");
res.details_hover = details.textContent;
fire(target, "mouseout");
res.details_out = details.textContent;

res.unzoom_hidden_before = hidden(unzoom);
fire(target, "click");
res.zoomed = box(target);
res.zoomed_text = target.querySelector("text").textContent;
res.target_hidden = hidden(target);
res.outside_hidden = outside ? hidden(outside) : null;
res.unzoom_hidden_zoomed = hidden(unzoom);
res.ancestors = [];
res.inside = [];
res.others_visible = 0;
all.forEach(function (g) {
  var b = box(g);
  if (g === target) {
    return;
  }
  if (contains(g, target)) {
    res.ancestors.push({label: meta(g).label, x: b.x, w: b.w,
                        hidden: hidden(g)});
  } else if (contains(target, g)) {
    res.inside.push({label: meta(g).label, x: b.x, w: b.w,
                     hidden: hidden(g)});
  } else if (!hidden(g)) {
    res.others_visible++;
  }
});

unzoom.dispatchEvent(new MouseEvent("click", {bubbles: true}));
res.reset = box(target);
res.reset_text = target.textContent;
res.hidden_after_reset = all.filter(hidden).length;
res.unzoom_hidden_after = hidden(unzoom);

var name = meta(target).label.replace(/ \([^()]*\)$/, "");
var pattern = "^" + name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
window.prompt = function () { return pattern; };
searchCtl.dispatchEvent(new MouseEvent("click", {bubbles: true}));
res.search_pattern = pattern;
res.matched_text = matched.textContent;
res.matches = all.filter(function (g) {
  return g.classList.contains("sw-match");
}).map(function (g) { return meta(g).label; });
res.match_fill = getComputedStyle(target.querySelector("rect")).fill;
res.plain_fill = target.querySelector("rect").getAttribute("fill");
searchCtl.dispatchEvent(new MouseEvent("click", {bubbles: true}));
res.matched_text_cleared = matched.textContent;
res.matches_cleared = all.filter(function (g) {
  return g.classList.contains("sw-match");
}).length;
out.textContent = JSON.stringify(res);
"""


def close(a, b, slack=0.02):
    return abs(a - b) <= slack


def check_interactions(path):
    """Hover, zoom, reset and search in the page; returns the raw result."""
    r = browser.run_in_page(path, INTERACT_JS)
    t = r["target"]
    expect(r["frames"] > 0, "the page has no g.frame elements")

    # Hover: the details line.
    m = DETAILS_RE.match(r["details_hover"])
    expect(m is not None,
           "hovering %r shows %r in the details line, not "
           "'name (file:line) \u2014 N samples (P%%)'"
           % (t["label"], r["details_hover"]))
    expect(m.group("label") == t["label"],
           "details show %r for the frame %r" % (m.group("label"),
                                                 t["label"]))
    expect(int(m.group("n")) == t["n"],
           "details say %s samples, the frame has %d"
           % (m.group("n"), t["n"]))
    lm = LABEL_RE.match(t["label"])
    if lm is not None:
        text = r["details_hover"]
        expect(lm.group("name") in text and
               "%s:%s" % (lm.group("file"), lm.group("line")) in text,
               "details %r lack the name or file:line" % text)
    expect(abs(float(m.group("pct")) - 100.0 * t["n"] / r["total"]) <= 0.01,
           "details say %s%%, %d of %d samples is %.2f%%"
           % (m.group("pct"), t["n"], r["total"], 100.0 * t["n"] / r["total"]))
    expect(r["details_hover"] != r["details_out"],
           "the details line does not change when the mouse leaves")

    # The graph spans the document, which spans the window (width 100%).
    inner = r["inner"]
    expect(abs(inner + MARGINS - r["page"]) <= FULL_WIDTH_SLACK,
           "the graph is %.2f px wide in a %.2f px wide document"
           % (inner, r["page"]))

    # Zoom.
    expect(r["unzoom_hidden_before"], "'Reset zoom' is shown before zooming")
    expect(not r["target_hidden"], "the clicked frame is hidden")
    expect(abs(r["zoomed"]["w"] - inner) <= FULL_WIDTH_SLACK,
           "after a click on %r its width is %.2f px, not the full %.0f px"
           % (t["label"], r["zoomed"]["w"], inner))
    expect(not r["unzoom_hidden_zoomed"], "'Reset zoom' is hidden when zoomed")
    if r["outside"] is not None:
        expect(r["outside_hidden"],
               "after zooming on %r the unrelated frame %r is still shown"
               % (t["label"], r["outside"]["label"]))
    expect(r["others_visible"] == 0,
           "%d frames outside the zoomed subtree are still shown"
           % r["others_visible"])
    left = r["zoomed"]["x"]
    right = left + r["zoomed"]["w"]
    for a in r["ancestors"]:
        expect(not a["hidden"] and
               abs(a["w"] - inner) <= FULL_WIDTH_SLACK,
               "ancestor %r is not drawn full width when zoomed (%.2f px)"
               % (a["label"], a["w"]))
    for d in r["inside"]:
        expect(not d["hidden"], "descendant %r is hidden" % d["label"])
        expect(d["x"] >= left - 0.02 and d["x"] + d["w"] <= right + 0.02,
               "descendant %r [%.2f, %.2f] pokes out of the zoomed frame "
               "[%.2f, %.2f]" % (d["label"], d["x"], d["x"] + d["w"],
                                 left, right))
    expect(len(r["zoomed_text"]) >= min(len(t["label"]), 10),
           "the zoomed frame's label was not re-fitted: %r"
           % r["zoomed_text"])

    # Reset.
    expect(close(r["reset"]["x"], r["before"]["x"]) and
           close(r["reset"]["w"], r["before"]["w"]),
           "reset left %r at %r, it was %r"
           % (t["label"], r["reset"], r["before"]))
    expect(r["reset_text"] == r["text_before"],
           "reset did not restore the label text")
    expect(r["hidden_after_reset"] == 0,
           "%d frames are still hidden after reset"
           % r["hidden_after_reset"])
    expect(r["unzoom_hidden_after"], "'Reset zoom' is shown after reset")

    # Search.
    expect(re.match(r"^Matched: \d+\.\d\d%$", r["matched_text"]) is not None,
           "searching %r shows %r, not 'Matched: P%%'"
           % (r["search_pattern"], r["matched_text"]))
    expect(t["label"] in r["matches"],
           "searching %r did not highlight %r (matches: %r)"
           % (r["search_pattern"], t["label"], r["matches"][:5]))
    pct = float(r["matched_text"].split()[1].rstrip("%"))
    own = float(m.group("pct"))
    expect(pct + 0.011 >= own,
           "matched %.2f%% is less than the frame's own %.2f%%" % (pct, own))
    plain = r["plain_fill"].replace(" ", "")
    expect(r["match_fill"].replace(" ", "") != plain,
           "the matching frame keeps its colour %s" % plain)
    expect(r["matched_text_cleared"] == "" and r["matches_cleared"] == 0,
           "a second click on Search does not clear the search")
    return r


def check(path):
    """Runs every check on the document at path; raises CheckFailed."""
    root = check_xml(path)
    empty = any(el.get("id") == "sw-empty" for el in root.iter())
    frames = frame_elements(root)
    if empty:
        expect("".join(next(el for el in root.iter()
                            if el.get("id") == "sw-empty").itertext())
               == "No samples", "the empty document does not say No samples")
        expect(not frames, "an empty profile has frames")
    else:
        expect(frames, "the document has no frames and does not say "
                       "'No samples'")
    with tempfile.TemporaryDirectory(prefix="stackwatch-svg-") as tmp:
        colours, nonwhite = check_screenshot(path, root, tmp)
    summary = {"frames": len(frames), "colours": colours,
               "nonwhite": nonwhite}
    if not empty:
        r = check_interactions(path)
        summary["zoomed_on"] = r["target"]["label"]
    return summary


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: check_svg.py FILE.svg", file=sys.stderr)
        return 2
    path = argv[0]
    if not os.path.isfile(path):
        print("check_svg: no such file: %s" % path, file=sys.stderr)
        return 2
    if browser.find_chromium() is None:
        print("check_svg: chromium not found (apt-get install chromium)",
              file=sys.stderr)
        return 2
    try:
        summary = check(path)
    except CheckFailed as exc:
        print("check_svg: FAIL: %s: %s" % (path, exc), file=sys.stderr)
        return 1
    except browser.BrowserError as exc:
        print("check_svg: FAIL: %s: browser: %s" % (path, exc),
              file=sys.stderr)
        return 1
    print("check_svg: OK: %s: %d frames, %d colours, %.1f%% non-white%s"
          % (path, summary["frames"], summary["colours"],
             100 * summary["nonwhite"],
             ", zoomed on %r" % summary["zoomed_on"]
             if "zoomed_on" in summary else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
