/* dnnl_eltwise.c — ReLU through oneDNN's eltwise primitive
 * (dnnl_layers.h).  oneDNN's relu with alpha is Caffe's leaky ReLU with
 * negative_slope: y = x > 0 ? x : alpha·x, and its backward reads the
 * bottom, as relu.c does: dx = dy · (x > 0 ? 1 : alpha).  The blob is a
 * flat array of n values (layout does not matter elementwise); in place
 * (y over x, dx over dy) is allowed by oneDNN. */
#include <stdlib.h>

#include "dnnl_common.h"

struct cf_dnnl_relu {
    cf_dnnl *d;
    int nthreads;               /* the backend's when the plan was made */
    size_t n;
    float slope;
    dnnl_memory_desc_t md;
    dnnl_primitive_desc_t fpd, bpd;
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t x, y, dy, dx;
};

void cf_dnnl_relu_free(cf_dnnl_relu *p)
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

cf_dnnl_relu *cf_dnnl_relu_plan(cf_dnnl_relu *old, cf_backend *be, size_t n, float slope)
{
    cf_dnnl *d = cf_dnnl_of(be);
    if (old && old->d == d && old->nthreads == be->nthreads && old->n == n && old->slope == slope) return old;
    cf_dnnl_relu_free(old);
    if (!d || n == 0) return NULL;
    cf_dnnl_relu *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->nthreads = be->nthreads, p->n = n, p->slope = slope;
    dn_md_plain(&p->md, 1, (long[]){(long)n}, dnnl_a);
    dnnl_eltwise_desc_t ed;
    if (dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_training, dnnl_eltwise_relu, &p->md, slope, 0) !=
            dnnl_success ||
        dn_make(d, &ed, NULL, &p->fpd, &p->fwd))
        goto fail;
    if (dnnl_eltwise_backward_desc_init(&ed, dnnl_eltwise_relu, &p->md, &p->md, slope, 0) != dnnl_success ||
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
    cf_dnnl_relu_free(p);
    return NULL;
}

int cf_dnnl_relu_forward(cf_dnnl_relu *p, const float *x, float *y)
{
    dnnl_memory_set_data_handle(p->x, (void *)x);
    dnnl_memory_set_data_handle(p->y, y);
    dnnl_exec_arg_t a[2] = {DN_ARG(DNNL_ARG_SRC, p->x), DN_ARG(DNNL_ARG_DST, p->y)};
    return dn_exec(p->d, p->fwd, 2, a);
}

int cf_dnnl_relu_backward(cf_dnnl_relu *p, const float *x, const float *dy, float *dx)
{
    dnnl_memory_set_data_handle(p->x, (void *)x);
    dnnl_memory_set_data_handle(p->dy, (void *)dy);
    dnnl_memory_set_data_handle(p->dx, dx);
    dnnl_exec_arg_t a[3] = {DN_ARG(DNNL_ARG_SRC, p->x), DN_ARG(DNNL_ARG_DIFF_DST, p->dy),
                            DN_ARG(DNNL_ARG_DIFF_SRC, p->dx)};
    return dn_exec(p->d, p->bwd, 3, a);
}
