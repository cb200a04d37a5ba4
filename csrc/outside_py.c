/* The outside reader's Python functions: stacks of another process that
 * did not enable stackwatch, read through process_vm_readv on its pid
 * (compat/target.c finds its interpreter and layout; compat/reader.c
 * reads it, as it reads this process).  The target is never stopped.
 *
 * Called with the GIL held; the reading itself runs without it.  Errors
 * go through sw_py_raise(): OSError with the errno of the refusal (EPERM,
 * EACCES, ESRCH) or ValueError with a one-line reason. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "buf.h"
#include "clock.h"
#include "codecache.h"
#include "compat/reader.h"
#include "compat/target.h"
#include "errors.h"
#include "errors_py.h"
#include "outside.h"
#include "outside_py.h"
#include "sampler_py.h"
#include "snapshot.h"

#define OUTSIDE_CODES 4096 /* code objects remembered per dump */

/* A target on 3.9/3.10 has no kernel ids in its thread states: learn
 * where glibc keeps them (sw_tid_offset_probe_for), once, with the GIL. */
static void
learn_tids(void)
{
    static const sw_layout_t no_native_ids;

    sw_tid_offset_probe_for(&no_native_ids);
}

/* Reads the target and formats its stacks; no GIL.  Returns 0 or an SW_E*
 * code (SW_ESYS with errno, others with a reason in err). */
static int
outside_capture(sw_target_t *t, int pid, int json, int locals, int full_paths,
                sw_buf_t *out, char *err, size_t errlen)
{
    sw_codecache_t *cache = NULL;
    sw_snapshot_t snap;
    sw_reader_t r;
    int rc, saved;

    memset(&snap, 0, sizeof(snap));
    rc = sw_target_open(t, pid, err, errlen);
    if (rc < 0) {
        return rc;
    }
    rc = sw_reader_open_for(&r, &t->layout, pid);
    if (rc < 0) {
        return rc;
    }
    cache = sw_codecache_new(OUTSIDE_CODES);
    if (cache == NULL) {
        sw_reader_close(&r);
        return SW_ENOMEM;
    }
    errno = 0;
    rc = sw_snapshot_capture_ex(&snap, &r, cache, 0,
                                locals ? SW_SNAP_LOCALS : 0);
    saved = errno;
    sw_reader_close(&r);
    sw_codecache_free(cache);
    if (rc < 0) {
        sw_snapshot_free(&snap);
        if (rc == SW_EFINALIZING) {
            snprintf(err, errlen, "its interpreter is shutting down");
            return SW_EINVAL;
        }
        if (rc == SW_EFAULT) {
            if (saved == EPERM || saved == ESRCH) {
                errno = saved;
                return SW_ESYS;
            }
            snprintf(err, errlen, "its thread list could not be read");
            return SW_EINVAL;
        }
        return rc;
    }
    if (json) {
        sw_snapshot_format_json(&snap, out);
    }
    else {
        sw_snapshot_format_ex(&snap, out,
                              (locals ? SW_FMT_LOCALS : 0) |
                                  (full_paths ? 0 : SW_FMT_SHORT));
    }
    sw_snapshot_free(&snap);
    return sw_buf_ok(out) ? 0 : SW_ENOMEM;
}

/* outside_dump(pid, json=False, locals=False, full_paths=True) -> {"text",
 * "python", "binary", "version_from"}: every thread's stack of process
 * pid, read from outside; full file names unless full_paths is false
 * (text only: then without the prefixes the caller set, say its sys.path
 * with the target's script directory first); with locals, each frame's locals read natively
 * (simple types; set_redact_patterns() first). */
static PyObject *
outside_dump_py(PyObject *m, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"pid", "json", "locals", "full_paths", NULL};
    static const char *const from[] = {"", "_Py_DebugOffsets", "Py_Version",
                                       "file name"};
    sw_target_t *t;
    sw_buf_t out;
    char err[256] = "";
    PyObject *res = NULL;
    int pid, json = 0, locals = 0, full_paths = 1, rc, saved;
    (void)m;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "i|ppp:outside_dump", kwlist,
                                     &pid, &json, &locals, &full_paths)) {
        return NULL;
    }
    t = PyMem_RawMalloc(sizeof(*t));
    if (t == NULL) {
        return PyErr_NoMemory();
    }
    sw_buf_init(&out);
    learn_tids();
    Py_BEGIN_ALLOW_THREADS
        rc = outside_capture(t, pid, json, locals, full_paths, &out, err,
                             sizeof(err));
        saved = errno;
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        errno = saved;
        res = sw_py_raise(rc, err);
    }
    else {
        res = Py_BuildValue(
            "{s:s#,s:s,s:s,s:s}", "text", out.data ? out.data : "",
            (Py_ssize_t)out.len, "python", t->version, "binary", t->binary,
            "version_from",
            from[t->version_from >= 1 && t->version_from <= 3 ? t->version_from
                                                              : 0]);
    }
    sw_buf_free(&out);
    PyMem_RawFree(t);
    return res;
}

