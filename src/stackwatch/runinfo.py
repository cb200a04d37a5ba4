"""Run information: every thread, every greenlet (as a tree by spawner) and
every asyncio task (as a tree of which task awaits which), with stacks and,
on request, each frame's arguments and local variables.

This is the GIL side of a dump: it needs the interpreter's objects (frames'
locals, greenlets, tasks), so it runs with the GIL, in the calling thread
or, for ``stackwatch dump PID`` and the slow-script log, in stackwatch's
service thread once the GIL could be had (the stacks themselves were read
before, without the GIL, by the native side).

Values are shown through :func:`safe_repr`: bounded in depth, items and
length (a cut value says how long it was), never raising (a ``__repr__``
that raises shows a placeholder), and with secret-looking names redacted.
The repr of an object is its own code: an object whose ``__repr__`` does
I/O or takes locks does so when it is shown.
"""

import gc
import json
import linecache
import os
import sys
import threading
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, TextIO, Tuple)

from stackwatch import _native, _runner

#: Names whose values are never shown (matched case-insensitively as
#: parts of a name, with '-' read as '_'). ``STACKWATCH_REDACT`` (comma
#: separated) adds to them; the ``redact`` arguments replace them.
DEFAULT_REDACT = ("password", "passwd", "passphrase", "secret", "token",
                  "api_key", "apikey", "authorization", "cookie", "session",
                  "credential", "private_key", "access_key", "csrf")

REDACTED = "<redacted>"

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class Limits:
    """How much of a value is shown: `length` characters of a repr (and
    of a string's or bytes' contents), `items` entries of a container,
    `depth` levels of nested containers, `locals` variables per frame."""

    def __init__(self, length: int = 240, items: int = 20, depth: int = 3,
                 locals: int = 100) -> None:
        self.length = max(16, int(length))
        self.items = max(1, int(items))
        self.depth = max(1, int(depth))
        self.locals = max(1, int(locals))


DEFAULT_LIMITS = Limits()


def redact_patterns(redact: Optional[Iterable[str]] = None
                    ) -> Tuple[str, ...]:
    """The patterns in force: `redact` if given, else the defaults plus
    ``STACKWATCH_REDACT``."""
    if redact is None:
        extra = os.environ.get("STACKWATCH_REDACT", "")
        redact = DEFAULT_REDACT + tuple(p for p in extra.split(","))
    return tuple(p.strip().lower().replace("-", "_") for p in redact
                 if p and p.strip())


def is_secret(name: Any, patterns: Sequence[str]) -> bool:
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name[:200]).decode("latin-1")
    if not isinstance(name, str):
        return False
    key = name.lower().replace("-", "_")
    return any(p in key for p in patterns)


def _cut(text: str, total: int, limit: int, what: str) -> str:
    return "%s... <cut: %s of %d %s>" % (text, what, total,
                                        "bytes" if what == "bytes"
                                        else "characters")


def _type_name(value: Any) -> str:
    try:
        t = type(value)
        return "%s.%s" % (t.__module__, t.__qualname__) \
            if t.__module__ != "builtins" else t.__qualname__
    except Exception:
        return "object"


_CONTAINERS = {list: ("[", "]"), tuple: ("(", ")"), set: ("{", "}"),
               frozenset: ("frozenset({", "})"), dict: ("{", "}")}


