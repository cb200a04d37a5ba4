"""The HTTP endpoint (issue 16): /threads and /metrics served by a native
thread while the program holds the GIL in a long C call; /metrics read by
promtool and by a real Prometheus; serve(), STACKWATCH_HTTP and --http."""

import json
import re
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from conftest import (child_env, line_of, stackwatch_cmd, target_cmd,
                      target_path, wait_for)
from helpers.httpget import get, serving_address, timed_get

STUCK = os.path.join(os.path.dirname(__file__), "helpers", "stuck.py")


class Child:
    """A child process; killed at the end of the test."""

    def __init__(self, cmd, env=None, stdin=False):
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            env=env or child_env())

    def line(self, stream="stdout"):
        line = getattr(self.proc, stream).readline()
        assert line, "the child ended: %s" % self.proc.stderr.read()
        return line

    def ready(self):
        """The address from "ready ADDRESS"."""
        words = self.line().split()
        assert words[0] == "ready", words
        return words[1]

    def serving(self):
        """The address from stderr's "serving" line."""
        line = self.line("stderr")
        address = serving_address(line)
        assert address, line
        return address

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=30)


@pytest.fixture
def child():
    made = []

    def start(cmd, **kw):
        c = Child(cmd, **kw)
        made.append(c)
        return c

    yield start
    for c in made:
        c.kill()


def metric(text, name):
    """The value of the sample `name` (with its labels) in /metrics."""
    for line in text.splitlines():
        if line.split(" ")[0] == name:
            return float(line.split(" ")[1])
    raise AssertionError("%s not in /metrics:\n%s" % (name, text))


