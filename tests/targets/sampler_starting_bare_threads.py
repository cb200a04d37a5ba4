"""Starts 100 threads with _thread.start_new_thread (threading does not
know them: a profile names them by the function at the bottom of their
stacks) under a 1 kHz profiler, 4 at a time, and prints (JSON) the
thread labels, idents and native ids of their samples ("bare": the test
expects each labelled bare_work with the thread's own ids, never the
main thread's name or ids, which a thread state carries until its thread
boots on 3.9-3.11) and the main thread's ids.
"""
import _thread
import json
import threading

import stackwatch

ids = {}  # native id -> ident, of the bare threads
lock = threading.Lock()


def bare_work(done):
    with lock:
        ids[threading.get_native_id()] = _thread.get_ident()
    x = 0
    for i in range(100000):
        x += i
    done.release()


p = stackwatch.Profiler(rate=1000)
with p:
    for _ in range(25):
        waits = []
        for _ in range(4):
            done = _thread.allocate_lock()
            done.acquire()
            waits.append(done)
            _thread.start_new_thread(bare_work, (done,))
        for done in waits:
            done.acquire()
main = (threading.main_thread().ident, threading.main_thread().native_id)
bare = []
for s in p.samples():
    if any(f[0] == "bare_work" for f in s.frames):
        bare.append((s.thread, s.ident, s.tid, ids.get(s.tid) == s.ident))
print(json.dumps({"bare": bare, "main": main}))
