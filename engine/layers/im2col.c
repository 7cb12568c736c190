/* im2col.c — the Im2col layer (Caffe's Im2colLayer): lays every kernel
 * window of an NCHW bottom out as a column, as Convolution does inside.
 *
 * convolution_param: kernel_size / kernel_h, kernel_w (required), pad,
 * stride, dilation (one value or h, w, as Convolution); axis 1 only.
 * Top: N × (C·kh·kw) × Ho × Wo with Convolution's Ho, Wo, per image
 *     top[n][(c·kh + i)·kw + j][y][x] = bottom[n][c][y·sh − ph + i·dh][x·sw − pw + j·dw]
 * (0 outside the image).  The backend's im2col lowers the whole batch as
 * col[C·kh·kw][N·Ho·Wo], so for several images the rows are regrouped per
 * image through one buffer; backward gathers the top diff back into that
 * layout and col2im sums it into the bottom diff. */
#include <limits.h>
#include <stdlib.h>

#include "conv_geom.h"
#include "layer.h"

typedef struct {
    cf_conv_geom g;
    cf_mem *col;            /* [K][N·P] when N > 1 */
} im2col_priv;

static int im2col_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    long axis;
    bool nd;
    cf_conv_geom g = {0};
    if (cf_layer_param_map(l, "convolution_param", &p, err) || cf_get_int(p, "axis", 1, &axis, err) ||
        cf_get_bool(p, "force_nd_im2col", false, &nd, err) || cf_conv_read_window(l, p, &g, err))
        return -1;
    if (axis != 1 && axis != -3)
        return cf_layer_error(l, cf_node_get(p, "axis"), err,
                              "only axis 1 (channels of an NCHW bottom) is supported, got %ld", axis);
    im2col_priv *c = calloc(1, sizeof *c);
    if (!c) return cf_layer_error(l, NULL, err, "out of memory");
    l->priv = c;
    c->g = g;
    c->col = cf_mem_new();
    return 0;
}

static int im2col_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    im2col_priv *c = l->priv;
    cf_conv_geom *g = &c->g;
    const cf_blob *b = bottom[0];
    char s[128];
    if (b->naxes != 4)
        return cf_layer_error(l, NULL, err, "Im2col needs a 4-D bottom (N, C, H, W), got shape %s",
                              cf_blob_shape_str(b, s, sizeof s));
    g->N = b->shape[0], g->C = b->shape[1], g->H = b->shape[2], g->W = b->shape[3];
    long ekh = (long)g->dh * (g->kh - 1) + 1, ekw = (long)g->dw * (g->kw - 1) + 1;
    if ((long)g->H + 2L * g->ph < ekh || (long)g->W + 2L * g->pw < ekw)
        return cf_layer_error(l, NULL, err, "kernel %ldx%ld (with dilation) is bigger than the padded input %ldx%ld",
                              ekh, ekw, (long)g->H + 2L * g->ph, (long)g->W + 2L * g->pw);
    cf_conv_geom_out(g);
    size_t K = (size_t)g->C * g->kh * g->kw, NP = (size_t)g->N * g->Ho * g->Wo;
    if (K > INT_MAX || (NP && K > CF_MAX_COUNT / NP))
        return cf_layer_error(l, NULL, err, "bottom %s gives too many columns", cf_blob_shape_str(b, s, sizeof s));
    if (cf_blob_reshape4(top[0], g->N, (int)K, g->Ho, g->Wo, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    if (g->N > 1 && NP && !cf_mem_host(c->col, K * NP))
        return cf_layer_error(l, NULL, err, "out of memory for the column buffer");
    return 0;
}

static int im2col_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    im2col_priv *c = l->priv;
    const cf_conv_geom *g = &c->g;
    if (top[0]->count == 0) return 0;
    float *y = cf_blob_mdata(top[0]);
    if (g->N == 1) { /* one image: the batched layout is the top's */
        cf_im2col(l->be, g, cf_blob_data(bottom[0]), y);
        return 0;
    }
    cf_im2col(l->be, g, cf_blob_data(bottom[0]), c->col->host);
    cf_rows_to_batch(g->N, top[0]->shape[1], (size_t)g->Ho * g->Wo, c->col->host, y);
    return 0;
}

static void im2col_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    im2col_priv *c = l->priv;
    const cf_conv_geom *g = &c->g;
    if (!prop[0]) return;
    float *dx = cf_blob_mdiff(bottom[0]);
    if (top[0]->count == 0) {
        cf_set(l->be, bottom[0]->count, 0.0f, dx);
        return;
    }
    const float *dy = cf_blob_diff(top[0]);
    if (g->N > 1) {
        cf_batch_to_rows(g->N, top[0]->shape[1], (size_t)g->Ho * g->Wo, dy, c->col->host);
        dy = c->col->host;
    }
    cf_col2im(l->be, g, dy, dx);
}

static void im2col_destroy(cf_layer *l)
{
    im2col_priv *c = l->priv;
    if (!c) return;
    cf_mem_unref(c->col);
    free(c);
}

const cf_layer_ops cf_layer_Im2col = {
    .type = "Im2col",
    .min_bottom = 1, .max_bottom = 1,
    .min_top = 1, .max_top = 1,
    .setup = im2col_setup,
    .reshape = im2col_reshape,
    .forward = im2col_forward,
    .backward = im2col_backward,
    .destroy = im2col_destroy,
};
