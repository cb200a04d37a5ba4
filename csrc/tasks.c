/* asyncio tasks in profiles: see tasks.h for the design (which side
 * finds what, the lock order).
 *
 * Threads.  The GIL side (enable, disable, install) runs on Python
 * threads with the GIL held; the rest runs on the sampler thread.  The
 * configuration is written only while the sampler is stopped; the table
 * is swapped under T.mu and the old one freed after the swap. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks.h"

#define MAX_RUNNING 64

static struct {
    pthread_mutex_t mu; /* the table */
    _Atomic int on;
    _Atomic int missed; /* a running task not in the table was sampled */
    sw_tasks_cfg_t cfg;
    sw_task_entry_t *table; /* sorted by task address */
    int n;
    int *by_coro; /* indexes into table, sorted by coroutine address */
    /* Sampler thread only: this pass's running tasks. */
    uintptr_t run_task[MAX_RUNNING];
    uintptr_t run_coro[MAX_RUNNING];
    int nrun;
} T = {.mu = PTHREAD_MUTEX_INITIALIZER};

void
sw_tasks_free(sw_task_entry_t *e, int n)
{
    int i, k;

    for (i = 0; e != NULL && i < n; i++) {
        free(e[i].label);
        for (k = 0; k < e[i].nframes; k++) {
            free(e[i].frames[k].name);
            free(e[i].frames[k].file);
        }
        free(e[i].frames);
    }
    free(e);
}

static void
swap_table(sw_task_entry_t *e, int n, int *by_coro)
{
    sw_task_entry_t *old;
    int oldn, *old_by_coro;

    pthread_mutex_lock(&T.mu);
    old = T.table;
    oldn = T.n;
    old_by_coro = T.by_coro;
    T.table = e;
    T.n = n;
    T.by_coro = by_coro;
    pthread_mutex_unlock(&T.mu);
    sw_tasks_free(old, oldn);
    free(old_by_coro);
}

void
sw_tasks_enable(const sw_tasks_cfg_t *cfg)
{
    swap_table(NULL, 0, NULL);
    T.cfg = *cfg;
    T.nrun = 0;
    atomic_store(&T.on, 1);
}

void
sw_tasks_disable(void)
{
    atomic_store(&T.on, 0);
    swap_table(NULL, 0, NULL);
}

static int
by_task(const void *a, const void *b)
{
    uintptr_t x = ((const sw_task_entry_t *)a)->task;
    uintptr_t y = ((const sw_task_entry_t *)b)->task;

    return x < y ? -1 : x > y;
}

/* qsort has no context argument: the table being indexed. */
static const sw_task_entry_t *sorting;

static int
by_coro_cmp(const void *a, const void *b)
{
    uintptr_t x = sorting[*(const int *)a].coro;
    uintptr_t y = sorting[*(const int *)b].coro;

    return x < y ? -1 : x > y;
}

int
sw_tasks_install(sw_task_entry_t *e, int n)
{
    int *idx = malloc((size_t)(n > 0 ? n : 1) * sizeof(*idx));
    int i;

    if (idx == NULL) {
        sw_tasks_free(e, n);
        return SW_ENOMEM;
    }
    if (n > 1) {
        qsort(e, (size_t)n, sizeof(*e), by_task);
    }
    for (i = 0; i < n; i++) {
        idx[i] = i;
    }
    sorting = e; /* with the GIL held: one install at a time */
    if (n > 1) {
        qsort(idx, (size_t)n, sizeof(*idx), by_coro_cmp);
    }
    swap_table(e, n, idx);
    return 0;
}

int
sw_tasks_take_missed(void)
{
    return atomic_exchange(&T.missed, 0);
}

int
sw_tasks_on(void)
{
    return atomic_load_explicit(&T.on, memory_order_acquire);
}

