/* argmax.c — the ArgMax layer (Caffe's ArgMaxLayer): the indices (and
 * optionally the values) of the top_k largest entries.
 *
 * argmax_param:
 *   top_k        how many (default 1, at least 1)
 *   out_max_val  also output the values (default false)
 *   axis         optional; where given, the search runs along that axis
 *                for every other position, and the top has the bottom's
 *                shape with top_k on the axis, holding the indices — or,
 *                with out_max_val, the values instead.  Without it, each
 *                item (axis 0) is searched over all its C·H·W entries, and
 *                the top is N × 1 × top_k (× 1 …, as many axes as the
 *                bottom, at least 3), or N × 2 × top_k with out_max_val:
 *                row 0 the indices, row 1 their values.
 * Order: largest value first; equal values rank the HIGHER index first,
 * as Caffe's sort of (value, index) pairs in decreasing order does.
 * Indices are written as floats.  There is no gradient. */
#include <limits.h>
#include <stdlib.h>

#include "layer.h"

typedef struct {
    long top_k, axis_conf;
    bool out_max_val, has_axis;
    int axis;
    size_t dim, inner, num;     /* search length, stride along it, searches */
    int *idx;                   /* dim scratch indices */
    size_t idx_cap;
} argmax_priv;

static int argmax_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    argmax_priv *a = calloc(1, sizeof *a);
    if (!a) abort();
    l->priv = a;
    cf_node *p;
    if (cf_layer_param_map(l, "argmax_param", &p, err) || cf_get_bool(p, "out_max_val", false, &a->out_max_val, err) ||
        cf_get_int(p, "top_k", 1, &a->top_k, err) || cf_get_int(p, "axis", 0, &a->axis_conf, err))
        return -1;
    a->has_axis = cf_node_has(p, "axis");
    if (a->top_k < 1)
        return cf_layer_error(l, cf_node_get(p, "top_k"), err, "argmax_param: top_k %ld must be at least 1", a->top_k);
    return 0;
}

static int argmax_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    argmax_priv *a = l->priv;
    const cf_blob *b = bottom[0];
    cf_node *p = cf_node_get(l->conf, "argmax_param");
    char s[128];
    int shape[CF_MAX_AXES], n;
    if (a->has_axis) {
        if (a->axis_conf < INT_MIN || a->axis_conf > INT_MAX || cf_blob_axis(b, (int)a->axis_conf, &a->axis, NULL))
            return cf_layer_error(l, cf_node_get(p, "axis"), err,
                                  "argmax_param: axis %ld is out of range for a bottom with %d axes", a->axis_conf,
                                  b->naxes);
        a->dim = (size_t)b->shape[a->axis];
        if ((size_t)a->top_k > a->dim)
            return cf_layer_error(l, cf_node_get(p, "top_k"), err,
                                  "argmax_param: top_k %ld is larger than axis %d of the bottom (%s)", a->top_k,
                                  a->axis, cf_blob_shape_str(b, s, sizeof s));
        a->inner = cf_blob_count_range(b, a->axis + 1, b->naxes);
        n = b->naxes;
        for (int i = 0; i < n; i++) shape[i] = b->shape[i];
        shape[a->axis] = (int)a->top_k;
    } else {
        if (b->naxes < 1)
            return cf_layer_error(l, NULL, err, "ArgMax needs a bottom with at least one axis");
        a->dim = cf_blob_count_range(b, 1, b->naxes);
        if ((size_t)a->top_k > a->dim)
            return cf_layer_error(l, cf_node_get(p, "top_k"), err,
                                  "argmax_param: top_k %ld is larger than the %zu entries per item of the bottom (%s)",
                                  a->top_k, a->dim, cf_blob_shape_str(b, s, sizeof s));
        a->inner = 1;
        n = b->naxes < 3 ? 3 : b->naxes;
        for (int i = 0; i < n; i++) shape[i] = 1;
        shape[0] = b->shape[0];
        shape[1] = a->out_max_val ? 2 : 1;
        shape[2] = (int)a->top_k;
    }
    a->num = a->dim ? b->count / a->dim : 0;
    if (a->dim > a->idx_cap) {
        int *idx = realloc(a->idx, a->dim * sizeof *idx);
        if (!idx) return cf_layer_error(l, NULL, err, "out of memory");
        a->idx = idx;
        a->idx_cap = a->dim;
    }
    if (cf_blob_reshape(top[0], n, shape, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    return 0;
}

/* Does entry i rank before entry j?  Larger value first; on a tie the
 * larger index. */
static bool ranks_before(const float *v, size_t stride, int i, int j)
{
    float a = v[(size_t)i * stride], b = v[(size_t)j * stride];
    return a > b || (a == b && i > j);
}

/* The k best of dim strided entries into idx[0..k), best first: a partial
 * selection sort, O(k·dim), fine for the small k ArgMax is used with. */
static void select_top(const float *v, size_t stride, int dim, int k, int *idx)
{
    for (int i = 0; i < dim; i++) idx[i] = i;
    for (int r = 0; r < k; r++) {
        int best = r;
        for (int i = r + 1; i < dim; i++)
            if (ranks_before(v, stride, idx[i], idx[best])) best = i;
        int t = idx[r];
        idx[r] = idx[best];
        idx[best] = t;
    }
}

static int argmax_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    argmax_priv *a = l->priv;
    const float *x = cf_blob_data(bottom[0]);
    float *y = cf_blob_mdata(top[0]);
    size_t k = (size_t)a->top_k, in = a->inner, dim = a->dim;
    for (size_t i = 0; i < a->num; i++) {
        size_t o = i / in, r = i % in;
        const float *v = x + o * dim * in + r;
        select_top(v, in, (int)dim, (int)k, a->idx);
        for (size_t j = 0; j < k; j++) {
            float val = v[(size_t)a->idx[j] * in], ind = (float)a->idx[j];
            if (a->has_axis) {
                y[(o * k + j) * in + r] = a->out_max_val ? val : ind;
            } else {
                y[i * (a->out_max_val ? 2 : 1) * k + j] = ind;
                if (a->out_max_val) y[(2 * i + 1) * k + j] = val;
            }
        }
    }
    return 0;
}

static void argmax_destroy(cf_layer *l)
{
    argmax_priv *a = l->priv;
    if (!a) return;
    free(a->idx);
    free(a);
}

const cf_layer_ops cf_layer_ArgMax = {
    .type = "ArgMax",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .setup = argmax_setup,
    .reshape = argmax_reshape,
    .forward = argmax_forward,
    .destroy = argmax_destroy,
};
