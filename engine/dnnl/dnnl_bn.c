/* dnnl_bn.c — BatchNorm's forward pass with batch statistics through
 * oneDNN's batch normalization (dnnl_layers.h), without scale and shift,
 * as Caffe's layer is.
 *
 * oneDNN normalises each channel c of an N × C × S blob (seen as the 4-D
 * {N, C, S, 1}: the same values) as batch_norm.c does:
 *     y = (x − μ_c) / √(σ²_c + ε)
 * with, in forward training, μ the batch mean and σ² the batch variance
 * divided by m = N·S (biased, as the layer's σ²), both handed back so
 * that the layer folds them into its running sums with Caffe's m/(m−1)
 * correction itself (batch_norm.c).
 *
 * Layout: in Caffe's plain layout oneDNN 2.6 offers its ncsp code, slower
 * than batch_norm.c (64×32×16×16, one thread: forward 1.9 ms), while its
 * JIT code for the 8-channel blocked layout nChw8c takes 0.73 ms, and a
 * reorder to or from that layout 0.16 ms; so x is reordered into nChw8c
 * and y back.
 *
 * Only forward: oneDNN's backward (backward_data, JIT in nChw8c) with its
 * two reorders and the x it needs kept measured slower than the layer's
 * own backward from ŷ (which is this y: there is no scale or shift), 1.5–
 * 3.0 ms against 1.1–2.2 (`cafetui time`, bench/dnnl_layers.sh), and held
 * four blob-sized buffers against the layer's one.  Nor global
 * statistics: one subtraction and division per value, which the layer's
 * loop did in 0.4–0.8 ms against 1.1–3.0 with the reorders.  The
 * statistics need the whole batch at once, so the plan is one slice (one
 * thread). */
#include <stdlib.h>
#include <string.h>

#include "dnnl_common.h"

typedef struct bn_part {
    cf_dnnl *d;
    int slot;
    dnnl_memory_desc_t md, cmd;     /* the slice's {n, C, S, 1} in nchw; {C} */
    dnnl_primitive_desc_t fpd;
    dnnl_primitive_t fwd;
    dn_tensor fx, fy;
    dnnl_memory_t mean, var;
} bn_part;

static void part_free(bn_part *p)
{
    if (!p) return;
    dn_tensor *ts[] = {&p->fx, &p->fy};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) dn_tensor_free(ts[i]);
    if (p->mean) dnnl_memory_destroy(p->mean);
    if (p->var) dnnl_memory_destroy(p->var);
    if (p->fwd) dnnl_primitive_destroy(p->fwd);
    if (p->fpd) dnnl_primitive_desc_destroy(p->fpd);
    free(p);
}

static bn_part *part_new(cf_dnnl *d, int slot, size_t n, size_t C, size_t S, float eps)
{
    bn_part *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->slot = slot;
    long dims[4] = {(long)n, (long)C, (long)S, 1};
    dn_md_plain(&p->md, 4, dims, dnnl_nchw);
    dnnl_memory_desc_t blk;
    dn_md_plain(&blk, 4, dims, dnnl_nChw8c);
    dn_md_plain(&p->cmd, 1, (long[]){(long)C}, dnnl_a);
    dnnl_batch_normalization_desc_t bd;
    /* forward training: the only kind that hands back the statistics */
    if (dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_training, &blk, eps, 0) != dnnl_success ||
        dn_make_fast(d, &bd, NULL, &p->fpd, &p->fwd))
        goto fail;
    if (dn_tensor_init(&p->fx, d, &p->md, dn_md(p->fpd, dnnl_query_src_md), DN_IN) ||
        dn_tensor_init(&p->fy, d, &p->md, dn_md(p->fpd, dnnl_query_dst_md), DN_OUT))
        goto fail;
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
    size_t N, C, S;
    float eps;
    bn_part *part;      /* one slice: the whole batch */
};

void cf_dnnl_bn_free(cf_dnnl_bn *p)
{
    if (!p) return;
    part_free(p->part);
    free(p);
}

cf_dnnl_bn *cf_dnnl_bn_plan(cf_dnnl_bn *old, cf_backend *be, size_t N, size_t C, size_t S, float eps)
{
    cf_dnnl *d = cf_dnnl_of(be);
    if (old && old->d == d && old->N == N && old->C == C && old->S == S && old->eps == eps) return old;
    cf_dnnl_bn_free(old);
    if (!d || N * C * S == 0) return NULL;
    cf_dnnl_bn *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->N = N, p->C = C, p->S = S, p->eps = eps;
    dn_slices(d, 1); /* slot 0's stream */
    p->part = part_new(d, 0, N, C, S, eps);
    if (!p->part) {
        free(p);
        return NULL;
    }
    return p;
}

int cf_dnnl_bn_forward(cf_dnnl_bn *p, const float *x, float *y, float *mean, float *var)
{
    bn_part *q = p->part;
    int rc = 0;
    dnnl_memory_set_data_handle(q->mean, mean);
    dnnl_memory_set_data_handle(q->var, var);
    dnnl_exec_arg_t a[4] = {DN_ARG(DNNL_ARG_SRC, dn_in(q->d, q->slot, &q->fx, x, &rc)),
                            DN_ARG(DNNL_ARG_DST, dn_out(&q->fy, y)), DN_ARG(DNNL_ARG_MEAN, q->mean),
                            DN_ARG(DNNL_ARG_VARIANCE, q->var)};
    if (rc || dn_exec(q->d, q->slot, q->fwd, 4, a) || dn_out_done(q->d, q->slot, &q->fy)) return -1;
    return 0;
}
