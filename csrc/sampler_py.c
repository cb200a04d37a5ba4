/* The sampler's Python edge: the Session type (a profile the sampler
 * fills) and the sampler_* functions (sampler.h).
 *
 * Called with the GIL held.  Errors from the C side go through
 * sw_py_raise() (errors_py.h); argument checks that only Python can make
 * raise ValueError/TypeError directly.
 *
 * Strong references kept here: the session being filled (the sampler
 * thread writes into it without the GIL, so it must stay alive until
 * sampler_stop() returned) and the root code objects (the sampler
 * compares their addresses).  The module's traverse visits both
 * (sw_sampler_py_traverse). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "errors_py.h"
#include "memtrack.h"
#include "sampler.h"
#include "sampler_py.h"
#include "stacks.h"
#include "tasks.h"
#include "writers/writer.h"

static sw_codecache_t *sampler_cache;

/* Strong: the session the sampler fills, while it runs. */
static PyObject *sampling_session;

/* Strong: the code objects where stacks are cut, kept alive while they
 * are roots (a tuple, or NULL). */
static PyObject *root_codes;

/* ---- Session ---------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    sw_session_t *s;
} SessionObject;

static PyTypeObject Session_Type;

static PyObject *
Session_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_frames",       "max_stacks", "max_samples",
                             "max_string_bytes", "lines",      NULL};
    sw_limits_t lim = {0, 0, 0, 0};
    int lines = SW_LINES_CURRENT;
    SessionObject *self;

    if (!PyArg_ParseTupleAndKeywords(
            args, kwds, "|IIIIi", kwlist, &lim.max_frames, &lim.max_nodes,
            &lim.max_samples, &lim.max_string_bytes, &lines)) {
        return NULL;
    }
    if (lines < SW_LINES_CURRENT || lines > SW_LINES_NONE) {
        PyErr_SetString(PyExc_ValueError, "bad lines");
        return NULL;
    }
    self = (SessionObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->s = sw_session_new(&lim);
    if (self->s == NULL) {
        Py_DECREF(self);
        return sw_py_raise(SW_ENOMEM, NULL);
    }
    self->s->lines = lines;
    return (PyObject *)self;
}

sw_session_t *
sw_sampler_py_session(PyObject *obj)
{
    if (!PyObject_TypeCheck(obj, &Session_Type)) {
        PyErr_SetString(PyExc_TypeError, "expected a Session");
        return NULL;
    }
    return ((SessionObject *)obj)->s;
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
    d = Py_BuildValue("{sKsKsKsKsKsKsKsKsKsdsdsdsdsIsIsIsIsI}", "passes",
                      (unsigned long long)s->passes, "samples",
                      (unsigned long long)s->samples_taken, "dropped",
                      (unsigned long long)s->samples_dropped, "reused",
                      (unsigned long long)s->reused, "read_errors",
                      (unsigned long long)s->read_errors, "bad_frames",
                      (unsigned long long)s->bad_frames, "bad_threads",
                      (unsigned long long)s->bad_threads, "missed",
                      (unsigned long long)s->ticks_missed, "rereads",
                      (unsigned long long)s->rereads, "sampler_cpu_seconds",
                      s->sampler_cpu_ns / 1e9, "duration_seconds",
                      end > s->start_ns ? (end - s->start_ns) / 1e9 : 0.0,
                      "sampling_seconds", sampled / 1e9, "start_time",
                      s->start_unix, "threads", s->nthreads - 1, "frames",
                      s->nframes - 1, "stacks", s->nnodes - 1, "sample_keys",
                      s->nsamples - 1, "string_bytes", s->strings_used);
    if (d != NULL) {
        PyObject *lost = PyLong_FromUnsignedLongLong(s->labels_dropped);
        PyObject *error = s->error ? PyUnicode_FromString(s->error_msg)
                                   : (Py_INCREF(Py_None), Py_None);

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
                             : (Py_INCREF(Py_None), Py_None);
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
    unsigned long ident = 0;
    long tid = 0;
    int rc, named = 1;

    if (!PyArg_ParseTuple(args, "Is|kl:name_thread", &slot, &name, &ident,
                          &tid)) {
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    if (PyTuple_GET_SIZE(args) > 2 && slot < s->nthreads &&
        (s->threads[slot].ident != ident || s->threads[slot].tid != tid)) {
        /* The name was found for ids the sampler has corrected since (a
         * thread state that carried its creator's ids): not this one's. */
        rc = 0;
        named = 0;
    }
    else {
        rc = sw_session_name_thread(s, slot, name);
    }
    pthread_mutex_unlock(&s->mu);
    /* SW_EFULL: the name was dropped and counted in labels_dropped, which
     * stats() shows; not an error of the caller's. */
    if (rc < 0 && rc != SW_EFULL) {
        char msg[64];

        snprintf(msg, sizeof(msg), "no thread slot %u", slot);
        return sw_py_raise(rc, msg);
    }
    return PyBool_FromLong(named);
}

