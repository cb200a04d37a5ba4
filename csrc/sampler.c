/* The sampler thread.
 *
 * Threads and ownership.  One native pthread per instance (the program's
 * own sampler and the on-demand one: struct sampler S and OD), started by
 * sw_sampler_start_in() and joined by sw_sampler_stop_in(); the main
 * instance's by the Python layer with the GIL held, the on-demand one's by
 * ondemand.c from a native thread.  The sampler thread has no Python thread
 * state, never takes the GIL and never calls the Python API: it reads the
 * interpreter through compat/reader (safe reads), resolves code objects
 * through the shared code cache and adds samples to the session.  It
 * blocks every signal, so signals meant for the application are never
 * delivered to it.
 *
 * Locks, in order: ctl (start/stop/fork only) -> the code cache -> the
 * session.  The sampler holds the cache and the session while it resolves
 * and stores one thread's stack (microseconds), never while it sleeps, and
 * never waits for anything while holding them.  Python-side readers of the
 * session take only the session lock; since the sampler never needs the
 * GIL, a Python thread may wait for the session lock (or join the
 * sampler) while holding the GIL.
 *
 * Timing.  The thread sleeps on a condition variable until the next tick
 * (CLOCK_MONOTONIC, absolute: ticks stay on a fixed grid, a late wake-up
 * does not shift the ones after it), so stop wakes it at once.  Ticks
 * that came while the thread could not run (preempted on a busy machine,
 * a long pass) are made up, at most CATCHUP_X times the rate so that the
 * passes that make them up look at different moments, as long as they
 * are less than CATCHUP_NS old; older ones are skipped and counted in
 * the session's ticks_missed.  With a budget, the interval grows so that
 * the sampler's own CPU time (measured around each pass, wake-up
 * included) stays under budget x one core, and late ticks are skipped
 * (and counted), not made up.
 *
 * Fork.  The child has no sampler thread.  The prepare handler takes ctl,
 * the process's code cache (named at module init) and the active
 * session, so the child never inherits a table half-updated or a lock
 * held by a thread that does not exist there; the child handler releases
 * them and marks the sampler stopped.  The child may start its own.
 *
 * Errors.  The thread cannot raise: when it fails (its work buffers cannot
 * be allocated) it records a sticky error in S and in the session
 * (s->error, shown by stats()), and the next sw_sampler_stop() returns it
 * so that the Python layer raises it, as _lsprof does with its pending
 * error.
 *
 * Interpreter exit.  The Python layer stops the sampler from an atexit
 * handler, before finalization frees thread states.  As a second line,
 * each pass first checks _PyRuntime._finalizing and the thread stops by
 * itself once it is set. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "greenlet_read.h"
#include "sampler.h"
#include "service.h"
#include "tasks.h"

struct sampler {
    pthread_mutex_t ctl; /* start, stop and fork */
    pthread_mutex_t wake_mu;
    pthread_cond_t wake; /* signalled on stop */
    _Atomic int running; /* the thread is sampling */
    _Atomic int stop;
    int joinable;
    pthread_t thread;
    sw_session_t *session;
    sw_codecache_t *cache;
    sw_sampler_cfg_t cfg;
    _Atomic uint64_t passes;
    _Atomic uint64_t first_ns, last_ns;
    /* The sticky error: set by the sampler thread when it fails (it
     * cannot raise), taken by the next sw_sampler_stop().  Written before
     * `running` drops to 0 (release), read after joining the thread. */
    int error;
    int error_errno; /* errno behind an SW_ESYS error */
    char error_msg[128];
    _Atomic int fail_next; /* test hook: the next start's work alloc fails */
    /* Since the process started, every run (for /metrics). */
    _Atomic uint64_t tot_samples, tot_dropped, tot_errors, tot_cpu_ns;
    int wake_ready;
    int tasks; /* this instance may follow asyncio tasks (--tasks) */
};

/* The two instances: the program's own profile, and the on-demand one
 * (ondemand.c), which samples at its own rate into its own session. */
