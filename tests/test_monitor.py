"""The watchdog (stackwatch.monitor, csrc/watchdog.c): stalls of gevent
hubs, asyncio loops and deadline blocks are reported while they happen,
even when the stalled thread holds the GIL; memory crossings, periodic
functions, subscribers, fork, exit, settings, assert_switches and the
report targets.

Every scenario runs in its own child interpreter (real gevent, greenlet
and asyncio, no mocks). The children of the selected tests are all started
at once by the `children` fixture, so that they run in parallel, and each
test then waits for its own. A child writes marker lines ("@@ text") on
stderr, the same pipe as the watchdog's reports: the order of the lines
there is the order in which they were written, so "the report comes before
the marker written right after the call returned" proves the report was
written while the call was still running. Children use the helpers of
tests/helpers/monitor_prelude.py; the parent side is
tests/helpers/monitor_child.py.

The machine running this has 2 cores and other work: timing bounds are
wide, and each one says why.
"""

import json
import os
import re
import stat
import sys
import textwrap

import pytest

import stackwatch
from conftest import UNDER_ASAN, child_env
from helpers.monitor_child import HELPERS, Child, line_of

pytest.importorskip("gevent")

#: How long a child may run before the test fails (a hang must fail the
#: test, not block the run). Every child needs well under 20 s.
CHILD_TIMEOUT = 60.0

#: Frames in stackwatch's own files are left out of reports.
SW_DIR = os.path.dirname(os.path.abspath(stackwatch.__file__)) + os.sep

PRELUDE = "from monitor_prelude import *  # noqa\n"

# ---- the children -----------------------------------------------------------

GEVENT_GIL = """
import gevent

def crunch_in_c(n):
    return sum(range(n))  # crunch-line

N = calibrate(2.2, crunch_in_c)
monitor.start(max_blocking_time=0.1)

def worker():
    gevent.sleep(0.05)
    t0 = time.monotonic()
    crunch_in_c(N)  # worker-line
    took = time.monotonic() - t0
    mark("returned after %.3f s" % took)
    gevent.sleep(0.05)
    return took

g = gevent.spawn(worker)
took = g.get()
wait_for(lambda: of_type("EventLoopUnblocked"), sleep=gevent.sleep)
blocked = of_type("EventLoopBlocked")
result({"took": took, "pid": os.getpid(), "events": all_events(),
        "greenlet_is_worker": bool(blocked) and blocked[0].greenlet is g,
        "loop_is_hub": bool(blocked) and blocked[0].loop is gevent.get_hub()})
"""

ASYNCIO = """
import asyncio

def crunch_in_c(n):
    return sum(range(n))  # aio-crunch

def napping(seconds):
    time.sleep(seconds)  # aio-nap

N = calibrate(1.2, crunch_in_c)
MODE = sys.argv[1]
if MODE == "auto":
    monitor.start(max_blocking_time=0.1, asyncio=True)
else:
    monitor.start(max_blocking_time=0.1)

async def handler():
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    crunch_in_c(N)  # aio-handler-crunch
    took_c = time.monotonic() - t0
    mark("crunch returned after %.3f s" % took_c)
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    napping(0.8)  # aio-handler-nap
    took_nap = time.monotonic() - t0
    mark("nap returned after %.3f s" % took_nap)
    await asyncio.sleep(0.05)
    return took_c, took_nap

async def main():
    if MODE == "watch":
        monitor.watch_asyncio(name="my-loop", max_blocking_time=0.15)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(handler(), name="the-handler")
    took_c, took_nap = await task
    end = time.monotonic() + 20
    while (len(of_type("EventLoopUnblocked")) < 2
           and time.monotonic() < end):
        await asyncio.sleep(0.02)
    blocked = of_type("EventLoopBlocked")
    return {"took_crunch": took_c, "took_nap": took_nap,
            "pid": os.getpid(), "events": all_events(),
            "task_is_handler": [b.task is task for b in blocked],
            "loop_is_ours": [b.loop is loop for b in blocked]}

result(asyncio.run(main()))
"""

DEADLINE = """
def crunch_in_c(n):
    return sum(range(n))  # dl-crunch

def slow_part(n):
    crunch_in_c(n)  # dl-slow-part

@stackwatch.deadline(0.2)
def decorated_slow():
    time.sleep(0.6)  # dl-decorated

@stackwatch.deadline(2.0)
def decorated_fast():
    time.sleep(0.01)

N = calibrate(1.0, crunch_in_c)
out = {}

def in_thread():
    out["running_before"] = monitor.is_running()
    t0 = time.monotonic()
    with stackwatch.deadline(0.2, name="slow-block") as d:
        slow_part(N)
    out["slow_took"] = time.monotonic() - t0
    mark("slow block done")
    out["slow_exceeded"] = d.exceeded
    with stackwatch.deadline(2.0, name="fast-block") as d2:
        time.sleep(0.05)
    out["fast_exceeded"] = d2.exceeded
    decorated_slow()
    mark("decorated_slow done")
    decorated_fast()
    out["ident"] = threading.get_ident()
    out["native_id"] = threading.get_native_id()

t = threading.Thread(target=in_thread, name="worker-thread")
t.start()
t.join()
wait_for(lambda: len(of_type("DeadlineFinished")) >= 2)
time.sleep(0.3)  # anything else would show up by now
out["events"] = all_events()
result(out)
"""

SWITCHING = """
import gevent

SECONDS = 5.0
#: Round trips through the hub per second, all greenlets together: a
#: greenlet ahead of the pace sleeps 1 ms, so that the hub also waits in
#: epoll in between, as in a real server.
PACE = 15_000
monitor.start(max_blocking_time=0.1)
total = [0]
t0 = time.monotonic()
#: The end of the last round trip, and the gaps of more than 0.1 s
#: between two (the process starved by the machine, the GIL taken by
#: another thread...): real stalls, which the monitor may report.
last = [t0]
gaps = []

def spinner():
    end = t0 + SECONDS
    while True:
        now = time.monotonic()
        if now - last[0] > 0.1:
            gaps.append(now - last[0])
        last[0] = now
        if now >= end:
            break
        if total[0] > PACE * (now - t0):
            gevent.sleep(0.001)
        else:
            gevent.sleep(0)
            total[0] += 1

gevent.joinall([gevent.spawn(spinner) for i in range(6)])
elapsed = time.monotonic() - t0
rate = total[0] / elapsed
print("round trips through the hub: %.0f per second" % rate, flush=True)
watches = monitor.stats()["watches"]
events_during = all_events()
mark("switching done")

# The control: the same monitor does report a real stall.
def control_stall():
    time.sleep(0.4)  # sw-control

gevent.spawn(control_stall).join()
wait_for(lambda: of_type("EventLoopUnblocked"), sleep=gevent.sleep)
result({"rate": rate, "elapsed": elapsed, "watches": watches, "gaps": gaps,
        "events_during": events_during, "events": all_events()})
"""

MEMORY = """
import gc

SIZE = 160 << 20
base = rss()
limit = base + (64 << 20)
monitor.start(max_blocking_time=None, max_memory_usage=limit,
              memory_monitor_period=0.05)
time.sleep(0.3)
quiet_before = all_events()
buf = bytearray(SIZE)
for i in range(0, SIZE, 4096):
    buf[i] = 1  # every page resident
peak = rss()
exceeded = wait_for(lambda: of_type("MemoryUsageThresholdExceeded"), 10)
time.sleep(0.3)  # a few more samples at the peak
peak = max(peak, rss())
del buf
gc.collect()
after = rss()
under = wait_for(lambda: of_type("MemoryUsageUnderThreshold"), 10)
time.sleep(0.5)  # no more events may come
result({"base": base, "limit": limit, "peak": peak, "after": after,
        "quiet_before": quiet_before, "events": all_events()})
"""

