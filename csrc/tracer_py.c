/* The tracer's hooks and its Python edge: trace_* of stackwatch._native.
 *
 * Engine.  On 3.12+ the hooks are sys.monitoring callbacks that are C
 * functions (objects whose type's vectorcall is the function: no
 * builtin-function call path per event; see hook_object) for
 * PY_START, PY_RESUME and PY_THROW (a slice opens) and PY_RETURN,
 * PY_YIELD and PY_UNWIND (it closes), under tool id PROFILER_ID when it
 * is free, else the first free one.  Stopping turns our events off,
 * unregisters our callbacks and frees our id; other tools' events are
 * never touched (no restart_events).  Before 3.12 the hook is a C
 * profile function set in every thread (compat/tracehook.c) and, for
 * threads started later, by threading.setprofile with a C function that
 * swaps itself for the profile function at the thread's first event.
 *
 * Filtering.  Each code object is interned once, at its first event:
 * it gets a small id (records carry ids; names are read at write time)
 * and a verdict from the --include/--exclude path prefixes (stackwatch's
 * own package is always left out).  A local event of code left out
 * returns sys.monitoring.DISABLE, so that location never calls us again:
 * excluded code runs at nearly full speed.  PY_THROW and PY_UNWIND
 * cannot be disabled; for them the verdict is looked up and nothing is
 * recorded.
 *
 * Threads: the hooks run on application threads with the GIL held, and
 * so does everything else here; the store (tracer.h) and the code table
 * are guarded by the GIL alone.  Each thread finds its buffer through a
 * thread-local pointer tagged with the session's generation, so a
 * thread-local left from an earlier session is never used; the same
 * thread-local's key equals live_key only while tracing is on, that
 * pointer is current and the thread is not quiet, so that an event's
 * common case is that one compare, the code map's probe (its value
 * carries the verdict) and the append.  Fork: the
 * child stops tracing and drops the parent's records
 * (trace_after_fork_child, from _lifecycle): its trace is off, never a
 * copy of the parent's. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "compat/tracehook.h"
#include "errors.h"
#include "errors_py.h"
#include "greenlet.h"
#include "hash.h"
#include "memtrack.h"
#include "procmem.h"
#include "sampler.h"
#include "stackfmt.h"
#include "tracer.h"
#include "tracer_py.h"
#include "writers/gzip.h"
#include "writers/chrome.h"

enum { ENGINE_OFF = 0, ENGINE_MONITORING = 1, ENGINE_PROFILE = 2 };
enum { VERDICT_TRACED = 1, VERDICT_SKIPPED = 2 };

/* A code object, or (code NULL) a C function with --c-calls. */
typedef struct code_entry {
    PyObject *code; /* strong, or NULL */
    PyObject *name; /* a C function's name (str, strong), or NULL */
    int verdict;
    int coroutine; /* an async def's code (--asyncio) */
    int scope;     /* a traced function's code (scoped tracing) */
} code_entry_t;

typedef struct prefix {
    char *text;
    size_t len;
    uint64_t hits; /* code objects it decided */
    int internal;  /* stackwatch's own: not the user's */
} prefix_t;

static sw_trace_store_t store;
static int engine;     /* ENGINE_*: the hooks in place */
static int have_trace; /* store holds a session (until cleared) */
static uint32_t gen;   /* bumped at every start */
static int max_depth = INT_MAX;

/* The calling thread's state, in one thread-local, initial-exec: no
 * __tls_get_addr call per event (the module's thread-locals are in the
 * static TLS block already: memtrack.c's and greenlet.c's are
 * initial-exec). */
typedef struct tl_state {
    sw_trace_thread_t *thread; /* this thread's buffer in session `gen` */
    uint32_t gen;
    /* `gen` while the thread may record at once (its buffer is bound
     * and it is not quiet), else 0: the hooks' common case is key ==
     * live_key, one compare for "tracing on, this thread's buffer current,
     * not quiet". */
    uint32_t key;
    /* Set while the tracer runs Python code of its own on this thread
     * (a greenlet's label, a thread's name): its events are not
     * recorded.  (QUIET_ENTER/QUIET_LEAVE.) */
    int quiet;
} tl_state_t;

static _Thread_local tl_state_t tl __attribute__((tls_model("initial-exec")));

/* `gen` while an engine is on, else LIVE_OFF (which no key takes). */
#define LIVE_OFF UINT32_MAX
static uint32_t live_key = LIVE_OFF;

static void
set_engine(int e)
{
    engine = e;
    live_key = e == ENGINE_OFF ? LIVE_OFF : gen;
}

#define QUIET_ENTER() \
    do {              \
        tl.quiet++;   \
        tl.key = 0;   \
    } while (0)
#define QUIET_LEAVE()                               \
    do {                                            \
        if (--tl.quiet == 0 && tl.thread != NULL) { \
            tl.key = tl.gen;                        \
        }                                           \
    } while (0)

/* Code objects: ids are indexes in `codes`; the map takes a code
 * object's (or a C function's key's) address (map_keys, 0 when empty)
 * to its id | flags (map_vals), so that an event needs no load from
 * `codes` in the common case, neither flag, where the value is the id
 * itself. */
static code_entry_t *codes;
static uint32_t ncodes, codes_cap;
static uintptr_t *map_keys;
static uint32_t *map_vals;
static uint32_t map_mask;
#define MAP_SKIPPED (1u << 31) /* the verdict is VERDICT_SKIPPED */
#define MAP_SPECIAL (1u << 30) /* scoped session, or a coroutine (--asyncio) */
#define MAP_ID(v) ((v) & ~(MAP_SKIPPED | MAP_SPECIAL))
#define MAP_NONE UINT32_MAX /* (no id) not interned */
#define MAX_CODES (1u << 29)

static prefix_t *includes, *excludes;
static size_t nincludes, nexcludes;

/* sys.monitoring: the module, DISABLE, our tool id, our callbacks. */
static PyObject *monitoring, *disable_obj;
static int tool_id = -1;
static unsigned long local_mask; /* our local events (DISABLE-able) */
/* The events: the first 6 always, the last 3 with --c-calls. */
#define NEVENTS 9
static PyObject *callbacks[NEVENTS];
static const char *const event_names[NEVENTS] = {
    "PY_START",  "PY_RESUME", "PY_THROW", "PY_RETURN", "PY_YIELD",
    "PY_UNWIND", "CALL",      "C_RETURN", "C_RAISE"};
static int c_calls; /* --c-calls: C functions are slices too */

/* The threading.setprofile hook (names threads; before 3.12 it also
 * sets the profile function) and the one it replaced (called first). */
static PyObject *thread_hook, *thread_hook_prev;

/* Greenlets: the Python function that labels a greenlet (NULL: greenlets
 * are not traced) and its labels {id: str}. */
static PyObject *greenlet_labeler, *greenlet_labels;

/* User spans and marks: (name, args JSON) -> id in span_ids; span_keys
 * the tuples by id.  At most MAX_SPAN_KEYS distinct ones; later ones
 * keep their name and lose their args. */
#define MAX_SPAN_KEYS 100000
static PyObject *span_ids, *span_keys;

/* --memory: RSS samples (MiB), from the store's budget. */
static sw_chrome_counter_t *rss;
static size_t nrss, rss_cap;
/* --memory with the memory profiler's counters: each thread's live bytes
 * when they changed (from the same budget); live_now/live_last: the
 * counters as read now and at the last sample. */
static sw_chrome_live_t *live;
static size_t nlive, live_cap;
static sw_mem_thread_live_t *live_now, *live_last;
static size_t nlive_last;

static uint64_t lost_threads; /* events of threads with no buffer (OOM) */

/* Scoped tracing (--function, @traced): when `scoped`, a thread records
 * only while one of the code objects of scope_set (strong refs) has a
 * frame open in it (t->scope_depth > 0).  On 3.12+ only those code
 * objects have events (local ones, scope_local_mask) while no thread is
 * inside one; the first thread to enter one turns the global events
 * (global_mask) on, the last to leave turns them off again. */
static int scoped;
static PyObject *scope_set;

static PyObject *task_labeler;
static unsigned long global_mask, scope_local_mask;
static int scope_threads; /* threads with scope_depth > 0 */

/* ---- code table -------------------------------------------------------- */

static int
map_grow(void)
{
    uint32_t cap = map_mask ? (map_mask + 1) * 2 : 1024, i;
    uintptr_t *keys = calloc(cap, sizeof(*keys));
    uint32_t *vals = calloc(cap, sizeof(*vals));

    if (keys == NULL || vals == NULL) {
        free(keys);
        free(vals);
        return -1;
    }
    for (i = 0; map_mask && i <= map_mask; i++) {
        if (map_keys[i] != 0) {
            uint32_t j = sw_hash_ptr(map_keys[i]) & (cap - 1);

            while (keys[j] != 0) {
                j = (j + 1) & (cap - 1);
            }
            keys[j] = map_keys[i];
            vals[j] = map_vals[i];
        }
    }
    free(map_keys);
    free(map_vals);
    map_keys = keys;
    map_vals = vals;
    map_mask = cap - 1;
    return 0;
}

static int
matches(const prefix_t *p, const char *file)
{
    return strncmp(file, p->text, p->len) == 0;
}

/* The verdict on a code object's file, counting the prefix that gave
 * it. */
static int
judge(const char *file)
{
    size_t i;

    for (i = 0; i < nexcludes; i++) {
        if (matches(&excludes[i], file)) {
            excludes[i].hits++;
            return VERDICT_SKIPPED;
        }
    }
    if (nincludes == 0) {
        return VERDICT_TRACED;
    }
    for (i = 0; i < nincludes; i++) {
        if (matches(&includes[i], file)) {
            includes[i].hits++;
            return VERDICT_TRACED;
        }
    }
    return VERDICT_SKIPPED;
}

/* The map's value for codes[id]. */
static uint32_t
map_value(uint32_t id)
{
    uint32_t v = id;

    if (codes[id].verdict == VERDICT_SKIPPED) {
        v |= MAP_SKIPPED;
    }
    if (scoped || (task_labeler != NULL && codes[id].coroutine)) {
        v |= MAP_SPECIAL;
    }
    return v;
}

/* Interns code: its id, *verdict set.  UINT32_MAX when it cannot be
 * interned (no memory; the event is then not recorded).  Never raises. */
