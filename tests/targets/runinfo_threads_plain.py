"""A daemon thread "blocker" waits in blocked_here(1); prints (JSON) a
RunTree without locals, one without threads, and the default run-info
text.

The test expects the blocker's frame without arguments or locals, no
threads when threads=False, and a text without arguments or locals.
"""
import json
import threading

import stackwatch

ready, stop = threading.Event(), threading.Event()


def blocked_here(x):
    ready.set()
    stop.wait()


threading.Thread(target=blocked_here, args=(1,), name="blocker",
                 daemon=True).start()
ready.wait()
plain = stackwatch.RunTree()
print(json.dumps({"plain": plain.to_dict(),
                  "none": stackwatch.RunTree(threads=False).to_dict(),
                  "text": stackwatch.format_run_info()}))
stop.set()
