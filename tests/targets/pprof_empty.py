"""Writes an empty profile (never started) as pprof to argv[1].

The test expects `go tool pprof` to read it (no samples).
"""
import sys

import stackwatch

stackwatch.Profiler().write(sys.argv[1], "pprof")
