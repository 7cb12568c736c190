/* absval.c — Caffe's AbsVal layer:
 *     y = |x|                ∂E/∂x = ∂E/∂y · sign(x)   (sign(0) = 0)
 * Backward needs the sign of x, which |x| has lost, so the layer cannot
 * run in place (Caffe refuses it too). */
#include "layer.h"

#define EW_GRAIN 32768

typedef struct {
    const float *x, *dy;
    float *out;
} abs_ctx;

static int absval_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    return cf_blob_reshape_like(top[0], bottom[0], err);
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
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, abs_fwd_range, &k);
    return 0;
}

static void absval_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    abs_ctx k = {.x = cf_blob_data(bottom[0]), .dy = cf_blob_diff(top[0])};
    k.out = cf_blob_mdiff(bottom[0]);
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, abs_bwd_range, &k);
}

const cf_layer_ops cf_layer_AbsVal = {
    .type = "AbsVal",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .reshape = absval_reshape,
    .forward = absval_forward,
    .backward = absval_backward,
};
