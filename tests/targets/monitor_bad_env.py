"""monitor.start() with bad STACKWATCH_* variables (the test sets
STACKWATCH_MAX_MEMORY_USAGE=lots), then good ones. The test expects a
ValueError naming the variable, and arguments winning over variables.
"""
import os

from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import result

out = {}
try:
    monitor.start()
    out["env"] = ["no error", monitor.is_running()]
except Exception as e:
    out["env"] = [type(e).__name__, str(e), monitor.is_running()]
monitor.start(max_memory_usage="1GB")  # an argument wins over the variable
out["explicit"] = monitor.settings()["max_memory_usage"]
monitor.stop()
# The other variables, read when start() is called.
for var, value in (("STACKWATCH_MAX_BLOCKING_TIME", "abc"),
                   ("STACKWATCH_MEMORY_MONITOR_PERIOD", "0")):
    os.environ[var] = value
    try:
        monitor.start(max_memory_usage=None)
        out[var] = ["no error", monitor.is_running()]
        monitor.stop()
    except Exception as e:
        out[var] = [type(e).__name__, str(e), monitor.is_running()]
    del os.environ[var]
os.environ["STACKWATCH_MAX_MEMORY_USAGE"] = "2GiB"
os.environ["STACKWATCH_MAX_BLOCKING_TIME"] = "0.25"
os.environ["STACKWATCH_MEMORY_MONITOR_PERIOD"] = "0.5"
monitor.start()
st = monitor.settings()
out["from_env"] = [st["max_blocking_time"], st["max_memory_usage"],
                   st["memory_monitor_period"]]
monitor.stop()
result(out)
