/* Which frame of a stack is a running asyncio task's own (tasks.c,
 * sw_tasks_find), with the reader reading this process: fake Tasks,
 * coroutines, frames, a current-tasks dict and a thread state, laid out
 * as the layout table says, changed between the reads the sampler makes
 * to stand for what the loop does meanwhile.
 *
 * The race these pin down (seen with aiohttp on 3.10): the running tasks
 * are read, then the request task that ran ends, the next request's Task
 * takes its address and the handler coroutine that the new task awaits
 * takes the ended task's coroutine's; the stack read then holds a frame
 * whose generator is the coroutine read as the task's, but it is the
 * handler's frame, one level inside the task's own.  Labelled from that
 * frame, the task was "[task] _handle", a coroutine no task runs. */
#include <stdint.h>
#include <string.h>

#include "compat/layout.h"
#include "compat/reader.h"
#include "runner.h"
#include "tasks.h"

sw_layout_t sw_layout; /* normally filled by compat/layout.c */

#define W(off) ((off) / sizeof(uintptr_t))

/* Objects are arrays of words; their "types" are addresses of these. */
static char task_type, dict_type, frame_type;
static uintptr_t task[16], tstate[16], dict[8], keys[16];
static uintptr_t gen_a[16], gen_b[16]; /* coroutines (3.11+: frames in) */
static uintptr_t frame_a[16], frame_b[16], frame_leaf[16]; /* 3.9, 3.10 */
/* Code objects (aligned, as objects are: their tag bits are clear). */
static uintptr_t code_handler[4], code_request[4], code_leaf[4], code_loop[4];

#define OFF_CORO 40 /* the Task's coroutine field */

static void
layout_common(void)
{
    memset(&sw_layout, 0, sizeof(sw_layout));
    sw_layout.ob_type = 8;
    sw_layout.ts_size = 128;
    sw_layout.co_size = 64;
}

/* 3.10: frame objects with f_code and f_gen; the running tasks from the
 * current-tasks dict (loop -> task), a combined table. */
static void
layout_310(void)
{
    sw_layout_t *L = &sw_layout;

    layout_common();
    L->frame_model = SW_FRAMES_OBJECTS;
    L->type_frame = (uintptr_t)&frame_type;
    L->fo_size = 104;
    L->fo_code = 32;
    L->fo_gen = 72;
    L->type_dict = (uintptr_t)&dict_type;
    L->dict_used = 16;
    L->dict_keys = 32;
    L->dict_values = 40;
    L->dk_size = 8;
    L->dk_nentries = 32;
    L->dk_indices = 40;
    L->dk_entry_size = 24;
    L->dk_entry_value = 16;
}

/* 3.14: frames inside their generators, a tagged executable; the running
 * task in the thread state. */
static void
layout_314(void)
{
    sw_layout_t *L = &sw_layout;

    layout_common();
    L->frame_model = SW_FRAMES_INTERP;
    L->if_size = 80;
    L->if_code = 0;
    L->if_code_tag = 3;
    L->gen_iframe = 64;
    L->ts_running_task = 96;
}

static sw_reader_t r;

static void
start(int from_tstate)
{
    sw_tasks_cfg_t cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.task_type = (uintptr_t)&task_type;
    cfg.off_coro = OFF_CORO;
    cfg.off_name = 48;
    cfg.off_waiter = 56;
    cfg.from_tstate = from_tstate;
    if (!from_tstate) {
        /* {loop: task}: one entry (hash, key, value) after 8 indexes. */
        memset(dict, 0, sizeof(dict));
        memset(keys, 0, sizeof(keys));
        dict[W(8)] = (uintptr_t)&dict_type;
        dict[W(16)] = 1;
        dict[W(32)] = (uintptr_t)keys;
        keys[W(8)] = 8;
        keys[W(32)] = 1;
        keys[W(40 + 8 + 8)] = (uintptr_t)code_loop; /* the loop (a key) */
        keys[W(40 + 8 + 16)] = (uintptr_t)task;
        cfg.current_tasks = (uintptr_t)dict;
    }
    tstate[W(96)] = (uintptr_t)task;
    task[W(8)] = (uintptr_t)&task_type;
    ASSERT(sw_vm_select(SW_VM_NONE) > 0);
    ASSERT_EQ(sw_reader_open(&r), 0);
    sw_tasks_enable(&cfg);
}

/* The running tasks as the sampler reads them before a stack. */
static void
read_running_tasks(void)
{
    sw_tasks_pass_begin(&r);
    sw_tasks_thread_begin(&r, (uintptr_t)tstate);
}

static void
frame_object(uintptr_t *f, const uintptr_t *code, uintptr_t *gen)
{
    memset(f, 0, 16 * sizeof(*f));
    f[0] = 1;
    f[W(8)] = (uintptr_t)&frame_type;
    f[W(32)] = (uintptr_t)code;
    f[W(72)] = (uintptr_t)gen;
}

/* A stack as 3.10 reads it, leaf first: crunch(), the handler's
 * coroutine (gen a), the request task's coroutine (gen b), the loop. */
static int
stack_310(sw_rawframe_t *raw)
{
    uintptr_t *frames[3] = {frame_leaf, frame_a, frame_b};
    int i;

    for (i = 0; i < 3; i++) {
        raw[i].code = frames[i][W(32)];
        raw[i].addr = 10;
        raw[i].maybe_incomplete = 0;
        raw[i].gen = frames[i][W(72)];
        raw[i].frame = (uintptr_t)frames[i];
    }
    raw[3] = raw[0];
    raw[3].code = (uintptr_t)code_loop;
    raw[3].gen = 0;
    raw[3].frame = 0;
    return 4;
}