def safe_repr(value: Any, limits: Limits = DEFAULT_LIMITS,
              redact: Optional[Sequence[str]] = None, _depth: int = 0
              ) -> str:
    """A bounded repr of value that never raises. Strings and bytes are
    cut before their repr is made (a 10 MB string costs nothing); the
    builtin containers are walked with limits; dict entries whose key looks
    secret show ``<redacted>``; anything else is its own repr, cut."""
    patterns = redact_patterns() if redact is None else redact
    try:
        t = type(value)
        if t in (str, bytes, bytearray):
            n = len(value)
            if n > limits.length:
                return _cut(repr(value[:limits.length]), n, limits.length,
                            "str" if t is str else "bytes")
            return repr(value)
        # Every dict, subclasses too (OrderedDict, defaultdict, a headers
        # class...): their own repr would show secret keys' values.
        is_dict = isinstance(value, dict)
        if t in _CONTAINERS or is_dict:
            opening, closing = _CONTAINERS[dict if is_dict else t]
            if is_dict and t is not dict:
                opening, closing = t.__name__ + "({", "})"
            n = len(value)
            if n == 0 and not is_dict:
                return repr(value)
            if _depth >= limits.depth:
                return "<%s of %d items>" % (t.__name__, n)
            parts = []
            if is_dict:
                for i, (k, v) in enumerate(list(dict.items(value))):
                    if i >= limits.items:
                        break
                    shown = REDACTED if is_secret(k, patterns) else \
                        safe_repr(v, limits, patterns, _depth + 1)
                    parts.append("%s: %s" % (
                        safe_repr(k, limits, patterns, _depth + 1), shown))
            else:
                for i, v in enumerate(list(value)):
                    if i >= limits.items:
                        break
                    parts.append(safe_repr(v, limits, patterns, _depth + 1))
            if n > limits.items:
                parts.append("... <%d more, %d in all>"
                             % (n - limits.items, n))
            elif t is tuple and n == 1:
                parts[0] += ","
            text = opening + ", ".join(parts) + closing
        else:
            text = repr(value)
            if not isinstance(text, str):
                raise TypeError("__repr__ returned %s" % _type_name(text))
    except Exception as e:
        try:
            return "<%s object at %#x; repr() failed: %s>" % (
                _type_name(value), id(value), type(e).__name__)
        except Exception:
            return "<object; repr() failed>"
    if len(text) > limits.length:
        return _cut(text[:limits.length], len(text), limits.length, "repr")
    return text


# ---- the data ----------------------------------------------------------------

class Frame:
    """One frame: function (qualified name on 3.11+), file, line, the
    source line, and with locals the arguments and local variables as
    safe reprs (``locals`` None when they were not asked for)."""

    __slots__ = ("name", "filename", "lineno", "line", "args", "locals")

    def __init__(self, name: str, filename: str, lineno: int, line: str,
                 args: Optional[List[str]] = None,
                 locals: Optional[Dict[str, str]] = None) -> None:
        self.name = name
        self.filename = filename
        self.lineno = lineno
        self.line = line
        self.args = args
        self.locals = locals

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "filename": self.filename,
                "lineno": self.lineno, "line": self.line,
                "args": self.args, "locals": self.locals}

    def __repr__(self) -> str:
        return "<Frame %s (%s:%d)>" % (self.name, self.filename, self.lineno)


