/* test_shape_layers.c — Slice, ArgMax, Crop, Deconvolution, Embed, Tile,
 * Silence, Reduction, Im2col, SPP, ChannelPooling and HDF5Output:
 * hand-computed values and shapes, a direct nested-loop deconvolution as a
 * reference for the gemm + col2im path, numerical gradient checks of
 * every backward, an HDF5 file read back, and the exact messages for bad
 * parameters. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define GC_STEP 1e-2
#define GC_TOL 1e-2

/* ---- helpers ---- */






/* Shape given as a string, e.g. "2 3 4 5 (120)" (cf_blob_shape_str's form). */
static void assert_shape(const cf_blob *b, const char *want)
{
    char s[128];
    cr_assert_str_eq(cf_blob_shape_str(b, s, sizeof s), want);
}

static cf_blob *blob(const char *name, int naxes, const int *shape, uint64_t seed)
{
    return tu_blob(name, naxes, shape, -1, 1, seed);
}


/* 0, 1, 2, ... in order. */
static void fill_iota(cf_blob *b)
{
    float *d = cf_blob_mdata(b);
    for (size_t i = 0; i < b->count; i++) d[i] = (float)i;
}


static void free_blobs(cf_blob **b, int n)
{
    for (int i = 0; i < n; i++) cf_blob_free(b[i]);
}

/* ================= Slice ================= */

Test(slice, points_along_axis_1)
{
    int s[2] = {2, 5};
    cf_blob *x = blob("x", 2, s, 1), *t[3] = {cf_blob_new("a"), cf_blob_new("b"), cf_blob_new("c")};
    fill_iota(x);
    cf_layer *l = tu_layer("{name: s, type: Slice, slice_param: {slice_point: [1, 3]}}", CF_TRAIN, &x, 1, t, 3);
    tu_forward(l, &x, 1, t, 3);
    assert_shape(t[0], "2 1 (2)");
    assert_shape(t[1], "2 2 (4)");
    assert_shape(t[2], "2 2 (4)");
    float a[2] = {0, 5}, b[4] = {1, 2, 6, 7}, c[4] = {3, 4, 8, 9};
    tu_assert_data(t[0], a, 0);
    tu_assert_data(t[1], b, 0);
    tu_assert_data(t[2], c, 0);

    /* backward puts each top's diff back in its rows */
    for (int i = 0; i < 3; i++) {
        float *d = cf_blob_mdiff(t[i]);
        for (size_t j = 0; j < t[i]->count; j++) d[j] = 100.0f * (float)(i + 1) + (float)j;
    }
    bool prop = true;
    l->ops->backward(l, t, 3, &prop, &x, 1);
    float dx[10] = {100, 200, 201, 300, 301, 101, 202, 203, 302, 303};
    tu_assert_diff(x, dx, 0);
    cf_layer_free(l);
    cf_blob_free(x);
    free_blobs(t, 3);
}

Test(slice, equal_split_and_legacy_slice_dim)
{
    int s[2] = {4, 3};
    cf_blob *x = blob("x", 2, s, 1), *t[2] = {cf_blob_new("a"), cf_blob_new("b")};
    fill_iota(x);
    /* slice_dim 0: rows 0-1 and 2-3 */
    cf_layer *l = tu_layer("{name: s, type: Slice, slice_param: {slice_dim: 0}}", CF_TRAIN, &x, 1, t, 2);
    tu_forward(l, &x, 1, t, 2);
    assert_shape(t[0], "2 3 (6)");
    float a[6] = {0, 1, 2, 3, 4, 5}, b[6] = {6, 7, 8, 9, 10, 11};
    tu_assert_data(t[0], a, 0);
    tu_assert_data(t[1], b, 0);
    cf_layer_free(l);

    /* default axis 1 cannot split 3 into 2 equal pieces */
    cr_assert_str_eq(tu_layer_error("{name: s, type: Slice}", CF_TRAIN, &x, 1, t, 2),
                     "test.yaml:1:1: layer 's': slice axis 1 has size 3, which 2 tops cannot split equally "
                     "(give slice_point)");
    cf_blob_free(x);
    free_blobs(t, 2);
}

