/* dnnl_eltwise.c — ReLU through oneDNN's eltwise primitive
 * (dnnl_layers.h).  oneDNN's relu with alpha is Caffe's leaky ReLU with
 * negative_slope: y = x > 0 ? x : alpha·x, and its backward reads the
 * bottom, as relu.c does: dx = dy · (x > 0 ? 1 : alpha).  The blob is a
 * flat array of n values (layout does not matter elementwise), cut into
 * slices of at least MIN_SLICE values, one per thread (dnnl_common.c); in
 * place (y over x, dx over dy) is allowed by oneDNN. */
#include <stdlib.h>

#include "dnnl_common.h"

typedef struct relu_part {
    cf_dnnl *d;
    int slot;
    dnnl_memory_desc_t md;
    dnnl_primitive_desc_t fpd, bpd;
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t x, y, dy, dx;
} relu_part;

static void part_free(relu_part *p)
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

static relu_part *part_new(cf_dnnl *d, int slot, size_t n, float slope)
{
    relu_part *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->slot = slot;
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
    part_free(p);
    return NULL;
}

/* ---- the plan: one part per slice of the values ---- */

struct cf_dnnl_relu {
    cf_dnnl *d;
    int nthreads;               /* the backend's when the plan was made */
    size_t n;
    float slope;
    int ns;
    relu_part *part[DN_SLOTS];
    long i0[DN_SLOTS + 1];
};

void cf_dnnl_relu_free(cf_dnnl_relu *p)
{
    if (!p) return;
    for (int s = 0; s < p->ns; s++) part_free(p->part[s]);
    free(p);
}

/* Slices no smaller than this: below it, one thread does it faster. */
#define MIN_SLICE 32768

cf_dnnl_relu *cf_dnnl_relu_plan(cf_dnnl_relu *old, cf_backend *be, size_t n, float slope)
{
    cf_dnnl *d = cf_dnnl_of(be);
    if (old && old->d == d && old->nthreads == be->nthreads && old->n == n && old->slope == slope) return old;
    cf_dnnl_relu_free(old);
    if (!d || n == 0) return NULL;
    cf_dnnl_relu *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->d = d, p->nthreads = be->nthreads, p->n = n, p->slope = slope;
    int ns = dn_slices(d, (long)((n + MIN_SLICE - 1) / MIN_SLICE));
    for (int s = 0; s <= ns; s++) p->i0[s] = dn_slice_at((long)n, ns, s);
    for (int s = 0; s < ns; s++) {
        p->part[s] = part_new(d, s, (size_t)(p->i0[s + 1] - p->i0[s]), slope);
        p->ns = s + 1;
        if (!p->part[s]) {
            cf_dnnl_relu_free(p);
            return NULL;
        }
    }
    return p;
}

typedef struct {
    cf_dnnl_relu *p;
    const float *x, *dy;
    float *y, *dx;
} relu_job;

static int forward_slice(void *arg, int s)
{
    relu_job *j = arg;
    relu_part *q = j->p->part[s];
    long i0 = j->p->i0[s];
    dnnl_memory_set_data_handle(q->x, (void *)(j->x + i0));
    dnnl_memory_set_data_handle(q->y, j->y + i0);
    dnnl_exec_arg_t a[2] = {DN_ARG(DNNL_ARG_SRC, q->x), DN_ARG(DNNL_ARG_DST, q->y)};
    return dn_exec(q->d, q->slot, q->fwd, 2, a);
}

int cf_dnnl_relu_forward(cf_dnnl_relu *p, const float *x, float *y)
{
    relu_job j = {p, x, NULL, y, NULL};
    return dn_parallel(p->d, p->ns, forward_slice, &j);
}

static int backward_slice(void *arg, int s)
{
    relu_job *j = arg;
    relu_part *q = j->p->part[s];
    long i0 = j->p->i0[s];
    dnnl_memory_set_data_handle(q->x, (void *)(j->x + i0));
    dnnl_memory_set_data_handle(q->dy, (void *)(j->dy + i0));
    dnnl_memory_set_data_handle(q->dx, j->dx + i0);
    dnnl_exec_arg_t a[3] = {DN_ARG(DNNL_ARG_SRC, q->x), DN_ARG(DNNL_ARG_DIFF_DST, q->dy),
                            DN_ARG(DNNL_ARG_DIFF_SRC, q->dx)};
    return dn_exec(q->d, q->slot, q->bwd, 3, a);
}

int cf_dnnl_relu_backward(cf_dnnl_relu *p, const float *x, const float *dy, float *dx)
{
    relu_job j = {p, x, dy, NULL, dx};
    return dn_parallel(p->d, p->ns, backward_slice, &j);
}
