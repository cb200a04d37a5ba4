/* The watchdog; see watchdog.h for the design.
 *
 * Lock order: W.mu, then (inside the greenlet readers) nothing.  The
 * monitor thread drops W.mu before it reads stacks (which takes the code
 * cache lock), writes reports or asks the GIL side. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "errors.h"
#include "greenlet_read.h"
#include "service.h"
#include "procmem.h"
#include "snapshot.h"
#include "watchdog.h"
#include "wd_report.h"
#include "wd_timing.h"

#define MAX_WATCHES 256
#define MAX_EVENTS 256
#define MAX_TODO 32

typedef sw_wd_watch_t watch_t;
typedef sw_wd_todo_t todo_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;  /* the monitor thread's sleep */
    pthread_cond_t ready; /* events for sw_wd_take */
    int running, stop, interrupted;
    pthread_t thread;
    sw_wd_settings_t set;
    sw_codecache_t *cache;
    watch_t watches[MAX_WATCHES];
    uint64_t serial;
    sw_wd_event_t events[MAX_EVENTS];
    int ev_head, ev_len;
    /* memory */
    uint64_t next_mem_ns;
    sw_wd_mem_state_t mem;
    sw_wd_stats_t stats;
    /* Report descriptors replaced while the monitor thread may be
     * writing to them: it closes them at its next pass. */
    int retired[8];
    int nretired;
    /* CPU time of the monitor threads that ran before this one; the
     * running thread adds its own at each pass (stats.cpu_ns). */
    uint64_t cpu_base;
    /* For /metrics: never reset (a fork's child keeps the parent's). */
    uint64_t stalls[4];
    uint64_t hist[SW_WD_HIST_N + 1];
    uint64_t hist_count;
    double hist_sum;
} W = {.mu = PTHREAD_MUTEX_INITIALIZER, .set = {.report_fd = -1}};

static pthread_once_t conds_once = PTHREAD_ONCE_INIT;

/* The monitor thread's copy of the settings, taken under the lock at
 * each pass, read while it works without the lock. */
static sw_wd_settings_t cur_set;

static void
init_conds(void)
{
    sw_cond_init_monotonic(&W.wake);
    sw_cond_init_monotonic(&W.ready);
}

static char *
dupstr(const char *s)
{
    size_t n = strlen(s ? s : "");
    char *p = malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s ? s : "", n + 1);
    }
    return p;
}

void
sw_wd_event_free(sw_wd_event_t *e)
{
    free(e->name);
    free(e->report);
    free(e->frames);
    free(e->label);
    memset(e, 0, sizeof(*e));
}

/* Queues an event (takes ownership of its strings).  Lock held. */
static void
push_event_locked(sw_wd_event_t *e)
{
    if (W.ev_len == MAX_EVENTS) {
        sw_wd_event_free(&W.events[W.ev_head]);
        W.ev_head = (W.ev_head + 1) % MAX_EVENTS;
        W.ev_len--;
        W.stats.events_dropped++;
    }
    W.events[(W.ev_head + W.ev_len) % MAX_EVENTS] = *e;
    W.ev_len++;
    pthread_cond_broadcast(&W.ready);
}

static void
push_event(sw_wd_event_t *e)
{
    pthread_mutex_lock(&W.mu);
    push_event_locked(e);
    pthread_mutex_unlock(&W.mu);
}

/* ---- reports ----------------------------------------------------------- */

static void
emit(int fd, const sw_buf_t *text)
{
    (void)sw_buf_write_fd(text, fd);
}

/* The report's fields that come from the watch. */
static void
report_of(const todo_t *td, sw_wd_report_t *r, char *name, size_t cap)
{
    const watch_t *w = &td->w;

    memset(r, 0, sizeof(*r));
    r->what = td->what;
    r->kind = w->kind;
    r->name = w->name;
    r->ident = w->ident;
    r->tid = w->tid;
    r->thread_name = sw_names_get(w->ident, w->tid, name, cap) ? name : NULL;
    r->threshold_ns = w->threshold_ns;
    r->duration_ns = td->duration_ns;
    r->greenlet = td->greenlet;
    r->label = "";
    r->task_frame = -1;
    r->hide = cur_set.hide;
    r->full_paths = cur_set.full_paths;
}

/* A name from the GIL side, within the wait, when the thread does not
 * hold the GIL (otherwise the answer could not come in time). */
