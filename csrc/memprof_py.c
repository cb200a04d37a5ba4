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
 * The `c` and `both` profiles also patch the loaded objects' GOTs
 * (memgot.c); Python's hooks are installed in every profile, since it is
 * their depth that keeps what Python's allocators take from the C
 * library out of the `c` columns (in the `c` profile they count
 * nothing).
 *
 * Called with the GIL held. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "errors_py.h"
#include "memgot.h"
#include "memprof_py.h"
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
}

/* The calling thread's thread state, for the stacks of sampled blocks:
 * read from the thread's own storage, without the GIL, allocating
 * nothing. */
static uintptr_t
this_tstate(void)
{
    return (uintptr_t)PyGILState_GetThisThreadState();
}

/* mem_start(dir, interval, profile, sample_interval) */
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

    if (!PyArg_ParseTuple(args, "sds|K:mem_start", &dir, &interval, &profile,
                          &sample_interval)) {
        return NULL;
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
    rc = sw_mem_start(&cfg, err, sizeof err);
    if (rc < 0) {
        return sw_py_raise(rc, err);
    }
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
        "{sisKsKsKsKsKsKsisisKsKsK}", "running", sw_mem_running(), "threads",
        (unsigned long long)st.threads, "table_blocks",
        (unsigned long long)st.tracked, "untracked_blocks",
        (unsigned long long)st.untracked, "table_bytes",
        (unsigned long long)st.table_bytes, "lines",
        (unsigned long long)st.lines, "write_errors",
        (unsigned long long)st.write_errors, "write_errno", st.errno_,
        "hooked", n, "got_objects", (unsigned long long)got.objects,
        "got_entries", (unsigned long long)got.slots, "got_failed",
        (unsigned long long)got.failed);
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

static PyMethodDef methods[] = {
    {"mem_start", mem_start_py, METH_VARARGS,
     "mem_start(dir, interval, profile, sample_interval=0): start the "
     "memory profile (with stacks when sample_interval > 0)."},
    {"mem_stop", mem_stop_py, METH_NOARGS,
     "mem_stop(): end the memory profile (files complete)."},
    {"mem_stats", mem_stats_py, METH_NOARGS,
     "mem_stats(): the memory profiler's own counters."},
    {NULL, NULL, 0, NULL},
};

int
sw_memprof_py_init(PyObject *m)
{
    return PyModule_AddFunctions(m, methods);
}
