/* inner_product.c — Caffe's InnerProduct layer (inner_product_param): a
 * fully connected layer.
 *
 * The bottom is read as a matrix X[M × K]: M = product of the axes before
 * `axis` (default 1), K = product of the axes from `axis` on.  With
 * N = num_output:
 *     Y[M × N] = X · Wᵀ + 1 · bᵀ     W is [N × K]  (transpose: false)
 *     Y[M × N] = X · W  + 1 · bᵀ     W is [K × N]  (transpose: true)
 * and the top's shape is the bottom's axes before `axis`, then N.
 * Gradients (params accumulate, the bottom is overwritten):
 *     dW += dYᵀ · X  (or Xᵀ · dY)     db += dYᵀ · 1     dX = dY · W  (or dY · Wᵀ)
 * The bias goes through BLAS with a vector of M ones, as Caffe does.
 * With oneDNN (dnnl_layers.h) both passes run as its inner-product
 * primitives instead. */
#include <limits.h>
#include <stdlib.h>

#include "dnnl/dnnl_layers.h"
#include "layer.h"

typedef struct {
    int N, K, axis;
    bool bias_term, transpose;
    int M;                  /* rows of the current bottom */
    cf_mem *ones;           /* M ones */
    cf_dnnl_ip *dn;         /* oneDNN plan for the current M, or NULL */
} ip_priv;

static int ip_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p, *wf, *bf;
    long N, axis;
    bool bias_term, transpose;
    if (cf_layer_param_map(l, "inner_product_param", &p, err)) return -1;
    if (!cf_node_has(p, "num_output"))
        return cf_layer_error(l, p, err, "inner_product_param: field 'num_output' is missing");
    if (cf_get_int_range(p, "num_output", 0, 1, LONG_MAX, &N, err) ||
        cf_get_bool(p, "bias_term", true, &bias_term, err) || cf_get_int(p, "axis", 1, &axis, err) ||
        cf_get_bool(p, "transpose", false, &transpose, err) || cf_get_map(p, "weight_filler", &wf, err) ||
        cf_get_map(p, "bias_filler", &bf, err))
        return -1;
    if (N > INT_MAX / 4)
        return cf_layer_error(l, cf_node_get(p, "num_output"), err, "num_output %ld is too large", N);
    int a;
    if (axis < INT_MIN || axis > INT_MAX || cf_blob_axis(bottom[0], (int)axis, &a, NULL))
        return cf_layer_error(l, cf_node_get(p, "axis"), err, "axis %ld is out of range for a bottom with %d axes",
                              axis, bottom[0]->naxes);
    size_t K = cf_blob_count_range(bottom[0], a, bottom[0]->naxes);
    if (K > INT_MAX) return cf_layer_error(l, NULL, err, "%zu inputs per item are too many", K);

    ip_priv *c = calloc(1, sizeof *c);
    if (!c) return cf_layer_error(l, NULL, err, "out of memory");
    l->priv = c;
    c->N = (int)N;
    c->K = (int)K;
    c->axis = a;
    c->bias_term = bias_term;
    c->transpose = transpose;
    c->ones = cf_mem_new();

    /* Caffe's default filler for both is constant 0. */
    int wshape[2] = {transpose ? c->K : c->N, transpose ? c->N : c->K};
    cf_blob *w = cf_layer_add_param(l, 2, wshape, err);
    if (!w || cf_fill(w, wf, "constant", l->rng, err)) return -1;
    if (bias_term) {
        cf_blob *b = cf_layer_add_param(l, 1, &c->N, err);
        if (!b || cf_fill(b, bf, "constant", l->rng, err)) return -1;
    } else if (bf) {
        cf_node_mark_used(bf); /* Caffe ignores it too */
    }
    return 0;
}

