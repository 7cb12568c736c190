/* convolution.c — Caffe's Convolution layer (convolution_param): 2-D
 * convolution of NCHW bottoms with learnt filters, in groups, with padding,
 * stride and dilation.
 *
 * Shapes (Caffe's):
 *   weights [M, C/G, kh, kw], bias [M]      M = num_output, G = group
 *   top     [N, M, Ho, Wo]   Ho = (H + 2ph − (dh(kh−1) + 1)) / sh + 1
 *
 * Our own code lowers the minibatch in chunks of B images.  im2col lays
 * a chunk out as col[K][B·P] (K = C·kh·kw, P = Ho·Wo), so each group g is
 * a single gemm over the chunk:
 *     Y_g[M/G × B·P] = W_g[M/G × K/G] · col_g[K/G × B·P]
 * B is as many images as keep col within CHUNK_FLOATS (512 KiB: the
 * column buffer then stays in the core's L2 cache between im2col and the
 * gemm, where lowering the whole batch at once streamed 30 MB through
 * memory for CIFAR's conv1 and im2col took a fifth of the iteration); at
 * least one image, at most the batch (LeNet's conv2, P = 64, takes 4).
 * With B = 1, Y's layout [M][P] is the top image's own: the gemm writes
 * the top and the bias is added in place.  With B > 1, Y is laid out
 * [M][B·P] and one parallel pass scatters it to top[n][M][P] adding the
 * bias.  Backward mirrors it: the bias gradient is the row sums of the
 * top diff (one pass over it, summed in double); per chunk the top diff
 * is the image's own dY (B = 1) or gathered to dY[M][B·P], then per group
 *     dW_g += dY_g · col_gᵀ        dcol_g = W_gᵀ · dY_g
 * and col2im folds dcol back into the chunk's bottom diff; dcol reuses the
 * col buffer once the chunk's weight gradient is taken.  The layer holds
 * one column buffer and one [M][B·P] buffer, grown in reshape only.
 *
 * With a 1×1 kernel at stride 1 and no padding and B = 1, col is the
 * bottom image itself: no lowering.
 *
 * Several bottoms are allowed (as Caffe): each is convolved with the same
 * filters into the top at the same index; all must have one shape.
 *
 * With oneDNN (dnnl_layers.h) both passes run as its convolution
 * primitives instead, and the lowering buffers above are not even made
 * (unless oneDNN fails and this code has to take over) — except the
 * weight gradient of a layer with one or two input channels per group
 * (a first layer), which oneDNN leaves to this code (dnnl_conv.c says
 * why).  The plan gets the blobs, not their NCHW pointers, so that it can
 * keep the top and the bottom diff in its blocked layouts (dnnl_layers.h);
 * our own code reads them through cf_blob_data / cf_blob_diff, which
 * reorder them back when needed. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_geom.h"
#include "dnnl/dnnl_layers.h"
#include "layer.h"

/* Floats of column buffer per chunk (see the top comment). */
#define CHUNK_FLOATS ((size_t)1 << 17)

typedef struct {
    int M, G, C;            /* num_output, group, channels fixed at setup */
    bool bias_term;
    cf_conv_geom g;         /* geometry of the current bottom shape */
    int B;                  /* images per chunk */
    bool direct;            /* 1×1, stride 1, no pad, B = 1: col = bottom image */
    cf_mem *col;            /* [K][B·P] columns, reused as dcol in backward */
    cf_mem *y;              /* [M][B·P] output (forward) or top diff (backward), when B > 1 */
    cf_dnnl_conv *dn;       /* oneDNN plan for the current shape, or NULL */
} conv_priv;

/* ---- parameters ---- */

static const char *const engines[] = {"DEFAULT", "CAFFE", "CUDNN", NULL};

