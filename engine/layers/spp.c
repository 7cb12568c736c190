/* spp.c — the SPP layer (Caffe's SPPLayer): spatial pyramid pooling, a
 * fixed-length vector from an image of any size.
 *
 * spp_param:
 *   pyramid_height  number of levels L (required, at least 1)
 *   pool            MAX | AVE (default MAX; STOCHASTIC is not supported)
 * Level l pools each channel over a 2^l × 2^l grid of bins with Caffe's
 * window: for an H × W bottom and b = 2^l bins,
 *     kernel = ceil(H / b),  stride = kernel,  pad = (kernel·b − H + 1) / 2
 * (and the same across W), i.e. a Pooling layer with those settings and
 * Caffe's rounding.  With L = 1 the top is that Pooling layer's output,
 * N × C × 1 × 1; with L > 1 every level's output is flattened per image
 * and the levels are joined in order: N × C·Σ_l (bins_l)².  Where a level
 * would need a pad as large as its kernel (small images, deep pyramids)
 * Caffe's Pooling check fails; here it is an error naming the level.
 *
 * The levels are real Pooling layers (the registry's ops, on config
 * trees built here), rebuilt whenever the bottom's H × W changes, all
 * reading the bottom's data through one blob that shares it; backward
 * runs each level's pooling backward and sums the bottom gradients. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"

enum { SPP_MAX, SPP_AVE, SPP_STOCHASTIC };
static const char *const pool_names[] = {"MAX", "AVE", "STOCHASTIC", NULL};

typedef struct {
    cf_node *conf;          /* the level's Pooling layer config (owned) */
    cf_layer *pool;
    cf_blob *out;           /* its top */
} spp_level;

typedef struct {
    int L, pool;
    int H, W;               /* bottom size the levels were built for (0: none yet) */
    cf_blob *in;            /* the bottom's data, with a diff of its own */
    spp_level *lv;
} spp_priv;

static int spp_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    spp_priv *s = calloc(1, sizeof *s);
    if (!s) abort();
    l->priv = s;
    cf_node *p;
    long L;
    int engine;
    static const char *const engines[] = {"DEFAULT", "CAFFE", "CUDNN", NULL};
    if (cf_layer_param_map(l, "spp_param", &p, err)) return -1;
    if (!cf_node_has(p, "pyramid_height"))
        return cf_layer_error(l, p, err, "spp_param: field 'pyramid_height' is missing");
    if (cf_get_int_range(p, "pyramid_height", 1, 1, 16, &L, err) ||
        cf_get_enum(p, "pool", pool_names, SPP_MAX, &s->pool, err) || cf_get_enum(p, "engine", engines, 0, &engine, err))
        return -1;
    if (s->pool == SPP_STOCHASTIC)
        return cf_layer_error(l, cf_node_get(p, "pool"), err, "pool: STOCHASTIC is not supported (use MAX or AVE)");
    s->L = (int)L;
    s->lv = calloc((size_t)s->L, sizeof *s->lv);
    if (!s->lv) abort();
    s->in = cf_blob_new(l->name);
    return 0;
}

static void add_scalar(cf_node *map, const char *key, const char *value, const cf_node *at)
{
    cf_node_add(map, key, cf_node_scalar(value, false, at ? at->file : NULL, at ? at->line : 0, at ? at->col : 0));
}

static void add_int(cf_node *map, const char *key, int v, const cf_node *at)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%d", v);
    add_scalar(map, key, buf, at);
}

/* Caffe's kernel and pad for b bins over n pixels. */
static void bin_window(int n, int b, int *kernel, int *pad)
{
    *kernel = (n + b - 1) / b;
    *pad = (*kernel * b - n + 1) / 2;
}

static void free_level(spp_level *v)
{
    cf_layer_free(v->pool);
    cf_node_free(v->conf);
    cf_blob_free(v->out);
    memset(v, 0, sizeof *v);
}

/* (Re)build level i's Pooling layer for the bottom's current size. */
static int build_level(cf_layer *l, spp_priv *s, int i, cf_error *err)
{
    spp_level *v = &s->lv[i];
    int b = 1 << i, kh, ph, kw, pw;
    bin_window(s->H, b, &kh, &ph);
    bin_window(s->W, b, &kw, &pw);
    if (ph >= kh || pw >= kw)
        return cf_layer_error(l, cf_node_get(cf_node_get(l->conf, "spp_param"), "pyramid_height"), err,
                              "spp_param: pyramid_height %d is too deep for a %dx%d bottom: level %d (%dx%d bins) "
                              "would need pad %dx%d, not smaller than its kernel %dx%d",
                              s->L, s->H, s->W, i, b, b, ph, pw, kh, kw);
    free_level(v);
    const cf_node *at = l->conf;
    char name[512];
    snprintf(name, sizeof name, "%s/pool%d", l->name, i);
    v->conf = cf_node_new(CF_NODE_MAP, at ? at->file : NULL, at ? at->line : 0, at ? at->col : 0);
    add_scalar(v->conf, "name", name, at);
    add_scalar(v->conf, "type", "Pooling", at);
    cf_node *pp = cf_node_new(CF_NODE_MAP, at ? at->file : NULL, at ? at->line : 0, at ? at->col : 0);
    cf_node_add(v->conf, "pooling_param", pp);
    add_scalar(pp, "pool", pool_names[s->pool], at);
    add_int(pp, "kernel_h", kh, at);
    add_int(pp, "kernel_w", kw, at);
    add_int(pp, "stride_h", kh, at);
    add_int(pp, "stride_w", kw, at);
    add_int(pp, "pad_h", ph, at);
    add_int(pp, "pad_w", pw, at);
    v->out = cf_blob_new(name);
    v->pool = cf_layer_create(v->conf, l->phase, l->be, l->rng, err);
    if (!v->pool || cf_layer_setup(v->pool, &s->in, 1, &v->out, 1, err)) return -1;
    return 0;
}

