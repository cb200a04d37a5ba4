/* The tracer's version-dependent hooks; see tracehook.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "compat/tracehook.h"

int
sw_compat_trace_monitoring(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return 1;
#else
    return 0;
#endif
}

int
sw_compat_set_profile_all(Py_tracefunc func, PyObject *arg)
{
#if PY_VERSION_HEX >= 0x030C0000
    /* Not used by the tracer here (it uses sys.monitoring). */
    PyEval_SetProfileAllThreads(func, arg);
    return PyErr_Occurred() ? -1 : 0;
#else
    PyThreadState *ts = PyThreadState_Get();
    PyThreadState *t = PyInterpreterState_ThreadHead(ts->interp);

    for (; t != NULL; t = PyThreadState_Next(t)) {
        if (_PyEval_SetProfile(t, func, arg) < 0) {
            return -1;
        }
    }
    return 0;
#endif
}
