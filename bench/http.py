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
scraped: inside the run's noise; continuous: <= 1 % of one core). The
busy gevent WSGI server under load of the issue is not measured here yet.

    python bench/http.py [--rounds 7] [--seconds 6]
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

SETTINGS = ["off", "idle", "scraped", "profiling", "continuous"]


def get(address, path):
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"GET %s HTTP/1.1\r\n\r\n" % path.encode())
        while s.recv(65536):
            pass


def one(script, setting, seconds, tmp):
    env = dict(os.environ)
    for name in list(env):
        if name.startswith("STACKWATCH_"):
            del env[name]
    if setting in ("idle", "scraped", "profiling"):
        env["STACKWATCH_HTTP"] = "127.0.0.1:0"
    if setting == "continuous":
        env["STACKWATCH_PPROF_DIR"] = tmp
    proc = subprocess.Popen([sys.executable, script, str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    address = None
    if "STACKWATCH_HTTP" in env:
        line = proc.stderr.readline()
        address = re.search(r"serving http://(\S+)/", line).group(1)
    assert proc.stdout.readline() == "ready\n"
    stop = threading.Event()
    helper = None
    if setting == "scraped":
        def scrape():
            while not stop.wait(1.0):
                try:
                    get(address, "/metrics")
                    get(address, "/threads")
                except OSError:
                    return  # the workload has ended
        helper = threading.Thread(target=scrape)
    elif setting == "profiling":
        helper = threading.Thread(target=get, args=(
            address, "/profile?rate=1000&format=collapsed&seconds=%d"
            % (seconds + 2)))
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args()
    rates = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "work.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent(WORKLOAD))
        profiles = os.path.join(tmp, "profiles")
        os.mkdir(profiles)
        for _ in range(args.rounds):
            for name in SETTINGS:
                rates[name].append(one(script, name, args.seconds,
                                       profiles))
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


if __name__ == "__main__":
    main()
