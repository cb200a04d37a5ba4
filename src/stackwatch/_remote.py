"""`stackwatch record --pid PID`: a profile of a running process that has
stackwatch enabled, taken by the process itself.

The request travels as a dump request does (dumping.py: registration,
signal, the target connecting to our private socket), with the flag
DUMP_PROFILE; then, on that socket (csrc/dump.h tells the exchange):
we send the settings, the target answers "ok" (or "error <reason>", e.g.
busy when another on-demand profile is being taken there), samples on a
second sampler of its own (csrc/ondemand.c: its own profile, if it is
recording one, is not disturbed) for the duration or until we send
"stop" (Ctrl-C), and sends the aggregated profile in the part format of
_forks.py, which is written here with the usual writers.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

from stackwatch import _forks, _frame, _native, _output, dumping, profiler

#: Without -d: until Ctrl-C (the target's limit: one day).
FOREVER = 86400.0

#: Seconds for the target to answer the request and, after the end, to
#: send its profile (it asks its GIL side for labels for up to its
#: --gil-wait first).
ANSWER_TIMEOUT = 5.0
SEND_TIMEOUT = 30.0

#: The target sends its profile so far this often: a target killed
#: mid-profile loses at most this many seconds of it.
PARTS_EVERY = 2.0


class RemoteError(Exception):
    """A profile request that failed; the message is one line."""


class Result:
    def __init__(self, stats: "Dict[str, Any]", rows: "List[Any]",
                 reason: str, asked: float) -> None:
        self.stats = stats
        self.rows = rows
        self.reason = reason  # done, stopped, exit
        self.asked = asked


class Reader:
    """Lines and counted blocks from a socket, keeping what was read
    when a wait times out (socket.timeout), so nothing is lost."""

    def __init__(self, conn: "Any") -> None:
        self.conn = conn
        self.buf = b""
        self.eof = False

    def _fill(self, deadline: float) -> None:
        self.conn.settimeout(max(0.01, deadline - time.monotonic()))
        data = self.conn.recv(1 << 20)
        if not data:
            self.eof = True
        self.buf += data

    def line(self, deadline: float) -> bytes:
        """The next line (with its newline); b"" at the end."""
        while b"\n" not in self.buf and not self.eof:
            if len(self.buf) > 4096:
                break
            self._fill(deadline)
        head, sep, rest = self.buf.partition(b"\n")
        if not sep:
            return b""
        self.buf = rest
        return head + sep

    def exact(self, n: int, deadline: float) -> bytes:
        """The next n bytes (fewer at the end)."""
        while len(self.buf) < n and not self.eof:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def _read_line(conn: "Any", deadline: float) -> bytes:
    """One line read byte by byte (the first answer: nothing follows it
    until we speak again)."""
    data = b""
    while not data.endswith(b"\n") and len(data) <= 4096:
        conn.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = conn.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def parse_part(data: bytes) -> "Tuple[Dict[str, Any], List[Any]]":
    """(stats, rows) of a profile in _forks' part format; ValueError when
    it is not whole and well-formed."""
    import json

    head, sep, body = data.partition(b"\n")
    if head.decode("ascii", "replace") != _forks.MAGIC or not sep:
        raise ValueError("not a profile of this stackwatch")
    doc = json.loads(body.decode("utf-8"))
    if type(doc) is not dict or type(doc.get("stats")) is not dict:
        raise ValueError("not a profile of this stackwatch")
    return doc["stats"], _forks.doc_rows(doc)


def take(pid: int, seconds: Optional[float], rate: float, mode: str,
         lines: int, signal_spec: Optional[str] = None,
         timeout: float = ANSWER_TIMEOUT) -> Result:
    """Asks process pid for a profile of `seconds` (None: until Ctrl-C)
    at `rate`; returns what it sent. Raises RemoteError (one line)."""
    try:
        uid, directory, signum = dumping.locate(pid, signal_spec)
        conn = dumping.connect(pid, uid, directory, signum, timeout,
                               _native.DUMP_PROFILE)
    except (dumping.NotEnabled, dumping.NotPermitted):
        raise  # record_pid reads such a process from outside
    except dumping.DumpError as e:
        raise RemoteError(str(e)) from None
    asked = FOREVER if seconds is None else seconds
    with conn:
        try:
            return _exchange(conn, pid, asked, rate, mode, lines, timeout)
        except socket.timeout:
            raise RemoteError("timeout: process %d did not answer within "
                              "%g s" % (pid, timeout)) from None
        except OSError as e:
            raise RemoteError("process %d: %s" % (pid, e.strerror or e)
                              ) from None


def _exchange(conn: "Any", pid: int, asked: float, rate: float, mode: str,
              lines: int, timeout: float) -> Result:
    conn.settimeout(timeout)
    conn.sendall(b"profile %r %r %d %d %d\n"
                 % (float(rate), float(asked), profiler.MODES[mode], lines,
                    int(PARTS_EVERY * 1000)))
    line = _read_line(conn, time.monotonic() + timeout)
    if line.startswith(b"error "):
        raise RemoteError("process %d: %s" % (
            pid, line[6:].decode("utf-8", "replace").strip()))
    if line != b"ok\n":
        raise RemoteError("process %d did not take the request (an older "
                          "stackwatch?)" % pid)
    # Sampling there now. Ctrl-C (SIGINT) or SIGTERM: ask it to stop
    # early and still write what it sampled; a second one gives up.
    stop = []
    end = [time.monotonic() + asked]  # when the profile should come

    def on_signal(signum: int, frame: object) -> None:
        if stop:
            raise RemoteError("interrupted while waiting for process %d's "
                              "profile: nothing written" % pid)
        stop.append(signum)
        end[0] = time.monotonic()
        try:
            conn.sendall(b"stop\n")
        except OSError:
            pass

    old = {s: signal.signal(s, on_signal)
           for s in (signal.SIGINT, signal.SIGTERM)}
    # Said once Ctrl-C is ours (a Ctrl-C right after it must stop early).
    sys.stderr.write("[stackwatch] process %d is sampling itself at %g Hz "
                     "%s\n" % (pid, rate, "until Ctrl-C" if asked == FOREVER
                                else "for %g s (Ctrl-C stops it earlier)"
                                % asked))
    sys.stderr.flush()
    reader = Reader(conn)
    last: Optional[bytes] = None  # the latest profile so far
    final: Optional[Tuple[str, bytes]] = None
    try:
        while final is None:
            try:
                head = reader.line(time.monotonic() + 1.0)
            except socket.timeout:
                if time.monotonic() > end[0] + SEND_TIMEOUT:
                    raise RemoteError(
                        "timeout: process %d did not send its profile "
                        "within %g s of its end" % (pid, SEND_TIMEOUT)
                    ) from None
                continue
            words = head.decode("ascii", "replace").split()
            if len(words) != 3 or words[0] not in ("part", "end") or \
                    not words[2].isdigit():
                break  # the end of the connection (or garbage)
            data = reader.exact(int(words[2]),
                                time.monotonic() + SEND_TIMEOUT)
            if len(data) < int(words[2]):
                break
            if words[0] == "end":
                final = (words[1], data)
            else:
                last = data
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if final is None:
        # The connection ended without the profile: the process may be
        # exiting still (its files are closed before it is gone).
        gone = _gone_soon(pid)
        if last is None:
            raise RemoteError(
                "process %d %s before sending its profile: nothing to write"
                % (pid, "ended" if gone else "closed the connection"))
        # Killed (or its connection cut) mid-profile: what it had sent
        # last, at most PARTS_EVERY seconds old.
        final = ("killed" if gone else "cut", last)
    try:
        stats, rows = parse_part(final[1])
    except (ValueError, KeyError, TypeError, UnicodeError) as e:
        raise RemoteError("process %d sent a profile that does not read "
                          "back whole (%s)" % (pid, e)) from None
    return Result(stats, rows, final[0], asked)


def _alive(pid: int) -> bool:
    """Whether process pid still runs (a zombie does not)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return False
    state = data[data.rfind(b")") + 2:][:1]
    return state not in (b"Z", b"X", b"")


