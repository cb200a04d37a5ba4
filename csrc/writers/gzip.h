/* gzip streams for the writers (RFC 1952): the Chrome trace writer's
 * ".gz" output and pprof's gzip-compressed profile.proto.
 *
 * Compressed with zlib's deflate when the build found zlib (setup.py
 * defines SW_HAVE_ZLIB and links libz, the library CPython's own zlib
 * module uses); otherwise the deflate stream is made of stored
 * (uncompressed) blocks, still a valid gzip file that every reader opens,
 * only as large as the data (sw_gzip_compresses says which).
 *
 * Context: any thread, no GIL needed; allocates (zlib's state: not for
 * signal handlers).  One stream per sw_gzip_t, used by one thread. */
#ifndef SW_WRITERS_GZIP_H
#define SW_WRITERS_GZIP_H

#include <stddef.h>
#include <stdint.h>

#ifdef SW_HAVE_ZLIB
#include <zlib.h>
#endif

/* Where the stream's bytes go: returns 0, or -1 to stop the stream (the
 * sink's own error, which it keeps). */
typedef int (*sw_gzip_out_fn)(void *ctx, const void *data, size_t n);

typedef struct sw_gzip {
    sw_gzip_out_fn out;
    void *ctx;
    int failed; /* 1: out refused, or zlib failed (no memory) */
#ifdef SW_HAVE_ZLIB
    int ready; /* z was initialised (deflateEnd owed) */
    z_stream z;
#else
    uint32_t crc;
    uint32_t isize; /* input size mod 2^32 */
#endif
} sw_gzip_t;

/* 1 if the build compresses (zlib), 0 if it writes stored blocks. */
int sw_gzip_compresses(void);

/* Starts a stream at level (1 fastest .. 9 smallest; ignored without
 * zlib) and writes its header through out.  Returns 0, or -1 (no memory,
 * or out refused): g is then failed, and sw_gzip_end still frees it. */
int sw_gzip_begin(sw_gzip_t *g, int level, sw_gzip_out_fn out, void *ctx);

/* Compresses n bytes into the stream.  Returns 0, or -1 once failed. */
int sw_gzip_put(sw_gzip_t *g, const void *data, size_t n);

/* Ends the stream (the last block and the trailer) and frees its state.
 * Returns 0, or -1 if the stream failed at any point.  Always frees. */
int sw_gzip_end(sw_gzip_t *g);

/* Reads a file that this build's writers left for sw_gzip_read_fd from
 * fd to its end, handing its data to out in pieces: with zlib, a gzip
 * stream (sw_gzip's), inflated and checked; without zlib, a plain file
 * (such a build writes them plain: no inflater), as it is.  Returns 0; -1 with
 * errno set when a read failed; -2 for a stream that is not whole (cut,
 * or not gzip's) or no memory; -3 when out refused. */
int sw_gzip_read_fd(int fd, sw_gzip_out_fn out, void *ctx);

#endif
