/* cudnn_act.c — the elementwise layers and Softmax on the GPU.
 *
 * Sigmoid and TanH go through cuDNN's activations, Softmax through
 * cuDNN's softmax over the channel axis of the blob seen as
 * [outer, C, inner, 1] (outer = axes before softmax_param.axis, inner =
 * axes after it), in its ACCURATE form (the maximum subtracted first, as
 * softmax.c does).  Their backward passes need only the top, so in place
 * is fine, as on the host.
 *
 * ReLU is a kernel of ours (kernels.cu): cuDNN has no leaky ReLU, and one
 * kernel gives Caffe's rule for every negative_slope, reading the bottom
 * (which in place is the top: same sign for slope >= 0, as relu.c says).
 */
#include <stdlib.h>

#include "cuda_layers.h"
#include "kernels.h"

/* ---- ReLU (kernel) ---- */

typedef struct {
    float slope;
} relu_st;

static void *relu_create(cf_cuda_layer *w, cf_layer *l)
{
    cf_node *p = cf_node_get(l->conf, "relu_param");
    double slope = 0;
    if (p && cf_get_float(p, "negative_slope", 0, &slope, NULL)) return NULL;
    relu_st *s = malloc(sizeof *s);
    if (s) s->slope = (float)slope;
    (void)w;
    return s;
}

static bool any_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    return bottom[0]->count > 0;
}

static int relu_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt,
                        cf_error *err)
{
    relu_st *s = w->st;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]);
    float *y = cf_blob_gpu_mdata(l->be, top[0]);
    if (!x || !y) return cf_layer_error(l, NULL, err, "out of GPU memory");
    if (!cf_cuda_rt((cudaError_t)cf_cuk_relu_forward(bottom[0]->count, s->slope, x, y), "ReLU kernel"))
        return cf_cuda_take_error(err);
    return 0;
}

static void relu_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom,
                          int nb)
{
    relu_st *s = w->st;
    if (!prop[0]) return;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]), *dy = cf_blob_gpu_diff(l->be, top[0]);
    float *dx = cf_blob_gpu_mdiff(l->be, bottom[0]);
    if (!x || !dy || !dx) {
        cf_cuda_fail("ReLU backward");
        return;
    }
    cf_cuda_rt((cudaError_t)cf_cuk_relu_backward(bottom[0]->count, s->slope, x, dy, dx), "ReLU kernel");
}

const cf_cuda_impl cf_cuda_relu = {
    .type = "ReLU",
    .create = relu_create,
    .reshape = any_reshape,
    .forward = relu_forward,
    .backward = relu_backward,
    .destroy = free,
};

/* ---- Sigmoid and TanH (cuDNN activations) ---- */

typedef struct {
    cudnnActivationDescriptor_t act;
    cudnnTensorDescriptor_t t;  /* the blob as [count, 1, 1, 1] */
    size_t count;               /* planned for (0: none) */
} act_st;

static void act_destroy(void *p)
{
    act_st *s = p;
    if (s->act) cudnnDestroyActivationDescriptor(s->act);
    if (s->t) cudnnDestroyTensorDescriptor(s->t);
    free(s);
}

static void *act_create(cudnnActivationMode_t mode)
{
    act_st *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (!cf_cuda_dnn(cudnnCreateActivationDescriptor(&s->act), "cudnnCreateActivationDescriptor") ||
        !cf_cuda_dnn(cudnnSetActivationDescriptor(s->act, mode, CUDNN_PROPAGATE_NAN, 0.0),
                     "cudnnSetActivationDescriptor") ||
        !cf_cuda_dnn(cudnnCreateTensorDescriptor(&s->t), "cudnnCreateTensorDescriptor")) {
        act_destroy(s);
        return NULL;
    }
    return s;
}

static void *sigmoid_create(cf_cuda_layer *w, cf_layer *l) { return act_create(CUDNN_ACTIVATION_SIGMOID); }
static void *tanh_create(cf_cuda_layer *w, cf_layer *l) { return act_create(CUDNN_ACTIVATION_TANH); }

static bool act_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    act_st *s = w->st;
    size_t n = bottom[0]->count;
    if (n == 0) return false;
    if (n == s->count) return true;
    s->count = 0;
    if (!cf_cudnn_tensor4(s->t, (int)n, 1, 1, 1)) return false;
    s->count = n;
    return true;
}

static const float one = 1.0f, zero = 0.0f;

static int act_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt,
                       cf_error *err)
{
    act_st *s = w->st;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]);
    float *y = cf_blob_gpu_mdata(l->be, top[0]);
    if (!x || !y) return cf_layer_error(l, NULL, err, "out of GPU memory");
    if (!cf_cuda_dnn(cudnnActivationForward(w->cu->dnn, s->act, &one, s->t, x, &zero, s->t, y),
                     "cudnnActivationForward"))
        return cf_cuda_take_error(err);
    return 0;
}

