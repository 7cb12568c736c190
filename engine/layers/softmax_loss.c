/* softmax_loss.c — SoftmaxWithLoss (Caffe's SoftmaxWithLossLayer): a
 * Softmax followed by the multinomial logistic loss, fused so that the
 * gradient is the simple and stable p − onehot.
 *
 * Bottoms: scores (outer × C × inner around softmax_param.axis) and labels
 * (outer·inner floats holding class indices).  Tops: the loss, and
 * optionally the probabilities p.
 *     loss = −Σ_valid log(max(p[label], FLT_MIN)) / normalizer
 * where a position is valid unless its label equals loss_param.ignore_label,
 * and loss_param.normalization picks the normalizer:
 *     FULL        outer·inner (ignored positions included)
 *     VALID       number of valid positions (Caffe's default)
 *     BATCH_SIZE  outer
 *     NONE        1
 * always at least 1.  The legacy loss_param.normalize (bool) stands for
 * VALID (true) or BATCH_SIZE (false) when normalization is not given.
 * Backward: d scores = (p − onehot(label)) · top[0].diff[0] / normalizer,
 * zero at ignored positions; labels get no gradient.
 *
 * Class weights, as Mocha's SoftmaxLossLayer has them (its `weights` and
 * `normalize`): loss_param.class_weight gives C values (one per class) or
 * C·inner values (one per class and position, class-major like one
 * sample's scores); a position labelled y then counts with weight
 * w[y, i] in the loss and its gradient row:
 *     loss = −Σ_valid w[label, i] · log p[label] / normalizer
 *     d scores = w[label, i] · (p − onehot(label)) · top[0].diff[0] / normalizer
 * loss_param.class_weight_normalization first rescales the table, as
 * Mocha's `normalize` does (Mocha.jl, layers/multinomial-logistic-loss.jl):
 *     LOCAL (Mocha's default)  at each position the C weights sum to C
 *     GLOBAL                   all C·inner weights sum to C·inner
 *     NONE                     as written
 * so a table of ones is the unweighted loss, and with one weight per class
 * LOCAL and GLOBAL agree.  The normalizer above (Caffe's) is unchanged.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "layer.h"

enum { NORM_FULL, NORM_VALID, NORM_BATCH_SIZE, NORM_NONE };
static const char *const norm_names[] = {"FULL", "VALID", "BATCH_SIZE", "NONE", NULL};
enum { CW_LOCAL, CW_GLOBAL, CW_NONE };
static const char *const cw_norm_names[] = {"LOCAL", "GLOBAL", "NONE", NULL};

typedef struct {
    cf_layer softmax;   /* the inner Softmax layer, reading our softmax_param */
    cf_blob *prob;      /* its top when we have no second top */
    long axis_conf;     /* softmax_param.axis, as the inner layer reads it */
    int norm;
    bool has_ignore;
    long ignore;
    size_t outer, C, inner;
    size_t valid;       /* valid positions in the last forward */
    /* class weights (none when ncw == 0) */
    size_t ncw;
    float *cw;          /* as written */
    cf_node *cw_node;   /* the first value, for errors */
    int cw_norm;
    cf_mem *weight;     /* C × inner, normalised, for the current shape */
    size_t weight_C, weight_inner; /* the shape it was built for */
} swl_priv;

/* The blob holding p: our second top when asked for, else our own. */
static cf_blob *prob_blob(cf_layer *l, cf_blob **top, int nt)
{
    swl_priv *s = l->priv;
    return nt > 1 ? top[1] : s->prob;
}

/* loss_param.class_weight and class_weight_normalization. */
static int read_class_weights(cf_layer *l, cf_node *p, cf_error *err)
{
    swl_priv *s = l->priv;
    if (cf_get_enum(p, "class_weight_normalization", cw_norm_names, CW_LOCAL, &s->cw_norm, err)) return -1;
    s->ncw = cf_node_count(p, "class_weight");
    if (!s->ncw) return 0;
    s->cw_node = cf_node_at(p, "class_weight", 0);
    s->cw = malloc(s->ncw * sizeof *s->cw);
    s->weight = cf_mem_new();
    if (!s->cw) abort();
    for (size_t i = 0; i < s->ncw; i++) {
        double v;
        if (cf_get_float_at(p, "class_weight", i, &v, err)) return -1;
        if (!(v >= 0) || isinf(v))
            return cf_layer_error(l, cf_node_at(p, "class_weight", i), err,
                                  "loss_param.class_weight %g: weights must be finite and >= 0", v);
        s->cw[i] = (float)v;
    }
    return 0;
}

