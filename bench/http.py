"""What the HTTP endpoint costs the program it serves.

A CPU-bound pure-Python workload (a deep-ish call stack that allocates)
runs for a fixed time in a child, and counts its calls per second, in
alternating rounds (A, B, C... A, B, C...), with:

- the endpoint off;
- the endpoint on, idle (``STACKWATCH_HTTP``; nobody asks anything);
- the endpoint on, scraped: /metrics and /threads fetched once a second
  (what Prometheus and an operator do);
- the endpoint on, profiling: one /profile?rate=1000 request covering
  the whole run (the on-demand sampler at 1 kHz, as ``record -r 1000``);
- continuous profiles at their defaults (``STACKWATCH_PPROF_DIR``: 10 Hz,
  a 1 % budget).

Reported: medians, range, and the ratio to "off" (the target for idle and
scraped: inside the run's noise; continuous: <= 1 % of one core).

``--server``: the same settings around a gevent WSGI server (a handler
that computes a little and answers 200) instead: busy, under ``wrk``
(``-t1 -c20``, from Debian's ``wrk`` package) for the round's seconds,
reporting requests per second; then idle for as long, reporting the
server's own CPU time (ms per second, its threads' schedstat).

    python bench/http.py [--rounds 7] [--seconds 6] [--server]
"""

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import git_commit  # noqa: E402

WORKLOAD = """
import sys, time
print("ready", flush=True)
start = time.perf_counter()

def leaf(n, payload):
    total = 0
    for i in range(n):
        total += len(str(i)) + len(payload)
    return total

def middle(depth, n):
    label = "depth-%d" % depth
    if depth == 0:
        return leaf(n, label)
    return middle(depth - 1, n)

deadline = start + float(sys.argv[1])
calls = 0
while time.perf_counter() < deadline:
    middle(20, 2000)
    calls += 1
print("calls %d in %.6f s" % (calls, time.perf_counter() - start),
      flush=True)
"""

SERVER = """
import socket
import sys
from gevent.pywsgi import WSGIHandler, WSGIServer

class Handler(WSGIHandler):
    # pywsgi sends the head and the body apart: without TCP_NODELAY each
    # keep-alive request waits for a delayed ACK (40 ms), and the server
    # idles at 20 connections / 44 ms = 455 requests/s whatever it does.
    def handle(self):
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return super().handle()

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def app(environ, start_response):
    body = ("%d %s" % (fib(15), environ.get("PATH_INFO", ""))).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

server = WSGIServer(("127.0.0.1", 0), app, log=None, handler_class=Handler)
server.start()
print("ready %d" % server.server_port, flush=True)
server.serve_forever()
"""

SETTINGS = ["off", "idle", "scraped", "profiling", "continuous"]


def get(address, path):
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"GET %s HTTP/1.1\r\n\r\n" % path.encode())
        while s.recv(65536):
            pass


def _env(setting, tmp):
    env = dict(os.environ)
    for name in list(env):
        if name.startswith("STACKWATCH_"):
            del env[name]
    if setting in ("idle", "scraped", "profiling"):
        env["STACKWATCH_HTTP"] = "127.0.0.1:0"
    if setting == "continuous":
        env["STACKWATCH_PPROF_DIR"] = tmp
    return env


def _helper(setting, address, seconds, stop):
    """The thread that uses the endpoint as the setting says, or None."""
    if setting == "scraped":
        def scrape():
            while not stop.wait(1.0):
                try:
                    get(address, "/metrics")
                    get(address, "/threads")
                except OSError:
                    return  # the program has ended
        return threading.Thread(target=scrape)
    if setting == "profiling":
        return threading.Thread(target=get, args=(
            address, "/profile?rate=1000&format=collapsed&seconds=%d"
            % (seconds + 2)))
    return None


def _address(proc, env):
    if "STACKWATCH_HTTP" not in env:
        return None
    line = proc.stderr.readline()
    return re.search(r"serving http://(\S+)/", line).group(1)


