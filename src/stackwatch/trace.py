"""The tracer: every call and return, on a timeline (``stackwatch trace``).

``Tracer`` records each Python function's start and end (generator and
coroutine resumptions and suspensions included) in every thread, in C:
through ``sys.monitoring`` callbacks that are C functions on CPython
3.12+, through a C profile function before. The records are kept in
per-thread buffers bounded in total (``buffer``); events past the bound
are dropped and counted, and the trace stays whole (each thread's slices
are closed when it started dropping). ``write()`` streams the trace as
Chrome trace-event JSON (gzip when the name ends in ``.gz``), which the
Perfetto UI (https://ui.perfetto.dev) and ``chrome://tracing`` open.

    with stackwatch.Tracer("out.json"):
        work()

``span(name, **args)`` and ``mark(name, **args)`` add user slices and
instants to the calling thread's track.

``include``/``exclude`` take path prefixes or module names: code outside
them is switched off at its first event (``sys.monitoring.DISABLE`` on
3.12+), so it then runs at nearly full speed.

Scoped tracing (``functions``, ``scoped``, ``@traced``): a thread records
only while a traced function runs in it (that function and what it
calls). On 3.12+ only the traced functions' code objects have (local)
events while none of them runs anywhere; the first thread to enter one
turns the other events on, the last to leave turns them off.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

# A forked child stops tracing and drops the parent's records in C
# (module.c's after_fork_child): its trace is off, never a copy; with
# follow_fork, it then traces itself from the fork on into a part of the
# parent's trace (_follow_into_child).
from stackwatch import _lifecycle, _native, _output

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional

#: The output formats of Tracer.write.
FORMATS = ("chrome", "speedscope")

#: The default bound on the tracer's buffers, in bytes.
DEFAULT_BUFFER = 256 * 1024 * 1024

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def parse_size(value: "Any") -> int:
    """Bytes from 1048576, "500MB", "256MiB", "2G"; raises ValueError."""
    from stackwatch._monitor_settings import parse_size as parse

    size = parse(value)
    if size < 65536:
        raise ValueError("a trace buffer must be at least 64KiB, not %r"
                         % (value,))
    return size


def _as_path_prefixes(spec: str, where: "Iterable[str]") -> "List[str]":
    """The file path prefixes a filter stands for: a path (anything with
    a slash, ending in .py, or naming a file or directory that exists),
    or a module or package name looked up along `where` (sys.path) without
    importing it. Empty when it names nothing."""
    out: List[str] = []

    def add(path: str) -> None:
        for p in (os.path.abspath(path), os.path.realpath(path)):
            if os.path.isdir(p) and not p.endswith(os.sep):
                p += os.sep
            if p not in out:
                out.append(p)

    if os.sep in spec or spec.endswith(".py") or os.path.exists(spec):
        if os.path.exists(spec):
            add(spec)
        return out
    rel = spec.replace(".", os.sep)
    for entry in where:
        base = os.path.join(entry or os.getcwd(), rel)
        if os.path.isdir(base):
            add(base)
        elif os.path.isfile(base + ".py"):
            add(base + ".py")
    return out


def resolve_filters(specs: "Iterable[str]", where: "Optional[Iterable[str]]"
                    = None) -> "Dict[str, List[str]]":
    """{spec: its path prefixes} (see _as_path_prefixes); a spec that
    names nothing maps to []."""
    where = list(sys.path if where is None else where)
    return {spec: _as_path_prefixes(spec, where) for spec in specs}


class Tracer:
    """Traces every thread between start() and stop(); write() puts the
    trace in a file. One tracer runs at a time in a process."""

    def __init__(self, output: "Optional[str]" = None, *,
                 buffer: "Any" = DEFAULT_BUFFER,
                 include: "Iterable[str]" = (),
                 exclude: "Iterable[str]" = (),
                 max_depth: "Optional[int]" = None,
                 full_paths: bool = False,
                 greenlets: bool = False,
                 c_calls: bool = False,
                 memory: "Optional[float]" = None,
                 ring: "Optional[float]" = None,
                 asyncio: bool = False,
                 search_path: "Optional[Iterable[str]]" = None,
                 functions: "Iterable[Any]" = (),
                 scoped: bool = False,
                 monitor: bool = False,
                 follow_fork: bool = False) -> None:
        """search_path: where module names in include/exclude are looked
        up (default: sys.path when the tracer starts). functions:
        functions or "MODULE:QUALNAME" strings to trace only inside
        (scoped tracing, as scoped=True, which also takes every
        @traced function). monitor: start() also starts the watchdog
        with its defaults (as STACKWATCH_MONITOR=1 does, its settings
        from the environment) when it does not run, and stop() stops
        it: its stalls are slices on the timeline. follow_fork: a
        forked child (os.fork, multiprocessing's fork, a gunicorn worker)
        traces itself from the fork on, and its events become a process
        of this trace, on its time line, when the child ends before
        write() (at its exit; a multiprocessing child's included; one
        killed, or ended with a bare os._exit, is counted, not written).
        Chrome format only; a child's trace has no --memory counters."""
        self.output = output
        self.follow_fork = bool(follow_fork)
        # follow_fork: [spool directory, the time line's start (ns), the
        # root process's pid] once started; None in a child whose parent
        # traced without it.
        self._family: "Optional[List[Any]]" = None
        self._part_done = False
        #: The last write's forked processes: (taken in, not ended).
        self.forked = (0, 0)
        self.search_path = None if search_path is None else \
            list(search_path)
        self.buffer = parse_size(buffer)
        if max_depth is not None and (isinstance(max_depth, bool) or
                                      not isinstance(max_depth, int) or
                                      max_depth < 1):
            raise ValueError("max_depth must be a positive integer, not %r"
                             % (max_depth,))
        self.max_depth = max_depth
        self.full_paths = full_paths
        self.greenlets = greenlets
        self.c_calls = c_calls
        if memory is not None and (isinstance(memory, bool) or
                                   not isinstance(memory, (int, float)) or
                                   not 0.001 <= memory <= 60):
            raise ValueError("memory: the seconds between RSS samples, "
                             "0.001-60, not %r" % (memory,))
        self.memory = memory
        if ring is not None and (isinstance(ring, bool) or
                                 not isinstance(ring, (int, float)) or
                                 not 0 < ring <= 86400):
            raise ValueError("ring: the seconds to keep, 0-86400, not %r"
                             % (ring,))
        self.ring = ring
        self.asyncio = asyncio
        self._memory_thread: "Optional[_MemorySampler]" = None
        self._tracking = False
        self.include = list(include)
        self.exclude = list(exclude)
        self.functions = list(functions)
        self.scoped = bool(scoped or self.functions)
        self._scope: "Optional[_Scope]" = None
        if self.scoped:
            self._scope = _Scope(self.functions)
        self.tool_id: "Optional[int]" = None
        self._pid = 0
        self._started = False
        # Thread names: {(ident, kernel id or 0): name}.
        self._names: Dict[Any, str] = {}
        # Set while the CLI writes the trace (its signal handlers read it).
        self._ending = False
        # The watchdog's stalls (see _note_watchdog): open ones by watch,
        # ended ones as [tid, greenlet id (its track: --greenlets) or 0,
        # start_ns, dur_ns, kind, args].
        self._stalls_open: Dict[Any, List[Any]] = {}
        self._stalls: List[Any] = []
        self._live = False
        self._stop_ns = 0
        self.monitor = bool(monitor)
        self._own_monitor = False
        # --memory: the MemoryProfiler started for the trace, its directory.
        self._own_counters: "Optional[Any]" = None

    def _prefixes(self) -> "tuple[List[str], List[str], Dict[str, List[str]]]":
        inc = resolve_filters(self.include, self.search_path)
        exc = resolve_filters(self.exclude, self.search_path)
        self._specs = {**{("include", k): v for k, v in inc.items()},
                       **{("exclude", k): v for k, v in exc.items()}}
        return ([p for v in inc.values() for p in v],
                [p for v in exc.values() for p in v], self._specs)

    def unmatched_filters(self) -> "List[str]":
        """The --include/--exclude specs that name no file or module."""
        self._prefixes()
        return ["--%s %s" % k for k, v in self._specs.items() if not v]

    def start(self, _child: bool = False) -> "Tracer":
        inc, exc, _ = self._prefixes()
        if self.include and not inc:
            raise ValueError("--include matches no file or module: %s"
                             % ", ".join(self.include))
        self._names = {}
        _remember_thread_names(self._names)
        labeler = None
        if self.greenlets:
            from stackwatch import _greenlets

            # Before the tracer: its threading hook runs greenlet's first.
            if not _greenlets.start_tracking():
                raise ValueError("greenlets cannot be traced: greenlet is "
                                 "not installed")
            self._tracking = True
            labeler = _label_greenlet
        codes = None
        if self._scope is not None:
            codes = self._scope.codes_now()
        try:
            tool = _native.trace_start(self.buffer, inc,
                                       exc + [_PACKAGE_DIR], 1,
                                       self.max_depth or 0, labeler,
                                       self.c_calls, float(self.ring or 0),
                                       _TaskLabeler() if self.asyncio
                                       else None, codes)
        except BaseException:
            self._stop_tracking()
            raise
        if self._scope is not None:
            self._scope.watch_imports()
        self.tool_id = tool if tool >= 0 else None
        self._pid = os.getpid()
        self._started = True
        global _running
        self._stalls_open = {}
        self._stalls = []
        self._live = True
        _running = self
        if self.follow_fork and not _child:
            self._start_family()
        if _child:
            return self  # (no --memory thread, and the watchdog restarts
            # itself in a child)
        if self.memory:
            self._start_counters()
            self._memory_thread = _MemorySampler(self.memory)
            self._memory_thread.start()
        if self.monitor:
            self._start_monitor()
        return self

    def _start_family(self) -> None:
        """follow_fork, in the process that started: the spool where
        forked children leave their parts, and the time line's start."""
        start = _native.trace_stats()["start_ns"]
        if self._family is None or self._family[2] != os.getpid():
            import tempfile

            self._family = [tempfile.mkdtemp(prefix="stackwatch-trace-"),
                            start, os.getpid()]
        self._family[1] = start

    def _in_child(self) -> bool:
        return self._family is not None and self._family[2] != os.getpid()

    def _restart_in_child(self) -> None:
        """In a forked child (its records and hooks dropped in C): traces
        the child from here on, into a part left in the spool at its
        end."""
        self._memory_thread = None  # (the parent's thread)
        self._own_counters = None
        self._own_monitor = False
        self._started = False
        self._part_done = False
        self._tracking = False
        try:
            self.start(_child=True)
        except BaseException as e:  # (a child goes on untraced)
            sys.stderr.write("[stackwatch] pid %d is not traced: %s\n"
                             % (os.getpid(), e))
            return
        _touch(os.path.join(self._family[0], "%d.started" % os.getpid()))

    def _end_in_child(self) -> None:
        """Stops tracing in a forked child and leaves its part in the
        spool (written under a temporary name, then renamed: the parent
        takes in only whole parts). Once; quiet if the parent's trace
        was written and its spool removed already."""
        if self._part_done or not self._in_child() or not self._started \
                or self._pid != os.getpid():
            return
        self._part_done = True
        self.stop()
        spool, start, _ = self._family  # type: ignore[misc]
        part = os.path.join(spool, "%d.part" % os.getpid())
        names = dict(self._names)
        _remember_thread_names(names)
        try:
            fd = os.open(part + ".tmp",
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC |
                         getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError:
            return  # the spool is gone: the parent wrote its trace
        try:
            try:
                # (gzipped where the build has zlib: the writer that
                # takes it in inflates it, sw_gzip_read_fd)
                _native.trace_write(fd, bool(_native.GZIP_COMPRESSES),
                                    names, _process_name(),
                                    self.full_paths, False,
                                    self._stall_slices(), start, True, [])
            finally:
                os.close(fd)
            os.rename(part + ".tmp", part)
        except (OSError, MemoryError) as e:
            sys.stderr.write("[stackwatch] the trace of pid %d is lost: "
                             "%s\n" % (os.getpid(), e))
            try:
                os.unlink(part + ".tmp")
            except OSError:
                pass

    def _parts(self) -> "tuple[List[str], int]":
        """The forked children's parts (by pid), and how many children
        started without leaving one (still running, killed, or ended by
        a bare os._exit)."""
        if self._family is None or self._in_child():
            return [], 0
        try:
            files = os.listdir(self._family[0])
        except OSError:
            return [], 0
        done = {f[:-5] for f in files if f.endswith(".part")}
        started = {f[:-8] for f in files if f.endswith(".started")}
        parts = [os.path.join(self._family[0], p + ".part")
                 for p in sorted(done, key=int)]
        return parts, len(started - done)

    def close_family(self) -> None:
        """Removes the spool of forked children's parts (the process that
        started, once its trace is written for the last time)."""
        if self._family is not None and not self._in_child():
            import shutil

            shutil.rmtree(self._family[0], ignore_errors=True)
            self._family = None

    def _start_counters(self) -> None:
        """--memory: the memory profiler's per-thread counters (each
        thread's live bytes), read by the sampling thread. When no
        MemoryProfiler runs, one is started for the trace (its files in a
        directory of its own, removed at stop(); one line an hour), and
        gives way to one the program enables later (whose counters start
        from zero); when one runs, its counters are read as they are.
        Without them (a profile that cannot start, or after the
        program's ended), RSS alone."""
        from stackwatch import memory

        if memory._active is not None:
            return
        import tempfile

        path = tempfile.mkdtemp(prefix="stackwatch-trace-")
        try:
            prof = memory.MemoryProfiler(path, interval=3600.0)
            prof._for_trace = True
            prof.enable()
        except (OSError, RuntimeError):
            import shutil

            shutil.rmtree(path, ignore_errors=True)
            return
        self._own_counters = (prof, path)

    def _stop_counters(self) -> None:
        own, self._own_counters = self._own_counters, None
        # (A forked child's counters stopped at the fork; the directory
        # is the parent's.)
        if own is not None and os.getpid() == self._pid:
            import shutil

            own[0].disable()
            shutil.rmtree(own[1], ignore_errors=True)

    def _start_monitor(self) -> None:
        from stackwatch import monitor

        if monitor.is_running():
            return  # the program's own settings stay
        try:
            monitor.start(asyncio=True, full_paths=self.full_paths)
        except BaseException:
            self.stop()
            raise
        self._own_monitor = True

    def stop(self) -> "Dict[str, Any]":
        """Stops tracing (the records stay for write()); the stats."""
        if self._memory_thread is not None:
            self._memory_thread.halt()
            self._memory_thread = None
        self._stop_counters()
        if self._scope is not None:
            self._scope.unwatch_imports()
        if self._live:
            self._live = False
            self._stop_ns = time.monotonic_ns()
        if self._own_monitor:
            from stackwatch import monitor

            self._own_monitor = False
            monitor.stop()
        if self._started and os.getpid() == self._pid:
            _native.trace_stop()
            _remember_thread_names(self._names)
            self._stop_tracking()
        return self.stats()

    def _stop_tracking(self) -> None:
        if self._tracking:
            from stackwatch import _greenlets

            self._tracking = False
            _greenlets.stop_tracking()

    def unmatched_functions(self) -> "List[str]":
        """The functions specs that named no function (so far)."""
        return self._scope.unmatched() if self._scope is not None else []

    def stats(self) -> "Dict[str, Any]":
        """events, dropped, threads, codes, buffer_used, engine, tool_id,
        duration_seconds, how often each filter decided, and clock: the
        records' clock, "tsc" (the CPU's time stamp counter, where the
        kernel keeps CLOCK_MONOTONIC on it) or "monotonic"
        (clock_gettime; forced with STACKWATCH_TRACE_CLOCK=monotonic)."""
        return _native.trace_stats()

    def filter_hits(self) -> "Dict[str, int]":
        """How many code objects each --include/--exclude spec decided."""
        st = self.stats()
        hits: Dict[str, int] = {}
        for (kind, spec), prefixes in self._specs.items():
            table = st["include_hits" if kind == "include" else
                       "exclude_hits"]
            hits["--%s %s" % (kind, spec)] = sum(table.get(p, 0)
                                                 for p in prefixes)
        return hits

    def write(self, path: "Optional[str]" = None,
              format: str = "chrome") -> str:
        """Writes the trace to path (default: the output given) as Chrome
        trace-event JSON (format "chrome") or speedscope's evented format
        ("speedscope"), gzip when the name ends in .gz; never a
        half-written file. Raises OutputError."""
        if format not in FORMATS:
            raise ValueError("format must be one of %s, not %r"
                             % (", ".join(FORMATS), format))
        path = path or self.output
        if not path:
            raise ValueError("no output file given")
        if self._started and os.getpid() != self._pid:
            raise RuntimeError("the trace belongs to process %d" % self._pid)
        names = dict(self._names)
        _remember_thread_names(names)
        gz = path.endswith(".gz")
        parts, running = self._parts() if format == "chrome" else ([], 0)
        missing = [0]

        def write(fd: int) -> None:
            missing[0] = _native.trace_write(
                fd, gz, names, _process_name(), self.full_paths,
                format == "speedscope", self._stall_slices(), 0, False,
                parts)

        _output.write_stream(path, write)
        self.forked = (len(parts) - missing[0], running + missing[0])
        return path

    def _note_stall(self, e: "Dict[str, Any]") -> None:
        """One native watchdog event (on the monitor thread): a stall
        opens at its start, and becomes a slice when it ends."""
        kind = e["kind"]
        key = (e["watch_kind"], e["watch_id"])
        if kind in (_native.WDE_BLOCKED, _native.WDE_DEADLINE):
            if not self._live:
                return
            if kind == _native.WDE_DEADLINE:
                what = "deadline"
                args: Dict[str, Any] = {"name": e["name"]}
            else:
                what = "gevent" if e["watch_kind"] == _native.WD_HUB \
                    else "asyncio"
                args = {"label": e["label"]}
            args["threshold_s"] = e["threshold"]
            args["stack"] = ["%s (%s:%d)" % f for f in e["stack"]]
            args["report"] = e["report"]
            gid = e["greenlet"] if self.greenlets and \
                e["watch_kind"] == _native.WD_HUB else 0
            self._stalls_open[key] = [e["tid"], gid, e["start_ns"], 0,
                                      what, args]
        elif kind in (_native.WDE_UNBLOCKED, _native.WDE_DEADLINE_END):
            rec = self._stalls_open.pop(key, None)
            if rec is not None:
                rec[3] = max(0, int(e["duration"] * 1e9))
                self._stalls.append(rec)

    def _stall_slices(self) -> "List[Any]":
        """The stalls as complete events; one still going ends now (or
        when tracing stopped)."""
        end = self._stop_ns if not self._live else time.monotonic_ns()
        out = []
        for r in self._stalls + [r[:3] + [max(0, end - r[2])] + r[4:] for
                                 r in list(self._stalls_open.values())]:
            # (The writer shortens a slice to nest among its track's
            # slices: the stall's whole length stays in its args.)
            args = dict(r[5], duration_s=round(r[3] / 1e9, 6))
            out.append((r[0], r[1], r[2], r[3], ',"name":%s,"cat":"stall",'
                        '"args":%s' % (json.dumps("stall: " + r[4]),
                                       json.dumps(args, default=str))))
        return out

    def clear(self) -> None:
        """Stops tracing and forgets the records."""
        _native.trace_clear()
        self._started = False

    def __enter__(self) -> "Tracer":
        return self.start()

    def __exit__(self, *exc: "Any") -> None:
        if self._in_child():
            self._end_in_child()  # its part of the parent's trace
            return
        if self._started and os.getpid() != self._pid:
            return  # a forked child's exit: the trace is its parent's
        self.stop()
        if self.output:
            self.write()
            self.close_family()


class _TaskLabeler:
    """--asyncio: called (quietly: not traced) when a coroutine starts or
    resumes outside a task's track; answers (id, label on first sight,
    else None) for the asyncio task running now, or None. Ids are small
    integers by weak reference: a task is never kept alive."""

    def __init__(self) -> None:
        import weakref

        self.ids: "weakref.WeakKeyDictionary[Any, int]" = \
            weakref.WeakKeyDictionary()
        self.next = 1

    def __call__(self) -> "Any":
        asyncio = sys.modules.get("asyncio")
        if asyncio is None:
            return None  # (never imported for the program)
        loop = asyncio.events._get_running_loop()
        if loop is None:
            return None
        task = asyncio.current_task(loop)
        if task is None:
            return None
        tid = self.ids.get(task)
        if tid is not None:
            return tid, None
        tid = self.ids[task] = self.next
        self.next += 1
        coro = task.get_coro()
        what = getattr(coro, "__qualname__", None) or type(coro).__name__
        return tid, "%s #%d (%s)" % (task.get_name(), tid, what)


class _MemorySampler(threading.Thread):
    """--memory: the process's RSS every `period` seconds, as a counter
    track, and each thread's live bytes while the memory profiler's
    counters run, a counter track each (a thread of stackwatch's: not
    traced itself, its allocations not counted)."""

    def __init__(self, period: float) -> None:
        super().__init__(name="stackwatch-trace-memory", daemon=True)
        self.period = period
        self._halt = threading.Event()

    def run(self) -> None:
        _native.sampler_exclude_current(True)
        try:
            while True:
                _native.trace_memory_sample()
                if self._halt.wait(self.period):
                    _native.trace_memory_sample()  # as tracing stops
                    break
        finally:
            _native.sampler_exclude_current(False)

    def halt(self) -> None:
        self._halt.set()
        if self is not threading.current_thread():
            self.join(5)


def _label_greenlet(gid: int, g: "Any") -> str:
    """The track name of greenlet gid (g: the greenlet, None for the
    current one): gevent's name and what it runs, as everywhere."""
    from stackwatch import _greenlets

    if g is None:
        import greenlet

        g = greenlet.getcurrent()
    typename = type(g).__name__
    text = _greenlets.label(gid, g, typename)
    who = _greenlets.identify(g, gid, typename)
    if who.kind != "main" and not who.function:
        # greenlet drops the run it was given once it starts: the writer
        # names it by the first function called on its track.
        text += " ({root})"
    return text


def _remember_thread_names(names: "Dict[Any, str]") -> None:
    """Adds {(ident, kernel id or 0): name} of threading's live threads to
    names (the writer names a thread by both, else by its kernel id).
    Under gevent's monkey patching a dummy thread (and a patched Thread
    in the main thread) is a greenlet: its kernel id is that of the OS
    thread it runs in, which it does not name ("Dummy-1"), so it is
    given 0 there and can only match by ident, which is then a
    greenlet's (no thread's)."""
    main = threading.main_thread()
    main_tid = getattr(main, "native_id", None)
    for t in threading.enumerate():
        if t.ident is None:
            continue
        tid = getattr(t, "native_id", None) or 0
        # (gevent's patching swaps in a subclass of _DummyThread: dummies
        # made before are of the original class.)
        dummy = any(c.__name__ == "_DummyThread" for c in type(t).__mro__)
        if dummy or (t is not main and tid == main_tid):
            tid = 0
        names[(t.ident, tid)] = t.name


#: The tracer started last: the watchdog's stalls go on its timeline.
_running: "Optional[Tracer]" = None


def _process_name() -> str:
    proc = " ".join(os.path.basename(a) for a in sys.argv[:1]) or "python"
    return "%s (pid %d)" % (proc, os.getpid())


def _touch(path: str) -> None:
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError:
        pass


def _follow_into_child() -> None:
    """Fork step: a tracer that follows forks and was tracing goes on in
    the child."""
    t = _running
    if t is not None and t.follow_fork and t._family is not None and \
            t._live and t._pid == os.getppid():
        t._restart_in_child()


#: The pid in which multiprocessing's after-fork hook was registered.
_mp_hooked = 0


def _before_fork() -> None:
    """A multiprocessing child ends with os._exit, after its finalizers;
    it clears the ones inherited, then runs its after-fork hooks: the
    hook registers the finalizer that leaves its part."""
    global _mp_hooked
    t = _running
    mp = sys.modules.get("multiprocessing.util")
    if t is None or not t.follow_fork or not t._live or mp is None or \
            _mp_hooked == os.getpid():
        return
    mp.register_after_fork(t, _mp_child_started)
    _mp_hooked = os.getpid()


def _mp_child_started(t: "Tracer") -> None:
    import multiprocessing.util as mp

    mp.Finalize(None, _at_exit, exitpriority=100)


def _at_exit() -> None:
    """Exit step (and a multiprocessing child's finalizer): a forked
    child's part; in the process that started, the spool goes (the CLI
    wrote its trace before this step runs; a program that writes its own
    has done so). Each call does nothing where it does not apply."""
    t = _running
    if t is not None:
        t._end_in_child()
        t.close_family()


_lifecycle.on_fork_before(_lifecycle.TRACER_AGAIN, _before_fork)
_lifecycle.on_fork_child(_lifecycle.TRACER_AGAIN, _follow_into_child)
_lifecycle.on_exit(_lifecycle.PROFILER, _at_exit)


def _note_watchdog(e: "Dict[str, Any]") -> None:
    """Called by _delivery with each native watchdog event."""
    t = _running
    if t is not None and t._pid == os.getpid():
        t._note_stall(e)


def mark(name: str, **args: "Any") -> bool:
    """An instant event named `name` (with args) on the calling thread's
    track of the running trace; False (and nothing) when none runs."""
    return _native.trace_span(2, str(name), args or None)


class span:
    """A user slice on the calling thread's track while the block runs:

        with stackwatch.trace.span("request", path="/x"):
            handle()

    Nothing when no trace runs. The slice nests among the function
    slices; one left open when tracing stops is closed then."""

    __slots__ = ("_name", "_args")

    def __init__(self, name: str, **args: "Any") -> None:
        self._name = str(name)
        self._args = args or None

    def __enter__(self) -> "span":
        _native.trace_span(0, self._name, self._args)
        return self

    def __exit__(self, *exc: "Any") -> None:
        _native.trace_span(1, self._name, self._args)


#: The code objects of @traced functions (scoped tracing).
_traced_codes: "List[Any]" = []


def _code_of(obj: "Any") -> "Any":
    """The code object of a function, method, staticmethod, classmethod
    or functools.wraps wrapper's wrapped function; ValueError if none."""
    seen = 0
    while seen < 20:
        seen += 1
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
            continue
        code = getattr(obj, "__code__", None)
        if code is not None and type(code).__name__ == "code":
            return code
        inner = getattr(obj, "__func__", None) or \
            getattr(obj, "__wrapped__", None)
        if inner is None:
            break
        obj = inner
    raise ValueError("not a Python function: %r" % (obj,))


def traced(func: "Any") -> "Any":
    """Decorator: a scoped trace (``stackwatch trace --scoped`` or
    ``--function``, ``Tracer(scoped=True)``) records only while such a
    function runs in a thread. Returns func itself (no wrapper: no cost
    when no trace runs)."""
    code = _code_of(func)
    _traced_codes.append(code)
    _native.trace_scope_add(code)
    return func


class _Scope:
    """The functions of a scoped trace: given as objects or
    "MODULE:QUALNAME" strings, the latter resolved at start when the
    module is imported, else right after its import (a sys.meta_path
    finder wraps the module's loader)."""

    def __init__(self, functions: "Iterable[Any]") -> None:
        self.codes: "List[Any]" = []
        self.pending: "Dict[str, List[str]]" = {}
        self.unresolved: "List[str]" = []
        for f in functions:
            if isinstance(f, str):
                module, sep, qual = f.partition(":")
                if not sep or not module or not qual:
                    raise ValueError("--function wants MODULE:QUALNAME, "
                                     "not %r" % f)
                self.pending.setdefault(module, []).append(qual)
            else:
                self.codes.append(_code_of(f))
        self._finder: "Optional[_ScopeFinder]" = None

    def codes_now(self) -> "List[Any]":
        runner = sys.modules.get("stackwatch._runner")
        if runner is not None and runner.main_code is not None:
            self._resolve_script(runner.main_code)
        for module in list(self.pending):
            # Under `stackwatch trace`, sys.modules' "__main__" is the CLI's
            # until the script runs: the script is found above.
            if module in sys.modules and not (
                    runner is not None and module == "__main__"):
                self.resolve(module, sys.modules[module])
        return self.codes + _traced_codes

    def _resolve_script(self, code: "Any") -> None:
        """The script `stackwatch trace` is about to run (code: compiled,
        not run yet, so its functions do not exist) is named `__main__` or
        by its file's name (`app` for app.py): its pending functions are
        found among the code objects its code holds."""
        stem = os.path.splitext(os.path.basename(code.co_filename))[0]
        quals = self.pending.pop("__main__", [])
        if stem in self.pending and stem not in sys.modules:
            quals += self.pending.pop(stem)
        found = _code_qualnames(code) if quals else {}
        for qual in quals:
            if not found.get(qual):
                self.unresolved.append("%s:%s" % (stem, qual))
            for c in found.get(qual, ()):
                self.codes.append(c)
                _native.trace_scope_add(c)

    def resolve(self, module: str, mod: "Any") -> None:
        """Finds module's pending functions in mod (quietly)."""
        for qual in self.pending.pop(module, []):
            obj = mod
            try:
                for part in qual.split("."):
                    obj = getattr(obj, part)
                code = _code_of(obj)
            except (AttributeError, ValueError):
                self.unresolved.append("%s:%s" % (module, qual))
                continue
            self.codes.append(code)
            _native.trace_scope_add(code)

    def watch_imports(self) -> None:
        if self.pending and self._finder is None:
            self._finder = _ScopeFinder(self)
            sys.meta_path.insert(0, self._finder)

    def unwatch_imports(self) -> None:
        if self._finder is not None:
            try:
                sys.meta_path.remove(self._finder)
            except ValueError:
                pass
            self._finder = None

    def unmatched(self) -> "List[str]":
        return self.unresolved + ["%s:%s" % (m, q)
                                  for m, quals in self.pending.items()
                                  for q in quals]


def _code_qualnames(code: "Any") -> "Dict[str, List[Any]]":
    """Qualified name -> the code objects nested in a module's code (its
    functions, methods, nested functions), before the module runs."""
    out: "Dict[str, List[Any]]" = {}
    new_locals = 0x0002  # CO_NEWLOCALS: a function's code, not a class's

    def walk(parent: "Any", prefix: str) -> None:
        for const in parent.co_consts:
            if not isinstance(const, type(code)):
                continue
            qual = getattr(const, "co_qualname", None) or prefix + \
                const.co_name
            out.setdefault(qual, []).append(const)
            walk(const, qual + (".<locals>." if const.co_flags & new_locals
                                else "."))

    walk(code, "")
    return out


class _ScopeFinder:
    """A sys.meta_path entry that finds nothing itself: for a module a
    scoped trace waits for, it asks the finders after it and wraps the
    loader they give so that the functions are resolved once the module
    has run."""

    def __init__(self, scope: _Scope) -> None:
        self.scope = scope

    def find_spec(self, name: str, path: "Any" = None,
                  target: "Any" = None) -> "Any":
        if name not in self.scope.pending:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and \
                        hasattr(spec.loader, "exec_module"):
                    spec.loader = _ScopeLoader(spec.loader, self.scope, name)
                return spec
        return None


class _ScopeLoader:
    """Delegates to the module's loader; resolves the scope's functions
    after exec_module."""

    def __init__(self, loader: "Any", scope: _Scope, name: str) -> None:
        self._loader = loader
        self._scope = scope
        self._name = name

    def __getattr__(self, attr: str) -> "Any":
        return getattr(self._loader, attr)

    def create_module(self, spec: "Any") -> "Any":
        return self._loader.create_module(spec)

    def exec_module(self, module: "Any") -> None:
        self._loader.exec_module(module)
        self._scope.resolve(self._name, module)
