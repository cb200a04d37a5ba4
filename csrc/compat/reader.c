/* The GIL-free reader; see reader.h for the contract.
 *
 * The walk for 3.11+ copies the used part of the thread's current
 * data-stack chunk in one read and walks the frames inside the copy; a
 * 29-frame stack costs ~6 reads instead of ~33 (research/internals.md
 * §2.2).  Frames outside the copy (in earlier chunks, or inside generator
 * objects) are copied chunk by chunk or read one by one. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat/linetable.h"
#include "compat/reader.h"
#include "hash.h"

#define CHUNK_SCRATCH (1u << 20) /* bytes of data-stack chunks per walk */
#define BATCH_SCRATCH (SW_CHECK_BATCH * HDR_BUF) /* code headers re-read */
#define KNOWN_TS 256  /* thread states read ahead, in one system call */
#define MAX_RANGES 16 /* chunks copied per walk */
#define MAX_INTERPS 256
#define SEEN_WAYS 512 /* frame addresses remembered per 3.9/3.10 walk */
#define HDR_BUF 1024  /* thread state, code header, frame */
#define PRE_SCRATCH (512u * 1024u) /* sw_prefetch_stacks()'s copies */
#define PRE_THREADS 256            /* threads per prefetch */

/* Offset of the kernel tid inside a pthread_t, learned by the probe;
 * 0 if unknown or not needed. */
static size_t tid_offset;

static uintptr_t
ptr_at(const char *buf, size_t off)
{
    uintptr_t v;

    memcpy(&v, buf + off, sizeof(v));
    return v;
}

static int
int_at(const char *buf, size_t off)
{
    int v;

    memcpy(&v, buf + off, sizeof(v));
    return v;
}

int
sw_reader_open_for(sw_reader_t *r, const sw_layout_t *L, int pid)
{
    int rc;

    memset(r, 0, sizeof(*r));
    r->L = L;
    if (L->ts_size > HDR_BUF || L->co_size > HDR_BUF ||
        L->gil_size > HDR_BUF || L->fo_size > HDR_BUF ||
        L->if_size > HDR_BUF) {
        return SW_EINVAL;
    }
    r->remote = pid != 0;
    rc = r->remote ? sw_vm_open_pid(&r->vm, pid) : sw_vm_open(&r->vm);
    if (rc < 0) {
        return rc;
    }
    r->scratch_cap = CHUNK_SCRATCH + SW_LINETABLE_MAX + BATCH_SCRATCH +
                     KNOWN_TS * L->ts_size;
    r->scratch = malloc(r->scratch_cap);
    r->known_ts = calloc(KNOWN_TS, sizeof(*r->known_ts));
    r->pre = malloc(PRE_SCRATCH);
    r->pre_rg = malloc(2 * PRE_THREADS * sizeof(*r->pre_rg));
    if (r->scratch == NULL || r->known_ts == NULL || r->pre == NULL ||
        r->pre_rg == NULL) {
        sw_reader_close(r);
        return SW_ENOMEM;
    }
    return 0;
}

int
sw_reader_open(sw_reader_t *r)
{
    return sw_reader_open_for(r, &sw_layout, 0);
}

void
sw_reader_close(sw_reader_t *r)
{
    sw_vm_close(&r->vm);
    free(r->scratch);
    free(r->known_ts);
    free(r->pre);
    free(r->pre_rg);
    r->scratch = NULL;
    r->known_ts = NULL;
    r->pre = NULL;
    r->pre_rg = NULL;
}

/* Fills one sw_thread_t from a thread state copied into ts. */
static int
thread_from(const sw_layout_t *L, const char *ts, uintptr_t addr,
            uintptr_t interp, int64_t interp_id, int gil_locked,
            uintptr_t gil_holder, sw_thread_t *t)
{
    if (ptr_at(ts, L->ts_interp) != interp) {
        return -1; /* freed or torn: it no longer belongs here */
    }
    memset(t, 0, sizeof(*t));
    t->tstate = addr;
    t->interp = interp;
    t->interp_id = interp_id;
    memcpy(&t->id, ts + L->ts_id, sizeof(t->id));
    t->ident = (unsigned long)ptr_at(ts, L->ts_thread_id);
    if (L->ts_native_thread_id) {
        t->tid = (long)ptr_at(ts, L->ts_native_thread_id);
    }
    t->holds_gil = gil_locked && gil_holder == addr;
    t->frame_field = ptr_at(ts, L->ts_frame);
    if (L->frame_ref == SW_TSTATE_FRAME) {
        t->frame = t->frame_field;
        t->frame_resolved = 1;
    }
    if (L->ts_datastack_chunk) {
        t->chunk = ptr_at(ts, L->ts_datastack_chunk);
        t->chunk_top = ptr_at(ts, L->ts_datastack_top);
    }
    return 0;
}

uintptr_t
sw_thread_frame(sw_reader_t *r, sw_thread_t *t)
{
    if (!t->frame_resolved) {
        t->frame_resolved = 1;
        if (t->frame_field == 0 ||
            sw_vm_read_ptr(&r->vm, t->frame_field + r->L->cf_current_frame,
                           &t->frame) < 0) {
            t->frame = 0;
        }
    }
    return t->frame;
}

