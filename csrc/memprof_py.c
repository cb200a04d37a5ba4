/* The memory profiler's Python edge and its allocator hooks (issue 14):
 * mem_start, mem_stop, mem_stats, and the PyMem_SetAllocator wrappers of
 * the RAW, MEM and OBJ domains.
 *
 * Each domain gets its own set of hook functions, which never read their
 * ctx: a thread of the RAW domain (no GIL) that reads the allocator
 * struct while PyMem_SetAllocator writes it may see our function with
 * the previous ctx, which must not matter.  Each hook calls the
 * allocator that was installed before it (pymalloc, the C library,
 * tracemalloc's hooks...), saved here, and does its bookkeeping through
 * memtrack.h: insert after the block is given, remove before it is given
 * back (so an address is never reused under our feet).
 *
 * Uninstalling restores the saved allocator when ours is still the one
 * installed; when something was installed on top of ours since (the
 * program started tracemalloc), ours stays in the chain, passing
 * through, and is reused by the next profile (never stacked twice).
 * Blocks allocated before a profile are not in the side table: their
 * frees are passed through uncounted; blocks freed after it go straight
 * to the allocator that gave them.
 *
 * Pymalloc's arena allocator (PyObject_SetArenaAllocator) is hooked the
 * same way, installed and put back with the others (left in the chain,
 * passing through, when something hooked it after us): its free hook
 * lets the side table give back the pages describing an arena before
 * the arena is unmapped (memtrack.h, sw_mem_arena_freed).
 *
 * The `c` and `both` profiles also patch the loaded objects' GOTs
 * (memgot.c); Python's hooks are installed in every profile, since it is
 * their depth that keeps what Python's allocators take from the C
 * library out of the `c` columns (in the `c` profile they count
 * nothing).
 *
 * Called with the GIL held. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat/reader.h"
#include "errors.h"
#include "errors_py.h"
#include "memgot.h"
#include "memprof_py.h"
#include "greenlet.h"
#include "memtrack.h"

enum { RAW, MEM, OBJ, NDOMAINS };

static const PyMemAllocatorDomain domain_of[NDOMAINS] = {
    PYMEM_DOMAIN_RAW, PYMEM_DOMAIN_MEM, PYMEM_DOMAIN_OBJ};

/* The allocators ours call (valid for as long as ours are in a chain). */
static PyMemAllocatorEx prev[NDOMAINS];
static PyMemAllocatorEx ours[NDOMAINS];
/* Ours is in the domain's chain (installed, or left under another). */
static int in_chain[NDOMAINS];

/* The hooks of one domain D (their bodies: memtrack.c). */
#define SW_MEM_HOOKS(D)                                                     \
    static void *D##_malloc(void *ctx, size_t size)                         \
    {                                                                       \
        (void)ctx;                                                          \
        return sw_mem_malloc(prev[D].malloc, prev[D].ctx, size, SW_MEM_PY); \
    }                                                                       \
    static void *D##_calloc(void *ctx, size_t nelem, size_t elsize)         \
    {                                                                       \
        (void)ctx;                                                          \
        return sw_mem_calloc(prev[D].calloc, prev[D].ctx, nelem, elsize,    \
                             SW_MEM_PY);                                    \
    }                                                                       \
    static void *D##_realloc(void *ctx, void *ptr, size_t size)             \
    {                                                                       \
        (void)ctx;                                                          \
        return sw_mem_realloc(prev[D].realloc, prev[D].ctx, ptr, size,      \
                              SW_MEM_PY);                                   \
    }                                                                       \
    static void D##_free(void *ctx, void *ptr)                              \
    {                                                                       \
        (void)ctx;                                                          \
        sw_mem_free(prev[D].free, prev[D].ctx, ptr);                        \
    }

SW_MEM_HOOKS(RAW)
SW_MEM_HOOKS(MEM)
SW_MEM_HOOKS(OBJ)

