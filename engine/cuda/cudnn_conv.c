/* cudnn_conv.c — Convolution on the GPU with cuDNN (see convolution.c for
 * the layer and cuda_layers.h for how this takes over its passes).
 *
 * Caffe's convolution is cuDNN's cross-correlation with the same padding,
 * stride, dilation and groups: x [N, C, H, W], filters [M, C/G, kh, kw],
 * y [N, M, Ho, Wo], and the bias added per output channel.  Backward:
 *     dW += ∂E/∂W    db += Σ over n, y, x of dy    dx = ∂E/∂x
 * (params accumulate, β = 1; the bottom is overwritten, β = 0).
 *
 * Algorithms are chosen once per shape, in reshape, from cuDNN's ranked
 * heuristics (the _v7 queries): the first that succeeds in FP32 (cuDNN is
 * told FMA math, so no TF32 rounding on Ampere and later) and needs no
 * more than CF_CUDA_WORKSPACE_LIMIT of workspace.  The backend's one
 * workspace grows to the largest need; the memory figures report it.
 * A shape cuDNN refuses stays on the host.
 */
#include <stdlib.h>

#include "cuda_layers.h"
#include "layers/conv_geom.h"

typedef struct {
    int M, G;
    bool bias;
    cf_conv_geom g;         /* window from the recipe; N, C, H, W of the planned shape */
    bool planned;
    cudnnTensorDescriptor_t x, y, b;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
} conv_st;

static void conv_destroy(void *p)
{
    conv_st *s = p;
    if (s->x) cudnnDestroyTensorDescriptor(s->x);
    if (s->y) cudnnDestroyTensorDescriptor(s->y);
    if (s->b) cudnnDestroyTensorDescriptor(s->b);
    if (s->w) cudnnDestroyFilterDescriptor(s->w);
    if (s->conv) cudnnDestroyConvolutionDescriptor(s->conv);
    free(s);
}

static void *conv_create(cf_cuda_layer *w, cf_layer *l)
{
    cf_node *p = cf_node_get(l->conf, "convolution_param");
    long M, G;
    bool bias;
    conv_st *s = calloc(1, sizeof *s);
    if (!s || !p || cf_get_int(p, "num_output", 0, &M, NULL) || cf_get_int(p, "group", 1, &G, NULL) ||
        cf_get_bool(p, "bias_term", true, &bias, NULL) || cf_conv_read_window(l, p, &s->g, NULL) || M < 1 || G < 1 ||
        !cf_cuda_dnn(cudnnCreateTensorDescriptor(&s->x), "cudnnCreateTensorDescriptor") ||
        !cf_cuda_dnn(cudnnCreateTensorDescriptor(&s->y), "cudnnCreateTensorDescriptor") ||
        !cf_cuda_dnn(cudnnCreateTensorDescriptor(&s->b), "cudnnCreateTensorDescriptor") ||
        !cf_cuda_dnn(cudnnCreateFilterDescriptor(&s->w), "cudnnCreateFilterDescriptor") ||
        !cf_cuda_dnn(cudnnCreateConvolutionDescriptor(&s->conv), "cudnnCreateConvolutionDescriptor")) {
        if (s) conv_destroy(s);
        return NULL;
    }
    s->M = (int)M;
    s->G = (int)G;
    s->bias = bias && l->nparam > 1;
    (void)w;
    return s;
}

/* The first of cuDNN's ranked choices that works in FP32 within the
 * workspace bound; -1 when none does. */
#define PICK(results, n, out)                                                                                       \
    do {                                                                                                            \
        for (int k_ = 0; k_ < (n); k_++)                                                                            \
            if ((results)[k_].status == CUDNN_STATUS_SUCCESS && (results)[k_].memory <= CF_CUDA_WORKSPACE_LIMIT &&  \
                ((results)[k_].mathType == CUDNN_FMA_MATH || (results)[k_].mathType == CUDNN_DEFAULT_MATH)) {       \
                (out) = (int)k_;                                                                                    \
                break;                                                                                              \
            }                                                                                                       \
    } while (0)

