/* Greenlet tracking; see greenlet.h for the design.
 *
 * Threads: the hook runs on application threads with the GIL; the id table
 * is guarded by the GIL alone.  The per-thread records are the only state
 * shared with GIL-free readers (sampler, dump thread), through atomics:
 * a record is published by storing state READY with release order after
 * its fields are written, and readers load state with acquire order. */
#include <stdatomic.h>
#include <string.h>

#include "clock.h"
#include "greenlet.h"
#include "hash.h"

#define MAX_RECORDS 1024
#define MAX_IDS 0xFFFFFu

/* A record of a thread that did not survive a fork stays ORPHAN until its
 * hook object is freed, so that the hook never frees a record that a new
 * thread has claimed meanwhile. */
enum { REC_FREE = 0, REC_CLAIMED = 1, REC_READY = 2, REC_ORPHAN = 3 };

typedef struct record {
    _Atomic int state;
    _Atomic uintptr_t tstate;
    _Atomic uint64_t tstate_id;
    _Atomic uint32_t current;
    _Atomic uint64_t switches;
    /* Switch timing for assert_switches; only the record's own thread
     * touches these (with the GIL). */
    int timing, hub_only;
    uint32_t hub;
    uint64_t last_ns, max_gap_ns, hub_entries;
} record_t;

static record_t records[MAX_RECORDS];

/* One past the highest record ever claimed: readers scan only that far
 * (usually one or two records; none when greenlets are not used). */
static _Atomic int records_used;

/* The hook's per-thread state, the `self` of the hook function. */
typedef struct hook {
    PyObject_HEAD
    PyObject *prev; /* the trace function we replaced, or NULL */
    int rec;        /* index in records, or -1 */
} hook_t;

/* id -> greenlet, GIL-guarded. */
typedef struct id_entry {
    uintptr_t ptr;  /* 0 once the greenlet died */
    PyObject *wr;   /* weak reference, NULL once dead */
    PyObject *type; /* strong: the label of a dead greenlet */
} id_entry_t;

static id_entry_t *ids; /* ids[0] unused */
static uint32_t nids = 1, ids_cap;

/* ptr -> id, open addressing; TOMB marks a removed entry. */
#define TOMB UINT32_MAX
static uintptr_t *map_keys;
static uint32_t *map_vals;
static uint32_t map_mask, map_used; /* used counts tombstones too */

static PyObject *str_switch, *str_throw;

/* How many users want greenlets tracked.  At 0, hooks installed in other
 * threads (which only those threads can remove) just pass events on. */
static _Atomic int tracking;

static PyTypeObject hook_type;
static PyObject *hook_func_new(hook_t *state);

/* The tracer's switch listener (GIL-guarded), or NULL. */
static sw_greenlet_listener_fn listener;

void
sw_greenlet_set_listener(sw_greenlet_listener_fn fn)
{
    listener = fn;
}

_Thread_local uint32_t sw_greenlet_here
    __attribute__((tls_model("initial-exec")));

/* Called when a greenlet with an id is freed (GIL-guarded), or NULL. */
static sw_greenlet_death_fn death_listener;

void
sw_greenlet_set_death_listener(sw_greenlet_death_fn fn)
{
    death_listener = fn;
}

/* ---- GIL-free readers ------------------------------------------------- */

static record_t *
find_record(uintptr_t tstate, uint64_t tstate_id)
{
    int i, used = atomic_load_explicit(&records_used, memory_order_acquire);

    for (i = 0; i < used; i++) {
        record_t *r = &records[i];

        if (atomic_load_explicit(&r->state, memory_order_acquire) ==
                REC_READY &&
            atomic_load_explicit(&r->tstate, memory_order_relaxed) == tstate &&
            atomic_load_explicit(&r->tstate_id, memory_order_relaxed) ==
                tstate_id) {
            return r;
        }
    }
    return NULL;
}

uint32_t
sw_greenlet_current(uintptr_t tstate, uint64_t tstate_id)
{
    record_t *r = find_record(tstate, tstate_id);

    return r ? atomic_load_explicit(&r->current, memory_order_relaxed) : 0;
}

uint64_t
sw_greenlet_switches(uintptr_t tstate, uint64_t tstate_id)
{
    record_t *r = find_record(tstate, tstate_id);

    return r ? atomic_load_explicit(&r->switches, memory_order_relaxed) : 0;
}

/* ---- the id table (GIL held) ----------------------------------------- */

