/* exp.c — Caffe's Exp layer (exp_param: base −1, scale 1, shift 0):
 *     y = base^(shift + scale·x)        base −1 stands for e
 * written as y = outer · e^(inner·x) with L = ln base (1 for e),
 * inner = L·scale and outer = base^shift, so
 *     ∂E/∂x = ∂E/∂y · y · inner
 * Backward needs only y: in place is fine (Mocha's `Exponential` neuron
 * is this layer). */
#include <math.h>
#include <stdlib.h>

#include "layer.h"

#define EW_GRAIN 32768

typedef struct {
    float inner, outer;
} exp_priv;

typedef struct {
    float inner, outer;
    const float *x, *y, *dy;
    float *out;
} exp_ctx;

static int exp_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    double base, scale, shift;
    if (cf_layer_param_map(l, "exp_param", &p, err) || cf_get_float(p, "base", -1, &base, err) ||
        cf_get_float(p, "scale", 1, &scale, err) || cf_get_float(p, "shift", 0, &shift, err))
        return -1;
    if (base != -1 && !(base > 0))
        return cf_layer_error(l, cf_node_get(p, "base"), err,
                              "exp_param: base %g must be > 0 (or -1 for e)", base);
    exp_priv *s = malloc(sizeof *s);
    if (!s) return cf_layer_error(l, NULL, err, "out of memory");
    double L = base == -1 ? 1.0 : log(base);
    s->inner = (float)(L * scale);
    s->outer = shift == 0 ? 1.0f : (float)exp(L * shift);
    l->priv = s;
    return 0;
}

static int exp_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    return top[0] == bottom[0] ? 0 : cf_blob_reshape_like(top[0], bottom[0], err);
}

static void exp_fwd_range(void *c, size_t b, size_t e)
{
    exp_ctx *k = c;
    for (size_t i = b; i < e; i++) k->out[i] = k->outer * expf(k->inner * k->x[i]);
}

static void exp_bwd_range(void *c, size_t b, size_t e)
{
    exp_ctx *k = c;
    for (size_t i = b; i < e; i++) k->out[i] = k->dy[i] * k->y[i] * k->inner;
}

static int exp_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    exp_priv *s = l->priv;
    exp_ctx k = {.inner = s->inner, .outer = s->outer, .x = cf_blob_data(bottom[0])};
    k.out = cf_blob_mdata(top[0]);
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, exp_fwd_range, &k);
    return 0;
}

static void exp_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    exp_priv *s = l->priv;
    exp_ctx k = {.inner = s->inner, .y = cf_blob_data(top[0]), .dy = cf_blob_diff(top[0])};
    k.out = cf_blob_mdiff(bottom[0]);
    cf_parallel_for(l->be, top[0]->count, EW_GRAIN, exp_bwd_range, &k);
}

const cf_layer_ops cf_layer_Exp = {
    .type = "Exp",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .inplace_ok = true,
    .setup = exp_setup,
    .reshape = exp_reshape,
    .forward = exp_forward,
    .backward = exp_backward,
};
