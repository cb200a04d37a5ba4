/* stackwatch._native: the module object and every function Python calls.
 *
 * Process-wide state (one sampler, one dump thread, one signal handler,
 * one code cache) is global by nature, so this is a single-phase module
 * that refuses to load in a subinterpreter.  Functions named *_py are
 * called from Python with the GIL held; they turn C error codes into
 * exceptions and never leave one set on success.
 *
 * At import the module checks that it can read this interpreter: the
 * layout table (compat/layout.c, with _Py_DebugOffsets on 3.13+), a safe
 * read method, and a self-test that reads the importing thread's own stack
 * without the Python API and compares it with what the API says. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "codecache.h"
#include "compat/layout.h"
#include "compat/reader.h"
#include "dump.h"
#include "errors_py.h"
#include "greenlet.h"
#include "sampler.h"
#include "service.h"
#include "snapshot.h"
#include "stackfmt_py.h"
#include "stacks.h"
#include "watchdog.h"
#include "watchdog_py.h"
#include "writers/writer.h"

#define CODE_CACHE_ENTRIES 65536

static sw_codecache_t *cache;

/* newref() is 3.10+. */
static inline PyObject *
newref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}
static PyObject *sampling_session; /* strong ref while the sampler runs */

/* ---- Session ---------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    sw_session_t *s;
} SessionObject;

static PyTypeObject Session_Type;

static PyObject *
Session_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_frames", "max_stacks", "max_samples",
                             "max_string_bytes", NULL};
    sw_limits_t lim = {0, 0, 0, 0};
    SessionObject *self;

    if (!PyArg_ParseTupleAndKeywords(
            args, kwds, "|IIII", kwlist, &lim.max_frames, &lim.max_nodes,
            &lim.max_samples, &lim.max_string_bytes)) {
        return NULL;
    }
    self = (SessionObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->s = sw_session_new(&lim);
    if (self->s == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void
Session_dealloc(PyObject *op)
{
    SessionObject *self = (SessionObject *)op;

    sw_session_free(self->s);
    Py_TYPE(op)->tp_free(op);
}

static PyObject *
Session_stats(PyObject *op, PyObject *noargs)
{
    sw_session_t *s = ((SessionObject *)op)->s;
    uint64_t end, now, sampled;
    PyObject *d;
    (void)noargs;

    pthread_mutex_lock(&s->mu);
    now = sw_now_ns();
    end = s->stop_ns ? s->stop_ns : (s->start_ns ? now : 0);
    sampled = s->sampled_ns + (s->run_ns ? now - s->run_ns : 0);
    d = Py_BuildValue("{sKsKsKsKsKsKsKsdsdsdsdsIsIsIsIsI}", "passes",
                      (unsigned long long)s->passes, "samples",
                      (unsigned long long)s->samples_taken, "dropped",
                      (unsigned long long)s->samples_dropped, "reused",
                      (unsigned long long)s->reused, "read_errors",
                      (unsigned long long)s->read_errors, "bad_frames",
                      (unsigned long long)s->bad_frames, "bad_threads",
                      (unsigned long long)s->bad_threads,
                      "sampler_cpu_seconds", s->sampler_cpu_ns / 1e9,
                      "duration_seconds",
                      end > s->start_ns ? (end - s->start_ns) / 1e9 : 0.0,
                      "sampling_seconds", sampled / 1e9, "start_time",
                      s->start_unix, "threads", s->nthreads - 1, "frames",
                      s->nframes - 1, "stacks", s->nnodes - 1, "sample_keys",
                      s->nsamples - 1, "string_bytes", s->strings_used);
    if (d != NULL) {
        PyObject *lost = PyLong_FromUnsignedLongLong(s->labels_dropped);
        PyObject *error =
            s->error ? PyUnicode_FromString(s->error_msg) : newref(Py_None);

        if (lost == NULL || error == NULL ||
            PyDict_SetItemString(d, "labels_dropped", lost) < 0 ||
            PyDict_SetItemString(d, "error", error) < 0) {
            Py_CLEAR(d);
        }
        Py_XDECREF(lost);
        Py_XDECREF(error);
    }
    pthread_mutex_unlock(&s->mu);
    return d;
}

static PyObject *
Session_threads(PyObject *op, PyObject *noargs)
{
    sw_session_t *s = ((SessionObject *)op)->s;
    PyObject *list = PyList_New(0);
    uint32_t i;
    (void)noargs;

    if (list == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    for (i = 1; i < s->nthreads; i++) {
        const sw_sthread_t *t = &s->threads[i];
        PyObject *name = t->name
                             ? PyUnicode_FromString(sw_session_str(s, t->name))
                             : newref(Py_None);
        PyObject *row =
            name ? Py_BuildValue("(IklNK)", i, t->ident, t->tid, name,
                                 (unsigned long long)t->samples)
                 : NULL;

        if (row == NULL || PyList_Append(list, row) < 0) {
            Py_XDECREF(row);
            pthread_mutex_unlock(&s->mu);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(row);
    }
    pthread_mutex_unlock(&s->mu);
    return list;
}

static PyObject *
Session_name_thread(PyObject *op, PyObject *args)
{
    sw_session_t *s = ((SessionObject *)op)->s;
    unsigned int slot;
    const char *name;
    int rc;

    if (!PyArg_ParseTuple(args, "Is:name_thread", &slot, &name)) {
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    rc = sw_session_name_thread(s, slot, name);
    pthread_mutex_unlock(&s->mu);
    if (rc == SW_EINVAL) {
        PyErr_Format(PyExc_ValueError, "no thread slot %u", slot);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Session_label_greenlet(PyObject *op, PyObject *args)
{
    sw_session_t *s = ((SessionObject *)op)->s;
    unsigned int id;
    const char *label;
    int rc;

    if (!PyArg_ParseTuple(args, "Is:label_greenlet", &id, &label)) {
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    rc = sw_session_label_greenlet(s, id, label);
    pthread_mutex_unlock(&s->mu);
    if (rc == SW_EINVAL) {
        PyErr_Format(PyExc_ValueError, "bad greenlet id %u", id);
        return NULL;
    }
    if (rc == SW_ENOMEM) {
        return PyErr_NoMemory();
    }
    Py_RETURN_NONE;
}

static PyObject *
Session_greenlet_ids(PyObject *op, PyObject *noargs)
{
    sw_session_t *s = ((SessionObject *)op)->s;
    PyObject *set = PySet_New(NULL);
    uint32_t i;
    (void)noargs;

    if (set == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    for (i = 1; i < s->nsamples; i++) {
        PyObject *id = PyLong_FromUnsignedLong(s->samples[i].greenlet);

        if (id == NULL || PySet_Add(set, id) < 0) {
            Py_XDECREF(id);
            pthread_mutex_unlock(&s->mu);
            Py_DECREF(set);
            return NULL;
        }
        Py_DECREF(id);
    }
    pthread_mutex_unlock(&s->mu);
    return set;
}

static PyObject *
Session_greenlet_labels(PyObject *op, PyObject *noargs)
{
    sw_session_t *s = ((SessionObject *)op)->s;
    PyObject *d = PyDict_New();
    uint32_t id;
    (void)noargs;

    if (d == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    for (id = 1; id < s->greenlet_labels_cap; id++) {
        const char *label = sw_session_greenlet_label(s, id);
        PyObject *k, *v;
        int rc;

        if (label == NULL) {
            continue;
        }
        k = PyLong_FromUnsignedLong(id);
        v = PyUnicode_FromString(label);
        rc = (k && v) ? PyDict_SetItem(d, k, v) : -1;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (rc < 0) {
            pthread_mutex_unlock(&s->mu);
            Py_DECREF(d);
            return NULL;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return d;
}

/* {greenlet id: name of the outermost frame with the most samples}: a
 * greenlet's outermost frame is the function it runs (greenlet forgets
 * its `run` attribute once started, and dead greenlets cannot be asked). */