static int
map_grow(void)
{
    uint32_t cap = map_mask ? (map_mask + 1) * 2 : 256, i;
    uintptr_t *keys = PyMem_RawCalloc(cap, sizeof(*keys));
    uint32_t *vals = PyMem_RawCalloc(cap, sizeof(*vals));

    if (keys == NULL || vals == NULL) {
        PyMem_RawFree(keys);
        PyMem_RawFree(vals);
        return -1;
    }
    map_used = 0;
    for (i = 0; map_mask && i <= map_mask; i++) {
        if (map_vals[i] != 0 && map_vals[i] != TOMB) {
            uint32_t j = (uint32_t)sw_mix64(map_keys[i]) & (cap - 1);

            while (vals[j] != 0) {
                j = (j + 1) & (cap - 1);
            }
            keys[j] = map_keys[i];
            vals[j] = map_vals[i];
            map_used++;
        }
    }
    PyMem_RawFree(map_keys);
    PyMem_RawFree(map_vals);
    map_keys = keys;
    map_vals = vals;
    map_mask = cap - 1;
    return 0;
}

/* Slot holding ptr, or UINT32_MAX. */
static uint32_t
map_find(uintptr_t ptr)
{
    uint32_t i;

    if (map_mask == 0) {
        return UINT32_MAX;
    }
    i = (uint32_t)sw_mix64(ptr) & map_mask;
    while (map_vals[i] != 0) {
        if (map_vals[i] != TOMB && map_keys[i] == ptr) {
            return i;
        }
        i = (i + 1) & map_mask;
    }
    return UINT32_MAX;
}

static int
map_add(uintptr_t ptr, uint32_t id)
{
    uint32_t i;

    if (map_mask == 0 || (map_used + 1) * 2 > map_mask + 1) {
        if (map_grow() < 0) {
            return -1;
        }
    }
    i = (uint32_t)sw_mix64(ptr) & map_mask;
    while (map_vals[i] != 0 && map_vals[i] != TOMB) {
        i = (i + 1) & map_mask;
    }
    if (map_vals[i] == 0) {
        map_used++;
    }
    map_keys[i] = ptr;
    map_vals[i] = id;
    return 0;
}

/* Weak-reference callback: the greenlet with id `self` is being freed. */
static PyObject *
greenlet_died(PyObject *self, PyObject *wr)
{
    unsigned long id = PyLong_AsUnsignedLong(self);
    (void)wr;

    if (id > 0 && id < nids) {
        uint32_t slot = map_find(ids[id].ptr);

        if (slot != UINT32_MAX && map_vals[slot] == id) {
            map_vals[slot] = TOMB;
        }
        ids[id].ptr = 0;
        Py_CLEAR(ids[id].wr);
        if (death_listener != NULL) {
            death_listener((uint32_t)id);
        }
    }
    PyErr_Clear();
    Py_RETURN_NONE;
}

static PyMethodDef died_def = {"_greenlet_died", greenlet_died, METH_O, NULL};

/* The id of greenlet g, given on first sight.  Never raises: returns 0
 * (unknown) when anything fails. */
static uint32_t
greenlet_id(PyObject *g)
{
    uint32_t slot = map_find((uintptr_t)g), id;
    PyObject *idobj = NULL, *cb = NULL, *wr = NULL;

    if (slot != UINT32_MAX) {
        return map_vals[slot];
    }
    if (nids > MAX_IDS) {
        return 0;
    }
    if (nids >= ids_cap) {
        uint32_t cap = ids_cap ? ids_cap * 2 : 256;
        id_entry_t *p = PyMem_RawRealloc(ids, cap * sizeof(*ids));

        if (p == NULL) {
            return 0;
        }
        memset(p + ids_cap, 0, (cap - ids_cap) * sizeof(*ids));
        ids = p;
        ids_cap = cap;
    }
    id = nids;
    idobj = PyLong_FromUnsignedLong(id);
    cb = idobj ? PyCFunction_New(&died_def, idobj) : NULL;
    wr = cb ? PyWeakref_NewRef(g, cb) : NULL;
    Py_XDECREF(idobj);
    Py_XDECREF(cb);
    if (wr == NULL || map_add((uintptr_t)g, id) < 0) {
        Py_XDECREF(wr);
        PyErr_Clear();
        return 0;
    }
    ids[id].ptr = (uintptr_t)g;
    ids[id].wr = wr;
    ids[id].type = (PyObject *)Py_TYPE(g);
    Py_INCREF(ids[id].type);
    nids++;
    return id;
}

