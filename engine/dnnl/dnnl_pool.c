/* dnnl_pool.c — Pooling through oneDNN (dnnl_layers.h), when oneDNN can
 * say exactly what Caffe's pooling does.
 *
 * Caffe's output size rounds up (pooling.c); oneDNN's rounds down.  The
 * same windows come out of oneDNN when the right/bottom padding is grown
 * to reach the last of Caffe's windows:
 *     pr = max(0, (Ho − 1)·s + k − H − p)
 * (the smallest pr with (H + p + pr − k) / s + 1 = Ho).  What the windows
 * then hold must agree too:
 *   MAX  padding never wins in either, but a window lying wholly in the
 *        padding (stride larger than the kernel) is 0 in our layer and not
 *        in oneDNN's: such a shape falls back.
 *   AVE  Caffe divides by the window clipped to the padded image
 *        [−p, H + p), and sums over the image only.  With no padding
 *        that is the count of image cells in the window: oneDNN's
 *        avg_exclude_padding.  With padding it is k (the whole kernel)
 *        as long as no window reaches past H + p, that is pr <= p on both
 *        axes: oneDNN's avg_include_padding.  Anything else falls back.
 * Both sides are plain NCHW: pooling reads each value once, and a reorder
 * would cost as much as the pooling.  MAX keeps oneDNN's workspace (where
 * each maximum came from) for backward.
 *
 * Off unless CAFETUI_DNNL_POOL=1: on plain NCHW oneDNN 2.6 has only its
 * simple_nchw implementation, which took 10-12 ms of CPU for LeNet's
 * pool1 forward where pooling.c takes about 1 ms (BENCHMARKS.md).  It is
 * kept, and tested against pooling.c, for layouts where oneDNN has fast
 * code (blocked activations between layers).  Unlike the other plans it
 * is not cut into slices: one thread (or oneDNN's OpenMP threads with
 * CAFETUI_DNNL_OMP=1) runs it. */
#include <stdlib.h>
#include <string.h>

#include "dnnl_common.h"

struct cf_dnnl_pool {
    cf_dnnl *d;
    int nthreads;               /* the backend's when the plan was made */
    cf_dnnl_pool_geom g;
    bool train;
    dnnl_memory_desc_t x_md, y_md;
    dnnl_dims_t st, k, pl, pr;
    dnnl_alg_kind_t alg;
    dnnl_primitive_desc_t fpd, bpd;
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t x, y, ws, dx, dy;
};

