/* Unit tests of the one frame and stack formatter (stackfmt.c): both
 * styles, unknown lines and files, base names, order, hidden frames and
 * source lines.
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -Icsrc -Itests/c tests/c/test_stackfmt.c
 *        csrc/stackfmt.c csrc/buf.c; run with no argument to list the
 *        tests, with a name to run one. */
#include <stdio.h>
#include <unistd.h>

#include "buf.h"
#include "runner.h"
#include "stackfmt.h"

/* One frame formatted, as a string the test owns (static buffer). */
static const char *
fmt(const char *name, const char *file, int line, int style, unsigned flags)
{
    static char text[512];
    const sw_fmt_frame_t f = {name, file, line};
    sw_buf_t b;

    sw_buf_init(&b);
    sw_stackfmt_frame(&b, &f, style, flags);
    ASSERT(sw_buf_ok(&b));
    snprintf(text, sizeof(text), "%.*s", (int)b.len, b.data ? b.data : "");
    sw_buf_free(&b);
    return text;
}

TEST(label_style)
{
    ASSERT_STR_EQ(fmt("work", "/app/lib.py", 20, SW_FMT_LABEL, 0),
                  "work (/app/lib.py:20)");
    ASSERT_STR_EQ(fmt("work", "/app/lib.py", 0, SW_FMT_LABEL, 0),
                  "work (/app/lib.py:0)");
    ASSERT_STR_EQ(fmt("work", "/app/lib.py", -1, SW_FMT_LABEL, 0),
                  "work (/app/lib.py)");
    ASSERT_STR_EQ(fmt("<idle>", NULL, -1, SW_FMT_LABEL, 0), "<idle>");
    ASSERT_STR_EQ(fmt("f", "", 3, SW_FMT_LABEL, 0), "f (:3)");
}

TEST(label_style_with_base_names)
{
    ASSERT_STR_EQ(
        fmt("work", "/app/pkg/lib.py", 20, SW_FMT_LABEL, SW_FMT_BASENAME),
        "work (lib.py:20)");
    ASSERT_STR_EQ(fmt("work", "lib.py", -1, SW_FMT_LABEL, SW_FMT_BASENAME),
                  "work (lib.py)");
    /* No base name: just the function, as the profiler's summary did. */
    ASSERT_STR_EQ(fmt("work", "/app/", 3, SW_FMT_LABEL, SW_FMT_BASENAME),
                  "work");
    ASSERT_STR_EQ(fmt("work", NULL, 3, SW_FMT_LABEL, SW_FMT_BASENAME), "work");
}