static PyObject *
Session_greenlet_roots(PyObject *op, PyObject *noargs)
{
    sw_session_t *s = ((SessionObject *)op)->s;
    PyObject *best = PyDict_New(), *counts = PyDict_New(), *res = NULL;
    uint32_t i;
    (void)noargs;

    if (best == NULL || counts == NULL) {
        goto done;
    }
    pthread_mutex_lock(&s->mu);
    for (i = 1; i < s->nsamples; i++) {
        const sw_ssample_t *e = &s->samples[i];
        uint32_t node = e->node;
        PyObject *key, *old, *now;
        unsigned long long n;

        if (e->greenlet == 0 || node == 0) {
            continue;
        }
        node = sw_stack_root(s, node);
        key = Py_BuildValue("(II)", e->greenlet, s->nodes[node].frame);
        old = key ? PyDict_GetItemWithError(counts, key) : NULL;
        n = (old ? PyLong_AsUnsignedLongLong(old) : 0) + e->count;
        now = PyLong_FromUnsignedLongLong(n);
        if (key == NULL || now == NULL || PyErr_Occurred() ||
            PyDict_SetItem(counts, key, now) < 0) {
            Py_XDECREF(key);
            Py_XDECREF(now);
            pthread_mutex_unlock(&s->mu);
            goto done;
        }
        Py_DECREF(key);
        Py_DECREF(now);
    }
    {
        Py_ssize_t pos = 0;
        PyObject *key, *val;
        PyObject *top = PyDict_New(); /* gid -> best count */

        while (top != NULL && PyDict_Next(counts, &pos, &key, &val)) {
            PyObject *gid = PyTuple_GET_ITEM(key, 0);
            PyObject *cur = PyDict_GetItemWithError(top, gid);
            unsigned long frame =
                PyLong_AsUnsignedLong(PyTuple_GET_ITEM(key, 1));

            if (cur == NULL || PyObject_RichCompareBool(val, cur, Py_GT) > 0) {
                PyObject *name = PyUnicode_FromString(
                    sw_session_str(s, s->frames[frame].name));

                if (name == NULL || PyDict_SetItem(top, gid, val) < 0 ||
                    PyDict_SetItem(best, gid, name) < 0) {
                    Py_XDECREF(name);
                    Py_CLEAR(top);
                    break;
                }
                Py_DECREF(name);
            }
        }
        pthread_mutex_unlock(&s->mu);
        if (top == NULL) {
            goto done;
        }
        Py_DECREF(top);
    }
    res = best;
    best = NULL;
done:
    Py_XDECREF(best);
    Py_XDECREF(counts);
    return res;
}

