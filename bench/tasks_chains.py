"""How many of `record --tasks`'s samples of short-lived tasks keep the
chain of tasks awaiting them: an aiohttp server under a local load
(tests/targets/tasks_aiohttp_load.py: 4 connections, 160 requests, each
request's handler gathering two lookup() tasks of about 3 ms), recorded
RUNS times at 200 Hz. Prints, per run, the samples in crunch() (the
lookup tasks' work) and the share of them whose task chain goes up to
the connection's task (RequestHandler.start); the median last. Needs
aiohttp (the test extra).

    python bench/tasks_chains.py [RUNS]
"""

import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "..", "tests", "targets", "tasks_aiohttp_load.py")


def one_run():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.txt")
        subprocess.run([sys.executable, "-m", "stackwatch", "record", "-r",
                        "200", "-f", "collapsed", "-o", out, "--tasks",
                        TARGET], check=True, capture_output=True)
        total = whole = 0
        with open(out) as f:
            for line in f:
                stack, _, n = line.rstrip("\n").rpartition(" ")
                frames = stack.split(";")
                if not any(x.startswith("crunch (") for x in frames):
                    continue
                tasks = [x for x in frames if x.startswith("[task] ")]
                total += int(n)
                # (3.9 and 3.10 name coroutines without their class.)
                if len(tasks) >= 2 and \
                        tasks[0].endswith((" start", ".start")) and \
                        tasks[-1].endswith("lookup"):
                    whole += int(n)
    return total, whole


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    shares = []
    for i in range(runs):
        total, whole = one_run()
        share = whole / total if total else 0.0
        shares.append(share)
        print("run %d: %d samples in crunch, %d (%.0f%%) with the whole "
              "chain" % (i + 1, total, whole, 100 * share))
    print("median: %.0f%% of the samples keep their chain"
          % (100 * statistics.median(shares)))


if __name__ == "__main__":
    main()
