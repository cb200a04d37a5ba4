/* A minimal runner for the pure-C unit tests (tests/c/test_*.c).
 *
 * Each test file defines tests with TEST(name) { ... } and ends with
 * RUNNER_MAIN().  Run with no argument, the binary lists its tests; run
 * with a test name, it runs that one test and exits 0 on success.
 * tests/test_c_units.py compiles each file against the sources it needs
 * and runs every test in its own process, so a crash fails one test.
 *
 * ASSERT_EQ and friends print both sides on failure. */
#ifndef SW_TEST_RUNNER_H
#define SW_TEST_RUNNER_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*sw_test_fn)(void);

struct sw_test {
    const char *name;
    sw_test_fn fn;
};

#define SW_MAX_TESTS 256
static struct sw_test sw_tests[SW_MAX_TESTS];
static int sw_ntests;

#define TEST(tname)                                                 \
    static void test_##tname(void);                                 \
    __attribute__((constructor)) static void register_##tname(void) \
    {                                                               \
        if (sw_ntests < SW_MAX_TESTS) {                             \
            sw_tests[sw_ntests].name = #tname;                      \
            sw_tests[sw_ntests++].fn = test_##tname;                \
        }                                                           \
    }                                                               \
    static void test_##tname(void)

#define FAIL(...)                                       \
    do {                                                \
        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
        fprintf(stderr, __VA_ARGS__);                   \
        fputc('\n', stderr);                            \
        exit(1);                                        \
    } while (0)

#define ASSERT(cond)                             \
    do {                                         \
        if (!(cond))                             \
            FAIL("assertion failed: %s", #cond); \
    } while (0)

#define ASSERT_EQ(a, b)                                           \
    do {                                                          \
        long long sw_a_ = (long long)(a), sw_b_ = (long long)(b); \
        if (sw_a_ != sw_b_)                                       \
            FAIL("%s == %s: %lld != %lld", #a, #b, sw_a_, sw_b_); \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                              \
    do {                                                                 \
        const char *sw_a_ = (a), *sw_b_ = (b);                           \
        if (strcmp(sw_a_, sw_b_) != 0)                                   \
            FAIL("%s == %s:\n  \"%s\"\n  \"%s\"", #a, #b, sw_a_, sw_b_); \
    } while (0)

#define RUNNER_MAIN()                                     \
    int main(int argc, char **argv)                       \
    {                                                     \
        int i;                                            \
        if (argc < 2) {                                   \
            for (i = 0; i < sw_ntests; i++)               \
                puts(sw_tests[i].name);                   \
            return 0;                                     \
        }                                                 \
        for (i = 0; i < sw_ntests; i++) {                 \
            if (strcmp(sw_tests[i].name, argv[1]) == 0) { \
                sw_tests[i].fn();                         \
                return 0;                                 \
            }                                             \
        }                                                 \
        fprintf(stderr, "no test named %s\n", argv[1]);   \
        return 2;                                         \
    }

#endif
