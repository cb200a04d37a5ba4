/* stackwatch._native: the module object.  This file only assembles it:
 * each concern's Python functions live in their own *_py.c file with one
 * init function (sampler_py: the Session type and sampler_*; dump_py:
 * dump_*, set_thread_names, sigqueue; greenlet_py: greenlet_*;
 * service_py: service_*; watchdog_py: watchdog_*; memprof_py: mem_*
 * and the allocator hooks; stackfmt_py:
 * format_frame; testing_py: the _test_* hooks).  What stays here: module
 * init, the fork hooks, info() about what init chose, the choice of the
 * safe-read method and the import-time self-test.
 *
 * Process-wide state (one sampler, one dump thread, one signal handler,
 * one code cache) is global by nature, so the module refuses to load in
 * a subinterpreter: PyInit raises ImportError unless it runs in the main
 * interpreter.  It is a single-phase module with m_size 0, so that the
 * import system calls PyInit again in every interpreter that imports it
 * (with m_size -1 a subinterpreter would silently get a copy of the main
 * interpreter's module dict); a second import in the main interpreter
 * gets the same module object back, so there is one module per process.
 *
 * The module's strong references (the session being sampled, the root
 * code objects: sampler_py.c) are visited by its m_traverse.  The module
 * object itself is kept alive by a static strong reference (as the
 * m_size -1 module's copied dict did before): the sampler thread may be
 * writing into the session it holds, so it must never be torn down while
 * the process runs.
 *
 * At import the module checks that it can read this interpreter: the
 * layout table (compat/layout.c, with _Py_DebugOffsets on 3.13+), a safe
 * read method, and a self-test that reads the importing thread's own stack
 * without the Python API and compares it with what the API says.
 *
 * Functions named *_py are called from Python with the GIL held; they
 * turn C error codes into exceptions with sw_py_raise() (errors_py.h) and
 * never leave one set on success. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "codecache.h"
#include "compat/layout.h"
#include "compat/reader.h"
#include "dump.h"
#include "dump_py.h"
#include "ondemand.h"
#include "errors.h"
#include "errors_py.h"
#include "greenlet.h"
#include "greenlet_py.h"
#include "memgot.h"
#include "memprof_py.h"
#include "memtrack.h"
#include "http.h"
#include "http_py.h"
#include "http_routes.h"
#include "outside_py.h"
#include "sampler.h"
#include "sampler_py.h"
#include "service.h"
#include "runner_py.h"
#include "service_py.h"
#include "snapshot.h"
#include "memview_py.h"
#include "stackfmt_py.h"
#include "termwait_py.h"
#include "testing_py.h"
#include "tracer_py.h"
#include "watchdog.h"
#include "watchdog_py.h"

#define CODE_CACHE_ENTRIES 65536

static sw_codecache_t *cache;

/* Strong: the one module object of the process (see above). */
static PyObject *the_module;

/* ---- fork, diagnostics -------------------------------------------------- */

static PyObject *
after_fork_child_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    PyThreadState *ts = PyThreadState_Get();

    sw_greenlet_after_fork_child();
    sw_wd_after_fork_child((uintptr_t)ts, PyThreadState_GetID(ts));
    sw_sampler_py_after_fork_child();
    sw_memprof_py_after_fork_child();
    sw_tracer_py_after_fork_child();
    Py_RETURN_NONE;
}

/* info(): what the reader runs on (the layout and read method PyInit
 * chose) and the code cache's counters. */
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
    sw_http_atfork_child();
    sw_http_routes_atfork_child();
    sw_ondemand_atfork_child();
    sw_dump_atfork_child();
    sw_service_atfork_child();
    sw_names_atfork_child();
    sw_wd_atfork_child();
    sw_mem_atfork_child();
    sw_memgot_atfork_child();
}

static PyMethodDef module_methods[] = {
    {"after_fork_child", after_fork_child_py, METH_NOARGS, NULL},
    {"info", info_py, METH_NOARGS, "What the reader runs on."},
    {NULL, NULL, 0, NULL},
};

/* The garbage collector's view of the module: the strong references the
 * *_py files keep outside the module dict. */
static int
module_traverse(PyObject *m, visitproc visit, void *arg)
{
    (void)m;
    return sw_sampler_py_traverse(visit, arg);
}

static int
module_clear(PyObject *m)
{
    (void)m;
    sw_sampler_py_clear();
    return 0;
}

static void
module_free(void *m)
{
    module_clear((PyObject *)m);
}

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "stackwatch._native",
    .m_doc = "stackwatch's engine: GIL-free stack reading, sampling, dumps.",
    .m_size = 0,
    .m_methods = module_methods,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
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

    if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
        PyErr_SetString(PyExc_ImportError,
                        "stackwatch._native cannot be loaded in a "
                        "subinterpreter: its sampler, dump thread, signal "
                        "handler and code cache are process-wide; import "
                        "stackwatch in the main interpreter");
        return NULL;
    }
    if (the_module != NULL) {
        /* Imported again (after `del sys.modules[...]`): one module per
         * process. */
        Py_INCREF(the_module);
        return the_module;
    }
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
            return sw_py_raise(SW_ENOMEM, NULL);
        }
    }
    sw_ondemand_use_cache(cache);
    m = PyModule_Create(&module_def);
    if (m == NULL) {
        return NULL;
    }
    if (sw_service_py_init(m) < 0 || sw_sampler_py_init(m, cache) < 0 ||
        sw_dump_py_init(m, cache) < 0 || sw_greenlet_py_init(m) < 0 ||
        sw_wd_py_init(m, cache) < 0 || sw_stackfmt_py_init(m) < 0 ||
        sw_testing_py_init(m, cache) < 0 || sw_memprof_py_init(m) < 0 ||
        sw_memview_py_init(m) < 0 || sw_runner_py_init(m) < 0 ||
        sw_termwait_py_init(m) < 0 || sw_http_py_init(m, cache) < 0 ||
        sw_tracer_py_init(m) < 0 || sw_outside_py_init(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (!forks_hooked) {
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        forks_hooked = 1;
    }
    Py_INCREF(m);
    the_module = m;
    return m;
}
