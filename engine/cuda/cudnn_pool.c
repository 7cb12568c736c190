/* cudnn_pool.c — Pooling on the GPU with cuDNN where cuDNN computes
 * exactly what pooling.c does, the host otherwise.
 *
 * cuDNN's output size rounds down, Ho = (H + 2ph − kh) / sh + 1; Caffe's
 * rounds up by default (pooling.c).  The two agree when the window steps
 * fit exactly ((H + 2ph − kh) divisible by sh, as in LeNet's 2×2/2 on
 * even sizes) and always with round_mode FLOOR.  Then every window lies
 * inside the padded image, so:
 *   MAX  cuDNN never lets padding win (as Caffe clips to the image);
 *   AVE  Caffe's divisor (the window clipped to the padded image) is the
 *        full kh·kw, which is cuDNN's COUNT_INCLUDE_PADDING.
 * Other shapes (CIFAR-10's 3×3/2 on 32×32 rounds up), the argmax mask top
 * and STOCHASTIC stay on the host.
 *
 * MAX backward finds each window's maximum by comparing the bottom with
 * the top; an in-place layer after the pooling (a ReLU) may have changed
 * the top since, so backward pools the bottom again into a scratch
 * buffer and compares with that.  Ties: cuDNN may route the gradient to a
 * different one of several equal maxima than the host's first-wins rule
 * (both are valid subgradients; random inputs have no ties).
 */
#include <stdlib.h>

#include "cuda_layers.h"

typedef struct {
    bool max, global, floor_mode;
    int kh, kw, ph, pw, sh, sw;
    int N, C, H, W;             /* planned shape (0: none) */
    cudnnTensorDescriptor_t x, y;
    cudnnPoolingDescriptor_t pool;
    cf_mem *scratch;            /* MAX backward: the top pooled again */
} pool_st;

static void pool_destroy(void *p)
{
    pool_st *s = p;
    if (s->x) cudnnDestroyTensorDescriptor(s->x);
    if (s->y) cudnnDestroyTensorDescriptor(s->y);
    if (s->pool) cudnnDestroyPoolingDescriptor(s->pool);
    cf_mem_unref(s->scratch);
    free(s);
}

/* `key` for both axes, or key_h and key_w (setup has checked which). */
static void read_hw(cf_node *p, const char *key, const char *hkey, const char *wkey, long def, int out[2])
{
    long h = def, w = def;
    if (cf_node_has(p, key)) {
        cf_get_int(p, key, def, &h, NULL);
        w = h;
    } else {
        cf_get_int(p, hkey, def, &h, NULL);
        cf_get_int(p, wkey, def, &w, NULL);
    }
    out[0] = (int)h, out[1] = (int)w;
}

static void *pool_create(cf_cuda_layer *w, cf_layer *l)
{
    static const char *const pools[] = {"MAX", "AVE", "STOCHASTIC", NULL};
    static const char *const rounds[] = {"CEIL", "FLOOR", NULL};
    cf_node *p = cf_node_get(l->conf, "pooling_param");
    int pool = 0, round = 0, k[2], pad[2], stride[2];
    bool global = false;
    if (p && (cf_get_enum(p, "pool", pools, 0, &pool, NULL) || cf_get_enum(p, "round_mode", rounds, 0, &round, NULL) ||
              cf_get_bool(p, "global_pooling", false, &global, NULL)))
        return NULL;
    if (pool > 1) return NULL;
    read_hw(p, "kernel_size", "kernel_h", "kernel_w", 0, k);
    read_hw(p, "pad", "pad_h", "pad_w", 0, pad);
    read_hw(p, "stride", "stride_h", "stride_w", 1, stride);
    pool_st *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    *s = (pool_st){.max = pool == 0, .global = global, .floor_mode = round == 1, .kh = k[0], .kw = k[1],
                   .ph = pad[0], .pw = pad[1], .sh = stride[0], .sw = stride[1], .scratch = cf_mem_new()};
    if (!cf_cuda_dnn(cudnnCreateTensorDescriptor(&s->x), "cudnnCreateTensorDescriptor") ||
        !cf_cuda_dnn(cudnnCreateTensorDescriptor(&s->y), "cudnnCreateTensorDescriptor") ||
        !cf_cuda_dnn(cudnnCreatePoolingDescriptor(&s->pool), "cudnnCreatePoolingDescriptor")) {
        pool_destroy(s);
        return NULL;
    }
    (void)w;
    return s;
}

