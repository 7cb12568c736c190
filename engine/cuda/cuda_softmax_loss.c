/* cuda_softmax_loss.c — SoftmaxWithLoss on the GPU (softmax_loss.c says
 * what it computes): cuDNN's softmax into p, then kernels for the loss at
 * each position and for the gradient (p − onehot) · top.diff / normalizer.
 *
 * The labels are checked on the host first (they come from a data layer
 * there, and are few): the count of valid positions gives the
 * normalizer, and a label the host code would refuse makes this forward
 * decline, so that the host forward reports it with its own message.
 * Class weights (loss_param.class_weight) keep the whole layer on the
 * host.
 */
#include <math.h>
#include <stdlib.h>

#include "cuda_layers.h"
#include "kernels.h"

enum { NORM_FULL, NORM_VALID, NORM_BATCH_SIZE, NORM_NONE };

typedef struct {
    long axis_conf;
    bool has_ignore;
    long ignore;
    int norm;
    size_t outer, C, inner;     /* planned for (C = 0: none) */
    size_t valid;               /* valid positions in the last forward */
    cudnnTensorDescriptor_t t;  /* scores as [outer, C, inner, 1] */
    cf_blob *prob;              /* p when the layer has no second top */
    cf_mem *loss;               /* per position */
} swl_st;

static void swl_destroy(void *p)
{
    swl_st *s = p;
    if (s->t) cudnnDestroyTensorDescriptor(s->t);
    cf_blob_free(s->prob);
    cf_mem_unref(s->loss);
    free(s);
}

static void *swl_create(cf_cuda_layer *w, cf_layer *l)
{
    static const char *const norms[] = {"FULL", "VALID", "BATCH_SIZE", "NONE", NULL};
    cf_node *sp = cf_node_get(l->conf, "softmax_param"), *lp = cf_node_get(l->conf, "loss_param");
    long axis = 1, ignore = -1;
    int norm = NORM_VALID;
    bool normalize = true;
    if ((sp && cf_get_int(sp, "axis", 1, &axis, NULL)) ||
        (lp && (cf_get_int(lp, "ignore_label", -1, &ignore, NULL) ||
                cf_get_enum(lp, "normalization", norms, NORM_VALID, &norm, NULL) ||
                cf_get_bool(lp, "normalize", true, &normalize, NULL))))
        return NULL;
    if (lp && cf_node_count(lp, "class_weight") > 0) return NULL;
    if (lp && !cf_node_has(lp, "normalization") && cf_node_has(lp, "normalize"))
        norm = normalize ? NORM_VALID : NORM_BATCH_SIZE;
    swl_st *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    *s = (swl_st){.axis_conf = axis, .has_ignore = lp && cf_node_has(lp, "ignore_label"), .ignore = ignore,
                  .norm = norm, .prob = cf_blob_new("prob"), .loss = cf_mem_new()};
    if (!cf_cuda_dnn(cudnnCreateTensorDescriptor(&s->t), "cudnnCreateTensorDescriptor")) {
        swl_destroy(s);
        return NULL;
    }
    (void)w;
    return s;
}

static cf_blob *prob_blob(swl_st *s, cf_blob **top, int nt) { return nt > 1 ? top[1] : s->prob; }

static bool swl_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    swl_st *s = w->st;
    int a;
    if (cf_blob_axis(bottom[0], (int)s->axis_conf, &a, NULL) || bottom[0]->count == 0) return false;
    size_t outer = cf_blob_count_range(bottom[0], 0, a), C = (size_t)bottom[0]->shape[a];
    size_t inner = cf_blob_count_range(bottom[0], a + 1, bottom[0]->naxes);
    if (bottom[1]->count != outer * inner) return false; /* the host reshape has refused it */
    if (nt == 1 && cf_blob_reshape_like(s->prob, bottom[0], NULL)) return false;
    if (s->C && outer == s->outer && C == s->C && inner == s->inner) return true;
    s->C = 0;
    if (!cf_cudnn_tensor4(s->t, (int)outer, (int)C, (int)inner, 1)) return false;
    s->outer = outer, s->C = C, s->inner = inner;
    return true;
}

/* As softmax_loss.c: at least 1. */
static double normalizer(const swl_st *s)
{
    double n = s->norm == NORM_FULL ? (double)(s->outer * s->inner)
             : s->norm == NORM_VALID ? (double)s->valid
             : s->norm == NORM_BATCH_SIZE ? (double)s->outer
             : 1.0;
    return n < 1 ? 1 : n;
}

/* Count the valid labels; false when one is not a class index the host
 * code accepts (it will say which). */
static bool check_labels(swl_st *s, const float *label, size_t n)
{
    size_t valid = 0;
    for (size_t t = 0; t < n; t++) {
        float v = label[t];
        if (v != floorf(v)) return false;
        if (s->has_ignore && v == (float)s->ignore) continue;
        if (!(v >= 0 && v < (float)s->C)) return false;
        valid++;
    }
    s->valid = valid;
    return true;
}

static const float one = 1.0f, zero = 0.0f;

static int swl_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt,
                       cf_error *err)
{
    swl_st *s = w->st;
    size_t n = s->outer * s->inner;
    if (!check_labels(s, cf_blob_data(bottom[1]), n)) return 1;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]), *label = cf_blob_gpu_data(l->be, bottom[1]);
    float *p = cf_blob_gpu_mdata(l->be, prob_blob(s, top, nt));
    float *loss = cf_mem_dev(s->loss, n, l->be->devops);
    if (!x || !label || !p || !loss) return cf_layer_error(l, NULL, err, "out of GPU memory");
    if (!cf_cuda_dnn(cudnnSoftmaxForward(w->cu->dnn, CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_CHANNEL, &one, s->t,
                                         x, &zero, s->t, p),
                     "cudnnSoftmaxForward") ||
        !cf_cuda_rt((cudaError_t)cf_cuk_softmax_loss(s->outer, s->C, s->inner, p, label, s->has_ignore,
                                                     (float)s->ignore, loss),
                    "softmax loss kernel"))
        return cf_cuda_take_error(err);
    /* every term is >= 0, so the absolute sum is the sum */
    float sum = cf_asum(w->gpu, n, loss);
    cf_blob_mdata(top[0])[0] = (float)(sum / normalizer(s));
    return 0;
}

static void swl_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom,
                         int nb)
{
    swl_st *s = w->st;
    if (!prop[0]) return; /* labels never get a gradient */
    float scale = cf_blob_diff(top[0])[0] / (float)normalizer(s);
    const float *p = cf_blob_gpu_data(l->be, prob_blob(s, top, nt)), *label = cf_blob_gpu_data(l->be, bottom[1]);
    float *dx = cf_blob_gpu_mdiff(l->be, bottom[0]);
    if (!p || !label || !dx) {
        cf_cuda_fail("softmax loss backward");
        return;
    }
    cf_cuda_rt((cudaError_t)cf_cuk_softmax_loss_grad(s->outer, s->C, s->inner, p, label, s->has_ignore,
                                                     (float)s->ignore, scale, dx),
               "softmax loss kernel");
}

const cf_cuda_impl cf_cuda_softmax_loss = {
    .type = "SoftmaxWithLoss",
    .create = swl_create,
    .reshape = swl_reshape,
    .forward = swl_forward,
    .backward = swl_backward,
    .destroy = swl_destroy,
};
