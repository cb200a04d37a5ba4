/* Profiling a process that did not enable stackwatch, from outside; see
 * outside.h.  One thread (the caller's) does everything: it owns the
 * reader and the code cache; the session's mutex is taken per pass (the
 * cache's first: the lock order of codecache.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "outside.h"

/* Reads again of a torn stack in one pass (sampler.c has the same). */
#define TORN_RETRIES 2

#define OUTSIDE_CODES 4096 /* code objects remembered */

/* The CPU time of thread tid of process pid, from its schedstat (the
 * first field: nanoseconds on a CPU).  Returns 0 or -1. */
static int
task_cpu_ns(int pid, long tid, uint64_t *out)
{
    char path[64], buf[96];
    unsigned long long ns;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/task/%ld/schedstat", pid, tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    if (sscanf(buf, "%llu", &ns) != 1) {
        return -1;
    }
    *out = ns;
    return 0;
}

/* The CPU time thread tid used since the last pass (0 the first time it
 * is seen, or when it cannot be told). */
static uint64_t
cpu_delta(sw_outside_rec_t *rec, long tid, uint64_t now)
{
    int i;

    for (i = 0; i < rec->ntids; i++) {
        if (rec->tids[i] == tid) {
            uint64_t d = now >= rec->cpu[i] ? now - rec->cpu[i] : 0;

            rec->cpu[i] = now;
            return d;
        }
    }
    if (rec->ntids < SW_OUTSIDE_TIDS) {
        rec->tids[rec->ntids] = tid;
        rec->cpu[rec->ntids++] = now;
    }
    return 0;
}

/* Whether thread tid (from the target's memory) is one of the target's. */
static int
target_task(int pid, long tid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d/task/%ld", pid, tid);
    return tid > 0 && access(path, F_OK) == 0;
}

int
sw_outside_rec_open(sw_outside_rec_t *rec, sw_session_t *s, int pid,
                    double rate_hz, int mode, char *err, size_t errlen)
{
    struct timespec ts;
    int rc;

    memset(rec, 0, sizeof(*rec));
    rc = sw_target_open(&rec->target, pid, err, errlen);
    if (rc < 0) {
        return rc;
    }
    rc = sw_reader_open_for(&rec->reader, &rec->target.layout, pid);
    if (rc < 0) {
        return rc;
    }
    rec->reader_open = 1;
    rec->cache = sw_codecache_new(OUTSIDE_CODES);
    rec->threads = malloc(SW_MAX_THREADS * sizeof(*rec->threads));
    rec->raw = malloc(SW_MAX_DEPTH * sizeof(*rec->raw));
    rec->info = malloc(SW_MAX_DEPTH * sizeof(*rec->info));
    rec->frames = malloc((SW_MAX_DEPTH + 1) * sizeof(*rec->frames));
    if (rec->cache == NULL || rec->threads == NULL || rec->raw == NULL ||
        rec->info == NULL || rec->frames == NULL) {
        sw_outside_rec_close(rec);
        return SW_ENOMEM;
    }
    rec->s = s;
    rec->mode = mode;
    rec->interval_ns = (uint64_t)(1e9 / rate_hz);
    rec->next_ns = sw_now_ns();
    pthread_mutex_lock(&s->mu);
    if (s->start_ns == 0) {
        s->start_ns = rec->next_ns;
        clock_gettime(CLOCK_REALTIME, &ts);
        s->start_unix = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    }
    s->stop_ns = 0;
    s->run_ns = rec->next_ns;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* The frame ids of one thread's resolved stack into rec->frames; the
 * number, 0 for none (torn, or a table full). */
static int
stack_ids(sw_outside_rec_t *rec, int nraw, int truncated, uint64_t pass)
{
    sw_session_t *s = rec->s;
    int n, i, k = 0;

    n = sw_codecache_resolve(rec->cache, &rec->reader, rec->raw, nraw,
                             rec->info, pass);
    if (rec->reader.broken) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        const sw_codeinfo_t *c = rec->info[i].code;
        uint32_t id = sw_session_frame(
            s, c->serial,
            sw_session_line(s, c->id.firstlineno, rec->info[i].line),
            c->id.firstlineno, c->name, c->file);

        if (id == 0) {
            return 0;
        }
        rec->frames[k++] = id;
    }
    if (k > 0 && truncated) {
        uint32_t id = sw_session_marker(s, "[truncated]");

        if (id != 0) {
            rec->frames[k++] = id;
        }
    }
    return k;
}

