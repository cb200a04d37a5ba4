"""Prints "ready" and sleeps 60 s in waiting_here(). argv[1] says what it
does with stackwatch first:
- "enabled" (default): stackwatch.enable_dump();
- "disabled": enable_dump() then disable_dump();
- "plain": does not import stackwatch (STACKWATCH_DUMP=1 in the
  environment may still enable dumps).

The tests expect a dump naming waiting_here at the sleep's line when dumps
are enabled, a one-line refusal otherwise, and the process alive after.
"""
import sys
import time

MODE = sys.argv[1] if len(sys.argv) > 1 else "enabled"
if MODE != "plain":
    import stackwatch

    stackwatch.enable_dump()
    if MODE == "disabled":
        stackwatch.disable_dump()


def waiting_here():
    print("ready", flush=True)
    time.sleep(60)  # waiting-here


waiting_here()
