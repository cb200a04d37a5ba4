"""Profiles taken on demand through the HTTP endpoint (issue 16):
/debug/pprof/profile (Go's convention, read by `go tool pprof` straight
from the endpoint) and /profile?format=..., taken by the on-demand
sampler while the program holds the GIL in a long C call, or while it
records its own profile; a second request meanwhile gets 409; bad
parameters 400; a client that leaves ends its profile."""

import calendar
import gzip
import json
import os
import re
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import child_env, line_of, stackwatch_cmd, target_cmd, \
    target_path, wait_for
from helpers import browser, check_svg
from helpers.gopprof import needs_go, pprof
from helpers.httpget import connect, get, raw
from test_http import Child, metric

STUCK = os.path.join(os.path.dirname(__file__), "helpers", "stuck.py")


@pytest.fixture(scope="module")
def stuck():
    c = Child(target_cmd("http_stuck"), env=child_env())
    address = c.ready()
    wait_for(lambda: b"stuck_in_c" in get(address, "/threads")[2])
    yield address
    assert c.proc.poll() is None, "the served program died"
    c.kill()


def samples_taken(address):
    return metric(get(address, "/metrics")[2].decode(),
                  "stackwatch_sampler_samples_total")


@needs_go
def test_go_tool_pprof_reads_the_live_endpoint(stuck, tmp_path):
    top = pprof(tmp_path, "-top",
                "http://%s/debug/pprof/profile?seconds=1&rate=200" % stuck)
    assert re.search(r"\s+stuck_in_c\s*$", top, re.M), top
    assert "match" in top


@needs_go
def test_its_totals_equal_the_samples_taken(stuck, tmp_path):
    before = samples_taken(stuck)
    status, headers, body = get(
        stuck, "/debug/pprof/profile?seconds=1&rate=100")
    after = samples_taken(stuck)
    assert status == 200
    assert headers["content-type"] == "application/octet-stream"
    path = tmp_path / "live.pb.gz"
    path.write_bytes(body)
    top = pprof(tmp_path, "-sample_index=samples", "-top", str(path))
    m = re.search(r"of (\d+) total", top)
    assert m and int(m.group(1)) == after - before > 50, (top, before, after)
    raw = pprof(tmp_path, "-raw", str(path))
    # Each location is the line running, its function starting at its
    # def line (co_firstlineno, read with the frame).
    assert "stuck_in_c %s:%d s=%d" % (STUCK, line_of(STUCK, "stuck-call"),
                                      line_of(STUCK, "def-stuck-in-c")) in raw
    assert re.search(r" <module> %s:\d+ s=1\b" % re.escape(
        target_path("http_stuck")), raw), raw


@needs_go
def test_the_fields_a_pulling_server_reads(stuck, tmp_path):
    """What Pyroscope (Alloy's pyroscope.scrape) and Parca read from a
    pulled profile, checked with `go tool pprof -raw`: neither server can
    be installed here.  They GET /debug/pprof/profile?seconds=N (N about
    their scrape interval) with headers of their own, want 200 and a
    gzip-compressed profile.proto, and name the series after its sample
    types and period type; they place it in time by time_nanos and
    duration_nanos, and scale by period."""
    seconds, rate = 2, 100
    request = ("GET /debug/pprof/profile?seconds=%d&rate=%d HTTP/1.1\r\n"
               "Host: %s\r\nUser-Agent: scraper-like/1.0\r\n"
               "Accept: application/octet-stream, */*\r\n"
               "Accept-Encoding: gzip\r\n"
               "X-Prometheus-Scrape-Timeout-Seconds: 15\r\n"
               "Connection: close\r\n\r\n" % (seconds, rate, stuck))
    before = time.time()
    answer = raw(stuck, request.encode(), timeout=60)
    after = time.time()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    # The body is the gzip stream itself (no Content-Encoding: a client
    # that asked for gzip must not unpack it and find no gzip inside).
    assert b"content-encoding" not in head.lower(), head
    assert body[:2] == b"\x1f\x8b"
    gzip.decompress(body)  # CRC and length checked
    path = tmp_path / "pulled.pb.gz"
    path.write_bytes(body)
    raw_text = pprof(tmp_path, "-raw", str(path))
    assert "PeriodType: wall nanoseconds\n" in raw_text
    assert "samples/count wall/nanoseconds[dflt]" in raw_text
    period = int(re.search(r"^Period: (\d+)$", raw_text, re.M).group(1))
    assert 0.5e9 / rate < period < 2e9 / rate, raw_text
    # time_nanos: when it started (pprof prints it in UTC); duration_nanos:
    # the time sampled.
    m = re.search(r"^Time: (\d+-\d+-\d+ \d+:\d+:\d+)(\.\d+)? \+0000 UTC$",
                  raw_text, re.M)
    started = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
    assert before - 1 <= started <= after, (before, raw_text)
    duration = float(re.search(r"^Duration: ([\d.]+)", raw_text,
                               re.M).group(1))
    assert seconds - 0.1 <= duration <= seconds + 1, raw_text
    # Samples: count and wall per stack, the wall adding up to about the
    # time sampled (one thread, one sample per period).
    walls = [int(w) for w in re.findall(r"^\s+\d+\s+(\d+):", raw_text,
                                        re.M)]
    assert walls and 0.5 * seconds * 1e9 < sum(walls) < 1.5 * seconds * 1e9


