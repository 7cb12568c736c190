/* mvn.c — Caffe's MVN layer, mean-variance normalisation (mvn_param:
 * normalize_variance true, across_channels false, eps 1e-9).
 *
 * Each row — one (item, channel) plane, or a whole item with
 * across_channels — of D values is centred, and with normalize_variance
 * divided by its standard deviation plus ε (ε is added to σ, not to σ²,
 * as Caffe does):
 *     y = (x − μ) / (σ + ε)          σ² = mean((x − μ)²)
 * Gradient, per row (Caffe's formula, which treats σ + ε as σ):
 *     ∂E/∂x = (∂E/∂y − mean(∂E/∂y) − mean(∂E/∂y · y) · y) / (σ + ε)
 * or, centring only, ∂E/∂y − mean(∂E/∂y).  y is kept from forward (a
 * later in-place layer may change the top), so in place is fine. */
#include <math.h>
#include <stdlib.h>

#include "layer.h"

typedef struct {
    bool norm_var, across;
    float eps;
    size_t rows, D;
    cf_mem *sd;             /* σ + ε per row */
    cf_mem *y;              /* y, for backward */
} mvn_priv;

typedef struct {
    const mvn_priv *c;
    const float *x, *dy;
    float *y, *dx;
} mvn_job;

static int mvn_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    bool norm_var, across;
    double eps;
    if (cf_layer_param_map(l, "mvn_param", &p, err) || cf_get_bool(p, "normalize_variance", true, &norm_var, err) ||
        cf_get_bool(p, "across_channels", false, &across, err) || cf_get_float(p, "eps", 1e-9, &eps, err))
        return -1;
    mvn_priv *c = calloc(1, sizeof *c);
    if (!c) return cf_layer_error(l, NULL, err, "out of memory");
    l->priv = c;
    c->norm_var = norm_var;
    c->across = across;
    c->eps = (float)eps;
    c->sd = cf_mem_new();
    c->y = cf_mem_new();
    return 0;
}

static int mvn_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    mvn_priv *c = l->priv;
    const cf_blob *b = bottom[0];
    /* Caffe's num() and channels(): 1 for a missing axis */
    c->rows = (size_t)cf_blob_dim(b, 0) * (c->across ? 1 : (size_t)cf_blob_dim(b, 1));
    c->D = c->rows ? b->count / c->rows : 0;
    if (!cf_mem_host(c->sd, c->rows + 1) || !cf_mem_host(c->y, b->count + 1))
        return cf_layer_error(l, NULL, err, "out of memory");
    return top[0] == bottom[0] ? 0 : cf_blob_reshape_like(top[0], bottom[0], err);
}

static void forward_rows(void *ctx, size_t b, size_t e)
{
    mvn_job *j = ctx;
    const mvn_priv *c = j->c;
    size_t D = c->D;
    for (size_t r = b; r < e; r++) {
        const float *x = j->x + r * D;
        float *y = j->y + r * D, *keep = c->y->host + r * D;
        double sum = 0;
        for (size_t i = 0; i < D; i++) sum += x[i];
        float mu = (float)(sum / (double)D);
        for (size_t i = 0; i < D; i++) y[i] = x[i] - mu;
        if (!c->norm_var) continue;
        double sq = 0;
        for (size_t i = 0; i < D; i++) sq += (double)y[i] * y[i];
        float sd = sqrtf((float)(sq / (double)D)) + c->eps;
        c->sd->host[r] = sd;
        for (size_t i = 0; i < D; i++) keep[i] = y[i] = y[i] / sd;
    }
}

static void backward_rows(void *ctx, size_t b, size_t e)
{
    mvn_job *j = ctx;
    const mvn_priv *c = j->c;
    size_t D = c->D;
    for (size_t r = b; r < e; r++) {
        const float *dy = j->dy + r * D, *y = c->y->host + r * D;
        float *dx = j->dx + r * D;
        double sdy = 0, sdyy = 0;
        for (size_t i = 0; i < D; i++) {
            sdy += dy[i];
            if (c->norm_var) sdyy += (double)dy[i] * y[i];
        }
        float a = (float)(sdy / (double)D);
        if (!c->norm_var) {
            for (size_t i = 0; i < D; i++) dx[i] = dy[i] - a;
            continue;
        }
        float bb = (float)(sdyy / (double)D), sd = c->sd->host[r];
        for (size_t i = 0; i < D; i++) dx[i] = (dy[i] - a - bb * y[i]) / sd;
    }
}

static size_t row_grain(const mvn_priv *c) { return c->D >= 4096 ? 1 : 4096 / (c->D ? c->D : 1); }

static int mvn_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    mvn_priv *c = l->priv;
    if (c->D == 0) return 0;
    mvn_job j = {.c = c, .x = cf_blob_data(bottom[0])};
    j.y = cf_blob_mdata(top[0]);
    cf_parallel_for(l->be, c->rows, row_grain(c), forward_rows, &j);
    return 0;
}

static void mvn_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    mvn_priv *c = l->priv;
    if (!prop[0] || c->D == 0) return;
    mvn_job j = {.c = c, .dy = cf_blob_diff(top[0])};
    j.dx = cf_blob_mdiff(bottom[0]);
    cf_parallel_for(l->be, c->rows, row_grain(c), backward_rows, &j);
}

static void mvn_destroy(cf_layer *l)
{
    mvn_priv *c = l->priv;
    if (!c) return;
    cf_mem_unref(c->sd);
    cf_mem_unref(c->y);
    free(c);
}

const cf_layer_ops cf_layer_MVN = {
    .type = "MVN",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .inplace_ok = true,
    .setup = mvn_setup,
    .reshape = mvn_reshape,
    .forward = mvn_forward,
    .backward = mvn_backward,
    .destroy = mvn_destroy,
};
