"""Gets stuck for good in a C call that holds the GIL (helpers/stuck.py).

The test expects `stackwatch run`'s snapshots to show stuck_in_c read
without the GIL, with a note that the GIL was not released.
"""
from stuck import stuck_in_c

stuck_in_c()
