/* The GIL-free reader: every interpreter's thread list, each thread's
 * frame chain, code objects and their strings, and the GIL holder, read
 * through sw_vm_read() and validated, without the Python API.
 *
 * Every function here may run on a thread that has no Python thread state
 * and does not hold the GIL (sampler, watchdog, dump thread), while other
 * threads start, exit, call and return.  What is read can be stale or torn;
 * nothing read is trusted until checked: object types against the type
 * objects of this process, sizes and lengths against bounds, depth against
 * a cap, instruction offsets against the code size (by the caller, which
 * knows the code).
 *
 * Does not include Python.h. */
#ifndef SW_COMPAT_READER_H
#define SW_COMPAT_READER_H

#include <stddef.h>
#include <stdint.h>

#include "compat/layout.h"
#include "compat/vmread.h"

#define SW_MAX_THREADS 4096 /* per pass, all interpreters together */
#define SW_MAX_DEPTH 2048   /* frames per stack */
#define SW_NAME_MAX 256     /* bytes of UTF-8 kept of a function name */
#define SW_FILE_MAX 1024    /* bytes of UTF-8 kept of a file name */
#define SW_LINETABLE_MAX (256u * 1024u)

/* One thread, as read in one pass. */
typedef struct sw_thread {
    uintptr_t tstate;
    uintptr_t interp;
    uint64_t id;         /* PyThreadState.id: never reused */
    unsigned long ident; /* pthread_t, = threading.get_ident() */
    long tid;            /* kernel thread id, 0 if unknown */
    int64_t interp_id;
    int holds_gil;
    uintptr_t frame_field; /* the thread state's frame (or cframe) field */
    uintptr_t frame;       /* current frame, once resolved (0: none) */
    int frame_resolved;    /* see sw_thread_frame() */
    uintptr_t chunk;       /* data-stack chunk and top (3.11+) */
    uintptr_t chunk_top;
    const char *pre; /* this pass's copy of [chunk, chunk_top) made by
                        sw_prefetch_stacks(), or NULL */
} sw_thread_t;

/* One frame of a stack, leaf first, before code resolution. */
typedef struct sw_rawframe {
    uintptr_t code; /* the code object (unvalidated) */
    int32_t addr;   /* byte offset of the instruction; negative if the
                       frame has not started or it is unknown (3.11+:
                       INT32_MIN when out of range) */
    uint8_t maybe_incomplete; /* 3.11+: not owned by a generator */
    uintptr_t gen;   /* the generator or coroutine running this frame, 0 if
                      none (unvalidated: compared, never dereferenced) */
    uintptr_t frame; /* the frame's address (a _PyInterpreterFrame, or a
                        PyFrameObject on 3.9/3.10): its locals */
} sw_rawframe_t;

/* What identifies a code object at an address, and its bytecode bounds. */
typedef struct sw_code_ident {
    uintptr_t addr;
    uint32_t version; /* co_version on 3.12+, else 0 */
    uintptr_t name_obj;
    uintptr_t file_obj;
    uintptr_t table_obj;
    int firstlineno;
    int32_t code_bytes;     /* bytecode size in bytes */
    int32_t firsttraceable; /* bytes; 0 before 3.11 */
} sw_code_ident_t;

/* A code object, validated, with its strings and line table. */
typedef struct sw_code {
    sw_code_ident_t id;
    char name[SW_NAME_MAX]; /* qualname on 3.11+, else name */
    char file[SW_FILE_MAX];
    uint8_t *table; /* the line table, in the reader's scratch */
    uint32_t table_len;
} sw_code_t;

#define SW_GIL_CACHE 8

typedef struct sw_reader {
    sw_vm_t vm;
    const sw_layout_t *L; /* the layout of the interpreter read */
    int remote;           /* reads another process (sw_reader_open_for) */
    /* interpreter -> its GIL struct, remembered between passes so that an
     * interpreter's fields and its GIL state come in one read. */
    uintptr_t gil_interp[SW_GIL_CACHE];
    uintptr_t gil_ptr[SW_GIL_CACHE];
    /* The thread states of the last pass, in list order: read together,
     * in one system call, before the list is walked again. */
    uintptr_t *known_ts;
    int nknown;
    char *scratch; /* data-stack chunk copies and line tables */
    size_t scratch_cap;
    char *pre;              /* sw_prefetch_stacks()'s copies */
    sw_vm_region_t *pre_rg; /* and its read's regions */
    uint64_t bad_frames;    /* frames dropped by validation */
    uint64_t bad_threads;   /* thread states that did not validate */
    /* The last sw_read_frames() met a frame it could not read or
     * validate: what it returned is the leaf side only. */
    int broken;
} sw_reader_t;

