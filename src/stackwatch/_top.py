"""`stackwatch top (PID | script.py ... | -m module ...)`: a live view of
where a running process spends its time, refreshed every interval.

The process profiles itself, as for `record --pid` (_remote.py: the same
request, with an interval): it sends the profile so far every interval
(csrc/dump.c, "part" messages); the difference between two is what was
sampled in between, and the view sums the last WINDOW seconds of them.
Functions are ranked by their share of the window's samples: own (the
function at the top of the stack) and total (anywhere in it), with the
share of its own samples taken while its thread held the GIL and the
share of their time spent on CPU.

On a terminal: curses, with keys (see KEYS); to anything else (a pipe),
one plain snapshot per interval.
"""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import sys
import time
from collections import deque

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Deque, Dict, List, Optional, Tuple

from stackwatch import _frame, _native, _remote, dumping, profiler

KEYS = ("o own  t total  G gil  c cpu (sort)   a all threads  n next "
        "thread  g greenlets   p pause   q quit")
SORTS = ("own", "total", "gil", "cpu")


class TopError(Exception):
    """top could not go on; the message is one line."""


class Stream:
    """The target's profile so far, every interval, on one socket."""

    def __init__(self, pid: int, rate: float, mode: str, interval: float,
                 seconds: Optional[float], signal_spec: Optional[str],
                 timeout: float = _remote.ANSWER_TIMEOUT) -> None:
        self.pid = pid
        try:
            uid, directory, signum = dumping.locate(pid, signal_spec)
            self.conn = dumping.connect(pid, uid, directory, signum,
                                        timeout, _native.DUMP_PROFILE)
        except dumping.DumpError as e:
            raise TopError(str(e)) from None
        self.buf = b""
        self.ended: Optional[str] = None
        try:
            self.conn.settimeout(timeout)
            self.conn.sendall(b"profile %r %r %d 0 %d\n" % (
                float(rate), float(seconds or _remote.FOREVER),
                profiler.MODES[mode], int(interval * 1000)))
            line = _remote._read_line(self.conn, time.monotonic() + timeout)
        except (socket.timeout, OSError) as e:
            self.conn.close()
            raise TopError("process %d did not answer: %s" % (pid, e)
                           ) from None
        if line.startswith(b"error "):
            self.conn.close()
            raise TopError("process %d: %s" % (
                pid, line[6:].decode("utf-8", "replace").strip()))
        if line != b"ok\n":
            self.conn.close()
            raise TopError("process %d did not take the request" % pid)
        self.conn.setblocking(False)

    def fileno(self) -> int:
        return self.conn.fileno()

    def poll(self) -> "List[Tuple[Dict[str, Any], List[Any]]]":
        """The profiles that arrived whole since the last call (reads
        what is there, never waits). Sets self.ended ("done", "stopped",
        "exit", or "gone") when the stream is over."""
        while self.ended is None:
            try:
                data = self.conn.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                data = b""
            if not data:
                if self.ended is None:
                    self.ended = "gone"
                break
            self.buf += data
        out = []
        while True:
            head, sep, rest = self.buf.partition(b"\n")
            if not sep:
                break
            words = head.decode("ascii", "replace").split()
            if len(words) != 3 or not words[2].isdigit():
                self.ended = self.ended or "gone"
                self.buf = b""
                break
            n = int(words[2])
            if len(rest) < n:
                break
            data, self.buf = rest[:n], rest[n:]
            try:
                out.append(_remote.parse_part(data))
            except (ValueError, KeyError, TypeError, UnicodeError):
                pass
            if words[0] == "end":
                self.ended = words[1]
        return out

    def stop(self) -> None:
        try:
            self.conn.setblocking(True)
            self.conn.settimeout(1.0)
            self.conn.sendall(b"stop\n")
        except OSError:
            pass

    def close(self) -> None:
        self.conn.close()


