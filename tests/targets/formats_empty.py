"""Writes an empty profile (never started) in every format, to
argv[1]/empty.<format>.

The test expects valid, empty documents (and "No samples" in the SVG).
"""
import sys

import stackwatch

p = stackwatch.Profiler()
for fmt in ("speedscope", "collapsed", "svg"):
    p.write(sys.argv[1] + "/empty." + fmt, fmt)
