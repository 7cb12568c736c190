/* dnnl_conv.c — Convolution through oneDNN (dnnl_layers.h).
 *
 * Caffe's convolution maps onto oneDNN's directly: weights [M, C/G, kh,
 * kw] are oneDNN's oihw (goihw with dims {G, M/G, C/G, kh, kw} when
 * grouped: the same bytes), padding is symmetric, Caffe's dilation d is
 * oneDNN's d − 1, and Caffe's output size (floor) is the one oneDNN
 * computes.  The primitives choose their own layouts (format "any"): the
 * bottom, the weights and the top are reordered to and from them at each
 * call, weights included, so that the param blobs stay in Caffe's layout
 * and a solver update is seen at the next forward with nothing to track.
 *
 * Backward primitives are made with the plan when the net trains (a TEST
 * net's layer runs its own backward if ever asked).  The weight gradient comes out in the primitive's layout and
 * is added into the param diff by a reorder with a sum post-op (params
 * accumulate: layer.h); the bias gradient likewise.  When the bottom was
 * reordered by this forward and the weight-gradient primitive wants the
 * same layout, backward reuses it rather than reordering again (the net
 * leaves a layer's bottom untouched between its forward and backward, as
 * the column buffer of the reference path also assumes).
 *
 * With one or two input channels per group (a first layer: grey or
 * two-channel images), the weight-gradient primitive for AVX2 wants the
 * bottom padded to 8 channels and does 4 to 8 times the work; with the
 * plain bottom oneDNN 2.6 has only its reference code.  LeNet's conv1
 * took 8 ms of CPU that way against 2.4 ms for convolution.c's im2col and
 * gemm, so the plan leaves that gradient to the layer.  (Three channels,
 * CIFAR's conv1, still gains: 13.6 ms against 17.4.) */
#include <stdlib.h>
#include <string.h>

#include "dnnl_common.h"

struct cf_dnnl_conv {
    cf_dnnl *d;
    int nthreads;               /* the backend's when the plan was made */
    cf_conv_geom g;
    int M, G;
    bool bias, train;
    dnnl_memory_desc_t x_md, w_md, b_md, y_md; /* Caffe's layouts */
    dnnl_primitive_desc_t fpd;
    dnnl_primitive_t fwd;
    dn_tensor fx, fw, fy;
    dnnl_memory_t fb;
    const float *fx_of;         /* bottom whose reordered copy fx holds */
    /* backward, made with the plan when training */
    dnnl_primitive_desc_t dpd, wpd;
    dnnl_primitive_t bwd_data, bwd_w;
    dn_tensor d_dy, d_w, d_dx;   /* backward data */
    dn_tensor w_x, w_dy, w_dw, w_db; /* backward weights */
};

static bool same_geom(const cf_dnnl_conv *p, const cf_conv_geom *g, int M, int G, bool bias, bool train)
{
    const cf_conv_geom *a = &p->g;
    return a->N == g->N && a->C == g->C && a->H == g->H && a->W == g->W && a->kh == g->kh && a->kw == g->kw &&
           a->ph == g->ph && a->pw == g->pw && a->sh == g->sh && a->sw == g->sw && a->dh == g->dh && a->dw == g->dw &&
           p->M == M && p->G == G && p->bias == bias && p->train == train;
}

void cf_dnnl_conv_free(cf_dnnl_conv *p)
{
    if (!p) return;
    dn_tensor *ts[] = {&p->fx, &p->fw, &p->fy, &p->d_dy, &p->d_w, &p->d_dx, &p->w_x, &p->w_dy, &p->w_dw, &p->w_db};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) dn_tensor_free(ts[i]);
    if (p->fb) dnnl_memory_destroy(p->fb);
    dnnl_primitive_t prims[] = {p->fwd, p->bwd_data, p->bwd_w};
    for (size_t i = 0; i < 3; i++)
        if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_primitive_desc_t pds[] = {p->fpd, p->dpd, p->wpd};
    for (size_t i = 0; i < 3; i++)
        if (pds[i]) dnnl_primitive_desc_destroy(pds[i]);
    free(p);
}

