/* lrn.c — Caffe's LRN layer, local response normalisation (lrn_param:
 * local_size 5, alpha 1, beta 0.75, k 1, norm_region ACROSS_CHANNELS or
 * WITHIN_CHANNEL).  For a 4-axis bottom, with n = local_size, p = (n−1)/2:
 *
 *   ACROSS_CHANNELS  s[c,h,w] = k + α/n · Σ x[c',h,w]²    c' in [c−p, c+p]
 *   WITHIN_CHANNEL   s[c,h,w] = 1 + α/n² · Σ x[c,h',w']²  h', w' within p
 *   y = x · s^−β
 *
 * Windows are cut at the edges (the missing terms are zeros), but the
 * divisor stays n (or n²): Caffe's within-channel form is an average
 * pooling of x² with padding p, which always divides by n².  That form
 * also fixes the constant at 1: Caffe ignores k within a channel, and so
 * do we, so that Caffe's nets give Caffe's numbers.
 *
 * Gradient (W(q) is q's window; windows are symmetric, so the positions
 * whose window holds q are exactly W(q)):
 *     ∂E/∂x_q = ∂E/∂y_q · s_q^−β − (2αβ/m) · x_q · Σ_{r in W(q)} ∂E/∂y_r · x_r · s_r^(−β−1)
 * with m = n across channels, n² within.  Backward recomputes y's factor
 * from x and the stored s rather than reading the top, which a later
 * in-place layer may have changed.
 * lrn_param.engine is accepted for Caffe prototxts and has no effect.
 * With oneDNN (dnnl_layers.h) both passes run as its LRN primitive where
 * it has fast code for the configuration (dnnl_lrn.c says which); the
 * buffers below are then made only if this code has to run. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "dnnl/dnnl_layers.h"
#include "layer.h"

static const char *const regions[] = {"ACROSS_CHANNELS", "WITHIN_CHANNEL", NULL};
static const char *const engines[] = {"DEFAULT", "CAFFE", "CUDNN", NULL};
enum { ACROSS, WITHIN };

typedef struct {
    int size, pad, region;
    float alpha, beta, k;
    size_t N, C, H, W;
    cf_mem *scale;      /* s, one per element, kept for backward */
    cf_mem *ratio;      /* backward: ∂E/∂y · x · s^(−β−1) */
    cf_dnnl_lrn *dn;    /* oneDNN plan for the current shape, or NULL */
} lrn_priv;

typedef struct {
    const lrn_priv *c;
    const float *x, *dy;
    float *y, *dx;
} lrn_job;

static int lrn_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    long size;
    double alpha, beta, k;
    int region, engine;
    if (cf_layer_param_map(l, "lrn_param", &p, err) || cf_get_int(p, "local_size", 5, &size, err) ||
        cf_get_float(p, "alpha", 1, &alpha, err) || cf_get_float(p, "beta", 0.75, &beta, err) ||
        cf_get_float(p, "k", 1, &k, err) || cf_get_enum(p, "norm_region", regions, ACROSS, &region, err) ||
        cf_get_enum(p, "engine", engines, 0, &engine, err))
        return -1;
    if (size <= 0 || size % 2 == 0 || size > INT_MAX)
        return cf_layer_error(l, cf_node_get(p, "local_size"), err,
                              "lrn_param: local_size %ld must be a positive odd number", size);
    lrn_priv *c = calloc(1, sizeof *c);
    if (!c) return cf_layer_error(l, NULL, err, "out of memory");
    l->priv = c;
    c->size = (int)size;
    c->pad = (int)(size - 1) / 2;
    c->region = region;
    c->alpha = (float)alpha;
    c->beta = (float)beta;
    c->k = (float)k;
    c->scale = cf_mem_new();
    c->ratio = cf_mem_new();
    return 0;
}

/* The buffers this file's passes need (reshape set the shape). */
static int own_buffers(cf_layer *l, cf_error *err)
{
    lrn_priv *c = l->priv;
    size_t n = c->N * c->C * c->H * c->W;
    if (!cf_mem_host(c->scale, n + 1) || !cf_mem_host(c->ratio, n + 1))
        return cf_layer_error(l, NULL, err, "out of memory");
    return 0;
}

