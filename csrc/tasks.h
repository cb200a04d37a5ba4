/* asyncio tasks in profiles (`--tasks`): which task a sampled thread is
 * running, the chain of tasks awaiting it, and (`--tasks all`) where each
 * waiting task is suspended.
 *
 * Two sides.  The sampler thread (no GIL) finds the running task of a
 * thread by itself: it reads asyncio's `_current_tasks` dict (loop ->
 * running task) through the safe read, or where asyncio keeps the running
 * task in the thread state (3.14+), that thread state's field (its offset
 * is layout data, checked at enable), and matches each running task's
 * coroutine against the generators that own the thread's frames; the
 * task's name is read from the Task object at offsets probed at start.
 * The GIL side (stackwatch's `stackwatch-tasks` thread, every 100 ms)
 * installs a table of what only the GIL can tell cheaply: which task
 * awaits which (gather, TaskGroup, awaiting a task), each task's label,
 * and the suspension stacks of waiting tasks.  The sampler reads the
 * table under its mutex.
 *
 * Lock order: a session's mutex -> the table's mutex.  The table is
 * installed with the GIL held, so no fork can happen in the middle of an
 * install; the child of a fork keeps the table (the next profiler's
 * enable clears it).
 *
 * Pure C; no Python.h. */
#ifndef SW_TASKS_H
#define SW_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "compat/reader.h"
#include "stacks.h"

#define SW_TASK_CHAIN_MAX 32 /* awaiting tasks shown above a task */
#define SW_TASK_LABEL_MAX 320

/* What the sampler needs to find, without the GIL, the task that awaits a
 * task the table does not link (a task younger than the table): probed
 * at enable from real tasks (the words of real objects), so no CPython
 * version is known here.  A task W awaiting a future F (a task, or a
 * gather's future) is F's first done callback: W's wake-up callback,
 * which holds W, and W's waited future is F.  A task awaited through
 * gather() has gather's _done_callback first, a function whose closure
 * holds the gathering future.  Where a task keeps the task that awaits
 * it through gather() (an awaited-by field), that is read first. */
typedef struct sw_tasks_links {
    int on;                  /* 0: links come from the table only */
    size_t off_cb0;          /* a Future's (a Task's) first done callback */
    uintptr_t wakeup_type;   /* the type of a task's wake-up callback */
    size_t off_wakeup_task;  /* the task in it */
    uintptr_t func_type;     /* the function type */
    uintptr_t done_code;     /* gather's _done_callback's code object */
    size_t off_func_code;    /* a function's code */
    size_t off_func_closure; /* a function's closure (a tuple of cells) */
    uintptr_t tuple_type;
    size_t off_tuple_items; /* a tuple's first item */
    size_t outer_index;     /* the gathering future's cell in the closure */
    uintptr_t cell_type;
    size_t off_cell_ref;   /* a cell's contents */
    uintptr_t gather_type; /* the type of gather's future */
    size_t off_coro_code;  /* a coroutine's code (low 3 bits: tags, masked) */
    size_t off_awaited_by; /* a task's awaited-by field (the task that
                              gathers it, where asyncio keeps one), 0 */
} sw_tasks_links_t;

typedef struct sw_tasks_cfg {
    uintptr_t current_tasks; /* the dict loop -> running task; 0 when */
    int from_tstate;         /* the running task is each thread state's
                                (sw_layout.ts_running_task, 3.14+) */
    uintptr_t task_type;     /* the C Task type */
    size_t off_coro;         /* the Task's coroutine field */
    size_t off_name;         /* the Task's name field (a str or an int) */
    size_t off_waiter;       /* the future the Task waits for */
    int all;                 /* --tasks all: count waiting tasks too */
    int each;                /* --tasks each: a label per task, even for
                                tasks with asyncio's default name */
    sw_tasks_links_t links;  /* links found without the GIL */
} sw_tasks_cfg_t;

typedef struct sw_task_frame {
    char *name; /* owned by the entry */
    char *file;
    int line;
    int first; /* its function's first line, 0 if not given */
} sw_task_frame_t;

/* One task as the GIL side saw it. */
typedef struct sw_task_entry {
    uintptr_t task;
    uintptr_t coro;          /* its coroutine: an entry whose address now holds
                       another task (the first ended, its memory reused)
                       is not used */
    uintptr_t parent;        /* the task awaiting it, 0 for a root */
    unsigned long ident;     /* the thread running its loop, 0 if unknown */
    char *label;             /* "[task] NAME: QUALNAME", or "[task]
                                QUALNAME" for a default name, owned */
    int nframes;             /* its suspension stack, leaf first; 0 when it */
    sw_task_frame_t *frames; /* runs, or outside --tasks all (owned) */
    uint32_t node;           /* the sampler's: its interned stack, 0 */
} sw_task_entry_t;