def test_a_second_request_meanwhile_gets_409(stuck):
    first = {}

    def take():
        first["answer"] = get(stuck, "/profile?seconds=2&format=collapsed",
                              timeout=60)

    t = threading.Thread(target=take)
    t.start()
    try:
        # The first is being taken (the program itself samples nothing).
        wait_for(lambda: metric(get(stuck, "/metrics")[2].decode(),
                                "stackwatch_sampler_running") == 1)
        status, _, body = get(stuck, "/debug/pprof/profile?seconds=1")
        assert status == 409 and b"busy" in body
        # Other endpoints are served meanwhile.
        assert get(stuck, "/threads")[0] == 200
    finally:
        t.join(60)
    status, _, body = first["answer"]
    assert status == 200 and b"stuck_in_c (stuck.py:" in body


@pytest.mark.parametrize("query", [
    "seconds=0", "seconds=-1", "seconds=601", "seconds=abc", "seconds=1.5",
    "seconds=", "rate=0", "rate=1001", "rate=fast", "format=pdf",
    "threads=2", "greenlets=yes", "colour=red",
])
def test_bad_parameters_get_400(stuck, query):
    status, _, body = get(stuck, "/profile?" + query)
    assert status == 400, body
    assert body.strip()  # says what is wrong
    if not query.startswith(("format", "threads", "greenlets")):
        assert get(stuck, "/debug/pprof/profile?" + query)[0] == 400


def test_every_format(stuck, tmp_path):
    status, headers, body = get(stuck, "/profile?seconds=1&format=collapsed"
                                "&threads=1")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    line = body.decode().strip().splitlines()[0]
    assert line.startswith("MainThread (tid ") and "stuck_in_c" in line
    status, headers, body = get(stuck, "/profile?seconds=1&format=speedscope")
    assert status == 200 and headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert any(f["name"] == "stuck_in_c" for f in doc["shared"]["frames"])
    status, headers, body = get(stuck, "/profile?seconds=1&format=pprof")
    assert status == 200 and body[:2] == b"\x1f\x8b"
    status, headers, body = get(stuck, "/profile?seconds=1")
    assert status == 200 and headers["content-type"] == "image/svg+xml"
    path = tmp_path / "live.svg"
    path.write_bytes(body)
    root = ET.fromstring(body)
    assert "stuck_in_c" in "".join(root.itertext())
    if browser.find_chromium() is not None:
        check_svg.check(str(path))  # opened in headless Chromium


def test_a_client_that_leaves_ends_its_profile(stuck):
    s = connect(stuck)
    s.sendall(b"GET /profile?seconds=600 HTTP/1.1\r\n\r\n")
    time.sleep(0.5)
    assert get(stuck, "/profile?seconds=1")[0] == 409
    s.close()
    status = wait_for(lambda: (lambda st: st if st != 409 else None)(
        get(stuck, "/profile?seconds=1&format=collapsed")[0]), timeout=10)
    assert status == 200


def test_while_the_program_records_its_own_profile(tmp_path):
    out = tmp_path / "own.txt"
    c = Child(stackwatch_cmd("record", "-r", "50", "-f", "collapsed", "-o",
                             str(out), "--http", "127.0.0.1:0",
                             target_path("http_sleeper"), "3"),
              env=child_env())
    try:
        address = c.serving()
        assert c.line() == "ready\n"
        status, _, body = get(address, "/profile?seconds=1&rate=500"
                              "&format=collapsed", timeout=60)
        assert status == 200 and b"sleeper_wait" in body
        # 500 Hz for 1 s, not the program's 50 Hz.
        n = sum(int(line.rsplit(" ", 1)[1])
                for line in body.decode().splitlines())
        assert n > 150, n
        c.proc.wait(60)
    finally:
        c.kill()
    assert c.proc.returncode == 0
    own = out.read_text()
    total = sum(int(line.rsplit(" ", 1)[1]) for line in own.splitlines())
    assert "sleeper_wait" in own and total < 300, total  # its own rate
