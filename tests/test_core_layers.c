/* test_core_layers.c — Convolution, Pooling and InnerProduct: hand-computed
 * values, Caffe's output-shape formulas, a slow direct convolution as a
 * reference for the im2col path, numerical gradient checks (bottoms and
 * params) and the messages for bad parameters. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- helpers ---- */




static void assert_shape4(const cf_blob *b, int n, int c, int h, int w)
{
    char s[128];
    cr_assert(b->naxes == 4 && b->shape[0] == n && b->shape[1] == c && b->shape[2] == h && b->shape[3] == w,
              "shape %s, want %d %d %d %d", cf_blob_shape_str(b, s, sizeof s), n, c, h, w);
}



/* ================= Convolution ================= */

/* Slow, plain convolution straight from the definition:
 *   y[n][m][oy][ox] = b[m] + Σ_c Σ_i Σ_j w[m][c][i][j] · x[n][g·C/G + c][iy][ix]
 *   iy = oy·sh − ph + i·dh,  ix = ox·sw − pw + j·dw
 * with g = m / (M/G) and zero outside the image. */
typedef struct { int N, C, H, W, M, G, kh, kw, ph, pw, sh, sw, dh, dw, Ho, Wo; } ref_geom;

static void ref_conv(const ref_geom *r, const float *x, const float *w, const float *bias, float *y)
{
    int cg = r->C / r->G, mg = r->M / r->G;
    for (int n = 0; n < r->N; n++)
        for (int m = 0; m < r->M; m++) {
            int g = m / mg;
            for (int oy = 0; oy < r->Ho; oy++)
                for (int ox = 0; ox < r->Wo; ox++) {
                    double s = bias ? bias[m] : 0;
                    for (int c = 0; c < cg; c++)
                        for (int i = 0; i < r->kh; i++)
                            for (int j = 0; j < r->kw; j++) {
                                int iy = oy * r->sh - r->ph + i * r->dh, ix = ox * r->sw - r->pw + j * r->dw;
                                if (iy < 0 || iy >= r->H || ix < 0 || ix >= r->W) continue;
                                s += (double)w[((m * cg + c) * r->kh + i) * r->kw + j] *
                                     x[((n * r->C + g * cg + c) * r->H + iy) * r->W + ix];
                            }
                    y[((n * r->M + m) * r->Ho + oy) * r->Wo + ox] = (float)s;
                }
        }
}