static struct sampler S = {
    .ctl = PTHREAD_MUTEX_INITIALIZER,
    .wake_mu = PTHREAD_MUTEX_INITIALIZER,
    .tasks = 1,
};
static struct sampler OD = {
    .ctl = PTHREAD_MUTEX_INITIALIZER,
    .wake_mu = PTHREAD_MUTEX_INITIALIZER,
};

static struct sampler *
instance(int which)
{
    return which == SW_SAMPLER_ONDEMAND ? &OD : &S;
}

/* Thread states (by serial) the sampler skips: stackwatch's own Python
 * threads.  Written with the GIL held, read by the sampler. */
#define MAX_EXCLUDED 8
static _Atomic uint64_t excluded[MAX_EXCLUDED];

int
sw_sampler_exclude(uint64_t tstate_id, int on)
{
    int i;

    for (i = 0; i < MAX_EXCLUDED; i++) {
        uint64_t want = on ? 0 : tstate_id + 1;
        uint64_t put = on ? tstate_id + 1 : 0;

        if (atomic_compare_exchange_strong(&excluded[i], &want, put)) {
            return 0;
        }
    }
    return on ? SW_EFULL : SW_EINVAL;
}

/* Code objects where stacks are cut: a frame running one of them and
 * everything below it are left out of samples (stackwatch's own runner
 * under `stackwatch record`).  Written with the GIL held, read by the
 * sampler. */
#define MAX_ROOTS 4
static _Atomic uintptr_t roots[MAX_ROOTS];

void
sw_sampler_set_roots(const uintptr_t *codes, int n)
{
    int i;

    for (i = 0; i < MAX_ROOTS; i++) {
        atomic_store(&roots[i], i < n ? codes[i] : 0);
    }
}

int
sw_sampler_cut_at_roots(const sw_rawframe_t *raw, int n)
{
    uintptr_t r[MAX_ROOTS];
    int i, k, any = 0;

    for (k = 0; k < MAX_ROOTS; k++) {
        r[k] = atomic_load_explicit(&roots[k], memory_order_relaxed);
        any |= r[k] != 0;
    }
    for (i = 0; any && i < n; i++) {
        for (k = 0; k < MAX_ROOTS; k++) {
            if (r[k] != 0 && raw[i].code == r[k]) {
                return i;
            }
        }
    }
    return n;
}

int
sw_sampler_is_excluded(uint64_t tstate_id)
{
    int i;

    for (i = 0; i < MAX_EXCLUDED; i++) {
        if (atomic_load_explicit(&excluded[i], memory_order_relaxed) ==
            tstate_id + 1) {
            return 1;
        }
    }
    return 0;
}

static void
wake_init(struct sampler *P)
{
    sw_cond_init_monotonic(&P->wake);
    P->wake_ready = 1;
}

/* Sleeps until the absolute monotonic time `until` or a stop request.
 * Returns 1 if asked to stop. */
static int
sleep_until(struct sampler *P, uint64_t until)
{
    struct timespec ts = sw_timespec(until);
    int stop;

    pthread_mutex_lock(&P->wake_mu);
    while (!(stop = atomic_load(&P->stop))) {
        if (pthread_cond_timedwait(&P->wake, &P->wake_mu, &ts) == ETIMEDOUT) {
            break;
        }
    }
    pthread_mutex_unlock(&P->wake_mu);
    return stop;
}

/* Buffers of the sampler thread, allocated once when it starts. */
typedef struct work {
    sw_reader_t reader;
    sw_thread_t *threads;
    sw_rawframe_t *raw;
    sw_frameinfo_t *info;
    uint32_t *ids;
    /* Per thread of a pass (index as in threads) */
    struct todo {
        uint32_t slot, greenlet, node;
        uint64_t delta;
        uintptr_t task; /* the asyncio task it runs (--tasks), 0 */
    } * todo;
    sw_thread_t **walk; /* the threads whose stacks are read this pass */
    uint64_t rereads;   /* torn walks read again (TORN_RETRIES) */
} work_t;

static void
work_free(work_t *w)
{
    sw_reader_close(&w->reader);
    free(w->threads);
    free(w->raw);
    free(w->info);
    free(w->ids);
    free(w->todo);
    free(w->walk);
}