/* The C × inner weight table for the current shape, rescaled as
 * class_weight_normalization says. */
static int build_weights(cf_layer *l, cf_error *err)
{
    swl_priv *s = l->priv;
    size_t C = s->C, inner = s->inner, n = C * inner;
    if (s->ncw != C && s->ncw != n)
        return cf_layer_error(l, s->cw_node, err,
                              "loss_param.class_weight has %zu values: give one per class (%zu) or one per class "
                              "and position (%zu × %zu = %zu)",
                              s->ncw, C, C, inner, n);
    float *w = cf_mem_host(s->weight, n + 1);
    if (!w) return cf_layer_error(l, NULL, err, "out of memory");
    for (size_t c = 0; c < C; c++)
        for (size_t i = 0; i < inner; i++) w[c * inner + i] = s->ncw == C ? s->cw[c] : s->cw[c * inner + i];
    if (s->cw_norm == CW_LOCAL)
        for (size_t i = 0; i < inner; i++) {
            double sum = 0;
            for (size_t c = 0; c < C; c++) sum += w[c * inner + i];
            if (sum <= 0)
                return cf_layer_error(l, s->cw_node, err,
                                      "loss_param.class_weight: the weights at position %zu sum to 0, which LOCAL "
                                      "normalization cannot scale to %zu",
                                      i, C);
            for (size_t c = 0; c < C; c++) w[c * inner + i] = (float)(w[c * inner + i] * (double)C / sum);
        }
    if (s->cw_norm == CW_GLOBAL) {
        double sum = 0;
        for (size_t k = 0; k < n; k++) sum += w[k];
        if (sum <= 0)
            return cf_layer_error(l, s->cw_node, err,
                                  "loss_param.class_weight: the weights sum to 0, which GLOBAL normalization cannot "
                                  "scale to %zu",
                                  n);
        for (size_t k = 0; k < n; k++) w[k] = (float)(w[k] * (double)n / sum);
    }
    s->weight_C = C;
    s->weight_inner = inner;
    return 0;
}

/* Weight of position (o, i) labelled c: 1 without class weights. */
static float weight_at(const swl_priv *s, size_t c, size_t i)
{
    return s->ncw ? s->weight->host[c * s->inner + i] : 1.0f;
}

static int swl_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    swl_priv *s = calloc(1, sizeof *s);
    if (!s) abort();
    l->priv = s;
    s->prob = cf_blob_new("prob");
    s->softmax = (cf_layer){.ops = cf_layer_find("Softmax"), .name = l->name, .conf = l->conf, .phase = l->phase,
                            .be = l->be, .rng = l->rng};
    cf_blob *ptop = prob_blob(l, top, nt);
    if (s->softmax.ops->setup(&s->softmax, bottom, 1, &ptop, 1, err)) return -1;

    cf_node *p;
    bool normalize;
    if (cf_layer_param_map(l, "softmax_param", &p, err) || cf_get_int(p, "axis", 1, &s->axis_conf, err))
        return -1;
    if (cf_layer_param_map(l, "loss_param", &p, err)) return -1;
    s->has_ignore = cf_node_has(p, "ignore_label");
    if (cf_get_int(p, "ignore_label", -1, &s->ignore, err) ||
        cf_get_enum(p, "normalization", norm_names, NORM_VALID, &s->norm, err) ||
        cf_get_bool(p, "normalize", true, &normalize, err))
        return -1;
    if (!cf_node_has(p, "normalization") && cf_node_has(p, "normalize"))
        s->norm = normalize ? NORM_VALID : NORM_BATCH_SIZE;
    return read_class_weights(l, p, err);
}

static int swl_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    swl_priv *s = l->priv;
    cf_blob *ptop = prob_blob(l, top, nt);
    if (s->softmax.ops->reshape(&s->softmax, bottom, 1, &ptop, 1, err)) return -1;
    int axis;
    if (cf_blob_axis(bottom[0], (int)s->axis_conf, &axis, err)) return -1; /* checked by the inner layer */
    s->outer = cf_blob_count_range(bottom[0], 0, axis);
    s->C = (size_t)bottom[0]->shape[axis];
    s->inner = cf_blob_count_range(bottom[0], axis + 1, bottom[0]->naxes);
    if (bottom[1]->count != s->outer * s->inner) {
        char a[128], b[128];
        return cf_layer_error(l, NULL, err,
                              "label count %zu does not match the %zu predictions (scores %s, labels %s): "
                              "labels need one class index per position outside softmax axis %d",
                              bottom[1]->count, s->outer * s->inner, cf_blob_shape_str(bottom[0], a, sizeof a),
                              cf_blob_shape_str(bottom[1], b, sizeof b), axis);
    }
    if (s->ncw && (s->weight_C != s->C || s->weight_inner != s->inner) && build_weights(l, err)) return -1;
    return cf_blob_reshape(top[0], 0, NULL, err);
}

