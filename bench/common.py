"""What bench/run.py and bench/monitor.py share."""

import subprocess


def git_commit(root: str) -> str:
    """The short commit of the work tree at root, or "?"."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                              cwd=root, capture_output=True, text=True,
                              timeout=30).stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"
