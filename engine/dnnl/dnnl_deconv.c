/* dnnl_deconv.c — Deconvolution through oneDNN (dnnl_layers.h).
 *
 * Caffe's deconvolution (deconvolution.c) is oneDNN's: every bottom pixel
 * spreads x · w over the top window at stride s with padding p taken off
 * both sides, so Ho = s(H − 1) + d(kh − 1) + 1 − 2p, which is the size
 * oneDNN derives from the same strides, padding and dilation (Caffe's d
 * is oneDNN's d − 1).  Weights: Caffe keeps [C][M/G][kh][kw] (bottom
 * channels first); oneDNN's deconvolution weights have dims {M, C} ({G,
 * M/G, C/G} grouped), and its iohw (giohw) layout orders those bytes as
 * [C][M] ([G][C/G][M/G]) — Caffe's blob as it is.
 *
 * As in dnnl_conv.c (which this follows): the primitives pick their
 * layouts ("any") and every operand is reordered at each call, weights
 * included, so the param blobs stay in Caffe's layout; the batch is cut
 * into one slice per pool thread, each with its own primitives, buffers
 * and stream; weight and bias gradients come out per slice and are added
 * (+=, layer.h) into the param diffs one slice after the other; backward
 * reuses forward's reordered bottom when it is the same bottom.  oneDNN
 * runs a deconvolution as a convolution's backward-data pass (forward)
 * and a convolution's weight gradient with the roles swapped; a plan whose
 * primitives would be oneDNN's reference code is refused (dn_make) and the
 * layer keeps its own code, all passes of it. */
#include <stdlib.h>
#include <string.h>

#include "dnnl_common.h"

typedef struct dc_part {
    cf_dnnl *d;
    int slot;
    cf_conv_geom g;             /* N: the slice's images */
    int M, G;
    bool bias;
    dnnl_memory_desc_t x_md, w_md, b_md, y_md; /* Caffe's layouts */
    dnnl_primitive_desc_t fpd, dpd, wpd;
    dnnl_primitive_t fwd, bwd_data, bwd_w;
    dn_tensor fx, fw, fy;
    dnnl_memory_t fb;
    const float *fx_of;         /* bottom whose reordered copy fx holds */
    dn_tensor d_dy, d_w, d_dx;
    dn_tensor w_x, w_dy, w_dw, w_db;
} dc_part;

static void part_free(dc_part *p)
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

static void any_md(dnnl_memory_desc_t *out, const dnnl_memory_desc_t *like)
{
    dnnl_memory_desc_init_by_tag(out, like->ndims, like->dims, dnnl_f32, dnnl_format_tag_any);
}

static void spatial(const cf_conv_geom *g, dnnl_dims_t strides, dnnl_dims_t dil, dnnl_dims_t pad)
{
    strides[0] = g->sh, strides[1] = g->sw;
    dil[0] = g->dh - 1, dil[1] = g->dw - 1;
    pad[0] = g->ph, pad[1] = g->pw;
}

/* Backward descriptors: x and y in forward's layouts first (so forward's
 * reordered bottom serves the weight gradient), "any" if refused. */
static int make_bwd(dc_part *p, bool weights, dnnl_primitive_desc_t *pd, dnnl_primitive_t *prim)
{
    for (int fixed = 1; fixed >= 0; fixed--) {
        dnnl_memory_desc_t x, w, y, b;
        dnnl_dims_t st, dl, pad;
        any_md(&x, &p->x_md), any_md(&w, &p->w_md), any_md(&y, &p->y_md), any_md(&b, &p->b_md);
        if (fixed) x = *dn_md(p->fpd, dnnl_query_src_md), y = *dn_md(p->fpd, dnnl_query_dst_md);
        spatial(&p->g, st, dl, pad);
        dnnl_deconvolution_desc_t dd;
        dnnl_status_t st_ =
            weights ? dnnl_dilated_deconvolution_backward_weights_desc_init(&dd, dnnl_deconvolution_direct, &x, &w,
                                                                            p->bias ? &b : NULL, &y, st, dl, pad, pad)
                    : dnnl_dilated_deconvolution_backward_data_desc_init(&dd, dnnl_deconvolution_direct, &x, &w, &y,
                                                                         st, dl, pad, pad);
        if (st_ == dnnl_success && dn_make(p->d, &dd, p->fpd, pd, prim) == 0) return 0;
    }
    return -1;
}