static uint32_t
intern_slow(PyObject *code, int *verdict)
{
    uint32_t i;
    PyObject *file;
    const char *f = NULL;

    if (ncodes >= MAX_CODES ||
        ((ncodes + 1) * 2 > map_mask + 1 && map_grow() < 0)) {
        return UINT32_MAX;
    }
    if (ncodes == codes_cap) {
        uint32_t cap = codes_cap ? codes_cap * 2 : 1024;
        code_entry_t *c = realloc(codes, cap * sizeof(*c));

        if (c == NULL) {
            return UINT32_MAX;
        }
        codes = c;
        codes_cap = cap;
    }
    file = PyObject_GetAttrString(code, "co_filename");
    if (file != NULL && PyUnicode_Check(file)) {
        f = PyUnicode_AsUTF8(file);
    }
    PyErr_Clear();
    codes[ncodes].verdict = judge(f ? f : "");
    {
        PyObject *flags = PyObject_GetAttrString(code, "co_flags");
        long fl = flags != NULL ? PyLong_AsLong(flags) : 0;

        Py_XDECREF(flags);
        PyErr_Clear();
        codes[ncodes].coroutine = fl > 0 && (fl & CO_COROUTINE) != 0;
    }
    Py_XDECREF(file);
    codes[ncodes].scope =
        scope_set != NULL && PySet_Contains(scope_set, code) == 1;
    PyErr_Clear();
    if (codes[ncodes].scope) {
        codes[ncodes].verdict = VERDICT_TRACED; /* never DISABLEd */
    }
    Py_INCREF(code);
    codes[ncodes].code = code;
    codes[ncodes].name = NULL;
    i = sw_hash_ptr((uintptr_t)code) & map_mask;
    while (map_keys[i] != 0) {
        i = (i + 1) & map_mask;
    }
    map_keys[i] = (uintptr_t)code;
    map_vals[i] = map_value(ncodes);
    *verdict = codes[ncodes].verdict;
    return ncodes++;
}

/* code's map value (see MAP_ID), interning it on first sight;
 * MAP_NONE when it cannot be interned.  Never raises. */
static inline uint32_t
code_value(PyObject *code)
{
    uint32_t i = sw_hash_ptr((uintptr_t)code) & map_mask;
    uintptr_t k;
    int verdict;

    if (__builtin_expect(map_mask != 0, 1)) {
        while ((k = map_keys[i]) != 0) {
            if (__builtin_expect(k == (uintptr_t)code, 1)) {
                return map_vals[i];
            }
            i = (i + 1) & map_mask;
        }
    }
    i = intern_slow(code, &verdict);
    return i == UINT32_MAX ? MAP_NONE : map_value(i);
}

static inline uint32_t
intern_code(PyObject *code, int *verdict)
{
    uint32_t v = code_value(code);

    if (v == MAP_NONE) {
        return UINT32_MAX;
    }
    *verdict = codes[MAP_ID(v)].verdict;
    return MAP_ID(v);
}

static void
codes_clear(void)
{
    uint32_t i;

    for (i = 0; i < ncodes; i++) {
        Py_XDECREF(codes[i].code);
        Py_XDECREF(codes[i].name);
    }
    free(codes);
    free(map_keys);
    free(map_vals);
    codes = NULL;
    map_keys = NULL;
    map_vals = NULL;
    ncodes = codes_cap = map_mask = 0;
}

/* ---- the hot path ------------------------------------------------------ */

static void first_greenlet(sw_trace_thread_t *t);
static void hook_greenlets(void);

/* The code id + 1 of the function at the bottom of the calling thread's
 * stack (its current greenlet's), interned now; 0 if there is none or it
 * cannot be interned.  Never raises. */
static uint32_t
bottom_code(void)
{
    PyObject *exc_type, *exc, *tb;
    PyFrameObject *f = PyEval_GetFrame(), *back;
    PyCodeObject *code;
    uint32_t id = UINT32_MAX;
    int verdict, n = 0;

    if (f == NULL) {
        return 0;
    }
    PyErr_Fetch(&exc_type, &exc, &tb);
    Py_INCREF(f);
    while (n++ < 10000 && (back = PyFrame_GetBack(f)) != NULL) {
        Py_DECREF(f);
        f = back;
    }
    code = PyFrame_GetCode(f);
    Py_DECREF(f);
    id = intern_code((PyObject *)code, &verdict);
    Py_DECREF(code);
    PyErr_Clear();
    PyErr_Restore(exc_type, exc, tb);
    return id == UINT32_MAX ? 0 : id + 1;
}

static sw_trace_thread_t *
thread_slow(void)
{
    sw_trace_thread_t *t =
        sw_tracer_thread_new(&store, (uint64_t)PyThread_get_thread_ident(),
                             (long)syscall(SYS_gettid));

    if (t == NULL) {
        lost_threads++;
        return NULL;
    }
    tl.thread = t;
    tl.gen = gen;
    tl.key = tl.quiet ? 0 : gen;
    /* stackwatch's own threads (the service, the monitor's delivery...)
     * ask the sampler to skip them; the tracer skips them too. */
    t->ignored =
        sw_sampler_is_excluded(PyThreadState_GetID(PyThreadState_Get()));
    if (!t->ignored) {
        t->bottom = bottom_code();
    }
    if (greenlet_labeler != NULL && !t->ignored) {
        hook_greenlets();
        first_greenlet(t);
    }
    return t;
}

/* The calling thread's buffer (me: &tl, taken by the caller). */
static inline sw_trace_thread_t *
this_thread_of(tl_state_t *me)
{
    if (me->gen == gen && me->thread != NULL) {
        return me->thread;
    }
    return thread_slow();
}

static inline sw_trace_thread_t *
this_thread(void)
{
    return this_thread_of(&tl);
}

/* Records an enter or exit of slice id on thread t (the calling
 * thread's), within --max-depth, in a session that is not scoped.  (An
 * ignored thread's appends are dropped by sw_tracer_put_slow: it never
 * has a chunk.) */
static inline __attribute__((always_inline)) void
record_plain_as(sw_trace_thread_t *t, uint32_t id, uint32_t kind, int lean,
                uint64_t ts)
{
    if (lean) {
        /* The session's clock is the TSC and there is no --max-depth
         * (hooks_lean); ts: the TSC, read as the hook began. */
        if (kind == SW_TR_ENTER) {
            t->depth++;
        }
        else if (__builtin_expect(--t->depth < 0, 0)) {
            t->depth = 0;
            return; /* a frame entered before tracing started */
        }
        sw_tracer_put(&store, t, ts, id, kind);
        return;
    }
    if (kind == SW_TR_ENTER) {
        if (++t->depth > max_depth) {
            return;
        }
    }
    else if (t->depth <= 0) {
        return; /* a frame entered before tracing started */
    }
    else if (t->depth-- > max_depth) {
        return;
    }
    sw_tracer_put(&store, t, sw_tracer_now(&store), id, kind);
}

static inline void
record_plain(sw_trace_thread_t *t, uint32_t id, uint32_t kind)
{
    record_plain_as(t, id, kind, 0, 0);
}

/* The same on the calling thread (me: &tl), in any session. */
static inline void
record(tl_state_t *me, uint32_t id, uint32_t kind)
{
    sw_trace_thread_t *t = this_thread_of(me);

    if (t == NULL || t->ignored || (scoped && t->scope_depth <= 0)) {
        return;
    }
    record_plain(t, id, kind);
}

/* --asyncio: the labeler of tasks (NULL: off; trace.py keeps their ids
 * by weak reference; declared above) and their labels {id: str}. */
static PyObject *task_labels;

/* The id of the asyncio task running on this thread (given on first
 * sight, labelled then), or 0.  Quiet; never raises. */
static uint32_t
current_task_id(void)
{
    PyObject *exc_type, *exc, *tb, *r;
    uint32_t id = 0;

    PyErr_Fetch(&exc_type, &exc, &tb);
    QUIET_ENTER();
    r = PyObject_CallNoArgs(task_labeler);
    QUIET_LEAVE();
    /* The labeler answers (id, label or None), or None outside a task. */
    if (r != NULL && PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 2) {
        unsigned long v = PyLong_AsUnsignedLong(PyTuple_GET_ITEM(r, 0));
        PyObject *label = PyTuple_GET_ITEM(r, 1);

        if (!PyErr_Occurred() && v > 0 && v < SW_TRACE_TASK_BIT) {
            id = (uint32_t)v;
            if (PyUnicode_Check(label) && task_labels != NULL) {
                PyObject *key = PyLong_FromUnsignedLong(id);

                if (key != NULL) {
                    PyDict_SetItem(task_labels, key, label);
                    Py_DECREF(key);
                }
            }
        }
    }
    Py_XDECREF(r);
    PyErr_Clear();
    PyErr_Restore(exc_type, exc, tb);
    return id;
}

/* --asyncio: a coroutine's start or resumption outside a task track
 * moves the thread to its task's track; the end of that outermost
 * coroutine step moves it back to the thread's own. */
/* (noinline, as on_scoped_event: off the hot path, so that the hooks'
 * common case keeps few registers to save.) */
__attribute__((noinline)) static void
on_coroutine(tl_state_t *me, uint32_t id, uint32_t kind)
{
    sw_trace_thread_t *t = this_thread_of(me);

    if (t == NULL || t->ignored) {
        return;
    }
    if (kind == SW_TR_ENTER && t->task_depth < 0) {
        uint32_t task = current_task_id();

        if (task != 0) {
            sw_tracer_put(&store, t, sw_tracer_now(&store),
                          task | SW_TRACE_TASK_BIT, SW_TR_SWITCH);
            t->task_depth = t->depth;
        }
    }
    record(me, id, kind);
    if (kind == SW_TR_EXIT && t->task_depth >= 0 &&
        t->depth <= t->task_depth) {
        sw_tracer_put(&store, t, sw_tracer_now(&store), 0, SW_TR_SWITCH);
        t->task_depth = -1;
    }
}

/* Scoped tracing, 3.12+: the global events on (first thread in a
 * traced function) or off (last one out).  Quiet; never raises. */
static void
scope_global_events(unsigned long mask)
{
    PyObject *exc_type, *exc, *tb;

    if (engine != ENGINE_MONITORING || tool_id < 0) {
        return;
    }
    PyErr_Fetch(&exc_type, &exc, &tb);
    Py_XDECREF(
        PyObject_CallMethod(monitoring, "set_events", "ik", tool_id, mask));
    PyErr_Clear();
    PyErr_Restore(exc_type, exc, tb);
}

static inline void on_event_record(tl_state_t *me, uint32_t id, uint32_t kind);

