/* gzip streams for the writers; see gzip.h. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "writers/gzip.h"

#ifdef SW_HAVE_ZLIB

int
sw_gzip_compresses(void)
{
    return 1;
}

/* Runs deflate over the input given (flush: Z_NO_FLUSH or Z_FINISH),
 * handing each full output chunk to out. */
static int
pump(sw_gzip_t *g, int flush)
{
    unsigned char chunk[1 << 14];
    int rc;

    do {
        g->z.next_out = chunk;
        g->z.avail_out = sizeof(chunk);
        rc = deflate(&g->z, flush);
        if (rc == Z_STREAM_ERROR) {
            g->failed = 1;
            return -1;
        }
        if (g->z.avail_out < sizeof(chunk) &&
            g->out(g->ctx, chunk, sizeof(chunk) - g->z.avail_out) < 0) {
            g->failed = 1;
            return -1;
        }
    } while (g->z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    return 0;
}

int
sw_gzip_begin(sw_gzip_t *g, int level, sw_gzip_out_fn out, void *ctx)
{
    memset(g, 0, sizeof(*g));
    g->out = out;
    g->ctx = ctx;
    /* windowBits 15 + 16: a gzip wrapper (header, CRC-32, size). */
    if (deflateInit2(&g->z, level, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        g->failed = 1;
        return -1;
    }
    g->ready = 1;
    return 0;
}

int
sw_gzip_put(sw_gzip_t *g, const void *data, size_t n)
{
    const unsigned char *p = data;

    while (n > 0 && !g->failed) {
        uInt part = n > (1u << 30) ? (1u << 30) : (uInt)n;

        g->z.next_in = (unsigned char *)p;
        g->z.avail_in = part;
        if (pump(g, Z_NO_FLUSH) < 0) {
            break;
        }
        p += part;
        n -= part;
    }
    return g->failed ? -1 : 0;
}

int
sw_gzip_end(sw_gzip_t *g)
{
    if (g->ready) {
        if (!g->failed) {
            g->z.next_in = NULL;
            g->z.avail_in = 0;
            (void)pump(g, Z_FINISH);
        }
        deflateEnd(&g->z);
        g->ready = 0;
    }
    return g->failed ? -1 : 0;
}

int
sw_gzip_read_fd(int fd, sw_gzip_out_fn out, void *ctx)
{
    unsigned char in[1 << 14], plain[1 << 15];
    z_stream z;
    int rc = Z_OK, status = 0;
    ssize_t n;

    memset(&z, 0, sizeof(z));
    /* 15 + 16: a gzip stream (header, CRC-32 and size checked). */
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        return -2;
    }
    while (rc != Z_STREAM_END && status == 0) {
        n = read(fd, in, sizeof(in));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            status = -1;
            break;
        }
        if (n == 0) {
            status = -2; /* ended before the stream did */
            break;
        }
        z.next_in = in;
        z.avail_in = (uInt)n;
        do {
            z.next_out = plain;
            z.avail_out = sizeof(plain);
            rc = inflate(&z, Z_NO_FLUSH);
            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
                status = -2;
                break;
            }
            if (z.avail_out < sizeof(plain) &&
                out(ctx, plain, sizeof(plain) - z.avail_out) < 0) {
                status = -3;
                break;
            }
        } while ((z.avail_in > 0 || z.avail_out == 0) && rc != Z_STREAM_END);
    }
    inflateEnd(&z);
    return status;
}

#else /* stored blocks */

static uint32_t crc_table[256];

int
sw_gzip_compresses(void)
{
    return 0;
}

static uint32_t
crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
    if (crc_table[1] == 0) {
        /* (Two threads may fill it at once: they write the same values.) */
        for (uint32_t k = 0; k < 256; k++) {
            uint32_t c = k;

            for (int j = 0; j < 8; j++) {
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
            crc_table[k] = c;
        }
    }
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc = crc_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    }
    return ~crc;
}

static int
emit(sw_gzip_t *g, const void *data, size_t n)
{
    if (!g->failed && g->out(g->ctx, data, n) < 0) {
        g->failed = 1;
    }
    return g->failed ? -1 : 0;
}

/* One stored deflate block (RFC 1951 3.2.4) of n <= 65535 bytes. */
static int
stored_block(sw_gzip_t *g, const unsigned char *data, size_t n, int final)
{
    unsigned char h[5] = {final ? 1 : 0, (unsigned char)(n & 0xFF),
                          (unsigned char)(n >> 8), (unsigned char)(~n & 0xFF),
                          (unsigned char)((~n >> 8) & 0xFF)};

    if (emit(g, h, sizeof(h)) < 0) {
        return -1;
    }
    return n > 0 ? emit(g, data, n) : 0;
}

int
sw_gzip_begin(sw_gzip_t *g, int level, sw_gzip_out_fn out, void *ctx)
{
    static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0,
                                             0,    0,    0, 0, 3};

    (void)level;
    memset(g, 0, sizeof(*g));
    g->out = out;
    g->ctx = ctx;
    return emit(g, header, sizeof(header));
}

int
sw_gzip_put(sw_gzip_t *g, const void *data, size_t n)
{
    const unsigned char *p = data;

    if (g->failed) {
        return -1;
    }
    g->crc = crc32_update(g->crc, p, n);
    g->isize += (uint32_t)n;
    while (n > 0) {
        size_t part = n > 65535 ? 65535 : n;

        if (stored_block(g, p, part, 0) < 0) {
            return -1;
        }
        p += part;
        n -= part;
    }
    return 0;
}

int
sw_gzip_end(sw_gzip_t *g)
{
    unsigned char t[8];

    if (stored_block(g, NULL, 0, 1) < 0) {
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        t[i] = (unsigned char)(g->crc >> (8 * i));
        t[4 + i] = (unsigned char)(g->isize >> (8 * i));
    }
    return emit(g, t, sizeof(t));
}

int
sw_gzip_read_fd(int fd, sw_gzip_out_fn out, void *ctx)
{
    unsigned char in[1 << 15];
    ssize_t n;

    while ((n = read(fd, in, sizeof(in))) != 0) {
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (out(ctx, in, (size_t)n) < 0) {
            return -3;
        }
    }
    return 0;
}

#endif
