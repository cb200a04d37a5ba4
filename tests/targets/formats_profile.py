"""Profiles (500 Hz, threads on) a main thread spinning, a busy thread
"busy-1" and a sleeping one "sleepy-1", then writes the profile in every
format to argv[1] (p.json, p.txt, p.svg, and flat.txt without threads),
and prints the stats and every sample from the Python side (JSON). The
tests compare each writer's output with those samples and validate it with
a real consumer.
"""
import json, os, sys, threading, time
import stackwatch

def spin(n):
    x = 0
    while x < n:
        x += 1

def busy_worker():
    for _ in range(60):
        spin(20000)

def sleepy_worker():
    time.sleep(0.6)

def main():
    ts = [threading.Thread(target=busy_worker, name="busy-1"),
          threading.Thread(target=sleepy_worker, name="sleepy-1")]
    for t in ts:
        t.start()
    spin(2_000_000)
    for t in ts:
        t.join()

out = sys.argv[1]
p = stackwatch.Profiler(rate=500, threads=True)
with p:
    main()
for fmt, name in (("speedscope", "p.json"), ("collapsed", "p.txt"),
                  ("svg", "p.svg")):
    p.write(os.path.join(out, name), fmt)
p.write(os.path.join(out, "flat.txt"), "collapsed", threads=False)
# The same data from the Python side, to compare the writers with.
rows = []
for s in p.samples():
    rows.append({"thread": s.thread, "tid": s.tid, "count": s.count,
                 "wall": s.wall,
                 "frames": [list(f) for f in s.frames],
                 # as labels show them: short paths (Frame.short_filename)
                 "shown": [[f.name, f.short_filename, f.lineno]
                           for f in s.frames]})
print(json.dumps({"stats": p.stats(), "rows": rows}))