def _gone_soon(pid: int, wait: float = 1.0) -> bool:
    """Whether process pid ends within `wait` seconds."""
    deadline = time.monotonic() + wait
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _script_dir(pid: int) -> Optional[str]:
    """The directory of the script process pid runs (its sys.path[0]),
    from its command line and working directory; None if unknown."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
        cwd = os.readlink("/proc/%d/cwd" % pid)
    except OSError:
        return None
    words = iter(argv[1:])
    for word in words:
        text = word.decode("utf-8", "surrogateescape")
        if text.startswith("-"):
            if text in ("-m", "-c"):
                return cwd
            if text in ("-X", "-W"):
                next(words, None)  # their value
            continue
        path = os.path.join(cwd, text)
        return os.path.dirname(os.path.realpath(path)) if \
            os.path.isfile(path) else cwd
    return cwd


def _python_version_of(base: str) -> "Optional[str]":
    """"X.Y" when base names an interpreter (pythonX.Y, pythonX.Yd) or its
    library (libpythonX.Y.so, libpythonX.Y.so.1.0); else None."""
    name = base[3:] if base.startswith("libpython") else base
    if not name.startswith("python"):
        return None
    rest = name[len("python"):]
    if rest.endswith(".so") or ".so." in rest:
        rest = rest[:rest.index(".so")]
    elif base.startswith("lib"):
        return None
    x, dot, y = rest.rstrip("dmu").partition(".")
    return rest.rstrip("dmu") if dot and x.isdigit() and y.isdigit() else None


def _package_dirs(pid: int) -> "List[str]":
    """The site-packages (dist-packages) and standard library directories
    of process pid, as its loaded extension modules show them in its
    memory map: the directories its sys.path most likely holds, whatever
    this process's is."""
    out: "List[str]" = []
    try:
        with open("/proc/%d/maps" % pid, "rb") as f:
            maps = f.read().decode("utf-8", "surrogateescape")
        # The map names files as this process sees them; a process in a
        # chroot names its own files from its root.
        root = os.readlink("/proc/%d/root" % pid).rstrip("/")
    except OSError:
        return out
    for line in maps.splitlines():
        fields = line.split(None, 5)
        path = fields[5].strip() if len(fields) == 6 else ""
        d = None
        for mark in ("/site-packages/", "/dist-packages/"):
            at = path.find(mark)
            if at > 0:
                d = path[:at + len(mark) - 1]
                break
        if d is None and "/lib-dynload/" in path:
            d = path[:path.index("/lib-dynload/")]
        if d is None:
            # Its interpreter: PREFIX/lib/libpythonX.Y.so or
            # PREFIX/bin/pythonX.Y; its standard library PREFIX/lib/pythonX.Y.
            version = _python_version_of(os.path.basename(path))
            if version is not None:
                top = os.path.dirname(os.path.dirname(path))
                d = os.path.join(top, "lib", "python" + version)
        if d is None:
            continue
        for one in (d, d[len(root):] if root and
                    d.startswith(root + "/") else None):
            if one is not None and one not in out:
                out.append(one)
        if len(out) >= 32:
            break
    return out