class OutsideStream:
    """The profile so far of a process that did not enable stackwatch,
    every interval, read from outside (_outside.record, one interval at
    a time on a thread of ours; the process is never stopped). The same
    interface as Stream."""

    def __init__(self, pid: int, rate: float, mode: str, interval: float,
                 seconds: Optional[float]) -> None:
        import os
        import threading

        from stackwatch import _outside

        self.pid = pid
        try:
            self.how = _outside.dump(pid)[1]  # readable at all?
        except _outside.OutsideError as e:
            raise _OutsideRefused(e) from None
        self.ended: Optional[str] = None
        self._final: Optional[str] = None  # how the reading thread ended
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._ready: "List[Tuple[Dict[str, Any], List[Any]]]" = []
        self._rfd, self._wfd = os.pipe()
        self._args = (rate, mode, interval, seconds)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="stackwatch-top-outside")
        self._thread.start()

    def _run(self) -> None:
        import os

        from stackwatch import _outside

        rate, mode, interval, seconds = self._args
        cumulative: "Dict[Any, List[Any]]" = {}
        slots: "Dict[int, int]" = {}  # tid -> a slot stable across reads
        took = samples = passes = 0.0
        ended = "done"
        while not self._stopping.is_set():
            step = interval if seconds is None else min(interval,
                                                        seconds - took)
            if step <= 0:
                break
            try:
                rec = _outside.record(self.pid, step, rate, mode)
            except (_outside.OutsideError, ValueError):
                ended = "gone"
                break
            st = rec.session.stats()
            took += st["duration_seconds"]
            samples += st["samples"]
            passes += st["passes"]
            threads = {slot: (ident, tid, name) for slot, ident, tid, name, _
                       in rec.session.threads()}
            frames, rows = rec.session.export()
            for slot, gid, stack, count, wall, cpu, gil in rows:
                ident, tid, name = threads.get(slot, (0, 0, None))
                stable = slots.setdefault(tid or ident, len(slots) + 1)
                labels = tuple(frames[i] for i in stack)
                key = (stable, gid, labels)
                row = cumulative.setdefault(
                    key, [self.pid, stable, ident, tid, name, gid, None,
                          labels, 0, 0, 0, 0, None])
                row[4] = name or row[4]
                row[8] += count
                row[9] += wall
                row[10] += cpu
                row[11] += gil
            stats = {"rate": rate, "samples": int(samples), "seconds": took,
                     "effective_rate": passes / took if took else 0.0,
                     "dropped": 0}
            with self._lock:
                self._ready.append((stats, [tuple(r) for r in
                                            cumulative.values()]))
            os.write(self._wfd, b"x")
            if rec.exited:
                ended = "exit"
                break
        with self._lock:
            self._final = "stopped" if self._stopping.is_set() and \
                ended == "done" else ended
        os.write(self._wfd, b"x")

    def fileno(self) -> int:
        return self._rfd

    def poll(self) -> "List[Tuple[Dict[str, Any], List[Any]]]":
        import os

        import select as select_

        while select_.select([self._rfd], [], [], 0)[0]:
            os.read(self._rfd, 4096)
        with self._lock:
            out, self._ready = self._ready, []
            self.ended = self._final
        return out

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        import os

        self._stopping.set()
        self._thread.join(30)
        os.close(self._rfd)
        os.close(self._wfd)


class _OutsideRefused(Exception):
    """The process cannot be read from outside: the OutsideError."""


Key = "Tuple[int, int, Tuple[Tuple[str, str, int], ...]]"


