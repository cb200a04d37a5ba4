/* The frame formatter's Python edge (stackfmt_py.c):
 * _native.format_frame(), set_path_prefixes(), short_path(). */
#ifndef SW_STACKFMT_PY_H
#define SW_STACKFMT_PY_H

#include <Python.h>

/* Adds format_frame, set_path_prefixes and short_path to the module.
 * Context: GIL held, at import.  Returns 0 or -1 with an exception
 * set. */
int sw_stackfmt_py_init(PyObject *m);

#endif
