"""For `stackwatch trace --function trace_scoped_mod:Handler.handle`: a
busy loop outside, the module imported after tracing started, its
Handler.handle called twice (once from a thread) and its other
functions called outside it. For `--function trace_scoped_cli:Local.work`
(or `__main__:Local.work`): a method of the script itself, called once."""

import threading


def busy():
    return sum(range(5))


class Local:
    def work(self):
        return busy()


def main():
    for _ in range(100):
        busy()
    Local().work()
    import trace_scoped_mod

    trace_scoped_mod.outer()
    trace_scoped_mod.Handler().handle()
    t = threading.Thread(target=trace_scoped_mod.Handler().handle)
    t.start()
    t.join()
    trace_scoped_mod.outer()


main()