/* cuDNN's extent along one axis, or -1 when the window does not fit. */
static int floor_size(int in, int k, int pad, int stride)
{
    long span = (long)in + 2L * pad - k;
    return span < 0 || stride < 1 ? -1 : (int)(span / stride + 1);
}

static bool pool_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    pool_st *s = w->st;
    const cf_blob *x = bottom[0], *y = top[0];
    if (nt != 1 || x->naxes != 4 || y->naxes != 4 || x->count == 0 || y->count == 0) return false;
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    if (s->N == N && s->C == C && s->H == H && s->W == W) return true;
    s->N = 0;
    int kh = s->global ? H : s->kh, kw = s->global ? W : s->kw;
    int Ho = y->shape[2], Wo = y->shape[3];
    if (floor_size(H, kh, s->ph, s->sh) != Ho || floor_size(W, kw, s->pw, s->sw) != Wo) return false;
    cudnnPoolingMode_t mode = s->max ? CUDNN_POOLING_MAX_DETERMINISTIC : CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING;
    int n, c, h, wd;
    if (!cf_cudnn_tensor4(s->x, N, C, H, W) || !cf_cudnn_tensor4(s->y, N, C, Ho, Wo) ||
        !cf_cuda_dnn(cudnnSetPooling2dDescriptor(s->pool, mode, CUDNN_NOT_PROPAGATE_NAN, kh, kw, s->ph, s->pw, s->sh,
                                                 s->sw),
                     "cudnnSetPooling2dDescriptor") ||
        !cf_cuda_dnn(cudnnGetPooling2dForwardOutputDim(s->pool, s->x, &n, &c, &h, &wd),
                     "cudnnGetPooling2dForwardOutputDim"))
        return false;
    if (n != N || c != C || h != Ho || wd != Wo) return false;
    s->N = N, s->C = C, s->H = H, s->W = W;
    return true;
}

static const float one = 1.0f, zero = 0.0f;

static int pool_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt,
                        cf_error *err)
{
    pool_st *s = w->st;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]);
    float *y = cf_blob_gpu_mdata(l->be, top[0]);
    if (!x || !y) return cf_layer_error(l, NULL, err, "out of GPU memory");
    if (!cf_cuda_dnn(cudnnPoolingForward(w->cu->dnn, s->pool, &one, s->x, x, &zero, s->y, y), "cudnnPoolingForward"))
        return cf_cuda_take_error(err);
    return 0;
}

static void pool_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom,
                          int nb)
{
    pool_st *s = w->st;
    if (!prop[0]) return;
    cudnnHandle_t h = w->cu->dnn;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]), *dy = cf_blob_gpu_diff(l->be, top[0]);
    float *y = cf_mem_dev(s->scratch, top[0]->count, l->be->devops);
    float *dx = cf_blob_gpu_mdiff(l->be, bottom[0]);
    if (!x || !dy || !y || !dx) {
        cf_cuda_fail("pooling backward");
        return;
    }
    if (!cf_cuda_dnn(cudnnPoolingForward(h, s->pool, &one, s->x, x, &zero, s->y, y), "cudnnPoolingForward"))
        return;
    cf_cuda_dnn(cudnnPoolingBackward(h, s->pool, &one, s->y, y, s->y, dy, s->x, x, &zero, s->x, dx),
                "cudnnPoolingBackward");
}

const cf_cuda_impl cf_cuda_pool = {
    .type = "Pooling",
    .create = pool_create,
    .reshape = pool_reshape,
    .forward = pool_forward,
    .backward = pool_backward,
    .destroy = pool_destroy,
};
