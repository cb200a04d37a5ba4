/* The watchdog's report text; see wd_report.h. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "watchdog.h"
#include "wd_report.h"
#include "wd_timing.h"

/* What the watch is, for a report line: 'gevent hub "x"', ... */
static void
put_what(sw_buf_t *out, const sw_wd_report_t *r)
{
    const char *name = r->name != NULL ? r->name : "";

    switch (r->kind) {
    case SW_WD_HUB:
        sw_buf_printf(out, "gevent hub%s%s", name[0] ? " " : "", name);
        break;
    case SW_WD_LOOP:
        sw_buf_printf(out, "asyncio loop%s%s", name[0] ? " " : "", name);
        break;
    default:
        sw_buf_printf(out, "deadline \"%s\"", name);
        break;
    }
}

/* The start of every line: the time and the watch. */
static void
put_header(sw_buf_t *out, const sw_wd_report_t *r)
{
    sw_buf_puts(out, "[stackwatch ");
    sw_buf_put_localtime(out);
    sw_buf_puts(out, "] ");
    put_what(out, r);
}

static void
put_thread(sw_buf_t *out, const sw_wd_report_t *r)
{
    if (r->thread_name != NULL) {
        sw_buf_printf(out, "thread \"%s\"", r->thread_name);
    }
    else {
        sw_buf_printf(out, "thread 0x%lx", r->ident);
    }
    if (r->tid > 0) {
        sw_buf_printf(out, " (tid %ld)", r->tid);
    }
}

static void
put_frame(sw_buf_t *out, const sw_wd_report_t *r, const sw_snap_frame_t *f)
{
    sw_fmt_frame_t ff;

    sw_snap_fmt_frame(r->snap, f, &ff);
    sw_stackfmt_frame(out, &ff, SW_FMT_LABEL,
                      r->full_paths ? 0u : SW_FMT_SHORT);
}

/* The stack, root first, as Python prints tracebacks. */
static void
put_stack(sw_buf_t *out, const sw_wd_report_t *r)
{
    const sw_snap_stack_t st = {r->snap, r->t};
    const sw_fmt_opts_t opts = {
        .style = SW_FMT_TRACEBACK,
        .flags = SW_FMT_OUTER_FIRST | (r->full_paths ? 0u : SW_FMT_SHORT),
        .indent = "    ",
        .hide = r->hide,
    };

    sw_buf_puts(out, "  Stack (most recent call last):\n");
    if (r->t->truncated) {
        sw_buf_puts(out, "    ... (outer frames not shown)\n");
    }
    sw_stackfmt_stack(out, sw_snap_stack_get, &st, r->t->nframes, &opts);
    if (r->t->nframes == 0) {
        sw_buf_puts(out, "    (no Python frames)\n");
    }
}

static void
put_start(sw_buf_t *out, const sw_wd_report_t *r)
{
    double dur = r->duration_ns / 1e9;
    const char *label = r->label != NULL ? r->label : "";

    if (r->kind == SW_WD_DEADLINE) {
        sw_buf_printf(out,
                      " exceeded (limit %.3f s): still running "
                      "after %.3f s in ",
                      r->threshold_ns / 1e9, dur);
    }
    else {
        sw_buf_printf(out, " blocked for %.3f s (threshold %.3f s) in ", dur,
                      r->threshold_ns / 1e9);
    }
    put_thread(out, r);
    sw_buf_putc(out, '\n');
    if (r->kind == SW_WD_HUB) {
        sw_buf_printf(out, "  running greenlet #%u", r->greenlet);
        if (label[0]) {
            sw_buf_printf(out, ": %s", label);
        }
        sw_buf_puts(out, "\n");
    }
    else if (r->kind == SW_WD_LOOP) {
        if (label[0]) {
            sw_buf_printf(out, "  running task %s\n", label);
        }
        else if (r->t != NULL && r->task_frame >= 0) {
            sw_buf_puts(out, "  running the task of coroutine ");
            put_frame(out, r,
                      &r->snap->frames[r->t->first + (uint32_t)r->task_frame]);
            sw_buf_putc(out, '\n');
        }
    }
    if (r->t == NULL) {
        sw_buf_puts(out, "  (the thread's stack could not be read)\n");
    }
    else {
        sw_buf_puts(out, r->t->t.holds_gil
                             ? "  The thread holds the GIL.\n"
                             : "  The thread does not hold the GIL.\n");
        put_stack(out, r);
    }
}

