/* test_basic_layers.c — Input, DummyData, ReLU, Sigmoid, TanH, Dropout,
 * Flatten, Reshape and Split: hand-computed values, Caffe's documented
 * shape examples, gradient checks (in place too) and exact error messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define GC_STEP 1e-2
#define GC_TOL 1e-3

static const int S2345[4] = {2, 3, 4, 5};

static cf_blob *rand_blob(const char *name, int naxes, const int *shape, uint64_t seed)
{
    return tu_blob(name, naxes, shape, -1, 1, seed);
}

/* Push values out of (-0.1, 0.1) so that central differences with h = 0.01
 * never straddle ReLU's kink. */
static void away_from_zero(cf_blob *b)
{
    float *x = cf_blob_mdata(b);
    for (size_t i = 0; i < b->count; i++)
        if (fabsf(x[i]) < 0.1f) x[i] += x[i] < 0 ? -0.2f : 0.2f;
}

static void set_values(cf_blob *b, const float *v, size_t n)
{
    cr_assert_eq(b->count, n);
    memcpy(cf_blob_mdata(b), v, n * sizeof(float));
}

static void expect_shape(const cf_blob *b, const char *want)
{
    char buf[128];
    cr_assert_str_eq(cf_blob_shape_str(b, buf, sizeof buf), want);
}

static void forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    cf_error err;
    char buf[2048];
    if (l->ops->reshape(l, bottom, nb, top, nt, &err) || l->ops->forward(l, bottom, nb, top, nt, &err))
        cr_assert_fail("forward failed: %s", cf_error_str(&err, buf, sizeof buf));
}

/* ---------------- ReLU ---------------- */

