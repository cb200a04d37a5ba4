/* The greenlet hook's Python edge: installing and removing the switch
 * hook, the id table, and the switch timing behind assert_switches
 * (greenlet.h).
 *
 * Called with the GIL held.  The C side reports failures with a Python
 * exception already set (it calls the greenlet module) or with -1 for
 * "no hook in this thread", which these functions turn into None. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "greenlet.h"
#include "greenlet_py.h"

static PyObject *
greenlet_install_py(PyObject *m, PyObject *noargs)
{
    int rc = sw_greenlet_install();
    (void)m;
    (void)noargs;

    if (rc < 0) {
        return NULL;
    }
    return PyBool_FromLong(rc);
}

static PyObject *
greenlet_track_py(PyObject *m, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    (void)m;

    if (on < 0) {
        return NULL;
    }
    sw_greenlet_track(on);
    Py_RETURN_NONE;
}

static PyObject *
greenlet_uninstall_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    if (sw_greenlet_uninstall() < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
greenlet_table_py(PyObject *m, PyObject *args)
{
    PyObject *only = Py_None;

    (void)m;
    if (!PyArg_ParseTuple(args, "|O:greenlet_table", &only)) {
        return NULL;
    }
    return sw_greenlet_table(only == Py_None ? NULL : only);
}

static PyObject *
greenlet_current_py(PyObject *m, PyObject *noargs)
{
    PyThreadState *ts = PyThreadState_Get();
    (void)m;
    (void)noargs;
    return PyLong_FromUnsignedLong(
        sw_greenlet_current((uintptr_t)ts, PyThreadState_GetID(ts)));
}

static PyObject *
greenlet_id_py(PyObject *m, PyObject *g)
{
    (void)m;
    return PyLong_FromUnsignedLong(sw_greenlet_id_of(g));
}

/* greenlet_timing_start(hub, hub_only) -> token (None: no hook here). */
static PyObject *
greenlet_timing_start_py(PyObject *m, PyObject *args)
{
    unsigned int hub;
    int hub_only;
    sw_greenlet_timing_t saved;
    (void)m;

    if (!PyArg_ParseTuple(args, "Ip:greenlet_timing_start", &hub, &hub_only)) {
        return NULL;
    }
    if (sw_greenlet_timing_start(hub, hub_only, &saved) < 0) {
        Py_RETURN_NONE;
    }
    return PyBytes_FromStringAndSize((const char *)&saved, sizeof(saved));
}

/* greenlet_timing_stop(token) -> (switches, hub_entries, max_gap_s). */
static PyObject *
greenlet_timing_stop_py(PyObject *m, PyObject *token)
{
    sw_greenlet_timing_t saved;
    uint64_t sw, hub, gap;
    (void)m;

    if (!PyBytes_Check(token) || PyBytes_GET_SIZE(token) != sizeof(saved)) {
        PyErr_SetString(PyExc_TypeError, "not a timing token");
        return NULL;
    }
    memcpy(&saved, PyBytes_AS_STRING(token), sizeof(saved));
    if (sw_greenlet_timing_stop(&saved, &sw, &hub, &gap) < 0) {
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(KKd)", (unsigned long long)sw,
                         (unsigned long long)hub, gap / 1e9);
}

static PyMethodDef greenlet_methods[] = {
    {"greenlet_install", greenlet_install_py, METH_NOARGS,
     "Track greenlets in the calling thread; False if greenlet is absent."},
    {"greenlet_uninstall", greenlet_uninstall_py, METH_NOARGS, NULL},
    {"greenlet_track", greenlet_track_py, METH_O,
     "greenlet_track(on): add or remove a user of greenlet tracking."},
    {"greenlet_table", greenlet_table_py, METH_VARARGS,
     "greenlet_table(ids=None) -> {id: (greenlet or None, type name)} for\n"
     "the ids given (all when None)."},
    {"greenlet_current", greenlet_current_py, METH_NOARGS,
     "The id of the greenlet running in the calling thread (0: unknown)."},
    {"greenlet_id", greenlet_id_py, METH_O, NULL},
    {"greenlet_timing_start", greenlet_timing_start_py, METH_VARARGS, NULL},
    {"greenlet_timing_stop", greenlet_timing_stop_py, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

int
sw_greenlet_py_init(PyObject *m)
{
    if (sw_greenlet_init(m) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(m, greenlet_methods);
}
