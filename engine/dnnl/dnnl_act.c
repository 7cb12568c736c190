/* dnnl_act.c — the elementwise activations through oneDNN's eltwise
 * primitive (dnnl_layers.h, cf_dnnl_act_*; ReLU's cf_dnnl_relu_* in
 * dnnl_eltwise.c is this with CF_DNNL_RELU).  Each kind is
 * the oneDNN algorithm whose formula is the Caffe layer's (the layers'
 * files state theirs; oneDNN's are in its eltwise documentation):
 *
 *   SIGMOID   logistic_use_dst_for_bwd   y = 1/(1 + e^−x)   dx = dy·y·(1 − y)
 *   ELU       elu (alpha α)              y = x > 0 ? x : α(e^x − 1)
 *                                        dx = dy·(x > 0 ? 1 : α·e^x)  (= α + y)
 *   ELU_DST   elu_use_dst_for_bwd        the same, backward from y:
 *                                        dx = dy·(y > 0 ? 1 : y + α)  (α >= 0 only)
 *   ABS       abs                        y = |x|            dx = dy·sign x, sign 0 = 0
 *   SOFTPLUS  soft_relu                  y = log(1 + e^x)   dx = dy·e^x/(1 + e^x)  (BNLL)
 *   POW       pow (alpha a, beta p)      y = a·x^p          dx = dy·a·p·x^(p−1)
 *   LINEAR    linear (alpha a, beta b)   y = a·x + b        dx = dy·a
 *   RELU      relu (alpha s)             y = x > 0 ? x : s·x  dx = dy·(x > 0 ? 1 : s)
 *                                        (Caffe's leaky ReLU, negative_slope s)
 *
 * (TanH keeps its own code: oneDNN's tanh was no faster, see tanh.c.)
 * The *_DST kinds read the top in backward (so their layers may run in
 * place), the others the bottom.  The blob is a flat array of n values
 * cut into slices of at least MIN_SLICE values, one per pool thread, each
 * with its own primitives and stream (dnnl_common.c); in place (y over
 * x, dx over dy) is allowed by oneDNN. */
#include <stdlib.h>

#include "dnnl_common.h"

static dnnl_alg_kind_t alg_of(cf_dnnl_act_kind k)
{
    switch (k) {
    case CF_DNNL_SIGMOID: return dnnl_eltwise_logistic_use_dst_for_bwd;
    case CF_DNNL_ELU: return dnnl_eltwise_elu;
    case CF_DNNL_ELU_DST: return dnnl_eltwise_elu_use_dst_for_bwd;
    case CF_DNNL_ABS: return dnnl_eltwise_abs;
    case CF_DNNL_SOFTPLUS: return dnnl_eltwise_soft_relu;
    case CF_DNNL_POW: return dnnl_eltwise_pow;
    case CF_DNNL_LINEAR: return dnnl_eltwise_linear;
    case CF_DNNL_RELU: return dnnl_eltwise_relu;
    }
    return dnnl_alg_kind_undef;
}

bool cf_dnnl_act_uses_dst(cf_dnnl_act_kind k)
{
    return k == CF_DNNL_SIGMOID || k == CF_DNNL_ELU_DST;
}

typedef struct act_part {
    cf_dnnl *d;
    int slot;
    dnnl_memory_desc_t md;
    dnnl_primitive_desc_t fpd, bpd;
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t x, y, dy, dx;
} act_part;

static void part_free(act_part *p)
{
    if (!p) return;
    dnnl_memory_t ms[] = {p->x, p->y, p->dy, p->dx};
    for (size_t i = 0; i < 4; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    if (p->fwd) dnnl_primitive_destroy(p->fwd);
    if (p->bwd) dnnl_primitive_destroy(p->bwd);
    if (p->fpd) dnnl_primitive_desc_destroy(p->fpd);
    if (p->bpd) dnnl_primitive_desc_destroy(p->bpd);
    free(p);
}

static act_part *part_new(cf_dnnl *d, int slot, size_t n, dnnl_alg_kind_t alg, float alpha, float beta)
{
    act_part *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->slot = slot;
    dn_md_plain(&p->md, 1, (long[]){(long)n}, dnnl_a);
    dnnl_eltwise_desc_t ed;
    if (dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_training, alg, &p->md, alpha, beta) != dnnl_success ||
        dn_make(d, &ed, NULL, &p->fpd, &p->fwd))
        goto fail;
    if (dnnl_eltwise_backward_desc_init(&ed, alg, &p->md, &p->md, alpha, beta) != dnnl_success ||
        dn_make(d, &ed, p->fpd, &p->bpd, &p->bwd))
        goto fail;
    dnnl_memory_t *ms[] = {&p->x, &p->y, &p->dy, &p->dx};
    for (size_t i = 0; i < 4; i++)
        if (dnnl_memory_create(ms[i], &p->md, d->engine, DNNL_MEMORY_NONE) != dnnl_success) {
            *ms[i] = NULL;
            goto fail;
        }
    return p;
fail:
    part_free(p);
    return NULL;
}