static PyObject *
Session_write(PyObject *op, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"format", "by_thread", "by_greenlet", "weight",
                             "title",  "subtitle",  "exporter",    NULL};
    sw_session_t *s = ((SessionObject *)op)->s;
    sw_write_opts_t o = {0, 0, 0, NULL, NULL, NULL};
    const char *format;
    sw_writer_fn fn;
    sw_buf_t out;
    PyObject *res;
    int rc;

    if (!PyArg_ParseTupleAndKeywords(
            args, kwds, "s|ppizzz:write", kwlist, &format, &o.by_thread,
            &o.by_greenlet, &o.weight, &o.title, &o.subtitle, &o.exporter)) {
        return NULL;
    }
    fn = sw_writer_for(format);
    if (fn == NULL) {
        PyErr_Format(PyExc_ValueError,
                     "unknown format %R (choose from speedscope, collapsed, "
                     "svg)",
                     PyTuple_GET_ITEM(args, 0));
        return NULL;
    }
    if (o.weight < SW_WEIGHT_SAMPLES || o.weight > SW_WEIGHT_CPU) {
        PyErr_SetString(PyExc_ValueError, "bad weight");
        return NULL;
    }
    sw_buf_init(&out);
    pthread_mutex_lock(&s->mu);
    rc = fn(s, &o, &out);
    pthread_mutex_unlock(&s->mu);
    if (rc < 0) {
        sw_buf_free(&out);
        return PyErr_NoMemory();
    }
    res = PyBytes_FromStringAndSize(out.data ? out.data : "",
                                    (Py_ssize_t)out.len);
    sw_buf_free(&out);
    return res;
}

/* Appends the frames of every sample to Python lists (for tests, the
 * summary printed by the CLI and API users). */
static PyObject *
Session_export(PyObject *op, PyObject *noargs)
{
    sw_session_t *s = ((SessionObject *)op)->s;
    PyObject *frames = NULL, *samples = NULL, *res = NULL;
    uint32_t *path = NULL, i;
    (void)noargs;

    pthread_mutex_lock(&s->mu);
    frames = PyList_New(0);
    samples = PyList_New(0);
    path = malloc(((size_t)s->nnodes + 1) * sizeof(*path));
    if (frames == NULL || samples == NULL || path == NULL) {
        goto done;
    }
    for (i = 1; i < s->nframes; i++) {
        const sw_sframe_t *f = &s->frames[i];
        PyObject *row = Py_BuildValue("(ssi)", sw_session_str(s, f->name),
                                      sw_session_str(s, f->file), f->line);

        if (row == NULL || PyList_Append(frames, row) < 0) {
            Py_XDECREF(row);
            goto done;
        }
        Py_DECREF(row);
    }
    for (i = 1; i < s->nsamples; i++) {
        const sw_ssample_t *e = &s->samples[i];
        int n = sw_stack_frames(s, e->node, path, (int)s->nnodes), k;
        PyObject *stack = PyTuple_New(n), *row;

        if (stack == NULL) {
            goto done;
        }
        for (k = 0; k < n; k++) {
            PyTuple_SET_ITEM(stack, k, PyLong_FromUnsignedLong(path[k] - 1));
        }
        row = Py_BuildValue("(IINKKKI)", e->thread, e->greenlet, stack,
                            (unsigned long long)e->count,
                            (unsigned long long)e->wall_ns,
                            (unsigned long long)e->cpu_ns, e->gil);
        if (row == NULL || PyList_Append(samples, row) < 0) {
            Py_XDECREF(row);
            goto done;
        }
        Py_DECREF(row);
    }
    res = PyTuple_Pack(2, frames, samples);
done:
    pthread_mutex_unlock(&s->mu);
    free(path);
    Py_XDECREF(frames);
    Py_XDECREF(samples);
    if (res == NULL && !PyErr_Occurred()) {
        PyErr_NoMemory();
    }
    return res;
}

