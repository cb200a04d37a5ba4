"""Writes continuous profiles to argv[1] (every 1 s, keeping 2) while
it runs pprof_cont_work for argv[2] seconds (default 3.5), then prints
"done" and exits (the last period is written at exit).

With argv[1] == "env" it never calls continuous() itself:
STACKWATCH_PPROF_DIR is expected to have started it.

The tests expect at most 2 files, no temporary file left, each read by
`go tool pprof` with pprof_cont_work in it.
"""
import sys
import time

if sys.argv[1] != "env":
    import stackwatch

    c = stackwatch.continuous(sys.argv[1], every=1, keep=2)


def pprof_cont_work(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(1000))  # cont-work


pprof_cont_work(float(sys.argv[2]) if len(sys.argv) > 2 else 3.5)
print("done", flush=True)