TEST(label_style_with_short_paths)
{
    const char *const prefixes[] = {
        "/v/lib/python3.11",
        "/v/lib/python3.11/site-packages/",
        "relative",
        "/",
        "/app",
        "/v/lib/python3.11",
    };

    ASSERT_EQ(sw_stackfmt_set_prefixes(prefixes, 6), 0);
    /* The longest prefix that is a directory of the file goes. */
    ASSERT_STR_EQ(fmt("wait", "/v/lib/python3.11/site-packages/gevent/hub.py",
                      647, SW_FMT_LABEL, SW_FMT_SHORT),
                  "wait (gevent/hub.py:647)");
    ASSERT_STR_EQ(fmt("run", "/v/lib/python3.11/asyncio/events.py", 80,
                      SW_FMT_TRACEBACK, SW_FMT_SHORT),
                  "File \"asyncio/events.py\", line 80, in run");
    ASSERT_STR_EQ(fmt("f", "/app/a.py", 1, SW_FMT_LABEL, SW_FMT_SHORT),
                  "f (a.py:1)");
    /* Not a directory prefix, under none, not a path, the prefix itself:
     * as they are.  Without the flag: full. */
    ASSERT_STR_EQ(fmt("f", "/application/a.py", 1, SW_FMT_LABEL, SW_FMT_SHORT),
                  "f (/application/a.py:1)");
    ASSERT_STR_EQ(fmt("f", "/other/a.py", 1, SW_FMT_LABEL, SW_FMT_SHORT),
                  "f (/other/a.py:1)");
    ASSERT_STR_EQ(fmt("f", "<frozen os>", 1, SW_FMT_LABEL, SW_FMT_SHORT),
                  "f (<frozen os>:1)");
    ASSERT_STR_EQ(fmt("f", "relative/a.py", 1, SW_FMT_LABEL, SW_FMT_SHORT),
                  "f (relative/a.py:1)");
    ASSERT_STR_EQ(fmt("f", "/app/", 1, SW_FMT_LABEL, SW_FMT_SHORT),
                  "f (/app/:1)");
    ASSERT_STR_EQ(fmt("f", "/app/a.py", 1, SW_FMT_LABEL, 0),
                  "f (/app/a.py:1)");
    /* Base names win over short paths. */
    ASSERT_STR_EQ(fmt("f", "/app/pkg/a.py", 1, SW_FMT_LABEL,
                      SW_FMT_SHORT | SW_FMT_BASENAME),
                  "f (a.py:1)");
    /* A new table replaces the old one; the same one again is kept. */
    ASSERT_EQ(sw_stackfmt_set_prefixes(prefixes + 4, 1), 0);
    ASSERT_EQ(sw_stackfmt_set_prefixes(prefixes + 4, 1), 0);
    ASSERT_STR_EQ(sw_stackfmt_short_path("/v/lib/python3.11/os.py"),
                  "/v/lib/python3.11/os.py");
    ASSERT_STR_EQ(sw_stackfmt_short_path("/app/pkg/a.py"), "pkg/a.py");
    ASSERT_EQ(sw_stackfmt_set_prefixes(NULL, 0), 0);
    ASSERT_STR_EQ(sw_stackfmt_short_path("/app/pkg/a.py"), "/app/pkg/a.py");
    ASSERT(sw_stackfmt_short_path(NULL) == NULL);
}

TEST(traceback_style)
{
    ASSERT_STR_EQ(fmt("main", "/app/a.py", 7, SW_FMT_TRACEBACK, 0),
                  "File \"/app/a.py\", line 7, in main");
    ASSERT_STR_EQ(fmt("main", "/app/a.py", -1, SW_FMT_TRACEBACK, 0),
                  "File \"/app/a.py\", in main");
    ASSERT_STR_EQ(
        fmt("main", "/app/a.py", 7, SW_FMT_TRACEBACK, SW_FMT_BASENAME),
        "File \"a.py\", line 7, in main");
}

static const sw_fmt_frame_t stack3[] = {
    {"leaf", "/app/b.py", 9},
    {"wrapper", "/site/stackwatch/deadlines.py", 60},
    {"<module>", "/app/a.py", 1},
};

static void
check_stack(const sw_fmt_opts_t *o, size_t expect_n, const char *expect)
{
    sw_buf_t b;

    sw_buf_init(&b);
    ASSERT_EQ(sw_stackfmt_stack(&b, sw_stackfmt_array_get, stack3, 3, o),
              expect_n);
    sw_buf_putc(&b, '\0');
    ASSERT(sw_buf_ok(&b));
    ASSERT_STR_EQ(b.data, expect);
    sw_buf_free(&b);
}

TEST(stack_orders_and_indent)
{
    sw_fmt_opts_t o = {.style = SW_FMT_LABEL, .indent = "    "};

    check_stack(&o, 3,
                "    leaf (/app/b.py:9)\n"
                "    wrapper (/site/stackwatch/deadlines.py:60)\n"
                "    <module> (/app/a.py:1)\n");
    o.flags = SW_FMT_OUTER_FIRST;
    o.style = SW_FMT_TRACEBACK;
    o.indent = NULL;
    check_stack(&o, 3,
                "File \"/app/a.py\", line 1, in <module>\n"
                "File \"/site/stackwatch/deadlines.py\", line 60, in "
                "wrapper\n"
                "File \"/app/b.py\", line 9, in leaf\n");
}