class Node:
    """A thread, greenlet, asyncio loop or task. `kind` is "thread",
    "greenlet", "loop" or "task"; `state` says what it does ("running",
    "suspended", "pending", "dead", "failed", ...); `stack` its frames,
    innermost first; `children` what it spawned (greenlets) or awaits
    (tasks); `info` the rest (ident, native id, minimal_ident, spawning
    stack, spawn-tree locals, local dicts, exception, ...)."""

    __slots__ = ("kind", "id", "name", "state", "stack", "children", "info")

    def __init__(self, kind: str, id: Any, name: str, state: str = "",
                 stack: Optional[List[Frame]] = None,
                 info: Optional[Dict[str, Any]] = None) -> None:
        self.kind = kind
        self.id = id
        self.name = name
        self.state = state
        self.stack = stack or []
        self.children: List["Node"] = []
        self.info = info or {}

    def walk(self) -> Iterator["Node"]:
        """This node and every node under it, depth first."""
        todo = [self]
        while todo:
            node = todo.pop()
            yield node
            todo.extend(reversed(node.children))

    def to_dict(self) -> Dict[str, Any]:
        info = {}
        for k, v in self.info.items():
            if isinstance(v, list) and v and isinstance(v[0], Frame):
                v = [f.to_dict() for f in v]
            info[k] = v
        return {"kind": self.kind, "id": self.id, "name": self.name,
                "state": self.state, "info": info,
                "stack": [f.to_dict() for f in self.stack],
                "children": [c.to_dict() for c in self.children]}

    def __repr__(self) -> str:
        return "<%s %s %r (%s)>" % (self.kind, self.id, self.name,
                                    self.state)


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
        self._cap = _Capture(bool(locals), limit, redact_patterns(redact),
                             limits)
        try:
            found = _interesting_objects(greenlets, tasks)
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
        if gil_holder is None:  # the caller holds it
            gil_holder = threading.get_ident()
        frames = sys._current_frames()
        by_ident = {t.ident: t for t in threading.enumerate()}
        me = threading.get_ident()
        for ident, frame in frames.items():
            if ident == me:  # without stackwatch's own frames
                while frame is not None and os.path.dirname(
                        frame.f_code.co_filename) == _PACKAGE_DIR:
                    frame = frame.f_back
            t = by_ident.get(ident)
            name = t.name if t is not None else "Thread-%#x" % ident
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
        self.greenlets = _GreenletForest(self._cap, objects).roots()

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
                        info={"thread": _loop_thread(loop)})
            node.children = _TaskTree(self._cap, loop, tasks).roots()
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
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def format(self, title: Optional[str] = None) -> str:
        return _Formatter(self).text(title)

    __str__ = format


# ---- capture helpers -----------------------------------------------------------

def _interesting_objects(greenlets: bool, tasks: bool) -> Dict[str, list]:
    """Greenlets (found in one pass over the objects the garbage collector
    tracks, as gevent's run info does; only when greenlet is imported) and
    running asyncio loops (those of the tasks asyncio registers)."""
    found: Dict[str, list] = {"greenlets": [], "loops": []}
    glet = sys.modules.get("greenlet") if greenlets else None
    gtype = getattr(glet, "greenlet", None)
    if gtype is not None:
        found["greenlets"] = [ob for ob in gc.get_objects()
                              if isinstance(ob, gtype)]
    aio = sys.modules.get("asyncio") if tasks else None
    if aio is not None:
        registered: List[Any] = []
        for name in ("_all_tasks", "_scheduled_tasks", "_eager_tasks"):
            for _ in range(10):  # a WeakSet may change while copied
                try:
                    registered += list(getattr(aio.tasks, name, ()))
                    break
                except RuntimeError:
                    continue
        loops: Dict[int, Any] = {}
        for task in registered:
            try:
                loop = task.get_loop()
                if loop.is_running():
                    loops[id(loop)] = loop
            except Exception:
                pass
        found["loops"] = list(loops.values())
    return found


def _loop_thread(loop: Any) -> Optional[str]:
    ident = getattr(loop, "_thread_id", None)
    if ident is None:
        return None
    for t in threading.enumerate():
        if t.ident == ident:
            return t.name
    return "%#x" % ident


def _code_name(code: Any) -> str:
    return getattr(code, "co_qualname", None) or code.co_name


