/* dropout.c — Dropout layer (Caffe's inverted dropout).
 *
 * With p = dropout_param.dropout_ratio (0.5), in TRAIN each element is kept
 * with probability 1 − p and kept ones are scaled up so that the expected
 * output equals the input:
 *     m_i ~ Bernoulli(1 − p),   y_i = x_i · m_i / (1 − p)
 *     ∂E/∂x_i = ∂E/∂y_i · m_i / (1 − p)
 * In TEST the layer is the identity.  The mask is drawn from l->rng and
 * kept (already multiplied by the scale) for backward, which therefore
 * never reads the bottom: in place is fine. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"

#define EW_GRAIN 32768

typedef struct {
    double ratio;
    float scale;        /* 1 / (1 − p) */
    uint32_t threshold; /* a draw u32 >= threshold keeps the element */
    float *mask;        /* 0 or scale per element */
    size_t cap;
} dropout_priv;

typedef struct {
    const float *a, *m;
    float *out;
} mul_ctx;

static int dropout_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    double ratio;
    if (cf_layer_param_map(l, "dropout_param", &p, err) || cf_get_float(p, "dropout_ratio", 0.5, &ratio, err))
        return -1;
    if (!(ratio >= 0 && ratio < 1))
        return cf_layer_error(l, cf_node_get(p, "dropout_ratio"), err,
                              "dropout_param: dropout_ratio %g is out of range (must be >= 0 and < 1)", ratio);
    dropout_priv *d = calloc(1, sizeof *d);
    if (!d) abort();
    d->ratio = ratio;
    d->scale = (float)(1.0 / (1.0 - ratio));
    d->threshold = (uint32_t)(ratio * 4294967296.0); /* ratio < 1, so this fits */
    l->priv = d;
    return 0;
}

static int dropout_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    dropout_priv *d = l->priv;
    if (top[0] != bottom[0] && cf_blob_reshape_like(top[0], bottom[0], err)) return -1;
    if (l->phase == CF_TRAIN && bottom[0]->count > d->cap) {
        float *m = realloc(d->mask, bottom[0]->count * sizeof *m);
        if (!m)
            return cf_error_set(err, CF_ERUNTIME, "out of memory for the dropout mask (%zu floats)", bottom[0]->count);
        d->mask = m;
        d->cap = bottom[0]->count;
    }
    return 0;
}

static void mul_range(void *c, size_t b, size_t e)
{
    mul_ctx *k = c;
    for (size_t i = b; i < e; i++) k->out[i] = k->a[i] * k->m[i];
}

static int dropout_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    dropout_priv *d = l->priv;
    size_t n = bottom[0]->count;
    if (l->phase != CF_TRAIN) {
        if (top[0] != bottom[0]) memcpy(cf_blob_mdata(top[0]), cf_blob_data(bottom[0]), n * sizeof(float));
        return 0;
    }
    assert(l->rng && d->cap >= n);
    /* One stream of draws, in element order, so a seed repeats the mask. */
    for (size_t i = 0; i < n; i++) d->mask[i] = cf_rng_u32(l->rng) >= d->threshold ? d->scale : 0.0f;
    mul_ctx k = {.a = cf_blob_data(bottom[0]), .m = d->mask};
    k.out = cf_blob_mdata(top[0]);
    cf_parallel_for(l->be, n, EW_GRAIN, mul_range, &k);
    return 0;
}

static void dropout_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    dropout_priv *d = l->priv;
    if (!prop[0]) return;
    size_t n = top[0]->count;
    if (l->phase != CF_TRAIN) {
        if (top[0] != bottom[0]) memcpy(cf_blob_mdiff(bottom[0]), cf_blob_diff(top[0]), n * sizeof(float));
        return;
    }
    mul_ctx k = {.a = cf_blob_diff(top[0]), .m = d->mask};
    k.out = cf_blob_mdiff(bottom[0]);
    cf_parallel_for(l->be, n, EW_GRAIN, mul_range, &k);
}

static void dropout_destroy(cf_layer *l)
{
    dropout_priv *d = l->priv;
    if (!d) return;
    free(d->mask);
    free(d);
}

const cf_layer_ops cf_layer_Dropout = {
    .type = "Dropout",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .inplace_ok = true,
    .setup = dropout_setup,
    .reshape = dropout_reshape,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .destroy = dropout_destroy,
};