/* Pymalloc's arena allocator, hooked the same way (chained, put back
 * when still ours on top, else left in the chain passing through) so
 * that the granule map's pages for an arena go back when it does
 * (sw_mem_arena_freed). */
static PyObjectArenaAllocator arena_prev;
static PyObjectArenaAllocator arena_ours;
static int arena_in_chain;
/* Whether install() hooks it (_test_mem_arena_hook: the tests and the
 * benchmark compare with and without). */
static int arena_wanted = 1;

static void *
arena_alloc_hook(void *ctx, size_t size)
{
    (void)ctx;
    return arena_prev.alloc(arena_prev.ctx, size);
}

static void
arena_free_hook(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    if (ptr != NULL) {
        sw_mem_arena_freed(ptr, size); /* before: still pymalloc's */
    }
    arena_prev.free(arena_prev.ctx, ptr, size);
}

static void
install(void)
{
    PyMemAllocatorEx hooks[NDOMAINS] = {
        {NULL, RAW_malloc, RAW_calloc, RAW_realloc, RAW_free},
        {NULL, MEM_malloc, MEM_calloc, MEM_realloc, MEM_free},
        {NULL, OBJ_malloc, OBJ_calloc, OBJ_realloc, OBJ_free},
    };
    int d;

    for (d = 0; d < NDOMAINS; d++) {
        if (in_chain[d]) {
            continue; /* left under another allocator: reused */
        }
        PyMem_GetAllocator(domain_of[d], &prev[d]);
        ours[d] = hooks[d];
        PyMem_SetAllocator(domain_of[d], &ours[d]);
        in_chain[d] = 1;
    }
    if (!arena_in_chain && arena_wanted) {
        PyObject_GetArenaAllocator(&arena_prev);
        arena_ours.ctx = NULL;
        arena_ours.alloc = arena_alloc_hook;
        arena_ours.free = arena_free_hook;
        PyObject_SetArenaAllocator(&arena_ours);
        arena_in_chain = 1;
    }
}

static void
uninstall(void)
{
    int d;

    for (d = 0; d < NDOMAINS; d++) {
        PyMemAllocatorEx cur;

        if (!in_chain[d]) {
            continue;
        }
        PyMem_GetAllocator(domain_of[d], &cur);
        if (cur.malloc == ours[d].malloc && cur.free == ours[d].free) {
            PyMem_SetAllocator(domain_of[d], &prev[d]);
            in_chain[d] = 0;
        }
    }
    if (arena_in_chain) {
        PyObjectArenaAllocator cur;

        PyObject_GetArenaAllocator(&cur);
        if (cur.alloc == arena_alloc_hook && cur.free == arena_free_hook) {
            PyObject_SetArenaAllocator(&arena_prev);
            arena_in_chain = 0;
        }
    }
}

/* The calling thread's thread state, for the stacks of sampled blocks:
 * read from the thread's own storage, without the GIL, allocating
 * nothing. */
static uintptr_t
this_tstate(void)
{
    return (uintptr_t)PyGILState_GetThisThreadState();
}

/* ---- the filter ----------------------------------------------------------
 * An allocation counts when one of its thread's frames runs code whose
 * file name starts with one of the prefixes.  Each code object is decided
 * once, under the GIL (its co_filename compared with the prefixes), and
 * the decision kept in a table by address, the code object held (a
 * strong reference) so that its address is not reused while the table
 * says something about it.  The hooks walk the thread's own frames
 * (compat/reader.h: in place, no copies) and stop at the first kept one.
 * A frame seen for the first time in an allocation made without the GIL
 * (a RAW or C call in code that released it) cannot be decided there and
 * counts as outside; its first allocation under the GIL decides it.
 * Only the GIL holder inserts; readers are lock-free (the key is
 * published after the decision).  At stop the references are dropped
 * and the table cleared, never freed (a hook may still read it). */

#define FBITS 16
#define FSIZE (1u << FBITS)
#define FPROBES 32

typedef struct fentry {
    _Atomic uintptr_t code;
    _Atomic int keep;
} fentry_t;