/* ---- the hook --------------------------------------------------------- */

/* assert_switches: the longest run without a switch, not counting time
 * in the hub (with hub_only: the longest time between entries into the
 * hub), and the entries into the hub. */
static void
time_switch(record_t *r, uint32_t from, uint32_t to)
{
    uint64_t now;

    if (r->hub_only ? to != r->hub : from == r->hub) {
        if (!r->hub_only) {
            r->last_ns = sw_now_ns(); /* leaving the hub: the clock restarts */
        }
        return;
    }
    now = sw_now_ns();
    if (now - r->last_ns > r->max_gap_ns) {
        r->max_gap_ns = now - r->last_ns;
    }
    r->last_ns = now;
    if (to == r->hub) {
        r->hub_entries++;
    }
}

static int
is_transfer_event(PyObject *ev)
{
    if (ev == str_switch || ev == str_throw) {
        return 1;
    }
    return PyUnicode_Check(ev) &&
           (PyUnicode_CompareWithASCIIString(ev, "switch") == 0 ||
            PyUnicode_CompareWithASCIIString(ev, "throw") == 0);
}

static PyObject *
hook_call(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    hook_t *h = (hook_t *)self;

    /* Unpack args only for the events we know (greenlet's rule). */
    if (nargs == 2 && h->rec >= 0 &&
        atomic_load_explicit(&tracking, memory_order_relaxed) > 0 &&
        is_transfer_event(args[0]) && PyTuple_Check(args[1]) &&
        PyTuple_GET_SIZE(args[1]) == 2) {
        record_t *r = &records[h->rec];
        uint32_t id = greenlet_id(PyTuple_GET_ITEM(args[1], 1));

        if (r->timing) {
            time_switch(
                r, atomic_load_explicit(&r->current, memory_order_relaxed),
                id);
        }
        atomic_store_explicit(&r->current, id, memory_order_relaxed);
        sw_greenlet_here = id;
        atomic_fetch_add_explicit(&r->switches, 1, memory_order_relaxed);
        if (listener != NULL) {
            listener(id, PyTuple_GET_ITEM(args[1], 1));
            PyErr_Clear();
        }
    }
    if (h->prev != NULL && h->prev != Py_None) {
        /* The chained function's result and errors are its own. */
        return PyObject_Vectorcall(h->prev, args, (size_t)nargs, NULL);
    }
    Py_RETURN_NONE;
}

static PyMethodDef hook_def = {"stackwatch_greenlet_trace",
                               (PyCFunction)(void (*)(void))hook_call,
                               METH_FASTCALL, NULL};

static void
hook_dealloc(PyObject *self)
{
    hook_t *h = (hook_t *)self;

    if (h->rec >= 0) {
        atomic_store_explicit(&records[h->rec].state, REC_FREE,
                              memory_order_release);
    }
    Py_CLEAR(h->prev);
    Py_TYPE(self)->tp_free(self);
}

static PyTypeObject hook_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name =
        "stackwatch._native._GreenletHook",
    .tp_basicsize = sizeof(hook_t),
    .tp_dealloc = hook_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

static PyObject *
hook_func_new(hook_t *state)
{
    return PyCFunction_New(&hook_def, (PyObject *)state);
}

static int
is_our_hook(PyObject *f)
{
    return f != NULL && PyCFunction_Check(f) &&
           ((PyCFunctionObject *)f)->m_ml == &hook_def;
}

static int
claim_record(uintptr_t tstate, uint64_t tstate_id, uint32_t current)
{
    int i;

    for (i = 0; i < MAX_RECORDS; i++) {
        int expect = REC_FREE;

        if (atomic_compare_exchange_strong(&records[i].state, &expect,
                                           REC_CLAIMED)) {
            record_t *r = &records[i];

            atomic_store_explicit(&r->tstate, tstate, memory_order_relaxed);
            atomic_store_explicit(&r->tstate_id, tstate_id,
                                  memory_order_relaxed);
            atomic_store_explicit(&r->current, current, memory_order_relaxed);
            atomic_store_explicit(&r->switches, 0, memory_order_relaxed);
            r->timing = 0;
            atomic_store_explicit(&r->state, REC_READY, memory_order_release);
            for (int used = atomic_load(&records_used); used < i + 1;) {
                if (atomic_compare_exchange_weak(&records_used, &used,
                                                 i + 1)) {
                    break;
                }
            }
            return i;
        }
    }
    return -1;
}

