"""Greenlet tracking (the C hook in csrc/greenlet.c) and greenlet labels.

``greenlet.settrace`` is per thread, so the hook is installed in the thread
that starts tracking, and in every thread started afterwards through the
``threading`` module: a one-shot ``threading.setprofile`` function installs
it as the new thread starts and then restores whatever profile function was
there before. Threads that already run when tracking starts, and threads
started with ``_thread.start_new_thread``, are not tracked: their samples
carry no greenlet.
"""

from __future__ import annotations

import collections
import sys
import threading
from operator import itemgetter as _itemgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional

from stackwatch import _native, _osthread

# Re-entrant: start_tracking imports greenlet (greenlet_install) while
# holding it, and the watchdog's hook for that import
# (monitor._track_greenlets, when the watchdog started first) calls
# start_tracking again in this same thread, before the import returns.
_lock = _osthread.RLock()
_users = 0
_hook_on = False
_prev_profile: Optional[Callable[..., Any]] = None


def _thread_start_hook(frame: Any, event: str, arg: Any) -> Any:
    prev = _prev_profile
    sys.setprofile(prev)
    try:
        _native.greenlet_install()
    except Exception:
        pass
    if prev is not None:
        return prev(frame, event, arg)
    return None


def start_tracking() -> bool:
    """Tracks greenlets in this thread and in threads started from now on.

    Returns False when greenlet is not installed."""
    global _users, _hook_on, _prev_profile
    with _lock:
        if not _native.greenlet_install():
            return False
        _users += 1
        _native.greenlet_track(True)
        if not _hook_on:
            _prev_profile = getattr(threading, "_profile_hook", None)
            threading.setprofile(_thread_start_hook)
            _hook_on = True
        return True


def stop_tracking() -> None:
    """Stops installing the hook in new threads once nobody needs it.

    Hooks already installed in other threads stay, passing events on
    untouched: another thread's greenlet trace function can only be
    changed from that thread."""
    global _users, _hook_on
    with _lock:
        if _users > 0:
            _users -= 1
            _native.greenlet_track(False)
        if _users == 0 and _hook_on:
            if getattr(threading, "_profile_hook", None) is _thread_start_hook:
                threading.setprofile(_prev_profile)
            _hook_on = False
            _native.greenlet_uninstall()


class Identity(tuple):
    """Who a greenlet is: the naming rules of every label stackwatch shows
    (profiles, watchdog reports, run info). gid: stackwatch's greenlet id;
    kind: "main" (a thread's main greenlet), "gevent" or "greenlet"; name:
    gevent's name ("Greenlet-3"), else the class name; function: what it
    runs, when that can be told, else None.

    A tuple with its own ``__new__``, not a namedtuple: a namedtuple's
    ``__new__`` runs with empty builtins, and greenlet's clean-up of an
    ended thread (a pending call, run in whatever frame is current)
    imports ``gc`` through that frame's builtins: in a namedtuple's
    ``__new__`` it fails with ``KeyError: '__import__'``, printed on
    stderr. Labelling holds greenlets, which is when that clean-up may
    come. (Nor typing's NamedTuple: it would import typing into every
    monitored program.)"""

    __slots__ = ()

    def __new__(cls, gid: int, kind: str, name: str,
                function: Optional[str]) -> "Identity":
        return tuple.__new__(cls, (gid, kind, name, function))

    gid = property(_itemgetter(0))
    kind = property(_itemgetter(1))
    name = property(_itemgetter(2))
    function = property(_itemgetter(3))


def identify(g: Any, gid: int, typename: str = "greenlet") -> Identity:
    """The identity of greenlet g (None if it is gone: then only gid and
    typename, its type's name, are known). Never raises.

    A main greenlet is one without a parent. A gevent ``Greenlet`` is
    named by gevent and runs its ``_run`` (which gevent drops when it
    finishes). Any other greenlet is named by its class and runs its
    ``run`` until it is dead (greenlet drops a ``run`` given to the
    constructor once the greenlet starts; a subclass's method stays)."""
    name = typename.rsplit(".", 1)[-1]
    if g is None:
        return Identity(gid, "greenlet", name, None)
    try:
        if getattr(g, "parent", False) is None:
            return Identity(gid, "main", "main greenlet", None)
        gevent = sys.modules.get("gevent")
        if gevent is not None and isinstance(g, gevent.Greenlet):
            run = g.__dict__.get("_run")
            if getattr(run, "__name__", None) in _WRAPPERS:
                # A server's connection greenlet runs its handler.
                args = getattr(g, "args", ())
                if args and callable(args[0]):
                    run = args[0]
            return Identity(gid, "gevent", str(g.name), _function(run))
        run = None if g.dead else getattr(g, "run", None)
        return Identity(gid, "greenlet", type(g).__name__, _function(run))
    except Exception:
        return Identity(gid, "greenlet", name, None)


