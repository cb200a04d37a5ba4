/* SIGTERM for a process of `stackwatch record -- COMMAND` (_tree.py).
 *
 * A process of the tree hands its samples over before SIGTERM ends it.
 * A Python-level handler cannot do that reliably: CPython runs it in the
 * main thread only, when that thread next evaluates code, and a main
 * thread that is past its last check and about to block in a wait that
 * is not interrupted again (a worker of multiprocessing's Pool on the
 * queue's lock, which Pool.terminate() keeps) never runs it: the signal
 * is swallowed and the process hangs where SIGTERM would have ended it.
 *
 * So the handler is C: it notes the signal and posts a semaphore.  The
 * tree's flusher thread waits on that semaphore (term_wait, the GIL
 * released), hands the samples over and ends the process by SIGTERM
 * again with its default action (term_disarm, then kill).  The handler
 * is installed only over the default action, and taken out only while
 * it is still the one installed: a handler the program sets afterwards
 * (signal.signal) replaces it and decides for itself.  While the final
 * part is written at exit, the handler only notes a SIGTERM; the caller
 * delivers it once the part is written (term_got).
 *
 * The last part needs the GIL, which a thread stuck in a long C call
 * may hold for good: a native thread (all signals blocked) gives the
 * flusher GRACE seconds after the signal, then ends the process by
 * SIGTERM's default action itself (it loses the samples since its last
 * part, at most a second's). */
#include "termwait_py.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Seconds the flusher has to write the last part after a SIGTERM. */
#define GRACE 3

static sem_t term_sem;  /* the flusher's (term_wait) */
static sem_t watch_sem; /* the native watcher's */
static sem_t done_sem;  /* posted by term_disarm: no need to end it */
static volatile sig_atomic_t term_seen;
static int term_armed;
static pid_t watcher_pid; /* the process whose watcher runs */

static void
term_handler(int sig)
{
    int saved = errno;
    (void)sig;

    term_seen = 1;
    sem_post(&term_sem); /* async-signal-safe */
    sem_post(&watch_sem);
    errno = saved;
}

static int handler_is_ours(void);

static void
deadline_in(struct timespec *end, double seconds)
{
    clock_gettime(CLOCK_REALTIME, end);
    end->tv_sec += (time_t)seconds;
    end->tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
    if (end->tv_nsec >= 1000000000L) {
        end->tv_sec++;
        end->tv_nsec -= 1000000000L;
    }
}

static void *
watcher_main(void *arg)
{
    struct timespec end;
    int rc;
    (void)arg;

    while (sem_wait(&watch_sem) < 0 && errno == EINTR) {
    }
    deadline_in(&end, GRACE);
    do {
        rc = sem_timedwait(&done_sem, &end);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 && handler_is_ours()) {
        struct sigaction act;

        memset(&act, 0, sizeof(act));
        act.sa_handler = SIG_DFL;
        sigemptyset(&act.sa_mask);
        sigaction(SIGTERM, &act, NULL);
        kill(getpid(), SIGTERM);
    }
    return NULL;
}

/* Starts this process's watcher (after a fork too: threads do not
 * survive one).  0, or an errno value. */
static int
start_watcher(void)
{
    pthread_t t;
    pthread_attr_t attr;
    sigset_t all, old;
    int rc;

    if (watcher_pid == getpid()) {
        return 0;
    }
    if (sem_init(&watch_sem, 0, term_seen ? 1 : 0) < 0 ||
        sem_init(&done_sem, 0, 0) < 0) {
        return errno;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &attr, watcher_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
        watcher_pid = getpid();
    }
    return rc;
}

static int
handler_is_ours(void)
{
    struct sigaction cur;

    return sigaction(SIGTERM, NULL, &cur) == 0 &&
           !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == term_handler;
}

/* term_arm() -> bool: installs the handler over SIGTERM's default
 * action (False, nothing done, when another handler is installed); a
 * forked child calls it again for a semaphore of its own (a SIGTERM it
 * got already stays noted). */
static PyObject *
term_arm_py(PyObject *m, PyObject *noargs)
{
    struct sigaction cur, act;
    (void)m;
    (void)noargs;

    if (sigaction(SIGTERM, NULL, &cur) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (term_armed && !handler_is_ours()) {
        term_armed = 0; /* replaced by the program's */
    }
    if (!term_armed &&
        ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL)) {
        Py_RETURN_FALSE;
    }
    if (sem_init(&term_sem, 0, term_seen ? 1 : 0) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    errno = start_watcher();
    if (errno != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    memset(&act, 0, sizeof(act));
    act.sa_handler = term_handler;
    sigfillset(&act.sa_mask);
    act.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &act, NULL) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    term_armed = 1;
    Py_RETURN_TRUE;
}

/* term_wait(seconds) -> bool: True once a SIGTERM was noted (at once if
 * it was already), False after `seconds` without one.  Releases the
 * GIL. */
static PyObject *
term_wait_py(PyObject *m, PyObject *args)
{
    double seconds;
    struct timespec end;
    int rc;
    (void)m;

    if (!PyArg_ParseTuple(args, "d:term_wait", &seconds)) {
        return NULL;
    }
    if (!term_armed || term_seen) {
        return PyBool_FromLong(term_seen);
    }
    deadline_in(&end, seconds);
    Py_BEGIN_ALLOW_THREADS
        do {
            rc = sem_timedwait(&term_sem, &end);
        } while (rc < 0 && errno == EINTR && !term_seen);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(term_seen);
}

/* term_got() -> bool: whether the handler noted a SIGTERM. */
static PyObject *
term_got_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    return PyBool_FromLong(term_seen);
}

/* term_disarm() -> bool: puts SIGTERM's default action back when the
 * handler is still ours; True then. */
static PyObject *
term_disarm_py(PyObject *m, PyObject *noargs)
{
    int ours;
    (void)m;
    (void)noargs;

    ours = term_armed && handler_is_ours();
    if (ours) {
        struct sigaction act;

        memset(&act, 0, sizeof(act));
        act.sa_handler = SIG_DFL;
        sigemptyset(&act.sa_mask);
        if (sigaction(SIGTERM, &act, NULL) < 0) {
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    if (term_armed && watcher_pid == getpid()) {
        sem_post(&done_sem); /* the caller delivers a SIGTERM noted */
    }
    term_armed = 0;
    return PyBool_FromLong(ours);
}

static PyMethodDef termwait_methods[] = {
    {"term_arm", term_arm_py, METH_NOARGS, NULL},
    {"term_wait", term_wait_py, METH_VARARGS, NULL},
    {"term_got", term_got_py, METH_NOARGS, NULL},
    {"term_disarm", term_disarm_py, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

int
sw_termwait_py_init(PyObject *m)
{
    return PyModule_AddFunctions(m, termwait_methods);
}