static PyMethodDef Session_methods[] = {
    {"stats", Session_stats, METH_NOARGS,
     "Counters of the session (samples, dropped, read errors, ...)."},
    {"threads", Session_threads, METH_NOARGS,
     "[(slot, ident, tid, name or None, samples)] of the threads seen."},
    {"name_thread", Session_name_thread, METH_VARARGS,
     "name_thread(slot, name): set the label of a thread slot."},
    {"label_greenlet", Session_label_greenlet, METH_VARARGS,
     "label_greenlet(id, label): set the label of a greenlet id."},
    {"greenlet_ids", Session_greenlet_ids, METH_NOARGS,
     "The set of greenlet ids that appear in samples."},
    {"greenlet_labels", Session_greenlet_labels, METH_NOARGS,
     "{greenlet id: label} of the greenlets labelled so far."},
    {"greenlet_roots", Session_greenlet_roots, METH_NOARGS,
     "{greenlet id: name of its most sampled outermost frame}."},
    {"write", (PyCFunction)(void (*)(void))Session_write,
     METH_VARARGS | METH_KEYWORDS,
     "write(format, by_thread=False, by_greenlet=False, weight=0, "
     "title=None, subtitle=None, exporter=None) -> bytes"},
    {"export", Session_export, METH_NOARGS,
     "(frames, samples): frames [(name, file, line)], samples [(thread "
     "slot, greenlet id, stack of frame indexes root first, count, "
     "wall_ns, cpu_ns, gil_count)]."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Session_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stackwatch._native.Session",
    .tp_basicsize = sizeof(SessionObject),
    .tp_dealloc = Session_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A profile: interned frames, stacks and aggregated samples.",
    .tp_methods = Session_methods,
    .tp_new = Session_new,
};

/* ---- sampler ------------------------------------------------------------ */

static PyObject *
sampler_start_py(PyObject *m, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"session", "rate",     "mode",
                             "budget",  "duration", NULL};
    sw_sampler_cfg_t cfg = {100.0, SW_MODE_WALL, 0.0, 0};
    double duration = 0.0;
    PyObject *session;
    char err[256];
    int rc;
    (void)m;

    if (!PyArg_ParseTupleAndKeywords(
            args, kwds, "O!|didd:sampler_start", kwlist, &Session_Type,
            &session, &cfg.rate_hz, &cfg.mode, &cfg.budget, &duration)) {
        return NULL;
    }
    if (cfg.mode < SW_MODE_WALL || cfg.mode > SW_MODE_GIL) {
        PyErr_SetString(PyExc_ValueError, "mode must be 0 (wall), 1 (cpu) "
                                          "or 2 (gil)");
        return NULL;
    }
    if (cfg.budget < 0 || cfg.budget > 1) {
        PyErr_SetString(PyExc_ValueError, "budget must be between 0 and 1");
        return NULL;
    }
    cfg.duration_ns = duration > 0 ? (int64_t)(duration * 1e9) : 0;
    rc = sw_sampler_start(((SessionObject *)session)->s, cache, &cfg, err,
                          sizeof(err));
    if (rc < 0) {
        return sw_py_raise(rc, err);
    }
    Py_XSETREF(sampling_session, newref(session));
    Py_RETURN_NONE;
}