def use_target_paths(pid: int, full_paths: bool) -> None:
    """Text shows process pid's files as it would itself: without its
    script's directory, its site-packages and its standard library (and
    this process's sys.path); --full-paths: whole."""
    if full_paths:
        _frame.set_full_paths()
    else:
        _frame.use_sys_path(_script_dir(pid), pin=True,
                            extra=_package_dirs(pid))


def _command(pid: int) -> str:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().rstrip(b"\0").split(b"\0")
        return " ".join(a.decode("utf-8", "replace") for a in argv[:6])
    except OSError:
        return "process %d" % pid


def render(res: Result, pid: int, fmt: str, threads: bool, greenlets: Any,
           mode: str, full_paths: bool) -> bytes:
    """The profile in fmt, with the usual writers."""
    session = _forks.merge(res.rows)
    st = res.stats
    nthreads = len(session.threads())
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    subtitle = ("%d samples of %d thread%s over %.1f s at %g Hz (%.1f Hz "
                "effective), %s mode, process %d, %s"
                % (st.get("samples", 0), nthreads,
                   "" if nthreads == 1 else "s", st.get("seconds", 0.0),
                   st.get("rate", 0), st.get("effective_rate", 0.0), mode,
                   pid, when))
    from stackwatch import __version__
    return session.write(
        fmt, by_thread=threads,
        by_greenlet=profiler.GREENLETS[greenlets],
        weight=profiler._WEIGHT[mode],
        title="stackwatch: %s" % _command(pid), subtitle=subtitle,
        exporter="stackwatch@%s" % __version__, full_paths=full_paths)


def _note(text: str) -> None:
    sys.stderr.write("[stackwatch] %s\n" % text)


def record_pid(ns: Any, prog: str, fail: Any) -> int:
    """`stackwatch record --pid PID ...` (cli.record's options, checked
    there: rate, mode, output, format)."""
    pid = ns.pid
    full_paths = bool(ns.full_paths)
    lines = profiler.LINES["none" if ns.nolineno else "function"
                           if ns.function else "current"]
    if ns.outside:
        return _record_outside(ns, prog, fail, None)
    try:
        res = take(pid, ns.duration, ns.rate, ns.mode, lines, ns.signal)
    except RemoteError as e:
        fail(str(e), prog, status=1)
    except dumping.NotEnabled:
        return _record_outside(ns, prog, fail, True)
    except dumping.NotPermitted:
        return _record_outside(ns, prog, fail, False)
    use_target_paths(pid, full_paths)
    st = res.stats
    ended = {"done": "",
             "stopped": " (stopped early, as asked)",
             "exit": " (process %d exited %.1f s into the %g s asked: "
                     "what was sampled until then is written)"
                     % (pid, st.get("seconds", 0.0), res.asked),
             "killed": " (process %d ended abruptly (killed?) after its "
                       "profile of the first %.1f s was sent: that is what "
                       "is written)" % (pid, st.get("seconds", 0.0)),
             "cut": " (the connection to process %d was cut after its "
                    "profile of the first %.1f s was sent: that is what "
                    "is written)" % (pid, st.get("seconds", 0.0))}.get(
                         res.reason, "")
    _note("%d samples of process %d in %.1f s (%.1f Hz effective, %s mode)"
          "%s" % (st.get("samples", 0), pid, st.get("seconds", 0.0),
                  st.get("effective_rate", 0.0), ns.mode, ended))
    if not res.rows:
        _note("nothing was sampled: no profile written")
        return 1
    data = render(res, pid, ns.fmt, ns.threads, ns.greenlets, ns.mode,
                  full_paths)
    return _write_out(ns, data, prog, fail)


