"""The CPython versions stackwatch supports: the one source of truth.

setup.py reads this file (with runpy, without importing the package) to
decide whether to build the extension and passes SW_MIN_MINOR and
SW_MAX_MINOR to the compiler (csrc/compat/layout.c refuses other
versions); stackwatch/__init__.py refuses to import elsewhere; the
Makefile's PYTHONS and pyproject.toml's requires-python and classifiers
are checked against it by tests/test_versions.py.

Plain Python of every version: no imports, no annotations.
"""

#: The oldest and newest supported CPython, as (major, minor).
MIN = (3, 9)
MAX = (3, 15)


def supported(version):
    """Whether (major, minor, ...) is a supported CPython version."""
    return MIN <= tuple(version[:2]) <= MAX


def minors():
    """Every supported version as "3.N", oldest first."""
    return ["%d.%d" % (MIN[0], m) for m in range(MIN[1], MAX[1] + 1)]