static void act_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom,
                         int nb)
{
    act_st *s = w->st;
    if (!prop[0]) return;
    /* sigmoid and tanh differentiate from y alone; x is passed as cuDNN
     * asks for it (in place it is y) */
    const float *y = cf_blob_gpu_data(l->be, top[0]), *dy = cf_blob_gpu_diff(l->be, top[0]);
    const float *x = cf_blob_gpu_data(l->be, bottom[0]);
    float *dx = cf_blob_gpu_mdiff(l->be, bottom[0]);
    if (!y || !dy || !x || !dx) {
        cf_cuda_fail("activation backward");
        return;
    }
    cf_cuda_dnn(cudnnActivationBackward(w->cu->dnn, s->act, &one, s->t, y, s->t, dy, s->t, x, &zero, s->t, dx),
                "cudnnActivationBackward");
}

const cf_cuda_impl cf_cuda_sigmoid = {
    .type = "Sigmoid",
    .create = sigmoid_create,
    .reshape = act_reshape,
    .forward = act_forward,
    .backward = act_backward,
    .destroy = act_destroy,
};

const cf_cuda_impl cf_cuda_tanh = {
    .type = "TanH",
    .create = tanh_create,
    .reshape = act_reshape,
    .forward = act_forward,
    .backward = act_backward,
    .destroy = act_destroy,
};

/* ---- Softmax (cuDNN) ---- */

typedef struct {
    long axis_conf;
    cudnnTensorDescriptor_t t;  /* [outer, C, inner, 1] */
    size_t outer, C, inner;     /* planned for (C = 0: none) */
} softmax_st;

static void softmax_destroy(void *p)
{
    softmax_st *s = p;
    if (s->t) cudnnDestroyTensorDescriptor(s->t);
    free(s);
}

static void *softmax_create(cf_cuda_layer *w, cf_layer *l)
{
    cf_node *p = cf_node_get(l->conf, "softmax_param");
    long axis = 1;
    if (p && cf_get_int(p, "axis", 1, &axis, NULL)) return NULL;
    softmax_st *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->axis_conf = axis;
    if (!cf_cuda_dnn(cudnnCreateTensorDescriptor(&s->t), "cudnnCreateTensorDescriptor")) {
        softmax_destroy(s);
        return NULL;
    }
    return s;
}

static bool softmax_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    softmax_st *s = w->st;
    int a;
    if (cf_blob_axis(bottom[0], (int)s->axis_conf, &a, NULL) || bottom[0]->count == 0) return false;
    size_t outer = cf_blob_count_range(bottom[0], 0, a), C = (size_t)bottom[0]->shape[a];
    size_t inner = cf_blob_count_range(bottom[0], a + 1, bottom[0]->naxes);
    if (s->C && outer == s->outer && C == s->C && inner == s->inner) return true;
    s->C = 0;
    if (!cf_cudnn_tensor4(s->t, (int)outer, (int)C, (int)inner, 1)) return false;
    s->outer = outer, s->C = C, s->inner = inner;
    return true;
}

static int softmax_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt,
                           cf_error *err)
{
    softmax_st *s = w->st;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]);
    float *y = cf_blob_gpu_mdata(l->be, top[0]);
    if (!x || !y) return cf_layer_error(l, NULL, err, "out of GPU memory");
    if (!cf_cuda_dnn(cudnnSoftmaxForward(w->cu->dnn, CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL, &one, s->t,
                                         x, &zero, s->t, y),
                     "cudnnSoftmaxForward"))
        return cf_cuda_take_error(err);
    return 0;
}

static void softmax_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop,
                             cf_blob **bottom, int nb)
{
    softmax_st *s = w->st;
    if (!prop[0]) return;
    const float *y = cf_blob_gpu_data(l->be, top[0]), *dy = cf_blob_gpu_diff(l->be, top[0]);
    float *dx = cf_blob_gpu_mdiff(l->be, bottom[0]);
    if (!y || !dy || !dx) {
        cf_cuda_fail("softmax backward");
        return;
    }
    cf_cuda_dnn(cudnnSoftmaxBackward(w->cu->dnn, CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL, &one, s->t, y,
                                     s->t, dy, &zero, s->t, dx),
                "cudnnSoftmaxBackward");
}

const cf_cuda_impl cf_cuda_softmax = {
    .type = "Softmax",
    .create = softmax_create,
    .reshape = softmax_reshape,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .destroy = softmax_destroy,
};
