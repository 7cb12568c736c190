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
 * MAX keeps oneDNN's workspace (where each maximum came from) for
 * backward.
 *
 * Layouts.  When the bottom's blocked side holds the current values (the
 * top of a convolution: blocked activations, dnnl_layers.h), the
 * plan is made for that layout: the primitive reads it in place and
 * writes its top in the layout it chooses (the same blocking, where
 * oneDNN's JIT code is fast), and backward takes and gives diffs in those
 * layouts.  Otherwise both sides are plain NCHW (pooling reads each value
 * once, and a reorder would cost as much as the pooling), and that plan
 * is made only with CAFETUI_DNNL_POOL=1: on plain NCHW oneDNN 2.6 has only
 * its simple_nchw implementation, which took 10-12 ms of CPU for LeNet's
 * pool1 forward where pooling.c takes about 1 ms (BENCHMARKS.md).  The
 * batch is cut into slices, one per thread, as dnnl_conv.c cuts it. */
#include <stdlib.h>
#include <float.h>
#include <string.h>

#include "dnnl_common.h"

typedef struct pool_part {
    cf_dnnl *d;
    int slot;
    dnnl_primitive_desc_t fpd, bpd;
    dnnl_primitive_t fwd, bwd;
    dn_tensor fx, fy, bdy, bdx;
    dnnl_memory_t ws;
} pool_part;

struct cf_dnnl_pool {
    cf_dnnl *d;
    int nthreads;               /* the backend's when the plan was made */
    cf_dnnl_pool_geom g;
    bool train;
    bool blocked;               /* made for the bottom's blocked layout src (whole batch) */
    dnnl_memory_desc_t src;
    dnnl_dims_t st, k, pl, pr;
    dnnl_alg_kind_t alg;
    int ns;
    pool_part *part[DN_SLOTS];
    long n0[DN_SLOTS + 1];
    dn_batch bx, by, bdy, bdx;
    /* MAX on a blocked bottom: our own kernels (see the top comment) */
    bool own;
    int B;                      /* channels per block: 8 or 16 */
    dnnl_memory_desc_t dst;     /* the top's layout: the bottom's blocking */
    int *argmax;                /* per top value (padding lanes included) */
};

static void part_free(pool_part *p)
{
    if (!p) return;
    dn_tensor *ts[] = {&p->fx, &p->fy, &p->bdy, &p->bdx};
    for (size_t i = 0; i < 4; i++) dn_tensor_free(ts[i]);
    if (p->ws) dnnl_memory_destroy(p->ws);
    if (p->fwd) dnnl_primitive_destroy(p->fwd);
    if (p->bwd) dnnl_primitive_destroy(p->bwd);
    if (p->fpd) dnnl_primitive_desc_destroy(p->fpd);
    if (p->bpd) dnnl_primitive_desc_destroy(p->bpd);
    free(p);
}

void cf_dnnl_pool_free(cf_dnnl_pool *p)
{
    if (!p) return;
    for (int s = 0; s < p->ns; s++) part_free(p->part[s]);
    free(p->argmax);
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

/* One slice of n images. */
static pool_part *part_new(cf_dnnl_pool *pl, int slot, long n)
{
    cf_dnnl *d = pl->d;
    const cf_dnnl_pool_geom *g = &pl->g;
    pool_part *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->slot = slot;
    dnnl_memory_desc_t x_md, y_md, src, dst;
    dn_md_plain(&x_md, 4, (long[]){n, g->C, g->H, g->W}, dnnl_nchw);
    dn_md_plain(&y_md, 4, (long[]){n, g->C, g->Ho, g->Wo}, dnnl_nchw);
    src = x_md, dst = y_md;
    if (pl->blocked) {
        src = pl->src;
        src.dims[0] = src.padded_dims[0] = n;
        dnnl_memory_desc_init_by_tag(&dst, 4, y_md.dims, dnnl_f32, dnnl_format_tag_any);
    }
    dnnl_pooling_desc_t pd;
    if (dnnl_pooling_forward_desc_init(&pd, pl->train ? dnnl_forward_training : dnnl_forward_inference, pl->alg, &src,
                                       &dst, pl->st, pl->k, pl->pl, pl->pr) != dnnl_success ||
        dn_make(d, &pd, NULL, &p->fpd, &p->fwd))
        goto fail;
    /* on plain NCHW the primitive must take our layouts as they are */
    if (!pl->blocked && (!dnnl_memory_desc_equal(dn_md(p->fpd, dnnl_query_src_md), &x_md) ||
                         !dnnl_memory_desc_equal(dn_md(p->fpd, dnnl_query_dst_md), &y_md)))
        goto fail;
    if (dn_tensor_init(&p->fx, d, &x_md, dn_md(p->fpd, dnnl_query_src_md), DN_IN) ||
        dn_tensor_init(&p->fy, d, &y_md, dn_md(p->fpd, dnnl_query_dst_md), DN_OUT))
        goto fail;
    const dnnl_memory_desc_t *ws = dn_md(p->fpd, dnnl_query_workspace_md);
    if (ws && dnnl_memory_desc_get_size(ws) > 0 &&
        dnnl_memory_create(&p->ws, ws, d->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) {
        p->ws = NULL;
        goto fail;
    }
    /* backward is made now, so that a net that trains either runs all
     * of its passes here or none (MAX's reference backward needs the
     * reference forward's argmax); its diffs take forward's layouts */
    if (pl->train) {
        if (dnnl_pooling_backward_desc_init(&pd, pl->alg, dn_md(p->fpd, dnnl_query_src_md),
                                            dn_md(p->fpd, dnnl_query_dst_md), pl->st, pl->k, pl->pl,
                                            pl->pr) != dnnl_success ||
            dn_make(d, &pd, p->fpd, &p->bpd, &p->bwd))
            goto fail;
        if (dn_tensor_init(&p->bdy, d, &y_md, dn_md(p->bpd, dnnl_query_diff_dst_md), DN_IN) ||
            dn_tensor_init(&p->bdx, d, &x_md, dn_md(p->bpd, dnnl_query_diff_src_md), DN_OUT))
            goto fail;
    }
    return p;
fail:
    part_free(p);
    return NULL;
}

/* ---- MAX on blocked layouts: our own kernels ----
 *
 * oneDNN's MAX pooling for training records where each maximum came from
 * in a byte workspace, which its AVX2 code writes slowly: 3.4 ms for
 * LeNet's pool1 where inference takes 0.9 ms and pooling.c 1 ms.  On a
 * blocked bottom (nChw8c, nChw16c: planes of H·W·B values, B channels
 * interleaved) pooling.c's rule is easy to follow with B channels at once:
 * Caffe's windows clipped to the image, the first of equal values wins
 * (strict >), an empty window gives 0 and no gradient; the argmax kept
 * per top value is the index h·W + w in the plane.  So it agrees with
 * pooling.c bit for bit, and padding lanes (zeros) stay zero. */

static int own_max_plan(cf_dnnl_pool *p)
{
    const cf_dnnl_pool_geom *g = &p->g;
    dnnl_memory_desc_t want;
    p->B = 0;
    if (dnnl_memory_desc_init_by_tag(&want, 4, p->src.dims, dnnl_f32, dnnl_nChw8c) == dnnl_success &&
        dnnl_memory_desc_equal(&want, &p->src))
        p->B = 8;
    else if (dnnl_memory_desc_init_by_tag(&want, 4, p->src.dims, dnnl_f32, dnnl_nChw16c) == dnnl_success &&
             dnnl_memory_desc_equal(&want, &p->src))
        p->B = 16;
    dnnl_dims_t yd = {g->N, g->C, g->Ho, g->Wo};
    size_t CB = (size_t)(g->C + p->B - 1) / (p->B ? p->B : 1);
    if (!p->B ||
        dnnl_memory_desc_init_by_tag(&p->dst, 4, yd, dnnl_f32, p->B == 8 ? dnnl_nChw8c : dnnl_nChw16c) !=
            dnnl_success ||
        !(p->argmax = malloc((size_t)g->N * CB * g->Ho * g->Wo * (size_t)p->B * sizeof *p->argmax))) {
        cf_dnnl_pool_free(p);
        return -1;
    }
    p->own = true;
    return 0;
}

typedef struct {
    const cf_dnnl_pool *p;
    const float *x;     /* forward: bottom; backward: top diff */
    float *y;           /* forward: top; backward: bottom diff */
} own_job;

/* Eight lanes at a time, with GCC's vector extensions (C has no ?: on
 * vectors: selects are bit masks).  Unaligned-safe loads by memcpy. */
typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

/* Planes [qb, qe) of the top, B lanes (8 or 16) at a time. */
static void max_fwd_planes(void *arg, size_t qb, size_t qe)
{
    const own_job *j = arg;
    const cf_dnnl_pool_geom g = j->p->g;
    const int B = j->p->B;
    size_t in = (size_t)g.H * g.W * B, out = (size_t)g.Ho * g.Wo * B;
    for (size_t q = qb; q < qe; q++) {
        const float *x = j->x + q * in;
        float *y = j->y + q * out;
        int *am = j->p->argmax + q * out;
        for (int yo = 0; yo < g.Ho; yo++) {
            int h0 = yo * g.sh - g.ph, h1 = h0 + g.kh < g.H ? h0 + g.kh : g.H;
            if (h0 < 0) h0 = 0;
            for (int xo = 0; xo < g.Wo; xo++) {
                int w0 = xo * g.sw - g.pw, w1 = w0 + g.kw < g.W ? w0 + g.kw : g.W;
                if (w0 < 0) w0 = 0;
                size_t o = ((size_t)yo * g.Wo + xo) * B;
                for (int c = 0; c < B; c += 8) {
                    v8f m = {-FLT_MAX, -FLT_MAX, -FLT_MAX, -FLT_MAX, -FLT_MAX, -FLT_MAX, -FLT_MAX, -FLT_MAX};
                    v8i a = {-1, -1, -1, -1, -1, -1, -1, -1};
                    for (int h = h0; h < h1; h++)
                        for (int w = w0; w < w1; w++) {
                            v8f v;
                            memcpy(&v, x + ((size_t)h * g.W + w) * B + c, sizeof v);
                            v8i more = v > m, idx = (v8i){0} + (h * g.W + w);
                            m = (v8f)(((v8i)v & more) | ((v8i)m & ~more));
                            a = (idx & more) | (a & ~more);
                        }
                    v8i empty = a < 0;
                    v8f r = (v8f)((v8i)m & ~empty); /* an empty window gives 0 */
                    memcpy(y + o + c, &r, sizeof r);
                    memcpy(am + o + c, &a, sizeof a);
                }
            }
        }
    }
}

static void max_bwd_planes(void *arg, size_t qb, size_t qe)
{
    const own_job *j = arg;
    const cf_dnnl_pool_geom g = j->p->g;
    const int B = j->p->B;
    size_t in = (size_t)g.H * g.W * B, out = (size_t)g.Ho * g.Wo * B;
    for (size_t q = qb; q < qe; q++) {
        const float *dy = j->x + q * out;
        float *dx = j->y + q * in;
        const int *am = j->p->argmax + q * out;
        memset(dx, 0, in * sizeof *dx);
        for (size_t o = 0; o < out; o += (size_t)B)
            for (int l = 0; l < B; l++)
                if (am[o + l] >= 0) dx[(size_t)am[o + l] * B + l] += dy[o + l];
    }
}

static size_t own_planes(const cf_dnnl_pool *p) { return (size_t)p->g.N * ((p->g.C + p->B - 1) / p->B); }

static size_t own_grain(const cf_dnnl_pool *p)
{
    size_t work = ((size_t)p->g.H * p->g.W + (size_t)p->g.Ho * p->g.Wo) * p->B;
    return work >= 16384 ? 1 : 16384 / (work ? work : 1);
}

static int own_forward(cf_dnnl_pool *p, const cf_blob *x, cf_blob *y)
{
    cf_dnnl *d = p->d;
    own_job j = {p, dn_alt_get(d, x->data, &p->src, x->count), NULL};
    if (!j.x || !(j.y = dn_alt_write(d, y->data, &p->dst, y->count))) return -1;
    cf_parallel_for(d->be, own_planes(p), own_grain(p), max_fwd_planes, &j);
    cf_mem_alt_wrote(y->data);
    return 0;
}

static int own_backward(cf_dnnl_pool *p, const cf_blob *y, cf_blob *x)
{
    cf_dnnl *d = p->d;
    own_job j = {p, dn_alt_get(d, y->diff, &p->dst, y->count), NULL};
    if (!j.x || !(j.y = dn_alt_write(d, x->diff, &p->src, x->count))) return -1;
    cf_parallel_for(d->be, own_planes(p), own_grain(p), max_bwd_planes, &j);
    cf_mem_alt_wrote(x->diff);
    return 0;
}

/* ---- the plan ---- */

cf_dnnl_pool *cf_dnnl_pool_plan(cf_dnnl_pool *old, cf_backend *be, const cf_dnnl_pool_geom *g, bool train,
                                const cf_blob *x)
{
    cf_dnnl *d = cf_dnnl_of(be);
    /* the bottom's blocked layout, when it holds one for this shape */
    const dnnl_memory_desc_t *alt = d && x ? dn_alt_md(x->data) : NULL;
    if (alt && (alt->ndims != 4 || alt->dims[0] != g->N || alt->dims[1] != g->C || alt->dims[2] != g->H ||
                alt->dims[3] != g->W))
        alt = NULL;
    if (old && old->d == d && old->nthreads == be->nthreads && old->train == train && same(&old->g, g) &&
        old->blocked == (alt != NULL) && (!alt || dnnl_memory_desc_equal(&old->src, alt)))
        return old;
    cf_dnnl_pool_free(old);
    if (!d || (!alt && !d->pool) || (size_t)g->N * g->C * g->Ho * g->Wo == 0) return NULL;
    long prh = right_pad(g->H, g->Ho, g->kh, g->ph, g->sh), prw = right_pad(g->W, g->Wo, g->kw, g->pw, g->sw);
    dnnl_alg_kind_t alg = pick_alg(g, prh, prw);
    if (!alg && !(alt && g->max)) return NULL; /* our MAX kernels take every Caffe shape */
    cf_dnnl_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->nthreads = be->nthreads, p->g = *g, p->train = train, p->alg = alg;
    p->blocked = alt != NULL;
    if (alt) p->src = *alt;
    if (alt && g->max) return own_max_plan(p) ? NULL : p;
    p->st[0] = g->sh, p->st[1] = g->sw, p->k[0] = g->kh, p->k[1] = g->kw;
    p->pl[0] = g->ph, p->pl[1] = g->pw, p->pr[0] = prh, p->pr[1] = prw;
    int ns = dn_slices(d, g->N);
    for (int s = 0; s <= ns; s++) p->n0[s] = dn_slice_at(g->N, ns, s);
    for (int s = 0; s < ns; s++) {
        p->part[s] = part_new(p, s, p->n0[s + 1] - p->n0[s]);
        p->ns = s + 1;
        if (!p->part[s]) {
            cf_dnnl_pool_free(p);
            return NULL;
        }
    }
    for (int s = 0; s < ns; s++) {
        pool_part *q = p->part[s];
        dn_batch_add(&p->bx, s, dn_md(q->fpd, dnnl_query_src_md), dn_reordered(&q->fx), g->N);
        dn_batch_add(&p->by, s, dn_md(q->fpd, dnnl_query_dst_md), dn_reordered(&q->fy), g->N);
        if (q->bwd) {
            dn_batch_add(&p->bdy, s, dn_md(q->bpd, dnnl_query_diff_dst_md), dn_reordered(&q->bdy), g->N);
            dn_batch_add(&p->bdx, s, dn_md(q->bpd, dnnl_query_diff_src_md), dn_reordered(&q->bdx), g->N);
        }
    }
    return p;
}

typedef struct {
    cf_dnnl_pool *p;
    dn_op x, y;         /* forward: bottom, top; backward: top diff, bottom diff */
} pool_job;

static int forward_slice(void *arg, int s)
{
    pool_job *j = arg;
    pool_part *q = j->p->part[s];
    long n0 = j->p->n0[s];
    int rc = 0;
    dn_ptr x = dn_op_at(j->x, n0), y = dn_op_at(j->y, n0);
    dnnl_exec_arg_t a[3] = {DN_ARG(DNNL_ARG_SRC, dn_in_op(q->d, q->slot, &q->fx, x, &rc)),
                            DN_ARG(DNNL_ARG_DST, dn_out_op(&q->fy, y)), DN_ARG(DNNL_ARG_WORKSPACE, q->ws)};
    if (rc || dn_exec(q->d, q->slot, q->fwd, q->ws ? 3 : 2, a)) return -1;
    return dn_out_done_op(q->d, q->slot, &q->fy, y);
}

static size_t plane_bytes(const cf_dnnl_pool *p, bool out)
{
    return sizeof(float) * (size_t)p->g.C * (out ? (size_t)p->g.Ho * p->g.Wo : (size_t)p->g.H * p->g.W);
}

int cf_dnnl_pool_forward(cf_dnnl_pool *p, const cf_blob *x, cf_blob *y)
{
    if (p->own) return own_forward(p, x, y);
    pool_job j = {p, dn_op_read(x, false, &p->bx, plane_bytes(p, false)),
                  dn_op_write(p->d, y, false, &p->by, plane_bytes(p, true))};
    if (!j.x.base || !j.y.base || dn_parallel(p->d, p->ns, forward_slice, &j)) return -1;
    dn_op_wrote(y, false, j.y);
    return 0;
}

static int backward_slice(void *arg, int s)
{
    pool_job *j = arg;
    pool_part *q = j->p->part[s];
    long n0 = j->p->n0[s];
    int rc = 0;
    dn_ptr dy = dn_op_at(j->x, n0), dx = dn_op_at(j->y, n0);
    dnnl_exec_arg_t a[3] = {DN_ARG(DNNL_ARG_DIFF_DST, dn_in_op(q->d, q->slot, &q->bdy, dy, &rc)),
                            DN_ARG(DNNL_ARG_DIFF_SRC, dn_out_op(&q->bdx, dx)), DN_ARG(DNNL_ARG_WORKSPACE, q->ws)};
    if (rc || dn_exec(q->d, q->slot, q->bwd, q->ws ? 3 : 2, a)) return -1;
    return dn_out_done_op(q->d, q->slot, &q->bdx, dx);
}

int cf_dnnl_pool_backward(cf_dnnl_pool *p, const cf_blob *y, cf_blob *x)
{
    if (p->own) return own_backward(p, y, x);
    if (!p->part[0]->bwd) return -1;
    pool_job j = {p, dn_op_read(y, true, &p->bdy, plane_bytes(p, true)),
                  dn_op_write(p->d, x, true, &p->bdx, plane_bytes(p, false))};
    if (!j.x.base || !j.y.base || dn_parallel(p->d, p->ns, backward_slice, &j)) return -1;
    dn_op_wrote(x, true, j.y);
    return 0;
}
