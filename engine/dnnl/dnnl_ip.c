/* dnnl_ip.c — InnerProduct through oneDNN (dnnl_layers.h).
 *
 * Caffe's bottom, read as X[M × K], is oneDNN's 2-D source (nc); the
 * weights W[N × K] are oneDNN's oi, and Caffe's transpose: true keeps them
 * as [K × N], which is the same tensor in the io layout — no copy either
 * way.  The weights are given to the primitives in that layout rather
 * than letting them choose: left to choose, the forward one asks for the
 * transposed layout, and reordering ip1's 400 K weights twice per
 * iteration cost more than it saved.  Source and destination may take the
 * primitives' layouts (format "any"; for 2-D tensors they stay plain),
 * reordered as in dnnl_conv.c.  The rows are cut into slices, one per
 * thread, as dnnl_conv.c cuts the batch; each slice's weight and bias
 * gradients are added into the param diffs (layer.h) one after the other. */
#include <stdlib.h>
#include <string.h>

#include "dnnl_common.h"

typedef struct ip_part {
    cf_dnnl *d;
    int slot;                   /* its stream */
    int M, N, K;                /* M: the slice's rows */
    bool transpose, bias, train;
    dnnl_memory_desc_t x_md, w_md, b_md, y_md;
    dnnl_primitive_desc_t fpd, dpd, wpd;
    dnnl_primitive_t fwd, bwd_data, bwd_w;
    dn_tensor fx, fw, fy, d_dy, d_w, d_dx, w_x, w_dy, w_dw, w_db;
    dnnl_memory_t fb;
} ip_part;

static void part_free(ip_part *p)
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

static int make_backward(ip_part *p)
{
    cf_dnnl *d = p->d;
    dnnl_memory_desc_t x, w, y, b;
    any_md(&x, &p->x_md), any_md(&y, &p->y_md), any_md(&b, &p->b_md);
    w = p->w_md;
    dnnl_inner_product_desc_t id;
    if (dnnl_inner_product_backward_data_desc_init(&id, &x, &w, &y) != dnnl_success ||
        dn_make(d, &id, p->fpd, &p->dpd, &p->bwd_data))
        return -1;
    if (dn_tensor_init(&p->d_dy, d, &p->y_md, dn_md(p->dpd, dnnl_query_diff_dst_md), DN_IN) ||
        dn_tensor_init(&p->d_w, d, &p->w_md, dn_md(p->dpd, dnnl_query_weights_md), DN_IN) ||
        dn_tensor_init(&p->d_dx, d, &p->x_md, dn_md(p->dpd, dnnl_query_diff_src_md), DN_OUT))
        return -1;
    if (dnnl_inner_product_backward_weights_desc_init(&id, &x, &w, p->bias ? &b : NULL, &y) != dnnl_success ||
        dn_make(d, &id, p->fpd, &p->wpd, &p->bwd_w))
        return -1;
    if (dn_tensor_init(&p->w_x, d, &p->x_md, dn_md(p->wpd, dnnl_query_src_md), DN_IN) ||
        dn_tensor_init(&p->w_dy, d, &p->y_md, dn_md(p->wpd, dnnl_query_diff_dst_md), DN_IN) ||
        dn_tensor_init(&p->w_dw, d, &p->w_md, dn_md(p->wpd, dnnl_query_diff_weights_md), DN_OUT_ADD))
        return -1;
    if (p->bias && dn_tensor_init(&p->w_db, d, &p->b_md,
                                  dnnl_primitive_desc_query_md(p->wpd, dnnl_query_diff_weights_md, 1), DN_OUT_ADD))
        return -1;
    return 0;
}

