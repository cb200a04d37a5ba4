"""asyncio tasks in profiles (``--tasks``, ``Profiler(tasks=...)``): the
GIL side of csrc/tasks.c.

The sampler finds the task a thread runs by itself, without the GIL: it
reads asyncio's ``_current_tasks`` dict (loop -> running task) or, from
CPython 3.14 (asyncio's bookkeeping in C: the dict stays empty), the
running-task field of each thread state, and matches each running task's
coroutine with the generators that run the thread's frames. What it needs
from a Task object, the offsets of its coroutine, name and waited-future
fields, is probed here once, from real tasks (:func:`probe`), which also
checks the thread-state field against a running task.

Which task awaits which is a question for the GIL: :class:`Refresher`, a
thread of stackwatch's own (``stackwatch-tasks``, never sampled), looks at
every task every ``INTERVAL`` seconds (within ``POLL`` seconds of the
sampler meeting a task the table lacks; less often when a refresh costs
more than ``SHARE`` of the time) and installs a table of links,
labels and (``--tasks all``) the suspension stacks of waiting tasks, that
the sampler reads. For a task younger than the table (a request's tasks,
shorter-lived than a refresh), the sampler finds the tasks awaiting it by
itself, through its done callbacks (:func:`probe_links` learns where they
are), up to the first task the table holds.
"""

import asyncio
import ctypes
import os
import struct
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

from stackwatch import _native, _osthread
from stackwatch._capture import loop_ident, running_loops
from stackwatch._task_tree import coroutine_chain

INTERVAL = 0.1  #: seconds between two refreshes of the table
POLL = 0.01  #: seconds between two looks at whether the sampler missed one
SHARE = 0.02  #: at most this share of the time is spent refreshing
MAX_TASKS = 10000  #: tasks looked at per refresh
MAX_WAITING_DEPTH = 256  #: frames kept of a waiting task's stack


def code_name(code: Any) -> str:
    # The name the sampler reads from a code object: the qualified name
    # where code objects have one (3.11+), else the name.
    return getattr(code, "co_qualname", None) or code.co_name


def default_name(name: str) -> bool:
    """Whether name is one asyncio gives a task it names itself (Task-N);
    as sw_tasks_default_name() in csrc/tasks.c."""
    return name.startswith("Task-") and name[5:].isdigit() and \
        name[5:].isascii()


def label(task: Any, each: bool = False) -> str:
    """"[task] NAME: QUALNAME", or "[task] QUALNAME" for a task asyncio
    named (so that the tasks running one coroutine share one label)
    unless each."""
    coro = task.get_coro()
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
    what = code_name(code) if code is not None else type(coro).__name__
    name = task.get_name()
    if not each and default_name(name):
        return "[task] %s" % what
    return "[task] %s: %s" % (name, what)


# -- the probe -----------------------------------------------------------------