def test_a_stuck_program_answers_threads_and_metrics_at_once(child):
    c = child(target_cmd("http_stuck"))
    address = c.ready()
    time.sleep(0.3)  # well inside stuck_in_c
    times = []
    for _ in range(5):
        took, status, body = timed_get(address, "/threads")
        assert status == 200
        text = body.decode()
        assert "stuck_in_c (stuck.py:%d)" % line_of(STUCK, "stuck-call") \
            in text, text
        assert "holds the GIL" in text
        times.append(took)
        took, status, body = timed_get(address, "/metrics")
        assert status == 200
        assert metric(body.decode(), "stackwatch_python_threads") >= 1
        times.append(took)
    assert min(times) < 0.1, times
    status, headers, body = get(address, "/threads?format=json")
    assert status == 200 and headers["content-type"] == "application/json"
    doc = json.loads(body)
    stuck = [t for t in doc["stacks"]["threads"] if t["holds_gil"]]
    # (re.match is re.prefixmatch from 3.15 on)
    assert [f["name"] for f in stuck[0]["frames"]][:2] in (
        ["match", "stuck_in_c"], ["prefixmatch", "stuck_in_c"])
    assert c.proc.poll() is None  # still stuck


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool is not installed")
def test_promtool_accepts_metrics(child):
    c = child(target_cmd("http_stuck"))
    address = c.ready()
    status, headers, body = get(address, "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    check = subprocess.run(["promtool", "check", "metrics"], input=body,
                           capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    text = body.decode()
    assert "# TYPE stackwatch_watchdog_stall_duration_seconds histogram" \
        in text
    assert metric(text, "stackwatch_process_resident_memory_bytes") > 1e6


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _query(prom, expr):
    url = "http://%s/api/v1/query?%s" % (
        prom, urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.load(r)
    assert doc["status"] == "success", doc
    return [float(v["value"][1]) for v in doc["data"]["result"]]


def _wait_query(prom, expr, want, timeout=60):
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = _query(prom, expr)
        except OSError:
            seen = "not up"
        if seen == want:
            return
        time.sleep(0.5)
    raise AssertionError("%s: %r, not %r" % (expr, seen, want))


@pytest.mark.skipif(shutil.which("prometheus") is None,
                    reason="prometheus is not installed")
def test_prometheus_scrapes_a_stall_counter_that_goes_up(child, tmp_path):
    c = child(target_cmd("http_stall_on_demand"), stdin=True)
    address = c.ready()
    prom = "127.0.0.1:%d" % _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: stackwatch\n"
        "    static_configs:\n      - targets: ['%s']\n" % address)
    child(["prometheus", "--config.file=%s" % config,
           "--storage.tsdb.path=%s" % (tmp_path / "data"),
           "--web.listen-address=%s" % prom])
    expr = 'stackwatch_watchdog_stalls_total{kind="deadline"}'
    _wait_query(prom, "up", [1.0])
    _wait_query(prom, expr, [0.0])
    c.proc.stdin.write("stall\n")
    c.proc.stdin.flush()
    assert c.line() == "stalled\n"
    _wait_query(prom, expr, [1.0])
    _wait_query(prom, "stackwatch_watchdog_stall_duration_seconds_count",
                [1.0])
    # What Prometheus holds is what the endpoint says.
    status, _, body = get(address, "/metrics")
    assert metric(body.decode(), expr) == 1.0


def test_record_http_serves_the_samplers_metrics(child):
    c = child(stackwatch_cmd("record", "-o", os.devnull, "-f", "collapsed",
                             "--http", "127.0.0.1:0",
                             target_path("http_sleeper")))
    address = c.serving()
    assert c.line() == "ready\n"
    time.sleep(0.5)
    status, _, body = get(address, "/metrics")
    text = body.decode()
    assert metric(text, "stackwatch_sampler_running") == 1
    assert metric(text, "stackwatch_sampler_samples_total") > 0
    label = "sleeper_wait (http_sleeper.py:%d)" % line_of("http_sleeper",
                                                          "http-sleep")
    wait_for(lambda: label in get(address, "/threads")[2].decode())


def test_run_http_on_a_unix_socket(child, tmp_path):
    path = str(tmp_path / "sw.sock")
    c = child(stackwatch_cmd("run", "--http", "unix:" + path,
                             target_path("http_sleeper")))
    assert c.serving() == "unix:" + path
    assert c.line() == "ready\n"
    assert os.stat(path).st_mode & 0o777 == 0o600
    wait_for(lambda: b"sleeper_wait" in get("unix:" + path, "/threads")[2])


def test_stackwatch_http_starts_it_in_any_program(child):
    c = child([sys.executable, target_path("http_sleeper")],
              env=child_env(STACKWATCH_HTTP="127.0.0.1:0"))
    address = c.serving()
    assert c.line() == "ready\n"
    wait_for(lambda: b"sleeper_wait" in get(address, "/threads")[2])


@pytest.mark.parametrize("address, why", [
    ("0.0.0.0:0", "is not loopback: serving it needs a token"),
    ("127.0.0.1:99999", "the port must be a number from 0 to 65535"),
    ("unix:relative", "a unix socket needs an absolute path"),
    ("[::1:0", "is not [HOST]:PORT"),
])
def test_a_refused_address_is_one_line_and_status_2(address, why):
    proc = subprocess.run(
        stackwatch_cmd("run", "--http", address, target_path("http_sleeper"),
                       "0"), capture_output=True, text=True,
        env=child_env(), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and why in proc.stderr, proc.stderr
    assert "ready" not in proc.stdout  # the target never ran


def test_a_port_in_use_is_one_line():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        proc = subprocess.run(
            stackwatch_cmd("record", "-o", os.devnull, "--http",
                           "127.0.0.1:%d" % port,
                           target_path("http_sleeper"), "0"),
            capture_output=True, text=True, env=child_env(), timeout=60)
    finally:
        s.close()
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "Address already in use" in proc.stderr


def test_a_non_loopback_address_with_a_token(child):
    c = child(stackwatch_cmd("run", "--http", "0.0.0.0:0",
                             target_path("http_sleeper")),
              env=child_env(STACKWATCH_HTTP_TOKEN="s3cret-token"))
    address = c.serving()
    port = address.rpartition(":")[2]
    assert c.line() == "ready\n"
    status, headers, _ = get("127.0.0.1:" + port, "/threads")
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    status, _, _ = get("127.0.0.1:" + port, "/threads", token="s3cret-tokeN")
    assert status == 401
    wait_for(lambda: get("127.0.0.1:" + port, "/threads",
                         token="s3cret-token")[2].count(b"sleeper_wait"))


def test_runinfo_gives_the_greenlet_tree_then_says_the_gil_was_not_had(
        child):
    c = child(target_cmd("http_runinfo"), stdin=True)
    address = c.ready()
    status, headers, body = get(address, "/runinfo")
    text = body.decode()
    assert status == 200, text
    assert text.count("park_here") >= 2, text
    assert "hunter2" not in text and "api_token" not in text  # no locals
    status, headers, body = get(address, "/runinfo?format=json")
    doc = json.loads(body)
    assert doc["gil_answered"] is True and doc["run_info"] is not None
    c.proc.stdin.write("stuck\n")
    c.proc.stdin.flush()
    wait_for(lambda: b"stuck_in_c" in get(address, "/threads")[2])
    t = time.monotonic()
    status, headers, body = get(address, "/runinfo")
    took = time.monotonic() - t
    text = body.decode()
    assert status == 200
    assert "stuck_in_c (stuck.py:%d)" % line_of(STUCK, "stuck-call") in text
    assert "the GIL was not released within 0.5 s" in text, text
    assert took < 5, took  # the bound (0.5 s) and no more, give or take
    status, headers, body = get(address, "/runinfo?format=json")
    assert json.loads(body)["gil_answered"] is False
    # Other endpoints are not held up meanwhile.
    assert get(address, "/metrics")[0] == 200


def test_runinfo_locals_only_when_served_with_them(child):
    c = child(target_cmd("http_runinfo", "locals"), stdin=True)
    address = c.ready()
    status, _, body = get(address, "/runinfo")
    text = body.decode()
    assert status == 200 and "api_token" in text, text
    assert "hunter2" not in text  # redacted as elsewhere


def test_the_pprof_index_and_the_root_page(child, tmp_path):
    c = child(target_cmd("http_stuck"))
    address = c.ready()
    for path in ("/", "/debug/pprof/", "/debug/pprof"):
        status, headers, body = get(address, path)
        assert status == 200 and headers["content-type"].startswith(
            "text/html"), path
        assert b"profile?seconds=" in body
        # Every link leads to an endpoint that answers (profiles are
        # test_http_profile's: only their 409-free start is not taken).
        for href in re.findall(rb'href="([^"]+)"', body):
            url = urllib.parse.urljoin("http://%s%s" % (address, path),
                                       href.decode().replace("&amp;", "&"))
            target = url.split(address, 1)[1]
            if "profile" not in target:
                assert get(address, target)[0] == 200, (path, target)
            else:
                assert target.split("?")[0] in ("/profile",
                                                "/debug/pprof/profile")
    from helpers import browser

    if browser.find_chromium() is None:
        return
    # Opened in headless Chromium: it renders (text on a white page).
    page = tmp_path / "index.html"
    page.write_bytes(get(address, "/debug/pprof/")[2])
    png = browser.screenshot(str(page), str(tmp_path / "index.png"),
                             width=800, height=400)
    colours, nonwhite = browser.png_colors(png)
    assert colours > 1 and nonwhite > 0.001, (colours, nonwhite)


def test_a_stale_unix_socket_is_replaced_a_live_one_or_a_file_is_not(
        child, tmp_path):
    # A socket file left by a process that died (nobody listens).
    path = str(tmp_path / "stale.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()
    c = child(stackwatch_cmd("run", "--http", "unix:" + path,
                             target_path("http_sleeper")))
    assert c.serving() == "unix:" + path
    assert c.line() == "ready\n"
    assert get("unix:" + path, "/metrics")[0] == 200
    # That one is alive now: a second process is refused, in one line.
    proc = subprocess.run(
        stackwatch_cmd("run", "--http", "unix:" + path,
                       target_path("http_sleeper"), "0"),
        capture_output=True, text=True, env=child_env(), timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, \
        proc.stderr
    assert "Address already in use" in proc.stderr
    # A regular file is never removed.
    other = tmp_path / "file"
    other.write_text("keep me")
    proc = subprocess.run(
        stackwatch_cmd("run", "--http", "unix:%s" % other,
                       target_path("http_sleeper"), "0"),
        capture_output=True, text=True, env=child_env(), timeout=60)
    assert proc.returncode == 2 and other.read_text() == "keep me"


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool is not installed")
@pytest.mark.parametrize("greenlets", [False, True])
def test_metrics_show_live_bytes_by_thread_while_profiling(child, tmp_path,
                                                           greenlets):
    if greenlets:
        pytest.importorskip("greenlet")
    # With greenlets, big's bytes are counted for the greenlet that made
    # them: still big's.
    c = child(target_cmd("http_mem_threads", tmp_path,
                         *(["greenlets"] if greenlets else [])))
    words = c.line().split()
    assert words[0] == "ready", words
    address, big = words[1], words[2]
    status, headers, body = get(address, "/metrics")
    assert status == 200
    check = subprocess.run(["promtool", "check", "metrics"], input=body,
                           capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    text = body.decode()
    assert "# TYPE stackwatch_memory_thread_live_bytes gauge" in text
    name = "stackwatch_memory_thread_live_bytes"
    # big holds 64 MiB of its own; the main thread far less.
    live = metric(text, '%s{thread="%s"}' % (name, big))
    assert 64 << 20 <= live < 80 << 20, text
    main = metric(text, '%s{thread="%d"}' % (name, c.proc.pid))
    assert main < 32 << 20, text
