"""Pure-Python busy work for the targets: spin(n) counts to n in the
interpreter (never in C, never releasing the GIL for long), so that the
sampler finds the thread in a frame named "spin".
"""


def spin(n):
    x = 0
    while x < n:
        x += 1
    return x
