/* The GIL-free reader fed garbage: it must never fault, whatever it reads.
 *
 * Without the GIL the reader sees torn and freed memory: thread states
 * that are being freed, frames whose links point anywhere, chunk headers
 * with absurd sizes, "code objects" that are something else.  Safe reads
 * keep it from faulting on unmapped memory; this test checks the other
 * half, that no value read is trusted to index our own buffers.  It fills
 * the layout table with a 3.12-like (or 3.10-like) shape, builds a heap
 * of random bytes salted with plausible pointers (into the heap, near the
 * top of the address space, at unmapped pages), and walks it a few
 * hundred thousand times with a fixed seed.  A fault kills the process,
 * failing the test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compat/layout.h"
#include "compat/reader.h"
#include "runner.h"

sw_layout_t sw_layout; /* normally filled by compat/layout.c */

#define HEAP (1u << 20)

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t
next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static char *heap;
static uintptr_t fake_types[4]; /* code, unicode, bytes, frame */
static uintptr_t unmapped;

/* A pointer-sized value a torn read could produce. */
static uintptr_t
plausible(void)
{
    switch (next() % 8) {
    case 0:
        return 0;
    case 1:
        return UINTPTR_MAX - (next() % 4096); /* wraps when added to */
    case 2:
        return unmapped + (next() % 4096);
    case 3:
        return fake_types[next() % 4];
    case 4:
        return next();
    default:
        return (uintptr_t)heap + (next() % HEAP);
    }
}

static void
salt_heap(void)
{
    size_t i;

    for (i = 0; i + sizeof(uintptr_t) <= HEAP; i += sizeof(uintptr_t)) {
        uintptr_t v = (next() % 3 == 0) ? plausible() : (uintptr_t)next();

        memcpy(heap + i, &v, sizeof(v));
    }
}

static void
layout_common(void)
{
    sw_layout_t *L = &sw_layout;

    memset(L, 0, sizeof(*L));
    L->type_code = fake_types[0];
    L->type_unicode = fake_types[1];
    L->type_bytes = fake_types[2];
    L->type_frame = fake_types[3];
    L->ob_type = 8;
    L->ob_size = 16;
    L->bytes_sval = 32;
    L->str_length = 16;
    L->str_state = 32;
    L->str_ascii_size = 40;
    L->str_compact_size = 56;
    L->str_kind_mask = 0x1C;
    L->str_kind_shift = 2;
    L->str_compact_bit = 0x20;
    L->str_ascii_bit = 0x40;
    L->co_filename = 112;
    L->co_name = 120;
    L->co_linetable = 136;
    L->co_firstlineno = 68;
    L->ts_size = 288;
    L->ts_next = 8;
    L->ts_interp = 16;
    L->ts_thread_id = 136;
    L->ts_id = 200;
}

/* 3.12: interpreter frames in data-stack chunks, location tables. */
static void
layout_312(void)
{
    sw_layout_t *L = &sw_layout;

    layout_common();
    L->frame_model = SW_FRAMES_INTERP;
    L->frame_ref = SW_TSTATE_FRAME;
    L->line_format = SW_LINES_LOCATIONS;
    L->if_size = 72;
    L->if_previous = 8;
    L->if_code = 0;
    L->if_instr = 56;
    L->if_owner = 70;
    L->owner_generator = 1;
    L->owner_max = 3;
    L->owner_root = L->owner_hidden = 1u << 3; /* FRAME_OWNED_BY_CSTACK */
    L->chunk_previous = 0;
    L->chunk_size = 8;
    L->chunk_top = 16;
    L->chunk_data = 24;
    L->co_size = 192;
    L->co_ob_size = 16;
    L->co_qualname = 128;
    L->co_code_adaptive = 192;
    L->co_firsttraceable = 176;
    L->co_version = 120;
}

/* 3.15: as 3.12, with a tagged executable (_PyStackRef). */
static void
layout_315(void)
{
    sw_layout_t *L = &sw_layout;

    layout_312();
    L->if_code_tag = 3;
}

