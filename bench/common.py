"""What bench/run.py and bench/monitor.py share."""

import os
import subprocess


def git_commit(root: str) -> str:
    """The short commit of the work tree at root, or "?".  In the Debian
    root (no git there) make passes it in STACKWATCH_BENCH_COMMIT."""
    if os.environ.get("STACKWATCH_BENCH_COMMIT"):
        return os.environ["STACKWATCH_BENCH_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                              cwd=root, capture_output=True, text=True,
                              timeout=30).stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"