/* The entry of task, or NULL.  Caller holds T.mu. */
static sw_task_entry_t *
lookup(uintptr_t task)
{
    int lo = 0, hi = T.n - 1;

    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;

        if (T.table[mid].task == task) {
            return &T.table[mid];
        }
        if (T.table[mid].task < task) {
            lo = mid + 1;
        }
        else {
            hi = mid - 1;
        }
    }
    return NULL;
}

/* The coroutine of task if it is a C Task of this process (not a
 * pure-Python task, not a torn read), else 0. */
static uintptr_t
task_coro(sw_reader_t *r, uintptr_t task)
{
    uintptr_t type, coro;

    if (task == 0 ||
        sw_vm_read_ptr(&r->vm, task + sw_layout.ob_type, &type) < 0 ||
        type != T.cfg.task_type ||
        sw_vm_read_ptr(&r->vm, task + T.cfg.off_coro, &coro) < 0) {
        return 0;
    }
    return coro;
}

void
sw_tasks_pass_begin(sw_reader_t *r)
{
    uintptr_t vals[MAX_RUNNING];
    int i, n;

    T.nrun = 0;
    if (T.cfg.from_tstate) {
        return; /* read per thread, in sw_tasks_find() */
    }
    n = sw_read_dict_values(r, T.cfg.current_tasks, vals, MAX_RUNNING);
    for (i = 0; i < n; i++) {
        uintptr_t coro = task_coro(r, vals[i]);

        if (coro != 0) {
            T.run_task[T.nrun] = vals[i];
            T.run_coro[T.nrun] = coro;
            T.nrun++;
        }
    }
}

/* The running task of the thread state at tstate, if any, as this
 * pass's only running task. */
static void
read_running(sw_reader_t *r, uintptr_t tstate)
{
    uintptr_t task, coro;

    T.nrun = 0;
    if (sw_vm_read_ptr(&r->vm, tstate + sw_layout.ts_running_task, &task) <
        0) {
        return;
    }
    coro = task_coro(r, task);
    if (coro != 0) {
        T.run_task[0] = task;
        T.run_coro[0] = coro;
        T.nrun = 1;
    }
}

static int
find(const sw_rawframe_t *raw, int n, uintptr_t *task, int *any_gen)
{
    int i, k;

    for (i = n - 1; i >= 0; i--) {
        if (raw[i].gen == 0) {
            continue;
        }
        *any_gen = 1;
        for (k = 0; k < T.nrun; k++) {
            if (raw[i].gen == T.run_coro[k]) {
                *task = T.run_task[k];
                return i;
            }
        }
    }
    return -1;
}

void
sw_tasks_thread_begin(sw_reader_t *r, uintptr_t tstate)
{
    if (T.cfg.from_tstate) {
        read_running(r, tstate);
    }
}

/* 1 if task runs, now, the coroutine of raw (a frame of a stack read
 * before): task's coroutine is still raw->gen, and that generator's frame
 * still runs raw->code (3.9, 3.10: the frame object at raw->frame still
 * belongs to raw->gen).  A match made with the running tasks read before
 * the stack, or with a stack read before the running tasks, can be with
 * a coroutine that has ended since and whose memory another one reused:
 * aiohttp ends a request's task, the next request's task takes its
 * Task's address and the handler's coroutine that task awaits its
 * coroutine's, and the handler's frame would be named as the task's own.
 * One system call. */
static int
runs_frame(sw_reader_t *r, uintptr_t task, const sw_rawframe_t *raw)
{
    const sw_layout_t *L = r->L;
    uintptr_t type = 0, coro = 0, code = 0, gen = 0;
    sw_vm_region_t rg[4];
    char ok[4];
    int n = 0, objects = L->frame_model == SW_FRAMES_OBJECTS;

    rg[n].addr = task + sw_layout.ob_type;
    rg[n].dst = &type;
    rg[n++].len = sizeof(type);
    rg[n].addr = task + T.cfg.off_coro;
    rg[n].dst = &coro;
    rg[n++].len = sizeof(coro);
    rg[n].addr = raw->frame + (objects ? L->fo_code : L->if_code);
    rg[n].dst = &code;
    rg[n++].len = sizeof(code);
    if (objects) {
        rg[n].addr = raw->frame + L->fo_gen;
        rg[n].dst = &gen;
        rg[n++].len = sizeof(gen);
    }
    if (task == 0 || raw->frame == 0 || sw_vm_readv(&r->vm, rg, n, ok) != n ||
        type != T.cfg.task_type || coro != raw->gen) {
        return 0;
    }
    if (!objects) {
        code &= ~L->if_code_tag;
        gen = raw->frame - L->gen_iframe; /* the frame is in the generator */
    }
    return code == raw->code && gen == raw->gen;
}