/* 0, or the SW_E* code of sw_reader_open() or SW_ENOMEM. */
static int
work_alloc(work_t *w)
{
    int rc;

    memset(w, 0, sizeof(*w));
    rc = sw_reader_open(&w->reader);
    if (rc < 0) {
        return rc;
    }
    w->threads = malloc(SW_MAX_THREADS * sizeof(*w->threads));
    w->raw = malloc(SW_MAX_DEPTH * sizeof(*w->raw));
    w->info = malloc(SW_MAX_DEPTH * sizeof(*w->info));
    w->ids = malloc((SW_MAX_DEPTH + 2 + SW_TASK_CHAIN_MAX) * sizeof(*w->ids));
    w->todo = malloc(SW_MAX_THREADS * sizeof(*w->todo));
    w->walk = malloc(SW_MAX_THREADS * sizeof(*w->walk));
    if (!w->threads || !w->raw || !w->info || !w->ids || !w->todo ||
        !w->walk) {
        work_free(w);
        return SW_ENOMEM;
    }
    return 0;
}

/* Resolves and stores the stack of one thread; returns its leaf node, 0
 * if it has no valid Python frames or was read torn, or -1 if a table is
 * full (the sample is then counted as dropped).  With task (--tasks: the
 * asyncio task whose coroutine runs the outermost of the nraw frames),
 * the task and the tasks awaiting it are added above as markers.  Caller
 * holds the cache and the session. */
#define OUTER_MAX 16

/* A walk that met the stack changing under it is read again up to this
 * many times in the same pass. */
#define TORN_RETRIES 2

static uint32_t
store_stack(struct sampler *P, work_t *w, sw_session_t *s, int nraw,
            int truncated, uint64_t pass, uintptr_t task, unsigned long ident,
            const uintptr_t *outer, int nouter)
{
    uint32_t node;
    int n, i, k = 0;

    n = sw_codecache_resolve(P->cache, &w->reader, w->raw, nraw, w->info,
                             pass);
    if (w->reader.broken) {
        return 0; /* torn: no sample rather than a wrong one */
    }
    for (i = 0; i < n; i++) {
        const sw_codeinfo_t *c = w->info[i].code;
        /* Recursion: the same frame as the one before, the same id. */
        uint32_t id =
            i > 0 && c == w->info[i - 1].code &&
                    w->info[i].line == w->info[i - 1].line
                ? w->ids[k - 1]
                : sw_session_frame(
                      s, c->serial,
                      sw_session_line(s, c->id.firstlineno, w->info[i].line),
                      c->id.firstlineno, c->name, c->file);

        if (id == 0) {
            return -1;
        }
        w->ids[k++] = id;
    }
    if (k > 0 && task != 0) {
        k += sw_tasks_markers(&w->reader, s, task, ident, outer, nouter,
                              w->info[n - 1].code->name, w->ids + k,
                              SW_TASK_CHAIN_MAX + 1);
    }
    if (k > 0 && truncated) {
        uint32_t id = sw_session_marker(s, "[truncated]");

        if (id != 0) {
            w->ids[k++] = id; /* the root side is what was cut */
        }
    }
    if (k == 0) {
        return 0;
    }
    node = sw_session_stack(s, w->ids, k);
    return node != 0 ? (int64_t)node : -1;
}

/* One pass over every thread, in two rounds: first decide which threads
 * need their stack read (a thread that ran no code since the last pass
 * reuses its last stack), then read ahead for all of those together and
 * walk them.  Returns 0, or SW_EFINALIZING when the interpreter has
 * started finalizing (the sampler then stops). */
