/* concat.c — the Concat layer (Caffe's ConcatLayer): joins its bottoms
 * along one axis.
 *
 * concat_param { axis: 1 } or the legacy concat_dim (a non-negative axis;
 * not both).  Every bottom must have the same number of axes and the same
 * size on every axis but the joined one, whose sizes add up in the top.
 * Seen as outer × size × inner around the axis (outer = count(0, axis),
 * inner = count(axis+1, end)), bottom b fills, in each outer block, the
 * rows [offset_b, offset_b + size_b) of the top; backward hands each
 * bottom back its rows of the top's diff.
 */
#include <stdlib.h>
#include <string.h>

#include "layer.h"

typedef struct {
    long axis_conf;
    bool legacy;        /* concat_dim given */
    int axis;
} concat_priv;

static int concat_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    concat_priv *s = calloc(1, sizeof *s);
    if (!s) abort();
    l->priv = s;
    cf_node *p;
    if (cf_layer_param_map(l, "concat_param", &p, err)) return -1;
    s->legacy = cf_node_has(p, "concat_dim");
    if (s->legacy && cf_node_has(p, "axis"))
        return cf_layer_error(l, cf_node_get(p, "concat_dim"), err,
                              "give either concat_param.axis or the legacy concat_dim, not both");
    if (s->legacy) return cf_get_int_range(p, "concat_dim", 1, 0, CF_MAX_AXES - 1, &s->axis_conf, err);
    return cf_get_int(p, "axis", 1, &s->axis_conf, err);
}

static int concat_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    concat_priv *s = l->priv;
    cf_node *p = cf_node_get(l->conf, "concat_param");
    if (cf_blob_axis(bottom[0], (int)s->axis_conf, &s->axis, err))
        return cf_layer_error(l, cf_node_get(p, s->legacy ? "concat_dim" : "axis"), err,
                              "concat axis %ld is out of range for bottom 0 with %d axes", s->axis_conf,
                              bottom[0]->naxes);
    int shape[CF_MAX_AXES];
    memcpy(shape, bottom[0]->shape, sizeof shape);
    for (int b = 1; b < nb; b++) {
        bool same = bottom[b]->naxes == bottom[0]->naxes;
        for (int a = 0; same && a < bottom[0]->naxes; a++)
            if (a != s->axis && bottom[b]->shape[a] != bottom[0]->shape[a]) same = false;
        if (!same) {
            char x[128], y[128];
            return cf_layer_error(l, NULL, err,
                                  "bottom %d has shape %s but bottom 0 has %s: all axes but axis %d must match", b,
                                  cf_blob_shape_str(bottom[b], x, sizeof x), cf_blob_shape_str(bottom[0], y, sizeof y),
                                  s->axis);
        }
        shape[s->axis] += bottom[b]->shape[s->axis];
    }
    return cf_blob_reshape(top[0], bottom[0]->naxes, shape, err);
}

/* Copy bottom b's rows between it and the top (whose rows for b start at
 * offset): from b into the top when forward, from the top into b when not. */
static void move_rows(const concat_priv *s, cf_backend *be, const cf_blob *b, const cf_blob *t, int offset,
                      const float *from, float *to, bool forward)
{
    size_t outer = cf_blob_count_range(b, 0, s->axis), inner = cf_blob_count_range(b, s->axis + 1, b->naxes);
    size_t rows = (size_t)b->shape[s->axis], top_rows = (size_t)t->shape[s->axis];
    for (size_t o = 0; o < outer; o++) {
        size_t bo = o * rows * inner, to_ = (o * top_rows + (size_t)offset) * inner;
        if (forward) cf_copy(be, rows * inner, from + bo, to + to_);
        else cf_copy(be, rows * inner, from + to_, to + bo);
    }
}

static int concat_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    concat_priv *s = l->priv;
    float *y = cf_blob_mdata(top[0]);
    int offset = 0;
    for (int b = 0; b < nb; b++) {
        move_rows(s, l->be, bottom[b], top[0], offset, cf_blob_data(bottom[b]), y, true);
        offset += bottom[b]->shape[s->axis];
    }
    return 0;
}

static void concat_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    concat_priv *s = l->priv;
    const float *dy = cf_blob_diff(top[0]);
    int offset = 0;
    for (int b = 0; b < nb; b++) {
        if (prop[b]) move_rows(s, l->be, bottom[b], top[0], offset, dy, cf_blob_mdiff(bottom[b]), false);
        offset += bottom[b]->shape[s->axis];
    }
}

const cf_layer_ops cf_layer_Concat = {
    .type = "Concat",
    .min_bottom = 1, .max_bottom = -1,
    .min_top = 1, .max_top = 1,
    .setup = concat_setup,
    .reshape = concat_reshape,
    .forward = concat_forward,
    .backward = concat_backward,
};