int
sw_tasks_find(sw_reader_t *r, uintptr_t tstate, const sw_rawframe_t *raw,
              int n, uintptr_t *task)
{
    uintptr_t before[MAX_RUNNING], before_coro[MAX_RUNNING];
    int any_gen = 0, at, nbefore, changed, k;

    at = find(raw, n, task, &any_gen);
    if (at >= 0 && !runs_frame(r, *task, &raw[at])) {
        at = -1; /* the running tasks read were older than the stack */
        *task = 0;
    }
    if (at >= 0 || !any_gen) {
        return at;
    }
    /* The loop may have switched tasks between the read of the running
     * tasks and this stack's: read them again, once. */
    nbefore = T.nrun;
    memcpy(before, T.run_task, (size_t)nbefore * sizeof(before[0]));
    memcpy(before_coro, T.run_coro, (size_t)nbefore * sizeof(before[0]));
    if (T.cfg.from_tstate) {
        read_running(r, tstate);
    }
    else {
        sw_tasks_pass_begin(r);
    }
    at = find(raw, n, task, &any_gen);
    if (at >= 0) {
        /* A match that no longer holds: the stack is older than the
         * running tasks (read again). */
        if (runs_frame(r, *task, &raw[at])) {
            return at;
        }
        *task = 0;
        return SW_TASKS_TORN;
    }
    /* Still none: if the running tasks changed meanwhile, the stack may
     * be one a task ran before it yielded (its frames, read while it
     * ran, and no task running now): torn, to be read again. */
    changed = nbefore != T.nrun;
    for (k = 0; !changed && k < nbefore; k++) {
        changed =
            before[k] != T.run_task[k] || before_coro[k] != T.run_coro[k];
    }
    return changed ? SW_TASKS_TORN : -1;
}

int
sw_tasks_default_name(const char *name)
{
    const char *p;

    if (strncmp(name, "Task-", 5) != 0 || name[5] == '\0') {
        return 0;
    }
    for (p = name + 5; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }
    }
    return 1;
}

/* The label of a task, its name read from the Task object: "[task] NAME:
 * QUALNAME", or "[task] QUALNAME" for a task named by asyncio (all the
 * tasks running one coroutine then share one label) unless cfg.each. */
static void
task_label(sw_reader_t *r, uintptr_t task, const char *qualname, char *out,
           size_t cap)
{
    char name[128];
    uintptr_t obj;
    long num;

    if (sw_vm_read_ptr(&r->vm, task + T.cfg.off_name, &obj) < 0) {
        snprintf(name, sizeof(name), "?");
    }
    else if (sw_read_small_int(r, obj, &num) == 0) {
        /* 3.13+ names a task by its number until asked for the name. */
        snprintf(name, sizeof(name), "Task-%ld", num);
    }
    else {
        sw_read_str(r, obj, name, sizeof(name));
    }
    if (!T.cfg.each && sw_tasks_default_name(name)) {
        snprintf(out, cap, "[task] %s", qualname);
    }
    else {
        snprintf(out, cap, "[task] %s: %s", name, qualname);
    }
}

/* The label of a task that is not running (not on the stack: its
 * coroutine's name is read from its code object).  Returns 0, or -1 when
 * the task or its coroutine's code does not read or validate. */