/* outside_record(pid, session, seconds, rate, mode) -> dict: samples
 * process pid from outside into session (a new Session) for `seconds`
 * (0: until interrupted) at `rate` Hz in mode (0 wall, 1 cpu, 2 gil),
 * without the GIL, in slices of at most 100 ms between which signals are
 * looked at: on Ctrl-C the run ends, what was sampled stays in the
 * session, and {"interrupted": True} is returned (no exception).  Returns
 * {"python", "binary", "exited", "interrupted"}; raises as outside_dump
 * when the process cannot be read. */
static PyObject *
outside_record_py(PyObject *m, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"pid",  "session", "seconds",
                             "rate", "mode",    NULL};
    sw_outside_rec_t *rec;
    sw_session_t *s;
    PyObject *session, *res = NULL;
    double seconds, rate;
    uint64_t end;
    char err[256] = "";
    int pid, mode, rc, saved = 0, interrupted = 0;
    (void)m;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iOddi:outside_record",
                                     kwlist, &pid, &session, &seconds, &rate,
                                     &mode)) {
        return NULL;
    }
    s = sw_sampler_py_session(session);
    if (s == NULL) {
        return NULL;
    }
    if (!(rate >= 1 && rate <= 1000) || !(seconds >= 0 && seconds <= 1e7) ||
        mode < SW_OUTSIDE_WALL || mode > SW_OUTSIDE_GIL) {
        PyErr_SetString(PyExc_ValueError, "bad rate, seconds or mode");
        return NULL;
    }
    rec = PyMem_RawMalloc(sizeof(*rec));
    if (rec == NULL) {
        return PyErr_NoMemory();
    }
    learn_tids();
    Py_BEGIN_ALLOW_THREADS
        rc = sw_outside_rec_open(rec, s, pid, rate, mode, err, sizeof(err));
        saved = errno;
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyMem_RawFree(rec);
        errno = saved;
        return sw_py_raise(rc, err);
    }
    end = seconds > 0 ? sw_now_ns() + (uint64_t)(seconds * 1e9) : UINT64_MAX;
    while (!rec->gone) {
        uint64_t now = sw_now_ns(), slice;

        if (now >= end) {
            break;
        }
        slice = end - now < 100000000u ? end : now + 100000000u;
        Py_BEGIN_ALLOW_THREADS
            sw_outside_rec_run(rec, slice);
        Py_END_ALLOW_THREADS
        if (PyErr_CheckSignals() < 0) {
            if (!PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
                sw_outside_rec_close(rec);
                PyMem_RawFree(rec);
                return NULL;
            }
            PyErr_Clear();
            interrupted = 1;
            break;
        }
    }
    sw_outside_rec_close(rec);
    res = Py_BuildValue("{s:s,s:s,s:O,s:O}", "python", rec->target.version,
                        "binary", rec->target.binary, "exited",
                        rec->gone ? Py_True : Py_False, "interrupted",
                        interrupted ? Py_True : Py_False);
    PyMem_RawFree(rec);
    return res;
}

static PyMethodDef methods[] = {
    {"outside_record", (PyCFunction)(void (*)(void))outside_record_py,
     METH_VARARGS | METH_KEYWORDS,
     "outside_record(pid, session, seconds, rate, mode) -> dict: a profile "
     "of a process that did not enable stackwatch, read from outside"},
    {"outside_dump", (PyCFunction)(void (*)(void))outside_dump_py,
     METH_VARARGS | METH_KEYWORDS,
     "outside_dump(pid, json=False, locals=False, full_paths=True) -> dict: "
     "the stacks of a "
     "process that "
     "did not enable stackwatch, read with process_vm_readv"},
    {NULL, NULL, 0, NULL},
};

int
sw_outside_py_init(PyObject *m)
{
    return PyModule_AddFunctions(m, methods);
}
