"""The API in one process, inside an asyncio coroutine: prints
stackwatch.dump() with short paths, then with full_paths=True, then the
run info text both ways, then Frame.short_filename of asyncio's
base_events.py, each section after a "--- name" line.

The tests (test_paths.py) expect "asyncio/base_events.py" short in the
first of each pair, the full path in the second.
"""
import asyncio
import asyncio.base_events
import io
import sys

import stackwatch
from stackwatch import runinfo


async def main():
    print("--- dump")
    stackwatch.dump(file=io.StringIO())  # warms up names
    stackwatch.dump(file=sys.stdout)
    print("--- dump full")
    stackwatch.dump(file=sys.stdout, full_paths=True)
    print("--- run info")
    tree = runinfo.RunTree()
    print(tree.format())
    print("--- run info full")
    print(tree.format(full_paths=True))
    print("--- format_run_info full")
    print(runinfo.format_run_info(full_paths=True))
    print("--- frame")
    f = stackwatch.Frame("run_forever", asyncio.base_events.__file__, 1)
    print(f.short_filename)
    print(f.filename)


asyncio.run(main())
