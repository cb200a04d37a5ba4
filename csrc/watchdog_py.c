/* The watchdog's Python edge (watchdog.h): starting and stopping the
 * monitor thread, watches, the events it queues, and the selector hook.
 *
 * Called with the GIL held.  Errors from the C side go through
 * sw_py_raise() (errors_py.h); a threshold or period that is not a number
 * of seconds >= 0 is a ValueError.  No strong references are kept here
 * (a SelectHook owns the select() it wraps). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <unistd.h>

#include "errors.h"
#include "errors_py.h"
#include "watchdog.h"
#include "watchdog_py.h"

static sw_codecache_t *wd_cache;

static int
seconds_ns(double s, const char *what, uint64_t *out)
{
    if (!(s >= 0) || s > 1e9) {
        char msg[96];

        snprintf(msg, sizeof(msg), "%s must be a number of seconds >= 0",
                 what);
        sw_py_raise(SW_EINVAL, msg);
        return -1;
    }
    *out = (uint64_t)(s * 1e9);
    return 0;
}

static PyObject *
wd_start_py(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"report_fd", "mem_max", "mem_period", "update",
                             "name_wait", "hide",    "full_paths", NULL};
    sw_wd_settings_t s = {.report_fd = -1};
    unsigned long long mem_max = 0;
    double mem_period = 0, update = 1.0, name_wait = 0.02;
    const char *hide = "";
    char err[256];
    int rc;
    (void)m;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "|iKdddsp:watchdog_start",
                                     kwlist, &s.report_fd, &mem_max,
                                     &mem_period, &update, &name_wait, &hide,
                                     &s.full_paths) ||
        seconds_ns(mem_period, "mem_period", &s.mem_period_ns) < 0 ||
        seconds_ns(update, "update", &s.update_ns) < 0 ||
        seconds_ns(name_wait, "name_wait", &s.name_wait_ns) < 0) {
        return NULL;
    }
    s.mem_max = mem_max;
    snprintf(s.hide, sizeof(s.hide), "%s", hide);
    Py_BEGIN_ALLOW_THREADS
        rc = sw_wd_start(&s, wd_cache, err, sizeof(err));
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        return sw_py_raise(rc, err);
    }
    Py_RETURN_NONE;
}

static PyObject *
wd_stop_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    Py_BEGIN_ALLOW_THREADS
        sw_wd_stop();
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
wd_clear_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    sw_wd_clear();
    Py_RETURN_NONE;
}

/* watchdog_add(kind, threshold, hub, name): a watch on the calling
 * thread; returns its id. */
static PyObject *
wd_add_py(PyObject *m, PyObject *args)
{
    int kind;
    double threshold;
    unsigned int hub;
    const char *name;
    uint64_t th_ns, id;
    PyThreadState *ts = PyThreadState_Get();
    (void)m;

    if (!PyArg_ParseTuple(args, "idIs:watchdog_add", &kind, &threshold, &hub,
                          &name) ||
        seconds_ns(threshold, "threshold", &th_ns) < 0) {
        return NULL;
    }
    if (kind < SW_WD_HUB || kind > SW_WD_DEADLINE) {
        return sw_py_raise(SW_EINVAL, "unknown watch kind");
    }
    id = sw_wd_add(kind, (uintptr_t)ts, PyThreadState_GetID(ts),
                   PyThread_get_thread_ident(), (long)gettid(), hub, th_ns,
                   name);
    if (id == 0) {
        return sw_py_raise(SW_EFULL,
                           "too many watches (256 at most at a time)");
    }
    return PyLong_FromUnsignedLongLong(id);
}

