/* Profile sessions: interned strings, frames, a tree of stacks and
 * aggregated samples, with fixed caps on every table.
 *
 * A stack is a node of a prefix tree (node 0 is the root; a node is
 * (parent, frame)), so a sample is three small integers and a stack seen
 * a million times costs one table entry.  A sample key is (thread slot,
 * greenlet id, leaf node); its value counts samples, wall and CPU
 * nanoseconds and samples taken while the thread held the GIL.
 *
 * Tables grow by doubling up to the session's limits; past a limit the
 * sample is counted as dropped, never stored partially.  Writers read the
 * arrays below directly.
 *
 * A session is filled by one thread at a time (the sampler) under its
 * mutex; readers (export, writers) take the same mutex.  Lock order: the
 * code cache before a session.
 *
 * Pure C; no Python.h. */
#ifndef SW_STACKS_H
#define SW_STACKS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define SW_THREAD_NAME_MAX 64
#define SW_MAX_SESSION_THREADS 4095 /* slot 0 is "other threads" */
#define SW_MAX_GREENLET_ID 0xFFFFFu /* greenlet ids fit in 20 bits */

/* What line a frame is keyed by (and shows): the line running (one box
 * per line, the default), the function's first line (--function: the
 * lines of one function merge), or none (--nolineno: the same, and
 * labels show no line number). */
enum sw_lines {
    SW_LINES_CURRENT = 0,
    SW_LINES_FUNCTION = 1,
    SW_LINES_NONE = 2,
};

typedef struct sw_limits {
    uint32_t max_frames;  /* distinct (function, file, line) */
    uint32_t max_nodes;   /* stack tree nodes */
    uint32_t max_samples; /* distinct (thread, greenlet, stack) */
    uint32_t max_string_bytes;
} sw_limits_t;

typedef struct sw_sframe {
    uint32_t name; /* string offsets */
    uint32_t file;
    int32_t line;  /* -1 if unknown */
    int32_t first; /* its function's first line (co_firstlineno), 0 if
                      unknown (markers, frames named without one) */
} sw_sframe_t;

typedef struct sw_snode {
    uint32_t parent; /* 0: child of the root */
    uint32_t frame;
} sw_snode_t;

typedef struct sw_ssample {
    uint32_t thread;   /* thread slot */
    uint32_t greenlet; /* greenlet id, 0 if none */
    uint32_t node;     /* leaf of the stack */
    uint32_t gil;      /* samples taken while the thread held the GIL */
    uint64_t count;
    uint64_t wall_ns;
    uint64_t cpu_ns;
} sw_ssample_t;

typedef struct sw_sthread {
    uint64_t tstate_id;
    unsigned long ident; /* threading.get_ident() */
    long tid;            /* kernel thread id, 0 if unknown */
    int64_t interp_id;
    uint32_t name; /* string offset, 0 if not named yet */
    uint64_t samples;
    /* Sampler state, to reuse the last stack of a thread that did not
     * run since the previous pass. */
    uintptr_t last_frame;
    uint64_t last_cpu_ns;
    uint32_t last_node;
    uint32_t last_greenlet;
    int have_cpu;
    int have_last;
} sw_sthread_t;

typedef struct sw_idmap {
    uint64_t *keys;
    uint32_t *vals; /* 0: empty slot */
    uint32_t mask;
    uint32_t count;
} sw_idmap_t;

