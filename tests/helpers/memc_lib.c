/* A small shared library for the memory profiler's `c` tests: memory
 * taken from the C library directly, the way an extension's C code does
 * (built by tests/test_memprof_c.py with -O0, so that no call is
 * optimized away, and loaded with ctypes). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void *
grab(size_t n)
{
    void *p = malloc(n);

    if (p != NULL) {
        memset(p, 1, n);
    }
    return p;
}

void *
grab_zeroed(size_t n)
{
    return calloc(1, n);
}

void *
grow(void *p, size_t n)
{
    return realloc(p, n);
}

/* realloc(p, 0): glibc frees p and returns NULL. */
void *
shrink_to_nothing(void *p)
{
    return realloc(p, 0);
}

void *
grab_aligned(size_t n)
{
    void *p = NULL;

    return posix_memalign(&p, 64, n) == 0 ? p : NULL;
}

void *
grab_mapped(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

int
drop_mapped(void *p, size_t n)
{
    return munmap(p, n);
}

void
drop(void *p)
{
    free(p);
}

/* What this library's GOT says malloc is (a GLOB_DAT entry). */
void *
malloc_address(void)
{
    return (void *)&malloc;
}