/* Scoped tracing: an event of code `id` on this thread.  A traced
 * function's entry opens the scope before its slice, its exit closes it
 * after; other code is recorded only inside the scope. */
__attribute__((noinline)) static void
on_scoped_event(tl_state_t *me, uint32_t id, uint32_t kind)
{
    sw_trace_thread_t *t = this_thread_of(me);

    if (t == NULL || t->ignored) {
        return;
    }
    if (!codes[id].scope) {
        if (t->scope_depth > 0) {
            on_event_record(me, id, kind);
        }
        return;
    }
    if (kind == SW_TR_ENTER) {
        if (t->scope_depth++ == 0) {
            t->depth = 0;
            if (scope_threads++ == 0) {
                scope_global_events(global_mask);
            }
        }
        on_event_record(me, id, kind);
        return;
    }
    if (t->scope_depth <= 0) {
        return; /* a frame entered before tracing started */
    }
    on_event_record(me, id, kind);
    if (--t->scope_depth == 0 && --scope_threads == 0) {
        scope_global_events(0);
    }
}

/* on_event's general case (out of line: the common case then saves no
 * registers). */
__attribute__((noinline)) static int
on_event_slow(PyObject *code, uint32_t kind)
{
    tl_state_t *me = &tl;
    sw_trace_thread_t *t = me->thread;
    uint32_t v;

    if (__builtin_expect(me->key != live_key, 0)) {
        if (engine == ENGINE_OFF || me->quiet) {
            return 0;
        }
        t = NULL; /* bound below, when there is something to record */
    }
    v = code_value(code);
    if (__builtin_expect((v & (MAP_SKIPPED | MAP_SPECIAL)) == 0, 1)) {
        /* Traced, neither scoped nor a task's coroutine: the common
         * case. */
        if (__builtin_expect(t == NULL, 0) &&
            (t = this_thread_of(me)) == NULL) {
            return VERDICT_TRACED;
        }
        record_plain(t, MAP_ID(v), kind);
        return VERDICT_TRACED;
    }
    if (v == MAP_NONE) {
        return 0;
    }
    if (v & MAP_SKIPPED) {
        return VERDICT_SKIPPED;
    }
    if (scoped) {
        on_scoped_event(me, MAP_ID(v), kind);
    }
    else {
        on_event_record(me, MAP_ID(v), kind);
    }
    return VERDICT_TRACED;
}

/* Records one event of code; returns the verdict (0 when not recorded
 * for lack of memory or because tracing is off).  lean: the hooks
 * chosen for a session on the TSC without --max-depth (hooks_lean). */
static inline __attribute__((always_inline)) int
on_event_as(PyObject *code, uint32_t kind, int lean)
{
    tl_state_t *me = &tl;
    /* Read first: the TSC's microcode then runs while the map's loads
     * wait (on the AMD EPYC host, rdtsc costs 5-6 ns; read here, a
     * traced call took 2 ns less).  An event that is not recorded here
     * wastes it. */
    uint64_t ts = lean ? sw_tracer_tsc() : 0;

    if (__builtin_expect(me->key == live_key, 1)) {
        /* Tracing is on (so the map is allocated: trace_start), this
         * thread's buffer is bound (me->thread), and it is not quiet:
         * a code already interned, traced, neither scoped nor a task's
         * coroutine, is the common case. */
        size_t i = sw_hash_ptr((uintptr_t)code) & map_mask;
        uint32_t v;
        uintptr_t k;

        /* (The key compared first: a hit costs no test for an empty
         * slot.) */
        for (;;) {
            k = map_keys[i];
            if (__builtin_expect(k == (uintptr_t)code, 1)) {
                v = map_vals[i];
                if (__builtin_expect((v & (MAP_SKIPPED | MAP_SPECIAL)) == 0,
                                     1)) {
                    /* Traced, neither scoped nor a task's coroutine:
                     * the value is the id. */
                    record_plain_as(me->thread, v, kind, lean, ts);
                    return VERDICT_TRACED;
                }
                break;
            }
            if (k == 0) {
                break; /* not interned yet */
            }
            i = (i + 1) & map_mask;
        }
    }
    return on_event_slow(code, kind);
}

static inline __attribute__((always_inline)) int
on_event(PyObject *code, uint32_t kind)
{
    return on_event_as(code, kind, 0);
}

static inline void
on_event_record(tl_state_t *me, uint32_t id, uint32_t kind)
{
    if (task_labeler != NULL && codes[id].coroutine) {
        on_coroutine(me, id, kind);
        return;
    }
    record(me, id, kind);
}

/* ---- C functions (--c-calls) ------------------------------------------- */

/* The name of callable c, quietly: "module.qualname" for functions of a
 * module other than builtins, else its __qualname__ (or __name__, or its
 * type's name).  A new reference, or NULL. */
static PyObject *
cfunc_name(PyObject *c)
{
    PyObject *qual, *mod = NULL, *r = NULL;

    QUIET_ENTER();
    qual = PyObject_GetAttrString(c, "__qualname__");
    if (qual == NULL || !PyUnicode_Check(qual)) {
        Py_XDECREF(qual);
        PyErr_Clear();
        qual = PyObject_GetAttrString(c, "__name__");
    }
    if (qual != NULL && PyUnicode_Check(qual) && PyCFunction_Check(c)) {
        mod = PyObject_GetAttrString(c, "__module__");
    }
    QUIET_LEAVE();
    PyErr_Clear();
    if (qual == NULL || !PyUnicode_Check(qual)) {
        Py_XDECREF(qual);
        return PyUnicode_FromString(Py_TYPE(c)->tp_name);
    }
    if (mod != NULL && PyUnicode_Check(mod) &&
        PyUnicode_CompareWithASCIIString(mod, "builtins") != 0) {
        r = PyUnicode_FromFormat("%U.%U", mod, qual);
    }
    else {
        r = qual;
        Py_INCREF(r);
    }
    Py_XDECREF(mod);
    Py_DECREF(qual);
    return r;
}

/* The id of C callable c, interned by something that lives as long as
 * what it names: a builtin function's method table entry (bound ones are
 * new objects at every call), a method descriptor's, a type itself, or
 * for any other callable object its type (then named by the type).
 * UINT32_MAX when it cannot be interned.  Never raises. */
static uint32_t
intern_cfunc(PyObject *c)
{
    uintptr_t key;
    PyObject *named = c;
    uint32_t i;

    if (PyCFunction_Check(c)) {
        key = (uintptr_t)((PyCFunctionObject *)c)->m_ml;
    }
    else if (Py_IS_TYPE(c, &PyMethodDescr_Type)) {
        key = (uintptr_t)((PyMethodDescrObject *)c)->d_method;
    }
    else if (PyType_Check(c)) {
        key = (uintptr_t)c;
    }
    else {
        named = (PyObject *)Py_TYPE(c);
        key = (uintptr_t)named | 1;
    }
    if (map_mask != 0) {
        i = sw_hash_ptr(key) & map_mask;
        while (map_keys[i] != 0) {
            if (map_keys[i] == key) {
                return MAP_ID(map_vals[i]);
            }
            i = (i + 1) & map_mask;
        }
    }
    if (ncodes >= MAX_CODES ||
        ((ncodes + 1) * 2 > map_mask + 1 && map_grow() < 0)) {
        return UINT32_MAX;
    }
    if (ncodes == codes_cap) {
        uint32_t cap = codes_cap ? codes_cap * 2 : 1024;
        code_entry_t *e = realloc(codes, cap * sizeof(*e));

        if (e == NULL) {
            return UINT32_MAX;
        }
        codes = e;
        codes_cap = cap;
    }
    codes[ncodes].name = cfunc_name(named);
    PyErr_Clear();
    if (codes[ncodes].name == NULL) {
        return UINT32_MAX;
    }
    codes[ncodes].code = NULL;
    codes[ncodes].verdict = VERDICT_TRACED;
    codes[ncodes].coroutine = 0;
    codes[ncodes].scope = 0;
    i = sw_hash_ptr(key) & map_mask;
    while (map_keys[i] != 0) {
        i = (i + 1) & map_mask;
    }
    map_keys[i] = key;
    map_vals[i] = map_value(ncodes);
    return ncodes++;
}

/* A C call (kind ENTER) or its end (EXIT) made by code `caller`; returns
 * the caller's verdict (0: not known). */
static int
on_c_event(PyObject *caller, PyObject *callable, uint32_t kind)
{
    tl_state_t *me = &tl;
    int verdict = 0;
    uint32_t id;

    if (engine == ENGINE_OFF || me->quiet || caller == NULL) {
        return 0;
    }
    if (intern_code(caller, &verdict) == UINT32_MAX ||
        verdict != VERDICT_TRACED) {
        return verdict;
    }
    id = intern_cfunc(callable);
    if (id != UINT32_MAX) {
        record(me, id, kind);
    }
    return verdict;
}

/* ---- greenlets --------------------------------------------------------- */

/* Labels greenlet id (g: the greenlet, or NULL for the current one) once
 * per session, through the Python labeler, quietly.  Never raises. */
static void
label_greenlet(uint32_t id, PyObject *g)
{
    PyObject *exc_type, *exc, *tb, *key, *label;

    PyErr_Fetch(&exc_type, &exc, &tb);
    key = PyLong_FromUnsignedLong(id);
    if (key != NULL && greenlet_labels != NULL &&
        PyDict_Contains(greenlet_labels, key) == 0) {
        QUIET_ENTER();
        label =
            PyObject_CallFunction(greenlet_labeler, "IO", id, g ? g : Py_None);
        QUIET_LEAVE();
        if (label != NULL && PyUnicode_Check(label)) {
            PyDict_SetItem(greenlet_labels, key, label);
        }
        Py_XDECREF(label);
    }
    Py_XDECREF(key);
    PyErr_Clear();
    PyErr_Restore(exc_type, exc, tb);
}

/* The greenlet hook's listener: the thread's track is now greenlet
 * to_id's.  Context: GIL held, the switching thread. */
static void
on_switch(uint32_t to_id, PyObject *to)
{
    sw_trace_thread_t *t;

    if (engine == ENGINE_OFF || tl.quiet || to_id == 0 ||
        greenlet_labeler == NULL) {
        return;
    }
    t = this_thread();
    if (t == NULL || t->ignored) {
        return;
    }
    sw_tracer_put(&store, t, sw_tracer_now(&store), to_id, SW_TR_SWITCH);
    label_greenlet(to_id, to);
}