PERIODIC = """
monitor.start(max_blocking_time=None)
calls = []

def tick():
    calls.append((time.monotonic(), threading.current_thread().name))

monitor.add_monitoring_function(tick, 0.1)
t0 = time.monotonic()
time.sleep(1.0)
window = time.monotonic() - t0
in_window = len(calls)
monitor.add_monitoring_function(tick, None)
time.sleep(0.2)  # a call in flight when it was removed ends
after_removal = len(calls)
time.sleep(0.6)
later = len(calls)

failures = []

def always_fails():
    failures.append(threading.current_thread().name)
    raise RuntimeError("periodic-boom %d" % len(failures))

monitor.add_monitoring_function(always_fails, 0.03)
wait_for(lambda: len(failures) >= 10)
time.sleep(0.6)  # 20 more periods: it must not be called again
mark("failures=%d" % len(failures))

flaky_calls = []

def flaky():
    flaky_calls.append(1)
    if len(flaky_calls) % 5:  # fails 4 times out of 5, never 10 in a row
        raise ValueError("flaky-boom")

monitor.add_monitoring_function(flaky, 0.02)
flaky_alive = wait_for(lambda: len(flaky_calls) >= 25)
monitor.add_monitoring_function(flaky, None)
result({"in_window": in_window, "window": window,
        "after_removal": after_removal, "later": later,
        "threads": sorted(set(name for _, name in calls)),
        "failures": failures, "flaky_calls": len(flaky_calls),
        "flaky_alive": flaky_alive, "running": monitor.is_running()})
"""

SUBSCRIBER_ERRORS = """
import gevent

got = []

def bad_subscriber(ev):
    raise RuntimeError("bad-subscriber-boom")

def good_subscriber(ev):
    got.append(type(ev).__name__)

events.subscribe(bad_subscriber)
events.subscribe(good_subscriber)
monitor.start(max_blocking_time=0.1)

def first_stall():
    time.sleep(0.4)  # sub-first

def second_stall():
    time.sleep(0.4)  # sub-second

gevent.spawn(first_stall).join()
wait_for(lambda: len(got) >= 2, sleep=gevent.sleep)
gevent.sleep(0.3)
gevent.spawn(second_stall).join()
wait_for(lambda: len(got) >= 4, sleep=gevent.sleep)
gevent.sleep(0.2)
result({"got": got, "recorded": [type(e).__name__ for e, _ in EVENTS]})
"""

FORK = """
import gevent

monitor.start(max_blocking_time=0.1)
gevent.sleep(0.05)  # the hub runs, and is watched

def child_stall():
    time.sleep(0.4)  # fork-child

def parent_stall():
    time.sleep(0.4)  # fork-parent

parent_pid = os.getpid()
pid = os.fork()
if pid == 0:
    gevent.spawn(child_stall).join()
    wait_for(lambda: of_type("EventLoopUnblocked"), 10, sleep=gevent.sleep)
    mark("child %d running=%s events=%s" % (
        os.getpid(), monitor.is_running(), json.dumps(
            [[type(e).__name__, e.stack[-1].name if getattr(e, "stack", None)
              else None] for e, _ in EVENTS])))
    sys.exit(0)

status = None
end = time.monotonic() + 30
while time.monotonic() < end:  # without blocking the hub
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    gevent.sleep(0.02)
mark("parent saw the child exit")
events_while_child = all_events()
gevent.spawn(parent_stall).join()
wait_for(lambda: of_type("EventLoopUnblocked"), 10, sleep=gevent.sleep)
result({"child_pid": pid, "parent_pid": parent_pid,
        "child_exit": None if status is None
        else os.waitstatus_to_exitcode(status),
        "events_while_child": events_while_child, "events": all_events()})
"""

EXIT_STALLED = """
monitor.start(max_blocking_time=0.1)

def deadline_forever():
    with stackwatch.deadline(0.1, name="never-ends"):
        time.sleep(60)  # exit-deadline

def hub_forever():
    import gevent

    def stuck_greenlet():
        time.sleep(60)  # exit-hub

    gevent.spawn(stuck_greenlet).join()

def tick():
    pass

threading.Thread(target=deadline_forever, daemon=True).start()
threading.Thread(target=hub_forever, daemon=True).start()
monitor.add_monitoring_function(tick, 0.05)
ok = wait_for(lambda: of_type("DeadlineExceeded")
              and of_type("EventLoopBlocked"))
mark("exiting ok=%s" % ok)
"""

EXIT_PERIODIC = """
monitor.start(max_blocking_time=0.1)
calls = []

def slow_tick():
    calls.append(1)
    time.sleep(0.2)

monitor.add_monitoring_function(slow_tick, 0.05)
ok = wait_for(lambda: len(calls) >= 3)
time.sleep(0.1)  # most likely in the middle of a call now
mark("exiting ok=%s" % ok)
"""

EXIT_RIGHT_AFTER_STALL = """
kind = sys.argv[1]
monitor.start(max_blocking_time=0.1)
if kind == "deadline":
    with stackwatch.deadline(0.1, name="ends-at-exit"):
        time.sleep(0.4)
else:
    import gevent

    def ends_at_exit():
        time.sleep(0.4)

    gevent.spawn(ends_at_exit).join()
mark("last line")
"""

RESTART = """
import gevent

def stall_one():
    time.sleep(0.3)

def stall_while_stopped():
    time.sleep(0.3)

def stall_after_restart():
    time.sleep(0.3)

monitor.start(max_blocking_time=0.1)
gevent.spawn(stall_one).join()
wait_for(lambda: of_type("EventLoopUnblocked"), sleep=gevent.sleep)
monitor.stop()
out = {"running_after_stop": monitor.is_running(),
       "settings_after_stop": monitor.settings()}
gevent.spawn(stall_while_stopped).join()
gevent.sleep(0.4)
out["events_while_stopped"] = len(EVENTS) - 2
mark("restarting")
monitor.start(max_blocking_time=0.2)
out["running_after_restart"] = monitor.is_running()
gevent.spawn(stall_after_restart).join()
wait_for(lambda: len(of_type("EventLoopUnblocked")) >= 2, sleep=gevent.sleep)
out["events"] = all_events()
result(out)
"""

BAD_SETTINGS = """
missing, directory = sys.argv[1], sys.argv[2]
cases = {
    "mbt_negative": dict(max_blocking_time=-1),
    "mbt_text": dict(max_blocking_time="abc"),
    "mbt_nan": dict(max_blocking_time=float("nan")),
    "mem_lots": dict(max_memory_usage="lots"),
    "period_zero": dict(memory_monitor_period=0),
    "report_missing_dir": dict(report_to=missing),
    "report_directory": dict(report_to=directory),
}
out = {}
for name, kw in cases.items():
    try:
        monitor.start(**kw)
        out[name] = ["no error", monitor.is_running()]
        monitor.stop()
    except Exception as e:
        out[name] = [type(e).__name__, str(e), monitor.is_running()]
# Nothing was left half started: good settings still work.
monitor.start(max_blocking_time=0.1)
out["good_after"] = monitor.is_running()
# While it runs, bad settings change nothing.
for name, kw in (("running_mbt", dict(max_blocking_time="abc")),
                 ("running_report", dict(max_blocking_time=0.5,
                                         report_to=missing))):
    try:
        monitor.start(**kw)
        out[name] = ["no error"]
    except Exception as e:
        out[name] = [type(e).__name__, str(e), monitor.is_running(),
                     monitor.settings()["max_blocking_time"]]
monitor.stop()
out["stopped"] = not monitor.is_running()
result(out)
"""

