/* deconvolution.c — Caffe's Deconvolution layer (convolution_param, as
 * Convolution): the transpose of a convolution, which upsamples.
 *
 * Shapes (Caffe's, C = bottom channels, M = num_output, G = group):
 *   weights [C, M/G, kh, kw], bias [M]
 *   top     [N, M, Ho, Wo]   Ho = sh(H − 1) + dh(kh − 1) + 1 − 2ph
 * Every bottom pixel x[n][c][y][x] spreads x · w[c][m][i][j] onto
 * top[n][m][y·sh − ph + i·dh][x·sw − pw + j·dw] (dropped outside the top),
 * over the channels m of c's group, plus b[m].
 *
 * That is Convolution's backward pass for the data, run forward: seen as
 * a convolution of the top's shape (M channels, Ho × Wo) down to the
 * bottom's (the geometry gives back H × W exactly), with the bottom read
 * as X[C][N·P] (P = H·W) and K = M·kh·kw,
 *     col_g[K/G × N·P] = W_gᵀ · X_g        top = col2im(col) + b
 * where W_g is the [C/G × K/G] block of group g.  Backward is that
 * convolution's forward pass: dcol = im2col(top diff), then
 *     dW_g += X_g · dcol_gᵀ     dX_g = W_g · dcol_g     db[m] += Σ top diff
 * Both run over the whole minibatch at once; X and dX move between the
 * bottom's [N][C][P] and [C][N·P] through one buffer (skipped for N = 1).
 *
 * Several bottoms are allowed (as Caffe): each goes through the same
 * filters into the top at the same index; all must have one shape.
 *
 * With oneDNN (dnnl_layers.h) all passes run as its deconvolution
 * primitives (dnnl_deconv.c), and the column buffers above are made only
 * when this code runs (no plan, or oneDNN failed). */
#include <assert.h>
#include <limits.h>
#include <stdlib.h>

#include "conv_geom.h"
#include "dnnl/dnnl_layers.h"
#include "layer.h"

typedef struct {
    int M, G, C;            /* num_output, group, bottom channels */
    bool bias_term;
    cf_conv_geom g;         /* the convolution from the top's shape down to the bottom's */
    int H, W;               /* bottom spatial size */
    cf_mem *col;            /* [M·kh·kw][N·P] */
    cf_mem *x;              /* [C][N·P]: bottom data, then bottom diff */
    cf_dnnl_deconv *dn;     /* oneDNN plan for the current shape, or NULL */
} deconv_priv;

static const char *const engines[] = {"DEFAULT", "CAFFE", "CUDNN", NULL};

static int deconv_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    char s[128];
    if (nb != nt)
        return cf_layer_error(l, NULL, err, "Deconvolution needs as many tops as bottoms (%d bottoms, %d tops)", nb,
                              nt);
    if (bottom[0]->naxes != 4)
        return cf_layer_error(l, NULL, err, "Deconvolution needs a 4-D bottom (N, C, H, W), got shape %s",
                              cf_blob_shape_str(bottom[0], s, sizeof s));
    cf_node *p, *wf, *bf;
    long M, G, axis;
    bool bias_term, nd;
    int engine;
    cf_conv_geom g = {0};
    if (cf_layer_param_map(l, "convolution_param", &p, err)) return -1;
    if (!cf_node_has(p, "num_output"))
        return cf_layer_error(l, p, err, "convolution_param: field 'num_output' is missing");
    if (cf_get_int_range(p, "num_output", 0, 1, LONG_MAX, &M, err) ||
        cf_get_int_range(p, "group", 1, 1, LONG_MAX, &G, err) || cf_get_bool(p, "bias_term", true, &bias_term, err) ||
        cf_get_int(p, "axis", 1, &axis, err) || cf_get_enum(p, "engine", engines, 0, &engine, err) ||
        cf_get_bool(p, "force_nd_im2col", false, &nd, err) || cf_conv_read_window(l, p, &g, err) ||
        cf_get_map(p, "weight_filler", &wf, err) || cf_get_map(p, "bias_filler", &bf, err))
        return -1;
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

    deconv_priv *d = calloc(1, sizeof *d);
    if (!d) return cf_layer_error(l, NULL, err, "out of memory");
    l->priv = d;
    d->M = (int)M, d->G = (int)G, d->C = C;
    d->bias_term = bias_term;
    d->g = g;
    d->g.C = d->M;
    d->col = cf_mem_new();
    d->x = cf_mem_new();

    /* Caffe's default filler for both is constant 0. */
    int wshape[4] = {C, d->M / d->G, g.kh, g.kw};
    cf_blob *w = cf_layer_add_param(l, 4, wshape, err);
    if (!w || cf_fill(w, wf, "constant", l->rng, err)) return -1;
    if (bias_term) {
        cf_blob *b = cf_layer_add_param(l, 1, &d->M, err);
        if (!b || cf_fill(b, bf, "constant", l->rng, err)) return -1;
    } else if (bf) {
        cf_node_mark_used(bf); /* Caffe ignores it too */
    }
    return 0;
}