/* Installs the greenlet hook in the calling thread, a thread the tracer
 * has just seen for the first time, if it has none: threads that
 * threading starts get it as they start (_greenlets' threading hook),
 * but not those started otherwise (gevent's threadpool, whose workers
 * switch from their thread's main greenlet to a worker greenlet at
 * once), nor those already running when tracking started.  Quiet;
 * never raises. */
static void
hook_greenlets(void)
{
    PyObject *exc_type, *exc, *tb;

    PyErr_Fetch(&exc_type, &exc, &tb);
    QUIET_ENTER();
    (void)sw_greenlet_install();
    QUIET_LEAVE();
    PyErr_Clear();
    PyErr_Restore(exc_type, exc, tb);
}

/* A new thread record's first record: the greenlet running now (so that
 * its calls land on its track from the start).  Never raises. */
static void
first_greenlet(sw_trace_thread_t *t)
{
    PyObject *exc_type, *exc, *tb, *mod, *g = NULL;
    uint32_t id = 0;

    PyErr_Fetch(&exc_type, &exc, &tb);
    QUIET_ENTER();
    mod = PyImport_ImportModule("greenlet");
    if (mod != NULL) {
        g = PyObject_CallMethod(mod, "getcurrent", NULL);
        Py_DECREF(mod);
    }
    QUIET_LEAVE();
    if (g != NULL) {
        id = sw_greenlet_id_of(g);
    }
    if (id != 0) {
        sw_tracer_put(&store, t, sw_tracer_now(&store), id, SW_TR_SWITCH);
        label_greenlet(id, g);
    }
    Py_XDECREF(g);
    PyErr_Clear();
    PyErr_Restore(exc_type, exc, tb);
}

/* A local event's answer: DISABLE for code left out, else None
 * (Py_RETURN_NONE: no reference taken on the Pythons that call these
 * hooks, 3.12+, where None is immortal). */
static inline PyObject *
local_answer(int verdict)
{
    if (verdict == VERDICT_SKIPPED && disable_obj != NULL) {
        Py_INCREF(disable_obj);
        return disable_obj;
    }
    Py_RETURN_NONE;
}

static PyObject *
cb_enter_local(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1) {
        Py_RETURN_NONE;
    }
    return local_answer(on_event(args[0], SW_TR_ENTER));
}

static PyObject *
cb_exit_local(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1) {
        Py_RETURN_NONE;
    }
    return local_answer(on_event(args[0], SW_TR_EXIT));
}

/* The same for hooks_lean (the frequent events only). */
static PyObject *
cb_enter_lean(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1) {
        Py_RETURN_NONE;
    }
    return local_answer(on_event_as(args[0], SW_TR_ENTER, 1));
}

static PyObject *
cb_exit_lean(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1) {
        Py_RETURN_NONE;
    }
    return local_answer(on_event_as(args[0], SW_TR_EXIT, 1));
}

/* PY_THROW and PY_UNWIND: cannot be disabled. */
static PyObject *
cb_enter_other(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs >= 1) {
        on_event(args[0], SW_TR_ENTER);
    }
    Py_RETURN_NONE;
}

static PyObject *
cb_exit_other(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs >= 1) {
        on_event(args[0], SW_TR_EXIT);
    }
    Py_RETURN_NONE;
}

/* CALL (a local event): a call from code args[0] to args[2]; Python
 * callables start their own slices (PY_START), so only others open one
 * here.  A call site in code left out is disabled. */
static PyObject *
cb_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 3 || PyFunction_Check(args[2]) || PyMethod_Check(args[2])) {
        if (nargs >= 1 && engine != ENGINE_OFF && !tl.quiet) {
            int verdict;

            if (intern_code(args[0], &verdict) != UINT32_MAX) {
                return local_answer(verdict);
            }
        }
        Py_RETURN_NONE;
    }
    return local_answer(on_c_event(args[0], args[2], SW_TR_ENTER));
}

/* C_RETURN, C_RAISE (ancillary: only where CALL is on). */
static PyObject *
cb_c_exit(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs >= 3) {
        on_c_event(args[0], args[2], SW_TR_EXIT);
    }
    Py_RETURN_NONE;
}

/* In event_names' order. */
static PyMethodDef callback_defs[NEVENTS] = {
    {"_trace_py_start", (PyCFunction)(void (*)(void))cb_enter_local,
     METH_FASTCALL, NULL},
    {"_trace_py_resume", (PyCFunction)(void (*)(void))cb_enter_local,
     METH_FASTCALL, NULL},
    {"_trace_py_throw", (PyCFunction)(void (*)(void))cb_enter_other,
     METH_FASTCALL, NULL},
    {"_trace_py_return", (PyCFunction)(void (*)(void))cb_exit_local,
     METH_FASTCALL, NULL},
    {"_trace_py_yield", (PyCFunction)(void (*)(void))cb_exit_local,
     METH_FASTCALL, NULL},
    {"_trace_py_unwind", (PyCFunction)(void (*)(void))cb_exit_other,
     METH_FASTCALL, NULL},
    {"_trace_call", (PyCFunction)(void (*)(void))cb_call, METH_FASTCALL, NULL},
    {"_trace_c_return", (PyCFunction)(void (*)(void))cb_c_exit, METH_FASTCALL,
     NULL},
    {"_trace_c_raise", (PyCFunction)(void (*)(void))cb_c_exit, METH_FASTCALL,
     NULL},
};

/* The objects registered with sys.monitoring: callables whose
 * vectorcall is a callback's own trampoline, so an event's call goes
 * from the interpreter straight to it, not through a builtin function's
 * generic path (cfunction_vectorcall_FASTCALL and its recursion check:
 * about 20 instructions an event on 3.12).  Named after callback_defs'
 * entry (repr only). */
typedef struct hook_object {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    const char *name;
} hook_object;

static PyObject *
hook_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<stackwatch tracer callback %s>",
                                ((hook_object *)self)->name);
}

static PyTypeObject hook_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name =
        "stackwatch._native.TracerCallback",
    .tp_basicsize = sizeof(hook_object),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(hook_object, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_repr = hook_repr,
};

#define HOOK_TRAMPOLINE(cb)                                         \
    static PyObject *vc_##cb(PyObject *self, PyObject *const *args, \
                             size_t nargsf, PyObject *kwnames)      \
    {                                                               \
        (void)kwnames;                                              \
        return cb(self, args, PyVectorcall_NARGS(nargsf));          \
    }

HOOK_TRAMPOLINE(cb_enter_local)
HOOK_TRAMPOLINE(cb_exit_local)
HOOK_TRAMPOLINE(cb_enter_other)
HOOK_TRAMPOLINE(cb_exit_other)
HOOK_TRAMPOLINE(cb_call)
HOOK_TRAMPOLINE(cb_c_exit)
HOOK_TRAMPOLINE(cb_enter_lean)
HOOK_TRAMPOLINE(cb_exit_lean)

/* In event_names' order, as callback_defs. */
static const vectorcallfunc hook_calls[NEVENTS] = {
    vc_cb_enter_local, vc_cb_enter_local, vc_cb_enter_other,
    vc_cb_exit_local,  vc_cb_exit_local,  vc_cb_exit_other,
    vc_cb_call,        vc_cb_c_exit,      vc_cb_c_exit};

/* The same for a session whose clock is the TSC and that has no
 * --max-depth (hooks_lean): the frequent events' common case then has
 * no clock test and no depth limit to compare with. */
static const vectorcallfunc hook_calls_lean[NEVENTS] = {
    vc_cb_enter_lean, vc_cb_enter_lean, vc_cb_enter_other,
    vc_cb_exit_lean,  vc_cb_exit_lean,  vc_cb_exit_other,
    vc_cb_call,       vc_cb_c_exit,     vc_cb_c_exit};

/* A new callback object for event i, or NULL with an exception set. */
static PyObject *
hook_new(int i)
{
    hook_object *h;

    if (!(hook_type.tp_flags & Py_TPFLAGS_READY) &&
        PyType_Ready(&hook_type) < 0) {
        return NULL;
    }
    h = PyObject_New(hook_object, &hook_type);
    if (h == NULL) {
        return NULL;
    }
    h->vectorcall =
        store.tsc && max_depth == INT_MAX ? hook_calls_lean[i] : hook_calls[i];
    h->name = callback_defs[i].ml_name;
    return (PyObject *)h;
}

/* Before 3.12: the C profile function.  A generator's resumption is a
 * PyTrace_CALL, its yield a PyTrace_RETURN, as are exits by exception. */
static int
profile_func(PyObject *obj, PyFrameObject *frame, int what, PyObject *arg)
{
    PyCodeObject *code;
    uint32_t kind;
    (void)obj;
    (void)arg;

    if (what == PyTrace_CALL) {
        kind = SW_TR_ENTER;
    }
    else if (what == PyTrace_RETURN) {
        kind = SW_TR_EXIT;
    }
    else if (c_calls && arg != NULL &&
             (what == PyTrace_C_CALL || what == PyTrace_C_RETURN ||
              what == PyTrace_C_EXCEPTION)) {
        code = PyFrame_GetCode(frame);
        on_c_event((PyObject *)code, arg,
                   what == PyTrace_C_CALL ? SW_TR_ENTER : SW_TR_EXIT);
        Py_DECREF(code);
        return 0;
    }
    else {
        return 0;
    }
    code = PyFrame_GetCode(frame);
    on_event((PyObject *)code, kind);
    Py_DECREF(code);
    return 0;
}

/* Gives the calling thread's record threading's name for it, read now
 * (by the time the trace is written the thread may be gone and its
 * ident reused): the Thread that threading._active holds under the
 * thread's own ident, if its native_id is this thread's.  Not
 * threading.current_thread(): in a thread that threading did not start
 * (gevent's threadpool) it makes a dummy thread, which the program then
 * finds in threading.enumerate(), and under gevent's monkey patching it
 * answers for the current greenlet ("Dummy-1"), not for the OS thread
 * (_active's keys are then greenlets': no name here; the one trace.py
 * gives by kernel id, or what the thread runs, at write time).  Never
 * raises. */
