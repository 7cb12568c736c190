/* threshold.c — Caffe's Threshold layer (threshold_param.threshold, 0):
 *     y = 1 if x > t, else 0
 * A step has no useful gradient; Caffe leaves backward unimplemented, and
 * so the layer has none (the net never propagates through it).  In place
 * is fine. */
#include <stdlib.h>

#include "layer.h"

#define EW_GRAIN 32768

typedef struct {
    float t;
    const float *x;
    float *y;
} thr_ctx;

static int threshold_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    double t;
    if (cf_layer_param_map(l, "threshold_param", &p, err) || cf_get_float(p, "threshold", 0, &t, err)) return -1;
    float *s = malloc(sizeof *s);
    if (!s) return cf_layer_error(l, NULL, err, "out of memory");
    *s = (float)t;
    l->priv = s;
    return 0;
}

static int threshold_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    return top[0] == bottom[0] ? 0 : cf_blob_reshape_like(top[0], bottom[0], err);
}

static void thr_range(void *c, size_t b, size_t e)
{
    thr_ctx *k = c;
    for (size_t i = b; i < e; i++) k->y[i] = k->x[i] > k->t ? 1.0f : 0.0f;
}

static int threshold_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    thr_ctx k = {.t = *(float *)l->priv, .x = cf_blob_data(bottom[0])};
    k.y = cf_blob_mdata(top[0]);
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, thr_range, &k);
    return 0;
}

const cf_layer_ops cf_layer_Threshold = {
    .type = "Threshold",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .inplace_ok = true,
    .setup = threshold_setup,
    .reshape = threshold_reshape,
    .forward = threshold_forward,
};