void
sw_wd_report_text(sw_buf_t *out, const sw_wd_report_t *r)
{
    double dur = r->duration_ns / 1e9;

    put_header(out, r);
    if (r->what == SW_WD_TODO_START) {
        put_start(out, r);
    }
    else if (r->what == SW_WD_TODO_UPDATE) {
        sw_buf_printf(out, " still %s after %.3f s",
                      r->kind == SW_WD_DEADLINE ? "running" : "blocked", dur);
        if (r->t != NULL && r->t->nframes > 0) {
            sw_buf_puts(out, ", in ");
            put_frame(out, r, &r->snap->frames[r->t->first]);
        }
        sw_buf_putc(out, '\n');
    }
    else {
        if (r->kind == SW_WD_DEADLINE) {
            sw_buf_printf(out, " finished after %.3f s (limit %.3f s)", dur,
                          r->threshold_ns / 1e9);
        }
        else {
            sw_buf_printf(out, " unblocked after %.3f s", dur);
        }
        sw_buf_puts(out, " in ");
        put_thread(out, r);
        sw_buf_putc(out, '\n');
    }
}

/* Whether frame k of t is asyncio's function of one of the two names
 * (3.11+ gives qualified names). */
static int
is_asyncio(const sw_snapshot_t *snap, const sw_snap_thread_t *t, uint32_t k,
           const char *name, const char *qualname)
{
    const sw_snap_frame_t *f = &snap->frames[t->first + k];
    const char *n = sw_snap_str(snap, f->name);

    return (strcmp(n, name) == 0 || strcmp(n, qualname) == 0) &&
           strstr(sw_snap_str(snap, f->file), "asyncio") != NULL;
}

int
sw_wd_task_frame(const sw_snapshot_t *snap, const sw_snap_thread_t *t)
{
    uint32_t k;

    for (k = t->nframes; k-- > 1;) {
        if (is_asyncio(snap, t, k, "_run", "Handle._run")) {
            return (int)(k - 1);
        }
    }
    return -1;
}

int
sw_wd_ticked_task_frame(const sw_snap_thread_t *t, uint32_t base)
{
    /* Innermost first: the base frames are the last ones. */
    return base > 0 && t->nframes > base ? (int)(t->nframes - 1 - base) : -1;
}

int
sw_wd_in_loop(const sw_snapshot_t *snap, const sw_snap_thread_t *t)
{
    uint32_t k;

    for (k = 0; k < t->nframes; k++) {
        if (is_asyncio(snap, t, k, "run_forever",
                       "BaseEventLoop.run_forever")) {
            return 1;
        }
    }
    return 0;
}

int
sw_wd_report_frames(const sw_snapshot_t *snap, const sw_snap_thread_t *t,
                    const char *hide, int task_frame, sw_fmt_frame_t **frames,
                    size_t *n, int *task_index)
{
    size_t count = 0, bytes = 0, i;
    sw_fmt_frame_t *out;
    char *p;
    uint32_t k;

    *frames = NULL;
    *n = 0;
    *task_index = -1;
    for (k = 0; k < t->nframes; k++) {
        sw_fmt_frame_t f;

        sw_snap_fmt_frame(snap, &snap->frames[t->first + k], &f);
        if (!sw_stackfmt_hidden(&f, hide)) {
            count++;
            bytes += strlen(f.name) + strlen(f.file) + 2;
        }
    }
    if (count == 0) {
        return 0;
    }
    out = malloc(count * sizeof(*out) + bytes);
    if (out == NULL) {
        return SW_ENOMEM;
    }
    p = (char *)(out + count);
    i = count; /* filled from the end: outermost first */
    for (k = 0; k < t->nframes; k++) {
        sw_fmt_frame_t f;
        size_t ln, lf;

        sw_snap_fmt_frame(snap, &snap->frames[t->first + k], &f);
        if (sw_stackfmt_hidden(&f, hide)) {
            continue;
        }
        i--;
        ln = strlen(f.name) + 1;
        lf = strlen(f.file) + 1;
        out[i].name = memcpy(p, f.name, ln);
        out[i].file = memcpy(p + ln, f.file, lf);
        out[i].line = f.line;
        p += ln + lf;
        if ((int)k == task_frame) {
            *task_index = (int)i;
        }
    }
    *frames = out;
    *n = count;
    return 0;
}