static void
name_this_thread(void)
{
    sw_trace_thread_t *t = this_thread();
    PyObject *exc_type, *exc, *tb, *threading, *active = NULL, *key = NULL;
    PyObject *thread = NULL, *nid = NULL, *name = NULL;

    if (t == NULL || t->name != NULL) {
        return;
    }
    PyErr_Fetch(&exc_type, &exc, &tb);
    threading = PyImport_ImportModule("threading");
    if (threading != NULL) {
        active = PyObject_GetAttrString(threading, "_active");
        Py_DECREF(threading);
    }
    if (active != NULL && PyDict_Check(active)) {
        key = PyLong_FromUnsignedLongLong((unsigned long long)t->ident);
        thread = key != NULL ? PyDict_GetItemWithError(active, key) : NULL;
        Py_XINCREF(thread);
    }
    if (thread != NULL) {
        nid = PyObject_GetAttrString(thread, "native_id");
    }
    if (nid != NULL && PyLong_Check(nid) && PyLong_AsLong(nid) == t->tid) {
        name = PyObject_GetAttrString(thread, "name");
    }
    if (name != NULL && PyUnicode_Check(name)) {
        const char *s = PyUnicode_AsUTF8(name);

        t->name = s ? strdup(s) : NULL;
    }
    Py_XDECREF(name);
    Py_XDECREF(nid);
    Py_XDECREF(thread);
    Py_XDECREF(key);
    Py_XDECREF(active);
    PyErr_Clear();
    PyErr_Restore(exc_type, exc, tb);
}

/* threading.setprofile's hook, called as a Python profile function at a
 * new thread's first event (threading sets it once the thread is in
 * threading's table): names the thread's record, then puts the C
 * profile function in its place and passes the event on (before 3.12)
 * or removes itself (sys.monitoring needs no per-thread hook). */