class _Capture:
    """Turns frames into :class:`Frame` lists with the tree's settings."""

    def __init__(self, with_locals: bool, limit: Optional[int],
                 patterns: Sequence[str], limits: Limits) -> None:
        self.with_locals = with_locals
        self.limit = limit if limit is not None and limit > 0 else 1000
        self.patterns = patterns
        self.limits = limits
        self.roots = set(_runner.root_codes())

    def stack(self, frame: Any, with_locals: bool = True) -> List[Frame]:
        """The frames from `frame` outwards (innermost first), down to
        the target's own when stackwatch runs it (not stackwatch's)."""
        out: List[Frame] = []
        while frame is not None and len(out) < self.limit and \
                frame.f_code not in self.roots:
            out.append(self.frame(frame, with_locals))
            frame = frame.f_back
        return out

    def frame(self, frame: Any, with_locals: bool = True) -> Frame:
        code = frame.f_code
        lineno = frame.f_lineno or 0
        line = linecache.getline(code.co_filename, lineno).strip()
        args = locs = None
        if self.with_locals and with_locals:
            args, locs = self.variables(frame, code)
        return Frame(_code_name(code), code.co_filename, lineno, line, args,
                     locs)

    def variables(self, frame: Any, code: Any
                  ) -> Tuple[List[str], Dict[str, str]]:
        nargs = code.co_argcount + code.co_kwonlyargcount
        flags = code.co_flags
        nargs += bool(flags & 0x04) + bool(flags & 0x08)  # *args, **kwargs
        args = list(code.co_varnames[:nargs])
        try:
            items = list(frame.f_locals.items())
        except Exception as e:
            return args, {"<locals>": "<unavailable: %s>" % type(e).__name__}
        module_level = code.co_name == "<module>"
        shown: Dict[str, str] = {}
        skipped = 0
        for name, value in items:
            if module_level and (name.startswith("__") or
                                 type(value).__name__ == "module"):
                continue  # the module's globals: imports and dunders
            if len(shown) >= self.limits.locals:
                skipped += 1
                continue
            if is_secret(name, self.patterns):
                shown[name] = REDACTED
            else:
                shown[name] = safe_repr(value, self.limits, self.patterns)
        if skipped:
            shown["..."] = "<%d more variables>" % skipped
        return args, shown

    def repr(self, value: Any) -> str:
        return safe_repr(value, self.limits, self.patterns)

    def dict_repr(self, d: Any) -> Dict[str, str]:
        out: Dict[str, str] = {}
        try:
            items = list(d.items())
        except Exception as e:
            return {"<dict>": "<unavailable: %s>" % type(e).__name__}
        for k, v in items[:self.limits.locals]:
            key = k if isinstance(k, str) else safe_repr(k, self.limits)
            out[key] = REDACTED if is_secret(k, self.patterns) \
                else self.repr(v)
        return out


