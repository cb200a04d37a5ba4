/* On-demand profiles; see ondemand.h.
 *
 * State.  One slot (O.busy, taken by start with a compare-and-swap, given
 * back by finish) and the session being filled (O.session, owned here
 * until finish hands it over).  O.mu guards the session pointer against
 * sw_ondemand_greenlet_ids() and the cancel flag with its condition
 * variable; it is never held while joining the sampler or asking the GIL
 * side.  Lock order: O.mu -> the session's lock. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "ondemand.h"
#include "sampler.h"
#include "service.h"
#include "snapshot.h"

#define MAX_DURATION_NS (86400 * SW_NS_PER_S)

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled by cancel */
    int cv_ready;
    _Atomic int busy;
    int cancelled;
    sw_session_t *session;
    sw_codecache_t *cache;
    sw_ondemand_cfg_t cfg;
    uint64_t start_ns, end_ns; /* end_ns: when its duration is over */
} O = {.mu = PTHREAD_MUTEX_INITIALIZER};

void
sw_ondemand_use_cache(sw_codecache_t *cache)
{
    O.cache = cache;
}

int
sw_ondemand_busy(void)
{
    return atomic_load(&O.busy);
}

int
sw_ondemand_start(const sw_ondemand_cfg_t *cfg, char *err, size_t errlen)
{
    sw_sampler_cfg_t scfg;
    sw_session_t *s;
    int expect = 0, rc;

    if (cfg->duration_ns <= 0 ||
        (uint64_t)cfg->duration_ns > MAX_DURATION_NS) {
        snprintf(err, errlen,
                 "the duration must be more than 0 and at most 86400 s");
        return SW_EINVAL;
    }
    if (cfg->mode < SW_MODE_WALL || cfg->mode > SW_MODE_GIL ||
        cfg->lines < SW_LINES_CURRENT || cfg->lines > SW_LINES_NONE) {
        snprintf(err, errlen, "bad mode or lines");
        return SW_EINVAL;
    }
    if (cfg->rate_hz < 1 || cfg->rate_hz > 1000) {
        snprintf(err, errlen, "rate must be between 1 and 1000 Hz, not %g",
                 cfg->rate_hz);
        return SW_EINVAL;
    }
    if (O.cache == NULL) {
        snprintf(err, errlen, "stackwatch is not initialized");
        return SW_EINVAL;
    }
    if (!atomic_compare_exchange_strong(&O.busy, &expect, 1)) {
        snprintf(err, errlen,
                 "busy: another on-demand profile is being taken in process "
                 "%d; try again when it ends",
                 (int)getpid());
        return SW_EBUSY;
    }
    s = sw_session_new(NULL);
    if (s == NULL) {
        atomic_store(&O.busy, 0);
        snprintf(err, errlen, "out of memory for an on-demand profile");
        return SW_ENOMEM;
    }
    s->lines = cfg->lines;
    memset(&scfg, 0, sizeof(scfg));
    scfg.rate_hz = cfg->rate_hz;
    scfg.mode = cfg->mode;
    scfg.duration_ns = cfg->duration_ns;
    pthread_mutex_lock(&O.mu);
    if (!O.cv_ready) {
        sw_cond_init_monotonic(&O.cv);
        O.cv_ready = 1;
    }
    O.session = s;
    O.cfg = *cfg;
    O.cancelled = 0;
    O.start_ns = sw_now_ns();
    O.end_ns = O.start_ns + (uint64_t)cfg->duration_ns;
    pthread_mutex_unlock(&O.mu);
    rc = sw_sampler_start_in(SW_SAMPLER_ONDEMAND, s, O.cache, &scfg, err,
                             errlen);
    if (rc < 0) {
        int saved = errno;

        pthread_mutex_lock(&O.mu);
        O.session = NULL;
        pthread_mutex_unlock(&O.mu);
        sw_sampler_stop_in(SW_SAMPLER_ONDEMAND, NULL, 0);
        sw_session_free(s);
        atomic_store(&O.busy, 0);
        errno = saved;
        return rc;
    }
    return 0;
}

