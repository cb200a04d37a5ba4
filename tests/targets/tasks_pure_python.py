"""Runs `stackwatch ARGS...` in an interpreter whose asyncio uses the
pure-Python Task (the _asyncio module is blocked before asyncio is
imported), for tests/test_tasks.py: --tasks must refuse it."""

import sys

sys.modules["_asyncio"] = None  # asyncio falls back to tasks.py's Task

from stackwatch.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