typedef struct sw_session {
    pthread_mutex_t mu;
    sw_limits_t lim;

    char *strings; /* offset 0 is "" */
    uint32_t strings_used, strings_cap;
    sw_idmap_t string_ids; /* hash -> offset, verified by content */

    sw_sframe_t *frames; /* frames[0] unused */
    uint32_t nframes, frames_cap;
    sw_idmap_t frame_by_code; /* (code serial, line) -> frame */
    sw_idmap_t frame_by_name; /* hash(name, file, line) -> frame */

    sw_snode_t *nodes; /* nodes[0] is the root */
    uint32_t nnodes, nodes_cap;
    sw_idmap_t node_ids;

    sw_ssample_t *samples; /* samples[0] unused */
    uint32_t nsamples, samples_cap;
    sw_idmap_t sample_ids;

    sw_sthread_t *threads; /* threads[0] is "other threads" */
    uint32_t nthreads, threads_cap;
    sw_idmap_t thread_ids;

    uint32_t *greenlet_labels;    /* id -> string offset, grown on demand */
    uint32_t *greenlet_groups;    /* id -> group label offset, 0: none */
    uint32_t greenlet_labels_cap; /* of both arrays */
    int lines;                    /* enum sw_lines, fixed at creation */

    /* Statistics, written by the sampler under mu. */
    uint64_t passes;
    uint64_t samples_taken;
    uint64_t samples_dropped;
    uint64_t reused;
    uint64_t read_errors;  /* reads that failed cleanly (EFAULT) */
    uint64_t bad_frames;   /* frames dropped by validation */
    uint64_t bad_threads;  /* thread states that did not validate */
    uint64_t ticks_missed; /* ticks of the rate with no pass: the sampler
                              could not run then nor make them up */
    uint64_t rereads;      /* torn stacks read again in the same pass */
    uint64_t sampler_cpu_ns;
    uint64_t start_ns, stop_ns; /* monotonic: first start, last stop */
    uint64_t run_ns;            /* start of the current run, 0 if stopped */
    uint64_t sampled_ns;        /* sum of the finished runs' lengths */
    double start_unix;          /* wall clock at start */
    uint64_t labels_dropped;    /* thread names / greenlet labels refused:
                                   the string table was full */
    int error;                  /* sticky SW_E* of the sampler thread, 0 */
    char error_msg[128];        /* its message ("" when error is 0) */
} sw_session_t;

/* Creates a session with the given limits (zeros take defaults).
 * Context: any.  Returns NULL when out of memory. */
sw_session_t *sw_session_new(const sw_limits_t *lim);

/* Frees a session (NULL is allowed).  Context: any; the caller ensures
 * nobody else uses it (the sampler stopped).  No errors. */
void sw_session_free(sw_session_t *s);

/* Interns a string (copied).  Context: caller holds s->mu.
 * Returns its offset (> 0), or 0 when the string table is full (at
 * max_string_bytes) or could not grow (out of memory); nothing is
 * stored then. */
uint32_t sw_session_string(sw_session_t *s, const char *str);

/* The string at offset off ("" for 0).  Context: caller holds s->mu. */
static inline const char *
sw_session_str(const sw_session_t *s, uint32_t off)
{
    return s->strings + off;
}

/* The frame for (code serial, line), created from name, file and first
 * (the code object's co_firstlineno, 0 if unknown) on first use; a frame
 * (name, file, line) that was created without its first line gets it
 * here.  Context: caller holds s->mu.
 * Returns the frame id (> 0), or 0 when the frame or string table is
 * full or could not grow (out of memory). */
uint32_t sw_session_frame(sw_session_t *s, uint64_t code_serial, int line,
                          int first, const char *name, const char *file);

/* The line a frame of a code object starting at firstline, running
 * line, is keyed by under the session's s->lines (-1: none).
 * Context: any.  Pure. */
static inline int
sw_session_line(const sw_session_t *s, int firstline, int line)
{
    switch (s->lines) {
    case SW_LINES_FUNCTION:
        return firstline > 0 ? firstline : line;
    case SW_LINES_NONE:
        return -1;
    default:
        return line;
    }
}

/* The frame for a name with no code object (markers such as
 * "[truncated]").  Context: caller holds s->mu.  Returns as
 * sw_session_frame(). */
uint32_t sw_session_marker(sw_session_t *s, const char *name);

/* The frame for (name, file, line) with no code object at hand (the
 * frames of a waiting asyncio task, named by the GIL side; a frame read
 * back from a forked child's profile), its function's first line first
 * (0 if unknown); the same id as sw_session_frame() gives for the same
 * three.  Context: caller holds s->mu.  Returns as sw_session_frame(). */
uint32_t sw_session_frame_named(sw_session_t *s, const char *name,
                                const char *file, int line, int first);

/* The leaf node of the stack frames[0..n), given leaf first.
 * Context: caller holds s->mu.
 * Returns the node id (> 0), or 0 if the stack is empty or the node
 * table is full or could not grow (out of memory); nodes already added
 * for the outer frames stay (they are valid prefixes). */
uint32_t sw_session_stack(sw_session_t *s, const uint32_t *frames, int n);

