"""Every output format, from a real profile, checked by a real consumer:
speedscope against the file format's schema, collapsed stacks parsed back
to the same totals, the SVG flame graph parsed as XML and driven in
headless Chromium."""

import collections
import json
import os

import pytest

from conftest import HERE, line_with, run_target, target_path
from helpers import browser, check_svg

@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    out = tmp_path_factory.mktemp("formats")
    proc = run_target("formats_profile", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def frame_label(f):
    name, file, line = f
    return "%s (%s:%d)" % (name, file, line) if line >= 0 else (
        "%s (%s)" % (name, file))


def test_speedscope_matches_the_schema_and_the_samples(profile):
    jsonschema = pytest.importorskip("jsonschema")
    out, data = profile
    with open(os.path.join(HERE, "data", "speedscope.schema.json")) as f:
        schema = json.load(f)
    with open(out / "p.json") as f:
        doc = json.load(f)
    jsonschema.validate(doc, schema)
    frames = doc["shared"]["frames"]
    # One profile per thread (threads=True), named after the thread.
    names = {p["name"] for p in doc["profiles"]}
    assert any(n.startswith("busy-1") for n in names), names
    assert any(n.startswith("MainThread") for n in names), names
    for prof in doc["profiles"]:
        assert len(prof["samples"]) == len(prof["weights"])
        assert prof["unit"] == "nanoseconds"
        assert prof["endValue"] == sum(prof["weights"])
        for stack in prof["samples"]:
            assert all(0 <= i < len(frames) for i in stack)
    # Weights are the wall time of the samples, per thread.
    want = collections.Counter()
    for row in data["rows"]:
        want[row["thread"]] += row["wall"]
    for prof in doc["profiles"]:
        thread = [t for t in want if prof["name"].startswith(t)]
        assert len(thread) == 1
        assert prof["endValue"] / 1e9 == pytest.approx(want[thread[0]],
                                                      rel=1e-6)
    # The hot function is a frame with its file and line.
    spin = [f for f in frames if f["name"] == "spin"]
    path = target_path("formats_profile")
    first = line_with(path, "def spin(n):")
    assert spin and all(f["file"] == path and first < f["line"] <= first + 3
                        for f in spin), spin


def parse_collapsed(path):
    stacks = collections.Counter()
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            assert stack and count.isdigit(), line
            stacks[stack] += int(count)
    return stacks


def test_collapsed_parses_back_to_the_same_totals(profile):
    out, data = profile
    stacks = parse_collapsed(out / "p.txt")
    assert sum(stacks.values()) == data["stats"]["samples"]
    # Each line is thread;frame;frame... root first, as the samples say.
    want = collections.Counter()
    for row in data["rows"]:
        thread = "%s (tid %d)" % (row["thread"], row["tid"])
        key = ";".join([thread] + [frame_label(f) for f in row["shown"]])
        want[key] += row["count"]
    assert stacks == want
    # Without the thread split, identical stacks of different threads
    # merge, and the total is unchanged.
    flat = parse_collapsed(out / "flat.txt")
    assert sum(flat.values()) == data["stats"]["samples"]
    assert len(flat) <= len(stacks)
    assert all(not k.startswith(("MainThread", "busy-1")) for k in flat)


def test_collapsed_lines_are_distinct_and_sorted(profile):
    out, _ = profile
    with open(out / "p.txt") as f:
        keys = [line.rpartition(" ")[0] for line in f]
    assert len(keys) == len(set(keys))
    assert keys == sorted(keys, key=lambda k: k.encode())


def test_svg_is_xml_and_works_in_chromium(profile):
    out, data = profile
    root = check_svg.check_xml(str(out / "p.svg"))
    text = "".join(root.itertext())
    assert "busy-1" in text and "MainThread" in text
    if browser.find_chromium() is None:
        pytest.skip("Debian's chromium is not installed (make test installs "
                    "it when run as root)")
    check_svg.check(str(out / "p.svg"))


def test_svg_screenshot_is_not_blank(profile, tmp_path):
    out, _ = profile
    if browser.find_chromium() is None:
        pytest.skip("Debian's chromium is not installed")
    png = str(tmp_path / "shot.png")
    browser.screenshot(str(out / "p.svg"), png)
    colors, inked = browser.png_colors(png)
    assert colors > 10
    assert inked > 0.05


def test_empty_profile_writes_valid_documents(tmp_path):
    proc = run_target("formats_empty", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "empty.speedscope") as f:
        doc = json.load(f)
    assert doc["profiles"] == []
    # An empty document still is a speedscope document.
    assert doc["$schema"].endswith("schema.json"), doc
    assert (tmp_path / "empty.collapsed").read_text() == ""
    root = check_svg.check_xml(str(tmp_path / "empty.svg"))
    assert "No samples" in "".join(root.itertext())
