/* dnnl_conv.c — Convolution through oneDNN (dnnl_layers.h).
 *
 * Caffe's convolution maps onto oneDNN's directly: weights [M, C/G, kh,
 * kw] are oneDNN's oihw (goihw with dims {G, M/G, C/G, kh, kw} when
 * grouped: the same bytes), padding is symmetric, Caffe's dilation d is
 * oneDNN's d − 1, and Caffe's output size (floor) is the one oneDNN
 * computes.  The primitives choose their own layouts (format "any").  The
 * weights are reordered to theirs at each call, so that the param blobs
 * stay in Caffe's layout and a solver update is seen at the next forward
 * with nothing to track.  The activations (bottom, top, their diffs) go
 * through the blob forms (cf_dnnl_conv_forward_blob, ...): an operand
 * whose blob holds a blocked side in the layout the primitive wants is
 * read in place, the top and bottom diff are written in the primitives'
 * layouts as the blobs' blocked sides (dnnl_layers.h), and only what is
 * NCHW is reordered, as the pointer forms reorder everything.
 *
 * The batch is cut into slices, one per thread (dnnl_common.c), each with
 * its own primitives, buffers and stream, run at once.  Backward
 * primitives are made with the plan when the net trains (a TEST net's
 * layer runs its own backward if ever asked).  Each slice's weight
 * gradient comes out in the primitive's layout and is added into the
 * param diff by a reorder with a sum post-op (params accumulate:
 * layer.h), slice after slice; the bias gradient likewise.  When the bottom was
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

typedef struct conv_part {
    cf_dnnl *d;
    int slot;                   /* its stream */
    cf_conv_geom g;             /* N: the slice's images */
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
} conv_part;

static void part_free(conv_part *p)
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
static void any_mds(const conv_part *p, dnnl_memory_desc_t *x, dnnl_memory_desc_t *w, dnnl_memory_desc_t *y)
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
static int make_bwd_desc(conv_part *p, bool weights, bool fixed, dnnl_convolution_desc_t *cd)
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

static int make_bwd(conv_part *p, bool weights, dnnl_primitive_desc_t *pd, dnnl_primitive_t *prim)
{
    dnnl_convolution_desc_t cd;
    if (make_bwd_desc(p, weights, true, &cd) == 0 && dn_make(p->d, &cd, p->fpd, pd, prim) == 0) return 0;
    return make_bwd_desc(p, weights, false, &cd) || dn_make(p->d, &cd, p->fpd, pd, prim) ? -1 : 0;
}

static int make_backward(conv_part *p)
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

/* The primitives for one slice: geometry g with N its images. */
static conv_part *part_new(cf_dnnl *d, int slot, const cf_conv_geom *g, int M, int G, bool bias, bool train)
{
    conv_part *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->slot = slot, p->g = *g, p->M = M, p->G = G, p->bias = bias, p->train = train;
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
    part_free(p);
    return NULL;
}

static int part_forward(conv_part *p, dn_ptr x, const float *w, const float *b, dn_ptr y)
{
    cf_dnnl *d = p->d;
    int rc = 0, s = p->slot;
    dnnl_exec_arg_t a[4];
    int n = 0;
    a[n++] = DN_ARG(DNNL_ARG_SRC, dn_in_op(d, s, &p->fx, x, &rc));
    a[n++] = DN_ARG(DNNL_ARG_WEIGHTS, dn_in(d, s, &p->fw, w, &rc));
    if (p->bias) {
        dnnl_memory_set_data_handle(p->fb, (void *)b);
        a[n++] = DN_ARG(DNNL_ARG_BIAS, p->fb);
    }
    a[n++] = DN_ARG(DNNL_ARG_DST, dn_out_op(&p->fy, y));
    p->fx_of = dn_reordered(&p->fx) && !x.ext ? x.p : NULL;
    if (rc || dn_exec(d, s, p->fwd, n, a) || dn_out_done_op(d, s, &p->fy, y)) return -1;
    return 0;
}

/* One slice's backward: dx (when given) and, when want_w, the weight and
 * bias gradients left in the primitive's own buffers (w_dw, w_db) for
 * part_add_grads to add into the param diffs — slices run at once and
 * must not add into the same memory together. */
