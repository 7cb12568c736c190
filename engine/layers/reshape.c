/* reshape.c — Reshape layer: the bottom's memory seen in a new shape, as
 * Caffe's reshape_param:
 *   shape     the new dims, where 0 copies the bottom's size on that axis
 *             and one −1 is inferred so that the count is unchanged
 *   axis      first bottom axis replaced (0; negative counts from the end,
 *             −1 meaning "after the last axis")
 *   num_axes  how many bottom axes are replaced (−1: all from axis on)
 * E.g. 2×3×4×5 with shape [0, −1] gives 2×60; 2×8 with shape [1], axis 1,
 * num_axes 0 gives 2×1×8.
 *
 * No copy: the top shares the bottom's data and diff memory, renewed at
 * every reshape in case the bottom was given other memory. */
#include <limits.h>
#include <stdlib.h>

#include "layer.h"

typedef struct {
    int ndims;
    int dims[CF_MAX_AXES]; /* as written: >0 size, 0 copy, −1 infer */
    int inferred;          /* index of the −1 in dims, or −1 */
    long axis, num_axes;
    cf_node *shape_node, *axis_node, *num_axes_node; /* for error positions */
} reshape_priv;

static int read_dims(cf_layer *l, cf_node *s, reshape_priv *r, cf_error *err)
{
    size_t n = cf_node_count(s, "dim");
    if (n > CF_MAX_AXES)
        return cf_layer_error(l, s, err, "reshape_param: shape has %zu axes (at most %d)", n, CF_MAX_AXES);
    r->ndims = (int)n;
    r->inferred = -1;
    for (int i = 0; i < r->ndims; i++) {
        long d;
        if (cf_get_int_at(s, "dim", (size_t)i, &d, err)) return -1;
        cf_node *at = cf_node_at(s, "dim", (size_t)i);
        if (d < -1 || d > INT_MAX)
            return cf_layer_error(l, at, err,
                                  "reshape_param: dim %ld is invalid "
                                  "(give a size, 0 to copy the bottom's, or -1 to infer)", d);
        if (d == -1 && r->inferred >= 0)
            return cf_layer_error(l, at, err,
                                  "reshape_param: shape has more than one -1 (only one dim can be inferred)");
        if (d == -1) r->inferred = i;
        r->dims[i] = (int)d;
    }
    return 0;
}

static int reshape_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p, *s = NULL;
    reshape_priv *r = calloc(1, sizeof *r);
    if (!r) abort();
    l->priv = r;
    if (cf_layer_param_map(l, "reshape_param", &p, err) || cf_get_map(p, "shape", &s, err) ||
        cf_get_int(p, "axis", 0, &r->axis, err) || cf_get_int(p, "num_axes", -1, &r->num_axes, err))
        return -1;
    r->shape_node = s ? s : p;
    r->axis_node = cf_node_has(p, "axis") ? cf_node_get(p, "axis") : r->shape_node;
    r->num_axes_node = cf_node_has(p, "num_axes") ? cf_node_get(p, "num_axes") : r->shape_node;
    if (r->num_axes < -1)
        return cf_layer_error(l, r->num_axes_node, err,
                              "reshape_param: num_axes %ld is invalid "
                              "(give a count, or -1 for all axes from 'axis' on)", r->num_axes);
    return read_dims(l, s, r, err);
}

/* a · b, held at CF_MAX_COUNT + 1 once past it (still 0 when b is 0) */
static size_t mul_capped(size_t a, size_t b)
{
    return b && a > (CF_MAX_COUNT + 1) / b ? CF_MAX_COUNT + 1 : a * b;
}

static int reshape_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    reshape_priv *r = l->priv;
    const cf_blob *b = bottom[0];
    /* the span [start, end) of bottom axes that the new dims replace */
    long start = r->axis >= 0 ? r->axis : b->naxes + r->axis + 1;
    if (start < 0 || start > b->naxes)
        return cf_layer_error(l, r->axis_node, err, "reshape_param: axis %ld is out of range for a bottom with %d axes",
                              r->axis, b->naxes);
    long end = r->num_axes == -1 ? b->naxes : start + r->num_axes;
    if (end > b->naxes)
        return cf_layer_error(l, r->num_axes_node, err,
                              "reshape_param: axis + num_axes = %ld goes past the bottom's %d axes", end, b->naxes);
    int n = (int)(start + r->ndims + (b->naxes - end));
    if (n > CF_MAX_AXES)
        return cf_layer_error(l, r->shape_node, err, "reshape_param: the top would have %d axes (at most %d)", n,
                              CF_MAX_AXES);

    int shape[CF_MAX_AXES], k = 0;
    for (int i = 0; i < start; i++) shape[k++] = b->shape[i];
    for (int i = 0; i < r->ndims; i++, k++) {
        shape[k] = r->dims[i];
        if (r->dims[i] != 0) continue;
        if (start + i >= b->naxes)
            return cf_layer_error(l, r->shape_node, err,
                                  "reshape_param: dim %d is 0 but the bottom has no axis %ld to copy", i, start + i);
        shape[k] = b->shape[start + i];
    }
    for (long i = end; i < b->naxes; i++) shape[k++] = b->shape[i];

    /* the −1 takes whatever the other dims leave of the bottom's count */
    size_t known = 1;
    for (int i = 0; i < n; i++)
        if (r->inferred < 0 || i != start + r->inferred) known = mul_capped(known, (size_t)shape[i]);
    if (r->inferred >= 0) {
        if (known == 0)
            return cf_layer_error(l, r->shape_node, err,
                                  "reshape_param: cannot infer the -1 dim: the other dims multiply to 0");
        if (b->count % known)
            return cf_layer_error(l, r->shape_node, err,
                                  "reshape_param: cannot infer the -1 dim: "
                                  "the bottom's count %zu is not a multiple of %zu", b->count, known);
        shape[start + r->inferred] = (int)(b->count / known);
        known = b->count;
    }
    if (known != b->count) {
        char bs[128];
        return cf_layer_error(l, r->shape_node, err,
                              "reshape_param: the new shape has %zu elements but the bottom (%s) has %zu", known,
                              cf_blob_shape_str(b, bs, sizeof bs), b->count);
    }
    if (cf_blob_reshape(top[0], n, shape, err)) return -1;
    cf_blob_share_data(top[0], b);
    cf_blob_share_diff(top[0], b);
    return 0;
}

/* Nothing to compute: the top is the bottom's memory seen in another shape. */
static int reshape_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err) { return 0; }

/* The diff is shared too, so the bottom already holds the top's gradient. */
static void reshape_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb) {}

const cf_layer_ops cf_layer_Reshape = {
    .type = "Reshape",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .setup = reshape_setup,
    .reshape = reshape_reshape,
    .forward = reshape_forward,
    .backward = reshape_backward,
};