def _function(run: Any) -> Optional[str]:
    # functools.partial names nothing: the function it calls does
    # (gunicorn's gevent worker serves each connection through
    # partial(self.handle, listener)).
    for _ in range(8):
        if type(run).__name__ != "partial" or not hasattr(run, "func"):
            break
        run = run.func
    return getattr(run, "__qualname__", None) or getattr(
        run, "__name__", None) or None


#: Functions gevent runs a server's handler through (their first
#: argument is the handler): gevent.baseserver spawns every connection's
#: greenlet on ``_handle_and_close_when_done(handle, close, args)``.
_WRAPPERS = {"_handle_and_close_when_done"}


def label(gid: int, obj: Any, typename: str, root: Optional[str] = None
          ) -> str:
    """A label for greenlet `gid`: its gevent name or its class, its id,
    and the function it runs ("Greenlet-3 #12 (handle)", "greenlet #7
    (worker)"). The id makes it unique: gevent gives a new greenlet the
    name of a dead one (``minimal_ident`` is reused).

    obj is the greenlet if it still lives; typename its type's name; root
    the name of its outermost sampled frame, which tells the function it
    runs when :func:`identify` cannot."""
    who = identify(obj, gid, typename)
    if who.kind == "main":
        return "main greenlet #%d" % gid
    func = _runs(who, root)
    text = "%s #%d" % (who.name, gid)
    if func:
        text += " (%s)" % func
    return text


#: Outermost frames that say nothing about what a greenlet does.
_GENERIC_ROOTS = {"Greenlet.run", "run", "Hub.run"}


def _runs(who: Identity, root: Optional[str]) -> Optional[str]:
    if who.function:
        return who.function
    if root and root not in _GENERIC_ROOTS:
        return root
    return None


def group(gid: int, obj: Any, typename: str, root: Optional[str] = None
          ) -> str:
    """What greenlet `gid` is grouped by in a profile split by greenlet
    (``--greenlets``, the default, as opposed to ``--greenlets=each``):
    the function it runs ("running WSGIServer.handle": the 50 connection
    greenlets of a server are one group); without one, its name with
    every number as N ("Greenlet-N"); a thread's main greenlet: "main".
    Arguments as for :func:`label`."""
    who = identify(obj, gid, typename)
    if who.kind == "main":
        return "main"
    func = _runs(who, root)
    if func:
        return "running %s" % func
    return _numbers_as_n(who.name)


def _numbers_as_n(name: str) -> str:
    """"Greenlet-18" -> "Greenlet-N": each run of digits becomes N (no re:
    this module is imported on the watchdog's start-up path)."""
    out = []
    for ch in name:
        if ch.isdigit():
            if not out or out[-1] != "\0":
                out.append("\0")
        else:
            out.append(ch)
    return "".join(out).replace("\0", "N")


def group_texts(groups: Dict[int, str], labels: Dict[int, str]
                ) -> Dict[int, str]:
    """{gid: the text of its group in a profile}: "greenlets running
    handle (x50)" for a group of several greenlets, the greenlet's own
    label ("greenlet Greenlet-3 #12 (handle)") for a group of one.
    groups: {gid: group (see :func:`group`)}; labels: {gid: label}."""
    size = collections.Counter(groups.values())
    out = {}
    for gid, g in groups.items():
        if size[g] > 1:
            out[gid] = ("main greenlets (x%d)" % size[g] if g == "main"
                        else "greenlets %s (x%d)" % (g, size[g]))
        else:
            out[gid] = "greenlet %s" % labels.get(gid, "#%d" % gid)
    return out
