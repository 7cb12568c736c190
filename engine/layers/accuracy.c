/* accuracy.c — the Accuracy layer (Caffe's AccuracyLayer): the fraction
 * of positions whose true class is among the top_k scores.
 *
 * accuracy_param { top_k: 1, axis: 1, ignore_label }.  Bottoms: scores
 * (outer × C × inner around axis) and labels (outer·inner class indices as
 * floats).  A valid position (label ≠ ignore_label) counts as correct when
 * fewer than top_k classes score strictly higher than the true class, so a
 * tie with the true class never costs it the position.  (Caffe 1.0 counts
 * ties against it, scores >= the true one; we keep the kinder rule.)
 *     top[0] = correct / valid          (0 when nothing is valid)
 *     top[1][c] = correct_c / valid_c   (optional; per class, 0 when absent)
 * Accuracy has no gradient.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "layer.h"

typedef struct {
    long top_k, axis_conf, ignore;
    bool has_ignore;
    size_t outer, C, inner;
    cf_mem *per_class;  /* 2·C counts: valid_c then correct_c */
} acc_priv;

static int acc_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    acc_priv *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->per_class = cf_mem_new();
    l->priv = s;
    cf_node *p;
    if (cf_layer_param_map(l, "accuracy_param", &p, err)) return -1;
    s->has_ignore = cf_node_has(p, "ignore_label");
    if (cf_get_int_range(p, "top_k", 1, 1, INT_MAX, &s->top_k, err) || cf_get_int(p, "axis", 1, &s->axis_conf, err) ||
        cf_get_int(p, "ignore_label", -1, &s->ignore, err))
        return -1;
    return 0;
}

static int acc_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    acc_priv *s = l->priv;
    cf_node *p = cf_node_get(l->conf, "accuracy_param");
    int axis;
    if (cf_blob_axis(bottom[0], (int)s->axis_conf, &axis, err))
        return cf_layer_error(l, cf_node_get(p, "axis"), err,
                              "accuracy_param.axis %ld is out of range for a bottom with %d axes", s->axis_conf,
                              bottom[0]->naxes);
    s->outer = cf_blob_count_range(bottom[0], 0, axis);
    s->C = (size_t)bottom[0]->shape[axis];
    s->inner = cf_blob_count_range(bottom[0], axis + 1, bottom[0]->naxes);
    if ((size_t)s->top_k > s->C)
        return cf_layer_error(l, cf_node_get(p, "top_k"), err, "top_k %ld is more than the %zu classes", s->top_k,
                              s->C);
    if (bottom[1]->count != s->outer * s->inner) {
        char a[128], b[128];
        return cf_layer_error(l, NULL, err,
                              "label count %zu does not match the %zu predictions (scores %s, labels %s): "
                              "labels need one class index per position outside axis %d",
                              bottom[1]->count, s->outer * s->inner, cf_blob_shape_str(bottom[0], a, sizeof a),
                              cf_blob_shape_str(bottom[1], b, sizeof b), axis);
    }
    if (!cf_mem_host(s->per_class, 2 * s->C + 1)) return cf_layer_error(l, NULL, err, "out of memory");
    if (cf_blob_reshape(top[0], 0, NULL, err)) return -1;
    int C = (int)s->C;
    return nt > 1 ? cf_blob_reshape(top[1], 1, &C, err) : 0;
}

static int acc_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    acc_priv *s = l->priv;
    const float *x = cf_blob_data(bottom[0]), *label = cf_blob_data(bottom[1]);
    float *valid_c = s->per_class->host, *correct_c = valid_c + s->C;
    size_t valid = 0, correct = 0;
    for (size_t c = 0; c < 2 * s->C; c++) valid_c[c] = 0;
    for (size_t o = 0; o < s->outer; o++)
        for (size_t i = 0; i < s->inner; i++) {
            size_t at = o * s->inner + i;
            float v = label[at];
            if (v != floorf(v))
                return cf_layer_error(l, NULL, err, "label %g at position %zu is not a whole class index", v, at);
            if (s->has_ignore && v == (float)s->ignore) continue;
            if (!(v >= 0 && v < (float)s->C))
                return cf_layer_error(l, NULL, err, "label %g at position %zu is out of range [0, %zu)", v, at,
                                      s->C);
            size_t t = (size_t)v;
            const float *col = x + o * s->C * s->inner + i;
            float truth = col[t * s->inner];
            long higher = 0;
            for (size_t c = 0; c < s->C; c++) higher += col[c * s->inner] > truth;
            valid++, valid_c[t]++;
            if (higher < s->top_k) correct++, correct_c[t]++;
        }
    cf_blob_mdata(top[0])[0] = valid ? (float)((double)correct / (double)valid) : 0.0f;
    if (nt > 1) {
        float *pc = cf_blob_mdata(top[1]);
        for (size_t c = 0; c < s->C; c++) pc[c] = valid_c[c] > 0 ? correct_c[c] / valid_c[c] : 0.0f;
    }
    return 0;
}

static void acc_destroy(cf_layer *l)
{
    acc_priv *s = l->priv;
    if (!s) return;
    cf_mem_unref(s->per_class);
    free(s);
}

const cf_layer_ops cf_layer_Accuracy = {
    .type = "Accuracy",
    .min_bottom = 2, .max_bottom = 2,
    .min_top = 1, .max_top = 2,
    .setup = acc_setup,
    .reshape = acc_reshape,
    .forward = acc_forward,
    .backward = NULL,
    .destroy = acc_destroy,
};
