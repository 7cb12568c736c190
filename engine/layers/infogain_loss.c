/* infogain_loss.c — InfogainLoss (Caffe's InfogainLossLayer, in its
 * current form): SoftmaxWithLoss generalised by an "information gain"
 * matrix H (C × C) that says how much each predicted class is worth when
 * the truth is a given class.  With H = I it is SoftmaxWithLoss.
 *
 * Bottoms: scores (outer × C × inner around infogain_loss_param.axis,
 * default 1), labels (outer·inner class indices) and optionally H as a
 * third bottom; without it, H is read once from infogain_loss_param.source,
 * a BlobProto (.binaryproto) holding C·C values, row-major (H[y, k] at
 * y·C + k), of any shape (Caffe's tools write 1×1×C×C).  Tops: the loss
 * and optionally the probabilities.
 *     p = softmax of the scores along the axis
 *     loss = −Σ_valid Σ_k H[y, k] · log(max(p_k, 1e-20)) / normalizer
 * (1e-20 is Caffe's kLOG_THRESHOLD).  ignore_label and normalization
 * (default VALID) in loss_param work as in SoftmaxWithLoss; the legacy
 * loss_param.normalize is refused, as Caffe refuses it here.
 * Backward, with w = top[0].diff[0] and r_y = Σ_k H[y, k]:
 *     d score_k = (p_k · r_y − H[y, k]) · w / normalizer,
 * zero at ignored positions; labels and H get no gradient.
 *
 * Older Caffe versions took probabilities instead of scores; nets written
 * for those put a Softmax before this layer and must drop it here.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "proto/caffe.pb-c.h"

#define LOG_THRESHOLD 1e-20f
/* An H file bigger than this is not one (a C × C matrix of floats). */
#define MAX_H_BYTES ((long)1 << 30)

enum { NORM_FULL, NORM_VALID, NORM_BATCH_SIZE, NORM_NONE };
static const char *const norm_names[] = {"FULL", "VALID", "BATCH_SIZE", "NONE", NULL};

typedef struct {
    cf_layer softmax;       /* inner Softmax along our axis */
    cf_node *softmax_conf;  /* {softmax_param: {axis: A}}, what the inner layer reads */
    cf_blob *prob;          /* its top when we have no second top */
    long axis_conf;
    cf_node *axis_node;     /* where the axis was written, for errors */
    int norm;
    bool has_ignore;
    long ignore;
    float *H_file;          /* H from source (NULL with a third bottom) */
    size_t H_count;
    cf_mem *row_sum;        /* r_y = Σ_k H[y, k] */
    size_t outer, C, inner;
    size_t valid;
} ig_priv;

/* ---- H from a .binaryproto ---- */

static uint8_t *slurp(cf_layer *l, cf_node *at, const char *path, size_t *len, cf_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cf_layer_error(l, at, err, "infogain_loss_param.source '%s': %s", path, strerror(errno));
        return NULL;
    }
    long size = -1;
    if (!fseek(f, 0, SEEK_END)) size = ftell(f);
    if (size < 0 || size > MAX_H_BYTES || fseek(f, 0, SEEK_SET)) {
        fclose(f);
        cf_layer_error(l, at, err, "infogain_loss_param.source '%s': not a regular file, or too large", path);
        return NULL;
    }
    uint8_t *buf = malloc((size_t)size + 1);
    if (!buf) abort();
    *len = fread(buf, 1, (size_t)size, f);
    bool bad = ferror(f) || *len != (size_t)size;
    fclose(f);
    if (bad) {
        free(buf);
        cf_layer_error(l, at, err, "infogain_loss_param.source '%s': read error", path);
        return NULL;
    }
    return buf;
}

/* Values the blob's shape (or legacy dims) says it holds; -1 when it
 * gives none. */
static long declared_count(const Caffe__BlobProto *b)
{
    if (b->shape) {
        long n = 1;
        for (size_t i = 0; i < b->shape->n_dim; i++) n *= (long)b->shape->dim[i];
        return n;
    }
    if (!b->has_num && !b->has_channels && !b->has_height && !b->has_width) return -1;
    long d[4] = {b->has_num ? b->num : 1, b->has_channels ? b->channels : 1, b->has_height ? b->height : 1,
                 b->has_width ? b->width : 1};
    return d[0] * d[1] * d[2] * d[3];
}

static int load_H(cf_layer *l, cf_node *at, const char *path, ig_priv *s, cf_error *err)
{
    size_t len;
    uint8_t *buf = slurp(l, at, path, &len, err);
    if (!buf) return -1;
    Caffe__BlobProto *b = caffe__blob_proto__unpack(NULL, len, buf);
    free(buf);
    if (!b) return cf_layer_error(l, at, err, "infogain_loss_param.source '%s' is not a BlobProto (.binaryproto)", path);
    size_t n = b->n_data ? b->n_data : b->n_double_data;
    long want = declared_count(b);
    int rc = 0;
    if (want >= 0 && (size_t)want != n)
        rc = cf_layer_error(l, at, err, "infogain_loss_param.source '%s': its shape says %ld values but it holds %zu",
                            path, want, n);
    else if (n == 0)
        rc = cf_layer_error(l, at, err, "infogain_loss_param.source '%s' holds no values", path);
    if (!rc) {
        s->H_file = malloc(n * sizeof *s->H_file);
        if (!s->H_file) abort();
        for (size_t i = 0; i < n; i++) s->H_file[i] = b->n_data ? b->data[i] : (float)b->double_data[i];
        s->H_count = n;
    }
    caffe__blob_proto__free_unpacked(b, NULL);
    return rc;
}

