"""While a 1 kHz profiler samples and dumps are enabled, one thread forks 30
children that each dump (to /dev/null) and one thread runs 30
subprocesses. Prints "errors []" when every child exited 0. The test
expects exactly that, and exit status 0.
"""
import os, subprocess, sys, threading
import stackwatch

stackwatch.enable_dump()
p = stackwatch.Profiler(rate=1000, greenlets=True)
p.start()
errors = []

def forker():
    for _ in range(30):
        pid = os.fork()
        if pid == 0:
            stackwatch.dump(file=open(os.devnull, "w"))
            os._exit(0)
        if os.waitpid(pid, 0)[1] != 0:
            errors.append("child failed")

def spawner():
    for _ in range(30):
        subprocess.run([sys.executable, "-c", "pass"], check=True)

ts = [threading.Thread(target=forker), threading.Thread(target=spawner)]
for t in ts:
    t.start()
for t in ts:
    t.join()
p.stop()
print("errors", errors)
