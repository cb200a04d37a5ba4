"""A running program for `stackwatch record --pid` (tests/test_ondemand.py).
Enables dumps (record --pid's way in), prints "ready", then, by argv[1]:

- "loop": spins in od_spin() (pure Python) until stdin closes;
- "stuck": a thread named "spinner" spins in od_spin() while the main
  thread holds the GIL in a C call (stuck_in_c) for good;
- "own": records its own profile at 50 Hz (argv[2]) while spinning in
  od_spin(); when stdin closes, prints the own profile's figures as
  JSON and exits;
- "exit": spins for argv[2] seconds, then exits normally;
- "fork": forks a child every 0.2 s (each spins 0.1 s in od_spin and
  exits 0) until stdin closes, then prints the children's statuses as
  JSON.
"""
import json
import sys
import threading
import time

import stackwatch

MODE = sys.argv[1]
done = threading.Event()


def od_spin():  # def-od-spin
    n = 0
    while not done.is_set():
        n += 1  # od-spin
    return n


def wait_stdin():
    sys.stdin.read()
    done.set()


stackwatch.enable_dump()
if MODE == "stuck":
    threading.Thread(target=od_spin, name="spinner", daemon=True).start()
    from stuck import stuck_in_c

    # A while running first (a server's threads are named by then: the
    # names the target's native side knows are refreshed twice a second).
    time.sleep(1.2)
    print("ready", flush=True)
    stuck_in_c()
elif MODE == "own":
    rate = float(sys.argv[2])
    with stackwatch.Profiler(rate=rate) as p:
        threading.Thread(target=wait_stdin, daemon=True).start()
        print("ready", flush=True)
        od_spin()
    st = p.stats()
    print(json.dumps({
        "rate": rate, "passes": st["passes"], "samples": st["samples"],
        "effective_rate": st["effective_rate"],
        "sampling_seconds": st["sampling_seconds"],
        "functions": sorted({s.frames[-1].name for s in p.samples()
                             if s.frames})}), flush=True)
elif MODE == "exit":
    timer = threading.Timer(float(sys.argv[2]), done.set)
    timer.daemon = True
    timer.start()
    print("ready", flush=True)
    od_spin()
elif MODE == "fork":
    import os

    threading.Thread(target=wait_stdin, daemon=True).start()
    print("ready", flush=True)
    statuses = []
    while not done.is_set():
        pid = os.fork()
        if pid == 0:
            threading.Timer(0.1, done.set).start()
            od_spin()
            os._exit(0)
        statuses.append(os.waitpid(pid, 0)[1])
        time.sleep(0.1)
    print(json.dumps({"statuses": statuses}), flush=True)
else:
    threading.Thread(target=wait_stdin, daemon=True).start()
    print("ready", flush=True)
    od_spin()
