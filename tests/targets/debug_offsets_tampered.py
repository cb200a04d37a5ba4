"""Changes one field of _PyRuntime.debug_offsets (3.13+), the interpreter's
description of its own layout, then imports stackwatch, which must refuse
with one line naming the version and the field.  argv[1]: "cookie",
"version" or "interp.next".  The interpreter itself never reads these
fields; only out-of-process debuggers (and stackwatch) do.

_Py_DebugOffsets starts _PyRuntimeState: the cookie (8 bytes), the
version, free_threaded, the runtime's size, finalizing and
interpreters_head, then the interpreter's size, id and next (8 bytes
each)."""
import ctypes
import sys

# Where, and by how much (the version by one minor version).
AT, BY = {"cookie": (0, 8), "version": (8, 1 << 16),
          "interp.next": (64, 8)}[sys.argv[1]]
field = ctypes.c_uint64.from_address(
    ctypes.addressof(ctypes.c_char.in_dll(ctypes.pythonapi, "_PyRuntime"))
    + AT)
field.value += BY

import stackwatch  # noqa: E402,F401  (raises)
