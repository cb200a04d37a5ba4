/* Functions that exist only for stackwatch's tests, named _test_* in
 * stackwatch._native: fault injection into the sampler, and the native
 * reader's view of the calling thread and of a code object, which tests
 * compare with what the interpreter's API says; the allocators installed.
 *
 * Called with the GIL held.  Errors go through sw_py_raise()
 * (errors_py.h).  No strong references are kept here. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "codecache.h"
#include "compat/layout.h"
#include "compat/reader.h"
#include "compat/target.h"
#include "errors.h"
#include "errors_py.h"
#include "ondemand.h"
#include "sampler.h"
#include "snapshot.h"
#include "testing_py.h"

static sw_codecache_t *testing_cache;

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

/* _test_read_own_stack(): the calling thread's stack as the native reader
 * sees it: [(name, file, line)], leaf first.  Tests compare it with the
 * API. */
static PyObject *
test_read_own_stack_py(PyObject *m, PyObject *noargs)
{
    PyThreadState *ts = PyThreadState_Get();
    sw_snapshot_t snap;
    sw_reader_t r;
    PyObject *list = NULL;
    uint32_t k;
    int rc;
    (void)m;
    (void)noargs;

    if (sw_reader_open(&r) < 0) {
        return sw_py_raise(SW_ENOMEM, NULL);
    }
    rc =
        sw_snapshot_capture(&snap, &r, testing_cache, PyThreadState_GetID(ts));
    if (rc < 0 || snap.nthreads != 1) {
        sw_reader_close(&r);
        sw_snapshot_free(&snap);
        /* Out of memory as such; anything else: the read failed. */
        return sw_py_raise(rc == SW_ENOMEM ? SW_ENOMEM : SW_EFAULT,
                           "the calling thread could not be read");
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

/* _test_code_lines(code): [line of the instruction at byte offset 0, 2,
 * 4, ...] of a code object, read and decoded natively (tests compare it
 * with co_lines()). */
static PyObject *
test_code_lines_py(PyObject *m, PyObject *code)
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
        return sw_py_raise(SW_ENOMEM, NULL);
    }
    if (sw_read_code(&r, (uintptr_t)code, c) < 0) {
        /* SW_EFAULT or SW_EINVAL (not a code object as read): either way
         * the reader failed on a real code object. */
        sw_py_raise(SW_EFAULT, "the code object did not read");
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

/* _test_layout_table_diff(): None if the outside reader's table for this
 * CPython (compat/layouts.c) equals the in-process one, addresses apart;
 * else the first byte offset where they differ (a field
 * tools/gen_layouts.py did not write, or a stale table). */
static PyObject *
test_layout_table_diff_py(PyObject *m, PyObject *noargs)
{
    const sw_layout_entry_t *e;
    sw_layout_t here;
    sw_debug_check_t checks[SW_DEBUG_CHECKS_MAX];
    const unsigned char *a, *b;
    unsigned minor = (sw_layout.version_hex >> 16) & 0xff;
    size_t i;
    int n;
    (void)m;
    (void)noargs;

    e = sw_layout_table_for((int)minor);
    if (e == NULL) {
        return PyLong_FromLong(-1);
    }
    memcpy(&here, &sw_layout, sizeof(here));
    if (here.gil_place == SW_GIL_RUNTIME) {
        here.gil_runtime -= here.runtime;
    }
    here.runtime = here.type_code = here.type_unicode = here.type_bytes = 0;
    here.type_frame = here.type_dict = here.type_long = here.type_float = 0;
    here.type_bool = here.type_list = here.type_tuple = here.type_set = 0;
    here.type_frozenset = here.obj_none = here.obj_true = here.obj_false = 0;
    memcpy(here.version, e->layout->version, sizeof(here.version));
    a = (const unsigned char *)&here;
    b = (const unsigned char *)e->layout;
    for (i = 0; i < sizeof(here); i++) {
        if (a[i] != b[i]) {
            return PyLong_FromSize_t(i);
        }
    }
    n = sw_layout_debug_checks(checks);
    if (n != e->nchecks) {
        return PyLong_FromLong(-2);
    }
    for (i = 0; i < (size_t)n; i++) {
        if (strcmp(checks[i].what, e->checks[i].what) != 0 ||
            checks[i].at != e->checks[i].at ||
            checks[i].minus != e->checks[i].minus ||
            checks[i].value != e->checks[i].value) {
            return PyLong_FromLong(-3);
        }
    }
    Py_RETURN_NONE;
}

/* _test_outside_memory_only(on): the outside reader finds the target's
 * symbols in its memory only, as when its files cannot be opened. */
static PyObject *
test_outside_memory_only_py(PyObject *m, PyObject *on)
{
    (void)m;
    sw_target_test_memory_only(PyObject_IsTrue(on) == 1);
    Py_RETURN_NONE;
}

/* _test_mem_allocators(): the allocator installed in the RAW, MEM and
 * OBJ domains, each as (ctx, malloc, calloc, realloc, free) addresses
 * (tests check that the memory profiler puts them back exactly). */
static PyObject *
test_mem_allocators_py(PyObject *m, PyObject *noargs)
{
    static const PyMemAllocatorDomain domains[3] = {
        PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};
    PyObject *out = PyList_New(3);
    int d;
    (void)m;
    (void)noargs;

    if (out == NULL) {
        return NULL;
    }
    for (d = 0; d < 3; d++) {
        PyMemAllocatorEx a;
        PyObject *t;

        PyMem_GetAllocator(domains[d], &a);
        t = Py_BuildValue("(KKKKK)", (unsigned long long)(uintptr_t)a.ctx,
                          (unsigned long long)(uintptr_t)a.malloc,
                          (unsigned long long)(uintptr_t)a.calloc,
                          (unsigned long long)(uintptr_t)a.realloc,
                          (unsigned long long)(uintptr_t)a.free);
        if (t == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, d, t);
    }
    return out;
}

/* _test_arena_allocator(): pymalloc's arena allocator, as (ctx, alloc,
 * free) addresses. */
static PyObject *
test_arena_allocator_py(PyObject *m, PyObject *noargs)
{
    PyObjectArenaAllocator a;
    (void)m;
    (void)noargs;

    PyObject_GetArenaAllocator(&a);
    return Py_BuildValue("(KKK)", (unsigned long long)(uintptr_t)a.ctx,
                         (unsigned long long)(uintptr_t)a.alloc,
                         (unsigned long long)(uintptr_t)a.free);
}

/* Another tool's arena hook (_test_arena_wrap): passes through to the
 * allocator it found, counting the frees. */
static PyObjectArenaAllocator wrap_prev;
static unsigned long long wrap_frees;

static void *
wrap_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return wrap_prev.alloc(wrap_prev.ctx, size);
}

static void
wrap_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    wrap_frees++;
    wrap_prev.free(wrap_prev.ctx, ptr, size);
}

