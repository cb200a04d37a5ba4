"""For argv[1] seconds, under a 1 kHz profiler (greenlets on): batches of 8
threads recursing 100-600 deep through generators, a thread of two
greenlets ping-ponging, and the main thread recursing up to 800 deep
(across data-stack chunks). Prints the profiler's stats plus
threads_started (JSON). The test expects no crash, hundreds of threads,
and the sampler keeping its pace.
"""
import json, random, sys, threading, time
import stackwatch

def recurse(n):
    if n == 0:
        return sum(1 for _ in gen(50))
    return recurse(n - 1) + 1

def gen(n):
    for i in range(n):
        yield i

def churn_thread(depth):
    recurse(depth)

def greenlet_pingpong(rounds):
    try:
        import greenlet
    except ImportError:
        return
    def a():
        for _ in range(rounds):
            recurse(30)
            gb.switch()
    def b():
        for _ in range(rounds):
            recurse(60)
            ga.switch()
    ga, gb = greenlet.greenlet(a), greenlet.greenlet(b)
    ga.switch()

rng = random.Random(1)
p = stackwatch.Profiler(rate=1000, greenlets=True)
p.start()
end = time.monotonic() + float(sys.argv[1])
threads_started = 0
while time.monotonic() < end:
    ts = [threading.Thread(target=churn_thread, args=(rng.randrange(100, 600),))
          for _ in range(8)]
    ts.append(threading.Thread(target=greenlet_pingpong, args=(20,)))
    for t in ts:
        t.start()
    recurse(rng.randrange(100, 800))  # crosses data-stack chunks (3.11+)
    for t in ts:
        t.join()
    threads_started += len(ts)
p.stop()
st = p.stats()
st["threads_started"] = threads_started
print(json.dumps(st))
