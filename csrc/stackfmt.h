/* The one frame and stack formatter: every "name (file:line)" and every
 * `File "f", line N, in name` that stackwatch writes comes from here --
 * dumps and the slow-script log (snapshot.c, dump.c), the watchdog's
 * reports (wd_report.c), the writers (writers/common.c) and, through
 * _native.format_frame, the profiler's summary (profiler.py).
 *
 * Two styles:
 * - label:     "name (file:line)", "name (file)" when the line is unknown
 *              (< 0), "name" when there is no file;
 * - traceback: `File "file", line N, in name`, `File "file", in name`
 *              when the line is unknown, as Python's tracebacks and
 *              faulthandler write them.
 * Options for stacks: the order (innermost or outermost frame first), a
 * source line after each frame, a prefix under which frames are left out
 * (stackwatch's own package in watchdog reports), and files shown by base
 * name (the profiler's summary) or short (SW_FMT_SHORT).
 *
 * Short paths: one rule, here.  The process's path prefixes (its sys.path
 * entries and current directory, resolved by the Python layer when
 * recording or dumping starts: _frame.use_sys_path) are kept as a table
 * that GIL-free threads read; SW_FMT_SHORT removes from a file the
 * longest prefix that is a directory of it ("/v/lib/python3.11/site-
 * packages/gevent/hub.py" -> "gevent/hub.py").  A file under no prefix
 * stays as it is, and so do "<frozen ...>" and "<string>" (no '/' first).
 * Only the text is short: sessions, snapshots and JSON keep full paths.
 *
 * Context: any thread, no GIL, no Python API, no lock.  The output goes
 * to a sw_buf_t, which grows with malloc: like every sw_buf user, not for
 * signal handlers (stackwatch's signal handler only wakes the dump
 * thread, which formats).  Source lines are read with open/read, no stdio.
 *
 * Pure C; no Python.h. */
#ifndef SW_STACKFMT_H
#define SW_STACKFMT_H

#include <stddef.h>

#include "buf.h"

/* One frame to format; the strings are borrowed. */
typedef struct sw_fmt_frame {
    const char *name; /* NULL is written as "" */
    const char *file; /* NULL: no file.  "" is a file named "" (label:
                         "name (:12)") unless SW_FMT_BASENAME, under
                         which an empty base name means no file */
    int line;         /* < 0: unknown */
} sw_fmt_frame_t;

enum sw_fmt_style {
    SW_FMT_LABEL = 0,     /* name (file:line) */
    SW_FMT_TRACEBACK = 1, /* File "file", line N, in name */
};

/* Flags for sw_stackfmt_frame and sw_fmt_opts_t.flags. */
#define SW_FMT_BASENAME 0x1u    /* the file by its base name */
#define SW_FMT_OUTER_FIRST 0x2u /* stacks: outermost frame first */
#define SW_FMT_SOURCE 0x4u      /* stacks: each frame's source line */
#define SW_FMT_SHORT 0x8u       /* the file without its path prefix */

/* How sw_stackfmt_stack writes a stack. */
typedef struct sw_fmt_opts {
    int style;                 /* enum sw_fmt_style */
    unsigned flags;            /* SW_FMT_* */
    const char *indent;        /* before each frame's line (NULL: none) */
    const char *source_indent; /* before a source line (NULL: none) */
    const char *hide;          /* frames whose file starts with this prefix are
                           left out; NULL or "": none */
} sw_fmt_opts_t;

/* Appends one frame, without a newline, in the style given (flags: only
 * SW_FMT_BASENAME and SW_FMT_SHORT count, the base name first; a style other than SW_FMT_TRACEBACK is
 * label).  Context: any; see above.  Errors: only through sw_buf_ok(). */
void sw_stackfmt_frame(sw_buf_t *out, const sw_fmt_frame_t *f, int style,
                       unsigned flags);

/* Replaces the path prefix table with n prefixes: absolute paths (others,
 * and "/" itself, are skipped), a '/' added to those without one, kept
 * longest first.  The table is published atomically and the previous one
 * is kept (reachable, never freed: a GIL-free reader may be using it),
 * so the same prefixes again change nothing and allocate nothing.
 * Context: any thread but not concurrently with itself (callers hold the
 * GIL); allocates.  Returns 0 or SW_ENOMEM (the table is then unchanged). */
int sw_stackfmt_set_prefixes(const char *const *prefixes, size_t n);

/* The file without the longest prefix of the table that it starts with
 * and that leaves a non-empty rest (a pointer into file), else file
 * itself (also for NULL).  Context: any, lock-free, no allocation. */
const char *sw_stackfmt_short_path(const char *file);

/* 1 if the frame's file starts with the prefix hide (a plain string
 * prefix, not a path test; NULL or "": never), else 0.
 * Context: any, async-signal-safe. */
int sw_stackfmt_hidden(const sw_fmt_frame_t *f, const char *hide);

/* Gives frame i (0: the innermost) of a stack held in ctx into *out.
 * Lets a stack be formatted where it lives (a snapshot, a session, an
 * array) without a copy. */
typedef void (*sw_fmt_get_fn)(const void *ctx, size_t i, sw_fmt_frame_t *out);

/* sw_fmt_get_fn for a plain array: ctx is a const sw_fmt_frame_t *.
 * Context: any; no bounds check. */
void sw_stackfmt_array_get(const void *ctx, size_t i, sw_fmt_frame_t *out);

/* Appends the n frames that get gives (from ctx), one line each: indent,
 * the frame, a newline; with SW_FMT_SOURCE, the frame's source line
 * (sw_stackfmt_source_line, for lines > 0) on the next line after
 * source_indent when it can be read; innermost first unless
 * SW_FMT_OUTER_FIRST; frames under opts->hide left out.  Allocates
 * nothing itself (out grows).  Returns how many frames were written
 * (hidden ones not counted); an allocation failure shows only in
 * sw_buf_ok(out).  Context: any; see above. */
size_t sw_stackfmt_stack(sw_buf_t *out, sw_fmt_get_fn get, const void *ctx,
                         size_t n, const sw_fmt_opts_t *opts);

/* Copies line `line` (from 1) of the file into out (cap bytes), without
 * its indentation or line break (tabs become spaces, '\r' dropped), cut
 * at cap - 1 bytes.  Reads about the first 8 MiB of the file at most,
 * with plain open(O_NONBLOCK)/read: no stdio, no allocation.  Returns 0,
 * or -1 (errno not meaningful) when line < 1 or cap is 0, the path does
 * not start with '/', '.' or an alphanumeric ("<string>", "<frozen ...>"),
 * the file cannot be opened, has no such line within the limit, or the
 * line is blank.
 * Context: any thread; not for signal handlers (it may block on I/O). */
int sw_stackfmt_source_line(const char *file, int line, char *out, size_t cap);

#endif
