/* bench/trace_floor.py's no-op sys.monitoring callbacks: the floor of a
 * C tracer on CPython 3.12+.  Built by that script into a temporary
 * directory; never part of stackwatch.
 *
 * noop(*args) -> None, METH_FASTCALL: the cheapest C callable the
 * interpreter can call for an event.  Registered by the script for
 * PY_START and PY_RETURN. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *
noop(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    (void)args;
    (void)nargs;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"noop", (PyCFunction)(void (*)(void))noop, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_trace_floor_noop", NULL, -1, methods,
};

PyMODINIT_FUNC PyInit__trace_floor_noop(void);

PyMODINIT_FUNC
PyInit__trace_floor_noop(void)
{
    return PyModule_Create(&module);
}
