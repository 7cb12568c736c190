/* cuda_bn.c — BatchNorm on the GPU (kernels.cu), as batch_norm.c computes
 * it: per channel of the bottom read as N × C × S, batch statistics in
 * double (or the running ones with use_global_stats), the running sums
 * (the layer's three params) decayed and added to on the device, and the
 * normalised ŷ kept on the device for backward (so in place is fine, as
 * on the host).  The statistics stay in the params, which snapshots read
 * through the blob API like any other.
 */
#include <stdlib.h>

#include "cuda_layers.h"
#include "kernels.h"

typedef struct {
    bool global;
    float maf, eps;
    size_t N, C, S;
    cf_cuda_buf mean, std; /* per channel, of the last forward */
    cf_cuda_buf y_norm;    /* ŷ */
} bn_st;

static void bn_destroy(void *p)
{
    bn_st *s = p;
    cf_cuda_buf_free(&s->mean);
    cf_cuda_buf_free(&s->std);
    cf_cuda_buf_free(&s->y_norm);
    free(s);
}

static void *bn_create(cf_cuda_layer *w, cf_layer *l)
{
    bn_st *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    cf_node *p = cf_node_get(l->conf, "batch_norm_param");
    bool global = l->phase == CF_TEST;
    double maf = 0.999, eps = 1e-5;
    if (p && (cf_get_bool(p, "use_global_stats", l->phase == CF_TEST, &global, NULL) ||
              cf_get_float(p, "moving_average_fraction", 0.999, &maf, NULL) ||
              cf_get_float(p, "eps", 1e-5, &eps, NULL))) {
        free(s);
        return NULL;
    }
    s->global = global;
    s->maf = (float)maf;
    s->eps = (float)eps;
    return s;
}

static bool bn_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    bn_st *s = w->st;
    const cf_blob *b = bottom[0];
    if (b->naxes < 1 || b->count == 0 || l->nparam != 3) return false;
    s->N = (size_t)b->shape[0];
    s->C = b->naxes == 1 ? 1 : (size_t)b->shape[1];
    s->S = cf_blob_count_range(b, 2, b->naxes);
    return cf_cuda_buf_reserve(&s->mean, s->C * sizeof(float)) && cf_cuda_buf_reserve(&s->std, s->C * sizeof(float)) &&
           (s->global || cf_cuda_buf_reserve(&s->y_norm, b->count * sizeof(float)));
}

static int bn_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    bn_st *s = w->st;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]);
    /* the running sums change only without global stats (the host's
     * pass marks them written only then too) */
    float *sm, *sv, *t;
    if (s->global) {
        sm = (float *)cf_blob_gpu_data(l->be, l->param[0]);
        sv = (float *)cf_blob_gpu_data(l->be, l->param[1]);
        t = (float *)cf_blob_gpu_data(l->be, l->param[2]);
    } else {
        sm = cf_blob_gpu_mdata(l->be, l->param[0]);
        sv = cf_blob_gpu_mdata(l->be, l->param[1]);
        t = cf_blob_gpu_mdata(l->be, l->param[2]);
    }
    float *y = cf_blob_gpu_mdata(l->be, top[0]);
    if (!x || !y || !sm || !sv || !t) return cf_layer_error(l, NULL, err, "out of GPU memory");
    cf_cuda_rt((cudaError_t)cf_cuk_bn_forward(s->N, s->C, s->S, s->global, s->maf, s->eps, x, y, s->y_norm.p,
                                              s->mean.p, s->std.p, sm, sv, t),
               "BatchNorm kernel");
    return cf_cuda_take_error(err);
}

static void bn_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom,
                        int nb)
{
    bn_st *s = w->st;
    if (!prop[0]) return;
    const float *dy = cf_blob_gpu_diff(l->be, top[0]);
    float *dx = cf_blob_gpu_mdiff(l->be, bottom[0]);
    if (!dy || !dx) {
        cf_cuda_fail("BatchNorm backward");
        return;
    }
    cf_cuda_rt((cudaError_t)cf_cuk_bn_backward(s->N, s->C, s->S, s->global, dy, s->y_norm.p, s->std.p, dx),
               "BatchNorm kernel");
}

const cf_cuda_impl cf_cuda_batch_norm = {
    .type = "BatchNorm",
    .create = bn_create,
    .reshape = bn_reshape,
    .forward = bn_forward,
    .backward = bn_backward,
    .destroy = bn_destroy,
};
