/* cuda_scale.c — Scale and Bias on the GPU (kernels.cu), as scale.c and
 * bias.c compute them.  With the bottom read as outer × D × inner around
 * the scale's (bias's) axes:
 *     Scale  y = x·s[d] (+ b[d])      dx = dy·s[d]
 *            ds[d] = Σ_{o,i} dy·x     db[d] = Σ_{o,i} dy
 *     Bias   y = x + b[d]             dx = dy          db[d] = Σ_{o,i} dy
 * The sums run in double, one block per entry d.  Learnt params add to
 * their gradients; a scale or bias given as a second bottom gets its diff
 * overwritten, as on the host.  Scale in place (BatchNorm → Scale is the
 * common case) keeps a device copy of x for ds, as scale.c keeps one on
 * the host.
 */
#include <limits.h>
#include <stdlib.h>

#include "cuda_layers.h"
#include "kernels.h"

typedef struct {
    bool bias;          /* Bias, or Scale with bias_term */
    bool is_scale;
    int bias_index;     /* b among the params, -1: none */
    long axis_conf;
    size_t outer, dim, inner;
    cf_cuda_buf x;      /* Scale in place: the bottom before forward */
} scale_st;

static void scale_destroy(void *p)
{
    scale_st *s = p;
    cf_cuda_buf_free(&s->x);
    free(s);
}

static void *create(cf_layer *l, bool is_scale)
{
    scale_st *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    cf_node *p = cf_node_get(l->conf, is_scale ? "scale_param" : "bias_param");
    s->is_scale = is_scale;
    s->axis_conf = 1;
    bool bias_term = !is_scale;
    if (p && (cf_get_int(p, "axis", 1, &s->axis_conf, NULL) ||
              (is_scale && cf_get_bool(p, "bias_term", false, &bias_term, NULL)))) {
        free(s);
        return NULL;
    }
    s->bias = bias_term;
    s->bias_index = -1;
    return s;
}

static void *scale_create(cf_cuda_layer *w, cf_layer *l) { return create(l, true); }
static void *bias_create(cf_cuda_layer *w, cf_layer *l) { return create(l, false); }

/* The scale (Scale) or the bias (Bias): a param, or the second bottom. */
static const cf_blob *factor(cf_layer *l, cf_blob **bottom, int nb) { return nb > 1 ? bottom[1] : l->param[0]; }

static bool scale_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    scale_st *s = w->st;
    const cf_blob *x = bottom[0], *f = factor(l, bottom, nb);
    int a = 0;
    if (x->count == 0) return false;
    if (f->naxes > 0 && (s->axis_conf < INT_MIN || s->axis_conf > INT_MAX || cf_blob_axis(x, (int)s->axis_conf, &a, NULL)))
        return false;
    s->outer = cf_blob_count_range(x, 0, a);
    s->dim = f->count;
    s->inner = cf_blob_count_range(x, a + f->naxes, x->naxes);
    /* Scale: [s, b] with one bottom, [b] with two; Bias: the bias is
     * param 0 or the bottom */
    s->bias_index = !s->bias ? -1 : s->is_scale ? (nb > 1 ? 0 : 1) : (nb > 1 ? -1 : 0);
    if (s->bias_index >= l->nparam) return false;
    if (s->is_scale && top[0] == bottom[0]) return cf_cuda_buf_reserve(&s->x, x->count * sizeof(float));
    return true;
}

static int scale_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt,
                         cf_error *err)
{
    scale_st *s = w->st;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]), *f = cf_blob_gpu_data(l->be, factor(l, bottom, nb));
    const float *b = s->bias_index >= 0 ? cf_blob_gpu_data(l->be, l->param[s->bias_index]) : NULL;
    if (!s->is_scale) b = f; /* Bias: the factor is the bias */
    float *y = cf_blob_gpu_mdata(l->be, top[0]);
    if (!x || !f || !y || (s->bias_index >= 0 && !b)) return cf_layer_error(l, NULL, err, "out of GPU memory");
    if (s->is_scale && top[0] == bottom[0]) cf_copy(w->gpu, bottom[0]->count, x, s->x.p);
    cf_cuda_rt((cudaError_t)cf_cuk_scale_forward(s->outer, s->dim, s->inner, x, s->is_scale ? f : NULL, b, y),
               s->is_scale ? "Scale kernel" : "Bias kernel");
    return cf_cuda_take_error(err);
}

static void scale_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom,
                           int nb)
{
    scale_st *s = w->st;
    const float *dy = cf_blob_gpu_diff(l->be, top[0]);
    float *ds = NULL, *db = NULL; /* the factor's gradient, and Scale's bias's */
    bool acc = false;
    if (nb == 1 && l->param_grad[0]) {
        ds = cf_blob_gpu_mdiff(l->be, l->param[0]);
        acc = true;
    } else if (nb == 2 && prop[1]) {
        ds = cf_blob_gpu_mdiff(l->be, bottom[1]);
    }
    if (s->is_scale && s->bias_index >= 0 && l->param_grad[s->bias_index])
        db = cf_blob_gpu_mdiff(l->be, l->param[s->bias_index]);
    if (!dy || ((nb == 1 && l->param_grad[0]) || (nb == 2 && prop[1])) != (ds != NULL)) {
        cf_cuda_fail(s->is_scale ? "Scale backward" : "Bias backward");
        return;
    }
    if (!s->is_scale) { /* the factor is the bias: Σ dy */
        cf_cuda_rt((cudaError_t)cf_cuk_channel_grads(s->outer, s->dim, s->inner, dy, NULL, NULL, false, ds, acc),
                   "Bias kernel");
        if (prop[0] && top[0] != bottom[0]) {
            float *dx = cf_blob_gpu_mdiff(l->be, bottom[0]);
            if (dx) cf_copy(w->gpu, top[0]->count, dy, dx);
            else cf_cuda_fail("Bias backward");
        }
        return;
    }
    /* gradients of s and b first: in place, the bottom diff overwrites dy */
    const float *x = top[0] == bottom[0] ? s->x.p : cf_blob_gpu_data(l->be, bottom[0]);
    if ((ds || db) && x)
        cf_cuda_rt((cudaError_t)cf_cuk_channel_grads(s->outer, s->dim, s->inner, dy, x, ds, acc, db, true),
                   "Scale kernel");
    if (prop[0]) {
        const float *f = cf_blob_gpu_data(l->be, factor(l, bottom, nb));
        float *dx = cf_blob_gpu_mdiff(l->be, bottom[0]);
        if (f && dx) cf_cuda_rt((cudaError_t)cf_cuk_scale_dx(s->outer, s->dim, s->inner, dy, f, dx), "Scale kernel");
        else cf_cuda_fail("Scale backward");
    }
}

const cf_cuda_impl cf_cuda_scale = {
    .type = "Scale",
    .create = scale_create,
    .reshape = scale_reshape,
    .forward = scale_forward,
    .backward = scale_backward,
    .destroy = scale_destroy,
};

const cf_cuda_impl cf_cuda_bias = {
    .type = "Bias",
    .create = bias_create,
    .reshape = scale_reshape,
    .forward = scale_forward,
    .backward = scale_backward,
    .destroy = scale_destroy,
};
