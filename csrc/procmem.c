/* The process's memory; see procmem.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "errors.h"
#include "procmem.h"

int
sw_procmem_parse(const char *text, long page, sw_procmem_t *out)
{
    unsigned long long v[7] = {0};
    uint64_t p = page > 0 ? (uint64_t)page : 0;

    if (sscanf(text, "%llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
               &v[3], &v[4], &v[5], &v[6]) < 6) {
        return SW_EINVAL;
    }
    /* statm: size resident shared text lib data dt */
    out->rss = v[1] * p;
    out->vms = v[0] * p;
    out->shared = v[2] * p;
    out->text = v[3] * p;
    out->data = v[5] * p;
    return 0;
}

int
sw_procmem_read(sw_procmem_t *out)
{
    char buf[256];
    ssize_t n;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC), saved;

    if (fd < 0) {
        return SW_ESYS;
    }
    do {
        n = read(fd, buf, sizeof(buf) - 1);
    } while (n < 0 && errno == EINTR);
    saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return SW_ESYS;
    }
    if (n == 0) {
        return SW_EINVAL;
    }
    buf[n] = '\0';
    return sw_procmem_parse(buf, sysconf(_SC_PAGESIZE), out);
}
