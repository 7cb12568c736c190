/* batch_norm.c — Caffe's BatchNorm layer (batch_norm_param:
 * use_global_stats, moving_average_fraction 0.999, eps 1e-5).
 *
 * Each channel (axis 1; the only one for a 1-axis bottom) is normalised
 * over the m = N · spatial values it has in the batch:
 *     y = (x − μ) / √(σ² + ε)
 * with μ, σ² (biased: the mean of (x − μ)²) taken from the batch, or,
 * with use_global_stats (the default in TEST), from the running
 * statistics.  No scale or shift: Caffe puts a Scale layer after it.
 *
 * The three params are Caffe's statistics, not weights, and are never
 * learnt (param_fixed: the net forces lr_mult 0, as Caffe does):
 *     [0] Σ of batch means, [1] Σ of batch variances, [2] the weight t
 * each decayed by λ = moving_average_fraction at every TRAIN forward
 * without global stats:
 *     t ← λ·t + 1     [0] ← λ·[0] + μ     [1] ← λ·[1] + m/(m−1) · σ²
 * (the m/(m−1) makes the variance unbiased; 1 when m = 1), so that
 * [0]/t and [1]/t are the running mean and variance; global stats use
 * them so (t = 0 gives 0 for both, as Caffe).
 *
 * Gradient with batch statistics (ŷ the normalised output, means over the
 * channel's m values):
 *     ∂E/∂x = (∂E/∂y − mean(∂E/∂y) − mean(∂E/∂y · ŷ) · ŷ) / √(σ² + ε)
 * and with global statistics, which are constants, ∂E/∂y / √(σ² + ε).
 * ŷ is kept from forward (a later in-place layer may change the top), so
 * in place is fine.
 *
 * With oneDNN (dnnl_layers.h) the forward pass with batch statistics runs
 * as its batch normalization (dnnl_bn.c): it hands back the batch's μ and
 * biased σ², which go into the running sums as above, and its y is ŷ,
 * kept as this code keeps it.  Backward, and global statistics, stay with
 * this code, which measured faster there (dnnl_bn.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl/dnnl_layers.h"
#include "layer.h"

typedef struct {
    bool global;
    float maf, eps;
    size_t N, C, S;         /* bottom as N × C × S */
    cf_mem *mean, *var, *std; /* per channel: μ, σ² and √(σ² + ε) of the last forward */
    cf_mem *y_norm;         /* ŷ, for backward */
    cf_dnnl_bn *dn;         /* oneDNN plan for the current shape, or NULL */
} bn_priv;

typedef struct {
    const bn_priv *c;
    const float *x, *dy;
    float *y, *dx;
} bn_job;

static int bn_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    bool global;
    double maf, eps;
    char s[128];
    if (cf_layer_param_map(l, "batch_norm_param", &p, err) ||
        cf_get_bool(p, "use_global_stats", l->phase == CF_TEST, &global, err) ||
        cf_get_float(p, "moving_average_fraction", 0.999, &maf, err) || cf_get_float(p, "eps", 1e-5, &eps, err))
        return -1;
    if (bottom[0]->naxes < 1)
        return cf_layer_error(l, NULL, err, "BatchNorm needs a bottom with at least 1 axis, got %s",
                              cf_blob_shape_str(bottom[0], s, sizeof s));
    bn_priv *c = calloc(1, sizeof *c);
    if (!c) return cf_layer_error(l, NULL, err, "out of memory");
    l->priv = c;
    c->global = global;
    c->maf = (float)maf;
    c->eps = (float)eps;
    c->mean = cf_mem_new();
    c->var = cf_mem_new();
    c->std = cf_mem_new();
    c->y_norm = cf_mem_new();
    int C = bottom[0]->naxes == 1 ? 1 : bottom[0]->shape[1], one = 1;
    for (int i = 0; i < 3; i++) {
        cf_blob *b = cf_layer_add_param(l, 1, i < 2 ? &C : &one, err);
        if (!b) return -1;
        memset(cf_blob_mdata(b), 0, b->count * sizeof(float));
        l->param_grad[i] = false;
        l->param_fixed[i] = true;
    }
    return 0;
}

