"""Starts what the environment asks for at interpreter start:
``STACKWATCH_DUMP=1`` enables dumps, ``STACKWATCH_MONITOR=1`` starts the
watchdog (with ``STACKWATCH_MAX_BLOCKING_TIME``,
``STACKWATCH_MAX_MEMORY_USAGE`` and ``STACKWATCH_MEMORY_MONITOR_PERIOD``;
asyncio loops are watched too), ``STACKWATCH_HTTP=ADDR`` starts the HTTP
endpoint (with ``STACKWATCH_HTTP_TOKEN``), ``STACKWATCH_PPROF_DIR=DIR``
writes rolling pprof files there.

Imported by the ``stackwatch-autostart.pth`` file that the package installs
in site-packages (only when one of those two variables exists). Never
raises: a process must start even when
stackwatch cannot run in it; a bad setting is one line on stderr.
"""

import sys


def start() -> None:
    try:
        from stackwatch import _config
    except Exception as e:  # an unsupported Python...
        sys.stderr.write("stackwatch: STACKWATCH_DUMP or STACKWATCH_MONITOR "
                         "is set but stackwatch cannot run here: %s\n" % e)
        return
    if _config.flag("STACKWATCH_DUMP"):
        try:
            import stackwatch

            if stackwatch.dumping._enabled is None:
                stackwatch.enable_dump()
        except Exception as e:  # a bad setting, an unsupported Python...
            sys.stderr.write("stackwatch: STACKWATCH_DUMP is set but dumps "
                             "cannot be enabled: %s\n" % e)
    if _config.flag("STACKWATCH_MONITOR"):
        try:
            from stackwatch import monitor

            if not monitor.is_running():
                monitor.start(asyncio=True)
        except Exception as e:
            sys.stderr.write("stackwatch: STACKWATCH_MONITOR is set but the "
                             "watchdog cannot start: %s\n" % e)

    address = _config.text("STACKWATCH_HTTP")
    if address is not None:
        try:
            from stackwatch import _serve

            if _serve.current() is None:
                _serve.serve(address,
                             token=_config.text("STACKWATCH_HTTP_TOKEN"))
        except Exception as e:
            sys.stderr.write("stackwatch: STACKWATCH_HTTP is set but the "
                             "HTTP endpoint cannot start: %s\n" % e)

    directory = _config.text("STACKWATCH_PPROF_DIR")
    if directory is not None:
        try:
            from stackwatch import _serve

            if _serve._continuous is None:
                _serve.continuous(directory)
        except Exception as e:
            sys.stderr.write("stackwatch: STACKWATCH_PPROF_DIR is set but "
                             "continuous profiles cannot start: %s\n" % e)


start()