/* One pass over every thread of the target. */
static void
pass(sw_outside_rec_t *rec)
{
    sw_session_t *s = rec->s;
    sw_reader_t *r = &rec->reader;
    uint64_t id = sw_codecache_new_pass(), faults = r->vm.faults;
    uint64_t bad_frames = r->bad_frames, bad_threads = r->bad_threads;
    int n = sw_read_threads(r, rec->threads, SW_MAX_THREADS), i;

    if (n < 0) {
        /* Exited: its memory is gone (ESRCH, a zombie too). */
        if (errno == ESRCH ||
            (kill(rec->target.pid, 0) < 0 && errno == ESRCH)) {
            rec->gone = 1;
        }
        pthread_mutex_lock(&s->mu);
        s->read_errors++;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    sw_codecache_lock(rec->cache);
    pthread_mutex_lock(&s->mu);
    for (i = 0; i < n; i++) {
        sw_thread_t *t = &rec->threads[i];
        uint64_t delta = 0, cpu;
        int nraw, k, truncated = 0, created;
        uint32_t node, slot;
        long tid;

        if (t->ident == 0 || (rec->mode == SW_OUTSIDE_GIL && !t->holds_gil)) {
            continue;
        }
        tid = sw_read_tid(r, t);
        if (t->tid == 0 && !target_task(rec->target.pid, tid)) {
            tid = 0; /* read through this process's pthread layout */
        }
        /* The CPU time since the last pass: the cpu mode's weight, and
         * in the other modes the share of the time on a CPU that
         * profiles show (a /proc read a thread and a pass). */
        if (tid > 0 && task_cpu_ns(rec->target.pid, tid, &cpu) == 0) {
            delta = cpu_delta(rec, tid, cpu);
        }
        if (rec->mode == SW_OUTSIDE_CPU && delta == 0) {
            continue;
        }
        if (sw_thread_frame(r, t) == 0) {
            continue; /* no Python code running */
        }
        /* A torn stack (the thread called or returned while being read:
         * the busier the target, the more often) is read again at once,
         * a few times, as the sampler does, rather than lost: leaving
         * them out would bias the profile against code that calls a lot.
         * Only the last failure counts as a stack left out; never a
         * sample of a torn stack. */
        {
            uint64_t bad_before = r->bad_frames;
            int attempt = 0;

            for (;;) {
                k = 0;
                nraw =
                    sw_read_frames(r, t, rec->raw, SW_MAX_DEPTH, &truncated);
                if (nraw > 0 && !r->broken) {
                    k = stack_ids(rec, nraw, truncated, id);
                }
                if (k > 0 || !r->broken || attempt++ >= TORN_RETRIES ||
                    sw_reread_thread(r, t) < 0 || sw_thread_frame(r, t) == 0) {
                    break;
                }
                r->bad_frames = bad_before;
            }
        }
        if (k == 0) {
            continue;
        }
        node = sw_session_stack(s, rec->frames, k);
        if (node == 0) {
            continue;
        }
        slot =
            sw_session_thread(s, t->id, t->ident, tid, t->interp_id, &created);
        {
            sw_sthread_t *st = &s->threads[slot];

            /* Until a new thread boots, its thread state may carry the
             * ids of the thread that created it (3.9-3.11): follow what
             * it says now, and forget a name given for the old ids. */
            if (!created &&
                (st->ident != t->ident || (tid != 0 && st->tid != tid))) {
                st->ident = t->ident;
                st->tid = tid;
                st->name = 0;
            }
        }
        sw_session_add(s, slot, 0, node, rec->interval_ns, delta,
                       t->holds_gil);
    }
    s->passes++;
    s->read_errors += r->vm.faults - faults;
    s->bad_frames += r->bad_frames - bad_frames;
    s->bad_threads += r->bad_threads - bad_threads;
    pthread_mutex_unlock(&s->mu);
    sw_codecache_unlock(rec->cache);
}

int
sw_outside_rec_run(sw_outside_rec_t *rec, uint64_t until_ns)
{
    while (!rec->gone) {
        uint64_t now = sw_now_ns();
        struct timespec ts;

        if (now >= until_ns) {
            return 0;
        }
        if (now < rec->next_ns) {
            uint64_t wake = rec->next_ns < until_ns ? rec->next_ns : until_ns;

            ts.tv_sec = (time_t)(wake / 1000000000u);
            ts.tv_nsec = (long)(wake % 1000000000u);
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            continue;
        }
        pass(rec);
        rec->next_ns += rec->interval_ns;
        if (rec->next_ns + rec->interval_ns < sw_now_ns()) {
            rec->next_ns = sw_now_ns(); /* behind: no burst to catch up */
        }
    }
    errno = ESRCH;
    return SW_ESYS;
}

void
sw_outside_rec_close(sw_outside_rec_t *rec)
{
    if (rec->s != NULL) {
        uint64_t now = sw_now_ns();

        pthread_mutex_lock(&rec->s->mu);
        if (rec->s->run_ns) {
            rec->s->sampled_ns += now - rec->s->run_ns;
            rec->s->run_ns = 0;
        }
        rec->s->stop_ns = now;
        pthread_mutex_unlock(&rec->s->mu);
        rec->s = NULL;
    }
    if (rec->reader_open) {
        sw_reader_close(&rec->reader);
        rec->reader_open = 0;
    }
    sw_codecache_free(rec->cache);
    free(rec->threads);
    free(rec->raw);
    free(rec->info);
    free(rec->frames);
    rec->cache = NULL;
    rec->threads = NULL;
    rec->raw = NULL;
    rec->info = NULL;
    rec->frames = NULL;
}