/* The GIL struct remembered for interp, or 0. */
static uintptr_t
cached_gil(const sw_reader_t *r, uintptr_t interp)
{
    int i;

    for (i = 0; i < SW_GIL_CACHE; i++) {
        if (r->gil_interp[i] == interp) {
            return r->gil_ptr[i];
        }
    }
    return 0;
}

static void
remember_gil(sw_reader_t *r, uintptr_t interp, uintptr_t gil)
{
    int i, slot = (int)((interp >> 4) % SW_GIL_CACHE);

    for (i = 0; i < SW_GIL_CACHE; i++) {
        if (r->gil_interp[i] == interp) {
            slot = i;
            break;
        }
    }
    r->gil_interp[slot] = interp;
    r->gil_ptr[slot] = gil;
}

/* Reads the interpreter fields we use (far apart: threads.head is at byte
 * 7344 on 3.13) and, on 3.12+, its GIL state: in one read once the GIL
 * struct is known from an earlier pass.  Returns 0 or -1. */
static int
read_interp(sw_reader_t *r, uintptr_t interp, uintptr_t *next,
            uintptr_t *threads, int64_t *id, int *locked, uintptr_t *holder)
{
    const sw_layout_t *L = r->L;
    uintptr_t raw_id = 0, gil = 0, guess = cached_gil(r, interp);
    sw_vm_region_t rg[6];
    char ok[6];
    int n = 3;

    rg[0] = (sw_vm_region_t){interp + L->is_next, next, sizeof(*next)};
    rg[1] = (sw_vm_region_t){interp + L->is_threads_head, threads,
                             sizeof(*threads)};
    rg[2] = (sw_vm_region_t){interp + L->is_id, &raw_id, sizeof(raw_id)};
    if (L->gil_place == SW_GIL_INTERP) {
        rg[n++] = (sw_vm_region_t){interp + L->is_gil_ptr, &gil, sizeof(gil)};
        if (guess != 0) {
            rg[n++] = (sw_vm_region_t){guess + L->gil_locked, locked,
                                       sizeof(*locked)};
            rg[n++] = (sw_vm_region_t){guess + L->gil_last_holder, holder,
                                       sizeof(*holder)};
        }
    }
    sw_vm_readv(&r->vm, rg, n, ok);
    if (!ok[0] || !ok[1] || !ok[2]) {
        return -1;
    }
    *id = (int64_t)raw_id;
    if (L->gil_place != SW_GIL_INTERP) {
        return 0;
    }
    if (!ok[3]) {
        gil = 0;
    }
    if (gil != guess || n < 6 || !ok[4] || !ok[5]) {
        /* First sight of this interpreter, or its GIL moved. */
        *locked = 0;
        *holder = 0;
        if (gil != 0 &&
            (sw_vm_read(&r->vm, gil + L->gil_locked, locked, sizeof(*locked)) <
                 0 ||
             sw_vm_read_ptr(&r->vm, gil + L->gil_last_holder, holder) < 0)) {
            *locked = 0;
        }
        remember_gil(r, interp, gil);
    }
    return 0;
}

/* Reads ahead the thread states seen in the last pass (a thread list
 * rarely changes between passes): one vectored read.  Returns the
 * buffer; ok[i] says whether known_ts[i] was read into slot i. */
static char *
read_known(sw_reader_t *r, char *ok)
{
    const sw_layout_t *L = r->L;
    char *buf = r->scratch + CHUNK_SCRATCH + SW_LINETABLE_MAX + BATCH_SCRATCH;
    sw_vm_region_t rg[KNOWN_TS];
    int i;

    for (i = 0; i < r->nknown; i++) {
        rg[i] = (sw_vm_region_t){r->known_ts[i], buf + (size_t)i * L->ts_size,
                                 L->ts_size};
    }
    if (r->nknown > 0) {
        sw_vm_readv(&r->vm, rg, r->nknown, ok);
    }
    return buf;
}

