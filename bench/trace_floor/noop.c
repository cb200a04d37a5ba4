/* bench/trace_floor.py's no-op sys.monitoring callbacks: the floor of a
 * C tracer on CPython 3.12+.  Built by that script into a temporary
 * directory; never part of stackwatch.
 *
 * noop(*args) -> None, METH_FASTCALL: a builtin function, called through
 * the interpreter's generic path for them.  NoopVC()(*args) -> None: an
 * object whose type's vectorcall is the function itself, the cheapest C
 * callable the interpreter can call for an event.  The script registers
 * one or the other for PY_START and PY_RETURN. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>

static PyObject *
noop(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    (void)args;
    (void)nargs;
    Py_RETURN_NONE;
}

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
} noopvc_object;

static PyObject *
noopvc_call(PyObject *self, PyObject *const *args, size_t nargsf,
            PyObject *kwnames)
{
    (void)self;
    (void)args;
    (void)nargsf;
    (void)kwnames;
    Py_RETURN_NONE;
}

static PyObject *
noopvc_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    noopvc_object *o = (noopvc_object *)type->tp_alloc(type, 0);

    (void)args;
    (void)kwds;
    if (o != NULL) {
        o->vectorcall = noopvc_call;
    }
    return (PyObject *)o;
}

static PyTypeObject noopvc_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_trace_floor_noop.NoopVC",
    .tp_basicsize = sizeof(noopvc_object),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(noopvc_object, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = noopvc_new,
};

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
    PyObject *m;

    if (PyType_Ready(&noopvc_type) < 0) {
        return NULL;
    }
    m = PyModule_Create(&module);
    if (m != NULL &&
        PyModule_AddObjectRef(m, "NoopVC", (PyObject *)&noopvc_type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
