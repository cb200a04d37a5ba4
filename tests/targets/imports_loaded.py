"""Prints the names of the loaded modules, one a line, after doing what
argv[1] says: "nothing" (python and whatever the environment's autostart
loaded), "import" (``import stackwatch``; and, at exit, whether
stackwatch's exit steps loaded its service module) or "names" (``import
stackwatch`` and every public name of it used)."""

import sys

what = sys.argv[1]
if what == "import":
    import atexit

    # Registered first, so it runs last: after stackwatch's exit steps.
    atexit.register(lambda: sys.stdout.write(
        "service loaded at exit: %s\n"
        % ("stackwatch._service" in sys.modules)))
if what in ("import", "names"):
    import stackwatch
if what == "names":
    from stackwatch import Profiler, monitor  # noqa: F401

    for name in stackwatch.__all__:
        getattr(stackwatch, name)
    sys.stdout.write("dumping enabled: %s\n"
                     % (stackwatch.dumping._enabled is not None))
if what == "nothing" and "stackwatch.dumping" in sys.modules:
    sys.stdout.write("dumping enabled: %s\n"
                     % (sys.modules["stackwatch.dumping"]._enabled
                        is not None))
sys.stdout.write("".join(name + "\n" for name in sorted(sys.modules)))