/* ---- the layer ---- */

static cf_blob *prob_blob(cf_layer *l, cf_blob **top, int nt)
{
    ig_priv *s = l->priv;
    return nt > 1 ? top[1] : s->prob;
}

/* The inner Softmax reads softmax_param.axis from its config: give it one
 * holding our axis, placed at our layer for any message. */
static cf_node *softmax_conf(const cf_layer *l, long axis)
{
    const cf_node *c = l->conf;
    const char *file = c ? c->file : NULL;
    int line = c ? c->line : 0, col = c ? c->col : 0;
    char v[32];
    snprintf(v, sizeof v, "%ld", axis);
    cf_node *root = cf_node_new(CF_NODE_MAP, file, line, col), *sp = cf_node_new(CF_NODE_MAP, file, line, col);
    cf_node_add(sp, "axis", cf_node_scalar(v, false, file, line, col));
    cf_node_add(root, "softmax_param", sp);
    return root;
}

static int ig_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    ig_priv *s = calloc(1, sizeof *s);
    if (!s) abort();
    l->priv = s;
    s->prob = cf_blob_new("prob");
    s->row_sum = cf_mem_new();

    cf_node *ip, *lp;
    const char *source;
    if (cf_layer_param_map(l, "infogain_loss_param", &ip, err) || cf_get_string(ip, "source", "", &source, err) ||
        cf_get_int(ip, "axis", 1, &s->axis_conf, err))
        return -1;
    s->axis_node = cf_node_get(ip, "axis");
    if (cf_layer_param_map(l, "loss_param", &lp, err)) return -1;
    s->has_ignore = cf_node_has(lp, "ignore_label");
    if (cf_get_int(lp, "ignore_label", -1, &s->ignore, err) ||
        cf_get_enum(lp, "normalization", norm_names, NORM_VALID, &s->norm, err))
        return -1;
    if (cf_node_has(lp, "normalize"))
        return cf_layer_error(l, cf_node_get(lp, "normalize"), err,
                              "InfogainLoss does not take the legacy loss_param.normalize: use normalization "
                              "(VALID, FULL, BATCH_SIZE or NONE)");
    if (nb < 3) {
        if (!source[0])
            return cf_layer_error(l, NULL, err,
                                  "InfogainLoss needs the infogain matrix H: give infogain_loss_param.source "
                                  "(a .binaryproto) or H as a third bottom");
        if (load_H(l, cf_node_get(ip, "source"), source, s, err)) return -1;
    }

    s->softmax_conf = softmax_conf(l, s->axis_conf);
    s->softmax = (cf_layer){.ops = cf_layer_find("Softmax"), .name = l->name, .conf = s->softmax_conf,
                            .phase = l->phase, .be = l->be, .rng = l->rng};
    cf_blob *ptop = prob_blob(l, top, nt);
    return s->softmax.ops->setup(&s->softmax, bottom, 1, &ptop, 1, err);
}

static int ig_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    ig_priv *s = l->priv;
    int axis;
    if (cf_blob_axis(bottom[0], (int)s->axis_conf, &axis, NULL))
        return cf_layer_error(l, s->axis_node, err, "infogain_loss_param.axis %ld is out of range for a bottom with %d axes",
                              s->axis_conf, bottom[0]->naxes);
    cf_blob *ptop = prob_blob(l, top, nt);
    if (s->softmax.ops->reshape(&s->softmax, bottom, 1, &ptop, 1, err)) return -1;
    s->outer = cf_blob_count_range(bottom[0], 0, axis);
    s->C = (size_t)bottom[0]->shape[axis];
    s->inner = cf_blob_count_range(bottom[0], axis + 1, bottom[0]->naxes);
    char a[128], b[128];
    if (bottom[1]->count != s->outer * s->inner)
        return cf_layer_error(l, NULL, err,
                              "label count %zu does not match the %zu predictions (scores %s, labels %s): "
                              "labels need one class index per position outside infogain axis %d",
                              bottom[1]->count, s->outer * s->inner, cf_blob_shape_str(bottom[0], a, sizeof a),
                              cf_blob_shape_str(bottom[1], b, sizeof b), axis);
    size_t hc = nb > 2 ? bottom[2]->count : s->H_count;
    if (hc != s->C * s->C)
        return cf_layer_error(l, NULL, err, "the infogain matrix H has %zu values (%s): it must be %zu × %zu, one row and "
                              "column per class",
                              hc, nb > 2 ? cf_blob_shape_str(bottom[2], b, sizeof b) : "from infogain_loss_param.source",
                              s->C, s->C);
    if (!cf_mem_host(s->row_sum, s->C + 1)) return cf_layer_error(l, NULL, err, "out of memory");
    return cf_blob_reshape(top[0], 0, NULL, err);
}

