"""The sampling profiler's Python API.

``Profiler`` drives the native sampler (csrc/sampler.c): a pthread that
reads every thread's Python stack without the GIL at a fixed rate and
aggregates the stacks in a native session with bounded memory. Nothing of
the sampling runs Python code; this module starts and stops it, names
threads and greenlets (which needs the GIL), and renders the session in
the output formats (the writers are C too).
"""

import collections
import os
import sys
import threading
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from stackwatch import _frame, _greenlets, _lifecycle, _native, _output, \
    _service
from stackwatch._frame import Frame

MODES = {"wall": 0, "cpu": 1, "gil": 2}
FORMATS = ("speedscope", "collapsed", "svg")
_WEIGHT = {"wall": 1, "cpu": 2, "gil": 1}
_EXTENSIONS = {".svg": "svg", ".json": "speedscope", ".speedscope": "speedscope",
               ".txt": "collapsed", ".folded": "collapsed",
               ".collapsed": "collapsed"}

#: The profiler whose sampler runs, if any (there is one sampler thread).
_active: Optional["Profiler"] = None
_active_lock = threading.Lock()


class Sample(NamedTuple):
    """One aggregated stack of one thread (and greenlet)."""
    thread: str           #: thread label
    ident: int            #: threading ident of the thread
    tid: int              #: kernel thread id (0 if unknown)
    greenlet: Optional[str]  #: greenlet label, None if not tracked
    frames: Tuple[Frame, ...]  #: root first
    count: int            #: samples
    wall: float           #: seconds of wall-clock time
    cpu: float            #: seconds of thread CPU time
    gil: int              #: samples taken while the thread held the GIL


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

    One profiler samples at a time per process. Use as a context manager,
    or call :meth:`start` and :meth:`stop`; then :meth:`write` a file.
    """

    def __init__(self, rate: float = 100, mode: Optional[str] = None,
                 budget: Optional[float] = None, threads: bool = False,
                 greenlets: Any = False, *, idle: Optional[bool] = None,
                 function: bool = False, lineno: bool = True,
                 _roots: Tuple[Any, ...] = ()) -> None:
        self.rate = check_rate(rate)
        self.mode = resolve_mode(mode, idle)
        self.budget = check_budget(budget)
        self.threads = bool(threads)
        self.greenlets = check_greenlets(greenlets)
        self.function = bool(function)
        self.lineno = bool(lineno)
        self._session = _native.Session(lines=LINES[
            "none" if not lineno else "function" if function else "current"])
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

    # -- running -----------------------------------------------------------

    def start(self) -> "Profiler":
        """Starts (or resumes) sampling. Raises RuntimeError if another
        profiler is sampling in this process."""
        global _active
        with self._lock, _active_lock:
            if self._running:
                raise RuntimeError("this profiler is already running")
            if self.greenlets:
                self._tracking = _greenlets.start_tracking()
            _service.service.acquire()
            try:
                _frame.use_sys_path()  # the prefixes labels leave out
                _native.sampler_set_roots(self._roots)
                _native.sampler_start(self._session, rate=self.rate,
                                      mode=MODES[self.mode],
                                      budget=self.budget or 0.0)
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
        st = dict(self._session.stats())
        st["rate"] = self.rate
        st["mode"] = self.mode
        st["budget"] = self.budget
        st["effective_rate"] = (_native.sampler_effective_rate()
                                if self._running else self._stopped_rate)
        st["read_method"] = _native.info()["read_method"]
        return st

    def label(self) -> None:
        """Names the threads and labels the greenlets seen so far (needs
        the GIL; done for you when stopping and writing, and in the
        background while sampling)."""
        by_ident: Dict[int, List[Tuple[int, str]]] = {}
        for ident, tid, tname in _service.known_threads():
            by_ident.setdefault(ident, []).append((tid, tname))
        for slot, ident, tid, name, _n in self._session.threads():
            # The slot's thread is the one with its ident *and* kernel id
            # (idents are reused as soon as a thread ends).
            found = [n for t, n in by_ident.get(ident, ()) if t == tid]
            if not found and tid == 0 and len(by_ident.get(ident, ())) == 1:
                found = [by_ident[ident][0][1]]
            if found and name != found[0]:
                self._session.name_thread(slot, found[0])
        ids = self._session.greenlet_ids() - self._labelled
        ids.discard(0)
        if ids:
            table = _native.greenlet_table()
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

    def render(self, format: str = "svg", *, threads: Optional[bool] = None,
               greenlets: Any = None,
               title: Optional[str] = None,
               full_paths: bool = False) -> bytes:
        """The profile in `format` (speedscope, collapsed or svg);
        threads / greenlets (as in the constructor) override the
        profiler's. Labels show file names short (without their sys.path
        entry) unless `full_paths`; frames stay keyed by the full path,
        and two files that would look the same keep theirs; speedscope's
        "file" is always the full path."""
        check_format(format)
        greenlets = check_greenlets(
            self.greenlets if greenlets is None else greenlets)
        self.label()
        st = self.stats()
        import datetime

        when = datetime.datetime.fromtimestamp(st["start_time"] or 0)
        subtitle = ("%d samples of %d threads over %.1f s at %g Hz "
                    "(%.1f Hz effective), %s mode, Python %s, %s"
                    % (st["samples"], st["threads"], st["duration_seconds"],
                       self.rate, st["effective_rate"], self.mode,
                       sys.version.split()[0],
                       when.strftime("%Y-%m-%d %H:%M:%S")))
        from stackwatch import __version__
        return self._session.write(
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
        frames, rows = self._session.export()
        threads = {slot: (ident, tid, name) for slot, ident, tid, name, _
                   in self._session.threads()}
        labels = self._session.greenlet_labels()
        out = []
        for slot, gid, stack, count, wall, cpu, gil in rows:
            ident, tid, name = threads.get(slot, (0, 0, None))
            glabel = (labels.get(gid) or _greenlets.label(gid, None, "greenlet")
                      if gid else None)
            out.append(Sample(
                thread=name or "Thread 0x%x" % ident, ident=ident, tid=tid,
                greenlet=glabel, frames=tuple(Frame(*frames[i]) for i in stack),
                count=count, wall=wall / 1e9, cpu=cpu / 1e9, gil=gil))
        return out

    def summary(self, top: int = 5) -> List[str]:
        """Lines on the functions seen most often at the top of stacks:
        their share of samples, how much of that time was spent on CPU,
        the hottest line and its two most frequent callers."""
        count: Dict[Tuple[str, str], int] = collections.Counter()
        wall: Dict[Tuple[str, str], float] = collections.Counter()
        cpu: Dict[Tuple[str, str], float] = collections.Counter()
        lines: Dict[Tuple[str, str], Dict[Frame, int]] = {}
        callers: Dict[Tuple[str, str], Dict[Tuple[Frame, ...], int]] = {}
        total = 0
        for s in self.samples():
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
        out = []
        for key, n in count.most_common(top):
            leaf = lines[key].most_common(1)[0][0]
            text = "%5.1f%%  cpu %3.0f%%  %s" % (
                100.0 * n / total,
                100.0 * min(1.0, cpu[key] / wall[key]) if wall[key] else 0.0,
                _frame_text(leaf))
            for c in callers[key].most_common(1)[0][0]:
                text += "  <- %s" % _frame_text(c)
            out.append(text)
        return out


def _frame_text(f: Frame) -> str:
    # "name (file:line)", the file by its base name: the native formatter
    # that writes every other frame label.
    return _native.format_frame(f.name, f.filename, f.lineno, basename=True)


def _name_active() -> None:
    p = _active
    if p is not None:
        p.label()


def _stop_active() -> None:
    p = _active
    if p is not None:
        p.stop()


def _forget_active_in_child() -> None:
    # The sampler thread does not exist in a forked child; the profiler
    # object of the parent keeps what it sampled and is stopped here.
    global _active, _active_lock
    _active_lock = threading.Lock()
    p = _active
    _active = None
    if p is not None:
        p._lock = threading.Lock()
        p._running = False
        p._tracking = False
        _service.service.forget_user_in_child()


_service._namers.append(_name_active)
_lifecycle.on_exit(_lifecycle.PROFILER, _stop_active)
_lifecycle.on_fork_child(_lifecycle.PROFILER, _forget_active_in_child)
