/* On-demand profiles: a profile of this process taken for N seconds at
 * rate R, started and stopped from any native thread without the GIL, into
 * a session of its own, while the program may be recording its own profile
 * at another rate.
 *
 * How.  The on-demand profile runs on a second sampler instance
 * (SW_SAMPLER_ONDEMAND in sampler.h): its own thread, rate, session,
 * effective rate and sticky error, sharing only the code cache (under its
 * lock).  The program's own profile is not touched: its samples, rate and
 * effective-rate figures are those of its own thread (a sampler thread
 * feeding two sessions would have to interleave two tick schedules, and
 * the program's effective rate would then depend on the other one's).
 * At most one on-demand profile runs at a time: the slot is taken by
 * sw_ondemand_start() and given back by sw_ondemand_finish(); a second
 * start gets SW_EBUSY with a message fit to show (the HTTP endpoint answers
 * 409 with it).
 *
 * How to call it (from a native thread, no GIL needed, no Python API):
 *
 *     sw_ondemand_cfg_t cfg = {.rate_hz = 100, .mode = SW_MODE_WALL,
 *                              .lines = SW_LINES_CURRENT,
 *                              .duration_ns = 30 * SW_NS_PER_S};
 *     sw_ondemand_result_t res;
 *     char err[256];
 *     int rc = sw_ondemand_start(&cfg, err, sizeof err);
 *     if (rc == SW_EBUSY)  -> answer "busy" (409) with err
 *     else if (rc < 0)     -> answer the error (SW_EINVAL: bad rate...)
 *     while (!sw_ondemand_wait(100 * 1000000ull)) {
 *         if (the client went away or asked to stop) break;
 *     }
 *     rc = sw_ondemand_finish(&res, gil_wait_ns, err, sizeof err);
 *     ... res.session: the samples (read it under res.session->mu, or
 *         sw_ondemand_encode(&res, &buf) for the part format of
 *         src/stackwatch/_forks.py); res.early, res.effective_rate ...
 *     sw_session_free(res.session);
 *
 * finish must be called once for every successful start (even when
 * the caller gives up), by the thread that started or any other; it
 * stops the sampler early if its time is not up.  Thread names come from
 * the names cache (snapshot.h's sw_names_get); greenlet labels are asked
 * of the GIL side through the service channel, waiting up to gil_wait_ns
 * (0: not asked; an unanswered question leaves greenlets by id).
 *
 * Exit and fork.  sw_ondemand_cancel() (called when dumps are disabled at
 * interpreter exit) makes a running profile end early; its finish then
 * reports early = 1.  A forked child has no on-demand profile: the slot
 * is free there and the parent's session is not the child's.
 *
 * Pure C; no Python.h. */
#ifndef SW_ONDEMAND_H
#define SW_ONDEMAND_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "codecache.h"
#include "stacks.h"

#define SW_NS_PER_S 1000000000ull

typedef struct sw_ondemand_cfg {
    double rate_hz;      /* 1 .. 1000 */
    int mode;            /* enum sw_mode (sampler.h) */
    int lines;           /* enum sw_lines (stacks.h) */
    int64_t duration_ns; /* > 0, at most one day */
} sw_ondemand_cfg_t;

typedef struct sw_ondemand_result {
    sw_session_t *session; /* the caller's: sw_session_free() it */
    double rate_hz;        /* as asked */
    double effective_rate; /* passes per second actually made */
    double seconds;        /* time spent sampling */
    int mode, early;       /* early: stopped before its duration */
    int error;             /* the sampler's sticky SW_E* error, 0 */
} sw_ondemand_result_t;

/* Names the code cache to resolve code objects with (the process's one,
 * shared with the sampler).  Context: module init, GIL held. */
void sw_ondemand_use_cache(sw_codecache_t *cache);

/* Starts an on-demand profile.  Context: any thread, GIL held or not.
 * Returns 0, or with a one-line reason in err: SW_EBUSY (one is being
 * taken), SW_EINVAL (rate outside 1..1000 Hz, duration out of range, bad
 * mode or lines), SW_ENOMEM (no session), SW_ESYS (no thread; errno). */
int sw_ondemand_start(const sw_ondemand_cfg_t *cfg, char *err, size_t errlen);

/* Waits up to timeout_ns for the profile to be over (its duration
 * reached, cancelled, the sampler stopped by itself at interpreter exit).
 * Returns 1 if it is over or none is running, 0 on timeout.  Context: any
 * thread, no GIL (never wait holding it). */
int sw_ondemand_wait(uint64_t timeout_ns);

/* Makes the running profile end now (no-op if none): sw_ondemand_wait
 * returns 1, finish reports early = 1.  Context: any thread. */
void sw_ondemand_cancel(void);

/* 1 while the slot is taken (between start and finish).  Context: any,
 * lock-free. */
int sw_ondemand_busy(void);

/* Stops the profile (if still sampling), names its threads, asks the GIL
 * side for greenlet labels (up to gil_wait_ns), fills res and frees the
 * slot.  Context: a native thread or one that released the GIL (it joins
 * the sampler and may wait for the service thread).
 * Returns 0 (res->session is then the caller's; res->error may still
 * carry the sampler's own failure, with nothing sampled), SW_EINVAL (no
 * profile was started). */
int sw_ondemand_finish(sw_ondemand_result_t *res, uint64_t gil_wait_ns,
                       char *err, size_t errlen);

/* Appends res's profile in the part format of src/stackwatch/_forks.py
 * (the magic line, then one JSON document: pid, stats with rate,
 * effective_rate, seconds, mode and early, frames, rows).  Context: any
 * thread; takes the session's lock.  Returns 0, or SW_ENOMEM (out's
 * sticky failure). */
int sw_ondemand_encode(const sw_ondemand_result_t *res, sw_buf_t *out);

/* Appends the running profile as it is now, in the same format (early
 * false, seconds so far; threads named and, within gil_wait_ns, greenlets
 * labelled first): `stackwatch top` reads one every second.  Context:
 * the thread that started the profile (or one that knows it runs),
 * never holding the GIL.  Returns 0, SW_EINVAL (no profile runs),
 * SW_ENOMEM. */
int sw_ondemand_snapshot(uint64_t gil_wait_ns, sw_buf_t *out);

/* For the GIL side's labelling answer: the greenlet ids seen so far in
 * the running on-demand profile, as decimal numbers, one a line (nothing
 * if none runs).  Context: any thread.  Returns 0 or SW_ENOMEM. */
int sw_ondemand_greenlet_ids(sw_buf_t *out);

/* Fork handlers (pthread_atfork, through module.c), after the sampler's
 * in the child: the slot is freed, the parent's session forgotten. */
void sw_ondemand_atfork_child(void);

#endif
