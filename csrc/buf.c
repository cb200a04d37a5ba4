/* Growable buffers; see buf.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

void
sw_buf_init(sw_buf_t *b)
{
    memset(b, 0, sizeof(*b));
}

void
sw_buf_free(sw_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static int
grow(sw_buf_t *b, size_t more)
{
    size_t cap;
    char *p;

    if (b->failed) {
        return -1;
    }
    if (b->len + more + 1 <= b->cap) {
        return 0;
    }
    cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1) {
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void
sw_buf_put(sw_buf_t *b, const char *s, size_t n)
{
    if (grow(b, n) < 0) {
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void
sw_buf_puts(sw_buf_t *b, const char *s)
{
    sw_buf_put(b, s, strlen(s));
}

void
sw_buf_putc(sw_buf_t *b, char c)
{
    sw_buf_put(b, &c, 1);
}

void
sw_buf_printf(sw_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || grow(b, (size_t)n) < 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s, or 0 if invalid: overlong
 * forms, encoded surrogates and code points past U+10FFFF are invalid
 * (XML and JSON readers reject them). */
static size_t
utf8_len(const unsigned char *s)
{
    size_t n, i;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
    }
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
    }
    else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
    }
    else {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0) ||
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)) {
        return 0;
    }
    return n;
}

void
sw_buf_json_str(sw_buf_t *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    sw_buf_putc(b, '"');
    while (*s) {
        size_t n = utf8_len(s);

        if (n == 0) {
            sw_buf_puts(b, "\\ufffd");
            s++;
            continue;
        }
        if (n == 1) {
            switch (*s) {
            case '"':
                sw_buf_puts(b, "\\\"");
                break;
            case '\\':
                sw_buf_puts(b, "\\\\");
                break;
            case '\n':
                sw_buf_puts(b, "\\n");
                break;
            case '\t':
                sw_buf_puts(b, "\\t");
                break;
            case '\r':
                sw_buf_puts(b, "\\r");
                break;
            default:
                if (*s < 0x20) {
                    sw_buf_printf(b, "\\u%04x", *s);
                }
                else {
                    sw_buf_putc(b, (char)*s);
                }
            }
        }
        else {
            sw_buf_put(b, (const char *)s, n);
        }
        s += n;
    }
    sw_buf_putc(b, '"');
}

void
sw_buf_xml(sw_buf_t *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    while (*s) {
        size_t n = utf8_len(s);

        if (n == 0) {
            sw_buf_puts(b, "\xEF\xBF\xBD"); /* U+FFFD */
            s++;
            continue;
        }
        if (n == 1) {
            switch (*s) {
            case '&':
                sw_buf_puts(b, "&amp;");
                break;
            case '<':
                sw_buf_puts(b, "&lt;");
                break;
            case '>':
                sw_buf_puts(b, "&gt;");
                break;
            case '"':
                sw_buf_puts(b, "&quot;");
                break;
            case '\'':
                sw_buf_puts(b, "&apos;");
                break;
            default:
                if (*s >= 0x20 || *s == '\t' || *s == '\n') {
                    sw_buf_putc(b, (char)*s);
                }
            }
        }
        else if (n == 3 && s[0] == 0xEF && s[1] == 0xBF && s[2] >= 0xBE) {
            sw_buf_puts(b, "\xEF\xBF\xBD"); /* U+FFFE, U+FFFF: not XML */
        }
        else {
            sw_buf_put(b, (const char *)s, n);
        }
        s += n;
    }
}

void
sw_buf_put_localtime(sw_buf_t *b)
{
    struct timespec ts;
    struct tm tm;
    char s[32] = "";

    clock_gettime(CLOCK_REALTIME, &ts);
    if (localtime_r(&ts.tv_sec, &tm) != NULL) {
        strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S", &tm);
    }
    sw_buf_printf(b, "%s.%03ld", s, ts.tv_nsec / 1000000);
}

int
sw_buf_write_fd(const sw_buf_t *b, int fd)
{
    const char *p = b->data;
    size_t n = b->len;
    int sock = 1;

    if (!sw_buf_ok(b) || fd < 0) {
        return -1;
    }
    while (n > 0) {
        ssize_t w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);

        if (w < 0 && sock && errno == ENOTSOCK) {
            sock = 0;
            continue;
        }
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}