/* Descriptors with format "any" for x, w, y (the primitive picks). */
static void any_mds(const cf_dnnl_conv *p, dnnl_memory_desc_t *x, dnnl_memory_desc_t *w, dnnl_memory_desc_t *y)
{
    dnnl_memory_desc_init_by_tag(x, p->x_md.ndims, p->x_md.dims, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(w, p->w_md.ndims, p->w_md.dims, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(y, p->y_md.ndims, p->y_md.dims, dnnl_f32, dnnl_format_tag_any);
}

static void spatial(const cf_conv_geom *g, dnnl_dims_t strides, dnnl_dims_t dil, dnnl_dims_t pad)
{
    strides[0] = g->sh, strides[1] = g->sw;
    dil[0] = g->dh - 1, dil[1] = g->dw - 1;
    pad[0] = g->ph, pad[1] = g->pw;
}

/* Backward primitives want the bottom and top in the layouts forward
 * chose, if they can take them: forward's reordered bottom then serves
 * the weight gradient as it is, and the first layer (1 or 3 channels)
 * keeps its plain bottom rather than one padded to 8 channels.  Left to
 * choose (format "any") when they cannot. */
static int make_bwd_desc(cf_dnnl_conv *p, bool weights, bool fixed, dnnl_convolution_desc_t *cd)
{
    dnnl_memory_desc_t x, w, y, b;
    dnnl_dims_t st, dl, pad;
    any_mds(p, &x, &w, &y);
    if (fixed) x = *dn_md(p->fpd, dnnl_query_src_md), y = *dn_md(p->fpd, dnnl_query_dst_md);
    spatial(&p->g, st, dl, pad);
    dnnl_memory_desc_init_by_tag(&b, 1, p->b_md.dims, dnnl_f32, dnnl_format_tag_any);
    if (weights)
        return dnnl_dilated_convolution_backward_weights_desc_init(cd, dnnl_convolution_direct, &x, &w,
                                                                   p->bias ? &b : NULL, &y, st, dl, pad, pad) ==
                       dnnl_success ? 0 : -1;
    return dnnl_dilated_convolution_backward_data_desc_init(cd, dnnl_convolution_direct, &x, &w, &y, st, dl, pad,
                                                            pad) == dnnl_success ? 0 : -1;
}

static int make_bwd(cf_dnnl_conv *p, bool weights, dnnl_primitive_desc_t *pd, dnnl_primitive_t *prim)
{
    dnnl_convolution_desc_t cd;
    if (make_bwd_desc(p, weights, true, &cd) == 0 && dn_make(p->d, &cd, p->fpd, pd, prim) == 0) return 0;
    return make_bwd_desc(p, weights, false, &cd) || dn_make(p->d, &cd, p->fpd, pd, prim) ? -1 : 0;
}

static int make_backward(cf_dnnl_conv *p)
{
    cf_dnnl *d = p->d;
    if (make_bwd(p, false, &p->dpd, &p->bwd_data)) return -1;
    if (dn_tensor_init(&p->d_dy, d, &p->y_md, dn_md(p->dpd, dnnl_query_diff_dst_md), DN_IN) ||
        dn_tensor_init(&p->d_w, d, &p->w_md, dn_md(p->dpd, dnnl_query_weights_md), DN_IN) ||
        dn_tensor_init(&p->d_dx, d, &p->x_md, dn_md(p->dpd, dnnl_query_diff_src_md), DN_OUT))
        return -1;
    if (p->g.C / p->G < 3) return 0; /* weight gradient left to the layer: see the top comment */
    if (make_bwd(p, true, &p->wpd, &p->bwd_w)) return -1;
    if (dn_tensor_init(&p->w_x, d, &p->x_md, dn_md(p->wpd, dnnl_query_src_md), DN_IN) ||
        dn_tensor_init(&p->w_dy, d, &p->y_md, dn_md(p->wpd, dnnl_query_diff_dst_md), DN_IN) ||
        dn_tensor_init(&p->w_dw, d, &p->w_md, dn_md(p->wpd, dnnl_query_diff_weights_md), DN_OUT_ADD))
        return -1;
    /* the bias gradient is the second diff-weights operand */
    if (p->bias && dn_tensor_init(&p->w_db, d, &p->b_md, dnnl_primitive_desc_query_md(p->wpd, dnnl_query_diff_weights_md, 1),
                                  DN_OUT_ADD))
        return -1;
    return 0;
}

cf_dnnl_conv *cf_dnnl_conv_plan(cf_dnnl_conv *old, cf_backend *be, const cf_conv_geom *g, int M, int G, bool bias,
                                bool train)
{
    cf_dnnl *d = cf_dnnl_of(be);
    if (old && old->d == d && old->nthreads == be->nthreads && same_geom(old, g, M, G, bias, train)) return old;
    cf_dnnl_conv_free(old);
    if (!d || (size_t)g->N * g->Ho * g->Wo == 0 || g->C == 0 || M == 0) return NULL;
    cf_dnnl_conv *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->nthreads = be->nthreads, p->g = *g, p->M = M, p->G = G, p->bias = bias, p->train = train;
    dn_md_plain(&p->x_md, 4, (long[]){g->N, g->C, g->H, g->W}, dnnl_nchw);
    dn_md_plain(&p->y_md, 4, (long[]){g->N, M, g->Ho, g->Wo}, dnnl_nchw);
    if (G == 1) dn_md_plain(&p->w_md, 4, (long[]){M, g->C, g->kh, g->kw}, dnnl_oihw);
    else dn_md_plain(&p->w_md, 5, (long[]){G, M / G, g->C / G, g->kh, g->kw}, dnnl_goihw);
    dn_md_plain(&p->b_md, 1, (long[]){M}, dnnl_a);

    dnnl_memory_desc_t x, w, y;
    dnnl_dims_t st, dl, pad;
    any_mds(p, &x, &w, &y);
    spatial(g, st, dl, pad);
    dnnl_convolution_desc_t cd;
    if (dnnl_dilated_convolution_forward_desc_init(&cd, train ? dnnl_forward_training : dnnl_forward_inference,
                                                   dnnl_convolution_direct, &x, &w, bias ? &p->b_md : NULL, &y, st,
                                                   dl, pad, pad) != dnnl_success ||
        dn_make(d, &cd, NULL, &p->fpd, &p->fwd))
        goto fail;
    if (dn_tensor_init(&p->fx, d, &p->x_md, dn_md(p->fpd, dnnl_query_src_md), DN_IN) ||
        dn_tensor_init(&p->fw, d, &p->w_md, dn_md(p->fpd, dnnl_query_weights_md), DN_IN) ||
        dn_tensor_init(&p->fy, d, &p->y_md, dn_md(p->fpd, dnnl_query_dst_md), DN_OUT))
        goto fail;
    if (bias && dnnl_memory_create(&p->fb, &p->b_md, d->engine, DNNL_MEMORY_NONE) != dnnl_success) {
        p->fb = NULL;
        goto fail;
    }
    if (train && make_backward(p)) goto fail;
    return p;
fail:
    cf_dnnl_conv_free(p);
    return NULL;
}

int cf_dnnl_conv_forward(cf_dnnl_conv *p, const float *x, const float *w, const float *b, float *y)
{
    cf_dnnl *d = p->d;
    int rc = 0;
    dnnl_exec_arg_t a[4];
    int n = 0;
    a[n++] = DN_ARG(DNNL_ARG_SRC, dn_in(d, &p->fx, x, &rc));
    a[n++] = DN_ARG(DNNL_ARG_WEIGHTS, dn_in(d, &p->fw, w, &rc));
    if (p->bias) {
        dnnl_memory_set_data_handle(p->fb, (void *)b);
        a[n++] = DN_ARG(DNNL_ARG_BIAS, p->fb);
    }
    a[n++] = DN_ARG(DNNL_ARG_DST, dn_out(&p->fy, y));
    p->fx_of = dn_reordered(&p->fx) ? x : NULL;
    if (rc || dn_exec(d, p->fwd, n, a) || dn_out_done(d, &p->fy)) return -1;
    return 0;
}

bool cf_dnnl_conv_weight_grad(const cf_dnnl_conv *p) { return p->bwd_w != NULL; }

int cf_dnnl_conv_backward(cf_dnnl_conv *p, const float *x, const float *w, const float *dy, float *dx, float *dw,
                          float *db)
{
    cf_dnnl *d = p->d;
    if (!p->bwd_data || ((dw || db) && !p->bwd_w)) return -1;
    int rc = 0;
    /* weight and bias gradients: both come out of one primitive */
    if (dw || db) {
        dnnl_memory_t xm;
        if (p->fx_of == x && dnnl_memory_desc_equal(dn_md(p->fpd, dnnl_query_src_md), dn_md(p->wpd, dnnl_query_src_md)))
            xm = p->fx.prim; /* forward's reordered bottom */
        else
            xm = dn_in(d, &p->w_x, x, &rc);
        dnnl_memory_t dym = dn_in(d, &p->w_dy, dy, &rc);
        /* a gradient not asked for is still written, into the buffer
         * that DN_OUT_ADD always has, and not added anywhere */
        dnnl_exec_arg_t a[5];
        int n = 0;
        a[n++] = DN_ARG(DNNL_ARG_SRC, xm);
        a[n++] = DN_ARG(DNNL_ARG_DIFF_DST, dym);
        a[n++] = DN_ARG(DNNL_ARG_DIFF_WEIGHTS, dn_out(&p->w_dw, dw));
        if (p->bias) a[n++] = DN_ARG(DNNL_ARG_DIFF_BIAS, dn_out(&p->w_db, db));
        if (rc || dn_exec(d, p->bwd_w, n, a)) return -1;
        if (dw && dn_out_done(d, &p->w_dw)) return -1;
        if (db && p->bias && dn_out_done(d, &p->w_db)) return -1;
    }
    if (dx) {
        dnnl_memory_t dym;
        if (dn_reordered(&p->w_dy) && (dw || db) &&
            dnnl_memory_desc_equal(dn_md(p->wpd, dnnl_query_diff_dst_md), dn_md(p->dpd, dnnl_query_diff_dst_md)))
            dym = p->w_dy.prim; /* reordered for the weight gradient just now */
        else
            dym = dn_in(d, &p->d_dy, dy, &rc);
        dnnl_exec_arg_t a[3] = {DN_ARG(DNNL_ARG_DIFF_DST, dym), DN_ARG(DNNL_ARG_WEIGHTS, dn_in(d, &p->d_w, w, &rc)),
                                DN_ARG(DNNL_ARG_DIFF_SRC, dn_out(&p->d_dx, dx))};
        if (rc || dn_exec(d, p->bwd_data, 3, a) || dn_out_done(d, &p->d_dx)) return -1;
    }
    return 0;
}
