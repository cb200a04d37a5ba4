/* Unit tests of the pure-C core: the safe reader, line tables, sessions
 * and buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "compat/layout.h"
#include "compat/linetable.h"
#include "compat/vmread.h"
#include "runner.h"
#include "stacks.h"

/* ---- safe reads ---------------------------------------------------------- */

/* Reads good memory, refuses unmapped memory and a page that became
 * unmapped, with the method given. */
static void
check_method(int method)
{
    sw_vm_t vm;
    char src[6000], dst[6000];
    long page = sysconf(_SC_PAGESIZE);
    char *map;
    size_t i;

    ASSERT_EQ(sw_vm_select(method), method);
    ASSERT_EQ(sw_vm_open(&vm), 0);
    for (i = 0; i < sizeof(src); i++) {
        src[i] = (char)(i * 7);
    }
    ASSERT_EQ(sw_vm_read(&vm, (uintptr_t)src, dst, sizeof(src)), 0);
    ASSERT(memcmp(src, dst, sizeof(src)) == 0);
    ASSERT_EQ(sw_vm_read(&vm, 0, dst, 8), SW_EINVAL);
    ASSERT_EQ(sw_vm_read(&vm, 16, dst, 8), SW_EFAULT);

    /* Two pages; unmap the second: a read across the boundary fails
     * cleanly, a read inside the first page still works. */
    map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT(map != MAP_FAILED);
    memset(map, 'x', 2 * page);
    ASSERT_EQ(munmap(map + page, page), 0);
    ASSERT_EQ(sw_vm_read(&vm, (uintptr_t)map + page - 8, dst, 16), SW_EFAULT);
    ASSERT_EQ(sw_vm_read(&vm, (uintptr_t)map + page - 8, dst, 8), 0);
    ASSERT(memcmp(dst, "xxxxxxxx", 8) == 0);
    munmap(map, page);
    ASSERT_EQ(sw_vm_read(&vm, (uintptr_t)map, dst, 8), SW_EFAULT);
    ASSERT_EQ(vm.faults, 4); /* 0, 16, the boundary, the unmapped page */
    sw_vm_close(&vm);
}

TEST(vm_read_process_vm_readv)
{
    check_method(SW_VM_PROCESS_VM_READV);
}

TEST(vm_read_pipe_fallback)
{
    check_method(SW_VM_PIPE);
}

TEST(vm_read_pipe_larger_than_the_pipe)
{
    sw_vm_t vm;
    size_t n = 3u << 20; /* more than one pipe's worth */
    char *src = malloc(n), *dst = malloc(n);
    size_t i;

    ASSERT(src && dst);
    for (i = 0; i < n; i++) {
        src[i] = (char)(i ^ (i >> 9));
    }
    ASSERT_EQ(sw_vm_select(SW_VM_PIPE), SW_VM_PIPE);
    ASSERT_EQ(sw_vm_open(&vm), 0);
    ASSERT_EQ(sw_vm_read(&vm, (uintptr_t)src, dst, n), 0);
    ASSERT(memcmp(src, dst, n) == 0);
    sw_vm_close(&vm);
    free(src);
    free(dst);
}

TEST(vm_select_probes_a_working_method)
{
    int m = sw_vm_select(SW_VM_NONE);

    ASSERT(m == SW_VM_PROCESS_VM_READV || m == SW_VM_PIPE);
    ASSERT_EQ(sw_vm_method(), m);
    ASSERT_STR_EQ(sw_vm_method_name(SW_VM_PIPE), "pipe");
}

/* ---- line tables ----------------------------------------------------------- */

TEST(lnotab_39)
{
    /* (address increment, line increment) pairs from line 10. */
    const uint8_t t[] = {0, 1, 6, 1, 8, 2, 4, (uint8_t)-3};

    ASSERT_EQ(sw_line_for(SW_LINES_LNOTAB, t, sizeof(t), 10, -1), 10);
    ASSERT_EQ(sw_line_for(SW_LINES_LNOTAB, t, sizeof(t), 10, 0), 11);
    ASSERT_EQ(sw_line_for(SW_LINES_LNOTAB, t, sizeof(t), 10, 5), 11);
    ASSERT_EQ(sw_line_for(SW_LINES_LNOTAB, t, sizeof(t), 10, 6), 12);
    ASSERT_EQ(sw_line_for(SW_LINES_LNOTAB, t, sizeof(t), 10, 14), 14);
    ASSERT_EQ(sw_line_for(SW_LINES_LNOTAB, t, sizeof(t), 10, 18), 11);
    ASSERT_EQ(sw_line_for(SW_LINES_LNOTAB, t, sizeof(t), 10, 500), 11);
    /* An empty table: everything on the first line (a lambda). */
    ASSERT_EQ(sw_line_for(SW_LINES_LNOTAB, NULL, 0, 10, 4), 10);
}

