"""The "stuck" workload of the targets: a C call that holds the GIL for
as long as it runs (the regex engine, 2**40 steps: longer than any test).

    from stuck import stuck_in_c
    stuck_in_c()

Tests find the line of the call with
conftest.line_of(STUCK_PATH, "stuck-call").
"""

import re


def stuck_in_c():  # def-stuck-in-c
    re.match(r"(a+)+$", "a" * 40 + "b")  # stuck-call