Test(slice, gradients)
{
    cf_blob *x = tu_blob4("x", 2, 6, 3, 2, 3), *t[3] = {cf_blob_new("a"), cf_blob_new("b"), cf_blob_new("c")};
    cf_layer *l = tu_layer("{name: s, type: Slice, slice_param: {axis: 1, slice_point: [2, 5]}}", CF_TRAIN, &x, 1, t,
                           3);
    tu_gradcheck(l, &x, 1, t, 3, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
    l = tu_layer("{name: s, type: Slice, slice_param: {axis: -2}}", CF_TRAIN, &x, 1, t, 3);
    assert_shape(t[2], "2 6 1 2 (24)");
    tu_gradcheck(l, &x, 1, t, 3, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
    l = tu_layer("{name: s, type: Slice, slice_param: {axis: 0, slice_point: 1}}", CF_TRAIN, &x, 1, t, 2);
    tu_gradcheck(l, &x, 1, t, 2, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
    cf_blob_free(x);
    free_blobs(t, 3);
}

Test(slice, bad_points_are_errors)
{
    cf_blob *x = tu_blob4("x", 2, 5, 1, 1, 1), *t[3] = {cf_blob_new("a"), cf_blob_new("b"), cf_blob_new("c")};
    cr_assert_str_eq(tu_layer_error("name: s\ntype: Slice\nslice_param: {slice_point: [3, 2]}", CF_TRAIN, &x, 1, t, 3),
                     "test.yaml:3:32: layer 's': slice_point 2 is not greater than the point before it (3)");
    cr_assert_str_eq(tu_layer_error("name: s\ntype: Slice\nslice_param: {slice_point: [2, 2]}", CF_TRAIN, &x, 1, t, 3),
                     "test.yaml:3:32: layer 's': slice_point 2 is not greater than the point before it (2)");
    cr_assert_str_eq(tu_layer_error("name: s\ntype: Slice\nslice_param: {slice_point: [2, 5]}", CF_TRAIN, &x, 1, t, 3),
                     "test.yaml:3:32: layer 's': slice_point 5 is out of range: axis 1 has size 5 "
                     "(points lie in 1..4)");
    cr_assert_str_eq(tu_layer_error("name: s\ntype: Slice\nslice_param: {slice_point: [0, 2]}", CF_TRAIN, &x, 1, t, 3),
                     "test.yaml:3:29: layer 's': slice_point 0 is out of range: axis 1 has size 5 "
                     "(points lie in 1..4)");
    cr_assert_str_eq(tu_layer_error("name: s\ntype: Slice\nslice_param: {slice_point: [2]}", CF_TRAIN, &x, 1, t, 3),
                     "test.yaml:3:29: layer 's': 1 slice points for 3 tops (give one fewer point than tops)");
    cr_assert_str_eq(tu_layer_error("name: s\ntype: Slice\nslice_param: {axis: 4}", CF_TRAIN, &x, 1, t, 3),
                     "test.yaml:3:21: layer 's': slice axis 4 is out of range for a bottom with 4 axes");
    cr_assert_str_eq(tu_layer_error("name: s\ntype: Slice\nslice_param: {axis: 1, slice_dim: 1}", CF_TRAIN, &x, 1, t,
                                    3),
                     "test.yaml:3:35: layer 's': give either slice_param.axis or the legacy slice_dim, not both");
    cf_blob_free(x);
    free_blobs(t, 3);
}

/* ================= ArgMax ================= */

Test(argmax, ties_top_k_2_and_out_max_val)
{
    /* Ties rank the higher index first (Caffe sorts (value, index) pairs
     * in decreasing order). */
    int s[2] = {2, 5};
    cf_blob *x = blob("x", 2, s, 1), *y = cf_blob_new("y");
    float xv[10] = {1, 3, 3, 0, 2, /**/ 5, -1, 5, 5, 4};
    tu_set_data(x, xv);
    cf_layer *l = tu_layer("{name: a, type: ArgMax, argmax_param: {top_k: 2, out_max_val: true}}", CF_TEST, &x, 1,
                           &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "2 2 2 (8)");
    float want[8] = {2, 1, 3, 3, /**/ 3, 2, 5, 5};
    tu_assert_data(y, want, 0);
    cr_assert_null(l->ops->backward);
    cf_layer_free(l);

    /* top_k 1, indices only: N × 1 × 1 (three axes at least) */
    l = tu_layer("{name: a, type: ArgMax}", CF_TEST, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "2 1 1 (2)");
    float want1[2] = {2, 3};
    tu_assert_data(y, want1, 0);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(argmax, over_all_of_chw_per_item)
{
    cf_blob *x = tu_blob4("x", 2, 2, 1, 3, 1), *y = cf_blob_new("y");
    float xv[12] = {0, 9, 1, 2, 8, 3, /**/ 7, 0, 0, 0, 0, 6};
    tu_set_data(x, xv);
    cf_layer *l = tu_layer("{name: a, type: ArgMax, argmax_param: {top_k: 3}}", CF_TEST, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "2 1 3 1 (6)");
    float want[6] = {1, 4, 5, /**/ 0, 5, 4}; /* item 1: 7, 6, then the last of the zeros */
    tu_assert_data(y, want, 0);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(argmax, along_an_axis)
{
    /* x[n][c][w], axis 1: the best channel per (n, w) */
    int s[3] = {1, 3, 4};
    cf_blob *x = blob("x", 3, s, 1), *y = cf_blob_new("y");
    float xv[12] = {1, 5, 0, 2, /**/ 4, 5, -1, 2, /**/ 3, 0, -2, 2};
    tu_set_data(x, xv);
    cf_layer *l = tu_layer("{name: a, type: ArgMax, argmax_param: {axis: 1, top_k: 2}}", CF_TEST, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "1 2 4 (8)");
    float idx[8] = {1, 1, 0, 2, /**/ 2, 0, 1, 1};
    tu_assert_data(y, idx, 0);
    cf_layer_free(l);

    /* out_max_val with an axis gives the values instead */
    l = tu_layer("{name: a, type: ArgMax, argmax_param: {axis: -2, top_k: 2, out_max_val: true}}", CF_TEST, &x, 1, &y,
                 1);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "1 2 4 (8)");
    float val[8] = {4, 5, 0, 2, /**/ 3, 5, -1, 2};
    tu_assert_data(y, val, 0);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(argmax, bad_parameters)
{
    cf_blob *x = tu_blob4("x", 2, 3, 1, 2, 1), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("name: a\ntype: ArgMax\nargmax_param: {top_k: 0}", CF_TEST, &x, 1, &y, 1),
                     "test.yaml:3:23: layer 'a': argmax_param: top_k 0 must be at least 1");
    cr_assert_str_eq(tu_layer_error("name: a\ntype: ArgMax\nargmax_param: {top_k: 7}", CF_TEST, &x, 1, &y, 1),
                     "test.yaml:3:23: layer 'a': argmax_param: top_k 7 is larger than the 6 entries per item of the "
                     "bottom (2 3 1 2 (12))");
    cr_assert_str_eq(tu_layer_error("name: a\ntype: ArgMax\nargmax_param: {top_k: 4, axis: 1}", CF_TEST, &x, 1, &y, 1),
                     "test.yaml:3:23: layer 'a': argmax_param: top_k 4 is larger than axis 1 of the bottom "
                     "(2 3 1 2 (12))");
    cr_assert_str_eq(tu_layer_error("name: a\ntype: ArgMax\nargmax_param: {axis: 4}", CF_TEST, &x, 1, &y, 1),
                     "test.yaml:3:22: layer 'a': argmax_param: axis 4 is out of range for a bottom with 4 axes");
    cf_blob_free(x);
    cf_blob_free(y);
}

/* ================= Crop ================= */

Test(crop, window_values_and_backward)
{
    cf_blob *a = tu_blob4("a", 1, 2, 4, 5, 1), *b = tu_blob4("b", 1, 1, 2, 3, 2), *y = cf_blob_new("y");
    fill_iota(a);
    cf_blob *bot[2] = {a, b};
    cf_layer *l = tu_layer("{name: c, type: Crop, crop_param: {offset: [1, 2]}}", CF_TRAIN, bot, 2, &y, 1);
    tu_forward(l, bot, 2, &y, 1);
    /* axis 2: N and C from a, H and W from b; y[c][i][j] = a[c][1 + i][2 + j] */
    assert_shape(y, "1 2 2 3 (12)");
    float want[12] = {7, 8, 9, 12, 13, 14, /**/ 27, 28, 29, 32, 33, 34};
    tu_assert_data(y, want, 0);

    float *dy = cf_blob_mdiff(y);
    for (int i = 0; i < 12; i++) dy[i] = (float)(i + 1);
    float *da = cf_blob_mdiff(a), *db = cf_blob_mdiff(b);
    for (int i = 0; i < 40; i++) da[i] = -7; /* stale values that backward must clear */
    for (int i = 0; i < 6; i++) db[i] = -7;
    bool prop[2] = {true, true};
    l->ops->backward(l, &y, 1, prop, bot, 2);
    float wa[40] = {0};
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) wa[c * 20 + (1 + i) * 5 + 2 + j] = (float)(c * 6 + i * 3 + j + 1);
    tu_assert_diff(a, wa, 0);
    float wb[6] = {0};
    tu_assert_diff(b, wb, 0);
    cf_layer_free(l);

    /* axis 1, one offset for every cropped axis */
    l = tu_layer("{name: c, type: Crop, crop_param: {axis: 1, offset: 1}}", CF_TRAIN, bot, 2, &y, 1);
    tu_forward(l, bot, 2, &y, 1);
    assert_shape(y, "1 1 2 3 (6)");
    float want1[6] = {26, 27, 28, 31, 32, 33};
    tu_assert_data(y, want1, 0);
    cf_layer_free(l);
    cf_blob_free(a);
    cf_blob_free(b);
    cf_blob_free(y);
}

Test(crop, gradient)
{
    cf_blob *bot[2] = {tu_blob4("a", 2, 3, 5, 4, 1), tu_blob4("b", 2, 2, 3, 2, 2)}, *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: c, type: Crop, crop_param: {axis: 1, offset: [1, 2, 1]}}", CF_TRAIN, bot, 2, &y, 1);
    assert_shape(y, "2 2 3 2 (24)");
    tu_gradcheck(l, bot, 2, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
    l = tu_layer("{name: c, type: Crop}", CF_TRAIN, bot, 2, &y, 1);
    assert_shape(y, "2 3 3 2 (36)");
    tu_gradcheck(l, bot, 2, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
    free_blobs(bot, 2);
    cf_blob_free(y);
}

Test(crop, bad_parameters)
{
    cf_blob *bot[2] = {tu_blob4("a", 1, 2, 4, 5, 1), tu_blob4("b", 1, 1, 2, 3, 2)}, *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("name: c\ntype: Crop\ncrop_param: {offset: [3, 2]}", CF_TRAIN, bot, 2, &y, 1),
                     "test.yaml:3:23: layer 'c': crop_param: offset 3 on axis 2 is too large: 3 + 2 (bottom 1) is "
                     "past bottom 0's size 4");
    cr_assert_str_eq(tu_layer_error("name: c\ntype: Crop\ncrop_param: {offset: 3}", CF_TRAIN, bot, 2, &y, 1),
                     "test.yaml:3:22: layer 'c': crop_param: offset 3 on axis 2 is too large: 3 + 2 (bottom 1) is "
                     "past bottom 0's size 4");
    cr_assert_str_eq(tu_layer_error("name: c\ntype: Crop\ncrop_param: {offset: [1, 1, 1]}", CF_TRAIN, bot, 2, &y, 1),
                     "test.yaml:3:23: layer 'c': crop_param: 3 offsets for 2 cropped axes (give one for all, or one "
                     "per axis from axis 2 on)");
    cr_assert_str_eq(tu_layer_error("name: c\ntype: Crop\ncrop_param: {offset: -1}", CF_TRAIN, bot, 2, &y, 1),
                     "test.yaml:3:22: layer 'c': crop_param: offset -1 must be >= 0");
    /* bottom 1 larger than bottom 0 with no offset */
    cf_blob *sw[2] = {bot[1], bot[0]};
    cr_assert_str_eq(tu_layer_error("name: c\ntype: Crop", CF_TRAIN, sw, 2, &y, 1),
                     "test.yaml:1:1: layer 'c': crop_param: offset 0 on axis 2 is too large: 0 + 4 (bottom 1) is "
                     "past bottom 0's size 2");
    int s3[3] = {1, 2, 3};
    cf_blob *b3 = blob("b3", 3, s3, 1), *mix[2] = {bot[0], b3};
    cr_assert_str_eq(tu_layer_error("name: c\ntype: Crop", CF_TRAIN, mix, 2, &y, 1),
                     "test.yaml:1:1: layer 'c': bottom 0 (1 2 4 5 (40)) and bottom 1 (1 2 3 (6)) must have the "
                     "same number of axes");
    cf_blob_free(b3);
    free_blobs(bot, 2);
    cf_blob_free(y);
}

/* ================= Deconvolution ================= */

/* Straight from the definition: every bottom pixel spreads over a kernel
 * window of the top,
 *   y[n][m][iy·sh − ph + i·dh][ix·sw − pw + j·dw] += x[n][c][iy][ix] · w[c][m − g·Mg][i][j]
 * for the channels m of c's group g, plus the bias. */
typedef struct { int N, C, H, W, M, G, kh, kw, ph, pw, sh, sw, dh, dw, Ho, Wo; } deconv_geom;

static void ref_deconv(const deconv_geom *r, const float *x, const float *w, const float *bias, float *y)
{
    int cg = r->C / r->G, mg = r->M / r->G;
    for (int n = 0; n < r->N; n++)
        for (int m = 0; m < r->M; m++)
            for (int p = 0; p < r->Ho * r->Wo; p++) y[(n * r->M + m) * r->Ho * r->Wo + p] = bias ? bias[m] : 0;
    for (int n = 0; n < r->N; n++)
        for (int c = 0; c < r->C; c++) {
            int g = c / cg;
            for (int iy = 0; iy < r->H; iy++)
                for (int ix = 0; ix < r->W; ix++) {
                    float v = x[((n * r->C + c) * r->H + iy) * r->W + ix];
                    for (int ml = 0; ml < mg; ml++)
                        for (int i = 0; i < r->kh; i++)
                            for (int j = 0; j < r->kw; j++) {
                                int oy = iy * r->sh - r->ph + i * r->dh, ox = ix * r->sw - r->pw + j * r->dw;
                                if (oy < 0 || oy >= r->Ho || ox < 0 || ox >= r->Wo) continue;
                                int m = g * mg + ml;
                                y[((n * r->M + m) * r->Ho + oy) * r->Wo + ox] +=
                                    v * w[((c * mg + ml) * r->kh + i) * r->kw + j];
                            }
                }
        }
}

static void deconv_against_reference(const char *yaml, deconv_geom r, uint64_t seed)
{
    cf_blob *x = tu_blob4("x", r.N, r.C, r.H, r.W, seed), *y = cf_blob_new("y");
    cf_layer *l = tu_layer(yaml, CF_TRAIN, &x, 1, &y, 1);
    r.Ho = r.sh * (r.H - 1) + r.dh * (r.kh - 1) + 1 - 2 * r.ph;
    r.Wo = r.sw * (r.W - 1) + r.dw * (r.kw - 1) + 1 - 2 * r.pw;
    tu_fill(l->param[0], -1, 1, seed + 1);
    if (l->nparam > 1) tu_fill(l->param[1], -1, 1, seed + 2);
    tu_forward(l, &x, 1, &y, 1);
    char want_shape[64];
    snprintf(want_shape, sizeof want_shape, "%d %d %d %d (%d)", r.N, r.M, r.Ho, r.Wo, r.N * r.M * r.Ho * r.Wo);
    assert_shape(y, want_shape);
    float *want = malloc(y->count * sizeof(float));
    ref_deconv(&r, cf_blob_data(x), cf_blob_data(l->param[0]), l->nparam > 1 ? cf_blob_data(l->param[1]) : NULL, want);
    tu_assert_data(y, want, 1e-4);
    free(want);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(deconvolution, hand_computed_2x2)
{
    /* x = [[1, 2], [3, 4]], w = [[1, 10], [100, 1000]]: each pixel stamps
     * its own copy of w, shifted by stride (1: the stamps overlap, 2: they
     * tile the 4x4 top). */
    float xv[4] = {1, 2, 3, 4}, wv[4] = {1, 10, 100, 1000};
    cf_blob *x = tu_blob4("x", 1, 1, 2, 2, 1), *y = cf_blob_new("y");
    tu_set_data(x, xv);
    cf_layer *l = tu_layer("{name: d, type: Deconvolution, convolution_param: {num_output: 1, kernel_size: 2,"
                           " bias_filler: {type: constant, value: 0.5}}}",
                           CF_TRAIN, &x, 1, &y, 1);
    assert_shape(l->param[0], "1 1 2 2 (4)");
    tu_set_data(l->param[0], wv);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "1 1 3 3 (9)");
    float want[9] = {1.5f, 12.5f, 20.5f, 103.5f, 1234.5f, 2040.5f, 300.5f, 3400.5f, 4000.5f};
    tu_assert_data(y, want, 1e-3);
    cf_layer_free(l);

    l = tu_layer("{name: d, type: Deconvolution, convolution_param: {num_output: 1, kernel_size: 2, stride: 2,"
                 " bias_term: false}}",
                 CF_TRAIN, &x, 1, &y, 1);
    cr_assert_eq(l->nparam, 1);
    tu_set_data(l->param[0], wv);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "1 1 4 4 (16)");
    float want2[16] = {1, 10, 2, 20, 100, 1000, 200, 2000, 3, 30, 4, 40, 300, 3000, 400, 4000};
    tu_assert_data(y, want2, 1e-3);
    cf_layer_free(l);

    /* pad 1 trims one pixel off every side of the 4x4: the middle 2x2 */
    l = tu_layer("{name: d, type: Deconvolution, convolution_param: {num_output: 1, kernel_size: 2, stride: 2,"
                 " pad: 1, bias_term: false}}",
                 CF_TRAIN, &x, 1, &y, 1);
    tu_set_data(l->param[0], wv);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "1 1 2 2 (4)");
    float want3[4] = {1000, 200, 30, 4};
    tu_assert_data(y, want3, 1e-3);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(deconvolution, shapes_and_params)
{
    cf_blob *x = tu_blob4("x", 2, 6, 5, 4, 1), *y = cf_blob_new("y");
    /* Ho = 2·(5−1) + 2·(3−1) + 1 − 2·1 = 11, Wo = 1·(4−1) + (2−1) + 1 − 0 = 5 */
    cf_layer *l = tu_layer("{name: d, type: Deconvolution, convolution_param: {num_output: 4, group: 2,"
                           " kernel_h: 3, kernel_w: 2, stride_h: 2, stride_w: 1, pad_h: 1, dilation: [2, 1]}}",
                           CF_TRAIN, &x, 1, &y, 1);
    assert_shape(y, "2 4 11 5 (440)");
    assert_shape(l->param[0], "6 2 3 2 (72)"); /* [C_in, num_output / group, kh, kw] */
    assert_shape(l->param[1], "4 (4)");
    /* Caffe's default fillers are constant 0 */
    cr_assert_eq(cf_asum(tu_backend(), l->param[0]->count, cf_blob_data(l->param[0])), 0.0f);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(deconvolution, matches_direct_reference)
{
    deconv_against_reference("{name: d, type: Deconvolution, convolution_param: {num_output: 3, kernel_size: 3}}",
                             (deconv_geom){.N = 1, .C = 2, .H = 4, .W = 5, .M = 3, .G = 1, .kh = 3, .kw = 3, .ph = 0,
                                           .pw = 0, .sh = 1, .sw = 1, .dh = 1, .dw = 1},
                             11);
    deconv_against_reference("{name: d, type: Deconvolution, convolution_param: {num_output: 4, kernel_size: [3, 2],"
                             " stride: [2, 3], pad: [1, 0], group: 2}}",
                             (deconv_geom){.N = 3, .C = 4, .H = 3, .W = 4, .M = 4, .G = 2, .kh = 3, .kw = 2, .ph = 1,
                                           .pw = 0, .sh = 2, .sw = 3, .dh = 1, .dw = 1},
                             12);
    deconv_against_reference("{name: d, type: Deconvolution, convolution_param: {num_output: 6, kernel_size: 3,"
                             " stride: 2, pad: 2, dilation: 2, group: 3, bias_term: false}}",
                             (deconv_geom){.N = 2, .C = 3, .H = 5, .W = 4, .M = 6, .G = 3, .kh = 3, .kw = 3, .ph = 2,
                                           .pw = 2, .sh = 2, .sw = 2, .dh = 2, .dw = 2},
                             13);
}

Test(deconvolution, gradients_bottom_and_params)
{
    cf_blob *x = tu_blob4("x", 2, 4, 3, 3, 21), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: d, type: Deconvolution, convolution_param: {num_output: 4, kernel_size: 3,"
                           " stride: 2, pad: 1, dilation: 2, group: 2,"
                           " weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: uniform}}}",
                           CF_TRAIN, &x, 1, &y, 1);
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);

    /* one image, two bottoms through the same filters, no bias */
    cf_blob *xs[2] = {tu_blob4("x0", 1, 2, 3, 2, 22), tu_blob4("x1", 1, 2, 3, 2, 23)}, *ys[2] = {cf_blob_new("y0"),
                                                                                          cf_blob_new("y1")};
    l = tu_layer("{name: d, type: Deconvolution, convolution_param: {num_output: 3, kernel_size: [2, 3], stride: [1, 2],"
                 " bias_term: false, weight_filler: {type: gaussian, std: 0.5}}}",
                 CF_TRAIN, xs, 2, ys, 2);
    tu_gradcheck(l, xs, 2, ys, 2, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
    free_blobs(xs, 2);
    free_blobs(ys, 2);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(deconvolution, bad_parameters)
{
    cf_blob *x = tu_blob4("x", 1, 3, 2, 2, 1), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("name: d\ntype: Deconvolution\nconvolution_param: {num_output: 4, kernel_size: 2,"
                                    " group: 2}",
                                    CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:3:59: layer 'd': bottom channels (3) must be divisible by group (2)");
    cr_assert_str_eq(tu_layer_error("name: d\ntype: Deconvolution\nconvolution_param: {num_output: 4}", CF_TRAIN, &x, 1,
                                    &y, 1),
                     "test.yaml:3:1: layer 'd': convolution_param: field 'kernel_size' is missing");
    /* 1·(2−1) + 2 − 2·2 = −1 */
    cr_assert_str_eq(tu_layer_error("name: d\ntype: Deconvolution\nconvolution_param: {num_output: 1, kernel_size: 2,"
                                    " pad: 2}",
                                    CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:1: layer 'd': a 2x2 bottom gives a -1x-1 top: the padding is too large");
    cf_blob_free(x);
    cf_blob_free(y);
}

/* ================= Embed ================= */

Test(embed, lookup_values_and_shape)
{
    int s[2] = {2, 3};
    cf_blob *x = blob("x", 2, s, 1), *y = cf_blob_new("y");
    float xv[6] = {2, 0, 3, 3, 1, 0};
    tu_set_data(x, xv);
    cf_layer *l = tu_layer("{name: e, type: Embed, embed_param: {num_output: 2, input_dim: 4}}", CF_TRAIN, &x, 1, &y,
                           1);
    assert_shape(l->param[0], "4 2 (8)");
    assert_shape(l->param[1], "2 (2)");
    float wv[8] = {0, 1, 10, 11, 20, 21, 30, 31}, bv[2] = {0.5f, -0.5f};
    tu_set_data(l->param[0], wv);
    tu_set_data(l->param[1], bv);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "2 3 2 (12)");
    float want[12] = {20.5f, 20.5f, 0.5f, 0.5f, 30.5f, 30.5f, 30.5f, 30.5f, 10.5f, 10.5f, 0.5f, 0.5f};
    tu_assert_data(y, want, 0);

    /* gradients accumulate into the params: rows 3 and 0 are used twice */
    float *dy = cf_blob_mdiff(y);
    for (int i = 0; i < 12; i++) dy[i] = (float)(i + 1);
    for (int p = 0; p < 2; p++) cf_set(tu_backend(), l->param[p]->count, 1.0f, cf_blob_mdiff(l->param[p]));
    bool prop = false;
    l->ops->backward(l, &y, 1, &prop, &x, 1);
    float dw[8] = {1 + 3 + 11, 1 + 4 + 12, 1 + 9, 1 + 10, 1 + 1, 1 + 2, 1 + 5 + 7, 1 + 6 + 8};
    float dbias[2] = {1 + 1 + 3 + 5 + 7 + 9 + 11, 1 + 2 + 4 + 6 + 8 + 10 + 12};
    tu_assert_diff(l->param[0], dw, 0);
    tu_assert_diff(l->param[1], dbias, 0);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(embed, gradient_params)
{
    int s[1] = {7};
    cf_blob *x = blob("x", 1, s, 1), *y = cf_blob_new("y");
    float xv[7] = {4, 1, 1, 0, 4, 2, 4};
    tu_set_data(x, xv);
    cf_layer *l = tu_layer("{name: e, type: Embed, embed_param: {num_output: 3, input_dim: 5,"
                           " weight_filler: {type: uniform}, bias_filler: {type: gaussian}}}",
                           CF_TRAIN, &x, 1, &y, 1);
    bool no[1] = {false};
    tu_gradcheck(l, &x, 1, &y, 1, no, GC_STEP, GC_TOL);
    cf_layer_free(l);

    l = tu_layer("{name: e, type: Embed, embed_param: {num_output: 2, input_dim: 5, bias_term: false,"
                 " weight_filler: {type: uniform}}}",
                 CF_TRAIN, &x, 1, &y, 1);
    cr_assert_eq(l->nparam, 1);
    tu_gradcheck(l, &x, 1, &y, 1, no, GC_STEP, GC_TOL);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(embed, bad_indices_stop_forward)
{
    int s[1] = {3};
    cf_blob *x = blob("x", 1, s, 1), *y = cf_blob_new("y");
    float xv[3] = {0, 1, 2};
    tu_set_data(x, xv);
    cf_layer *l = tu_layer("name: emb\ntype: Embed\nembed_param: {num_output: 2, input_dim: 4}", CF_TEST, &x, 1, &y, 1);
    cf_blob_mdata(x)[1] = 4;
    cr_assert_str_eq(tu_forward_error(l, &x, 1, &y, 1),
                     "test.yaml:1:1: layer 'emb': index 4 at bottom[1] is outside [0, input_dim) = [0, 4)");
    cf_blob_mdata(x)[1] = -1;
    cr_assert_str_eq(tu_forward_error(l, &x, 1, &y, 1),
                     "test.yaml:1:1: layer 'emb': index -1 at bottom[1] is outside [0, input_dim) = [0, 4)");
    cf_blob_mdata(x)[1] = 1;
    cf_blob_mdata(x)[2] = 2.5f;
    cr_assert_str_eq(tu_forward_error(l, &x, 1, &y, 1),
                     "test.yaml:1:1: layer 'emb': index 2.5 at bottom[2] is not an integer");
    cf_layer_free(l);

    cr_assert_str_eq(tu_layer_error("name: emb\ntype: Embed\nembed_param: {num_output: 2}", CF_TEST, &x, 1, &y, 1),
                     "test.yaml:3:1: layer 'emb': embed_param: field 'input_dim' is missing");
    cf_blob_free(x);
    cf_blob_free(y);
}

/* ================= Tile ================= */

Test(tile, values_and_gradient)
{
    int s[2] = {2, 3};
    cf_blob *x = blob("x", 2, s, 1), *y = cf_blob_new("y");
    fill_iota(x);
    cf_layer *l = tu_layer("{name: t, type: Tile, tile_param: {tiles: 2}}", CF_TRAIN, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "2 6 (12)");
    float want[12] = {0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5};
    tu_assert_data(y, want, 0);
    /* backward sums the copies */
    float *dy = cf_blob_mdiff(y);
    for (int i = 0; i < 12; i++) dy[i] = (float)(i + 1);
    bool prop = true;
    l->ops->backward(l, &y, 1, &prop, &x, 1);
    float dx[6] = {1 + 4, 2 + 5, 3 + 6, 7 + 10, 8 + 11, 9 + 12};
    tu_assert_diff(x, dx, 0);
    cf_layer_free(l);

    l = tu_layer("{name: t, type: Tile, tile_param: {axis: 0, tiles: 3}}", CF_TRAIN, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "6 3 (18)");
    float want0[18] = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5};
    tu_assert_data(y, want0, 0);
    cf_layer_free(l);
    cf_blob_free(x);

    x = tu_blob4("x", 2, 3, 2, 2, 5);
    l = tu_layer("{name: t, type: Tile, tile_param: {axis: -2, tiles: 3}}", CF_TRAIN, &x, 1, &y, 1);
    assert_shape(y, "2 3 6 2 (72)");
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(tile, bad_parameters)
{
    cf_blob *x = tu_blob4("x", 2, 3, 2, 2, 5), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("name: t\ntype: Tile\ntile_param: {axis: 1}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:3:1: layer 't': tile_param: field 'tiles' is missing");
    cr_assert_str_eq(tu_layer_error("name: t\ntype: Tile\ntile_param: {tiles: 0}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:3:21: layer 't': field 'tiles': 0 is out of range (must be 1..2147483647)");
    cr_assert_str_eq(tu_layer_error("name: t\ntype: Tile\ntile_param: {tiles: 2, axis: 4}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:3:30: layer 't': tile_param: axis 4 is out of range for a bottom with 4 axes");
    cf_blob_free(x);
    cf_blob_free(y);
}

/* ================= Silence ================= */

Test(silence, no_tops_and_zero_gradient)
{
    cf_blob *b[2] = {tu_blob4("a", 2, 3, 1, 1, 1), tu_blob4("b", 4, 1, 1, 1, 2)};
    cf_layer *l = tu_layer("{name: s, type: Silence}", CF_TRAIN, b, 2, NULL, 0);
    /* stale diffs that backward must clear (the gradient check below
     * compares them with the numeric gradient, which is 0) */
    for (int i = 0; i < 2; i++) cf_set(tu_backend(), b[i]->count, 3.0f, cf_blob_mdiff(b[i]));
    tu_gradcheck(l, b, 2, NULL, 0, NULL, GC_STEP, GC_TOL);
    float zero[6] = {0};
    tu_assert_diff(b[0], zero, 0);
    tu_assert_diff(b[1], zero, 0);
    cf_layer_free(l);

    cf_blob *t = cf_blob_new("t");
    cr_assert_str_eq(tu_layer_error("{name: s, type: Silence}", CF_TRAIN, b, 2, &t, 1),
                     "test.yaml:1:1: layer 's': Silence takes 0 top blob(s), got 1");
    cf_blob_free(t);
    free_blobs(b, 2);
}

/* ================= Reduction ================= */

static void reduce_values(const char *yaml, const char *shape, const float *want)
{
    int s[2] = {2, 3};
    cf_blob *x = blob("x", 2, s, 1), *y = cf_blob_new("y");
    float xv[6] = {1, -2, 3, -4, 5, -6};
    tu_set_data(x, xv);
    cf_layer *l = tu_layer(yaml, CF_TRAIN, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, shape);
    tu_assert_data(y, want, 1e-6);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(reduction, hand_computed_each_operation)
{
    /* x = [[1, -2, 3], [-4, 5, -6]] */
    float sum_all[1] = {-3}, sum_c[1] = {-6};
    reduce_values("{name: r, type: Reduction}", "(1)", sum_all);
    reduce_values("{name: r, type: Reduction, reduction_param: {coeff: 2}}", "(1)", sum_c);
    float sum[2] = {2, -5}, asum[2] = {6, 15}, sumsq[2] = {14, 77}, mean[2] = {2.0f / 3, -5.0f / 3},
          mean_c[2] = {-1.0f / 3, 2.5f / 3};
    reduce_values("{name: r, type: Reduction, reduction_param: {axis: 1}}", "2 (2)", sum);
    reduce_values("{name: r, type: Reduction, reduction_param: {axis: -1, operation: ASUM}}", "2 (2)", asum);
    reduce_values("{name: r, type: Reduction, reduction_param: {axis: 1, operation: SUMSQ}}", "2 (2)", sumsq);
    reduce_values("{name: r, type: Reduction, reduction_param: {axis: 1, operation: MEAN}}", "2 (2)", mean);
    reduce_values("{name: r, type: Reduction, reduction_param: {axis: 1, operation: MEAN, coeff: -0.5}}",
                  "2 (2)", mean_c);
}

/* Values kept at least 0.2 away from 0, where ASUM has its kink. */
static cf_blob *away_from_zero(uint64_t seed)
{
    cf_blob *x = tu_blob4("x", 2, 3, 2, 3, seed);
    float *d = cf_blob_mdata(x);
    for (size_t i = 0; i < x->count; i++) d[i] = d[i] < 0 ? d[i] - 0.2f : d[i] + 0.2f;
    return x;
}

static void reduce_gradcheck(const char *yaml, const char *shape)
{
    cf_blob *x = away_from_zero(7), *y = cf_blob_new("y");
    cf_layer *l = tu_layer(yaml, CF_TRAIN, &x, 1, &y, 1);
    assert_shape(y, shape);
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(reduction, gradient_sum) { reduce_gradcheck("{name: r, type: Reduction, reduction_param: {coeff: 1.5}}", "(1)"); }
Test(reduction, gradient_asum)
{
    reduce_gradcheck("{name: r, type: Reduction, reduction_param: {operation: ASUM, axis: 2}}", "2 3 (6)");
}
Test(reduction, gradient_sumsq)
{
    reduce_gradcheck("{name: r, type: Reduction, reduction_param: {operation: SUMSQ, axis: 1, coeff: -2}}", "2 (2)");
}
Test(reduction, gradient_mean)
{
    reduce_gradcheck("{name: r, type: Reduction, reduction_param: {operation: MEAN, axis: -1}}", "2 3 2 (12)");
}

Test(reduction, bad_parameters)
{
    cf_blob *x = tu_blob4("x", 2, 3, 1, 1, 1), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("name: r\ntype: Reduction\nreduction_param: {operation: MAX}", CF_TRAIN, &x, 1, &y,
                                    1),
                     "test.yaml:3:30: layer 'r': field 'operation': unknown value 'MAX' (expected one of: SUM, ASUM, "
                     "SUMSQ, MEAN)");
    cr_assert_str_eq(tu_layer_error("name: r\ntype: Reduction\nreduction_param: {axis: -5}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:3:25: layer 'r': reduction_param: axis -5 is out of range for a bottom with 4 axes");
    cf_blob_free(x);
    cf_blob_free(y);
}

/* ================= Im2col ================= */

Test(im2col, hand_computed_3x3)
{
    cf_blob *x = tu_blob4("x", 1, 1, 3, 3, 1), *y = cf_blob_new("y");
    fill_iota(x); /* 0..8 */
    cf_layer *l = tu_layer("{name: i, type: Im2col, convolution_param: {kernel_size: 2}}", CF_TRAIN, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "1 4 2 2 (16)");
    /* row (i, j) holds x[y + i][x + j] over the 2x2 outputs */
    float want[16] = {0, 1, 3, 4, /**/ 1, 2, 4, 5, /**/ 3, 4, 6, 7, /**/ 4, 5, 7, 8};
    tu_assert_data(y, want, 0);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(im2col, per_image_layout_matches_definition)
{
    /* N = 2, C = 2, 5x4, kernel 3x2, pad 1x0, stride 2x1, dilation 1x2 */
    int N = 2, C = 2, H = 5, W = 4, kh = 3, kw = 2, ph = 1, pw = 0, sh = 2, sw = 1, dh = 1, dw = 2;
    int Ho = (H + 2 * ph - (dh * (kh - 1) + 1)) / sh + 1, Wo = (W + 2 * pw - (dw * (kw - 1) + 1)) / sw + 1;
    cf_blob *x = tu_blob4("x", N, C, H, W, 3), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: i, type: Im2col, convolution_param: {kernel_h: 3, kernel_w: 2, pad_h: 1,"
                           " stride: [2, 1], dilation: [1, 2]}}",
                           CF_TRAIN, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "2 12 3 2 (144)");
    cr_assert_eq(Ho, 3);
    cr_assert_eq(Wo, 2);
    const float *xd = cf_blob_data(x), *yd = cf_blob_data(y);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < kh; i++)
                for (int j = 0; j < kw; j++)
                    for (int oy = 0; oy < Ho; oy++)
                        for (int ox = 0; ox < Wo; ox++) {
                            int iy = oy * sh - ph + i * dh, ix = ox * sw - pw + j * dw;
                            float want = iy < 0 || iy >= H || ix < 0 || ix >= W ? 0 : xd[((n * C + c) * H + iy) * W + ix];
                            int r = (c * kh + i) * kw + j;
                            cr_assert_eq(yd[((n * C * kh * kw + r) * Ho + oy) * Wo + ox], want,
                                         "n %d row %d (%d, %d)", n, r, oy, ox);
                        }
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(im2col, gradient_one_image_and_error)
{
    cf_blob *x = tu_blob4("x", 1, 3, 4, 4, 4), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: i, type: Im2col, convolution_param: {kernel_size: 3, pad: 1, stride: 2}}", CF_TRAIN,
                           &x, 1, &y, 1);
    assert_shape(y, "1 27 2 2 (108)");
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
    cr_assert_str_eq(tu_layer_error("name: i\ntype: Im2col\nconvolution_param: {kernel_size: 7}", CF_TRAIN, &x, 1, &y,
                                    1),
                     "test.yaml:1:1: layer 'i': kernel 7x7 (with dilation) is bigger than the padded input 4x4");
    cf_blob_free(x);
    cf_blob_free(y);
}

/* ================= SPP ================= */

Test(spp, two_levels_max_and_ave_4x4)
{
    cf_blob *x = tu_blob4("x", 1, 1, 4, 4, 1), *y = cf_blob_new("y");
    fill_iota(x); /* 0..15 */
    cf_layer *l = tu_layer("{name: spp, type: SPP, spp_param: {pyramid_height: 2}}", CF_TRAIN, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    /* level 0: the whole image; level 1: the four 2x2 quadrants */
    assert_shape(y, "1 5 (5)");
    float mx[5] = {15, 5, 7, 13, 15};
    tu_assert_data(y, mx, 0);
    cf_layer_free(l);

    l = tu_layer("{name: spp, type: SPP, spp_param: {pyramid_height: 2, pool: AVE}}", CF_TRAIN, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    float av[5] = {7.5f, 2.5f, 4.5f, 10.5f, 12.5f};
    tu_assert_data(y, av, 1e-6);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(spp, padded_bins_5x5_and_resize)
{
    /* 5x5 at level 1 (2 bins): kernel ceil(5/2) = 3, pad (3·2 − 5 + 1)/2 = 1,
     * so the bins cover rows/cols {0,1} and {2,3,4}; AVE divides by the
     * 3x3 window, padding included (Caffe's Pooling). */
    cf_blob *x = tu_blob4("x", 1, 1, 5, 5, 1), *y = cf_blob_new("y");
    fill_iota(x); /* 0..24 */
    cf_layer *l = tu_layer("{name: spp, type: SPP, spp_param: {pyramid_height: 2}}", CF_TRAIN, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    float mx[5] = {24, 6, 9, 21, 24};
    tu_assert_data(y, mx, 0);
    cf_layer *la = tu_layer("{name: spp, type: SPP, spp_param: {pyramid_height: 2, pool: AVE}}", CF_TRAIN, &x, 1, &y,
                            1);
    tu_forward(la, &x, 1, &y, 1);
    float av[5] = {12, 12.0f / 9, 33.0f / 9, 93.0f / 9, 18};
    tu_assert_data(y, av, 1e-5);
    cf_layer_free(la);

    /* the same layer on a 4x4 bottom rebuilds its levels */
    cf_blob_reshape4(x, 1, 1, 4, 4, NULL);
    fill_iota(x);
    tu_forward(l, &x, 1, &y, 1);
    float mx4[5] = {15, 5, 7, 13, 15};
    tu_assert_data(y, mx4, 0);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(spp, shapes)
{
    cf_blob *x = tu_blob4("x", 2, 3, 8, 8, 1), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: spp, type: SPP, spp_param: {pyramid_height: 1}}", CF_TRAIN, &x, 1, &y, 1);
    assert_shape(y, "2 3 1 1 (6)"); /* one level: the Pooling layer's own top */
    cf_layer_free(l);
    l = tu_layer("{name: spp, type: SPP, spp_param: {pyramid_height: 3}}", CF_TRAIN, &x, 1, &y, 1);
    assert_shape(y, "2 63 (126)"); /* 3·(1 + 4 + 16) per image */
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

static void spp_gradcheck(const char *yaml)
{
    cf_blob *x = tu_blob4("x", 2, 2, 6, 7, 1), *y = cf_blob_new("y");
    tu_fill_permutation(x, 31);
    cf_layer *l = tu_layer(yaml, CF_TRAIN, &x, 1, &y, 1);
    assert_shape(y, "2 42 (84)");
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(spp, gradient_max) { spp_gradcheck("{name: spp, type: SPP, spp_param: {pyramid_height: 3}}"); }
Test(spp, gradient_ave) { spp_gradcheck("{name: spp, type: SPP, spp_param: {pyramid_height: 3, pool: AVE}}"); }

Test(spp, bad_parameters)
{
    cf_blob *x = tu_blob4("x", 1, 1, 5, 5, 1), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("name: spp\ntype: SPP\nspp_param: {pool: AVE}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:3:1: layer 'spp': spp_param: field 'pyramid_height' is missing");
    /* level 2 on 5 pixels: 4 bins, kernel 2, pad (8 − 5 + 1)/2 = 2 */
    cr_assert_str_eq(tu_layer_error("name: spp\ntype: SPP\nspp_param: {pyramid_height: 3}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:3:29: layer 'spp': spp_param: pyramid_height 3 is too deep for a 5x5 bottom: level 2 "
                     "(4x4 bins) would need pad 2x2, not smaller than its kernel 2x2");
    cr_assert_str_eq(tu_layer_error("name: spp\ntype: SPP\nspp_param: {pyramid_height: 1, pool: STOCHASTIC}", CF_TRAIN,
                                    &x, 1, &y, 1),
                     "test.yaml:3:38: layer 'spp': pool: STOCHASTIC is not supported (use MAX or AVE)");
    cf_blob_free(x);
    cf_blob_free(y);
}

/* ================= ChannelPooling ================= */

Test(channel_pooling, mocha_windows_max_and_ave)
{
    /* Mocha's own test geometry: 7 channels, kernel 3, stride 2, pad
     * (1, 2): Co = ceil((7 + 3 − 3)/2) + 1 = 5, and the last window would
     * start at 8 − 1 = 7, past the channels: Co = 4.  Windows:
     * [0, 2), [1, 4), [3, 6), [5, 7). */
    cf_blob *x = tu_blob4("x", 1, 7, 1, 2, 1), *y = cf_blob_new("y");
    float xv[14] = {3, -1, 1, -2, 4, -3, 0, -4, 2, -5, 5, -6, 1, -7};
    tu_set_data(x, xv);
    cf_layer *l = tu_layer("{name: cp, type: ChannelPooling, channel_pooling_param: {kernel_size: 3, stride: 2,"
                           " pad: [1, 2]}}",
                           CF_TRAIN, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape(y, "1 4 1 2 (8)");
    float mx[8] = {3, -1, 4, -2, 5, -4, 5, -6};
    tu_assert_data(y, mx, 0);
    /* MAX backward routes to the winners (channel, position) */
    float *dy = cf_blob_mdiff(y);
    for (int i = 0; i < 8; i++) dy[i] = (float)(i + 1);
    bool prop = true;
    l->ops->backward(l, &y, 1, &prop, &x, 1);
    float dx[14] = {1, 2, 0, 4, 3, 0, 0, 6, 0, 0, 12, 8, 0, 0};
    tu_assert_diff(x, dx, 0);
    cf_layer_free(l);

    l = tu_layer("{name: cp, type: ChannelPooling, channel_pooling_param: {pool: AVE, kernel_size: 3, stride: 2,"
                 " pad: [1, 2]}}",
                 CF_TRAIN, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    /* always divided by the kernel, 3 */
    float av[8] = {4.0f / 3, -3.0f / 3, 5.0f / 3, -9.0f / 3, 7.0f / 3, -15.0f / 3, 6.0f / 3, -13.0f / 3};
    tu_assert_data(y, av, 1e-6);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

static void cp_gradcheck(const char *yaml, const char *shape)
{
    cf_blob *x = tu_blob4("x", 2, 7, 2, 3, 1), *y = cf_blob_new("y");
    tu_fill_permutation(x, 41);
    cf_layer *l = tu_layer(yaml, CF_TRAIN, &x, 1, &y, 1);
    assert_shape(y, shape);
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(channel_pooling, gradient_max)
{
    cp_gradcheck("{name: cp, type: ChannelPooling, channel_pooling_param: {kernel_size: 3, stride: 2, pad: [1, 2]}}",
                 "2 4 2 3 (48)");
    /* no padding, yet the last window [6, 8) is cut to the one channel left */
    cp_gradcheck("{name: cp, type: ChannelPooling, channel_pooling_param: {kernel_size: 2, stride: 2}}",
                 "2 4 2 3 (48)");
}

Test(channel_pooling, gradient_ave)
{
    cp_gradcheck("{name: cp, type: ChannelPooling, channel_pooling_param: {pool: AVE, kernel_size: 3, stride: 2,"
                 " pad: [1, 2]}}",
                 "2 4 2 3 (48)");
    /* pooling along the last axis instead: W = 3, kernel 2, pad 1 at both ends: Co = 4 */
    cp_gradcheck("{name: cp, type: ChannelPooling, channel_pooling_param: {pool: AVE, kernel_size: 2, pad: 1,"
                 " axis: -1}}",
                 "2 7 2 4 (112)");
}

Test(channel_pooling, bad_parameters)
{
    cf_blob *x = tu_blob4("x", 1, 3, 1, 1, 1), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("name: cp\ntype: ChannelPooling\nchannel_pooling_param: {kernel_size: 2, pad: 2}",
                                    CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:3:46: layer 'cp': channel_pooling_param: pad 2 must be >= 0 and smaller than "
                     "kernel_size 2");
    cr_assert_str_eq(tu_layer_error("name: cp\ntype: ChannelPooling\nchannel_pooling_param: {kernel_size: 5}", CF_TRAIN,
                                    &x, 1, &y, 1),
                     "test.yaml:1:1: layer 'cp': channel_pooling_param: kernel_size 5 is larger than the 3 channels "
                     "plus padding");
    cr_assert_str_eq(tu_layer_error("name: cp\ntype: ChannelPooling\nchannel_pooling_param: {kernel_size: 2, "
                                    "pad: [0, 1, 0]}",
                                    CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:3:53: layer 'cp': channel_pooling_param: pad takes 1 value or 2 (before, after), "
                     "got 3");
    cf_blob_free(x);
    cf_blob_free(y);
}

/* ================= HDF5Output ================= */

/* Read a whole float dataset; returns its rank, dims in dims. */
static float *read_dataset(hid_t f, const char *name, int *rank, hsize_t *dims)
{
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert_geq(ds, 0, "dataset '%s' missing", name);
    hid_t sp = H5Dget_space(ds);
    *rank = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    size_t n = 1;
    for (int i = 0; i < *rank; i++) n *= dims[i];
    float *buf = malloc(n * sizeof(float) + 1);
    cr_assert_geq(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    H5Sclose(sp);
    H5Dclose(ds);
    return buf;
}

Test(hdf5_output, appends_batches_read_back)
{
    char path[512], yaml[700];
    snprintf(path, sizeof path, "%s/out.h5", tu_tmpdir());
    snprintf(yaml, sizeof yaml, "{name: out, type: HDF5Output, hdf5_output_param: {file_name: '%s'}}", path);
    int ds[3] = {2, 2, 3}, ls[2] = {2, 1};
    cf_blob *b[2] = {blob("data", 3, ds, 1), blob("label", 2, ls, 2)};
    cf_layer *l = tu_layer(yaml, CF_TEST, b, 2, NULL, 0);
    cr_assert_null(l->ops->backward);
    fill_iota(b[0]);
    float l1[2] = {7, 8};
    tu_set_data(b[1], l1);
    tu_forward(l, b, 2, NULL, 0);
    /* a second batch of another size */
    int ds2[3] = {3, 2, 3}, ls2[2] = {3, 1};
    cf_blob_reshape(b[0], 3, ds2, NULL);
    cf_blob_reshape(b[1], 2, ls2, NULL);
    float *d = cf_blob_mdata(b[0]);
    for (int i = 0; i < 18; i++) d[i] = 100.0f + (float)i;
    float l2[3] = {-1, -2, -3};
    tu_set_data(b[1], l2);
    tu_forward(l, b, 2, NULL, 0);
    cf_layer_free(l); /* flushes and closes */

    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    int rank;
    hsize_t dims[8];
    float *data = read_dataset(f, "data", &rank, dims);
    cr_assert_eq(rank, 3);
    cr_assert(dims[0] == 5 && dims[1] == 2 && dims[2] == 3, "data dims %llu %llu %llu", (unsigned long long)dims[0],
              (unsigned long long)dims[1], (unsigned long long)dims[2]);
    for (int i = 0; i < 12; i++) cr_assert_eq(data[i], (float)i);
    for (int i = 0; i < 18; i++) cr_assert_eq(data[12 + i], 100.0f + (float)i);
    float *label = read_dataset(f, "label", &rank, dims);
    cr_assert(rank == 2 && dims[0] == 5 && dims[1] == 1);
    float lw[5] = {7, 8, -1, -2, -3};
    for (int i = 0; i < 5; i++) cr_assert_eq(label[i], lw[i]);
    free(data);
    free(label);
    H5Fclose(f);
    free_blobs(b, 2);
}

Test(hdf5_output, errors)
{
    int ds[2] = {2, 3}, ls[1] = {3};
    cf_blob *b[2] = {blob("data", 2, ds, 1), blob("label", 1, ls, 2)};
    cr_assert_str_eq(tu_layer_error("name: out\ntype: HDF5Output\nhdf5_output_param: {file_name: /nonexistent/dir/o.h5}",
                                    CF_TEST, b, 2, NULL, 0),
                     "test.yaml:3:32: layer 'out': cannot create HDF5 file '/nonexistent/dir/o.h5'");
    cr_assert_str_eq(tu_layer_error("name: out\ntype: HDF5Output", CF_TEST, b, 2, NULL, 0),
                     "test.yaml:1:1: layer 'out': hdf5_output_param: field 'file_name' is missing");
    char path[512], yaml[700];
    snprintf(path, sizeof path, "%s/bad.h5", tu_tmpdir());
    snprintf(yaml, sizeof yaml, "{name: out, type: HDF5Output, hdf5_output_param: {file_name: '%s'}}", path);
    cr_assert_str_eq(tu_layer_error(yaml, CF_TEST, b, 2, NULL, 0),
                     "test.yaml:1:1: layer 'out': bottom 0 has 2 rows but bottom 1 has 3: data and label must match");
    free_blobs(b, 2);
}

/* ================= in a net ================= */

typedef struct { int checked; char names[512]; } seen_layers;

static void note_layer(void *ctx, const cf_layer *l, const cf_gradcheck_result *r)
{
    seen_layers *s = ctx;
    s->checked++;
    strncat(s->names, l->name, sizeof s->names - strlen(s->names) - 2);
    strcat(s->names, " ");
}

/* Every layer with a backward, wired as a real net and checked on the
 * data its own forward pass feeds it (what `cafetui gradcheck` runs);
 * Silence and HDF5Output have no tops and ArgMax no gradient. */
Test(shape_net, all_layers_wired_and_gradchecked)
{
    char yaml[4096], path[512];
    snprintf(path, sizeof path, "%s/net.h5", tu_tmpdir());
    snprintf(yaml, sizeof yaml,
             "name: shapes\n"
             "layer:\n"
             "  - {name: in, type: DummyData, top: [x, idx],\n"
             "     dummy_data_param: {shape: [{dim: [2, 4, 6, 6]}, {dim: [2, 3]}],\n"
             "                        data_filler: [{type: uniform, min: -1, max: 1}, {type: constant, value: 2}]}}\n"
             "  - {name: dec, type: Deconvolution, bottom: x, top: d, convolution_param: {num_output: 2,\n"
             "     kernel_size: 3, stride: 2, pad: 1, weight_filler: {type: gaussian, std: 0.3}}}\n"
             "  - {name: crop, type: Crop, bottom: [d, x], top: c, crop_param: {offset: [2, 3]}}\n"
             "  - {name: sl, type: Slice, bottom: c, top: [c0, c1], slice_param: {slice_point: 1}}\n"
             "  - {name: sil, type: Silence, bottom: c1}\n"
             "  - {name: tile, type: Tile, bottom: c0, top: t, tile_param: {tiles: 2}}\n"
             "  - {name: i2c, type: Im2col, bottom: t, top: col, convolution_param: {kernel_size: 2}}\n"
             "  - {name: cp, type: ChannelPooling, bottom: col, top: cpo,\n"
             "     channel_pooling_param: {pool: AVE, kernel_size: 2, stride: 2}}\n"
             "  - {name: spp, type: SPP, bottom: cpo, top: s, spp_param: {pyramid_height: 2, pool: AVE}}\n"
             "  - {name: emb, type: Embed, bottom: idx, top: e,\n"
             "     embed_param: {num_output: 4, input_dim: 5, weight_filler: {type: uniform}}}\n"
             "  - {name: r1, type: Reduction, bottom: s, top: l1, reduction_param: {operation: SUMSQ},\n"
             "     loss_weight: 1}\n"
             "  - {name: r2, type: Reduction, bottom: e, top: l2, loss_weight: 0.5}\n"
             "  - {name: am, type: ArgMax, bottom: s, top: am}\n"
             "  - {name: out, type: HDF5Output, bottom: [s, am], hdf5_output_param: {file_name: '%s'}}\n",
             path);
    cf_error err;
    char buf[2048];
    cf_net_opts o = {.phase = CF_TRAIN, .be = tu_backend(), .rng = tu_rng()};
    cf_net *n = cf_net_build(tu_yaml(yaml), &o, &err);
    if (!n) cr_assert_fail("net build failed: %s", cf_error_str(&err, buf, sizeof buf));
    assert_shape(cf_net_blob(n, "d"), "2 2 11 11 (484)");
    assert_shape(cf_net_blob(n, "col"), "2 8 5 5 (400)");
    assert_shape(cf_net_blob(n, "s"), "2 20 (40)");
    assert_shape(cf_net_blob(n, "am"), "2 1 1 (2)");
    float loss;
    if (cf_net_forward(n, &loss, &err)) cr_assert_fail("forward: %s", cf_error_str(&err, buf, sizeof buf));
    cf_net_backward(n);

    cf_gradcheck_opts go = {.step = 1e-2};
    seen_layers s = {0, ""};
    double worst;
    cr_assert_eq(cf_gradcheck_net(n, &go, note_layer, &s, &worst, NULL), 0);
    cr_assert_lt(worst, 1e-2, "worst %g", worst);
    cr_assert_str_eq(s.names, "dec crop sl tile i2c cp spp s_spp_split emb r1 r2 ");
    cf_net_free(n);
}