static PyObject *
Session_label_greenlet(PyObject *op, PyObject *args)
{
    sw_session_t *s = ((SessionObject *)op)->s;
    unsigned int id;
    const char *label, *group = NULL;
    int rc;

    if (!PyArg_ParseTuple(args, "Is|z:label_greenlet", &id, &label, &group)) {
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    rc = sw_session_label_greenlet(s, id, label);
    if ((rc == 0 || rc == SW_EFULL) && group != NULL) {
        int rc2 = sw_session_group_greenlet(s, id, group);

        rc = rc2 < 0 ? rc2 : rc;
    }
    pthread_mutex_unlock(&s->mu);
    /* SW_EFULL: dropped and counted, as in name_thread. */
    if (rc < 0 && rc != SW_EFULL) {
        char msg[64];

        snprintf(msg, sizeof(msg), "bad greenlet id %u", id);
        return sw_py_raise(rc, rc == SW_EINVAL ? msg : NULL);
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
    static char *kwlist[] = {"format",   "by_thread",  "by_greenlet",
                             "weight",   "title",      "subtitle",
                             "exporter", "full_paths", NULL};
    sw_session_t *s = ((SessionObject *)op)->s;
    sw_write_opts_t o = {0};
    const char *format;
    sw_writer_fn fn;
    sw_buf_t out;
    PyObject *res;
    int rc;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|piizzzp:write", kwlist,
                                     &format, &o.by_thread, &o.by_greenlet,
                                     &o.weight, &o.title, &o.subtitle,
                                     &o.exporter, &o.full_paths)) {
        return NULL;
    }
    fn = sw_writer_for(format);
    if (fn == NULL) {
        PyErr_Format(PyExc_ValueError,
                     "unknown format %R (choose from speedscope, collapsed, "
                     "svg, pprof)",
                     PyTuple_GET_ITEM(args, 0));
        return NULL;
    }
    if (o.by_greenlet < SW_GREENLETS_NONE ||
        o.by_greenlet > SW_GREENLETS_EACH) {
        PyErr_SetString(PyExc_ValueError, "bad by_greenlet");
        return NULL;
    }
    if (o.weight < SW_WEIGHT_SAMPLES || o.weight > SW_WEIGHT_CPU) {
        PyErr_SetString(PyExc_ValueError, "bad weight");
        return NULL;
    }
    sw_buf_init(&out);
    pthread_mutex_lock(&s->mu);
    rc = sw_write_profile(fn, s, &o, &out);
    pthread_mutex_unlock(&s->mu);
    if (rc < 0) {
        sw_buf_free(&out);
        return sw_py_raise(SW_ENOMEM, NULL);
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
        PyObject *row =
            Py_BuildValue("(ssii)", sw_session_str(s, f->name),
                          sw_session_str(s, f->file), f->line, (int)f->first);

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
        sw_py_raise(SW_ENOMEM, NULL);
    }
    return res;
}

#define ADDED_MAX_DEPTH 4096

/* add_stack(): one aggregated stack read back from elsewhere (a forked
 * child's profile), added to this session as `count` samples.  The
 * thread slot is keyed by thread_key (the caller keeps keys unique per
 * process and thread); frames are (name, file, line[, first line]), root
 * first. */
