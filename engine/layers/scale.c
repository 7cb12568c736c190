/* scale.c — Caffe's Scale layer (scale_param: axis 1, num_axes 1, filler
 * constant 1, bias_term false, bias_filler constant 0): multiplies the
 * bottom by a scale s broadcast over it, and optionally adds a bias b of
 * the same shape (Caffe's BatchNorm is followed by one of these).
 *
 * As for Bias (bias.c), s is either learnt (one bottom: shape = the
 * bottom's axes [axis, axis + num_axes), −1 = to the end, 0 = scalar) or
 * the second bottom.  With the bottom read as outer × D × inner:
 *     y[o, d, i] = x[o, d, i] · s[d] (+ b[d])
 *     ∂E/∂x[o, d, i] = ∂E/∂y[o, d, i] · s[d]
 *     ∂E/∂s[d] = Σ_{o, i} ∂E/∂y · x           ∂E/∂b[d] = Σ_{o, i} ∂E/∂y
 * Params: [s, b] with one bottom, [b] with two.  Learnt params accumulate
 * their gradients; the scale bottom's diff is overwritten.  Run in place,
 * forward keeps a copy of x for the scale gradient, as Caffe does. */
#include <limits.h>
#include <stdlib.h>

#include "layer.h"

typedef struct {
    long axis_conf;         /* as written, possibly negative */
    cf_node *axis_at;       /* for errors found at reshape */
    bool bias_term;
    int bias_index;         /* index of b among the params */
    size_t outer, dim, inner;
    cf_mem *x_copy;         /* the bottom, when run in place */
} scale_priv;

typedef struct {
    const scale_priv *c;
    const float *x, *s, *b, *dy;
    float *y, *ds, *db;
    bool accumulate_s;
} scale_job;

static int axis_error(cf_layer *l, const scale_priv *c, const cf_blob *x, cf_error *err)
{
    return cf_layer_error(l, c->axis_at, err, "scale_param: axis %ld is out of range for a bottom with %d axes",
                          c->axis_conf, x->naxes);
}

/* The shape of the learnt scale: the bottom's axes [axis, axis + num_axes). */
static int learnt_shape(cf_layer *l, scale_priv *c, cf_node *p, long num_axes, const cf_blob *x, int *first,
                        int *n, cf_error *err)
{
    if (c->axis_conf < INT_MIN || c->axis_conf > INT_MAX || cf_blob_axis(x, (int)c->axis_conf, first, NULL))
        return axis_error(l, c, x, err);
    if (num_axes < -1)
        return cf_layer_error(l, cf_node_get(p, "num_axes"), err,
                              "scale_param: num_axes %ld must be >= 0, or -1 for all axes from axis on", num_axes);
    if (num_axes > x->naxes - *first)
        return cf_layer_error(l, cf_node_get(p, "num_axes"), err,
                              "scale_param: num_axes %ld from axis %d runs past the bottom's %d axes", num_axes,
                              *first, x->naxes);
    *n = num_axes < 0 ? x->naxes - *first : (int)num_axes;
    return 0;
}

static int scale_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p, *filler, *bias_filler;
    long num_axes;
    scale_priv *c = calloc(1, sizeof *c);
    if (!c) return cf_layer_error(l, NULL, err, "out of memory");
    l->priv = c;
    c->x_copy = cf_mem_new();
    if (cf_layer_param_map(l, "scale_param", &p, err) || cf_get_int(p, "axis", 1, &c->axis_conf, err) ||
        cf_get_int(p, "num_axes", 1, &num_axes, err) || cf_get_map(p, "filler", &filler, err) ||
        cf_get_bool(p, "bias_term", false, &c->bias_term, err) || cf_get_map(p, "bias_filler", &bias_filler, err))
        return -1;
    c->axis_at = cf_node_get(p, "axis");
    const cf_blob *shape_of; /* the blob whose shape b takes */
    if (nb == 2) {
        if (top[0] == bottom[1]) return cf_layer_error(l, NULL, err, "the top cannot be the scale bottom");
        if (filler) cf_node_mark_used(filler); /* Caffe ignores it too */
        shape_of = bottom[1];
    } else {
        int a = 0, n = 0;
        if (learnt_shape(l, c, p, num_axes, bottom[0], &a, &n, err)) return -1;
        cf_blob *s = cf_layer_add_param(l, n, bottom[0]->shape + a, err);
        if (!s) return -1;
        if (filler) {
            if (cf_fill(s, filler, "constant", l->rng, err)) return -1;
        } else { /* Caffe's default: constant 1 */
            float *w = cf_blob_mdata(s);
            for (size_t i = 0; i < s->count; i++) w[i] = 1.0f;
        }
        shape_of = s;
    }
    c->bias_index = l->nparam;
    if (!c->bias_term) {
        if (bias_filler) cf_node_mark_used(bias_filler);
        return 0;
    }
    cf_blob *b = cf_layer_add_param(l, shape_of->naxes, shape_of->shape, err);
    return b ? cf_fill(b, bias_filler, "constant", l->rng, err) : -1;
}

