/* dnnl_lrn.c — LRN through oneDNN (dnnl_layers.h).
 *
 * oneDNN's LRN is Caffe's (lrn.c), window for window:
 *   across channels  y = x · (k + α/n · Σ_{c' in [c−p, c+p]} x[c']²)^−β
 *   within channel   y = x · (k + α/n² · Σ_{h', w' within p} x[h', w']²)^−β
 * with windows cut at the edges and the divisor n (n²) kept, as Caffe
 * does; within a channel Caffe fixes k at 1, so the layer passes 1.  Its
 * backward is the same gradient, from x, ∂E/∂y and a workspace the
 * forward pass leaves (one per slice, made with the plan).
 *
 * oneDNN 2.6 has fast code for AVX2 only in the 8-channel blocked layout
 * (nChw8c) and only for β 0.75: across channels with local_size 5
 * (AlexNet's), within a channel with 16 channels or more (as probed with
 * this libdnnl; the tests pin down which fall back).  Everything else is
 * its reference code, which is refused (dn_make_fast): lrn.c then keeps
 * the layer.  x and ∂E/∂y are reordered
 * into the blocked layout and y and ∂E/∂x back at each call; backward
 * reuses forward's reordered bottom when it is the same bottom.  The
 * batch is cut into one slice per pool thread (dnnl_common.c). */
#include <stdlib.h>
#include <string.h>

#include "dnnl_common.h"

typedef struct lrn_part {
    cf_dnnl *d;
    int slot;
    dnnl_memory_desc_t md;      /* Caffe's layout (nchw) of the slice */
    dnnl_primitive_desc_t fpd, bpd;
    dnnl_primitive_t fwd, bwd;
    dn_tensor fx, fy, bx, bdy, bdx;
    dnnl_memory_t ws;           /* forward's workspace, for backward */
    const float *fx_of;         /* bottom whose reordered copy fx holds */
} lrn_part;

static void part_free(lrn_part *p)
{
    if (!p) return;
    dn_tensor *ts[] = {&p->fx, &p->fy, &p->bx, &p->bdy, &p->bdx};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) dn_tensor_free(ts[i]);
    if (p->ws) dnnl_memory_destroy(p->ws);
    if (p->fwd) dnnl_primitive_destroy(p->fwd);
    if (p->bwd) dnnl_primitive_destroy(p->bwd);
    if (p->fpd) dnnl_primitive_desc_destroy(p->fpd);
    if (p->bpd) dnnl_primitive_desc_destroy(p->bpd);
    free(p);
}

typedef struct {
    bool within, train;
    int size;
    float alpha, beta, k;
} lrn_conf;

