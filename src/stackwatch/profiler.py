"""The sampling profiler's Python API.

``Profiler`` drives the native sampler (csrc/sampler.c): a pthread that
reads every thread's Python stack without the GIL at a fixed rate and
aggregates the stacks in a native session with bounded memory. Nothing of
the sampling runs Python code; this module starts and stops it, names
threads and greenlets (which needs the GIL), and renders the session in
the output formats (the writers are C too).
"""

from __future__ import annotations

import collections
import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

from stackwatch import (_forks, _frame, _greenlets, _lifecycle, _native,
                        _output, _service)
from stackwatch._frame import Frame

MODES = {"wall": 0, "cpu": 1, "gil": 2}
FORMATS = ("speedscope", "collapsed", "svg", "pprof")
_WEIGHT = {"wall": 1, "cpu": 2, "gil": 1}
_EXTENSIONS = {".svg": "svg", ".json": "speedscope", ".speedscope": "speedscope",
               ".txt": "collapsed", ".folded": "collapsed",
               ".collapsed": "collapsed", ".pprof": "pprof",
               ".gz": "pprof"}

#: The profiler whose sampler runs, if any (there is one sampler thread).
_active: Optional["Profiler"] = None
_active_lock = threading.Lock()


class Sample(collections.namedtuple("Sample", [
        "thread",    # thread label (str)
        "ident",     # threading ident of the thread (int)
        "tid",       # kernel thread id (0 if unknown)
        "greenlet",  # greenlet label, None if not tracked
        "frames",    # root first (a tuple of Frame)
        "count",     # samples
        "wall",      # seconds of wall-clock time
        "cpu",       # seconds of thread CPU time
        "gil",       # samples taken while the thread held the GIL
])):
    """One aggregated stack of one thread (and greenlet)."""
    __slots__ = ()


def check_rate(rate: Any) -> float:
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise ValueError("rate must be a number of samples per second, not "
                         "%r" % (rate,)) from None
    if not 1 <= value <= 1000:
        raise ValueError("rate must be between 1 and 1000 Hz, not %g" % value)
    return value


def check_mode(mode: Any) -> str:
    if mode not in MODES:
        raise ValueError("mode must be one of %s, not %r"
                         % (", ".join(MODES), mode))
    return mode


#: greenlets= values: how a profile is split by greenlet (the writers'
#: by_greenlet): not at all, one group per function the greenlets run,
#: or one per greenlet.
GREENLETS = {False: 0, True: 1, "grouped": 1, "each": 2}


def check_greenlets(greenlets: Any) -> Any:
    """False, True (grouped by what they run: the default of
    ``--greenlets``), "grouped" (the same) or "each" (one profile per
    greenlet)."""
    if greenlets is None or greenlets is False or greenlets is True:
        return bool(greenlets)
    if greenlets in ("grouped", "each"):
        return greenlets
    raise ValueError("greenlets must be True, False, 'grouped' or 'each', "
                     "not %r" % (greenlets,))


def resolve_mode(mode: Optional[str], idle: Optional[bool]) -> str:
    """The sampling mode of mode= and idle= (py-spy's --idle): idle=True
    is wall mode (every thread, idle ones included: the default);
    idle=False is cpu mode (only threads that used CPU), or gil mode if
    that is asked for. Raises ValueError when they contradict each other
    (idle=True with mode cpu or gil, idle=False with mode wall)."""
    if idle is None:
        return check_mode("wall" if mode is None else mode)
    if mode is None:
        return "wall" if idle else "cpu"
    check_mode(mode)
    if bool(idle) != (mode == "wall"):
        raise ValueError(
            "idle=%s contradicts mode %r: %s" % (
                bool(idle), mode,
                "wall mode samples idle threads too; cpu and gil modes "
                "only running ones"))
    return mode


LINES = {"current": 0, "function": 1, "none": 2}