class Window:
    """The last `size` intervals' samples, from cumulative profiles."""

    def __init__(self, size: int) -> None:
        self.last: "Dict[Any, Tuple[int, int, int, int]]" = {}
        self.deltas: "Deque[List[Tuple[Any, ...]]]" = deque(maxlen=size)
        self.threads: "Dict[int, str]" = {}
        self.glabels: "Dict[Tuple[int, int], str]" = {}
        self.stats: "Dict[str, Any]" = {}
        self.updates = 0  # profiles received

    def add(self, stats: "Dict[str, Any]", rows: "List[Any]",
            keep: bool = True) -> None:
        """Takes the profile so far; keep=False (paused): the view stays
        as it is, and the next delta starts from here."""
        if keep:
            self.updates += 1
            self.stats = stats
        now: "Dict[Any, Tuple[int, int, int, int]]" = {}
        delta = []
        for (_pid, slot, ident, tid, tname, gid, glabel, frames, count,
             wall, cpu, gil, gtext) in rows:
            self.threads[slot] = tname or "Thread 0x%x%s" % (
                ident, " (tid %d)" % tid if tid else "")
            if gid:
                self.glabels[(slot, gid)] = gtext or glabel or \
                    "greenlet #%d" % gid
            key = (slot, gid, frames)
            now[key] = (count, wall, cpu, gil)
            c0, w0, u0, g0 = self.last.get(key, (0, 0, 0, 0))
            if count > c0:
                delta.append((slot, gid, frames, count - c0, wall - w0,
                              cpu - u0, gil - g0))
        self.last = now
        if keep:
            self.deltas.append(delta)

    def table(self, view: str, thread: Optional[int]
              ) -> "Tuple[int, List[Tuple[str, int, int, int, float]]]":
        """(samples, [(function text, own, total, gil, cpu share)])."""
        own: "Dict[Any, int]" = {}
        total: "Dict[Any, int]" = {}
        gil: "Dict[Any, int]" = {}
        wall: "Dict[Any, int]" = {}
        cpu: "Dict[Any, int]" = {}
        samples = 0
        for delta in self.deltas:
            for slot, gid, frames, count, w, c, g in delta:
                if thread is not None and slot != thread:
                    continue
                if not frames:
                    continue
                group = None
                if view == "greenlets":
                    group = self.glabels.get((slot, gid)) if gid else \
                        self.threads.get(slot)
                samples += count
                leaf = (group, frames[-1][0], frames[-1][1])
                own[leaf] = own.get(leaf, 0) + count
                gil[leaf] = gil.get(leaf, 0) + g
                wall[leaf] = wall.get(leaf, 0) + w
                cpu[leaf] = cpu.get(leaf, 0) + c
                for f in {(group, f[0], f[1]) for f in frames}:
                    total[f] = total.get(f, 0) + count
        rows = []
        for f, n in total.items():
            name = "%s (%s)" % (f[1], _native.short_path(f[2]) if f[2]
                                else "?")
            if f[0]:
                name += "  [%s]" % f[0]
            o = own.get(f, 0)
            rows.append((name, o, n, gil.get(f, 0),
                         cpu.get(f, 0) / wall[f] if wall.get(f) else 0.0))
        return samples, rows


def sort_rows(rows: "List[Tuple[str, int, int, int, float]]", by: str
              ) -> "List[Tuple[str, int, int, int, float]]":
    index = {"own": lambda r: (r[1], r[2]), "total": lambda r: (r[2], r[1]),
             "gil": lambda r: (r[3] / r[1] if r[1] else 0.0, r[1]),
             "cpu": lambda r: (r[4], r[1])}[by]
    return sorted(rows, key=index, reverse=True)


class View:
    """What is shown: the sort, the threads, paused or not."""

    def __init__(self) -> None:
        self.sort = "own"
        self.mode = "all"  # all, thread, greenlets
        self.thread: Optional[int] = None
        self.paused = False

    def key(self, ch: str, window: Window) -> bool:
        """Applies a key; False for q."""
        if ch == "q":
            return False
        if ch in ("o", "t", "c"):
            self.sort = {"o": "own", "t": "total", "c": "cpu"}[ch]
        elif ch == "G":
            self.sort = "gil"
        elif ch == "s":
            self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        elif ch == "a":
            self.mode, self.thread = "all", None
        elif ch == "g":
            self.mode, self.thread = "greenlets", None
        elif ch == "n":
            slots = sorted(window.threads)
            if slots:
                if self.mode != "thread" or self.thread not in slots:
                    self.thread = slots[0]
                else:
                    self.thread = slots[(slots.index(self.thread) + 1)
                                        % len(slots)]
                self.mode = "thread"
        elif ch == "p":
            self.paused = not self.paused
        return True

    def describe(self, window: Window) -> str:
        if self.mode == "thread" and self.thread is not None:
            slots = sorted(window.threads)
            return "thread %s (%d/%d)" % (
                window.threads.get(self.thread, "?"),
                slots.index(self.thread) + 1 if self.thread in slots else 0,
                len(slots))
        return {"all": "all threads", "greenlets": "greenlets"}.get(
            self.mode, self.mode)