BAD_ENV = """
out = {}
try:
    monitor.start()
    out["env"] = ["no error", monitor.is_running()]
except Exception as e:
    out["env"] = [type(e).__name__, str(e), monitor.is_running()]
monitor.start(max_memory_usage="1GB")  # an argument wins over the variable
out["explicit"] = monitor.settings()["max_memory_usage"]
monitor.stop()
# The other variables, read when start() is called.
for var, value in (("STACKWATCH_MAX_BLOCKING_TIME", "abc"),
                   ("STACKWATCH_MEMORY_MONITOR_PERIOD", "0")):
    os.environ[var] = value
    try:
        monitor.start(max_memory_usage=None)
        out[var] = ["no error", monitor.is_running()]
        monitor.stop()
    except Exception as e:
        out[var] = [type(e).__name__, str(e), monitor.is_running()]
    del os.environ[var]
os.environ["STACKWATCH_MAX_MEMORY_USAGE"] = "2GiB"
os.environ["STACKWATCH_MAX_BLOCKING_TIME"] = "0.25"
os.environ["STACKWATCH_MEMORY_MONITOR_PERIOD"] = "0.5"
monitor.start()
st = monitor.settings()
out["from_env"] = [st["max_blocking_time"], st["max_memory_usage"],
                   st["memory_monitor_period"]]
monitor.stop()
result(out)
"""

ASSERT_SWITCHES = """
import gevent
import greenlet
from stackwatch import FailedToSwitch, assert_switches

def outcome(fn):
    try:
        fn()
        return "passed"
    except FailedToSwitch as e:
        return "FailedToSwitch: %s" % e
    except BaseException as e:
        return "%s: %s" % (type(e).__name__, e)

def other_greenlet():
    greenlet.greenlet(lambda: None).switch()  # not the hub

def sleep0():
    with assert_switches():
        gevent.sleep(0)

def empty():
    with assert_switches():
        pass

def blocking():
    with assert_switches(max_blocking_time=0.05):
        time.sleep(0.2)

def blocking_then_switch():
    with assert_switches(max_blocking_time=0.05):
        time.sleep(0.2)
        gevent.sleep(0)

def frequent_switches():
    with assert_switches(max_blocking_time=0.15):
        for _ in range(15):
            time.sleep(0.02)
            gevent.sleep(0)

def hub_only_frequent_hub():
    with assert_switches(max_blocking_time=0.15, hub_only=True):
        for _ in range(15):
            time.sleep(0.02)
            gevent.sleep(0)

def hub_only_other_greenlets():
    with assert_switches(max_blocking_time=0.15, hub_only=True):
        for _ in range(15):
            time.sleep(0.02)
            other_greenlet()

def any_switch_other_greenlets():
    with assert_switches(max_blocking_time=0.15):
        for _ in range(15):
            time.sleep(0.02)
            other_greenlet()

def hub_only_without_time():
    with assert_switches(hub_only=True):
        other_greenlet()

def hub_only_without_time_empty():
    with assert_switches(hub_only=True):
        pass

def nested_inner_empty():
    with assert_switches():
        gevent.sleep(0)
        with assert_switches():
            pass

ERR = KeyError("mine")

def raises_inside():
    with assert_switches():
        raise ERR

def raises_after_blocking():
    with assert_switches(max_blocking_time=0.05):
        time.sleep(0.2)
        raise ValueError("after blocking")

out = {}
for fn in (sleep0, empty, blocking, blocking_then_switch, frequent_switches,
           hub_only_frequent_hub, hub_only_other_greenlets,
           any_switch_other_greenlets, hub_only_without_time,
           hub_only_without_time_empty, nested_inner_empty,
           raises_after_blocking):
    out[fn.__name__] = outcome(fn)
try:
    raises_inside()
    out["raises_inside_same"] = False
except KeyError as e:
    out["raises_inside_same"] = e is ERR
out["is_assertion"] = issubclass(FailedToSwitch, AssertionError)
out["monitor_running"] = monitor.is_running()
result(out)
"""

REPORT_FILE = """
import gevent

new_path, old_path = sys.argv[1], sys.argv[2]
monitor.start(max_blocking_time=0.1, report_to=new_path)

def stall_to_new_file():
    time.sleep(0.3)

def stall_to_old_file():
    time.sleep(0.3)

gevent.spawn(stall_to_new_file).join()
wait_for(lambda: len(of_type("EventLoopUnblocked")) >= 1, sleep=gevent.sleep)
import pathlib
monitor.start(max_blocking_time=0.1, report_to=pathlib.Path(old_path))
gevent.spawn(stall_to_old_file).join()
wait_for(lambda: len(of_type("EventLoopUnblocked")) >= 2, sleep=gevent.sleep)
monitor.stop()
result({"events": all_events()})
"""

REPORT_TARGETS = """
import io
import logging

import gevent

logging.basicConfig(stream=sys.stdout, level=logging.WARNING,
                    format="LOG|%(name)s|%(levelname)s|%(message)s")

def stall_silent():
    time.sleep(0.3)

def stall_logged():
    time.sleep(0.3)

def stall_to_stream():
    time.sleep(0.3)

monitor.start(max_blocking_time=0.1, report_to=None)
gevent.spawn(stall_silent).join()
wait_for(lambda: len(of_type("EventLoopUnblocked")) >= 1, sleep=gevent.sleep)

monitor.start(max_blocking_time=0.1, report_to=None, log=True)
gevent.spawn(stall_logged).join()
wait_for(lambda: len(of_type("EventLoopUnblocked")) >= 2, sleep=gevent.sleep)

stream = io.StringIO()  # no file descriptor: written by the Python side
monitor.start(max_blocking_time=0.1, report_to=stream)
gevent.spawn(stall_to_stream).join()
wait_for(lambda: len(of_type("EventLoopUnblocked")) >= 3, sleep=gevent.sleep)
result({"events": all_events(), "stream": stream.getvalue()})
"""

#: name -> (code, arguments, extra environment); "{tmp}" in an argument is
#: the children's temporary directory.
CHILDREN = {
    "gevent_gil": (GEVENT_GIL, [], {}),
    "asyncio_auto": (ASYNCIO, ["auto"], {}),
    "asyncio_watch": (ASYNCIO, ["watch"], {}),
    "deadline": (DEADLINE, [], {}),
    "switching": (SWITCHING, [], {}),
    "memory": (MEMORY, [], {}),
    "periodic": (PERIODIC, [], {}),
    "subscriber_errors": (SUBSCRIBER_ERRORS, [], {}),
    "fork": (FORK, [], {}),
    "exit_stalled": (EXIT_STALLED, [], {}),
    "exit_periodic": (EXIT_PERIODIC, [], {}),
    "exit_after_deadline": (EXIT_RIGHT_AFTER_STALL, ["deadline"], {}),
    "exit_after_gevent_stall": (EXIT_RIGHT_AFTER_STALL, ["gevent"], {}),
    "restart": (RESTART, [], {}),
    "bad_settings": (BAD_SETTINGS, ["{tmp}/no/such/dir/report.log", "{tmp}"],
                     {}),
    "bad_env": (BAD_ENV, [], {"STACKWATCH_MAX_MEMORY_USAGE": "lots"}),
    "assert_switches": (ASSERT_SWITCHES, [], {}),
    "report_file": (REPORT_FILE, ["{tmp}/new-report.log",
                                  "{tmp}/old-report.log"], {}),
    "report_targets": (REPORT_TARGETS, [], {}),
}

