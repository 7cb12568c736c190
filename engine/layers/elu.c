/* elu.c — Caffe's ELU layer (elu_param.alpha, 1):
 *     y = x                  for x > 0
 *     y = α·(e^x − 1)        otherwise
 *     ∂E/∂x = ∂E/∂y · (1 if x > 0, else α + y)
 * In place: for α >= 0, y > 0 exactly when x > 0, so backward may test
 * the top where the bottom was; for α < 0 that fails (y > 0 for x < 0),
 * and forward keeps a copy of x first.
 * With oneDNN (dnnl_layers.h) both passes run as its eltwise elu
 * (dnnl_act.c): backward from x, or, in place with α >= 0, from y by the
 * same test and α + y as here (elu_use_dst_for_bwd). */
#include <math.h>
#include <stdlib.h>

#include "dnnl/dnnl_layers.h"
#include "layer.h"

#define EW_GRAIN 32768

typedef struct {
    float alpha;
    cf_mem *x_copy;     /* the bottom, in place with α < 0 */
    cf_dnnl_act *dn;    /* oneDNN plan for the current count, or NULL */
} elu_priv;

typedef struct {
    float alpha;
    const float *x, *y, *dy;
    float *out;
} elu_ctx;

static int elu_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    double alpha;
    if (cf_layer_param_map(l, "elu_param", &p, err) || cf_get_float(p, "alpha", 1, &alpha, err)) return -1;
    elu_priv *s = malloc(sizeof *s);
    if (!s) return cf_layer_error(l, NULL, err, "out of memory");
    s->alpha = (float)alpha;
    s->x_copy = cf_mem_new();
    s->dn = NULL;
    l->priv = s;
    return 0;
}

static bool keeps_copy(const elu_priv *s, cf_blob **bottom, cf_blob **top)
{
    return top[0] == bottom[0] && s->alpha < 0;
}

static int elu_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    elu_priv *s = l->priv;
    if (keeps_copy(s, bottom, top) && !cf_mem_host(s->x_copy, bottom[0]->count + 1))
        return cf_layer_error(l, NULL, err, "out of memory");
    if (top[0] != bottom[0] && cf_blob_reshape_like(top[0], bottom[0], err)) return -1;
    cf_dnnl_act_kind kind = top[0] == bottom[0] && s->alpha >= 0 ? CF_DNNL_ELU_DST : CF_DNNL_ELU;
    if (cf_dnnl_on(l->be)) s->dn = cf_dnnl_act_plan(s->dn, l->be, bottom[0]->count, kind, s->alpha, 0);
    return 0;
}

static void elu_fwd_range(void *c, size_t b, size_t e)
{
    elu_ctx *k = c;
    for (size_t i = b; i < e; i++) {
        float x = k->x[i];
        k->out[i] = x > 0 ? x : k->alpha * expm1f(x);
    }
}

static void elu_bwd_range(void *c, size_t b, size_t e)
{
    elu_ctx *k = c;
    for (size_t i = b; i < e; i++) k->out[i] = k->dy[i] * (k->x[i] > 0 ? 1.0f : k->alpha + k->y[i]);
}

static int elu_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    elu_priv *s = l->priv;
    elu_ctx k = {.alpha = s->alpha, .x = cf_blob_data(bottom[0])};
    if (keeps_copy(s, bottom, top)) cf_copy(l->be, bottom[0]->count, k.x, s->x_copy->host);
    k.out = cf_blob_mdata(top[0]);
    if (s->dn && cf_dnnl_act_forward(s->dn, k.x, k.out) == 0) return 0;
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, elu_fwd_range, &k);
    return 0;
}

static void elu_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    elu_priv *s = l->priv;
    elu_ctx k = {.alpha = s->alpha, .y = cf_blob_data(top[0]), .dy = cf_blob_diff(top[0])};
    k.x = keeps_copy(s, bottom, top) ? s->x_copy->host : cf_blob_data(bottom[0]);
    k.out = cf_blob_mdiff(bottom[0]);
    /* in place with α >= 0, k.x is the top: the plan reads it as y */
    if (s->dn && cf_dnnl_act_backward(s->dn, k.x, k.dy, k.out) == 0) return;
    cf_parallel_for(l->be, top[0]->count, EW_GRAIN, elu_bwd_range, &k);
}

static void elu_destroy(cf_layer *l)
{
    elu_priv *s = l->priv;
    if (!s) return;
    cf_mem_unref(s->x_copy);
    cf_dnnl_act_free(s->dn);
    free(s);
}

const cf_layer_ops cf_layer_ELU = {
    .type = "ELU",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .inplace_ok = true,
    .setup = elu_setup,
    .reshape = elu_reshape,
    .forward = elu_forward,
    .backward = elu_backward,
    .destroy = elu_destroy,
};