int
sw_read_threads(sw_reader_t *r, sw_thread_t *out, int max)
{
    const sw_layout_t *L = r->L;
    char own[HDR_BUF], ok[4], known_ok[KNOWN_TS];
    const char *known, *ts = own;
    uintptr_t interp = 0, finalizing = 0, gil_holder = 0;
    int gil_locked = 0, n = 0, ninterp = 0, nr = 2;
    sw_vm_region_t rg[4];

    /* The runtime: interpreters, finalization and (up to 3.11) the GIL. */
    rg[0] = (sw_vm_region_t){L->runtime + L->rt_interp_head, &interp,
                             sizeof(interp)};
    rg[1] = (sw_vm_region_t){L->runtime + L->rt_finalizing, &finalizing,
                             sizeof(finalizing)};
    if (L->gil_place == SW_GIL_RUNTIME) {
        rg[nr++] = (sw_vm_region_t){L->gil_runtime + L->gil_locked,
                                    &gil_locked, sizeof(gil_locked)};
        rg[nr++] = (sw_vm_region_t){L->gil_runtime + L->gil_last_holder,
                                    &gil_holder, sizeof(gil_holder)};
    }
    sw_vm_readv(&r->vm, rg, nr, ok);
    if (!ok[0] || !ok[1]) {
        return SW_EFAULT;
    }
    if (finalizing != 0) {
        return SW_EFINALIZING;
    }
    if (nr == 4 && (!ok[2] || !ok[3])) {
        gil_locked = 0;
    }
    known = read_known(r, known_ok);
    while (interp != 0 && ninterp++ < MAX_INTERPS && n < max) {
        uintptr_t t, prev = 0, next_interp;
        int64_t interp_id;

        if (read_interp(r, interp, &next_interp, &t, &interp_id, &gil_locked,
                        &gil_holder) < 0) {
            r->bad_threads++;
            break;
        }
        for (; t != 0 && n < max; t = ptr_at(ts, L->ts_next)) {
            /* The copy read ahead if this is where the list still goes,
             * else a read of its own. */
            if (n < r->nknown && r->known_ts[n] == t && known_ok[n]) {
                ts = known + (size_t)n * L->ts_size;
            }
            else {
                ts = own;
                if (t == prev || sw_vm_read(&r->vm, t, own, L->ts_size) < 0) {
                    r->bad_threads++;
                    break;
                }
            }
            if (thread_from(L, ts, t, interp, interp_id, gil_locked,
                            gil_holder, &out[n]) < 0) {
                r->bad_threads++;
                break;
            }
            prev = t;
            n++;
        }
        interp = next_interp;
    }
    r->nknown = n < KNOWN_TS ? n : KNOWN_TS;
    for (int i = 0; i < r->nknown; i++) {
        r->known_ts[i] = out[i].tstate;
    }
    return n;
}

int
sw_reread_thread(sw_reader_t *r, sw_thread_t *t)
{
    char ts[HDR_BUF];
    sw_thread_t fresh;

    if (sw_vm_read(&r->vm, t->tstate, ts, r->L->ts_size) < 0 ||
        thread_from(r->L, ts, t->tstate, t->interp, t->interp_id, 0, 0,
                    &fresh) < 0 ||
        fresh.id != t->id || fresh.ident != t->ident) {
        return -1; /* gone, or another thread's state now */
    }
    fresh.holds_gil = t->holds_gil; /* as seen at the pass's start */
    if (fresh.tid == 0) {
        fresh.tid = t->tid;
    }
    *t = fresh;
    return 0;
}

/* 3.9, 3.10: PyFrameObjects linked by f_back. */
static int
frames_objects(sw_reader_t *r, sw_thread_t *t, sw_rawframe_t *out, int max,
               int *truncated)
{
    const sw_layout_t *L = r->L;
    char buf[HDR_BUF];
    uintptr_t f = sw_thread_frame(r, t), seen[SEEN_WAYS] = {0};
    int n = 0;

    while (f != 0) {
        int lasti;
        size_t way = (size_t)(sw_mix64(f) % SEEN_WAYS);

        if (n >= max) {
            *truncated = 1;
            break;
        }
        /* Frame objects are read where they live, while the thread runs:
         * one freed and reused during the walk can lead back into frames
         * already walked.  Seeing an address twice means a torn walk. */
        while (seen[way] != 0 && seen[way] != f) {
            way = (way + 1) % SEEN_WAYS;
        }
        if (seen[way] == f && n > 0) {
            r->bad_frames++;
            r->broken = 1;
            return n;
        }
        if (n < SEEN_WAYS / 2) {
            seen[way] = f;
        }
        /* A frame whose reference count is 0 was freed (it sits in the
         * free list, or as its code's zombie frame): the thread returned
         * past it since the walk began. */
        if (sw_vm_read(&r->vm, f, buf, L->fo_size) < 0 ||
            ptr_at(buf, L->ob_type) != L->type_frame ||
            (intptr_t)ptr_at(buf, L->ob_refcnt) <= 0) {
            r->bad_frames++;
            r->broken = 1;
            return n > 0 ? n : SW_EFAULT;
        }
        lasti = int_at(buf, L->fo_lasti);
        out[n].code = ptr_at(buf, L->fo_code);
        out[n].addr = lasti < 0 ? -1 : lasti * L->lasti_scale;
        out[n].maybe_incomplete = 0;
        out[n].gen = ptr_at(buf, L->fo_gen);
        out[n].frame = f;
        n++;
        f = ptr_at(buf, L->fo_back);
    }
    return n;
}

typedef struct copied {
    uintptr_t lo, hi;
    const char *local;
} copied_t;

/* The local copy of [f, f + len) if a copied range holds all of it.  f
 * may be garbage (a torn read): written so that no f overflows. */
static const char *
find_copied(const copied_t *c, int nc, uintptr_t f, size_t len)
{
    int i;

    for (i = 0; i < nc; i++) {
        uintptr_t size = c[i].hi - c[i].lo;

        if (f >= c[i].lo && size >= len && f - c[i].lo <= size - len) {
            return c[i].local + (f - c[i].lo);
        }
    }
    return NULL;
}

/* The bytes of [chunk, end) to copy, or 0 if end and chunk (read from
 * memory that may be torn) do not make a used chunk of at most cap bytes.
 * Compared without overflow. */
static size_t
chunk_span(const sw_layout_t *L, uintptr_t chunk, uintptr_t end, size_t cap)
{
    if (end <= chunk || end - chunk < L->chunk_data || end - chunk > cap) {
        return 0;
    }
    return end - chunk;
}

