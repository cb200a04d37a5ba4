"""Profiles for a moment, enables dumps, then crashes for real (reads address
0) in crash_here(). The test expects death by SIGSEGV with faulthandler's
report naming crash_here.
"""
import ctypes, faulthandler, stackwatch
assert faulthandler.is_enabled()
p = stackwatch.Profiler(rate=1000)
with p:
    sum(range(10**6))
stackwatch.enable_dump()
def crash_here():
    ctypes.string_at(0)
crash_here()
