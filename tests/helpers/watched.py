"""A child process (a CLI run, a server) whose stderr a thread collects
while the test talks to it, and that is never left running:

    with Watched(stackwatch_cmd("record", ...), env=child_env()) as run:
        run.proc.stdout.readline()          # stdout is a pipe (text)
        run.wait_for_stderr("Booting worker", 2)
        run.proc.send_signal(signal.SIGINT)
        run.proc.wait(timeout=60)
    assert run.proc.returncode == 130, run.stderr

Leaving the block kills the child if it still runs, waits for it, and
joins the reader, so `run.stderr` is whole after it.
"""

import subprocess
import threading
import time
from typing import Any, List, Sequence


class Watched:
    def __init__(self, cmd: Sequence[str], **popen: Any) -> None:
        popen.setdefault("stdout", subprocess.PIPE)
        self.proc = subprocess.Popen(list(cmd), stderr=subprocess.PIPE,
                                     text=True, **popen)
        self.lines: List[str] = []
        self._reader = threading.Thread(
            target=lambda: self.lines.extend(self.proc.stderr), daemon=True)
        self._reader.start()

    @property
    def stderr(self) -> str:
        """What the child wrote to stderr so far (all of it once the
        block is left)."""
        return "".join(list(self.lines))

    def wait_for_stderr(self, text: str, count: int = 1,
                        timeout: float = 60) -> None:
        """Waits until `count` lines of stderr contain `text`; fails (with
        the stderr) when the child ended first."""
        deadline = time.monotonic() + timeout
        while (sum(text in line for line in list(self.lines)) < count
               and time.monotonic() < deadline
               and self.proc.poll() is None):
            time.sleep(0.05)
        assert self.proc.poll() is None, self.stderr

    def __enter__(self) -> "Watched":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
