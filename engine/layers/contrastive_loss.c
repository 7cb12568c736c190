/* contrastive_loss.c — ContrastiveLoss (Caffe's ContrastiveLossLayer), the
 * loss of a Siamese net: pull pairs marked similar together, push the
 * others at least `margin` apart.
 *
 * Bottoms: features a and b (N × D each, the same shape) and a similarity
 * y (N values; read as an integer as Caffe does: non-zero = similar).
 * With d_i = ||a_i − b_i||² and m = contrastive_loss_param.margin (1):
 *     similar:     ℓ_i = d_i
 *     dissimilar:  ℓ_i = max(m − √d_i, 0)²      (legacy_version: max(m − d_i, 0))
 *     loss = Σ_i ℓ_i / (2N)
 * Backward, α = ±top[0].diff[0] / N (+ for a, − for b), Δ_i = a_i − b_i:
 *     similar:     α·Δ_i
 *     dissimilar:  −α·(m − √d_i)/(√d_i + 1e-4)·Δ_i while m − √d_i > 0
 *                  (legacy: −α·Δ_i while m − d_i > 0), else 0.
 * The 1e-4 keeps the division finite when a_i = b_i; it is Caffe's own,
 * kept so that training follows Caffe's (the gradient is off the exact
 * derivative by that relative 1e-4/√d).  y gets no gradient.
 */
#include <math.h>
#include <stdlib.h>

#include "layer.h"

typedef struct {
    double margin;
    bool legacy;
    size_t N, D;
    cf_blob *delta;     /* a − b, from forward */
    cf_mem *dist_sq;    /* d_i per sample */
} contrastive_priv;

static int contrastive_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    contrastive_priv *s = calloc(1, sizeof *s);
    if (!s) abort();
    l->priv = s;
    s->delta = cf_blob_new("delta");
    s->dist_sq = cf_mem_new();
    cf_node *p;
    if (cf_layer_param_map(l, "contrastive_loss_param", &p, err) || cf_get_float(p, "margin", 1.0, &s->margin, err) ||
        cf_get_bool(p, "legacy_version", false, &s->legacy, err))
        return -1;
    return 0;
}

static int contrastive_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    contrastive_priv *s = l->priv;
    char a[128], b[128];
    if (!cf_blob_same_shape(bottom[0], bottom[1]))
        return cf_layer_error(l, NULL, err, "the two feature bottoms have shapes %s and %s: they must be the same",
                              cf_blob_shape_str(bottom[0], a, sizeof a), cf_blob_shape_str(bottom[1], b, sizeof b));
    s->N = (size_t)cf_blob_dim(bottom[0], 0);
    s->D = s->N ? bottom[0]->count / s->N : 0;
    if (bottom[2]->count != s->N)
        return cf_layer_error(l, NULL, err,
                              "similarity count %zu does not match the batch of %zu (features %s, similarity %s): "
                              "give one 0/1 value per pair",
                              bottom[2]->count, s->N, cf_blob_shape_str(bottom[0], a, sizeof a),
                              cf_blob_shape_str(bottom[2], b, sizeof b));
    if (cf_blob_reshape_like(s->delta, bottom[0], err)) return -1;
    if (!cf_mem_host(s->dist_sq, s->N + 1)) return cf_layer_error(l, NULL, err, "out of memory");
    return cf_blob_reshape(top[0], 0, NULL, err);
}

static bool similar(float y)
{
    return (long)y != 0;
}

static int contrastive_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    contrastive_priv *s = l->priv;
    size_t n = bottom[0]->count;
    float *delta = cf_blob_mdata(s->delta), *dsq = s->dist_sq->host;
    const float *y = cf_blob_data(bottom[2]);
    cf_copy(l->be, n, cf_blob_data(bottom[0]), delta);
    cf_axpy(l->be, n, -1.0f, cf_blob_data(bottom[1]), delta);
    double loss = 0;
    for (size_t i = 0; i < s->N; i++) {
        dsq[i] = cf_dot(l->be, s->D, delta + i * s->D, delta + i * s->D);
        if (similar(y[i])) {
            loss += dsq[i];
        } else if (s->legacy) {
            loss += fmax(s->margin - dsq[i], 0.0);
        } else {
            double gap = fmax(s->margin - sqrt(dsq[i]), 0.0);
            loss += gap * gap;
        }
    }
    cf_blob_mdata(top[0])[0] = (float)(loss / (2.0 * (double)(s->N ? s->N : 1)));
    return 0;
}

/* The factor on Δ_i in d loss / d a_i, before α. */
static float pair_factor(const contrastive_priv *s, float y, float dsq)
{
    if (similar(y)) return 1.0f;
    if (s->legacy) return s->margin - dsq > 0 ? -1.0f : 0.0f;
    float dist = sqrtf(dsq), gap = (float)s->margin - dist;
    return gap > 0 ? -gap / (dist + 1e-4f) : 0.0f;
}

static void contrastive_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    contrastive_priv *s = l->priv;
    const float *delta = cf_blob_data(s->delta), *dsq = s->dist_sq->host, *y = cf_blob_data(bottom[2]);
    float base = cf_blob_diff(top[0])[0] / (float)(s->N ? s->N : 1);
    for (int b = 0; b < 2; b++) { /* y (bottom 2) never gets a gradient */
        if (!prop[b]) continue;
        float alpha = b == 0 ? base : -base;
        float *dx = cf_blob_mdiff(bottom[b]);
        for (size_t i = 0; i < s->N; i++) {
            float f = alpha * pair_factor(s, y[i], dsq[i]);
            for (size_t k = 0; k < s->D; k++) dx[i * s->D + k] = f * delta[i * s->D + k];
        }
    }
}

static void contrastive_destroy(cf_layer *l)
{
    contrastive_priv *s = l->priv;
    if (!s) return;
    cf_blob_free(s->delta);
    cf_mem_unref(s->dist_sq);
    free(s);
}

const cf_layer_ops cf_layer_ContrastiveLoss = {
    .type = "ContrastiveLoss",
    .min_bottom = 3, .max_bottom = 3,
    .min_top = 1, .max_top = 1,
    .is_loss = true,
    .setup = contrastive_setup,
    .reshape = contrastive_reshape,
    .forward = contrastive_forward,
    .backward = contrastive_backward,
    .destroy = contrastive_destroy,
};
