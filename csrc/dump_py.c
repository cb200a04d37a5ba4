/* The dumps' Python edge (dump.h, snapshot.h): a dump of every thread
 * taken now, dumps on signal, the slow-script log, the thread names the
 * native dumps and reports print, and sigqueue() for the requesting side.
 *
 * Called with the GIL held.  Errors from the C side go through
 * sw_py_raise() (errors_py.h).  No strong references are kept here. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "buf.h"
#include "compat/reader.h"
#include "dump.h"
#include "dump_py.h"
#include "errors.h"
#include "errors_py.h"
#include "ondemand.h"
#include "snapshot.h"

static sw_codecache_t *dump_cache;

static PyObject *
set_thread_names_py(PyObject *m, PyObject *arg)
{
    PyObject *seq = PySequence_Fast(arg, "expected [(ident, tid, name)]");
    Py_ssize_t n, i;
    unsigned long *idents = NULL;
    long *tids = NULL;
    const char **names = NULL;
    PyObject *res = NULL;
    (void)m;

    if (seq == NULL) {
        return NULL;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    idents = PyMem_Calloc((size_t)n + 1, sizeof(*idents));
    tids = PyMem_Calloc((size_t)n + 1, sizeof(*tids));
    names = PyMem_Calloc((size_t)n + 1, sizeof(*names));
    if (idents == NULL || tids == NULL || names == NULL) {
        sw_py_raise(SW_ENOMEM, NULL);
        goto done;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);

        if (!PyArg_ParseTuple(item, "kls", &idents[i], &tids[i], &names[i])) {
            goto done;
        }
    }
    sw_names_set(idents, tids, names, (int)n);
    res = Py_None;
    Py_INCREF(res);
done:
    PyMem_Free(idents);
    PyMem_Free(tids);
    PyMem_Free(names);
    Py_DECREF(seq);
    return res;
}

/* Captures every thread's stack natively, from the calling thread. */
static PyObject *
dump_text_py(PyObject *m, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"json", "full_paths", NULL};
    int json = 0, full_paths = 0;
    sw_snapshot_t snap;
    sw_reader_t r;
    sw_buf_t out;
    PyObject *res;
    int rc;
    (void)m;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|pp:dump_text", kwlist,
                                     &json, &full_paths)) {
        return NULL;
    }
    if (sw_reader_open(&r) < 0) {
        return sw_py_raise(SW_ENOMEM, NULL);
    }
    rc = sw_snapshot_capture(&snap, &r, dump_cache, 0);
    sw_reader_close(&r);
    if (rc < 0 && !snap.error) {
        sw_snapshot_free(&snap);
        return sw_py_raise(SW_ENOMEM, NULL);
    }
    sw_buf_init(&out);
    if (json) {
        sw_snapshot_format_json(&snap, &out);
    }
    else {
        sw_snapshot_format_ex(&snap, &out, full_paths ? 0 : SW_FMT_SHORT);
    }
    sw_snapshot_free(&snap);
    if (!sw_buf_ok(&out)) {
        sw_buf_free(&out);
        return sw_py_raise(SW_ENOMEM, NULL);
    }
    res = PyUnicode_DecodeUTF8(out.data ? out.data : "", (Py_ssize_t)out.len,
                               "replace");
    sw_buf_free(&out);
    return res;
}

static PyObject *
dump_enable_py(PyObject *m, PyObject *args)
{
    int signum;
    const char *dir;
    double gil_wait;
    char err[256] = "";
    int rc;
    (void)m;

    if (!PyArg_ParseTuple(args, "isd:dump_enable", &signum, &dir, &gil_wait)) {
        return NULL;
    }
    rc = sw_dump_enable(signum, dir, (uint64_t)(gil_wait * 1e9), dump_cache,
                        err, sizeof(err));
    if (rc < 0) {
        return sw_py_raise(rc, err);
    }
    Py_RETURN_NONE;
}

static PyObject *
dump_disable_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    Py_BEGIN_ALLOW_THREADS
        sw_dump_disable();
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* dump_log_start(fd, interval_s, gil_wait_s, flags, max_bytes=0,
 *                path=None) */
static PyObject *
dump_log_start_py(PyObject *m, PyObject *args)
{
    int fd, rc;
    double interval, gil_wait;
    unsigned int flags;
    unsigned long long max_bytes = 0;
    const char *path = NULL;
    char err[256] = "";
    PyThreadState *save;
    (void)m;

    if (!PyArg_ParseTuple(args, "iddI|Kz:dump_log_start", &fd, &interval,
                          &gil_wait, &flags, &max_bytes, &path)) {
        return NULL;
    }
    if (!(interval >= 0.001 && interval <= 1e6) ||
        !(gil_wait >= 0 && gil_wait <= 60)) {
        return sw_py_raise(SW_EINVAL, "interval or GIL wait out of range");
    }
    save = PyEval_SaveThread();
    rc = sw_dump_log_start(fd, (uint64_t)(interval * 1e9),
                           (uint64_t)(gil_wait * 1e9), flags, path,
                           (uint64_t)max_bytes, dump_cache, err, sizeof(err));
    PyEval_RestoreThread(save);
    if (rc < 0) {
        return sw_py_raise(rc, err);
    }
    Py_RETURN_NONE;
}

/* dump_log_stop() -> (snapshots written, failed writes) */
static PyObject *
dump_log_stop_py(PyObject *m, PyObject *noargs)
{
    uint64_t count = 0, errors = 0;
    PyThreadState *save;
    (void)m;
    (void)noargs;

    save = PyEval_SaveThread();
    sw_dump_log_stop(&count, &errors);
    PyEval_RestoreThread(save);
    return Py_BuildValue("(KK)", (unsigned long long)count,
                         (unsigned long long)errors);
}

