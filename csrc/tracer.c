/* The tracer's store; see tracer.h for the design. */
#include <stdlib.h>

#include "tracer.h"

void
sw_tracer_init(sw_trace_store_t *s, size_t limit)
{
    s->threads = NULL;
    s->limit = limit;
    s->used = 0;
    s->start_ns = 0;
    s->stop_ns = 0;
}

void
sw_tracer_free(sw_trace_store_t *s)
{
    sw_trace_thread_t *t = s->threads;

    while (t != NULL) {
        sw_trace_thread_t *next = t->next;
        sw_trace_chunk_t *c = t->head;

        while (c != NULL) {
            sw_trace_chunk_t *cn = c->next;

            free(c);
            c = cn;
        }
        free(t->name);
        free(t);
        t = next;
    }
    s->threads = NULL;
    s->used = 0;
}

sw_trace_thread_t *
sw_tracer_thread_new(sw_trace_store_t *s, uint64_t ident, long tid)
{
    sw_trace_thread_t *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        return NULL;
    }
    t->ident = ident;
    t->tid = tid;
    t->next = s->threads;
    s->threads = t;
    return t;
}

void
sw_tracer_put_slow(sw_trace_store_t *s, sw_trace_thread_t *t, uint64_t ts,
                   uint32_t id, uint32_t kind)
{
    sw_trace_chunk_t *c = NULL;

    if (!t->full && s->used + sizeof(*c) <= s->limit) {
        c = malloc(sizeof(*c));
    }
    if (c == NULL) {
        if (!t->full) {
            t->full = 1;
            t->drop_ts = ts;
        }
        t->dropped++;
        return;
    }
    s->used += sizeof(*c);
    c->next = NULL;
    c->n = 0;
    if (t->tail != NULL) {
        t->tail->next = c;
    }
    else {
        t->head = c;
    }
    t->tail = c;
    sw_tracer_put(s, t, ts, id, kind);
}

void
sw_tracer_totals(const sw_trace_store_t *s, uint64_t *events,
                 uint64_t *dropped, size_t *threads)
{
    const sw_trace_thread_t *t;

    *events = 0;
    *dropped = 0;
    *threads = 0;
    for (t = s->threads; t != NULL; t = t->next) {
        *events += t->events;
        *dropped += t->dropped;
        (*threads)++;
    }
}
