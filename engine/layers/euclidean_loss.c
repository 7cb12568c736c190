/* euclidean_loss.c — EuclideanLoss (Caffe's EuclideanLossLayer): half the
 * mean squared distance between two bottoms of the same count.
 *     loss = Σ_i (a_i − b_i)² / (2N),   N = a.shape[0] (the batch)
 *     da = +(a − b) · w / N,   db = −(a − b) · w / N,   w = top[0].diff[0]
 * Both bottoms get a gradient (either may be a learned prediction).
 */
#include <stdlib.h>

#include "layer.h"

typedef struct {
    cf_blob *delta;     /* a − b, kept from forward for backward */
} euclid_priv;

static int euclid_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    euclid_priv *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->delta = cf_blob_new("delta");
    l->priv = s;
    return 0;
}

static int euclid_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    euclid_priv *s = l->priv;
    if (bottom[0]->count != bottom[1]->count || cf_blob_dim(bottom[0], 0) != cf_blob_dim(bottom[1], 0)) {
        char x[128], y[128];
        return cf_layer_error(l, NULL, err, "bottoms have shapes %s and %s: they need the same count and batch size",
                              cf_blob_shape_str(bottom[0], x, sizeof x), cf_blob_shape_str(bottom[1], y, sizeof y));
    }
    if (cf_blob_reshape_like(s->delta, bottom[0], err)) return -1;
    return cf_blob_reshape(top[0], 0, NULL, err);
}

static int euclid_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    euclid_priv *s = l->priv;
    size_t n = bottom[0]->count;
    float *d = cf_blob_mdata(s->delta);
    cf_copy(l->be, n, cf_blob_data(bottom[0]), d);
    cf_axpy(l->be, n, -1.0f, cf_blob_data(bottom[1]), d);
    double N = cf_blob_dim(bottom[0], 0);
    cf_blob_mdata(top[0])[0] = (float)(cf_dot(l->be, n, d, d) / (2 * (N > 0 ? N : 1)));
    return 0;
}

static void euclid_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    euclid_priv *s = l->priv;
    size_t n = bottom[0]->count;
    double N = cf_blob_dim(bottom[0], 0);
    float scale = (float)(cf_blob_diff(top[0])[0] / (N > 0 ? N : 1));
    for (int b = 0; b < 2; b++) {
        if (!prop[b]) continue;
        float *dx = cf_blob_mdiff(bottom[b]); /* overwritten whole, old NaNs included */
        cf_copy(l->be, n, cf_blob_data(s->delta), dx);
        cf_scal(l->be, n, b == 0 ? scale : -scale, dx);
    }
}

static void euclid_destroy(cf_layer *l)
{
    euclid_priv *s = l->priv;
    if (!s) return;
    cf_blob_free(s->delta);
    free(s);
}

const cf_layer_ops cf_layer_EuclideanLoss = {
    .type = "EuclideanLoss",
    .min_bottom = 2, .max_bottom = 2,
    .min_top = 1, .max_top = 1,
    .is_loss = true,
    .setup = euclid_setup,
    .reshape = euclid_reshape,
    .forward = euclid_forward,
    .backward = euclid_backward,
    .destroy = euclid_destroy,
};
