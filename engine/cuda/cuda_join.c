/* cuda_join.c — the layers that join or fan out blobs, on the GPU:
 * Eltwise (SUM, PROD, MAX), Concat and Split, as eltwise.c, concat.c and
 * split.c compute them.
 *
 * Eltwise SUM is the device backend's set/axpy (cuBLAS), PROD and MAX
 * are kernels; MAX keeps the winning bottom of each element in a device
 * buffer for backward (the first bottom wins ties, as on the host).
 * Concat moves each bottom's rows with one strided device copy
 * (cudaMemcpy2D: `outer` blocks of rows·inner floats, the top's block
 * being top_rows·inner long).  Split's tops already share the bottom's
 * data; its backward sums the tops' diffs on the device.  Flatten and
 * Reshape need nothing here: their tops share data and diff with the
 * bottom, whichever side holds them.
 */
#include <stdlib.h>

#include "cuda_layers.h"
#include "kernels.h"

/* ---- Eltwise ---- */

enum { OP_PROD, OP_SUM, OP_MAX };
static const char *const op_names[] = {"PROD", "SUM", "MAX", NULL};

typedef struct {
    int op;
    bool stable;
    float *coeff;       /* one per bottom (read at reshape, when nb is known) */
    int ncoeff;
    cf_cuda_buf arg;    /* MAX: the winning bottom per element */
} eltwise_st;

static void eltwise_destroy(void *p)
{
    eltwise_st *s = p;
    free(s->coeff);
    cf_cuda_buf_free(&s->arg);
    free(s);
}

static void *eltwise_create(cf_cuda_layer *w, cf_layer *l)
{
    eltwise_st *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    cf_node *p = cf_node_get(l->conf, "eltwise_param");
    s->op = OP_SUM;
    s->stable = true;
    if (p && (cf_get_enum(p, "operation", op_names, OP_SUM, &s->op, NULL) ||
              cf_get_bool(p, "stable_prod_grad", true, &s->stable, NULL))) {
        eltwise_destroy(s);
        return NULL;
    }
    return s;
}

static bool eltwise_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    eltwise_st *s = w->st;
    if (top[0]->count == 0) return false;
    if (nb != s->ncoeff) {
        float *c = realloc(s->coeff, (size_t)nb * sizeof *c);
        if (!c) return false;
        s->coeff = c;
        s->ncoeff = nb;
        cf_node *p = cf_node_get(l->conf, "eltwise_param");
        bool given = p && cf_node_count(p, "coeff") == (size_t)nb;
        for (int b = 0; b < nb; b++) {
            double v = 1;
            if (given) cf_get_float_at(p, "coeff", (size_t)b, &v, NULL);
            c[b] = (float)v;
        }
    }
    return s->op != OP_MAX || cf_cuda_buf_reserve(&s->arg, top[0]->count * sizeof(int));
}

static int eltwise_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt,
                           cf_error *err)
{
    eltwise_st *s = w->st;
    size_t n = top[0]->count;
    float *y = cf_blob_gpu_mdata(l->be, top[0]);
    if (!y) return cf_layer_error(l, NULL, err, "out of GPU memory");
    if (s->op == OP_SUM) cf_set(w->gpu, n, 0, y);
    for (int b = 0; b < nb; b++) {
        const float *x = cf_blob_gpu_data(l->be, bottom[b]);
        if (!x) return cf_layer_error(l, NULL, err, "out of GPU memory");
        switch (s->op) {
        case OP_SUM: cf_axpy(w->gpu, n, s->coeff[b], x, y); break;
        case OP_PROD:
            if (b == 0) cf_copy(w->gpu, n, x, y);
            else cf_cuda_rt((cudaError_t)cf_cuk_mul(n, y, x, y), "Eltwise PROD kernel");
            break;
        case OP_MAX: cf_cuda_rt((cudaError_t)cf_cuk_max_step(n, b, x, y, s->arg.p), "Eltwise MAX kernel"); break;
        }
    }
    return cf_cuda_take_error(err);
}

static void eltwise_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop,
                             cf_blob **bottom, int nb)
{
    eltwise_st *s = w->st;
    size_t n = top[0]->count;
    const float *y = cf_blob_gpu_data(l->be, top[0]), *dy = cf_blob_gpu_diff(l->be, top[0]);
    if (!y || !dy) {
        cf_cuda_fail("Eltwise backward");
        return;
    }
    for (int b = 0; b < nb; b++) {
        if (!prop[b]) continue;
        float *dx = cf_blob_gpu_mdiff(l->be, bottom[b]);
        if (!dx) {
            cf_cuda_fail("Eltwise backward");
            return;
        }
        switch (s->op) {
        case OP_SUM:
            cf_copy(w->gpu, n, dy, dx);
            if (s->coeff[b] != 1.0f) cf_scal(w->gpu, n, s->coeff[b], dx);
            break;
        case OP_PROD:
            if (!s->stable) { /* dy · y / x_b */
                cf_cuda_rt((cudaError_t)cf_cuk_div_mul(n, dy, y, cf_blob_gpu_data(l->be, bottom[b]), dx),
                           "Eltwise PROD kernel");
                break;
            }
            cf_copy(w->gpu, n, dy, dx); /* dy · Π_{c≠b} x_c, in the host's order */
            for (int c = 0; c < nb; c++)
                if (c != b)
                    cf_cuda_rt((cudaError_t)cf_cuk_mul(n, dx, cf_blob_gpu_data(l->be, bottom[c]), dx),
                               "Eltwise PROD kernel");
            break;
        case OP_MAX:
            cf_cuda_rt((cudaError_t)cf_cuk_max_grad(n, b, s->arg.p, dy, dx), "Eltwise MAX kernel");
            break;
        }
    }
}

