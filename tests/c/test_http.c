/* The HTTP endpoint's pure parts (csrc/http.c): the request parser, the
 * head's end, the token check, and the Prometheus text (csrc/metrics.c).
 * The server itself is tested through real sockets
 * (tests/test_http*.py). */
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "metrics.h"
#include "runner.h"

static int
parse(const char *text, sw_http_req_t *req)
{
    static char buf[SW_HTTP_HEAD_MAX + 1];
    size_t n = strlen(text);

    memcpy(buf, text, n + 1);
    return sw_http_parse(buf, n, req);
}

TEST(parses_a_get_with_a_query)
{
    sw_http_req_t req;

    ASSERT_EQ(parse("GET /threads?format=json&x=a%20b+c HTTP/1.1\r\n"
                    "Host: h\r\nAuthorization:  Bearer t  \r\n\r\n",
                    &req),
              0);
    ASSERT_STR_EQ(req.path, "/threads");
    ASSERT_STR_EQ(sw_http_param(&req, "format"), "json");
    ASSERT_STR_EQ(sw_http_param(&req, "x"), "a b c");
    ASSERT(sw_http_param(&req, "y") == NULL);
    ASSERT_STR_EQ(req.auth, "Bearer t");
}

TEST(refuses_what_is_not_a_plain_get)
{
    sw_http_req_t req;

    ASSERT_EQ(parse("POST / HTTP/1.1\r\n\r\n", &req), 405);
    ASSERT_EQ(parse("GET / HTTP/1.2\r\n\r\n", &req), 505);
    ASSERT_EQ(parse("GET / HTTP/1.1 x\r\n\r\n", &req), 400);
    ASSERT_EQ(parse("GET x HTTP/1.1\r\n\r\n", &req), 400);
    ASSERT_EQ(parse("GET / HTTP/1.1\r\nnocolon\r\n\r\n", &req), 400);
    ASSERT_EQ(parse("GET /?a=%4 HTTP/1.1\r\n\r\n", &req), 400);
    ASSERT_EQ(parse("GET /?=1 HTTP/1.1\r\n\r\n", &req), 400);
    ASSERT_EQ(parse("GET /%00 HTTP/1.1\r\n\r\n", &req), 400);
    ASSERT_EQ(parse("GET /?a&b&c&d&e&f&g&h&i HTTP/1.1\r\n\r\n", &req), 400);
}

TEST(a_request_line_over_the_limit_is_414)
{
    static char text[SW_HTTP_LINE_MAX + 64];
    sw_http_req_t req;

    memset(text, 'a', sizeof(text));
    memcpy(text, "GET /", 5);
    strcpy(text + SW_HTTP_LINE_MAX + 1, " HTTP/1.1\r\n\r\n");
    ASSERT_EQ(parse(text, &req), 414);
}

TEST(finds_the_end_of_the_head)
{
    ASSERT_EQ(sw_http_head_end("GET / HTTP/1.1\r\n", 16), 0);
    ASSERT_EQ(sw_http_head_end("GET / HTTP/1.1\r\n\r\nbody", 22), 18);
    ASSERT_EQ(sw_http_head_end("GET / HTTP/1.1\n\n", 16), 16);
}

TEST(checks_the_token)
{
    ASSERT_EQ(sw_http_token_ok("Bearer abc", "abc"), 1);
    ASSERT_EQ(sw_http_token_ok("Bearer abd", "abc"), 0);
    ASSERT_EQ(sw_http_token_ok("Bearer ab", "abc"), 0);
    ASSERT_EQ(sw_http_token_ok("Bearer abcd", "abc"), 0);
    ASSERT_EQ(sw_http_token_ok("bearer abc", "abc"), 0);
    ASSERT_EQ(sw_http_token_ok(NULL, "abc"), 0);
    ASSERT_EQ(sw_http_token_ok("Bearer ", ""), 0);
}

TEST(metrics_histogram_is_cumulative)
{
    sw_metrics_in_t in;
    sw_buf_t out;

    memset(&in, 0, sizeof(in));
    in.wd.stalls[SW_WD_DEADLINE] = 2;
    in.wd.hist[0] = 1;            /* <= 0.05 s */
    in.wd.hist[4] = 1;            /* <= 1 s */
    in.wd.hist[SW_WD_HIST_N] = 1; /* > 60 s */
    in.wd.hist_count = 3;
    in.threads = 3;
    sw_buf_init(&out);
    sw_metrics_format(&in, &out);
    ASSERT(sw_buf_ok(&out));
    ASSERT(strstr(out.data, "stackwatch_watchdog_stalls_total{kind="
                            "\"deadline\"} 2\n") != NULL);
    ASSERT(strstr(out.data, "_bucket{le=\"0.05\"} 1\n") != NULL);
    ASSERT(strstr(out.data, "_bucket{le=\"0.5\"} 1\n") != NULL);
    ASSERT(strstr(out.data, "_bucket{le=\"1\"} 2\n") != NULL);
    ASSERT(strstr(out.data, "_bucket{le=\"60\"} 2\n") != NULL);
    ASSERT(strstr(out.data, "_bucket{le=\"+Inf\"} 3\n") != NULL);
    ASSERT(strstr(out.data, "stackwatch_python_threads 3\n") != NULL);
    sw_buf_free(&out);
}

RUNNER_MAIN()
