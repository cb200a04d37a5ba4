/* The service channel: how native threads (sampler, dump thread, later
 * the watchdog) get work done on the GIL side without ever waiting for
 * the GIL themselves.
 *
 * A Python thread owned by stackwatch (the service thread) waits in
 * sw_service_take() with the GIL released.  Native threads either post
 * notification bits (lock-free, e.g. "new threads need names") or ask a
 * question and wait for the answer with a deadline (sw_service_ask).  If
 * the application holds the GIL for longer than the deadline, the asker
 * goes on without the answer; the late answer is dropped.
 *
 * Fork: the child re-creates the eventfd (a shared counter would let the
 * parent's service thread eat the child's notifications) and drops any
 * pending question.
 *
 * Pure C; no Python.h. */
#ifndef SW_SERVICE_H
#define SW_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum sw_service_bits {
    SW_SVC_NAMES = 1u,    /* threads or greenlets need labels */
    SW_SVC_QUESTION = 2u, /* a native thread asked a question */
    SW_SVC_STOP = 4u,     /* the service thread should exit */
};

/* Kinds of question (sw_service_ask's kind), shared with the Python side
 * as _native.SERVICE_ASK_* (src/stackwatch/_service.py dispatches on
 * them).  The watchdog's kinds are SW_WD_ASK_* in watchdog.h. */
#define SW_SERVICE_ASK_RUN_INFO 1u /* a dump's run information */
/* The labels of the greenlets of the on-demand profile (ondemand.h):
 * lines "gid<TAB>label<TAB>group text". */
#define SW_SERVICE_ASK_OD_LABELS 4u

/* Creates the eventfd (once; later calls do nothing).  Context: GIL
 * held, at import.  Returns 0, or -1 with errno set by eventfd(). */
int sw_service_init(void);

/* Posts bits to the service thread.  Context: any thread; lock-free,
 * async-signal-safe. */
void sw_service_notify(unsigned bits);

/* Marks whether a service thread is serving (the Python layer sets it
 * when its thread starts and stops).  Askers skip asking when none is. */
void sw_service_set_alive(int alive);
int sw_service_alive(void);

/* Asks the service thread a question (kind and flags are for the Python
 * side to interpret) and waits up to timeout_ns for the answer, which is
 * appended to reply.  Context: a native thread; never the GIL holder
 * (it would wait for itself).
 * Returns 1 if answered, 0 on timeout (or no service thread). */
int sw_service_ask(uint32_t kind, uint32_t flags, uint64_t timeout_ns,
                   sw_buf_t *reply);

/* Waits up to timeout_ns for work.  Returns the bits posted since the last
 * call; with SW_SVC_QUESTION set, *id, *kind and *flags describe the
 * question to answer with sw_service_answer().
 * Context: the service thread, with the GIL released. */
unsigned sw_service_take(uint64_t timeout_ns, uint64_t *id, uint32_t *kind,
                         uint32_t *flags);

/* Answers question id (ignored if it was given up). */
void sw_service_answer(uint64_t id, const char *text, size_t len);

/* Fork handlers (pthread_atfork). */
void sw_service_atfork_prepare(void);
void sw_service_atfork_parent(void);
void sw_service_atfork_child(void);

#endif