static PyObject *
Session_add_stack(PyObject *op, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"thread_key",  "ident",    "tid",
                             "thread_name", "greenlet", "greenlet_label",
                             "frames",      "count",    "wall_ns",
                             "cpu_ns",      "gil",      NULL};
    sw_session_t *s = ((SessionObject *)op)->s;
    unsigned long long key, count, wall_ns, cpu_ns, gil;
    unsigned long ident;
    long tid;
    const char *tname, *glabel;
    unsigned int greenlet;
    PyObject *frames, *seq = NULL;
    uint32_t *ids = NULL, slot, node;
    Py_ssize_t n, i;
    int created, rc = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "KklzIzOKKKK:add_stack",
                                     kwlist, &key, &ident, &tid, &tname,
                                     &greenlet, &glabel, &frames, &count,
                                     &wall_ns, &cpu_ns, &gil)) {
        return NULL;
    }
    if (greenlet > SW_MAX_GREENLET_ID) {
        PyErr_Format(PyExc_ValueError, "bad greenlet id %u", greenlet);
        return NULL;
    }
    seq = PySequence_Fast(frames, "frames must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    n = PySequence_Fast_GET_SIZE(seq);
    if (n == 0 || n > ADDED_MAX_DEPTH || count == 0) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError,
                        "a stack needs 1 to 4096 frames and a count");
        return NULL;
    }
    ids = PyMem_Malloc((size_t)n * sizeof(*ids));
    if (ids == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    pthread_mutex_lock(&s->mu);
    for (i = 0; i < n && rc == 0; i++) {
        const char *name, *file;
        int line, first = 0;

        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i),
                              "ssi|i:a frame", &name, &file, &line, &first)) {
            rc = -1;
            break;
        }
        /* Leaf first, as sw_session_stack() wants. */
        ids[n - 1 - i] = sw_session_frame_named(s, name, file, line, first);
        if (ids[n - 1 - i] == 0) {
            rc = SW_EFULL;
        }
    }
    if (rc == 0) {
        node = sw_session_stack(s, ids, (int)n);
        slot = sw_session_thread(s, key, ident, tid, 0, &created);
        if (node == 0) {
            rc = SW_EFULL;
        }
        else if (slot != 0 && created && tname != NULL) {
            (void)sw_session_name_thread(s, slot, tname);
        }
        if (rc == 0 && greenlet != 0 && glabel != NULL &&
            sw_session_greenlet_label(s, greenlet) == NULL) {
            (void)sw_session_label_greenlet(s, greenlet, glabel);
        }
        if (rc == 0) {
            /* (Counts what the full sample table refuses itself.) */
            (void)sw_session_add_n(s, slot, greenlet, node, count, wall_ns,
                                   cpu_ns, gil);
        }
    }
    if (rc == SW_EFULL) {
        /* The frame or stack tables are full: the samples are counted as
         * dropped, as the sampler counts its own. */
        s->samples_dropped += count;
    }
    pthread_mutex_unlock(&s->mu);
    PyMem_Free(ids);
    Py_DECREF(seq);
    if (rc == -1) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef Session_methods[] = {
    {"stats", Session_stats, METH_NOARGS,
     "Counters of the session (samples, dropped, read errors, ...)."},
    {"threads", Session_threads, METH_NOARGS,
     "[(slot, ident, tid, name or None, samples)] of the threads seen."},
    {"name_thread", Session_name_thread, METH_VARARGS,
     "name_thread(slot, name[, ident, tid]): set the label of a thread "
     "slot; with ident and tid, only while the slot still has those ids "
     "(returns whether it was named)."},
    {"label_greenlet", Session_label_greenlet, METH_VARARGS,
     "label_greenlet(id, label, group=None): set the label of a greenlet "
     "id, and its group label (greenlets with the same group label are "
     "one group in write(by_greenlet=1))."},
    {"greenlet_ids", Session_greenlet_ids, METH_NOARGS,
     "The set of greenlet ids that appear in samples."},
    {"greenlet_labels", Session_greenlet_labels, METH_NOARGS,
     "{greenlet id: label} of the greenlets labelled so far."},
    {"greenlet_roots", Session_greenlet_roots, METH_NOARGS,
     "{greenlet id: name of its most sampled outermost frame}."},
    {"write", (PyCFunction)(void (*)(void))Session_write,
     METH_VARARGS | METH_KEYWORDS,
     "write(format, by_thread=False, by_greenlet=0, weight=0, "
     "title=None, subtitle=None, exporter=None) -> bytes"},
    {"add_stack", (PyCFunction)(void (*)(void))Session_add_stack,
     METH_VARARGS | METH_KEYWORDS,
     "add_stack(thread_key, ident, tid, thread_name, greenlet, "
     "greenlet_label, frames, count, wall_ns, cpu_ns, gil): add count "
     "samples of one stack (frames: (name, file, line[, first line]), root "
     "first)."},
    {"export", Session_export, METH_NOARGS,
     "(frames, samples): frames [(name, file, line, first line or 0)], "
     "samples [(thread "
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
    rc = sw_sampler_start(((SessionObject *)session)->s, sampler_cache, &cfg,
                          err, sizeof(err));
    if (rc < 0) {
        return sw_py_raise(rc, err);
    }
    Py_INCREF(session);
    Py_XSETREF(sampling_session, session);
    Py_RETURN_NONE;
}

static PyObject *
sampler_stop_py(PyObject *m, PyObject *noargs)
{
    char err[256];
    int rc;
    (void)m;
    (void)noargs;
    Py_BEGIN_ALLOW_THREADS
        rc = sw_sampler_stop(err, sizeof(err));
    Py_END_ALLOW_THREADS
    Py_CLEAR(sampling_session);
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
    int on = PyObject_IsTrue(arg), rc;
    (void)m;

    if (on < 0) {
        return NULL;
    }
    if (on) {
        sw_mem_exclude_this_thread(); /* ours for good: not the program's */
    }
    rc = sw_sampler_exclude(PyThreadState_GetID(ts), on);
    if (rc < 0 && on) {
        return sw_py_raise(rc, "too many excluded threads"); /* SW_EFULL */
    }
    Py_RETURN_NONE;
}

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

/* ---- asyncio tasks (--tasks): see tasks.h ------------------------------ */

static PyObject *tasks_refs; /* (current_tasks dict, Task type, links),
                               kept alive */

/* Fills *L from links, the tuple _tasks.probe_links() makes (the types
 * and code object it names are kept alive by tasks_refs).  Returns 0, or
 * -1 with an exception set. */
static int
tasks_links(PyObject *links, sw_tasks_links_t *L)
{
    PyObject *wakeup, *func, *code, *tuple, *cell, *gather;
    Py_ssize_t off[8], outer;
    int i;

    if (!PyArg_ParseTuple(links, "nO!nO!OnnO!nnO!nO!nn:links", &off[0],
                          &PyType_Type, &wakeup, &off[1], &PyType_Type, &func,
                          &code, &off[2], &off[3], &PyType_Type, &tuple,
                          &off[4], &outer, &PyType_Type, &cell, &off[5],
                          &PyType_Type, &gather, &off[6], &off[7])) {
        return -1;
    }
    for (i = 0; i < 8; i++) {
        /* (off[7], the awaited-by field, may be 0: none.) */
        if (off[i] < (i == 7 ? 0 : 8) || off[i] > 4096 || off[i] % 8 != 0) {
            PyErr_SetString(PyExc_ValueError, "link offsets out of range");
            return -1;
        }
    }
    if (!PyCode_Check(code) || outer < 0 || outer > 64) {
        PyErr_SetString(PyExc_ValueError, "bad gather callback");
        return -1;
    }
    L->on = 1;
    L->off_cb0 = (size_t)off[0];
    L->wakeup_type = (uintptr_t)wakeup;
    L->off_wakeup_task = (size_t)off[1];
    L->func_type = (uintptr_t)func;
    L->done_code = (uintptr_t)code;
    L->off_func_code = (size_t)off[2];
    L->off_func_closure = (size_t)off[3];
    L->tuple_type = (uintptr_t)tuple;
    L->off_tuple_items = (size_t)off[4];
    L->outer_index = (size_t)outer;
    L->cell_type = (uintptr_t)cell;
    L->off_cell_ref = (size_t)off[5];
    L->gather_type = (uintptr_t)gather;
    L->off_coro_code = (size_t)off[6];
    L->off_awaited_by = (size_t)off[7];
    return 0;
}

static PyObject *
tasks_enable_py(PyObject *m, PyObject *args)
{
    PyObject *dict, *type, *links = Py_None;
    Py_ssize_t off_coro, off_name, off_waiter;
    int all, each = 0;
    sw_tasks_cfg_t cfg;
    (void)m;

    if (!PyArg_ParseTuple(args, "OO!nnnp|pO:tasks_enable", &dict, &PyType_Type,
                          &type, &off_coro, &off_name, &off_waiter, &all,
                          &each, &links)) {
        return NULL;
    }
    memset(&cfg, 0, sizeof(cfg));
    if (links != Py_None && tasks_links(links, &cfg.links) < 0) {
        return NULL;
    }
    if (dict != Py_None && !PyDict_Check(dict)) {
        PyErr_SetString(PyExc_TypeError,
                        "current_tasks must be a dict or None");
        return NULL;
    }
    if (dict == Py_None && sw_layout.ts_running_task == 0) {
        PyErr_SetString(PyExc_ValueError,
                        "this CPython keeps no running task in its thread "
                        "states: current_tasks is needed");
        return NULL;
    }
    if (off_coro <= 0 || off_name <= 0 || off_waiter <= 0 ||
        off_coro > ((PyTypeObject *)type)->tp_basicsize - 8 ||
        off_name > ((PyTypeObject *)type)->tp_basicsize - 8 ||
        off_waiter > ((PyTypeObject *)type)->tp_basicsize - 8) {
        PyErr_SetString(PyExc_ValueError, "task field offsets out of range");
        return NULL;
    }
    if (sw_sampler_running()) {
        PyErr_SetString(PyExc_RuntimeError, "the sampler is running");
        return NULL;
    }
    Py_XSETREF(tasks_refs, PyTuple_Pack(3, dict, type, links));
    if (tasks_refs == NULL) {
        return NULL;
    }
    cfg.current_tasks = dict == Py_None ? 0 : (uintptr_t)dict;
    cfg.from_tstate = dict == Py_None;
    cfg.task_type = (uintptr_t)type;
    cfg.off_coro = (size_t)off_coro;
    cfg.off_name = (size_t)off_name;
    cfg.off_waiter = (size_t)off_waiter;
    cfg.all = all;
    cfg.each = each;
    sw_tasks_enable(&cfg);
    Py_RETURN_NONE;
}

/* The word the sampler reads as the calling thread's running asyncio task
 * (sw_layout.ts_running_task), read through the safe read; None when this
 * CPython keeps no running task in its thread states.  For the check at
 * enable: inside a running task, it must be that task's address. */
static PyObject *
tasks_running_here_py(PyObject *m, PyObject *noargs)
{
    sw_vm_t vm;
    uintptr_t word = 0;
    int rc;
    (void)m;
    (void)noargs;

    if (sw_layout.ts_running_task == 0) {
        Py_RETURN_NONE;
    }
    if (sw_vm_open(&vm) < 0) {
        sw_vm_close(&vm);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    rc = sw_vm_read_ptr(
        &vm, (uintptr_t)PyThreadState_Get() + sw_layout.ts_running_task,
        &word);
    sw_vm_close(&vm);
    if (rc < 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the thread state's running task is unreadable");
        return NULL;
    }
    return PyLong_FromUnsignedLongLong((unsigned long long)word);
}

static PyObject *
tasks_disable_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    sw_tasks_disable();
    Py_CLEAR(tasks_refs);
    Py_RETURN_NONE;
}

static PyObject *
tasks_missed_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    return PyBool_FromLong(sw_tasks_take_missed());
}

