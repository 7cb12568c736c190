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
 * computed y). */
#include <stdlib.h>

#include "dnnl_common.h"

struct cf_dnnl_softmax {
    cf_dnnl *d;
    int nthreads;               /* the backend's when the plan was made */
    size_t outer, C, inner;
    dnnl_memory_desc_t md;
    dnnl_primitive_desc_t fpd, bpd;
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t x, y, dy, dx;
};

void cf_dnnl_softmax_free(cf_dnnl_softmax *p)
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

cf_dnnl_softmax *cf_dnnl_softmax_plan(cf_dnnl_softmax *old, cf_backend *be, size_t outer, size_t C, size_t inner)
{
    cf_dnnl *d = cf_dnnl_of(be);
    if (old && old->d == d && old->nthreads == be->nthreads && old->outer == outer && old->C == C && old->inner == inner) return old;
    cf_dnnl_softmax_free(old);
    if (!d || outer * C * inner == 0) return NULL;
    cf_dnnl_softmax *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->nthreads = be->nthreads, p->outer = outer, p->C = C, p->inner = inner;
    dn_md_plain(&p->md, 3, (long[]){(long)outer, (long)C, (long)inner}, dnnl_abc);
    dnnl_softmax_desc_t sd;
    if (dnnl_softmax_forward_desc_init(&sd, dnnl_forward_training, &p->md, 1) != dnnl_success ||
        dn_make(d, &sd, NULL, &p->fpd, &p->fwd))
        goto fail;
    /* backward has only reference code in oneDNN 2.6 for AVX2: then
     * softmax.c's backward, which needs only y and dy, is used */
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
    cf_dnnl_softmax_free(p);
    return NULL;
}

int cf_dnnl_softmax_forward(cf_dnnl_softmax *p, const float *x, float *y)
{
    dnnl_memory_set_data_handle(p->x, (void *)x);
    dnnl_memory_set_data_handle(p->y, y);
    dnnl_exec_arg_t a[2] = {DN_ARG(DNNL_ARG_SRC, p->x), DN_ARG(DNNL_ARG_DST, p->y)};
    return dn_exec(p->d, p->fwd, 2, a);
}

int cf_dnnl_softmax_backward(cf_dnnl_softmax *p, const float *y, const float *dy, float *dx)
{
    if (!p->bwd) return -1;
    dnnl_memory_set_data_handle(p->y, (void *)y);
    dnnl_memory_set_data_handle(p->dy, (void *)dy);
    dnnl_memory_set_data_handle(p->dx, dx);
    dnnl_exec_arg_t a[3] = {DN_ARG(DNNL_ARG_DST, p->y), DN_ARG(DNNL_ARG_DIFF_DST, p->dy),
                            DN_ARG(DNNL_ARG_DIFF_SRC, p->dx)};
    return dn_exec(p->d, p->bwd, 3, a);
}
