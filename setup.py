"""Build definition of the C extension stackwatch._native.

Everything else lives in pyproject.toml. Two things need code here: the
extension's sources and flags, and the ``stackwatch-autostart.pth`` file
that makes ``STACKWATCH_DUMP=1`` work for programs that never import
stackwatch (it imports ``stackwatch._autostart`` only when a STACKWATCH_*
variable asks for it). Warnings are made fatal through CFLAGS=-Werror in
CI, never here.
"""

import glob
import os
import runpy
import sys

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

# The supported range, from its one source, without importing the package.
VERSIONS = runpy.run_path(os.path.join(os.path.dirname(__file__) or ".",
                                       "src", "stackwatch", "_versions.py"))
# A free-threaded build ("t" in abiflags) gets the package without the
# extension; importing it says why (stackwatch/__init__.py).
SUPPORTED = (VERSIONS["supported"](sys.version_info)
             and "t" not in getattr(sys, "abiflags", ""))

# The warning flags, from their one list (shared with tests/test_c_units.py).
with open(os.path.join(os.path.dirname(__file__) or ".", "tools",
                       "cflags.txt")) as f:
    WARNINGS = [line.strip() for line in f
                if line.strip() and not line.lstrip().startswith("#")]


class build_py_with_pth(build_py):
    """Also install stackwatch-autostart.pth at the root of site-packages."""

    def run(self):
        super().run()
        src = os.path.join(os.path.dirname(__file__) or ".", "src",
                           "stackwatch-autostart.pth")
        self.copy_file(src, os.path.join(self.build_lib,
                                         "stackwatch-autostart.pth"))




def _zlib_found():
    """Whether zlib's header is where the compiler looks (the library
    CPython's zlib module links): the writers' gzip output is then
    compressed, otherwise stored (csrc/writers/gzip.h).  STACKWATCH_ZLIB=0
    or 1 decides instead."""
    forced = os.environ.get("STACKWATCH_ZLIB")
    if forced in ("0", "1"):
        return forced == "1"
    import sysconfig

    dirs = [sysconfig.get_config_var("INCLUDEDIR") or "", "/usr/include",
            "/usr/local/include"]
    return any(os.path.exists(os.path.join(d, "zlib.h")) for d in dirs if d)


ZLIB = _zlib_found()

ext_modules = []
if SUPPORTED:
    ext_modules.append(Extension(
        "stackwatch._native",
        sources=sorted(glob.glob("csrc/*.c") + glob.glob("csrc/compat/*.c")
                       + glob.glob("csrc/writers/*.c")),
        include_dirs=["csrc"],
        define_macros=[("_GNU_SOURCE", "1"),
                       ("SW_MIN_MINOR", str(VERSIONS["MIN"][1])),
                       ("SW_MAX_MINOR", str(VERSIONS["MAX"][1]))]
        + ([("SW_HAVE_ZLIB", "1")] if ZLIB else []),
        libraries=["z"] if ZLIB else [],
        extra_compile_args=["-std=c11", "-O2", "-fvisibility=hidden",
                            "-fno-strict-aliasing"] + WARNINGS,
        extra_link_args=["-pthread"],
    ))

setup(ext_modules=ext_modules, cmdclass={"build_py": build_py_with_pth})
