"""CPython 3.12+: another sys.monitoring tool holds PROFILER_ID first.
The tracer must take another id, both must see their events, and the
other tool's events must be untouched after the tracer stops.  Then,
with every id taken, Tracer.start() must raise RuntimeError.
argv[1]: the output path.  Prints "tool <id>", "other-ok", "full: <msg>"."""

import sys

import stackwatch

mon = sys.monitoring
starts = []


def on_start(code, offset):
    starts.append(code.co_name)


def work():
    return 1


def main(out):
    mon.use_tool_id(mon.PROFILER_ID, "other")
    mon.register_callback(mon.PROFILER_ID, mon.events.PY_START, on_start)
    mon.set_events(mon.PROFILER_ID, mon.events.PY_START)
    with stackwatch.Tracer(out) as tracer:
        work()
    print("tool", tracer.tool_id)
    assert "work" in starts, starts
    assert mon.get_events(mon.PROFILER_ID) == mon.events.PY_START
    assert mon.get_tool(tracer.tool_id) is None
    del starts[:]
    work()
    assert "work" in starts, starts
    print("other-ok")
    for i in range(6):
        if mon.get_tool(i) is None:
            mon.use_tool_id(i, "filler")
    try:
        stackwatch.Tracer(out).start()
    except RuntimeError as e:
        print("full:", e)


main(sys.argv[1])