def _thread_cpu(pid):
    """{tid: CPU seconds} of the threads of pid alive now (schedstat)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                out[tid] = int(f.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            pass
    return out


def _cpu_between(before, after):
    """CPU seconds used between two _thread_cpu() readings (a thread
    started meanwhile counts from 0; one that ended, until it was last
    seen)."""
    return sum(v - before.get(tid, 0.0) for tid, v in after.items())


def one_server(script, setting, seconds, tmp):
    """(requests/s under wrk, the idle server's CPU ms per s)."""
    env = _env(setting, tmp)
    proc = subprocess.Popen([sys.executable, script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        address = _address(proc, env)
        port = int(proc.stdout.readline().split()[1])
        stop = threading.Event()
        helper = _helper(setting, address, seconds, stop)
        if helper is not None:
            helper.start()
        out = subprocess.run(
            ["wrk", "-t1", "-c20", "-d%ds" % max(1, round(seconds)),
             "http://127.0.0.1:%d/" % port],
            capture_output=True, text=True, timeout=seconds + 60).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        stop.set()
        if helper is not None:
            helper.join(60)
        # Idle: nobody asks anything (a profile request has ended, and
        # its sampler thread with it).
        time.sleep(0.5)
        before, t0 = _thread_cpu(proc.pid), time.monotonic()
        time.sleep(seconds)
        idle = (_cpu_between(before, _thread_cpu(proc.pid)) * 1000
                / (time.monotonic() - t0))
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    return rps, idle


def one(script, setting, seconds, tmp):
    env = _env(setting, tmp)
    proc = subprocess.Popen([sys.executable, script, str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    address = _address(proc, env)
    assert proc.stdout.readline() == "ready\n"
    stop = threading.Event()
    helper = _helper(setting, address, seconds, stop)
    if helper is not None:
        helper.start()
    out, err = proc.communicate(timeout=600)
    stop.set()
    if helper is not None:
        helper.join(60)
    if proc.returncode != 0:
        raise SystemExit("%s: the workload failed: %s" % (setting, err))
    m = re.search(r"calls (\d+) in ([\d.]+) s", out)
    return int(m.group(1)) / float(m.group(2))


def _rounds(program, measure, args):
    """{setting: [measure(script, setting, seconds, dir) per round]}, the
    settings alternating within each round, program written to a file."""
    out = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "program.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent(program))
        profiles = os.path.join(tmp, "profiles")
        os.mkdir(profiles)
        for _ in range(args.rounds):
            for name in SETTINGS:
                out[name].append(measure(script, name, args.seconds,
                                         profiles))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--server", action="store_true",
                    help="a gevent WSGI server under wrk, then idle")
    args = ap.parse_args()
    if args.server:
        return main_server(args)
    rates = _rounds(WORKLOAD, one, args)
    base = statistics.median(rates["off"])
    print("HTTP endpoint cost: CPython %s, commit %s, %d rounds of %g s "
          "(median calls/s; ratio = throughput with / without)"
          % (sys.version.split()[0], git_commit(os.path.dirname(HERE)),
             args.rounds, args.seconds))
    print("| endpoint | calls/s | ratio |")
    print("|---|---|---|")
    for name in SETTINGS:
        med = statistics.median(rates[name])
        print("| %s | %.1f (%.1f-%.1f) | %.3f |" % (
            name, med, min(rates[name]), max(rates[name]), med / base))


def main_server(args):
    import shutil

    if shutil.which("wrk") is None:
        raise SystemExit("bench/http.py --server: wrk is not installed "
                         "(apt-get install wrk)")
    both = _rounds(SERVER, one_server, args)
    rps = {name: [r for r, _ in both[name]] for name in SETTINGS}
    idle = {name: [c for _, c in both[name]] for name in SETTINGS}
    base = statistics.median(rps["off"])
    print("HTTP endpoint cost to a gevent WSGI server: CPython %s, commit "
          "%s, %d rounds of %g s busy (wrk -t1 -c20) then %g s idle "
          "(median; ratio = requests/s with / without)"
          % (sys.version.split()[0], git_commit(os.path.dirname(HERE)),
             args.rounds, args.seconds, args.seconds))
    print("| endpoint | requests/s | ratio | idle server CPU, ms/s |")
    print("|---|---|---|---|")
    for name in SETTINGS:
        med = statistics.median(rps[name])
        print("| %s | %.0f (%.0f-%.0f) | %.3f | %.2f (%.2f-%.2f) |" % (
            name, med, min(rps[name]), max(rps[name]), med / base,
            statistics.median(idle[name]), min(idle[name]),
            max(idle[name])))


if __name__ == "__main__":
    main()
