"""stackwatch's environment variables: the one place that reads them.

Every ``STACKWATCH_*`` variable is listed in :data:`VARIABLES` (name, type,
default, what it does); the rest of the package asks the readers below
instead of ``os.environ``. What a value means (a number of seconds, a
memory size, a signal) is checked by the module that uses it, which names
the variable in its error.

Two readers live outside this module because they cannot import it: the
``stackwatch-autostart.pth`` line (it only tests whether STACKWATCH_DUMP,
STACKWATCH_MONITOR or STACKWATCH_RECORD_SPOOL exist, before anything of stackwatch is imported) and
csrc/module.c for STACKWATCH_READ_METHOD (read by the extension at import).
Both are in the table.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple


class Variable:
    """One environment variable of stackwatch: name; type ("flag",
    "seconds", "size", "signal", "path", "list", "text"); default, as
    text (None when unset means "not used"); doc. (A plain class: every
    process that stackwatch starts in imports this module, and a
    namedtuple costs a quarter of a millisecond to create.)"""
    __slots__ = ("name", "type", "default", "doc")

    def __init__(self, name: str, type: str, default: Optional[str],
                 doc: str) -> None:
        self.name, self.type, self.default, self.doc = \
            name, type, default, doc

    def __repr__(self) -> str:
        return "Variable(%r, %r, %r, %r)" % (self.name, self.type,
                                             self.default, self.doc)


#: Every variable stackwatch reads, in the README's order.
VARIABLES: Tuple[Variable, ...] = (
    Variable("STACKWATCH_DUMP", "flag", None,
             "enable dumps at interpreter start, in any program (via the "
             "installed stackwatch-autostart.pth)"),
    Variable("STACKWATCH_DUMP_SIGNAL", "signal", "SIGRTMIN+6",
             "the dump signal: a number, SIGRTMIN+N or a name"),
    Variable("STACKWATCH_MONITOR", "flag", None,
             "start the watchdog at interpreter start, in any program "
             "(asyncio loops included)"),
    Variable("STACKWATCH_MAX_BLOCKING_TIME", "seconds", "0.1",
             "the watchdog's threshold in seconds (off: loops not "
             "watched)"),
    Variable("STACKWATCH_MAX_MEMORY_USAGE", "size", None,
             "RSS threshold: bytes, 500MB, 2GiB... (unset or off: memory "
             "not watched)"),
    Variable("STACKWATCH_MEMORY_MONITOR_PERIOD", "seconds", "5",
             "seconds between memory checks"),
    Variable("STACKWATCH_DUMP_GIL_WAIT", "seconds", "1",
             "seconds a dump waits for the GIL before it answers with the "
             "stacks alone"),
    Variable("STACKWATCH_INTERVAL", "seconds", "5",
             "seconds between stackwatch run's slow-script log snapshots"),
    Variable("STACKWATCH_REDACT", "list", "",
             "more name patterns whose values run info and logs never show "
             "(comma separated)"),
    Variable("STACKWATCH_RUNTIME_DIR", "path", None,
             "where registrations and request sockets live (default "
             "/tmp/stackwatch-<uid>, mode 0700)"),
    Variable("STACKWATCH_HTTP", "text", None,
             "start the HTTP endpoint at interpreter start, in any program: "
             "HOST:PORT or unix:/path (loopback unless a token is set)"),
    Variable("STACKWATCH_HTTP_TOKEN", "text", None,
             "the HTTP endpoint's bearer token (needed for an address that "
             "is not loopback)"),
    Variable("STACKWATCH_PPROF_DIR", "path", None,
             "write a rolling pprof file of the process there every minute "
             "(stackwatch.continuous's defaults), in any program"),
    Variable("STACKWATCH_RECORD_SPOOL", "path", None,
             "set by `stackwatch record -- COMMAND` (--subprocesses): every "
             "Python process samples itself and hands its samples to this "
             "directory (via the installed stackwatch-autostart.pth)"),
    Variable("STACKWATCH_RECORD_OPTIONS", "text", None,
             "set by `stackwatch record -- COMMAND`: how its processes "
             "sample (rate=,mode=,greenlets=,function=,lineno=,tasks=)"),
    Variable("STACKWATCH_READ_METHOD", "text", None,
             "force the safe-read method: process_vm_readv or pipe (read "
             "by csrc/module.c)"),
    Variable("STACKWATCH_TRACE_CLOCK", "text", None,
             "monotonic: the tracer stamps its records with clock_gettime "
             "even where it would read the CPU's time stamp counter (read "
             "by csrc/tracer.c)"),
)

_BY_NAME: Dict[str, Variable] = {v.name: v for v in VARIABLES}

#: Values that turn a setting off ("STACKWATCH_MAX_BLOCKING_TIME=off").
OFF = ("0", "off", "none", "no", "false")

#: Values of a flag that mean "no" (an empty value too).
_FALSE = ("", "0", "no", "false", "off")


def _known(name: str) -> Variable:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError("%s is not one of stackwatch's variables (add it to "
                       "stackwatch._config.VARIABLES)" % name) from None


def text(name: str) -> Optional[str]:
    """The variable's value without surrounding blanks; None when it is
    unset or blank."""
    _known(name)
    value = os.environ.get(name, "").strip()
    return value or None


def flag(name: str) -> bool:
    """Whether the variable is set to something other than "", 0, no,
    false or off (case-insensitively)."""
    _known(name)
    return os.environ.get(name, "").strip().lower() not in _FALSE


def is_off(value: Optional[str]) -> bool:
    """Whether a setting's text turns it off ("off", "0", "none"...)."""
    return value is not None and value.strip().lower() in OFF


def temp_dirs() -> List[str]:
    """Where a temporary file may go, in tempfile.gettempdir()'s order:
    $TMPDIR, $TEMP, $TMP (the system's variables, not stackwatch's), then
    /tmp, /var/tmp, /usr/tmp and the current directory."""
    dirs = [os.environ[v] for v in ("TMPDIR", "TEMP", "TMP")
            if os.environ.get(v)]
    return dirs + ["/tmp", "/var/tmp", "/usr/tmp", os.getcwd()]


def items(name: str) -> Tuple[str, ...]:
    """A comma-separated variable's items (blanks dropped)."""
    value = text(name) or ""
    return tuple(p.strip() for p in value.split(",") if p.strip())


def child_environment(settings: Dict[str, str],
                      defaults: Dict[str, str]) -> Dict[str, str]:
    """This process's environment for a command it starts, with
    `settings` set and `defaults` set where not set already (stackwatch's
    variables only)."""
    for name in list(settings) + list(defaults):
        _known(name)
    env = dict(os.environ)
    env.update(settings)
    for name, value in defaults.items():
        env.setdefault(name, value)
    return env
