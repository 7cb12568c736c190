/* bnll.c — Caffe's BNLL layer ("binomial normal log likelihood"), the
 * softplus:
 *     y = log(1 + e^x)
 * computed without overflow as x + log(1 + e^−x) for x > 0, and
 * log(1 + e^x) otherwise (log1p keeps small e^x exact).
 *     ∂E/∂x = ∂E/∂y · e^x / (1 + e^x)
 * with x clipped at 50 before the exponential, as Caffe does (the ratio is
 * 1 in float long before that).  Backward reads x, so no in-place.
 * With oneDNN (dnnl_layers.h) both passes run as its eltwise soft_relu
 * (dnnl_act.c): the same function and derivative, overflow-safe as here. */
#include <math.h>

#include "dnnl/dnnl_layers.h"
#include "layer.h"

#define EW_GRAIN 32768
#define BNLL_CLIP 50.0f

typedef struct {
    const float *x, *dy;
    float *out;
} bnll_ctx;

static int bnll_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    if (cf_blob_reshape_like(top[0], bottom[0], err)) return -1;
    if (cf_dnnl_on(l->be)) l->priv = cf_dnnl_act_plan(l->priv, l->be, bottom[0]->count, CF_DNNL_SOFTPLUS, 0, 0);
    return 0;
}

static void bnll_fwd_range(void *c, size_t b, size_t e)
{
    bnll_ctx *k = c;
    for (size_t i = b; i < e; i++) {
        float x = k->x[i];
        k->out[i] = x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x));
    }
}

static void bnll_bwd_range(void *c, size_t b, size_t e)
{
    bnll_ctx *k = c;
    for (size_t i = b; i < e; i++) {
        float ex = expf(fminf(k->x[i], BNLL_CLIP));
        k->out[i] = k->dy[i] * ex / (ex + 1.0f);
    }
}

static int bnll_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    bnll_ctx k = {.x = cf_blob_data(bottom[0])};
    k.out = cf_blob_mdata(top[0]);
    if (l->priv && cf_dnnl_act_forward(l->priv, k.x, k.out) == 0) return 0;
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, bnll_fwd_range, &k);
    return 0;
}

static void bnll_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    bnll_ctx k = {.x = cf_blob_data(bottom[0]), .dy = cf_blob_diff(top[0])};
    k.out = cf_blob_mdiff(bottom[0]);
    if (l->priv && cf_dnnl_act_backward(l->priv, k.x, k.dy, k.out) == 0) return;
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, bnll_bwd_range, &k);
}

/* priv: the oneDNN plan (made in reshape), or NULL */
static void bnll_destroy(cf_layer *l) { cf_dnnl_act_free(l->priv); }

const cf_layer_ops cf_layer_BNLL = {
    .type = "BNLL",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .reshape = bnll_reshape,
    .forward = bnll_forward,
    .backward = bnll_backward,
    .destroy = bnll_destroy,
};
