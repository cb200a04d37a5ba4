/* The service channel's Python edge (service.h): what stackwatch's
 * service thread calls to wait for work, answer questions and post
 * notifications, and the SERVICE_* constants (the notification bits and
 * the question kinds, each defined once in service.h).
 *
 * Called with the GIL held (service_take releases it while it waits).
 * No strong references are kept here. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "errors.h"
#include "errors_py.h"
#include "service.h"
#include "service_py.h"

static PyObject *
service_take_py(PyObject *m, PyObject *arg)
{
    double timeout = PyFloat_AsDouble(arg);
    uint64_t id;
    uint32_t kind, flags;
    unsigned bits;
    (void)m;

    if (timeout == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (timeout < 0) {
        timeout = 0;
    }
    Py_BEGIN_ALLOW_THREADS
        bits = sw_service_take((uint64_t)(timeout * 1e9), &id, &kind, &flags);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("(IKII)", bits, (unsigned long long)id, kind, flags);
}

static PyObject *
service_answer_py(PyObject *m, PyObject *args)
{
    unsigned long long id;
    const char *text;
    Py_ssize_t len;
    (void)m;

    if (!PyArg_ParseTuple(args, "Ks#:service_answer", &id, &text, &len)) {
        return NULL;
    }
    sw_service_answer(id, text, (size_t)len);
    Py_RETURN_NONE;
}

static PyObject *
service_notify_py(PyObject *m, PyObject *arg)
{
    unsigned long bits = PyLong_AsUnsignedLong(arg);
    (void)m;

    if (PyErr_Occurred()) {
        return NULL;
    }
    sw_service_notify((unsigned)bits);
    Py_RETURN_NONE;
}

static PyObject *
service_set_alive_py(PyObject *m, PyObject *arg)
{
    int alive = PyObject_IsTrue(arg);
    (void)m;

    if (alive < 0) {
        return NULL;
    }
    sw_service_set_alive(alive);
    Py_RETURN_NONE;
}

static PyMethodDef service_methods[] = {
    {"service_take", service_take_py, METH_O, NULL},
    {"service_answer", service_answer_py, METH_VARARGS, NULL},
    {"service_notify", service_notify_py, METH_O, NULL},
    {"service_set_alive", service_set_alive_py, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

int
sw_service_py_init(PyObject *m)
{
    if (sw_service_init() < 0) {
        sw_py_raise(SW_ESYS, "cannot create the service channel's eventfd");
        return -1;
    }
    if (PyModule_AddFunctions(m, service_methods) < 0 ||
        PyModule_AddIntConstant(m, "SERVICE_NAMES", SW_SVC_NAMES) < 0 ||
        PyModule_AddIntConstant(m, "SERVICE_QUESTION", SW_SVC_QUESTION) < 0 ||
        PyModule_AddIntConstant(m, "SERVICE_STOP", SW_SVC_STOP) < 0 ||
        PyModule_AddIntConstant(m, "SERVICE_ASK_RUN_INFO",
                                SW_SERVICE_ASK_RUN_INFO) < 0 ||
        PyModule_AddIntConstant(m, "SERVICE_ASK_OD_LABELS",
                                SW_SERVICE_ASK_OD_LABELS) < 0) {
        return -1;
    }
    return 0;
}