static int conv_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    if (nb != nt)
        return cf_layer_error(l, NULL, err, "Convolution needs as many tops as bottoms (%d bottoms, %d tops)", nb,
                              nt);
    if (bottom[0]->naxes != 4) {
        char s[128];
        return cf_layer_error(l, NULL, err, "Convolution needs a 4-D bottom (N, C, H, W), got shape %s",
                              cf_blob_shape_str(bottom[0], s, sizeof s));
    }
    cf_node *p;
    if (cf_layer_param_map(l, "convolution_param", &p, err)) return -1;
    long M, G, axis;
    bool bias_term, nd;
    int engine, k[2], pad[2], stride[2], dil[2];
    if (!cf_node_has(p, "num_output"))
        return cf_layer_error(l, p, err, "convolution_param: field 'num_output' is missing");
    if (cf_get_int_range(p, "num_output", 0, 1, LONG_MAX, &M, err) ||
        cf_get_int_range(p, "group", 1, 1, LONG_MAX, &G, err) || cf_get_bool(p, "bias_term", true, &bias_term, err) ||
        cf_get_int(p, "axis", 1, &axis, err) || cf_get_enum(p, "engine", engines, 0, &engine, err) ||
        cf_get_bool(p, "force_nd_im2col", false, &nd, err))
        return -1;
    if (cf_conv_read_hw(l, p, "kernel_size", "kernel_h", "kernel_w", -1, -1, 1, k, err) ||
        cf_conv_read_hw(l, p, "pad", "pad_h", "pad_w", 0, 0, 0, pad, err) ||
        cf_conv_read_hw(l, p, "stride", "stride_h", "stride_w", 1, -1, 1, stride, err) ||
        cf_conv_read_hw(l, p, "dilation", NULL, NULL, 1, -1, 1, dil, err))
        return -1;
    /* Caffe convolves over the axes after `axis`; we do 2-D NCHW only. */
    if (axis != 1 && axis != -3)
        return cf_layer_error(l, cf_node_get(p, "axis"), err,
                              "only axis 1 (channels of an NCHW bottom) is supported, got %ld", axis);
    int C = bottom[0]->shape[1];
    if (M > INT_MAX / 4) return cf_layer_error(l, cf_node_get(p, "num_output"), err, "num_output %ld is too large", M);
    if (C % G)
        return cf_layer_error(l, cf_node_get(p, "group"), err, "bottom channels (%d) must be divisible by group (%ld)",
                              C, G);
    if (M % G)
        return cf_layer_error(l, cf_node_get(p, "group"), err, "num_output (%ld) must be divisible by group (%ld)",
                              M, G);

    conv_priv *c = calloc(1, sizeof *c);
    if (!c) return cf_layer_error(l, NULL, err, "out of memory");
    l->priv = c;
    c->M = (int)M;
    c->G = (int)G;
    c->C = C;
    c->bias_term = bias_term;
    c->g = (cf_conv_geom){.C = C, .kh = k[0], .kw = k[1], .ph = pad[0], .pw = pad[1],
                          .sh = stride[0], .sw = stride[1], .dh = dil[0], .dw = dil[1]};
    c->col = cf_mem_new();
    c->y = cf_mem_new();

    /* Caffe's default filler for both is constant 0. */
    cf_node *wf, *bf;
    int wshape[4] = {c->M, C / c->G, k[0], k[1]};
    if (cf_get_map(p, "weight_filler", &wf, err) || cf_get_map(p, "bias_filler", &bf, err)) return -1;
    cf_blob *w = cf_layer_add_param(l, 4, wshape, err);
    if (!w || cf_fill(w, wf, "constant", l->rng, err)) return -1;
    if (bias_term) {
        cf_blob *b = cf_layer_add_param(l, 1, &c->M, err);
        if (!b || cf_fill(b, bf, "constant", l->rng, err)) return -1;
    } else if (bf) {
        cf_node_mark_used(bf); /* Caffe ignores it too */
    }
    return 0;
}

/* The column and output buffers of our own code, for the current shape. */
static int lowering_buffers(cf_layer *l, cf_error *err)
{
    conv_priv *c = l->priv;
    const cf_conv_geom *g = &c->g;
    size_t BP = (size_t)c->B * g->Ho * g->Wo, K = (size_t)g->C * g->kh * g->kw;
    if (!c->direct && BP > 0) {
        if (!cf_mem_host(c->col, K * BP)) return cf_layer_error(l, NULL, err, "out of memory for the column buffer");
        if (c->B > 1 && !cf_mem_host(c->y, (size_t)c->M * BP))
            return cf_layer_error(l, NULL, err, "out of memory for the output buffer");
    }
    return 0;
}

