/* prelu.c — Caffe's PReLU layer (prelu_param: filler, channel_shared):
 * a ReLU whose negative slope is learnt, one per channel (axis 1) or one
 * for all (channel_shared):
 *     y = max(0, x) + a_c · min(0, x)
 *     ∂E/∂x   = ∂E/∂y · (1 if x > 0, else a_c)
 *     ∂E/∂a_c += Σ over channel c of ∂E/∂y · x · [x <= 0]
 * The slopes start at 0.25 unless a filler says otherwise; their blob has
 * shape [C], or no axes at all when shared (Caffe's shapes, so weights
 * load).  Backward reads x; run in place, forward keeps a copy first, as
 * Caffe does. */
#include <stdlib.h>

#include "layer.h"

typedef struct {
    bool shared;
    size_t N, C, inner;     /* bottom as N × C × inner */
    cf_mem *x_copy;         /* the bottom, when run in place */
    cf_mem *da;             /* C per-channel slope gradients */
} prelu_priv;

typedef struct {
    const prelu_priv *s;
    const float *x, *a, *dy;
    float *out;             /* top (forward) or bottom diff (backward) */
    float *da;              /* per-channel slope gradients */
} prelu_job;

static int prelu_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p, *filler;
    bool shared;
    char s[128];
    if (cf_layer_param_map(l, "prelu_param", &p, err) || cf_get_map(p, "filler", &filler, err) ||
        cf_get_bool(p, "channel_shared", false, &shared, err))
        return -1;
    if (bottom[0]->naxes < 2)
        return cf_layer_error(l, NULL, err, "PReLU needs a bottom with at least 2 axes (N, C, ...), got %s",
                              cf_blob_shape_str(bottom[0], s, sizeof s));
    prelu_priv *c = calloc(1, sizeof *c);
    if (!c) return cf_layer_error(l, NULL, err, "out of memory");
    l->priv = c;
    c->shared = shared;
    c->x_copy = cf_mem_new();
    c->da = cf_mem_new();
    int C = bottom[0]->shape[1];
    cf_blob *a = cf_layer_add_param(l, shared ? 0 : 1, &C, err);
    if (!a) return -1;
    if (filler) return cf_fill(a, filler, "constant", l->rng, err);
    float *w = cf_blob_mdata(a); /* Caffe's default: constant 0.25 */
    for (size_t i = 0; i < a->count; i++) w[i] = 0.25f;
    return 0;
}

static int prelu_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    prelu_priv *c = l->priv;
    const cf_blob *b = bottom[0];
    char s[128];
    if (b->naxes < 2 || (!c->shared && (size_t)b->shape[1] != l->param[0]->count))
        return cf_layer_error(l, NULL, err, "bottom %s does not have the %zu channels the slopes were made for",
                              cf_blob_shape_str(b, s, sizeof s), l->param[0]->count);
    c->N = (size_t)b->shape[0];
    c->C = (size_t)b->shape[1];
    c->inner = cf_blob_count_range(b, 2, b->naxes);
    if (!cf_mem_host(c->da, c->C + 1)) return cf_layer_error(l, NULL, err, "out of memory");
    if (top[0] == bottom[0]) {
        if (!cf_mem_host(c->x_copy, b->count + 1)) return cf_layer_error(l, NULL, err, "out of memory");
        return 0;
    }
    return cf_blob_reshape_like(top[0], bottom[0], err);
}

static float slope(const prelu_job *j, size_t ch) { return j->s->shared ? j->a[0] : j->a[ch]; }

/* Planes [b, e) of the N·C (item, channel) planes. */
static void fwd_planes(void *ctx, size_t b, size_t e)
{
    prelu_job *j = ctx;
    size_t inner = j->s->inner;
    for (size_t pl = b; pl < e; pl++) {
        float a = slope(j, pl % j->s->C);
        const float *x = j->x + pl * inner;
        float *y = j->out + pl * inner;
        for (size_t i = 0; i < inner; i++) y[i] = x[i] > 0 ? x[i] : a * x[i];
    }
}

static void bwd_planes(void *ctx, size_t b, size_t e)
{
    prelu_job *j = ctx;
    size_t inner = j->s->inner;
    for (size_t pl = b; pl < e; pl++) {
        float a = slope(j, pl % j->s->C);
        const float *x = j->x + pl * inner, *dy = j->dy + pl * inner;
        float *dx = j->out + pl * inner;
        for (size_t i = 0; i < inner; i++) dx[i] = x[i] > 0 ? dy[i] : a * dy[i];
    }
}

/* Slope gradient of channels [b, e), summed over items in a fixed order. */
static void slope_grad_channels(void *ctx, size_t b, size_t e)
{
    prelu_job *j = ctx;
    size_t C = j->s->C, inner = j->s->inner;
    for (size_t ch = b; ch < e; ch++) {
        double sum = 0;
        for (size_t n = 0; n < j->s->N; n++) {
            const float *x = j->x + (n * C + ch) * inner, *dy = j->dy + (n * C + ch) * inner;
            for (size_t i = 0; i < inner; i++)
                if (x[i] <= 0) sum += (double)dy[i] * x[i];
        }
        j->da[ch] = (float)sum;
    }
}

static size_t plane_grain(const prelu_priv *c) { return c->inner >= 4096 ? 1 : 4096 / (c->inner ? c->inner : 1); }

static int prelu_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    prelu_priv *c = l->priv;
    prelu_job j = {.s = c, .x = cf_blob_data(bottom[0]), .a = cf_blob_data(l->param[0])};
    if (top[0] == bottom[0]) cf_copy(l->be, bottom[0]->count, j.x, c->x_copy->host);
    j.out = cf_blob_mdata(top[0]);
    cf_parallel_for(l->be, c->N * c->C, plane_grain(c), fwd_planes, &j);
    return 0;
}

static void prelu_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    prelu_priv *c = l->priv;
    prelu_job j = {.s = c, .a = cf_blob_data(l->param[0]), .dy = cf_blob_diff(top[0])};
    j.x = top[0] == bottom[0] ? c->x_copy->host : cf_blob_data(bottom[0]);
    /* The slope gradient first: in place, the bottom diff overwrites dy. */
    if (l->param_grad[0] && c->C > 0) {
        float *da = j.da = c->da->host;
        cf_parallel_for(l->be, c->C, 1, slope_grad_channels, &j);
        float *pa = cf_blob_mdiff(l->param[0]);
        if (c->shared) {
            double sum = 0;
            for (size_t ch = 0; ch < c->C; ch++) sum += da[ch];
            pa[0] += (float)sum;
        } else {
            for (size_t ch = 0; ch < c->C; ch++) pa[ch] += da[ch];
        }
    }
    if (prop[0]) {
        j.out = cf_blob_mdiff(bottom[0]);
        cf_parallel_for(l->be, c->N * c->C, plane_grain(c), bwd_planes, &j);
    }
}

static void prelu_destroy(cf_layer *l)
{
    prelu_priv *c = l->priv;
    if (!c) return;
    cf_mem_unref(c->x_copy);
    cf_mem_unref(c->da);
    free(c);
}

const cf_layer_ops cf_layer_PReLU = {
    .type = "PReLU",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .inplace_ok = true,
    .setup = prelu_setup,
    .reshape = prelu_reshape,
    .forward = prelu_forward,
    .backward = prelu_backward,
    .destroy = prelu_destroy,
};
