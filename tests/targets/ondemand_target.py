"""A running program for `stackwatch record --pid` (tests/test_ondemand.py).
Enables dumps (record --pid's way in), prints "ready", then, by argv[1]:

- "loop": spins in od_spin() (pure Python) until stdin closes;
- "stuck": a thread named "spinner" spins in od_spin() while the main
  thread holds the GIL in a C call (stuck_in_c) for good;
- "own": records its own profile at 50 Hz (argv[2]) while spinning in
  od_spin(); when stdin closes, prints the own profile's figures as
  JSON and exits;
- "exit": spins for argv[2] seconds, then exits normally.
"""
import json
import sys
import threading
import time

import stackwatch

MODE = sys.argv[1]
done = threading.Event()


def od_spin():
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
else:
    threading.Thread(target=wait_stdin, daemon=True).start()
    print("ready", flush=True)
    od_spin()