static int spp_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    spp_priv *s = l->priv;
    const cf_blob *b = bottom[0];
    char sh[128];
    if (b->naxes != 4 || b->shape[2] < 1 || b->shape[3] < 1)
        return cf_layer_error(l, NULL, err, "SPP needs a 4-D bottom (N, C, H, W) with H, W >= 1, got shape %s",
                              cf_blob_shape_str(b, sh, sizeof sh));
    if (cf_blob_reshape_like(s->in, b, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    cf_blob_share_data(s->in, b);
    bool rebuild = s->H != b->shape[2] || s->W != b->shape[3];
    s->H = b->shape[2], s->W = b->shape[3];
    size_t per_item = 0;
    for (int i = 0; i < s->L; i++) {
        spp_level *v = &s->lv[i];
        if (rebuild || !v->pool) {
            if (build_level(l, s, i, err)) {
                s->H = s->W = 0; /* build again next time */
                return -1;
            }
        } else if (v->pool->ops->reshape(v->pool, &s->in, 1, &v->out, 1, err)) {
            return -1;
        }
        per_item += cf_blob_count_range(v->out, 1, 4);
    }
    if (s->L == 1) return cf_blob_reshape_like(top[0], s->lv[0].out, err) ? cf_error_ctx(err, "layer '%s'", l->name) : 0;
    if (per_item > INT_MAX) return cf_layer_error(l, NULL, err, "the pyramid has too many bins per item");
    int shape[2] = {b->shape[0], (int)per_item};
    if (cf_blob_reshape(top[0], 2, shape, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    return 0;
}

/* Copy between the levels' outputs and the joined top, image by image:
 * into the top when forward, from it when not. */
static void join(spp_priv *s, int N, float *topbuf, bool forward)
{
    size_t total = 0;
    for (int i = 0; i < s->L; i++) total += cf_blob_count_range(s->lv[i].out, 1, 4);
    size_t off = 0;
    for (int i = 0; i < s->L; i++) {
        cf_blob *o = s->lv[i].out;
        size_t per = cf_blob_count_range(o, 1, 4);
        float *lvbuf = forward ? (float *)cf_blob_data(o) : cf_blob_mdiff(o);
        for (int n = 0; n < N; n++) {
            float *t = topbuf + (size_t)n * total + off, *v = lvbuf + (size_t)n * per;
            if (forward) memcpy(t, v, per * sizeof(float));
            else memcpy(v, t, per * sizeof(float));
        }
        off += per;
    }
}

static int spp_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    spp_priv *s = l->priv;
    for (int i = 0; i < s->L; i++) {
        spp_level *v = &s->lv[i];
        if (v->pool->ops->forward(v->pool, &s->in, 1, &v->out, 1, err)) return -1;
    }
    join(s, bottom[0]->shape[0], cf_blob_mdata(top[0]), true);
    return 0;
}

static void spp_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    spp_priv *s = l->priv;
    bool yes = true;
    join(s, bottom[0]->shape[0], (float *)cf_blob_diff(top[0]), false);
    float *dx = cf_blob_mdiff(bottom[0]);
    for (int i = 0; i < s->L; i++) {
        spp_level *v = &s->lv[i];
        v->pool->ops->backward(v->pool, &v->out, 1, &yes, &s->in, 1);
        if (i == 0) cf_copy(l->be, bottom[0]->count, cf_blob_diff(s->in), dx);
        else cf_axpy(l->be, bottom[0]->count, 1.0f, cf_blob_diff(s->in), dx);
    }
}

static void spp_destroy(cf_layer *l)
{
    spp_priv *s = l->priv;
    if (!s) return;
    for (int i = 0; s->lv && i < s->L; i++) free_level(&s->lv[i]);
    free(s->lv);
    cf_blob_free(s->in);
    free(s);
}

const cf_layer_ops cf_layer_SPP = {
    .type = "SPP",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .setup = spp_setup,
    .reshape = spp_reshape,
    .forward = spp_forward,
    .backward = spp_backward,
    .destroy = spp_destroy,
};
