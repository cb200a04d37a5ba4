/* The sampler: a native thread that reads every thread's Python stack at a
 * fixed rate, without the GIL, into a profile session; plus the sets it
 * (and snapshots) consult: excluded thread states and root code objects.
 * The thread's design (locks, fork, exit) is at the top of sampler.c.
 *
 * Context of every function here: GIL held (they are called from the
 * Python layer), except where noted.  None is async-signal-safe except
 * the lock-free readers marked so. */
#ifndef SW_SAMPLER_H
#define SW_SAMPLER_H

#include <stdint.h>

#include "codecache.h"
#include "stacks.h"

enum sw_mode {
    SW_MODE_WALL = 0, /* every thread, every tick */
    SW_MODE_CPU = 1,  /* threads that used CPU since the previous tick */
    SW_MODE_GIL = 2,  /* the thread holding the GIL */
};

typedef struct sw_sampler_cfg {
    double rate_hz;      /* 1 .. 1000 */
    int mode;            /* enum sw_mode */
    double budget;       /* share of one core, 0 for none */
    int64_t duration_ns; /* stop by itself after this long; 0: never */
} sw_sampler_cfg_t;

/* ---- the sampler thread ------------------------------------------------- */

/* Starts sampling into session s (which must outlive the sampling: the
 * caller keeps it until sw_sampler_stop() returned).  Reaps a previous
 * thread that stopped by itself and clears the sticky error it may have
 * left.  Takes ctl; creates the thread with every signal blocked.
 * Returns 0, or with a reason in err (nothing started): SW_EINVAL (rate
 * outside 1..1000 Hz), SW_EBUSY (a sampler is already running), SW_ESYS
 * (the thread could not be created; errno set to pthread_create's
 * code).  Failures of the thread itself come later, from
 * sw_sampler_stop(). */
int sw_sampler_start(sw_session_t *s, sw_codecache_t *cache,
                     const sw_sampler_cfg_t *cfg, char *err, size_t errlen);

/* Stops sampling and waits for the thread to finish (a no-op if it is not
 * running), then takes the sticky error of the run: the sampler thread's
 * own failure, which it could not report (today SW_ENOMEM: its work
 * buffers -- or its reader, whatever the reader's error -- could not be
 * set up, so nothing was sampled).  The error is returned once; the
 * session keeps it in s->error for stats().
 * Context: GIL released (it joins the thread; takes ctl, then the
 * session's lock).
 * Returns 0, or the sticky SW_E* code with its message in err (err may be
 * NULL). */
int sw_sampler_stop(char *err, size_t errlen);

/* Test hook: the next sampler thread to start fails its work buffer
 * allocation as if out of memory.  Context: any (an atomic flag). */
void sw_sampler_fail_next(void);

/* The session being filled, or NULL.  Context: any; read without a lock,
 * so the pointer is only stable while the caller keeps the session alive.
 * No caller outside sampler.c today. */
sw_session_t *sw_sampler_session(void);

/* 1 while the sampler thread runs (0 once it stopped by itself, even
 * before sw_sampler_stop()).  Context: any, lock-free. */
int sw_sampler_running(void);

/* The effective sampling rate (passes per second) of the current or last
 * run; 0.0 before two passes.  Context: any, lock-free. */
double sw_sampler_effective_rate(void);

/* What /metrics shows of the sampler: totals over every run of both
 * instances (below) since the process started (samples stored, dropped,
 * reads that failed cleanly, the sampler threads' CPU time), whether one
 * runs and the effective rate (the program's own if it runs).  Context: any, lock-free (relaxed atomics, updated once a
 * pass). */
typedef struct sw_sampler_totals {
    uint64_t samples, dropped, read_errors, cpu_ns;
    int running;
    double rate;
} sw_sampler_totals_t;
void sw_sampler_get_totals(sw_sampler_totals_t *t);

/* ---- instances -----------------------------------------------------------
 * Two samplers exist: the program's own (SW_SAMPLER_MAIN, the one the
 * functions above drive) and the on-demand one (SW_SAMPLER_ONDEMAND,
 * driven by ondemand.c for `record --pid` and the HTTP endpoint).  Each
 * has its own thread, rate, session, effective rate and sticky error, so
 * that an on-demand profile never changes the program's own; they share
 * the code cache (under its lock) and the excluded-thread and root sets.
 * The on-demand instance never follows asyncio tasks.  The _in variants
 * behave as their plain namesakes on the instance named; their context is
 * any thread (no Python API is used), except that stop joins a thread. */
enum sw_sampler_id {
    SW_SAMPLER_MAIN = 0,
    SW_SAMPLER_ONDEMAND = 1,
};

int sw_sampler_start_in(int which, sw_session_t *s, sw_codecache_t *cache,
                        const sw_sampler_cfg_t *cfg, char *err, size_t errlen);
int sw_sampler_stop_in(int which, char *err, size_t errlen);
int sw_sampler_running_in(int which);
double sw_sampler_effective_rate_in(int which);

/* ---- excluded threads and root code objects ----------------------------- */

/* Adds (on) or removes a thread state, by serial, from the set the
 * sampler and snapshots skip (stackwatch's own Python threads).  Adding
 * an id twice takes two slots.  Context: any (lock-free).  Returns 0, or
 * SW_EFULL when adding to a full set (8 threads), SW_EINVAL when removing
 * an id that is absent. */
int sw_sampler_exclude(uint64_t tstate_id, int on);

/* Sets the code objects (addresses; they must stay alive) where sampled
 * stacks are cut: a frame running one of them and the frames below it are
 * left out.  n = 0 clears them; beyond 4 the rest are silently ignored.
 * Context: GIL held (the caller keeps the code objects alive).  No
 * errors. */
void sw_sampler_set_roots(const uintptr_t *codes, int n);

/* The number of frames of a stack read leaf first to keep: those before
 * the first frame running a root code object (n if none).  Context: any
 * thread, no GIL (sampler, snapshots); lock-free, async-signal-safe. */
int sw_sampler_cut_at_roots(const sw_rawframe_t *raw, int n);

/* 1 if the sampler (and a snapshot of all threads) skips that thread
 * state, else 0.  Context: any thread, no GIL; lock-free,
 * async-signal-safe. */
int sw_sampler_is_excluded(uint64_t tstate_id);

/* ---- fork --------------------------------------------------------------- */

/* Names the process's code cache, shared with the dump thread and the
 * watchdog, before any start, so that the fork handlers take its lock
 * even if no sampler ever started (a dump resolving code objects at fork
 * time must not leave the child a locked cache).  Context: module init,
 * GIL held.  No errors. */
void sw_sampler_use_cache(sw_codecache_t *cache);

/* Fork handlers (called from module.c's pthread_atfork handlers, last in
 * prepare): prepare takes ctl, the code cache (see
 * sw_sampler_use_cache) and the active session; parent releases them.  The child has
 * no sampler thread: it starts with none running, every lock free, the
 * active session marked stopped, and forgets a sticky error. */
void sw_sampler_atfork_prepare(void);
void sw_sampler_atfork_parent(void);
void sw_sampler_atfork_child(void);

#endif