OLD_REPORT_CONTENT = "an existing line\n"


def uses(*names):
    """Marks the children a test needs (started by the fixture)."""
    def mark(fn):
        fn.children = names
        return fn
    return mark


@pytest.fixture(scope="module")
def children(request, tmp_path_factory):
    """Starts the children of every selected test of this module at once;
    closes (kills if needed) all of them at the end."""
    me = sys.modules[__name__]
    wanted = []
    for item in request.session.items:
        if getattr(item, "module", None) is me:
            for name in getattr(getattr(item, "function", None),
                                "children", ()):
                if name not in wanted:
                    wanted.append(name)
    tmp = tmp_path_factory.mktemp("monitor")
    old = tmp / "old-report.log"
    old.write_text(OLD_REPORT_CONTENT)
    old.chmod(0o644)
    env_path = os.pathsep.join(
        [HELPERS] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    started = {}
    try:
        for name in wanted:
            code, args, extra = CHILDREN[name]
            path = tmp / ("%s.py" % name)
            path.write_text(PRELUDE + textwrap.dedent(code))
            env = child_env(PYTHONPATH=env_path, **extra)
            started[name] = Child(name, str(path), env,
                                  [a.replace("{tmp}", str(tmp))
                                   for a in args], cwd=str(tmp))
        started["tmp"] = tmp
        yield started
    finally:
        for name, child in started.items():
            if isinstance(child, Child):
                child.close()


def get(children, name):
    return children[name].finish(CHILD_TIMEOUT)


def one(items, what=""):
    assert len(items) == 1, (what, items)
    return items[0]


def events_of(res, kind, key="events"):
    return [e for e in res[key] if e["type"] == kind]


# ---- 1. gevent: a greenlet stuck in a C call that holds the GIL -----------

@uses("gevent_gil")
def test_gevent_stall_in_gil_holding_c_call_reported_while_it_runs(children):
    c = get(children, "gevent_gil").check_ok()
    res = c.result()
    path = c.path
    crunch_line = line_of(path, "crunch-line")
    worker_line = line_of(path, "worker-line")
    took = res["took"]
    # Calibrated on CPU time to 2.2 s: the wall time cannot be shorter.
    assert took >= 1.5, c.describe()

    entries = c.entries()
    marker = c.mark("returned after")
    blocked = one([e for e in entries
                   if e.kind == "report" and "blocked for" in e.text],
                  c.describe())
    # Written while the call still ran: before the marker in the pipe.
    assert blocked.index < marker.index, c.describe()
    m = re.match(r'gevent hub blocked for (\d+\.\d+) s \(threshold 0\.100 s\)'
                 r' in thread "MainThread" \(tid (\d+)\)$', blocked.text)
    assert m, blocked.full
    # Reported right after the threshold: the monitor polls every 5 ms;
    # 0.5 s of slack for a loaded machine (the call lasts >= 1.5 s).
    assert 0.1 <= float(m.group(1)) < 0.6, blocked.full
    assert int(m.group(2)) == res["pid"]
    assert re.match(r"  running greenlet #\d+", blocked.body[0]), blocked.full
    assert "  The thread holds the GIL." in blocked.body, blocked.full
    frames = blocked.frames()
    assert frames[-1] == 'File "%s", line %d, in crunch_in_c' % (
        path, crunch_line), blocked.full
    assert frames[-2] == 'File "%s", line %d, in worker' % (
        path, worker_line), blocked.full
    # Our own wrappers (the gevent hook) are not shown.
    assert SW_DIR not in "\n".join(frames), blocked.full

    # The "still blocked" update at 1 s came while the call still ran.
    updates = [e for e in entries
               if e.kind == "report" and "still blocked after" in e.text]
    assert updates and blocked.index < updates[0].index < marker.index, \
        c.describe()
    assert re.match(r"gevent hub still blocked after 1\.\d+ s, in crunch_in_c"
                    r" \(%s:%d\)$" % (re.escape(path), crunch_line),
                    updates[0].text), updates[0].text

    unblocked = one([e for e in entries
                     if e.kind == "report" and "unblocked after" in e.text])
    assert unblocked.index > marker.index
    m = re.match(r'gevent hub unblocked after (\d+\.\d+) s in thread '
                 r'"MainThread" \(tid %d\)$' % res["pid"], unblocked.text)
    assert m, unblocked.text
    total = float(m.group(1))
    # The stall runs from the switch into the worker to the switch after
    # the call: the call's duration, give or take the monitor's poll
    # (5 ms) and a delayed monitor thread on a loaded machine (0.3 s).
    assert took - 0.3 <= total <= took + 0.3, (total, took)

    evs = res["events"]
    assert [e["type"] for e in evs] == ["EventLoopBlocked",
                                        "EventLoopUnblocked"], evs
    b, u = evs
    assert b["loop_kind"] == "gevent" and b["holds_gil"] is True
    assert b["max_blocking_time"] == pytest.approx(0.1)
    assert 0.1 <= b["blocking_time"] < 0.6
    assert b["stack"][-1] == ["crunch_in_c", path, crunch_line]
    assert b["stack"][-2] == ["worker", path, worker_line]
    assert b["stack"][0][0] == "worker"  # outermost first (greenlet run)
    assert "worker" in b["label"], b
    assert b["native_id"] == res["pid"]
    assert b["report"].startswith("[stackwatch ") and "crunch_in_c" in \
        b["report"]
    assert res["greenlet_is_worker"] is True
    assert res["loop_is_hub"] is True
    assert u["loop_kind"] == "gevent"
    assert u["duration"] == pytest.approx(total, abs=0.002)
    assert {e["delivered_on"] for e in evs} == {"stackwatch-monitor"}


# ---- 2. asyncio: a loop blocked by synchronous calls ----------------------

@pytest.mark.parametrize("mode", ["auto", "watch"])
@uses("asyncio_auto", "asyncio_watch")
def test_asyncio_stalls_reported_while_they_run(children, mode):
    c = get(children, "asyncio_" + mode).check_ok()
    res = c.result()
    path = c.path
    entries = c.entries()
    crunch_mark = c.mark("crunch returned")
    nap_mark = c.mark("nap returned")
    loop_re = (r"asyncio loop _UnixSelectorEventLoop at 0x[0-9a-f]+"
               if mode == "auto" else r"asyncio loop my-loop")
    # watch_asyncio(max_blocking_time=0.15) wins over start()'s 0.1.
    threshold = 0.1 if mode == "auto" else 0.15
    blocked = [e for e in entries
               if e.kind == "report" and "blocked for" in e.text]
    unblocked = [e for e in entries
                 if e.kind == "report" and "unblocked after" in e.text]
    assert len(blocked) == 2 and len(unblocked) == 2, c.describe()
    # Each report is written during its stall, before the marker written
    # when the call returned; each stall ends after it.
    assert (blocked[0].index < crunch_mark.index < unblocked[0].index
            < blocked[1].index < nap_mark.index < unblocked[1].index), \
        c.describe()
    cases = [
        (blocked[0], unblocked[0], res["took_crunch"], "crunch_in_c",
         "aio-crunch", "aio-handler-crunch", True),
        (blocked[1], unblocked[1], res["took_nap"], "napping", "aio-nap",
         "aio-handler-nap", False),
    ]
    for rep, end, took, fn, fn_tag, handler_tag, holds in cases:
        m = re.match(loop_re + r" blocked for (\d+\.\d+) s \(threshold "
                     r'%.3f s\) in thread "MainThread" \(tid %d\)$'
                     % (threshold, res["pid"]), rep.text)
        assert m, rep.full
        # Right after the threshold; 0.5 s of slack for a loaded machine.
        assert threshold <= float(m.group(1)) < threshold + 0.5, rep.full
        # The task: its name when the GIL side could answer in time (the
        # thread is asleep without the GIL), else its coroutine.
        task_line = rep.body[0]
        if holds:
            assert task_line == ("  running the task of coroutine handler "
                                 "(%s:%d)" % (path, line_of(path,
                                                            handler_tag))), \
                rep.full
        else:
            assert task_line in (
                "  running task the-handler (coroutine handler)",
                "  running the task of coroutine handler (%s:%d)"
                % (path, line_of(path, handler_tag))), rep.full
        assert ("  The thread holds the GIL." if holds else
                "  The thread does not hold the GIL.") in rep.body, rep.full
        frames = rep.frames()
        assert frames[-1] == 'File "%s", line %d, in %s' % (
            path, line_of(path, fn_tag), fn), rep.full
        assert frames[-2] == 'File "%s", line %d, in handler' % (
            path, line_of(path, handler_tag)), rep.full
        assert SW_DIR not in "\n".join(frames), rep.full
        m = re.match(loop_re + r" unblocked after (\d+\.\d+) s in thread "
                     r'"MainThread"', end.text)
        assert m, end.text
        # The stall lasts as long as the call, give or take one heartbeat
        # (5 ms) and a delayed monitor thread on a loaded machine.
        assert took - 0.3 <= float(m.group(1)) <= took + 0.3, (end.text,
                                                                took)
    assert res["took_crunch"] >= 0.8  # 1.2 s of CPU time, calibrated
    evs = res["events"]
    assert [e["type"] for e in evs] == ["EventLoopBlocked",
                                        "EventLoopUnblocked"] * 2, evs
    for ev, fn, holds in ((evs[0], "crunch_in_c", True),
                          (evs[2], "napping", False)):
        assert ev["loop_kind"] == "asyncio"
        assert ev["holds_gil"] is holds
        assert ev["max_blocking_time"] == pytest.approx(threshold)
        assert ev["stack"][-1][0] == fn and ev["stack"][-2][0] == "handler"
        assert ev["label"] in ("coroutine handler",
                               "the-handler (coroutine handler)"), ev
        assert ev["greenlet"] is None
    assert res["task_is_handler"] == [True, True]
    assert res["loop_is_ours"] == [True, True]
    assert {e["delivered_on"] for e in evs} == {"stackwatch-monitor"}


# ---- 3. deadlines in a plain thread -----------------------------------------

@uses("deadline")
def test_deadline_in_a_thread_reported_while_the_block_runs(children):
    c = get(children, "deadline").check_ok()
    res = c.result()
    path = c.path
    # deadline() starts the monitor thread by itself.
    assert res["running_before"] is False
    assert res["slow_exceeded"] is True
    assert res["fast_exceeded"] is False
    entries = c.entries()
    slow_mark = c.mark("slow block done")
    deco_mark = c.mark("decorated_slow done")
    reports = [e for e in entries if e.kind == "report"]
    # Nothing about the blocks that finished in time.
    assert not [e for e in reports if "fast" in e.full], c.describe()

    thread = r'thread "worker-thread" \(tid %d\)$' % res["native_id"]
    slow = one([e for e in reports if "exceeded" in e.text
                and "slow-block" in e.text], c.describe())
    assert slow.index < slow_mark.index, c.describe()
    m = re.match(r'deadline "slow-block" exceeded \(limit 0\.200 s\): still '
                 r'running after (\d+\.\d+) s in ' + thread, slow.text)
    assert m, slow.full
    # Right at the limit; 0.4 s of slack for a loaded machine (the block
    # runs 1 s of CPU).
    assert 0.2 <= float(m.group(1)) < 0.6, slow.full
    assert "  The thread holds the GIL." in slow.body, slow.full
    frames = slow.frames()
    assert frames[-1] == 'File "%s", line %d, in crunch_in_c' % (
        path, line_of(path, "dl-crunch")), slow.full
    assert frames[-2] == 'File "%s", line %d, in slow_part' % (
        path, line_of(path, "dl-slow-part")), slow.full
    fin = one([e for e in reports if "finished" in e.text
               and "slow-block" in e.text], c.describe())
    # (Written when the block ends, so before or after the marker.)
    assert fin.index > slow.index
    m = re.match(r'deadline "slow-block" finished after (\d+\.\d+) s \(limit '
                 r'0\.200 s\) in ' + thread, fin.text)
    assert m, fin.text
    slow_total = float(m.group(1))
    # The block's own duration, give or take the monitor's reaction (the
    # end is signalled at once) on a loaded machine: 0.3 s.
    assert res["slow_took"] >= 0.7  # 1 s of CPU time, calibrated
    assert abs(slow_total - res["slow_took"]) < 0.3, (
        fin.text, res["slow_took"])

    deco = one([e for e in reports if "exceeded" in e.text
                and "decorated_slow" in e.text], c.describe())
    assert slow_mark.index < deco.index < deco_mark.index, c.describe()
    assert re.match(r'deadline "decorated_slow" exceeded \(limit 0\.200 s\)',
                    deco.text), deco.text
    assert "  The thread does not hold the GIL." in deco.body, deco.full
    frames = deco.frames()
    assert frames[-1] == 'File "%s", line %d, in decorated_slow' % (
        path, line_of(path, "dl-decorated")), deco.full
    assert SW_DIR not in "\n".join(frames), deco.full
    deco_fin = one([e for e in reports if "finished" in e.text
                    and "decorated_slow" in e.text], c.describe())
    assert deco_fin.index > deco.index
    m = re.match(r'deadline "decorated_slow" finished after (\d+\.\d+) s',
                 deco_fin.text)
    # time.sleep(0.6): never shorter; 0.4 s of slack on a loaded machine.
    assert m and 0.6 <= float(m.group(1)) < 1.0, deco_fin.text

    evs = res["events"]
    assert [(e["type"], e["name"]) for e in evs] == [
        ("DeadlineExceeded", "slow-block"), ("DeadlineFinished", "slow-block"),
        ("DeadlineExceeded", "decorated_slow"),
        ("DeadlineFinished", "decorated_slow")], evs
    ex = evs[0]
    assert ex["limit"] == pytest.approx(0.2) and 0.2 <= ex["elapsed"] < 0.6
    assert ex["holds_gil"] is True
    assert ex["thread_ident"] == res["ident"]
    assert ex["native_id"] == res["native_id"]
    assert ex["stack"][-1] == ["crunch_in_c", path, line_of(path,
                                                             "dl-crunch")]
    assert ex["stack"][-2][0] == "slow_part"
    assert ex["report"].startswith("[stackwatch ")
    assert 'deadline "slow-block" exceeded' in ex["report"]
    assert ", in crunch_in_c\n" in ex["report"]
    assert evs[1]["duration"] == pytest.approx(slow_total, abs=0.002)
    assert evs[1]["thread_ident"] == res["ident"]
    assert evs[1]["limit"] == pytest.approx(0.2)
    assert evs[2]["holds_gil"] is False
    assert evs[2]["stack"][-1][0] == "decorated_slow"
    assert {e["delivered_on"] for e in evs} == {"stackwatch-monitor"}


# ---- 4. a gevent app that switches a lot is never reported ------------------

@uses("switching")
def test_gevent_switching_10k_per_second_is_not_reported(children):
    c = get(children, "switching").check_ok()
    res = c.result()
    print("child: %.0f round trips through the hub per second"
          % res["rate"])
    # Paced at 15,000 (it can do 30 times more): each round trip is two
    # greenlet switches, into the hub and back.
    assert 10_000 <= res["rate"] <= 16_000, res["rate"]
    assert res["elapsed"] >= 5.0
    assert res["watches"] >= 1  # the hub was watched all along
    # No report unless the greenlets really did not run for 0.1 s (a
    # machine so loaded that it stopped the process that long: then the
    # hub was really blocked). On a quiet machine, gaps is empty.
    print("child: gaps of more than 0.1 s: %r" % res["gaps"])
    assert res["events_during"] == [] or len(res["gaps"]) > 0, res
    blocked = events_of(res, "EventLoopBlocked")
    control = [e for e in blocked if e["stack"][-1][0] == "control_stall"]
    others = [e for e in blocked if e not in control]
    assert len(others) <= len(res["gaps"]), (res["gaps"], others)
    done = c.mark("switching done")
    reports = [r for r in c.reports() if "blocked for" in r.text]
    assert len([r for r in reports if r.index < done.index]) <= len(
        res["gaps"]), c.describe()
    # The control stall afterwards is reported: the monitor was watching.
    assert len(control) == 1, blocked
    one([r for r in reports if r.last_function() == "control_stall"
         and r.index > done.index], c.describe())


# ---- 5. memory --------------------------------------------------------------

@pytest.mark.skipif(UNDER_ASAN,
                    reason="AddressSanitizer's quarantine keeps freed memory "
                           "resident: the RSS never goes back down")
@uses("memory")
def test_memory_threshold_crossings(children):
    c = get(children, "memory").check_ok()
    res = c.result()
    limit = res["limit"]
    assert res["quiet_before"] == []
    # glibc gives the big block (mmap) back to the system at once.
    assert res["after"] < limit, res
    evs = res["events"]
    assert [e["type"] for e in evs] == ["MemoryUsageThresholdExceeded",
                                        "MemoryUsageUnderThreshold"], evs
    over, under = evs
    assert over["max_allowed"] == limit
    assert over["mem_usage"] > limit
    assert over["memory_info"]["rss"] == over["mem_usage"]
    assert over["memory_info"]["vms"] >= over["mem_usage"]
    assert under["max_allowed"] == limit
    assert under["mem_usage"] <= limit
    assert under["memory_info"]["rss"] == under["mem_usage"]
    # The highest RSS seen: at least the crossing, and about what the
    # child measured at its peak (the monitor sampled it for 0.3 s; a
    # few pages of slack for the allocator).
    assert under["max_memory_usage"] >= over["mem_usage"]
    assert under["max_memory_usage"] >= res["peak"] - (2 << 20), res
    assert under["max_memory_usage"] <= res["peak"] + (8 << 20), res
    assert {e["delivered_on"] for e in evs} == {"stackwatch-monitor"}
    # Memory events have no text report.
    assert "[stackwatch " not in c.stderr


# ---- 6. periodic functions --------------------------------------------------

@uses("periodic")
def test_monitoring_functions(children):
    c = get(children, "periodic").check_ok()
    res = c.result()
    # Every 0.1 s for 1 s: 10 calls; never more often than the period
    # (at most 11 fit), fewer if the machine delays the monitor's thread.
    assert 5 <= res["in_window"] <= 11, res
    assert res["threads"] == ["stackwatch-monitor"]
    # Removed: no call after the one possibly in flight.
    assert res["later"] == res["after_removal"], res
    # A function that always raises: called again after each failure,
    # each failure reported; dropped after the 10th in a row.
    assert len(res["failures"]) == 10, res
    assert set(res["failures"]) == {"stackwatch-monitor"}
    err = c.stderr
    assert err.count("stackwatch: error while running the monitoring "
                     "function <function always_fails at ") == 10, err[-3000:]
    for i in range(1, 11):
        assert "RuntimeError: periodic-boom %d\n" % i in err, err[-3000:]
    assert err.count("(failure 10 of 10 in a row)") == 1, err[-3000:]
    dropped = [ln for ln in err.splitlines() if "dropped" in ln]
    assert len(dropped) == 1, dropped
    assert re.match(r"stackwatch: dropped the monitoring function <function "
                    r"always_fails at 0x[0-9a-f]+> after 10 failures in a "
                    r"row$", dropped[0]), dropped
    assert c.mark("failures=").index > [
        e for e in c.entries() if "dropped" in e.text][0].index
    # Failures that are not 10 in a row never drop a function.
    assert res["flaky_alive"] is True and res["flaky_calls"] >= 25, res
    assert "ValueError: flaky-boom" in err
    assert res["running"] is True


# ---- 7. subscriber errors are contained -------------------------------------

@uses("subscriber_errors")
def test_subscriber_exceptions_are_contained(children):
    c = get(children, "subscriber_errors").check_ok()
    res = c.result()
    kinds = ["EventLoopBlocked", "EventLoopUnblocked"] * 2
    # The second subscriber (and the prelude's third) got every event.
    assert res["got"] == kinds, res
    assert res["recorded"] == kinds, res
    err = c.stderr
    assert err.count("stackwatch: error while calling the event subscriber "
                     "<function bad_subscriber at ") == 4, err
    assert err.count("RuntimeError: bad-subscriber-boom") == 4, err
    blocked = [r for r in c.reports() if "blocked for" in r.text]
    assert [r.last_function() for r in blocked] == [
        "first_stall", "second_stall"], c.describe()


# ---- 8. fork and exit -------------------------------------------------------

@uses("fork")
def test_fork_with_the_monitor_running(children):
    c = get(children, "fork").check_ok()
    res = c.result()
    child_pid, parent_pid = res["child_pid"], res["parent_pid"]
    assert res["child_exit"] == 0, c.describe()
    child_mark = c.mark("child %d running=" % child_pid)
    # The child's monitor runs, and its subscriber got its stall.
    assert child_mark.text.startswith("child %d running=True events="
                                      % child_pid), c.describe()
    child_events = json.loads(child_mark.text.split("events=", 1)[1])
    assert ["EventLoopBlocked", "child_stall"] in child_events, c.describe()
    i = child_events.index(["EventLoopBlocked", "child_stall"])
    assert ["EventLoopUnblocked", None] in child_events[i + 1:], c.describe()
    seen = c.mark("parent saw the child exit")
    reports = c.reports()
    in_child = [r for r in reports if "(tid %d)" % child_pid in r.text]
    in_parent = [r for r in reports if "(tid %d)" % parent_pid in r.text]
    assert len(in_child) + len(in_parent) == len(reports), c.describe()
    # The forked child's own stall, reported in the child, while it ran.
    # (Only stalls named by function are counted: on a loaded machine
    # either process may be stopped long enough for a real stall.)
    cb = one([r for r in in_child if "blocked for" in r.text
              and r.last_function() == "child_stall"], c.describe())
    assert cb.text.startswith("gevent hub blocked for"), c.describe()
    assert cb.last_frame() == 'File "%s", line %d, in child_stall' % (
        c.path, line_of(c.path, "fork-child")), c.describe()
    assert [r for r in in_child if "unblocked after" in r.text
            and r.index > cb.index], c.describe()
    assert cb.index < child_mark.index < seen.index
    # The parent saw nothing of it, and still reports its own stalls.
    assert not [r for r in in_parent if "child_stall" in r.full]
    assert not [e for e in res["events_while_child"]
                if "child_stall" in json.dumps(e)], res["events_while_child"]
    pb = one([r for r in in_parent if "blocked for" in r.text
              and r.last_function() == "parent_stall"], c.describe())
    assert pb.index > seen.index
    assert pb.last_frame() == 'File "%s", line %d, in parent_stall' % (
        c.path, line_of(c.path, "fork-parent")), c.describe()
    later = res["events"][len(res["events_while_child"]):]
    ours = [e for e in later if e["type"] == "EventLoopBlocked"
            and e["stack"][-1][0] == "parent_stall"]
    assert len(ours) == 1 and ours[0]["native_id"] == parent_pid, later
    assert [e for e in later[later.index(ours[0]) + 1:]
            if e["type"] == "EventLoopUnblocked"], later


@uses("fork")
def test_fork_child_reports_name_its_thread(children):
    """The report of the forked child's stall names its thread, as the
    parent's reports do (the thread is the same, only its tid changed)."""
    c = get(children, "fork").check_ok()
    res = c.result()
    child_pid = res["child_pid"]
    cb = one([r for r in c.reports("(tid %d)" % child_pid)
              if "blocked for" in r.text], c.describe())
    assert cb.text.endswith('in thread "MainThread" (tid %d)' % child_pid), \
        cb.text
    pb = one([r for r in c.reports("(tid %d)" % res["parent_pid"])
              if "blocked for" in r.text], c.describe())
    assert pb.text.endswith('in thread "MainThread" (tid %d)'
                            % res["parent_pid"]), pb.text


@pytest.mark.parametrize("name", ["exit_after_deadline",
                                  "exit_after_gevent_stall"])
@uses("exit_after_deadline", "exit_after_gevent_stall")
def test_stall_that_ends_just_before_exit_gets_its_end_line(children, name):
    """A stall that ended just before the interpreter exits was over: its
    end line ("finished after", "unblocked after") is written, not lost,
    so that the report does not read as if the process died stuck."""
    c = get(children, name).check_ok()
    last = c.mark("last line")
    reports = c.reports()
    start = one([r for r in reports if "exceeded" in r.text
                 or "blocked for" in r.text], c.describe())
    assert start.index < last.index
    ends = [r for r in reports if "finished after" in r.text
            or "unblocked after" in r.text]
    assert len(ends) == 1, c.describe()
    m = re.search(r"(?:finished|unblocked) after (\d+\.\d+) s", ends[0].text)
    # time.sleep(0.4); 0.3 s of slack on a loaded machine. A hub stall's
    # start and end are known to within the monitor's poll (5 ms at this
    # threshold), so it may read up to 10 ms short.
    assert 0.39 <= float(m.group(1)) < 0.7, ends[0].text


@uses("restart")
def test_stop_and_start_again(children):
    c = get(children, "restart").check_ok()
    res = c.result()
    assert res["running_after_stop"] is False
    assert res["settings_after_stop"] == {}
    assert res["events_while_stopped"] == 0
    assert res["running_after_restart"] is True
    restarting = c.mark("restarting")
    blocked = [r for r in c.reports() if "blocked for" in r.text]
    assert [r.last_function() for r in blocked] == [
        "stall_one", "stall_after_restart"], c.describe()
    assert blocked[1].index > restarting.index
    # The new threshold applies to the hub, which was already running.
    assert "(threshold 0.100 s)" in blocked[0].text
    assert "(threshold 0.200 s)" in blocked[1].text
    assert "stall_while_stopped" not in c.stderr
    assert [e["type"] for e in res["events"]] == ["EventLoopBlocked",
                                                  "EventLoopUnblocked"] * 2


@pytest.mark.parametrize("name", ["exit_stalled", "exit_periodic"])
@uses("exit_stalled", "exit_periodic")
def test_exit_with_the_monitor_running(children, name):
    c = get(children, name).check_ok()
    mark = c.mark("exiting")
    assert mark.text == "exiting ok=True", c.describe()
    # From the last line of the script to the end of the process: the
    # monitor stops at once (0.2 s at most for a periodic call in flight);
    # 5 s of slack for a loaded machine, far below a hang.
    assert c.exited_at - mark.arrived < 5.0, c.exited_at - mark.arrived
    assert "Traceback" not in c.stderr, c.describe()
    assert "stackwatch: error" not in c.stderr, c.describe()
    if name == "exit_stalled":
        reports = c.reports()
        assert [r for r in reports
                if r.text.startswith('deadline "never-ends" exceeded')]
        assert [r for r in reports
                if r.text.startswith("gevent hub blocked for")]


# ---- 9. bad settings --------------------------------------------------------

def test_parse_size():
    from stackwatch.monitor import parse_size

    assert parse_size("500MB") == 500_000_000
    assert parse_size("2GiB") == 2 ** 31
    assert parse_size("1048576") == 1048576
    assert parse_size(1048576) == 1048576
    for bad in ("lots", "", "-5MB", "0", "1 parsec", True):
        with pytest.raises(ValueError):
            parse_size(bad)


@uses("bad_settings", "bad_env")
def test_bad_settings_rejected_clearly(children):
    c = get(children, "bad_settings").check_ok()
    res = c.result()
    tmp = str(children["tmp"])

    def rejected(case, *words):
        kind, msg, running = res[case]
        assert kind == "ValueError", res[case]
        for w in words:
            assert w in msg, (case, msg)
        assert running is False, res[case]

    rejected("mbt_negative", "max_blocking_time", "-1")
    rejected("mbt_text", "max_blocking_time", "'abc'")
    rejected("mbt_nan", "max_blocking_time", "nan")
    rejected("mem_lots", "memory size", "'lots'")
    rejected("period_zero", "memory_monitor_period", "0")
    rejected("report_missing_dir", tmp + "/no/such/dir/report.log",
             "No such file or directory")
    rejected("report_directory", tmp, "Is a directory")
    assert res["good_after"] is True and res["stopped"] is True
    for case in ("running_mbt", "running_report"):
        kind, msg, running, mbt = res[case]
        assert kind == "ValueError" and running is True, res[case]
        assert mbt == 0.1, res[case]  # the settings in force are kept
    assert "max_blocking_time" in res["running_mbt"][1]
    assert tmp + "/no/such/dir/report.log" in res["running_report"][1]

    e = get(children, "bad_env").check_ok().result()
    kind, msg, running = e["env"]
    assert kind == "ValueError" and running is False, e
    assert msg.startswith("STACKWATCH_MAX_MEMORY_USAGE: "), msg
    assert "'lots'" in msg, msg
    assert e["explicit"] == 1_000_000_000
    for var in ("STACKWATCH_MAX_BLOCKING_TIME",
                "STACKWATCH_MEMORY_MONITOR_PERIOD"):
        kind, msg, running = e[var]
        assert kind == "ValueError" and running is False, e[var]
        assert msg.startswith(var + ": "), msg
    assert e["from_env"] == [0.25, 2 ** 31, 0.5]


# ---- 10. assert_switches ----------------------------------------------------

@uses("assert_switches")
def test_assert_switches(children):
    c = get(children, "assert_switches").check_ok()
    res = c.result()

    def failed(case, text=""):
        assert res[case].startswith("FailedToSwitch: "), (case, res[case])
        assert text in res[case], (case, res[case])

    assert res["sleep0"] == "passed"
    failed("empty", "did not switch")
    # 0.2 s of sleep against 0.05 s: never flaky.
    failed("blocking", "No switch to any greenlet in 0.2")
    failed("blocking_then_switch", "No switch to any greenlet")
    # Gaps of 0.02 s against 0.15 s allowed.
    assert res["frequent_switches"] == "passed"
    assert res["hub_only_frequent_hub"] == "passed"
    # Switches to other greenlets only: not enough for hub_only (0.3 s
    # without the hub), enough otherwise.
    failed("hub_only_other_greenlets", "No switch into the hub in 0.")
    assert res["any_switch_other_greenlets"] == "passed"
    # Without max_blocking_time, any switch will do (as in gevent).
    assert res["hub_only_without_time"] == "passed"
    failed("hub_only_without_time_empty", "did not switch")
    failed("nested_inner_empty", "did not switch")
    # Exceptions pass through unchanged.
    assert res["raises_after_blocking"] == "ValueError: after blocking"
    assert res["raises_inside_same"] is True
    assert res["is_assertion"] is True
    assert res["monitor_running"] is False  # it needs no monitor


# ---- 11. report targets -----------------------------------------------------

@uses("report_file")
def test_report_to_a_file(children):
    c = get(children, "report_file").check_ok()
    tmp = children["tmp"]
    new, old = tmp / "new-report.log", tmp / "old-report.log"
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    assert stat.S_IMODE(old.stat().st_mode) == 0o644  # untouched
    new_text, old_text = new.read_text(), old.read_text()
    assert "gevent hub blocked for" in new_text
    assert ", in stall_to_new_file\n" in new_text
    assert "unblocked after" in new_text
    assert "stall_to_old_file" not in new_text
    assert old_text.startswith(OLD_REPORT_CONTENT)  # appended to
    assert ", in stall_to_old_file\n" in old_text
    assert "unblocked after" in old_text
    assert "stall_to_new_file" not in old_text
    assert "[stackwatch" not in c.stderr, c.describe()
    evs = c.result()["events"]
    assert [e["type"] for e in evs] == ["EventLoopBlocked",
                                        "EventLoopUnblocked"] * 2


@uses("report_targets")
def test_report_to_none_logging_and_streams(children):
    c = get(children, "report_targets").check_ok()
    res = c.result()
    # report_to=None: nothing on stderr, the events carry the reports.
    assert "[stackwatch" not in c.stderr, c.describe()
    assert "blocked" not in c.stderr, c.describe()
    blocked = events_of(res, "EventLoopBlocked")
    assert [b["stack"][-1][0] for b in blocked] == [
        "stall_silent", "stall_logged", "stall_to_stream"], blocked
    for b in blocked:
        assert b["report"].startswith("[stackwatch ")
        assert "gevent hub blocked for" in b["report"]
    # log=True: through the "stackwatch" logger, at WARNING, only while
    # it was on.
    log = c.stdout.split("@@RESULT")[0]
    logged = [ln for ln in log.splitlines() if ln.startswith("LOG|")]
    assert len(logged) == 2, log
    assert logged[0].startswith("LOG|stackwatch|WARNING|[stackwatch "), logged
    assert "gevent hub blocked for" in logged[0]
    assert logged[1].startswith("LOG|stackwatch|WARNING|[stackwatch "), logged
    assert "unblocked after" in logged[1]
    assert ", in stall_logged\n" in log
    assert "stall_silent" not in log and "stall_to_stream" not in log
    # A stream without descriptor, written from the Python side.
    stream = res["stream"]
    assert "gevent hub blocked for" in stream
    assert ", in stall_to_stream\n" in stream
    assert "unblocked after" in stream
    assert "stall_logged" not in stream and "stall_silent" not in stream


def test_new_threshold_applies_to_watched_hubs_and_loops():
    """start() on a running monitor applies a new max_blocking_time to the
    hubs and loops already watched; max_blocking_time=None stops watching
    them (a loop with a threshold of its own keeps it)."""
    from conftest import run_py

    proc = run_py("""
        import asyncio, sys, time
        import gevent
        import stackwatch.monitor as m

        m.start(max_blocking_time=5.0)
        gevent.sleep(0.01)                     # the hub runs: watched at 5 s
        m.start(max_blocking_time=0.1)         # now 0.1 s
        gevent.spawn(time.sleep, 0.3).join()   # reported
        sys.stderr.write("@@ hub done\\n")
        m.start(max_blocking_time=None)        # hubs no longer watched
        gevent.spawn(time.sleep, 0.3).join()   # not reported
        sys.stderr.write("@@ unwatched done\\n")

        async def main():
            m.start(max_blocking_time=5.0)
            m.watch_asyncio()                          # the global 5 s
            await asyncio.sleep(0.01)
            m.start(max_blocking_time=0.1)
            time.sleep(0.3)                            # reported
            await asyncio.sleep(0.01)
            sys.stderr.write("@@ loop done\\n")
            m.watch_asyncio(max_blocking_time=5.0)     # its own threshold
            m.start(max_blocking_time=0.1)
            time.sleep(0.3)                            # not reported
            await asyncio.sleep(0.01)
        asyncio.run(main())
        """, timeout=60)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    hub_part, _, rest = err.partition("@@ hub done")
    unwatched, _, rest = rest.partition("@@ unwatched done")
    loop_part, _, own = rest.partition("@@ loop done")
    assert "gevent hub blocked for" in hub_part, err
    assert "blocked for" not in unwatched, err
    assert "asyncio loop" in loop_part and "blocked for" in loop_part, err
    assert "blocked for" not in own, err


def test_hub_whose_thread_ended_does_not_spin_the_monitor():
    """A hub watched in a thread that then ends (its greenlet record goes
    away, the watch stays) must not make the monitor thread spin: it
    keeps polling at its usual pace (every 5 ms at a 0.1 s threshold)."""
    from conftest import run_py

    proc = run_py("""
        import threading, time
        import gevent
        import stackwatch.monitor as m

        m.start(max_blocking_time=0.1)

        def in_thread():
            gevent.sleep(0.01)          # this thread's hub runs: watched

        t = threading.Thread(target=in_thread)
        t.start()
        t.join()
        time.sleep(0.3)                 # past the threshold
        before = m.stats()
        time.sleep(1.0)
        after = m.stats()
        print(after["polls"] - before["polls"],
              after["cpu_seconds"] - before["cpu_seconds"])
        """, timeout=60)
    assert proc.returncode == 0, proc.stderr
    polls, cpu = proc.stdout.split()
    # 5 ms polls make ~200 a second; a spinning thread makes 10^4 or more
    # and uses most of a core.
    assert int(polls) < 600, proc.stdout
    assert float(cpu) < 0.2, proc.stdout
