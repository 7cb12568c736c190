/* bias.c — Caffe's Bias layer (bias_param: axis 1, num_axes 1, filler
 * constant 0): adds a bias b broadcast over the bottom.
 *
 * The bias is either learnt (one bottom: a param whose shape is the
 * bottom's axes [axis, axis + num_axes), num_axes −1 meaning "to the
 * end", 0 meaning a scalar) or given as a second bottom (its own shape
 * then decides; num_axes and filler are not used).  With the bias's axes
 * lined up from `axis` (from 0 for a scalar), the bottom reads as
 * outer × D × inner, D = the bias's count, and
 *     y[o, d, i] = x[o, d, i] + b[d]
 *     ∂E/∂x = ∂E/∂y           ∂E/∂b[d] = Σ_{o, i} ∂E/∂y[o, d, i]
 * A learnt bias accumulates its gradient; a bias bottom's diff is
 * overwritten, as for any bottom.  In place is fine. */
#include <limits.h>
#include <stdlib.h>

#include "layer.h"

typedef struct {
    long axis_conf;         /* as written, possibly negative */
    cf_node *axis_at;       /* for errors found at reshape */
    size_t outer, dim, inner;
} bias_priv;

typedef struct {
    const bias_priv *c;
    const float *b, *dy;
    float *y, *db;
    bool accumulate;
} bias_job;

/* The bias's first axis in the bottom: `axis`, or 0 for a scalar bias. */
static int bias_axis(cf_layer *l, const bias_priv *c, const cf_blob *x, const cf_blob *b, int *out, cf_error *err)
{
    *out = 0;
    if (b->naxes == 0) return 0;
    if (c->axis_conf < INT_MIN || c->axis_conf > INT_MAX || cf_blob_axis(x, (int)c->axis_conf, out, NULL))
        return cf_layer_error(l, c->axis_at, err, "bias_param: axis %ld is out of range for a bottom with %d axes",
                              c->axis_conf, x->naxes);
    return 0;
}

static int bias_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p, *filler;
    long num_axes;
    bias_priv *c = calloc(1, sizeof *c);
    if (!c) return cf_layer_error(l, NULL, err, "out of memory");
    l->priv = c;
    if (cf_layer_param_map(l, "bias_param", &p, err) || cf_get_int(p, "axis", 1, &c->axis_conf, err) ||
        cf_get_int(p, "num_axes", 1, &num_axes, err) || cf_get_map(p, "filler", &filler, err))
        return -1;
    c->axis_at = cf_node_get(p, "axis");
    if (nb == 2) {
        if (top[0] == bottom[1]) return cf_layer_error(l, NULL, err, "the top cannot be the bias bottom");
        if (filler) cf_node_mark_used(filler); /* Caffe ignores it too */
        return 0;
    }
    const cf_blob *x = bottom[0];
    int a;
    if (c->axis_conf < INT_MIN || c->axis_conf > INT_MAX || cf_blob_axis(x, (int)c->axis_conf, &a, NULL))
        return cf_layer_error(l, c->axis_at, err, "bias_param: axis %ld is out of range for a bottom with %d axes",
                              c->axis_conf, x->naxes);
    if (num_axes < -1)
        return cf_layer_error(l, cf_node_get(p, "num_axes"), err,
                              "bias_param: num_axes %ld must be >= 0, or -1 for all axes from axis on", num_axes);
    if (num_axes > x->naxes - a)
        return cf_layer_error(l, cf_node_get(p, "num_axes"), err,
                              "bias_param: num_axes %ld from axis %d runs past the bottom's %d axes", num_axes, a,
                              x->naxes);
    int n = num_axes < 0 ? x->naxes - a : (int)num_axes;
    cf_blob *b = cf_layer_add_param(l, n, x->shape + a, err);
    return b ? cf_fill(b, filler, "constant", l->rng, err) : -1;
}

static int bias_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    bias_priv *c = l->priv;
    const cf_blob *x = bottom[0], *b = nb > 1 ? bottom[1] : l->param[0];
    char s1[128], s2[128];
    int a;
    if (bias_axis(l, c, x, b, &a, err)) return -1;
    bool fits = a + b->naxes <= x->naxes;
    for (int i = 0; fits && i < b->naxes; i++) fits = x->shape[a + i] == b->shape[i];
    if (!fits)
        return cf_layer_error(l, c->axis_at, err, "the bias %s does not match bottom %s from axis %d",
                              cf_blob_shape_str(b, s1, sizeof s1), cf_blob_shape_str(x, s2, sizeof s2), a);
    c->outer = cf_blob_count_range(x, 0, a);
    c->dim = b->count;
    c->inner = cf_blob_count_range(x, a + b->naxes, x->naxes);
    return top[0] == bottom[0] ? 0 : cf_blob_reshape_like(top[0], bottom[0], err);
}

/* Rows [b, e) of the outer·D rows of `inner` elements. */
static void add_rows(void *ctx, size_t b, size_t e)
{
    bias_job *j = ctx;
    size_t inner = j->c->inner;
    for (size_t r = b; r < e; r++) {
        float v = j->b[r % j->c->dim], *y = j->y + r * inner;
        for (size_t i = 0; i < inner; i++) y[i] += v;
    }
}

/* Bias gradient of entries [b, e), summed over outer and inner. */
static void grad_entries(void *ctx, size_t b, size_t e)
{
    bias_job *j = ctx;
    const bias_priv *c = j->c;
    for (size_t d = b; d < e; d++) {
        double sum = 0;
        for (size_t o = 0; o < c->outer; o++) {
            const float *dy = j->dy + (o * c->dim + d) * c->inner;
            for (size_t i = 0; i < c->inner; i++) sum += dy[i];
        }
        j->db[d] = j->accumulate ? j->db[d] + (float)sum : (float)sum;
    }
}

static size_t row_grain(const bias_priv *c) { return c->inner >= 4096 ? 1 : 4096 / (c->inner ? c->inner : 1); }

static int bias_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    bias_priv *c = l->priv;
    bias_job j = {.c = c, .b = cf_blob_data(nb > 1 ? bottom[1] : l->param[0])};
    if (top[0] != bottom[0]) cf_copy(l->be, bottom[0]->count, cf_blob_data(bottom[0]), cf_blob_mdata(top[0]));
    j.y = cf_blob_mdata(top[0]);
    cf_parallel_for(l->be, c->outer * c->dim, row_grain(c), add_rows, &j);
    return 0;
}

static void bias_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    bias_priv *c = l->priv;
    bias_job j = {.c = c, .dy = cf_blob_diff(top[0])};
    if (nb == 1 && l->param_grad[0]) {
        j.db = cf_blob_mdiff(l->param[0]);
        j.accumulate = true;
    } else if (nb == 2 && prop[1]) {
        j.db = cf_blob_mdiff(bottom[1]);
    }
    if (j.db) cf_parallel_for(l->be, c->dim, 1, grad_entries, &j);
    if (prop[0] && top[0] != bottom[0]) cf_copy(l->be, top[0]->count, j.dy, cf_blob_mdiff(bottom[0]));
}

const cf_layer_ops cf_layer_Bias = {
    .type = "Bias",
    .min_bottom = 1, .max_bottom = 2,
    .min_top = 1, .max_top = 1,
    .inplace_ok = true,
    .setup = bias_setup,
    .reshape = bias_reshape,
    .forward = bias_forward,
    .backward = bias_backward,
};