static const float *H_of(const ig_priv *s, cf_blob **bottom, int nb)
{
    return nb > 2 ? cf_blob_data(bottom[2]) : s->H_file;
}

static int check_label(cf_layer *l, float v, size_t at, bool *use, cf_error *err)
{
    ig_priv *s = l->priv;
    if (v != floorf(v))
        return cf_layer_error(l, NULL, err, "label %g at position %zu is not a whole class index", v, at);
    *use = !(s->has_ignore && v == (float)s->ignore);
    if (*use && !(v >= 0 && v < (float)s->C))
        return cf_layer_error(l, NULL, err, "label %g at position %zu is out of range [0, %zu)", v, at, s->C);
    return 0;
}

static double normalizer(const ig_priv *s)
{
    double n = s->norm == NORM_FULL ? (double)(s->outer * s->inner)
             : s->norm == NORM_VALID ? (double)s->valid
             : s->norm == NORM_BATCH_SIZE ? (double)s->outer
             : 1.0;
    return n < 1 ? 1 : n;
}

static int ig_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    ig_priv *s = l->priv;
    cf_blob *pb = prob_blob(l, top, nt);
    if (s->softmax.ops->forward(&s->softmax, bottom, 1, &pb, 1, err)) return -1;
    const float *p = cf_blob_data(pb), *label = cf_blob_data(bottom[1]), *H = H_of(s, bottom, nb);
    size_t C = s->C, inner = s->inner;
    double loss = 0;
    s->valid = 0;
    for (size_t o = 0; o < s->outer; o++)
        for (size_t i = 0; i < inner; i++) {
            size_t at = o * inner + i;
            bool use;
            if (check_label(l, label[at], at, &use, err)) return -1;
            if (!use) continue;
            const float *h = H + (size_t)label[at] * C, *pp = p + o * C * inner + i;
            for (size_t k = 0; k < C; k++) loss -= h[k] * log(fmaxf(pp[k * inner], LOG_THRESHOLD));
            s->valid++;
        }
    cf_blob_mdata(top[0])[0] = (float)(loss / normalizer(s));
    return 0;
}

static void ig_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    ig_priv *s = l->priv;
    if (nb > 2 && prop[2]) /* H gets no gradient: a zero one, so nothing stale flows back */
        cf_set(l->be, bottom[2]->count, 0.0f, cf_blob_mdiff(bottom[2]));
    if (!prop[0]) return; /* labels never get a gradient */
    const float *p = cf_blob_data(prob_blob(l, top, nt)), *label = cf_blob_data(bottom[1]), *H = H_of(s, bottom, nb);
    float *r = s->row_sum->host, *dx = cf_blob_mdiff(bottom[0]);
    size_t C = s->C, inner = s->inner;
    for (size_t y = 0; y < C; y++) { /* H may be a bottom that changes: sum its rows each time */
        double sum = 0;
        for (size_t k = 0; k < C; k++) sum += H[y * C + k];
        r[y] = (float)sum;
    }
    float scale = cf_blob_diff(top[0])[0] / (float)normalizer(s);
    for (size_t o = 0; o < s->outer; o++)
        for (size_t i = 0; i < inner; i++) {
            size_t at = o * inner + i;
            bool use;
            if (check_label(l, label[at], at, &use, NULL)) use = false; /* forward has refused it already */
            const float *pp = p + o * C * inner + i;
            float *d = dx + o * C * inner + i;
            if (!use) {
                for (size_t k = 0; k < C; k++) d[k * inner] = 0;
                continue;
            }
            size_t y = (size_t)label[at];
            for (size_t k = 0; k < C; k++) d[k * inner] = (pp[k * inner] * r[y] - H[y * C + k]) * scale;
        }
}

static void ig_destroy(cf_layer *l)
{
    ig_priv *s = l->priv;
    if (!s) return;
    if (s->softmax.ops) {
        if (s->softmax.ops->destroy) s->softmax.ops->destroy(&s->softmax);
        else free(s->softmax.priv);
    }
    cf_node_free(s->softmax_conf);
    cf_blob_free(s->prob);
    cf_mem_unref(s->row_sum);
    free(s->H_file);
    free(s);
}

const cf_layer_ops cf_layer_InfogainLoss = {
    .type = "InfogainLoss",
    .min_bottom = 2, .max_bottom = 3,
    .min_top = 1, .max_top = 2,
    .is_loss = true,
    .setup = ig_setup,
    .reshape = ig_reshape,
    .forward = ig_forward,
    .backward = ig_backward,
    .destroy = ig_destroy,
};
