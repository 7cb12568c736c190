/* cudnn_lrn.c — LRN across channels on the GPU through cuDNN
 * (cudnnLRNCrossChannelForward/Backward), lrn.c's formula:
 *     s = k + α/n · Σ_{c' in window} x[c']²,   y = x · s^−β
 * cuDNN divides the α it is given by the window width n itself, so it
 * gets lrn_param's α as it is (and n, β, k).  Its window for an odd n is
 * the same centred one, cut at the edges.
 *
 * What stays on the host: WITHIN_CHANNEL (Caffe's form is an average
 * pooling of x² that cuDNN's divisive normalisation does not reproduce),
 * and parameters outside cuDNN's range (n > CUDNN_LRN_MAX_N, k <
 * CUDNN_LRN_MIN_K, β < CUDNN_LRN_MIN_BETA).
 *
 * cuDNN's backward reads the top y as well as x.  A later in-place layer
 * may have changed the top by then (lrn.c says the same and recomputes),
 * so forward keeps its own copy of y on the device.
 */
#include <stdlib.h>

#include "cuda_layers.h"

typedef struct {
    cudnnLRNDescriptor_t lrn;
    cudnnTensorDescriptor_t t;
    int n, c, h, w;         /* planned shape (n = 0: none) */
    cf_cuda_buf y;          /* the top as forward left it */
} lrn_st;

static void lrn_destroy(void *p)
{
    lrn_st *s = p;
    if (s->lrn) cudnnDestroyLRNDescriptor(s->lrn);
    if (s->t) cudnnDestroyTensorDescriptor(s->t);
    cf_cuda_buf_free(&s->y);
    free(s);
}

static void *lrn_create(cf_cuda_layer *w, cf_layer *l)
{
    static const char *const regions[] = {"ACROSS_CHANNELS", "WITHIN_CHANNEL", NULL};
    cf_node *p = cf_node_get(l->conf, "lrn_param");
    long size = 5;
    double alpha = 1, beta = 0.75, k = 1;
    int region = 0;
    if (p && (cf_get_int(p, "local_size", 5, &size, NULL) || cf_get_float(p, "alpha", 1, &alpha, NULL) ||
              cf_get_float(p, "beta", 0.75, &beta, NULL) || cf_get_float(p, "k", 1, &k, NULL) ||
              cf_get_enum(p, "norm_region", regions, 0, &region, NULL)))
        return NULL;
    if (region != 0 || size < CUDNN_LRN_MIN_N || size > CUDNN_LRN_MAX_N || k < CUDNN_LRN_MIN_K ||
        beta < CUDNN_LRN_MIN_BETA)
        return NULL;
    lrn_st *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (!cf_cuda_dnn(cudnnCreateLRNDescriptor(&s->lrn), "cudnnCreateLRNDescriptor") ||
        !cf_cuda_dnn(cudnnSetLRNDescriptor(s->lrn, (unsigned)size, alpha, beta, k), "cudnnSetLRNDescriptor") ||
        !cf_cuda_dnn(cudnnCreateTensorDescriptor(&s->t), "cudnnCreateTensorDescriptor")) {
        lrn_destroy(s);
        return NULL;
    }
    return s;
}

static bool lrn_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    lrn_st *s = w->st;
    const cf_blob *x = bottom[0];
    if (x->naxes != 4 || x->count == 0) return false;
    int n = x->shape[0], c = x->shape[1], h = x->shape[2], wd = x->shape[3];
    if (!cf_cuda_buf_reserve(&s->y, x->count * sizeof(float))) return false;
    if (n == s->n && c == s->c && h == s->h && wd == s->w) return true;
    s->n = 0;
    if (!cf_cudnn_tensor4(s->t, n, c, h, wd)) return false;
    s->n = n, s->c = c, s->h = h, s->w = wd;
    return true;
}

static const float one = 1.0f, zero = 0.0f;

static int lrn_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt,
                       cf_error *err)
{
    lrn_st *s = w->st;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]);
    float *y = cf_blob_gpu_mdata(l->be, top[0]);
    if (!x || !y) return cf_layer_error(l, NULL, err, "out of GPU memory");
    if (!cf_cuda_dnn(cudnnLRNCrossChannelForward(w->cu->dnn, s->lrn, CUDNN_LRN_CROSS_CHANNEL_DIM1, &one, s->t, x,
                                                 &zero, s->t, y),
                     "cudnnLRNCrossChannelForward"))
        return cf_cuda_take_error(err);
    cf_copy(w->gpu, top[0]->count, y, s->y.p);
    return cf_cuda_take_error(err);
}

static void lrn_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom,
                         int nb)
{
    lrn_st *s = w->st;
    if (!prop[0]) return;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]), *dy = cf_blob_gpu_diff(l->be, top[0]);
    float *dx = cf_blob_gpu_mdiff(l->be, bottom[0]);
    if (!x || !dy || !dx) {
        cf_cuda_fail("LRN backward");
        return;
    }
    cf_cuda_dnn(cudnnLRNCrossChannelBackward(w->cu->dnn, s->lrn, CUDNN_LRN_CROSS_CHANNEL_DIM1, &one, s->t, s->y.p,
                                             s->t, dy, s->t, x, &zero, s->t, dx),
                "cudnnLRNCrossChannelBackward");
}

const cf_cuda_impl cf_cuda_lrn = {
    .type = "LRN",
    .create = lrn_create,
    .reshape = lrn_reshape,
    .forward = lrn_forward,
    .backward = lrn_backward,
    .destroy = lrn_destroy,
};