static bool choose_algorithms(cf_cuda_layer *w, conv_st *s)
{
    cudnnHandle_t h = w->cu->dnn;
    cudnnConvolutionFwdAlgoPerf_t f[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    cudnnConvolutionBwdDataAlgoPerf_t d[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    cudnnConvolutionBwdFilterAlgoPerf_t b[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int nf = 0, nd = 0, nbk = 0, kf = -1, kd = -1, kb = -1;
    if (!cf_cuda_dnn(cudnnGetConvolutionForwardAlgorithm_v7(h, s->x, s->w, s->conv, s->y,
                                                             CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &nf, f),
                     "cudnnGetConvolutionForwardAlgorithm_v7") ||
        !cf_cuda_dnn(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, s->w, s->y, s->conv, s->x,
                                                                  CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &nd, d),
                     "cudnnGetConvolutionBackwardDataAlgorithm_v7") ||
        !cf_cuda_dnn(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, s->x, s->y, s->conv, s->w,
                                                                    CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &nbk, b),
                     "cudnnGetConvolutionBackwardFilterAlgorithm_v7"))
        return false;
    PICK(f, nf, kf);
    PICK(d, nd, kd);
    PICK(b, nbk, kb);
    if (kf < 0 || kd < 0 || kb < 0) return false;
    s->fwd = f[kf].algo;
    s->bwd_data = d[kd].algo;
    s->bwd_filter = b[kb].algo;
    size_t need = f[kf].memory;
    if (d[kd].memory > need) need = d[kd].memory;
    if (b[kb].memory > need) need = b[kb].memory;
    return cf_cuda_workspace(w->cu, need);
}

static bool conv_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    conv_st *s = w->st;
    const cf_blob *x = bottom[0], *y = top[0];
    if (x->naxes != 4 || y->naxes != 4 || x->count == 0 || y->count == 0) return false;
    cf_conv_geom *g = &s->g;
    if (s->planned && g->N == x->shape[0] && g->C == x->shape[1] && g->H == x->shape[2] && g->W == x->shape[3])
        return true;
    s->planned = false;
    g->N = x->shape[0], g->C = x->shape[1], g->H = x->shape[2], g->W = x->shape[3];
    int n, c, ho, wo;
    if (!cf_cudnn_tensor4(s->x, g->N, g->C, g->H, g->W) ||
        !cf_cudnn_tensor4(s->y, y->shape[0], y->shape[1], y->shape[2], y->shape[3]) ||
        !cf_cudnn_tensor4(s->b, 1, s->M, 1, 1) ||
        !cf_cuda_dnn(cudnnSetFilter4dDescriptor(s->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, s->M, g->C / s->G, g->kh,
                                                g->kw),
                     "cudnnSetFilter4dDescriptor") ||
        !cf_cuda_dnn(cudnnSetConvolution2dDescriptor(s->conv, g->ph, g->pw, g->sh, g->sw, g->dh, g->dw,
                                                     CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                     "cudnnSetConvolution2dDescriptor") ||
        !cf_cuda_dnn(cudnnSetConvolutionGroupCount(s->conv, s->G), "cudnnSetConvolutionGroupCount") ||
        !cf_cuda_dnn(cudnnSetConvolutionMathType(s->conv, CUDNN_FMA_MATH), "cudnnSetConvolutionMathType") ||
        !cf_cuda_dnn(cudnnGetConvolution2dForwardOutputDim(s->conv, s->x, s->w, &n, &c, &ho, &wo),
                     "cudnnGetConvolution2dForwardOutputDim"))
        return false;
    /* cuDNN's output must be the layer's (it is, for any valid geometry) */
    if (n != y->shape[0] || c != y->shape[1] || ho != y->shape[2] || wo != y->shape[3]) return false;
    s->planned = choose_algorithms(w, s);
    return s->planned;
}

static const float one = 1.0f, zero = 0.0f;

static int conv_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt,
                        cf_error *err)
{
    conv_st *s = w->st;
    cudnnHandle_t h = w->cu->dnn;
    const float *wt = cf_blob_gpu_data(l->be, l->param[0]);
    const float *b = s->bias ? cf_blob_gpu_data(l->be, l->param[1]) : NULL;
    if (!wt || (s->bias && !b)) return cf_layer_error(l, NULL, err, "out of GPU memory for the weights");
    for (int i = 0; i < nb; i++) {
        const float *x = cf_blob_gpu_data(l->be, bottom[i]);
        float *y = cf_blob_gpu_mdata(l->be, top[i]);
        if (!x || !y) return cf_layer_error(l, NULL, err, "out of GPU memory for bottom/top %d", i);
        if (!cf_cuda_dnn(cudnnConvolutionForward(h, &one, s->x, x, s->w, wt, s->conv, s->fwd, w->cu->ws,
                                                 w->cu->ws_bytes, &zero, s->y, y),
                         "cudnnConvolutionForward"))
            return cf_cuda_take_error(err);
        if (b && !cf_cuda_dnn(cudnnAddTensor(h, &one, s->b, b, &one, s->y, y), "cudnnAddTensor"))
            return cf_cuda_take_error(err);
    }
    return 0;
}

static void conv_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom,
                          int nb)
{
    conv_st *s = w->st;
    cudnnHandle_t h = w->cu->dnn;
    bool dw = l->param_grad[0], db = s->bias && l->param_grad[1];
    const float *wt = cf_blob_gpu_data(l->be, l->param[0]);
    float *wd = dw ? cf_blob_gpu_mdiff(l->be, l->param[0]) : NULL;
    float *bd = db ? cf_blob_gpu_mdiff(l->be, l->param[1]) : NULL;
    if (!wt || (dw && !wd) || (db && !bd)) {
        cf_cuda_fail("convolution backward");
        return;
    }
    for (int i = 0; i < nb; i++) {
        if (!dw && !db && !prop[i]) continue;
        const float *dy = cf_blob_gpu_diff(l->be, top[i]);
        const float *x = dw ? cf_blob_gpu_data(l->be, bottom[i]) : NULL;
        if (!dy || (dw && !x)) {
            cf_cuda_fail("convolution backward");
            return;
        }
        if (dw && !cf_cuda_dnn(cudnnConvolutionBackwardFilter(h, &one, s->x, x, s->y, dy, s->conv, s->bwd_filter,
                                                              w->cu->ws, w->cu->ws_bytes, &one, s->w, wd),
                               "cudnnConvolutionBackwardFilter"))
            return;
        if (db && !cf_cuda_dnn(cudnnConvolutionBackwardBias(h, &one, s->y, dy, &one, s->b, bd),
                               "cudnnConvolutionBackwardBias"))
            return;
        if (!prop[i]) continue;
        float *dx = cf_blob_gpu_mdiff(l->be, bottom[i]);
        if (!dx) {
            cf_cuda_fail("convolution backward");
            return;
        }
        if (!cf_cuda_dnn(cudnnConvolutionBackwardData(h, &one, s->w, wt, s->y, dy, s->conv, s->bwd_data,
                                                             w->cu->ws, w->cu->ws_bytes, &zero, s->x, dx),
                                "cudnnConvolutionBackwardData"))
            return;
    }
}

const cf_cuda_impl cf_cuda_conv = {
    .type = "Convolution",
    .create = conv_create,
    .reshape = conv_reshape,
    .forward = conv_forward,
    .backward = conv_backward,
    .destroy = conv_destroy,
};
