/* Snapshots: every thread's stack at one moment, read without the GIL and
 * copied out of the interpreter (names and files included), then
 * formatted as text.  Used by stackwatch.dump() (in-process), by the dump
 * thread that answers `stackwatch dump PID`, and by the watchdog's stall
 * reports.
 *
 * Thread names live in Python objects that cannot be read without the
 * GIL; a small table (ident -> name) kept up to date by the GIL side
 * supplies them.  It has its own mutex, held only to copy names in or
 * out; formatting a snapshot takes it once per thread.
 *
 * Context: any thread, no GIL needed; capture and formatting allocate,
 * so nothing here is for signal handlers.
 *
 * Pure C; no Python.h. */
#ifndef SW_SNAPSHOT_H
#define SW_SNAPSHOT_H

#include <stdint.h>

#include "buf.h"
#include "codecache.h"
#include "compat/reader.h"
#include "stackfmt.h"

typedef struct sw_snap_frame {
    uint32_t name; /* offsets in the snapshot's strings */
    uint32_t file;
    int line;
    uint32_t first_local; /* its locals (SW_SNAP_LOCALS), in locals[] */
    uint32_t nlocals;
} sw_snap_frame_t;

/* A local variable read without the GIL (compat/locals.h), copied out. */
typedef struct sw_snap_local {
    uint32_t name; /* offsets in the snapshot's strings */
    uint32_t text; /* a str's or bytes' first bytes, or a type's name */
    uint32_t text_len;
    int kind; /* enum sw_local_kind */
    uintptr_t addr;
    int64_t ival;
    int64_t len;
    double fval;
} sw_snap_local_t;

typedef struct sw_snap_thread {
    sw_thread_t t;
    long tid;
    uint64_t cpu_ns;   /* thread CPU time so far, 0 if unknown */
    uint32_t greenlet; /* greenlet id, 0 if unknown */
    uint32_t first;    /* index of its first (leaf) frame */
    uint32_t nframes;
    int truncated;
    int torn; /* its stack changed while read, also when read again */
} sw_snap_thread_t;

typedef struct sw_snapshot {
    sw_snap_thread_t *threads;
    uint32_t nthreads;
    sw_snap_frame_t *frames;
    uint32_t nframes, frames_cap;
    sw_snap_local_t *locals; /* SW_SNAP_LOCALS: every frame's locals */
    uint32_t nlocals, locals_cap;
    int with_locals;  /* captured with SW_SNAP_LOCALS */
    sw_buf_t strings; /* NUL-separated; offset 0 is "" */
    uint64_t when_ns;
    int error;  /* the runtime was unreadable */
    int remote; /* of another process (a reader from sw_reader_open_for):
                   none of this process's tables (thread names, greenlets,
                   excluded threads, roots) apply; its thread whose kernel
                   id is the process id is named "MainThread" */
    int remote_pid;
} sw_snapshot_t;

/* Reads every thread (or only the thread state with serial only_id, when
 * not 0) into snap.  snap is overwritten (memset): free an earlier one
 * first.  Skipped: threads excluded from sampling (when only_id is 0) and
 * thread states not yet bound to a thread.  A thread whose leaf frame is
 * unreadable appears with no frames; a stack broken midway keeps its
 * leaf side; a stack cut at a root (sw_sampler_set_roots) loses its root
 * side.
 * Context: no GIL needed; the caller's reader r; takes the code cache
 * lock per thread while resolving.  Allocates.
 * Returns 0; SW_EFAULT or SW_EFINALIZING (from sw_read_threads) with
 * snap->error set and no threads; SW_ENOMEM with whatever was captured so
 * far left in snap (threads may have fewer frames or "" names).  In every
 * case the caller must sw_snapshot_free(snap). */
int sw_snapshot_capture(sw_snapshot_t *snap, sw_reader_t *r,
                        sw_codecache_t *cache, uint64_t only_id);

/* sw_snapshot_capture_ex() flags. */
#define SW_SNAP_LOCALS \
    0x1u /* also every frame's locals, read natively
                               (compat/locals.h) */

/* sw_snapshot_capture(), with flags: SW_SNAP_LOCALS. */
int sw_snapshot_capture_ex(sw_snapshot_t *snap, sw_reader_t *r,
                           sw_codecache_t *cache, uint64_t only_id,
                           unsigned flags);

/* Formatting flag (beside stackfmt's SW_FMT_*): each frame followed by
 * its locals, of a snapshot captured with SW_SNAP_LOCALS, one
 * "        name = value" line each: None, bool, int, float, str and bytes
 * (cut at 240 characters) as Python writes them, "<list of 3 items>"
 * for list, tuple, dict, set and frozenset, "<type at 0x...>" for
 * anything else; under a name that looks secret (redact.h) every value
 * that could hold a secret (all but None, bool, int, float) is
 * "<redacted>", as _saferepr does. */