/* The primitives for one slice of M rows. */
static ip_part *part_new(cf_dnnl *d, int slot, int M, int N, int K, bool transpose, bool bias, bool train)
{
    ip_part *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->slot = slot, p->M = M, p->N = N, p->K = K, p->transpose = transpose, p->bias = bias, p->train = train;
    dn_md_plain(&p->x_md, 2, (long[]){M, K}, dnnl_nc);
    dn_md_plain(&p->w_md, 2, (long[]){N, K}, transpose ? dnnl_io : dnnl_oi);
    dn_md_plain(&p->b_md, 1, (long[]){N}, dnnl_a);
    dn_md_plain(&p->y_md, 2, (long[]){M, N}, dnnl_nc);
    dnnl_memory_desc_t x, w, y;
    any_md(&x, &p->x_md), any_md(&y, &p->y_md);
    w = p->w_md;
    dnnl_inner_product_desc_t id;
    if (dnnl_inner_product_forward_desc_init(&id, train ? dnnl_forward_training : dnnl_forward_inference, &x, &w,
                                             bias ? &p->b_md : NULL, &y) != dnnl_success ||
        dn_make(d, &id, NULL, &p->fpd, &p->fwd))
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

static int part_forward(ip_part *p, const float *x, const float *w, const float *b, float *y)
{
    cf_dnnl *d = p->d;
    int rc = 0, n = 0, s = p->slot;
    dnnl_exec_arg_t a[4];
    a[n++] = DN_ARG(DNNL_ARG_SRC, dn_in(d, s, &p->fx, x, &rc));
    a[n++] = DN_ARG(DNNL_ARG_WEIGHTS, dn_in(d, s, &p->fw, w, &rc));
    if (p->bias) {
        dnnl_memory_set_data_handle(p->fb, (void *)b);
        a[n++] = DN_ARG(DNNL_ARG_BIAS, p->fb);
    }
    a[n++] = DN_ARG(DNNL_ARG_DST, dn_out(&p->fy, y));
    if (rc || dn_exec(d, s, p->fwd, n, a) || dn_out_done(d, s, &p->fy)) return -1;
    return 0;
}

/* dx (when given), and the weight and bias gradients left in the
 * primitive's buffers when want_w (added by the caller, slice by slice). */
static int part_backward(ip_part *p, const float *x, const float *w, const float *dy, float *dx, bool want_w)
{
    cf_dnnl *d = p->d;
    int rc = 0, s = p->slot;
    if (want_w) {
        dnnl_exec_arg_t a[4];
        int n = 0;
        a[n++] = DN_ARG(DNNL_ARG_SRC, dn_in(d, s, &p->w_x, x, &rc));
        a[n++] = DN_ARG(DNNL_ARG_DIFF_DST, dn_in(d, s, &p->w_dy, dy, &rc));
        a[n++] = DN_ARG(DNNL_ARG_DIFF_WEIGHTS, p->w_dw.prim);
        if (p->bias) a[n++] = DN_ARG(DNNL_ARG_DIFF_BIAS, p->w_db.prim);
        if (rc || dn_exec(d, s, p->bwd_w, n, a)) return -1;
    }
    if (dx) {
        dnnl_exec_arg_t a[3] = {DN_ARG(DNNL_ARG_DIFF_DST, dn_in(d, s, &p->d_dy, dy, &rc)),
                                DN_ARG(DNNL_ARG_WEIGHTS, dn_in(d, s, &p->d_w, w, &rc)),
                                DN_ARG(DNNL_ARG_DIFF_SRC, dn_out(&p->d_dx, dx))};
        if (rc || dn_exec(d, s, p->bwd_data, 3, a) || dn_out_done(d, s, &p->d_dx)) return -1;
    }
    return 0;
}

/* ---- the plan: one part per slice of the rows ---- */

struct cf_dnnl_ip {
    cf_dnnl *d;
    int nthreads;               /* the backend's when the plan was made */
    int M, N, K;
    bool transpose, bias, train;
    int ns;
    ip_part *part[DN_SLOTS];
    long m0[DN_SLOTS + 1];      /* slice s is rows [m0[s], m0[s + 1]) */
};

void cf_dnnl_ip_free(cf_dnnl_ip *p)
{
    if (!p) return;
    for (int s = 0; s < p->ns; s++)
        if (p->part[s]) part_free(p->part[s]);
    free(p);
}

cf_dnnl_ip *cf_dnnl_ip_plan(cf_dnnl_ip *old, cf_backend *be, int M, int N, int K, bool transpose, bool bias,
                            bool train)
{
    cf_dnnl *d = cf_dnnl_of(be);
    if (old && old->d == d && old->nthreads == be->nthreads && old->M == M && old->N == N && old->K == K &&
        old->transpose == transpose && old->bias == bias && old->train == train)
        return old;
    cf_dnnl_ip_free(old);
    if (!d || M == 0 || N == 0 || K == 0) return NULL;
    cf_dnnl_ip *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->nthreads = be->nthreads, p->M = M, p->N = N, p->K = K;
    p->transpose = transpose, p->bias = bias, p->train = train;
    int ns = dn_slices(d, M);
    for (int s = 0; s <= ns; s++) p->m0[s] = dn_slice_at(M, ns, s);
    for (int s = 0; s < ns; s++) {
        p->part[s] = part_new(d, s, (int)(p->m0[s + 1] - p->m0[s]), N, K, transpose, bias, train);
        p->ns = s + 1;
        if (!p->part[s]) {
            cf_dnnl_ip_free(p);
            return NULL;
        }
    }
    return p;
}

typedef struct {
    cf_dnnl_ip *p;
    const float *x, *w, *b, *dy;
    float *y, *dx;
    bool want_w;
} ip_job;

static int forward_slice(void *arg, int s)
{
    ip_job *j = arg;
    long m0 = j->p->m0[s];
    return part_forward(j->p->part[s], j->x + m0 * j->p->K, j->w, j->b, j->y + m0 * j->p->N);
}

int cf_dnnl_ip_forward(cf_dnnl_ip *p, const float *x, const float *w, const float *b, float *y)
{
    ip_job j = {p, x, w, b, NULL, y, NULL, false};
    return dn_parallel(p->d, p->ns, forward_slice, &j);
}

static int backward_slice(void *arg, int s)
{
    ip_job *j = arg;
    long m0 = j->p->m0[s];
    return part_backward(j->p->part[s], j->x + m0 * j->p->K, j->w, j->dy + m0 * j->p->N,
                         j->dx ? j->dx + m0 * j->p->K : NULL, j->want_w);
}

int cf_dnnl_ip_backward(cf_dnnl_ip *p, const float *x, const float *w, const float *dy, float *dx, float *dw,
                        float *db)
{
    bool want_w = dw || db;
    if (!p->part[0]->bwd_w) return -1;
    ip_job j = {p, x, w, NULL, dy, NULL, dx, want_w};
    if (dn_parallel(p->d, p->ns, backward_slice, &j)) return -1;
    for (int s = 0; want_w && s < p->ns; s++) {
        ip_part *q = p->part[s];
        if (dw && (dn_out(&q->w_dw, dw), dn_out_done(p->d, 0, &q->w_dw))) return -1;
        if (db && q->bias && (dn_out(&q->w_db, db), dn_out_done(p->d, 0, &q->w_db))) return -1;
    }
    return 0;
}
