/* Redaction patterns for native code; see redact.h. */
#include <ctype.h>
#include <pthread.h>
#include <string.h>

#include "errors.h"
#include "redact.h"

#define MAX_PATTERNS 64
#define PATTERN_LEN 64
#define NAME_LEN 200 /* bytes of a name looked at, as _saferepr does */

static struct {
    pthread_mutex_t mu;
    int set; /* 0 until patterns are given: every name is secret */
    size_t n;
    char p[MAX_PATTERNS][PATTERN_LEN];
} R = {.mu = PTHREAD_MUTEX_INITIALIZER};

int
sw_redact_set(const char *const *patterns, size_t n)
{
    size_t i;

    if (n > MAX_PATTERNS) {
        n = MAX_PATTERNS;
    }
    pthread_mutex_lock(&R.mu);
    for (i = 0; i < n; i++) {
        strncpy(R.p[i], patterns[i], PATTERN_LEN - 1);
        R.p[i][PATTERN_LEN - 1] = '\0';
    }
    R.n = n;
    R.set = 1;
    pthread_mutex_unlock(&R.mu);
    return 0;
}

int
sw_redact_is_secret(const char *name)
{
    char key[NAME_LEN + 1];
    size_t i;
    int secret = 0;

    for (i = 0; i < NAME_LEN && name[i] != '\0'; i++) {
        char c = name[i];

        key[i] = c == '-' ? '_' : (char)tolower((unsigned char)c);
    }
    key[i] = '\0';
    pthread_mutex_lock(&R.mu);
    if (!R.set) {
        secret = 1;
    }
    for (i = 0; i < R.n && !secret; i++) {
        secret = R.p[i][0] != '\0' && strstr(key, R.p[i]) != NULL;
    }
    pthread_mutex_unlock(&R.mu);
    return secret;
}