static lrn_part *part_new(cf_dnnl *d, int slot, long N, const int shape[4], const lrn_conf *c)
{
    lrn_part *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->slot = slot;
    long dims[4] = {N, shape[1], shape[2], shape[3]};
    dn_md_plain(&p->md, 4, dims, dnnl_nchw);
    dnnl_memory_desc_t blk;
    dn_md_plain(&blk, 4, dims, dnnl_nChw8c);
    dnnl_alg_kind_t alg = c->within ? dnnl_lrn_within_channel : dnnl_lrn_across_channels;
    dnnl_lrn_desc_t ld;
    if (dnnl_lrn_forward_desc_init(&ld, c->train ? dnnl_forward_training : dnnl_forward_inference, alg, &blk,
                                   c->size, c->alpha, c->beta, c->k) != dnnl_success ||
        dn_make_fast(d, &ld, NULL, &p->fpd, &p->fwd))
        goto fail;
    if (dn_tensor_init(&p->fx, d, &p->md, dn_md(p->fpd, dnnl_query_src_md), DN_IN) ||
        dn_tensor_init(&p->fy, d, &p->md, dn_md(p->fpd, dnnl_query_dst_md), DN_OUT))
        goto fail;
    if (!c->train) return p;
    const dnnl_memory_desc_t *ws = dn_md(p->fpd, dnnl_query_workspace_md);
    if (ws && dnnl_memory_desc_get_size(ws) > 0 &&
        dnnl_memory_create(&p->ws, ws, d->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) {
        p->ws = NULL;
        goto fail;
    }
    if (dnnl_lrn_backward_desc_init(&ld, alg, &blk, &blk, c->size, c->alpha, c->beta, c->k) != dnnl_success ||
        dn_make_fast(d, &ld, p->fpd, &p->bpd, &p->bwd))
        goto fail;
    if (dn_tensor_init(&p->bx, d, &p->md, dn_md(p->bpd, dnnl_query_src_md), DN_IN) ||
        dn_tensor_init(&p->bdy, d, &p->md, dn_md(p->bpd, dnnl_query_diff_dst_md), DN_IN) ||
        dn_tensor_init(&p->bdx, d, &p->md, dn_md(p->bpd, dnnl_query_diff_src_md), DN_OUT))
        goto fail;
    return p;
fail:
    part_free(p);
    return NULL;
}

static int part_forward(lrn_part *p, const float *x, float *y)
{
    int rc = 0, s = p->slot, n = 0;
    dnnl_exec_arg_t a[3];
    a[n++] = DN_ARG(DNNL_ARG_SRC, dn_in(p->d, s, &p->fx, x, &rc));
    a[n++] = DN_ARG(DNNL_ARG_DST, dn_out(&p->fy, y));
    if (p->ws) a[n++] = DN_ARG(DNNL_ARG_WORKSPACE, p->ws);
    p->fx_of = dn_reordered(&p->fx) ? x : NULL;
    if (rc || dn_exec(p->d, s, p->fwd, n, a) || dn_out_done(p->d, s, &p->fy)) return -1;
    return 0;
}

static int part_backward(lrn_part *p, const float *x, const float *dy, float *dx)
{
    int rc = 0, s = p->slot, n = 0;
    dnnl_memory_t xm;
    if (p->fx_of == x && dnnl_memory_desc_equal(dn_md(p->fpd, dnnl_query_src_md), dn_md(p->bpd, dnnl_query_src_md)))
        xm = p->fx.prim; /* forward's reordered bottom */
    else
        xm = dn_in(p->d, s, &p->bx, x, &rc);
    dnnl_exec_arg_t a[4];
    a[n++] = DN_ARG(DNNL_ARG_SRC, xm);
    a[n++] = DN_ARG(DNNL_ARG_DIFF_DST, dn_in(p->d, s, &p->bdy, dy, &rc));
    a[n++] = DN_ARG(DNNL_ARG_DIFF_SRC, dn_out(&p->bdx, dx));
    if (p->ws) a[n++] = DN_ARG(DNNL_ARG_WORKSPACE, p->ws);
    if (rc || dn_exec(p->d, s, p->bwd, n, a) || dn_out_done(p->d, s, &p->bdx)) return -1;
    return 0;
}

/* ---- the plan: one part per slice of the batch ---- */

struct cf_dnnl_lrn {
    cf_dnnl *d;
    int nthreads;
    int shape[4];
    lrn_conf c;
    int ns;
    lrn_part *part[DN_SLOTS];
    long n0[DN_SLOTS + 1];
};

void cf_dnnl_lrn_free(cf_dnnl_lrn *p)
{
    if (!p) return;
    for (int s = 0; s < p->ns; s++) part_free(p->part[s]);
    free(p);
}

cf_dnnl_lrn *cf_dnnl_lrn_plan(cf_dnnl_lrn *old, cf_backend *be, const int shape[4], bool within, int size,
                              float alpha, float beta, float k, bool train)
{
    cf_dnnl *d = cf_dnnl_of(be);
    lrn_conf c = {within, train, size, alpha, beta, k};
    if (old && old->d == d && old->nthreads == be->nthreads && old->shape[0] == shape[0] &&
        old->shape[1] == shape[1] && old->shape[2] == shape[2] && old->shape[3] == shape[3] &&
        old->c.within == within && old->c.train == train && old->c.size == size && old->c.alpha == alpha &&
        old->c.beta == beta && old->c.k == k)
        return old;
    cf_dnnl_lrn_free(old);
    if (!d || (size_t)shape[0] * shape[1] * shape[2] * shape[3] == 0) return NULL;
    cf_dnnl_lrn *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->nthreads = be->nthreads, p->c = c;
    for (int i = 0; i < 4; i++) p->shape[i] = shape[i];
    int ns = dn_slices(d, shape[0]);
    for (int s = 0; s <= ns; s++) p->n0[s] = dn_slice_at(shape[0], ns, s);
    for (int s = 0; s < ns; s++) {
        p->part[s] = part_new(d, s, p->n0[s + 1] - p->n0[s], shape, &c);
        p->ns = s + 1;
        if (!p->part[s]) {
            cf_dnnl_lrn_free(p);
            return NULL;
        }
    }
    return p;
}

typedef struct {
    cf_dnnl_lrn *p;
    const float *x, *dy;
    float *y, *dx;
} lrn_job;

static size_t image(const cf_dnnl_lrn *p) { return (size_t)p->shape[1] * p->shape[2] * p->shape[3]; }

static int forward_slice(void *arg, int s)
{
    lrn_job *j = arg;
    size_t off = (size_t)j->p->n0[s] * image(j->p);
    return part_forward(j->p->part[s], j->x + off, j->y + off);
}

int cf_dnnl_lrn_forward(cf_dnnl_lrn *p, const float *x, float *y)
{
    lrn_job j = {p, x, NULL, y, NULL};
    return dn_parallel(p->d, p->ns, forward_slice, &j);
}

static int backward_slice(void *arg, int s)
{
    lrn_job *j = arg;
    size_t off = (size_t)j->p->n0[s] * image(j->p);
    return part_backward(j->p->part[s], j->x + off, j->dy + off, j->dx + off);
}

int cf_dnnl_lrn_backward(cf_dnnl_lrn *p, const float *x, const float *dy, float *dx)
{
    if (!p->c.train) return -1;
    lrn_job j = {p, x, dy, NULL, dx};
    return dn_parallel(p->d, p->ns, backward_slice, &j);
}
