"""Greenlet tracking (the C hook in csrc/greenlet.c) and greenlet labels.

``greenlet.settrace`` is per thread, so the hook is installed in the thread
that starts tracking, and in every thread started afterwards through the
``threading`` module: a one-shot ``threading.setprofile`` function installs
it as the new thread starts and then restores whatever profile function was
there before. Threads that already run when tracking starts, and threads
started with ``_thread.start_new_thread``, are not tracked: their samples
carry no greenlet.
"""

import sys
import threading
from typing import Any, Callable, Optional

from stackwatch import _native

_lock = threading.Lock()
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


def label(gid: int, obj: Any, typename: str, root: Optional[str] = None
          ) -> str:
    """A label for greenlet `gid`: its gevent name or its class and id, and
    the function it runs ("Greenlet-3 (handle)", "greenlet #7 (worker)").

    obj is the greenlet if it still lives; typename its type's name; root
    the name of its outermost sampled frame, which is the function it runs
    (greenlet drops a greenlet's `run` attribute once it starts)."""
    short = typename.rsplit(".", 1)[-1]
    func = None
    name = None
    try:
        if obj is not None:
            if getattr(obj, "parent", False) is None:
                return "main greenlet #%d" % gid
            gevent = sys.modules.get("gevent")
            if gevent is not None and isinstance(obj, gevent.Greenlet):
                name = obj.name
                # gevent drops _run from the instance when it finishes.
                run = obj.__dict__.get("_run")
                func = getattr(run, "__qualname__", None) or getattr(
                    run, "__name__", None)
            short = type(obj).__name__
    except Exception:
        pass
    if not func and root and root not in _GENERIC_ROOTS:
        func = root
    text = name or "%s #%d" % (short, gid)
    if func:
        text += " (%s)" % func
    return text


#: Outermost frames that say nothing about what a greenlet does.
_GENERIC_ROOTS = {"Greenlet.run", "run", "Hub.run"}
