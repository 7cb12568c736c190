/* slice.c — the Slice layer (Caffe's SliceLayer): cuts its bottom along
 * one axis into consecutive pieces, one per top; the inverse of Concat.
 *
 * slice_param:
 *   axis         the axis to cut (default 1; negative counts from the end)
 *   slice_dim    Caffe's legacy name for a non-negative axis (not both)
 *   slice_point  where the pieces begin: tops − 1 points, strictly
 *                increasing, each strictly inside the axis, so top t gets
 *                rows [point[t−1], point[t]) (point[−1] = 0, the last
 *                piece runs to the end).  Without points the axis is
 *                split into equal pieces, which the tops must divide.
 * Seen as outer × size × inner around the axis, top t copies, in each
 * outer block, its rows of the bottom; backward puts each top's diff back
 * in those rows, which together cover the whole bottom diff. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"

typedef struct {
    long axis_conf;
    bool legacy;        /* slice_dim given */
    int axis;
    int *start;         /* per top: first row on the axis */
} slice_priv;

static int slice_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    slice_priv *s = calloc(1, sizeof *s);
    if (!s) abort();
    l->priv = s;
    s->start = calloc((size_t)nt + 1, sizeof *s->start);
    if (!s->start) abort();
    cf_node *p;
    if (cf_layer_param_map(l, "slice_param", &p, err)) return -1;
    s->legacy = cf_node_has(p, "slice_dim");
    if (s->legacy && cf_node_has(p, "axis"))
        return cf_layer_error(l, cf_node_get(p, "slice_dim"), err,
                              "give either slice_param.axis or the legacy slice_dim, not both");
    if (s->legacy) return cf_get_int_range(p, "slice_dim", 1, 0, CF_MAX_AXES - 1, &s->axis_conf, err);
    return cf_get_int(p, "axis", 1, &s->axis_conf, err);
}

/* The first row of every piece (start[nt] = the axis size), from the
 * points or the equal split. */
static int piece_starts(cf_layer *l, slice_priv *s, int size, int nt, cf_error *err)
{
    cf_node *p = cf_node_get(l->conf, "slice_param");
    size_t np = cf_node_count(p, "slice_point");
    s->start[0] = 0;
    s->start[nt] = size;
    if (np == 0) {
        if (size % nt)
            return cf_layer_error(l, p, err,
                                  "slice axis %d has size %d, which %d tops cannot split equally (give slice_point)",
                                  s->axis, size, nt);
        for (int t = 1; t < nt; t++) s->start[t] = t * (size / nt);
        return 0;
    }
    if (np != (size_t)nt - 1)
        return cf_layer_error(l, cf_node_at(p, "slice_point", 0), err,
                              "%zu slice points for %d tops (give one fewer point than tops)", np, nt);
    long prev = 0;
    for (size_t i = 0; i < np; i++) {
        long v;
        if (cf_get_int_at(p, "slice_point", i, &v, err)) return -1;
        cf_node *at = cf_node_at(p, "slice_point", i);
        if (v <= 0 || v >= size)
            return cf_layer_error(l, at, err, "slice_point %ld is out of range: axis %d has size %d (points lie in 1..%d)",
                                  v, s->axis, size, size - 1);
        if (v <= prev)
            return cf_layer_error(l, at, err, "slice_point %ld is not greater than the point before it (%ld)", v,
                                  prev);
        s->start[i + 1] = (int)v;
        prev = v;
    }
    return 0;
}

static int slice_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    slice_priv *s = l->priv;
    const cf_blob *b = bottom[0];
    cf_node *p = cf_node_get(l->conf, "slice_param");
    if (s->axis_conf < INT_MIN || s->axis_conf > INT_MAX || cf_blob_axis(b, (int)s->axis_conf, &s->axis, NULL))
        return cf_layer_error(l, cf_node_get(p, s->legacy ? "slice_dim" : "axis"), err,
                              "slice axis %ld is out of range for a bottom with %d axes", s->axis_conf, b->naxes);
    if (piece_starts(l, s, b->shape[s->axis], nt, err)) return -1;
    int shape[CF_MAX_AXES];
    memcpy(shape, b->shape, sizeof shape);
    for (int t = 0; t < nt; t++) {
        shape[s->axis] = s->start[t + 1] - s->start[t];
        if (cf_blob_reshape(top[t], b->naxes, shape, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    }
    return 0;
}

/* Copy top t's rows between it and the bottom: into the top when
 * forward, back into the bottom when not. */
static void move_rows(const slice_priv *s, cf_backend *be, const cf_blob *b, int t, const float *from, float *to,
                      bool forward)
{
    size_t outer = cf_blob_count_range(b, 0, s->axis), inner = cf_blob_count_range(b, s->axis + 1, b->naxes);
    size_t rows = (size_t)(s->start[t + 1] - s->start[t]), brows = (size_t)b->shape[s->axis];
    for (size_t o = 0; o < outer; o++) {
        size_t bo = (o * brows + (size_t)s->start[t]) * inner, to_ = o * rows * inner;
        if (forward) cf_copy(be, rows * inner, from + bo, to + to_);
        else cf_copy(be, rows * inner, from + to_, to + bo);
    }
}

static int slice_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    slice_priv *s = l->priv;
    const float *x = cf_blob_data(bottom[0]);
    for (int t = 0; t < nt; t++) move_rows(s, l->be, bottom[0], t, x, cf_blob_mdata(top[t]), true);
    return 0;
}

static void slice_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    slice_priv *s = l->priv;
    float *dx = cf_blob_mdiff(bottom[0]);
    for (int t = 0; t < nt; t++) move_rows(s, l->be, bottom[0], t, cf_blob_diff(top[t]), dx, false);
}

static void slice_destroy(cf_layer *l)
{
    slice_priv *s = l->priv;
    if (!s) return;
    free(s->start);
    free(s);
}

const cf_layer_ops cf_layer_Slice = {
    .type = "Slice",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = -1,
    .setup = slice_setup,
    .reshape = slice_reshape,
    .forward = slice_forward,
    .backward = slice_backward,
    .destroy = slice_destroy,
};
