/* The greenlet hook's Python edge (greenlet_py.c): the greenlet_*
 * functions of stackwatch._native. */
#ifndef SW_GREENLET_PY_H
#define SW_GREENLET_PY_H

#include <Python.h>

/* Readies the hook type (sw_greenlet_init) and adds the greenlet_*
 * functions to module m.  Context: GIL held, at import.
 * Returns 0, or -1 with an exception set. */
int sw_greenlet_py_init(PyObject *m);

#endif