/* Accepts local, a copy of [chunk, chunk + len), as a copied range if its
 * header agrees; the chunk before it goes to *previous.  Returns 0 or -1. */
static int
accept_chunk(const sw_layout_t *L, const char *local, uintptr_t chunk,
             size_t len, copied_t *c, uintptr_t *previous)
{
    if (len > ptr_at(local, L->chunk_size)) {
        return -1;
    }
    *previous = ptr_at(local, L->chunk_previous);
    c->lo = chunk;
    c->hi = chunk + len;
    c->local = local;
    return 0;
}

/* Copies the used part of chunk `chunk` (ending at `end`, or at its saved
 * top when end is 0) into the scratch.  Returns the chunk's previous
 * chunk through *previous.  Returns 0 or -1. */
static int
copy_chunk(sw_reader_t *r, uintptr_t chunk, uintptr_t end, copied_t *c,
           size_t *used, uintptr_t *previous)
{
    const sw_layout_t *L = r->L;
    char hdr[64];
    size_t len;

    if (L->chunk_data > sizeof(hdr)) {
        return -1;
    }
    if (end == 0) {
        /* An earlier chunk: its header says where its frames end. */
        if (sw_vm_read(&r->vm, chunk, hdr, L->chunk_data) < 0) {
            return -1;
        }
        end =
            chunk + L->chunk_data + ptr_at(hdr, L->chunk_top) * sizeof(void *);
    }
    len = chunk_span(L, chunk, end, CHUNK_SCRATCH - *used);
    if (len == 0 || sw_vm_read(&r->vm, chunk, r->scratch + *used, len) < 0 ||
        accept_chunk(L, r->scratch + *used, chunk, len, c, previous) < 0) {
        return -1;
    }
    *used += len;
    return 0;
}

void
sw_prefetch_stacks(sw_reader_t *r, sw_thread_t *const *ts, int n)
{
    const sw_layout_t *L = r->L;
    sw_vm_region_t *rg = r->pre_rg;
    char ok[2 * PRE_THREADS];
    int want[PRE_THREADS]; /* per thread: bit 1 frame, bit 2 chunk */
    size_t used = 0;
    int i, k = 0;

    if (n > PRE_THREADS) {
        n = PRE_THREADS;
    }
    for (i = 0; i < n; i++) {
        sw_thread_t *t = ts[i];
        size_t len;

        want[i] = 0;
        t->pre = NULL;
        if (!t->frame_resolved && t->frame_field != 0) {
            rg[k++] = (sw_vm_region_t){t->frame_field + L->cf_current_frame,
                                       &t->frame, sizeof(t->frame)};
            want[i] |= 1;
        }
        len = L->frame_model == SW_FRAMES_INTERP
                  ? chunk_span(L, t->chunk, t->chunk_top, PRE_SCRATCH - used)
                  : 0;
        if (len > 0) {
            rg[k++] = (sw_vm_region_t){t->chunk, r->pre + used, len};
            used += len;
            want[i] |= 2;
        }
    }
    if (k == 0) {
        return;
    }
    sw_vm_readv(&r->vm, rg, k, ok);
    for (i = 0, k = 0; i < n; i++) {
        sw_thread_t *t = ts[i];

        if (want[i] & 1) {
            /* Resolved either way: a failed read means no frame, as in
             * sw_thread_frame(). */
            t->frame_resolved = 1;
            if (!ok[k++]) {
                t->frame = 0;
            }
        }
        if (want[i] & 2) {
            t->pre = ok[k] ? (const char *)rg[k].dst : NULL;
            k++;
        }
    }
}

/* Reads t's data-stack chunk and top again and copies that chunk into
 * *c.  Returns 0 or -1. */
static int
refresh_chunk(sw_reader_t *r, sw_thread_t *t, copied_t *c, size_t *used,
              uintptr_t *previous)
{
    const sw_layout_t *L = r->L;
    uintptr_t chunk = 0, top = 0;
    sw_vm_region_t rg[2] = {
        {t->tstate + L->ts_datastack_chunk, &chunk, sizeof(chunk)},
        {t->tstate + L->ts_datastack_top, &top, sizeof(top)}};
    char ok[2];

    if (!L->ts_datastack_chunk) {
        return -1;
    }
    sw_vm_readv(&r->vm, rg, 2, ok);
    if (!ok[0] || !ok[1] || (chunk == t->chunk && top == t->chunk_top)) {
        return -1;
    }
    return copy_chunk(r, chunk, top, c, used, previous);
}