/* ---- the plan: one part per slice of the values ---- */

struct cf_dnnl_act {
    cf_dnnl *d;
    int nthreads;               /* the backend's when the plan was made */
    size_t n;
    cf_dnnl_act_kind kind;
    float alpha, beta;
    int ns;
    act_part *part[DN_SLOTS];
    long i0[DN_SLOTS + 1];
};

void cf_dnnl_act_free(cf_dnnl_act *p)
{
    if (!p) return;
    for (int s = 0; s < p->ns; s++) part_free(p->part[s]);
    free(p);
}

/* Slices no smaller than this: below it, one thread does it faster
 * (measured for ReLU). */
#define MIN_SLICE 32768

cf_dnnl_act *cf_dnnl_act_plan(cf_dnnl_act *old, cf_backend *be, size_t n, cf_dnnl_act_kind kind, float alpha,
                              float beta)
{
    cf_dnnl *d = cf_dnnl_of(be);
    if (old && old->d == d && old->nthreads == be->nthreads && old->n == n && old->kind == kind &&
        old->alpha == alpha && old->beta == beta)
        return old;
    cf_dnnl_act_free(old);
    if (!d || n == 0) return NULL;
    cf_dnnl_act *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->nthreads = be->nthreads, p->n = n, p->kind = kind, p->alpha = alpha, p->beta = beta;
    int ns = dn_slices(d, (long)((n + MIN_SLICE - 1) / MIN_SLICE));
    for (int s = 0; s <= ns; s++) p->i0[s] = dn_slice_at((long)n, ns, s);
    for (int s = 0; s < ns; s++) {
        p->part[s] = part_new(d, s, (size_t)(p->i0[s + 1] - p->i0[s]), alg_of(kind), alpha, beta);
        p->ns = s + 1;
        if (!p->part[s]) {
            cf_dnnl_act_free(p);
            return NULL;
        }
    }
    return p;
}

typedef struct {
    cf_dnnl_act *p;
    const float *xy, *dy;
    float *y, *dx;
} act_job;

static int forward_slice(void *arg, int s)
{
    act_job *j = arg;
    act_part *q = j->p->part[s];
    long i0 = j->p->i0[s];
    dnnl_memory_set_data_handle(q->x, (void *)(j->xy + i0));
    dnnl_memory_set_data_handle(q->y, j->y + i0);
    dnnl_exec_arg_t a[2] = {DN_ARG(DNNL_ARG_SRC, q->x), DN_ARG(DNNL_ARG_DST, q->y)};
    return dn_exec(q->d, q->slot, q->fwd, 2, a);
}

int cf_dnnl_act_forward(cf_dnnl_act *p, const float *x, float *y)
{
    act_job j = {p, x, NULL, y, NULL};
    return dn_parallel(p->d, p->ns, forward_slice, &j);
}

static int backward_slice(void *arg, int s)
{
    act_job *j = arg;
    act_part *q = j->p->part[s];
    long i0 = j->p->i0[s];
    /* the *_use_dst_for_bwd algorithms take y as DNNL_ARG_DST */
    bool dst = cf_dnnl_act_uses_dst(j->p->kind);
    dnnl_memory_t v = dst ? q->y : q->x;
    dnnl_memory_set_data_handle(v, (void *)(j->xy + i0));
    dnnl_memory_set_data_handle(q->dy, (void *)(j->dy + i0));
    dnnl_memory_set_data_handle(q->dx, j->dx + i0);
    dnnl_exec_arg_t a[3] = {DN_ARG(dst ? DNNL_ARG_DST : DNNL_ARG_SRC, v), DN_ARG(DNNL_ARG_DIFF_DST, q->dy),
                            DN_ARG(DNNL_ARG_DIFF_SRC, q->dx)};
    return dn_exec(q->d, q->slot, q->bwd, 3, a);
}

int cf_dnnl_act_backward(cf_dnnl_act *p, const float *xy, const float *dy, float *dx)
{
    act_job j = {p, xy, dy, NULL, dx};
    return dn_parallel(p->d, p->ns, backward_slice, &j);
}
