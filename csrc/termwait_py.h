/* SIGTERM for a process of a tree (termwait_py.c): _native.term_*. */
#ifndef SW_TERMWAIT_PY_H
#define SW_TERMWAIT_PY_H

#include <Python.h>

/* Adds term_arm, term_wait, term_got and term_disarm to module m.
 * Context: GIL held, at import.  Returns 0, or -1 with an exception set. */
int sw_termwait_py_init(PyObject *m);

#endif