/* 3.11+: _PyInterpreterFrames linked by previous. */
static int
frames_interp(sw_reader_t *r, sw_thread_t *t, sw_rawframe_t *out, int max,
              int *truncated)
{
    const sw_layout_t *L = r->L;
    copied_t c[MAX_RANGES];
    char buf[HDR_BUF];
    uintptr_t f = sw_thread_frame(r, t), next_chunk = 0;
    size_t used = 0;
    int nc = 0, n = 0, steps = 0, refreshed = 0, owner = 0, entry = 0;
    int failed = 0; /* a chunk of the thread's could not be copied */

    if (t->pre != NULL) {
        nc = accept_chunk(L, t->pre, t->chunk, t->chunk_top - t->chunk, &c[0],
                          &next_chunk) == 0;
        t->pre = NULL; /* the copy is for one walk */
    }
    else if (t->chunk && t->chunk_top > t->chunk &&
             copy_chunk(r, t->chunk, t->chunk_top, &c[0], &used,
                        &next_chunk) == 0) {
        nc = 1;
    }
    while (f != 0) {
        const char *hdr = find_copied(c, nc, f, L->if_size);
        uintptr_t code, instr;
        int outside;

        if (n >= max || ++steps > 2 * SW_MAX_DEPTH) {
            *truncated = 1;
            break;
        }
        if (hdr == NULL && n == 0 && !refreshed) {
            /* The leaf is outside the chunk read with the thread state:
             * the thread called deeper (into a new chunk) since.  Read
             * where its data stack is now, once, rather than every frame
             * on its own. */
            refreshed = 1;
            if (refresh_chunk(r, t, &c[0], &used, &next_chunk) == 0) {
                nc = 1;
                hdr = find_copied(c, nc, f, L->if_size);
            }
        }
        while (hdr == NULL && next_chunk != 0 && nc < MAX_RANGES) {
            /* Callers of a chunk's first frame live in the chunk before. */
            uintptr_t chunk = next_chunk;

            if (copy_chunk(r, chunk, 0, &c[nc], &used, &next_chunk) < 0) {
                next_chunk = 0;
                failed = 1;
                break;
            }
            nc++;
            hdr = find_copied(c, nc, f, L->if_size);
            if (hdr == NULL) {
                break; /* a generator's frame: not in any chunk */
            }
        }
        outside = hdr == NULL;
        if (outside) {
            if (sw_vm_read(&r->vm, f, buf, L->if_size) < 0) {
                r->bad_frames++;
                r->broken = 1;
                return n > 0 ? n : SW_EFAULT;
            }
            hdr = buf;
        }
        owner = (unsigned char)hdr[L->if_owner];
        entry = L->if_is_entry >= 0 && hdr[L->if_is_entry] != 0;
        code = ptr_at(hdr, L->if_code) & ~L->if_code_tag;
        instr = ptr_at(hdr, L->if_instr);
        if (owner > L->owner_max || (outside && nc > 0 && next_chunk == 0 &&
                                     !failed && owner != L->owner_generator &&
                                     !(L->owner_hidden & (1u << owner)))) {
            /* Out of range, or a frame of a thread's own (not a
             * generator's, not the interpreter's on the C stack) outside
             * every chunk of this thread's data stack, all of which were
             * copied: another thread's frame, or one freed, reached
             * through a pointer read while the stack changed.  Following
             * it would put another thread's callers under these frames. */
            r->bad_frames++;
            r->broken = 1;
            return n > 0 ? n : SW_EFAULT;
        }
        if (!(L->owner_hidden & (1u << owner))) {
            intptr_t addr = (intptr_t)(instr - code - L->co_code_adaptive);

            if (code == 0) {
                /* From 3.14 a frame's executable is cleared when it is
                 * popped: the thread returned past this frame since its
                 * thread state was read. */
                r->bad_frames++;
                r->broken = 1;
                return n > 0 ? n : SW_EFAULT;
            }

            out[n].code = code;
            out[n].addr =
                (addr >= -2 && addr < INT32_MAX) ? (int32_t)addr : INT32_MIN;
            out[n].maybe_incomplete = owner != L->owner_generator;
            out[n].gen = owner == L->owner_generator ? f - L->gen_iframe : 0;
            out[n].frame = f;
            n++;
        }
        f = ptr_at(hdr, L->if_previous);
    }
    if (n > 0 && !*truncated &&
        (L->owner_root ? !(L->owner_root & (1u << owner))
                       : !entry || owner == L->owner_generator)) {
        /* A whole stack ends at the thread's root: on 3.12+ the entry
         * frame that the first _PyEval_EvalFrameDefault keeps on the C
         * stack (owner_root), on 3.11 a frame marked is_entry that is not
         * a generator's (3.11 marks every resumed generator's frame
         * is_entry; one whose previous is 0 was read after it yielded,
         * under frames the thread has since left; a thread that runs a
         * generator's __next__ straight from C, with no Python caller,
         * is read as torn).  (Not 3.15's tstate->base_frame: a greenlet's
         * stack does not reach it.)  This one ended elsewhere: at a frame
         * that was still being set up, or one read after the thread had
         * returned and called again. */
        r->bad_frames++;
        r->broken = 1;
    }
    return n;
}

int
sw_own_frames_find(uintptr_t ts, int (*match)(uintptr_t code, void *arg),
                   void *arg)
{
    const sw_layout_t *L = &sw_layout;
    uintptr_t f;
    int steps = 0;

    if (ts == 0) {
        return 0;
    }
    f = *(const uintptr_t *)(ts + L->ts_frame);
    if (L->frame_ref == SW_TSTATE_CFRAME && f != 0) {
        f = *(const uintptr_t *)(f + L->cf_current_frame);
    }
    while (f != 0 && ++steps <= 4 * SW_MAX_DEPTH) {
        const char *fr = (const char *)f;
        uintptr_t code;
        unsigned owner;

        if (L->frame_model == SW_FRAMES_OBJECTS) {
            if (match(ptr_at(fr, L->fo_code), arg)) {
                return 1;
            }
            f = ptr_at(fr, L->fo_back);
            continue;
        }
        code = ptr_at(fr, L->if_code) & ~L->if_code_tag;
        owner = (unsigned char)fr[L->if_owner];
        if (code != 0 && owner <= (unsigned)L->owner_max &&
            !(L->owner_hidden & (1u << owner)) &&
            ptr_at((const char *)code, L->ob_type) == L->type_code &&
            match(code, arg)) {
            return 1;
        }
        f = ptr_at(fr, L->if_previous);
    }
    return 0;
}