static void check_against_reference(const char *yaml, ref_geom r, uint64_t seed)
{
    cf_blob *x = tu_blob4("x", r.N, r.C, r.H, r.W, seed), *y = cf_blob_new("y");
    cf_layer *l = tu_layer(yaml, CF_TRAIN, &x, 1, &y, 1);
    r.Ho = (r.H + 2 * r.ph - (r.dh * (r.kh - 1) + 1)) / r.sh + 1;
    r.Wo = (r.W + 2 * r.pw - (r.dw * (r.kw - 1) + 1)) / r.sw + 1;
    tu_forward(l, &x, 1, &y, 1);
    assert_shape4(y, r.N, r.M, r.Ho, r.Wo);
    float *want = malloc(y->count * sizeof(float));
    ref_conv(&r, cf_blob_data(x), cf_blob_data(l->param[0]), l->nparam > 1 ? cf_blob_data(l->param[1]) : NULL, want);
    tu_assert_data(y, want, 1e-4);
    free(want);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(convolution, hand_computed_3x3)
{
    /* x = 1..9 as 3x3, w = [[1, 2], [3, 4]], b = 0.5:
     * y[i][j] = x[i][j] + 2x[i][j+1] + 3x[i+1][j] + 4x[i+1][j+1] + 0.5 */
    float xv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    cf_blob *x = tu_blob4("x", 1, 1, 3, 3, 1), *y = cf_blob_new("y");
    tu_set_data(x, xv);
    cf_layer *l = tu_layer("name: c\ntype: Convolution\n"
                           "convolution_param: {num_output: 1, kernel_size: 2,"
                           " bias_filler: {type: constant, value: 0.5}}",
                           CF_TRAIN, &x, 1, &y, 1);
    float wv[4] = {1, 2, 3, 4};
    tu_set_data(l->param[0], wv);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape4(y, 1, 1, 2, 2);
    float want[4] = {37.5f, 47.5f, 67.5f, 77.5f};
    tu_assert_data(y, want, 1e-5);
    cf_layer_free(l);

    /* pad 1, stride 2 over the same x: the padded 5x5 image is sampled at
     * rows/cols {0,1} and {2,3}; by hand:
     *   (0,0) = 4·1                     = 4
     *   (0,1) = 3·2 + 4·3               = 18
     *   (1,0) = 2·4 + 4·7               = 36
     *   (1,1) = 1·5 + 2·6 + 3·8 + 4·9   = 77 */
    l = tu_layer("name: c\ntype: Convolution\n"
                 "convolution_param: {num_output: 1, kernel_size: 2, pad: 1, stride: 2, bias_term: false}",
                 CF_TRAIN, &x, 1, &y, 1);
    cr_assert_eq(l->nparam, 1);
    tu_set_data(l->param[0], wv);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape4(y, 1, 1, 2, 2);
    float want2[4] = {4, 18, 36, 77};
    tu_assert_data(y, want2, 1e-5);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(convolution, hand_computed_groups_batch)
{
    /* Two images, two channels, group 2, 1x1 kernels: output m only sees
     * channel m.  w = [2, -1], b = [1, 0]. */
    float xv[16] = {1, 2, 3, 4, 5, 6, 7, 8, /* image 0: ch0, ch1 */
                    -1, -2, -3, -4, 10, 20, 30, 40};
    cf_blob *x = tu_blob4("x", 2, 2, 2, 2, 1), *y = cf_blob_new("y");
    tu_set_data(x, xv);
    cf_layer *l = tu_layer("name: c\ntype: Convolution\n"
                           "convolution_param: {num_output: 2, kernel_size: 1, group: 2}",
                           CF_TRAIN, &x, 1, &y, 1);
    cr_assert_eq(l->param[0]->count, 2);
    float wv[2] = {2, -1}, bv[2] = {1, 0};
    tu_set_data(l->param[0], wv);
    tu_set_data(l->param[1], bv);
    tu_forward(l, &x, 1, &y, 1);
    float want[16] = {3, 5, 7, 9, -5, -6, -7, -8, -1, -3, -5, -7, -10, -20, -30, -40};
    tu_assert_data(y, want, 1e-6);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(convolution, output_shapes_and_params)
{
    cf_blob *x = tu_blob4("x", 2, 6, 11, 9, 1), *y = cf_blob_new("y");
    /* Ho = (11 + 2·1 − (2·(3−1)+1)) / 2 + 1 = 8/2 + 1 = 5; Wo = (9 + 0 − 2)/1 + 1 = 8 */
    cf_layer *l = tu_layer("name: c\ntype: Convolution\n"
                           "convolution_param: {num_output: 4, kernel_h: 3, kernel_w: 2, pad_h: 1, pad_w: 0,"
                           " stride_h: 2, stride_w: 1, dilation: [2, 1], group: 2}",
                           CF_TRAIN, &x, 1, &y, 1);
    assert_shape4(y, 2, 4, 5, 8);
    cr_assert_eq(l->nparam, 2);
    assert_shape4(l->param[0], 4, 3, 3, 2);
    cr_assert_eq(l->param[1]->naxes, 1);
    cr_assert_eq(l->param[1]->shape[0], 4);
    /* Caffe's default fillers are constant 0 */
    cr_assert_eq(cf_asum(tu_backend(), l->param[0]->count, cf_blob_data(l->param[0])), 0.0f);
    cf_layer_free(l);

    /* repeated kernel/stride/pad as lists (h, w); Ho = (11+4-3)/3+1 = 5, Wo = (9+2-5)/2+1 = 4 */
    l = tu_layer("name: c\ntype: Convolution\n"
                 "convolution_param: {num_output: 3, kernel_size: [3, 5], pad: [2, 1], stride: [3, 2], axis: 1}",
                 CF_TRAIN, &x, 1, &y, 1);
    assert_shape4(y, 2, 3, 5, 4);
    assert_shape4(l->param[0], 3, 6, 3, 5);
    cf_layer_free(l);

    /* pad_h alone leaves pad_w at 0, as in Caffe: Ho = (11+4-3)+1 = 13, Wo = 9-3+1 = 7 */
    l = tu_layer("name: c\ntype: Convolution\nconvolution_param: {num_output: 1, kernel_size: 3, pad_h: 2}", CF_TRAIN,
                 &x, 1, &y, 1);
    assert_shape4(y, 2, 1, 13, 7);
    cf_layer_free(l);

    /* reshape follows a new bottom size */
    l = tu_layer("name: c\ntype: Convolution\nconvolution_param: {num_output: 3, kernel_size: 3}", CF_TRAIN, &x, 1,
                 &y, 1);
    assert_shape4(y, 2, 3, 9, 7);
    cr_assert_eq(cf_blob_reshape4(x, 3, 6, 5, 4, NULL), 0);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape4(y, 3, 3, 3, 2);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(convolution, matches_direct_reference)
{
    /* groups + dilation + stride + pad, several images */
    check_against_reference("name: c\ntype: Convolution\n"
                            "convolution_param: {num_output: 6, kernel_h: 3, kernel_w: 2, pad: [2, 1], stride: [2, 1],"
                            " dilation: [2, 3], group: 2, weight_filler: {type: gaussian, std: 0.5},"
                            " bias_filler: {type: uniform, min: -1, max: 1}}",
                            (ref_geom){.N = 3, .C = 4, .H = 9, .W = 10, .M = 6, .G = 2, .kh = 3, .kw = 2, .ph = 2,
                                       .pw = 1, .sh = 2, .sw = 1, .dh = 2, .dw = 3},
                            11);
    /* one image (Y written straight into the top), group 3, stride 3 */
    check_against_reference("name: c\ntype: Convolution\n"
                            "convolution_param: {num_output: 3, kernel_size: 3, pad: 1, stride: 3, group: 3,"
                            " weight_filler: {type: xavier}, bias_filler: {type: gaussian}}",
                            (ref_geom){.N = 1, .C = 6, .H = 8, .W = 7, .M = 3, .G = 3, .kh = 3, .kw = 3, .ph = 1,
                                       .pw = 1, .sh = 3, .sw = 3, .dh = 1, .dw = 1},
                            12);
    /* 1x1 kernels: the direct path (N = 1) and the batched one (N = 2) */
    const char *one = "name: c\ntype: Convolution\n"
                      "convolution_param: {num_output: 5, kernel_size: 1, weight_filler: {type: gaussian},"
                      " bias_filler: {type: gaussian}}";
    check_against_reference(one, (ref_geom){.N = 1, .C = 3, .H = 4, .W = 5, .M = 5, .G = 1, .kh = 1, .kw = 1,
                                            .sh = 1, .sw = 1, .dh = 1, .dw = 1}, 13);
    check_against_reference(one, (ref_geom){.N = 2, .C = 3, .H = 4, .W = 5, .M = 5, .G = 1, .kh = 1, .kw = 1,
                                            .sh = 1, .sw = 1, .dh = 1, .dw = 1}, 14);
}

static void conv_gradcheck(const char *yaml, int n, int c, int h, int w)
{
    cf_blob *x = tu_blob4("x", n, c, h, w, 21), *y = cf_blob_new("y");
    cf_layer *l = tu_layer(yaml, CF_TRAIN, &x, 1, &y, 1);
    tu_gradcheck(l, &x, 1, &y, 1, NULL, 1e-2, 1e-2);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(convolution, gradient_pad_stride_groups_batch)
{
    conv_gradcheck("name: c\ntype: Convolution\n"
                   "convolution_param: {num_output: 4, kernel_size: 3, pad: 1, stride: 2, group: 2,"
                   " weight_filler: {type: gaussian, std: 0.3}, bias_filler: {type: uniform, min: -1, max: 1}}",
                   2, 4, 5, 6);
}

Test(convolution, gradient_dilation_nonsquare_no_bias)
{
    conv_gradcheck("name: c\ntype: Convolution\n"
                   "convolution_param: {num_output: 3, kernel_h: 3, kernel_w: 2, pad_h: 2, pad_w: 1, stride: [1, 2],"
                   " dilation: 2, bias_term: false, weight_filler: {type: gaussian, std: 0.3}}",
                   2, 2, 7, 6);
}

Test(convolution, gradient_1x1)
{
    const char *yaml = "name: c\ntype: Convolution\n"
                       "convolution_param: {num_output: 3, kernel_size: 1, group: 1,"
                       " weight_filler: {type: gaussian, std: 0.3}, bias_filler: {type: gaussian}}";
    conv_gradcheck(yaml, 1, 4, 3, 5); /* direct: col is the bottom, Y the top */
    conv_gradcheck(yaml, 3, 4, 3, 5);
}

Test(convolution, gradient_two_bottoms)
{
    /* Caffe convolves each bottom with the same filters: the weight
     * gradient sums over both. */
    cf_blob *x[2] = {tu_blob4("x0", 2, 2, 4, 4, 31), tu_blob4("x1", 2, 2, 4, 4, 32)};
    cf_blob *y[2] = {cf_blob_new("y0"), cf_blob_new("y1")};
    cf_layer *l = tu_layer("name: c\ntype: Convolution\n"
                           "convolution_param: {num_output: 2, kernel_size: 3, pad: 1,"
                           " weight_filler: {type: gaussian, std: 0.3}, bias_filler: {type: gaussian}}",
                           CF_TRAIN, x, 2, y, 2);
    tu_gradcheck(l, x, 2, y, 2, NULL, 1e-2, 1e-2);
    cf_layer_free(l);
    for (int i = 0; i < 2; i++) cf_blob_free(x[i]), cf_blob_free(y[i]);
}

Test(convolution, params_accumulate_and_flags_respected)
{
    cf_blob *x = tu_blob4("x", 2, 2, 5, 5, 41), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("name: c\ntype: Convolution\n"
                           "convolution_param: {num_output: 2, kernel_size: 3, stride: 2,"
                           " weight_filler: {type: gaussian}}",
                           CF_TRAIN, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    tu_fill(y, -1, 1, 42);
    memcpy(cf_blob_mdiff(y), cf_blob_data(y), y->count * sizeof(float));
    bool prop = true;
    l->ops->backward(l, &y, 1, &prop, &x, 1);
    size_t nw = l->param[0]->count;
    float *w1 = malloc(nw * sizeof(float)), *b1 = malloc(2 * sizeof(float));
    memcpy(w1, cf_blob_diff(l->param[0]), nw * sizeof(float));
    memcpy(b1, cf_blob_diff(l->param[1]), 2 * sizeof(float));
    cr_assert_gt(cf_asum(tu_backend(), nw, w1), 0.0f);
    /* a second backward adds the same again */
    l->ops->backward(l, &y, 1, &prop, &x, 1);
    for (size_t i = 0; i < nw; i++) cr_assert_float_eq(cf_blob_diff(l->param[0])[i], 2 * w1[i], 1e-4);
    for (int i = 0; i < 2; i++) cr_assert_float_eq(cf_blob_diff(l->param[1])[i], 2 * b1[i], 1e-4);
    /* param_grad off and prop off: nothing is touched */
    l->param_grad[0] = l->param_grad[1] = false;
    prop = false;
    cf_set(tu_backend(), x->count, 7.0f, cf_blob_mdiff(x));
    l->ops->backward(l, &y, 1, &prop, &x, 1);
    for (size_t i = 0; i < nw; i++) cr_assert_float_eq(cf_blob_diff(l->param[0])[i], 2 * w1[i], 1e-4);
    for (size_t i = 0; i < x->count; i++) cr_assert_eq(cf_blob_diff(x)[i], 7.0f);
    free(w1);
    free(b1);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

static void expect_error(const char *yaml, cf_blob *x, const char *want)
{
    cf_blob *y = cf_blob_new("y");
    const char *msg = tu_layer_error(yaml, CF_TRAIN, &x, 1, &y, 1);
    cr_assert_str_eq(msg, want);
    cf_blob_free(y);
}

Test(convolution, bad_params)
{
    cf_blob *x = tu_blob4("x", 1, 6, 5, 5, 1);
    expect_error("name: c\ntype: Convolution\nconvolution_param: {kernel_size: 3}", x,
                 "test.yaml:3:1: layer 'c': convolution_param: field 'num_output' is missing");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 0, kernel_size: 3}", x,
                 "test.yaml:3:33: layer 'c': field 'num_output': 0 is out of range (must be >= 1)");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 2}", x,
                 "test.yaml:3:1: layer 'c': convolution_param: field 'kernel_size' is missing");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 2, kernel_size: 0}", x,
                 "test.yaml:3:49: layer 'c': field 'kernel_size': 0 is out of range (must be >= 1)");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 2, kernel_size: [3, 0]}", x,
                 "test.yaml:3:53: layer 'c': field 'kernel_size': 0 is out of range (must be >= 1)");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 2, kernel_size: [3, 3, 3]}", x,
                 "test.yaml:3:56: layer 'c': field 'kernel_size' takes 1 value or 2 (h, w) for 2-D convolution, got 3");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 2, kernel_size: 3, kernel_h: 3}", x,
                 "test.yaml:3:49: layer 'c': give either 'kernel_size' or 'kernel_h'/'kernel_w', not both");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 2, kernel_h: 3}", x,
                 "test.yaml:3:1: layer 'c': 'kernel_h' and 'kernel_w' must be given together");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 2, kernel_size: 3, stride_w: 2}", x,
                 "test.yaml:3:1: layer 'c': 'stride_h' and 'stride_w' must be given together");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 2, kernel_size: 3, stride: 0}", x,
                 "test.yaml:3:60: layer 'c': field 'stride': 0 is out of range (must be >= 1)");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 2, kernel_size: 3, group: 4}", x,
                 "test.yaml:3:59: layer 'c': bottom channels (6) must be divisible by group (4)");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 4, kernel_size: 3, group: 3}", x,
                 "test.yaml:3:59: layer 'c': num_output (4) must be divisible by group (3)");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 2, kernel_size: 3, axis: 2}", x,
                 "test.yaml:3:58: layer 'c': only axis 1 (channels of an NCHW bottom) is supported, got 2");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 2, kernel_size: 4, dilation: 2}", x,
                 "test.yaml:1:1: layer 'c': kernel 7x7 (with dilation) is bigger than the padded input 5x5");
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 2, kernel_size: 3, kernal_h: 3}", x,
                 "test.yaml:3:52: unknown field 'kernal_h' (did you mean 'kernel_h'?)");
    cf_blob *x2 = cf_blob_new("x2");
    int s2[2] = {2, 3};
    cf_blob_reshape(x2, 2, s2, NULL);
    expect_error("name: c\ntype: Convolution\nconvolution_param: {num_output: 2, kernel_size: 1}", x2,
                 "test.yaml:1:1: layer 'c': Convolution needs a 4-D bottom (N, C, H, W), got shape 2 3 (6)");
    cf_blob_free(x2);
    cf_blob_free(x);
}

