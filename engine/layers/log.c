/* log.c — Caffe's Log layer (log_param: base −1, scale 1, shift 0):
 *     y = log_base(shift + scale·x)     base −1 stands for e
 * computed as ln(u)·B with u = shift + scale·x and B = 1 / ln base, so
 *     ∂E/∂x = ∂E/∂y · scale · B / u
 * A non-positive u gives NaN or −inf, as in Caffe.  Base 1 has no
 * logarithm and is refused (Caffe would divide by zero).  Backward reads
 * x, so no in-place. */
#include <math.h>
#include <stdlib.h>

#include "layer.h"

#define EW_GRAIN 32768

typedef struct {
    float scale, shift, base_scale;
} log_priv;

typedef struct {
    float scale, shift, base_scale;
    const float *x, *dy;
    float *out;
} log_ctx;

static int log_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    double base, scale, shift;
    if (cf_layer_param_map(l, "log_param", &p, err) || cf_get_float(p, "base", -1, &base, err) ||
        cf_get_float(p, "scale", 1, &scale, err) || cf_get_float(p, "shift", 0, &shift, err))
        return -1;
    if (base != -1 && (!(base > 0) || base == 1))
        return cf_layer_error(l, cf_node_get(p, "base"), err,
                              "log_param: base %g must be > 0 and not 1 (or -1 for e)", base);
    log_priv *s = malloc(sizeof *s);
    if (!s) return cf_layer_error(l, NULL, err, "out of memory");
    s->scale = (float)scale;
    s->shift = (float)shift;
    s->base_scale = base == -1 ? 1.0f : (float)(1.0 / log(base));
    l->priv = s;
    return 0;
}

static int log_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    return cf_blob_reshape_like(top[0], bottom[0], err);
}

static void log_fwd_range(void *c, size_t b, size_t e)
{
    log_ctx *k = c;
    for (size_t i = b; i < e; i++) k->out[i] = logf(k->shift + k->scale * k->x[i]) * k->base_scale;
}

static void log_bwd_range(void *c, size_t b, size_t e)
{
    log_ctx *k = c;
    const float num = k->scale * k->base_scale;
    for (size_t i = b; i < e; i++) k->out[i] = k->dy[i] * num / (k->shift + k->scale * k->x[i]);
}

static int log_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    log_priv *s = l->priv;
    log_ctx k = {.scale = s->scale, .shift = s->shift, .base_scale = s->base_scale, .x = cf_blob_data(bottom[0])};
    k.out = cf_blob_mdata(top[0]);
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, log_fwd_range, &k);
    return 0;
}

static void log_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    log_priv *s = l->priv;
    log_ctx k = {.scale = s->scale, .shift = s->shift, .base_scale = s->base_scale, .x = cf_blob_data(bottom[0]),
                 .dy = cf_blob_diff(top[0])};
    k.out = cf_blob_mdiff(bottom[0]);
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, log_bwd_range, &k);
}

const cf_layer_ops cf_layer_Log = {
    .type = "Log",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .setup = log_setup,
    .reshape = log_reshape,
    .forward = log_forward,
    .backward = log_backward,
};