def check_budget(budget: Any) -> Optional[float]:
    if budget is None:
        return None
    try:
        value = float(budget)
    except (TypeError, ValueError):
        raise ValueError("budget must be a fraction of one core, not %r"
                         % (budget,)) from None
    if not 0 < value <= 1:
        raise ValueError("budget must be more than 0 and at most 1 (a "
                         "fraction of one core), not %g" % value)
    return value


#: tasks= values: which tasks are counted (the running one; all, waiting
#: ones too), and whether each task has a label of its own ("each") or
#: tasks asyncio named are grouped by their coroutine (the default).
TASKS = ("running", "all", "each", "all,each")


def check_tasks(value: Any) -> Optional[str]:
    """None (off), or one of TASKS from Profiler(tasks=...)."""
    if value is None or value is False:
        return None
    if value is True:
        return "running"
    if value in TASKS:
        return value
    raise ValueError("tasks must be True, False, 'running', 'all', 'each' "
                     "or 'all,each', not %r" % (value,))


def check_format(fmt: Any) -> str:
    if fmt not in FORMATS:
        raise ValueError("unknown format %r (choose from %s)"
                         % (fmt, ", ".join(FORMATS)))
    return fmt


def format_for_path(path: str, how: str = "format=") -> str:
    """The format an output path asks for by its extension: one of
    _EXTENSIONS, or svg for a name without one ("-", /dev/stdout, a
    pipe...). Raises ValueError for any other extension (out.pdf): a
    name that promises a format is never given another one silently.
    `how` says, in the message, how to give the format explicitly."""
    ext = os.path.splitext(os.fspath(path))[1]
    if not ext:
        return "svg"
    try:
        return _EXTENSIONS[ext.lower()]
    except KeyError:
        raise ValueError(
            "unknown extension %r: use %s or %s, or give the format with %s"
            % (ext, ", ".join(list(_EXTENSIONS)[:-1]),
               list(_EXTENSIONS)[-1], how)) from None


