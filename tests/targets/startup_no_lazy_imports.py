"""Run under STACKWATCH_DUMP=1 or `stackwatch run`: notes the loaded
modules, prints "ready", then idles until the file argv[1] exists (the
test asks for dumps meanwhile; the slow-script log writes snapshots),
and prints the modules loaded since, one a line, after "new:".

The test expects none: stackwatch's threads (the dump, service and
monitor threads) must not import while the program runs (an import by
our thread while the program forks would leave the child a module lock
held by a thread it does not have).
"""
import os
import sys
import time

before = set(sys.modules)
print("ready", flush=True)
end = time.monotonic() + 30
while not os.path.exists(sys.argv[1]) and time.monotonic() < end:
    time.sleep(0.05)
print("new:")
for name in sorted(set(sys.modules) - before):
    print(name)