class _GreenletForest:
    """Greenlets as trees by spawner: a gevent Greenlet hangs under the
    greenlet that spawned it (``spawning_greenlet``), any other greenlet
    (or one whose spawner is gone) under its parent; roots are main
    greenlets, one per thread."""

    def __init__(self, cap: _Capture, objects: Dict[str, list]) -> None:
        self.cap = cap
        self.glets = objects["greenlets"]
        self.gevent = sys.modules.get("gevent")
        self.threads = self._main_threads()

    def _main_threads(self) -> Dict[int, str]:
        """id(main greenlet) -> thread name, where it can be told: the
        caller's own, and for gevent each hub's thread."""
        names = {t.ident: t.name for t in threading.enumerate()}
        out: Dict[int, str] = {}
        glet = sys.modules["greenlet"]
        me = glet.getcurrent()
        while me.parent is not None:
            me = me.parent
        out[id(me)] = threading.current_thread().name
        for g in self.glets:
            ident = getattr(g, "thread_ident", None)  # a gevent Hub
            parent = getattr(g, "parent", None)
            if ident is not None and parent is not None and \
                    getattr(parent, "parent", 0) is None:
                out[id(parent)] = names.get(ident, "%#x" % ident)
        return out

    @staticmethod
    def _spawner(g: Any) -> Any:
        ref = getattr(g, "spawning_greenlet", None)
        try:
            parent = ref() if ref is not None else None
        except Exception:
            parent = None
        return parent if parent is not None else getattr(g, "parent", None)

    def roots(self) -> List[Node]:
        nodes: Dict[int, Node] = {}
        order = sorted(self.glets, key=lambda g: (
            getattr(g, "minimal_ident", -1), _native.greenlet_id(g)))
        for g in order:
            nodes[id(g)] = self.node(g)
        roots: List[Node] = []
        for g in order:
            node = nodes[id(g)]
            spawner = self._spawner(g)
            seen = {id(g)}
            # Climb past spawners that are not in the list (collected) and
            # refuse cycles.
            while spawner is not None and id(spawner) not in nodes:
                if id(spawner) in seen:
                    spawner = None
                    break
                seen.add(id(spawner))
                spawner = getattr(spawner, "parent", None)
            if spawner is None or id(spawner) in seen:
                roots.append(node)
            else:
                nodes[id(spawner)].children.append(node)
        # A thread's main greenlet alone says nothing its stack does not.
        return [n for n in roots
                if n.children or not n.name.startswith("main greenlet")]

    def node(self, g: Any) -> Node:
        gid = _native.greenlet_id(g)
        info: Dict[str, Any] = {"type": _type_name(g)}
        is_main = getattr(g, "parent", 0) is None
        frame = getattr(g, "gr_frame", None)
        if g.dead:
            state = "dead"
        elif not g:
            state = "not started"
        elif frame is None:
            state = "running"
        else:
            state = "suspended"
        name = "greenlet #%d" % gid
        gevent = self.gevent
        if is_main:
            name = "main greenlet #%d" % gid
            thread = self.threads.get(id(g))
            if thread is not None:
                info["thread"] = thread
                name += " of thread %s" % thread
        elif gevent is not None and isinstance(g, gevent.Greenlet):
            self._gevent_details(g, info)
            name = "%s #%d" % (g.name, gid)
            exc = getattr(g, "exception", None)
            if g.dead and exc is not None:
                state = "failed"
                info["exception"] = self.cap.repr(exc)
            elif g.dead and getattr(g, "value", None) is not None:
                info["value"] = self.cap.repr(g.value)
        else:
            name = "%s #%d" % (type(g).__name__, gid)
            run = getattr(g, "run", None)
            func = getattr(run, "__qualname__", None)
            if func and not g.dead:
                info["function"] = func
        if gevent is not None and hasattr(g, "thread_ident"):
            info["hub_of_thread"] = g.thread_ident
        self._local_dicts(g, info)
        stack = self.cap.stack(frame) if frame is not None else []
        return Node("greenlet", gid, name, state, stack, info)

    def _gevent_details(self, g: Any, info: Dict[str, Any]) -> None:
        info["minimal_ident"] = getattr(g, "minimal_ident", None)
        info["gevent_name"] = getattr(g, "name", None)
        # gevent drops _run from the instance when the greenlet finishes.
        run = g.__dict__.get("_run") if hasattr(g, "__dict__") else None
        func = getattr(run, "__qualname__", None)
        if func:
            info["function"] = func
        spawning = getattr(g, "spawning_stack", None)
        if spawning is not None:
            # gevent's captured frames: code and line, no locals.
            info["spawning_stack"] = self.cap.stack(spawning, False)
        tree_locals = getattr(g, "spawn_tree_locals", None)
        spawner = self._spawner(g)
        if tree_locals and tree_locals is not getattr(
                spawner, "spawn_tree_locals", None):
            info["spawn_tree_locals"] = self.cap.dict_repr(tree_locals)

    def _local_dicts(self, g: Any, info: Dict[str, Any]) -> None:
        if self.gevent is None:
            return
        local = sys.modules.get("gevent.local")
        fn = getattr(local, "all_local_dicts_for_greenlet", None)
        if fn is None:
            return
        try:
            found = fn(g)
        except Exception:
            return
        dicts = {}
        for (kind, ident), values in found:
            if values:
                dicts["%s at %#x" % (getattr(kind, "__name__", kind),
                                     ident)] = self.cap.dict_repr(values)
        if dicts:
            info["local_dicts"] = dicts


