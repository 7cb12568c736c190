/* channel_pooling.c — the ChannelPooling layer (Mocha's
 * ChannelPoolingLayer, which Caffe lacks): MAX or AVE pooling across the
 * channels instead of across the image, e.g. for maxout.
 *
 * channel_pooling_param (names chosen here after Caffe's pooling_param,
 * Mocha's fields in brackets):
 *   pool         MAX | AVE (default MAX)                 [pooling]
 *   kernel_size  channels per window (default 1)         [kernel]
 *   stride       channels between windows (default 1)    [stride]
 *   pad          zero channels added before and after: one value for
 *                both ends or two (before, after); each smaller than
 *                kernel_size (default 0)                  [pad]
 *   axis         the axis pooled over (default 1, the channels of NCHW;
 *                negative counts from the end)            [channel_dim]
 * With C channels, Mocha's output count (rounding up, then dropping a
 * last window that would start in the trailing padding):
 *     Co = ceil((C + pad0 + pad1 − kernel) / stride) + 1,
 *     Co −= 1 when (Co − 1)·stride >= C + pad0
 * Window o covers channels [o·stride − pad0, o·stride − pad0 + kernel)
 * clipped to [0, C).  MAX takes the largest (the first of equal values);
 * AVE sums the window and divides by kernel_size always, padding counting
 * as zeros, as Mocha does.  Backward routes MAX's gradient to the winning
 * channel and spreads AVE's as 1/kernel_size over the window. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"

enum { CP_MAX, CP_AVE };
static const char *const pool_names[] = {"MAX", "AVE", NULL};

typedef struct {
    int pool, kernel, stride, pad[2];
    long axis_conf;
    int axis;
    size_t outer, inner;    /* count before and after the pooled axis */
    int C, Co;
    int *mask;              /* MAX: winning channel per top element */
    size_t mask_cap;
} cp_priv;

static int cp_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cp_priv *c = calloc(1, sizeof *c);
    if (!c) abort();
    l->priv = c;
    cf_node *p;
    long k, s, pad[2] = {0, 0};
    if (cf_layer_param_map(l, "channel_pooling_param", &p, err) ||
        cf_get_enum(p, "pool", pool_names, CP_MAX, &c->pool, err) ||
        cf_get_int_range(p, "kernel_size", 1, 1, INT_MAX / 4, &k, err) ||
        cf_get_int_range(p, "stride", 1, 1, INT_MAX / 4, &s, err) || cf_get_int(p, "axis", 1, &c->axis_conf, err))
        return -1;
    size_t np = cf_node_count(p, "pad");
    if (np > 2)
        return cf_layer_error(l, cf_node_at(p, "pad", 2), err,
                              "channel_pooling_param: pad takes 1 value or 2 (before, after), got %zu", np);
    for (size_t i = 0; i < np; i++)
        if (cf_get_int_at(p, "pad", i, &pad[i], err)) return -1;
    if (np == 1) pad[1] = pad[0];
    for (int i = 0; i < 2; i++)
        if (pad[i] < 0 || pad[i] >= k)
            return cf_layer_error(l, cf_node_at(p, "pad", np == 2 ? (size_t)i : 0), err,
                                  "channel_pooling_param: pad %ld must be >= 0 and smaller than kernel_size %ld",
                                  pad[i], k);
    c->kernel = (int)k, c->stride = (int)s, c->pad[0] = (int)pad[0], c->pad[1] = (int)pad[1];
    return 0;
}