static void
ask_label(const todo_t *td, int holds_gil, int slot, char *out, size_t cap)
{
    sw_buf_t reply;
    uint32_t kind = 0, flags = 0;

    out[0] = '\0';
    if (holds_gil || cur_set.name_wait_ns == 0 || !sw_service_alive()) {
        return;
    }
    if (td->w.kind == SW_WD_HUB && td->greenlet != 0) {
        kind = SW_WD_ASK_GREENLET;
        flags = td->greenlet;
    }
    else if (td->w.kind == SW_WD_LOOP) {
        kind = SW_WD_ASK_TASK;
        flags = (uint32_t)slot;
    }
    else {
        return;
    }
    sw_buf_init(&reply);
    if (sw_service_ask(kind, flags, cur_set.name_wait_ns, &reply) &&
        reply.data != NULL && sw_buf_ok(&reply)) {
        snprintf(out, cap, "%.*s", (int)reply.len, reply.data);
    }
    sw_buf_free(&reply);
}

/* Reads the stack and writes the report of a stall that starts or goes
 * on.  Returns 0, 1 if the stall is not one (a loop not running), or 2
 * if it is not one yet (a ticked loop waiting for I/O: its late tick is
 * the process's, starved of CPU, not the loop's). */
static int
report_stall(const todo_t *td, int fd)
{
    sw_snapshot_t snap;
    sw_reader_t r;
    sw_buf_t out;
    sw_wd_event_t ev;
    sw_wd_report_t rep;
    const sw_snap_thread_t *t = NULL;
    const watch_t *w = &td->w;
    char label[160] = "";
    char name[96];
    int tf = -1;

    memset(&snap, 0, sizeof(snap));
    if (sw_reader_open(&r) == 0) {
        sw_snapshot_capture(&snap, &r, W.cache, w->tstate_id);
        sw_reader_close(&r);
    }
    for (uint32_t i = 0; i < snap.nthreads; i++) {
        if (snap.threads[i].t.id == w->tstate_id) {
            t = &snap.threads[i];
        }
    }
    if (t == NULL && td->what == SW_WD_TODO_START && w->kind == SW_WD_LOOP) {
        sw_snapshot_free(&snap);
        return 1; /* the thread is gone */
    }
    if (t != NULL && w->kind == SW_WD_LOOP && !w->ticked &&
        !sw_wd_in_loop(&snap, t)) {
        sw_snapshot_free(&snap);
        return 1; /* the loop is not running: it cannot poll */
    }
    if (td->what == SW_WD_TODO_START && t != NULL && w->kind == SW_WD_LOOP &&
        w->ticked && w->base > 0 && t->nframes <= w->base && !t->t.holds_gil) {
        /* No frame above the code that runs the loop, and the GIL let
         * go: the loop waits for I/O or a timer (a tick that did not come
         * in time is a process short of CPU). */
        sw_snapshot_free(&snap);
        return 2;
    }
    if (t != NULL && w->kind == SW_WD_LOOP) {
        tf = w->ticked ? sw_wd_ticked_task_frame(t, w->base)
                       : sw_wd_task_frame(&snap, t);
    }
    if (td->what == SW_WD_TODO_START) {
        ask_label(td, t ? t->t.holds_gil : 0, (int)(w->id & 0xFF), label,
                  sizeof(label));
    }

    report_of(td, &rep, name, sizeof(name));
    rep.label = label;
    rep.snap = &snap;
    rep.t = t;
    rep.task_frame = tf;
    sw_buf_init(&out);
    sw_wd_report_text(&out, &rep);
    emit(fd, &out);

    if (td->what == SW_WD_TODO_START) {
        memset(&ev, 0, sizeof(ev));
        ev.kind = w->kind == SW_WD_DEADLINE ? SW_WDE_DEADLINE : SW_WDE_BLOCKED;
        ev.watch_kind = w->kind;
        ev.watch_id = w->id;
        ev.name = dupstr(w->name);
        ev.report = dupstr(out.data && sw_buf_ok(&out) ? out.data : "");
        ev.task_frame = -1;
        if (t != NULL) {
            (void)sw_wd_report_frames(&snap, t, cur_set.hide, tf, &ev.frames,
                                      &ev.nframes, &ev.task_frame);
        }
        if (!label[0] && tf >= 0) {
            snprintf(
                label, sizeof(label), "coroutine %s",
                sw_snap_str(&snap, snap.frames[t->first + (uint32_t)tf].name));
        }
        ev.label = dupstr(label);
        ev.ident = w->ident;
        ev.tid = w->tid;
        ev.greenlet = td->greenlet;
        ev.holds_gil = t ? t->t.holds_gil : 0;
        ev.duration = td->duration_ns / 1e9;
        ev.start_ns = w->stall_start_ns;
        ev.threshold = w->threshold_ns / 1e9;
        push_event(&ev);
    }
    sw_buf_free(&out);
    sw_snapshot_free(&snap);
    return 0;
}