static int conv_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    conv_priv *c = l->priv;
    char s[128], s2[128];
    const cf_blob *b0 = bottom[0];
    if (b0->naxes != 4)
        return cf_layer_error(l, NULL, err, "Convolution needs a 4-D bottom (N, C, H, W), got shape %s",
                              cf_blob_shape_str(b0, s, sizeof s));
    if (b0->shape[1] != c->C)
        return cf_layer_error(l, NULL, err, "bottom has %d channels, but the layer was set up for %d",
                              b0->shape[1], c->C);
    for (int i = 1; i < nb; i++)
        if (!cf_blob_same_shape(bottom[i], b0))
            return cf_layer_error(l, NULL, err, "all bottoms must have one shape: bottom 0 is %s, bottom %d is %s",
                                  cf_blob_shape_str(b0, s, sizeof s), i, cf_blob_shape_str(bottom[i], s2, sizeof s2));
    cf_conv_geom *g = &c->g;
    g->N = b0->shape[0];
    g->H = b0->shape[2];
    g->W = b0->shape[3];
    long ekh = (long)g->dh * (g->kh - 1) + 1, ekw = (long)g->dw * (g->kw - 1) + 1;
    if ((long)g->H + 2L * g->ph < ekh || (long)g->W + 2L * g->pw < ekw)
        return cf_layer_error(l, NULL, err,
                              "kernel %ldx%ld (with dilation) is bigger than the padded input %ldx%ld",
                              ekh, ekw, (long)g->H + 2L * g->ph, (long)g->W + 2L * g->pw);
    cf_conv_geom_out(g);
    size_t P = (size_t)g->Ho * g->Wo, NP = (size_t)g->N * P, K = (size_t)g->C * g->kh * g->kw;
    if (NP > INT_MAX || K > INT_MAX || (NP && K > CF_MAX_COUNT / NP) || (NP && (size_t)c->M > CF_MAX_COUNT / NP))
        return cf_layer_error(l, NULL, err, "bottom %s is too large to convolve in one batch",
                              cf_blob_shape_str(b0, s, sizeof s));
    for (int i = 0; i < nt; i++)
        if (cf_blob_reshape4(top[i], g->N, c->M, g->Ho, g->Wo, err)) return cf_error_ctx(err, "layer '%s'", l->name);

    size_t per_image = K * P > 0 ? K * P : 1;
    c->B = per_image >= CHUNK_FLOATS ? 1 : (int)(CHUNK_FLOATS / per_image);
    if (c->B > g->N) c->B = g->N > 0 ? g->N : 1;
    c->direct = c->B == 1 && g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
    if (cf_dnnl_on(l->be))
        c->dn = cf_dnnl_conv_plan(c->dn, l->be, g, c->M, c->G, c->bias_term, l->phase == CF_TRAIN);
    return c->dn && cf_dnnl_conv_weight_grad(c->dn) ? 0 : lowering_buffers(l, err);
}

/* ---- forward ---- */

/* One chunk: images [n0, n0 + nb) of the bottom. */
typedef struct {
    int n0, nb;
    cf_conv_geom g;     /* the layer's geometry with N = nb */
    size_t cols;        /* nb·P */
} chunk;

static chunk chunk_at(const conv_priv *c, int n0)
{
    chunk k = {n0, c->g.N - n0 < c->B ? c->g.N - n0 : c->B, c->g, 0};
    k.g.N = k.nb;
    k.cols = (size_t)k.nb * c->g.Ho * c->g.Wo;
    return k;
}

/* The chunk's columns: the bottom images themselves (direct), or lowered
 * into the column buffer. */
static const float *chunk_columns(cf_layer *l, const chunk *k, const float *x)
{
    conv_priv *c = l->priv;
    const float *im = x + (size_t)k->n0 * c->C * c->g.H * c->g.W;
    if (c->direct) return im;
    cf_im2col(l->be, &k->g, im, c->col->host);
    return c->col->host;
}

typedef struct {
    const conv_priv *c;
    const float *y, *bias;
    float *top;
    size_t cols;
} scatter_ctx;

/* Plane q = (n, m) of the chunk's top: top[n][m][:] = Y[m][n·P:] + b[m]. */
static void scatter_planes(void *arg, size_t qb, size_t qe)
{
    scatter_ctx *k = arg;
    size_t P = (size_t)k->c->g.Ho * k->c->g.Wo;
    int M = k->c->M;
    for (size_t q = qb; q < qe; q++) {
        size_t n = q / (size_t)M, m = q % (size_t)M;
        const float *src = k->y + m * k->cols + n * P;
        float *dst = k->top + q * P;
        float b = k->bias ? k->bias[m] : 0.0f;
        for (size_t i = 0; i < P; i++) dst[i] = src[i] + b;
    }
}

static size_t plane_grain(size_t P) { return P >= 16384 ? 1 : 16384 / (P ? P : 1); }

