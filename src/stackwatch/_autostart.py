"""Enables dumps at interpreter start when STACKWATCH_DUMP is set.

Imported by the ``stackwatch-autostart.pth`` file that the package installs
in site-packages (only when a STACKWATCH_DUMP variable exists), and by
``import stackwatch``. Never raises: a process must start even when
stackwatch cannot run in it.
"""

import os
import sys

_FALSE = ("", "0", "no", "false", "off")


def start() -> None:
    if os.environ.get("STACKWATCH_DUMP", "").strip().lower() in _FALSE:
        return
    try:
        import stackwatch

        if stackwatch.dumping._enabled is None:
            stackwatch.enable_dump()
    except Exception as e:  # a bad setting, an unsupported Python...
        sys.stderr.write("stackwatch: STACKWATCH_DUMP is set but dumps "
                         "cannot be enabled: %s\n" % e)


start()