static int part_backward(conv_part *p, dn_ptr x, const float *w, dn_ptr wdy, dn_ptr ddy, dn_ptr dx, bool want_w)
{
    cf_dnnl *d = p->d;
    int rc = 0, s = p->slot;
    if (want_w) {
        dnnl_memory_t xm;
        if (!x.ext && p->fx_of == x.p &&
            dnnl_memory_desc_equal(dn_md(p->fpd, dnnl_query_src_md), dn_md(p->wpd, dnnl_query_src_md)))
            xm = p->fx.prim; /* forward's reordered bottom */
        else
            xm = dn_in_op(d, s, &p->w_x, x, &rc);
        dnnl_memory_t dym = dn_in_op(d, s, &p->w_dy, wdy, &rc);
        dnnl_exec_arg_t a[5];
        int n = 0;
        a[n++] = DN_ARG(DNNL_ARG_SRC, xm);
        a[n++] = DN_ARG(DNNL_ARG_DIFF_DST, dym);
        a[n++] = DN_ARG(DNNL_ARG_DIFF_WEIGHTS, p->w_dw.prim);
        if (p->bias) a[n++] = DN_ARG(DNNL_ARG_DIFF_BIAS, p->w_db.prim);
        if (rc || dn_exec(d, s, p->bwd_w, n, a)) return -1;
    }
    if (dx.p) {
        dnnl_memory_t dym;
        if (!wdy.ext && !ddy.ext && dn_reordered(&p->w_dy) && want_w &&
            dnnl_memory_desc_equal(dn_md(p->wpd, dnnl_query_diff_dst_md), dn_md(p->dpd, dnnl_query_diff_dst_md)))
            dym = p->w_dy.prim; /* reordered for the weight gradient just now */
        else
            dym = dn_in_op(d, s, &p->d_dy, ddy, &rc);
        dnnl_exec_arg_t a[3] = {DN_ARG(DNNL_ARG_DIFF_DST, dym), DN_ARG(DNNL_ARG_WEIGHTS, dn_in(d, s, &p->d_w, w, &rc)),
                                DN_ARG(DNNL_ARG_DIFF_SRC, dn_out_op(&p->d_dx, dx))};
        if (rc || dn_exec(d, s, p->bwd_data, 3, a) || dn_out_done_op(d, s, &p->d_dx, dx)) return -1;
    }
    return 0;
}

/* dw += the slice's weight gradient, db += its bias gradient (on the
 * calling thread's slot 0). */
static int part_add_grads(conv_part *p, float *dw, float *db)
{
    if (dw && (dn_out(&p->w_dw, dw), dn_out_done(p->d, 0, &p->w_dw))) return -1;
    if (db && p->bias && (dn_out(&p->w_db, db), dn_out_done(p->d, 0, &p->w_db))) return -1;
    return 0;
}

/* ---- the plan: one part per slice of the batch ---- */

struct cf_dnnl_conv {
    cf_dnnl *d;
    int nthreads;               /* the backend's when the plan was made */
    cf_conv_geom g;
    int M, G;
    bool bias, train;
    int ns;                     /* slices */
    conv_part *part[DN_SLOTS];
    long n0[DN_SLOTS + 1];      /* slice s is images [n0[s], n0[s + 1]) */
    /* the batch operands in the primitives' layouts: forward's bottom and
     * top, backward-data's top diff and bottom diff, backward-weights'
     * bottom and top diff */
    dn_batch bx, by, bddy, bddx, bwx, bwdy;
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
    for (int s = 0; s < p->ns; s++)
        if (p->part[s]) part_free(p->part[s]);
    free(p);
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
    int ns = dn_slices(d, g->N);
    for (int s = 0; s <= ns; s++) p->n0[s] = dn_slice_at(g->N, ns, s);
    bool ok = true;
    for (int s = 0; s < ns && ok; s++) {
        cf_conv_geom gs = *g;
        gs.N = (int)(p->n0[s + 1] - p->n0[s]);
        p->part[s] = part_new(d, s, &gs, M, G, bias, train);
        p->ns = s + 1;
        /* every slice must agree on who takes the weight gradient */
        ok = p->part[s] && (p->part[s]->bwd_w != NULL) == (p->part[0]->bwd_w != NULL);
    }
    if (!ok) {
        cf_dnnl_conv_free(p);
        return NULL;
    }
    for (int s = 0; s < ns; s++) {
        conv_part *q = p->part[s];
        dn_batch_add(&p->bx, s, dn_md(q->fpd, dnnl_query_src_md), dn_reordered(&q->fx), g->N);
        dn_batch_add(&p->by, s, dn_md(q->fpd, dnnl_query_dst_md), dn_reordered(&q->fy), g->N);
        if (q->bwd_data) {
            dn_batch_add(&p->bddy, s, dn_md(q->dpd, dnnl_query_diff_dst_md), dn_reordered(&q->d_dy), g->N);
            dn_batch_add(&p->bddx, s, dn_md(q->dpd, dnnl_query_diff_src_md), dn_reordered(&q->d_dx), g->N);
        }
        if (q->bwd_w) {
            dn_batch_add(&p->bwx, s, dn_md(q->wpd, dnnl_query_src_md), dn_reordered(&q->w_x), g->N);
            dn_batch_add(&p->bwdy, s, dn_md(q->wpd, dnnl_query_diff_dst_md), dn_reordered(&q->w_dy), g->N);
        }
    }
    return p;
}