static PyObject *
thread_hook_func(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (thread_hook_prev != NULL) {
        /* The hook we replaced (greenlet tracking's installs the
         * greenlet hook in the thread) runs first: it may set the
         * thread's profile function, which we then replace. */
        PyObject *r =
            PyObject_Vectorcall(thread_hook_prev, args, (size_t)nargs, NULL);

        Py_XDECREF(r);
        PyErr_Clear();
    }
    if (engine != ENGINE_OFF) {
        QUIET_ENTER();
        name_this_thread();
        QUIET_LEAVE();
    }
    if (engine != ENGINE_PROFILE) {
        PyEval_SetProfile(NULL, NULL);
        Py_RETURN_NONE;
    }
    PyEval_SetProfile(profile_func, NULL);
    if (nargs >= 2 && PyFrame_Check(args[0]) && PyUnicode_Check(args[1])) {
        if (PyUnicode_CompareWithASCIIString(args[1], "call") == 0) {
            profile_func(NULL, (PyFrameObject *)args[0], PyTrace_CALL, NULL);
        }
        else if (PyUnicode_CompareWithASCIIString(args[1], "return") == 0) {
            profile_func(NULL, (PyFrameObject *)args[0], PyTrace_RETURN, NULL);
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef thread_hook_def = {
    "_trace_thread_hook", (PyCFunction)(void (*)(void))thread_hook_func,
    METH_FASTCALL, NULL};

/* ---- starting and stopping --------------------------------------------- */

static void
prefixes_free(prefix_t **a, size_t *n)
{
    size_t i;

    for (i = 0; i < *n; i++) {
        free((*a)[i].text);
    }
    free(*a);
    *a = NULL;
    *n = 0;
}

/* Copies a sequence of str into prefixes; the last `internal` of them
 * are stackwatch's own.  Returns 0, or -1 with an exception set. */
static int
prefixes_from(PyObject *seq, Py_ssize_t internal, prefix_t **out, size_t *nout)
{
    PyObject *fast = PySequence_Fast(seq, "prefixes must be a sequence");
    Py_ssize_t n, i;

    if (fast == NULL) {
        return -1;
    }
    n = PySequence_Fast_GET_SIZE(fast);
    *out = calloc(n ? (size_t)n : 1, sizeof(prefix_t));
    if (*out == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < n; i++) {
        PyObject *s = PySequence_Fast_GET_ITEM(fast, i);
        const char *text = PyUnicode_Check(s) ? PyUnicode_AsUTF8(s) : NULL;

        if (text == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "prefixes must be str");
            }
            break;
        }
        (*out)[i].text = strdup(text);
        if ((*out)[i].text == NULL) {
            PyErr_NoMemory();
            break;
        }
        (*out)[i].len = strlen(text);
        (*out)[i].internal = i >= n - internal;
        (*nout)++;
    }
    Py_DECREF(fast);
    return PyErr_Occurred() ? -1 : 0;
}

static void
monitoring_release(void)
{
    int i;

    if (tool_id >= 0 && monitoring != NULL) {
        PyObject *exc_type, *exc, *tb;

        uint32_t k;

        PyErr_Fetch(&exc_type, &exc, &tb);
        Py_XDECREF(
            PyObject_CallMethod(monitoring, "set_events", "ii", tool_id, 0));
        PyErr_Clear();
        /* CPython keeps a DISABLEd location disabled for the tool id
         * across set_events(id, 0) and a later set_events(id, ...) when
         * the code does not run in between (instrumentation is brought
         * up to date lazily), so the next session would never see code
         * this one left out.  Setting local events on the code and
         * clearing them again brings its instrumentation up to date now
         * (with our events off), which forgets the DISABLEs, without
         * restart_events (which would re-enable other tools' too). */
        for (k = 0; k < ncodes; k++) {
            if ((codes[k].verdict == VERDICT_SKIPPED || codes[k].scope) &&
                codes[k].code != NULL) {
                Py_XDECREF(PyObject_CallMethod(monitoring, "set_local_events",
                                               "iOk", tool_id, codes[k].code,
                                               local_mask));
                Py_XDECREF(PyObject_CallMethod(monitoring, "set_local_events",
                                               "iOi", tool_id, codes[k].code,
                                               0));
                PyErr_Clear();
            }
        }
        if (scope_set != NULL) {
            PyObject *it = PyObject_GetIter(scope_set), *c;

            while (it != NULL && (c = PyIter_Next(it)) != NULL) {
                Py_XDECREF(PyObject_CallMethod(monitoring, "set_local_events",
                                               "iOi", tool_id, c, 0));
                Py_DECREF(c);
                PyErr_Clear();
            }
            Py_XDECREF(it);
            PyErr_Clear();
        }
        for (i = 0; i < NEVENTS; i++) {
            PyObject *ev = NULL, *events;

            events = PyObject_GetAttrString(monitoring, "events");
            if (events != NULL) {
                ev = PyObject_GetAttrString(events, event_names[i]);
                Py_DECREF(events);
            }
            if (ev != NULL) {
                Py_XDECREF(PyObject_CallMethod(monitoring, "register_callback",
                                               "iOO", tool_id, ev, Py_None));
                Py_DECREF(ev);
            }
            PyErr_Clear();
        }
        Py_XDECREF(
            PyObject_CallMethod(monitoring, "free_tool_id", "i", tool_id));
        PyErr_Clear();
        PyErr_Restore(exc_type, exc, tb);
    }
    tool_id = -1;
    for (i = 0; i < NEVENTS; i++) {
        Py_CLEAR(callbacks[i]);
    }
    Py_CLEAR(disable_obj);
    Py_CLEAR(monitoring);
}

/* Scoped tracing, 3.12+: turns on code's local events.  Returns 0, or
 * -1 with an exception set. */
static int
scope_local_events(PyObject *code)
{
    PyObject *r = PyObject_CallMethod(monitoring, "set_local_events", "iOk",
                                      tool_id, code, scope_local_mask);

    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* Takes a tool id and registers the callbacks.  Returns 0, or -1 with an
 * exception set (everything taken released). */
static int
monitoring_start(void)
{
    PyObject *sys = PyImport_ImportModule("sys"), *events = NULL, *r;
    long preferred = 2, want[7];
    unsigned long mask = 0;
    int i, n = 0;

    local_mask = 0;
    scope_local_mask = 0;

    if (sys == NULL) {
        return -1;
    }
    monitoring = PyObject_GetAttrString(sys, "monitoring");
    Py_DECREF(sys);
    if (monitoring == NULL) {
        return -1;
    }
    disable_obj = PyObject_GetAttrString(monitoring, "DISABLE");
    r = PyObject_GetAttrString(monitoring, "PROFILER_ID");
    if (disable_obj == NULL || r == NULL) {
        Py_XDECREF(r);
        goto fail;
    }
    preferred = PyLong_AsLong(r);
    Py_DECREF(r);
    want[n++] = preferred;
    for (i = 0; i < 6; i++) {
        if (i != preferred) {
            want[n++] = i;
        }
    }
    for (i = 0; i < n && tool_id < 0; i++) {
        PyObject *holder =
            PyObject_CallMethod(monitoring, "get_tool", "l", want[i]);

        if (holder == NULL) {
            goto fail;
        }
        if (holder == Py_None) {
            r = PyObject_CallMethod(monitoring, "use_tool_id", "ls", want[i],
                                    "stackwatch");
            if (r != NULL) {
                tool_id = (int)want[i];
                Py_DECREF(r);
            }
            else {
                PyErr_Clear(); /* taken meanwhile: try the next */
            }
        }
        Py_DECREF(holder);
    }
    if (tool_id < 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "every sys.monitoring tool id (0-5) is taken by "
                        "other tools: the tracer needs one");
        goto fail;
    }
    events = PyObject_GetAttrString(monitoring, "events");
    if (events == NULL) {
        goto fail;
    }
    for (i = 0; i < (c_calls ? NEVENTS : 6); i++) {
        PyObject *ev = PyObject_GetAttrString(events, event_names[i]);

        if (ev == NULL) {
            goto fail;
        }
        mask |= PyLong_AsUnsignedLong(ev);
        if (i == 0 || i == 1 || i == 3 || i == 4) {
            /* PY_START, PY_RESUME, PY_RETURN, PY_YIELD */
            scope_local_mask |= PyLong_AsUnsignedLong(ev);
        }
        if (callback_defs[i].ml_meth ==
                (PyCFunction)(void (*)(void))cb_enter_local ||
            callback_defs[i].ml_meth ==
                (PyCFunction)(void (*)(void))cb_exit_local ||
            callback_defs[i].ml_meth == (PyCFunction)(void (*)(void))cb_call) {
            local_mask |= PyLong_AsUnsignedLong(ev);
        }
        callbacks[i] = hook_new(i);
        r = callbacks[i]
                ? PyObject_CallMethod(monitoring, "register_callback", "iOO",
                                      tool_id, ev, callbacks[i])
                : NULL;
        Py_DECREF(ev);
        if (r == NULL) {
            goto fail;
        }
        Py_DECREF(r);
    }
    Py_CLEAR(events);
    global_mask = mask;
    set_engine(ENGINE_MONITORING); /* before the first event can come */
    if (scoped) {
        /* Only the traced functions' own events until one runs. */
        PyObject *it = PyObject_GetIter(scope_set), *c;

        while (it != NULL && (c = PyIter_Next(it)) != NULL) {
            if (scope_local_events(c) < 0) {
                Py_DECREF(c);
                break;
            }
            Py_DECREF(c);
        }
        Py_XDECREF(it);
        if (PyErr_Occurred()) {
            set_engine(ENGINE_OFF);
            goto fail;
        }
        return 0;
    }
    r = PyObject_CallMethod(monitoring, "set_events", "ik", tool_id, mask);
    if (r == NULL) {
        set_engine(ENGINE_OFF);
        goto fail;
    }
    Py_DECREF(r);
    return 0;

fail:
    Py_XDECREF(events);
    monitoring_release();
    return -1;
}

static PyObject *
threading_call(const char *name, PyObject *arg)
{
    PyObject *threading = PyImport_ImportModule("threading"), *r;

    if (threading == NULL) {
        return NULL;
    }
    r = PyObject_CallMethod(threading, name, "O", arg);
    Py_DECREF(threading);
    return r;
}

/* Sets threading.setprofile's hook for threads started from now on.
 * Returns 0, or -1 with an exception set. */
static int
thread_hook_start(void)
{
    PyObject *r, *threading = PyImport_ImportModule("threading");

    if (threading == NULL) {
        return -1;
    }
    thread_hook_prev = PyObject_GetAttrString(threading, "_profile_hook");
    Py_DECREF(threading);
    if (thread_hook_prev == NULL) {
        PyErr_Clear();
    }
    else if (thread_hook_prev == Py_None) {
        Py_CLEAR(thread_hook_prev);
    }
    thread_hook = PyCFunction_New(&thread_hook_def, NULL);
    r = thread_hook ? threading_call("setprofile", thread_hook) : NULL;
    if (r == NULL) {
        Py_CLEAR(thread_hook);
        Py_CLEAR(thread_hook_prev);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

static void
thread_hook_stop(void)
{
    PyObject *exc_type, *exc, *tb, *threading, *cur = NULL;

    if (thread_hook == NULL) {
        return;
    }
    PyErr_Fetch(&exc_type, &exc, &tb);
    threading = PyImport_ImportModule("threading");
    if (threading != NULL) {
        cur = PyObject_GetAttrString(threading, "_profile_hook");
        Py_DECREF(threading);
    }
    /* Only if it is still ours: whoever replaced it decides. */
    if (cur == NULL || cur == thread_hook) {
        Py_XDECREF(threading_call(
            "setprofile", thread_hook_prev ? thread_hook_prev : Py_None));
    }
    Py_XDECREF(cur);
    PyErr_Clear();
    PyErr_Restore(exc_type, exc, tb);
    Py_CLEAR(thread_hook);
    Py_CLEAR(thread_hook_prev);
}

static int
profile_start(void)
{
    if (thread_hook_start() < 0) {
        return -1;
    }
    set_engine(ENGINE_PROFILE);
    if (sw_compat_set_profile_all(profile_func, NULL) < 0) {
        set_engine(ENGINE_OFF);
        thread_hook_stop();
        return -1;
    }
    return 0;
}

static void
profile_stop(void)
{
    PyObject *exc_type, *exc, *tb;

    thread_hook_stop();
    PyErr_Fetch(&exc_type, &exc, &tb);
    if (sw_compat_set_profile_all(NULL, NULL) < 0) {
        PyErr_Clear();
    }
    PyErr_Restore(exc_type, exc, tb);
}

static void
clear_session(void)
{
    Py_CLEAR(task_labels);
    free(rss);
    rss = NULL;
    nrss = rss_cap = 0;
    free(live);
    live = NULL;
    nlive = live_cap = nlive_last = 0;
    Py_CLEAR(span_ids);
    Py_CLEAR(span_keys);
    Py_CLEAR(greenlet_labels);
    sw_tracer_free(&store);
    codes_clear();
    prefixes_free(&includes, &nincludes);
    prefixes_free(&excludes, &nexcludes);
    lost_threads = 0;
    have_trace = 0;
    scoped = 0;
    scope_threads = 0;
    Py_CLEAR(scope_set);
}

/* trace_start(buffer_bytes, include, exclude, internal_excludes,
 * max_depth): starts tracing every thread.  The last internal_excludes
 * of exclude are stackwatch's own (not reported as user filters). */
static PyObject *
trace_start_py(PyObject *m, PyObject *args)
{
    unsigned long long limit;
    PyObject *inc, *exc, *labeler, *tasks = Py_None, *scope = Py_None;
    Py_ssize_t internal;
    int depth, rc, want_c_calls;
    double ring_seconds;
    (void)m;

    if (!PyArg_ParseTuple(args, "KOOniOpd|OO", &limit, &inc, &exc, &internal,
                          &depth, &labeler, &want_c_calls, &ring_seconds,
                          &tasks, &scope)) {
        return NULL;
    }
    if (engine != ENGINE_OFF) {
        return sw_py_raise(SW_EBUSY, "the tracer is already running");
    }
    clear_session();
    if (map_grow() < 0) { /* (on_event's common case needs the map) */
        PyErr_NoMemory();
        return NULL;
    }
    if (prefixes_from(inc, 0, &includes, &nincludes) < 0 ||
        prefixes_from(exc, internal, &excludes, &nexcludes) < 0) {
        clear_session();
        return NULL;
    }
    if (scope != Py_None) {
        /* Scoped: only inside these code objects (and those added by
         * trace_scope_add). */
        scope_set = PySet_New(scope);
        if (scope_set == NULL) {
            clear_session();
            return NULL;
        }
        scoped = 1;
    }
    if (tasks != Py_None) {
        task_labels = PyDict_New();
        if (task_labels == NULL) {
            clear_session();
            return NULL;
        }
        Py_INCREF(tasks);
        task_labeler = tasks;
    }
    if (labeler != Py_None) {
        greenlet_labels = PyDict_New();
        if (greenlet_labels == NULL) {
            clear_session();
            return NULL;
        }
        Py_INCREF(labeler);
        greenlet_labeler = labeler;
        sw_greenlet_set_listener(on_switch);
    }
    sw_tracer_init(&store, (size_t)limit);
    store.ring_ns = ring_seconds > 0 ? (uint64_t)(ring_seconds * 1e9) + 1 : 0;
    max_depth = depth > 0 ? depth : INT_MAX;
    c_calls = want_c_calls;
    if (++gen == LIVE_OFF || gen == 0) {
        gen = 1; /* (a key is 0 or a session's gen; live_key LIVE_OFF) */
    }
    sw_tracer_clock_start(&store, sw_tracer_tsc_usable());
    have_trace = 1;
    if (sw_compat_trace_monitoring()) {
        /* The threading hook only names threads started from now on;
         * set first, so that setting it is not traced. */
        rc = thread_hook_start();
        if (rc == 0 && monitoring_start() < 0) {
            thread_hook_stop();
            rc = -1;
        }
    }
    else {
        rc = profile_start();
    }
    if (rc < 0) {
        clear_session();
        return NULL;
    }
    return PyLong_FromLong(tool_id);
}

static void
stop_hooks(void)
{
    Py_CLEAR(task_labeler);
    sw_greenlet_set_listener(NULL);
    Py_CLEAR(greenlet_labeler);
    if (engine == ENGINE_MONITORING) {
        set_engine(ENGINE_OFF);
        monitoring_release();
        thread_hook_stop();
    }
    else if (engine == ENGINE_PROFILE) {
        set_engine(ENGINE_OFF);
        profile_stop();
    }
}

/* trace_scope_add(code): with a scoped session running, code becomes a
 * traced function's too.  Returns True, or False when no scoped session
 * runs. */
static PyObject *
trace_scope_add_py(PyObject *m, PyObject *code)
{
    uint32_t i;
    (void)m;

    if (!PyCode_Check(code)) {
        PyErr_SetString(PyExc_TypeError, "a code object is needed");
        return NULL;
    }
    if (engine == ENGINE_OFF || !scoped || scope_set == NULL) {
        Py_RETURN_FALSE;
    }
    if (PySet_Add(scope_set, code) < 0) {
        return NULL;
    }
    for (i = 0; map_mask != 0 && i <= map_mask; i++) {
        if (map_keys[i] == (uintptr_t)code) {
            uint32_t id = MAP_ID(map_vals[i]);

            codes[id].scope = 1;
            codes[id].verdict = VERDICT_TRACED;
            map_vals[i] = map_value(id);
        }
    }
    if (engine == ENGINE_MONITORING && scope_local_events(code) < 0) {
        return NULL;
    }
    Py_RETURN_TRUE;
}

/* trace_stop(): stops recording (the records stay, for trace_write). */
static PyObject *
trace_stop_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    if (engine == ENGINE_OFF) {
        Py_RETURN_FALSE;
    }
    stop_hooks();
    sw_tracer_clock_stop(&store);
    Py_RETURN_TRUE;
}

static PyObject *
trace_clear_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    stop_hooks();
    clear_session();
    Py_RETURN_NONE;
}

static PyObject *
prefix_hits(const prefix_t *a, size_t n)
{
    PyObject *d = PyDict_New();
    size_t i;

    for (i = 0; d != NULL && i < n; i++) {
        PyObject *v;

        if (a[i].internal) {
            continue;
        }
        v = PyLong_FromUnsignedLongLong(a[i].hits);
        if (v == NULL || PyDict_SetItemString(d, a[i].text, v) < 0) {
            Py_XDECREF(v);
            Py_CLEAR(d);
            break;
        }
        Py_DECREF(v);
    }
    return d;
}

static PyObject *
trace_stats_py(PyObject *m, PyObject *noargs)
{
    uint64_t events, dropped, aged;
    size_t threads;
    PyObject *inc, *exc, *r;
    (void)m;
    (void)noargs;

    sw_tracer_totals(&store, &events, &dropped, &aged, &threads);
    inc = prefix_hits(includes, nincludes);
    exc = prefix_hits(excludes, nexcludes);
    if (inc == NULL || exc == NULL) {
        Py_XDECREF(inc);
        Py_XDECREF(exc);
        return NULL;
    }
    r = Py_BuildValue(
        "{sKsKsKsnsIsnsnsisssOsOsisdsssK}", "events",
        (unsigned long long)events, "aged", (unsigned long long)aged,
        "dropped", (unsigned long long)dropped, "threads", (Py_ssize_t)threads,
        "codes", (unsigned int)ncodes, "buffer_used", (Py_ssize_t)store.used,
        "buffer_limit", (Py_ssize_t)store.limit, "running",
        engine != ENGINE_OFF, "engine",
        sw_compat_trace_monitoring() ? "sys.monitoring" : "profile function",
        "include_hits", inc, "exclude_hits", exc, "tool_id", tool_id,
        "duration_seconds",
        have_trace
            ? (double)((engine != ENGINE_OFF ? sw_now_ns() : store.stop_ns) -
                       store.start_ns) /
                  1e9
            : 0.0,
        "clock", store.tsc ? "tsc" : "monotonic", "start_ns",
        (unsigned long long)(have_trace ? store.start_ns : 0));
    Py_DECREF(inc);
    Py_DECREF(exc);
    return r;
}

/* The UTF-8 of attribute name of o (borrowed from the code object, which
 * the table holds), or fallback. */
static const char *
code_str(PyObject *code, const char *name, const char *fallback,
         PyObject *keep)
{
    PyObject *v = PyObject_GetAttrString(code, name);
    const char *s = NULL;

    if (v != NULL && PyUnicode_Check(v)) {
        s = PyUnicode_AsUTF8(v);
        if (s != NULL && PyList_Append(keep, v) < 0) {
            s = NULL;
        }
    }
    Py_XDECREF(v);
    PyErr_Clear();
    return s ? s : fallback;
}

/* trace_write(fd, gzip, thread_names {(ident, kernel id or 0): name},
 * process_name, full_paths, speedscope=0, extras=[], base_ns=0,
 * fragment=0, parts=[]): writes the trace as Chrome trace-event JSON to
 * fd (writers/chrome.h: base_ns, fragment, parts); returns the number of
 * parts that could not be opened. */
static PyObject *
trace_write_py(PyObject *m, PyObject *args)
{
    int fd, gzip, full_paths, speedscope = 0, fragment = 0, rc = 0;
    unsigned long long base_ns = 0;
    size_t missing = 0;
    PyObject *names, *keep = NULL, *key, *value, *extras = NULL;
    PyObject *parts = NULL;
    const char **part_paths = NULL;
    const char *process_name;
    sw_chrome_extra_t *xs = NULL;
    sw_chrome_name_t *cn = NULL, *sn = NULL;
    uint64_t *idents = NULL;
    long *tids = NULL;
    const char **tnames = NULL, **gnames = NULL, **tnames2 = NULL;
    size_t nt = 0;
    Py_ssize_t pos = 0;
    uint32_t i;
    sw_chrome_opts_t o;
    (void)m;

    if (!PyArg_ParseTuple(args, "ipO!zp|pO!KpO!", &fd, &gzip, &PyDict_Type,
                          &names, &process_name, &full_paths, &speedscope,
                          &PyList_Type, &extras, &base_ns, &fragment,
                          &PyList_Type, &parts)) {
        return NULL;
    }
    if (!have_trace) {
        return sw_py_raise(SW_EINVAL, "there is no trace to write");
    }
    keep = PyList_New(0);
    cn = calloc(ncodes ? ncodes : 1, sizeof(*cn));
    idents = calloc((size_t)PyDict_Size(names) + 1, sizeof(*idents));
    tids = calloc((size_t)PyDict_Size(names) + 1, sizeof(*tids));
    tnames = calloc((size_t)PyDict_Size(names) + 1, sizeof(*tnames));
    if (keep == NULL || cn == NULL || idents == NULL || tids == NULL ||
        tnames == NULL) {
        rc = SW_ENOMEM;
        goto done;
    }
    for (i = 0; i < ncodes; i++) {
        PyObject *line;
        const char *name;

        if (codes[i].code == NULL) {
            /* A C function: its name, no file. */
            cn[i].name = PyUnicode_AsUTF8(codes[i].name);
            if (cn[i].name == NULL) {
                PyErr_Clear();
                cn[i].name = "?";
            }
            continue;
        }
        name = code_str(codes[i].code, "co_qualname", NULL, keep);

        cn[i].name =
            name ? name : code_str(codes[i].code, "co_name", "?", keep);
        cn[i].file = code_str(codes[i].code, "co_filename", "?", keep);
        if (!full_paths) {
            cn[i].file = sw_stackfmt_short_path(cn[i].file);
        }
        line = PyObject_GetAttrString(codes[i].code, "co_firstlineno");
        cn[i].line = line ? (int)PyLong_AsLong(line) : 0;
        Py_XDECREF(line);
        PyErr_Clear();
    }
    while (PyDict_Next(names, &pos, &key, &value)) {
        unsigned long long ident;
        long tid;
        const char *s =
            PyUnicode_Check(value) ? PyUnicode_AsUTF8(value) : NULL;

        if (s == NULL || !PyArg_ParseTuple(key, "Kl", &ident, &tid)) {
            PyErr_Clear();
            continue;
        }
        idents[nt] = ident;
        tids[nt] = tid;
        tnames[nt++] = s;
    }
    memset(&o, 0, sizeof(o));
    o.store = &store;
    if (engine != ENGINE_OFF) {
        sw_tracer_clock_stop(&store); /* written while running: ends now */
    }
    o.codes = cn;
    o.ncodes = ncodes;
    if (span_keys != NULL && PyList_GET_SIZE(span_keys) > 0) {
        Py_ssize_t k, n = PyList_GET_SIZE(span_keys);

        sn = calloc((size_t)n, sizeof(*sn));
        if (sn == NULL) {
            rc = SW_ENOMEM;
            goto done;
        }
        for (k = 0; k < n; k++) {
            PyObject *sk = PyList_GET_ITEM(span_keys, k);
            PyObject *a = PyTuple_GET_ITEM(sk, 1);

            sn[k].name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(sk, 0));
            sn[k].args_json = a == Py_None ? NULL : PyUnicode_AsUTF8(a);
            if (sn[k].name == NULL) {
                PyErr_Clear();
                sn[k].name = "?";
            }
            PyErr_Clear();
        }
        o.spans = sn;
        o.nspans = (uint32_t)n;
    }
    o.thread_idents = idents;
    o.thread_tids = tids;
    o.thread_names = tnames;
    o.nthread_names = nt;
    if (greenlet_labels != NULL && PyDict_Size(greenlet_labels) > 0) {
        uint32_t top = 0;

        pos = 0;
        while (PyDict_Next(greenlet_labels, &pos, &key, &value)) {
            unsigned long id = PyLong_AsUnsignedLong(key);

            if (!PyErr_Occurred() && id < UINT32_MAX && id + 1 > top) {
                top = (uint32_t)id + 1;
            }
            PyErr_Clear();
        }
        gnames = calloc(top ? top : 1, sizeof(*gnames));
        if (gnames == NULL) {
            rc = SW_ENOMEM;
            goto done;
        }
        pos = 0;
        while (PyDict_Next(greenlet_labels, &pos, &key, &value)) {
            unsigned long id = PyLong_AsUnsignedLong(key);

            if (!PyErr_Occurred() && id < top && PyUnicode_Check(value)) {
                gnames[id] = PyUnicode_AsUTF8(value);
            }
            PyErr_Clear();
        }
        o.greenlet_names = gnames;
        o.ngreenlets = top;
    }
    if (task_labels != NULL && PyDict_Size(task_labels) > 0) {
        uint32_t top = 0;

        pos = 0;
        while (PyDict_Next(task_labels, &pos, &key, &value)) {
            unsigned long id = PyLong_AsUnsignedLong(key);

            if (!PyErr_Occurred() && id < SW_TRACE_TASK_BIT && id + 1 > top) {
                top = (uint32_t)id + 1;
            }
            PyErr_Clear();
        }
        tnames2 = calloc(top ? top : 1, sizeof(*tnames2));
        if (tnames2 == NULL) {
            rc = SW_ENOMEM;
            goto done;
        }
        pos = 0;
        while (PyDict_Next(task_labels, &pos, &key, &value)) {
            unsigned long id = PyLong_AsUnsignedLong(key);

            if (!PyErr_Occurred() && id < top && PyUnicode_Check(value)) {
                tnames2[id] = PyUnicode_AsUTF8(value);
            }
            PyErr_Clear();
        }
        o.task_names = tnames2;
        o.ntasks = top;
    }
    /* extras: [(tid, greenlet id or 0, start_ns, dur_ns, json fragment)] */
    if (extras != NULL && PyList_GET_SIZE(extras) > 0) {
        Py_ssize_t n = PyList_GET_SIZE(extras), j;

        xs = calloc((size_t)n, sizeof(*xs));
        if (xs == NULL) {
            rc = SW_ENOMEM;
            goto done;
        }
        for (j = 0; j < n; j++) {
            unsigned long long tid, start, dur;
            unsigned int gid;
            const char *frag;

            if (!PyArg_ParseTuple(PyList_GET_ITEM(extras, j), "KIKKs", &tid,
                                  &gid, &start, &dur, &frag)) {
                PyErr_Clear();
                continue;
            }
            xs[o.nextras].tid = tid;
            xs[o.nextras].greenlet = gid;
            xs[o.nextras].start_ns = start;
            xs[o.nextras].dur_ns = dur;
            xs[o.nextras++].frag = frag;
        }
        o.extras = xs;
    }
    o.counters = rss;
    o.ncounters = nrss;
    o.counter_name = "memory";
    o.counter_unit = "RSS MiB";
    o.live = live;
    o.nlive = nlive;
    if (parts != NULL && PyList_GET_SIZE(parts) > 0) {
        Py_ssize_t n = PyList_GET_SIZE(parts), j;

        part_paths = calloc((size_t)n, sizeof(*part_paths));
        if (part_paths == NULL) {
            rc = SW_ENOMEM;
            goto done;
        }
        for (j = 0; j < n; j++) {
            const char *path =
                PyUnicode_Check(PyList_GET_ITEM(parts, j))
                    ? PyUnicode_AsUTF8(PyList_GET_ITEM(parts, j))
                    : NULL;

            if (path == NULL) {
                PyErr_Clear();
                missing++;
                continue;
            }
            part_paths[o.nparts++] = path;
        }
        o.parts = part_paths;
    }
    o.parts_missing = &missing;
    o.base_ns = base_ns;
    o.fragment = fragment;
    o.pid = (long)getpid();
    o.process_name = process_name;
    o.gzip = gzip;
    o.speedscope = speedscope;
    /* With the GIL held throughout: no hook appends while we read. */
    sw_tracer_sync(&store);
    rc = sw_chrome_write(&o, fd);

done:
    Py_XDECREF(keep);
    free(cn);
    free(sn);
    free(idents);
    free(tids);
    free(tnames);
    free(gnames);
    free(tnames2);
    free(xs);
    free(part_paths);
    if (rc < 0) {
        return sw_py_raise(rc, rc == SW_ESYS ? NULL : "writing the trace");
    }
    return PyLong_FromSize_t(missing);
}