/* Turns task attribution on with cfg, with an empty table.  Context:
 * GIL held, the sampler not running.  No errors. */
void sw_tasks_enable(const sw_tasks_cfg_t *cfg);

/* Turns it off and frees the table.  Context: GIL held, after the
 * sampler stopped.  No errors. */
void sw_tasks_disable(void);

/* Replaces the table by entries[0..n) (ownership of the array and of
 * every string passes to the table; freed with it, or at once on
 * failure).  Context: GIL held (one install at a time).
 * Returns 0, or SW_ENOMEM (the old table stays). */
int sw_tasks_install(sw_task_entry_t *entries, int n);

/* Frees an array of entries (what sw_tasks_install() did not take).
 * Context: any. */
void sw_tasks_free(sw_task_entry_t *entries, int n);

/* 1 if, since the last call, the sampler met a running task that the
 * table does not hold (then the GIL side refreshes early); clears it.
 * Context: any, lock-free. */
int sw_tasks_take_missed(void);

/* 1 when attribution is on.  Context: any, lock-free. */
int sw_tasks_on(void);

/* Reads, once per pass, every loop's running task and its coroutine (from
 * the dict; nothing when the running tasks are the thread states').
 * Context: sampler thread only, no GIL.  No errors (an unreadable dict
 * reads as no task running). */
void sw_tasks_pass_begin(sw_reader_t *r);

/* Reads the running task of the thread state at tstate where the running
 * tasks are the thread states' (3.14+), before its stack is read; nothing
 * otherwise.  Context: sampler thread only, no GIL.  No errors. */
void sw_tasks_thread_begin(sw_reader_t *r, uintptr_t tstate);

#define SW_TASKS_TORN (-2)

/* The running task of a stack read leaf first (raw[0..n)) from the
 * thread state at tstate: the index of the outermost frame run by a
 * running task's coroutine, with *task set to that task; -1 if none.
 * A match holds only if, read again after the stack, the task still runs
 * that coroutine and the frame still runs the code read (addresses are
 * reused: the coroutine read as a task's may since have ended and its
 * memory be another's, the handler's that the next task awaits, whose
 * frame is then not the task's own).  When the stack has generator
 * frames but none matches (or holds), the running tasks are read again
 * once (the loop may have switched tasks since they were read);
 * SW_TASKS_TORN when none matches then either and the running tasks
 * changed between the two reads, or the match then does not hold (the
 * stack may be from before a switch: read it again).  Context: sampler
 * thread only, after sw_tasks_pass_begin() and sw_tasks_thread_begin(). */
int sw_tasks_find(sw_reader_t *r, uintptr_t tstate, const sw_rawframe_t *raw,
                  int n, uintptr_t *task);

/* 1 if name is one asyncio gives a task it names itself: "Task-" and
 * digits.  Context: any. */
int sw_tasks_default_name(const char *name);

/* Appends to ids[0..max) the marker frames of task (named from the Task
 * object, qualname being its coroutine's: "[task] NAME: QUALNAME", or
 * "[task] QUALNAME" when NAME is asyncio's default, unless cfg.each) and
 * of the tasks awaiting it,
 * the outermost last.  A task the table does not link (created since the
 * last refresh, or started eagerly) is linked without the GIL to a task
 * of the table whose coroutine runs one of outer[0..nouter) (the
 * generators of the frames outside the task's coroutine, innermost
 * first: it started this one eagerly), else (cfg.links) to the task that
 * awaits it directly or through gather(), read from its done callback,
 * and so on up (a task the table lacks labelled from its objects; the
 * table's links from the first task it has), else to a task of the table
 * on the same loop thread (ident) that waits for it directly.
 * Context: sampler thread; caller holds s->mu.
 * Returns the number of ids written (0 when a table is full). */
int sw_tasks_markers(sw_reader_t *r, sw_session_t *s, uintptr_t task,
                     unsigned long ident, const uintptr_t *outer, int nouter,
                     const char *qualname, uint32_t *ids, int max);

/* --tasks all: adds one sample per waiting task of the loop that thread
 * ident runs (not the task running there), at its suspension stack under
 * its chain, in the thread's slot and greenlet (the one running the
 * loop).  Context: sampler thread; caller holds s->mu. */
void sw_tasks_add_waiting(sw_reader_t *r, sw_session_t *s, uint32_t slot,
                          uint32_t greenlet, unsigned long ident,
                          uintptr_t running, uint64_t wall_ns);

#endif
