/* cuda_neuron.c — the elementwise layers with no cuDNN counterpart, as
 * kernels (kernels.cu): Power, AbsVal, ELU, BNLL, and Dropout.
 *
 * Each computes what its host file does (power.c, absval.c, elu.c,
 * bnll.c, dropout.c), case for case.  Two in-place configurations stay on
 * the host, where the layer keeps a copy of the bottom that backward
 * needs: Power in place when the gradient reads x (power·scale ≠ 0 and
 * power ≠ 1) and ELU in place with α < 0.
 *
 * Dropout draws its mask on the host from l->rng, one u32 per element in
 * element order, exactly as dropout.c does, so a seed gives the same mask
 * on either device and a GPU run repeats a CPU run's draws; the mask (0 or
 * 1/(1−p) per element) then goes to the device and the products run
 * there.  In TEST the layer is the identity (a device copy, none in
 * place).
 */
#include <stdint.h>
#include <stdlib.h>

#include "cuda_layers.h"
#include "kernels.h"

/* A float field of one of the layer's parameter maps (setup has checked it). */
static float conf_float(cf_layer *l, const char *map, const char *key, double def)
{
    cf_node *p = cf_node_get(l->conf, map);
    double v = def;
    if (p) cf_get_float(p, key, def, &v, NULL);
    return (float)v;
}

/* ---- Power, AbsVal, ELU, BNLL ---- */

typedef struct {
    int kind;
    float p[3];
} neuron_st;

static neuron_st *neuron_new(int kind, float a, float b, float c)
{
    neuron_st *s = malloc(sizeof *s);
    if (s) *s = (neuron_st){kind, {a, b, c}};
    return s;
}

static void *power_create(cf_cuda_layer *w, cf_layer *l)
{
    return neuron_new(CF_CUK_POWER, conf_float(l, "power_param", "power", 1), conf_float(l, "power_param", "scale", 1),
                      conf_float(l, "power_param", "shift", 0));
}
static void *absval_create(cf_cuda_layer *w, cf_layer *l) { return neuron_new(CF_CUK_ABSVAL, 0, 0, 0); }
static void *elu_create(cf_cuda_layer *w, cf_layer *l)
{
    return neuron_new(CF_CUK_ELU, conf_float(l, "elu_param", "alpha", 1), 0, 0);
}
static void *bnll_create(cf_cuda_layer *w, cf_layer *l) { return neuron_new(CF_CUK_BNLL, 0, 0, 0); }

/* In place, backward must still see x: Power when its gradient reads x,
 * ELU when α < 0 (y > 0 no longer tells x > 0). */
static bool neuron_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    const neuron_st *s = w->st;
    if (bottom[0]->count == 0) return false;
    if (top[0] != bottom[0]) return true;
    if (s->kind == CF_CUK_POWER) return !(s->p[0] * s->p[1] != 0 && s->p[0] != 1);
    if (s->kind == CF_CUK_ELU) return s->p[0] >= 0;
    return true;
}

static int neuron_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt,
                          cf_error *err)
{
    const neuron_st *s = w->st;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]);
    float *y = cf_blob_gpu_mdata(l->be, top[0]);
    if (!x || !y) return cf_layer_error(l, NULL, err, "out of GPU memory");
    if (!cf_cuda_rt((cudaError_t)cf_cuk_neuron_forward(s->kind, bottom[0]->count, s->p, x, y), "neuron kernel"))
        return cf_cuda_take_error(err);
    return 0;
}

static void neuron_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop,
                            cf_blob **bottom, int nb)
{
    const neuron_st *s = w->st;
    if (!prop[0]) return;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]), *y = cf_blob_gpu_data(l->be, top[0]);
    const float *dy = cf_blob_gpu_diff(l->be, top[0]);
    float *dx = cf_blob_gpu_mdiff(l->be, bottom[0]);
    if (!x || !y || !dy || !dx) {
        cf_cuda_fail("neuron backward");
        return;
    }
    cf_cuda_rt((cudaError_t)cf_cuk_neuron_backward(s->kind, bottom[0]->count, s->p, x, y, dy, dx), "neuron kernel");
}