void
sw_tracer_py_after_fork_child(void)
{
    stop_hooks();
    clear_session();
}

/* The id of span (name, args_json), interned now.  Returns -1 with an
 * exception set on failure. */
static long
span_id(PyObject *name, PyObject *args_json)
{
    PyObject *key, *id;
    long r;

    if (span_ids == NULL) {
        span_ids = PyDict_New();
        span_keys = PyList_New(0);
        if (span_ids == NULL || span_keys == NULL) {
            Py_CLEAR(span_ids);
            Py_CLEAR(span_keys);
            return -1;
        }
    }
    if (PyList_GET_SIZE(span_keys) >= MAX_SPAN_KEYS) {
        args_json = Py_None;
    }
    key = PyTuple_Pack(2, name, args_json);
    if (key == NULL) {
        return -1;
    }
    id = PyDict_GetItemWithError(span_ids, key); /* borrowed */
    if (id != NULL) {
        Py_DECREF(key);
        return PyLong_AsLong(id);
    }
    if (PyErr_Occurred()) {
        Py_DECREF(key);
        return -1;
    }
    r = (long)PyList_GET_SIZE(span_keys);
    id = PyLong_FromLong(r);
    if (id == NULL || PyDict_SetItem(span_ids, key, id) < 0 ||
        PyList_Append(span_keys, key) < 0) {
        Py_XDECREF(id);
        Py_DECREF(key);
        return -1;
    }
    Py_DECREF(id);
    Py_DECREF(key);
    return r;
}

