"""Installs a SIGUSR1 handler, enables dumps, and sends itself SIGUSR1 20
times under a 1 kHz profiler; prints how many the handler got. The test
expects 20.
"""
import os, signal, stackwatch, time
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
stackwatch.enable_dump()
p = stackwatch.Profiler(rate=1000)
with p:
    for _ in range(20):
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.01)
print(len(got))