static void
report_end(const todo_t *td, int fd)
{
    const watch_t *w = &td->w;
    sw_wd_event_t ev;
    sw_wd_report_t rep;
    sw_buf_t out;
    char name[96];

    report_of(td, &rep, name, sizeof(name));
    sw_buf_init(&out);
    sw_wd_report_text(&out, &rep);
    emit(fd, &out);

    memset(&ev, 0, sizeof(ev));
    ev.kind =
        w->kind == SW_WD_DEADLINE ? SW_WDE_DEADLINE_END : SW_WDE_UNBLOCKED;
    ev.watch_kind = w->kind;
    ev.watch_id = w->id;
    ev.name = dupstr(w->name);
    ev.report = dupstr(out.data && sw_buf_ok(&out) ? out.data : "");
    ev.task_frame = -1;
    ev.label = dupstr("");
    ev.ident = w->ident;
    ev.tid = w->tid;
    ev.duration = td->duration_ns / 1e9;
    ev.start_ns = w->stall_start_ns;
    ev.threshold = w->threshold_ns / 1e9;
    push_event(&ev);
    sw_buf_free(&out);
}

/* ---- memory ------------------------------------------------------------ */

/* Lock held. */
static void
check_memory_locked(uint64_t now)
{
    sw_procmem_t mem;
    sw_wd_event_t ev;

    if (W.set.mem_period_ns == 0 || now < W.next_mem_ns) {
        return;
    }
    W.next_mem_ns = now + W.set.mem_period_ns;
    if (W.set.mem_max == 0 || sw_procmem_read(&mem) < 0) {
        return;
    }
    memset(&ev, 0, sizeof(ev));
    ev.kind = sw_wd_mem_step(&W.mem, mem.rss, W.set.mem_max);
    if (ev.kind == 0) {
        return;
    }
    ev.mem[0] = mem.rss;
    ev.mem[1] = mem.vms;
    ev.mem[2] = mem.shared;
    ev.mem[3] = mem.text;
    ev.mem[4] = mem.data;
    ev.mem_max = W.set.mem_max;
    ev.mem_peak = W.mem.peak;
    ev.name = dupstr("");
    ev.report = dupstr("");
    ev.task_frame = -1;
    ev.label = dupstr("");
    push_event_locked(&ev);
}

/* ---- the monitor thread ----------------------------------------------- */

/* Checks one watch: what its thread shows (a hub's switch counter),
 * then the pure decision (wd_timing.c).  Lock held. */
static uint64_t
check_watch(watch_t *w, uint64_t now, todo_t *td)
{
    sw_wd_hub_seen_t seen = {0, 0};

    if (w->kind == SW_WD_HUB) {
        seen.switches = sw_greenlet_switches(w->tstate, w->tstate_id);
        seen.current = sw_greenlet_current(w->tstate, w->tstate_id);
    }
    return sw_wd_check(w, now, W.set.update_ns, &seen, td);
}

static void
free_slot_locked(watch_t *w)
{
    atomic_store(&w->id, 0);
    w->kind = 0;
}

/* A stall ended: into the duration histogram.  Takes the lock. */
static void
observe_stall(const todo_t *td)
{
    static const double bounds[SW_WD_HIST_N] = SW_WD_HIST_BOUNDS;
    double secs = td->duration_ns / 1e9;
    int b = 0;

    while (b < SW_WD_HIST_N && secs > bounds[b]) {
        b++;
    }
    pthread_mutex_lock(&W.mu);
    W.hist[b]++;
    W.hist_count++;
    W.hist_sum += secs;
    pthread_mutex_unlock(&W.mu);
}

