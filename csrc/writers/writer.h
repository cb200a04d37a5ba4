/* Writers: one interface, one file per output format.
 *
 * Every writer turns a profile session into a complete document in a
 * buffer (see buf.h for why in memory).  They share the helpers below for
 * what every format needs: labels of threads, greenlets and frames, the
 * split of samples into groups (by thread and/or greenlet), and the
 * weight of a sample.  Walks over the stack tree (frames of a stack root
 * first, depth) are in stacks.h.
 *
 * Context of all functions: any thread, no GIL needed; the caller holds
 * the session's mutex (or owns the session alone) -- module.c holds it,
 * with the GIL, for the whole write, so the sampler waits meanwhile.
 * They allocate (not for signal handlers).  Errors: the writers return 0
 * or -1 (not an SW_E* code), and -1 means out of memory (a buffer or a
 * working array; for SVG also a label table past 4 GiB): the caller
 * raises MemoryError.  Pure C; no Python.h. */
#ifndef SW_WRITERS_WRITER_H
#define SW_WRITERS_WRITER_H

#include <stdint.h>

#include "buf.h"
#include "stacks.h"

enum sw_weight {
    SW_WEIGHT_SAMPLES = 0, /* sample counts */
    SW_WEIGHT_WALL = 1,    /* wall-clock nanoseconds */
    SW_WEIGHT_CPU = 2,     /* thread CPU nanoseconds */
};

/* How samples are split by greenlet (sw_write_opts_t.by_greenlet). */
enum sw_by_greenlet {
    SW_GREENLETS_NONE = 0,
    SW_GREENLETS_GROUPED = 1, /* a group per group label (what they run) */
    SW_GREENLETS_EACH = 2,    /* a group per greenlet */
};

/* A greenlet key with this bit is a group: the rest is the offset of its
 * group label (sw_session_greenlet_group); without it, a greenlet id. */
#define SW_GREENLET_GROUP_BIT 0x80000000u

typedef struct sw_write_opts {
    int by_thread;        /* a group (root frame / profile) per thread */
    int by_greenlet;      /* enum sw_by_greenlet */
    int weight;           /* enum sw_weight; collapsed always counts samples */
    const char *title;    /* document title */
    const char *subtitle; /* one line of details, may be NULL */
    const char *exporter; /* "stackwatch@0.1.0" */
    int full_paths;       /* labels with full paths, not short ones */
    /* Set by sw_write_profile, not by its caller: by frame id, 1 where
     * the label keeps the full path because another file has the same
     * short one (NULL: none). */
    const unsigned char *keep_full;
} sw_write_opts_t;

/* A writer: appends the whole document to out.  Returns 0, or -1 when
 * out of memory (out then holds a partial document; discard it). */
typedef int (*sw_writer_fn)(const sw_session_t *s, const sw_write_opts_t *o,
                            sw_buf_t *out);

/* Folded stacks: one line per distinct stack, root first, frames
 * "function (path:line)" joined by ';', a space and the sample count. */
int sw_write_collapsed(const sw_session_t *s, const sw_write_opts_t *o,
                       sw_buf_t *out);

/* speedscope's file format (https://www.speedscope.app/file-format-schema.json):
 * shared frames and one sampled profile per group. */
int sw_write_speedscope(const sw_session_t *s, const sw_write_opts_t *o,
                        sw_buf_t *out);

/* A self-contained interactive flame graph (SVG with inline script). */
int sw_write_svg(const sw_session_t *s, const sw_write_opts_t *o,
                 sw_buf_t *out);

/* pprof's profile.proto, gzip-compressed (writers/gzip.h): what
 * `go tool pprof` reads.  Binary. */
int sw_write_pprof(const sw_session_t *s, const sw_write_opts_t *o,
                   sw_buf_t *out);

/* Writes the document with fn: computes o->keep_full (the ambiguity
 * guard: two files whose short paths are the same text keep their full
 * paths in labels, so nothing reads them as one) unless o->full_paths,
 * then calls fn.  Returns what fn returns; -1 also when out of memory
 * for the guard. */
int sw_write_profile(sw_writer_fn fn, const sw_session_t *s,
                     const sw_write_opts_t *o, sw_buf_t *out);

/* The writer for a format name ("collapsed", "speedscope", "svg",
 * "pprof"), or
 * NULL for any other.  Pure. */
sw_writer_fn sw_writer_for(const char *format);

/* ---- helpers shared by the writers ----------------------------------- */

/* Appends the label of a thread slot: its name (or "Thread 0x<ident>")
 * followed by " (tid N)" when the kernel id is known; slot 0 or out of
 * range: "other threads". */
void sw_label_thread(const sw_session_t *s, uint32_t slot, sw_buf_t *out);

/* The key a sample of greenlet id is split by under o: with
 * SW_GREENLETS_GROUPED and a group label, SW_GREENLET_GROUP_BIT | its
 * offset (greenlets with the same group label share it); else id. */
uint32_t sw_greenlet_key(const sw_session_t *s, const sw_write_opts_t *o,
                         uint32_t id);

/* Appends the label of a greenlet key (sw_greenlet_key): a group's label
 * as set ("greenlets running handle (x50)"); for a greenlet id
 * "greenlet <label>", "greenlet #<id>" without a label, "greenlet ?" for
 * id 0. */
void sw_label_greenlet(const sw_session_t *s, uint32_t key, sw_buf_t *out);

/* Appends "function (path:line)" for a frame (markers: just the name),
 * through sw_stackfmt_frame(), the path short (SW_FMT_SHORT) unless
 * o->full_paths or o->keep_full[frame].  Frames stay keyed by their full
 * path: only the label is short.  frame is not bounds-checked. */
void sw_label_frame(const sw_session_t *s, const sw_write_opts_t *o,
                    uint32_t frame, sw_buf_t *out);

/* The weight of a sample entry: its count, wall or CPU ns (an unknown
 * weight counts samples). */
uint64_t sw_sample_weight(const sw_ssample_t *e, int weight);

/* The group a sample belongs to under the options: 0 when not split,
 * else a key combining thread slot and greenlet key. */
uint64_t sw_sample_group(const sw_session_t *s, const sw_ssample_t *e,
                         const sw_write_opts_t *o);

/* Appends the prefix labels of a group (thread, then greenlet) joined by
 * sep, with sep after each; nothing when not split. */
void sw_group_prefix(const sw_session_t *s, const sw_ssample_t *e,
                     const sw_write_opts_t *o, const char *sep, sw_buf_t *out);

/* Sample indexes (1 .. nsamples-1) with count > 0, sorted by group then
 * by stack (frame labels root first, the order flame graphs draw in).
 * Uses qsort with a thread-local context, so writers may run on several
 * threads at once.  Returns a malloc'd array (caller frees) of *n
 * indexes (non-NULL even when *n is 0), or NULL when out of memory --
 * *n is then NOT set. */
uint32_t *sw_sorted_samples(const sw_session_t *s, const sw_write_opts_t *o,
                            uint32_t *n);

#endif