static char *
dup_utf8(PyObject *str)
{
    const char *u = PyUnicode_Check(str) ? PyUnicode_AsUTF8(str) : NULL;
    char *c;

    if (u == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "expected str");
        }
        return NULL;
    }
    c = strdup(u);
    if (c == NULL) {
        PyErr_NoMemory();
    }
    return c;
}

/* One (task, coro, parent, ident, label, frames) tuple into e. */
static int
task_entry(PyObject *item, sw_task_entry_t *e)
{
    unsigned long long task, coro, parent;
    unsigned long ident;
    PyObject *label, *frames;
    Py_ssize_t i, n;

    if (!PyArg_ParseTuple(item, "KKKkUO!:tasks_install", &task, &coro, &parent,
                          &ident, &label, &PyList_Type, &frames)) {
        return -1;
    }
    e->task = (uintptr_t)task;
    e->coro = (uintptr_t)coro;
    e->parent = (uintptr_t)parent;
    e->ident = ident;
    if ((e->label = dup_utf8(label)) == NULL) {
        return -1;
    }
    n = PyList_GET_SIZE(frames);
    if (n == 0) {
        return 0;
    }
    e->frames = calloc((size_t)n, sizeof(*e->frames));
    if (e->frames == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < n; i++) {
        PyObject *name, *file;
        int line, first = 0;

        if (!PyArg_ParseTuple(PyList_GET_ITEM(frames, i), "UUi|i", &name,
                              &file, &line, &first)) {
            return -1;
        }
        e->nframes = (int)i + 1;
        if ((e->frames[i].name = dup_utf8(name)) == NULL ||
            (e->frames[i].file = dup_utf8(file)) == NULL) {
            return -1;
        }
        e->frames[i].line = line;
        e->frames[i].first = first;
    }
    return 0;
}