static int
object_label(sw_reader_t *r, uintptr_t task, char *out, size_t cap)
{
    sw_code_t code;
    uintptr_t coro = task_coro(r, task), addr;

    if (coro == 0 ||
        sw_vm_read_ptr(&r->vm, coro + T.cfg.links.off_coro_code, &addr) < 0 ||
        sw_read_code(r, addr & ~(uintptr_t)7, &code) < 0) {
        return -1;
    }
    task_label(r, task, code.name, out, cap);
    return 0;
}

/* The type of the object at addr, or 0 when unreadable. */
static uintptr_t
type_of(sw_reader_t *r, uintptr_t addr)
{
    uintptr_t type;

    if (addr == 0 ||
        sw_vm_read_ptr(&r->vm, addr + sw_layout.ob_type, &type) < 0) {
        return 0;
    }
    return type;
}

/* The task that awaits task, read without the GIL from task's first done
 * callback (see sw_tasks_links_t): the awaiting task's wake-up, or
 * gather's callback, whose gathering future's first callback is then the
 * awaiting task's wake-up.  Every object is checked for its type, and the
 * task found must wait for the future it was found through.  Returns
 * the task, or 0. */
static uintptr_t
awaiter(sw_reader_t *r, uintptr_t task)
{
    const sw_tasks_links_t *L = &T.cfg.links;
    uintptr_t fut = task, cb, type, w, waiter, code, clo, cell;
    int hop;

    /* The awaited-by field, where there is one: a task that waits (for
     * the gathering future) names it. */
    if (L->off_awaited_by != 0 &&
        sw_vm_read_ptr(&r->vm, task + L->off_awaited_by, &w) == 0 &&
        type_of(r, w) == T.cfg.task_type &&
        sw_vm_read_ptr(&r->vm, w + T.cfg.off_waiter, &waiter) == 0 &&
        waiter != 0) {
        return w;
    }
    for (hop = 0; hop < 2; hop++) {
        if (sw_vm_read_ptr(&r->vm, fut + L->off_cb0, &cb) < 0 ||
            (type = type_of(r, cb)) == 0) {
            return 0;
        }
        if (type == L->wakeup_type) {
            if (sw_vm_read_ptr(&r->vm, cb + L->off_wakeup_task, &w) < 0 ||
                type_of(r, w) != T.cfg.task_type ||
                sw_vm_read_ptr(&r->vm, w + T.cfg.off_waiter, &waiter) < 0 ||
                waiter != fut) {
                return 0;
            }
            return w;
        }
        /* gather's _done_callback on a child: its closure's future. */
        if (hop > 0 || type != L->func_type ||
            sw_vm_read_ptr(&r->vm, cb + L->off_func_code, &code) < 0 ||
            code != L->done_code ||
            sw_vm_read_ptr(&r->vm, cb + L->off_func_closure, &clo) < 0 ||
            type_of(r, clo) != L->tuple_type ||
            sw_vm_read_ptr(&r->vm,
                           clo + L->off_tuple_items +
                               L->outer_index * sizeof(uintptr_t),
                           &cell) < 0 ||
            type_of(r, cell) != L->cell_type ||
            sw_vm_read_ptr(&r->vm, cell + L->off_cell_ref, &fut) < 0 ||
            type_of(r, fut) != L->gather_type) {
            return 0;
        }
    }
    return 0;
}

/* The entry of the task whose coroutine is coro, or NULL.  Caller holds
 * T.mu. */
static const sw_task_entry_t *
lookup_coro(uintptr_t coro)
{
    int lo = 0, hi = T.n - 1;

    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const sw_task_entry_t *e = &T.table[T.by_coro[mid]];

        if (e->coro == coro) {
            return e;
        }
        if (e->coro < coro) {
            lo = mid + 1;
        }
        else {
            hi = mid - 1;
        }
    }
    return NULL;
}

/* 1 if the task at e->task still runs e->coro: the task the entry was
 * made for, not another one at the same address. */
