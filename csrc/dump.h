/* On-demand dumps: a signal makes the process write every thread's stack,
 * read without the GIL, to the requester's private socket (or to stderr
 * for a plain `kill -SIG`).
 *
 * The request travels in a real-time signal sent with sigqueue(): its
 * value carries a nonce and flags, the kernel fills in the sender's pid.
 * The handler only records (sender, value) in a lock-free slot array and
 * writes one byte to a pipe; the dump thread does the rest: it captures a
 * snapshot, asks the GIL side (with a bounded wait) for thread names and
 * richer run information, formats the dump and connects to the
 * requester's socket <dir>/req-<sender pid>-<nonce>.sock, in the
 * directory private to this process's user.
 *
 * Context of the functions: GIL held, except where noted. */
#ifndef SW_DUMP_H
#define SW_DUMP_H

#include <stdint.h>

#include "codecache.h"

/* Flags in the signal value (bits 20-30; bits 0-19 are the nonce). */
#define SW_DUMP_NONCE_MASK 0xFFFFFu
#define SW_DUMP_JSON (1u << 20)
#define SW_DUMP_LOCALS (1u << 21)
#define SW_DUMP_SOURCE (1u << 22) /* text: each frame's source line */

/* Starts answering dump requests on signal signum, with the private
 * directory dir, waiting up to gil_wait_ns for the GIL side.  Calling it
 * again changes the settings.  Returns 0, or -1 with a reason in err. */
int sw_dump_enable(int signum, const char *dir, uint64_t gil_wait_ns,
                   sw_codecache_t *cache, char *err, size_t errlen);

/* Stops answering: restores the previous signal action and joins the
 * dump thread.  Returns 0. */
int sw_dump_disable(void);

/* Starts the slow-script log: every interval_ns, the dump thread appends
 * to fd a timestamped dump made with flags (the GIL side waited for up to
 * gil_wait_ns).  The fd stays the caller's; it is not written to after
 * sw_dump_log_stop returns.  With max_bytes > 0, path is the log's
 * absolute path (copied): a snapshot that would take a non-empty log
 * past max_bytes first renames it to path.1 (one backup, replaced) and
 * opens a new log at path on the same fd number.  Returns 0, or -1 with
 * a reason in err. */
int sw_dump_log_start(int fd, uint64_t interval_ns, uint64_t gil_wait_ns,
                      uint32_t flags, const char *path, uint64_t max_bytes,
                      sw_codecache_t *cache, char *err, size_t errlen);

/* Stops the log (waits for a snapshot being written: call without the
 * GIL); gives the number of snapshots written and of failed writes. */
void sw_dump_log_stop(uint64_t *count, uint64_t *errors);

/* The ident of the thread that held the GIL when the last dump or log
 * snapshot was captured (0: none).  Context: any. */
unsigned long sw_dump_gil_holder(void);

/* The signal dumps are answered on, or 0 if disabled.  Context: any. */
int sw_dump_signal(void);

/* Fork handlers.  The child has no dump thread; the handler stays
 * installed but requests are ignored until the Python layer enables
 * dumps again (with the child's own registration). */
void sw_dump_atfork_prepare(void);
void sw_dump_atfork_parent(void);
void sw_dump_atfork_child(void);

#endif
