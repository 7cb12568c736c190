/* power.c — Caffe's Power layer (power_param: power 1, scale 1, shift 0):
 *     y = (shift + scale·x)^power
 *     ∂E/∂x = ∂E/∂y · power·scale · (shift + scale·x)^(power − 1)
 * When power·scale = 0 the output does not depend on x: y is the constant
 * shift^power (1 for power 0) and the gradient is 0, as in Caffe.  A
 * negative base with a fractional power gives NaN, as pow does in Caffe;
 * that is the user's formula, not an error.  Backward reads x: in place,
 * forward keeps a copy of it first (only when the gradient needs it).
 *
 * With oneDNN (dnnl_layers.h) both passes run as its eltwise primitive
 * (dnnl_act.c) where one expresses the layer: power 1 is linear
 * (α = scale, β = shift: y = scale·x + shift, dx = dy·scale); shift 0 is
 * pow (α = scale^power, β = power: y = scale^power · x^power, which is
 * (scale·x)^power when scale > 0 or the power is a whole number, with
 * dx = dy·power·scale^power·x^(power−1), the gradient above).  Otherwise
 * (a shift under a power, or a constant output) this code runs. */
#include <math.h>
#include <stdlib.h>

#include "dnnl/dnnl_layers.h"
#include "layer.h"

#define EW_GRAIN 32768

typedef struct {
    float power, scale, shift;
    cf_mem *x_copy;     /* the bottom, when run in place */
    cf_dnnl_act *dn;    /* oneDNN plan for the current count, or NULL */
} power_priv;

typedef struct {
    float power, scale, shift;
    const float *x, *dy;
    float *out;
} power_ctx;

static int power_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    double power, scale, shift;
    if (cf_layer_param_map(l, "power_param", &p, err) || cf_get_float(p, "power", 1, &power, err) ||
        cf_get_float(p, "scale", 1, &scale, err) || cf_get_float(p, "shift", 0, &shift, err))
        return -1;
    power_priv *s = malloc(sizeof *s);
    if (!s) return cf_layer_error(l, NULL, err, "out of memory");
    *s = (power_priv){(float)power, (float)scale, (float)shift, cf_mem_new(), NULL};
    l->priv = s;
    return 0;
}

/* The gradient reads x unless it is a constant. */
static bool needs_x(const power_priv *s) { return s->power * s->scale != 0 && s->power != 1; }

/* The oneDNN plan for the layer's formula, or NULL (see the top). */
static cf_dnnl_act *plan(cf_layer *l, power_priv *s, size_t n)
{
    if (!cf_dnnl_on(l->be) || s->power * s->scale == 0) return cf_dnnl_act_plan(s->dn, l->be, 0, CF_DNNL_LINEAR, 0, 0);
    if (s->power == 1) return cf_dnnl_act_plan(s->dn, l->be, n, CF_DNNL_LINEAR, s->scale, s->shift);
    if (s->shift == 0 && (s->scale > 0 || s->power == rintf(s->power)))
        return cf_dnnl_act_plan(s->dn, l->be, n, CF_DNNL_POW, powf(s->scale, s->power), s->power);
    return cf_dnnl_act_plan(s->dn, l->be, 0, CF_DNNL_LINEAR, 0, 0); /* frees the old one */
}

static int power_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    power_priv *s = l->priv;
    if (top[0] != bottom[0]) {
        if (cf_blob_reshape_like(top[0], bottom[0], err)) return -1;
    } else if (needs_x(s) && !cf_mem_host(s->x_copy, bottom[0]->count + 1)) {
        return cf_layer_error(l, NULL, err, "out of memory");
    }
    s->dn = plan(l, s, bottom[0]->count);
    return 0;
}

static void power_fwd_range(void *c, size_t b, size_t e)
{
    power_ctx *k = c;
    if (k->power * k->scale == 0) {
        float v = k->power == 0 ? 1.0f : powf(k->shift, k->power);
        for (size_t i = b; i < e; i++) k->out[i] = v;
    } else if (k->power == 1) {
        for (size_t i = b; i < e; i++) k->out[i] = k->shift + k->scale * k->x[i];
    } else {
        for (size_t i = b; i < e; i++) k->out[i] = powf(k->shift + k->scale * k->x[i], k->power);
    }
}

static void power_bwd_range(void *c, size_t b, size_t e)
{
    power_ctx *k = c;
    const float ds = k->power * k->scale;
    if (ds == 0) {
        for (size_t i = b; i < e; i++) k->out[i] = 0;
    } else if (k->power == 1) {
        for (size_t i = b; i < e; i++) k->out[i] = k->dy[i] * ds;
    } else if (k->power == 2) {
        for (size_t i = b; i < e; i++) k->out[i] = k->dy[i] * ds * (k->shift + k->scale * k->x[i]);
    } else {
        for (size_t i = b; i < e; i++)
            k->out[i] = k->dy[i] * ds * powf(k->shift + k->scale * k->x[i], k->power - 1);
    }
}

static int power_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    power_priv *s = l->priv;
    power_ctx k = {.power = s->power, .scale = s->scale, .shift = s->shift, .x = cf_blob_data(bottom[0])};
    if (top[0] == bottom[0] && needs_x(s)) cf_copy(l->be, bottom[0]->count, k.x, s->x_copy->host);
    k.out = cf_blob_mdata(top[0]);
    if (s->dn && cf_dnnl_act_forward(s->dn, k.x, k.out) == 0) return 0;
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, power_fwd_range, &k);
    return 0;
}

static void power_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    power_priv *s = l->priv;
    power_ctx k = {.power = s->power, .scale = s->scale, .shift = s->shift,
                   .x = top[0] == bottom[0] ? s->x_copy->host : cf_blob_data(bottom[0]), .dy = cf_blob_diff(top[0])};
    k.out = cf_blob_mdiff(bottom[0]);
    /* power 1 does not read x (nor keeps a copy in place): dy stands in */
    if (s->dn && cf_dnnl_act_backward(s->dn, s->power == 1 ? k.dy : k.x, k.dy, k.out) == 0) return;
    cf_parallel_for(l->be, bottom[0]->count, EW_GRAIN, power_bwd_range, &k);
}

static void power_destroy(cf_layer *l)
{
    power_priv *s = l->priv;
    if (!s) return;
    cf_mem_unref(s->x_copy);
    cf_dnnl_act_free(s->dn);
    free(s);
}

const cf_layer_ops cf_layer_Power = {
    .type = "Power",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .inplace_ok = true,
    .setup = power_setup,
    .reshape = power_reshape,
    .forward = power_forward,
    .backward = power_backward,
    .destroy = power_destroy,
};