/* The buffers our own passes need (reshape set the shape). */
static int lowering_buffers(cf_layer *l, cf_error *err)
{
    deconv_priv *d = l->priv;
    const cf_conv_geom *g = &d->g;
    size_t NP = (size_t)g->N * d->H * d->W, K = (size_t)d->M * g->kh * g->kw;
    if (NP == 0) return 0;
    if (!cf_mem_host(d->col, K * NP)) return cf_layer_error(l, NULL, err, "out of memory for the column buffer");
    if (g->N > 1 && !cf_mem_host(d->x, (size_t)d->C * NP))
        return cf_layer_error(l, NULL, err, "out of memory for the input buffer");
    return 0;
}

static int deconv_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    deconv_priv *d = l->priv;
    char s[128], s2[128];
    const cf_blob *b0 = bottom[0];
    if (b0->naxes != 4)
        return cf_layer_error(l, NULL, err, "Deconvolution needs a 4-D bottom (N, C, H, W), got shape %s",
                              cf_blob_shape_str(b0, s, sizeof s));
    if (b0->shape[1] != d->C)
        return cf_layer_error(l, NULL, err, "bottom has %d channels, but the layer was set up for %d", b0->shape[1],
                              d->C);
    for (int i = 1; i < nb; i++)
        if (!cf_blob_same_shape(bottom[i], b0))
            return cf_layer_error(l, NULL, err, "all bottoms must have one shape: bottom 0 is %s, bottom %d is %s",
                                  cf_blob_shape_str(b0, s, sizeof s), i, cf_blob_shape_str(bottom[i], s2, sizeof s2));
    cf_conv_geom *g = &d->g;
    d->H = b0->shape[2], d->W = b0->shape[3];
    g->N = b0->shape[0];
    long ho = (long)g->sh * (d->H - 1) + (long)g->dh * (g->kh - 1) + 1 - 2L * g->ph;
    long wo = (long)g->sw * (d->W - 1) + (long)g->dw * (g->kw - 1) + 1 - 2L * g->pw;
    if (d->H < 1 || d->W < 1 || ho < 1 || wo < 1 || ho > INT_MAX / 2 || wo > INT_MAX / 2)
        return cf_layer_error(l, NULL, err, "a %dx%d bottom gives a %ldx%ld top: the padding is too large", d->H,
                              d->W, ho, wo);
    g->H = (int)ho, g->W = (int)wo;
    cf_conv_geom_out(g);
    assert(g->Ho == d->H && g->Wo == d->W); /* the transpose maps back exactly */
    size_t NP = (size_t)g->N * d->H * d->W, K = (size_t)d->M * g->kh * g->kw;
    if (NP > INT_MAX || K > INT_MAX || (NP && K > CF_MAX_COUNT / NP) || (NP && (size_t)d->C > CF_MAX_COUNT / NP))
        return cf_layer_error(l, NULL, err, "bottom %s is too large to deconvolve in one batch",
                              cf_blob_shape_str(b0, s, sizeof s));
    for (int i = 0; i < nt; i++)
        if (cf_blob_reshape4(top[i], g->N, d->M, g->H, g->W, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    if (cf_dnnl_on(l->be)) {
        /* oneDNN sees the layer from the bottom (H × W) up to the top */
        cf_conv_geom up = *g;
        up.C = d->C, up.H = d->H, up.W = d->W, up.Ho = g->H, up.Wo = g->W;
        d->dn = cf_dnnl_deconv_plan(d->dn, l->be, &up, d->M, d->G, d->bias_term, l->phase == CF_TRAIN);
        if (d->dn) return 0;
    }
    return lowering_buffers(l, err);
}

/* The bottom as X[C][N·P]: the bottom itself for one image. */
static const float *rows_of(deconv_priv *d, const float *x)
{
    if (d->g.N == 1) return x;
    cf_batch_to_rows(d->g.N, d->C, (size_t)d->H * d->W, x, d->x->host);
    return d->x->host;
}

static int deconv_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    deconv_priv *d = l->priv;
    const cf_conv_geom *g = &d->g;
    int NP = g->N * d->H * d->W, Cg = d->C / d->G, Kg = d->M / d->G * g->kh * g->kw;
    if (NP == 0) return 0;
    const float *w = cf_blob_data(l->param[0]);
    const float *bias = d->bias_term ? cf_blob_data(l->param[1]) : NULL;
    size_t plane = (size_t)g->H * g->W;
    for (int i = 0; i < nb; i++) {
        if (d->dn) {
            if (cf_dnnl_deconv_forward(d->dn, cf_blob_data(bottom[i]), w, bias, cf_blob_mdata(top[i])) == 0) continue;
            /* oneDNN failed: our own code from here on (a later reshape
             * tries oneDNN again) */
            cf_dnnl_deconv_free(d->dn);
            d->dn = NULL;
            if (lowering_buffers(l, err)) return -1;
        }
        float *col = d->col->host;
        const float *x = rows_of(d, cf_blob_data(bottom[i]));
        for (int gi = 0; gi < d->G; gi++)
            cf_gemm(l->be, true, false, Kg, NP, Cg, 1.0f, w + (size_t)gi * Cg * Kg, x + (size_t)gi * Cg * NP, 0.0f,
                    col + (size_t)gi * Kg * NP);
        float *y = cf_blob_mdata(top[i]);
        cf_col2im(l->be, g, col, y);
        if (bias)
            for (int n = 0; n < g->N; n++)
                for (int m = 0; m < d->M; m++) {
                    float *t = y + ((size_t)n * d->M + m) * plane;
                    for (size_t j = 0; j < plane; j++) t[j] += bias[m];
                }
    }
    return 0;
}

