"""stackwatch.assert_switches in every case (switches, none, blocking,
hub_only, nested, exceptions). The test expects each outcome ("passed" or
the FailedToSwitch message) in the result.
"""
import time

from stackwatch import monitor

# Records the watchdog's events: imported before monitor.start().
from monitor_prelude import result

import gevent
import greenlet
from stackwatch import FailedToSwitch, assert_switches

def outcome(fn):
    try:
        fn()
        return "passed"
    except FailedToSwitch as e:
        return "FailedToSwitch: %s" % e
    except BaseException as e:
        return "%s: %s" % (type(e).__name__, e)

def other_greenlet():
    greenlet.greenlet(lambda: None).switch()  # not the hub

def sleep0():
    with assert_switches():
        gevent.sleep(0)

def empty():
    with assert_switches():
        pass

def blocking():
    with assert_switches(max_blocking_time=0.05):
        time.sleep(0.2)

def blocking_then_switch():
    with assert_switches(max_blocking_time=0.05):
        time.sleep(0.2)
        gevent.sleep(0)

def frequent_switches():
    with assert_switches(max_blocking_time=0.5):
        for _ in range(15):
            time.sleep(0.02)
            gevent.sleep(0)

def hub_only_frequent_hub():
    with assert_switches(max_blocking_time=0.5, hub_only=True):
        for _ in range(15):
            time.sleep(0.02)
            gevent.sleep(0)

def hub_only_other_greenlets():
    with assert_switches(max_blocking_time=0.15, hub_only=True):
        for _ in range(15):
            time.sleep(0.02)
            other_greenlet()

def any_switch_other_greenlets():
    with assert_switches(max_blocking_time=0.5):
        for _ in range(15):
            time.sleep(0.02)
            other_greenlet()

def hub_only_without_time():
    with assert_switches(hub_only=True):
        other_greenlet()

def hub_only_without_time_empty():
    with assert_switches(hub_only=True):
        pass

def nested_inner_empty():
    with assert_switches():
        gevent.sleep(0)
        with assert_switches():
            pass

ERR = KeyError("mine")

def raises_inside():
    with assert_switches():
        raise ERR

def raises_after_blocking():
    with assert_switches(max_blocking_time=0.05):
        time.sleep(0.2)
        raise ValueError("after blocking")

out = {}
for fn in (sleep0, empty, blocking, blocking_then_switch, frequent_switches,
           hub_only_frequent_hub, hub_only_other_greenlets,
           any_switch_other_greenlets, hub_only_without_time,
           hub_only_without_time_empty, nested_inner_empty,
           raises_after_blocking):
    out[fn.__name__] = outcome(fn)
try:
    raises_inside()
    out["raises_inside_same"] = False
except KeyError as e:
    out["raises_inside_same"] = e is ERR
out["is_assertion"] = issubclass(FailedToSwitch, AssertionError)
out["monitor_running"] = monitor.is_running()
result(out)