/* Check one label: 0 when fine (*use says whether it counts), else
 * an error.  Labels are floats, so they must be whole numbers. */
static int check_label(cf_layer *l, float v, size_t at, bool *use, cf_error *err)
{
    swl_priv *s = l->priv;
    if (v != floorf(v))
        return cf_layer_error(l, NULL, err, "label %g at position %zu is not a whole class index", v, at);
    *use = !(s->has_ignore && v == (float)s->ignore);
    if (*use && !(v >= 0 && v < (float)s->C))
        return cf_layer_error(l, NULL, err, "label %g at position %zu is out of range [0, %zu)", v, at, s->C);
    return 0;
}

static double normalizer(const swl_priv *s)
{
    double n = s->norm == NORM_FULL ? (double)(s->outer * s->inner)
             : s->norm == NORM_VALID ? (double)s->valid
             : s->norm == NORM_BATCH_SIZE ? (double)s->outer
             : 1.0;
    return n < 1 ? 1 : n;
}

static int swl_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    swl_priv *s = l->priv;
    cf_blob *pb = prob_blob(l, top, nt);
    if (s->softmax.ops->forward(&s->softmax, bottom, 1, &pb, 1, err)) return -1;
    const float *p = cf_blob_data(pb), *label = cf_blob_data(bottom[1]);
    double loss = 0;
    s->valid = 0;
    for (size_t o = 0; o < s->outer; o++)
        for (size_t i = 0; i < s->inner; i++) {
            size_t at = o * s->inner + i;
            bool use;
            if (check_label(l, label[at], at, &use, err)) return -1;
            if (!use) continue;
            size_t c = (size_t)label[at];
            loss -= weight_at(s, c, i) * log(fmaxf(p[(o * s->C + c) * s->inner + i], FLT_MIN));
            s->valid++;
        }
    cf_blob_mdata(top[0])[0] = (float)(loss / normalizer(s));
    return 0;
}

static void swl_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    swl_priv *s = l->priv;
    if (!prop[0]) return; /* labels (bottom 1) never get a gradient */
    cf_blob *pb = prob_blob(l, top, nt);
    const float *label = cf_blob_data(bottom[1]);
    float *dx = cf_blob_mdiff(bottom[0]);
    cf_copy(l->be, bottom[0]->count, cf_blob_data(pb), dx);
    for (size_t o = 0; o < s->outer; o++)
        for (size_t i = 0; i < s->inner; i++) {
            size_t at = o * s->inner + i;
            bool use;
            if (check_label(l, label[at], at, &use, NULL)) use = false; /* forward has refused it already */
            float *d = dx + o * s->C * s->inner + i;
            if (use) {
                size_t y = (size_t)label[at];
                d[y * s->inner] -= 1;
                if (s->ncw) {
                    float w = weight_at(s, y, i);
                    for (size_t c = 0; c < s->C; c++) d[c * s->inner] *= w;
                }
            } else {
                for (size_t c = 0; c < s->C; c++) d[c * s->inner] = 0;
            }
        }
    float scale = cf_blob_diff(top[0])[0] / (float)normalizer(s);
    cf_scal(l->be, bottom[0]->count, scale, dx);
}

static void swl_destroy(cf_layer *l)
{
    swl_priv *s = l->priv;
    if (!s) return;
    if (s->softmax.ops->destroy) s->softmax.ops->destroy(&s->softmax);
    else free(s->softmax.priv);
    cf_blob_free(s->prob);
    free(s->cw);
    if (s->weight) cf_mem_unref(s->weight);
    free(s);
}

const cf_layer_ops cf_layer_SoftmaxWithLoss = {
    .type = "SoftmaxWithLoss",
    .min_bottom = 2, .max_bottom = 2,
    .min_top = 1, .max_top = 2,
    .is_loss = true,
    .setup = swl_setup,
    .reshape = swl_reshape,
    .forward = swl_forward,
    .backward = swl_backward,
    .destroy = swl_destroy,
};
