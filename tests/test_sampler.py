"""The sampler names the right function, thread and GIL holder while the
sampled thread runs Python code, sits in a long C call that holds the GIL,
or blocks in a system call; modes and the CPU budget do what they say."""

import json

import pytest

from conftest import run_py

# A child that profiles a workload and prints, per thread name, the
# samples and GIL samples of each innermost function.
PROFILE_CHILD = r"""
import json, re, socket, sys, threading, time
import stackwatch

def spin(n):
    x = 0
    while x < n:
        x += 1
    return x

def tight_loop(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        spin(20000)

def long_c_call(seconds):
    # One C call that holds the GIL; grow it until it takes long enough.
    n = 10 ** 6
    while True:
        t = time.monotonic()
        sum(range(n))
        if time.monotonic() - t > seconds:
            return
        n *= 4

def regex_backtracking(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        re.match(r"(a+)+$", "a" * 22 + "b")

def blocking_recv(sock):
    sock.recv(1)  # blocks in the kernel, GIL released

def run(workload, rate, mode, budget, extra_threads):
    a, b = socket.socketpair()
    blocker = threading.Thread(target=blocking_recv, args=(a,),
                               name="blocker")
    blocker.start()
    idle = [threading.Event() for _ in range(extra_threads)]
    idlers = [threading.Thread(target=e.wait, name="idle-%d" % i)
              for i, e in enumerate(idle)]
    for t in idlers:
        t.start()
    time.sleep(0.1)
    p = stackwatch.Profiler(rate=rate, mode=mode, budget=budget)
    with p:
        globals()[workload](1.2)
    b.send(b"x")
    blocker.join()
    for e in idle:
        e.set()
    out = {"threads": {}, "stats": p.stats()}
    for s in p.samples():
        leaf = s.frames[-1].name
        row = out["threads"].setdefault(s.thread, {}).setdefault(leaf, [0, 0])
        row[0] += s.count
        row[1] += s.gil
    print(json.dumps(out))

run(sys.argv[1], float(sys.argv[2]), sys.argv[3],
    None if sys.argv[4] == "none" else float(sys.argv[4]), int(sys.argv[5]))
"""


def profile(workload, rate=200, mode="wall", budget=None, extra_threads=0):
    proc = run_py(PROFILE_CHILD, workload, str(rate), mode,
                  "none" if budget is None else str(budget),
                  str(extra_threads), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def top(thread_samples):
    """The innermost function with the most samples, and its share."""
    total = sum(c for c, _ in thread_samples.values())
    name, (count, gil) = max(thread_samples.items(), key=lambda kv: kv[1][0])
    return name, count / total, gil / count


@pytest.mark.parametrize("workload, function", [
    ("tight_loop", "spin"),
    ("long_c_call", "long_c_call"),
    # re.match is Python code around the C matcher: it is the innermost.
    ("regex_backtracking", "match"),
])
def test_names_the_running_function_and_the_gil_holder(workload, function):
    out = profile(workload)
    main = out["threads"]["MainThread"]
    name, share, gil_share = top(main)
    assert name == function, main
    assert share > 0.8, main
    # The main thread holds the GIL while it runs Python code or a C
    # call that does not release it: nearly every sample says so.
    assert gil_share > 0.9, main


def test_blocking_syscall_thread_is_seen_without_the_gil():
    out = profile("long_c_call")
    blocker = out["threads"]["blocker"]
    assert list(blocker) == ["blocking_recv"], blocker
    count, gil = blocker["blocking_recv"]
    assert count > 100
    assert gil == 0
    # Sampled at every tick in wall mode, like the main thread.
    main_count = sum(c for c, _ in out["threads"]["MainThread"].values())
    assert abs(count - main_count) <= 0.05 * main_count


def test_long_c_call_is_sampled_at_the_full_rate():
    # The sampler does not need the GIL: a C call that holds it for a
    # second does not stop the samples.
    out = profile("long_c_call", rate=200)
    st = out["stats"]
    assert st["effective_rate"] > 150, st
    main = sum(c for c, _ in out["threads"]["MainThread"].values())
    assert main > 0.75 * 200 * st["duration_seconds"]


def test_cpu_mode_skips_threads_that_do_not_run():
    out = profile("tight_loop", mode="cpu")
    assert "blocker" not in out["threads"]
    assert top(out["threads"]["MainThread"])[0] == "spin"


def test_gil_mode_samples_only_the_gil_holder():
    out = profile("long_c_call", mode="gil")
    assert set(out["threads"]) == {"MainThread"}
    counts = out["threads"]["MainThread"]
    assert all(gil == count for count, gil in counts.values()), counts


def test_budget_lowers_the_rate_with_many_threads():
    free = profile("tight_loop", rate=1000, extra_threads=40)
    capped = profile("tight_loop", rate=1000, budget=0.02, extra_threads=40)
    # Without a budget the sampler uses what it needs for 42 threads.
    assert capped["stats"]["effective_rate"] < free["stats"]["effective_rate"]
    st = capped["stats"]
    used = st["sampler_cpu_seconds"] / st["duration_seconds"]
    assert used < 0.04, st  # the budget, with slack for a noisy machine
    assert st["effective_rate"] < 1000


def test_stats_report_what_happened():
    out = profile("tight_loop", rate=100)
    st = out["stats"]
    for key in ("passes", "samples", "dropped", "read_errors",
                "effective_rate", "sampler_cpu_seconds", "duration_seconds",
                "threads", "read_method"):
        assert key in st
    assert st["dropped"] == 0
    assert 80 < st["effective_rate"] < 110
    assert st["samples"] >= st["passes"]
    assert st["read_method"] in ("process_vm_readv", "pipe")


def test_threads_caught_while_starting_keep_their_own_identity():
    # A thread state exists before its thread runs (3.12+ creates it
    # unbound; 3.9-3.11 with the creating thread's ids): samples must
    # still carry the new thread's ident, native id and name.
    proc = run_py(r"""
import json, threading, time
import stackwatch

def work(i):
    x = 0
    for _ in range(20000):
        x += i

threads = []
p = stackwatch.Profiler(rate=1000)
with p:
    for i in range(150):
        t = threading.Thread(target=work, args=(i,), name="starter-%d" % i)
        threads.append(t)
        t.start()
    for t in threads:
        t.join()
by_name = {t.name: (t.ident, t.native_id) for t in threads}
bad = []
for s in p.samples():
    if s.thread == "MainThread":
        continue
    if s.thread not in by_name or by_name[s.thread] != (s.ident, s.tid):
        bad.append((s.thread, s.ident, s.tid))
print(json.dumps({"bad": bad, "named": len({s.thread for s in p.samples()})}))
""")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["bad"] == [], out
    assert out["named"] > 10