int
sw_greenlet_install(void)
{
    PyObject *mod, *gettrace = NULL, *settrace = NULL, *cur = NULL;
    PyObject *getcurrent = NULL, *g = NULL, *func = NULL, *old = NULL;
    PyThreadState *ts = PyThreadState_Get();
    hook_t *state = NULL;
    int rc = -1;

    mod = PyImport_ImportModule("greenlet");
    if (mod == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ImportError)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    gettrace = PyObject_GetAttrString(mod, "gettrace");
    settrace = PyObject_GetAttrString(mod, "settrace");
    getcurrent = PyObject_GetAttrString(mod, "getcurrent");
    if (gettrace == NULL || settrace == NULL || getcurrent == NULL) {
        goto done;
    }
    cur = PyObject_CallNoArgs(gettrace);
    if (cur == NULL) {
        goto done;
    }
    g = PyObject_CallNoArgs(getcurrent);
    if (g == NULL) {
        goto done;
    }
    if (is_our_hook(cur)) {
        /* Installed before: the thread-local copy may be stale (the hook
         * does not look at switches while nobody tracks). */
        if (atomic_load(&tracking) > 0) {
            sw_greenlet_here = greenlet_id(g);
        }
        rc = 1;
        goto done;
    }
    state = PyObject_New(hook_t, &hook_type);
    if (state == NULL) {
        goto done;
    }
    state->prev = cur == Py_None ? NULL : cur;
    Py_XINCREF(state->prev);
    sw_greenlet_here = greenlet_id(g);
    state->rec =
        claim_record((uintptr_t)ts, PyThreadState_GetID(ts), sw_greenlet_here);
    func = hook_func_new(state);
    if (func == NULL) {
        goto done;
    }
    old = PyObject_CallOneArg(settrace, func);
    if (old == NULL) {
        goto done;
    }
    rc = 1;
done:
    Py_XDECREF(old);
    Py_XDECREF(func);
    Py_XDECREF((PyObject *)state);
    Py_XDECREF(g);
    Py_XDECREF(cur);
    Py_XDECREF(getcurrent);
    Py_XDECREF(settrace);
    Py_XDECREF(gettrace);
    Py_DECREF(mod);
    return rc;
}

void
sw_greenlet_track(int on)
{
    if (on) {
        atomic_fetch_add(&tracking, 1);
    }
    else if (atomic_fetch_sub(&tracking, 1) <= 0) {
        atomic_store(&tracking, 0);
    }
}

int
sw_greenlet_uninstall(void)
{
    PyObject *mod, *cur = NULL, *old = NULL;
    int rc = -1;

    mod = PyImport_ImportModule("greenlet");
    if (mod == NULL) {
        PyErr_Clear();
        return 0;
    }
    cur = PyObject_CallMethod(mod, "gettrace", NULL);
    if (cur == NULL) {
        goto done;
    }
    if (is_our_hook(cur)) {
        hook_t *h = (hook_t *)((PyCFunctionObject *)cur)->m_self;

        old = PyObject_CallMethod(mod, "settrace", "O",
                                  h->prev ? h->prev : Py_None);
        if (old == NULL) {
            goto done;
        }
    }
    rc = 0;
done:
    Py_XDECREF(old);
    Py_XDECREF(cur);
    Py_DECREF(mod);
    return rc;
}

/* Adds id's entry to the table d; -1 with an exception set on failure. */
static int
table_add(PyObject *d, uint32_t id)
{
    PyObject *g = ids[id].wr ? PyObject_CallNoArgs(ids[id].wr) : NULL;
    PyObject *key, *val;
    int rc;

    if (g == NULL) {
        PyErr_Clear();
        g = Py_None;
        Py_INCREF(g);
    }
    key = PyLong_FromUnsignedLong(id);
    val =
        key ? Py_BuildValue("(Os)", g, ((PyTypeObject *)ids[id].type)->tp_name)
            : NULL;
    rc = val ? PyDict_SetItem(d, key, val) : -1;
    Py_XDECREF(key);
    Py_XDECREF(val);
    Py_DECREF(g);
    return rc;
}

