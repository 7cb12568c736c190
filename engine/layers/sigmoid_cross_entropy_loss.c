/* sigmoid_cross_entropy_loss.c — SigmoidCrossEntropyLoss (Caffe's
 * SigmoidCrossEntropyLossLayer): the cross-entropy between targets t in
 * [0, 1] and σ(x) for scores x, summed over every element.
 *
 * Bottoms: scores x (any shape) and targets t (the same count).  Top: the
 * loss.  Per element, written so that no exp can overflow:
 *     ℓ(x, t) = −[t·log σ(x) + (1 − t)·log(1 − σ(x))]
 *             = max(x, 0) − x·t + log(1 + e^(−|x|))
 *     loss = Σ_valid ℓ / normalizer
 * An element is valid unless its target equals loss_param.ignore_label.
 * loss_param.normalization picks the normalizer as in SoftmaxWithLoss,
 * with outer = shape[0] (the batch) and inner = the rest:
 *     FULL outer·inner, VALID valid elements, BATCH_SIZE outer, NONE 1
 * (at least 1).  When neither `normalization` nor the legacy `normalize`
 * is given, this layer divides by the batch size (BATCH_SIZE), as Caffe's
 * does to keep the behaviour it had before normalization existed; the
 * legacy `normalize: true` means VALID and `false` BATCH_SIZE.
 * Backward: dx = (σ(x) − t) · top[0].diff[0] / normalizer, 0 where
 * ignored; the targets get no gradient.
 */
#include <math.h>
#include <stdlib.h>

#include "layer.h"

enum { NORM_FULL, NORM_VALID, NORM_BATCH_SIZE, NORM_NONE };
static const char *const norm_names[] = {"FULL", "VALID", "BATCH_SIZE", "NONE", NULL};

typedef struct {
    int norm;
    bool has_ignore;
    long ignore;
    size_t outer, inner;
    size_t valid;       /* valid elements in the last forward */
} sce_priv;

static int sce_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    sce_priv *s = calloc(1, sizeof *s);
    if (!s) abort();
    l->priv = s;
    cf_node *p;
    bool normalize;
    if (cf_layer_param_map(l, "loss_param", &p, err)) return -1;
    s->has_ignore = cf_node_has(p, "ignore_label");
    if (cf_get_int(p, "ignore_label", -1, &s->ignore, err) ||
        cf_get_enum(p, "normalization", norm_names, NORM_BATCH_SIZE, &s->norm, err) ||
        cf_get_bool(p, "normalize", true, &normalize, err))
        return -1;
    if (!cf_node_has(p, "normalization") && cf_node_has(p, "normalize"))
        s->norm = normalize ? NORM_VALID : NORM_BATCH_SIZE;
    return 0;
}

static int sce_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    sce_priv *s = l->priv;
    if (bottom[0]->count != bottom[1]->count) {
        char a[128], b[128];
        return cf_layer_error(l, NULL, err, "scores %s and targets %s must have the same count",
                              cf_blob_shape_str(bottom[0], a, sizeof a), cf_blob_shape_str(bottom[1], b, sizeof b));
    }
    s->outer = bottom[0]->naxes > 0 ? (size_t)bottom[0]->shape[0] : 1;
    s->inner = s->outer ? bottom[0]->count / s->outer : 0;
    return cf_blob_reshape(top[0], 0, NULL, err);
}

static bool ignored(const sce_priv *s, float t)
{
    return s->has_ignore && t == (float)s->ignore;
}

static double normalizer(const sce_priv *s)
{
    double n = s->norm == NORM_FULL ? (double)(s->outer * s->inner)
             : s->norm == NORM_VALID ? (double)s->valid
             : s->norm == NORM_BATCH_SIZE ? (double)s->outer
             : 1.0;
    return n < 1 ? 1 : n;
}

static int sce_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    sce_priv *s = l->priv;
    const float *x = cf_blob_data(bottom[0]), *t = cf_blob_data(bottom[1]);
    double loss = 0;
    s->valid = 0;
    for (size_t i = 0; i < bottom[0]->count; i++) {
        if (ignored(s, t[i])) continue;
        double xi = x[i];
        loss += fmax(xi, 0) - xi * t[i] + log1p(exp(-fabs(xi)));
        s->valid++;
    }
    cf_blob_mdata(top[0])[0] = (float)(loss / normalizer(s));
    return 0;
}

/* σ(x) without overflow for large |x|. */
static float sigmoid(float x)
{
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static void sce_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    sce_priv *s = l->priv;
    if (!prop[0]) return; /* targets (bottom 1) never get a gradient */
    const float *x = cf_blob_data(bottom[0]), *t = cf_blob_data(bottom[1]);
    float *dx = cf_blob_mdiff(bottom[0]);
    float scale = cf_blob_diff(top[0])[0] / (float)normalizer(s);
    for (size_t i = 0; i < bottom[0]->count; i++)
        dx[i] = ignored(s, t[i]) ? 0.0f : (sigmoid(x[i]) - t[i]) * scale;
}

const cf_layer_ops cf_layer_SigmoidCrossEntropyLoss = {
    .type = "SigmoidCrossEntropyLoss",
    .min_bottom = 2, .max_bottom = 2,
    .min_top = 1, .max_top = 1,
    .is_loss = true,
    .setup = sce_setup,
    .reshape = sce_reshape,
    .forward = sce_forward,
    .backward = sce_backward,
};
