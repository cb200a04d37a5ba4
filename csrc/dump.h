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
 * directory private to this process's user.  The same thread writes the
 * slow-script log.  Threads, locks and fork: the top of dump.c.
 *
 * Context of the functions: GIL held, except where noted.  Errors are -1
 * with a one-line reason in err (not SW_E* codes: the caller cannot tell
 * a bad argument from a system failure). */
#ifndef SW_DUMP_H
#define SW_DUMP_H

#include <stdint.h>

#include "buf.h"
#include "codecache.h"

/* Flags in the signal value (bits 20-30; bits 0-19 are the nonce). */
#define SW_DUMP_NONCE_MASK 0xFFFFFu
#define SW_DUMP_JSON (1u << 20)
#define SW_DUMP_LOCALS (1u << 21)
#define SW_DUMP_SOURCE (1u << 22)     /* text: each frame's source line */
#define SW_DUMP_FULL_PATHS (1u << 23) /* text: full paths, not short ones */
/* Not a dump: an on-demand profile (`stackwatch record --pid`).  The
 * dump thread connects to the requester's socket as for a dump, then:
 *   client -> "profile <rate Hz> <seconds> <mode 0-2> <lines 0-2>
 *             [<interval ms>]\n"
 *   target -> "ok\n", or "error <one line>\n" (busy, a bad request)
 *   target -> with an interval, "part <k> <n>\n" and n bytes every
 *             interval: the profile so far (`stackwatch top` every
 *             second; `record --pid` every 2 s, so that a target killed
 *             mid-profile loses at most that much)
 *   client -> "stop\n" at any time: the profile ends early
 *   target -> "end <reason> <n>\n" and n bytes: the profile in the part
 *             format of _forks.py; reason: done (its time was up),
 *             stopped (asked), exit (the target is exiting).
 * A profile is served by a thread of its own (ondemand.h's engine), so
 * dumps keep being answered meanwhile; it ends when the client goes. */
#define SW_DUMP_PROFILE (1u << 24)

/* Starts answering dump requests on signal signum, with the private
 * directory dir, waiting up to gil_wait_ns for the GIL side: starts the
 * dump thread if needed, then installs the SA_SIGINFO handler (saving the
 * previous action).  Calling it again changes the settings; a different
 * signal first disables the old one, which may join the dump thread
 * (waiting out a request in flight, up to gil_wait_ns, with the GIL held).
 * Context: GIL held; not thread-safe against sw_dump_disable().
 * Returns 0, or with a reason in err: SW_EINVAL (dir too long, signal
 * out of range or SIGKILL/SIGSTOP), SW_ESYS with errno (pipe or thread
 * creation failed; sigaction failed: the dump thread is then left
 * running, the old signal, if any, restored). */
int sw_dump_enable(int signum, const char *dir, uint64_t gil_wait_ns,
                   sw_codecache_t *cache, char *err, size_t errlen);

/* Stops answering: restores the previous signal action and, unless the
 * log still needs it, stops and joins the dump thread.  Context: GIL
 * released (the join may wait for a request in flight).  Always returns
 * 0. */
int sw_dump_disable(void);

/* Starts the slow-script log: every interval_ns, the dump thread appends
 * to fd a timestamped dump made with flags (the GIL side waited for up to
 * gil_wait_ns).  Calling it again replaces the settings and restarts the
 * counts.  The fd stays the caller's; it is not written to after
 * sw_dump_log_stop returns.  With max_bytes > 0, path is the log's
 * absolute path (copied): a snapshot that would take a non-empty log past
 * max_bytes first renames it to path.1 (one backup, replaced) and opens a
 * new log at path on the same fd number (a failed rotation is counted as
 * a failed write).  Context: GIL released (takes the log lock, which the
 * dump thread holds while it writes).
 * Returns 0, or with a reason in err: SW_EINVAL (interval under 1 ms, a
 * cap without an absolute path), SW_ESYS with errno (pipe or thread
 * creation failed; the log is then inactive).  A failed write is
 * not an error here: it is counted, see sw_dump_log_stop(). */
int sw_dump_log_start(int fd, uint64_t interval_ns, uint64_t gil_wait_ns,
                      uint32_t flags, const char *path, uint64_t max_bytes,
                      sw_codecache_t *cache, char *err, size_t errlen);

/* Stops the log (waits for a snapshot being written, and joins the dump
 * thread if dumps are disabled); gives the number of snapshots attempted
 * and of failed writes (a write error or a snapshot that could not be
 * built, since sw_buf_write_fd() refuses a failed buffer).
 * Context: GIL released.  No errors. */
void sw_dump_log_stop(uint64_t *count, uint64_t *errors);

/* A dump's answer, as the dump thread gives it (flags: SW_DUMP_*): every
 * stack read at once without the GIL, then what the GIL side adds (run
 * information: greenlets, tasks, locals with SW_DUMP_LOCALS) when it
 * answers within gil_wait_ns, else a note saying the GIL was not had and
 * which thread holds it, where.  For the HTTP endpoint's /runinfo.
 * Context: a native thread (never the GIL holder: it would wait for
 * itself); resolves code objects with cache.  Errors: only through
 * sw_buf_ok(out). */
void sw_dump_compose(uint32_t flags, uint64_t gil_wait_ns,
                     sw_codecache_t *cache, sw_buf_t *out);

/* The ident of the thread that held the GIL when the last dump or log
 * snapshot was captured (0: none).  Context: any, lock-free. */
unsigned long sw_dump_gil_holder(void);

/* The signal dumps are answered on, or 0 if disabled.  Context: any (a
 * plain read; GIL held by its one caller). */
int sw_dump_signal(void);

/* Fork handlers (pthread_atfork, through module.c).  Prepare and parent
 * do nothing: they take no lock, so a fork made while the dump thread
 * holds the code cache (capture) leaves it held in the child unless the
 * sampler's handlers took it.  The child has no dump thread and no log;
 * the handler stays installed with a fresh pipe nobody reads (no pipe if
 * pipe2 fails: requests then only fill the slots), so requests are
 * ignored until the Python layer enables dumps again (with the child's
 * own registration). */
void sw_dump_atfork_prepare(void);
void sw_dump_atfork_parent(void);
void sw_dump_atfork_child(void);

#endif
