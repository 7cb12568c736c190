/* eltwise.c — the Eltwise layer (Caffe's EltwiseLayer): one top from
 * several bottoms of the same shape, element by element.
 *
 * eltwise_param { operation: SUM | PROD | MAX (default SUM),
 *                 coeff: [...] (SUM only, one per bottom, default all 1),
 *                 stable_prod_grad: true }
 *   SUM   y = Σ_b coeff_b · x_b          dx_b = coeff_b · dy
 *   PROD  y = Π_b x_b                    dx_b = dy · Π_{c≠b} x_c
 *         (stable_prod_grad: the product of the others, formed directly;
 *          otherwise y / x_b, cheaper but wrong where x_b is 0)
 *   MAX   y = max_b x_b                  dx_b = dy where b was the argmax
 *         (the first bottom wins ties; the argmax is kept for backward)
 */
#include <stdlib.h>

#include "layer.h"

enum { OP_PROD, OP_SUM, OP_MAX };
static const char *const op_names[] = {"PROD", "SUM", "MAX", NULL};

typedef struct {
    int op;
    bool stable;
    float *coeff;       /* one per bottom */
    int *argmax;        /* MAX: winning bottom per element */
    size_t argmax_cap;
} eltwise_priv;

static int eltwise_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    eltwise_priv *s = calloc(1, sizeof *s);
    if (!s) abort();
    l->priv = s;
    s->coeff = malloc((size_t)nb * sizeof *s->coeff);
    if (!s->coeff) abort();
    cf_node *p;
    if (cf_layer_param_map(l, "eltwise_param", &p, err) ||
        cf_get_enum(p, "operation", op_names, OP_SUM, &s->op, err) ||
        cf_get_bool(p, "stable_prod_grad", true, &s->stable, err))
        return -1;
    size_t ncoeff = cf_node_count(p, "coeff");
    if (ncoeff && s->op != OP_SUM)
        return cf_layer_error(l, cf_node_get(p, "operation"), err, "eltwise_param.coeff is only for operation SUM");
    if (ncoeff && ncoeff != (size_t)nb)
        return cf_layer_error(l, cf_node_at(p, "coeff", 0), err,
                              "eltwise_param.coeff has %zu values for %d bottoms (one per bottom)", ncoeff, nb);
    for (int b = 0; b < nb; b++) {
        double c = 1;
        if (ncoeff && cf_get_float_at(p, "coeff", (size_t)b, &c, err)) return -1;
        s->coeff[b] = (float)c;
    }
    return 0;
}

static int eltwise_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    eltwise_priv *s = l->priv;
    for (int b = 1; b < nb; b++)
        if (!cf_blob_same_shape(bottom[b], bottom[0])) {
            char x[128], y[128];
            return cf_layer_error(l, NULL, err, "bottom %d has shape %s but bottom 0 has %s: shapes must match", b,
                                  cf_blob_shape_str(bottom[b], x, sizeof x), cf_blob_shape_str(bottom[0], y, sizeof y));
        }
    if (s->op == OP_MAX && bottom[0]->count > s->argmax_cap) {
        int *m = realloc(s->argmax, bottom[0]->count * sizeof *m);
        if (!m) return cf_layer_error(l, NULL, err, "out of memory");
        s->argmax = m;
        s->argmax_cap = bottom[0]->count;
    }
    return cf_blob_reshape_like(top[0], bottom[0], err);
}

static int eltwise_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    eltwise_priv *s = l->priv;
    size_t n = top[0]->count;
    float *y = cf_blob_mdata(top[0]);
    switch (s->op) {
    case OP_SUM:
        cf_set(l->be, n, 0, y);
        for (int b = 0; b < nb; b++) cf_axpy(l->be, n, s->coeff[b], cf_blob_data(bottom[b]), y);
        break;
    case OP_PROD:
        cf_copy(l->be, n, cf_blob_data(bottom[0]), y);
        for (int b = 1; b < nb; b++) {
            const float *x = cf_blob_data(bottom[b]);
            for (size_t i = 0; i < n; i++) y[i] *= x[i];
        }
        break;
    case OP_MAX:
        cf_copy(l->be, n, cf_blob_data(bottom[0]), y);
        for (size_t i = 0; i < n; i++) s->argmax[i] = 0;
        for (int b = 1; b < nb; b++) {
            const float *x = cf_blob_data(bottom[b]);
            for (size_t i = 0; i < n; i++)
                if (x[i] > y[i]) y[i] = x[i], s->argmax[i] = b;
        }
        break;
    }
    return 0;
}

/* dx_b = dy · Π_{c≠b} x_c (stable) or dy · y / x_b. */
static void prod_grad(const eltwise_priv *s, cf_blob **bottom, int nb, int b, const float *y, const float *dy,
                      float *dx, size_t n)
{
    if (!s->stable) {
        const float *xb = cf_blob_data(bottom[b]);
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] / xb[i];
        return;
    }
    for (size_t i = 0; i < n; i++) dx[i] = dy[i];
    for (int c = 0; c < nb; c++) {
        if (c == b) continue;
        const float *xc = cf_blob_data(bottom[c]);
        for (size_t i = 0; i < n; i++) dx[i] *= xc[i];
    }
}

static void eltwise_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    eltwise_priv *s = l->priv;
    size_t n = top[0]->count;
    const float *y = cf_blob_data(top[0]), *dy = cf_blob_diff(top[0]);
    for (int b = 0; b < nb; b++) {
        if (!prop[b]) continue;
        float *dx = cf_blob_mdiff(bottom[b]);
        switch (s->op) {
        case OP_SUM:
            cf_copy(l->be, n, dy, dx);
            if (s->coeff[b] != 1.0f) cf_scal(l->be, n, s->coeff[b], dx);
            break;
        case OP_PROD:
            prod_grad(s, bottom, nb, b, y, dy, dx, n);
            break;
        case OP_MAX:
            for (size_t i = 0; i < n; i++) dx[i] = s->argmax[i] == b ? dy[i] : 0.0f;
            break;
        }
    }
}

static void eltwise_destroy(cf_layer *l)
{
    eltwise_priv *s = l->priv;
    if (!s) return;
    free(s->coeff);
    free(s->argmax);
    free(s);
}

const cf_layer_ops cf_layer_Eltwise = {
    .type = "Eltwise",
    .min_bottom = 2, .max_bottom = -1,
    .min_top = 1, .max_top = 1,
    .setup = eltwise_setup,
    .reshape = eltwise_reshape,
    .forward = eltwise_forward,
    .backward = eltwise_backward,
    .destroy = eltwise_destroy,
};
