/* hinge_loss.c — HingeLoss (Caffe's HingeLossLayer): the one-versus-all
 * hinge loss of a linear SVM, for scores x (N × K, K = count / N) and
 * class labels l (N values).
 *
 *     δ_ij = +1 when j = l_i, else −1
 *     m_ij = max(0, 1 − δ_ij · x_ij)            (the margin violation)
 *     loss = Σ_ij m_ij^p / N,   p = 1 (norm L1, the default) or 2 (L2)
 * Backward (w = top[0].diff[0]), where m_ij > 0 and 0 elsewhere:
 *     L1: dx_ij = −δ_ij · w / N
 *     L2: dx_ij = −2 δ_ij m_ij · w / N
 * Labels get no gradient.  hinge_loss_param { norm: L1 | L2 }.
 */
#include <math.h>
#include <stdlib.h>

#include "layer.h"

static const char *const norm_names[] = {"L1", "L2", NULL};

typedef struct {
    int norm;           /* 0: L1, 1: L2 */
    size_t N, K;
} hinge_priv;

static int hinge_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    hinge_priv *s = calloc(1, sizeof *s);
    if (!s) abort();
    l->priv = s;
    cf_node *p;
    if (cf_layer_param_map(l, "hinge_loss_param", &p, err) || cf_get_enum(p, "norm", norm_names, 0, &s->norm, err))
        return -1;
    return 0;
}

static int hinge_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    hinge_priv *s = l->priv;
    s->N = (size_t)cf_blob_dim(bottom[0], 0);
    s->K = s->N ? bottom[0]->count / s->N : 0;
    if (bottom[1]->count != s->N) {
        char a[128], b[128];
        return cf_layer_error(l, NULL, err,
                              "label count %zu does not match the batch of %zu (scores %s, labels %s): "
                              "labels need one class index per sample",
                              bottom[1]->count, s->N, cf_blob_shape_str(bottom[0], a, sizeof a),
                              cf_blob_shape_str(bottom[1], b, sizeof b));
    }
    return cf_blob_reshape(top[0], 0, NULL, err);
}

static int check_label(cf_layer *l, float v, size_t i, size_t K, cf_error *err)
{
    if (v != floorf(v))
        return cf_layer_error(l, NULL, err, "label %g of sample %zu is not a whole class index", v, i);
    if (!(v >= 0 && v < (float)K))
        return cf_layer_error(l, NULL, err, "label %g of sample %zu is out of range [0, %zu)", v, i, K);
    return 0;
}

/* The margin violation of score x at class j of a sample labelled k. */
static float violation(float x, size_t j, size_t k)
{
    float m = 1.0f - (j == k ? x : -x);
    return m > 0 ? m : 0;
}

static int hinge_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    hinge_priv *s = l->priv;
    const float *x = cf_blob_data(bottom[0]), *label = cf_blob_data(bottom[1]);
    double loss = 0;
    for (size_t i = 0; i < s->N; i++) {
        if (check_label(l, label[i], i, s->K, err)) return -1;
        size_t k = (size_t)label[i];
        for (size_t j = 0; j < s->K; j++) {
            double m = violation(x[i * s->K + j], j, k);
            loss += s->norm ? m * m : m;
        }
    }
    cf_blob_mdata(top[0])[0] = (float)(loss / (double)(s->N ? s->N : 1));
    return 0;
}

static void hinge_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    hinge_priv *s = l->priv;
    if (!prop[0]) return; /* labels never get a gradient */
    const float *x = cf_blob_data(bottom[0]), *label = cf_blob_data(bottom[1]);
    float *dx = cf_blob_mdiff(bottom[0]);
    float scale = cf_blob_diff(top[0])[0] / (float)(s->N ? s->N : 1);
    for (size_t i = 0; i < s->N; i++) {
        size_t k = (size_t)label[i]; /* checked by forward */
        for (size_t j = 0; j < s->K; j++) {
            float m = violation(x[i * s->K + j], j, k), delta = j == k ? 1.0f : -1.0f;
            float g = m > 0 ? (s->norm ? 2 * m : 1.0f) : 0.0f;
            dx[i * s->K + j] = -delta * g * scale;
        }
    }
}

const cf_layer_ops cf_layer_HingeLoss = {
    .type = "HingeLoss",
    .min_bottom = 2, .max_bottom = 2,
    .min_top = 1, .max_top = 1,
    .is_loss = true,
    .setup = hinge_setup,
    .reshape = hinge_reshape,
    .forward = hinge_forward,
    .backward = hinge_backward,
};
