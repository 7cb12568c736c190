/* split.c — Split layer: one bottom feeding several consumers.  The net
 * inserts one wherever a blob is the bottom of more than one layer, so
 * that each consumer writes its gradient into a diff of its own.
 *
 * Every top shares the bottom's data (no copy); each top has its own diff,
 * and backward sums them:  ∂E/∂x = Σ_t ∂E/∂y_t.  With oneDNN's blocked
 * activations (dnnl_layers.h) the data's blocked side is shared with the
 * memory, and when every top diff holds one blocked layout the sum is
 * taken there (padding included: zeros add to zeros), so that the
 * consumers' diffs are not reordered to NCHW and the bottom's back. */
#include "dnnl/dnnl_layers.h"
#include "layer.h"

static int split_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    for (int t = 0; t < nt; t++) {
        if (cf_blob_reshape_like(top[t], bottom[0], err)) return -1;
        cf_blob_share_data(top[t], bottom[0]);
    }
    return 0;
}

/* The tops already see the bottom's data. */
static int split_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err) { return 0; }

static void split_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    size_t na, nt_;
    const float *d0 = cf_dnnl_alt(top[0]->diff, &na);
    bool alt = d0 != NULL;
    for (int t = 1; t < nt && alt; t++) alt = cf_dnnl_alt(top[t]->diff, &nt_) && cf_dnnl_alt_same(top[t]->diff, top[0]->diff);
    float *dxa = alt ? cf_dnnl_alt_like(l->be, bottom[0]->diff, top[0]->diff, bottom[0]->count) : NULL;
    if (dxa) {
        cf_copy(l->be, na, d0, dxa);
        for (int t = 1; t < nt; t++) cf_axpy(l->be, na, 1.0f, cf_dnnl_alt(top[t]->diff, &nt_), dxa);
        cf_mem_alt_wrote(bottom[0]->diff);
        return;
    }
    size_t n = bottom[0]->count;
    float *dx = cf_blob_mdiff(bottom[0]);
    cf_copy(l->be, n, cf_blob_diff(top[0]), dx);
    for (int t = 1; t < nt; t++) cf_axpy(l->be, n, 1.0f, cf_blob_diff(top[t]), dx);
}

const cf_layer_ops cf_layer_Split = {
    .type = "Split",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = -1,
    .reshape = split_reshape,
    .forward = split_forward,
    .backward = split_backward,
};
