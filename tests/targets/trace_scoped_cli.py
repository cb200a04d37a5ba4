"""For `stackwatch trace --function trace_scoped_mod:Handler.handle`: a
busy loop outside, the module imported after tracing started, its
Handler.handle called twice (once from a thread) and its other
functions called outside it."""

import threading


def busy():
    return sum(range(5))


def main():
    for _ in range(100):
        busy()
    import trace_scoped_mod

    trace_scoped_mod.outer()
    trace_scoped_mod.Handler().handle()
    t = threading.Thread(target=trace_scoped_mod.Handler().handle)
    t.start()
    t.join()
    trace_scoped_mod.outer()


main()
