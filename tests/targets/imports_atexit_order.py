"""``import stackwatch``, then the application's own atexit handler, then a
profiler made on first use of ``stackwatch.Profiler`` and never stopped.
stackwatch's exit steps are registered when stackwatch is imported, so they
run after the application's handler (atexit is last in, first out): the
handler still sees the profiler running."""

import atexit

import stackwatch


def at_exit():
    print("at exit the profiler is running: %s" % prof.running)


atexit.register(at_exit)
prof = stackwatch.Profiler()
prof.start()
