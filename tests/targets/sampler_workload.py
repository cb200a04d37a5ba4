"""Profiles one workload for 1.2 s and prints, per thread name, the samples
and GIL samples of each innermost function, with the profiler's stats
(JSON). Arguments: workload (tight_loop, long_c_call, regex_backtracking),
rate, mode, budget (or "none"), number of idle threads. A thread "blocker"
waits in recv all along. The tests expect the samples in the workload's
function (and spin), GIL samples where the GIL is held, and the mode and
budget respected.
"""
import json, re, socket, sys, threading, time
import stackwatch
from spin import spin

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