static int make_backward(dc_part *p)
{
    cf_dnnl *d = p->d;
    if (make_bwd(p, false, &p->dpd, &p->bwd_data) || make_bwd(p, true, &p->wpd, &p->bwd_w)) return -1;
    if (dn_tensor_init(&p->d_dy, d, &p->y_md, dn_md(p->dpd, dnnl_query_diff_dst_md), DN_IN) ||
        dn_tensor_init(&p->d_w, d, &p->w_md, dn_md(p->dpd, dnnl_query_weights_md), DN_IN) ||
        dn_tensor_init(&p->d_dx, d, &p->x_md, dn_md(p->dpd, dnnl_query_diff_src_md), DN_OUT) ||
        dn_tensor_init(&p->w_x, d, &p->x_md, dn_md(p->wpd, dnnl_query_src_md), DN_IN) ||
        dn_tensor_init(&p->w_dy, d, &p->y_md, dn_md(p->wpd, dnnl_query_diff_dst_md), DN_IN) ||
        dn_tensor_init(&p->w_dw, d, &p->w_md, dn_md(p->wpd, dnnl_query_diff_weights_md), DN_OUT_ADD))
        return -1;
    /* the bias gradient is the second diff-weights operand */
    if (p->bias &&
        dn_tensor_init(&p->w_db, d, &p->b_md, dnnl_primitive_desc_query_md(p->wpd, dnnl_query_diff_weights_md, 1),
                       DN_OUT_ADD))
        return -1;
    return 0;
}

static dc_part *part_new(cf_dnnl *d, int slot, const cf_conv_geom *g, int M, int G, bool bias, bool train)
{
    dc_part *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->slot = slot, p->g = *g, p->M = M, p->G = G, p->bias = bias;
    dn_md_plain(&p->x_md, 4, (long[]){g->N, g->C, g->H, g->W}, dnnl_nchw);
    dn_md_plain(&p->y_md, 4, (long[]){g->N, M, g->Ho, g->Wo}, dnnl_nchw);
    if (G == 1) dn_md_plain(&p->w_md, 4, (long[]){M, g->C, g->kh, g->kw}, dnnl_iohw);
    else dn_md_plain(&p->w_md, 5, (long[]){G, M / G, g->C / G, g->kh, g->kw}, dnnl_giohw);
    dn_md_plain(&p->b_md, 1, (long[]){M}, dnnl_a);

    dnnl_memory_desc_t x, w, y;
    dnnl_dims_t st, dl, pad;
    any_md(&x, &p->x_md), any_md(&w, &p->w_md), any_md(&y, &p->y_md);
    spatial(g, st, dl, pad);
    dnnl_deconvolution_desc_t dd;
    if (dnnl_dilated_deconvolution_forward_desc_init(&dd, train ? dnnl_forward_training : dnnl_forward_inference,
                                                     dnnl_deconvolution_direct, &x, &w, bias ? &p->b_md : NULL, &y,
                                                     st, dl, pad, pad) != dnnl_success ||
        dn_make(d, &dd, NULL, &p->fpd, &p->fwd))
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
    part_free(p);
    return NULL;
}

