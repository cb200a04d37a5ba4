/* Running a target's script (runner_py.c): _native.compile_file(). */
#ifndef SW_RUNNER_PY_H
#define SW_RUNNER_PY_H

#include <Python.h>

/* Adds compile_file to module m.  Context: GIL held, at import.  Returns
 * 0, or -1 with an exception set. */
int sw_runner_py_init(PyObject *m);

#endif
