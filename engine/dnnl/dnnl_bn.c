/* dnnl_bn.c — BatchNorm through oneDNN's batch normalization
 * (dnnl_layers.h), without scale and shift, as Caffe's layer is.
 *
 * oneDNN normalises each channel c of an N × C × S blob (seen as the 4-D
 * {N, C, S, 1} in nchw: the same bytes) as batch_norm.c does:
 *     y = (x − μ_c) / √(σ²_c + ε)
 * with, in forward training without global statistics, μ the batch mean
 * and σ² the batch variance divided by m = N·S (biased, as the layer's
 * σ²), both handed back so that the layer folds them into its running
 * sums with Caffe's m/(m−1) correction itself (batch_norm.c); with global
 * statistics (dnnl_use_global_stats) μ and σ² are inputs, the running
 * mean and variance the layer computed from its three blobs.  Backward
 * (backward_data: no scale or shift to learn) is the layer's gradient:
 *     batch statistics:  ∂E/∂x = (∂E/∂y − mean(∂E/∂y) − mean(∂E/∂y·ŷ)·ŷ) / √(σ² + ε)
 *     global statistics: ∂E/∂x = ∂E/∂y / √(σ² + ε)
 * with ŷ recomputed from x, μ and σ² rather than kept.
 *
 * Layout: in Caffe's plain layout oneDNN 2.6 offers its ncsp code, slower
 * than batch_norm.c (64×32×16×16, one thread: forward 1.9 ms, backward
 * 3.2 ms with batch statistics), while its JIT code for the 8-channel
 * blocked layout nChw8c takes 0.73 and 0.23 ms, and a reorder to or from
 * that layout 0.16 ms.  So x and ∂E/∂y are reordered into nChw8c and y
 * and ∂E/∂x back, and backward reads the x that forward reordered (kept
 * in the plan, as the layer would keep ŷ): in place, nothing else holds
 * x by then.
 *
 * Batch statistics need the whole batch at once, so that plan is one
 * slice (one thread); with global statistics every image stands alone and
 * the batch is cut into one slice per pool thread (dnnl_common.c). */
#include <stdlib.h>
#include <string.h>

#include "dnnl_common.h"

typedef struct bn_part {
    cf_dnnl *d;
    int slot;
    dnnl_memory_desc_t md, cmd;     /* the slice's {n, C, S, 1} in nchw; {C} */
    dnnl_primitive_desc_t fpd, bpd;
    dnnl_primitive_t fwd, bwd;
    dn_tensor fx, fy, bdy, bdx;     /* fx keeps forward's x for backward */
    dnnl_memory_t mean, var;
} bn_part;

static void part_free(bn_part *p)
{
    if (!p) return;
    dn_tensor *ts[] = {&p->fx, &p->fy, &p->bdy, &p->bdx};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) dn_tensor_free(ts[i]);
    if (p->mean) dnnl_memory_destroy(p->mean);
    if (p->var) dnnl_memory_destroy(p->var);
    if (p->fwd) dnnl_primitive_destroy(p->fwd);
    if (p->bwd) dnnl_primitive_destroy(p->bwd);
    if (p->fpd) dnnl_primitive_desc_destroy(p->fpd);
    if (p->bpd) dnnl_primitive_desc_destroy(p->bpd);
    free(p);
}

/* dn_make refuses implementations named "ref...", but batch norm's is
 * "bnorm_ref:any": refuse that too (batch_norm.c is better than it). */
static int make(cf_dnnl *d, const_dnnl_op_desc_t op, const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *pd,
                dnnl_primitive_t *prim)
{
    if (dn_make(d, op, hint, pd, prim)) return -1;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
        !strstr(impl, "ref"))
        return 0;
    dnnl_primitive_destroy(*prim);
    dnnl_primitive_desc_destroy(*pd);
    *prim = NULL, *pd = NULL;
    return -1;
}

static bn_part *part_new(cf_dnnl *d, int slot, size_t n, size_t C, size_t S, float eps, bool global, bool train)
{
    bn_part *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->slot = slot;
    long dims[4] = {(long)n, (long)C, (long)S, 1};
    dn_md_plain(&p->md, 4, dims, dnnl_nchw);
    dnnl_memory_desc_t blk;
    dn_md_plain(&blk, 4, dims, dnnl_nChw8c);
    dn_md_plain(&p->cmd, 1, (long[]){(long)C}, dnnl_a);
    unsigned flags = global ? dnnl_use_global_stats : 0;
    /* batch statistics come out only from forward training */
    dnnl_prop_kind_t prop = train || !global ? dnnl_forward_training : dnnl_forward_inference;
    dnnl_batch_normalization_desc_t bd;
    if (dnnl_batch_normalization_forward_desc_init(&bd, prop, &blk, eps, flags) != dnnl_success ||
        make(d, &bd, NULL, &p->fpd, &p->fwd))
        goto fail;
    if (dn_tensor_init(&p->fx, d, &p->md, dn_md(p->fpd, dnnl_query_src_md), DN_IN) ||
        dn_tensor_init(&p->fy, d, &p->md, dn_md(p->fpd, dnnl_query_dst_md), DN_OUT) || !dn_reordered(&p->fx))
        goto fail; /* (backward relies on fx's own buffer) */
    /* backward whenever forward could give it (a TEST net is not asked) */
    if (prop == dnnl_forward_training) {
        if (dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward_data, &blk, &blk, eps, flags) !=
                dnnl_success ||
            make(d, &bd, p->fpd, &p->bpd, &p->bwd) ||
            !dnnl_memory_desc_equal(dn_md(p->bpd, dnnl_query_src_md), dn_md(p->fpd, dnnl_query_src_md)) ||
            dn_tensor_init(&p->bdy, d, &p->md, dn_md(p->bpd, dnnl_query_diff_dst_md), DN_IN) ||
            dn_tensor_init(&p->bdx, d, &p->md, dn_md(p->bpd, dnnl_query_diff_src_md), DN_OUT))
            goto fail;
    }
    if (dnnl_memory_create(&p->mean, &p->cmd, d->engine, DNNL_MEMORY_NONE) != dnnl_success) {
        p->mean = NULL;
        goto fail;
    }
    if (dnnl_memory_create(&p->var, &p->cmd, d->engine, DNNL_MEMORY_NONE) != dnnl_success) {
        p->var = NULL;
        goto fail;
    }
    return p;
