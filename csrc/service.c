/* The service channel; see service.h.
 *
 * Threads: any number of native askers and notifiers, one service
 * thread.  `mu` guards the question slot; `pending` (atomic) carries
 * notification bits; the eventfd wakes the service thread.  One question
 * is in flight at a time; a second asker waits for the slot within its
 * own deadline. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "service.h"

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;
    _Atomic unsigned pending;
    _Atomic int alive;
    /* The question slot, under mu. */
    int busy;  /* a question is in flight */
    int taken; /* the service thread has it */
    int answered;
    uint64_t id, next_id;
    uint32_t kind, flags;
    char *answer;
    size_t answer_len;
} svc = {.mu = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

int
sw_service_init(void)
{
    if (svc.fd >= 0) {
        return 0;
    }
    sw_cond_init_monotonic(&svc.cv);
    svc.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return svc.fd >= 0 ? 0 : -1;
}

void
sw_service_notify(unsigned bits)
{
    uint64_t one = 1;
    ssize_t rc;

    atomic_fetch_or(&svc.pending, bits);
    if (svc.fd >= 0) {
        rc = write(svc.fd, &one, sizeof(one));
        (void)rc; /* EAGAIN: the counter is already non-zero */
    }
}

void
sw_service_set_alive(int alive)
{
    atomic_store(&svc.alive, alive);
}

int
sw_service_alive(void)
{
    return atomic_load(&svc.alive);
}

int
sw_service_ask(uint32_t kind, uint32_t flags, uint64_t timeout_ns,
               sw_buf_t *reply)
{
    struct timespec deadline = sw_timespec(sw_now_ns() + timeout_ns);
    uint64_t id;
    int got = 0;

    if (!sw_service_alive()) {
        return 0;
    }
    pthread_mutex_lock(&svc.mu);
    while (svc.busy) {
        if (pthread_cond_timedwait(&svc.cv, &svc.mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&svc.mu);
            return 0;
        }
    }
    svc.busy = 1;
    svc.taken = 0;
    svc.answered = 0;
    id = svc.id = ++svc.next_id;
    svc.kind = kind;
    svc.flags = flags;
    pthread_mutex_unlock(&svc.mu);
    sw_service_notify(SW_SVC_QUESTION);

    pthread_mutex_lock(&svc.mu);
    while (!svc.answered) {
        if (pthread_cond_timedwait(&svc.cv, &svc.mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    if (svc.answered && svc.id == id) {
        sw_buf_put(reply, svc.answer ? svc.answer : "", svc.answer_len);
        got = 1;
    }
    free(svc.answer);
    svc.answer = NULL;
    svc.answer_len = 0;
    svc.busy = 0;
    svc.id = 0; /* a late answer finds no question */
    pthread_cond_broadcast(&svc.cv);
    pthread_mutex_unlock(&svc.mu);
    return got;
}

unsigned
sw_service_take(uint64_t timeout_ns, uint64_t *id, uint32_t *kind,
                uint32_t *flags)
{
    struct pollfd p;
    uint64_t count;
    unsigned bits;
    ssize_t rc;

    *id = 0;
    *kind = *flags = 0;
    p.fd = svc.fd;
    p.events = POLLIN;
    if (atomic_load(&svc.pending) == 0) {
        poll(&p, 1, (int)(timeout_ns / 1000000u));
    }
    rc = read(svc.fd, &count, sizeof(count));
    (void)rc;
    bits = atomic_exchange(&svc.pending, 0);
    if (bits & SW_SVC_QUESTION) {
        pthread_mutex_lock(&svc.mu);
        if (svc.busy && !svc.taken) {
            svc.taken = 1;
            *id = svc.id;
            *kind = svc.kind;
            *flags = svc.flags;
        }
        pthread_mutex_unlock(&svc.mu);
    }
    return bits;
}

void
sw_service_answer(uint64_t id, const char *text, size_t len)
{
    pthread_mutex_lock(&svc.mu);
    if (svc.busy && svc.id == id && !svc.answered) {
        svc.answer = malloc(len + 1);
        if (svc.answer != NULL) {
            memcpy(svc.answer, text, len);
            svc.answer[len] = '\0';
            svc.answer_len = len;
        }
        svc.answered = 1;
        pthread_cond_broadcast(&svc.cv);
    }
    pthread_mutex_unlock(&svc.mu);
}

void
sw_service_atfork_prepare(void)
{
    pthread_mutex_lock(&svc.mu);
}

void
sw_service_atfork_parent(void)
{
    pthread_mutex_unlock(&svc.mu);
}

void
sw_service_atfork_child(void)
{
    svc.busy = svc.taken = svc.answered = 0;
    svc.id = 0;
    svc.answer = NULL; /* not freed: only async-signal-safe calls here */
    atomic_store(&svc.pending, 0);
    atomic_store(&svc.alive, 0);
    if (svc.fd >= 0) {
        close(svc.fd);
        svc.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    }
    sw_cond_init_monotonic(&svc.cv);
    pthread_mutex_unlock(&svc.mu);
}
