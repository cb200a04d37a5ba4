/* What the tracer needs that depends on the CPython version: which
 * engine it uses, and setting a C profile function in every thread.
 *
 * 3.12+ trace through sys.monitoring (PEP 669), reached through its
 * Python-level functions with C callbacks, which needs no version check
 * beyond sw_compat_trace_monitoring().  Before 3.12 the tracer is a C
 * profile function: PyEval_SetProfile sets it for the calling thread
 * only, so the threads that already exist get it through
 * _PyEval_SetProfile (public in cpython/ceval.h on 3.9-3.12, what
 * 3.12's PyEval_SetProfileAllThreads does), and the later ones through
 * threading.setprofile (tracer_py.c). */
#ifndef SW_COMPAT_TRACEHOOK_H
#define SW_COMPAT_TRACEHOOK_H

#include <Python.h>

/* 1 if the tracer uses sys.monitoring on this interpreter, 0 if a
 * profile function.  Pure; any context. */
int sw_compat_trace_monitoring(void);

/* Sets (func non-NULL) or removes (func NULL) the C profile function of
 * every thread of the calling thread's interpreter.  Context: GIL held.
 * Returns 0, or -1 with an exception set (an audit hook refused). */
int sw_compat_set_profile_all(Py_tracefunc func, PyObject *arg);

#endif