TEST(pep626_310)
{
    /* (start delta, line delta): [0,4) line 11, [4,4) skipped but line
     * moves to 13, [4,10) no line, [10,12) line 12. */
    const uint8_t t[] = {4, 1, 0, 2, 6, (uint8_t)-128, 2, (uint8_t)-1};

    ASSERT_EQ(sw_line_for(SW_LINES_PEP626, t, sizeof(t), 10, 0), 11);
    ASSERT_EQ(sw_line_for(SW_LINES_PEP626, t, sizeof(t), 10, 2), 11);
    ASSERT_EQ(sw_line_for(SW_LINES_PEP626, t, sizeof(t), 10, 4), -1);
    ASSERT_EQ(sw_line_for(SW_LINES_PEP626, t, sizeof(t), 10, 10), 12);
    ASSERT_EQ(sw_line_for(SW_LINES_PEP626, t, sizeof(t), 10, 12), -1);
    ASSERT_EQ(sw_line_for(SW_LINES_PEP626, t, sizeof(t), 10, -2), 10);
}

TEST(locations_311)
{
    /* Entries: short form (code 0, 2 units, 1 column byte) on the first
     * line; one-line form code 11 (+1, 3 units, 2 bytes); no-column form
     * code 13 with svarint -2 (4 units); no location (code 15, 1 unit);
     * long form code 14 with +5 and three more varints (1 unit). */
    const uint8_t t[] = {
        0x80 | (0 << 3) | 1,
        0x05,
        0x80 | (11 << 3) | 2,
        0x01,
        0x02,
        0x80 | (13 << 3) | 3,
        0x05,
        0x80 | (15 << 3) | 0,
        0x80 | (14 << 3) | 0,
        0x0A,
        0x00,
        0x01,
        0x02,
    };
    const int want[] = {20, 20, 21, 21, 21, 19, 19, 19, 19, -1, 24};
    int i;

    for (i = 0; i < (int)(sizeof(want) / sizeof(want[0])); i++) {
        ASSERT_EQ(sw_line_for(SW_LINES_LOCATIONS, t, sizeof(t), 20, 2 * i),
                  want[i]);
    }
    ASSERT_EQ(sw_line_for(SW_LINES_LOCATIONS, t, sizeof(t), 20, 22), -1);
    /* A table cut in the middle of a varint is malformed, not a crash. */
    ASSERT_EQ(sw_line_for(SW_LINES_LOCATIONS, t, 6, 20, 10), -1);
    ASSERT_EQ(sw_line_for(SW_LINES_LOCATIONS, NULL, 0, 20, 0), -1);
}

TEST(locations_multibyte_varint)
{
    /* svarint 2 * 300 = 600 needs two 6-bit groups: 600 = 0b1001011000,
     * low group 0b011000 (24) | 64 (more), high group 0b1001 (9). */
    const uint8_t t[] = {0x80 | (13 << 3) | 0, 24 | 64, 9};

    ASSERT_EQ(sw_line_for(SW_LINES_LOCATIONS, t, sizeof(t), 1, 0), 301);
}

/* ---- sessions ------------------------------------------------------------- */

TEST(session_interns_frames_stacks_and_samples)
{
    sw_session_t *s = sw_session_new(NULL);
    uint32_t a, b, a_again, n1, n2, n3, t;
    uint32_t ab[2], ba[2];
    int created;

    ASSERT(s != NULL);
    a = sw_session_frame(s, 1, 10, 0, "f", "x.py");
    b = sw_session_frame(s, 2, 20, 0, "g", "x.py");
    /* Another code object (serial) with the same name, file and line is
     * the same frame. */
    a_again = sw_session_frame(s, 7, 10, 0, "f", "x.py");
    ASSERT(a != 0 && b != 0 && a != b);
    ASSERT_EQ(a_again, a);
    ab[0] = b; /* leaf first: g called by f */
    ab[1] = a;
    ba[0] = a;
    ba[1] = b;
    n1 = sw_session_stack(s, ab, 2);
    n2 = sw_session_stack(s, ab, 2);
    n3 = sw_session_stack(s, ba, 2);
    ASSERT_EQ(n1, n2);
    ASSERT(n3 != n1);
    ASSERT_EQ(s->nodes[n1].frame, b);
    ASSERT_EQ(s->nodes[s->nodes[n1].parent].frame, a);
    ASSERT_EQ(s->nodes[s->nodes[n1].parent].parent, 0);
    t = sw_session_thread(s, 42, 0x1234, 77, 0, &created);
    ASSERT_EQ(created, 1);
    ASSERT_EQ(sw_session_thread(s, 42, 0x1234, 77, 0, &created), t);
    ASSERT_EQ(created, 0);
    ASSERT_EQ(sw_session_add(s, t, 0, n1, 100, 50, 1), 0);
    ASSERT_EQ(sw_session_add(s, t, 0, n1, 100, 0, 0), 0);
    ASSERT_EQ(sw_session_add(s, t, 3, n1, 100, 0, 0), 0);
    ASSERT_EQ(s->nsamples - 1, 2);
    ASSERT_EQ(s->samples[1].count, 2);
    ASSERT_EQ(s->samples[1].wall_ns, 200);
    ASSERT_EQ(s->samples[1].cpu_ns, 50);
    ASSERT_EQ(s->samples[1].gil, 1);
    ASSERT_EQ(s->samples_taken, 3);
    sw_session_free(s);
}

