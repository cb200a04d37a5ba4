/* The tracer's hooks and Python edge (tracer_py.c): the trace_*
 * functions of stackwatch._native. */
#ifndef SW_TRACER_PY_H
#define SW_TRACER_PY_H

#include <Python.h>

/* Adds the trace_* functions to module m.  Context: GIL held, at
 * import.  Returns 0, or -1 with an exception set. */
int sw_tracer_py_init(PyObject *m);

/* In a forked child: tracing off (hooks removed, tool id freed) and the
 * parent's records dropped.  Context: GIL held, the child's only
 * thread.  No errors. */
void sw_tracer_py_after_fork_child(void);

#endif