Test(relu, forward_and_backward_by_hand)
{
    const int sh[1] = {4};
    cf_blob *x = cf_blob_new("x"), *y = cf_blob_new("y");
    cf_blob_reshape(x, 1, sh, NULL);
    set_values(x, (const float[]){-2, 3, 0, -0.5f}, 4);
    cf_layer *l = tu_layer("{name: relu, type: ReLU, relu_param: {negative_slope: 0.1}}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    const float *o = cf_blob_data(y);
    cr_assert_float_eq(o[0], -0.2f, 1e-7);
    cr_assert_float_eq(o[1], 3.0f, 1e-7);
    cr_assert_float_eq(o[2], 0.0f, 1e-7);
    cr_assert_float_eq(o[3], -0.05f, 1e-7);
    set_values(y, (const float[]){0, 0, 0, 0}, 4);
    memcpy(cf_blob_mdiff(y), (const float[]){10, 20, 30, 40}, sizeof(float[4]));
    l->ops->backward(l, &y, 1, (const bool[]){true}, &x, 1);
    const float *d = cf_blob_diff(x);
    cr_assert_float_eq(d[0], 1.0f, 1e-6);  /* 10 · 0.1 */
    cr_assert_float_eq(d[1], 20.0f, 1e-6); /* 20 · 1 */
    cr_assert_float_eq(d[2], 3.0f, 1e-6);  /* x = 0 takes the slope side */
    cr_assert_float_eq(d[3], 4.0f, 1e-6);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(relu, plain_relu_zeroes_negatives)
{
    const int sh[1] = {2};
    cf_blob *x = cf_blob_new("x"), *y = cf_blob_new("y");
    cf_blob_reshape(x, 1, sh, NULL);
    set_values(x, (const float[]){-2, 3}, 2);
    cf_layer *l = tu_layer("{name: relu, type: ReLU}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    cr_assert_eq(cf_blob_data(y)[0], 0.0f);
    cr_assert_eq(cf_blob_data(y)[1], 3.0f);
    cf_layer_free(l);
}

Test(relu, gradcheck)
{
    cf_blob *x = rand_blob("x", 4, S2345, 11), *y = cf_blob_new("y");
    away_from_zero(x);
    cf_layer *l = tu_layer("{name: relu, type: ReLU}", CF_TRAIN, &x, 1, &y, 1);
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

Test(relu, gradcheck_leaky)
{
    cf_blob *x = rand_blob("x", 4, S2345, 12), *y = cf_blob_new("y");
    away_from_zero(x);
    cf_layer *l = tu_layer("{name: relu, type: ReLU, relu_param: {negative_slope: 0.1}}", CF_TRAIN, &x, 1, &y, 1);
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

Test(relu, gradcheck_in_place)
{
    cf_blob *x = rand_blob("x", 4, S2345, 13);
    away_from_zero(x);
    cf_layer *l = tu_layer("{name: relu, type: ReLU, relu_param: {negative_slope: 0.1}}", CF_TRAIN, &x, 1, &x, 1);
    tu_gradcheck(l, &x, 1, &x, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

Test(relu, large_blob_goes_through_the_pool)
{
    /* 100000 elements: several parallel ranges must each be right */
    const int sh[1] = {100000};
    cf_blob *x = rand_blob("x", 1, sh, 14), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: relu, type: ReLU, relu_param: {negative_slope: 0.25}}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    const float *a = cf_blob_data(x), *b = cf_blob_data(y);
    for (size_t i = 0; i < x->count; i++) cr_assert_eq(b[i], a[i] > 0 ? a[i] : 0.25f * a[i], "at %zu", i);
    cf_layer_free(l);
}

/* ---------------- Sigmoid and TanH ---------------- */

Test(sigmoid, forward_values)
{
    const int sh[1] = {4};
    cf_blob *x = cf_blob_new("x"), *y = cf_blob_new("y");
    cf_blob_reshape(x, 1, sh, NULL);
    set_values(x, (const float[]){0, 2, -100, 100}, 4);
    cf_layer *l = tu_layer("{name: s, type: Sigmoid}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    const float *o = cf_blob_data(y);
    cr_assert_float_eq(o[0], 0.5f, 1e-7);
    cr_assert_float_eq(o[1], 0.8807970779778823f, 1e-6); /* 1 / (1 + e^-2) */
    cr_assert_float_eq(o[2], 0.0f, 1e-7);                /* no overflow to NaN */
    cr_assert_float_eq(o[3], 1.0f, 1e-7);
    cf_layer_free(l);
}

Test(sigmoid, gradcheck)
{
    cf_blob *x = tu_blob("x", 4, S2345, -3, 3, 21), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: s, type: Sigmoid}", CF_TRAIN, &x, 1, &y, 1);
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

Test(sigmoid, gradcheck_in_place)
{
    cf_blob *x = tu_blob("x", 4, S2345, -3, 3, 22);
    cf_layer *l = tu_layer("{name: s, type: Sigmoid}", CF_TRAIN, &x, 1, &x, 1);
    tu_gradcheck(l, &x, 1, &x, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

Test(tanh, forward_values)
{
    const int sh[1] = {3};
    cf_blob *x = cf_blob_new("x"), *y = cf_blob_new("y");
    cf_blob_reshape(x, 1, sh, NULL);
    set_values(x, (const float[]){0, 1, -0.5f}, 3);
    cf_layer *l = tu_layer("{name: t, type: TanH, tanh_param: {engine: CAFFE}}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    const float *o = cf_blob_data(y);
    cr_assert_float_eq(o[0], 0.0f, 1e-7);
    cr_assert_float_eq(o[1], 0.7615941559557649f, 1e-6);
    cr_assert_float_eq(o[2], -0.46211715726000974f, 1e-6);
    cf_layer_free(l);
}

Test(tanh, gradcheck)
{
    cf_blob *x = tu_blob("x", 4, S2345, -2, 2, 31), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: t, type: TanH}", CF_TRAIN, &x, 1, &y, 1);
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

Test(tanh, gradcheck_in_place)
{
    cf_blob *x = tu_blob("x", 4, S2345, -2, 2, 32);
    cf_layer *l = tu_layer("{name: t, type: TanH}", CF_TRAIN, &x, 1, &x, 1);
    tu_gradcheck(l, &x, 1, &x, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

/* ---------------- Dropout ---------------- */

Test(dropout, test_phase_is_identity)
{
    cf_blob *x = rand_blob("x", 4, S2345, 41), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: d, type: Dropout, dropout_param: {dropout_ratio: 0.5}}", CF_TEST, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    cr_assert_eq(memcmp(cf_blob_data(x), cf_blob_data(y), x->count * sizeof(float)), 0);
    tu_fill(y, -1, 1, 42); /* reuse as a diff source */
    memcpy(cf_blob_mdiff(y), cf_blob_data(y), y->count * sizeof(float));
    l->ops->backward(l, &y, 1, (const bool[]){true}, &x, 1);
    cr_assert_eq(memcmp(cf_blob_diff(x), cf_blob_diff(y), x->count * sizeof(float)), 0);
    cf_layer_free(l);
}

Test(dropout, train_keeps_about_one_minus_p_and_scales)
{
    const int sh[1] = {10000};
    const float p = 0.3f, scale = 1.0f / (1.0f - p);
    cf_blob *x = tu_blob("x", 1, sh, 1, 2, 43), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: d, type: Dropout, dropout_param: {dropout_ratio: 0.3}}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    const float *a = cf_blob_data(x), *b = cf_blob_data(y);
    size_t kept = 0;
    for (size_t i = 0; i < x->count; i++) {
        if (b[i] == 0) continue;
        cr_assert_float_eq(b[i], a[i] * scale, 1e-6, "element %zu: %g is neither 0 nor x/(1-p)", i, b[i]);
        kept++;
    }
    /* std of the kept fraction is sqrt(0.21 / 10000) ≈ 0.0046 */
    cr_assert(fabs((double)kept / 10000 - 0.7) < 0.02, "kept %zu of 10000", kept);
    /* backward applies the same mask and scale */
    for (size_t i = 0; i < y->count; i++) cf_blob_mdiff(y)[i] = 1;
    l->ops->backward(l, &y, 1, (const bool[]){true}, &x, 1);
    const float *d = cf_blob_diff(x);
    for (size_t i = 0; i < x->count; i++) cr_assert_float_eq(d[i], b[i] == 0 ? 0.0f : scale, 1e-6, "at %zu", i);
    cf_layer_free(l);
}

Test(dropout, masks_differ_between_forwards)
{
    const int sh[1] = {1000};
    cf_blob *x = tu_blob("x", 1, sh, 1, 2, 44), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: d, type: Dropout}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    float first[1000];
    memcpy(first, cf_blob_data(y), sizeof first);
    forward(l, &x, 1, &y, 1);
    cr_assert_neq(memcmp(first, cf_blob_data(y), sizeof first), 0);
    cf_layer_free(l);
}

Test(dropout, ratio_zero_keeps_everything)
{
    cf_blob *x = rand_blob("x", 4, S2345, 45), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: d, type: Dropout, dropout_param: {dropout_ratio: 0}}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    cr_assert_eq(memcmp(cf_blob_data(x), cf_blob_data(y), x->count * sizeof(float)), 0);
    cf_layer_free(l);
}

Test(dropout, gradcheck_train)
{
    cf_blob *x = rand_blob("x", 4, S2345, 46), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: d, type: Dropout, dropout_param: {dropout_ratio: 0.4}}", CF_TRAIN, &x, 1, &y, 1);
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

Test(dropout, gradcheck_train_in_place)
{
    cf_blob *x = rand_blob("x", 4, S2345, 47);
    cf_layer *l = tu_layer("{name: d, type: Dropout}", CF_TRAIN, &x, 1, &x, 1);
    tu_gradcheck(l, &x, 1, &x, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

Test(dropout, ratio_out_of_range)
{
    cf_blob *x = rand_blob("x", 4, S2345, 48), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("name: drop\n"
                                    "type: Dropout\n"
                                    "dropout_param:\n"
                                    "  dropout_ratio: 1.5\n",
                                    CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:4:18: layer 'drop': dropout_param: dropout_ratio 1.5 is out of range "
                     "(must be >= 0 and < 1)");
    cr_assert_str_eq(tu_layer_error("{name: drop, type: Dropout, dropout_param: {dropout_ratio: 1}}", CF_TRAIN, &x,
                                    1, &y, 1),
                     "test.yaml:1:60: layer 'drop': dropout_param: dropout_ratio 1 is out of range "
                     "(must be >= 0 and < 1)");
}

/* ---------------- Flatten ---------------- */

Test(flatten, shapes)
{
    static const struct { const char *yaml, *want; } cases[] = {
        {"{name: f, type: Flatten}", "2 60 (120)"},
        {"{name: f, type: Flatten, flatten_param: {axis: 2}}", "2 3 20 (120)"},
        {"{name: f, type: Flatten, flatten_param: {axis: 1, end_axis: 2}}", "2 12 5 (120)"},
        {"{name: f, type: Flatten, flatten_param: {axis: -3, end_axis: -2}}", "2 12 5 (120)"},
        {"{name: f, type: Flatten, flatten_param: {axis: 0}}", "120 (120)"},
        {"{name: f, type: Flatten, flatten_param: {axis: 2, end_axis: 1}}", "2 3 1 4 5 (120)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cf_blob *x = rand_blob("x", 4, S2345, 51), *y = cf_blob_new("y");
        cf_layer *l = tu_layer(cases[i].yaml, CF_TRAIN, &x, 1, &y, 1);
        expect_shape(y, cases[i].want);
        cf_layer_free(l);
        cf_blob_free(x);
        cf_blob_free(y);
    }
}

Test(flatten, shares_memory_and_follows_the_bottom)
{
    cf_blob *x = rand_blob("x", 4, S2345, 52), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: f, type: Flatten}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    cr_assert_eq(y->data, x->data);
    cr_assert_eq(y->diff, x->diff);
    cr_assert_eq(cf_blob_data(y)[77], cf_blob_data(x)[77]);
    /* the bottom grows and is given other memory: reshape follows both */
    const int big[4] = {4, 3, 4, 5};
    cf_blob *other = rand_blob("other", 4, big, 53);
    cf_blob_reshape(x, 4, big, NULL);
    cf_blob_share_data(x, other);
    forward(l, &x, 1, &y, 1);
    expect_shape(y, "4 60 (240)");
    cr_assert_eq(y->data, other->data);
    cr_assert_eq(cf_blob_data(y)[239], cf_blob_data(other)[239]);
    cf_layer_free(l);
}

Test(flatten, gradcheck)
{
    cf_blob *x = rand_blob("x", 4, S2345, 54), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: f, type: Flatten, flatten_param: {axis: 2}}", CF_TRAIN, &x, 1, &y, 1);
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

Test(flatten, errors)
{
    cf_blob *x = rand_blob("x", 4, S2345, 55), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("{name: f, type: Flatten, flatten_param: {axis: 4}}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:48: layer 'f': flatten_param: axis 4 is out of range for a bottom with 4 axes");
    cr_assert_str_eq(tu_layer_error("{name: f, type: Flatten, flatten_param: {axis: 3, end_axis: 1}}", CF_TRAIN, &x,
                                    1, &y, 1),
                     "test.yaml:1:1: layer 'f': flatten_param: end_axis 1 comes before axis 3");
    cr_assert_str_eq(tu_layer_error("{name: f, type: Flatten}", CF_TRAIN, &x, 1, &x, 1),
                     "test.yaml:1:1: layer 'f': Flatten cannot work in place (top 'x' is also a bottom)");
}

/* ---------------- Reshape ---------------- */

static void reshape_case(const int *bshape, int naxes, const char *param, const char *want)
{
    char yaml[512];
    snprintf(yaml, sizeof yaml, "{name: r, type: Reshape, reshape_param: %s}", param);
    cf_blob *x = rand_blob("x", naxes, bshape, 61), *y = cf_blob_new("y");
    cf_layer *l = tu_layer(yaml, CF_TRAIN, &x, 1, &y, 1);
    char buf[128];
    cr_assert_str_eq(cf_blob_shape_str(y, buf, sizeof buf), want, "%s", param);
    cr_assert_eq(y->data, x->data);
    cr_assert_eq(y->diff, x->diff);
    cf_layer_free(l);
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(reshape, copy_and_infer)
{
    reshape_case(S2345, 4, "{shape: {dim: [0, -1]}}", "2 60 (120)");
    reshape_case(S2345, 4, "{shape: {dim: [-1, 0, 0, 5]}}", "2 3 4 5 (120)");
    reshape_case(S2345, 4, "{shape: {dim: [0, 0, -1]}}", "2 3 20 (120)");
    reshape_case(S2345, 4, "{shape: {dim: [-1]}}", "120 (120)");
}

/* caffe.proto's examples for a 2×8 bottom */
Test(reshape, caffe_documented_examples)
{
    const int b28[2] = {2, 8};
    reshape_case(b28, 2, "{shape: {dim: [2, 2, 4]}}", "2 2 4 (16)");
    reshape_case(b28, 2, "{shape: {dim: [0, 2, 4]}}", "2 2 4 (16)");
    reshape_case(b28, 2, "{shape: {dim: [0, 2, -1]}}", "2 2 4 (16)");
    reshape_case(b28, 2, "{shape: {dim: [0, -1, 4]}}", "2 2 4 (16)");
    reshape_case(b28, 2, "{shape: {dim: [2, 4]}, axis: 1}", "2 2 4 (16)");
    reshape_case(b28, 2, "{shape: {dim: [2, 4]}, axis: -2}", "2 2 4 (16)");
    reshape_case(b28, 2, "{shape: {dim: [1, 2, 8]}}", "1 2 8 (16)");
    reshape_case(b28, 2, "{shape: {dim: [1, 2]}, num_axes: 1}", "1 2 8 (16)");
    reshape_case(b28, 2, "{shape: {dim: [1]}, num_axes: 0}", "1 2 8 (16)");
    reshape_case(b28, 2, "{shape: {dim: [2, 1, 8]}}", "2 1 8 (16)");
    reshape_case(b28, 2, "{shape: {dim: [1]}, axis: 1, num_axes: 0}", "2 1 8 (16)");
    reshape_case(b28, 2, "{shape: {dim: [1]}, axis: -1}", "2 8 1 (16)");
}

Test(reshape, follows_a_growing_bottom)
{
    cf_blob *x = rand_blob("x", 4, S2345, 62), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: r, type: Reshape, reshape_param: {shape: {dim: [0, -1]}}}", CF_TRAIN, &x, 1, &y, 1);
    const int big[4] = {6, 3, 4, 5};
    cf_blob_reshape(x, 4, big, NULL);
    tu_fill(x, -1, 1, 63);
    forward(l, &x, 1, &y, 1);
    expect_shape(y, "6 60 (360)");
    cr_assert_eq(y->data, x->data);
    cr_assert_eq(cf_blob_data(y)[359], cf_blob_data(x)[359]);
    cf_layer_free(l);
}

Test(reshape, gradcheck)
{
    cf_blob *x = rand_blob("x", 4, S2345, 64), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: r, type: Reshape, reshape_param: {shape: {dim: [0, 4, -1]}}}", CF_TRAIN, &x, 1, &y,
                           1);
    expect_shape(y, "2 4 15 (120)");
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

Test(reshape, errors)
{
    cf_blob *x = rand_blob("x", 4, S2345, 65), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("{name: r, type: Reshape, reshape_param: {shape: {dim: [-1, 0, -1]}}}", CF_TRAIN,
                                    &x, 1, &y, 1),
                     "test.yaml:1:63: layer 'r': reshape_param: shape has more than one -1 (only one dim can be "
                     "inferred)");
    cr_assert_str_eq(tu_layer_error("{name: r, type: Reshape, reshape_param: {shape: {dim: [2, 50]}}}", CF_TRAIN, &x,
                                    1, &y, 1),
                     "test.yaml:1:42: layer 'r': reshape_param: the new shape has 100 elements but the bottom "
                     "(2 3 4 5 (120)) has 120");
    cr_assert_str_eq(tu_layer_error("{name: r, type: Reshape, reshape_param: {shape: {dim: [7, -1]}}}", CF_TRAIN, &x,
                                    1, &y, 1),
                     "test.yaml:1:42: layer 'r': reshape_param: cannot infer the -1 dim: the bottom's count 120 is "
                     "not a multiple of 7");
    cr_assert_str_eq(tu_layer_error("{name: r, type: Reshape, reshape_param: {shape: {dim: [0, 0, 0, 0, 0]}}}",
                                    CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:42: layer 'r': reshape_param: dim 4 is 0 but the bottom has no axis 4 to copy");
    cr_assert_str_eq(tu_layer_error("{name: r, type: Reshape, reshape_param: {shape: {dim: [-2]}}}", CF_TRAIN, &x, 1,
                                    &y, 1),
                     "test.yaml:1:56: layer 'r': reshape_param: dim -2 is invalid (give a size, 0 to copy the "
                     "bottom's, or -1 to infer)");
    cr_assert_str_eq(tu_layer_error("{name: r, type: Reshape, reshape_param: {shape: {dim: [2]}, axis: 5}}", CF_TRAIN,
                                    &x, 1, &y, 1),
                     "test.yaml:1:67: layer 'r': reshape_param: axis 5 is out of range for a bottom with 4 axes");
    cr_assert_str_eq(tu_layer_error("{name: r, type: Reshape, reshape_param: {shape: {dim: [2]}, axis: 2, "
                                    "num_axes: 3}}",
                                    CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:80: layer 'r': reshape_param: axis + num_axes = 5 goes past the bottom's 4 axes");
}

/* ---------------- Split ---------------- */

Test(split, shares_data_sums_diffs)
{
    const int sh[1] = {3};
    cf_blob *x = rand_blob("x", 1, sh, 71);
    cf_blob *t[3] = {cf_blob_new("a"), cf_blob_new("b"), cf_blob_new("c")};
    cf_layer *l = tu_layer("{name: s, type: Split}", CF_TRAIN, &x, 1, t, 3);
    forward(l, &x, 1, t, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(t[i]->data, x->data);
        cr_assert_neq(t[i]->diff, x->diff);
        expect_shape(t[i], "3 (3)");
    }
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++) cf_blob_mdiff(t[i])[k] = (float)((i + 1) * (k == 1 ? 10 : 1));
    l->ops->backward(l, t, 3, (const bool[]){true}, &x, 1);
    const float *d = cf_blob_diff(x);
    cr_assert_float_eq(d[0], 6.0f, 1e-6);  /* 1 + 2 + 3 */
    cr_assert_float_eq(d[1], 60.0f, 1e-6); /* 10 + 20 + 30 */
    cr_assert_float_eq(d[2], 6.0f, 1e-6);
    cf_layer_free(l);
}

Test(split, gradcheck_three_tops)
{
    cf_blob *x = rand_blob("x", 4, S2345, 72);
    cf_blob *t[3] = {cf_blob_new("a"), cf_blob_new("b"), cf_blob_new("c")};
    cf_layer *l = tu_layer("{name: s, type: Split}", CF_TRAIN, &x, 1, t, 3);
    tu_gradcheck(l, &x, 1, t, 3, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

/* ---------------- DummyData ---------------- */

Test(dummy_data, constant_fill_once)
{
    cf_blob *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: d, type: DummyData, dummy_data_param: {shape: {dim: [2, 3]}, "
                           "data_filler: {type: constant, value: 7}}}",
                           CF_TRAIN, NULL, 0, &y, 1);
    expect_shape(y, "2 3 (6)");
    for (int i = 0; i < 6; i++) cr_assert_eq(cf_blob_data(y)[i], 7.0f);
    /* a constant top is not filled again (Caffe's refill rule) */
    cf_blob_mdata(y)[0] = -1;
    forward(l, NULL, 0, &y, 1);
    cr_assert_eq(cf_blob_data(y)[0], -1.0f);
    cf_layer_free(l);
}

Test(dummy_data, default_is_zero_and_legacy_shape)
{
    cf_blob *t[2] = {cf_blob_new("a"), cf_blob_new("b")};
    cf_blob_reshape4(t[0], 1, 1, 1, 1, NULL);
    cf_blob_mdata(t[0])[0] = 5; /* must be overwritten with 0 */
    cf_layer *l = tu_layer("{name: d, type: DummyData, dummy_data_param: {num: [4, 1], channels: 3, height: 2, "
                           "width: [5, 6]}}",
                           CF_TRAIN, NULL, 0, t, 2);
    expect_shape(t[0], "4 3 2 5 (120)");
    expect_shape(t[1], "1 3 2 6 (36)");
    for (size_t i = 0; i < t[0]->count; i++) cr_assert_eq(cf_blob_data(t[0])[i], 0.0f);
    cf_layer_free(l);
}

Test(dummy_data, one_shape_for_all_and_fillers_per_top)
{
    cf_blob *t[2] = {cf_blob_new("a"), cf_blob_new("b")};
    cf_layer *l = tu_layer("{name: d, type: DummyData, dummy_data_param: {shape: [{dim: [3, 4]}], "
                           "data_filler: [{value: 2}, {type: uniform, min: 10, max: 11}]}}",
                           CF_TRAIN, NULL, 0, t, 2);
    expect_shape(t[0], "3 4 (12)");
    expect_shape(t[1], "3 4 (12)");
    float first[12];
    memcpy(first, cf_blob_data(t[1]), sizeof first);
    for (int i = 0; i < 12; i++) {
        cr_assert_eq(cf_blob_data(t[0])[i], 2.0f);
        cr_assert(first[i] >= 10 && first[i] < 11, "uniform value %g", first[i]);
    }
    /* the uniform top is drawn again at every forward */
    forward(l, NULL, 0, t, 2);
    cr_assert_neq(memcmp(first, cf_blob_data(t[1]), sizeof first), 0);
    for (int i = 0; i < 12; i++) cr_assert(cf_blob_data(t[1])[i] >= 10 && cf_blob_data(t[1])[i] < 11);
    cf_layer_free(l);
}

Test(dummy_data, errors)
{
    cf_blob *t[2] = {cf_blob_new("a"), cf_blob_new("b")};
    cr_assert_str_eq(tu_layer_error("{name: d, type: DummyData, dummy_data_param: {shape: {dim: [1]}, num: 1}}",
                                    CF_TRAIN, NULL, 0, t, 1),
                     "test.yaml:1:47: layer 'd': dummy_data_param: use either 'shape' or num/channels/height/width, "
                     "not both");
    cr_assert_str_eq(tu_layer_error("{name: d, type: DummyData, dummy_data_param: {shape: [{dim: [1]}, {dim: [2]}, "
                                    "{dim: [3]}]}}",
                                    CF_TRAIN, NULL, 0, t, 2),
                     "test.yaml:1:55: layer 'd': dummy_data_param: give 'shape' once, or once per top (2 tops), "
                     "not 3 times");
    cr_assert_str_eq(tu_layer_error("{name: d, type: DummyData, dummy_data_param: {shape: {dim: [1]}, "
                                    "data_filler: [{value: 1}, {value: 2}, {value: 3}]}}",
                                    CF_TRAIN, NULL, 0, t, 2),
                     "test.yaml:1:80: layer 'd': dummy_data_param: give 'data_filler' once, or once per top (2 tops), "
                     "not 3 times");
    cr_assert_str_eq(tu_layer_error("{name: d, type: DummyData, dummy_data_param: {num: 1, channels: 1, height: 1}}",
                                    CF_TRAIN, NULL, 0, t, 1),
                     "test.yaml:1:28: layer 'd': dummy_data_param: give 'width' once, or once per top (1 top), "
                     "not 0 times");
}

/* ---------------- Input ---------------- */

Test(input, one_shape_for_all_tops)
{
    cf_blob *t[2] = {cf_blob_new("a"), cf_blob_new("b")};
    cf_layer *l = tu_layer("{name: in, type: Input, input_param: {shape: [{dim: [64, 1, 28, 28]}]}}", CF_TEST, NULL,
                           0, t, 2);
    expect_shape(t[0], "64 1 28 28 (50176)");
    expect_shape(t[1], "64 1 28 28 (50176)");
    cf_layer_free(l);
}

Test(input, shape_per_top_and_data_left_alone)
{
    cf_blob *t[2] = {cf_blob_new("data"), cf_blob_new("label")};
    cf_layer *l = tu_layer("{name: in, type: Input, input_param: {shape: [{dim: [2, 3]}, {dim: [2]}]}}", CF_TEST,
                           NULL, 0, t, 2);
    expect_shape(t[0], "2 3 (6)");
    expect_shape(t[1], "2 (2)");
    cf_blob_mdata(t[0])[5] = 42;
    forward(l, NULL, 0, t, 2);
    cr_assert_eq(cf_blob_data(t[0])[5], 42.0f);
    expect_shape(t[0], "2 3 (6)");
    cf_layer_free(l);
}

Test(input, no_shape_keeps_the_callers)
{
    cf_blob *t = cf_blob_new("data");
    cf_blob_reshape4(t, 1, 2, 3, 4, NULL);
    cf_layer *l = tu_layer("{name: in, type: Input}", CF_TEST, NULL, 0, &t, 1);
    expect_shape(t, "1 2 3 4 (24)");
    cf_layer_free(l);
}

Test(input, errors)
{
    cf_blob *t[3] = {cf_blob_new("a"), cf_blob_new("b"), cf_blob_new("c")};
    cr_assert_str_eq(tu_layer_error("{name: in, type: Input, input_param: {shape: [{dim: [1]}, {dim: [2]}]}}",
                                    CF_TEST, NULL, 0, t, 3),
                     "test.yaml:1:47: layer 'in': input_param: give 'shape' once, or once per top (3 tops), "
                     "not 2 times");
    cr_assert_str_eq(tu_layer_error("{name: in, type: Input, input_param: {shape: {dim: [2, -3]}}}", CF_TEST, NULL, 0,
                                    t, 1),
                     "test.yaml:1:56: layer 'in': input_param: dimension -3 is out of range");
    cf_blob *x = cf_blob_new("x");
    cr_assert_str_eq(tu_layer_error("{name: in, type: Input, bottom: x}", CF_TEST, &x, 1, t, 1),
                     "test.yaml:1:1: layer 'in': Input takes 0 bottom blob(s), got 1");
}