static void *
wd_main(void *arg)
{
    todo_t todo[MAX_TODO];
    (void)arg;

    pthread_mutex_lock(&W.mu);
    for (;;) {
        uint64_t now = sw_now_ns(), next = now + SW_WD_IDLE_SLEEP_NS;
        int ntodo = 0, fd, i, rc;
        /* Once told to stop, one last pass writes the end lines of stalls
         * that ended meanwhile (a deadline block that just finished, a hub
         * that switched), and nothing new. */
        int last = W.stop;

        W.stats.polls++;
        W.stats.cpu_ns = W.cpu_base + sw_self_cpu_ns();
        while (W.nretired > 0) {
            close(W.retired[--W.nretired]);
        }
        for (i = 0; i < MAX_WATCHES; i++) {
            watch_t *w = &W.watches[i];
            uint64_t at;

            if (atomic_load(&w->id) == 0) {
                continue;
            }
            if (ntodo == MAX_TODO) {
                next = now; /* more next time round */
                break;
            }
            at = check_watch(w, now, &todo[ntodo]);
            if (at < next) {
                next = at;
            }
            if (todo[ntodo].what != 0) {
                todo[ntodo].w = *w;
                ntodo++;
            }
            if (w->removed && !w->stalled) {
                free_slot_locked(w);
            }
        }
        check_memory_locked(now);
        if (W.set.mem_period_ns != 0 && W.next_mem_ns < next) {
            next = W.next_mem_ns;
        }
        fd = W.set.report_fd;
        cur_set = W.set;
        if (ntodo > 0) {
            pthread_mutex_unlock(&W.mu);
            for (i = 0; i < ntodo; i++) {
                if (todo[i].what == SW_WD_TODO_END) {
                    report_end(&todo[i], fd);
                    observe_stall(&todo[i]);
                }
                else if (last) {
                    continue;
                }
                else if ((rc = report_stall(&todo[i], fd)) != 0) {
                    /* Not a stall after all: a loop that stopped (1: not
                     * again before it polls or ticks), or a ticked loop
                     * waiting for I/O (2: looked at again next poll). */
                    watch_t *w = &W.watches[todo[i].w.id & 0xFF];

                    pthread_mutex_lock(&W.mu);
                    if (atomic_load(&w->id) == todo[i].w.id) {
                        w->stalled = 0;
                        w->stalls--;
                        w->dormant = rc == 1;
                        if (rc == 2) {
                            w->idle_ns = now;
                        }
                    }
                    pthread_mutex_unlock(&W.mu);
                    continue;
                }
                pthread_mutex_lock(&W.mu);
                W.stats.reports++;
                if (todo[i].what == SW_WD_TODO_START && todo[i].w.kind > 0 &&
                    todo[i].w.kind < 4) {
                    W.stalls[todo[i].w.kind]++;
                }
                pthread_mutex_unlock(&W.mu);
            }
            pthread_mutex_lock(&W.mu);
            if (last) {
                break;
            }
            continue;
        }
        if (last) {
            break;
        }
        if (!W.stop) {
            struct timespec ts = sw_timespec(next);

            pthread_cond_timedwait(&W.wake, &W.mu, &ts);
        }
    }
    W.cpu_base += sw_self_cpu_ns();
    W.stats.cpu_ns = W.cpu_base;
    pthread_mutex_unlock(&W.mu);
    return NULL;
}

/* ---- the API ----------------------------------------------------------- */

int
sw_wd_start(const sw_wd_settings_t *s, sw_codecache_t *cache, char *err,
            size_t errlen)
{
    int fd = -1, rc = 0;

    pthread_once(&conds_once, init_conds);
    if (s->report_fd >= 0) {
        fd = fcntl(s->report_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
            snprintf(err, errlen, "cannot use descriptor %d for reports: %s",
                     s->report_fd, strerror(errno));
            return SW_ESYS;
        }
    }
    pthread_mutex_lock(&W.mu);
    if (W.set.report_fd >= 0) {
        if (W.running && W.nretired < 8) {
            W.retired[W.nretired++] = W.set.report_fd;
        }
        else if (!W.running) {
            close(W.set.report_fd);
        }
        /* else: more than 8 reconfigurations within one pass; leak one
         * descriptor rather than close one that may be in use. */
    }
    if (s->mem_max != W.set.mem_max) {
        W.mem.over = 0;
        W.mem.peak = 0;
    }
    W.set = *s;
    W.set.report_fd = fd;
    W.next_mem_ns = 0;
    W.cache = cache;
    if (!W.running) {
        sigset_t all, old;

        W.stop = 0;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        rc = pthread_create(&W.thread, NULL, wd_main, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start the monitor thread: %s",
                     strerror(rc));
            if (W.set.report_fd >= 0) { /* no thread: sw_wd_stop won't */
                close(W.set.report_fd);
                W.set.report_fd = -1;
            }
        }
        else {
            W.running = 1;
        }
    }
    pthread_cond_signal(&W.wake);
    pthread_mutex_unlock(&W.mu);
    if (rc != 0) {
        errno = rc;
        return SW_ESYS;
    }
    return 0;
}

