/* softmax.c — the Softmax layer (Caffe's SoftmaxLayer).
 *
 * softmax_param { axis: 1 }.  The bottom is seen as outer × C × inner with
 * outer = count(0, axis), C = shape[axis], inner = count(axis+1, end); for
 * every (outer, inner) position the C values along the axis become
 *     y_c = exp(x_c − m) / Σ_k exp(x_k − m),   m = max_k x_k
 * (subtracting the max keeps exp from overflowing and changes nothing).
 * Backward, from dy and y alone (so the layer can run in place):
 *     dx_c = y_c · (dy_c − Σ_k dy_k · y_k)
 * SoftmaxWithLoss runs this layer inside itself (see softmax_loss.c).
 * With oneDNN (dnnl_layers.h) both passes run as its softmax primitive.
 */
#include <math.h>
#include <stdlib.h>

#include "dnnl/dnnl_layers.h"
#include "layer.h"

static const char *const engines[] = {"DEFAULT", "CAFFE", "CUDNN", NULL};

typedef struct {
    long axis_conf;     /* as written, possibly negative */
    size_t outer, C, inner;
    cf_mem *scratch;    /* outer × inner: one max / sum per position */
    cf_dnnl_softmax *dn; /* oneDNN plan for the current shape, or NULL */
} softmax_priv;

static int softmax_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    int engine;
    softmax_priv *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->scratch = cf_mem_new();
    l->priv = s;
    if (cf_layer_param_map(l, "softmax_param", &p, err) || cf_get_int(p, "axis", 1, &s->axis_conf, err) ||
        cf_get_enum(p, "engine", engines, 0, &engine, err)) /* engine: any choice runs our code */
        return -1;
    return 0;
}

static int softmax_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    softmax_priv *s = l->priv;
    int axis;
    if (cf_blob_axis(bottom[0], (int)s->axis_conf, &axis, err))
        return cf_layer_error(l, cf_node_get(cf_node_get(l->conf, "softmax_param"), "axis"), err,
                              "softmax_param.axis %ld is out of range for a bottom with %d axes", s->axis_conf,
                              bottom[0]->naxes);
    s->outer = cf_blob_count_range(bottom[0], 0, axis);
    s->C = (size_t)bottom[0]->shape[axis];
    s->inner = cf_blob_count_range(bottom[0], axis + 1, bottom[0]->naxes);
    if (top[0] != bottom[0] && cf_blob_reshape_like(top[0], bottom[0], err)) return -1;
    if (!cf_mem_host(s->scratch, s->outer * s->inner + 1)) return cf_layer_error(l, NULL, err, "out of memory");
    if (cf_dnnl_on(l->be)) s->dn = cf_dnnl_softmax_plan(s->dn, l->be, s->outer, s->C, s->inner);
    return 0;
}

typedef struct {
    const softmax_priv *s;
    const float *x;     /* forward: x -> y */
    float *y;
    const float *ty, *dy; /* backward: top data and diff -> dx */
    float *dx;
} softmax_job;

/* Rows [b, e) of the outer axis.  Within one outer block, element (c, i)
 * sits at c·inner + i, so looping c outside and i inside stays contiguous. */
static void forward_rows(void *ctx, size_t b, size_t e)
{
    softmax_job *j = ctx;
    size_t C = j->s->C, inner = j->s->inner;
    for (size_t o = b; o < e; o++) {
        const float *x = j->x + o * C * inner;
        float *y = j->y + o * C * inner;
        float *m = j->s->scratch->host + o * inner;
        for (size_t i = 0; i < inner; i++) m[i] = -INFINITY;
        for (size_t c = 0; c < C; c++)
            for (size_t i = 0; i < inner; i++) m[i] = fmaxf(m[i], x[c * inner + i]);
        for (size_t c = 0; c < C; c++)
            for (size_t i = 0; i < inner; i++) y[c * inner + i] = expf(x[c * inner + i] - m[i]);
        float *sum = m; /* the max is no longer needed */
        for (size_t i = 0; i < inner; i++) sum[i] = 0;
        for (size_t c = 0; c < C; c++)
            for (size_t i = 0; i < inner; i++) sum[i] += y[c * inner + i];
        for (size_t c = 0; c < C; c++)
            for (size_t i = 0; i < inner; i++) y[c * inner + i] /= sum[i];
    }
}

static void backward_rows(void *ctx, size_t b, size_t e)
{
    softmax_job *j = ctx;
    size_t C = j->s->C, inner = j->s->inner;
    for (size_t o = b; o < e; o++) {
        const float *y = j->ty + o * C * inner, *dy = j->dy + o * C * inner;
        float *dx = j->dx + o * C * inner;
        float *dot = j->s->scratch->host + o * inner;
        for (size_t i = 0; i < inner; i++) dot[i] = 0;
        for (size_t c = 0; c < C; c++)
            for (size_t i = 0; i < inner; i++) dot[i] += dy[c * inner + i] * y[c * inner + i];
        for (size_t c = 0; c < C; c++)
            for (size_t i = 0; i < inner; i++) dx[c * inner + i] = y[c * inner + i] * (dy[c * inner + i] - dot[i]);
    }
}

/* Enough rows per task that a task does a few thousand elements. */
static size_t grain(const softmax_priv *s)
{
    size_t per_row = s->C * s->inner;
    return per_row >= 4096 ? 1 : 4096 / (per_row ? per_row : 1);
}

static int softmax_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    softmax_priv *s = l->priv;
    softmax_job j = {.s = s, .x = cf_blob_data(bottom[0])};
    j.y = cf_blob_mdata(top[0]);
    if (s->dn && cf_dnnl_softmax_forward(s->dn, j.x, j.y) == 0) return 0;
    cf_parallel_for(l->be, s->outer, grain(s), forward_rows, &j);
    return 0;
}

static void softmax_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    softmax_priv *s = l->priv;
    if (!prop[0]) return;
    softmax_job j = {.s = s, .ty = cf_blob_data(top[0]), .dy = cf_blob_diff(top[0])};
    j.dx = cf_blob_mdiff(bottom[0]);
    if (s->dn && cf_dnnl_softmax_backward(s->dn, j.ty, j.dy, j.dx) == 0) return;
    cf_parallel_for(l->be, s->outer, grain(s), backward_rows, &j);
}

static void softmax_destroy(cf_layer *l)
{
    softmax_priv *s = l->priv;
    if (!s) return;
    cf_mem_unref(s->scratch);
    cf_dnnl_softmax_free(s->dn);
    free(s);
}

const cf_layer_ops cf_layer_Softmax = {
    .type = "Softmax",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .inplace_ok = true,
    .setup = softmax_setup,
    .reshape = softmax_reshape,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .destroy = softmax_destroy,
};