bool cf_dnnl_conv_weight_grad(const cf_dnnl_conv *p) { return p->part[0]->bwd_w != NULL; }

typedef struct {
    cf_dnnl_conv *p;
    const float *w, *b;
    dn_op x, y, wdy, ddy, dx;
    bool want_w;
} conv_job;

/* Bytes of one image of the bottom (out false) or of the top, NCHW. */
static size_t image_bytes(const cf_conv_geom *g, int C, bool out)
{
    return sizeof(float) * (size_t)C * (out ? (size_t)g->Ho * g->Wo : (size_t)g->H * g->W);
}

static int forward_slice(void *arg, int s)
{
    conv_job *j = arg;
    long n0 = j->p->n0[s];
    return part_forward(j->p->part[s], dn_op_at(j->x, n0), j->w, j->b, dn_op_at(j->y, n0));
}

static int run_forward(cf_dnnl_conv *p, dn_op x, const float *w, const float *b, dn_op y)
{
    if (!x.base || !y.base) return -1;
    conv_job j = {p, w, b, x, y, {0}, {0}, {0}, false};
    return dn_parallel(p->d, p->ns, forward_slice, &j);
}

int cf_dnnl_conv_forward(cf_dnnl_conv *p, const float *x, const float *w, const float *b, float *y)
{
    return run_forward(p, (dn_op){(char *)x, false, image_bytes(&p->g, p->g.C, false)}, w, b,
                       (dn_op){(char *)y, false, image_bytes(&p->g, p->M, true)});
}

int cf_dnnl_conv_forward_blob(cf_dnnl_conv *p, const cf_blob *x, const float *w, const float *b, cf_blob *y)
{
    dn_op xo = dn_op_read(x, false, &p->bx, image_bytes(&p->g, p->g.C, false));
    dn_op yo = dn_op_write(p->d, y, false, &p->by, image_bytes(&p->g, p->M, true));
    if (run_forward(p, xo, w, b, yo)) return -1;
    dn_op_wrote(y, false, yo);
    return 0;
}

static int backward_slice(void *arg, int s)
{
    conv_job *j = arg;
    long n0 = j->p->n0[s];
    return part_backward(j->p->part[s], dn_op_at(j->x, n0), j->w, dn_op_at(j->wdy, n0), dn_op_at(j->ddy, n0),
                         dn_op_at(j->dx, n0), j->want_w);
}

/* x and wdy matter when want_w, ddy when dx is given (dx.base). */
static int run_backward(cf_dnnl_conv *p, dn_op x, const float *w, dn_op wdy, dn_op ddy, dn_op dx, float *dw,
                        float *db)
{
    bool want_w = dw || db;
    if (!p->part[0]->bwd_data || (want_w && !p->part[0]->bwd_w)) return -1;
    if ((want_w && (!x.base || !wdy.base)) || (dx.base && !ddy.base)) return -1;
    conv_job j = {p, w, NULL, x, {0}, wdy, ddy, dx, want_w};
    if (dn_parallel(p->d, p->ns, backward_slice, &j)) return -1;
    for (int s = 0; want_w && s < p->ns; s++)
        if (part_add_grads(p->part[s], dw, db)) return -1;
    return 0;
}

int cf_dnnl_conv_backward(cf_dnnl_conv *p, const float *x, const float *w, const float *dy, float *dx, float *dw,
                          float *db)
{
    size_t xi = image_bytes(&p->g, p->g.C, false), yi = image_bytes(&p->g, p->M, true);
    dn_op dyo = {(char *)dy, false, yi};
    return run_backward(p, (dn_op){(char *)x, false, xi}, w, dyo, dyo, (dn_op){(char *)dx, false, xi}, dw, db);
}

int cf_dnnl_conv_backward_blob(cf_dnnl_conv *p, const cf_blob *x, const float *w, const cf_blob *y, cf_blob *dx,
                               float *dw, float *db)
{
    size_t xi = image_bytes(&p->g, p->g.C, false), yi = image_bytes(&p->g, p->M, true);
    bool want_w = dw || db;
    dn_op none = {NULL, false, 0};
    dn_op xo = want_w ? dn_op_read(x, false, &p->bwx, xi) : none;
    dn_op wdy = want_w ? dn_op_read(y, true, &p->bwdy, yi) : none;
    dn_op ddy = dx ? dn_op_read(y, true, &p->bddy, yi) : none;
    dn_op dxo = dx ? dn_op_write(p->d, dx, true, &p->bddx, xi) : none;
    if (run_backward(p, xo, w, wdy, ddy, dxo, dw, db)) return -1;
    if (dx) dn_op_wrote(dx, true, dxo);
    return 0;
}