static PyObject *prefixes; /* tuple of str while a filtered profile runs */
static fentry_t *fcache;   /* FSIZE entries, allocated once */
static size_t fused;       /* entries in fcache (GIL) */

static size_t
fslot(uintptr_t code)
{
    uint64_t h = (uint64_t)code * 0x9e3779b97f4a7c15ull;

    return (size_t)(h >> (64 - FBITS));
}

/* GIL held. */
static int
decide(uintptr_t code)
{
    PyObject *file = ((PyCodeObject *)code)->co_filename;
    Py_ssize_t i;

    if (file == NULL || !PyUnicode_Check(file)) {
        return 0;
    }
    for (i = 0; i < PyTuple_GET_SIZE(prefixes); i++) {
        if (PyUnicode_Tailmatch(file, PyTuple_GET_ITEM(prefixes, i), 0,
                                PY_SSIZE_T_MAX, -1) == 1) {
            return 1;
        }
    }
    return 0;
}

/* arg: whether the caller holds the GIL. */
static int
kept_code(uintptr_t code, void *arg)
{
    size_t i = fslot(code), k, empty = FSIZE;
    int d;

    for (k = 0; k < FPROBES; k++, i = (i + 1) & (FSIZE - 1)) {
        uintptr_t c =
            atomic_load_explicit(&fcache[i].code, memory_order_acquire);

        if (c == code) {
            return atomic_load_explicit(&fcache[i].keep, memory_order_relaxed);
        }
        if (c == 0) {
            empty = i;
            break;
        }
    }
    if (!*(int *)arg || prefixes == NULL) {
        return 0;
    }
    d = decide(code);
    if (empty != FSIZE && fused < FSIZE / 2) {
        Py_INCREF((PyObject *)code);
        atomic_store_explicit(&fcache[empty].keep, d, memory_order_relaxed);
        atomic_store_explicit(&fcache[empty].code, code, memory_order_release);
        fused++;
    }
    return d;
}

static uintptr_t this_tstate(void);

/* sw_mem_config_t.keep. */
static int
keep_filtered(void)
{
    int gil = PyGILState_Check();

    return sw_own_frames_find(this_tstate(), kept_code, &gil);
}

/* GIL held, the hooks out or passing through. */
static void
filter_clear(void)
{
    size_t i;

    if (fcache != NULL) {
        for (i = 0; i < FSIZE; i++) {
            uintptr_t c = atomic_exchange(&fcache[i].code, 0);

            if (c != 0) {
                Py_DECREF((PyObject *)c);
            }
        }
    }
    fused = 0;
    Py_CLEAR(prefixes);
}

