/* crop.c — the Crop layer (Caffe's CropLayer): cuts bottom 0 down to the
 * shape of bottom 1 on every axis from `axis` on.
 *
 * crop_param:
 *   axis    first cropped axis (default 2: the spatial axes of NCHW;
 *           negative counts from the end)
 *   offset  where the kept window starts: none (all 0), one value for
 *           every cropped axis, or one per cropped axis
 * The top has bottom 0's sizes before `axis` and bottom 1's from it on:
 *     top[i0, …, in] = bottom0[i0 + o0, …, in + on]   (o = 0 before axis)
 * and on every cropped axis offset + bottom 1's size must fit in bottom 0.
 * Backward zeroes bottom 0's diff and puts the top's diff in the window.
 * Bottom 1 gives only its shape: its gradient is zero. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"

typedef struct {
    long axis_conf;
    int axis;
    int off[CF_MAX_AXES];   /* per axis of bottom 0 (0 before axis) */
} crop_priv;

static int crop_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    crop_priv *c = calloc(1, sizeof *c);
    if (!c) abort();
    l->priv = c;
    cf_node *p;
    if (cf_layer_param_map(l, "crop_param", &p, err) || cf_get_int(p, "axis", 2, &c->axis_conf, err)) return -1;
    size_t n = cf_node_count(p, "offset");
    for (size_t i = 0; i < n; i++) {
        long v;
        if (cf_get_int_at(p, "offset", i, &v, err)) return -1;
        if (v < 0 || v > INT_MAX)
            return cf_layer_error(l, cf_node_at(p, "offset", i), err, "crop_param: offset %ld must be >= 0", v);
    }
    return 0;
}

static int crop_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    crop_priv *c = l->priv;
    const cf_blob *a = bottom[0], *b = bottom[1];
    cf_node *p = cf_node_get(l->conf, "crop_param");
    char s0[128], s1[128];
    if (a->naxes != b->naxes)
        return cf_layer_error(l, NULL, err, "bottom 0 (%s) and bottom 1 (%s) must have the same number of axes",
                              cf_blob_shape_str(a, s0, sizeof s0), cf_blob_shape_str(b, s1, sizeof s1));
    if (c->axis_conf < INT_MIN || c->axis_conf > INT_MAX || cf_blob_axis(a, (int)c->axis_conf, &c->axis, NULL))
        return cf_layer_error(l, cf_node_get(p, "axis"), err, "crop_param: axis %ld is out of range for bottoms with %d axes",
                              c->axis_conf, a->naxes);
    size_t n = cf_node_count(p, "offset");
    int ncrop = a->naxes - c->axis;
    if (n > 1 && n != (size_t)ncrop)
        return cf_layer_error(l, cf_node_at(p, "offset", 0), err,
                              "crop_param: %zu offsets for %d cropped axes (give one for all, or one per axis from "
                              "axis %d on)", n, ncrop, c->axis);
    int shape[CF_MAX_AXES];
    for (int i = 0; i < a->naxes; i++) {
        long o = 0;
        if (i >= c->axis && n > 0 && cf_get_int_at(p, "offset", n == 1 ? 0 : (size_t)(i - c->axis), &o, err))
            return -1;
        c->off[i] = (int)o;
        shape[i] = i < c->axis ? a->shape[i] : b->shape[i];
        if (i >= c->axis && o + b->shape[i] > a->shape[i])
            return cf_layer_error(l, n ? cf_node_at(p, "offset", n == 1 ? 0 : (size_t)(i - c->axis)) : p, err,
                                  "crop_param: offset %ld on axis %d is too large: %ld + %d (bottom 1) is past "
                                  "bottom 0's size %d", o, i, o, b->shape[i], a->shape[i]);
    }
    if (cf_blob_reshape(top[0], a->naxes, shape, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    return 0;
}

/* Move every row (last axis) of the top between the top and its window
 * in bottom 0: from bottom to top when forward, back when not. */
static void move_window(const crop_priv *c, const cf_blob *bot, const cf_blob *top, const float *from, float *to,
                        bool forward)
{
    int n = top->naxes;
    if (top->count == 0) return;
    if (n == 0) {
        to[0] = from[0];
        return;
    }
    size_t row = (size_t)top->shape[n - 1], rows = top->count / row;
    size_t bstride[CF_MAX_AXES];
    bstride[n - 1] = 1;
    for (int i = n - 2; i >= 0; i--) bstride[i] = bstride[i + 1] * (size_t)bot->shape[i + 1];
    for (size_t r = 0; r < rows; r++) {
        size_t rem = r, bi = (size_t)c->off[n - 1];
        for (int i = n - 2; i >= 0; i--) {
            size_t k = rem % (size_t)top->shape[i];
            rem /= (size_t)top->shape[i];
            bi += (k + (size_t)c->off[i]) * bstride[i];
        }
        if (forward) memcpy(to + r * row, from + bi, row * sizeof(float));
        else memcpy(to + bi, from + r * row, row * sizeof(float));
    }
}

static int crop_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    move_window(l->priv, bottom[0], top[0], cf_blob_data(bottom[0]), cf_blob_mdata(top[0]), true);
    return 0;
}

static void crop_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (prop[0]) {
        float *dx = cf_blob_mdiff(bottom[0]);
        cf_set(l->be, bottom[0]->count, 0.0f, dx);
        move_window(l->priv, bottom[0], top[0], cf_blob_diff(top[0]), dx, false);
    }
    if (prop[1]) cf_set(l->be, bottom[1]->count, 0.0f, cf_blob_mdiff(bottom[1]));
}

const cf_layer_ops cf_layer_Crop = {
    .type = "Crop",
    .min_bottom = 2, .max_bottom = 2,
    .min_top = 1, .max_top = 1,
    .setup = crop_setup,
    .reshape = crop_reshape,
    .forward = crop_forward,
    .backward = crop_backward,
};
