/* Hashing for the open-addressing tables (a session's interned strings,
 * frames and stack nodes in stacks.c, the code cache, the greenlet id map,
 * the reader's seen-frames cache) and for the flame graph's colours:
 * deterministic, no seed, so the same input hashes the same in every run.
 *
 * Context: pure functions; any thread, no GIL, async-signal-safe.
 *
 * Pure C; no Python.h. */
#ifndef SW_HASH_H
#define SW_HASH_H

#include <stdint.h>

/* Mixes all 64 bits of x into all 64 bits of the result (the finaliser of
 * MurmurHash3), so that table indexes taken from low bits are spread even
 * for pointers, whose low bits are mostly zero. */
static inline uint64_t
sw_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* A pointer's slot hash, for tables probed on a hot path (the tracer's
 * code table, at every event): one multiply (Fibonacci hashing), its
 * high half, whose low bits depend on all of a pointer's changing bits.
 * Cheaper than sw_mix64, and as good for keys that are addresses. */
static inline uint32_t
sw_hash_ptr(uint64_t x)
{
    return (uint32_t)((x * 0x9e3779b97f4a7c15ull) >> 32);
}

/* FNV-1a over a NUL-terminated string, then mixed. */
static inline uint64_t
sw_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ull;
    }
    return sw_mix64(h);
}

#endif
