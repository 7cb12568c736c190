/* flatten.c — Flatten layer: axes axis..end_axis of the bottom become one
 * axis, e.g. N×C×H×W with the defaults (axis 1, end_axis −1) gives
 * N×(C·H·W).  Negative axes count from the end, as Caffe's
 * flatten_param.  As in Caffe, end_axis = axis − 1 flattens nothing and
 * inserts an axis of size 1.
 *
 * No copy: the top shares the bottom's data and diff memory, and sharing
 * is renewed at every reshape in case the bottom was given other memory. */
#include <stdlib.h>

#include "layer.h"

typedef struct {
    long axis, end_axis;
} flatten_priv;

static int flatten_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    long axis, end_axis;
    if (cf_layer_param_map(l, "flatten_param", &p, err) || cf_get_int(p, "axis", 1, &axis, err) ||
        cf_get_int(p, "end_axis", -1, &end_axis, err))
        return -1;
    flatten_priv *f = malloc(sizeof *f);
    if (!f) abort();
    f->axis = axis;
    f->end_axis = end_axis;
    l->priv = f;
    return 0;
}

/* Canonical index of a possibly negative axis, with the error pointing at
 * the field that gave it. */
static int canon(cf_layer *l, const cf_blob *b, long axis, const char *field, int *out, cf_error *err)
{
    long a = axis < 0 ? axis + b->naxes : axis;
    if (a < 0 || a >= b->naxes) {
        cf_node *p = cf_node_get(l->conf, "flatten_param");
        return cf_layer_error(l, p ? cf_node_get(p, field) : NULL, err,
                              "flatten_param: %s %ld is out of range for a bottom with %d axes", field, axis,
                              b->naxes);
    }
    *out = (int)a;
    return 0;
}

static int flatten_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    flatten_priv *f = l->priv;
    const cf_blob *b = bottom[0];
    int start = 0, end = 0;
    if (canon(l, b, f->axis, "axis", &start, err) || canon(l, b, f->end_axis, "end_axis", &end, err)) return -1;
    if (end + 1 < start)
        return cf_layer_error(l, NULL, err, "flatten_param: end_axis %ld comes before axis %ld", f->end_axis,
                              f->axis);
    int shape[CF_MAX_AXES], n = 0;
    for (int i = 0; i < start; i++) shape[n++] = b->shape[i];
    shape[n++] = (int)cf_blob_count_range(b, start, end + 1);
    for (int i = end + 1; i < b->naxes; i++) shape[n++] = b->shape[i];
    if (n > CF_MAX_AXES)
        return cf_layer_error(l, NULL, err, "flatten_param: the top would have %d axes (at most %d)", n, CF_MAX_AXES);
    if (cf_blob_reshape(top[0], n, shape, err)) return -1;
    cf_blob_share_data(top[0], b);
    cf_blob_share_diff(top[0], b);
    return 0;
}

/* Nothing to compute: the top is the bottom's memory seen in another shape. */
static int flatten_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err) { return 0; }

/* The diff is shared too, so the bottom already holds the top's gradient. */
static void flatten_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb) {}

const cf_layer_ops cf_layer_Flatten = {
    .type = "Flatten",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .setup = flatten_setup,
    .reshape = flatten_reshape,
    .forward = flatten_forward,
    .backward = flatten_backward,
};
