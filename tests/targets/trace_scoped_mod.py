"""A module imported by trace_scoped.py while a scoped trace runs: its
Handler.handle is named by string (--function style)."""


def inner():
    return 1


def outer():
    return inner()


class Handler:
    def handle(self):
        return inner()
