/* dnnl_eltwise.c — ReLU through oneDNN's eltwise primitive
 * (dnnl_layers.h): the activation plan of dnnl_act.c with CF_DNNL_RELU.
 * oneDNN's relu with alpha is Caffe's leaky ReLU with negative_slope:
 * y = x > 0 ? x : alpha·x, and its backward reads the bottom, as relu.c
 * does: dx = dy · (x > 0 ? 1 : alpha).  The blob is a flat array of n
 * values (layout does not matter elementwise); in place (y over x, dx
 * over dy) is allowed by oneDNN. */
#include <stdlib.h>

#include "dnnl_common.h"

/* ReLU keeps its own plan type so that relu.c reads as before. */
struct cf_dnnl_relu {
    cf_dnnl_act *act;
};

void cf_dnnl_relu_free(cf_dnnl_relu *p)
{
    if (!p) return;
    cf_dnnl_act_free(p->act);
    free(p);
}

cf_dnnl_relu *cf_dnnl_relu_plan(cf_dnnl_relu *old, cf_backend *be, size_t n, float slope)
{
    cf_dnnl_act *a = cf_dnnl_act_plan(old ? old->act : NULL, be, n, CF_DNNL_RELU, slope, 0);
    if (old) old->act = NULL; /* kept in a, or freed by cf_dnnl_act_plan */
    if (!a) {
        cf_dnnl_relu_free(old);
        return NULL;
    }
    cf_dnnl_relu *p = old ? old : calloc(1, sizeof *p);
    if (!p) {
        cf_dnnl_act_free(a);
        return NULL;
    }
    p->act = a;
    return p;
}

int cf_dnnl_relu_forward(cf_dnnl_relu *p, const float *x, float *y) { return cf_dnnl_act_forward(p->act, x, y); }

int cf_dnnl_relu_backward(cf_dnnl_relu *p, const float *x, const float *dy, float *dx)
{
    return cf_dnnl_act_backward(p->act, x, dy, dx);
}
