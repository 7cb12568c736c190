/* sigmoid.c — Sigmoid layer:
 *     y = 1 / (1 + e^−x), computed as ½·tanh(½x) + ½ (no overflow for any x)
 *     ∂E/∂x = ∂E/∂y · y · (1 − y)
 * Backward needs only the top, so in place is fine.
 * sigmoid_param.engine is accepted for Caffe prototxts and has no effect.
 * With oneDNN (dnnl_layers.h) both passes run as its eltwise primitive
 * (dnnl_act.c), backward from the top as here. */
#include <math.h>

#include "dnnl/dnnl_layers.h"
#include "layer.h"

#define EW_GRAIN 32768

static const char *const engines[] = {"DEFAULT", "CAFFE", "CUDNN", NULL};

typedef struct {
    const float *x, *y, *dy;
    float *out;
} sig_ctx;

static int sigmoid_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    int engine;
    if (cf_layer_param_map(l, "sigmoid_param", &p, err) || cf_get_enum(p, "engine", engines, 0, &engine, err)) return -1;
    l->priv = NULL; /* the oneDNN plan, made in reshape */
    return 0;
}

static int sigmoid_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    if (top[0] != bottom[0] && cf_blob_reshape_like(top[0], bottom[0], err)) return -1;
    if (cf_dnnl_on(l->be)) l->priv = cf_dnnl_act_plan(l->priv, l->be, bottom[0]->count, CF_DNNL_SIGMOID, 0, 0);
    return 0;
}

static void sig_fwd_range(void *c, size_t b, size_t e)
{
    sig_ctx *k = c;
    for (size_t i = b; i < e; i++) k->out[i] = 0.5f * tanhf(0.5f * k->x[i]) + 0.5f;
}

static void sig_bwd_range(void *c, size_t b, size_t e)
{
    sig_ctx *k = c;
    for (size_t i = b; i < e; i++) {
        float y = k->y[i];
        k->out[i] = k->dy[i] * y * (1.0f - y);
    }
}

static int sigmoid_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    sig_ctx k = {.x = cf_blob_data(bottom[0])};
    k.out = cf_blob_mdata(top[0]);
    if (l->priv && cf_dnnl_act_forward(l->priv, k.x, k.out) == 0) return 0;
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, sig_fwd_range, &k);
    return 0;
}

static void sigmoid_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    sig_ctx k = {.y = cf_blob_data(top[0]), .dy = cf_blob_diff(top[0])};
    k.out = cf_blob_mdiff(bottom[0]);
    if (l->priv && cf_dnnl_act_backward(l->priv, k.y, k.dy, k.out) == 0) return;
    cf_parallel_for(l->be, top[0]->count, EW_GRAIN, sig_bwd_range, &k);
}

static void sigmoid_destroy(cf_layer *l) { cf_dnnl_act_free(l->priv); }

const cf_layer_ops cf_layer_Sigmoid = {
    .type = "Sigmoid",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .inplace_ok = true,
    .setup = sigmoid_setup,
    .reshape = sigmoid_reshape,
    .forward = sigmoid_forward,
    .backward = sigmoid_backward,
    .destroy = sigmoid_destroy,
};
