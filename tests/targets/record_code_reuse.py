"""Runs a module-level busy loop from one code object, frees it, then
compiles and runs a function whose code object may be allocated at the
address just freed (as the target's code is allocated right after
stackwatch's own lazy imports free theirs); five times.

The test expects every sample taken during the call of burn_cpu (the
line marked HOT CALL) to name burn_cpu.
"""
BUSY = ("import time\n"
        "t = time.monotonic()\n"
        "while time.monotonic() - t < 0.15:\n"
        "    pass\n")

HOT = ("import time\n"
       "def burn_cpu(seconds):\n"
       "    end = time.monotonic() + seconds\n"
       "    while time.monotonic() < end:\n"
       "        pass\n")

for i in range(5):
    exec(compile(BUSY, "busy_module.py", "exec"), {})
    ns = {}
    exec(compile(HOT, "hot_module.py", "exec"), ns)
    ns["burn_cpu"](0.15)  # HOT CALL
