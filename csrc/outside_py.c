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
#include "codecache.h"
#include "compat/reader.h"
#include "compat/target.h"
#include "errors.h"
#include "errors_py.h"
#include "outside_py.h"
#include "snapshot.h"

#define OUTSIDE_CODES 4096 /* code objects remembered per dump */

/* Reads the target and formats its stacks; no GIL.  Returns 0 or an SW_E*
 * code (SW_ESYS with errno, others with a reason in err). */
static int
outside_capture(sw_target_t *t, int pid, int json, int locals, sw_buf_t *out,
                char *err, size_t errlen)
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
        sw_snapshot_format_ex(&snap, out, locals ? SW_FMT_LOCALS : 0);
    }
    sw_snapshot_free(&snap);
    return sw_buf_ok(out) ? 0 : SW_ENOMEM;
}

/* outside_dump(pid, json=False, locals=False) -> {"text", "python",
 * "binary", "version_from"}: every thread's stack of process pid, read
 * from outside, full file names (this process's sys.path says nothing
 * about the target's); with locals, each frame's locals read natively
 * (simple types; set_redact_patterns() first). */
static PyObject *
outside_dump_py(PyObject *m, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"pid", "json", "locals", NULL};
    static const char *const from[] = {"", "_Py_DebugOffsets", "Py_Version",
                                       "file name"};
    sw_target_t *t;
    sw_buf_t out;
    char err[256] = "";
    PyObject *res = NULL;
    int pid, json = 0, locals = 0, rc, saved;
    (void)m;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "i|pp:outside_dump", kwlist,
                                     &pid, &json, &locals)) {
        return NULL;
    }
    t = PyMem_RawMalloc(sizeof(*t));
    if (t == NULL) {
        return PyErr_NoMemory();
    }
    sw_buf_init(&out);
    Py_BEGIN_ALLOW_THREADS
        rc = outside_capture(t, pid, json, locals, &out, err, sizeof(err));
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

static PyMethodDef methods[] = {
    {"outside_dump", (PyCFunction)(void (*)(void))outside_dump_py,
     METH_VARARGS | METH_KEYWORDS,
     "outside_dump(pid, json=False, locals=False) -> dict: the stacks of a "
     "process that "
     "did not enable stackwatch, read with process_vm_readv"},
    {NULL, NULL, 0, NULL},
};

int
sw_outside_py_init(PyObject *m)
{
    return PyModule_AddFunctions(m, methods);
}