/* ---- opening ------------------------------------------------------------ */

/* Opens a reader for the calling thread: a vm context and about 2 MB
 * of scratch.  sw_vm_select() and sw_layout_init() must have succeeded.
 * Context: any thread, no GIL needed; allocates (never call from a signal
 * handler).  Returns 0; SW_EINVAL if the layout's objects exceed the
 * reader's header buffer; SW_ESYS (errno set) from sw_vm_open(), e.g. no
 * read method selected; SW_ENOMEM.  A failed open holds nothing. */
int sw_reader_open(sw_reader_t *r);

/* Opens a reader of the interpreter whose layout is L, in process pid
 * (0: this process, as sw_reader_open(); else another process, read with
 * process_vm_readv on its pid, L being the table compat/target.c made
 * for it, which must outlive the reader).  Returns as sw_reader_open().
 * Object types are checked against L's addresses, so a reader of another
 * process never takes an object of ours for one of its own. */
int sw_reader_open_for(sw_reader_t *r, const sw_layout_t *L, int pid);

/* Releases what sw_reader_open() took; idempotent.  Only for a reader
 * that opened: a zeroed one (or one whose open failed with SW_EINVAL)
 * has pipe fds 0 and closing it would close stdin. */
void sw_reader_close(sw_reader_t *r);

/* ---- threads and frames ------------------------------------------------- */

/* Reads every thread of every interpreter into out[0..max): one read for
 * the runtime, one per interpreter, one per thread state (the thread
 * states of the last pass are read ahead in one system call).
 * Context: the reader's thread; no GIL needed; no allocation.
 * Returns the number of threads read, 0..max (a torn list or an
 * unreadable interpreter ends early, counted in bad_threads),
 * SW_EFINALIZING once the runtime is finalizing, or SW_EFAULT if the
 * runtime's fields are unreadable. */
int sw_read_threads(sw_reader_t *r, sw_thread_t *out, int max);

/* The current frame of t (3.11 and 3.12 keep it behind a _PyCFrame: it
 * is read on first use, so threads that are not walked cost no read).
 * Context: the reader's thread; no GIL needed.
 * Returns 0 if the thread runs no Python code or the read failed. */
uintptr_t sw_thread_frame(sw_reader_t *r, sw_thread_t *t);

/* Reads ahead, for threads ts[0..n) that are about to be walked, each
 * one's current frame (3.11 and 3.12: behind its _PyCFrame) and the used
 * part of its current data-stack chunk (3.11+): one vectored read for all
 * of them instead of two reads per thread.  A thread that does not fit
 * the buffer (or comes after the first 256), or whose read failed, is
 * read by sw_read_frames() as before.  The copies stay valid until the
 * next call.  No errors, no allocation.  Context: no GIL needed; the
 * same thread as the walks. */
void sw_prefetch_stacks(sw_reader_t *r, sw_thread_t *const *ts, int n);

/* Reads thread state t again (its current frame and data stack), for a
 * second walk after one that met its stack changing (r->broken): the
 * copy read ahead by sw_prefetch_stacks() is dropped.  holds_gil keeps
 * the value read with the thread list.  Context: the reader's thread; no
 * GIL needed; no allocation.  Returns 0, or -1 (t unchanged) if the
 * state is unreadable or no longer the same thread's. */
int sw_reread_thread(sw_reader_t *r, sw_thread_t *t);

/* Reads the frame chain of thread t, leaf first, into out[0..max), skipping
 * C-stack entry frames.  *truncated is set when the chain was longer.
 * Context: the reader's thread; no GIL needed; no allocation.
 * Returns the number of frames (0 for an idle thread).  A chain that
 * became unreadable or invalid midway, or (3.11+) did not end at the
 * thread's entry frame, still returns the frames read before that, > 0,
 * with r->broken set (a dump shows them; a profile drops them, since a
 * stack without its root side would count as a stack of its own).  Only
 * when the leaf frame itself is unreadable or invalid: SW_EFAULT, with
 * r->broken set. */
int sw_read_frames(sw_reader_t *r, sw_thread_t *t, sw_rawframe_t *out, int max,
                   int *truncated);

/* Calls match(code, arg) for the code object of each of the calling
 * thread's own frames, leaf first, until it returns nonzero; ts is the
 * calling thread's own thread state.  Read in place, without the safe
 * read: a thread's frames are changed only by that thread, which is here
 * (tracemalloc walks them the same way from its allocator hooks).
 * Frames of the interpreter's own (entry, shim) are skipped.
 * Context: the thread that owns ts, GIL held or not.  No allocation.
 * Returns 1 when match returned nonzero, else 0 (no frames included). */