static int cp_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cp_priv *c = l->priv;
    const cf_blob *b = bottom[0];
    if (c->axis_conf < INT_MIN || c->axis_conf > INT_MAX || cf_blob_axis(b, (int)c->axis_conf, &c->axis, NULL))
        return cf_layer_error(l, cf_node_get(cf_node_get(l->conf, "channel_pooling_param"), "axis"), err,
                              "channel_pooling_param: axis %ld is out of range for a bottom with %d axes",
                              c->axis_conf, b->naxes);
    c->C = b->shape[c->axis];
    long span = (long)c->C + c->pad[0] + c->pad[1] - c->kernel;
    if (span < 0)
        return cf_layer_error(l, NULL, err,
                              "channel_pooling_param: kernel_size %d is larger than the %d channels plus padding",
                              c->kernel, c->C);
    long co = (span + c->stride - 1) / c->stride + 1;
    if ((co - 1) * c->stride >= (long)c->C + c->pad[0]) co--;
    c->Co = (int)co;
    c->outer = cf_blob_count_range(b, 0, c->axis);
    c->inner = cf_blob_count_range(b, c->axis + 1, b->naxes);
    int shape[CF_MAX_AXES];
    for (int i = 0; i < b->naxes; i++) shape[i] = b->shape[i];
    shape[c->axis] = c->Co;
    if (cf_blob_reshape(top[0], b->naxes, shape, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    if (c->pool == CP_MAX && top[0]->count > c->mask_cap) {
        int *m = realloc(c->mask, top[0]->count * sizeof *m);
        if (!m) return cf_layer_error(l, NULL, err, "out of memory for the mask");
        c->mask = m;
        c->mask_cap = top[0]->count;
    }
    return 0;
}

/* Window o's channels [*lo, *hi). */
static void window(const cp_priv *c, int o, int *lo, int *hi)
{
    int s = o * c->stride - c->pad[0];
    *hi = s + c->kernel < c->C ? s + c->kernel : c->C;
    *lo = s > 0 ? s : 0;
}

static int cp_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cp_priv *c = l->priv;
    const float *x = cf_blob_data(bottom[0]);
    float *y = cf_blob_mdata(top[0]);
    size_t in = c->inner;
    for (size_t o = 0; o < c->outer; o++)
        for (int q = 0; q < c->Co; q++) {
            int lo, hi;
            window(c, q, &lo, &hi);
            const float *xb = x + o * c->C * in;
            float *yq = y + (o * c->Co + q) * in;
            if (c->pool == CP_MAX) {
                int *m = c->mask + (o * c->Co + q) * in;
                for (size_t j = 0; j < in; j++) yq[j] = xb[(size_t)lo * in + j], m[j] = lo;
                for (int ch = lo + 1; ch < hi; ch++)
                    for (size_t j = 0; j < in; j++)
                        if (xb[(size_t)ch * in + j] > yq[j]) yq[j] = xb[(size_t)ch * in + j], m[j] = ch;
            } else {
                memset(yq, 0, in * sizeof(float));
                for (int ch = lo; ch < hi; ch++)
                    for (size_t j = 0; j < in; j++) yq[j] += xb[(size_t)ch * in + j];
                for (size_t j = 0; j < in; j++) yq[j] /= (float)c->kernel;
            }
        }
    return 0;
}

static void cp_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    cp_priv *c = l->priv;
    const float *dy = cf_blob_diff(top[0]);
    float *dx = cf_blob_mdiff(bottom[0]);
    size_t in = c->inner;
    memset(dx, 0, bottom[0]->count * sizeof(float));
    for (size_t o = 0; o < c->outer; o++)
        for (int q = 0; q < c->Co; q++) {
            const float *dq = dy + (o * c->Co + q) * in;
            float *db = dx + o * c->C * in;
            if (c->pool == CP_MAX) {
                const int *m = c->mask + (o * c->Co + q) * in;
                for (size_t j = 0; j < in; j++) db[(size_t)m[j] * in + j] += dq[j];
                continue;
            }
            int lo, hi;
            window(c, q, &lo, &hi);
            for (int ch = lo; ch < hi; ch++)
                for (size_t j = 0; j < in; j++) db[(size_t)ch * in + j] += dq[j] / (float)c->kernel;
        }
}

static void cp_destroy(cf_layer *l)
{
    cp_priv *c = l->priv;
    if (!c) return;
    free(c->mask);
    free(c);
}

const cf_layer_ops cf_layer_ChannelPooling = {
    .type = "ChannelPooling",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .setup = cp_setup,
    .reshape = cp_reshape,
    .forward = cp_forward,
    .backward = cp_backward,
    .destroy = cp_destroy,
};