def _coroutine_chain(coro: Any) -> Tuple[List[Any], Any]:
    """The frames of a coroutine and of what it awaits, outermost first,
    and the object at the end of the chain (a future, or None)."""
    frames = []
    seen = set()
    while coro is not None and id(coro) not in seen and len(seen) < 1000:
        seen.add(id(coro))
        frame = None
        nxt = None
        for f_attr, a_attr in (("cr_frame", "cr_await"),
                               ("gi_frame", "gi_yieldfrom"),
                               ("ag_frame", "ag_await")):
            if hasattr(coro, f_attr):
                frame = getattr(coro, f_attr)
                nxt = getattr(coro, a_attr, None)
                break
        else:
            return frames, coro
        if frame is not None:
            frames.append(frame)
        coro = nxt
    return frames, None


class _TaskTree:
    """The tasks of one loop as a tree of which task awaits which: a task
    waiting on another task (``await task``, ``wait_for``, ``shield``), on
    a ``gather`` of tasks, in ``asyncio.wait`` or a ``TaskGroup``; tasks
    nobody awaits are roots."""

    def __init__(self, cap: _Capture, loop: Any, tasks: List[Any]) -> None:
        self.cap = cap
        self.aio = sys.modules["asyncio"]
        self.tasks = tasks
        try:
            self.current = self.aio.current_task(loop)
        except Exception:
            self.current = None

    def roots(self) -> List[Node]:
        nodes: Dict[int, Node] = {}
        awaited: Dict[int, List[Any]] = {}
        for t in self.tasks:
            nodes[id(t)], awaited[id(t)] = self.node(t)
        self._through_callbacks(awaited)
        parent_of: Dict[int, int] = {}
        for t in self.tasks:
            for child in awaited[id(t)]:
                cid = id(child)
                if cid in nodes and cid not in parent_of and cid != id(t):
                    # no cycles: t must not be under child already
                    p = id(t)
                    while p in parent_of and p != cid:
                        p = parent_of[p]
                    if p != cid:
                        parent_of[cid] = id(t)
                        nodes[id(t)].children.append(nodes[cid])
        roots = [nodes[id(t)] for t in self.tasks if id(t) not in parent_of]
        return sorted(roots, key=lambda n: n.name)

    def _through_callbacks(self, awaited: Dict[int, List[Any]]) -> None:
        """Adds the awaits that only a callback links: a task waiting on
        a future (``shield``'s outer one, say) that one of another task's
        done-callbacks completes."""
        waiting_on: Dict[int, Any] = {}
        for t in self.tasks:
            waiter = getattr(t, "_fut_waiter", None)
            if waiter is not None:
                waiting_on[id(waiter)] = t
        if not waiting_on:
            return
        for t in self.tasks:
            try:
                callbacks = list(getattr(t, "_callbacks", None) or ())
            except Exception:
                continue
            for entry in callbacks:
                cb = entry[0] if isinstance(entry, tuple) else entry
                refs = [getattr(cb, "__self__", None)]
                for cell in getattr(cb, "__closure__", None) or ():
                    try:
                        refs.append(cell.cell_contents)
                    except ValueError:  # an empty cell
                        pass
                for ref in refs:
                    waiter_task = waiting_on.get(id(ref))
                    if waiter_task is not None and waiter_task is not t:
                        awaited[id(waiter_task)].append(t)

    def _tasks_in(self, value: Any, out: List[Any]) -> None:
        if isinstance(value, self.aio.Task):
            out.append(value)
        elif isinstance(value, (set, frozenset, list, tuple)):
            for v in list(value)[:1000]:
                if isinstance(v, self.aio.Task):
                    out.append(v)
        else:
            children = getattr(value, "_children", None)  # a gather
            if isinstance(children, list):
                self._tasks_in(children, out)
            tasks = getattr(value, "_tasks", None)  # a TaskGroup
            if isinstance(tasks, (set, list)):
                self._tasks_in(tasks, out)

    def node(self, task: Any) -> Tuple[Node, List[Any]]:
        coro = task.get_coro() if hasattr(task, "get_coro") else \
            getattr(task, "_coro", None)
        frames, end = _coroutine_chain(coro)
        awaited: List[Any] = []
        waiter = getattr(task, "_fut_waiter", None)
        if waiter is not None:
            self._tasks_in(waiter, awaited)
        if end is not None and end is not waiter:
            self._tasks_in(end, awaited)
        aio_dir = os.path.dirname(self.aio.__file__)
        for f in frames:
            # asyncio's own frames (wait, wait_for, gather, TaskGroup)
            # hold the tasks they wait for in their locals.
            if os.path.dirname(f.f_code.co_filename) == aio_dir:
                try:
                    for v in list(f.f_locals.values()):
                        self._tasks_in(v, awaited)
                except Exception:
                    pass
        if task is self.current:
            state = "running"
        elif task.cancelled():
            state = "cancelled"
        elif task.done():
            state = "failed" if task.exception() is not None else "done"
        else:
            state = "pending"
        info: Dict[str, Any] = {
            "coroutine": getattr(coro, "__qualname__", None) or
            _type_name(coro)}
        if waiter is not None:
            info["awaiting"] = self.cap.repr(waiter)
        if state == "failed":
            info["exception"] = self.cap.repr(task.exception())
        stack = [self.cap.frame(f) for f in frames[::-1][:self.cap.limit]]
        name = task.get_name() if hasattr(task, "get_name") else "Task"
        return Node("task", id(task), name, state, stack, info), awaited


