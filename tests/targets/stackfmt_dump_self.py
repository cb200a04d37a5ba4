"""Prints the native text dump of its own thread, taken in inner().

The test expects the dump's frame lines to be the formatter's labels
for inner and <module>, at the marked lines.
"""
import stackwatch._native as n


def inner():
    return n.dump_text()  # dump-call


print(inner())  # inner-call