static PyObject *
sampler_stop_py(PyObject *m, PyObject *noargs)
{
    char err[256];
    int rc;
    (void)m;
    (void)noargs;
    Py_BEGIN_ALLOW_THREADS rc = sw_sampler_stop(err, sizeof(err));
    Py_END_ALLOW_THREADS Py_CLEAR(sampling_session);
    if (rc < 0) {
        return sw_py_raise(rc, err); /* the sampler thread's sticky error */
    }
    Py_RETURN_NONE;
}

static PyObject *
sampler_running_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    return PyBool_FromLong(sw_sampler_running());
}

static PyObject *
sampler_exclude_current_py(PyObject *m, PyObject *arg)
{
    PyThreadState *ts = PyThreadState_Get();
    int on = PyObject_IsTrue(arg);
    (void)m;

    if (on < 0) {
        return NULL;
    }
    if (sw_sampler_exclude(PyThreadState_GetID(ts), on) < 0 && on) {
        PyErr_SetString(PyExc_RuntimeError, "too many excluded threads");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The code objects are kept alive here while they are roots. */
static PyObject *root_codes;

static PyObject *
sampler_set_roots_py(PyObject *m, PyObject *arg)
{
    PyObject *tuple = PySequence_Tuple(arg);
    uintptr_t codes[4];
    Py_ssize_t n, i;
    (void)m;

    if (tuple == NULL) {
        return NULL;
    }
    n = PyTuple_GET_SIZE(tuple);
    if (n > 4) {
        Py_DECREF(tuple);
        PyErr_SetString(PyExc_ValueError, "at most 4 root code objects");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (!PyCode_Check(PyTuple_GET_ITEM(tuple, i))) {
            Py_DECREF(tuple);
            PyErr_SetString(PyExc_TypeError, "expected code objects");
            return NULL;
        }
        codes[i] = (uintptr_t)PyTuple_GET_ITEM(tuple, i);
    }
    sw_sampler_set_roots(codes, (int)n);
    Py_XSETREF(root_codes, tuple);
    Py_RETURN_NONE;
}

static PyObject *
sampler_rate_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    return PyFloat_FromDouble(sw_sampler_effective_rate());
}

/* ---- greenlets ---------------------------------------------------------- */

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
greenlet_table_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    return sw_greenlet_table();
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

/* ---- thread names, snapshots ------------------------------------------ */

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
        PyErr_NoMemory();
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
    static char *kwlist[] = {"json", NULL};
    int json = 0;
    sw_snapshot_t snap;
    sw_reader_t r;
    sw_buf_t out;
    PyObject *res;
    int rc;
    (void)m;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|p:dump_text", kwlist,
                                     &json)) {
        return NULL;
    }
    if (sw_reader_open(&r) < 0) {
        return PyErr_NoMemory();
    }
    rc = sw_snapshot_capture(&snap, &r, cache, 0);
    sw_reader_close(&r);
    if (rc < 0 && !snap.error) {
        sw_snapshot_free(&snap);
        return PyErr_NoMemory();
    }
    sw_buf_init(&out);
    if (json) {
        sw_snapshot_format_json(&snap, &out);
    }
    else {
        sw_snapshot_format(&snap, &out);
    }
    sw_snapshot_free(&snap);
    if (!sw_buf_ok(&out)) {
        sw_buf_free(&out);
        return PyErr_NoMemory();
    }
    res = PyUnicode_DecodeUTF8(out.data ? out.data : "", (Py_ssize_t)out.len,
                               "replace");
    sw_buf_free(&out);
    return res;
}

/* ---- dumps on signal ---------------------------------------------------- */

