"""Stalls told to the running tracer the way the watchdog's delivery
hands them over (stackwatch.trace._note_watchdog), for the targets that
test how the trace writer places stalls among slices without waiting
for real ones (tests/targets/trace_stall_*.py)."""

import threading

import stackwatch.trace


def tell(kind, watch_kind, start_ns, **more):
    """One watchdog event of kind (WDE_*) for a watch of watch_kind
    (WD_*) on the calling thread, its stack one frame "outer"."""
    e = {"kind": kind, "watch_kind": watch_kind, "watch_id": watch_kind,
         "tid": threading.get_native_id(), "greenlet": 0,
         "start_ns": start_ns, "threshold": 0.001,
         "stack": [("outer", "told_stalls.py", 1)], "report": "",
         "name": "d", "label": "hub"}
    e.update(more)
    stackwatch.trace._note_watchdog(e)
