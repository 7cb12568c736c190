/* tile.c — the Tile layer (Caffe's TileLayer): repeats the bottom along
 * one axis.
 *
 * tile_param:
 *   axis   the axis to repeat along (default 1; negative counts from the end)
 *   tiles  how many copies (required, at least 1)
 * Seen as outer × inner around the axis (outer = count(0, axis), inner =
 * count(axis, end)), each outer block of the top is its bottom block
 * `tiles` times over; the top's axis is tiles times the bottom's.
 * Backward sums the diffs of the copies back into the bottom. */
#include <limits.h>
#include <stdlib.h>

#include "layer.h"

typedef struct {
    long axis_conf, tiles;
    int axis;
    size_t outer, inner;
} tile_priv;

static int tile_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    tile_priv *t = calloc(1, sizeof *t);
    if (!t) abort();
    l->priv = t;
    cf_node *p;
    if (cf_layer_param_map(l, "tile_param", &p, err) || cf_get_int(p, "axis", 1, &t->axis_conf, err)) return -1;
    if (!cf_node_has(p, "tiles")) return cf_layer_error(l, p, err, "tile_param: field 'tiles' is missing");
    return cf_get_int_range(p, "tiles", 1, 1, INT_MAX, &t->tiles, err);
}

static int tile_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    tile_priv *t = l->priv;
    const cf_blob *b = bottom[0];
    if (t->axis_conf < INT_MIN || t->axis_conf > INT_MAX || cf_blob_axis(b, (int)t->axis_conf, &t->axis, NULL))
        return cf_layer_error(l, cf_node_get(cf_node_get(l->conf, "tile_param"), "axis"), err,
                              "tile_param: axis %ld is out of range for a bottom with %d axes", t->axis_conf,
                              b->naxes);
    int shape[CF_MAX_AXES];
    for (int i = 0; i < b->naxes; i++) shape[i] = b->shape[i];
    if ((long)shape[t->axis] * t->tiles > INT_MAX)
        return cf_layer_error(l, NULL, err, "tile_param: %ld tiles of axis %d (size %d) are too many", t->tiles,
                              t->axis, shape[t->axis]);
    shape[t->axis] *= (int)t->tiles;
    t->outer = cf_blob_count_range(b, 0, t->axis);
    t->inner = cf_blob_count_range(b, t->axis, b->naxes);
    if (cf_blob_reshape(top[0], b->naxes, shape, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    return 0;
}

static int tile_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    tile_priv *t = l->priv;
    const float *x = cf_blob_data(bottom[0]);
    float *y = cf_blob_mdata(top[0]);
    for (size_t o = 0; o < t->outer; o++)
        for (long k = 0; k < t->tiles; k++)
            cf_copy(l->be, t->inner, x + o * t->inner, y + (o * (size_t)t->tiles + (size_t)k) * t->inner);
    return 0;
}

static void tile_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    tile_priv *t = l->priv;
    const float *dy = cf_blob_diff(top[0]);
    float *dx = cf_blob_mdiff(bottom[0]);
    for (size_t o = 0; o < t->outer; o++) {
        const float *src = dy + o * (size_t)t->tiles * t->inner;
        cf_copy(l->be, t->inner, src, dx + o * t->inner);
        for (long k = 1; k < t->tiles; k++) cf_axpy(l->be, t->inner, 1.0f, src + (size_t)k * t->inner, dx + o * t->inner);
    }
}

const cf_layer_ops cf_layer_Tile = {
    .type = "Tile",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .setup = tile_setup,
    .reshape = tile_reshape,
    .forward = tile_forward,
    .backward = tile_backward,
};
