/* The process's memory, from /proc/self/statm: used by the watchdog's
 * memory threshold, and meant for the memory profiler and /metrics.
 *
 * Context: any thread; no GIL, no Python API, no lock, no allocation
 * (open/read/close on a stack buffer; not for signal handlers only
 * because sscanf and sysconf are not async-signal-safe).
 *
 * Pure C; no Python.h. */
#ifndef SW_PROCMEM_H
#define SW_PROCMEM_H

#include <stdint.h>

/* Bytes; statm's pages times the page size. */
typedef struct sw_procmem {
    uint64_t rss;    /* resident */
    uint64_t vms;    /* virtual size */
    uint64_t shared; /* resident and file-backed (shared) */
    uint64_t text;   /* code */
    uint64_t data;   /* data + stack */
} sw_procmem_t;

/* Reads the calling process's memory into *out.  Returns 0; SW_ESYS
 * (errno set) when /proc/self/statm cannot be opened or read; SW_EINVAL
 * when it is empty or cannot be parsed.  *out is left unchanged on
 * error. */
int sw_procmem_read(sw_procmem_t *out);

/* Parses the text of a statm file (page counts) with the page size given
 * into *out (page <= 0 gives zeros).  Returns 0, or SW_EINVAL when fewer
 * than six numbers are there (*out unchanged). */
int sw_procmem_parse(const char *text, long page, sw_procmem_t *out);

#endif
