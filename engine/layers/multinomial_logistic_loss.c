/* multinomial_logistic_loss.c — MultinomialLogisticLoss (Caffe's
 * MultinomialLogisticLossLayer): the negative log-likelihood of the true
 * class under given probabilities (a Softmax's output, say).
 *
 * Bottoms: probabilities p (N × K, K = count / N) and labels l (N class
 * indices).  Top: the loss.  Probabilities are clamped below at
 * kLOG_THRESHOLD = 1e-20, as Caffe does, so a zero gives a large finite
 * loss rather than infinity:
 *     loss = −Σ_i log(max(p[i, l_i], 1e-20)) / N
 * Backward (w = top[0].diff[0]): only the true class of each sample moves,
 *     dp[i, l_i] = −w / (N · max(p[i, l_i], 1e-20)),   0 elsewhere;
 * labels get no gradient.  For training, SoftmaxWithLoss computes the same
 * loss from scores with a better-conditioned gradient.
 */
#include <math.h>
#include <stdlib.h>

#include "layer.h"

#define LOG_THRESHOLD 1e-20f

typedef struct {
    size_t N, K;
} mll_priv;

static int mll_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    l->priv = calloc(1, sizeof(mll_priv));
    if (!l->priv) abort();
    return 0;
}

static int mll_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    mll_priv *s = l->priv;
    s->N = (size_t)cf_blob_dim(bottom[0], 0);
    s->K = s->N ? bottom[0]->count / s->N : 0;
    if (bottom[1]->count != s->N) {
        char a[128], b[128];
        return cf_layer_error(l, NULL, err,
                              "label count %zu does not match the batch of %zu (probabilities %s, labels %s): "
                              "labels need one class index per sample",
                              bottom[1]->count, s->N, cf_blob_shape_str(bottom[0], a, sizeof a),
                              cf_blob_shape_str(bottom[1], b, sizeof b));
    }
    return cf_blob_reshape(top[0], 0, NULL, err);
}

static int mll_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    mll_priv *s = l->priv;
    const float *p = cf_blob_data(bottom[0]), *label = cf_blob_data(bottom[1]);
    double loss = 0;
    for (size_t i = 0; i < s->N; i++) {
        float v = label[i];
        if (v != floorf(v))
            return cf_layer_error(l, NULL, err, "label %g of sample %zu is not a whole class index", v, i);
        if (!(v >= 0 && v < (float)s->K))
            return cf_layer_error(l, NULL, err, "label %g of sample %zu is out of range [0, %zu)", v, i, s->K);
        loss -= log(fmaxf(p[i * s->K + (size_t)v], LOG_THRESHOLD));
    }
    cf_blob_mdata(top[0])[0] = (float)(loss / (double)(s->N ? s->N : 1));
    return 0;
}

static void mll_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    mll_priv *s = l->priv;
    if (!prop[0]) return; /* labels never get a gradient */
    const float *p = cf_blob_data(bottom[0]), *label = cf_blob_data(bottom[1]);
    float *dp = cf_blob_mdiff(bottom[0]);
    float scale = cf_blob_diff(top[0])[0] / (float)(s->N ? s->N : 1);
    cf_set(l->be, bottom[0]->count, 0.0f, dp);
    for (size_t i = 0; i < s->N; i++) {
        size_t at = i * s->K + (size_t)label[i]; /* checked by forward */
        dp[at] = -scale / fmaxf(p[at], LOG_THRESHOLD);
    }
}

const cf_layer_ops cf_layer_MultinomialLogisticLoss = {
    .type = "MultinomialLogisticLoss",
    .min_bottom = 2, .max_bottom = 2,
    .min_top = 1, .max_top = 1,
    .is_loss = true,
    .setup = mll_setup,
    .reshape = mll_reshape,
    .forward = mll_forward,
    .backward = mll_backward,
};