/* Y_g = W_g · col_g for every group, over `cols` columns. */
static void gemm_groups(cf_layer *l, const float *col, float *y, size_t cols)
{
    conv_priv *c = l->priv;
    const cf_conv_geom *g = &c->g;
    int Mg = c->M / c->G, Kg = g->C / c->G * g->kh * g->kw;
    const float *w = cf_blob_data(l->param[0]);
    for (int gi = 0; gi < c->G; gi++)
        cf_gemm(l->be, false, false, Mg, (int)cols, Kg, 1.0f, w + (size_t)gi * Mg * Kg, col + (size_t)gi * Kg * cols,
                0.0f, y + (size_t)gi * Mg * cols);
}

/* Our own forward of one bottom. */
static void own_forward(cf_layer *l, const float *x, float *t, const float *bias)
{
    conv_priv *c = l->priv;
    size_t P = (size_t)c->g.Ho * c->g.Wo;
    for (int n0 = 0; n0 < c->g.N; n0 += c->B) {
        chunk k = chunk_at(c, n0);
        const float *col = chunk_columns(l, &k, x);
        float *tn = t + (size_t)n0 * c->M * P;
        if (k.nb == 1) {
            /* Y's layout [M][P] is the top image's: write it in place. */
            gemm_groups(l, col, tn, k.cols);
            if (bias)
                for (int m = 0; m < c->M; m++)
                    for (size_t j = 0; j < P; j++) tn[(size_t)m * P + j] += bias[m];
        } else {
            gemm_groups(l, col, c->y->host, k.cols);
            scatter_ctx sc = {c, c->y->host, bias, tn, k.cols};
            cf_parallel_for(l->be, (size_t)k.nb * c->M, plane_grain(P), scatter_planes, &sc);
        }
    }
}

static int conv_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    conv_priv *c = l->priv;
    const cf_conv_geom *g = &c->g;
    size_t P = (size_t)g->Ho * g->Wo;
    if (P * g->N == 0) return 0;
    const float *bias = c->bias_term ? cf_blob_data(l->param[1]) : NULL;
    for (int i = 0; i < nb; i++) {
        if (c->dn) {
            /* blobs, not pointers: the plan may read and write their
             * blocked sides (dnnl_layers.h) */
            if (cf_dnnl_conv_forward_blob(c->dn, bottom[i], cf_blob_data(l->param[0]), bias, top[i]) == 0) continue;
            /* oneDNN failed: our own code from here on (a later reshape
             * tries oneDNN again) */
            cf_dnnl_conv_free(c->dn);
            c->dn = NULL;
            if (lowering_buffers(l, err)) return -1;
        }
        own_forward(l, cf_blob_data(bottom[i]), cf_blob_mdata(top[i]), bias);
    }
    return 0;
}

/* ---- backward ---- */

typedef struct {
    const conv_priv *c;
    const float *tdiff;
    float *dy, *dbias;
    int nb;             /* images in tdiff */
    size_t cols;
} gather_ctx;

/* Row m: dY[m][n·P:] = top_diff[n][m][:] for the chunk (dy set), or
 * db[m] += the sum of row m over every image (dbias set). */
static void gather_rows(void *arg, size_t mb, size_t me)
{
    gather_ctx *k = arg;
    const cf_conv_geom *g = &k->c->g;
    size_t P = (size_t)g->Ho * g->Wo;
    int M = k->c->M;
    for (size_t m = mb; m < me; m++) {
        double s = 0;
        for (int n = 0; n < k->nb; n++) {
            const float *src = k->tdiff + ((size_t)n * M + m) * P;
            if (k->dy) memcpy(k->dy + m * k->cols + (size_t)n * P, src, P * sizeof(float));
            if (k->dbias)
                for (size_t j = 0; j < P; j++) s += src[j];
        }
        if (k->dbias) k->dbias[m] += (float)s;
    }
}

/* Our own backward of one bottom: its diff when prop, and its share of
 * the weight and bias gradients when dw / db are given. */