/* The same stack on 3.14: each coroutine's frame inside it, its
 * executable tagged. */
static int
stack_314(sw_rawframe_t *raw)
{
    uintptr_t *gens[2] = {gen_a, gen_b};
    int i;

    memset(raw, 0, 4 * sizeof(*raw));
    raw[0].code = (uintptr_t)code_leaf;
    for (i = 0; i < 2; i++) {
        raw[i + 1].code = gens[i][W(64)] & ~(uintptr_t)3;
        raw[i + 1].addr = 10;
        raw[i + 1].gen = (uintptr_t)gens[i];
        raw[i + 1].frame = (uintptr_t)gens[i] + 64;
    }
    raw[3].code = (uintptr_t)code_loop;
    return 4;
}

TEST(a_running_task_is_found_at_its_coroutine)
{
    sw_rawframe_t raw[4];
    uintptr_t found = 0;
    int n;

    layout_310();
    frame_object(frame_leaf, code_leaf, NULL);
    frame_object(frame_a, code_handler, gen_a);
    frame_object(frame_b, code_request, gen_b);
    task[W(OFF_CORO)] = (uintptr_t)gen_b;
    start(0);
    read_running_tasks();
    n = stack_310(raw);
    ASSERT_EQ(sw_tasks_find(&r, (uintptr_t)tstate, raw, n, &found), 2);
    ASSERT_EQ(found, (uintptr_t)task);
}

TEST(a_task_read_before_its_memory_was_reused_is_not_matched_inside)
{
    /* Read: the task that ran (at `task`), its coroutine at gen_a.  Then
     * it ended; the next request's task took its address, its coroutine
     * is at gen_b, and the handler coroutine it awaits took gen_a. */
    sw_rawframe_t raw[4];
    uintptr_t found = 0;
    int n;

    layout_310();
    frame_object(frame_leaf, code_leaf, NULL);
    task[W(OFF_CORO)] = (uintptr_t)gen_a;
    start(0);
    read_running_tasks();
    task[W(OFF_CORO)] = (uintptr_t)gen_b;
    frame_object(frame_a, code_handler, gen_a);
    frame_object(frame_b, code_request, gen_b);
    n = stack_310(raw);
    /* Not 1 (the handler's frame, named as the task's own): the running
     * tasks are read again, and the task's own coroutine is found. */
    ASSERT_EQ(sw_tasks_find(&r, (uintptr_t)tstate, raw, n, &found), 2);
    ASSERT_EQ(found, (uintptr_t)task);
}

TEST(a_stack_read_before_the_running_tasks_is_read_again)
{
    /* The stack was read while the handler's coroutine was at gen_a;
     * then it ended, its frame was freed, and the next task's coroutine
     * took gen_a before the running tasks were read. */
    sw_rawframe_t raw[4];
    uintptr_t found = 0;
    int n;

    layout_310();
    frame_object(frame_leaf, code_leaf, NULL);
    frame_object(frame_a, code_handler, gen_a);
    frame_object(frame_b, code_request, gen_b);
    n = stack_310(raw);
    frame_a[W(72)] = 0; /* 3.10 clears f_gen when the coroutine ends */
    task[W(OFF_CORO)] = (uintptr_t)gen_a;
    start(0);
    read_running_tasks();
    ASSERT_EQ(sw_tasks_find(&r, (uintptr_t)tstate, raw, n, &found),
              SW_TASKS_TORN);
    ASSERT_EQ(found, 0); /* no task for a stack to read again */
}

TEST(thread_state_task_read_before_reuse_is_not_matched_inside)
{
    /* As above with 3.14's shapes: the running task in the thread state,
     * frames inside their coroutines, tagged executables. */
    sw_rawframe_t raw[4];
    uintptr_t found = 0;
    int n;

    layout_314();
    gen_a[W(64)] = (uintptr_t)code_handler | 1;
    gen_b[W(64)] = (uintptr_t)code_request | 1;
    task[W(OFF_CORO)] = (uintptr_t)gen_a;
    start(1);
    read_running_tasks();
    task[W(OFF_CORO)] = (uintptr_t)gen_b;
    n = stack_314(raw);
    ASSERT_EQ(sw_tasks_find(&r, (uintptr_t)tstate, raw, n, &found), 2);
    ASSERT_EQ(found, (uintptr_t)task);
}

TEST(thread_state_stack_read_before_the_running_task_is_read_again)
{
    /* The stack's frame at gen_a ran the handler; gen_a now holds the
     * next task's own coroutine (another code), which runs. */
    sw_rawframe_t raw[4];
    uintptr_t found = 0;
    int n;

    layout_314();
    gen_a[W(64)] = (uintptr_t)code_handler | 1;
    gen_b[W(64)] = (uintptr_t)code_request | 1;
    n = stack_314(raw);
    gen_a[W(64)] = (uintptr_t)code_request | 1;
    task[W(OFF_CORO)] = (uintptr_t)gen_a;
    start(1);
    read_running_tasks();
    ASSERT_EQ(sw_tasks_find(&r, (uintptr_t)tstate, raw, n, &found),
              SW_TASKS_TORN);
    ASSERT_EQ(found, 0); /* no task for a stack to read again */
}

RUNNER_MAIN()