class Profiler:
    """Samples every thread's Python stack from a native thread, without
    the GIL, so threads stuck in long C calls or tight loops are seen too.

    rate: samples per second (1-1000). mode: "wall" (the default) samples
    every thread at every tick, idle ones included; "cpu" only threads
    that used CPU since the last tick; "gil" only the thread holding the
    GIL. idle: py-spy's spelling: True is wall mode, False cpu mode (a
    contradiction with mode raises ValueError). budget: the share of one
    core the sampler may use (e.g. 0.01); the rate is lowered to stay
    within it. threads / greenlets: defaults for :meth:`write`, splitting
    the profile by thread / by greenlet: greenlets=True groups greenlets
    by the function they run ("greenlets running handle (x50)"),
    greenlets="each" keeps one group per greenlet; either tracks
    greenlets. function=True keys frames by their function's first line,
    so the lines of one function merge (py-spy's --function);
    lineno=False drops line numbers from frame labels (and merges the
    lines too: py-spy's --nolineno). Both are fixed at creation.
    tasks: True (or "running") attributes each sample of a thread running
    an asyncio loop to the running task, under the tasks awaiting it;
    "all" also counts every waiting task where it is suspended. Tasks
    that asyncio named (Task-N) are grouped by their coroutine ("[task]
    handle"); "each" (or "all,each") labels every task by its name too
    ("[task] Task-7: handle").

    One profiler samples at a time per process. Use as a context manager,
    or call :meth:`start` and :meth:`stop`; then :meth:`write` a file.
    """

    def __init__(self, rate: float = 100, mode: Optional[str] = None,
                 budget: Optional[float] = None, threads: bool = False,
                 greenlets: Any = False, *, idle: Optional[bool] = None,
                 function: bool = False, lineno: bool = True,
                 tasks: Any = False,
                 _roots: Tuple[Any, ...] = ()) -> None:
        self.rate = check_rate(rate)
        self.mode = resolve_mode(mode, idle)
        self.budget = check_budget(budget)
        self.threads = bool(threads)
        self.greenlets = check_greenlets(greenlets)
        self.function = bool(function)
        self.lineno = bool(lineno)
        self._session = self._new_session()
        self.tasks = check_tasks(tasks)
        self._tasks: Any = None  # a _tasks.Refresher while sampling
        # Code objects where stacks are cut (stackwatch record's runner).
        self._roots = tuple(_roots)
        self._lock = threading.Lock()
        self._running = False
        self._tracking = False
        self._labelled: set = set()
        self._groups: Dict[int, str] = {}  # gid -> what it is grouped by
        self._glabels: Dict[int, str] = {}  # gid -> its own label
        self._gtexts: Dict[int, str] = {}  # gid -> group text set in C
        self._stopped_rate = 0.0
        self._task_stats: Dict[str, Any] = {}
        # Forks (_forks.py). The process whose output this is; the one
        # whose samples the session holds (a forked child starts a fresh
        # session); the spool of this process's children and the process
        # that made it; the parent's spool, in a forked child; the parts
        # read when the spool closed; the last path written (a child that
        # outlives its parent's profile writes next to it).
        self._pid = os.getpid()
        self._session_pid = self._pid
        self._spool: Optional[str] = None
        self._spool_pid = 0
        self._parent_spool: Optional[str] = None
        self._closed_parts: List[Tuple[Dict[str, Any], List[Any]]] = []
        self._out: Optional[Tuple[str, Optional[str]]] = None
        self._handed = False
        self._ending = False
        self._mp_hooked = 0
        # The spool of `record -- COMMAND` (_tree.py) this process and its
        # forked children hand their parts to, if it is one of its.
        self._tree: Optional[str] = None

    def _new_session(self) -> Any:
        return _native.Session(lines=LINES[
            "none" if not self.lineno else "function" if self.function
            else "current"])

    # -- running -----------------------------------------------------------

    def start(self) -> "Profiler":
        """Starts (or resumes) sampling. Raises RuntimeError if another
        profiler is sampling in this process."""
        global _active
        p = _active
        if p is not None and p is not self and p is _inherited and \
                p._in_child():
            # A profiler started in a forked child takes over from the one
            # inherited from the parent, which hands over what it sampled.
            p._end_in_child()
        with self._lock, _active_lock:
            if self._running:
                raise RuntimeError("this profiler is already running")
            if self.greenlets:
                self._tracking = _greenlets.start_tracking()
            _service.service.acquire()
            try:
                _frame.use_sys_path()  # the prefixes labels leave out
                if self.tasks:
                    from stackwatch import _tasks  # imports asyncio
                    # RuntimeError when this interpreter's tasks cannot
                    # be read (the pure-Python Task).
                    self._tasks = _tasks.Refresher(
                        self.tasks.startswith("all"),
                        self.tasks.endswith("each"))
                    self._tasks.enable()
                _native.sampler_set_roots(self._roots)
                _native.sampler_start(self._session, rate=self.rate,
                                      mode=MODES[self.mode],
                                      budget=self.budget or 0.0)
                if self._tasks is not None:
                    self._tasks.start()
            except BaseException:
                self._release()
                raise
            self._running = True
            _active = self
        return self

    def stop(self) -> "Profiler":
        """Stops sampling (a no-op when not running)."""
        global _active
        with self._lock, _active_lock:
            if not self._running:
                return self
            self._stopped_rate = _native.sampler_effective_rate()
            try:
                _native.sampler_stop()  # raises the sampler's sticky error
            finally:
                self._running = False
                if _active is self:
                    _active = None
                try:
                    self.label()
                finally:
                    self._release()
        return self

    def _release(self) -> None:
        if self._tasks is not None:
            self._tasks.stop()
            self._tasks.disable()
            self._task_stats = self._tasks.stats()
            self._tasks = None
        if self._tracking:
            _greenlets.stop_tracking()
            self._tracking = False
        _service.service.release()

    @property
    def running(self) -> bool:
        return self._running

    def __enter__(self) -> "Profiler":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- results -------------------------------------------------------------

    def stats(self) -> Dict[str, Any]:
        """Counters: samples taken and dropped, read errors, the effective
        rate, the sampler's own CPU time, and the session's table sizes.
        duration_seconds runs from the first start to the last stop;
        sampling_seconds counts only the time spent sampling (they differ
        for a profiler stopped and started again)."""
        st = self._view()[1]
        st["rate"] = self.rate
        st["mode"] = self.mode
        st["budget"] = self.budget
        st["effective_rate"] = (_native.sampler_effective_rate()
                                if self._running else self._stopped_rate)
        st["read_method"] = _native.info()["read_method"]
        if self.tasks:
            st["tasks"] = self.tasks
            st.update(self._tasks.stats() if self._tasks is not None
                      else self._task_stats)
        return st

    # -- forked children (_forks.py) ----------------------------------------

    def _own_rows(self) -> List[Any]:
        """This process's samples as rows of _forks (none in a forked
        child whose profiler was not sampling: its session is the
        parent's)."""
        if self._session_pid != os.getpid():
            return []
        frames, rows = self._session.export()
        threads = {slot: (ident, tid, name) for slot, ident, tid, name, _
                   in self._session.threads()}
        labels = self._session.greenlet_labels()
        pid = os.getpid()
        out = []
        for slot, gid, stack, count, wall, cpu, gil in rows:
            ident, tid, name = threads.get(slot, (0, 0, None))
            glabel = (labels.get(gid)
                      or _greenlets.label(gid, None, "greenlet")
                      if gid else None)
            out.append((pid, slot, ident, tid, name, gid, glabel,
                        tuple(tuple(frames[i]) for i in stack), count, wall,
                        cpu, gil, self._gtexts.get(gid) if gid else None))
        return out

    def _parts(self) -> List[Tuple[Dict[str, Any], List[Any]]]:
        """The forked children's parts that reached this process."""
        if self._session_pid != os.getpid():
            return []  # a forked child's copy of its parent's
        parts = list(self._closed_parts)
        if self._spool is not None and self._spool_pid == os.getpid():
            parts += _forks.read_parts(self._spool)
        return parts

    def _view(self) -> Tuple[Any, Dict[str, Any]]:
        """(session, stats) to show: this process's own, or, when forked
        children handed theirs over, a merged session with every
        process's stacks under a `process <pid>` root."""
        own = self._session.stats() if self._session_pid == os.getpid() \
            else _native.Session().stats()
        parts = self._parts()
        if not parts:
            st = dict(own)
            st["processes"] = 1
            return self._session, st
        rows = self._own_rows()
        for _st, part_rows in parts:
            rows += part_rows
        session = _forks.merge(rows)
        st = _forks.total_stats(own, [p[0] for p in parts])
        st["threads"] = len(session.threads())
        st["processes"] = len({r[0] for r in rows})
        return session, st

    def _close_forks(self) -> None:
        """Takes the children's parts and closes the spool: a child that
        ends after this writes its own file."""
        if self._spool is not None and self._spool_pid == os.getpid():
            spool, self._spool = self._spool, None
            self._closed_parts += _forks.close(spool)

    def _in_child(self) -> bool:
        return self._pid != os.getpid()

    def _end_in_child(self, path: Optional[str] = None,
                      fmt: Optional[str] = None) -> Optional[str]:
        """A forked child's end of the profile: its samples (and its own
        children's) go to the parent's spool, or, when the parent has
        written its profile already, to path.<pid>.ext (path: the one
        given, else the last one written). Never the parent's path.
        Returns the file written, if any."""
        self._ending = True
        try:
            return self._end_in_child_now(path, fmt)
        finally:
            self._ending = False

    def _end_in_child_now(self, path: Optional[str], fmt: Optional[str]
                          ) -> Optional[str]:
        if self._tree is not None:
            from stackwatch import _tree

            _tree.flush(final=True)
            self._handed = True
            return None
        self.stop()
        self.label()
        self._close_forks()
        st = self.stats()
        if not st["samples"]:
            return None
        if self._parent_spool is not None:
            rows = self._own_rows()
            for _st, part_rows in self._closed_parts:
                rows += part_rows
            if _forks.hand_over(self._parent_spool, st, rows):
                self._handed = True
                return None
        if path is None and self._out is not None:
            path, fmt = self._out
        pid = os.getpid()
        if path is None or path == "-" or os.path.abspath(path).startswith(
                ("/dev/", "/proc/")):
            if path is not None:
                _forks.warn("process %d (forked while recording) ended after "
                            "its parent's profile was written; its %d samples "
                            "are not written (the output is not a file)"
                            % (pid, st["samples"]))
            return None
        own = _forks.own_path(path, pid)
        self._handed = True
        data = self.render(fmt or format_for_path(path))
        try:
            _output.write_file(own, data)
        except _output.OutputError as e:
            _forks.warn("process %d (forked while recording): %s" % (pid, e))
            return None
        _forks.warn("process %d (forked while recording) ended after its "
                    "parent's profile was written: wrote its own to %s (%d "
                    "samples in %.1f s, %.1f Hz effective)"
                    % (pid, own, st["samples"], st["duration_seconds"],
                       st["effective_rate"]))
        return own

    def label(self) -> None:
        """Names the threads and labels the greenlets seen so far (needs
        the GIL; done for you when stopping and writing, and in the
        background while sampling)."""
        if self._session_pid != os.getpid():
            return  # the parent's samples, in a forked child
        by_ident: Dict[int, List[Tuple[int, str]]] = {}
        by_tid: Dict[int, List[str]] = {}
        for ident, tid, tname in _service.known_threads():
            by_ident.setdefault(ident, []).append((tid, tname))
            if tid:
                by_tid.setdefault(tid, []).append(tname)
        unnamed = []
        for slot, ident, tid, name, _n in self._session.threads():
            found = _thread_name(by_ident.get(ident, ()), by_tid, tid)
            # Named only if its ids are still these (a thread state that
            # carried its creator's ids is corrected by the sampler).
            if found is not None and name != found:
                self._session.name_thread(slot, found, ident, tid)
            elif found is None and name is None:
                unnamed.append((slot, ident, tid))
        if unnamed and not self._running:
            self._name_unknown_threads(unnamed)
        ids = self._session.greenlet_ids() - self._labelled
        ids.discard(0)
        if ids:
            table = _native.greenlet_table(ids)
            roots = self._session.greenlet_roots()
            for gid in ids:
                obj, typename = table.get(gid, (None, "greenlet"))
                root = roots.get(gid)
                self._glabels[gid] = _greenlets.label(gid, obj, typename,
                                                      root)
                self._groups[gid] = _greenlets.group(gid, obj, typename,
                                                     root)
                self._session.label_greenlet(gid, self._glabels[gid])
                if obj is not None:
                    self._labelled.add(gid)
        # Group texts count the group's greenlets, so they change as
        # greenlets come: set the ones that changed.
        texts = _greenlets.group_texts(self._groups, self._glabels)
        for gid, text in texts.items():
            if self._gtexts.get(gid) != text:
                self._session.label_greenlet(gid, self._glabels[gid], text)
                self._gtexts[gid] = text

    def _name_unknown_threads(self, unnamed: List[Tuple[int, int, int]]
                              ) -> None:
        """Names threads threading does not know (started with
        _thread.start_new_thread: gevent's threadpool, C libraries) by
        their OS name when they set one, else by the function at the
        bottom of their stacks (the one most sampled)."""
        frames, rows = self._session.export()
        roots: Dict[int, Dict[int, int]] = {}
        for slot, _gid, stack, count, _w, _c, _g in rows:
            if stack:
                by_root = roots.setdefault(slot, {})
                by_root[stack[0]] = by_root.get(stack[0], 0) + count
        for slot, ident, tid in unnamed:
            name = _thread_comm(tid)
            if name is None and roots.get(slot):
                best = max(roots[slot].items(), key=lambda kv: kv[1])[0]
                name = frames[best][0]
            if name:
                self._session.name_thread(slot, name, ident, tid)

    def render(self, format: str = "svg", *, threads: Optional[bool] = None,
               greenlets: Any = None,
               title: Optional[str] = None,
               full_paths: bool = False) -> bytes:
        """The profile in `format` (speedscope, collapsed, svg or pprof:
        gzip-compressed profile.proto, whatever the threads/greenlets
        split, which its labels carry);
        threads / greenlets (as in the constructor) override the
        profiler's. Labels show file names short (without their sys.path
        entry) unless `full_paths`; frames stay keyed by the full path,
        and two files that would look the same keep theirs; speedscope's
        "file" is always the full path."""
        check_format(format)
        greenlets = check_greenlets(
            self.greenlets if greenlets is None else greenlets)
        self.label()
        session = self._view()[0]
        st = self.stats()
        import time  # built in: no datetime (start-up time)

        when = time.strftime("%Y-%m-%d %H:%M:%S",
                             time.localtime(st["start_time"] or 0))
        subtitle = ("%d samples of %d thread%s%s over %.1f s at %g Hz "
                    "(%.1f Hz effective), %s mode, Python %s, %s"
                    % (st["samples"], st["threads"],
                       "" if st["threads"] == 1 else "s",
                       " in %d processes" % st["processes"]
                       if st["processes"] > 1 else "",
                       st["duration_seconds"],
                       self.rate, st["effective_rate"], self.mode,
                       sys.version.split()[0],
                       when))
        from stackwatch import __version__
        return session.write(
            format,
            by_thread=self.threads if threads is None else threads,
            by_greenlet=GREENLETS[greenlets],
            weight=_WEIGHT[self.mode],
            title=title or "stackwatch: %s" % " ".join(sys.argv[:1]),
            subtitle=subtitle, exporter="stackwatch@%s" % __version__,
            full_paths=full_paths)

    def write(self, path: str, format: Optional[str] = None, *,
              threads: Optional[bool] = None,
              greenlets: Any = None,
              title: Optional[str] = None,
              full_paths: bool = False) -> str:
        """Writes the profile to `path` ("-" for stdout) in `format`
        (default: by the extension: .svg; .json, .speedscope; .txt,
        .folded, .collapsed; svg for a name without extension).
        A regular file is replaced atomically; never half-written.
        Returns the format written. Raises ValueError for an unknown
        format, or an extension that is none of those when no format is
        given (x.pdf), before anything is written; OSError when the
        path cannot be written."""
        fmt = check_format(format or format_for_path(path))
        self._out = (path, format)
        if self._in_child():
            # A forked child never writes its parent's path.
            self._end_in_child(path, fmt)
            return fmt
        data = self.render(fmt, threads=threads, greenlets=greenlets,
                           title=title, full_paths=full_paths)
        try:
            _output.write_file(path, data)
        except _output.OutputError as e:
            raise OSError(str(e)) from None
        return fmt

    def samples(self) -> List[Sample]:
        """Every aggregated stack, with thread and greenlet labels."""
        self.label()
        session = self._view()[0]
        frames, rows = session.export()
        threads = {slot: (ident, tid, name) for slot, ident, tid, name, _
                   in session.threads()}
        labels = session.greenlet_labels()
        out = []
        for slot, gid, stack, count, wall, cpu, gil in rows:
            ident, tid, name = threads.get(slot, (0, 0, None))
            glabel = (labels.get(gid) or _greenlets.label(gid, None, "greenlet")
                      if gid else None)
            out.append(Sample(
                thread=name or "Thread 0x%x" % ident, ident=ident, tid=tid,
                greenlet=glabel, frames=tuple(Frame(*frames[i][:3]) for i in stack),
                count=count, wall=wall / 1e9, cpu=cpu / 1e9, gil=gil))
        return out

    def summary(self, top: int = 5, full_paths: bool = False) -> List[str]:
        """Lines on the functions seen most often at the top of stacks:
        their share of samples, how much of that time was spent on CPU,
        the hottest line and its two most frequent callers. Files are
        shown as in the profile's labels: without their sys.path entry
        (two files that would read the same keep their full paths) unless
        full_paths."""
        count: Dict[Tuple[str, str], int] = collections.Counter()
        wall: Dict[Tuple[str, str], float] = collections.Counter()
        cpu: Dict[Tuple[str, str], float] = collections.Counter()
        lines: Dict[Tuple[str, str], Dict[Frame, int]] = {}
        callers: Dict[Tuple[str, str], Dict[Tuple[Frame, ...], int]] = {}
        total = 0
        files = set()
        for s in self.samples():
            files.update(f.filename for f in s.frames)
            if not s.frames:
                continue
            leaf = s.frames[-1]
            key = (leaf.name, leaf.filename)
            count[key] += s.count
            wall[key] += s.wall
            cpu[key] += s.cpu
            total += s.count
            lines.setdefault(key, collections.Counter())[leaf] += s.count
            callers.setdefault(key, collections.Counter())[
                s.frames[-3:-1][::-1]] += s.count
        full = _ambiguous(files) if not full_paths else None
        out = []
        for key, n in count.most_common(top):
            leaf = lines[key].most_common(1)[0][0]
            text = "%5.1f%%  cpu %3.0f%%  %s" % (
                100.0 * n / total,
                100.0 * min(1.0, cpu[key] / wall[key]) if wall[key] else 0.0,
                _frame_text(leaf, full))
            for c in callers[key].most_common(1)[0][0]:
                text += "  <- %s" % _frame_text(c, full)
            out.append(text)
        return out