static void own_backward(cf_layer *l, const float *x, const float *tdiff, float *dx, float *dw, float *db)
{
    conv_priv *c = l->priv;
    const cf_conv_geom *g = &c->g;
    int Mg = c->M / c->G, Kg = g->C / c->G * g->kh * g->kw;
    size_t P = (size_t)g->Ho * g->Wo;
    const float *w = cf_blob_data(l->param[0]);
    if (db) {
        gather_ctx k = {c, tdiff, NULL, db, g->N, 0};
        cf_parallel_for(l->be, (size_t)c->M, 1, gather_rows, &k);
    }
    if (!dw && !dx) return;
    for (int n0 = 0; n0 < g->N; n0 += c->B) {
        chunk k = chunk_at(c, n0);
        const float *tn = tdiff + (size_t)n0 * c->M * P;
        /* dY in [M][B·P]: the top diff itself for one image */
        const float *dy = tn;
        if (k.nb > 1) {
            gather_ctx gk = {c, tn, c->y->host, NULL, k.nb, k.cols};
            cf_parallel_for(l->be, (size_t)c->M, 1, gather_rows, &gk);
            dy = c->y->host;
        }
        if (dw) {
            const float *col = chunk_columns(l, &k, x);
            for (int gi = 0; gi < c->G; gi++)
                cf_gemm(l->be, false, true, Mg, Kg, (int)k.cols, 1.0f, dy + (size_t)gi * Mg * k.cols,
                        col + (size_t)gi * Kg * k.cols, 1.0f, dw + (size_t)gi * Mg * Kg);
        }
        if (!dx) continue;
        /* dcol = Wᵀ · dY, written over the columns (no longer needed) */
        float *dxn = dx + (size_t)n0 * c->C * g->H * g->W;
        float *dcol = c->direct ? dxn : c->col->host;
        for (int gi = 0; gi < c->G; gi++)
            cf_gemm(l->be, true, false, Kg, (int)k.cols, Mg, 1.0f, w + (size_t)gi * Mg * Kg,
                    dy + (size_t)gi * Mg * k.cols, 0.0f, dcol + (size_t)gi * Kg * k.cols);
        if (!c->direct) cf_col2im(l->be, &k.g, dcol, dxn);
    }
}

static void conv_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    conv_priv *c = l->priv;
    const cf_conv_geom *g = &c->g;
    if ((size_t)g->N * g->Ho * g->Wo == 0) return;
    bool dw = l->param_grad[0], db = c->bias_term && l->param_grad[1];
    const float *w = cf_blob_data(l->param[0]);
    float *wdiff = dw ? cf_blob_mdiff(l->param[0]) : NULL;
    float *bdiff = db ? cf_blob_mdiff(l->param[1]) : NULL;

    /* oneDNN first, last bottom first; bottoms i+1.. are then done except
     * for the weight and bias gradients when the plan leaves them to us */
    int i = nb - 1;
    bool own_w = c->dn && !cf_dnnl_conv_weight_grad(c->dn);
    for (; c->dn && i >= 0; i--) {
        bool wi = (dw || db) && !own_w;
        if (!wi && !prop[i]) continue;
        if (cf_dnnl_conv_backward_blob(c->dn, bottom[i], w, top[i], prop[i] ? bottom[i] : NULL, wi ? wdiff : NULL,
                                       wi ? bdiff : NULL))
            break; /* oneDNN failed: our own code takes bottoms i..0 */
    }
    if (c->dn && (i >= 0 || own_w)) {
        cf_error err;
        if (i >= 0) { /* from now on our own code, until a reshape tries oneDNN again */
            cf_dnnl_conv_free(c->dn);
            c->dn = NULL;
        }
        if (lowering_buffers(l, &err)) abort(); /* out of memory in backward: nothing to return it through */
    } else if (c->dn) {
        return;
    }

    /* Our own code: bottom b's input gradient if oneDNN did not take it
     * (b <= i), its share of the weight and bias gradients unless oneDNN
     * took them. */
    for (int b = nb - 1; b >= 0; b--) {
        bool pb = prop[b] && b <= i, wb = b <= i || own_w;
        if (!(dw && wb) && !(db && wb) && !pb) continue;
        own_backward(l, cf_blob_data(bottom[b]), cf_blob_diff(top[b]), pb ? cf_blob_mdiff(bottom[b]) : NULL,
                     dw && wb ? wdiff : NULL, db && wb ? bdiff : NULL);
    }
}

static void conv_destroy(cf_layer *l)
{
    conv_priv *c = l->priv;
    if (!c) return;
    cf_mem_unref(c->col);
    cf_mem_unref(c->y);
    cf_dnnl_conv_free(c->dn);
    free(c);
}

const cf_layer_ops cf_layer_Convolution = {
    .type = "Convolution",
    .min_bottom = 1,
    .max_bottom = -1,
    .min_top = 1,
    .max_top = -1,
    .setup = conv_setup,
    .reshape = conv_reshape,
    .forward = conv_forward,
    .backward = conv_backward,
    .destroy = conv_destroy,
};
