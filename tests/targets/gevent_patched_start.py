"""stackwatch started in a gevent-patched program: `gevent_patched_start.py
dump|monitor|profile before|after` calls gevent.monkey.patch_all(), and
imports and starts stackwatch (enable_dump(), monitor.start() or a
Profiler) after it ("after") or before it ("before"), then checks that
the feature works and that the program goes on (it used to hang for
good: stackwatch's Python thread had become a greenlet blocked in a
native wait):

- dump: asks `stackwatch dump --locals` of itself (answered by
  stackwatch's service thread with the GIL) and prints the answer;
- monitor: blocks the hub 0.5 s in block_the_hub(); the stall report goes
  to stderr;
- profile: profiles spin() in a greenlet for 0.5 s and prints the
  collapsed stacks.

Prints "end" last. tests/test_gevent_patched.py runs it with a timeout.
"""
import sys
import time

feature, order = sys.argv[1], sys.argv[2]

if order == "after":
    from gevent import monkey

    monkey.patch_all()

import stackwatch  # noqa: E402
import stackwatch.monitor  # noqa: E402


def start():
    if feature == "dump":
        stackwatch.enable_dump()
        return None
    if feature == "monitor":
        stackwatch.monitor.start(max_blocking_time=0.1)
        return None
    prof = stackwatch.Profiler(rate=200)
    prof.start()
    return prof


started = start()

if order == "before":
    from gevent import monkey

    monkey.patch_all()

import gevent  # noqa: E402
import subprocess  # noqa: E402  (gevent's, once patched)


def ask_for_dump():
    out = subprocess.run(
        [sys.executable, "-m", "stackwatch", "dump", "--locals",
         "--timeout", "20", str(__import__("os").getpid())],
        capture_output=True, text=True, timeout=60)
    sys.stdout.write(out.stdout)
    sys.stderr.write(out.stderr)
    print("dump status", out.returncode)


def block_the_hub():
    end = time.perf_counter() + 0.5
    while time.perf_counter() < end:  # no switch: the hub is blocked
        pass


def spin():
    end = time.perf_counter() + 0.5
    n = 0
    while time.perf_counter() < end:
        n += 1
        if n % 1000 == 0:
            gevent.sleep(0)


print("started", flush=True)
if feature == "dump":
    ask_for_dump()
elif feature == "monitor":
    gevent.spawn(block_the_hub).join()
    gevent.sleep(0.3)
    stackwatch.monitor.stop()
else:
    gevent.spawn(spin).join()
    started.stop()
    started.write("-", format="collapsed")
gevent.sleep(0.05)
print("end", flush=True)