void
sw_wd_stop(void)
{
    pthread_mutex_lock(&W.mu);
    if (!W.running) {
        pthread_mutex_unlock(&W.mu);
        return;
    }
    W.stop = 1;
    pthread_cond_signal(&W.wake);
    pthread_mutex_unlock(&W.mu);
    pthread_join(W.thread, NULL);
    pthread_mutex_lock(&W.mu);
    W.running = 0;
    if (W.set.report_fd >= 0) {
        close(W.set.report_fd);
        W.set.report_fd = -1;
    }
    while (W.nretired > 0) {
        close(W.retired[--W.nretired]);
    }
    pthread_mutex_unlock(&W.mu);
}

void
sw_wd_clear(void)
{
    pthread_mutex_lock(&W.mu);
    for (int i = 0; i < MAX_WATCHES; i++) {
        free_slot_locked(&W.watches[i]);
    }
    while (W.ev_len > 0) {
        sw_wd_event_free(&W.events[W.ev_head]);
        W.ev_head = (W.ev_head + 1) % MAX_EVENTS;
        W.ev_len--;
    }
    pthread_mutex_unlock(&W.mu);
}

uint64_t
sw_wd_add(int kind, uintptr_t tstate, uint64_t tstate_id, unsigned long ident,
          long tid, uint32_t hub, uint64_t threshold_ns, const char *name)
{
    uint64_t id = 0, now = sw_now_ns();

    pthread_mutex_lock(&W.mu);
    for (int i = 0; i < MAX_WATCHES; i++) {
        watch_t *w = &W.watches[i];

        if (atomic_load(&w->id) != 0) {
            continue;
        }
        memset((char *)w + sizeof(w->id), 0, sizeof(*w) - sizeof(w->id));
        w->kind = kind;
        w->tstate = tstate;
        w->tstate_id = tstate_id;
        w->ident = ident;
        w->tid = tid;
        w->hub = hub;
        snprintf(w->name, sizeof(w->name), "%s", name ? name : "");
        w->threshold_ns = threshold_ns;
        w->since_ns = now;
        w->switches =
            kind == SW_WD_HUB ? sw_greenlet_switches(tstate, tstate_id) : 0;
        atomic_store(&w->beat_ns, now);
        w->last_beat = now;
        id = (++W.serial << 8) | (uint64_t)i;
        atomic_store(&w->id, id);
        break;
    }
    pthread_cond_signal(&W.wake);
    pthread_mutex_unlock(&W.mu);
    return id;
}

int
sw_wd_set_threshold(uint64_t id, uint64_t threshold_ns)
{
    int rc = -1;
    watch_t *w = &W.watches[id & 0xFF];

    pthread_mutex_lock(&W.mu);
    if (id != 0 && atomic_load(&w->id) == id && !w->removed) {
        w->threshold_ns = threshold_ns;
        rc = 0;
        pthread_cond_signal(&W.wake);
    }
    pthread_mutex_unlock(&W.mu);
    return rc;
}

int
sw_wd_remove(uint64_t id)
{
    int rc = -1;
    watch_t *w = &W.watches[id & 0xFF];

    pthread_mutex_lock(&W.mu);
    if (id != 0 && atomic_load(&w->id) == id && !w->removed) {
        rc = w->stalls;
        if (w->stalled && W.running) {
            /* The monitor writes the final line, then frees it. */
            w->removed = 1;
            w->end_ns = sw_now_ns();
            pthread_cond_signal(&W.wake);
        }
        else {
            free_slot_locked(w);
        }
    }
    pthread_mutex_unlock(&W.mu);
    return rc;
}

void
sw_wd_select(uint64_t id, int entering)
{
    watch_t *w = &W.watches[id & 0xFF];

    if (atomic_load_explicit(&w->id, memory_order_relaxed) == id) {
        atomic_store_explicit(&w->in_select, entering, memory_order_relaxed);
        atomic_store_explicit(&w->beat_ns, sw_now_ns(), memory_order_release);
    }
}

