/* reduction.c — the Reduction layer (Caffe's ReductionLayer): reduces all
 * axes from `axis` on to one number per leading position.
 *
 * reduction_param:
 *   operation  SUM | ASUM | SUMSQ | MEAN (default SUM)
 *   axis       first reduced axis (default 0: the whole blob to a scalar;
 *              negative counts from the end)
 *   coeff      scale of the result (default 1)
 * With the bottom seen as num × dim (num = count(0, axis), dim =
 * count(axis, end)) and the top shaped as the bottom's axes before `axis`:
 *     SUM    y = c · Σ x         dx = c · dy
 *     ASUM   y = c · Σ |x|       dx = c · sign(x) · dy
 *     SUMSQ  y = c · Σ x²        dx = 2c · x · dy
 *     MEAN   y = c · Σ x / dim   dx = c / dim · dy */
#include <limits.h>
#include <stdlib.h>

#include "layer.h"

enum { RED_SUM, RED_ASUM, RED_SUMSQ, RED_MEAN };
static const char *const op_names[] = {"SUM", "ASUM", "SUMSQ", "MEAN", NULL};

typedef struct {
    int op;
    long axis_conf;
    double coeff;
    int axis;
    size_t num, dim;
} red_priv;

static int red_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    red_priv *r = calloc(1, sizeof *r);
    if (!r) abort();
    l->priv = r;
    cf_node *p;
    return cf_layer_param_map(l, "reduction_param", &p, err) ||
                   cf_get_enum(p, "operation", op_names, RED_SUM, &r->op, err) ||
                   cf_get_int(p, "axis", 0, &r->axis_conf, err) || cf_get_float(p, "coeff", 1.0, &r->coeff, err)
               ? -1
               : 0;
}

static int red_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    red_priv *r = l->priv;
    const cf_blob *b = bottom[0];
    if (r->axis_conf < INT_MIN || r->axis_conf > INT_MAX || cf_blob_axis(b, (int)r->axis_conf, &r->axis, NULL))
        return cf_layer_error(l, cf_node_get(cf_node_get(l->conf, "reduction_param"), "axis"), err,
                              "reduction_param: axis %ld is out of range for a bottom with %d axes", r->axis_conf,
                              b->naxes);
    r->num = cf_blob_count_range(b, 0, r->axis);
    r->dim = cf_blob_count_range(b, r->axis, b->naxes);
    if (cf_blob_reshape(top[0], r->axis, b->shape, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    return 0;
}

/* The coefficient with MEAN's 1/dim folded in. */
static float scale_of(const red_priv *r)
{
    return (float)(r->op == RED_MEAN ? (r->dim ? r->coeff / (double)r->dim : 0.0) : r->coeff);
}

static int red_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    red_priv *r = l->priv;
    const float *x = cf_blob_data(bottom[0]);
    float *y = cf_blob_mdata(top[0]), c = scale_of(r);
    for (size_t i = 0; i < r->num; i++) {
        const float *v = x + i * r->dim;
        double s = 0;
        for (size_t j = 0; j < r->dim; j++) {
            switch (r->op) {
            case RED_ASUM: s += v[j] < 0 ? -v[j] : v[j]; break;
            case RED_SUMSQ: s += (double)v[j] * v[j]; break;
            default: s += v[j]; break;
            }
        }
        y[i] = (float)(c * s);
    }
    return 0;
}

static void red_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    red_priv *r = l->priv;
    const float *x = cf_blob_data(bottom[0]), *dy = cf_blob_diff(top[0]);
    float *dx = cf_blob_mdiff(bottom[0]), c = scale_of(r);
    for (size_t i = 0; i < r->num; i++) {
        float g = c * dy[i];
        const float *v = x + i * r->dim;
        float *d = dx + i * r->dim;
        for (size_t j = 0; j < r->dim; j++) {
            switch (r->op) {
            case RED_ASUM: d[j] = v[j] > 0 ? g : v[j] < 0 ? -g : 0.0f; break;
            case RED_SUMSQ: d[j] = 2.0f * g * v[j]; break;
            default: d[j] = g; break;
            }
        }
    }
}

const cf_layer_ops cf_layer_Reduction = {
    .type = "Reduction",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .setup = red_setup,
    .reshape = red_reshape,
    .forward = red_forward,
    .backward = red_backward,
};
