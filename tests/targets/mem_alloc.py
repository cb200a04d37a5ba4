"""A program that knows nothing of stackwatch (run by `stackwatch mem
record`): a thread named "worker" keeps 30 MiB of bytes objects; prints
its arguments; then, with "sleep", says "ready" and sleeps until Ctrl-C,
else exits with the status given as its last argument."""
import sys
import threading
import time

kept = []


def work():
    kept.extend(bytes(4096) for _ in range(30 * 256))


t = threading.Thread(target=work, name="worker")
t.start()
t.join()
print("argv", sys.argv[1:], flush=True)
if sys.argv[1:2] == ["sleep"]:
    print("ready", flush=True)
    while True:
        time.sleep(1)
sys.exit(int(sys.argv[-1]) if sys.argv[1:] else 0)