def _thread_name(mine: Any, by_tid: Dict[int, List[str]], tid: int
                 ) -> Optional[str]:
    """The name of the thread with kernel id tid, given the (tid, name)
    known for its ident and every name by kernel id."""
    # Its ident *and* kernel id (idents are reused as soon as a thread
    # ends).
    for t, n in mine:
        if t == tid:
            return n
    if tid and len(by_tid.get(tid, ())) == 1:
        # gevent's monkey patching gives the main thread the main
        # greenlet's id as its ident (a gunicorn worker): the kernel id,
        # unique among live threads, still tells.
        return by_tid[tid][0]
    if len(mine) == 1 and 0 in (tid, mine[0][0]):
        return mine[0][1]
    return None


def _thread_comm(tid: int) -> Optional[str]:
    """The OS name of thread tid (/proc/self/task/TID/comm) when it was
    set: not the process's own name, which a new thread inherits."""
    if not tid:
        return None
    try:
        with open("/proc/self/task/%d/comm" % tid) as f:
            comm = f.read().strip()
        with open("/proc/self/comm") as f:
            own = f.read().strip()
    except OSError:
        return None
    return comm if comm and comm != own else None


def _ambiguous(files: Any) -> set:
    """The files (full paths) that would read the same as another one when
    shortened: they keep their full paths (the writers' rule,
    sw_write_profile in csrc/writers/common.c)."""
    by_short: Dict[str, set] = {}
    for f in files:
        if f:
            by_short.setdefault(_native.short_path(f), set()).add(f)
    return {f for same in by_short.values() if len(same) > 1 for f in same}