static int scale_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    scale_priv *c = l->priv;
    const cf_blob *x = bottom[0], *s = nb > 1 ? bottom[1] : l->param[0];
    char s1[128], s2[128];
    int a = 0;
    if (s->naxes > 0 && (c->axis_conf < INT_MIN || c->axis_conf > INT_MAX ||
                         cf_blob_axis(x, (int)c->axis_conf, &a, NULL)))
        return axis_error(l, c, x, err);
    bool fits = a + s->naxes <= x->naxes;
    for (int i = 0; fits && i < s->naxes; i++) fits = x->shape[a + i] == s->shape[i];
    if (!fits)
        return cf_layer_error(l, c->axis_at, err, "the scale %s does not match bottom %s from axis %d",
                              cf_blob_shape_str(s, s1, sizeof s1), cf_blob_shape_str(x, s2, sizeof s2), a);
    if (c->bias_term && l->param[c->bias_index]->count != s->count)
        return cf_layer_error(l, NULL, err, "the bias %s does not match the scale %s",
                              cf_blob_shape_str(l->param[c->bias_index], s1, sizeof s1),
                              cf_blob_shape_str(s, s2, sizeof s2));
    c->outer = cf_blob_count_range(x, 0, a);
    c->dim = s->count;
    c->inner = cf_blob_count_range(x, a + s->naxes, x->naxes);
    if (top[0] == bottom[0]) {
        if (!cf_mem_host(c->x_copy, x->count + 1)) return cf_layer_error(l, NULL, err, "out of memory");
        return 0;
    }
    return cf_blob_reshape_like(top[0], bottom[0], err);
}

/* Rows [b, e) of the outer·D rows of `inner` elements. */
static void scale_rows(void *ctx, size_t b, size_t e)
{
    scale_job *j = ctx;
    size_t inner = j->c->inner;
    for (size_t r = b; r < e; r++) {
        size_t d = r % j->c->dim;
        float sv = j->s[d], bv = j->b ? j->b[d] : 0.0f;
        const float *x = j->x + r * inner;
        float *y = j->y + r * inner;
        for (size_t i = 0; i < inner; i++) y[i] = x[i] * sv + bv;
    }
}

static void dx_rows(void *ctx, size_t b, size_t e)
{
    scale_job *j = ctx;
    size_t inner = j->c->inner;
    for (size_t r = b; r < e; r++) {
        float sv = j->s[r % j->c->dim];
        const float *dy = j->dy + r * inner;
        float *dx = j->y + r * inner;
        for (size_t i = 0; i < inner; i++) dx[i] = dy[i] * sv;
    }
}

/* Scale and bias gradients of entries [b, e), summed over outer and inner. */
static void grad_entries(void *ctx, size_t b, size_t e)
{
    scale_job *j = ctx;
    const scale_priv *c = j->c;
    for (size_t d = b; d < e; d++) {
        double ss = 0, sb = 0;
        for (size_t o = 0; o < c->outer; o++) {
            size_t off = (o * c->dim + d) * c->inner;
            const float *dy = j->dy + off, *x = j->x + off;
            for (size_t i = 0; i < c->inner; i++) {
                ss += (double)dy[i] * x[i];
                sb += dy[i];
            }
        }
        if (j->ds) j->ds[d] = j->accumulate_s ? j->ds[d] + (float)ss : (float)ss;
        if (j->db) j->db[d] += (float)sb;
    }
}

static size_t row_grain(const scale_priv *c) { return c->inner >= 4096 ? 1 : 4096 / (c->inner ? c->inner : 1); }

static int scale_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    scale_priv *c = l->priv;
    scale_job j = {.c = c, .x = cf_blob_data(bottom[0]), .s = cf_blob_data(nb > 1 ? bottom[1] : l->param[0])};
    if (c->bias_term) j.b = cf_blob_data(l->param[c->bias_index]);
    if (top[0] == bottom[0]) cf_copy(l->be, bottom[0]->count, j.x, c->x_copy->host);
    j.y = cf_blob_mdata(top[0]);
    cf_parallel_for(l->be, c->outer * c->dim, row_grain(c), scale_rows, &j);
    return 0;
}

static void scale_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    scale_priv *c = l->priv;
    scale_job j = {.c = c, .s = cf_blob_data(nb > 1 ? bottom[1] : l->param[0]), .dy = cf_blob_diff(top[0])};
    j.x = top[0] == bottom[0] ? c->x_copy->host : cf_blob_data(bottom[0]);
    if (nb == 1 && l->param_grad[0]) {
        j.ds = cf_blob_mdiff(l->param[0]);
        j.accumulate_s = true;
    } else if (nb == 2 && prop[1]) {
        j.ds = cf_blob_mdiff(bottom[1]);
    }
    if (c->bias_term && l->param_grad[c->bias_index]) j.db = cf_blob_mdiff(l->param[c->bias_index]);
    /* Gradients of s and b first: in place, the bottom diff overwrites dy. */
    if (j.ds || j.db) cf_parallel_for(l->be, c->dim, 1, grad_entries, &j);
    if (prop[0]) {
        j.y = cf_blob_mdiff(bottom[0]);
        cf_parallel_for(l->be, c->outer * c->dim, row_grain(c), dx_rows, &j);
    }
}

static void scale_destroy(cf_layer *l)
{
    scale_priv *c = l->priv;
    if (!c) return;
    cf_mem_unref(c->x_copy);
    free(c);
}

const cf_layer_ops cf_layer_Scale = {
    .type = "Scale",
    .min_bottom = 1, .max_bottom = 2,
    .min_top = 1, .max_top = 1,
    .inplace_ok = true,
    .setup = scale_setup,
    .reshape = scale_reshape,
    .forward = scale_forward,
    .backward = scale_backward,
    .destroy = scale_destroy,
};