def screen(pid: int, command: str, window: Window, view: View,
           seconds: float, width: int, height: int) -> "List[str]":
    """The lines of one screen (or snapshot)."""
    st = window.stats
    samples, rows = window.table(
        "greenlets" if view.mode == "greenlets" else "all",
        view.thread if view.mode == "thread" else None)
    rows = sort_rows(rows, view.sort)
    head = [
        ("stackwatch top - update %d%s - pid %d: %s" % (
            window.updates, " [paused]" if view.paused else "", pid,
            command))[:width],
        ("rate %g Hz (%.1f effective)  dropped %d  samples %d in the last "
         "%.0f s  %d thread%s  view: %s  sort: %s"
         % (st.get("rate", 0), st.get("effective_rate", 0.0),
            st.get("dropped", 0), samples, seconds, len(window.threads),
            "" if len(window.threads) == 1 else "s",
            view.describe(window), view.sort))[:width],
        "",
        "%7s %7s %6s %6s  %s" % ("OWN%", "TOTAL%", "GIL%", "CPU%",
                                  "FUNCTION"),
    ]
    body = []
    for name, own, total, gil, cpu in rows[:max(0, height - len(head) - 1)]:
        body.append(("%7.1f %7.1f %6.0f %6.0f  %s" % (
            100.0 * own / samples if samples else 0.0,
            100.0 * total / samples if samples else 0.0,
            100.0 * gil / own if own else 0.0,
            # (a CPU time read at a pass a little late can pass 100%)
            min(100.0, 100.0 * cpu),
            name))[:width])
    return head + body


def _command(pid: int) -> str:
    return _remote._command(pid)


def _launch(target: Optional[str], module: Optional[str],
            args: "List[str]", quiet: bool) -> "subprocess.Popen[bytes]":
    """Starts script or -m module with stackwatch enabled."""
    # env(1) sets the variable and execs python (same pid): only _config
    # touches this process's environment.
    cmd = ["env", "STACKWATCH_DUMP=1", sys.executable] + (
        ["-m", module] if module else [target]) + args
    out = subprocess.DEVNULL if quiet else sys.stderr
    return subprocess.Popen(cmd, stdout=out, stderr=out)


def _wait_enabled(child: "subprocess.Popen[bytes]", timeout: float = 30.0
                  ) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if child.poll() is not None:
            raise TopError("the target exited (status %d) before it could "
                           "be watched" % child.returncode)
        try:
            dumping.locate(child.pid)
            return
        except dumping.DumpError:
            if time.monotonic() > deadline:
                raise TopError("the target did not enable stackwatch within "
                               "%g s" % timeout) from None
            time.sleep(0.05)


def _open(pid: int, ns: Any) -> "Any":
    """The stream of process pid's profiles: asked of the process when it
    enabled stackwatch, read from outside when it did not (or may not be
    asked, or --outside says so) and the system allows it; TopError
    otherwise, saying why and how to enable either path."""
    from stackwatch import _outside

    asked: Optional[bool] = None
    if not getattr(ns, "outside", False):
        try:
            dumping.locate(pid, ns.signal)
        except dumping.NotEnabled:
            asked = True
        except dumping.NotPermitted:
            asked = False
        except dumping.DumpError as e:
            raise TopError(str(e)) from None
        else:
            return Stream(pid, ns.rate, ns.mode, ns.interval, ns.duration,
                          ns.signal)
    elif not _remote._alive(pid):
        raise TopError("no such process: %d" % pid)
    try:
        stream = OutsideStream(pid, ns.rate, ns.mode, ns.interval,
                               ns.duration)
    except _OutsideRefused as refused:
        e = refused.args[0]
        if str(e).startswith("no such process"):
            raise TopError(str(e)) from None
        how = _outside.how_to("top")
        if asked is None:
            raise TopError("process %d: %s%s" % (
                pid, e, "; " + how if e.denied else "")) from None
        if asked:
            raise TopError("stackwatch is not enabled in process %d, and "
                           "%s; either %s, or %s" % (
                               pid, e, _outside.ENABLE, how)) from None
        raise TopError("permission denied: process %d belongs to another "
                       "user, whose processes this command may not ask for "
                       "a profile, and %s; %s" % (pid, e, how)) from None
    sys.stderr.write("[stackwatch] process %d%s: %s\n" % (
        pid, {None: "", True: " did not enable stackwatch",
              False: " belongs to another user"}[asked], stream.how))
    sys.stderr.flush()
    return stream