int sw_own_frames_find(uintptr_t ts, int (*match)(uintptr_t code, void *arg),
                       void *arg);

/* ---- code objects ------------------------------------------------------- */

/* Reads and validates the code object at addr, with its name, file name
 * and line table (which points into the reader's scratch until the next
 * call).  Context: the reader's thread; no GIL needed.
 * Returns 0; SW_EFAULT if its header (3.9/3.10: or its co_code's) is
 * unreadable; SW_EINVAL if addr is not a code object, its size is out of
 * bounds, or its name or file name is not a readable str.  A line table
 * that cannot be read is no error: table NULL, table_len 0. */
int sw_read_code(sw_reader_t *r, uintptr_t addr, sw_code_t *out);

/* Re-checks code objects read earlier (same type, strings, line table,
 * first line and version) with one vectored read for all of them:
 * same[i] is 1 if ids[i] still describes the object at its address, 0 if
 * not or unreadable.  Only the first SW_CHECK_BATCH of n are checked (and
 * written).  Context: the reader's thread; no GIL needed.  Uses a part of
 * the scratch that sw_read_code()'s line table does not. */
#define SW_CHECK_BATCH 64
void sw_codes_unchanged(sw_reader_t *r, const sw_code_ident_t *const *ids,
                        int n, char *same);

/* The line of the instruction at byte offset addr, given the code's
 * first line and line table, or -1 (see sw_line_for()), for a code object
 * of this process (a reader of another one: sw_line_for() with its
 * layout's line_format).  Pure; any thread, no GIL. */
int sw_code_line(int firstlineno, const uint8_t *table, uint32_t table_len,
                 int32_t addr);

/* ---- objects: strings, small ints, dict values ------------------------ */

/* Copies the str object at addr as UTF-8 into out (cap bytes, always
 * terminated; "?" on failure).  Context: the reader's thread; no GIL
 * needed.  Returns 0; SW_EFAULT (unreadable); SW_EINVAL (not a compact
 * str). */
int sw_read_str(sw_reader_t *r, uintptr_t addr, char *out, size_t cap);

/* Reads the int object at addr into *out if it is an exact int of at
 * most one digit (0 .. 2**30 - 1).  Context: as sw_read_str.  Returns
 * 0; SW_EFAULT; SW_EINVAL (not an exact int, negative or too big). */
int sw_read_small_int(sw_reader_t *r, uintptr_t addr, long *out);

/* Reads the values of the exact dict at addr (a combined table, at most
 * 64 entries in use) into out[0..max), in insertion order, skipping
 * deleted entries.  The values are unvalidated addresses.  Context: as
 * sw_read_str; no allocation.  Returns the number of values, SW_EFAULT
 * (unreadable), or SW_EINVAL (not a dict, a split table, or sizes out of
 * bounds: read while it changed). */
int sw_read_dict_values(sw_reader_t *r, uintptr_t addr, uintptr_t *out,
                        int max);

/* ---- kernel thread ids (3.9/3.10) --------------------------------------- */

/* The kernel thread id of t: t->tid on 3.11+, else read through the
 * offset learned by sw_tid_offset_probe().  Context: the reader's
 * thread; no GIL needed.  Returns 0 if unknown or unreadable. */
long sw_read_tid(sw_reader_t *r, const sw_thread_t *t);

/* Learns where the C library keeps the kernel thread id inside a pthread_t
 * (3.9/3.10 thread states have no native id), by finding the calling
 * thread's TID in its own descriptor and confirming the offset with a
 * short-lived second thread.  Context: module init, once, after
 * sw_vm_select() and sw_layout_init() (it sets a plain static that
 * readers use without a lock); starts and joins a thread; not a signal
 * handler.  Returns 0 (offset learned or not needed) or -1 (no vm
 * context, no thread, or not found: tids stay unknown). */
int sw_tid_offset_probe(void);

/* The same for reading an interpreter of layout L (the outside reader's
 * target, 3.9/3.10, whose thread states have no kernel id while this
 * one's may): learns the offset if L needs it and it is not known yet;
 * ids read through it are checked against the target's tasks.  Context:
 * GIL held (no reader of this process may read the static meanwhile: the
 * sampler only reads it when this process is 3.9/3.10, when module init
 * learned it already). */
int sw_tid_offset_probe_for(const sw_layout_t *L);

#endif