static int lrn_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    lrn_priv *c = l->priv;
    const cf_blob *b = bottom[0];
    char s[128];
    if (b->naxes != 4)
        return cf_layer_error(l, NULL, err, "LRN needs a 4-axis bottom (num, channels, height, width), got %s",
                              cf_blob_shape_str(b, s, sizeof s));
    c->N = (size_t)b->shape[0];
    c->C = (size_t)b->shape[1];
    c->H = (size_t)b->shape[2];
    c->W = (size_t)b->shape[3];
    if (cf_blob_reshape_like(top[0], bottom[0], err)) return -1;
    if (cf_dnnl_on(l->be)) {
        int shape[4] = {b->shape[0], b->shape[1], b->shape[2], b->shape[3]};
        c->dn = cf_dnnl_lrn_plan(c->dn, l->be, shape, c->region == WITHIN, c->size, c->alpha, c->beta,
                                 c->region == WITHIN ? 1.0f : c->k, l->phase == CF_TRAIN);
        if (c->dn) return 0;
    }
    return own_buffers(l, err);
}

/* ---- across channels: units are (n, h) rows, each spanning all channels ---- */

static void across_fwd(void *ctx, size_t b, size_t e)
{
    lrn_job *j = ctx;
    const lrn_priv *c = j->c;
    size_t C = c->C, H = c->H, W = c->W, plane = H * W;
    const float a = c->alpha / (float)c->size;
    for (size_t u = b; u < e; u++) {
        size_t n = u / H, h = u % H, base = n * C * plane + h * W;
        for (size_t ch = 0; ch < C; ch++) {
            float *s = c->scale->host + base + ch * plane;
            for (size_t w = 0; w < W; w++) s[w] = 0;
            size_t lo = ch >= (size_t)c->pad ? ch - (size_t)c->pad : 0, hi = ch + (size_t)c->pad;
            for (size_t q = lo; q <= hi && q < C; q++) {
                const float *x = j->x + base + q * plane;
                for (size_t w = 0; w < W; w++) s[w] += x[w] * x[w];
            }
            const float *x = j->x + base + ch * plane;
            float *y = j->y + base + ch * plane;
            for (size_t w = 0; w < W; w++) {
                s[w] = c->k + a * s[w];
                y[w] = x[w] * powf(s[w], -c->beta);
            }
        }
    }
}

static void across_bwd(void *ctx, size_t b, size_t e)
{
    lrn_job *j = ctx;
    const lrn_priv *c = j->c;
    size_t C = c->C, H = c->H, W = c->W, plane = H * W;
    const float coef = 2 * c->alpha * c->beta / (float)c->size;
    for (size_t u = b; u < e; u++) {
        size_t n = u / H, h = u % H, base = n * C * plane + h * W;
        for (size_t ch = 0; ch < C; ch++) {
            size_t o = base + ch * plane;
            for (size_t w = 0; w < W; w++) {
                float s = c->scale->host[o + w];
                c->ratio->host[o + w] = j->dy[o + w] * j->x[o + w] * powf(s, -c->beta - 1);
            }
        }
        for (size_t ch = 0; ch < C; ch++) {
            size_t o = base + ch * plane;
            size_t lo = ch >= (size_t)c->pad ? ch - (size_t)c->pad : 0, hi = ch + (size_t)c->pad;
            for (size_t w = 0; w < W; w++) {
                float acc = 0;
                for (size_t q = lo; q <= hi && q < C; q++) acc += c->ratio->host[base + q * plane + w];
                j->dx[o + w] = j->dy[o + w] * powf(c->scale->host[o + w], -c->beta) - coef * j->x[o + w] * acc;
            }
        }
    }
}

/* ---- within a channel: units are (n, c) planes ---- */

/* Σ of v over the window around (h, w), cut at the plane's edges. */
static float window_sum(const lrn_priv *c, const float *v, size_t h, size_t w, bool square)
{
    size_t p = (size_t)c->pad;
    size_t h0 = h >= p ? h - p : 0, w0 = w >= p ? w - p : 0;
    float acc = 0;
    for (size_t i = h0; i <= h + p && i < c->H; i++)
        for (size_t k = w0; k <= w + p && k < c->W; k++) acc += square ? v[i * c->W + k] * v[i * c->W + k] : v[i * c->W + k];
    return acc;
}

