/* A growable byte buffer for writers, with the escaping they need.
 *
 * Writers build a whole output in memory; the Python layer then puts it
 * in place (a temporary file renamed over the target, or written in place
 * when the target is not a regular file), so a failed write never leaves
 * a half-written file.  An allocation failure makes the buffer sticky-bad:
 * later appends do nothing and sw_buf_ok() says so.
 *
 * Context: any thread, no GIL; one buffer is not shared between threads
 * without a lock.  Appends allocate (realloc), so none of this is for
 * signal handlers.
 *
 * Pure C; no Python.h. */
#ifndef SW_BUF_H
#define SW_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct sw_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} sw_buf_t;

/* Makes b empty (data NULL); allocates nothing, cannot fail. */
void sw_buf_init(sw_buf_t *b);
/* Frees b's memory and makes it empty and good again (reusable). */
void sw_buf_free(sw_buf_t *b);

/* 1 if every append so far succeeded. */
static inline int
sw_buf_ok(const sw_buf_t *b)
{
    return !b->failed;
}

/* Append n bytes / a NUL-terminated string / one byte / printf output.
 * b->data stays NUL-terminated once non-empty.  No return value: an
 * allocation failure sets the sticky failed flag (check sw_buf_ok()
 * before using the result); later appends are no-ops. */
void sw_buf_put(sw_buf_t *b, const char *s, size_t n);
void sw_buf_puts(sw_buf_t *b, const char *s);
void sw_buf_putc(sw_buf_t *b, char c);
void sw_buf_printf(sw_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends s as a JSON string literal, quotes included.  Invalid UTF-8
 * bytes become U+FFFD. */
void sw_buf_json_str(sw_buf_t *b, const char *s);

/* Appends s escaped for XML text and attribute values (&<>"'); control
 * characters other than tab and newline are dropped, since XML 1.0 cannot
 * carry them; invalid UTF-8 bytes, U+FFFE and U+FFFF become U+FFFD. */
void sw_buf_xml(sw_buf_t *b, const char *s);

/* Appends the local wall-clock time, "2026-11-22 10:00:00.123" (only
 * ".123" if localtime_r fails).  Not for signal handlers (localtime_r). */
void sw_buf_put_localtime(sw_buf_t *b);

/* Writes the whole buffer to fd: send(MSG_NOSIGNAL) on a socket (a gone
 * peer must not raise SIGPIPE in the host), write(2) otherwise; retries
 * on EINTR and short writes; blocks as the fd does.  No allocation.
 * Returns 0, or -1 (not an SW_E* code): errno is set when send/write
 * failed, but not when the buffer had failed, fd < 0, or a write
 * returned 0.  A failure may leave part of the text written. */
int sw_buf_write_fd(const sw_buf_t *b, int fd);

#endif
