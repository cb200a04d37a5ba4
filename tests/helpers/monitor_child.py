"""Parent side of tests/test_monitor.py: child processes whose stdout and
stderr are read line by line as they come (each line stamped with the
time it arrived), their exit time, and the parsing of the watchdog's
reports and of the children's markers (tests/helpers/monitor_prelude.py).
"""

import json
import re
import subprocess
import sys
import threading
import time
from typing import List, NamedTuple, Optional

HEADER = re.compile(r"^\[stackwatch \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] "
                    r"(?P<what>.*)$")


class Entry(NamedTuple):
    """One thing a child wrote on stderr: a watchdog report (header line
    and its indented lines), a marker ("@@ text") or another line."""

    kind: str  # "report", "mark" or "other"
    text: str  # the header without its time stamp, the marker, the line
    body: List[str]
    index: int  # position among the entries
    arrived: float  # time.monotonic() in the parent when it was read

    @property
    def full(self) -> str:
        return "\n".join([self.text] + self.body)

    def frames(self) -> List[str]:
        """The report's stack lines ('File "x", line 3, in f')."""
        return [ln.strip() for ln in self.body
                if ln.startswith("    File ")]

    def last_frame(self) -> str:
        """The innermost frame's line, or "" if there is none."""
        frames = self.frames()
        return frames[-1] if frames else ""

    def last_function(self) -> str:
        return self.last_frame().rsplit(" ", 1)[-1]


def parse(lines) -> List[Entry]:
    entries: List[Entry] = []
    for arrived, line in lines:
        m = HEADER.match(line)
        if m:
            entries.append(Entry("report", m.group("what"), [], len(entries),
                                 arrived))
        elif line.startswith("@@ "):
            entries.append(Entry("mark", line[3:], [], len(entries), arrived))
        elif (line.startswith("  ") and entries
              and entries[-1].kind == "report"):
            entries[-1].body.append(line)
        else:
            entries.append(Entry("other", line, [], len(entries), arrived))
    return entries


class Child:
    """A child interpreter running a script, read as it goes."""

    def __init__(self, name: str, path: str, env: dict,
                 args: Optional[List[str]] = None, cwd: Optional[str] = None):
        self.name = name
        self.path = path
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", path] + list(args or []),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
            text=True, errors="replace", bufsize=1)
        self.out_lines: list = []
        self.err_lines: list = []
        self.exited_at: Optional[float] = None
        self._threads = [
            threading.Thread(target=self._read, daemon=True,
                             args=(self.proc.stdout, self.out_lines)),
            threading.Thread(target=self._read, daemon=True,
                             args=(self.proc.stderr, self.err_lines)),
            threading.Thread(target=self._wait, daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(stream, into: list) -> None:
        for line in iter(stream.readline, ""):
            into.append((time.monotonic(), line.rstrip("\n")))

    def _wait(self) -> None:
        self.proc.wait()
        self.exited_at = time.monotonic()

    def finish(self, timeout: float = 60.0) -> "Child":
        """Waits for the child to exit (at most `timeout` seconds after it
        was started: a hang fails the test) and for its output."""
        left = self.started + timeout - time.monotonic()
        self._threads[2].join(max(left, 0.0))
        if self.proc.poll() is None:
            self.close()
            raise AssertionError(
                "child %s did not exit within %.0f s\nstdout:\n%s\nstderr:\n%s"
                % (self.name, timeout, self.stdout, self.stderr))
        for t in self._threads:
            t.join(10.0)
        return self

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for t in self._threads:
            t.join(5.0)
        for s in (self.proc.stdout, self.proc.stderr):
            try:
                s.close()
            except Exception:
                pass

    @property
    def returncode(self) -> Optional[int]:
        return self.proc.returncode

    @property
    def stdout(self) -> str:
        return "\n".join(line for _, line in self.out_lines)

    @property
    def stderr(self) -> str:
        return "\n".join(line for _, line in self.err_lines)

    def entries(self) -> List[Entry]:
        return parse(self.err_lines)

    def reports(self, contains: str = "") -> List[Entry]:
        return [e for e in self.entries()
                if e.kind == "report" and contains in e.full]

    def mark(self, prefix: str) -> Entry:
        found = [e for e in self.entries()
                 if e.kind == "mark" and e.text.startswith(prefix)]
        assert len(found) == 1, ("marker %r: %d found\n%s"
                                 % (prefix, len(found), self.describe()))
        return found[0]

    def result(self) -> dict:
        found = [line[len("@@RESULT "):] for _, line in self.out_lines
                 if line.startswith("@@RESULT ")]
        assert len(found) == 1, self.describe()
        return json.loads(found[0])

    def describe(self) -> str:
        return ("child %s exited with %r\n--- stdout:\n%s\n--- stderr:\n%s"
                % (self.name, self.returncode, self.stdout[-6000:],
                   self.stderr[-10000:]))

    def check_ok(self) -> "Child":
        """Exit status 0 and no crash, no error of stackwatch's own."""
        assert self.returncode == 0, self.describe()
        assert "Fatal Python error" not in self.stderr, self.describe()
        return self