#define NEURON(sym, name, create_fn)                                                                                 \
    const cf_cuda_impl sym = {.type = name, .create = create_fn, .reshape = neuron_reshape,                         \
                              .forward = neuron_forward, .backward = neuron_backward, .destroy = free}

NEURON(cf_cuda_power, "Power", power_create);
NEURON(cf_cuda_absval, "AbsVal", absval_create);
NEURON(cf_cuda_elu, "ELU", elu_create);
NEURON(cf_cuda_bnll, "BNLL", bnll_create);

/* ---- Dropout ---- */

typedef struct {
    float scale;        /* 1 / (1 − p) */
    uint32_t threshold; /* a draw >= threshold keeps the element (dropout.c) */
    float *host;        /* the mask as drawn */
    size_t cap;
    cf_cuda_buf mask;   /* the mask on the device */
} dropout_st;

static void dropout_destroy(void *p)
{
    dropout_st *s = p;
    free(s->host);
    cf_cuda_buf_free(&s->mask);
    free(s);
}

static void *dropout_create(cf_cuda_layer *w, cf_layer *l)
{
    double ratio = 0.5;
    cf_node *p = cf_node_get(l->conf, "dropout_param");
    if (p) cf_get_float(p, "dropout_ratio", 0.5, &ratio, NULL); /* in double, as dropout.c */
    dropout_st *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->scale = (float)(1.0 / (1.0 - ratio));
    s->threshold = (uint32_t)(ratio * 4294967296.0);
    return s;
}

static bool dropout_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    dropout_st *s = w->st;
    size_t n = bottom[0]->count;
    if (n == 0) return false;
    if (l->phase != CF_TRAIN) return true;
    if (n > s->cap) {
        float *h = realloc(s->host, n * sizeof *h);
        if (!h) return false;
        s->host = h;
        s->cap = n;
    }
    return cf_cuda_buf_reserve(&s->mask, n * sizeof(float));
}

static int dropout_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt,
                           cf_error *err)
{
    dropout_st *s = w->st;
    size_t n = bottom[0]->count;
    const float *x = cf_blob_gpu_data(l->be, bottom[0]);
    float *y = cf_blob_gpu_mdata(l->be, top[0]);
    if (!x || !y) return cf_layer_error(l, NULL, err, "out of GPU memory");
    if (l->phase != CF_TRAIN) {
        if (x != y) cf_copy(w->gpu, n, x, y);
        return cf_cuda_take_error(err);
    }
    for (size_t i = 0; i < n; i++) s->host[i] = cf_rng_u32(l->rng) >= s->threshold ? s->scale : 0.0f;
    if (!cf_cuda_rt(cudaMemcpy(s->mask.p, s->host, n * sizeof(float), cudaMemcpyHostToDevice), "dropout mask") ||
        !cf_cuda_rt((cudaError_t)cf_cuk_mul(n, x, s->mask.p, y), "dropout kernel"))
        return cf_cuda_take_error(err);
    return 0;
}

static void dropout_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop,
                             cf_blob **bottom, int nb)
{
    dropout_st *s = w->st;
    if (!prop[0]) return;
    size_t n = top[0]->count;
    const float *dy = cf_blob_gpu_diff(l->be, top[0]);
    float *dx = cf_blob_gpu_mdiff(l->be, bottom[0]);
    if (!dy || !dx) {
        cf_cuda_fail("Dropout backward");
        return;
    }
    if (l->phase != CF_TRAIN) {
        if (dy != dx) cf_copy(w->gpu, n, dy, dx);
        return;
    }
    cf_cuda_rt((cudaError_t)cf_cuk_mul(n, dy, s->mask.p, dx), "dropout kernel");
}

const cf_cuda_impl cf_cuda_dropout = {
    .type = "Dropout",
    .create = dropout_create,
    .reshape = dropout_reshape,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .destroy = dropout_destroy,
};
