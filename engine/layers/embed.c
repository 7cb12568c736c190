/* embed.c — the Embed layer (Caffe's EmbedLayer): a lookup table of
 * learnt vectors, indexed by the integers in the bottom.
 *
 * embed_param:
 *   num_output    length of each vector (required)
 *   input_dim     number of vectors, so indices lie in [0, input_dim)
 *                 (required)
 *   bias_term     add a learnt bias (default true)
 *   weight_filler, bias_filler   (Caffe's default: constant 0)
 * Weights W are [input_dim × num_output], bias b is [num_output]; each
 * bottom entry k (any shape) gives one top row:
 *     top[i][:] = W[k_i][:] + b
 * so the top's shape is the bottom's with num_output appended.  An index
 * that is not an integer in range stops forward with an error naming it.
 * Gradients: dW[k_i] += dtop[i], db += Σ_i dtop[i]; indices have none. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "layer.h"

typedef struct {
    int N, K;               /* num_output, input_dim */
    bool bias_term;
} embed_priv;

static int embed_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p, *wf, *bf;
    long N, K;
    bool bias_term;
    if (cf_layer_param_map(l, "embed_param", &p, err)) return -1;
    if (!cf_node_has(p, "num_output"))
        return cf_layer_error(l, p, err, "embed_param: field 'num_output' is missing");
    if (!cf_node_has(p, "input_dim")) return cf_layer_error(l, p, err, "embed_param: field 'input_dim' is missing");
    if (cf_get_int_range(p, "num_output", 0, 1, INT_MAX / 4, &N, err) ||
        cf_get_int_range(p, "input_dim", 0, 1, INT_MAX / 4, &K, err) ||
        cf_get_bool(p, "bias_term", true, &bias_term, err) || cf_get_map(p, "weight_filler", &wf, err) ||
        cf_get_map(p, "bias_filler", &bf, err))
        return -1;
    embed_priv *e = calloc(1, sizeof *e);
    if (!e) return cf_layer_error(l, NULL, err, "out of memory");
    l->priv = e;
    e->N = (int)N, e->K = (int)K;
    e->bias_term = bias_term;
    int wshape[2] = {e->K, e->N};
    cf_blob *w = cf_layer_add_param(l, 2, wshape, err);
    if (!w || cf_fill(w, wf, "constant", l->rng, err)) return -1;
    if (bias_term) {
        cf_blob *b = cf_layer_add_param(l, 1, &e->N, err);
        if (!b || cf_fill(b, bf, "constant", l->rng, err)) return -1;
    } else if (bf) {
        cf_node_mark_used(bf); /* Caffe ignores it too */
    }
    return 0;
}

static int embed_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    embed_priv *e = l->priv;
    const cf_blob *b = bottom[0];
    if (b->naxes >= CF_MAX_AXES)
        return cf_layer_error(l, NULL, err, "the top would have %d axes (at most %d)", b->naxes + 1, CF_MAX_AXES);
    int shape[CF_MAX_AXES];
    for (int i = 0; i < b->naxes; i++) shape[i] = b->shape[i];
    shape[b->naxes] = e->N;
    if (cf_blob_reshape(top[0], b->naxes + 1, shape, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    return 0;
}

static int embed_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    embed_priv *e = l->priv;
    const float *x = cf_blob_data(bottom[0]), *w = cf_blob_data(l->param[0]);
    const float *b = e->bias_term ? cf_blob_data(l->param[1]) : NULL;
    float *y = cf_blob_mdata(top[0]);
    for (size_t i = 0; i < bottom[0]->count; i++) {
        float v = x[i];
        if (!(v >= 0 && v < (float)e->K))
            return cf_layer_error(l, NULL, err, "index %g at bottom[%zu] is outside [0, input_dim) = [0, %d)",
                                  (double)v, i, e->K);
        if (v != floorf(v))
            return cf_layer_error(l, NULL, err, "index %g at bottom[%zu] is not an integer", (double)v, i);
        const float *row = w + (size_t)v * e->N;
        float *t = y + i * e->N;
        for (int j = 0; j < e->N; j++) t[j] = row[j] + (b ? b[j] : 0.0f);
    }
    return 0;
}

static void embed_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    embed_priv *e = l->priv;
    const float *dy = cf_blob_diff(top[0]), *x = cf_blob_data(bottom[0]);
    size_t M = bottom[0]->count;
    if (l->param_grad[0]) {
        float *dw = cf_blob_mdiff(l->param[0]);
        for (size_t i = 0; i < M; i++) cf_axpy(l->be, (size_t)e->N, 1.0f, dy + i * e->N, dw + (size_t)x[i] * e->N);
    }
    if (e->bias_term && l->param_grad[1]) {
        float *db = cf_blob_mdiff(l->param[1]);
        for (size_t i = 0; i < M; i++) cf_axpy(l->be, (size_t)e->N, 1.0f, dy + i * e->N, db);
    }
    /* indices are not differentiable: their gradient is zero */
    if (prop[0]) cf_set(l->be, M, 0.0f, cf_blob_mdiff(bottom[0]));
}

const cf_layer_ops cf_layer_Embed = {
    .type = "Embed",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .setup = embed_setup,
    .reshape = embed_reshape,
    .forward = embed_forward,
    .backward = embed_backward,
};