TEST(stack_hides_frames_under_the_prefix)
{
    sw_fmt_opts_t o = {.style = SW_FMT_LABEL, .hide = "/site/stackwatch/"};
    const sw_fmt_frame_t mine = {"w", "/site/stackwatch/x.py", 1};
    const sw_fmt_frame_t theirs = {"w", "/site/other/x.py", 1};

    check_stack(&o, 2, "leaf (/app/b.py:9)\n<module> (/app/a.py:1)\n");
    o.hide = "";
    check_stack(&o, 3,
                "leaf (/app/b.py:9)\n"
                "wrapper (/site/stackwatch/deadlines.py:60)\n"
                "<module> (/app/a.py:1)\n");
    ASSERT_EQ(sw_stackfmt_hidden(&mine, "/site/stackwatch/"), 1);
    ASSERT_EQ(sw_stackfmt_hidden(&theirs, "/site/stackwatch/"), 0);
    ASSERT_EQ(sw_stackfmt_hidden(&mine, NULL), 0);
}

/* A file of known lines, removed at exit. */
static char source_path[64];

static void
remove_source(void)
{
    unlink(source_path);
}

static const char *
write_source(void)
{
    FILE *fp;
    int fd;

    snprintf(source_path, sizeof(source_path), "/tmp/swfmt-XXXXXX");
    fd = mkstemp(source_path);
    ASSERT(fd >= 0);
    atexit(remove_source);
    fp = fdopen(fd, "w");
    ASSERT(fp != NULL);
    fputs("def f():\n"
          "\t    x = 1  \r\n"
          "\n"
          "    return x\n",
          fp);
    fclose(fp);
    return source_path;
}

TEST(source_lines)
{
    const char *path = write_source();
    char text[160], small[5];

    ASSERT_EQ(sw_stackfmt_source_line(path, 1, text, sizeof(text)), 0);
    ASSERT_STR_EQ(text, "def f():");
    /* Indentation and CR dropped, trailing blanks kept, as dumps did. */
    ASSERT_EQ(sw_stackfmt_source_line(path, 2, text, sizeof(text)), 0);
    ASSERT_STR_EQ(text, "x = 1  ");
    ASSERT_EQ(sw_stackfmt_source_line(path, 3, text, sizeof(text)), -1);
    ASSERT_EQ(sw_stackfmt_source_line(path, 4, text, sizeof(text)), 0);
    ASSERT_STR_EQ(text, "return x");
    ASSERT_EQ(sw_stackfmt_source_line(path, 5, text, sizeof(text)), -1);
    ASSERT_EQ(sw_stackfmt_source_line(path, 0, text, sizeof(text)), -1);
    ASSERT_EQ(sw_stackfmt_source_line(path, 4, small, sizeof(small)), 0);
    ASSERT_STR_EQ(small, "retu");
    ASSERT_EQ(sw_stackfmt_source_line("<string>", 1, text, sizeof(text)), -1);
    ASSERT_EQ(
        sw_stackfmt_source_line("/no/such/file.py", 1, text, sizeof(text)),
        -1);
}

TEST(stack_with_source_lines)
{
    const char *path = write_source();
    const sw_fmt_frame_t frames[] = {
        {"f", path, 4}, {"g", path, 3}, {"h", "<string>", 1}};
    const sw_fmt_opts_t o = {.style = SW_FMT_LABEL,
                             .flags = SW_FMT_SOURCE,
                             .indent = "    ",
                             .source_indent = "        "};
    char expect[512];
    sw_buf_t b;

    snprintf(expect, sizeof(expect),
             "    f (%s:4)\n        return x\n"
             "    g (%s:3)\n"
             "    h (<string>:1)\n",
             path, path);
    sw_buf_init(&b);
    ASSERT_EQ(sw_stackfmt_stack(&b, sw_stackfmt_array_get, frames, 3, &o), 3);
    sw_buf_putc(&b, '\0');
    ASSERT_STR_EQ(b.data, expect);
    sw_buf_free(&b);
}

RUNNER_MAIN()
