/* speedscope's file format: shared frames, and one "sampled" profile per
 * group (per thread with by_thread, per greenlet with by_greenlet, else
 * one for the whole process).  Stacks are listed root first; weights are
 * nanoseconds (wall or CPU) or sample counts ("none"). */
#include <stdlib.h>

#include "writers/writer.h"

static const char *
unit_of(int weight)
{
    return weight == SW_WEIGHT_SAMPLES ? "none" : "nanoseconds";
}

/* Opens the profile of the group of sample e. */
static void
open_profile(const sw_session_t *s, const sw_write_opts_t *o,
             const sw_ssample_t *e, int first, sw_buf_t *out)
{
    sw_buf_t name;

    sw_buf_init(&name);
    if (o->by_thread || o->by_greenlet) {
        sw_group_prefix(s, e, o, " / ", &name);
        if (!sw_buf_ok(&name) || name.len < 3) {
            out->failed = 1;
            sw_buf_free(&name);
            return;
        }
        name.len -= 3; /* the trailing separator */
        name.data[name.len] = '\0';
    }
    else {
        sw_buf_puts(&name, "all threads");
    }
    sw_buf_puts(out, first ? "\n  {" : ",\n  {");
    sw_buf_puts(out, "\"type\": \"sampled\", \"name\": ");
    sw_buf_json_str(out, name.data ? name.data : "");
    sw_buf_printf(out, ", \"unit\": \"%s\", \"startValue\": 0",
                  unit_of(o->weight));
    sw_buf_free(&name);
}

/* Closes a profile: its samples and weights were collected apart. */
static void
close_profile(uint64_t total, sw_buf_t *samples, sw_buf_t *weights,
              sw_buf_t *out)
{
    sw_buf_printf(out, ", \"endValue\": %llu,\n   \"samples\": [",
                  (unsigned long long)total);
    sw_buf_put(out, samples->data ? samples->data : "", samples->len);
    sw_buf_puts(out, "],\n   \"weights\": [");
    sw_buf_put(out, weights->data ? weights->data : "", weights->len);
    sw_buf_puts(out, "]}");
    samples->len = 0;
    weights->len = 0;
}

int
sw_write_speedscope(const sw_session_t *s, const sw_write_opts_t *o,
                    sw_buf_t *out)
{
    sw_buf_t samples, weights;
    uint32_t *order, n, i, f;
    uint32_t *frames = malloc(((size_t)s->nnodes + 1) * sizeof(*frames));
    uint64_t group = 0, total = 0;
    int open = 0;

    order = sw_sorted_samples(s, o, &n);
    if (order == NULL || frames == NULL) {
        free(order);
        free(frames);
        return -1;
    }
    sw_buf_init(&samples);
    sw_buf_init(&weights);
    sw_buf_puts(out,
                "{\"$schema\": "
                "\"https://www.speedscope.app/file-format-schema.json\",\n");
    sw_buf_puts(out, " \"name\": ");
    sw_buf_json_str(out, o->title ? o->title : "stackwatch profile");
    sw_buf_puts(out, ",\n \"exporter\": ");
    sw_buf_json_str(out, o->exporter ? o->exporter : "stackwatch");
    sw_buf_puts(out,
                ",\n \"activeProfileIndex\": 0,\n \"shared\": {\"frames\": [");
    for (f = 1; f < s->nframes; f++) {
        const sw_sframe_t *fr = &s->frames[f];

        sw_buf_puts(out, f > 1 ? ",\n  {\"name\": " : "\n  {\"name\": ");
        sw_buf_json_str(out, sw_session_str(s, fr->name));
        if (fr->file != 0) {
            sw_buf_puts(out, ", \"file\": ");
            sw_buf_json_str(out, sw_session_str(s, fr->file));
        }
        if (fr->line >= 0) {
            sw_buf_printf(out, ", \"line\": %d", fr->line);
        }
        sw_buf_putc(out, '}');
    }
    sw_buf_puts(out, "]},\n \"profiles\": [");
    for (i = 0; i < n; i++) {
        const sw_ssample_t *e = &s->samples[order[i]];
        uint64_t g = sw_sample_group(s, e, o),
                 w = sw_sample_weight(e, o->weight);
        int k, depth;

        if (!open || g != group) {
            if (open) {
                close_profile(total, &samples, &weights, out);
            }
            open_profile(s, o, e, !open, out);
            open = 1;
            group = g;
            total = 0;
        }
        depth = sw_stack_frames(s, e->node, frames, (int)s->nnodes);
        sw_buf_puts(&samples, samples.len ? ",[" : "[");
        for (k = 0; k < depth; k++) {
            sw_buf_printf(&samples, k ? ",%u" : "%u", frames[k] - 1);
        }
        sw_buf_putc(&samples, ']');
        sw_buf_printf(&weights, weights.len ? ",%llu" : "%llu",
                      (unsigned long long)w);
        total += w;
    }
    if (open) {
        close_profile(total, &samples, &weights, out);
    }
    sw_buf_puts(out, "\n ]\n}\n");
    open = sw_buf_ok(out) && sw_buf_ok(&samples) && sw_buf_ok(&weights);
    sw_buf_free(&samples);
    sw_buf_free(&weights);
    free(order);
    free(frames);
    return open ? 0 : -1;
}