static int
still(sw_reader_t *r, const sw_task_entry_t *e)
{
    uintptr_t coro;

    return sw_vm_read_ptr(&r->vm, e->task + T.cfg.off_coro, &coro) == 0 &&
           coro == e->coro;
}

/* Markers of the tasks awaiting e (its parent first).  Caller holds s->mu
 * and T.mu. */
static int
chain(sw_reader_t *r, sw_session_t *s, const sw_task_entry_t *e, uint32_t *ids,
      int max)
{
    int k = 0;

    while (e != NULL && e->parent != 0 && k < max && k < SW_TASK_CHAIN_MAX) {
        const sw_task_entry_t *p = lookup(e->parent);
        uint32_t id;

        if (p == NULL || !still(r, p)) {
            break;
        }
        id = sw_session_marker(s, p->label);
        if (id == 0) {
            break;
        }
        ids[k++] = id;
        e = p;
    }
    return k;
}

/* Markers of the tasks awaiting task, found without the GIL (awaiter()),
 * up to the first the table holds, then the table's chain above it.
 * Caller holds s->mu and T.mu. */
static int
walk(sw_reader_t *r, sw_session_t *s, uintptr_t task, uint32_t *ids, int max)
{
    char label[SW_TASK_LABEL_MAX];
    int k = 0;

    while (k < max && k < SW_TASK_CHAIN_MAX) {
        uintptr_t w = awaiter(r, task);
        const sw_task_entry_t *e;
        uint32_t id;

        if (w == 0) {
            break;
        }
        e = lookup(w);
        if (e != NULL && still(r, e)) {
            if ((id = sw_session_marker(s, e->label)) == 0) {
                break;
            }
            ids[k++] = id;
            if (e->parent != 0) {
                k += chain(r, s, e, ids + k, max - k);
                break;
            }
        }
        else {
            if (object_label(r, w, label, sizeof(label)) < 0 ||
                (id = sw_session_marker(s, label)) == 0) {
                break;
            }
            ids[k++] = id;
        }
        task = w;
    }
    return k;
}

/* A task of the table, on the loop of thread ident, whose waited future
 * is task itself (it awaits task directly), or NULL.  Reads the field of
 * up to SCAN_MAX such tasks, 64 to a system call.  Caller holds T.mu. */
#define SCAN_MAX 256
#define SCAN_BATCH 64

static const sw_task_entry_t *
waiting_for(sw_reader_t *r, uintptr_t task, unsigned long ident)
{
    sw_vm_region_t rg[SCAN_BATCH];
    const sw_task_entry_t *who[SCAN_BATCH];
    uintptr_t got[SCAN_BATCH];
    char ok[SCAN_BATCH];
    int i = 0, scanned = 0;

    while (i < T.n && scanned < SCAN_MAX) {
        int n = 0, k;

        for (; i < T.n && n < SCAN_BATCH && scanned < SCAN_MAX; i++) {
            const sw_task_entry_t *e = &T.table[i];

            if (e->ident != ident || e->task == task) {
                continue;
            }
            rg[n].addr = e->task + T.cfg.off_waiter;
            rg[n].dst = &got[n];
            rg[n].len = sizeof(got[n]);
            who[n++] = e;
            scanned++;
        }
        sw_vm_readv(&r->vm, rg, n, ok);
        for (k = 0; k < n; k++) {
            if (ok[k] && got[k] == task && still(r, who[k])) {
                return who[k];
            }
        }
    }
    return NULL;
}

/* The task of the table that runs one of the generators outer[0..nouter)
 * (the frames outside the running task's coroutine, innermost first), or
 * NULL.  Caller holds T.mu. */
static const sw_task_entry_t *
outer_task(sw_reader_t *r, const uintptr_t *outer, int nouter)
{
    int i;

    for (i = 0; i < nouter; i++) {
        const sw_task_entry_t *e = lookup_coro(outer[i]);

        if (e != NULL && still(r, e)) {
            return e;
        }
    }
    return NULL;
}

