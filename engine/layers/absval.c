/* absval.c — Caffe's AbsVal layer:
 *     y = |x|                ∂E/∂x = ∂E/∂y · sign(x)   (sign(0) = 0)
 * Backward needs the sign of x, which |x| has lost, so the layer cannot
 * run in place (Caffe refuses it too).
 * With oneDNN (dnnl_layers.h) both passes run as its eltwise abs
 * (dnnl_act.c), whose backward is the same sign(x), 0 at 0. */
#include "dnnl/dnnl_layers.h"
#include "layer.h"

#define EW_GRAIN 32768

typedef struct {
    const float *x, *dy;
    float *out;
} abs_ctx;

static int absval_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    if (cf_blob_reshape_like(top[0], bottom[0], err)) return -1;
    if (cf_dnnl_on(l->be)) l->priv = cf_dnnl_act_plan(l->priv, l->be, bottom[0]->count, CF_DNNL_ABS, 0, 0);
    return 0;
}

static void abs_fwd_range(void *c, size_t b, size_t e)
{
    abs_ctx *k = c;
    for (size_t i = b; i < e; i++) k->out[i] = k->x[i] < 0 ? -k->x[i] : k->x[i];
}

static void abs_bwd_range(void *c, size_t b, size_t e)
{
    abs_ctx *k = c;
    for (size_t i = b; i < e; i++) {
        float x = k->x[i];
        k->out[i] = x > 0 ? k->dy[i] : x < 0 ? -k->dy[i] : 0.0f;
    }
}

static int absval_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    abs_ctx k = {.x = cf_blob_data(bottom[0])};
    k.out = cf_blob_mdata(top[0]);
    if (l->priv && cf_dnnl_act_forward(l->priv, k.x, k.out) == 0) return 0;
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, abs_fwd_range, &k);
    return 0;
}

static void absval_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    abs_ctx k = {.x = cf_blob_data(bottom[0]), .dy = cf_blob_diff(top[0])};
    k.out = cf_blob_mdiff(bottom[0]);
    if (l->priv && cf_dnnl_act_backward(l->priv, k.x, k.dy, k.out) == 0) return;
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, abs_bwd_range, &k);
}

/* priv: the oneDNN plan (made in reshape), or NULL */
static void absval_destroy(cf_layer *l) { cf_dnnl_act_free(l->priv); }

const cf_layer_ops cf_layer_AbsVal = {
    .type = "AbsVal",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .reshape = absval_reshape,
    .forward = absval_forward,
    .backward = absval_backward,
    .destroy = absval_destroy,
};
