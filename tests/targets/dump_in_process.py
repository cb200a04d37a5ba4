"""stackwatch.dump(file=...) called in process, with a thread "waiter"
waiting: checks that the text returned is the text written, and prints it.

The test expects the waiter thread and calling_dump (this file) in it.
"""
import io
import threading

import stackwatch

ev = threading.Event()
t = threading.Thread(target=ev.wait, name="waiter")
t.start()
buf = io.StringIO()


def calling_dump():
    return stackwatch.dump(file=buf)  # calling-dump


text = calling_dump()
ev.set()
t.join()
assert buf.getvalue().rstrip("\n") == text.rstrip("\n")
print(text)