int
sw_read_frames(sw_reader_t *r, sw_thread_t *t, sw_rawframe_t *out, int max,
               int *truncated)
{
    *truncated = 0;
    r->broken = 0;
    if (r->L->frame_model == SW_FRAMES_OBJECTS) {
        return frames_objects(r, t, out, max, truncated);
    }
    return frames_interp(r, t, out, max, truncated);
}

/* Appends code point cp to out as UTF-8; returns the new length. */
static size_t
put_utf8(char *out, size_t n, size_t cap, uint32_t cp)
{
    if (cp >= 0xD800 && cp <= 0xDFFF) {
        cp = '?'; /* lone surrogate */
    }
    if (cp < 0x80) {
        if (n + 1 < cap) {
            out[n++] = (char)cp;
        }
    }
    else if (cp < 0x800) {
        if (n + 2 < cap) {
            out[n++] = (char)(0xC0 | (cp >> 6));
            out[n++] = (char)(0x80 | (cp & 63));
        }
    }
    else if (cp < 0x10000) {
        if (n + 3 < cap) {
            out[n++] = (char)(0xE0 | (cp >> 12));
            out[n++] = (char)(0x80 | ((cp >> 6) & 63));
            out[n++] = (char)(0x80 | (cp & 63));
        }
    }
    else if (cp <= 0x10FFFF) {
        if (n + 4 < cap) {
            out[n++] = (char)(0xF0 | (cp >> 18));
            out[n++] = (char)(0x80 | ((cp >> 12) & 63));
            out[n++] = (char)(0x80 | ((cp >> 6) & 63));
            out[n++] = (char)(0x80 | (cp & 63));
        }
    }
    return n;
}

/* Copies a compact str object as UTF-8 into out (cap bytes, always
 * terminated).  Returns 0, or a negative code (out is then "?"). */
static int
read_str(sw_reader_t *r, uintptr_t addr, char *out, size_t cap)
{
    const sw_layout_t *L = r->L;
    char hdr[HDR_BUF];
    uint8_t data[4 * SW_FILE_MAX];
    uint32_t state;
    intptr_t length;
    size_t kind, chars, n = 0, i, off;

    strcpy(out, "?");
    if (sw_vm_read(&r->vm, addr, hdr, L->str_ascii_size) < 0) {
        return SW_EFAULT;
    }
    if (ptr_at(hdr, L->ob_type) != L->type_unicode) {
        return SW_EINVAL;
    }
    memcpy(&state, hdr + L->str_state, sizeof(state));
    memcpy(&length, hdr + L->str_length, sizeof(length));
    kind = (state & L->str_kind_mask) >> L->str_kind_shift;
    if (!(state & L->str_compact_bit) || length < 0 || length > (1 << 24) ||
        (kind != 1 && kind != 2 && kind != 4)) {
        return SW_EINVAL;
    }
    off = (state & L->str_ascii_bit) ? L->str_ascii_size : L->str_compact_size;
    chars = (size_t)length;
    if (chars > cap - 1) {
        chars = cap - 1;
    }
    if (chars * kind > sizeof(data)) {
        chars = sizeof(data) / kind;
    }
    if (sw_vm_read(&r->vm, addr + off, data, chars * kind) < 0) {
        return SW_EFAULT;
    }
    for (i = 0; i < chars; i++) {
        uint32_t cp;

        if (kind == 1) {
            cp = data[i];
        }
        else if (kind == 2) {
            uint16_t u;

            memcpy(&u, data + 2 * i, 2);
            cp = u;
        }
        else {
            memcpy(&cp, data + 4 * i, 4);
        }
        n = put_utf8(out, n, cap, cp);
    }
    out[n] = '\0';
    return 0;
}

int
sw_read_str(sw_reader_t *r, uintptr_t addr, char *out, size_t cap)
{
    return read_str(r, addr, out, cap);
}

int
sw_read_small_int(sw_reader_t *r, uintptr_t addr, long *out)
{
    const sw_layout_t *L = r->L;
    char hdr[64];
    size_t len = L->long_digit0 + 4;
    uint64_t tag;
    uint32_t digit;

    if (len > sizeof(hdr) || sw_vm_read(&r->vm, addr, hdr, len) < 0) {
        return SW_EFAULT;
    }
    if (ptr_at(hdr, L->ob_type) != L->type_long) {
        return SW_EINVAL;
    }
    memcpy(&tag, hdr + L->long_tag, sizeof(tag));
    memcpy(&digit, hdr + L->long_digit0, sizeof(digit));
    /* Positive with one digit; 3.12+ keeps the sign in the tag's low
     * bits (0 for positive). */
    if ((tag >> L->long_tag_shift) != 1 ||
        (L->long_tag_shift && (tag & 3) != 0) || digit >= (1u << 30)) {
        return SW_EINVAL;
    }
    *out = (long)digit;
    return 0;
}

