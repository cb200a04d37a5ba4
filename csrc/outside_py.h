/* The outside reader's Python edge (outside_py.c): _native.outside_dump(),
 * the stacks of a process that did not enable stackwatch. */
#ifndef SW_OUTSIDE_PY_H
#define SW_OUTSIDE_PY_H

#include <Python.h>

/* Adds outside_dump to the module.  Context: GIL held, at import.
 * Returns 0 or -1 with an exception set. */
int sw_outside_py_init(PyObject *m);

#endif