/* 3.10: frame objects, PEP 626 tables, a separate co_code. */
static void
layout_310(void)
{
    sw_layout_t *L = &sw_layout;

    layout_common();
    L->frame_model = SW_FRAMES_OBJECTS;
    L->frame_ref = SW_TSTATE_FRAME;
    L->line_format = SW_LINES_PEP626;
    L->fo_size = 104;
    L->fo_back = 24;
    L->fo_code = 32;
    L->fo_lasti = 96;
    L->lasti_scale = 2;
    L->co_size = 168;
    L->co_code = 48;
}

static void
setup(void)
{
    long page = sysconf(_SC_PAGESIZE);
    void *gone;
    int i;

    heap = malloc(HEAP);
    ASSERT(heap != NULL);
    for (i = 0; i < 4; i++) {
        fake_types[i] = (uintptr_t)heap + 4096 * (i + 1);
    }
    gone = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT(gone != MAP_FAILED);
    munmap(gone, page);
    unmapped = (uintptr_t)gone;
    ASSERT(sw_vm_select(SW_VM_NONE) > 0);
    salt_heap();
}

/* Walks `rounds` random threads and reads `rounds` random code objects. */
static void
walk_garbage(int rounds)
{
    sw_reader_t r;
    sw_rawframe_t *raw = malloc(SW_MAX_DEPTH * sizeof(*raw));
    sw_code_t *code = malloc(sizeof(*code));
    int i, k;

    ASSERT(raw && code);
    ASSERT_EQ(sw_reader_open(&r), 0);
    for (i = 0; i < rounds; i++) {
        sw_thread_t t;
        int n, truncated;

        memset(&t, 0, sizeof(t));
        t.frame = plausible();
        t.frame_resolved = 1;
        t.chunk = plausible();
        t.chunk_top = (next() % 2) ? t.chunk + (next() % 20000) : plausible();
        n = sw_read_frames(&r, &t, raw, SW_MAX_DEPTH, &truncated);
        ASSERT(n <= SW_MAX_DEPTH);
        for (k = 0; k < n && k < 4; k++) {
            if (sw_read_code(&r, raw[k].code, code) == 0) {
                /* Strings are always terminated within their buffers. */
                ASSERT(memchr(code->name, 0, sizeof(code->name)) != NULL);
                ASSERT(memchr(code->file, 0, sizeof(code->file)) != NULL);
                sw_code_line(code->id.firstlineno, code->table,
                             code->table_len, raw[k].addr);
            }
        }
        if (sw_read_code(&r, plausible(), code) == 0) {
            sw_code_line(code->id.firstlineno, code->table, code->table_len,
                         (int32_t)(next() % 100000));
        }
        if (i % 4096 == 0) {
            salt_heap(); /* memory keeps changing under the reader */
        }
    }
    sw_reader_close(&r);
    free(raw);
    free(code);
}

/* Plants "code objects" (right type pointer, garbage elsewhere, strings
 * and byte strings with absurd lengths and kinds) all over the heap. */
static void
plant_objects(void)
{
    int i;

    for (i = 0; i < 2000; i++) {
        size_t at = (next() % (HEAP / 256 - 1)) * 256;
        uintptr_t type = fake_types[next() % 4];
        uint32_t state = (uint32_t)next();
        intptr_t len =
            (next() % 2) ? (intptr_t)(next() % 5000) : (intptr_t)next();

        memcpy(heap + at + 8, &type, sizeof(type));
        memcpy(heap + at + 16, &len, sizeof(len));
        memcpy(heap + at + 32, &state, sizeof(state));
    }
}

TEST(interpreter_frames_over_garbage_never_fault)
{
    setup();
    layout_312();
    plant_objects();
    walk_garbage(50000);
}

TEST(tagged_interpreter_frames_over_garbage_never_fault)
{
    setup();
    layout_315();
    plant_objects();
    walk_garbage(50000);
}

/* Writes a 3.12-shaped interpreter frame header at f. */
static void
put_frame(char *f, uintptr_t executable, uintptr_t previous, char owner)
{
    memset(f, 0, 72);
    memcpy(f + 0, &executable, sizeof(executable));
    memcpy(f + 8, &previous, sizeof(previous));
    f[70] = owner;
}