#define DICT_MAX_ENTRIES 64

int
sw_read_dict_values(sw_reader_t *r, uintptr_t addr, uintptr_t *out, int max)
{
    const sw_layout_t *L = r->L;
    char hdr[HDR_BUF];
    char keys[64];
    char entries[DICT_MAX_ENTRIES * 32];
    uintptr_t k;
    intptr_t used, nentries;
    size_t index_bytes, esize, evalue, klen = L->dk_indices;
    int i, n = 0;

    if (sw_vm_read(&r->vm, addr, hdr, L->dict_values + sizeof(void *)) < 0) {
        return SW_EFAULT;
    }
    if (ptr_at(hdr, L->ob_type) != L->type_dict ||
        ptr_at(hdr, L->dict_values) != 0) {
        return SW_EINVAL;
    }
    memcpy(&used, hdr + L->dict_used, sizeof(used));
    k = ptr_at(hdr, L->dict_keys);
    if (used < 0 || used > DICT_MAX_ENTRIES || klen > sizeof(keys) ||
        sw_vm_read(&r->vm, k, keys, klen) < 0) {
        return used == 0 ? 0 : SW_EINVAL;
    }
    memcpy(&nentries, keys + L->dk_nentries, sizeof(nentries));
    esize = L->dk_entry_size;
    evalue = L->dk_entry_value;
    if (L->dk_size != 0) {
        intptr_t size;

        memcpy(&size, keys + L->dk_size, sizeof(size));
        if (size <= 0 || size > (1 << 20)) {
            return SW_EINVAL;
        }
        index_bytes = (size_t)size * (size <= 0xff     ? 1
                                      : size <= 0xffff ? 2
                                                       : 4);
    }
    else {
        uint8_t log2 = (uint8_t)keys[L->dk_log2_index_bytes];

        if (log2 > 24) {
            return SW_EINVAL;
        }
        index_bytes = (size_t)1 << log2;
        if ((unsigned char)keys[L->dk_kind] != L->dk_kind_general) {
            esize = L->dk_uentry_size;
            evalue = L->dk_uentry_value;
        }
    }
    if (nentries < 0 || nentries > DICT_MAX_ENTRIES || nentries < used ||
        esize * (size_t)nentries > sizeof(entries)) {
        return SW_EINVAL;
    }
    if (nentries == 0) {
        return 0;
    }
    if (sw_vm_read(&r->vm, k + klen + index_bytes, entries,
                   esize * (size_t)nentries) < 0) {
        return SW_EFAULT;
    }
    for (i = 0; i < nentries && n < max; i++) {
        uintptr_t v = ptr_at(entries + (size_t)i * esize, evalue);

        if (v != 0) {
            out[n++] = v;
        }
    }
    return n;
}

/* The fields of a code header, copied in hdr, that identify the code
 * object.  Returns 0, or SW_EINVAL if it is not a code object. */
static int
ident_from(const sw_layout_t *L, const char *hdr, uintptr_t addr,
           sw_code_ident_t *c)
{
    if (ptr_at(hdr, L->ob_type) != L->type_code) {
        return SW_EINVAL;
    }
    c->addr = addr;
    c->name_obj = ptr_at(hdr, L->co_qualname ? L->co_qualname : L->co_name);
    c->file_obj = ptr_at(hdr, L->co_filename);
    c->table_obj = ptr_at(hdr, L->co_linetable);
    c->firstlineno = int_at(hdr, L->co_firstlineno);
    c->version = 0;
    if (L->co_version) {
        memcpy(&c->version, hdr + L->co_version, sizeof(c->version));
    }
    return 0;
}

static int
code_header(sw_reader_t *r, uintptr_t addr, char *hdr, sw_code_ident_t *c)
{
    if (sw_vm_read(&r->vm, addr, hdr, r->L->co_size) < 0) {
        return SW_EFAULT;
    }
    return ident_from(r->L, hdr, addr, c);
}

/* Reads a bytes object's size (and, if dst, its first cap bytes). */
static int
read_bytes(sw_reader_t *r, uintptr_t addr, uint8_t *dst, size_t cap,
           size_t *len)
{
    const sw_layout_t *L = r->L;
    char hdr[HDR_BUF];
    intptr_t size;

    if (sw_vm_read(&r->vm, addr, hdr, L->bytes_sval) < 0) {
        return SW_EFAULT;
    }
    memcpy(&size, hdr + L->ob_size, sizeof(size));
    if (ptr_at(hdr, L->ob_type) != L->type_bytes || size < 0 ||
        size > (1 << 28)) {
        return SW_EINVAL;
    }
    *len = (size_t)size;
    if (dst != NULL) {
        if (*len > cap) {
            return SW_EFULL;
        }
        return sw_vm_read(&r->vm, addr + L->bytes_sval, dst, *len);
    }
    return 0;
}