/* mem_start(dir, interval, profile, sample_interval, filter, greenlets) */
static PyObject *
mem_start_py(PyObject *m, PyObject *args)
{
    const char *dir, *profile;
    double interval;
    unsigned long long sample_interval = 0;
    sw_mem_config_t cfg;
    char err[256] = "";
    int rc;
    (void)m;

    PyObject *filter = Py_None;
    int greenlets = 0;

    if (!PyArg_ParseTuple(args, "sds|KOp:mem_start", &dir, &interval, &profile,
                          &sample_interval, &filter, &greenlets)) {
        return NULL;
    }
    if (filter != Py_None) {
        Py_ssize_t i;

        if (!PyTuple_Check(filter) || PyTuple_GET_SIZE(filter) == 0) {
            PyErr_SetString(PyExc_TypeError,
                            "filter must be a non-empty tuple of str");
            return NULL;
        }
        for (i = 0; i < PyTuple_GET_SIZE(filter); i++) {
            if (!PyUnicode_Check(PyTuple_GET_ITEM(filter, i))) {
                PyErr_SetString(PyExc_TypeError,
                                "filter must be a non-empty tuple of str");
                return NULL;
            }
        }
        if (fcache == NULL) {
            fcache = calloc(FSIZE, sizeof(fentry_t));
            if (fcache == NULL) {
                return PyErr_NoMemory();
            }
        }
    }
    if (strcmp(profile, "python") != 0 && strcmp(profile, "c") != 0 &&
        strcmp(profile, "both") != 0) {
        PyErr_SetString(PyExc_ValueError,
                        "profile must be 'python', 'c' or 'both'");
        return NULL;
    }
    if (sample_interval > ((unsigned long long)1 << 40)) {
        PyErr_SetString(PyExc_ValueError, "sample_interval is too large");
        return NULL;
    }
    if (!(interval >= 0.001 && interval <= 3600.0)) {
        PyErr_SetString(PyExc_ValueError,
                        "interval must be between 0.001 and 3600 seconds");
        return NULL;
    }
    cfg.dir = dir;
    cfg.interval_ns = (uint64_t)(interval * 1e9);
    cfg.profile = profile;
    cfg.pid = (long)getpid();
    cfg.sample_interval = (uint64_t)sample_interval;
    cfg.tstate = this_tstate;
    cfg.keep = filter != Py_None ? keep_filtered : NULL;
    cfg.greenlets = greenlets;
    if (filter != Py_None) {
        Py_INCREF(filter);
        Py_XSETREF(prefixes, filter);
    }
    rc = sw_mem_start(&cfg, err, sizeof err);
    if (rc < 0) {
        if (filter != Py_None) {
            filter_clear();
        }
        return sw_py_raise(rc, err);
    }
    sw_greenlet_set_death_listener(greenlets ? sw_mem_greenlet_ended : NULL);
    install();
    if (strcmp(profile, "python") != 0) {
        sw_memgot_install();
    }
    sw_mem_set_tracking(1);
    Py_RETURN_NONE;
}

/* mem_stop(): True if a profile was stopped. */
static PyObject *
mem_stop_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    sw_mem_set_tracking(0);
    sw_memgot_uninstall();
    uninstall();
    if (sw_mem_stop() < 0) {
        Py_RETURN_FALSE;
    }
    sw_greenlet_set_death_listener(NULL);
    filter_clear();
    Py_RETURN_TRUE;
}

static PyObject *
mem_stats_py(PyObject *m, PyObject *noargs)
{
    sw_mem_stats_t st;
    sw_memgot_stats_t got;
    int d, n = 0;
    (void)m;
    (void)noargs;

    sw_mem_get_stats(&st);
    sw_memgot_get_stats(&got);
    for (d = 0; d < NDOMAINS; d++) {
        n += in_chain[d];
    }
    return Py_BuildValue(
        "{sisKsKsKsKsKsKsKsKsKsisisisKsKsKsKsKsKsK}", "running",
        sw_mem_running(), "threads", (unsigned long long)st.threads,
        "table_blocks", (unsigned long long)st.tracked, "untracked_blocks",
        (unsigned long long)st.untracked, "table_bytes",
        (unsigned long long)st.table_bytes, "table_leaves",
        (unsigned long long)st.table_leaves, "arenas_freed",
        (unsigned long long)st.arenas_freed, "table_given",
        (unsigned long long)st.table_given, "lines",
        (unsigned long long)st.lines, "write_errors",
        (unsigned long long)st.write_errors, "write_errno", st.errno_,
        "hooked", n, "arena_hooked", arena_in_chain, "got_objects",
        (unsigned long long)got.objects, "got_entries",
        (unsigned long long)got.slots, "got_failed",
        (unsigned long long)got.failed, "got_foreign",
        (unsigned long long)got.foreign, "greenlets",
        (unsigned long long)st.greenlets, "greenlets_unslotted",
        (unsigned long long)st.greenlets_unslotted, "greenlet_files",
        (unsigned long long)st.greenlet_files);
}

void
sw_memprof_py_after_fork_child(void)
{
    /* memtrack's atfork handler stopped the counting and closed the
     * parent's files; here the allocators go back where they can (a
     * profile that follows forks installs them again). */
    sw_memgot_uninstall();
    uninstall();
}

/* mem_greenlets_unnamed(): the ids of the greenlets whose files wait for
 * a label. */