/* 3.14+: the executable is a _PyStackRef (the reader clears its tag
 * bits); a frame owned by the interpreter ends a whole stack and is not
 * one of the program's; on 3.14 so is FRAME_OWNED_BY_CSTACK (4). */
TEST(tagged_executables_and_interpreter_frames)
{
    sw_reader_t r;
    sw_rawframe_t raw[8];
    sw_thread_t t;
    char *f = malloc(4 * 128);
    uintptr_t code = (uintptr_t)f + 3 * 128; /* 8-aligned */
    int n, truncated;

    ASSERT(f != NULL);
    setup();
    layout_315();
    ASSERT_EQ(sw_reader_open(&r), 0);
    /* leaf (tagged) -> caller (untagged) -> the interpreter's entry frame */
    put_frame(f, code | 1, (uintptr_t)f + 128, 0);
    put_frame(f + 128, code, (uintptr_t)f + 256, 1);
    put_frame(f + 256, (uintptr_t)&r | 1, 0, 3);
    memset(&t, 0, sizeof(t));
    t.frame = (uintptr_t)f;
    t.frame_resolved = 1;
    n = sw_read_frames(&r, &t, raw, 8, &truncated);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(raw[0].code, code);
    ASSERT_EQ(raw[1].code, code);
    ASSERT_EQ(r.broken, 0);
    /* A stack that ends at a program's frame is torn. */
    put_frame(f + 128, code, 0, 0);
    n = sw_read_frames(&r, &t, raw, 8, &truncated);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(r.broken, 1);
    /* 3.14's C-stack owner ends a stack too; past the highest owner
     * there is, a frame is garbage. */
    sw_layout.owner_max = 4;
    sw_layout.owner_root = sw_layout.owner_hidden = (1u << 3) | (1u << 4);
    put_frame(f + 128, code, (uintptr_t)f + 256, 1);
    put_frame(f + 256, 0, 0, 4);
    n = sw_read_frames(&r, &t, raw, 8, &truncated);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(r.broken, 0);
    put_frame(f + 256, 0, 0, 5);
    n = sw_read_frames(&r, &t, raw, 8, &truncated);
    ASSERT_EQ(n, 2);
    ASSERT_EQ(r.broken, 1);
    sw_reader_close(&r);
    free(f);
}

TEST(frame_objects_over_garbage_never_fault)
{
    setup();
    layout_310();
    plant_objects();
    walk_garbage(50000);
}

TEST(thread_lists_over_garbage_never_fault)
{
    sw_reader_t r;
    sw_thread_t *threads = malloc(SW_MAX_THREADS * sizeof(*threads));
    struct {
        uintptr_t head, finalizing;
    } runtime = {0, 0};
    int i;

    setup();
    layout_312();
    ASSERT(threads != NULL);
    /* A fake runtime whose interpreter list starts somewhere random. */
    sw_layout.runtime = (uintptr_t)&runtime;
    sw_layout.rt_interp_head = 0;
    sw_layout.rt_finalizing = sizeof(uintptr_t);
    sw_layout.is_next = 0;
    sw_layout.is_threads_head = 16;
    sw_layout.is_id = 24;
    sw_layout.gil_place = SW_GIL_INTERP;
    sw_layout.is_gil_ptr = 32;
    sw_layout.gil_size = 16;
    sw_layout.gil_locked = 8;
    sw_layout.gil_last_holder = 0;
    ASSERT_EQ(sw_reader_open(&r), 0);
    for (i = 0; i < 20000; i++) {
        int n;

        runtime.head = plausible();
        n = sw_read_threads(&r, threads, SW_MAX_THREADS);
        ASSERT(n <= SW_MAX_THREADS);
        for (int k = 0; k < n && k < 8; k++) {
            sw_thread_frame(&r, &threads[k]); /* lazily read frame fields */
        }
        if (i % 1024 == 0) {
            salt_heap();
        }
    }
    sw_reader_close(&r);
    free(threads);
}

RUNNER_MAIN()