PyObject *
sw_greenlet_table(PyObject *only)
{
    PyObject *d = PyDict_New(), *it = NULL, *item;

    if (d == NULL) {
        return NULL;
    }
    if (only == NULL) {
        for (uint32_t id = 1; id < nids; id++) {
            if (table_add(d, id) < 0) {
                goto fail;
            }
        }
        return d;
    }
    it = PyObject_GetIter(only);
    if (it == NULL) {
        goto fail;
    }
    while ((item = PyIter_Next(it)) != NULL) {
        unsigned long id = PyLong_AsUnsignedLong(item);

        Py_DECREF(item);
        if (id == (unsigned long)-1 && PyErr_Occurred()) {
            goto fail;
        }
        if (id > 0 && id < nids && table_add(d, (uint32_t)id) < 0) {
            goto fail;
        }
    }
    if (PyErr_Occurred()) {
        goto fail;
    }
    Py_DECREF(it);
    return d;
fail:
    Py_XDECREF(it);
    Py_DECREF(d);
    return NULL;
}

void
sw_greenlet_after_fork_child(void)
{
    PyThreadState *ts = PyThreadState_Get();
    uintptr_t me = (uintptr_t)ts;
    uint64_t my_id = PyThreadState_GetID(ts);
    int i;

    /* Only the forking thread survives.  The records of the others would
     * never match again (thread-state serials are not reused) but would
     * stay claimed; free them.  Their hook objects are freed with
     * greenlet's per-thread state and then release nothing twice: a hook
     * only frees the record index it owns, which may by then belong to a
     * new thread, so forget the index here. */
    for (i = 0; i < MAX_RECORDS; i++) {
        record_t *r = &records[i];

        if (atomic_load_explicit(&r->state, memory_order_acquire) ==
                REC_READY &&
            (atomic_load_explicit(&r->tstate, memory_order_relaxed) != me ||
             atomic_load_explicit(&r->tstate_id, memory_order_relaxed) !=
                 my_id)) {
            atomic_store_explicit(&r->state, REC_ORPHAN, memory_order_release);
        }
    }
}

int
sw_greenlet_init(PyObject *module)
{
    (void)module;
    if (PyType_Ready(&hook_type) < 0) {
        return -1;
    }
    str_switch = PyUnicode_InternFromString("switch");
    str_throw = PyUnicode_InternFromString("throw");
    return (str_switch && str_throw) ? 0 : -1;
}

uint32_t
sw_greenlet_id_of(PyObject *g)
{
    return greenlet_id(g);
}

/* The record of the calling thread, or NULL when it has no hook. */
static record_t *
own_record(void)
{
    PyThreadState *ts = PyThreadState_Get();

    return find_record((uintptr_t)ts, PyThreadState_GetID(ts));
}

int
sw_greenlet_timing_start(uint32_t hub, int hub_only,
                         sw_greenlet_timing_t *saved)
{
    record_t *r = own_record();

    if (r == NULL) {
        return -1;
    }
    saved->timing = r->timing;
    saved->hub_only = r->hub_only;
    saved->hub = r->hub;
    saved->last_ns = r->last_ns;
    saved->max_gap_ns = r->max_gap_ns;
    saved->hub_entries = r->hub_entries;
    saved->switches = atomic_load(&r->switches);
    r->timing = 1;
    r->hub_only = hub_only;
    r->hub = hub;
    r->last_ns = sw_now_ns();
    r->max_gap_ns = 0;
    r->hub_entries = 0;
    return 0;
}

int
sw_greenlet_timing_stop(const sw_greenlet_timing_t *saved, uint64_t *switches,
                        uint64_t *hub_entries, uint64_t *max_gap_ns)
{
    record_t *r = own_record();
    uint64_t now = sw_now_ns();

    if (r == NULL) {
        return -1;
    }
    if (!r->hub_only && atomic_load(&r->current) == r->hub) {
        now = r->last_ns; /* in the hub at the end: not blocking */
    }
    if (now - r->last_ns > r->max_gap_ns) {
        r->max_gap_ns = now - r->last_ns;
    }
    *switches = atomic_load(&r->switches) - saved->switches;
    *hub_entries = r->hub_entries;
    *max_gap_ns = r->max_gap_ns;
    /* An enclosing check goes on with what it saw plus this one. */
    r->timing = saved->timing;
    r->hub_only = saved->hub_only;
    r->hub = saved->hub;
    r->hub_entries += saved->hub_entries;
    if (saved->max_gap_ns > r->max_gap_ns) {
        r->max_gap_ns = saved->max_gap_ns;
    }
    return 0;
}
