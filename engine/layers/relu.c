/* relu.c — ReLU layer, with Caffe's leaky variant:
 *     y = max(x, 0) + s · min(x, 0)          s = relu_param.negative_slope (0)
 *     ∂E/∂x = ∂E/∂y · (1 if x > 0, else s)
 * In place is fine: for s >= 0 the sign of y is the sign of x, so backward
 * may read the top where the bottom was (Caffe does the same).
 * relu_param.engine is accepted for Caffe prototxts and has no effect.
 * With oneDNN (dnnl_layers.h) both passes run as its eltwise primitive,
 * over the blobs' blocked sides when a convolution or pooling left them
 * blocked (relu maps 0 to 0, so their zero padding stays zero). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl/dnnl_layers.h"
#include "layer.h"

#define EW_GRAIN 32768

static const char *const engines[] = {"DEFAULT", "CAFFE", "CUDNN", NULL};

typedef struct {
    float slope;
    const float *x, *dy;
    float *y, *dx;
} relu_ctx;

typedef struct {
    float slope;        /* first, as the passes read it */
    cf_dnnl_relu *dn;   /* oneDNN plan for the current count, or NULL */
    cf_dnnl_relu *dn_alt; /* and for the bottom's blocked side (padded count) */
} relu_priv;

static int relu_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    double slope;
    int engine;
    if (cf_layer_param_map(l, "relu_param", &p, err) || cf_get_float(p, "negative_slope", 0, &slope, err) ||
        cf_get_enum(p, "engine", engines, 0, &engine, err))
        return -1;
    relu_priv *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->slope = (float)slope;
    l->priv = r;
    return 0;
}

static int relu_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    relu_priv *r = l->priv;
    if (top[0] != bottom[0] && cf_blob_reshape_like(top[0], bottom[0], err)) return -1;
    if (cf_dnnl_on(l->be)) r->dn = cf_dnnl_relu_plan(r->dn, l->be, bottom[0]->count, r->slope);
    return 0;
}

/* c ? a : b as a bit select between two values computed anyway, so that
 * the loops below vectorise (a branch around s·v would not: the compiler
 * may not move a float multiplication out of a branch, as it could
 * trap).  Bit for bit what the branch gives, NaN included. */
static inline float pick(bool c, float a, float b)
{
    uint32_t ua, ub, m = -(uint32_t)c;
    memcpy(&ua, &a, sizeof ua);
    memcpy(&ub, &b, sizeof ub);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, sizeof a);
    return a;
}

static void relu_fwd_range(void *c, size_t b, size_t e)
{
    relu_ctx *k = c;
    const float s = k->slope;
    for (size_t i = b; i < e; i++) {
        float v = k->x[i];
        k->y[i] = pick(v > 0, v, s * v);
    }
}

static void relu_bwd_range(void *c, size_t b, size_t e)
{
    relu_ctx *k = c;
    const float s = k->slope;
    for (size_t i = b; i < e; i++) {
        float g = k->dy[i];
        k->dx[i] = pick(k->x[i] > 0, g, s * g);
    }
}

/* The passes over blocked sides; 0 when done. */
static int relu_forward_alt(cf_layer *l, cf_blob *x, cf_blob *y)
{
    relu_priv *r = l->priv;
    size_t n;
    const float *xa = cf_dnnl_alt(x->data, &n);
    if (!xa || !(r->dn_alt = cf_dnnl_relu_plan(r->dn_alt, l->be, n, r->slope))) return -1;
    float *ya = cf_dnnl_alt_like(l->be, y->data, x->data, y->count);
    if (!ya || cf_dnnl_relu_forward(r->dn_alt, xa, ya)) return -1;
    cf_mem_alt_wrote(y->data);
    return 0;
}

static int relu_backward_alt(cf_layer *l, cf_blob *y, cf_blob *x)
{
    relu_priv *r = l->priv;
    size_t n, ndy;
    const float *xa = cf_dnnl_alt(x->data, &n), *dya = cf_dnnl_alt(y->diff, &ndy);
    if (!xa || !dya || !cf_dnnl_alt_same(x->data, y->diff) ||
        !(r->dn_alt = cf_dnnl_relu_plan(r->dn_alt, l->be, n, r->slope)))
        return -1;
    float *dxa = cf_dnnl_alt_like(l->be, x->diff, y->diff, x->count);
    if (!dxa || cf_dnnl_relu_backward(r->dn_alt, xa, dya, dxa)) return -1;
    cf_mem_alt_wrote(x->diff);
    return 0;
}

static int relu_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    relu_priv *r = l->priv;
    if (r->dn && relu_forward_alt(l, bottom[0], top[0]) == 0) return 0;
    relu_ctx k = {.slope = r->slope, .x = cf_blob_data(bottom[0])};
    k.y = cf_blob_mdata(top[0]);
    if (r->dn && cf_dnnl_relu_forward(r->dn, k.x, k.y) == 0) return 0;
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, relu_fwd_range, &k);
    return 0;
}

static void relu_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    relu_priv *r = l->priv;
    if (r->dn && relu_backward_alt(l, top[0], bottom[0]) == 0) return;
    relu_ctx k = {.slope = r->slope, .x = cf_blob_data(bottom[0]), .dy = cf_blob_diff(top[0])};
    k.dx = cf_blob_mdiff(bottom[0]);
    if (r->dn && cf_dnnl_relu_backward(r->dn, k.x, k.dy, k.dx) == 0) return;
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, relu_bwd_range, &k);
}

static void relu_destroy(cf_layer *l)
{
    relu_priv *r = l->priv;
    if (!r) return;
    cf_dnnl_relu_free(r->dn);
    cf_dnnl_relu_free(r->dn_alt);
    free(r);
}

const cf_layer_ops cf_layer_ReLU = {
    .type = "ReLU",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .inplace_ok = true,
    .setup = relu_setup,
    .reshape = relu_reshape,
    .forward = relu_forward,
    .backward = relu_backward,
    .destroy = relu_destroy,
};
