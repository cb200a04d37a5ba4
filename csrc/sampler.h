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
 * caller keeps it until sw_sampler_stop() returned).
 * Returns 0, or -1 with a reason in err (nothing started). */
int sw_sampler_start(sw_session_t *s, sw_codecache_t *cache,
                     const sw_sampler_cfg_t *cfg, char *err, size_t errlen);

/* Stops sampling and waits for the thread to finish.  A no-op if it is
 * not running.  Returns 0. */
int sw_sampler_stop(void);

/* The session being filled, or NULL. */
sw_session_t *sw_sampler_session(void);

/* 1 while the sampler thread runs.  Context: any. */
int sw_sampler_running(void);

/* The effective sampling rate (passes per second) so far.
 * Context: any. */
double sw_sampler_effective_rate(void);

/* Adds (on) or removes a thread state, by serial, from the set the
 * sampler skips (stackwatch's own Python threads).  Returns 0, or -1 when
 * the set is full / the id absent. */
int sw_sampler_exclude(uint64_t tstate_id, int on);

/* Sets the code objects (addresses; they must stay alive) where sampled
 * stacks are cut: a frame running one of them and the frames below it are
 * left out.  n = 0 clears them. */
void sw_sampler_set_roots(const uintptr_t *codes, int n);

/* The number of frames of a stack read leaf first to keep: those before
 * the first frame running a root code object.  Context: any. */
int sw_sampler_cut_at_roots(const sw_rawframe_t *raw, int n);

/* Whether the sampler skips that thread state.  Context: any. */
int sw_sampler_is_excluded(uint64_t tstate_id);

/* Fork handlers (pthread_atfork).  The child has no sampler thread; it
 * starts with none running and with every lock free. */
void sw_sampler_atfork_prepare(void);
void sw_sampler_atfork_parent(void);
void sw_sampler_atfork_child(void);

#endif