static int ip_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    ip_priv *c = l->priv;
    const cf_blob *b = bottom[0];
    char s[128];
    if (c->axis >= b->naxes || cf_blob_count_range(b, c->axis, b->naxes) != (size_t)c->K)
        return cf_layer_error(l, NULL, err, "bottom %s does not give %d inputs per item from axis %d, as the weights "
                              "expect", cf_blob_shape_str(b, s, sizeof s), c->K, c->axis);
    size_t M = cf_blob_count_range(b, 0, c->axis);
    if (M > INT_MAX)
        return cf_layer_error(l, NULL, err, "bottom %s has too many rows", cf_blob_shape_str(b, s, sizeof s));
    int shape[CF_MAX_AXES];
    for (int i = 0; i < c->axis; i++) shape[i] = b->shape[i];
    shape[c->axis] = c->N;
    if (cf_blob_reshape(top[0], c->axis + 1, shape, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    if ((int)M != c->M && M > 0) {
        float *ones = cf_mem_host(c->ones, M);
        if (!ones) return cf_layer_error(l, NULL, err, "out of memory");
        for (size_t i = 0; i < M; i++) ones[i] = 1.0f;
    }
    c->M = (int)M;
    if (cf_dnnl_on(l->be))
        c->dn = cf_dnnl_ip_plan(c->dn, l->be, c->M, c->N, c->K, c->transpose, c->bias_term, l->phase == CF_TRAIN);
    return 0;
}

static int ip_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    ip_priv *c = l->priv;
    if (c->M == 0) return 0;
    const float *x = cf_blob_data(bottom[0]), *w = cf_blob_data(l->param[0]);
    float *y = cf_blob_mdata(top[0]);
    if (c->dn && cf_dnnl_ip_forward(c->dn, x, w, c->bias_term ? cf_blob_data(l->param[1]) : NULL, y) == 0) return 0;
    cf_gemm(l->be, false, !c->transpose, c->M, c->N, c->K, 1.0f, x, w, 0.0f, y);
    if (c->bias_term)
        cf_gemm(l->be, false, false, c->M, c->N, 1, 1.0f, c->ones->host, cf_blob_data(l->param[1]), 1.0f, y);
    return 0;
}

static void ip_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    ip_priv *c = l->priv;
    if (c->M == 0) return;
    const float *dy = cf_blob_diff(top[0]);
    if (c->dn && cf_dnnl_ip_backward(c->dn, cf_blob_data(bottom[0]), cf_blob_data(l->param[0]), dy,
                                     prop[0] ? cf_blob_mdiff(bottom[0]) : NULL,
                                     l->param_grad[0] ? cf_blob_mdiff(l->param[0]) : NULL,
                                     c->bias_term && l->param_grad[1] ? cf_blob_mdiff(l->param[1]) : NULL) == 0)
        return;
    if (l->param_grad[0]) {
        const float *x = cf_blob_data(bottom[0]);
        float *dw = cf_blob_mdiff(l->param[0]);
        if (c->transpose) /* dW[K × N] += Xᵀ · dY */
            cf_gemm(l->be, true, false, c->K, c->N, c->M, 1.0f, x, dy, 1.0f, dw);
        else /* dW[N × K] += dYᵀ · X */
            cf_gemm(l->be, true, false, c->N, c->K, c->M, 1.0f, dy, x, 1.0f, dw);
    }
    if (c->bias_term && l->param_grad[1])
        cf_gemv(l->be, true, c->M, c->N, 1.0f, dy, c->ones->host, 1.0f, cf_blob_mdiff(l->param[1]));
    if (prop[0]) /* dX[M × K] = dY · W (W as [N × K]) */
        cf_gemm(l->be, false, c->transpose, c->M, c->K, c->N, 1.0f, dy, cf_blob_data(l->param[0]), 0.0f,
                cf_blob_mdiff(bottom[0]));
}

static void ip_destroy(cf_layer *l)
{
    ip_priv *c = l->priv;
    if (!c) return;
    cf_mem_unref(c->ones);
    cf_dnnl_ip_free(c->dn);
    free(c);
}

const cf_layer_ops cf_layer_InnerProduct = {
    .type = "InnerProduct",
    .min_bottom = 1,
    .max_bottom = 1,
    .min_top = 1,
    .max_top = 1,
    .setup = ip_setup,
    .reshape = ip_reshape,
    .forward = ip_forward,
    .backward = ip_backward,
    .destroy = ip_destroy,
};