static PyObject *
dump_enable_py(PyObject *m, PyObject *args)
{
    int signum;
    const char *dir;
    double gil_wait;
    char err[256];
    (void)m;

    if (!PyArg_ParseTuple(args, "isd:dump_enable", &signum, &dir, &gil_wait)) {
        return NULL;
    }
    if (sw_dump_enable(signum, dir, (uint64_t)(gil_wait * 1e9), cache, err,
                       sizeof(err)) < 0) {
        PyErr_SetString(PyExc_RuntimeError, err);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
dump_disable_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    Py_BEGIN_ALLOW_THREADS sw_dump_disable();
    Py_END_ALLOW_THREADS Py_RETURN_NONE;
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
    char err[256];
    PyThreadState *save;
    (void)m;

    if (!PyArg_ParseTuple(args, "iddI|Kz:dump_log_start", &fd, &interval,
                          &gil_wait, &flags, &max_bytes, &path)) {
        return NULL;
    }
    if (!(interval >= 0.001 && interval <= 1e6) ||
        !(gil_wait >= 0 && gil_wait <= 60)) {
        PyErr_SetString(PyExc_ValueError, "interval or GIL wait out of range");
        return NULL;
    }
    save = PyEval_SaveThread();
    rc = sw_dump_log_start(fd, (uint64_t)(interval * 1e9),
                           (uint64_t)(gil_wait * 1e9), flags, path,
                           (uint64_t)max_bytes, cache, err, sizeof(err));
    PyEval_RestoreThread(save);
    if (rc < 0) {
        PyErr_SetString(PyExc_RuntimeError, err);
        return NULL;
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
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* ---- the service channel ------------------------------------------------ */

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
    Py_BEGIN_ALLOW_THREADS bits =
        sw_service_take((uint64_t)(timeout * 1e9), &id, &kind, &flags);
    Py_END_ALLOW_THREADS return Py_BuildValue(
        "(IKII)", bits, (unsigned long long)id, kind, flags);
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

/* ---- fork, diagnostics -------------------------------------------------- */

static PyObject *
after_fork_child_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    PyThreadState *ts = PyThreadState_Get();

    sw_greenlet_after_fork_child();
    sw_wd_after_fork_child((uintptr_t)ts, PyThreadState_GetID(ts));
    Py_CLEAR(sampling_session);
    Py_RETURN_NONE;
}

/* _test_sampler_fail_next(): the next sampler thread fails its work
 * buffer allocation (tests of the sticky error). */
static PyObject *
test_sampler_fail_next_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    sw_sampler_fail_next();
    Py_RETURN_NONE;
}

static PyObject *
info_py(PyObject *m, PyObject *noargs)
{
    uint64_t entries, misses, replaced;
    (void)m;
    (void)noargs;

    sw_codecache_lock(cache);
    sw_codecache_stats(cache, &entries, &misses, &replaced);
    sw_codecache_unlock(cache);
    return Py_BuildValue("{sssssisisKsKsK}", "python", sw_layout.version,
                         "read_method", sw_vm_method_name(sw_vm_method()),
                         "frame_model", sw_layout.frame_model, "line_format",
                         sw_layout.line_format, "code_cache_entries",
                         (unsigned long long)entries, "code_cache_misses",
                         (unsigned long long)misses, "code_cache_replaced",
                         (unsigned long long)replaced);
}

/* The calling thread's stack as the native reader sees it:
 * [(name, file, line)], leaf first.  Tests compare it with the API. */
static PyObject *
read_own_stack_py(PyObject *m, PyObject *noargs)
{
    PyThreadState *ts = PyThreadState_Get();
    sw_snapshot_t snap;
    sw_reader_t r;
    PyObject *list = NULL;
    uint32_t k;
    (void)m;
    (void)noargs;

    if (sw_reader_open(&r) < 0) {
        return PyErr_NoMemory();
    }
    if (sw_snapshot_capture(&snap, &r, cache, PyThreadState_GetID(ts)) < 0 ||
        snap.nthreads != 1) {
        sw_reader_close(&r);
        sw_snapshot_free(&snap);
        PyErr_SetString(PyExc_RuntimeError,
                        "the calling thread could not be read");
        return NULL;
    }
    sw_reader_close(&r);
    list = PyList_New(0);
    for (k = 0; list != NULL && k < snap.threads[0].nframes; k++) {
        const sw_snap_frame_t *f = &snap.frames[snap.threads[0].first + k];
        PyObject *row = Py_BuildValue("(ssi)", sw_snap_str(&snap, f->name),
                                      sw_snap_str(&snap, f->file), f->line);

        if (row == NULL || PyList_Append(list, row) < 0) {
            Py_XDECREF(row);
            Py_CLEAR(list);
        }
        else {
            Py_DECREF(row);
        }
    }
    sw_snapshot_free(&snap);
    return list;
}

/* [line of the instruction at byte offset 0, 2, 4, ...] of a code object,
 * read and decoded natively (tests compare it with co_lines()). */
static PyObject *
code_lines_py(PyObject *m, PyObject *code)
{
    sw_reader_t r;
    sw_code_t *c;
    PyObject *list = NULL;
    int32_t addr;
    (void)m;

    if (!PyCode_Check(code)) {
        PyErr_SetString(PyExc_TypeError, "expected a code object");
        return NULL;
    }
    c = PyMem_Malloc(sizeof(*c));
    if (c == NULL || sw_reader_open(&r) < 0) {
        PyMem_Free(c);
        return PyErr_NoMemory();
    }
    if (sw_read_code(&r, (uintptr_t)code, c) < 0) {
        PyErr_SetString(PyExc_RuntimeError, "the code object did not read");
        goto done;
    }
    list = PyList_New(0);
    for (addr = 0; list != NULL && addr < c->id.code_bytes; addr += 2) {
        PyObject *v = PyLong_FromLong(
            sw_code_line(c->id.firstlineno, c->table, c->table_len, addr));

        if (v == NULL || PyList_Append(list, v) < 0) {
            Py_CLEAR(list);
        }
        Py_XDECREF(v);
    }
done:
    sw_reader_close(&r);
    PyMem_Free(c);
    return list;
}

/* Checks the layout on the importing thread: the native reader must see
 * the same innermost code object as the public API.  Returns 0, or -1
 * with a reason in err. */
static int
self_test(char *err, size_t errlen)
{
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed */
    PyThreadState *ts = PyThreadState_Get();
    sw_thread_t threads[64];
    sw_rawframe_t raw[8];
    sw_reader_t r;
    PyCodeObject *code;
    int n, i, nraw = -1, truncated, rc = 0;

    if (frame == NULL) {
        return 0; /* imported from C with no Python frame: nothing to see */
    }
    code = PyFrame_GetCode(frame);
    if (sw_reader_open(&r) < 0) {
        snprintf(err, errlen, "cannot open a reader");
        Py_DECREF(code);
        return -1;
    }
    n = sw_read_threads(&r, threads, 64);
    for (i = 0; i < n; i++) {
        if (threads[i].tstate == (uintptr_t)ts) {
            nraw = sw_read_frames(&r, &threads[i], raw, 8, &truncated);
            break;
        }
    }
    if (n <= 0 || i == n) {
        snprintf(err, errlen,
                 "the current thread is not in the thread list "
                 "read natively");
        rc = -1;
    }
    else {
        int k, found = 0;

        for (k = 0; k < nraw; k++) {
            if (raw[k].code == (uintptr_t)code) {
                found = 1;
                break;
            }
        }
        if (!found) {
            snprintf(err, errlen,
                     "the frames read natively do not match "
                     "the interpreter's");
            rc = -1;
        }
    }
    sw_reader_close(&r);
    Py_DECREF(code);
    return rc;
}

/* ---- module ------------------------------------------------------------- */

static void
atfork_prepare(void)
{
    sw_wd_atfork_prepare();
    sw_names_atfork_prepare();
    sw_service_atfork_prepare();
    sw_dump_atfork_prepare();
    sw_sampler_atfork_prepare();
}

static void
atfork_parent(void)
{
    sw_sampler_atfork_parent();
    sw_dump_atfork_parent();
    sw_service_atfork_parent();
    sw_names_atfork_parent();
    sw_wd_atfork_parent();
}

static void
atfork_child(void)
{
    sw_sampler_atfork_child();
    sw_dump_atfork_child();
    sw_service_atfork_child();
    sw_names_atfork_child();
    sw_wd_atfork_child();
}

static PyMethodDef module_methods[] = {
    {"sampler_start", (PyCFunction)(void (*)(void))sampler_start_py,
     METH_VARARGS | METH_KEYWORDS,
     "sampler_start(session, rate=100.0, mode=0, budget=0.0, duration=0.0)"},
    {"sampler_stop", sampler_stop_py, METH_NOARGS, "Stop the sampler."},
    {"sampler_running", sampler_running_py, METH_NOARGS, NULL},
    {"sampler_effective_rate", sampler_rate_py, METH_NOARGS, NULL},
    {"sampler_set_roots", sampler_set_roots_py, METH_O,
     "sampler_set_roots(codes): cut sampled stacks at these code objects."},
    {"sampler_exclude_current", sampler_exclude_current_py, METH_O,
     "sampler_exclude_current(on): the sampler skips the calling thread."},
    {"greenlet_install", greenlet_install_py, METH_NOARGS,
     "Track greenlets in the calling thread; False if greenlet is absent."},
    {"greenlet_uninstall", greenlet_uninstall_py, METH_NOARGS, NULL},
    {"greenlet_track", greenlet_track_py, METH_O,
     "greenlet_track(on): add or remove a user of greenlet tracking."},
    {"greenlet_table", greenlet_table_py, METH_NOARGS,
     "{id: (greenlet or None, type name)}"},
    {"greenlet_current", greenlet_current_py, METH_NOARGS,
     "The id of the greenlet running in the calling thread (0: unknown)."},
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
    {"service_take", service_take_py, METH_O, NULL},
    {"service_answer", service_answer_py, METH_VARARGS, NULL},
    {"service_notify", service_notify_py, METH_O, NULL},
    {"service_set_alive", service_set_alive_py, METH_O, NULL},
    {"after_fork_child", after_fork_child_py, METH_NOARGS, NULL},
    {"info", info_py, METH_NOARGS, "What the reader runs on."},
    {"_test_sampler_fail_next", test_sampler_fail_next_py, METH_NOARGS,
     "Test hook: the next sampler thread fails as if out of memory."},
    {"code_lines", code_lines_py, METH_O,
     "Lines of every instruction of a code object, decoded natively."},
    {"read_own_stack", read_own_stack_py, METH_NOARGS,
     "The calling thread's stack read natively: [(name, file, line)]."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "stackwatch._native",
    .m_doc = "stackwatch's engine: GIL-free stack reading, sampling, dumps.",
    .m_size = -1,
    .m_methods = module_methods,
};

/* Chooses the safe-read method; STACKWATCH_READ_METHOD forces one. */
static int
select_read_method(char *err, size_t errlen)
{
    const char *force = getenv("STACKWATCH_READ_METHOD");
    int want = SW_VM_NONE;

    if (force != NULL && *force) {
        if (strcmp(force, "process_vm_readv") == 0) {
            want = SW_VM_PROCESS_VM_READV;
        }
        else if (strcmp(force, "pipe") == 0) {
            want = SW_VM_PIPE;
        }
        else {
            snprintf(err, errlen,
                     "STACKWATCH_READ_METHOD must be process_vm_readv or "
                     "pipe, not %.40s",
                     force);
            return -1;
        }
    }
    if (sw_vm_select(want) < 0) {
        snprintf(err, errlen,
                 "no safe way to read memory works here "
                 "(process_vm_readv and pipe both failed)");
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC PyInit__native(void);

PyMODINIT_FUNC
PyInit__native(void)
{
    static int forks_hooked;
    char err[256];
    PyObject *m;

    if (sw_layout_init(err, sizeof(err)) < 0 ||
        select_read_method(err, sizeof(err)) < 0) {
        /* Py_GetVersion() is "3.12.1 (main, ...) [GCC ...]": the first
         * word only. */
        const char *v = Py_GetVersion();
        char msg[400];

        snprintf(msg, sizeof(msg), "stackwatch cannot run on CPython %.*s: %s",
                 (int)strcspn(v, " "), v, err);
        PyErr_SetString(PyExc_RuntimeError, msg);
        return NULL;
    }
    if (self_test(err, sizeof(err)) < 0) {
        PyErr_Format(PyExc_RuntimeError,
                     "stackwatch cannot run on CPython %s: its internal "
                     "layout is not the one this build expects (%s)",
                     sw_layout.version, err);
        return NULL;
    }
    sw_tid_offset_probe();
    if (cache == NULL) {
        cache = sw_codecache_new(CODE_CACHE_ENTRIES);
        if (cache == NULL) {
            return PyErr_NoMemory();
        }
    }
    if (sw_service_init() < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (PyType_Ready(&Session_Type) < 0) {
        return NULL;
    }
    m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    if (sw_greenlet_init(m) < 0 || sw_wd_py_init(m, cache) < 0 ||
        sw_stackfmt_py_init(m) < 0 ||
        PyModule_AddObject(m, "Session", newref((PyObject *)&Session_Type)) <
            0 ||
        PyModule_AddIntConstant(m, "SERVICE_NAMES", SW_SVC_NAMES) < 0 ||
        PyModule_AddIntConstant(m, "SERVICE_QUESTION", SW_SVC_QUESTION) < 0 ||
        PyModule_AddIntConstant(m, "SERVICE_STOP", SW_SVC_STOP) < 0 ||
        PyModule_AddIntConstant(m, "DUMP_JSON", SW_DUMP_JSON) < 0 ||
        PyModule_AddIntConstant(m, "DUMP_LOCALS", SW_DUMP_LOCALS) < 0 ||
        PyModule_AddIntConstant(m, "DUMP_SOURCE", SW_DUMP_SOURCE) < 0 ||
        PyModule_AddIntConstant(m, "DUMP_NONCE_MASK", SW_DUMP_NONCE_MASK) <
            0) {
        Py_DECREF(m);
        return NULL;
    }
    if (!forks_hooked) {
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        forks_hooked = 1;
    }
    return m;
}
