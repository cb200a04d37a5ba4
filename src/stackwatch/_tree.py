"""Whole process trees: ``stackwatch record -- COMMAND`` and
``record --subprocesses``.

The CLI makes a private spool directory (_forks.make_spool) and runs the
command with STACKWATCH_RECORD_SPOOL (the spool) and
STACKWATCH_RECORD_OPTIONS (rate, mode...) in its environment. Every
Python process the command starts imports stackwatch through the
``stackwatch-autostart.pth`` hook (_autostart.py calls start_here) and
samples itself; a program that execs something else never reads them.

Each process hands its samples to the spool as one part in _forks'
format, named by its pid, replaced every second (FLUSH) while it runs and
once more at its end: a process that is killed loses at most its last
second. A process forked from one of them keeps sampling through the
fork handling (profiler.py), which hands its part to this same spool
(Profiler._tree). At the end the CLI closes the spool and merges every
part with _forks.merge, each process under a root frame ``pid 1234
<its title>`` (its command line as /proc shows it: the title a server
sets with setproctitle), or writes one file per process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

from stackwatch import _config, _forks, _lifecycle, _native, _osthread
from stackwatch import profiler

#: Seconds between a process's parts.
FLUSH = 1.0

#: Seconds the CLI waits, once the command ended, for the processes it
#: left behind (workers still handing over, a resource tracker).
LINGER = 5.0

#: The options a process of the tree samples with (the CLI's), as
#: STACKWATCH_RECORD_OPTIONS' "name=value" items.
OPTIONS = ("rate", "mode", "greenlets", "function", "lineno", "tasks")


def title(pid: int) -> str:
    """The process's command line as ps shows it (a server's title once
    it set one), cut to 120 characters; "" when it cannot be read."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return ""
    words = [w for w in raw.decode("utf-8", "replace").split("\0") if w]
    if len(words) == 1:
        # setproctitle writes one string with blanks.
        words = words[0].split()
    if words and "/" in words[0]:
        words[0] = os.path.basename(words[0])
    text = " ".join(words)
    return text[:117] + "..." if len(text) > 120 else text