int
sw_ondemand_wait(uint64_t timeout_ns)
{
    uint64_t until = sw_now_ns() + timeout_ns;
    int over = 0;

    pthread_mutex_lock(&O.mu);
    for (;;) {
        uint64_t now = sw_now_ns(), next;
        struct timespec ts;

        if (O.session == NULL || O.cancelled || now >= O.end_ns ||
            !sw_sampler_running_in(SW_SAMPLER_ONDEMAND)) {
            over = 1;
            break;
        }
        if (now >= until) {
            break;
        }
        /* The sampler may stop by itself (interpreter exit): look again
         * at least every 50 ms. */
        next = now + 50000000ull;
        if (next > until) {
            next = until;
        }
        if (next > O.end_ns) {
            next = O.end_ns;
        }
        ts = sw_timespec(next);
        pthread_cond_timedwait(&O.cv, &O.mu, &ts);
    }
    pthread_mutex_unlock(&O.mu);
    return over;
}

void
sw_ondemand_cancel(void)
{
    pthread_mutex_lock(&O.mu);
    if (O.session != NULL) {
        O.cancelled = 1;
        if (O.cv_ready) {
            pthread_cond_broadcast(&O.cv);
        }
    }
    pthread_mutex_unlock(&O.mu);
}

/* Names the session's threads from the names cache.  Caller owns s. */
static void
name_threads(sw_session_t *s)
{
    uint32_t i;

    pthread_mutex_lock(&s->mu);
    for (i = 1; i < s->nthreads; i++) {
        sw_sthread_t *t = &s->threads[i];
        char name[SW_THREAD_NAME_MAX];

        if (t->name == 0 &&
            sw_names_get(t->ident, t->tid, name, sizeof(name))) {
            (void)sw_session_name_thread(s, i, name);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* Applies the GIL side's answer: lines "gid\tlabel\tgroup text". */
static void
apply_labels(sw_session_t *s, char *text)
{
    char *line = text, *next;

    pthread_mutex_lock(&s->mu);
    for (; line != NULL && *line != '\0'; line = next) {
        char *label, *group, *end;
        unsigned long gid;

        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        label = strchr(line, '\t');
        if (label == NULL) {
            continue;
        }
        *label++ = '\0';
        group = strchr(label, '\t');
        if (group != NULL) {
            *group++ = '\0';
        }
        gid = strtoul(line, &end, 10);
        if (*end != '\0' || gid == 0 || gid > SW_MAX_GREENLET_ID) {
            continue;
        }
        (void)sw_session_label_greenlet(s, (uint32_t)gid, label);
        if (group != NULL && *group != '\0') {
            (void)sw_session_group_greenlet(s, (uint32_t)gid, group);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

static int
has_greenlets(sw_session_t *s)
{
    uint32_t i;
    int any = 0;

    pthread_mutex_lock(&s->mu);
    for (i = 1; i < s->nsamples && !any; i++) {
        any = s->samples[i].greenlet != 0;
    }
    pthread_mutex_unlock(&s->mu);
    return any;
}

/* Asks the GIL side for the greenlets' labels (up to gil_wait_ns). */
static void
label_greenlets(sw_session_t *s, uint64_t gil_wait_ns)
{
    sw_buf_t reply;

    if (gil_wait_ns == 0 || !has_greenlets(s)) {
        return;
    }
    sw_buf_init(&reply);
    if (sw_service_ask(SW_SERVICE_ASK_OD_LABELS, 0, gil_wait_ns, &reply) &&
        sw_buf_ok(&reply) && reply.len > 0) {
        apply_labels(s, reply.data);
    }
    sw_buf_free(&reply);
}

int
sw_ondemand_finish(sw_ondemand_result_t *res, uint64_t gil_wait_ns, char *err,
                   size_t errlen)
{
    sw_session_t *s;
    double rate;
    int rc;

    memset(res, 0, sizeof(*res));
    if (!atomic_load(&O.busy) || O.session == NULL) {
        if (err != NULL) {
            snprintf(err, errlen, "no on-demand profile was started");
        }
        return SW_EINVAL;
    }
    s = O.session;
    /* Early: stopped before its duration was over (cancelled, or the
     * interpreter exiting stopped the sampler). */
    pthread_mutex_lock(&O.mu);
    res->early = O.cancelled || sw_now_ns() + 1000000ull < O.end_ns;
    pthread_mutex_unlock(&O.mu);
    rate = sw_sampler_effective_rate_in(SW_SAMPLER_ONDEMAND);
    rc = sw_sampler_stop_in(SW_SAMPLER_ONDEMAND, NULL, 0);
    name_threads(s);
    label_greenlets(s, gil_wait_ns);
    pthread_mutex_lock(&O.mu);
    O.session = NULL;
    O.cancelled = 0;
    pthread_mutex_unlock(&O.mu);
    pthread_mutex_lock(&s->mu);
    res->seconds = s->sampled_ns / 1e9;
    pthread_mutex_unlock(&s->mu);
    res->session = s;
    res->rate_hz = O.cfg.rate_hz;
    res->mode = O.cfg.mode;
    res->effective_rate = rate;
    res->error = rc;
    atomic_store(&O.busy, 0);
    return 0;
}

int
sw_ondemand_snapshot(uint64_t gil_wait_ns, sw_buf_t *out)
{
    sw_ondemand_result_t res;
    sw_session_t *s = O.session;

    if (!atomic_load(&O.busy) || s == NULL) {
        return SW_EINVAL;
    }
    name_threads(s);
    label_greenlets(s, gil_wait_ns);
    memset(&res, 0, sizeof(res));
    res.session = s;
    res.rate_hz = O.cfg.rate_hz;
    res.mode = O.cfg.mode;
    res.effective_rate = sw_sampler_effective_rate_in(SW_SAMPLER_ONDEMAND);
    res.seconds = (sw_now_ns() - O.start_ns) / 1e9;
    return sw_ondemand_encode(&res, out);
}

static const char *const mode_names[] = {"wall", "cpu", "gil"};

int
sw_ondemand_encode(const sw_ondemand_result_t *res, sw_buf_t *out)
{
    sw_session_t *s = res->session;
    int pid = (int)getpid();
    uint32_t i, *path = NULL;
    int first = 1;

    path = malloc(sizeof(*path) * (SW_MAX_DEPTH + 64));
    if (path == NULL) {
        return SW_ENOMEM;
    }
    pthread_mutex_lock(&s->mu);
    sw_buf_puts(out, "stackwatch-fork-part 1\n");
    sw_buf_printf(
        out,
        "{\"pid\":%d,\"stats\":{\"samples\":%llu,\"dropped\":%llu,"
        "\"read_errors\":%llu,\"bad_frames\":%llu,\"bad_threads\":%llu,"
        "\"sampler_cpu_seconds\":%.6f,\"passes\":%llu,\"reused\":%llu,"
        "\"labels_dropped\":%llu,\"rate\":%g,\"effective_rate\":%.3f,"
        "\"seconds\":%.6f,\"mode\":\"%s\",\"early\":%s,\"error\":%d},"
        "\"frames\":[",
        pid, (unsigned long long)s->samples_taken,
        (unsigned long long)s->samples_dropped,
        (unsigned long long)s->read_errors, (unsigned long long)s->bad_frames,
        (unsigned long long)s->bad_threads, s->sampler_cpu_ns / 1e9,
        (unsigned long long)s->passes, (unsigned long long)s->reused,
        (unsigned long long)s->labels_dropped, res->rate_hz,
        res->effective_rate, res->seconds,
        mode_names[res->mode >= 0 && res->mode <= 2 ? res->mode : 0],
        res->early ? "true" : "false", res->error);
    for (i = 1; i < s->nframes; i++) {
        const sw_sframe_t *f = &s->frames[i];

        sw_buf_puts(out, i > 1 ? ",[" : "[");
        sw_buf_json_str(out, sw_session_str(s, f->name));
        sw_buf_putc(out, ',');
        sw_buf_json_str(out, sw_session_str(s, f->file));
        sw_buf_printf(out, ",%d,%d]", f->line, (int)f->first);
    }
    sw_buf_puts(out, "],\"rows\":[");
    for (i = 1; i < s->nsamples; i++) {
        const sw_ssample_t *e = &s->samples[i];
        const sw_sthread_t *t;
        const char *glabel;
        uint32_t group;
        int n, k;

        if (e->node == 0 || e->count == 0 || e->thread >= s->nthreads) {
            continue;
        }
        n = sw_stack_frames(s, e->node, path, SW_MAX_DEPTH + 64);
        if (n <= 0) {
            continue;
        }
        t = &s->threads[e->thread];
        sw_buf_puts(out, first ? "[" : ",[");
        first = 0;
        sw_buf_printf(out, "%d,%u,%lu,%ld,", pid, e->thread, t->ident, t->tid);
        if (t->name != 0) {
            sw_buf_json_str(out, sw_session_str(s, t->name));
        }
        else {
            sw_buf_puts(out, "null");
        }
        sw_buf_printf(out, ",%u,", e->greenlet);
        glabel =
            e->greenlet ? sw_session_greenlet_label(s, e->greenlet) : NULL;
        if (glabel != NULL) {
            sw_buf_json_str(out, glabel);
        }
        else {
            sw_buf_puts(out, "null");
        }
        sw_buf_puts(out, ",[");
        for (k = 0; k < n; k++) {
            sw_buf_printf(out, k ? ",%u" : "%u", path[k] - 1);
        }
        sw_buf_printf(out, "],%llu,%llu,%llu,%u,",
                      (unsigned long long)e->count,
                      (unsigned long long)e->wall_ns,
                      (unsigned long long)e->cpu_ns, e->gil);
        group = e->greenlet ? sw_session_greenlet_group(s, e->greenlet) : 0;
        if (group != 0) {
            sw_buf_json_str(out, sw_session_str(s, group));
        }
        else {
            sw_buf_puts(out, "null");
        }
        sw_buf_putc(out, ']');
    }
    sw_buf_puts(out, "]}\n");
    pthread_mutex_unlock(&s->mu);
    free(path);
    return sw_buf_ok(out) ? 0 : SW_ENOMEM;
}

int
sw_ondemand_greenlet_ids(sw_buf_t *out)
{
    sw_session_t *s;
    uint8_t *seen;
    uint32_t i;

    seen = calloc(SW_MAX_GREENLET_ID + 1, 1);
    if (seen == NULL) {
        return SW_ENOMEM;
    }
    pthread_mutex_lock(&O.mu);
    s = O.session;
    if (s != NULL) {
        pthread_mutex_lock(&s->mu);
        for (i = 1; i < s->nsamples; i++) {
            const sw_ssample_t *e = &s->samples[i];
            uint32_t root;

            if (e->greenlet == 0 || e->greenlet > SW_MAX_GREENLET_ID ||
                seen[e->greenlet]) {
                continue;
            }
            seen[e->greenlet] = 1;
            /* With the function its outermost frame runs: a dead
             * greenlet is labelled by it. */
            root = e->node ? sw_stack_root(s, e->node) : 0;
            sw_buf_printf(out, "%u\t", e->greenlet);
            if (root != 0) {
                sw_buf_puts(out, sw_session_str(
                                     s, s->frames[s->nodes[root].frame].name));
            }
            sw_buf_putc(out, '\n');
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&O.mu);
    free(seen);
    return sw_buf_ok(out) ? 0 : SW_ENOMEM;
}

void
sw_ondemand_atfork_child(void)
{
    sw_session_t *s = O.session;

    pthread_mutex_init(&O.mu, NULL);
    if (O.cv_ready) {
        sw_cond_init_monotonic(&O.cv);
    }
    O.session = NULL;
    O.cancelled = 0;
    if (s != NULL) {
        /* The parent's request: its session is the parent's business
         * (the sampler's child handler already forgot it). */
        sw_session_atfork_child(s);
        sw_session_free(s);
    }
    atomic_store(&O.busy, 0);
}
