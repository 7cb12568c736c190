/* dnnl_softmax.c — Softmax through oneDNN (dnnl_layers.h).  softmax.c
 * sees its bottom as outer × C × inner around the softmax axis; that is
 * oneDNN's 3-D tensor {outer, C, inner} in the abc layout with axis 1, the
 * same bytes.  Forward: y = softmax(x) along C; backward from y and dy
 * alone, as softmax.c: dx = y · (dy − Σ_c dy·y).  In place is allowed.
 * oneDNN 2.6 has fast code only when the softmax axis is the innermost
 * (inner = 1, as in every classifier's SoftmaxWithLoss); otherwise it
 * offers its reference code, which dn_make refuses, and softmax.c keeps
 * the layer.  Its backward is reference code for every shape, so the
 * layer's own backward runs (from y and dy alone, it does not care who
 * computed y).  Measured single-threaded against softmax.c's loop (same
 * -O3 -march=native, 200 runs): 64×10 0.009 against 0.005 ms, 100×10
 * 0.008 against 0.005, 64×1000 1.26 against 0.72, and over channels with
 * 1024 positions after them (8×21×1024) 38 ms against 0.07 — so the plan
 * takes oneDNN's backward only where it offers more than its reference
 * code (dn_make refuses that), which 2.6 does not on AVX2.  The outer
 * axis is cut into slices, one per thread (dnnl_common.c), of at least
 * MIN_SLICE values. */
#include <stdlib.h>

#include "dnnl_common.h"

typedef struct sm_part {
    cf_dnnl *d;
    int slot;
    dnnl_memory_desc_t md;
    dnnl_primitive_desc_t fpd, bpd;
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t x, y, dy, dx;
} sm_part;

static void part_free(sm_part *p)
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

static sm_part *part_new(cf_dnnl *d, int slot, size_t outer, size_t C, size_t inner)
{
    sm_part *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->slot = slot;
    dn_md_plain(&p->md, 3, (long[]){(long)outer, (long)C, (long)inner}, dnnl_abc);
    dnnl_softmax_desc_t sd;
    if (dnnl_softmax_forward_desc_init(&sd, dnnl_forward_training, &p->md, 1) != dnnl_success ||
        dn_make(d, &sd, NULL, &p->fpd, &p->fwd))
        goto fail;
    /* backward has only reference code in oneDNN 2.6 for AVX2, slower
     * than softmax.c's (top comment): then softmax.c's backward, which
     * needs only y and dy, is used */
    if (dnnl_softmax_backward_desc_init(&sd, &p->md, &p->md, 1) != dnnl_success ||
        dn_make(d, &sd, p->fpd, &p->bpd, &p->bwd))
        p->bpd = NULL, p->bwd = NULL;
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

/* ---- the plan: one part per slice of the outer axis ---- */

struct cf_dnnl_softmax {
    cf_dnnl *d;
    int nthreads;               /* the backend's when the plan was made */
    size_t outer, C, inner;
    int ns;
    sm_part *part[DN_SLOTS];
    long o0[DN_SLOTS + 1];
};

void cf_dnnl_softmax_free(cf_dnnl_softmax *p)
{
    if (!p) return;
    for (int s = 0; s < p->ns; s++) part_free(p->part[s]);
    free(p);
}

/* Values per slice at least this: below it, one thread does it faster. */
#define MIN_SLICE 16384

cf_dnnl_softmax *cf_dnnl_softmax_plan(cf_dnnl_softmax *old, cf_backend *be, size_t outer, size_t C, size_t inner)
{
    cf_dnnl *d = cf_dnnl_of(be);
    if (old && old->d == d && old->nthreads == be->nthreads && old->outer == outer && old->C == C &&
        old->inner == inner)
        return old;
    cf_dnnl_softmax_free(old);
    if (!d || outer * C * inner == 0) return NULL;
    cf_dnnl_softmax *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->nthreads = be->nthreads, p->outer = outer, p->C = C, p->inner = inner;
    size_t per = C * inner, want = (outer * per + MIN_SLICE - 1) / MIN_SLICE;
    int ns = dn_slices(d, (long)(want < outer ? want : outer));
    for (int s = 0; s <= ns; s++) p->o0[s] = dn_slice_at((long)outer, ns, s);
    for (int s = 0; s < ns; s++) {
        p->part[s] = part_new(d, s, (size_t)(p->o0[s + 1] - p->o0[s]), C, inner);
        p->ns = s + 1;
        if (!p->part[s]) {
            cf_dnnl_softmax_free(p);
            return NULL;
        }
    }
    return p;
}

typedef struct {
    cf_dnnl_softmax *p;
    const float *x, *dy;
    float *y, *dx;
} sm_job;

static int forward_slice(void *arg, int s)
{
    sm_job *j = arg;
    sm_part *q = j->p->part[s];
    size_t off = (size_t)j->p->o0[s] * j->p->C * j->p->inner;
    dnnl_memory_set_data_handle(q->x, (void *)(j->x + off));
    dnnl_memory_set_data_handle(q->y, j->y + off);
    dnnl_exec_arg_t a[2] = {DN_ARG(DNNL_ARG_SRC, q->x), DN_ARG(DNNL_ARG_DST, q->y)};
    return dn_exec(q->d, q->slot, q->fwd, 2, a);
}

int cf_dnnl_softmax_forward(cf_dnnl_softmax *p, const float *x, float *y)
{
    sm_job j = {p, x, NULL, y, NULL};
    return dn_parallel(p->d, p->ns, forward_slice, &j);
}

static int backward_slice(void *arg, int s)
{
    sm_job *j = arg;
    sm_part *q = j->p->part[s];
    size_t off = (size_t)j->p->o0[s] * j->p->C * j->p->inner;
    dnnl_memory_set_data_handle(q->y, (void *)(j->x + off)); /* x carries y here */
    dnnl_memory_set_data_handle(q->dy, (void *)(j->dy + off));
    dnnl_memory_set_data_handle(q->dx, j->dx + off);
    dnnl_exec_arg_t a[3] = {DN_ARG(DNNL_ARG_DST, q->y), DN_ARG(DNNL_ARG_DIFF_DST, q->dy),
                            DN_ARG(DNNL_ARG_DIFF_SRC, q->dx)};
    return dn_exec(q->d, q->slot, q->bwd, 3, a);
}

int cf_dnnl_softmax_backward(cf_dnnl_softmax *p, const float *y, const float *dy, float *dx)
{
    for (int s = 0; s < p->ns; s++)
        if (!p->part[s]->bwd) return -1;
    sm_job j = {p, y, dy, NULL, dx};
    return dn_parallel(p->d, p->ns, backward_slice, &j);
}
