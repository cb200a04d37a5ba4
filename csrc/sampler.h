/* The sampler: a native thread that reads every thread's Python stack at a
 * fixed rate, without the GIL, into a profile session.
 *
 * Context of every function here: GIL held (they are called from the
 * Python layer), except where noted. */
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

/* Starts sampling into session s (which must outlive the sampling: the
 * caller keeps it until sw_sampler_stop() returned).  Clears a sticky
 * error left by a previous run that was never stopped.
 * Returns 0, or with a reason in err (nothing started): SW_EINVAL (rate
 * outside 1..1000 Hz), SW_EBUSY (a sampler is already running), SW_ESYS
 * (the thread could not be created; errno set). */
int sw_sampler_start(sw_session_t *s, sw_codecache_t *cache,
                     const sw_sampler_cfg_t *cfg, char *err, size_t errlen);

/* Stops sampling and waits for the thread to finish (a no-op if it is not
 * running), then takes the sticky error of the run: the sampler thread's
 * own failure, which it could not report (today SW_ENOMEM: its work
 * buffers could not be allocated, so nothing was sampled).  The error is
 * returned once; the session keeps it in s->error for stats().
 * Context: GIL released (it joins the thread).
 * Returns 0, or the sticky SW_E* code with its message in err (err may be
 * NULL). */
int sw_sampler_stop(char *err, size_t errlen);

/* Test hook: the next sampler thread to start fails its work buffer
 * allocation as if out of memory.  Context: any. */
void sw_sampler_fail_next(void);

/* The session being filled, or NULL.  Context: any; the pointer is only
 * stable while the caller keeps the session alive. */
sw_session_t *sw_sampler_session(void);

/* 1 while the sampler thread runs.  Context: any. */
int sw_sampler_running(void);

/* The effective sampling rate (passes per second) so far.
 * Context: any. */
double sw_sampler_effective_rate(void);

/* Adds (on) or removes a thread state, by serial, from the set the
 * sampler skips (stackwatch's own Python threads).  Context: any
 * (lock-free).  Returns 0, or SW_EFULL when adding to a full set (8
 * threads), SW_EINVAL when removing an id that is absent. */
int sw_sampler_exclude(uint64_t tstate_id, int on);

/* Sets the code objects (addresses; they must stay alive) where sampled
 * stacks are cut: a frame running one of them and the frames below it are
 * left out.  n = 0 clears them; at most 4 are kept.  Context: GIL held. */
void sw_sampler_set_roots(const uintptr_t *codes, int n);

/* The number of frames of a stack read leaf first to keep: those before
 * the first frame running a root code object.  Context: any. */
int sw_sampler_cut_at_roots(const sw_rawframe_t *raw, int n);

/* Whether the sampler skips that thread state.  Context: any. */
int sw_sampler_is_excluded(uint64_t tstate_id);

/* Fork handlers (pthread_atfork); the child also forgets a sticky error.  The child has no sampler thread; it
 * starts with none running and with every lock free. */
void sw_sampler_atfork_prepare(void);
void sw_sampler_atfork_parent(void);
void sw_sampler_atfork_child(void);

#endif