def _frame_text(f: Frame, full: Optional[set]) -> str:
    # "name (file:line)" by the native formatter that writes every other
    # frame label: the file short (as the profile's labels), or full when
    # full is None (full paths asked for) or holds it (ambiguous).
    return _native.format_frame(f.name, f.filename, f.lineno,
                                short=full is not None and
                                f.filename not in full)


def _name_active() -> None:
    p = _active
    if p is not None:
        p.label()


def _stop_active() -> None:
    p = _active
    if p is not None:
        p.stop()


#: In a forked child: the profiler that was sampling at the fork, which
#: samples the child now (restarted by _restart_in_child).
_inherited: Optional["Profiler"] = None
_restart: Optional["Profiler"] = None
#: The profilers that made a spool in this process (removed at exit).
_with_spools: List["Profiler"] = []


def _before_fork() -> None:
    # The spool the children hand their samples to, made by the first fork
    # while sampling.
    p = _active
    if p is None:
        return
    me = os.getpid()
    if p._tree is not None:
        pass  # the children hand their parts to the tree's spool
    elif p._spool is None or p._spool_pid != me:
        try:
            p._spool = _forks.make_spool()
            p._spool_pid = me
            _with_spools.append(p)
        except OSError as e:
            _forks.warn("forked children's profiles will be written to "
                        "files of their own: %s" % e)
    mp = sys.modules.get("multiprocessing.util")
    if mp is not None and p._mp_hooked != me:
        # A multiprocessing child ends with os._exit (no atexit): its
        # finalizers are where it hands its samples over.
        mp.register_after_fork(p, _mp_child_started)
        p._mp_hooked = me