def _words(obj: Any, items: int = 0) -> Tuple[int, ...]:
    size = (type(obj).__basicsize__ + items * type(obj).__itemsize__) \
        // 8 * 8
    return struct.unpack("%dQ" % (size // 8), ctypes.string_at(id(obj), size))


def _offset(obj: Any, want: Any, items: int = 0, mask: int = ~0,
            first: bool = False) -> int:
    """The one offset in obj's words (its header past the reference count)
    that holds id(want) (tag bits under mask ignored), or the first of
    several if first; LookupError if there is not exactly one (none)."""
    hits = [i * 8 for i, w in enumerate(_words(obj, items))
            if i > 0 and w & mask == id(want)]
    if first:
        hits = hits[:1]
    if len(hits) != 1:
        raise LookupError("found %d times" % len(hits))
    return hits[0]


async def _probe_body(fut: Any, seen: List[Any]) -> None:
    # While this task runs: the word the sampler would read as the
    # thread's running task (None where the dict is read instead).
    seen.append(_native.tasks_running_here())
    await fut


def _one_step(loop: Any) -> None:
    # One iteration of the loop, creating no task: tasks without a name
    # would take numbers (Task-N) from the application's.
    loop.call_soon(loop.stop)
    loop.run_forever()


def _probe_once(name: str) -> Tuple[Tuple[int, ...], int, int, int, bool]:
    """A Task's words while it waits for a future of its own, the
    addresses of its coroutine, name and that future, and whether the
    thread state's running-task word held the task while it ran. The task
    is named: it takes no number from the application's tasks."""
    loop = asyncio.new_event_loop()
    try:
        fut = loop.create_future()
        seen: List[Any] = []
        coro = _probe_body(fut, seen)
        task = loop.create_task(coro, name=name)
        name_obj = task.get_name()
        for _ in range(3):  # until it waits for fut
            _one_step(loop)
        words = _words(task)
        fut.set_result(None)
        while not task.done():
            _one_step(loop)
        return words, id(coro), id(name_obj), id(fut), \
            seen == [id(task)]
    finally:
        loop.close()


async def _probe_waiter(fut: Any) -> None:
    await fut


async def _probe_gather(child: Any) -> None:
    await asyncio.gather(child)


async def _probe_direct(child: Any) -> None:
    await child


def _probe_links_once(name: str) -> Tuple[Any, ...]:
    """The links csrc/tasks.c reads without the GIL (sw_tasks_links_t),
    from real tasks waiting on a loop of their own: a task gathered by
    another and a task awaited directly by another. Raises LookupError
    (or another exception) when one is not where it is looked for."""
    loop = asyncio.new_event_loop()
    try:
        fut = loop.create_future()
        gathered = loop.create_task(_probe_waiter(fut), name=name + "-g")
        gathering = loop.create_task(_probe_gather(gathered),
                                     name=name + "-gp")
        awaited = loop.create_task(_probe_waiter(fut), name=name + "-a")
        awaiting = loop.create_task(_probe_direct(awaited), name=name + "-ap")
        for _ in range(3):  # until all of them wait
            _one_step(loop)
        try:
            done_cb = gathered._callbacks[0][0]
            outer = gathering._fut_waiter
            wakeup = awaited._callbacks[0][0]
            code = done_cb.__code__
            closure = done_cb.__closure__
            index = code.co_freevars.index("outer")
            cell = closure[index]
            if cell.cell_contents is not outer or \
                    awaiting._fut_waiter is not awaited:
                raise LookupError("not the links looked for")
            off_cb0 = _offset(awaited, wakeup)
            if _offset(gathered, done_cb) != off_cb0:
                raise LookupError("the first callback moved")
            off_task = _offset(wakeup, awaiting)
            # The gathering future's own first callback is the gathering
            # task's wake-up up to 3.13; from 3.14, gather() first adds
            # one of its own, but the gathered task names the task that
            # awaits it (its awaited-by field).
            try:
                off_by = _offset(gathered, gathering)
            except LookupError:
                off_by = 0
            first = outer._callbacks[0][0]
            if not off_by and (type(first) is not type(wakeup) or
                               _offset(outer, first) != off_cb0 or
                               _offset(first, gathering) != off_task):
                raise LookupError("no link from a gathered task")
            coro = gathered.get_coro()
            links = (off_cb0, type(wakeup), off_task, type(done_cb), code,
                     _offset(done_cb, code), _offset(done_cb, closure),
                     tuple,
                     _offset(closure, cell, len(closure)) - 8 * index,
                     index, type(cell), _offset(cell, outer), type(outer),
                     # (3.11 has the code in the coroutine and in its
                     # frame: either will do.)
                     _offset(coro, coro.cr_code, mask=~7, first=True),
                     off_by)
        finally:
            fut.set_result(None)
            for _ in range(10):
                if awaiting.done() and gathering.done():
                    break
                _one_step(loop)
        return links
    finally:
        loop.close()


def probe_links() -> Optional[Tuple[Any, ...]]:
    """The links for tasks_enable() (see _probe_links_once), the same from
    two probes, or None when they cannot be found here (then the awaiting
    chains of tasks younger than the table wait for its next refresh).
    Run in a thread without a running loop."""
    try:
        one = _probe_links_once("stackwatch-probe-l1")
        two = _probe_links_once("stackwatch-probe-l2")
    except Exception:
        return None
    return one if one == two else None


def probe() -> Tuple[Optional[Dict[str, Any]], int, int, int,
                     Optional[Tuple[Any, ...]]]:
    """(the dict loop -> running task, or None where the running task is
    the thread state's (3.14+), the offsets of a Task's coroutine, name
    and waited future, the links (probe_links(), None when not found)),
    learned from real tasks on a loop of their own, in a thread of their
    own (the caller may be running a loop).
    Raises RuntimeError with one line saying why --tasks cannot work
    here."""
    aio_c = sys.modules.get("_asyncio")
    if aio_c is None:
        try:
            import _asyncio as aio_c  # type: ignore[no-redef]
        except ImportError:
            aio_c = None
    current = getattr(asyncio.tasks, "_current_tasks", None)
    if aio_c is None or asyncio.Task is not getattr(aio_c, "Task", None):
        raise RuntimeError("--tasks needs asyncio's C Task (the _asyncio "
                           "module); this interpreter uses the pure-Python "
                           "one")
    in_tstate = _native.tasks_running_here() is not None and \
        not hasattr(aio_c, "_current_tasks")
    if in_tstate:
        current = None
    elif not isinstance(current, dict) or \
            current is not getattr(aio_c, "_current_tasks", current):
        raise RuntimeError("--tasks cannot find asyncio's running tasks "
                           "(asyncio.tasks._current_tasks is not _asyncio's "
                           "dict)")
    found: List[Any] = []

    def run() -> None:
        try:
            found.append([_probe_once("stackwatch-probe-%d" % i)
                          for i in (1, 2)])
            found.append(probe_links())
        except BaseException as e:  # reported below, in the caller
            found.append(e)

    t = _osthread.Thread(run, "stackwatch-tasks-probe")
    t.start()
    t.join(10.0)
    if not found or isinstance(found[0], BaseException):
        raise RuntimeError("--tasks could not probe asyncio's Task layout "
                           "(%s)" % (found[0] if found else "timed out"))
    (w1, coro1, name1, fut1, ts1), (w2, coro2, name2, fut2, ts2) = found[0]
    if in_tstate and not (ts1 and ts2):
        raise RuntimeError("--tasks could not find asyncio's running task "
                           "in the thread state")
    offsets = []
    for want1, want2 in ((coro1, coro2), (name1, name2), (fut1, fut2)):
        hits = [i * 8 for i in range(1, len(w1))
                if w1[i] == want1 and i < len(w2) and w2[i] == want2]
        if len(hits) != 1:
            raise RuntimeError("--tasks could not probe asyncio's Task "
                               "layout (a field was found %d times)"
                               % len(hits))
        offsets.append(hits[0])
    links = found[1] if len(found) > 1 else None
    return current, offsets[0], offsets[1], offsets[2], links


# -- the table -----------------------------------------------------------------

def _task_sets() -> List[Any]:
    out = []
    for name in ("_all_tasks", "_scheduled_tasks", "_eager_tasks"):
        s = getattr(asyncio.tasks, name, None)
        if s is None:
            continue
        for _ in range(3):  # a WeakSet changed while copied: again
            try:
                out.extend(list(s))
                break
            except RuntimeError:
                continue
    return out


def _tasks_in(value: Any, out: List[Any], depth: int = 0) -> None:
    if isinstance(value, asyncio.Task):
        out.append(value)
    elif isinstance(value, (set, frozenset, list, tuple)) and depth == 0:
        for v in list(value)[:1000]:
            _tasks_in(v, out, 1)
    elif depth == 0:
        children = getattr(value, "_children", None)  # a gather
        if isinstance(children, list):
            _tasks_in(children, out, 0)
        tasks = getattr(value, "_tasks", None)  # a TaskGroup
        if isinstance(tasks, (set, list)):
            _tasks_in(tasks, out, 0)


# asyncio's functions whose locals hold the tasks a task waits for
# (TaskGroup.__aexit__ and, 3.13+, _aexit hold the group; wait() its set).
_HOLDERS = frozenset(("__aexit__", "_aexit", "wait", "_wait"))


def _awaited(task: Any, frames: List[Any], end: Any, waiter: Any,
             aio_dir: str) -> List[Any]:
    """The tasks that task waits for: the one it awaits, a gather's
    children, a TaskGroup's tasks, asyncio.wait's."""
    out: List[Any] = []
    if waiter is not None:
        _tasks_in(waiter, out)
    if end is not None and end is not waiter:
        _tasks_in(end, out)
    for f in frames:
        code = f.f_code
        if code.co_name in _HOLDERS and \
                os.path.dirname(code.co_filename) == aio_dir:
            try:
                for v in list(f.f_locals.values()):
                    _tasks_in(v, out)
            except Exception:
                pass
    return out


class _Seen:
    """What one refresh found about a task; reused by the next ones while
    the task still waits on the same future (it has not run since)."""
    __slots__ = ("waiter", "awaited", "label", "stack")

    def __init__(self, waiter: int, awaited: List[int], label: str,
                 stack: List[Tuple[str, str, int]]) -> None:
        self.waiter = waiter
        self.awaited = awaited
        self.label = label
        self.stack = stack


class TableBuilder:
    """Builds the rows tasks_install() takes: (task, its coroutine, parent,
    loop thread ident, label, suspension stack leaf first: [] unless
    all_tasks and the task waits). A task that waits on the same future as at the last
    refresh has not run since: what was found about it is reused (all of
    it is looked at again every FULL_EVERY refreshes)."""

    FULL_EVERY = 10

    def __init__(self, all_tasks: bool, from_tstate: bool = False,
                 each: bool = False) -> None:
        self.all = all_tasks
        self.each = each
        self.from_tstate = from_tstate
        self.loops: Dict[int, Any] = {}  # from_tstate: the running loops
        self.aio_dir = os.path.dirname(asyncio.__file__)
        self.cache: Dict[int, _Seen] = {}
        self.builds = 0

    def _look(self, t: Any, waiter: Any, running: bool) -> _Seen:
        try:
            frames, end = coroutine_chain(t.get_coro())
        except Exception:
            frames, end = [], None
        awaited = [id(c) for c in _awaited(t, frames, end, waiter,
                                           self.aio_dir)]
        stack = []
        if self.all and not running:
            for f in frames[::-1][:MAX_WAITING_DEPTH]:
                stack.append((code_name(f.f_code), f.f_code.co_filename,
                              f.f_lineno or 0, f.f_code.co_firstlineno))
        return _Seen(id(waiter) if waiter is not None else 0, awaited,
                     label(t, self.each), stack)

    def _loop_tasks(self) -> Tuple[List[Any], List[Any]]:
        """3.14+: (the tasks of the running loops, the tasks they run).
        asyncio keeps C tasks in lists of its own, out of the task sets:
        asyncio.all_tasks() of each loop whose run_forever() is on a
        thread's stack (or that a former refresh found still running)."""
        for loop in running_loops(asyncio):
            self.loops[id(loop)] = loop
        tasks: List[Any] = []
        running: List[Any] = []
        for key, loop in list(self.loops.items()):
            try:
                if not loop.is_running():
                    del self.loops[key]
                    continue
                tasks.extend(asyncio.all_tasks(loop))
                running.append(asyncio.current_task(loop))
            except Exception:
                continue  # a loop closing under us: next time
        return tasks, running

    def build(self) -> List[Tuple[Any, ...]]:
        found = _task_sets()
        if self.from_tstate:
            more, now = self._loop_tasks()
            found.extend(more)
        else:
            current = asyncio.tasks._current_tasks  # type: ignore
            now = list(current.values())
        running = {id(t) for t in now if t is not None}
        tasks: Dict[int, Any] = {}
        for t in found[:MAX_TASKS]:
            if isinstance(t, asyncio.Task) and not t.done():
                tasks[id(t)] = t
        full = self.builds % self.FULL_EVERY == 0
        self.builds += 1
        old = {} if full else self.cache
        self.cache = {}
        for tid, t in tasks.items():
            waiter = getattr(t, "_fut_waiter", None)
            seen = old.get(tid)
            if seen is None or waiter is None or tid in running or \
                    seen.waiter != id(waiter):
                seen = self._look(t, waiter, tid in running)
            self.cache[tid] = seen
        parent: Dict[int, int] = {}
        for tid, seen in self.cache.items():
            for cid in seen.awaited:
                if cid in tasks and cid != tid and cid not in parent:
                    p = tid  # no cycles: tid must not be under cid already
                    while p in parent and p != cid:
                        p = parent[p]
                    if p != cid:
                        parent[cid] = tid
        rows = []
        for tid, t in tasks.items():
            seen = self.cache[tid]
            ident = loop_ident(t.get_loop()) or 0
            rows.append((tid, id(t.get_coro()), parent.get(tid, 0), ident,
                         seen.label, seen.stack))
        return rows


class Refresher:
    """The ``stackwatch-tasks`` thread: installs the table every INTERVAL
    seconds while a profiler with tasks samples. Its cost is counted
    (``stats()``: refreshes, seconds, the longest)."""

    def __init__(self, all_tasks: bool, each: bool = False) -> None:
        self.all = all_tasks
        self.each = each
        self.builder = TableBuilder(all_tasks, each=each)
        self.links = False  # links found without the GIL (probe_links)
        self.refreshes = 0
        self.seconds = 0.0
        self.longest = 0.0
        self._stop = _osthread.Event()
        self._thread: Optional[_osthread.Thread] = None

    def enable(self) -> None:
        """Probes (RuntimeError if --tasks cannot work here), turns the
        native side on and installs a first table. Before the sampler
        starts."""
        current, off_coro, off_name, off_waiter, links = probe()
        self.builder.from_tstate = current is None
        self.links = links is not None
        _native.tasks_enable(current, asyncio.Task, off_coro, off_name,
                             off_waiter, self.all, self.each, links)
        self.refresh()

    def start(self) -> None:
        self._stop.clear()
        self._thread = _osthread.Thread(self._run, "stackwatch-tasks")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        t = self._thread
        self._thread = None
        if t is not None and not t.is_current():
            t.join(5.0)

    def disable(self) -> None:
        _native.tasks_disable()

    def refresh(self) -> None:
        t0 = time.perf_counter()
        try:
            rows = self.builder.build()
        except Exception:
            rows = None  # a task set or a task changed under us: next time
        if rows is not None:
            _native.tasks_install(rows)
        dt = time.perf_counter() - t0
        self.refreshes += 1
        self.seconds += dt
        self.longest = max(self.longest, dt)

    def stats(self) -> Dict[str, Any]:
        return {"task_links": self.links,
                "task_refreshes": self.refreshes,
                "task_refresh_seconds": self.seconds,
                "task_refresh_longest": self.longest}

    def _run(self) -> None:
        _native.sampler_exclude_current(True)
        try:
            last = time.monotonic()
            cost = self.longest  # enable()'s first refresh
            while not self._stop.wait(POLL):
                # Every INTERVAL, sooner when the sampler met a task the
                # table does not hold yet (a task just created), later
                # when refreshing costs more than SHARE of the time.
                since = time.monotonic() - last
                if since >= max(INTERVAL, cost / SHARE) or \
                        (since >= cost / SHARE and _native.tasks_missed()):
                    t0 = time.perf_counter()
                    self.refresh()
                    cost = time.perf_counter() - t0
                    last = time.monotonic()
        finally:
            _native.sampler_exclude_current(False)
