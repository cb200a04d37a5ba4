/* Hashing for the open-addressing tables (sessions, code cache, greenlet
 * ids) and for the flame graph's colours: deterministic, no seed.
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