#define SW_FMT_LOCALS 0x100u

/* Frees snap's memory and zeroes it; safe on a zeroed snapshot. */
void sw_snapshot_free(sw_snapshot_t *snap);

/* The string at an offset of the snapshot (borrowed).  Context: any. */
static inline const char *
sw_snap_str(const sw_snapshot_t *snap, uint32_t off)
{
    return snap->strings.data + off;
}

/* Frame f of snap as the formatter's frame (strings borrowed from snap).
 * Context: any. */
static inline void
sw_snap_fmt_frame(const sw_snapshot_t *snap, const sw_snap_frame_t *f,
                  sw_fmt_frame_t *out)
{
    out->name = sw_snap_str(snap, f->name);
    out->file = sw_snap_str(snap, f->file);
    out->line = f->line;
}

/* A thread's stack in a snapshot, for sw_stackfmt_stack: pass
 * sw_snap_stack_get and a sw_snap_stack_t as its ctx. */
typedef struct sw_snap_stack {
    const sw_snapshot_t *snap;
    const sw_snap_thread_t *t;
} sw_snap_stack_t;

/* sw_fmt_get_fn over a sw_snap_stack_t: frame i, 0 the leaf.
 * Context: any. */
static inline void
sw_snap_stack_get(const void *ctx, size_t i, sw_fmt_frame_t *out)
{
    const sw_snap_stack_t *st = ctx;

    sw_snap_fmt_frame(st->snap, &st->snap->frames[st->t->first + i], out);
}

/* Appends the text form of one thread: a header line ("Thread 0x.. "name"
 * (tid, cpu, greenlet, GIL state)"), then its frames leaf first, each
 * "    function (file:line)" with short paths (SW_FMT_SHORT), or "(no Python frames)", and a line when
 * truncated.  Takes the name table's lock.  Errors: only through out's
 * sticky failure (sw_buf_ok).  No caller outside snapshot.c today. */
void sw_snapshot_format_thread(const sw_snapshot_t *snap,
                               const sw_snap_thread_t *t, sw_buf_t *out);

/* Appends the text form of the whole snapshot (every thread, a blank line
 * between), or one line saying the thread list could not be read when
 * snap->error; short paths.  Errors: only through sw_buf_ok(out). */
void sw_snapshot_format(const sw_snapshot_t *snap, sw_buf_t *out);

/* The same, with stackfmt flags: SW_FMT_SOURCE, each frame followed by
 * its source line, read from the file (plain read(2); not for signal
 * handlers); SW_FMT_SHORT, short paths (others ignored). */
void sw_snapshot_format_ex(const sw_snapshot_t *snap, sw_buf_t *out,
                           unsigned flags);

/* The snapshot as JSON: {"threads": [{"ident", "tid", "name",
 * "holds_gil", "greenlet", "cpu_ns", "truncated", "frames": [{"name",
 * "file", "line"}]}]} (each frame with "locals": {name: text, as
 * SW_FMT_LOCALS writes it} when captured with SW_SNAP_LOCALS), "file" the full path (a program reads it).  "name" is null when unknown.  A snapshot with
 * snap->error gives {"threads": []}: the JSON does not say it failed.
 * Errors: only through sw_buf_ok(out). */
void sw_snapshot_format_json(const sw_snapshot_t *snap, sw_buf_t *out);

/* The thread holding the GIL in the snapshot (borrowed from snap), or
 * NULL.  Context: any. */
const sw_snap_thread_t *sw_snapshot_gil_holder(const sw_snapshot_t *snap);

/* ---- the thread-name table ------------------------------------------- */

/* Replaces the table with the given (ident, kernel tid, name) triples
 * (tid 0 when unknown).  Silently keeps only the first 1024 threads and
 * the first 63 bytes of each name (possibly cutting a UTF-8 sequence).
 * Context: any thread (the GIL side calls it); takes the table's lock.
 * No errors. */
void sw_names_set(const unsigned long *idents, const long *tids,
                  const char *const *names, int n);

/* Copies the name of the thread (ident, tid) into out (cap > 0 bytes,
 * always terminated).  Idents are reused as soon as a thread ends: when
 * both tids are known they must match too.  Best first: ident and tid
 * both match; the tid alone (a thread whose threading ident is not its
 * pthread id, as gevent's patched main thread); the ident where a tid is
 * unknown (threads started without threading).  Returns 1 if known, 0 if not
 * (out untouched).  Context: any thread; takes the table's lock, so not
 * for signal handlers. */
int sw_names_get(unsigned long ident, long tid, char *out, size_t cap);

/* Fork (pthread_atfork, through module.c): prepare takes the table's
 * lock, parent and child release it, so the child never inherits it
 * held.  The child keeps the parent's names. */
void sw_names_atfork_prepare(void);
void sw_names_atfork_parent(void);
void sw_names_atfork_child(void);

#endif
