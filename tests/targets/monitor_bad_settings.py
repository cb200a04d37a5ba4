"""monitor.start() with bad settings, stopped and running; argv[1] is a
report path in a missing directory, argv[2] a directory. The test expects
a clear ValueError for each, the monitor left as it was.
"""
import sys

from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import result

missing, directory = sys.argv[1], sys.argv[2]
cases = {
    "mbt_negative": dict(max_blocking_time=-1),
    "mbt_text": dict(max_blocking_time="abc"),
    "mbt_nan": dict(max_blocking_time=float("nan")),
    "mem_lots": dict(max_memory_usage="lots"),
    "period_zero": dict(memory_monitor_period=0),
    "report_missing_dir": dict(report_to=missing),
    "report_directory": dict(report_to=directory),
}
out = {}
for name, kw in cases.items():
    try:
        monitor.start(**kw)
        out[name] = ["no error", monitor.is_running()]
        monitor.stop()
    except Exception as e:
        out[name] = [type(e).__name__, str(e), monitor.is_running()]
# Nothing was left half started: good settings still work.
monitor.start(max_blocking_time=0.1)
out["good_after"] = monitor.is_running()
# While it runs, bad settings change nothing.
for name, kw in (("running_mbt", dict(max_blocking_time="abc")),
                 ("running_report", dict(max_blocking_time=0.5,
                                         report_to=missing))):
    try:
        monitor.start(**kw)
        out[name] = ["no error"]
    except Exception as e:
        out[name] = [type(e).__name__, str(e), monitor.is_running(),
                     monitor.settings()["max_blocking_time"]]
monitor.stop()
out["stopped"] = not monitor.is_running()
result(out)