static int part_forward(dc_part *p, const float *x, const float *w, const float *b, float *y)
{
    cf_dnnl *d = p->d;
    int rc = 0, s = p->slot, n = 0;
    dnnl_exec_arg_t a[4];
    a[n++] = DN_ARG(DNNL_ARG_SRC, dn_in(d, s, &p->fx, x, &rc));
    a[n++] = DN_ARG(DNNL_ARG_WEIGHTS, dn_in(d, s, &p->fw, w, &rc));
    if (p->bias) {
        dnnl_memory_set_data_handle(p->fb, (void *)b);
        a[n++] = DN_ARG(DNNL_ARG_BIAS, p->fb);
    }
    a[n++] = DN_ARG(DNNL_ARG_DST, dn_out(&p->fy, y));
    p->fx_of = dn_reordered(&p->fx) ? x : NULL;
    if (rc || dn_exec(d, s, p->fwd, n, a) || dn_out_done(d, s, &p->fy)) return -1;
    return 0;
}

/* One slice: dx (when given) and, when want_w, the weight and bias
 * gradients left in the primitive's buffers for part_add_grads. */
static int part_backward(dc_part *p, const float *x, const float *w, const float *dy, float *dx, bool want_w)
{
    cf_dnnl *d = p->d;
    int rc = 0, s = p->slot;
    dnnl_memory_t dyw = NULL;
    if (want_w) {
        dnnl_memory_t xm;
        if (p->fx_of == x && dnnl_memory_desc_equal(dn_md(p->fpd, dnnl_query_src_md), dn_md(p->wpd, dnnl_query_src_md)))
            xm = p->fx.prim; /* forward's reordered bottom */
        else
            xm = dn_in(d, s, &p->w_x, x, &rc);
        dyw = dn_in(d, s, &p->w_dy, dy, &rc);
        dnnl_exec_arg_t a[4];
        int n = 0;
        a[n++] = DN_ARG(DNNL_ARG_SRC, xm);
        a[n++] = DN_ARG(DNNL_ARG_DIFF_DST, dyw);
        a[n++] = DN_ARG(DNNL_ARG_DIFF_WEIGHTS, p->w_dw.prim);
        if (p->bias) a[n++] = DN_ARG(DNNL_ARG_DIFF_BIAS, p->w_db.prim);
        if (rc || dn_exec(d, s, p->bwd_w, n, a)) return -1;
    }
    if (dx) {
        dnnl_memory_t dym;
        if (want_w && dn_reordered(&p->w_dy) &&
            dnnl_memory_desc_equal(dn_md(p->wpd, dnnl_query_diff_dst_md), dn_md(p->dpd, dnnl_query_diff_dst_md)))
            dym = dyw; /* reordered for the weight gradient just now */
        else
            dym = dn_in(d, s, &p->d_dy, dy, &rc);
        dnnl_exec_arg_t a[3] = {DN_ARG(DNNL_ARG_DIFF_DST, dym), DN_ARG(DNNL_ARG_WEIGHTS, dn_in(d, s, &p->d_w, w, &rc)),
                                DN_ARG(DNNL_ARG_DIFF_SRC, dn_out(&p->d_dx, dx))};
        if (rc || dn_exec(d, s, p->bwd_data, 3, a) || dn_out_done(d, s, &p->d_dx)) return -1;
    }
    return 0;
}

static int part_add_grads(dc_part *p, float *dw, float *db)
{
    if (dw && (dn_out(&p->w_dw, dw), dn_out_done(p->d, 0, &p->w_dw))) return -1;
    if (db && p->bias && (dn_out(&p->w_db, db), dn_out_done(p->d, 0, &p->w_db))) return -1;
    return 0;
}

/* ---- the plan: one part per slice of the batch ---- */

struct cf_dnnl_deconv {
    cf_dnnl *d;
    int nthreads;
    cf_conv_geom g;
    int M, G;
    bool bias, train;
    int ns;
    dc_part *part[DN_SLOTS];
    long n0[DN_SLOTS + 1];
};