static int
sample_pass(struct sampler *P, work_t *w, sw_session_t *s, uint64_t wall_ns)
{
    const int mode = P->cfg.mode;
    uint64_t pass = sw_codecache_new_pass();
    uint64_t faults_before = w->reader.vm.faults;
    int n, i, nwalk = 0, tasks = P->tasks && sw_tasks_on();

    n = sw_read_threads(&w->reader, w->threads, SW_MAX_THREADS);
    if (n == SW_EFINALIZING) {
        return n;
    }
    if (tasks) {
        sw_tasks_pass_begin(&w->reader);
    }
    for (i = 0; i < n; i++) {
        sw_thread_t *t = &w->threads[i];
        struct todo *td = &w->todo[i];
        uint64_t cpu = 0;
        sw_sthread_t *st;
        int created, cpu_known, unnamed = 0;

        td->node = 0;
        td->task = 0;
        td->slot = UINT32_MAX; /* not sampled */
        if (t->ident == 0 || sw_sampler_is_excluded(t->id)) {
            /* A thread state not yet bound to its thread (3.12+ creates
             * it in the thread that starts the new one), or one of
             * stackwatch's own threads. */
            continue;
        }
        if (mode == SW_MODE_GIL && !t->holds_gil) {
            continue;
        }
        td->greenlet = sw_greenlet_current(t->tstate, t->id);
        td->delta = 0;

        /* Find the thread's slot (the session's only lookup that needs
         * no code) and decide whether its stack must be walked. */
        pthread_mutex_lock(&s->mu);
        td->slot = sw_session_thread(s, t->id, t->ident, t->tid, t->interp_id,
                                     &created);
        st = &s->threads[td->slot];
        if (created || st->ident != t->ident || st->tid == 0 ||
            (t->tid != 0 && t->tid != st->tid)) {
            /* Until a new thread boots, its thread state may carry the
             * ids of the thread that created it (3.9-3.11), and the new
             * thread stores its ident before its native id: follow what
             * it says.  A name given for the ids it had is not its own:
             * it is named again. */
            if (!created && st->name != 0) {
                st->name = 0;
                unnamed = 1;
            }
            st->ident = t->ident;
            st->tid = sw_read_tid(&w->reader, t);
            st->have_cpu = 0;
            st->have_last = 0;
        }
        if (created || unnamed) {
            sw_service_notify(SW_SVC_NAMES); /* to be named */
        }
        cpu_known = sw_thread_cpu_ns(st->tid, &cpu) == 0;
        if (cpu_known && st->have_cpu && cpu >= st->last_cpu_ns) {
            td->delta = cpu - st->last_cpu_ns;
        }
        {
            int skip = mode == SW_MODE_CPU &&
                       !(td->delta > 0 || (!cpu_known && t->holds_gil));
            /* A thread that used no CPU time since the last pass ran no
             * code: its stack is the one read then (and its frame field
             * is unchanged, for good measure). */
            int reuse = td->slot != 0 && st->have_last && cpu_known &&
                        st->have_cpu && td->delta == 0 &&
                        st->last_frame == t->frame_field &&
                        st->last_greenlet == td->greenlet;

            st->have_cpu = cpu_known;
            st->last_cpu_ns = cpu;
            if (skip) {
                td->slot = UINT32_MAX;
            }
            else if (reuse) {
                td->node = st->last_node;
                s->reused++;
            }
            else {
                w->walk[nwalk++] = t;
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    sw_prefetch_stacks(&w->reader, w->walk, nwalk);
    for (i = 0; i < n; i++) {
        sw_thread_t *t = &w->threads[i];
        struct todo *td = &w->todo[i];
        sw_sthread_t *st;

        if (td->slot == UINT32_MAX) {
            continue;
        }
        for (int attempt = 0; td->node == 0; attempt++) {
            int64_t stored;
            uintptr_t outer[OUTER_MAX];
            int nouter = 0;
            uint64_t bad_before = w->reader.bad_frames;
            int truncated = 0, nraw;

            if (tasks) {
                sw_tasks_thread_begin(&w->reader, t->tstate);
            }
            nraw = sw_read_frames(&w->reader, t, w->raw, SW_MAX_DEPTH,
                                  &truncated);

            /* A walk that met the stack changing under it (a frame
             * freed, a chunk popped: reader.broken) stores no stack
             * rather than one without its root side (read again below). */
            if (nraw > 0 && !truncated && !w->reader.broken) {
                nraw = sw_sampler_cut_at_roots(w->raw, nraw);
            }
            if (tasks && nraw > 0 && !w->reader.broken) {
                /* The loop's own frames below the task's coroutine are
                 * left out: the task stands in their place. */
                int at = sw_tasks_find(&w->reader, t->tstate, w->raw, nraw,
                                       &td->task);
                int j;

                if (at == SW_TASKS_TORN) {
                    /* Read before the task yielded, and the running task
                     * read after: read it again (below); counted as a
                     * bad stack if it stays so. */
                    w->reader.broken = 1;
                    w->reader.bad_frames++;
                }
                /* The generators outside it: a task that started it
                 * eagerly runs one of them. */
                for (j = at + 1; at >= 0 && j < nraw && nouter < OUTER_MAX;
                     j++) {
                    if (w->raw[j].gen != 0) {
                        outer[nouter++] = w->raw[j].gen;
                    }
                }
                if (at >= 0) {
                    nraw = at + 1;
                    truncated = 0;
                }
            }
            if (nraw > 0 && !w->reader.broken) {
                sw_codecache_lock(P->cache);
                pthread_mutex_lock(&s->mu);
                stored = store_stack(P, w, s, nraw, truncated, pass, td->task,
                                     t->ident, outer, nouter);
                if (stored < 0) {
                    s->samples_dropped++;
                }
                pthread_mutex_unlock(&s->mu);
                sw_codecache_unlock(P->cache);
                td->node = stored > 0 ? (uint32_t)stored : 0;
            }
            /* Torn (the thread called or returned while being read): read
             * it again at once, a few times, rather than lose the sample
             * (the stacks of code that calls a lot are torn most: leaving
             * them out would bias the profile against it).  Only the last
             * failure counts as a stack left out. */
            if (td->node != 0 || !w->reader.broken ||
                attempt >= TORN_RETRIES ||
                sw_reread_thread(&w->reader, t) < 0) {
                break;
            }
            w->reader.bad_frames = bad_before;
            w->rereads++;
            td->task = 0;
        }
        pthread_mutex_lock(&s->mu);
        st = &s->threads[td->slot];
        if (td->node == 0) {
            /* The thread ran, but no stack was stored: the one stored
             * before is no longer known to be its stack. */
            st->have_last = 0;
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        st->last_node = td->node;
        st->last_frame = t->frame_field;
        st->last_greenlet = td->greenlet;
        st->have_last = td->slot != 0;
        sw_session_add(s, td->slot, td->greenlet, td->node, wall_ns, td->delta,
                       t->holds_gil);
        if (tasks) {
            sw_tasks_add_waiting(&w->reader, s, td->slot, td->greenlet,
                                 t->ident, td->task, wall_ns);
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_lock(&s->mu);
    s->passes++;
    s->read_errors += w->reader.vm.faults - faults_before;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* Ends the session's current run, if any: stop time, time sampled.
 * Idempotent.  Context: the caller holds s->mu or is alone (fork child). */
static void
session_stopped(sw_session_t *s)
{
    if (s->run_ns != 0) {
        uint64_t now = sw_now_ns();

        s->sampled_ns += now - s->run_ns;
        s->run_ns = 0;
        s->stop_ns = now;
    }
}

/* Ticks late by up to CATCHUP_NS are made up, at most CATCHUP_X times the
 * rate (see Timing above). */
#define CATCHUP_X 4
#define CATCHUP_NS 1000000000u

/* How late a tick may be and still be made up: CATCHUP_NS, and never less
 * than two intervals.  Pure. */
static uint64_t
catchup_ns(uint64_t interval)
{
    return interval * 2 > CATCHUP_NS ? interval * 2 : CATCHUP_NS;
}

static void *
sampler_main(void *arg)
{
    struct sampler *P = arg;
    sw_session_t *s = P->session;
    const uint64_t base = (uint64_t)(1e9 / P->cfg.rate_hz);
    uint64_t interval = base, next, last, start, cost_ewma = 0, cpu_before;
    uint64_t seen_taken, seen_dropped, seen_errors;
    work_t w;
    int rc = atomic_exchange(&P->fail_next, 0) ? SW_ENOMEM : work_alloc(&w);

    if (rc < 0) {
        P->error_errno = errno;
        P->error = rc;
        snprintf(P->error_msg, sizeof(P->error_msg),
                 "the sampler thread could not %s: nothing was sampled",
                 rc == SW_ENOMEM ? "allocate its work buffers (out of memory)"
                                 : "open its memory reader");
        pthread_mutex_lock(&s->mu);
        s->error = rc;
        snprintf(s->error_msg, sizeof(s->error_msg), "%s", P->error_msg);
        session_stopped(s);
        pthread_mutex_unlock(&s->mu);
        atomic_store(&P->running, 0);
        return NULL;
    }
    /* The ticks count from the start asked for, not from when this
     * thread first ran (late on a busy machine: those ticks are owed). */
    pthread_mutex_lock(&s->mu);
    start = s->run_ns != 0 ? s->run_ns : sw_now_ns();
    pthread_mutex_unlock(&s->mu);
    last = next = start;
    atomic_store(&P->first_ns, start);
    cpu_before = sw_self_cpu_ns();
    pthread_mutex_lock(&s->mu);
    seen_taken = s->samples_taken;
    seen_dropped = s->samples_dropped;
    seen_errors = s->read_errors;
    pthread_mutex_unlock(&s->mu);
    for (;;) {
        uint64_t now, cpu, cost, wall, at, horizon;

        next += interval; /* the tick this pass is for */
        now = sw_now_ns();
        horizon = P->cfg.budget > 0 ? interval : catchup_ns(interval);
        if (now > next + horizon) {
            /* Ticks too old to make up: skipped, and counted (those of
             * the duration only). */
            uint64_t skip = (now - next - horizon) / interval + 1;
            uint64_t counted = skip;

            if (P->cfg.duration_ns > 0) {
                uint64_t end = start + (uint64_t)P->cfg.duration_ns;
                uint64_t left = end >= next ? (end - next) / interval + 1 : 0;

                counted = skip < left ? skip : left;
            }
            next += skip * interval;
            pthread_mutex_lock(&s->mu);
            s->ticks_missed += counted;
            pthread_mutex_unlock(&s->mu);
        }
        if (P->cfg.duration_ns > 0 &&
            next - start > (uint64_t)P->cfg.duration_ns) {
            /* Every tick of the duration was taken (the last one on its
             * end, if the rate divides it) or counted missed; sampling
             * lasts the duration. */
            (void)sleep_until(P, start + (uint64_t)P->cfg.duration_ns);
            break;
        }
        /* Behind: make the tick up, but not sooner than a fraction of the
         * interval after the last pass. */
        at = last + interval / CATCHUP_X;
        if (at < next) {
            at = next;
        }
        if (sleep_until(P, at)) {
            /* Stopped: a tick that was due (being made up) is missed. */
            now = sw_now_ns();
            if (now >= next) {
                pthread_mutex_lock(&s->mu);
                s->ticks_missed += (now - next) / interval + 1;
                pthread_mutex_unlock(&s->mu);
            }
            break;
        }
        now = sw_now_ns();
        wall = now - last;
        last = now;
        if (sample_pass(P, &w, s, wall) == SW_EFINALIZING) {
            break;
        }
        atomic_fetch_add(&P->passes, 1);
        atomic_store(&P->last_ns, now);
        /* The thread's CPU time for a whole cycle, wake-up included. */
        cpu = sw_self_cpu_ns();
        cost = cpu - cpu_before;
        cpu_before = cpu;
        pthread_mutex_lock(&s->mu);
        s->sampler_cpu_ns += cost;
        atomic_fetch_add_explicit(&P->tot_samples,
                                  s->samples_taken - seen_taken,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&P->tot_dropped,
                                  s->samples_dropped - seen_dropped,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&P->tot_errors, s->read_errors - seen_errors,
                                  memory_order_relaxed);
        seen_taken = s->samples_taken;
        seen_dropped = s->samples_dropped;
        seen_errors = s->read_errors;
        pthread_mutex_unlock(&s->mu);
        atomic_fetch_add_explicit(&P->tot_cpu_ns, cost, memory_order_relaxed);
        if (P->cfg.budget > 0) {
            uint64_t want;

            cost_ewma = cost_ewma ? (cost_ewma * 7 + cost) / 8 : cost;
            want = (uint64_t)((double)cost_ewma / P->cfg.budget);
            interval = want > base ? want : base;
        }
    }
    pthread_mutex_lock(&s->mu);
    s->bad_frames += w.reader.bad_frames;
    s->rereads += w.rereads;
    s->bad_threads += w.reader.bad_threads;
    session_stopped(s);
    pthread_mutex_unlock(&s->mu);
    work_free(&w);
    atomic_store(&P->running, 0);
    return NULL;
}

int
sw_sampler_start_in(int which, sw_session_t *s, sw_codecache_t *cache,
                    const sw_sampler_cfg_t *cfg, char *err, size_t errlen)
{
    struct sampler *P = instance(which);
    sigset_t all, old;
    int rc;

    if (cfg->rate_hz < 1 || cfg->rate_hz > 1000) {
        snprintf(err, errlen, "rate must be between 1 and 1000 Hz, not %g",
                 cfg->rate_hz);
        return SW_EINVAL;
    }
    pthread_mutex_lock(&P->ctl);
    if (atomic_load(&P->running)) {
        pthread_mutex_unlock(&P->ctl);
        snprintf(err, errlen,
                 "a profiler is already running in this "
                 "process");
        return SW_EBUSY;
    }
    if (P->joinable) {
        /* Stopped by itself (duration, finalization): reap it. */
        pthread_join(P->thread, NULL);
        P->joinable = 0;
    }
    if (!P->wake_ready) {
        wake_init(P);
    }
    P->session = s;
    P->cache = cache;
    P->error = 0;
    P->error_msg[0] = '\0';
    P->cfg = *cfg;
    atomic_store(&P->stop, 0);
    atomic_store(&P->passes, 0);
    atomic_store(&P->running, 1);
    if (s->start_ns == 0) { /* a resumed session keeps its start */
        struct timespec ts;

        s->start_ns = sw_now_ns();
        clock_gettime(CLOCK_REALTIME, &ts);
        s->start_unix = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    }
    s->stop_ns = 0;
    s->run_ns = sw_now_ns();
    /* The thread inherits this mask: it never takes the application's
     * signals. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&P->thread, NULL, sampler_main, P);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        atomic_store(&P->running, 0);
        P->session = NULL;
        pthread_mutex_unlock(&P->ctl);
        snprintf(err, errlen, "cannot start the sampler thread: %s",
                 strerror(rc));
        errno = rc;
        return SW_ESYS;
    }
    P->joinable = 1;
    pthread_mutex_unlock(&P->ctl);
    return 0;
}

int
sw_sampler_start(sw_session_t *s, sw_codecache_t *cache,
                 const sw_sampler_cfg_t *cfg, char *err, size_t errlen)
{
    return sw_sampler_start_in(SW_SAMPLER_MAIN, s, cache, cfg, err, errlen);
}

int
sw_sampler_stop_in(int which, char *err, size_t errlen)
{
    struct sampler *P = instance(which);
    int rc;

    pthread_mutex_lock(&P->ctl);
    if (P->joinable) {
        pthread_mutex_lock(&P->wake_mu);
        atomic_store(&P->stop, 1);
        pthread_cond_broadcast(&P->wake);
        pthread_mutex_unlock(&P->wake_mu);
        pthread_join(P->thread, NULL);
        P->joinable = 0;
    }
    if (P->session != NULL) {
        pthread_mutex_lock(&P->session->mu);
        session_stopped(P->session);
        pthread_mutex_unlock(&P->session->mu);
    }
    atomic_store(&P->running, 0);
    P->session = NULL;
    rc = P->error;
    if (rc != 0 && err != NULL) {
        snprintf(err, errlen, "%s", P->error_msg);
    }
    if (rc == SW_ESYS) {
        errno = P->error_errno; /* for sw_py_raise's OSError */
    }
    P->error = 0;
    pthread_mutex_unlock(&P->ctl);
    return rc;
}

int
sw_sampler_stop(char *err, size_t errlen)
{
    return sw_sampler_stop_in(SW_SAMPLER_MAIN, err, errlen);
}

void
sw_sampler_fail_next(void)
{
    atomic_store(&S.fail_next, 1);
}

sw_session_t *
sw_sampler_session(void)
{
    return S.session;
}

int
sw_sampler_running_in(int which)
{
    return atomic_load(&instance(which)->running);
}

int
sw_sampler_running(void)
{
    return sw_sampler_running_in(SW_SAMPLER_MAIN);
}

void
sw_sampler_get_totals(sw_sampler_totals_t *t)
{
    const struct sampler *both[2] = {&S, &OD};

    memset(t, 0, sizeof(*t));
    for (int i = 0; i < 2; i++) {
        const struct sampler *P = both[i];

        t->samples +=
            atomic_load_explicit(&P->tot_samples, memory_order_relaxed);
        t->dropped +=
            atomic_load_explicit(&P->tot_dropped, memory_order_relaxed);
        t->read_errors +=
            atomic_load_explicit(&P->tot_errors, memory_order_relaxed);
        t->cpu_ns +=
            atomic_load_explicit(&P->tot_cpu_ns, memory_order_relaxed);
    }
    t->running = atomic_load(&S.running) || atomic_load(&OD.running);
    t->rate = sw_sampler_effective_rate_in(atomic_load(&S.running) ||
                                                   !atomic_load(&OD.running)
                                               ? SW_SAMPLER_MAIN
                                               : SW_SAMPLER_ONDEMAND);
}

double
sw_sampler_effective_rate(void)
{
    return sw_sampler_effective_rate_in(SW_SAMPLER_MAIN);
}

double
sw_sampler_effective_rate_in(int which)
{
    struct sampler *P = instance(which);
    uint64_t passes = atomic_load(&P->passes);
    uint64_t first = atomic_load(&P->first_ns),
             last = atomic_load(&P->last_ns);

    if (passes < 2 || last <= first) {
        return 0.0;
    }
    return (double)passes * 1e9 / (double)(last - first);
}

void
sw_sampler_use_cache(sw_codecache_t *cache)
{
    pthread_mutex_lock(&S.ctl);
    S.cache = cache;
    pthread_mutex_unlock(&S.ctl);
}

/* Both instances' ctl are taken (main first), then the code cache once
 * (the on-demand instance uses the same cache as the main one, named at
 * module init), then each active session. */
void
sw_sampler_atfork_prepare(void)
{
    pthread_mutex_lock(&S.ctl);
    pthread_mutex_lock(&OD.ctl);
    if (S.cache != NULL) {
        sw_codecache_atfork_prepare(S.cache);
    }
    if (S.session != NULL) {
        pthread_mutex_lock(&S.session->mu);
    }
    if (OD.session != NULL) {
        pthread_mutex_lock(&OD.session->mu);
    }
}

void
sw_sampler_atfork_parent(void)
{
    if (OD.session != NULL) {
        pthread_mutex_unlock(&OD.session->mu);
    }
    if (S.session != NULL) {
        pthread_mutex_unlock(&S.session->mu);
    }
    if (S.cache != NULL) {
        sw_codecache_atfork_parent(S.cache);
    }
    pthread_mutex_unlock(&OD.ctl);
    pthread_mutex_unlock(&S.ctl);
}

static void
instance_atfork_child(struct sampler *P)
{
    if (P->session != NULL) {
        pthread_mutex_unlock(&P->session->mu);
        session_stopped(P->session);
    }
    /* The sampler thread does not exist here. */
    atomic_store(&P->running, 0);
    atomic_store(&P->stop, 0);
    P->joinable = 0;
    P->session = NULL;
    P->error = 0;
    if (P->wake_ready) {
        pthread_mutex_init(&P->wake_mu, NULL);
        wake_init(P);
    }
}

void
sw_sampler_atfork_child(void)
{
    if (S.cache != NULL) {
        sw_codecache_atfork_child(S.cache);
    }
    instance_atfork_child(&OD);
    instance_atfork_child(&S);
    pthread_mutex_unlock(&OD.ctl);
    pthread_mutex_unlock(&S.ctl);
}
