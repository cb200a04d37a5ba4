/* The watchdog's report text and the stack it hands to Python: the lines
 * written when a stall starts, goes on and ends, and the asyncio rules
 * that read a stack (is the thread inside a loop's run_forever, which
 * frame is the running task's coroutine).  The rules are defined here
 * only: the Python side takes their result from the event ("task_frame").
 *
 * Context: any thread (the watchdog's monitor thread); no GIL, no Python
 * API, no lock (the thread name comes in r).  Appends to sw_buf_t's (which
 * allocate; errors only through sw_buf_ok); reads the local time for the
 * header.  Not for signal handlers.
 *
 * Pure C; no Python.h. */
#ifndef SW_WD_REPORT_H
#define SW_WD_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "snapshot.h"
#include "stackfmt.h"

/* What one report line (or block) is about. */
typedef struct sw_wd_report {
    int what;                /* SW_WD_TODO_START, _UPDATE or _END */
    int kind;                /* SW_WD_HUB, SW_WD_LOOP or SW_WD_DEADLINE */
    const char *name;        /* the watch's name ("" none) */
    unsigned long ident;     /* the watched thread */
    long tid;                /* its kernel id, <= 0 unknown */
    const char *thread_name; /* NULL: unknown */
    uint64_t threshold_ns;
    uint64_t duration_ns;
    uint32_t greenlet;         /* a hub's running greenlet */
    const char *label;         /* greenlet label or task; "" unknown */
    const sw_snapshot_t *snap; /* the stack read; NULL for END */
    const sw_snap_thread_t *t; /* the thread in snap; NULL: unread */
    int task_frame;            /* sw_wd_task_frame(), or -1 */
    const char *hide;          /* frames under it left out; "" none */
    int full_paths;            /* files by their full paths, not short */
} sw_wd_report_t;

/* Appends the report r: for SW_WD_TODO_START the header line ("[stackwatch
 * <local time>] asyncio loop blocked for ...") and the stack, root first,
 * in traceback style, frames under r->hide left out (or a line saying the
 * stack could not be read when r->t is NULL); for _UPDATE one line with
 * the leaf frame; for _END one line.  Any other `what` is written as
 * _END.  Context: any; see above. */
void sw_wd_report_text(sw_buf_t *out, const sw_wd_report_t *r);

/* The frame (index in t's frames, 0 the leaf) of the running task's
 * coroutine: the one after the outermost asyncio Handle._run toward the
 * leaf (a frame named "_run" or "Handle._run" in a file whose path
 * contains "asyncio").  Returns -1 when there is none.  Context: any;
 * pure, no allocation. */
int sw_wd_task_frame(const sw_snapshot_t *snap, const sw_snap_thread_t *t);

/* The same for a ticked loop (one without a selector, whose run_forever
 * is not Python's): the frame right above the base frames below the loop
 * (sw_wd_tick), or -1 when base is 0 (unknown) or the stack is no deeper
 * than them.  Context: any; pure. */
int sw_wd_ticked_task_frame(const sw_snap_thread_t *t, uint32_t base);

/* 1 if the thread is inside an asyncio loop's run_forever (by the same
 * name-and-path rule), else 0.  Context: any; pure, no allocation. */
int sw_wd_in_loop(const sw_snapshot_t *snap, const sw_snap_thread_t *t);

/* The thread's stack for Python: its frames outermost first, those under
 * hide left out, copied into one allocation (*frames; the caller frees it
 * with free(); the strings live in it), their number in *n, and in
 * *task_index the position in it of frame task_frame (from
 * sw_wd_task_frame; -1 when none or left out).  Returns 0 (with *frames
 * NULL and *n 0 when every frame is left out or there are none) or
 * SW_ENOMEM (then *frames is NULL and *n 0).  Context: any; allocates. */
int sw_wd_report_frames(const sw_snapshot_t *snap, const sw_snap_thread_t *t,
                        const char *hide, int task_frame,
                        sw_fmt_frame_t **frames, size_t *n, int *task_index);

#endif