static bool same_geom(const cf_dnnl_deconv *p, const cf_conv_geom *g, int M, int G, bool bias, bool train)
{
    const cf_conv_geom *a = &p->g;
    return a->N == g->N && a->C == g->C && a->H == g->H && a->W == g->W && a->Ho == g->Ho && a->Wo == g->Wo &&
           a->kh == g->kh && a->kw == g->kw && a->ph == g->ph && a->pw == g->pw && a->sh == g->sh && a->sw == g->sw &&
           a->dh == g->dh && a->dw == g->dw && p->M == M && p->G == G && p->bias == bias && p->train == train;
}

void cf_dnnl_deconv_free(cf_dnnl_deconv *p)
{
    if (!p) return;
    for (int s = 0; s < p->ns; s++) part_free(p->part[s]);
    free(p);
}

cf_dnnl_deconv *cf_dnnl_deconv_plan(cf_dnnl_deconv *old, cf_backend *be, const cf_conv_geom *g, int M, int G,
                                    bool bias, bool train)
{
    cf_dnnl *d = cf_dnnl_of(be);
    if (old && old->d == d && old->nthreads == be->nthreads && same_geom(old, g, M, G, bias, train)) return old;
    cf_dnnl_deconv_free(old);
    if (!d || (size_t)g->N * g->H * g->W == 0 || g->C == 0 || M == 0) return NULL;
    cf_dnnl_deconv *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->nthreads = be->nthreads, p->g = *g, p->M = M, p->G = G, p->bias = bias, p->train = train;
    int ns = dn_slices(d, g->N);
    for (int s = 0; s <= ns; s++) p->n0[s] = dn_slice_at(g->N, ns, s);
    for (int s = 0; s < ns; s++) {
        cf_conv_geom gs = *g;
        gs.N = (int)(p->n0[s + 1] - p->n0[s]);
        p->part[s] = part_new(d, s, &gs, M, G, bias, train);
        p->ns = s + 1;
        if (!p->part[s]) {
            cf_dnnl_deconv_free(p);
            return NULL;
        }
    }
    return p;
}

typedef struct {
    cf_dnnl_deconv *p;
    const float *x, *w, *b, *dy;
    float *y, *dx;
    bool want_w;
} dc_job;

static size_t x_image(const cf_dnnl_deconv *p) { return (size_t)p->g.C * p->g.H * p->g.W; }
static size_t y_image(const cf_dnnl_deconv *p) { return (size_t)p->M * p->g.Ho * p->g.Wo; }

static int forward_slice(void *arg, int s)
{
    dc_job *j = arg;
    long n0 = j->p->n0[s];
    return part_forward(j->p->part[s], j->x + n0 * x_image(j->p), j->w, j->b, j->y + n0 * y_image(j->p));
}

int cf_dnnl_deconv_forward(cf_dnnl_deconv *p, const float *x, const float *w, const float *b, float *y)
{
    dc_job j = {p, x, w, b, NULL, y, NULL, false};
    return dn_parallel(p->d, p->ns, forward_slice, &j);
}

static int backward_slice(void *arg, int s)
{
    dc_job *j = arg;
    long n0 = j->p->n0[s];
    size_t xi = x_image(j->p), yi = y_image(j->p);
    return part_backward(j->p->part[s], j->x + n0 * xi, j->w, j->dy + n0 * yi, j->dx ? j->dx + n0 * xi : NULL,
                         j->want_w);
}

int cf_dnnl_deconv_backward(cf_dnnl_deconv *p, const float *x, const float *w, const float *dy, float *dx, float *dw,
                            float *db)
{
    bool want_w = dw || db;
    if (!p->part[0]->bwd_data) return -1; /* a TEST plan */
    dc_job j = {p, x, w, NULL, dy, NULL, dx, want_w};
    if (dn_parallel(p->d, p->ns, backward_slice, &j)) return -1;
    for (int s = 0; want_w && s < p->ns; s++)
        if (part_add_grads(p->part[s], dw, db)) return -1;
    return 0;
}
