/* Unit tests of writers/gzip.c as built without zlib (stored deflate
 * blocks): the stream is decoded here, block by block, and its CRC-32 and
 * size checked against a bitwise CRC.  (The zlib build is checked from
 * Python: tests/test_trace.py and tests/test_pprof.py read its output
 * with gzip and go tool pprof.)
 *
 * Build: gcc -std=c11 -Icsrc -Itests/c tests/c/test_gzip.c
 *        csrc/writers/gzip.c */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "writers/gzip.h"

typedef struct {
    unsigned char *p;
    size_t len, cap, refuse_after; /* refuse_after: 0 = never */
    int calls;
} sink_t;

static int
to_sink(void *ctx, const void *data, size_t n)
{
    sink_t *s = ctx;

    s->calls++;
    if (s->refuse_after && (size_t)s->calls > s->refuse_after) {
        return -1;
    }
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2;
        s->p = realloc(s->p, s->cap);
        ASSERT(s->p != NULL);
    }
    memcpy(s->p + s->len, data, n);
    s->len += n;
    return 0;
}

static uint32_t
crc_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;

    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int j = 0; j < 8; j++) {
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        }
    }
    return c ^ 0xFFFFFFFFu;
}

static uint32_t
le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* Decodes a gzip member of stored blocks into out (cap bytes); returns
 * the data's length, failing the test on any malformation. */
static size_t
unstore(const sink_t *s, unsigned char *out, size_t cap)
{
    size_t at = 10, n = 0;
    int final = 0;

    ASSERT(s->len >= 18);
    ASSERT(s->p[0] == 0x1f && s->p[1] == 0x8b && s->p[2] == 8);
    while (!final) {
        size_t len;

        ASSERT(at + 5 <= s->len);
        final = s->p[at] & 1;
        ASSERT_EQ(s->p[at] >> 1, 0); /* BTYPE 00: stored */
        len = (size_t)s->p[at + 1] | (size_t)s->p[at + 2] << 8;
        ASSERT_EQ(len ^ 0xFFFF,
                  (size_t)s->p[at + 3] | (size_t)s->p[at + 4] << 8);
        at += 5;
        ASSERT(at + len <= s->len && n + len <= cap);
        memcpy(out + n, s->p + at, len);
        at += len;
        n += len;
    }
    ASSERT_EQ(s->len, at + 8);
    ASSERT_EQ(le32(s->p + at), crc_bitwise(out, n));
    ASSERT_EQ(le32(s->p + at + 4), (uint32_t)n);
    return n;
}

TEST(stored_stream_round_trips_across_block_and_put_boundaries)
{
    size_t n = 200000, got;
    unsigned char *data = malloc(n), *back = malloc(n);
    sink_t s = {0};
    sw_gzip_t g;

    ASSERT(data != NULL && back != NULL);
    for (size_t i = 0; i < n; i++) {
        data[i] = (unsigned char)(i * 7 + i / 300);
    }
    ASSERT_EQ(sw_gzip_compresses(), 0);
    ASSERT_EQ(sw_gzip_begin(&g, 1, to_sink, &s), 0);
    /* Pieces of odd sizes, one larger than a stored block. */
    ASSERT_EQ(sw_gzip_put(&g, data, 1), 0);
    ASSERT_EQ(sw_gzip_put(&g, data + 1, 70000), 0);
    ASSERT_EQ(sw_gzip_put(&g, data + 70001, 0), 0);
    ASSERT_EQ(sw_gzip_put(&g, data + 70001, n - 70001), 0);
    ASSERT_EQ(sw_gzip_end(&g), 0);
    got = unstore(&s, back, n);
    ASSERT_EQ(got, n);
    ASSERT(memcmp(back, data, n) == 0);
    free(s.p);
    free(data);
    free(back);
}

TEST(empty_stream_is_a_valid_member)
{
    unsigned char back[1];
    sink_t s = {0};
    sw_gzip_t g;

    ASSERT_EQ(sw_gzip_begin(&g, 6, to_sink, &s), 0);
    ASSERT_EQ(sw_gzip_end(&g), 0);
    ASSERT_EQ(unstore(&s, back, sizeof(back)), 0);
    free(s.p);
}

TEST(a_refusing_sink_fails_the_stream_and_stops_writing)
{
    char data[100000];
    sink_t s = {0};
    sw_gzip_t g;
    int calls;

    memset(data, 'x', sizeof(data));
    s.refuse_after = 3;
    ASSERT_EQ(sw_gzip_begin(&g, 1, to_sink, &s), 0);
    ASSERT_EQ(sw_gzip_put(&g, data, sizeof(data)), -1);
    calls = s.calls;
    ASSERT_EQ(sw_gzip_put(&g, data, 10), -1);
    ASSERT_EQ(sw_gzip_end(&g), -1);
    ASSERT_EQ(s.calls, calls); /* nothing more offered after the refusal */
    free(s.p);
}

RUNNER_MAIN()