static PyObject *
dump_gil_holder_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    return PyLong_FromUnsignedLong(sw_dump_gil_holder());
}

static PyObject *
dump_signal_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    return PyLong_FromLong(sw_dump_signal());
}

static PyObject *
sigqueue_py(PyObject *m, PyObject *args)
{
    int pid, sig, value;
    union sigval v;
    (void)m;

    if (!PyArg_ParseTuple(args, "iii:sigqueue", &pid, &sig, &value)) {
        return NULL;
    }
    v.sival_int = value;
    if (sigqueue(pid, sig, v) < 0) {
        return sw_py_raise(SW_ESYS, strerror(errno));
    }
    Py_RETURN_NONE;
}

/* dump_ondemand_greenlets(): [(greenlet id, outermost function or "")] of
 * the running on-demand profile (the GIL side labels them). */
static PyObject *
dump_ondemand_greenlets_py(PyObject *m, PyObject *noargs)
{
    PyObject *list, *text;
    sw_buf_t b;
    int rc;
    (void)m;
    (void)noargs;

    sw_buf_init(&b);
    /* The session's lock may be held a while by its encoder: wait for it
     * without the GIL. */
    Py_BEGIN_ALLOW_THREADS
        ;
        rc = sw_ondemand_greenlet_ids(&b);
    Py_END_ALLOW_THREADS;
    if (rc < 0) {
        sw_buf_free(&b);
        return sw_py_raise(SW_ENOMEM, NULL);
    }
    list = PyList_New(0);
    text = PyUnicode_DecodeUTF8(b.data ? b.data : "", (Py_ssize_t)b.len,
                                "replace");
    sw_buf_free(&b);
    if (list != NULL && text != NULL) {
        PyObject *lines = PyUnicode_Splitlines(text, 0);
        Py_ssize_t i;

        for (i = 0; lines != NULL && i < PyList_GET_SIZE(lines); i++) {
            /* "gid\tname": split on the tab only. */
            PyObject *tab = PyUnicode_FromString("\t");
            PyObject *parts =
                tab ? PyUnicode_Split(PyList_GET_ITEM(lines, i), tab, 1)
                    : NULL;
            PyObject *gid = NULL, *item = NULL;

            if (parts != NULL && PyList_GET_SIZE(parts) == 2) {
                gid = PyLong_FromUnicodeObject(PyList_GET_ITEM(parts, 0), 10);
                item = gid ? PyTuple_Pack(2, gid, PyList_GET_ITEM(parts, 1))
                           : NULL;
            }
            if (parts == NULL ||
                (PyList_GET_SIZE(parts) == 2 &&
                 (item == NULL || PyList_Append(list, item) < 0))) {
                Py_CLEAR(list);
            }
            Py_XDECREF(tab);
            Py_XDECREF(parts);
            Py_XDECREF(gid);
            Py_XDECREF(item);
            if (list == NULL) {
                break;
            }
        }
        if (lines == NULL) {
            Py_CLEAR(list);
        }
        Py_XDECREF(lines);
    }
    else {
        Py_CLEAR(list);
    }
    Py_XDECREF(text);
    return list;
}

static PyMethodDef dump_methods[] = {
    {"dump_ondemand_greenlets", dump_ondemand_greenlets_py, METH_NOARGS, NULL},
    {"set_thread_names", set_thread_names_py, METH_O,
     "set_thread_names([(ident, tid, name)]): names for native dumps."},
    {"dump_text", (PyCFunction)(void (*)(void))dump_text_py,
     METH_VARARGS | METH_KEYWORDS,
     "Every thread's stack, read natively, as text (or JSON)."},
    {"dump_enable", dump_enable_py, METH_VARARGS,
     "dump_enable(signum, directory, gil_wait_seconds)"},
    {"dump_disable", dump_disable_py, METH_NOARGS, NULL},
    {"dump_signal", dump_signal_py, METH_NOARGS, NULL},
    {"dump_log_start", dump_log_start_py, METH_VARARGS,
     "dump_log_start(fd, interval_seconds, gil_wait_seconds, flags, "
     "max_bytes=0, path=None)"},
    {"dump_log_stop", dump_log_stop_py, METH_NOARGS, NULL},
    {"dump_gil_holder", dump_gil_holder_py, METH_NOARGS, NULL},
    {"sigqueue", sigqueue_py, METH_VARARGS, "sigqueue(pid, signal, value)"},
    {NULL, NULL, 0, NULL},
};

int
sw_dump_py_init(PyObject *m, sw_codecache_t *cache)
{
    dump_cache = cache;
    if (PyModule_AddFunctions(m, dump_methods) < 0 ||
        PyModule_AddIntConstant(m, "DUMP_JSON", SW_DUMP_JSON) < 0 ||
        PyModule_AddIntConstant(m, "DUMP_LOCALS", SW_DUMP_LOCALS) < 0 ||
        PyModule_AddIntConstant(m, "DUMP_SOURCE", SW_DUMP_SOURCE) < 0 ||
        PyModule_AddIntConstant(m, "DUMP_FULL_PATHS", SW_DUMP_FULL_PATHS) <
            0 ||
        PyModule_AddIntConstant(m, "DUMP_NONCE_MASK", SW_DUMP_NONCE_MASK) <
            0 ||
        PyModule_AddIntConstant(m, "DUMP_PROFILE", SW_DUMP_PROFILE) < 0) {
        return -1;
    }
    return 0;
}