fail:
    part_free(p);
    return NULL;
}

/* ---- the plan ---- */

struct cf_dnnl_bn {
    cf_dnnl *d;
    int nthreads;
    size_t N, C, S;
    float eps;
    bool global, train;
    int ns;
    bn_part *part[DN_SLOTS];
    long n0[DN_SLOTS + 1];
};

void cf_dnnl_bn_free(cf_dnnl_bn *p)
{
    if (!p) return;
    for (int s = 0; s < p->ns; s++) part_free(p->part[s]);
    free(p);
}

/* Values per slice at least this (global statistics): below it, one
 * thread does it faster. */
#define MIN_SLICE 32768

cf_dnnl_bn *cf_dnnl_bn_plan(cf_dnnl_bn *old, cf_backend *be, size_t N, size_t C, size_t S, float eps, bool global,
                            bool train)
{
    cf_dnnl *d = cf_dnnl_of(be);
    if (old && old->d == d && old->nthreads == be->nthreads && old->N == N && old->C == C && old->S == S &&
        old->eps == eps && old->global == global && old->train == train)
        return old;
    cf_dnnl_bn_free(old);
    if (!d || N * C * S == 0) return NULL;
    cf_dnnl_bn *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->nthreads = be->nthreads, p->N = N, p->C = C, p->S = S, p->eps = eps, p->global = global,
    p->train = train;
    size_t want = global ? (N * C * S + MIN_SLICE - 1) / MIN_SLICE : 1;
    int ns = dn_slices(d, (long)(want < N ? want : N));
    for (int s = 0; s <= ns; s++) p->n0[s] = dn_slice_at((long)N, ns, s);
    for (int s = 0; s < ns; s++) {
        p->part[s] = part_new(d, s, (size_t)(p->n0[s + 1] - p->n0[s]), C, S, eps, global, train);
        p->ns = s + 1;
        if (!p->part[s]) {
            cf_dnnl_bn_free(p);
            return NULL;
        }
    }
    return p;
}

typedef struct {
    cf_dnnl_bn *p;
    const float *x, *dy;
    float *y, *dx, *mean, *var;
} bn_job;

static int forward_slice(void *arg, int s)
{
    bn_job *j = arg;
    bn_part *q = j->p->part[s];
    size_t off = (size_t)j->p->n0[s] * j->p->C * j->p->S;
    int rc = 0;
    dnnl_memory_set_data_handle(q->mean, j->mean);
    dnnl_memory_set_data_handle(q->var, j->var);
    dnnl_exec_arg_t a[4] = {DN_ARG(DNNL_ARG_SRC, dn_in(q->d, q->slot, &q->fx, j->x + off, &rc)),
                            DN_ARG(DNNL_ARG_DST, dn_out(&q->fy, j->y + off)), DN_ARG(DNNL_ARG_MEAN, q->mean),
                            DN_ARG(DNNL_ARG_VARIANCE, q->var)};
    if (rc || dn_exec(q->d, q->slot, q->fwd, 4, a) || dn_out_done(q->d, q->slot, &q->fy)) return -1;
    return 0;
}

int cf_dnnl_bn_forward(cf_dnnl_bn *p, const float *x, float *y, float *mean, float *var)
{
    bn_job j = {p, x, NULL, y, NULL, mean, var};
    return dn_parallel(p->d, p->ns, forward_slice, &j);
}

static int backward_slice(void *arg, int s)
{
    bn_job *j = arg;
    bn_part *q = j->p->part[s];
    size_t off = (size_t)j->p->n0[s] * j->p->C * j->p->S;
    int rc = 0;
    dnnl_memory_set_data_handle(q->mean, j->mean);
    dnnl_memory_set_data_handle(q->var, j->var);
    dnnl_exec_arg_t a[5] = {DN_ARG(DNNL_ARG_SRC, q->fx.prim), DN_ARG(DNNL_ARG_MEAN, q->mean),
                            DN_ARG(DNNL_ARG_VARIANCE, q->var),
                            DN_ARG(DNNL_ARG_DIFF_DST, dn_in(q->d, q->slot, &q->bdy, j->dy + off, &rc)),
                            DN_ARG(DNNL_ARG_DIFF_SRC, dn_out(&q->bdx, j->dx + off))};
    if (rc || dn_exec(q->d, q->slot, q->bwd, 5, a) || dn_out_done(q->d, q->slot, &q->bdx)) return -1;
    return 0;
}

int cf_dnnl_bn_backward(cf_dnnl_bn *p, const float *mean, const float *var, const float *dy, float *dx)
{
    if (!p->part[0]->bwd) return -1;
    bn_job j = {p, NULL, dy, NULL, dx, (float *)mean, (float *)var};
    return dn_parallel(p->d, p->ns, backward_slice, &j);
}