const cf_cuda_impl cf_cuda_eltwise = {
    .type = "Eltwise",
    .create = eltwise_create,
    .reshape = eltwise_reshape,
    .forward = eltwise_forward,
    .backward = eltwise_backward,
    .destroy = eltwise_destroy,
};

/* ---- Concat ---- */

typedef struct {
    long axis_conf;
    int axis;           /* canonical, set at reshape */
} concat_st;

static void *concat_create(cf_cuda_layer *w, cf_layer *l)
{
    concat_st *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    cf_node *p = cf_node_get(l->conf, "concat_param");
    s->axis_conf = 1;
    if (p && cf_node_has(p, "concat_dim")) cf_get_int(p, "concat_dim", 1, &s->axis_conf, NULL);
    else if (p) cf_get_int(p, "axis", 1, &s->axis_conf, NULL);
    return s;
}

static bool concat_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    concat_st *s = w->st;
    return top[0]->count > 0 && cf_blob_axis(bottom[0], (int)s->axis_conf, &s->axis, NULL) == 0;
}

/* Bottom b's rows between it and the top, whose rows for b start at
 * `offset`: into the top when forward, back into b when not. */
static bool move_rows(const concat_st *s, const cf_blob *b, const cf_blob *t, int offset, const float *from,
                      float *to, bool forward)
{
    size_t outer = cf_blob_count_range(b, 0, s->axis), inner = cf_blob_count_range(b, s->axis + 1, b->naxes);
    size_t width = (size_t)b->shape[s->axis] * inner * sizeof(float);
    size_t pitch = (size_t)t->shape[s->axis] * inner * sizeof(float), at = (size_t)offset * inner;
    if (width == 0 || outer == 0) return true;
    cudaError_t e = forward ? cudaMemcpy2D(to + at, pitch, from, width, width, outer, cudaMemcpyDeviceToDevice)
                            : cudaMemcpy2D(to, width, from + at, pitch, width, outer, cudaMemcpyDeviceToDevice);
    return cf_cuda_rt(e, "Concat copy");
}

static int concat_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt,
                          cf_error *err)
{
    concat_st *s = w->st;
    float *y = cf_blob_gpu_mdata(l->be, top[0]);
    if (!y) return cf_layer_error(l, NULL, err, "out of GPU memory");
    int offset = 0;
    for (int b = 0; b < nb; b++) {
        const float *x = cf_blob_gpu_data(l->be, bottom[b]);
        if (!x) return cf_layer_error(l, NULL, err, "out of GPU memory");
        if (!move_rows(s, bottom[b], top[0], offset, x, y, true)) return cf_cuda_take_error(err);
        offset += bottom[b]->shape[s->axis];
    }
    return 0;
}

static void concat_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop,
                            cf_blob **bottom, int nb)
{
    concat_st *s = w->st;
    const float *dy = cf_blob_gpu_diff(l->be, top[0]);
    if (!dy) {
        cf_cuda_fail("Concat backward");
        return;
    }
    int offset = 0;
    for (int b = 0; b < nb; b++) {
        if (prop[b]) {
            float *dx = cf_blob_gpu_mdiff(l->be, bottom[b]);
            if (!dx) {
                cf_cuda_fail("Concat backward");
                return;
            }
            move_rows(s, bottom[b], top[0], offset, dy, dx, false);
        }
        offset += bottom[b]->shape[s->axis];
    }
}

const cf_cuda_impl cf_cuda_concat = {
    .type = "Concat",
    .create = concat_create,
    .reshape = concat_reshape,
    .forward = concat_forward,
    .backward = concat_backward,
    .destroy = free,
};

/* ---- Split ---- */

static void *split_create(cf_cuda_layer *w, cf_layer *l) { return calloc(1, 1); /* no state: a token */ }

static bool split_reshape(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    return bottom[0]->count > 0;
}

/* The tops share the bottom's data: nothing to compute. */
static int split_forward(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt,
                         cf_error *err)
{
    return 0;
}

/* ∂E/∂x = Σ_t ∂E/∂y_t, in the host's order. */
static void split_backward(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom,
                           int nb)
{
    if (!prop[0]) return;
    size_t n = bottom[0]->count;
    float *dx = cf_blob_gpu_mdiff(l->be, bottom[0]);
    const float *dy0 = cf_blob_gpu_diff(l->be, top[0]);
    if (!dx || !dy0) {
        cf_cuda_fail("Split backward");
        return;
    }
    cf_copy(w->gpu, n, dy0, dx);
    for (int t = 1; t < nt; t++) {
        const float *dy = cf_blob_gpu_diff(l->be, top[t]);
        if (!dy) {
            cf_cuda_fail("Split backward");
            return;
        }
        cf_axpy(w->gpu, n, 1.0f, dy, dx);
    }
}

const cf_cuda_impl cf_cuda_split = {
    .type = "Split",
    .create = split_create,
    .reshape = split_reshape,
    .forward = split_forward,
    .backward = split_backward,
    .destroy = free,
};
