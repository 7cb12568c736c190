/* cuda_ip.c — InnerProduct on the GPU: the same products as
 * inner_product.c, through the device backend (cuBLAS).  With the bottom
 * read as X [M × K] and N = num_output:
 *     Y = X · Wᵀ + 1 · bᵀ   (W [N × K]; X · W when transpose, W [K × N])
 *     dW += dYᵀ · X  (Xᵀ · dY)     db += dYᵀ · 1     dX = dY · W  (dY · Wᵀ)
 * The vector of M ones lives on the device, filled once per larger M. */
#include <stdlib.h>

#include "cuda_layers.h"
#include "kernels.h"

typedef struct {
    long axis_conf;
    int N, M, K;
    bool bias, transpose;
    cf_mem *ones;
    size_t nones;           /* ones filled so far */
} ip_st;

static void ip_destroy(void *p)
{
    ip_st *s = p;
    cf_mem_unref(s->ones);
    free(s);
}

static void *ip_create(cf_cuda_layer *w, cf_layer *l)
{
    cf_node *p = cf_node_get(l->conf, "inner_product_param");
    long N, axis;
    bool bias, transpose;
    if (!p || cf_get_int(p, "num_output", 0, &N, NULL) || cf_get_bool(p, "bias_term", true, &bias, NULL) ||
        cf_get_int(p, "axis", 1, &axis, NULL) || cf_get_bool(p, "transpose", false, &transpose, NULL) || N < 1)
        return NULL;
    ip_st *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    *s = (ip_st){.axis_conf = axis, .N = (int)N, .bias = bias && l->nparam > 1, .transpose = transpose,
                 .ones = cf_mem_new()};
    (void)w;
    return s;
}

static bool ip_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    ip_st *s = w->st;
    int a;
    if (cf_blob_axis(bottom[0], (int)s->axis_conf, &a, NULL)) return false;
    size_t M = cf_blob_count_range(bottom[0], 0, a), K = cf_blob_count_range(bottom[0], a, bottom[0]->naxes);
    if (M == 0 || K == 0) return false; /* nothing to compute: the host's no-op */
    s->M = (int)M;
    s->K = (int)K;
    if (s->bias && M > s->nones) {
        float *ones = cf_mem_dev(s->ones, M, l->be->devops);
        if (!ones || !cf_cuda_rt((cudaError_t)cf_cuk_set(M, 1.0f, ones), "set kernel")) return false;
        s->nones = M;
    }
    return true;
}

static int ip_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    ip_st *s = w->st;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]), *wt = cf_blob_gpu_data(l->be, l->param[0]);
    const float *b = s->bias ? cf_blob_gpu_data(l->be, l->param[1]) : NULL;
    float *y = cf_blob_gpu_mdata(l->be, top[0]);
    if (!x || !wt || !y || (s->bias && !b)) return cf_layer_error(l, NULL, err, "out of GPU memory");
    cf_gemm(w->gpu, false, !s->transpose, s->M, s->N, s->K, 1.0f, x, wt, 0.0f, y);
    if (b) cf_gemm(w->gpu, false, false, s->M, s->N, 1, 1.0f, s->ones->dev, b, 1.0f, y);
    return 0;
}

static void ip_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom,
                        int nb)
{
    ip_st *s = w->st;
    const float *dy = cf_blob_gpu_diff(l->be, top[0]);
    if (!dy) {
        cf_cuda_fail("inner product backward");
        return;
    }
    if (l->param_grad[0]) {
        const float *x = cf_blob_gpu_data(l->be, bottom[0]);
        float *dw = cf_blob_gpu_mdiff(l->be, l->param[0]);
        if (!x || !dw) {
            cf_cuda_fail("inner product backward");
            return;
        }
        if (s->transpose) cf_gemm(w->gpu, true, false, s->K, s->N, s->M, 1.0f, x, dy, 1.0f, dw);
        else cf_gemm(w->gpu, true, false, s->N, s->K, s->M, 1.0f, dy, x, 1.0f, dw);
    }
    if (s->bias && l->param_grad[1]) {
        float *db = cf_blob_gpu_mdiff(l->be, l->param[1]);
        if (!db) {
            cf_cuda_fail("inner product backward");
            return;
        }
        cf_gemv(w->gpu, true, s->M, s->N, 1.0f, dy, s->ones->dev, 1.0f, db);
    }
    if (prop[0]) {
        const float *wt = cf_blob_gpu_data(l->be, l->param[0]);
        float *dx = cf_blob_gpu_mdiff(l->be, bottom[0]);
        if (!wt || !dx) {
            cf_cuda_fail("inner product backward");
            return;
        }
        cf_gemm(w->gpu, false, s->transpose, s->M, s->K, s->N, 1.0f, dy, wt, 0.0f, dx);
    }
}

const cf_cuda_impl cf_cuda_ip = {
    .type = "InnerProduct",
    .create = ip_create,
    .reshape = ip_reshape,
    .forward = ip_forward,
    .backward = ip_backward,
    .destroy = ip_destroy,
};