def run(ns: Any, prog: str, fail: Any) -> int:
    """`stackwatch top`: ns has pid (or target / module and args), rate,
    mode, interval, window, rows, duration, signal, full_paths."""
    tty = sys.stdout.isatty() and sys.stdin.isatty()
    child = None
    pid = ns.pid
    if pid is None:
        child = _launch(ns.target, ns.module, ns.args, quiet=tty)
        pid = child.pid
    try:
        try:
            if child is not None:
                _wait_enabled(child)
            stream = _open(pid, ns)
        except TopError as e:
            fail(str(e), prog, status=1)
        _remote.use_target_paths(pid, ns.full_paths)
        window = Window(max(1, int(round(ns.window / ns.interval))))
        command = _command(pid)
        if tty:
            import curses

            ended = curses.wrapper(_curses_loop, stream, window, pid,
                                   command, ns)
        else:
            ended = _pipe_loop(stream, window, pid, command, ns)
        stream.close()
    finally:
        if child is not None:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
    if ended == "exit" or ended == "gone":
        sys.stderr.write("[stackwatch] process %d %s\n" % (
            pid, "exited" if not _remote._alive(pid) else
            "closed the connection"))
    return 0


def _pipe_loop(stream: Stream, window: Window, pid: int, command: str,
               ns: Any) -> str:
    view = View()
    stopping = []

    def on_signal(signum: int, frame: object) -> None:
        stopping.append(time.monotonic())
        if len(stopping) == 1:
            stream.stop()

    old = signal.signal(signal.SIGINT, on_signal)
    try:
        while stream.ended is None:
            if len(stopping) > 1 or (stopping and time.monotonic()
                                     > stopping[0] + _remote.SEND_TIMEOUT):
                return "stopped"  # a second Ctrl-C, or no answer: go
            select.select([stream], [], [], 0.5)
            for stats, rows in stream.poll():
                window.add(stats, rows)
                lines = screen(pid, command, window, view, ns.window, 200,
                               ns.rows + 5)
                try:
                    sys.stdout.write("\n".join(lines) + "\n\n")
                    sys.stdout.flush()
                except BrokenPipeError:
                    stream.stop()
                    return "stopped"
    finally:
        signal.signal(signal.SIGINT, old)
    return stream.ended or "gone"


def _curses_loop(stdscr: Any, stream: Stream, window: Window, pid: int,
                 command: str, ns: Any) -> str:
    import curses

    try:
        curses.curs_set(0)
    except curses.error:
        pass
    stdscr.timeout(100)
    view = View()
    dirty = True
    while True:
        for stats, rows in stream.poll():
            window.add(stats, rows, keep=not view.paused)
            dirty = dirty or not view.paused
        if stream.ended is not None:
            return stream.ended
        ch = stdscr.getch()
        if ch != -1:
            text = chr(ch) if 0 < ch < 256 else ""
            if not view.key(text, window):
                stream.stop()
                return "stopped"
            dirty = True
        if dirty:
            height, width = stdscr.getmaxyx()
            lines = screen(pid, command, window, view, ns.window, width - 1,
                           height - 2)
            stdscr.erase()
            for i, line in enumerate(lines[:height - 2]):
                stdscr.addnstr(i, 0, line, width - 1)
            stdscr.addnstr(height - 1, 0, KEYS, width - 1, curses.A_REVERSE)
            stdscr.refresh()
            dirty = False