def _write_out(ns: Any, data: bytes, prog: str, fail: Any) -> int:
    """Puts the profile in ns.out (never half-written; stdout for "-"),
    says so and returns 0; one line and status 1 when it cannot."""
    try:
        _output.write_file(ns.out, data)
    except _output.OutputError as e:
        fail(str(e), prog, status=1)
    _note("wrote %s to %s" % (ns.fmt, "stdout" if ns.out == "-"
                              else ns.out))
    return 0


def _record_outside(ns: Any, prog: str, fail: Any, asked: Optional[bool]
                    ) -> int:
    """record --pid of a process that did not enable stackwatch (asked),
    that may not be asked (another user's: asked False), or that
    --outside wants read so (asked None): sampled from outside
    (_outside.record) where the system allows it, else one line saying
    why and how to enable either path (status 1)."""
    from stackwatch import _outside

    pid = ns.pid
    if not _alive(pid):
        fail("no such process: %d" % pid, prog, status=1)
    lines = "none" if ns.nolineno else "function" if ns.function \
        else "current"
    seconds = ns.duration or 0.0
    why = {None: "process %d: " % pid,
           True: "process %d did not enable stackwatch: " % pid,
           False: "process %d belongs to another user: " % pid}[asked]

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM ends the profile as Ctrl-C does (the reader looks at
    # signals every 100 ms), keeping what was sampled.
    old = signal.signal(signal.SIGTERM, on_term)
    try:
        # One read first, so that a process that cannot be read gets one
        # line saying why, and the first line names its interpreter.
        _outside.dump(pid)
        _note("%sreading it from outside with process_vm_readv at %g Hz "
              "%s; the process is not stopped%s"
              % (why, ns.rate, "until Ctrl-C" if not seconds else
                 "for %g s (Ctrl-C stops it earlier)" % seconds,
                 "; --greenlets needs stackwatch enabled in it: not "
                 "tracked" if ns.greenlets else ""))
        sys.stderr.flush()
        rec = _outside.record(pid, seconds, ns.rate, ns.mode, lines)
    except KeyboardInterrupt:
        fail("interrupted before process %d could be read: nothing "
             "written" % pid, prog, status=1)
    except ValueError as e:
        fail(str(e), prog)
    except _outside.OutsideError as e:
        if str(e).startswith("no such process"):
            fail(str(e), prog, status=1)
        how = _outside.how_to("record --pid")
        if asked is None:
            fail("process %d: %s%s" % (pid, e, "; " + how if e.denied
                                       else ""), prog, status=1)
        if asked:
            fail("stackwatch is not enabled in process %d, and %s; either "
                 "%s, or %s" % (pid, e, _outside.ENABLE, how), prog,
                 status=1)
        fail("permission denied: process %d belongs to another user, whose "
             "processes this command may not ask for a profile, and %s; %s"
             % (pid, e, how), prog, status=1)
    finally:
        signal.signal(signal.SIGTERM, old)
    st = rec.session.stats()
    took = st["duration_seconds"]
    ended = (" (process %d exited %.1f s into the profile: what was "
             "sampled until then is written)" % (pid, took) if rec.exited
             else " (stopped early by Ctrl-C: what was sampled until then "
             "is written)" if rec.interrupted else "")
    from stackwatch.cli import _left_out  # (the CLI runs this)

    _note("%d samples of process %d in %.1f s (%.1f Hz effective, %s mode), "
          "read from outside (CPython %s, %s)%s; %s"
          % (st["samples"], pid, took,
             st["passes"] / took if took else 0.0, ns.mode, rec.python,
             rec.binary, ended, _left_out(st)))
    if not st["samples"]:
        _note("nothing was sampled: no profile written")
        return 1
    full_paths = bool(ns.full_paths)
    use_target_paths(pid, full_paths)
    data = rec.render(ns.fmt, threads=ns.threads, full_paths=full_paths)
    return _write_out(ns, data, prog, fail)
