"""A daemon thread "blocker" waits in blocked_here(21) with two locals
while the main thread takes a RunTree and a run-info text with locals
from caller(); prints both (JSON) with the ids the test compares.

The test expects both threads with their names, ids, daemon flags and GIL
state, blocked_here's arguments and locals, and no stackwatch frame in
the main thread's stack.
"""
import json
import os
import threading

import stackwatch

ready, stop = threading.Event(), threading.Event()


def blocked_here(x):
    count = x * 2
    label = "hello"
    assert count and label
    ready.set()
    stop.wait()


t = threading.Thread(target=blocked_here, args=(21,), name="blocker",
                     daemon=True)
t.start()
ready.wait()


def caller():
    tree = stackwatch.RunTree(locals=True)
    text = stackwatch.format_run_info(locals=True)
    return tree, text


tree, text = caller()
print(json.dumps({"tree": tree.to_dict(), "text": text,
                  "pkg": os.path.dirname(os.path.abspath(stackwatch.__file__)),
                  "native_id": t.native_id, "ident": t.ident,
                  "main_ident": threading.main_thread().ident}))
stop.set()
