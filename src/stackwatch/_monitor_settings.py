"""The watchdog's settings: defaults, the STACKWATCH_* variables that give
the ones not passed to ``stackwatch.monitor.start()`` (read through
:mod:`stackwatch._config`), their checks, and where reports go.

Pure functions: nothing here touches the monitor's state.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Tuple, Union

from stackwatch import _config

DEFAULT_MAX_BLOCKING_TIME = 0.1
DEFAULT_MEMORY_MONITOR_PERIOD = 5.0
DEFAULT_REPORT_INTERVAL = 1.0

#: The longest time a setting may give (the native watchdog's limit).
MAX_SECONDS = 1e9

#: (math.isfinite without loading math: start-up time.)
_INF = float("inf")

#: A setting not given (then it comes from the environment or a default).
UNSET: Any = object()

#: Values that turn a setting off ("--max-blocking-time off").
OFF = _config.OFF

_SIZE_PATTERN = r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*$"
_UNITS = {
    "": 1, "b": 1,
    "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
    "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
    "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}


def parse_size(value: Union[int, float, str]) -> int:
    """Bytes from 1048576, "500MB" (10**6), "2GiB" (2**30), "512M"
    (2**20, as ps and top mean it). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("not a memory size: %r" % (value,))
    if isinstance(value, (int, float)):
        number, mult = float(value), 1
    else:
        # re only when a size is given as text: the watchdog's start-up
        # (every process of STACKWATCH_MONITOR=1) does not load it.
        import re

        m = re.match(_SIZE_PATTERN, str(value))
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError("not a memory size: %r (use bytes, or a number "
                             "with KB, MB, GB, KiB, MiB, GiB...)" % (value,))
        number, mult = float(m.group(1)), _UNITS[m.group(2).lower()]
    size = number * mult
    if not -_INF < size < _INF or size < 1:  # (infinite, NaN...)
        raise ValueError("a memory size must be at least 1 byte, not %r"
                         % (value,))
    return int(size)


def seconds(value: Any, what: str, allow_none: bool = False
            ) -> Optional[float]:
    """value as a positive number of seconds, at most MAX_SECONDS (None
    passes when allow_none); raises ValueError naming `what`."""
    if value is None and allow_none:
        return None
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise ValueError("%s must be a number of seconds, not %r"
                         % (what, value)) from None
    if not -_INF < s < _INF or s <= 0:  # (infinite, NaN...)
        raise ValueError("%s must be a positive number of seconds, not %r"
                         % (what, value))
    if s > MAX_SECONDS:
        raise ValueError("%s must be at most %g seconds, not %r"
                         % (what, MAX_SECONDS, value))
    return s


def resolve(max_blocking_time: Any, max_memory_usage: Any,
            memory_monitor_period: Any) -> Tuple[Optional[float],
                                                 Optional[int], float]:
    """The three settings, checked: each one given, else its STACKWATCH_*
    variable, else its default. Raises ValueError (naming the variable
    when the bad value came from the environment)."""
    if max_blocking_time is UNSET:
        text = _config.text("STACKWATCH_MAX_BLOCKING_TIME")
        if _config.is_off(text):
            max_blocking_time = None
        elif text is not None:
            try:
                max_blocking_time = seconds(text, "max_blocking_time")
            except ValueError as e:
                raise ValueError("STACKWATCH_MAX_BLOCKING_TIME: %s" % e
                                 ) from None
        else:
            max_blocking_time = DEFAULT_MAX_BLOCKING_TIME
    else:
        max_blocking_time = seconds(max_blocking_time, "max_blocking_time",
                                    allow_none=True)
    if max_memory_usage is UNSET:
        text = _config.text("STACKWATCH_MAX_MEMORY_USAGE")
        try:
            max_memory_usage = (parse_size(text) if text is not None
                                and not _config.is_off(text) else None)
        except ValueError as e:
            raise ValueError("STACKWATCH_MAX_MEMORY_USAGE: %s" % e) from None
    elif max_memory_usage is not None:
        max_memory_usage = parse_size(max_memory_usage)
    if memory_monitor_period is UNSET:
        text = _config.text("STACKWATCH_MEMORY_MONITOR_PERIOD")
        try:
            memory_monitor_period = seconds(
                text if text is not None else DEFAULT_MEMORY_MONITOR_PERIOD,
                "memory_monitor_period")
        except ValueError as e:
            raise ValueError("STACKWATCH_MEMORY_MONITOR_PERIOD: %s" % e
                             ) from None
    else:
        memory_monitor_period = seconds(memory_monitor_period,
                                        "memory_monitor_period")
    return max_blocking_time, max_memory_usage, memory_monitor_period


def report_target(report_to: Any) -> Tuple[int, Any, bool]:
    """(fd for the native side or -1, stream for the Python side, whether
    fd is ours to close)."""
    if report_to is None:
        return -1, None, False
    if isinstance(report_to, (str, bytes, os.PathLike)):
        path = os.fspath(report_to)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                         | os.O_CLOEXEC, 0o600)
        except OSError as e:
            raise ValueError("cannot open the report file %r: %s"
                             % (os.fsdecode(path), e.strerror)) from None
        return fd, None, True
    if not hasattr(report_to, "write"):
        raise ValueError("report_to must be a stream, a path or None, "
                         "not %r" % (report_to,))
    try:
        report_to.flush()
        return report_to.fileno(), None, False
    except (AttributeError, OSError, ValueError):
        return -1, report_to, False