int
sw_read_code(sw_reader_t *r, uintptr_t addr, sw_code_t *c)
{
    const sw_layout_t *L = r->L;
    char hdr[HDR_BUF];
    size_t len;
    int rc;

    rc = code_header(r, addr, hdr, &c->id);
    if (rc < 0) {
        return rc;
    }
    if (L->co_code_adaptive) {
        intptr_t units;

        memcpy(&units, hdr + L->co_ob_size, sizeof(units));
        if (units <= 0 || units > (1 << 26)) {
            return SW_EINVAL;
        }
        c->id.code_bytes = (int32_t)(units * 2);
        c->id.firsttraceable = int_at(hdr, L->co_firsttraceable) * 2;
    }
    else {
        rc = read_bytes(r, ptr_at(hdr, L->co_code), NULL, 0, &len);
        if (rc < 0) {
            return rc;
        }
        c->id.code_bytes = (int32_t)len;
        c->id.firsttraceable = 0;
    }
    if (read_str(r, c->id.name_obj, c->name, sizeof(c->name)) < 0 ||
        read_str(r, c->id.file_obj, c->file, sizeof(c->file)) < 0) {
        return SW_EINVAL;
    }
    c->table = (uint8_t *)r->scratch + CHUNK_SCRATCH;
    if (read_bytes(r, c->id.table_obj, c->table, SW_LINETABLE_MAX, &len) < 0) {
        c->table = NULL;
        len = 0; /* lines unknown; names still good */
    }
    c->table_len = (uint32_t)len;
    return 0;
}

void
sw_codes_unchanged(sw_reader_t *r, const sw_code_ident_t *const *ids, int n,
                   char *same)
{
    sw_vm_region_t rg[SW_CHECK_BATCH] = {{0}};
    char ok[SW_CHECK_BATCH];
    char *hdrs = r->scratch + CHUNK_SCRATCH + SW_LINETABLE_MAX;
    size_t len = r->L->co_size;
    int i;

    if (n > SW_CHECK_BATCH) {
        n = SW_CHECK_BATCH;
    }
    for (i = 0; i < n; i++) {
        rg[i] = (sw_vm_region_t){ids[i]->addr, hdrs + (size_t)i * len, len};
    }
    sw_vm_readv(&r->vm, rg, n, ok);
    for (i = 0; i < n; i++) {
        const sw_code_ident_t *c = ids[i];
        sw_code_ident_t now;

        same[i] =
            ok[i] &&
            ident_from(r->L, hdrs + (size_t)i * len, c->addr, &now) == 0 &&
            now.name_obj == c->name_obj && now.file_obj == c->file_obj &&
            now.table_obj == c->table_obj &&
            now.firstlineno == c->firstlineno && now.version == c->version;
    }
}

int
sw_code_line(int firstlineno, const uint8_t *table, uint32_t table_len,
             int32_t addr)
{
    return sw_line_for(sw_layout.line_format, table, table_len, firstlineno,
                       addr);
}

/* ---- kernel thread ids for 3.9/3.10 ---------------------------------- */

typedef struct probe_arg {
    unsigned long self;
    long tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready, done;
} probe_arg_t;

static void *
probe_thread(void *p)
{
    probe_arg_t *a = p;

    pthread_mutex_lock(&a->mu);
    a->self = (unsigned long)pthread_self();
    a->tid = (long)syscall(SYS_gettid);
    a->ready = 1;
    pthread_cond_broadcast(&a->cv);
    while (!a->done) {
        pthread_cond_wait(&a->cv, &a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

static int
tid_at(sw_vm_t *vm, unsigned long ident, size_t off, long want)
{
    int v;

    return sw_vm_read(vm, ident + off, &v, sizeof(v)) == 0 && v == want;
}

int
sw_tid_offset_probe(void)
{
    return sw_tid_offset_probe_for(&sw_layout);
}

int
sw_tid_offset_probe_for(const sw_layout_t *L)
{
    probe_arg_t a;
    pthread_t th;
    sw_vm_t vm;
    unsigned long self = (unsigned long)pthread_self();
    long tid = (long)syscall(SYS_gettid);
    size_t off, found = 0;

    if (L->ts_native_thread_id || tid_offset) {
        return 0;
    }
    if (sw_vm_open(&vm) < 0) {
        return -1;
    }
    memset(&a, 0, sizeof(a));
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.cv, NULL);
    if (pthread_create(&th, NULL, probe_thread, &a) != 0) {
        sw_vm_close(&vm);
        return -1;
    }
    pthread_mutex_lock(&a.mu);
    while (!a.ready) {
        pthread_cond_wait(&a.cv, &a.mu);
    }
    for (off = 0; off < 4096 && !found; off += sizeof(int)) {
        if (tid_at(&vm, self, off, tid) && tid_at(&vm, a.self, off, a.tid)) {
            found = off;
        }
    }
    a.done = 1;
    pthread_cond_broadcast(&a.cv);
    pthread_mutex_unlock(&a.mu);
    pthread_join(th, NULL);
    pthread_mutex_destroy(&a.mu);
    pthread_cond_destroy(&a.cv);
    sw_vm_close(&vm);
    tid_offset = found;
    return found ? 0 : -1;
}

long
sw_read_tid(sw_reader_t *r, const sw_thread_t *t)
{
    int v;

    if (t->tid) {
        return t->tid;
    }
    if (tid_offset == 0 || t->ident == 0 ||
        sw_vm_read(&r->vm, t->ident + tid_offset, &v, sizeof(v)) < 0 ||
        v <= 0) {
        return 0;
    }
    return v;
}
