"""Interpreter exit and fork, for everything stackwatch starts.

Every thread stackwatch starts is stopped before the interpreter finalizes,
and every feature is reset (and restarted if it was on) in a forked child.
The steps run in a fixed order, registered by each module at import:
the profiler first (it uses the service), then the monitor, the
slow-script log, dumps, then the service.

Exit steps run from one atexit handler registered when stackwatch is
imported, so they run after the atexit handlers the application registers
later (atexit is last in, first out), and after non-daemon threads are
joined.
"""

from __future__ import annotations

import atexit
import os
# Before os.register_at_fork below: in a forked child, threading's own
# after-fork step must run before ours (which starts threads).
import threading  # noqa: F401

TYPE_CHECKING = False
if TYPE_CHECKING:  # imported by `import stackwatch`: typing costs too much
    from typing import Callable, List, Tuple

from stackwatch import _native

_exit_steps: List[Tuple[int, Callable[[], None]]] = []
_fork_steps: List[Tuple[int, Callable[[], None]]] = []
_before_fork_steps: List[Tuple[int, Callable[[], None]]] = []

#: Order of the steps (lowest first). PROFILER_AGAIN: a profiler that was
#: sampling at a fork samples the child too, once the service is back;
#: TRACER_AGAIN: so does a tracer that follows forks (trace.py).
PROFILER, MONITOR, SLOWLOG, DUMP, SERVICE = 10, 15, 18, 20, 30
PROFILER_AGAIN, TRACER_AGAIN = 40, 45


def on_exit(order: int, step: Callable[[], None]) -> None:
    _exit_steps.append((order, step))
    _exit_steps.sort(key=lambda s: s[0])


def on_fork_child(order: int, step: Callable[[], None]) -> None:
    _fork_steps.append((order, step))
    _fork_steps.sort(key=lambda s: s[0])


def on_fork_before(order: int, step: Callable[[], None]) -> None:
    """step runs in the parent just before os.fork() (not before the
    forks C code makes itself, such as subprocess's: those children exec
    or exit without Python)."""
    _before_fork_steps.append((order, step))
    _before_fork_steps.sort(key=lambda s: s[0])


def _run(steps: List[Tuple[int, Callable[[], None]]], what: str) -> None:
    for _, step in steps:
        try:
            step()
        except SystemExit:
            # The process ends already: a SystemExit raised in a step (a
            # gevent worker's second quit signal, run by the hub while a
            # step waits) must not skip the steps after it.
            pass
        except Exception:
            # (Imported only here: a process that imported stackwatch and
            # started nothing must not load the service at exit.)
            from stackwatch._service import report

            report(what)


def _at_exit() -> None:
    _run(_exit_steps, "stopping at exit")


def _after_fork_in_child() -> None:
    _native.after_fork_child()
    _run(_fork_steps, "restarting in a forked child")


def _before_fork() -> None:
    _run(_before_fork_steps, "preparing a fork")


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork,
                        after_in_child=_after_fork_in_child)