/* ================= Pooling ================= */

static cf_layer *pool_layer(const char *params, cf_blob *x, cf_blob **tops, int nt)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "name: p\ntype: Pooling\npooling_param: %s", params);
    return tu_layer(yaml, CF_TRAIN, &x, 1, tops, nt);
}

Test(pooling, output_shapes_ceil)
{
    cf_blob *x = tu_blob4("x", 2, 3, 7, 7, 1), *y = cf_blob_new("y");
    /* ceil((7 + 2 − 3)/2) + 1 = 4; last window starts at 6 − 1 = 5 < 7 + 1: kept */
    cf_layer *l = pool_layer("{pool: MAX, kernel_size: 3, stride: 2, pad: 1}", x, &y, 1);
    assert_shape4(y, 2, 3, 4, 4);
    cf_layer_free(l);
    /* 6x6, k3 s2: ceil(3/2) + 1 = 3 (floor would give 2) */
    cr_assert_eq(cf_blob_reshape4(x, 1, 1, 6, 6, NULL), 0);
    l = pool_layer("{pool: AVE, kernel_size: 3, stride: 2}", x, &y, 1);
    assert_shape4(y, 1, 1, 3, 3);
    cf_layer_free(l);
    l = pool_layer("{pool: AVE, kernel_size: 3, stride: 2, round_mode: FLOOR}", x, &y, 1);
    assert_shape4(y, 1, 1, 2, 2);
    cf_layer_free(l);
    /* 4x4, k3 s3 p2: ceil((4 + 4 − 3)/3) + 1 = 3, but the third window
     * would start at 2·3 − 2 = 4 ≥ 4 (inside the padding): dropped → 2 */
    cr_assert_eq(cf_blob_reshape4(x, 1, 1, 4, 4, NULL), 0);
    l = pool_layer("{pool: MAX, kernel_size: 3, stride: 3, pad: 2}", x, &y, 1);
    assert_shape4(y, 1, 1, 2, 2);
    cf_layer_free(l);
    /* non-square: 4x5 with kernel 2x3, stride 1x2: 3 x ceil(2/2)+1 = 3x2 */
    cr_assert_eq(cf_blob_reshape4(x, 1, 2, 4, 5, NULL), 0);
    l = pool_layer("{kernel_h: 2, kernel_w: 3, stride_h: 1, stride_w: 2}", x, &y, 1);
    assert_shape4(y, 1, 2, 3, 2);
    cf_layer_free(l);
    /* global: one value per plane */
    l = pool_layer("{pool: AVE, global_pooling: true}", x, &y, 1);
    assert_shape4(y, 1, 2, 1, 1);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(pooling, max_hand_computed_with_mask)
{
    /* x = 1..9 as 3x3, k2 s2: ceil(1/2) + 1 = 2 windows per axis, the
     * last ones clipped to the image:
     *   max{1,2,4,5} = 5 @4   max{3,6} = 6 @5   max{7,8} = 8 @7   max{9} = 9 @8 */
    float xv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    cf_blob *x = tu_blob4("x", 1, 1, 3, 3, 1), *t[2] = {cf_blob_new("y"), cf_blob_new("mask")};
    tu_set_data(x, xv);
    cf_layer *l = pool_layer("{pool: MAX, kernel_size: 2, stride: 2}", x, t, 2);
    tu_forward(l, &x, 1, t, 2);
    float want[4] = {5, 6, 8, 9}, mask[4] = {4, 5, 7, 8};
    tu_assert_data(t[0], want, 0);
    tu_assert_data(t[1], mask, 0);
    /* backward routes each top diff to its argmax */
    float dy[4] = {1, 2, 3, 4};
    memcpy(cf_blob_mdiff(t[0]), dy, sizeof dy);
    bool prop = true;
    l->ops->backward(l, t, 2, &prop, &x, 1);
    float dx[9] = {0, 0, 0, 0, 1, 2, 0, 3, 4};
    for (int i = 0; i < 9; i++) cr_assert_eq(cf_blob_diff(x)[i], dx[i], "dx[%d] = %g", i, cf_blob_diff(x)[i]);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(t[0]);
    cf_blob_free(t[1]);
}

Test(pooling, max_first_of_ties_wins)
{
    /* equal values: the mask names the first cell of each window (row-major) */
    float xv[6] = {2, 2, 2, 2, 2, 2};
    cf_blob *x = tu_blob4("x", 1, 1, 2, 3, 1), *t[2] = {cf_blob_new("y"), cf_blob_new("mask")};
    tu_set_data(x, xv);
    cf_layer *l = pool_layer("{pool: MAX, kernel_size: 2, stride: 1}", x, t, 2);
    tu_forward(l, &x, 1, t, 2);
    float want[2] = {2, 2}, mask[2] = {0, 1};
    tu_assert_data(t[0], want, 0);
    tu_assert_data(t[1], mask, 0);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(t[0]);
    cf_blob_free(t[1]);
}

Test(pooling, max_ignores_padding)
{
    /* all-negative input with pad 1: padding must never win the max */
    float xv[4] = {-4, -3, -2, -1};
    cf_blob *x = tu_blob4("x", 1, 1, 2, 2, 1), *y = cf_blob_new("y");
    tu_set_data(x, xv);
    cf_layer *l = pool_layer("{pool: MAX, kernel_size: 2, stride: 1, pad: 1}", x, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape4(y, 1, 1, 3, 3);
    float want[9] = {-4, -3, -3, -2, -1, -1, -2, -1, -1};
    tu_assert_data(y, want, 0);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(pooling, ave_hand_computed_caffe_divisor)
{
    /* x = 1..16 as 4x4, k3 s2 p1 → 3x3.  Caffe divides by the window
     * clipped to the PADDED image (rows −1..4), not to the image:
     *   (0,0): rows −1..1, cols −1..1 → 9 cells; image part {1,2,5,6} = 14 → 14/9
     *   (2,0): rows 3..4 (2), cols −1..1 (3) → 6; image part {13,14} → 27/6
     *   (2,2): rows 3..4, cols 3..4 → 4; image part {16} → 16/4 */
    float xv[16];
    for (int i = 0; i < 16; i++) xv[i] = (float)(i + 1);
    cf_blob *x = tu_blob4("x", 1, 1, 4, 4, 1), *y = cf_blob_new("y");
    tu_set_data(x, xv);
    cf_layer *l = pool_layer("{pool: AVE, kernel_size: 3, stride: 2, pad: 1}", x, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    assert_shape4(y, 1, 1, 3, 3);
    float want[9] = {14.f / 9, (2 + 3 + 4 + 6 + 7 + 8) / 9.f, (4 + 8) / 6.f,
                     (5 + 6 + 9 + 10 + 13 + 14) / 9.f, (6 + 7 + 8 + 10 + 11 + 12 + 14 + 15 + 16) / 9.f,
                     (8 + 12 + 16) / 6.f, 27.f / 6, (14 + 15 + 16) / 6.f, 16.f / 4};
    tu_assert_data(y, want, 1e-5);
    /* backward: cell (2,2) sends 1/4 of its diff to x[3][3] only */
    float dy[9] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
    memcpy(cf_blob_mdiff(y), dy, sizeof dy);
    bool prop = true;
    l->ops->backward(l, &y, 1, &prop, &x, 1);
    for (int i = 0; i < 16; i++) cr_assert_float_eq(cf_blob_diff(x)[i], i == 15 ? 0.25f : 0.0f, 1e-7);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(pooling, global_hand_computed)
{
    float xv[8] = {1, 2, 3, 6, -1, -2, -3, 10};
    cf_blob *x = tu_blob4("x", 1, 2, 2, 2, 1), *y = cf_blob_new("y");
    tu_set_data(x, xv);
    cf_layer *l = pool_layer("{pool: AVE, global_pooling: true}", x, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    float ave[2] = {3, 1};
    tu_assert_data(y, ave, 1e-6);
    cf_layer_free(l);
    l = pool_layer("{global_pooling: true}", x, &y, 1); /* MAX is the default */
    tu_forward(l, &x, 1, &y, 1);
    float mx[2] = {6, 10};
    tu_assert_data(y, mx, 0);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

static void pool_gradcheck(const char *params, int n, int c, int h, int w, int nt)
{
    cf_blob *x = tu_blob4("x", n, c, h, w, 1), *t[2] = {cf_blob_new("y"), cf_blob_new("mask")};
    tu_fill_permutation(x, 51);
    cf_layer *l = pool_layer(params, x, t, nt);
    tu_gradcheck(l, &x, 1, t, nt, NULL, 1e-2, 1e-2);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(t[0]);
    cf_blob_free(t[1]);
}

Test(pooling, gradient_max)
{
    pool_gradcheck("{pool: MAX, kernel_size: 3, stride: 2, pad: 1}", 2, 3, 7, 7, 1);
    pool_gradcheck("{pool: MAX, kernel_size: 3, stride: 2}", 2, 2, 6, 6, 2); /* with the mask top */
    pool_gradcheck("{pool: MAX, kernel_h: 3, kernel_w: 2, stride_h: 1, stride_w: 2, pad_h: 1, pad_w: 0}", 1, 2, 5, 7,
                   1);
    pool_gradcheck("{pool: MAX, global_pooling: true}", 2, 3, 4, 5, 1);
}

Test(pooling, gradient_ave)
{
    pool_gradcheck("{pool: AVE, kernel_size: 3, stride: 2, pad: 1}", 2, 3, 7, 7, 1);
    pool_gradcheck("{pool: AVE, kernel_size: 3, stride: 2}", 2, 2, 6, 6, 1);
    pool_gradcheck("{pool: AVE, kernel_size: 3, stride: 3, pad: 2}", 1, 2, 4, 4, 1);
    pool_gradcheck("{pool: AVE, kernel_h: 2, kernel_w: 3, pad_h: 1, pad_w: 2, stride: 2}", 2, 1, 5, 6, 1);
    pool_gradcheck("{pool: AVE, global_pooling: true}", 2, 3, 4, 5, 1);
}

Test(pooling, bad_params)
{
    cf_blob *x = tu_blob4("x", 1, 2, 5, 5, 1);
    expect_error("name: p\ntype: Pooling\npooling_param: {pool: STOCHASTIC, kernel_size: 2}", x,
                 "test.yaml:3:23: layer 'p': pool: STOCHASTIC is not supported (use MAX or AVE)");
    expect_error("name: p\ntype: Pooling\npooling_param: {pool: MIN, kernel_size: 2}", x,
                 "test.yaml:3:23: layer 'p': field 'pool': unknown value 'MIN' "
                 "(expected one of: MAX, AVE, STOCHASTIC)");
    expect_error("name: p\ntype: Pooling\npooling_param: {pool: MAX}", x,
                 "test.yaml:3:1: layer 'p': pooling_param: field 'kernel_size' is missing "
                 "(or give kernel_h and kernel_w, or global_pooling: true)");
    expect_error("name: p\ntype: Pooling\npooling_param: {kernel_size: 0}", x,
                 "test.yaml:3:30: layer 'p': field 'kernel_size': 0 is out of range (must be >= 1)");
    expect_error("name: p\ntype: Pooling\npooling_param: {kernel_h: 2}", x,
                 "test.yaml:3:1: layer 'p': 'kernel_h' and 'kernel_w' must be given together");
    expect_error("name: p\ntype: Pooling\npooling_param: {kernel_size: 2, kernel_h: 2, kernel_w: 2}", x,
                 "test.yaml:3:30: layer 'p': give either 'kernel_size' or 'kernel_h'/'kernel_w', not both");
    expect_error("name: p\ntype: Pooling\npooling_param: {kernel_size: 2, stride: 0}", x,
                 "test.yaml:3:41: layer 'p': field 'stride': 0 is out of range (must be >= 1)");
    expect_error("name: p\ntype: Pooling\npooling_param: {kernel_size: 2, pad: 2}", x,
                 "test.yaml:3:1: layer 'p': pad 2x2 must be smaller than the kernel 2x2");
    expect_error("name: p\ntype: Pooling\npooling_param: {global_pooling: true, kernel_size: 2}", x,
                 "test.yaml:3:1: layer 'p': global_pooling takes the kernel size from the bottom: give no kernel");
    expect_error("name: p\ntype: Pooling\npooling_param: {global_pooling: true, stride: 2}", x,
                 "test.yaml:3:1: layer 'p': global_pooling needs pad 0 and stride 1");
    expect_error("name: p\ntype: Pooling\npooling_param: {kernel_size: 6}", x,
                 "test.yaml:1:1: layer 'p': kernel 6x6 (stride 1x1) does not fit the padded input 5x5");
    cf_blob *t[2] = {cf_blob_new("y"), cf_blob_new("m")};
    cr_assert_str_eq(tu_layer_error("name: p\ntype: Pooling\npooling_param: {pool: AVE, kernel_size: 2}", CF_TRAIN,
                                    &x, 1, t, 2),
                     "test.yaml:1:1: layer 'p': a second top (the argmax mask) needs pool: MAX");
    cf_blob_free(t[0]);
    cf_blob_free(t[1]);
    cf_blob_free(x);
}

/* ================= InnerProduct ================= */

Test(inner_product, hand_computed_both_layouts)
{
    /* X = [[1,2,3],[4,5,6]], W = [[1,0,−1],[0.5,0.5,0.5]], b = [1,−1]:
     * Y = X·Wᵀ + b = [[−2+1, 3−1], [−2+1, 7.5−1]] */
    int xs[2] = {2, 3};
    float xv[6] = {1, 2, 3, 4, 5, 6}, wv[6] = {1, 0, -1, 0.5f, 0.5f, 0.5f}, wt[6] = {1, 0.5f, 0, 0.5f, -1, 0.5f};
    float bv[2] = {1, -1}, want[4] = {-1, 2, -1, 6.5f};
    cf_blob *x = tu_blob("x", 2, xs, 0, 1, 1), *y = cf_blob_new("y");
    tu_set_data(x, xv);
    cf_layer *l = tu_layer("name: ip\ntype: InnerProduct\ninner_product_param: {num_output: 2}", CF_TRAIN, &x, 1, &y,
                           1);
    cr_assert(l->param[0]->shape[0] == 2 && l->param[0]->shape[1] == 3);
    tu_set_data(l->param[0], wv);
    tu_set_data(l->param[1], bv);
    tu_forward(l, &x, 1, &y, 1);
    cr_assert(y->naxes == 2 && y->shape[0] == 2 && y->shape[1] == 2);
    tu_assert_data(y, want, 1e-6);
    cf_layer_free(l);

    l = tu_layer("name: ip\ntype: InnerProduct\ninner_product_param: {num_output: 2, transpose: true}", CF_TRAIN, &x,
                 1, &y, 1);
    cr_assert(l->param[0]->shape[0] == 3 && l->param[0]->shape[1] == 2);
    tu_set_data(l->param[0], wt);
    tu_set_data(l->param[1], bv);
    tu_forward(l, &x, 1, &y, 1);
    tu_assert_data(y, want, 1e-6);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(inner_product, shapes_with_axis)
{
    int xs[4] = {2, 3, 4, 5};
    cf_blob *x = tu_blob("x", 4, xs, -1, 1, 1), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("name: ip\ntype: InnerProduct\ninner_product_param: {num_output: 7}", CF_TRAIN, &x, 1, &y,
                           1);
    cr_assert(y->naxes == 2 && y->shape[0] == 2 && y->shape[1] == 7);
    cr_assert(l->param[0]->shape[0] == 7 && l->param[0]->shape[1] == 60);
    cf_layer_free(l);
    l = tu_layer("name: ip\ntype: InnerProduct\ninner_product_param: {num_output: 7, axis: 2, transpose: true}",
                 CF_TRAIN, &x, 1, &y, 1);
    cr_assert(y->naxes == 3 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 7);
    cr_assert(l->param[0]->shape[0] == 20 && l->param[0]->shape[1] == 7);
    cf_layer_free(l);
    l = tu_layer("name: ip\ntype: InnerProduct\ninner_product_param: {num_output: 7, axis: -1, bias_term: false}",
                 CF_TRAIN, &x, 1, &y, 1);
    cr_assert(y->naxes == 4 && y->shape[2] == 4 && y->shape[3] == 7);
    cr_assert_eq(l->nparam, 1);
    cr_assert(l->param[0]->shape[0] == 7 && l->param[0]->shape[1] == 5);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

static void ip_gradcheck(const char *params, int naxes, const int *shape)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "name: ip\ntype: InnerProduct\ninner_product_param: %s", params);
    cf_blob *x = tu_blob("x", naxes, shape, -1, 1, 61), *y = cf_blob_new("y");
    cf_layer *l = tu_layer(yaml, CF_TRAIN, &x, 1, &y, 1);
    tu_gradcheck(l, &x, 1, &y, 1, NULL, 1e-2, 1e-2);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(inner_product, gradient)
{
    int s4[4] = {3, 2, 3, 2};
    ip_gradcheck("{num_output: 4, weight_filler: {type: gaussian}, bias_filler: {type: gaussian}}", 4, s4);
    ip_gradcheck("{num_output: 3, axis: 2, transpose: true, weight_filler: {type: gaussian},"
                 " bias_filler: {type: gaussian}}", 4, s4);
    ip_gradcheck("{num_output: 5, axis: 2, bias_term: false, weight_filler: {type: xavier}}", 4, s4);
    ip_gradcheck("{num_output: 2, axis: -1, transpose: true, bias_term: false, weight_filler: {type: gaussian}}", 4,
                 s4);
}

Test(inner_product, params_accumulate)
{
    int xs[2] = {4, 3};
    cf_blob *x = tu_blob("x", 2, xs, -1, 1, 71), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("name: ip\ntype: InnerProduct\ninner_product_param: {num_output: 2,"
                           " weight_filler: {type: gaussian}}", CF_TRAIN, &x, 1, &y, 1);
    tu_forward(l, &x, 1, &y, 1);
    tu_fill(y, -1, 1, 72);
    memcpy(cf_blob_mdiff(y), cf_blob_data(y), y->count * sizeof(float));
    bool prop = false;
    l->ops->backward(l, &y, 1, &prop, &x, 1);
    float w1[6], b1[2];
    memcpy(w1, cf_blob_diff(l->param[0]), sizeof w1);
    memcpy(b1, cf_blob_diff(l->param[1]), sizeof b1);
    l->ops->backward(l, &y, 1, &prop, &x, 1);
    for (int i = 0; i < 6; i++) cr_assert_float_eq(cf_blob_diff(l->param[0])[i], 2 * w1[i], 1e-5);
    for (int i = 0; i < 2; i++) cr_assert_float_eq(cf_blob_diff(l->param[1])[i], 2 * b1[i], 1e-5);
    /* db = column sums of dY */
    const float *dy = cf_blob_diff(y);
    for (int j = 0; j < 2; j++) {
        float s = 0;
        for (int i = 0; i < 4; i++) s += dy[i * 2 + j];
        cr_assert_float_eq(b1[j], s, 1e-5);
    }
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(inner_product, bad_params)
{
    int xs[2] = {2, 3};
    cf_blob *x = tu_blob("x", 2, xs, -1, 1, 1);
    expect_error("name: ip\ntype: InnerProduct\ninner_product_param: {bias_term: false}", x,
                 "test.yaml:3:1: layer 'ip': inner_product_param: field 'num_output' is missing");
    expect_error("name: ip\ntype: InnerProduct", x,
                 "test.yaml:1:1: layer 'ip': inner_product_param: field 'num_output' is missing");
    expect_error("name: ip\ntype: InnerProduct\ninner_product_param: {num_output: -2}", x,
                 "test.yaml:3:35: layer 'ip': field 'num_output': -2 is out of range (must be >= 1)");
    expect_error("name: ip\ntype: InnerProduct\ninner_product_param: {num_output: 2, axis: 2}", x,
                 "test.yaml:3:44: layer 'ip': axis 2 is out of range for a bottom with 2 axes");
    /* a bottom whose size per item changed after setup */
    cf_blob *y = cf_blob_new("y");
    cf_layer *l = tu_layer("name: ip\ntype: InnerProduct\ninner_product_param: {num_output: 2}", CF_TRAIN, &x, 1, &y,
                           1);
    int xs2[2] = {2, 4};
    cf_blob_reshape(x, 2, xs2, NULL);
    cf_error err;
    char buf[1024];
    cr_assert_eq(l->ops->reshape(l, &x, 1, &y, 1, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, buf, sizeof buf),
                     "test.yaml:1:1: layer 'ip': bottom 2 4 (8) does not give 3 inputs per item from axis 1, as the "
                     "weights expect");
    cf_layer_free(l);
    cf_blob_free(y);
    cf_blob_free(x);
}
