/* The one mapping from SW_E* codes to Python exceptions (errors_py.h),
 * used by every *_py.c file. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>

#include "errors.h"
#include "errors_py.h"

PyObject *
sw_py_error_type(int code)
{
    switch (code) {
    case SW_EINVAL:
        return PyExc_ValueError;
    case SW_ENOMEM:
        return PyExc_MemoryError;
    case SW_ESYS:
        return PyExc_OSError;
    default:
        return PyExc_RuntimeError;
    }
}

PyObject *
sw_py_raise(int code, const char *msg)
{
    int errnum = errno;
    PyObject *type = sw_py_error_type(code);

    if (msg == NULL || *msg == '\0') {
        msg = code == SW_ENOMEM ? "out of memory" : "stackwatch failed";
    }
    if (type == PyExc_OSError) {
        PyObject *args = Py_BuildValue("(is)", errnum, msg);

        if (args != NULL) {
            PyErr_SetObject(PyExc_OSError, args);
            Py_DECREF(args);
        }
        return NULL;
    }
    PyErr_SetString(type, msg);
    return NULL;
}