static PyObject *
tasks_install_py(PyObject *m, PyObject *arg)
{
    sw_task_entry_t *e;
    Py_ssize_t n, i;
    (void)m;

    if (!PyList_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "expected a list");
        return NULL;
    }
    n = PyList_GET_SIZE(arg);
    e = calloc((size_t)(n > 0 ? n : 1), sizeof(*e));
    if (e == NULL) {
        return PyErr_NoMemory();
    }
    for (i = 0; i < n; i++) {
        if (task_entry(PyList_GET_ITEM(arg, i), &e[i]) < 0) {
            sw_tasks_free(e, (int)n);
            return NULL;
        }
    }
    if (sw_tasks_install(e, (int)n) < 0) {
        return PyErr_NoMemory(); /* e is freed */
    }
    Py_RETURN_NONE;
}

static PyMethodDef sampler_methods[] = {
    {"sampler_start", (PyCFunction)(void (*)(void))sampler_start_py,
     METH_VARARGS | METH_KEYWORDS,
     "sampler_start(session, rate=100.0, mode=0, budget=0.0, duration=0.0)"},
    {"sampler_stop", sampler_stop_py, METH_NOARGS, "Stop the sampler."},
    {"sampler_running", sampler_running_py, METH_NOARGS, NULL},
    {"sampler_effective_rate", sampler_rate_py, METH_NOARGS, NULL},
    {"sampler_set_roots", sampler_set_roots_py, METH_O,
     "sampler_set_roots(codes): cut sampled stacks at these code objects."},
    {"tasks_enable", tasks_enable_py, METH_VARARGS,
     "tasks_enable(current_tasks, task_type, off_coro, off_name, "
     "off_waiter, all, each=False, links=None)"},
    {"tasks_disable", tasks_disable_py, METH_NOARGS, NULL},
    {"tasks_running_here", tasks_running_here_py, METH_NOARGS,
     "tasks_running_here() -> the calling thread state's running-task word, "
     "or None"},
    {"tasks_missed", tasks_missed_py, METH_NOARGS,
     "True if a running task the table lacks was sampled since last asked."},
    {"tasks_install", tasks_install_py, METH_O,
     "tasks_install([(task, coro, parent, ident, label, "
     "[(name, file, line[, first line])])])"},
    {"sampler_exclude_current", sampler_exclude_current_py, METH_O,
     "sampler_exclude_current(on): the sampler skips the calling thread "
     "(and, from on for good, the memory profiler its allocations)."},
    {NULL, NULL, 0, NULL},
};

int
sw_sampler_py_init(PyObject *m, sw_codecache_t *cache)
{
    sampler_cache = cache;
    sw_sampler_use_cache(cache);
    if (PyType_Ready(&Session_Type) < 0) {
        return -1;
    }
    Py_INCREF(&Session_Type);
    if (PyModule_AddObject(m, "Session", (PyObject *)&Session_Type) < 0) {
        Py_DECREF(&Session_Type);
        return -1;
    }
    return PyModule_AddFunctions(m, sampler_methods);
}

void
sw_sampler_py_after_fork_child(void)
{
    Py_CLEAR(sampling_session);
}

int
sw_sampler_py_traverse(visitproc visit, void *arg)
{
    Py_VISIT(sampling_session);
    Py_VISIT(root_codes);
    return 0;
}

void
sw_sampler_py_clear(void)
{
    /* The session stays while the sampler thread may write into it. */
    if (!sw_sampler_running()) {
        Py_CLEAR(sampling_session);
    }
    sw_sampler_set_roots(NULL, 0);
    Py_CLEAR(root_codes);
}
