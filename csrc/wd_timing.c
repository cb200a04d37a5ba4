/* The watchdog's timing decisions; see wd_timing.h. */
#include "wd_timing.h"
#include "watchdog.h"

uint64_t
sw_wd_poll_ns(uint64_t threshold_ns)
{
    uint64_t p = threshold_ns / 20;

    return p < SW_WD_POLL_MIN_NS   ? SW_WD_POLL_MIN_NS
           : p > SW_WD_POLL_MAX_NS ? SW_WD_POLL_MAX_NS
                                   : p;
}

static void
start_stall(sw_wd_watch_t *w, uint64_t now, uint64_t since, uint64_t update_ns,
            sw_wd_todo_t *td)
{
    w->stalled = 1;
    w->stalls++;
    w->stall_start_ns = since;
    w->update_step_ns = update_ns;
    w->next_update_ns = now + w->update_step_ns;
    td->what = SW_WD_TODO_START;
    td->duration_ns = now - since;
}

uint64_t
sw_wd_check(sw_wd_watch_t *w, uint64_t now, uint64_t update_ns,
            const sw_wd_hub_seen_t *hub, sw_wd_todo_t *td)
{
    uint64_t next = now + SW_WD_IDLE_SLEEP_NS;

    td->what = 0;
    if (w->kind == SW_WD_HUB) {
        uint64_t sw = hub->switches;
        uint32_t cur = hub->current;

        if (sw != w->switches) {
            w->switches = sw;
            w->since_ns = now;
            if (w->stalled) {
                w->stalled = 0;
                td->what = SW_WD_TODO_END;
                td->duration_ns = now - w->stall_start_ns;
            }
        }
        else if (!w->stalled && cur != 0 && cur != w->hub &&
                 now - w->since_ns >= w->threshold_ns) {
            start_stall(w, now, w->since_ns, update_ns, td);
            td->greenlet = cur;
        }
        next = now + sw_wd_poll_ns(w->threshold_ns);
        if (!w->stalled && cur != 0 && cur != w->hub &&
            w->since_ns + w->threshold_ns > now &&
            w->since_ns + w->threshold_ns < next) {
            next = w->since_ns + w->threshold_ns; /* no later than due */
        }
    }
    else if (w->kind == SW_WD_LOOP) {
        /* The loop marks when it enters and leaves its selector
         * (sw_wd_select); it is blocked when it has been out of the
         * selector for the threshold. */
        uint64_t beat =
            atomic_load_explicit(&w->beat_ns, memory_order_acquire);
        int idle = atomic_load_explicit(&w->in_select, memory_order_relaxed);
        /* A ticked loop last seen waiting (idle_ns) has been busy since
         * then at most, whatever its last tick. */
        uint64_t b = w->idle_ns > beat ? w->idle_ns : beat;

        if (beat != w->last_beat) {
            w->last_beat = beat;
            w->dormant = 0;
            if (w->stalled) {
                w->stalled = 0;
                td->what = SW_WD_TODO_END;
                td->duration_ns = beat - w->stall_start_ns;
            }
        }
        else if (!idle && !w->stalled && !w->dormant &&
                 now - b >= w->threshold_ns) {
            start_stall(w, now, b, update_ns, td);
        }
        next = now + sw_wd_poll_ns(w->threshold_ns);
        if (!idle && !w->stalled && b + w->threshold_ns > now &&
            b + w->threshold_ns < next) {
            next = b + w->threshold_ns;
        }
    }
    else {
        uint64_t at = w->since_ns + w->threshold_ns;

        if (w->removed) {
            if (w->stalled) {
                w->stalled = 0;
                td->what = SW_WD_TODO_END;
                td->duration_ns = w->end_ns - w->since_ns;
            }
            return next;
        }
        if (!w->stalled) {
            if (now >= at) {
                start_stall(w, now, w->since_ns, update_ns, td);
            }
            else {
                next = at;
            }
        }
    }
    if (w->stalled && td->what == 0 && now >= w->next_update_ns) {
        td->what = SW_WD_TODO_UPDATE;
        td->duration_ns = now - w->stall_start_ns;
        w->update_step_ns *= 2;
        if (w->update_step_ns > SW_WD_UPDATE_MAX_NS) {
            w->update_step_ns = SW_WD_UPDATE_MAX_NS;
        }
        w->next_update_ns = now + w->update_step_ns;
    }
    if (w->stalled && w->next_update_ns < next) {
        next = w->next_update_ns;
    }
    return next;
}

int
sw_wd_mem_step(sw_wd_mem_state_t *m, uint64_t rss, uint64_t max)
{
    if (rss > m->peak) {
        m->peak = rss;
    }
    if (!m->over && rss > max) {
        m->over = 1;
        m->peak = rss;
        return SW_WDE_MEM_OVER;
    }
    if (m->over && rss <= max) {
        m->over = 0;
        return SW_WDE_MEM_UNDER;
    }
    return 0;
}