/* _test_arena_wrap(on): installs that hook over the current arena
 * allocator (on), or puts back the one it found (off); returns the
 * frees it has seen. */
static PyObject *
test_arena_wrap_py(PyObject *m, PyObject *on)
{
    static PyObjectArenaAllocator ours = {NULL, wrap_alloc, wrap_free};
    (void)m;

    if (PyObject_IsTrue(on) == 1) {
        PyObject_GetArenaAllocator(&wrap_prev);
        PyObject_SetArenaAllocator(&ours);
    }
    else {
        PyObject_SetArenaAllocator(&wrap_prev);
    }
    return PyLong_FromUnsignedLongLong(wrap_frees);
}

/* _test_ondemand_start(seconds, rate, mode): starts an on-demand profile
 * (ondemand.h) the way the dump thread does, from this thread. */
static PyObject *
test_ondemand_start_py(PyObject *m, PyObject *args)
{
    sw_ondemand_cfg_t cfg = {0};
    double seconds;
    char err[256] = "";
    int rc;
    (void)m;

    if (!PyArg_ParseTuple(args, "ddi", &seconds, &cfg.rate_hz, &cfg.mode)) {
        return NULL;
    }
    cfg.duration_ns = (int64_t)(seconds * 1e9);
    cfg.lines = SW_LINES_CURRENT;
    Py_BEGIN_ALLOW_THREADS
        ;
        rc = sw_ondemand_start(&cfg, err, sizeof(err));
    Py_END_ALLOW_THREADS;
    if (rc < 0) {
        return sw_py_raise(rc, err);
    }
    Py_RETURN_NONE;
}

/* _test_ondemand_finish(wait, gil_wait): with wait, waits (GIL released)
 * until the profile is over, else stops it now; then finishes it and
 * returns its part text (the format of _forks.py). */