static PyObject *
mem_greenlets_unnamed_py(PyObject *m, PyObject *noargs)
{
    static uint32_t ids[SW_MEM_MAX_THREADS];
    size_t n = sw_mem_greenlets_unnamed(ids, SW_MEM_MAX_THREADS), i;
    PyObject *out = PyList_New((Py_ssize_t)n);
    (void)m;
    (void)noargs;

    for (i = 0; out != NULL && i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLong(ids[i]);

        if (v == NULL) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, (Py_ssize_t)i, v);
    }
    return out;
}

/* mem_greenlet_names([(gid, label), ...]) */
static PyObject *
mem_greenlet_names_py(PyObject *m, PyObject *seq)
{
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of pairs");
    Py_ssize_t i;
    (void)m;

    if (fast == NULL) {
        return NULL;
    }
    for (i = 0; i < PySequence_Fast_GET_SIZE(fast); i++) {
        unsigned long gid;
        const char *label;

        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fast, i),
                              "ks:mem_greenlet_names", &gid, &label)) {
            Py_DECREF(fast);
            return NULL;
        }
        sw_mem_greenlet_name((uint32_t)gid, label);
    }
    Py_DECREF(fast);
    Py_RETURN_NONE;
}

/* _test_mem_arena_hook(on): whether the next profiles hook pymalloc's
 * arena allocator (default: yes); for the tests and bench/ only. */
static PyObject *
test_mem_arena_hook_py(PyObject *m, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    (void)m;

    if (on < 0) {
        return NULL;
    }
    arena_wanted = on;
    Py_RETURN_NONE;
}

/* _mem_census(): the granule map's census (memtrack.h), a debugging aid;
 * slow (walks the whole map). */
static PyObject *
mem_census_py(PyObject *m, PyObject *noargs)
{
    sw_mem_census_t c;
    (void)m;
    (void)noargs;

    Py_BEGIN_ALLOW_THREADS
        sw_mem_map_census(&c);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("{sKsKsKsKsKsK}", "pages_shared",
                         (unsigned long long)c.pages_shared, "leaves",
                         (unsigned long long)c.leaves, "pages_empty",
                         (unsigned long long)c.pages_empty, "pages",
                         (unsigned long long)c.pages, "pages_unmapped",
                         (unsigned long long)c.pages_unmapped, "pages_idle",
                         (unsigned long long)c.pages_idle);
}

static PyMethodDef methods[] = {
    {"mem_start", mem_start_py, METH_VARARGS,
     "mem_start(dir, interval, profile, sample_interval=0, filter=None, "
     "greenlets=False): "
     "start the memory profile (with stacks when sample_interval > 0; only "
     "allocations under code whose file starts with one of the filter's "
     "prefixes, a tuple of str)."},
    {"mem_greenlets_unnamed", mem_greenlets_unnamed_py, METH_NOARGS,
     "mem_greenlets_unnamed(): ids of the greenlets whose memory files wait "
     "for a label."},
    {"mem_greenlet_names", mem_greenlet_names_py, METH_O,
     "mem_greenlet_names([(gid, label), ...]): label greenlets' memory "
     "files."},
    {"mem_stop", mem_stop_py, METH_NOARGS,
     "mem_stop(): end the memory profile (files complete)."},
    {"_test_mem_arena_hook", test_mem_arena_hook_py, METH_O,
     "_test_mem_arena_hook(on): whether the next memory profiles hook "
     "pymalloc's arena allocator (tests and benchmarks only)."},
    {"_mem_census", mem_census_py, METH_NOARGS,
     "_mem_census(): the memory profiler's granule map: leaves, pages in "
     "memory, and of those the ones describing unmapped or idle address "
     "space (slow; a debugging aid)."},
    {"mem_stats", mem_stats_py, METH_NOARGS,
     "mem_stats(): the memory profiler's own counters."},
    {NULL, NULL, 0, NULL},
};

int
sw_memprof_py_init(PyObject *m)
{
    return PyModule_AddFunctions(m, methods);
}