/* A span's args as a JSON object: str, int, float, bool and None as
 * themselves, anything else as its str(), computed quietly (its Python
 * code is not traced).  A new reference, or NULL with an exception set;
 * Py_None (new reference) for no args. */
static PyObject *
args_json(PyObject *args)
{
    PyObject *key, *value, *r = NULL;
    Py_ssize_t pos = 0;
    sw_buf_t b;
    int first = 1;

    if (args == Py_None || PyDict_Size(args) == 0) {
        Py_RETURN_NONE;
    }
    sw_buf_init(&b);
    sw_buf_putc(&b, '{');
    while (PyDict_Next(args, &pos, &key, &value)) {
        PyObject *text = NULL;
        const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;

        if (k == NULL) {
            goto done;
        }
        if (!first) {
            sw_buf_putc(&b, ',');
        }
        first = 0;
        sw_buf_json_str(&b, k);
        sw_buf_putc(&b, ':');
        if (value == Py_None) {
            sw_buf_puts(&b, "null");
        }
        else if (PyBool_Check(value)) {
            sw_buf_puts(&b, value == Py_True ? "true" : "false");
        }
        else if (PyLong_CheckExact(value) || PyFloat_CheckExact(value)) {
            double d = PyFloat_Check(value) ? PyFloat_AS_DOUBLE(value) : 0.0;

            if (PyFloat_Check(value) && (d != d || d - d != 0)) {
                sw_buf_puts(&b, "null"); /* NaN, inf: not JSON */
            }
            else {
                text = PyObject_Repr(value);
                if (text == NULL) {
                    goto done;
                }
                sw_buf_puts(&b, PyUnicode_AsUTF8(text));
            }
        }
        else {
            QUIET_ENTER();
            text = PyUnicode_Check(value) ? (Py_INCREF(value), value)
                                          : PyObject_Str(value);
            QUIET_LEAVE();
            if (text == NULL) {
                goto done;
            }
            sw_buf_json_str(&b, PyUnicode_AsUTF8(text));
        }
        Py_XDECREF(text);
        if (PyErr_Occurred()) {
            goto done;
        }
    }
    sw_buf_putc(&b, '}');
    if (!sw_buf_ok(&b)) {
        PyErr_NoMemory();
        goto done;
    }
    r = PyUnicode_FromStringAndSize(b.data, (Py_ssize_t)b.len);
done:
    sw_buf_free(&b);
    return r;
}

/* trace_span(kind, name, args dict or None): 0 opens a user slice on the
 * calling thread's track, 1 closes it, 2 is an instant mark.  False when
 * the tracer is not running. */
static PyObject *
trace_span_py(PyObject *m, PyObject *args)
{
    static const uint32_t kinds[3] = {SW_TR_SPAN_B, SW_TR_SPAN_E, SW_TR_MARK};
    int kind;
    PyObject *name, *span_args, *json;
    sw_trace_thread_t *t;
    long id;
    (void)m;

    if (!PyArg_ParseTuple(args, "iUO", &kind, &name, &span_args)) {
        return NULL;
    }
    if (kind < 0 || kind > 2 ||
        (span_args != Py_None && !PyDict_Check(span_args))) {
        return sw_py_raise(SW_EINVAL, "trace_span(kind 0-2, str, dict)");
    }
    if (engine == ENGINE_OFF) {
        Py_RETURN_FALSE;
    }
    json = args_json(span_args);
    if (json == NULL) {
        return NULL;
    }
    id = span_id(name, json);
    Py_DECREF(json);
    if (id < 0) {
        return NULL;
    }
    t = this_thread();
    if (t != NULL && !t->ignored) {
        sw_tracer_put(&store, t, sw_tracer_now(&store), (uint32_t)id,
                      kinds[kind]);
    }
    Py_RETURN_TRUE;
}

/* Doubles the counter array *p (of *cap elements of size elem; 1024 at
 * first), the growth counted against the trace's memory budget (store).
 * 0, or -1 (unchanged) past the budget or out of memory. */
static int
grow_counted(void **p, size_t *cap, size_t elem)
{
    size_t ncap = *cap ? *cap * 2 : 1024;
    size_t more = (ncap - *cap) * elem;
    void *a;

    if (store.used + more > store.limit) {
        return -1;
    }
    a = realloc(*p, ncap * elem);
    if (a == NULL) {
        return -1;
    }
    store.used += more;
    *p = a;
    *cap = ncap;
    return 0;
}

/* Appends the threads of live_now[0..n) whose live bytes changed since
 * the last sample (or are new) to `live`; 0, or -1 when the budget is
 * spent.  Context: GIL held (the writer reads `live` under it). */
static int
append_live(size_t n, uint64_t ts)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const sw_mem_thread_live_t *c = &live_now[i];

        /* Slots keep their order: the same thread at the same index. */
        if (i < nlive_last && live_last[i].tid == c->tid &&
            live_last[i].other == c->other && live_last[i].live == c->live) {
            continue;
        }
        if (nlive == live_cap &&
            grow_counted((void **)&live, &live_cap, sizeof(*live)) < 0) {
            return -1;
        }
        live[nlive].ts = ts;
        live[nlive].tid = (uint64_t)c->tid;
        live[nlive].other = c->other;
        live[nlive].value = (double)c->live / (1024.0 * 1024.0);
        nlive++;
    }
    return 0;
}

/* trace_memory_sample(): appends the process's RSS now to the memory
 * counter track and, while the memory profiler's counters run, each
 * thread's live bytes to its own.  False when the tracer is not running
 * or the sample did not fit the buffer. */
static PyObject *
trace_memory_sample_py(PyObject *m, PyObject *noargs)
{
    sw_procmem_t pm;
    int rc;
    size_t n = 0;
    uint64_t ts;
    (void)m;
    (void)noargs;

    if (engine == ENGINE_OFF) {
        Py_RETURN_FALSE;
    }
    if (live_now == NULL) {
        /* (Kept for the process's life: 2 x 96 KiB.) */
        live_now = calloc(SW_MEM_MAX_THREADS, sizeof(*live_now));
        live_last = calloc(SW_MEM_MAX_THREADS, sizeof(*live_last));
        if (live_now == NULL || live_last == NULL) {
            free(live_now);
            free(live_last);
            live_now = live_last = NULL;
            return PyErr_NoMemory();
        }
    }
    /* The reads take no lock and allocate nothing: without the GIL. */
    Py_BEGIN_ALLOW_THREADS
        rc = sw_procmem_read(&pm);
        n = sw_mem_threads_live(live_now, SW_MEM_MAX_THREADS);
        ts = sw_now_ns();
    Py_END_ALLOW_THREADS
    if (engine == ENGINE_OFF) {
        Py_RETURN_FALSE; /* (stopped meanwhile) */
    }
    if (append_live(n, ts) < 0) {
        Py_RETURN_FALSE;
    }
    memcpy(live_last, live_now, n * sizeof(*live_now));
    nlive_last = n;
    if (rc < 0) {
        Py_RETURN_FALSE;
    }
    if (nrss == rss_cap &&
        grow_counted((void **)&rss, &rss_cap, sizeof(*rss)) < 0) {
        Py_RETURN_FALSE;
    }
    rss[nrss].ts = ts;
    rss[nrss].value = (double)pm.rss / (1024.0 * 1024.0);
    nrss++;
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"trace_memory_sample", trace_memory_sample_py, METH_NOARGS,
     "Appends the RSS now to the trace's memory counter."},
    {"trace_span", trace_span_py, METH_VARARGS,
     "trace_span(kind, name, args_json): a user slice (0 open, 1 close) "
     "or mark (2) on this thread's track."},
    {"trace_start", trace_start_py, METH_VARARGS,
     "trace_start(buffer_bytes, include, exclude, internal_excludes, "
     "max_depth) -> sys.monitoring tool id, or -1 for a profile function"},
    {"trace_scope_add", trace_scope_add_py, METH_O,
     "With a scoped trace running, code's function is traced too."},
    {"trace_stop", trace_stop_py, METH_NOARGS,
     "Stops tracing; True if it was running."},
    {"trace_clear", trace_clear_py, METH_NOARGS,
     "Stops tracing and forgets the records."},
    {"trace_stats", trace_stats_py, METH_NOARGS, "The tracer's counters."},
    {"trace_write", trace_write_py, METH_VARARGS,
     "trace_write(fd, gzip, thread_names, process_name, full_paths)"},
    {NULL, NULL, 0, NULL},
};

int
sw_tracer_py_init(PyObject *m)
{
    if (PyModule_AddIntConstant(m, "GZIP_COMPRESSES", sw_gzip_compresses()) <
        0) {
        return -1;
    }
    return PyModule_AddFunctions(m, methods);
}