static void within_fwd(void *ctx, size_t b, size_t e)
{
    lrn_job *j = ctx;
    const lrn_priv *c = j->c;
    size_t plane = c->H * c->W;
    const float a = c->alpha / ((float)c->size * (float)c->size);
    for (size_t u = b; u < e; u++) {
        const float *x = j->x + u * plane;
        float *s = c->scale->host + u * plane, *y = j->y + u * plane;
        for (size_t h = 0; h < c->H; h++)
            for (size_t w = 0; w < c->W; w++) {
                size_t i = h * c->W + w;
                s[i] = 1 + a * window_sum(c, x, h, w, true);
                y[i] = x[i] * powf(s[i], -c->beta);
            }
    }
}

static void within_bwd(void *ctx, size_t b, size_t e)
{
    lrn_job *j = ctx;
    const lrn_priv *c = j->c;
    size_t plane = c->H * c->W;
    const float coef = 2 * c->alpha * c->beta / ((float)c->size * (float)c->size);
    for (size_t u = b; u < e; u++) {
        const float *x = j->x + u * plane, *dy = j->dy + u * plane, *s = c->scale->host + u * plane;
        float *r = c->ratio->host + u * plane, *dx = j->dx + u * plane;
        for (size_t i = 0; i < plane; i++) r[i] = dy[i] * x[i] * powf(s[i], -c->beta - 1);
        for (size_t h = 0; h < c->H; h++)
            for (size_t w = 0; w < c->W; w++) {
                size_t i = h * c->W + w;
                dx[i] = dy[i] * powf(s[i], -c->beta) - coef * x[i] * window_sum(c, r, h, w, false);
            }
    }
}

static int lrn_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    lrn_priv *c = l->priv;
    lrn_job j = {.c = c, .x = cf_blob_data(bottom[0])};
    j.y = cf_blob_mdata(top[0]);
    if (c->dn) {
        if (cf_dnnl_lrn_forward(c->dn, j.x, j.y) == 0) return 0;
        /* oneDNN failed: our own code until a reshape tries it again */
        cf_dnnl_lrn_free(c->dn);
        c->dn = NULL;
        if (own_buffers(l, err)) return -1;
    }
    if (c->region == ACROSS) cf_parallel_for(l->be, c->N * c->H, 1, across_fwd, &j);
    else cf_parallel_for(l->be, c->N * c->C, 1, within_fwd, &j);
    return 0;
}

static void lrn_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    lrn_priv *c = l->priv;
    if (!prop[0]) return;
    lrn_job j = {.c = c, .x = cf_blob_data(bottom[0]), .dy = cf_blob_diff(top[0])};
    j.dx = cf_blob_mdiff(bottom[0]);
    if (c->dn) {
        if (cf_dnnl_lrn_backward(c->dn, j.x, j.dy, j.dx) == 0) return;
        /* oneDNN failed: our own code, which needs the scale forward keeps:
         * forward again, its output into the ratio buffer (free until
         * backward fills it) */
        cf_error err;
        cf_dnnl_lrn_free(c->dn);
        c->dn = NULL;
        if (own_buffers(l, &err)) abort(); /* out of memory in backward: nothing to return it through */
        lrn_job f = {.c = c, .x = j.x, .y = c->ratio->host};
        if (c->region == ACROSS) cf_parallel_for(l->be, c->N * c->H, 1, across_fwd, &f);
        else cf_parallel_for(l->be, c->N * c->C, 1, within_fwd, &f);
    }
    if (c->region == ACROSS) cf_parallel_for(l->be, c->N * c->H, 1, across_bwd, &j);
    else cf_parallel_for(l->be, c->N * c->C, 1, within_bwd, &j);
}

static void lrn_destroy(cf_layer *l)
{
    lrn_priv *c = l->priv;
    if (!c) return;
    cf_mem_unref(c->scale);
    cf_mem_unref(c->ratio);
    cf_dnnl_lrn_free(c->dn);
    free(c);
}

const cf_layer_ops cf_layer_LRN = {
    .type = "LRN",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .setup = lrn_setup,
    .reshape = lrn_reshape,
    .forward = lrn_forward,
    .backward = lrn_backward,
    .destroy = lrn_destroy,
};