void cf_dnnl_pool_free(cf_dnnl_pool *p)
{
    if (!p) return;
    dnnl_memory_t ms[] = {p->x, p->y, p->ws, p->dx, p->dy};
    for (size_t i = 0; i < 5; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    if (p->fwd) dnnl_primitive_destroy(p->fwd);
    if (p->bwd) dnnl_primitive_destroy(p->bwd);
    if (p->fpd) dnnl_primitive_desc_destroy(p->fpd);
    if (p->bpd) dnnl_primitive_desc_destroy(p->bpd);
    free(p);
}

/* Right padding that gives Caffe's `out` along one axis, or -1. */
static long right_pad(int in, int out, int k, int pad, int stride)
{
    long pr = (long)(out - 1) * stride + k - in - pad;
    if (pr < 0) pr = 0;
    if (((long)in + pad + pr - k) / stride + 1 != out) return -1;
    return pr;
}

/* Which oneDNN algorithm computes Caffe's pooling, or 0 when none does. */
static dnnl_alg_kind_t pick_alg(const cf_dnnl_pool_geom *g, long prh, long prw)
{
    if (prh < 0 || prw < 0) return 0;
    /* a last window wholly outside the image */
    if ((long)(g->Ho - 1) * g->sh - g->ph >= g->H || (long)(g->Wo - 1) * g->sw - g->pw >= g->W) return 0;
    if (g->max) return dnnl_pooling_max;
    if (g->ph == 0 && g->pw == 0) return dnnl_pooling_avg_exclude_padding;
    if (prh <= g->ph && prw <= g->pw) return dnnl_pooling_avg_include_padding;
    return 0;
}

static bool same(const cf_dnnl_pool_geom *a, const cf_dnnl_pool_geom *b)
{
    return a->N == b->N && a->C == b->C && a->H == b->H && a->W == b->W && a->Ho == b->Ho && a->Wo == b->Wo &&
           a->kh == b->kh && a->kw == b->kw && a->ph == b->ph && a->pw == b->pw && a->sh == b->sh &&
           a->sw == b->sw && a->max == b->max;
}

static int make_backward(cf_dnnl_pool *p)
{
    dnnl_pooling_desc_t pd;
    if (dnnl_pooling_backward_desc_init(&pd, p->alg, &p->x_md, &p->y_md, p->st, p->k, p->pl, p->pr) != dnnl_success ||
        dn_make(p->d, &pd, p->fpd, &p->bpd, &p->bwd))
        return -1;
    if (!dnnl_memory_desc_equal(dn_md(p->bpd, dnnl_query_diff_src_md), &p->x_md) ||
        !dnnl_memory_desc_equal(dn_md(p->bpd, dnnl_query_diff_dst_md), &p->y_md))
        return -1;
    if (dnnl_memory_create(&p->dx, &p->x_md, p->d->engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl_memory_create(&p->dy, &p->y_md, p->d->engine, DNNL_MEMORY_NONE) != dnnl_success)
        return -1;
    return 0;
}

cf_dnnl_pool *cf_dnnl_pool_plan(cf_dnnl_pool *old, cf_backend *be, const cf_dnnl_pool_geom *g, bool train)
{
    cf_dnnl *d = cf_dnnl_of(be);
    if (old && old->d == d && old->nthreads == be->nthreads && old->train == train && same(&old->g, g)) return old;
    cf_dnnl_pool_free(old);
    if (!d || !d->pool || (size_t)g->N * g->C * g->Ho * g->Wo == 0) return NULL;
    long prh = right_pad(g->H, g->Ho, g->kh, g->ph, g->sh), prw = right_pad(g->W, g->Wo, g->kw, g->pw, g->sw);
    dnnl_alg_kind_t alg = pick_alg(g, prh, prw);
    if (!alg) return NULL;
    cf_dnnl_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->nthreads = be->nthreads, p->g = *g, p->train = train, p->alg = alg;
    dn_md_plain(&p->x_md, 4, (long[]){g->N, g->C, g->H, g->W}, dnnl_nchw);
    dn_md_plain(&p->y_md, 4, (long[]){g->N, g->C, g->Ho, g->Wo}, dnnl_nchw);
    p->st[0] = g->sh, p->st[1] = g->sw, p->k[0] = g->kh, p->k[1] = g->kw;
    p->pl[0] = g->ph, p->pl[1] = g->pw, p->pr[0] = prh, p->pr[1] = prw;
    dnnl_pooling_desc_t pd;
    if (dnnl_pooling_forward_desc_init(&pd, train ? dnnl_forward_training : dnnl_forward_inference, alg, &p->x_md,
                                       &p->y_md, p->st, p->k, p->pl, p->pr) != dnnl_success ||
        dn_make(d, &pd, NULL, &p->fpd, &p->fwd))
        goto fail;
    /* the primitive must take our layouts as they are */
    if (!dnnl_memory_desc_equal(dn_md(p->fpd, dnnl_query_src_md), &p->x_md) ||
        !dnnl_memory_desc_equal(dn_md(p->fpd, dnnl_query_dst_md), &p->y_md))
        goto fail;
    if (dnnl_memory_create(&p->x, &p->x_md, d->engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl_memory_create(&p->y, &p->y_md, d->engine, DNNL_MEMORY_NONE) != dnnl_success)
        goto fail;
    const dnnl_memory_desc_t *ws = dn_md(p->fpd, dnnl_query_workspace_md);
    if (ws && dnnl_memory_desc_get_size(ws) > 0 &&
        dnnl_memory_create(&p->ws, ws, d->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success)
        goto fail;
    /* backward is made now, so that a net that trains either runs all
     * of its passes here or none (MAX's reference backward needs the
     * reference forward's argmax) */
    if (train && make_backward(p)) goto fail;
    return p;
fail:
    cf_dnnl_pool_free(p);
    return NULL;
}

int cf_dnnl_pool_forward(cf_dnnl_pool *p, const float *x, float *y)
{
    dnnl_memory_set_data_handle(p->x, (void *)x);
    dnnl_memory_set_data_handle(p->y, y);
    dnnl_exec_arg_t a[3] = {DN_ARG(DNNL_ARG_SRC, p->x), DN_ARG(DNNL_ARG_DST, p->y), DN_ARG(DNNL_ARG_WORKSPACE, p->ws)};
    return dn_exec(p->d, 0, p->fwd, p->ws ? 3 : 2, a);
}

int cf_dnnl_pool_backward(cf_dnnl_pool *p, const float *dy, float *dx)
{
    if (!p->bwd) return -1;
    dnnl_memory_set_data_handle(p->dy, (void *)dy);
    dnnl_memory_set_data_handle(p->dx, dx);
    dnnl_exec_arg_t a[3] = {DN_ARG(DNNL_ARG_DIFF_DST, p->dy), DN_ARG(DNNL_ARG_DIFF_SRC, p->dx),
                            DN_ARG(DNNL_ARG_WORKSPACE, p->ws)};
    return dn_exec(p->d, 0, p->bwd, p->ws ? 3 : 2, a);
}