/* ŷ's buffer (reshape set the shape). */
static int y_norm_buffer(cf_layer *l, cf_error *err)
{
    bn_priv *c = l->priv;
    if (!cf_mem_host(c->y_norm, c->N * c->C * c->S + 1)) return cf_layer_error(l, NULL, err, "out of memory");
    return 0;
}

static int bn_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    bn_priv *c = l->priv;
    const cf_blob *b = bottom[0];
    char s[128];
    size_t C = b->naxes == 1 ? 1 : b->naxes > 1 ? (size_t)b->shape[1] : 0;
    if (C != l->param[0]->count)
        return cf_layer_error(l, NULL, err, "bottom %s does not have the %zu channels the statistics are for",
                              cf_blob_shape_str(b, s, sizeof s), l->param[0]->count);
    c->N = (size_t)b->shape[0];
    c->C = C;
    c->S = cf_blob_count_range(b, 2, b->naxes);
    if (!cf_mem_host(c->mean, C + 1) || !cf_mem_host(c->var, C + 1) || !cf_mem_host(c->std, C + 1))
        return cf_layer_error(l, NULL, err, "out of memory");
    if (top[0] != bottom[0] && cf_blob_reshape_like(top[0], bottom[0], err)) return -1;
    if (cf_dnnl_on(l->be) && !c->global) c->dn = cf_dnnl_bn_plan(c->dn, l->be, c->N, C, c->S, c->eps);
    return y_norm_buffer(l, err);
}

/* Batch mean and biased variance of channels [b, e): into mean and var. */
static void batch_stats(void *ctx, size_t b, size_t e)
{
    bn_job *j = ctx;
    const bn_priv *c = j->c;
    double m = (double)(c->N * c->S);
    for (size_t ch = b; ch < e; ch++) {
        double sum = 0, sq = 0;
        for (size_t n = 0; n < c->N; n++) {
            const float *x = j->x + (n * c->C + ch) * c->S;
            for (size_t i = 0; i < c->S; i++) sum += x[i];
        }
        double mu = sum / m;
        for (size_t n = 0; n < c->N; n++) {
            const float *x = j->x + (n * c->C + ch) * c->S;
            for (size_t i = 0; i < c->S; i++) sq += (x[i] - mu) * (x[i] - mu);
        }
        c->mean->host[ch] = (float)mu;
        c->var->host[ch] = (float)(sq / m);
    }
}

static void normalize(void *ctx, size_t b, size_t e)
{
    bn_job *j = ctx;
    const bn_priv *c = j->c;
    for (size_t ch = b; ch < e; ch++) {
        float mu = c->mean->host[ch], sd = c->std->host[ch];
        for (size_t n = 0; n < c->N; n++) {
            size_t off = (n * c->C + ch) * c->S;
            for (size_t i = 0; i < c->S; i++) {
                float v = (j->x[off + i] - mu) / sd;
                j->y[off + i] = v;
                if (!c->global) c->y_norm->host[off + i] = v;
            }
        }
    }
}

static void backward_channels(void *ctx, size_t b, size_t e)
{
    bn_job *j = ctx;
    const bn_priv *c = j->c;
    double m = (double)(c->N * c->S);
    for (size_t ch = b; ch < e; ch++) {
        float sd = c->std->host[ch];
        if (c->global) {
            for (size_t n = 0; n < c->N; n++) {
                size_t off = (n * c->C + ch) * c->S;
                for (size_t i = 0; i < c->S; i++) j->dx[off + i] = j->dy[off + i] / sd;
            }
            continue;
        }
        double sdy = 0, sdyy = 0;
        for (size_t n = 0; n < c->N; n++) {
            size_t off = (n * c->C + ch) * c->S;
            const float *dy = j->dy + off, *y = c->y_norm->host + off;
            for (size_t i = 0; i < c->S; i++) {
                sdy += dy[i];
                sdyy += (double)dy[i] * y[i];
            }
        }
        float a = (float)(sdy / m), bb = (float)(sdyy / m);
        for (size_t n = 0; n < c->N; n++) {
            size_t off = (n * c->C + ch) * c->S;
            const float *y = c->y_norm->host + off;
            for (size_t i = 0; i < c->S; i++) j->dx[off + i] = (j->dy[off + i] - a - bb * y[i]) / sd;
        }
    }
}