def descendants(pid: int) -> List[int]:
    """pid and every process below it (from /proc), parents first."""
    children: Dict[int, List[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
            # pid (comm) state ppid ...: comm may hold blanks and ")".
            ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
        children.setdefault(ppid, []).append(int(name))
    out = [pid]
    i = 0
    while i < len(out):
        out += sorted(children.get(out[i], ()))
        i += 1
    return out


# -- in each process of the tree --------------------------------------------

class _Here:
    """The process's profiler, its spool and the thread that flushes."""

    def __init__(self) -> None:
        self.prof: Optional[profiler.Profiler] = None
        self.spool = ""
        self.lock = _osthread.allocate_lock()
        self.stop = _osthread.Event()
        self.thread: Any = None
        self.done = False
        #: Whether SIGTERM's handler is ours (_native.term_arm).
        self.armed = False


_here = _Here()


def _options(text: str) -> Dict[str, str]:
    out = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or name not in OPTIONS:
            raise ValueError("STACKWATCH_RECORD_OPTIONS: unknown item %r"
                             % item)
        out[name] = value
    return out


def start_here() -> None:
    """Starts sampling this process for the tree (raises ValueError for
    bad settings, RuntimeError when a profiler samples here already)."""
    spool = _config.text("STACKWATCH_RECORD_SPOOL")
    if spool is None or _here.prof is not None:
        return
    opts = _options(_config.text("STACKWATCH_RECORD_OPTIONS") or "")
    prof = profiler.Profiler(
        rate=float(opts.get("rate", "100")), mode=opts.get("mode", "wall"),
        greenlets={"": False, "grouped": "grouped", "each": "each"}[
            opts.get("greenlets", "")],
        function=opts.get("function") == "1",
        lineno=opts.get("lineno", "1") == "1",
        tasks=opts.get("tasks", "").replace("+", ",") or None)
    prof._tree = spool
    _here.spool = spool
    _start_flusher()  # first, so that its start is not sampled
    try:
        prof.start()
    except BaseException:
        _here.stop.set()
        raise
    _here.prof = prof
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        # A process ended by SIGTERM (multiprocessing's Pool.terminate(),
        # a supervisor) hands its samples over first (the flusher thread
        # does, woken by the C handler: csrc/termwait_py.c says why not
        # a Python one); a program that installs its own handler decides
        # for itself.
        _here.armed = _native.term_arm()


def _start_flusher() -> None:
    _here.stop = _osthread.Event()
    _here.done = False
    _here.thread = _osthread.Thread(_flush_loop, "stackwatch-tree")
    _here.thread.start()


def _flush_loop() -> None:
    _native.sampler_exclude_current(True)
    try:
        while True:
            if _here.armed:
                if _native.term_wait(FLUSH):
                    # SIGTERM: the last part, then SIGTERM again with its
                    # default action (flush does).
                    flush(final=True)
                    return
                if _here.stop.is_set():
                    return
            elif _here.stop.wait(FLUSH):
                return
            flush()
    finally:
        _native.sampler_exclude_current(False)


def flush(final: bool = False, wait: float = -1) -> bool:
    """Replaces this process's part in the spool with its samples so far
    (final: the last time; no flush after it). False when the spool is
    closed or gone. wait: seconds to wait for a flush under way (-1:
    as long as it takes).

    A SIGTERM that comes during the final flush is delivered once the
    part is written (with its default action from then on). A process
    often gets its SIGTERM while it ends by itself: multiprocessing's
    Pool.terminate() sends its workers their sentinel, then SIGTERM, so
    a worker is ending already (this flush, at exit) when the signal
    comes; its default action would end the process halfway through the
    part, and a worker younger than FLUSH would have no part at all."""
    if not final:
        return _flush(False, wait)
    try:
        return _flush(True, wait)
    finally:
        # SIGTERM's handler only noted a SIGTERM that came meanwhile: the
        # default action from now on, and that SIGTERM delivered.
        if _native.term_disarm() and _native.term_got():
            os.kill(os.getpid(), signal.SIGTERM)


def _flush(final: bool, wait: float) -> bool:
    p = _here.prof
    if p is None:
        return False
    if not _here.lock.acquire(True, wait):
        return False
    with _Held(_here.lock):
        if _here.done:
            return False
        if final:
            _here.done = True
            p.stop()
        p.label()
        st = p.stats()
        if not st["samples"]:
            return True
        st["title"] = title(os.getpid())
        return _forks.hand_over(_here.spool, st, p._own_rows())


class _Held:
    """Releases a lock taken already, at the end of a with block."""

    def __init__(self, lock: Any) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        self.lock.release()


def _at_exit() -> None:
    p = _here.prof
    if p is None:
        return
    # No join (in a gevent worker it would run the hub): a flush under
    # way holds the lock that the final one waits for, and none follows.
    _here.stop.set()
    if not p._in_child():
        flush(final=True)
    # A forked child's end is the fork handling's (_end_of_child), which
    # calls flush(final=True) too.


def _in_forked_child() -> None:
    p = _here.prof
    if p is None:
        return
    _here.lock = _osthread.allocate_lock()
    if p.running:
        if _here.armed:
            _here.armed = _native.term_arm()  # a semaphore of its own
        _start_flusher()
    else:
        _here.prof = None
        _native.term_disarm()  # nobody here to wait for SIGTERM
        _here.armed = False


_lifecycle.on_exit(_lifecycle.PROFILER - 1, _at_exit)
_lifecycle.on_fork_child(_lifecycle.PROFILER_AGAIN + 1, _in_forked_child)


# -- in the CLI -----------------------------------------------------------


class Merged(profiler.Profiler):
    """The tree's profile: the parts of every process, rendered by the
    profiler's writers (one merge path: _forks.merge)."""

    def __init__(self, parts: List[Tuple[Dict[str, Any], List[Any]]],
                 seconds: float, start: float, **kw: Any) -> None:
        super().__init__(**kw)
        self._given = parts
        self._seconds = seconds
        self._start = start
        titles: Dict[int, str] = {}
        for st, _rows in parts:
            titles.update(st.get("titles", {}))
        self._titles = titles

    def label(self) -> None:
        pass  # each process labelled its own

    def _view(self) -> Tuple[Any, Dict[str, Any]]:
        rows = [r for _st, rows in self._given for r in rows]
        session = _forks.merge(rows, titles=self._titles)
        st = _forks.total_stats(_native.Session().stats(),
                                [p[0] for p in self._given])
        procs = len({r[0] for r in rows})
        st["threads"] = len(session.threads())
        st["processes"] = procs
        st["duration_seconds"] = self._seconds
        st["sampling_seconds"] = self._seconds
        st["start_time"] = self._start
        self._stopped_rate = (st["passes"] / procs / self._seconds
                              if procs and self._seconds else 0.0)
        return session, st


def environment(spool: str, ns: Any, rate: float, mode: str,
                greenlets: Any, signame: Optional[str]) -> Dict[str, str]:
    """The command's environment: ours, with the tree's settings, and
    dumps on (so `stackwatch dump --tree` reaches every process)."""
    options = ",".join([
        "rate=%g" % rate, "mode=%s" % mode,
        "greenlets=%s" % (greenlets or ""),
        "function=%d" % bool(ns.function),
        "lineno=%d" % (not ns.nolineno),
        # (the items are comma-separated: all,each is all+each here)
        "tasks=%s" % (ns.tasks or "").replace(",", "+")])
    settings = {"STACKWATCH_RECORD_SPOOL": spool,
                "STACKWATCH_RECORD_OPTIONS": options}
    if signame is not None:
        settings["STACKWATCH_DUMP_SIGNAL"] = signame
    return _config.child_environment(
        settings,
        {"STACKWATCH_DUMP": "1"})


def run(command: List[str], env: Dict[str, str], duration: Optional[float],
        note: Any) -> Tuple[int, bool, float, float]:
    """Runs the command in a process group of its own until it ends (or
    for `duration` seconds, then SIGINT). Ctrl-C, SIGTERM and SIGHUP are
    passed to the whole group. Returns (status, interrupted, seconds,
    start time)."""
    kw: Dict[str, Any] = {}
    if sys.version_info >= (3, 11):
        kw["process_group"] = 0
    else:
        kw["preexec_fn"] = os.setpgrp
    start = time.time()
    t0 = time.monotonic()
    # Orphans of the command become our children (a pool's workers that
    # end after it, daemons): we wait for them a while (LINGER).
    reaper = _subreaper()
    child = subprocess.Popen(command, env=env, **kw)
    got: List[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        got.append(signum)
        try:
            os.killpg(child.pid, signal.SIGINT if signum == signal.SIGINT
                      else signum)
        except OSError:
            pass

    old = {s: signal.signal(s, on_signal)
           for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                status = child.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if duration is not None and not got and \
                    time.monotonic() - t0 >= duration:
                note("%g s: stopping the command (SIGINT)" % duration)
                on_signal(signal.SIGINT, None)
                got.pop()
                duration = None
        if reaper:
            _reap(note)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return status, bool(got), time.monotonic() - t0, start


def _subreaper() -> bool:
    """Makes this process the reaper of its descendants' orphans
    (prctl PR_SET_CHILD_SUBREAPER); False when that fails."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _reap(note: Any) -> None:
    """Waits up to LINGER seconds for the command's remaining processes."""
    end = time.monotonic() + LINGER
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # none left
        if pid:
            continue
        if time.monotonic() >= end:
            note("processes of the command still run after it ended; their "
                 "samples until now are written")
            return
        time.sleep(0.05)