void
sw_wd_tick(uint64_t id, int running, uint32_t base)
{
    watch_t *w = &W.watches[id & 0xFF];

    if (atomic_load_explicit(&w->id, memory_order_relaxed) == id) {
        atomic_store_explicit(&w->ticked, 1, memory_order_relaxed);
        if (running) {
            atomic_store_explicit(&w->base, base, memory_order_relaxed);
        }
        atomic_store_explicit(&w->in_select, !running, memory_order_relaxed);
        atomic_store_explicit(&w->beat_ns, sw_now_ns(), memory_order_release);
    }
}

int
sw_wd_take(sw_wd_event_t *out, int cap, uint64_t timeout_ns)
{
    struct timespec ts = sw_timespec(sw_now_ns() + timeout_ns);
    int n = 0;

    pthread_once(&conds_once, init_conds);
    pthread_mutex_lock(&W.mu);
    while (W.ev_len == 0 && !W.interrupted) {
        if (pthread_cond_timedwait(&W.ready, &W.mu, &ts) == ETIMEDOUT) {
            break;
        }
    }
    W.interrupted = 0;
    while (n < cap && W.ev_len > 0) {
        out[n++] = W.events[W.ev_head];
        memset(&W.events[W.ev_head], 0, sizeof(W.events[0]));
        W.ev_head = (W.ev_head + 1) % MAX_EVENTS;
        W.ev_len--;
    }
    pthread_mutex_unlock(&W.mu);
    return n;
}

void
sw_wd_interrupt(void)
{
    pthread_once(&conds_once, init_conds);
    pthread_mutex_lock(&W.mu);
    W.interrupted = 1;
    pthread_cond_broadcast(&W.ready);
    pthread_mutex_unlock(&W.mu);
}

void
sw_wd_get_stats(sw_wd_stats_t *st)
{
    pthread_mutex_lock(&W.mu);
    *st = W.stats;
    st->watches = 0;
    for (int i = 0; i < MAX_WATCHES; i++) {
        st->watches += atomic_load(&W.watches[i].id) != 0;
    }
    pthread_mutex_unlock(&W.mu);
}

void
sw_wd_get_metrics(sw_wd_metrics_t *m)
{
    uint64_t now = sw_now_ns();

    memset(m, 0, sizeof(*m));
    pthread_mutex_lock(&W.mu);
    memcpy(m->stalls, W.stalls, sizeof(m->stalls));
    memcpy(m->hist, W.hist, sizeof(m->hist));
    m->hist_count = W.hist_count;
    m->hist_sum = W.hist_sum;
    for (int i = 0; i < MAX_WATCHES; i++) {
        const watch_t *w = &W.watches[i];

        if (atomic_load(&w->id) != 0 && w->stalled) {
            double d = now > w->stall_start_ns
                           ? (now - w->stall_start_ns) / 1e9
                           : 0.0;

            m->stalled++;
            if (d > m->current_stall) {
                m->current_stall = d;
            }
        }
    }
    m->running = W.running;
    m->mem_watched = W.set.mem_max != 0 && W.set.mem_period_ns != 0;
    m->mem_over = W.mem.over;
    m->mem_max = W.set.mem_max;
    pthread_mutex_unlock(&W.mu);
}

void
sw_wd_atfork_prepare(void)
{
    pthread_mutex_lock(&W.mu);
}

void
sw_wd_atfork_parent(void)
{
    pthread_mutex_unlock(&W.mu);
}

void
sw_wd_atfork_child(void)
{
    pthread_mutex_init(&W.mu, NULL);
    sw_cond_init_monotonic(&W.wake);
    sw_cond_init_monotonic(&W.ready);
    W.running = 0;
    W.stop = 0;
    W.interrupted = 0;
    memset(&W.stats, 0, sizeof(W.stats));
    W.cpu_base = 0;
}

void
sw_wd_after_fork_child(uintptr_t tstate, uint64_t tstate_id)
{
    pthread_mutex_lock(&W.mu);
    for (int i = 0; i < MAX_WATCHES; i++) {
        watch_t *w = &W.watches[i];

        if (atomic_load(&w->id) != 0 &&
            (w->tstate != tstate || w->tstate_id != tstate_id)) {
            free_slot_locked(w);
        }
        else if (atomic_load(&w->id) != 0) {
            w->tid = (long)gettid();
            w->stalled = 0;
        }
    }
    while (W.ev_len > 0) {
        sw_wd_event_free(&W.events[W.ev_head]);
        W.ev_head = (W.ev_head + 1) % MAX_EVENTS;
        W.ev_len--;
    }
    pthread_mutex_unlock(&W.mu);
}
