"""Run information: every thread, every greenlet (as a tree by spawner) and
every asyncio task (as a tree of which task awaits which), with stacks and,
on request, each frame's arguments and local variables.

This is the GIL side of a dump: it needs the interpreter's objects (frames'
locals, greenlets, tasks), so it runs with the GIL, in the calling thread
or, for ``stackwatch dump PID`` and the slow-script log, in stackwatch's
service thread once the GIL could be had (the stacks themselves were read
before, without the GIL, by the native side; the service answer is
``stackwatch.dumping.answer_run_info``).

Values are shown through :func:`safe_repr`: bounded in depth, items and
length (a cut value says how long it was), never raising (a ``__repr__``
that raises shows a placeholder), and with secret-looking names redacted.

This module is the public API (:class:`RunTree`, :func:`format_run_info`,
:func:`print_run_info`); the parts live in:

- ``_saferepr``: safe reprs and redaction;
- ``_frame`` and ``_node``: the data (``stackwatch.Frame``, :class:`Node`);
- ``_capture``: finding greenlets and loops, frames to Frame lists;
- ``_greenlet_tree``: the greenlet forest;
- ``_task_tree``: the asyncio task tree;
- ``_runinfo_text``: the text format.
"""

from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs too much on the dump autostart path
    from typing import (Any, Callable, Dict, Iterable, Iterator, List,
                        Optional, TextIO)

from stackwatch._capture import Capture, interesting_objects
from stackwatch._frame import Frame
from stackwatch._greenlet_tree import GreenletForest
from stackwatch import _osthread
from stackwatch._jsonout import dumps as _json_dumps
from stackwatch._node import Node
from stackwatch._runinfo_text import Formatter
from stackwatch._saferepr import (DEFAULT_LIMITS, DEFAULT_REDACT, REDACTED,
                                  Limits, can_hold_secret, is_secret,
                                  redact_patterns, safe_repr)
from stackwatch._service import ASK_RUN_INFO
from stackwatch._task_tree import TaskTree, loop_thread