TEST(session_caps_count_dropped_samples)
{
    sw_limits_t lim = {0, 0, 2, 0};
    sw_session_t *s = sw_session_new(&lim);
    uint32_t f = sw_session_frame(s, 1, 1, 0, "f", "x.py");
    uint32_t node = sw_session_stack(s, &f, 1);
    int created;
    uint32_t t = sw_session_thread(s, 1, 1, 1, 0, &created);

    ASSERT_EQ(sw_session_add(s, t, 1, node, 1, 0, 0), 0);
    ASSERT_EQ(sw_session_add(s, t, 2, node, 1, 0, 0), 0);
    ASSERT_EQ(sw_session_add(s, t, 3, node, 1, 0, 0), SW_EFULL);
    ASSERT_EQ(sw_session_add(s, t, 1, node, 1, 0, 0), 0); /* existing key */
    ASSERT_EQ(s->samples_dropped, 1);
    ASSERT_EQ(s->samples_taken, 3);
    sw_session_free(s);
}

TEST(session_strings_are_interned_and_bounded)
{
    sw_limits_t lim = {0, 0, 0, 64};
    sw_session_t *s = sw_session_new(&lim);
    char big[100];
    uint32_t a = sw_session_string(s, "hello");

    ASSERT(a != 0);
    ASSERT_EQ(sw_session_string(s, "hello"), a);
    ASSERT_STR_EQ(sw_session_str(s, a), "hello");
    ASSERT_EQ(sw_session_string(s, ""), 0);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ASSERT_EQ(sw_session_string(s, big), 0); /* over the limit */
    sw_session_free(s);
}

TEST(session_many_threads_share_the_overflow_slot)
{
    sw_session_t *s = sw_session_new(NULL);
    uint32_t i, slot = 1;
    int created;

    for (i = 0; i < SW_MAX_SESSION_THREADS + 10; i++) {
        slot = sw_session_thread(s, 1000 + i, i, 0, 0, &created);
    }
    ASSERT_EQ(slot, 0);
    ASSERT_EQ(s->nthreads, SW_MAX_SESSION_THREADS + 1);
    sw_session_free(s);
}

TEST(session_greenlet_labels)
{
    sw_session_t *s = sw_session_new(NULL);

    ASSERT_EQ(sw_session_greenlet_seen(s, 5), 1);
    ASSERT_EQ(sw_session_greenlet_seen(s, 5), 0);
    ASSERT(sw_session_greenlet_label(s, 5) == NULL);
    ASSERT_EQ(sw_session_label_greenlet(s, 5, "worker"), 0);
    ASSERT_STR_EQ(sw_session_greenlet_label(s, 5), "worker");
    ASSERT_EQ(sw_session_greenlet_seen(s, 5), 0);
    ASSERT_EQ(sw_session_label_greenlet(s, 0, "x"), SW_EINVAL);
    ASSERT_EQ(sw_session_greenlet_seen(s, 0), 0);
    sw_session_free(s);
}

/* ---- buffers ----------------------------------------------------------------- */

TEST(buf_json_escapes_and_replaces_invalid_utf8)
{
    sw_buf_t b;

    sw_buf_init(&b);
    sw_buf_json_str(&b, "a\"b\\c\n\t\x01 \xC3\xA9 \xFF \xED\xA0\x80");
    ASSERT_STR_EQ(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001 \xC3\xA9 \\ufffd "
                          "\\ufffd\\ufffd\\ufffd\"");
    sw_buf_free(&b);
}

TEST(buf_xml_escapes)
{
    sw_buf_t b;

    sw_buf_init(&b);
    sw_buf_xml(&b, "<a href=\"x\">&'\x02\xEF\xBF\xBF</a>");
    ASSERT_STR_EQ(b.data, "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
                          "\xEF\xBF\xBD&lt;/a&gt;");
    sw_buf_free(&b);
}

TEST(buf_printf_grows)
{
    sw_buf_t b;
    int i;

    sw_buf_init(&b);
    for (i = 0; i < 10000; i++) {
        sw_buf_printf(&b, "%d,", i);
    }
    ASSERT(sw_buf_ok(&b));
    ASSERT_EQ(b.len, 48890);
    ASSERT(strncmp(b.data + b.len - 5, "9999,", 5) == 0);
    sw_buf_free(&b);
}

RUNNER_MAIN()