# ---- text ------------------------------------------------------------------------

class _Formatter:
    def __init__(self, tree: RunTree) -> None:
        self.tree = tree
        self.lines: List[str] = []

    def text(self, title: Optional[str]) -> str:
        t = self.tree
        out = self.lines
        if title:
            out.append(title)
        if t.threads:
            out.append("Threads (%d), most recent call first:" %
                       len(t.threads))
            for n in t.threads:
                self.thread(n)
        if t.greenlets:
            out.append("")
            out.append("Greenlets, as a tree by spawner:")
            for n in t.greenlets:
                self.node(n, 1)
        if t.tasks:
            out.append("")
            out.append("asyncio tasks, as a tree of which task awaits "
                       "which:")
            for n in t.tasks:
                self.node(n, 1)
        for note in t.notes:
            out.append("")
            out.append("Note: " + note)
        return "\n".join(out) + "\n"

    def thread(self, n: Node) -> None:
        bits = ["ident %#x" % n.info["ident"]]
        if n.info.get("native_id"):
            bits.append("native id %d" % n.info["native_id"])
        if n.info.get("daemon"):
            bits.append("daemon")
        if n.info.get("held_gil"):
            bits.append("held the GIL")
        self.lines.append("")
        self.lines.append("Thread %s (%s)" % (n.name, ", ".join(bits)))
        self.stack(n.stack, "    ")

    def stack(self, frames: List[Frame], pad: str) -> None:
        if not frames:
            self.lines.append(pad + "(no Python frames)")
        for f in frames:
            self.lines.append('%sFile "%s", line %d, in %s'
                              % (pad, f.filename, f.lineno, f.name))
            if f.line:
                self.lines.append(pad + "    " + f.line)
            if f.locals is not None:
                args = ", ".join("%s=%s" % (a, f.locals.get(a, "?"))
                                 for a in (f.args or []))
                self.lines.append(pad + "    Arguments: %s(%s)"
                                  % (f.name.rsplit(".", 1)[-1], args))
                rest = [(k, v) for k, v in f.locals.items()
                        if k not in (f.args or [])]
                if rest:
                    self.lines.append(pad + "    Local variables:")
                    for k, v in rest:
                        self.lines.append(pad + "        %s = %s" % (k, v))

    def node(self, n: Node, depth: int) -> None:
        pad = "    " * (depth - 1)
        head = pad + "+-- "
        body = pad + "|   "
        label = "%s %s: %s" % ("Task" if n.kind == "task" else
                               "loop" if n.kind == "loop" else "", n.name,
                               n.state)
        label = label.strip()
        extra = []
        i = n.info
        if n.kind == "loop" and i.get("thread"):
            extra.append("in thread %s" % i["thread"])
        if i.get("minimal_ident") is not None:
            extra.append("minimal_ident %s" % i["minimal_ident"])
        if i.get("coroutine"):
            extra.append("coroutine %s" % i["coroutine"])
        if i.get("function"):
            extra.append("runs %s" % i["function"])
        if extra:
            label += " (%s)" % ", ".join(extra)
        self.lines.append(head + label)
        if i.get("exception"):
            self.lines.append(body + "Died with exception: " + i["exception"])
        if i.get("value"):
            self.lines.append(body + "Finished with value: " + i["value"])
        if i.get("awaiting") and n.state == "pending":
            self.lines.append(body + "Awaiting: " + i["awaiting"])
        if n.stack:
            self.lines.append(body + ("Running:" if n.state == "running"
                                      else "Stack:"))
            self.stack(n.stack, body + "  ")
        elif n.state == "running" and n.kind == "greenlet":
            self.lines.append(body + "Running: its thread's stack above")
        if i.get("spawning_stack"):
            self.lines.append(body + "Spawned at:")
            self.stack(i["spawning_stack"], body + "  ")
        if i.get("spawn_tree_locals"):
            self.lines.append(body + "Spawn tree locals:")
            for k, v in i["spawn_tree_locals"].items():
                self.lines.append(body + "    %s = %s" % (k, v))
        for where, values in (i.get("local_dicts") or {}).items():
            self.lines.append(body + "Local %s:" % where)
            for k, v in values.items():
                self.lines.append(body + "    %s = %s" % (k, v))
        for c in n.children:
            self.node(c, depth + 1)