/* The slot of a thread, created on first sight (*created set to 1).
 * Context: caller holds s->mu.
 * Returns the slot; 0, the slot shared by "other threads", for threads
 * beyond SW_MAX_SESSION_THREADS and when the thread table could not grow
 * (out of memory).  Never fails otherwise. */
uint32_t sw_session_thread(sw_session_t *s, uint64_t tstate_id,
                           unsigned long ident, long tid, int64_t interp_id,
                           int *created);

/* Adds one sample.  Context: caller holds s->mu.
 * Returns 0, SW_EINVAL (node or thread out of range: nothing counted), or
 * SW_EFULL (the sample table is full at max_samples or could not grow
 * for lack of memory: counted in samples_dropped, never stored
 * partially).  Greenlet ids above SW_MAX_GREENLET_ID count as 0. */
int sw_session_add(sw_session_t *s, uint32_t thread, uint32_t greenlet,
                   uint32_t node, uint64_t wall_ns, uint64_t cpu_ns, int gil);

/* Adds `count` samples at once, with their summed times and the number
 * of them taken while the thread held the GIL (a profile handed over by
 * a forked child, merged into its parent's).  Context: caller holds
 * s->mu.  Returns as sw_session_add(); a count of 0 adds nothing and
 * returns SW_EINVAL. */
int sw_session_add_n(sw_session_t *s, uint32_t thread, uint32_t greenlet,
                     uint32_t node, uint64_t count, uint64_t wall_ns,
                     uint64_t cpu_ns, uint64_t gil_count);

/* Names a thread slot / labels a greenlet id (copied).
 * Context: caller holds s->mu.
 * Returns 0; SW_EINVAL (no such slot; a greenlet id of 0 or above
 * SW_MAX_GREENLET_ID); SW_ENOMEM (label_greenlet: the label table could
 * not grow); SW_EFULL (the string table is full: the name is dropped and
 * counted in s->labels_dropped, which stats() shows, so a caller may
 * ignore it). */
int sw_session_name_thread(sw_session_t *s, uint32_t slot, const char *name);
int sw_session_label_greenlet(sw_session_t *s, uint32_t id, const char *label);

/* Notes that greenlet id appeared in a sample.  Returns 1 the first time
 * (the caller then asks the GIL side for a label while the greenlet
 * lives), 0 afterwards, and 0 for ids it cannot note (0, above
 * SW_MAX_GREENLET_ID, or the label table could not grow).
 * Context: caller holds s->mu. */
int sw_session_greenlet_seen(sw_session_t *s, uint32_t id);

/* The label of a greenlet id, or NULL.  Context: caller holds s->mu. */
const char *sw_session_greenlet_label(const sw_session_t *s, uint32_t id);

/* Sets the group label of a greenlet id (copied): greenlets with the same
 * group label are one group when the writers group greenlets ("greenlets
 * running handle (x50)"; see _greenlets.py for the naming rules).
 * Context: caller holds s->mu.  Returns as sw_session_label_greenlet(). */
int sw_session_group_greenlet(sw_session_t *s, uint32_t id, const char *group);

/* The offset of the group label of a greenlet id in the string table, 0
 * if it has none.  Context: caller holds s->mu. */
uint32_t sw_session_greenlet_group(const sw_session_t *s, uint32_t id);

/* ---- tree walks over interned stacks ---------------------------------
 * A stack is a node id; nodes[node].parent leads to the root (node 0).
 * Context of all three: caller holds s->mu (or owns s alone).  Pure C,
 * no allocation, no errors. */

/* Writes the frame ids of the stack ending at node into out[0..max),
 * root first.  Returns the number written (the outermost max frames when
 * the stack is deeper than max). */
int sw_stack_frames(const sw_session_t *s, uint32_t node, uint32_t *out,
                    int max);

/* The number of frames of the stack ending at node (0 for node 0). */
uint32_t sw_stack_depth(const sw_session_t *s, uint32_t node);

/* The outermost node of the stack ending at node (its first frame); 0 for
 * node 0. */
uint32_t sw_stack_root(const sw_session_t *s, uint32_t node);

/* Re-initializes the session's mutex in a forked child (the parent's
 * sampler may have held it at fork time).  Context: the child after
 * fork, before any other use.  No errors. */
void sw_session_atfork_child(sw_session_t *s);

#endif