def _mp_child_started(p: "Profiler") -> None:
    import multiprocessing.util as mp

    mp.Finalize(None, _end_of_child, exitpriority=100)


def _forget_active_in_child() -> None:
    # The sampler thread does not exist in a forked child. The profiler
    # that was sampling goes on in the child, into a fresh session (the
    # parent's samples are the parent's to write), restarted once the
    # service thread is back (_restart_in_child).
    global _active, _active_lock, _inherited, _restart
    _active_lock = threading.Lock()
    del _with_spools[:]  # the parent's
    p = _active
    _active = None
    if p is not None:
        p._lock = threading.Lock()
        was_running = p._running
        p._running = False
        p._tracking = False
        if p._tasks is not None:
            p._tasks = None  # its thread does not exist here
            _native.tasks_disable()
        _service.service.forget_user_in_child()
        me = os.getpid()
        if p._tree is not None:
            p._parent_spool = p._tree
        elif p._spool is not None and p._spool_pid == os.getppid():
            p._parent_spool = p._spool
        else:
            p._parent_spool = None
        p._spool = None
        p._closed_parts = []
        p._session = p._new_session()
        p._session_pid = me
        p._labelled = set()
        p._stopped_rate = 0.0
        p._handed = False
        _inherited = p
        _restart = p if was_running else None


def _restart_in_child() -> None:
    global _restart
    p, _restart = _restart, None
    if p is not None:
        p.start()


def _end_of_child() -> None:
    """At the end of a forked child (exit, or a multiprocessing child's
    finalizers): the inherited profiler hands its samples over, unless it
    did so already and sampled nothing since."""
    p = _inherited
    if p is None or p._pid == os.getpid():
        return
    if p._handed and not p._running:
        return
    p._end_in_child()


def _close_at_exit() -> None:
    while _with_spools:
        _with_spools.pop()._close_forks()


_service._namers.append(_name_active)
_lifecycle.on_exit(_lifecycle.PROFILER, _end_of_child)
_lifecycle.on_exit(_lifecycle.PROFILER, _stop_active)
_lifecycle.on_exit(_lifecycle.PROFILER, _close_at_exit)
_lifecycle.on_fork_before(_lifecycle.PROFILER, _before_fork)
_lifecycle.on_fork_child(_lifecycle.PROFILER, _forget_active_in_child)
_lifecycle.on_fork_child(_lifecycle.PROFILER_AGAIN, _restart_in_child)