# ---- the API -----------------------------------------------------------------------

def format_run_info(locals: bool = False, greenlets: bool = True,
                    tasks: bool = True, limit: Optional[int] = None,
                    redact: Optional[Iterable[str]] = None) -> str:
    """Every thread's stack, every greenlet as a tree by spawner and every
    asyncio task as a tree of awaits, as text (see :class:`RunTree`).
    `locals` adds each frame's arguments and local variables (safe reprs,
    secret-looking names redacted); `limit` caps the frames per stack."""
    return RunTree(locals=locals, greenlets=greenlets, tasks=tasks,
                   limit=limit, redact=redact).format()


def print_run_info(file: Optional[TextIO] = None, locals: bool = False,
                   greenlets: bool = True, tasks: bool = True,
                   limit: Optional[int] = None,
                   redact: Optional[Iterable[str]] = None) -> None:
    """Prints :func:`format_run_info` to `file` (default sys.stderr)."""
    text = format_run_info(locals, greenlets, tasks, limit, redact)
    out = sys.stderr if file is None else file
    out.write(text)
    out.flush()


def answer(flags: int) -> str:
    """The GIL side's part of a dump or of a slow-script log snapshot
    (csrc/dump.c asks with these flags): with locals, every thread's
    frames with their variables (the stacks without them came first, read
    without the GIL); greenlets and tasks always."""
    want_locals = bool(flags & _native.DUMP_LOCALS)
    # The GIL holder when the dump's stacks were read (0: nobody).
    tree = RunTree(locals=want_locals, threads=want_locals,
                   gil_holder=_native.dump_gil_holder())
    if flags & _native.DUMP_JSON:
        return tree.to_json()
    title = "Full backtrace with local variables:" if want_locals else None
    if not (tree.threads or tree.greenlets or tree.tasks or tree.notes):
        return ""
    return tree.format(title)


#: The question csrc/dump.c asks the GIL side for a dump's run information.
ASK_RUN_INFO = 1


def _register() -> None:
    from stackwatch import _service

    _service._answerers[ASK_RUN_INFO] = answer


_register()