__all__ = ["RunTree", "Node", "Frame", "Limits", "format_run_info",
           "print_run_info", "safe_repr", "redact_patterns", "is_secret",
           "can_hold_secret", "DEFAULT_REDACT", "DEFAULT_LIMITS", "REDACTED",
           "ASK_RUN_INFO"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class RunTree:
    """What the process is doing now, as data: `threads` (one node per
    thread), `greenlets` (root nodes: one main greenlet per thread, or a
    greenlet whose spawner is gone; children by spawner), `tasks` (one
    "loop" node per running asyncio loop, its tasks as a tree of which
    awaits which), and `notes` (what could not be had, and why).

    ``RunTree(locals=True)`` captures now, with frames' arguments and
    locals. Iterate it for every node; :meth:`find` one by name, kind or
    predicate; :meth:`to_json` for programs; ``str()`` for people."""

    def __init__(self, locals: bool = False, greenlets: bool = True,
                 tasks: bool = True, limit: Optional[int] = None,
                 threads: bool = True,
                 redact: Optional[Iterable[str]] = None,
                 limits: Limits = DEFAULT_LIMITS,
                 gil_holder: Optional[int] = None) -> None:
        self.threads: List[Node] = []
        self.greenlets: List[Node] = []
        self.tasks: List[Node] = []
        self.notes: List[str] = []
        self.with_locals = bool(locals)
        self._cap = Capture(bool(locals), limit, redact_patterns(redact),
                            limits)
        try:
            found = interesting_objects(greenlets, tasks)
        except Exception as e:  # never let a dump fail as a whole
            found = None
            self.notes.append("greenlets and loops could not be found: "
                              "%s: %s" % (type(e).__name__, e))
        if threads:
            self._part("threads", self._threads, gil_holder)
        if greenlets:
            self._part("greenlets", self._greenlets, found)
        if tasks:
            self._part("asyncio tasks", self._tasks, found)

    def _part(self, what: str, fn: Callable[[Any], None], arg: Any) -> None:
        try:
            fn(arg)
        except Exception as e:  # never let a dump fail as a whole
            self.notes.append("%s could not be listed: %s: %s"
                              % (what, type(e).__name__, e))

    # -- capture --

    def _threads(self, gil_holder: Optional[int]) -> None:
        # OS thread idents, as sys._current_frames() keys them (gevent's
        # patched threading.get_ident gives a greenlet's).
        if gil_holder is None:  # the caller holds it
            gil_holder = _osthread.get_ident()
        frames = sys._current_frames()
        by_ident = {t.ident: t for t in threading.enumerate()}
        ours = _osthread.bare_threads()
        me = _osthread.get_ident()
        for ident, frame in frames.items():
            if ident == me:  # without stackwatch's own frames
                while frame is not None and os.path.dirname(
                        frame.f_code.co_filename) == _PACKAGE_DIR:
                    frame = frame.f_back
            t = by_ident.get(ident)
            name = t.name if t is not None else \
                ours.get(ident) or "Thread-%#x" % ident
            if name.startswith("stackwatch-"):
                continue  # stackwatch's own
            info = {"ident": ident,
                    "native_id": getattr(t, "native_id", None),
                    "daemon": t.daemon if t is not None else None}
            info["held_gil"] = ident == gil_holder
            self.threads.append(Node("thread", ident, name, "alive",
                                     self._cap.stack(frame), info))
        self.threads.sort(key=lambda n: (n.name != "MainThread", n.name))

    def _greenlets(self, objects: Optional[Dict[str, list]]) -> None:
        if objects is None or not objects.get("greenlets"):
            return
        self.greenlets = GreenletForest(self._cap, objects).roots()

    def _tasks(self, objects: Optional[Dict[str, list]]) -> None:
        if objects is None or not objects.get("loops"):
            return
        aio = sys.modules["asyncio"]
        for loop in objects["loops"]:
            try:
                tasks = list(aio.all_tasks(loop))
            except Exception as e:
                self.notes.append("the tasks of %r could not be listed: %s"
                                  % (loop, e))
                continue
            node = Node("loop", id(loop), type(loop).__name__, "running",
                        info={"thread": loop_thread(loop)})
            node.children = TaskTree(self._cap, loop, tasks).roots()
            self.tasks.append(node)

    # -- reading --

    def __iter__(self) -> Iterator[Node]:
        for roots in (self.threads, self.greenlets, self.tasks):
            for root in roots:
                yield from root.walk()

    def find_all(self, name: Optional[str] = None, kind: Optional[str] = None,
                 predicate: Optional[Callable[[Node], bool]] = None
                 ) -> List[Node]:
        """Every node with that name (or id), of that kind, for which
        predicate is true (each criterion optional)."""
        return [n for n in self
                if (name is None or n.name == name or n.id == name)
                and (kind is None or n.kind == kind)
                and (predicate is None or predicate(n))]

    def find(self, name: Optional[str] = None, kind: Optional[str] = None,
             predicate: Optional[Callable[[Node], bool]] = None
             ) -> Optional[Node]:
        """The first node :meth:`find_all` would give, or None."""
        found = self.find_all(name, kind, predicate)
        return found[0] if found else None

    def to_dict(self) -> Dict[str, Any]:
        return {"threads": [n.to_dict() for n in self.threads],
                "greenlets": [n.to_dict() for n in self.greenlets],
                "tasks": [n.to_dict() for n in self.tasks],
                "notes": list(self.notes)}

    def to_json(self, indent: Optional[int] = None) -> str:
        # (json.dumps(..., default=str)'s text, without loading json: the
        # service thread answers `dump --json` and must not import.)
        return _json_dumps(self.to_dict(), indent=indent)

    def format(self, title: Optional[str] = None, *,
               full_paths: bool = False) -> str:
        """As text; file names short (under no sys.path entry: as they
        are) unless full_paths."""
        return Formatter(self, full_paths).text(title)

    __str__ = format


def format_run_info(locals: bool = False, greenlets: bool = True,
                    tasks: bool = True, limit: Optional[int] = None,
                    redact: Optional[Iterable[str]] = None, *,
                    full_paths: bool = False) -> str:
    """Every thread's stack, every greenlet as a tree by spawner and every
    asyncio task as a tree of awaits, as text (see :class:`RunTree`).
    `locals` adds each frame's arguments and local variables (safe reprs,
    secret-looking names redacted); `limit` caps the frames per stack;
    files are short (without their sys.path entry) unless `full_paths`."""
    return RunTree(locals=locals, greenlets=greenlets, tasks=tasks,
                   limit=limit, redact=redact).format(full_paths=full_paths)


def print_run_info(file: Optional[TextIO] = None, locals: bool = False,
                   greenlets: bool = True, tasks: bool = True,
                   limit: Optional[int] = None,
                   redact: Optional[Iterable[str]] = None, *,
                   full_paths: bool = False) -> None:
    """Prints :func:`format_run_info` to `file` (default sys.stderr)."""
    text = format_run_info(locals, greenlets, tasks, limit, redact,
                           full_paths=full_paths)
    out = sys.stderr if file is None else file
    out.write(text)
    out.flush()


def __getattr__(name: str) -> Any:
    # runinfo.answer, the service answer, moved to stackwatch.dumping
    # (which imports this module).
    if name == "answer":
        from stackwatch.dumping import answer_run_info

        return answer_run_info
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
