"""Starts 150 short threads under a 1 kHz profiler and prints the samples
whose thread name, ident or native id do not match the thread's (JSON
"bad"), and the number of thread names seen. The test expects none bad and
many named.
"""
import json, threading
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