static PyObject *
test_ondemand_finish_py(PyObject *m, PyObject *args)
{
    sw_ondemand_result_t res;
    double gil_wait;
    int wait, rc;
    char err[256] = "";
    sw_buf_t b;
    PyObject *text;
    (void)m;

    if (!PyArg_ParseTuple(args, "pd", &wait, &gil_wait)) {
        return NULL;
    }
    sw_buf_init(&b);
    Py_BEGIN_ALLOW_THREADS
        ;
        while (wait && !sw_ondemand_wait(100000000ull)) {
        }
        if (!wait) {
            sw_ondemand_cancel();
        }
        rc = sw_ondemand_finish(&res, (uint64_t)(gil_wait * 1e9), err,
                                sizeof(err));
        if (rc == 0) {
            rc = sw_ondemand_encode(&res, &b);
            sw_session_free(res.session);
        }
    Py_END_ALLOW_THREADS;
    if (rc < 0) {
        sw_buf_free(&b);
        return sw_py_raise(rc, err[0] ? err : NULL);
    }
    text = PyUnicode_DecodeUTF8(b.data, (Py_ssize_t)b.len, "replace");
    sw_buf_free(&b);
    return text;
}

/* _test_read_crossed(ident_a, ident_b): the stack of thread a read
 * natively as if the frame pointer read for it (while it changed) led to
 * thread b's current frame: (frames read, whether the walk was found
 * torn).  Thread b must be blocked where it is.  The reader must not give
 * b's frames as a's stack. */
static PyObject *
test_read_crossed_py(PyObject *m, PyObject *args)
{
    unsigned long a, b;
    sw_thread_t *ts;
    sw_rawframe_t *raw;
    sw_reader_t r;
    sw_thread_t *ta = NULL, *tb = NULL;
    int n, i, truncated = 0, broken = 0, found = 0;
    (void)m;

    if (!PyArg_ParseTuple(args, "kk:_test_read_crossed", &a, &b)) {
        return NULL;
    }
    ts = PyMem_Malloc(SW_MAX_THREADS * sizeof(*ts));
    raw = PyMem_Malloc(SW_MAX_DEPTH * sizeof(*raw));
    if (ts == NULL || raw == NULL || sw_reader_open(&r) < 0) {
        PyMem_Free(ts);
        PyMem_Free(raw);
        return PyErr_NoMemory();
    }
    n = sw_read_threads(&r, ts, SW_MAX_THREADS);
    for (i = 0; i < n; i++) {
        if (ts[i].ident == a) {
            ta = &ts[i];
        }
        else if (ts[i].ident == b) {
            tb = &ts[i];
        }
    }
    if (ta != NULL && tb != NULL && sw_thread_frame(&r, tb) != 0) {
        ta->frame = tb->frame;
        ta->frame_resolved = 1;
        n = sw_read_frames(&r, ta, raw, SW_MAX_DEPTH, &truncated);
        broken = r.broken;
        found = 1;
    }
    sw_reader_close(&r);
    PyMem_Free(ts);
    PyMem_Free(raw);
    if (!found) {
        PyErr_SetString(PyExc_ValueError, "no such threads");
        return NULL;
    }
    return Py_BuildValue("(iO)", n, broken ? Py_True : Py_False);
}

static PyMethodDef testing_methods[] = {
    {"_test_mem_allocators", test_mem_allocators_py, METH_NOARGS,
     "The allocators of the RAW, MEM and OBJ domains, as addresses."},
    {"_test_arena_allocator", test_arena_allocator_py, METH_NOARGS,
     "pymalloc's arena allocator, as addresses."},
    {"_test_arena_wrap", test_arena_wrap_py, METH_O,
     "Another tool's arena hook over the current one (True) or off."},
    {"_test_ondemand_start", test_ondemand_start_py, METH_VARARGS,
     "Starts an on-demand profile: (seconds, rate, mode)."},
    {"_test_ondemand_finish", test_ondemand_finish_py, METH_VARARGS,
     "Ends the on-demand profile ((wait, gil_wait)); its part text."},
    {"_test_outside_memory_only", test_outside_memory_only_py, METH_O,
     "Test hook: the outside reader reads symbols from memory only."},
    {"_test_layout_table_diff", test_layout_table_diff_py, METH_NOARGS,
     "Test hook: where the outside reader's table for this CPython differs "
     "from the in-process one (None: nowhere)."},
    {"_test_sampler_fail_next", test_sampler_fail_next_py, METH_NOARGS,
     "Test hook: the next sampler thread fails as if out of memory."},
    {"_test_code_lines", test_code_lines_py, METH_O,
     "Lines of every instruction of a code object, decoded natively."},
    {"_test_read_crossed", test_read_crossed_py, METH_VARARGS,
     "(frames, torn) of thread a's stack read from thread b's frame."},
    {"_test_read_own_stack", test_read_own_stack_py, METH_NOARGS,
     "The calling thread's stack read natively: [(name, file, line)]."},
    {NULL, NULL, 0, NULL},
};

int
sw_testing_py_init(PyObject *m, sw_codecache_t *cache)
{
    testing_cache = cache;
    return PyModule_AddFunctions(m, testing_methods);
}