int
sw_tasks_markers(sw_reader_t *r, sw_session_t *s, uintptr_t task,
                 unsigned long ident, const uintptr_t *outer, int nouter,
                 const char *qualname, uint32_t *ids, int max)
{
    char label[SW_TASK_LABEL_MAX];
    uint32_t id;
    int k = 0;

    if (max <= 0) {
        return 0;
    }
    task_label(r, task, qualname, label, sizeof(label));
    id = sw_session_marker(s, label);
    if (id == 0) {
        return 0;
    }
    ids[k++] = id;
    pthread_mutex_lock(&T.mu);
    {
        const sw_task_entry_t *e = lookup(task);

        const sw_task_entry_t *p = NULL;

        if (e != NULL && !still(r, e)) {
            e = NULL; /* an entry for a task that ended at this address */
        }
        if (e == NULL) {
            /* New since the last refresh: ask for a refresh now rather
             * than at the next tick. */
            atomic_store_explicit(&T.missed, 1, memory_order_relaxed);
        }
        if (e == NULL || e->parent == 0) {
            /* Not linked (yet): a task whose coroutine runs outside this
             * one on the same stack started it eagerly (3.12+'s eager
             * tasks: aiohttp's request tasks); else the tasks awaiting
             * it are read from its done callbacks (walk), else a known
             * task that awaits it directly (aiohttp's connection task
             * awaits each request's) stands for its awaiters. */
            p = outer_task(r, outer, nouter);
        }
        if (p != NULL) {
            if (k < max && (ids[k] = sw_session_marker(s, p->label)) != 0) {
                k++;
                k += chain(r, s, p, ids + k, max - k);
            }
        }
        else if (e != NULL && e->parent != 0) {
            k += chain(r, s, e, ids + k, max - k);
        }
        else {
            int walked =
                T.cfg.links.on ? walk(r, s, task, ids + k, max - k) : 0;

            k += walked;
            if (walked == 0 && e == NULL && ident != 0 &&
                (p = waiting_for(r, task, ident)) != NULL && k < max &&
                (ids[k] = sw_session_marker(s, p->label)) != 0) {
                k++;
                k += chain(r, s, p, ids + k, max - k);
            }
        }
    }
    pthread_mutex_unlock(&T.mu);
    return k;
}

void
sw_tasks_add_waiting(sw_reader_t *r, sw_session_t *s, uint32_t slot,
                     uint32_t greenlet, unsigned long ident, uintptr_t running,
                     uint64_t wall_ns)
{
    uint32_t ids[SW_MAX_DEPTH + SW_TASK_CHAIN_MAX + 1];
    int i, j;

    if (!T.cfg.all || ident == 0) {
        return;
    }
    pthread_mutex_lock(&T.mu);
    for (i = 0; i < T.n; i++) {
        sw_task_entry_t *e = &T.table[i];

        if (e->ident != ident || e->nframes == 0 || e->task == running) {
            continue;
        }
        if (e->node == 0) {
            int k = 0;

            for (j = 0; j < e->nframes && j < SW_MAX_DEPTH; j++) {
                uint32_t id = sw_session_frame_named(
                    s, e->frames[j].name, e->frames[j].file, e->frames[j].line,
                    e->frames[j].first);

                if (id == 0) {
                    break;
                }
                ids[k++] = id;
            }
            if (k < e->nframes && k < SW_MAX_DEPTH) {
                s->samples_dropped++;
                continue;
            }
            ids[k] = sw_session_marker(s, e->label);
            if (ids[k] == 0) {
                s->samples_dropped++;
                continue;
            }
            k++;
            k += chain(r, s, e, ids + k, SW_TASK_CHAIN_MAX);
            e->node = sw_session_stack(s, ids, k);
            if (e->node == 0) {
                s->samples_dropped++;
                continue;
            }
        }
        sw_session_add(s, slot, greenlet, e->node, wall_ns, 0, 0);
    }
    pthread_mutex_unlock(&T.mu);
}