static PyObject *
wd_remove_py(PyObject *m, PyObject *arg)
{
    unsigned long long id = PyLong_AsUnsignedLongLong(arg);
    (void)m;

    if (id == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    return PyLong_FromLong(sw_wd_remove(id));
}

static PyObject *
wd_set_threshold_py(PyObject *m, PyObject *args)
{
    unsigned long long id;
    double threshold;
    uint64_t th_ns;
    (void)m;

    if (!PyArg_ParseTuple(args, "Kd:watchdog_set_threshold", &id,
                          &threshold) ||
        seconds_ns(threshold, "threshold", &th_ns) < 0) {
        return NULL;
    }
    return PyBool_FromLong(sw_wd_set_threshold(id, th_ns) == 0);
}

/* The event's stack as a list of (name, filename, lineno) tuples,
 * outermost first.  New reference, or NULL with an exception set. */
static PyObject *
stack_list(const sw_wd_event_t *e)
{
    PyObject *list = PyList_New((Py_ssize_t)e->nframes);

    for (size_t i = 0; list != NULL && i < e->nframes; i++) {
        const sw_fmt_frame_t *f = &e->frames[i];
        PyObject *t = Py_BuildValue("(ssi)", f->name, f->file, f->line);

        if (t == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    return list;
}

static PyObject *
event_dict(const sw_wd_event_t *e)
{
    PyObject *stack = stack_list(e), *d;

    if (stack == NULL) {
        return NULL;
    }
    d = Py_BuildValue(
        "{si si sK ss ss sO si ss sk sl sI sO sd sd s(KKKKK) sK sK sK}",
        "kind", e->kind, "watch_kind", e->watch_kind, "watch_id",
        (unsigned long long)e->watch_id, "name", e->name ? e->name : "",
        "report", e->report ? e->report : "", "stack", stack, "task_frame",
        e->task_frame, "label", e->label ? e->label : "", "ident", e->ident,
        "tid", e->tid, "greenlet", (unsigned int)e->greenlet, "holds_gil",
        e->holds_gil ? Py_True : Py_False, "duration", e->duration,
        "threshold", e->threshold, "mem", (unsigned long long)e->mem[0],
        (unsigned long long)e->mem[1], (unsigned long long)e->mem[2],
        (unsigned long long)e->mem[3], (unsigned long long)e->mem[4],
        "mem_max", (unsigned long long)e->mem_max, "mem_peak",
        (unsigned long long)e->mem_peak, "start_ns",
        (unsigned long long)e->start_ns);
    Py_DECREF(stack);
    return d;
}

/* watchdog_take(timeout): the queued events, as dicts, waiting up to
 * timeout seconds (the GIL released) for the first. */
static PyObject *
wd_take_py(PyObject *m, PyObject *arg)
{
    sw_wd_event_t evs[32];
    double timeout = PyFloat_AsDouble(arg);
    uint64_t t_ns;
    PyObject *list;
    int n, i;
    (void)m;

    if (timeout == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (seconds_ns(timeout, "timeout", &t_ns) < 0) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
        n = sw_wd_take(evs, 32, t_ns);
    Py_END_ALLOW_THREADS
    list = PyList_New(0);
    for (i = 0; i < n; i++) {
        PyObject *d = list ? event_dict(&evs[i]) : NULL;

        if (d == NULL || PyList_Append(list, d) < 0) {
            Py_CLEAR(list);
        }
        Py_XDECREF(d);
        sw_wd_event_free(&evs[i]);
    }
    return list;
}

static PyObject *
wd_interrupt_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    sw_wd_interrupt();
    Py_RETURN_NONE;
}

static PyObject *
wd_stats_py(PyObject *m, PyObject *noargs)
{
    sw_wd_stats_t st;
    (void)m;
    (void)noargs;

    sw_wd_get_stats(&st);
    return Py_BuildValue("{sKsKsKsdsi}", "polls", (unsigned long long)st.polls,
                         "reports", (unsigned long long)st.reports,
                         "events_dropped",
                         (unsigned long long)st.events_dropped, "cpu_seconds",
                         st.cpu_ns / 1e9, "watches", st.watches);
}

/* ---- the selector hook -------------------------------------------------- */

/* A callable that wraps an asyncio loop's selector.select(): it marks the
 * watch as waiting for I/O around the call.  About 100 ns a loop
 * iteration; nothing while the loop waits. */
typedef struct {
    PyObject_HEAD
    PyObject *orig;
    unsigned long long id;
} SelectHook;

static PyObject *
SelectHook_call(PyObject *self, PyObject *args, PyObject *kw)
{
    SelectHook *h = (SelectHook *)self;
    PyObject *res;

    sw_wd_select(h->id, 1);
    res = PyObject_Call(h->orig, args, kw);
    sw_wd_select(h->id, 0);
    return res;
}

static void
SelectHook_dealloc(PyObject *self)
{
    Py_CLEAR(((SelectHook *)self)->orig);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *
SelectHook_get_wrapped(PyObject *self, void *closure)
{
    (void)closure;
    Py_INCREF(((SelectHook *)self)->orig);
    return ((SelectHook *)self)->orig;
}

static PyGetSetDef SelectHook_getset[] = {
    {"__wrapped__", SelectHook_get_wrapped, NULL, "the wrapped select()",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject SelectHook_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stackwatch._native.SelectHook",
    .tp_basicsize = sizeof(SelectHook),
    .tp_dealloc = SelectHook_dealloc,
    .tp_call = SelectHook_call,
    .tp_getset = SelectHook_getset,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SelectHook(select, watch_id): select() marked for the "
              "watchdog.",
};

/* watchdog_tick(id, running, base): see sw_wd_tick. */
static PyObject *
tick_py(PyObject *m, PyObject *args)
{
    unsigned long long id;
    int running;
    unsigned int base;
    (void)m;

    if (!PyArg_ParseTuple(args, "KpI:watchdog_tick", &id, &running, &base)) {
        return NULL;
    }
    sw_wd_tick(id, running, base);
    Py_RETURN_NONE;
}

static PyObject *
select_hook_py(PyObject *m, PyObject *args)
{
    PyObject *orig;
    unsigned long long id;
    SelectHook *h;
    (void)m;

    if (!PyArg_ParseTuple(args, "OK:watchdog_select_hook", &orig, &id)) {
        return NULL;
    }
    if (!PyCallable_Check(orig)) {
        PyErr_SetString(PyExc_TypeError, "select must be callable");
        return NULL;
    }
    h = PyObject_New(SelectHook, &SelectHook_Type);
    if (h == NULL) {
        return NULL;
    }
    Py_INCREF(orig);
    h->orig = orig;
    h->id = id;
    return (PyObject *)h;
}

static PyMethodDef wd_methods[] = {
    {"watchdog_start", (PyCFunction)(void (*)(void))wd_start_py,
     METH_VARARGS | METH_KEYWORDS,
     "watchdog_start(report_fd, mem_max, mem_period, update, name_wait, "
     "hide, full_paths)"},
    {"watchdog_stop", wd_stop_py, METH_NOARGS, NULL},
    {"watchdog_clear", wd_clear_py, METH_NOARGS, NULL},
    {"watchdog_add", wd_add_py, METH_VARARGS,
     "watchdog_add(kind, threshold, hub, name) -> id"},
    {"watchdog_remove", wd_remove_py, METH_O, NULL},
    {"watchdog_set_threshold", wd_set_threshold_py, METH_VARARGS,
     "watchdog_set_threshold(id, seconds) -> whether the watch exists"},
    {"watchdog_tick", tick_py, METH_VARARGS,
     "watchdog_tick(id, running, base): a ticked loop watch's tick "
     "(running) or stop"},
    {"watchdog_select_hook", select_hook_py, METH_VARARGS,
     "watchdog_select_hook(select, id) -> a select() that marks the watch"},
    {"watchdog_take", wd_take_py, METH_O, NULL},
    {"watchdog_interrupt", wd_interrupt_py, METH_NOARGS, NULL},
    {"watchdog_stats", wd_stats_py, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

int
sw_wd_py_init(PyObject *m, sw_codecache_t *cache)
{
    wd_cache = cache;
    if (PyType_Ready(&SelectHook_Type) < 0) {
        return -1;
    }
    Py_INCREF(&SelectHook_Type);
    if (PyModule_AddObject(m, "SelectHook", (PyObject *)&SelectHook_Type) <
        0) {
        Py_DECREF(&SelectHook_Type);
        return -1;
    }
    if (PyModule_AddFunctions(m, wd_methods) < 0 ||
        PyModule_AddIntConstant(m, "WD_HUB", SW_WD_HUB) < 0 ||
        PyModule_AddIntConstant(m, "WD_LOOP", SW_WD_LOOP) < 0 ||
        PyModule_AddIntConstant(m, "WD_DEADLINE", SW_WD_DEADLINE) < 0 ||
        PyModule_AddIntConstant(m, "WDE_BLOCKED", SW_WDE_BLOCKED) < 0 ||
        PyModule_AddIntConstant(m, "WDE_UNBLOCKED", SW_WDE_UNBLOCKED) < 0 ||
        PyModule_AddIntConstant(m, "WDE_DEADLINE", SW_WDE_DEADLINE) < 0 ||
        PyModule_AddIntConstant(m, "WDE_DEADLINE_END", SW_WDE_DEADLINE_END) <
            0 ||
        PyModule_AddIntConstant(m, "WDE_MEM_OVER", SW_WDE_MEM_OVER) < 0 ||
        PyModule_AddIntConstant(m, "WDE_MEM_UNDER", SW_WDE_MEM_UNDER) < 0 ||
        PyModule_AddIntConstant(m, "WD_ASK_GREENLET", SW_WD_ASK_GREENLET) <
            0 ||
        PyModule_AddIntConstant(m, "WD_ASK_TASK", SW_WD_ASK_TASK) < 0) {
        return -1;
    }
    return 0;
}