/* Fold this batch's statistics into the running sums (Caffe's update). */
static void update_running(cf_layer *l, bn_priv *c)
{
    float *sum_mean = cf_blob_mdata(l->param[0]), *sum_var = cf_blob_mdata(l->param[1]);
    float *t = cf_blob_mdata(l->param[2]);
    size_t m = c->N * c->S;
    float corr = m > 1 ? (float)m / (float)(m - 1) : 1.0f;
    t[0] = t[0] * c->maf + 1;
    for (size_t ch = 0; ch < c->C; ch++) {
        sum_mean[ch] = c->mean->host[ch] + c->maf * sum_mean[ch];
        sum_var[ch] = corr * c->var->host[ch] + c->maf * sum_var[ch];
    }
}

/* The running mean and variance, from the three blobs, into mean, var. */
static void global_stats(cf_layer *l, bn_priv *c)
{
    const float *t = cf_blob_data(l->param[2]);
    float f = t[0] == 0 ? 0 : 1 / t[0];
    const float *sum_mean = cf_blob_data(l->param[0]), *sum_var = cf_blob_data(l->param[1]);
    for (size_t ch = 0; ch < c->C; ch++) {
        c->mean->host[ch] = f * sum_mean[ch];
        c->var->host[ch] = f * sum_var[ch];
    }
}

static void take_std(bn_priv *c)
{
    for (size_t ch = 0; ch < c->C; ch++) c->std->host[ch] = sqrtf(c->var->host[ch] + c->eps);
}

static int bn_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    bn_priv *c = l->priv;
    if (c->N * c->S == 0) return 0;
    bn_job j = {.c = c, .x = cf_blob_data(bottom[0])};
    if (c->global) global_stats(l, c);
    if (c->dn) {
        /* (in place, oneDNN reads x into its own layout before it writes y) */
        float *y = cf_blob_mdata(top[0]);
        if (cf_dnnl_bn_forward(c->dn, j.x, y, c->mean->host, c->var->host) == 0) {
            update_running(l, c);
            take_std(c);
            cf_copy(l->be, top[0]->count, y, c->y_norm->host);
            return 0;
        }
        /* oneDNN failed (before writing the top: its output is reordered
         * into it last): our own code until a reshape tries it again */
        cf_dnnl_bn_free(c->dn);
        c->dn = NULL;
    }
    if (!c->global) {
        cf_parallel_for(l->be, c->C, 1, batch_stats, &j);
        update_running(l, c);
    }
    take_std(c);
    j.y = cf_blob_mdata(top[0]);
    cf_parallel_for(l->be, c->C, 1, normalize, &j);
    return 0;
}

static void bn_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    bn_priv *c = l->priv;
    if (!prop[0] || c->N * c->S == 0) return;
    bn_job j = {.c = c, .dy = cf_blob_diff(top[0])};
    j.dx = cf_blob_mdiff(bottom[0]);
    cf_parallel_for(l->be, c->C, 1, backward_channels, &j);
}

static void bn_destroy(cf_layer *l)
{
    bn_priv *c = l->priv;
    if (!c) return;
    cf_mem_unref(c->mean);
    cf_mem_unref(c->var);
    cf_mem_unref(c->std);
    cf_mem_unref(c->y_norm);
    cf_dnnl_bn_free(c->dn);
    free(c);
}

const cf_layer_ops cf_layer_BatchNorm = {
    .type = "BatchNorm",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .inplace_ok = true,
    .setup = bn_setup,
    .reshape = bn_reshape,
    .forward = bn_forward,
    .backward = bn_backward,
    .destroy = bn_destroy,
};