static void deconv_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    deconv_priv *d = l->priv;
    const cf_conv_geom *g = &d->g;
    int NP = g->N * d->H * d->W, Cg = d->C / d->G, Kg = d->M / d->G * g->kh * g->kw;
    if (NP == 0) return;
    bool dw = l->param_grad[0], db = d->bias_term && l->param_grad[1];
    const float *w = cf_blob_data(l->param[0]);
    size_t plane = (size_t)g->H * g->W;
    int i = 0;
    for (; d->dn && i < nb; i++) {
        if (!dw && !db && !prop[i]) continue;
        if (cf_dnnl_deconv_backward(d->dn, cf_blob_data(bottom[i]), w, cf_blob_diff(top[i]),
                                    prop[i] ? cf_blob_mdiff(bottom[i]) : NULL, dw ? cf_blob_mdiff(l->param[0]) : NULL,
                                    db ? cf_blob_mdiff(l->param[1]) : NULL))
            break; /* oneDNN failed: our own code takes bottoms i.. */
    }
    if (i == nb) return;
    if (d->dn) {
        cf_error err;
        cf_dnnl_deconv_free(d->dn); /* until a reshape tries oneDNN again */
        d->dn = NULL;
        if (lowering_buffers(l, &err)) abort(); /* out of memory in backward: nothing to return it through */
    }
    float *col = d->col->host;
    for (; i < nb; i++) {
        const float *dy = cf_blob_diff(top[i]);
        if (db) {
            float *bd = cf_blob_mdiff(l->param[1]);
            for (int m = 0; m < d->M; m++) {
                double s = 0;
                for (int n = 0; n < g->N; n++) {
                    const float *t = dy + ((size_t)n * d->M + m) * plane;
                    for (size_t j = 0; j < plane; j++) s += t[j];
                }
                bd[m] += (float)s;
            }
        }
        if (!dw && !prop[i]) continue;
        cf_im2col(l->be, g, dy, col);
        if (dw) {
            const float *x = rows_of(d, cf_blob_data(bottom[i]));
            float *wd = cf_blob_mdiff(l->param[0]);
            for (int gi = 0; gi < d->G; gi++)
                cf_gemm(l->be, false, true, Cg, Kg, NP, 1.0f, x + (size_t)gi * Cg * NP, col + (size_t)gi * Kg * NP,
                        1.0f, wd + (size_t)gi * Cg * Kg);
        }
        if (!prop[i]) continue;
        float *dx = cf_blob_mdiff(bottom[i]), *rows = g->N == 1 ? dx : d->x->host;
        for (int gi = 0; gi < d->G; gi++)
            cf_gemm(l->be, false, false, Cg, NP, Kg, 1.0f, w + (size_t)gi * Cg * Kg, col + (size_t)gi * Kg * NP, 0.0f,
                    rows + (size_t)gi * Cg * NP);
        if (g->N > 1) cf_rows_to_batch(g->N, d->C, (size_t)d->H * d->W, rows, dx);
    }
}

static void deconv_destroy(cf_layer *l)
{
    deconv_priv *d = l->priv;
    if (!d) return;
    cf_mem_unref(d->col);
    cf_mem_unref(d->x);
    cf_dnnl_deconv_free(d->dn);
    free(d);
}

const cf_layer_ops cf_layer_Deconvolution = {
    .type = "Deconvolution",
    .min_bottom = 1, .max_bottom = -1,
    .min_top = 1, .max_top = -1,
    .setup = deconv_setup,
    .reshape = deconv_reshape,
    .forward = deconv_forward,
    .backward = deconv_backward,
    .destroy = deconv_destroy,
};
