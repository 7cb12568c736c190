/* test_loss_layers.c — Softmax, SoftmaxWithLoss, Accuracy, Concat, Eltwise
 * and EuclideanLoss: gradient checks, hand-computed values, shapes and
 * error messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

/* ---- helpers ---- */






#define expect_near(a, b, ...) cr_expect_float_eq((double)(a), (double)(b), 1e-5, __VA_ARGS__)

/* ---- Softmax ---- */

Test(softmax, values_sum_to_one_and_follow_exp)
{
    int sh[2] = {2, 3};
    float x[6] = {1, 2, 3, 1000, 1001, 999}; /* the second row would overflow without the max shift */
    cf_blob *b = tu_blob_of("x", 2, sh, x), *t = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: sm, type: Softmax}", CF_TRAIN, &b, 1, &t, 1);
    tu_forward(l, &b, 1, &t, 1);
    const float *y = cf_blob_data(t);
    double z0 = exp(1) + exp(2) + exp(3), z1 = exp(1) + exp(2) + exp(0);
    expect_near(y[0], exp(1) / z0, "y[0]");
    expect_near(y[2], exp(3) / z0, "y[2]");
    expect_near(y[3], exp(1) / z1, "y[3]");
    expect_near(y[4], exp(2) / z1, "y[4]");
    expect_near(y[5], exp(0) / z1, "y[5]");
    cr_assert_eq(t->naxes, 2);
    cr_assert_eq(t->shape[1], 3);
    cf_layer_free(l);
}

Test(softmax, axis_2_normalises_along_that_axis)
{
    int sh[3] = {2, 3, 4};
    cf_blob *b = tu_blob("x", 3, sh, -2, 2, 11), *t = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: sm, type: Softmax, softmax_param: {axis: -1}}", CF_TRAIN, &b, 1, &t, 1);
    tu_forward(l, &b, 1, &t, 1);
    const float *y = cf_blob_data(t), *x = cf_blob_data(b);
    for (int r = 0; r < 6; r++) {
        double z = 0, s = 0;
        for (int k = 0; k < 4; k++) z += exp(x[r * 4 + k]);
        for (int k = 0; k < 4; k++) {
            expect_near(y[r * 4 + k], exp(x[r * 4 + k]) / z, "row %d k %d", r, k);
            s += y[r * 4 + k];
        }
        expect_near(s, 1.0, "row %d sums to 1", r);
    }
    cf_layer_free(l);
}

Test(softmax, gradient_axis_1)
{
    int sh[4] = {2, 4, 3, 2};
    cf_blob *b = tu_blob("x", 4, sh, -2, 2, 3), *t = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: sm, type: Softmax}", CF_TRAIN, &b, 1, &t, 1);
    tu_gradcheck(l, &b, 1, &t, 1, NULL, 1e-2, 1e-3);
    cf_layer_free(l);
}

Test(softmax, gradient_axis_2)
{
    int sh[4] = {2, 3, 5, 2};
    cf_blob *b = tu_blob("x", 4, sh, -2, 2, 4), *t = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: sm, type: Softmax, softmax_param: {axis: 2}}", CF_TRAIN, &b, 1, &t, 1);
    tu_gradcheck(l, &b, 1, &t, 1, NULL, 1e-2, 1e-3);
    cf_layer_free(l);
}

Test(softmax, gradient_in_place)
{
    int sh[2] = {3, 5};
    cf_blob *b = tu_blob("x", 2, sh, -2, 2, 5);
    cf_layer *l = tu_layer("{name: sm, type: Softmax}", CF_TRAIN, &b, 1, &b, 1);
    tu_gradcheck(l, &b, 1, &b, 1, NULL, 1e-2, 1e-3);
    cf_layer_free(l);
}

Test(softmax, bad_axis_is_an_error)
{
    int sh[2] = {3, 5};
    cf_blob *b = tu_blob("x", 2, sh, -2, 2, 5), *t = cf_blob_new("y");
    const char *msg = tu_layer_error("{name: sm, type: Softmax, softmax_param: {axis: 2}}", CF_TRAIN, &b, 1, &t, 1);
    cr_assert(strstr(msg, "layer 'sm': softmax_param.axis 2 is out of range for a bottom with 2 axes"), "%s", msg);
}

/* ---- SoftmaxWithLoss ---- */

/* −log softmax(x)[k] for a row of 3, by hand. */
static double nll3(const float *x, int k)
{
    return -(x[k] - log(exp(x[0]) + exp(x[1]) + exp(x[2])));
}

Test(softmax_loss, hand_computed_2x3)
{
    int sh[2] = {2, 3}, lsh[1] = {2};
    float x[6] = {1, 2, 3, 0.5f, -1, 2}, lab[2] = {2, 0};
    cf_blob *b[2] = {tu_blob_of("x", 2, sh, x), tu_blob_of("label", 1, lsh, lab)};
    cf_blob *t[2] = {cf_blob_new("loss"), cf_blob_new("prob")};
    cf_layer *l = tu_layer("{name: loss, type: SoftmaxWithLoss}", CF_TRAIN, b, 2, t, 2);
    cr_assert(l->ops->is_loss);
    tu_forward(l, b, 2, t, 2);
    double want = (nll3(x, 2) + nll3(x + 3, 0)) / 2; /* VALID: 2 labelled rows */
    cr_assert_eq(t[0]->count, 1);
    cr_assert_eq(t[0]->naxes, 0);
    expect_near(cf_blob_data(t[0])[0], want, "loss");
    /* second top: the probabilities */
    cr_assert(cf_blob_same_shape(t[1], b[0]));
    const float *p = cf_blob_data(t[1]);
    expect_near(p[1], exp(2) / (exp(1) + exp(2) + exp(3)), "p[1]");
    /* backward: (p − onehot) · w / 2 with w = 3; the label gets nothing */
    float *ldiff = cf_blob_mdiff(b[1]);
    ldiff[0] = ldiff[1] = 7;
    bool prop[2] = {true, true};
    tu_backward_with(l, t, 2, 3.0f, prop, b, 2);
    const float *dx = cf_blob_diff(b[0]);
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++) {
            double pc = exp(x[r * 3 + c]) / (exp(x[r * 3]) + exp(x[r * 3 + 1]) + exp(x[r * 3 + 2]));
            double want_d = (pc - (c == (int)lab[r])) * 3.0 / 2;
            expect_near(dx[r * 3 + c], want_d, "dx[%d][%d]", r, c);
        }
    cr_assert_eq(cf_blob_diff(b[1])[0], 7.0f);
    cr_assert_eq(cf_blob_diff(b[1])[1], 7.0f);
    cf_layer_free(l);
}

/* scores 2 × 3 × 2 (axis 1: outer 2, C 3, inner 2), labels 2 × 2 with one
 * ignored position; the four normalizations divide one sum by 4, 3, 2, 1. */
static const float nx[12] = {1, -1, 2, 0.5f, 0, 3, /* outer 0: class-major, inner 2 */
                             -0.5f, 1, 1.5f, 2, 0.25f, -2};
static const float nlab[4] = {2, 0, 1, 9}; /* 9 is the ignore_label */

static double norm_case(const char *norm_yaml)
{
    int sh[3] = {2, 3, 2}, lsh[2] = {2, 2};
    cf_blob *b[2] = {tu_blob_of("x", 3, sh, nx), tu_blob_of("label", 2, lsh, nlab)};
    cf_blob *t = cf_blob_new("loss");
    char yaml[256];
    snprintf(yaml, sizeof yaml, "{name: loss, type: SoftmaxWithLoss, loss_param: {ignore_label: 9%s}}", norm_yaml);
    cf_layer *l = tu_layer(yaml, CF_TRAIN, b, 2, &t, 1);
    tu_forward(l, b, 2, &t, 1);
    double loss = cf_blob_data(t)[0];
    cf_layer_free(l);
    return loss;
}

static double norm_sum(void)
{
    double s = 0;
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < 2; i++) {
            int k = (int)nlab[o * 2 + i];
            if (k == 9) continue;
            float col[3];
            for (int c = 0; c < 3; c++) col[c] = nx[o * 6 + c * 2 + i];
            s += nll3(col, k);
        }
    return s;
}

Test(softmax_loss, normalization_modes)
{
    double s = norm_sum();
    expect_near(norm_case(""), s / 3, "default is VALID");
    expect_near(norm_case(", normalization: VALID"), s / 3, "VALID");
    expect_near(norm_case(", normalization: FULL"), s / 4, "FULL");
    expect_near(norm_case(", normalization: BATCH_SIZE"), s / 2, "BATCH_SIZE");
    expect_near(norm_case(", normalization: NONE"), s, "NONE");
    expect_near(norm_case(", normalize: true"), s / 3, "legacy normalize true");
    expect_near(norm_case(", normalize: false"), s / 2, "legacy normalize false");
    expect_near(norm_case(", normalize: false, normalization: FULL"), s / 4, "normalization wins");
}

Test(softmax_loss, ignored_positions_get_zero_gradient)
{
    int sh[3] = {2, 3, 2}, lsh[2] = {2, 2};
    cf_blob *b[2] = {tu_blob_of("x", 3, sh, nx), tu_blob_of("label", 2, lsh, nlab)};
    cf_blob *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: loss, type: SoftmaxWithLoss, loss_param: {ignore_label: 9}}", CF_TRAIN, b, 2, &t, 1);
    tu_forward(l, b, 2, &t, 1);
    float *dx = cf_blob_mdiff(b[0]);
    for (int i = 0; i < 12; i++) dx[i] = 5;
    bool prop[2] = {true, false};
    tu_backward_with(l, &t, 1, 1.0f, prop, b, 2);
    dx = cf_blob_mdiff(b[0]);
    for (int c = 0; c < 3; c++) cr_expect_eq(dx[6 + c * 2 + 1], 0.0f, "ignored position, class %d", c);
    cr_expect_neq(dx[0], 0.0f);
    cf_layer_free(l);
}

static void swl_gradcheck(const char *yaml, bool with_ignore)
{
    int sh[4] = {2, 4, 2, 3}, lsh[4] = {2, 1, 2, 3};
    cf_blob *b[2] = {tu_blob("x", 4, sh, -3, 3, 21), tu_labels(4, lsh, 4, 22)};
    if (with_ignore) { /* a few positions labelled 1, the ignore_label below, plus one explicit */
        float *lab = cf_blob_mdata(b[1]);
        lab[0] = 1;
        lab[7] = 1;
    }
    cf_blob *t = cf_blob_new("loss");
    cf_layer *l = tu_layer(yaml, CF_TRAIN, b, 2, &t, 1);
    bool check[2] = {true, false};
    tu_gradcheck(l, b, 2, &t, 1, check, 1e-2, 1e-2);
    cf_layer_free(l);
}

Test(softmax_loss, gradient_default) { swl_gradcheck("{name: loss, type: SoftmaxWithLoss}", false); }
Test(softmax_loss, gradient_ignore_valid)
{
    swl_gradcheck("{name: loss, type: SoftmaxWithLoss, loss_param: {ignore_label: 1, normalization: VALID}}", true);
}
Test(softmax_loss, gradient_ignore_full)
{
    swl_gradcheck("{name: loss, type: SoftmaxWithLoss, loss_param: {ignore_label: 1, normalization: FULL}}", true);
}
Test(softmax_loss, gradient_ignore_batch_size)
{
    swl_gradcheck("{name: loss, type: SoftmaxWithLoss, loss_param: {ignore_label: 1, normalization: BATCH_SIZE}}",
                  true);
}
Test(softmax_loss, gradient_ignore_none)
{
    swl_gradcheck("{name: loss, type: SoftmaxWithLoss, loss_param: {ignore_label: 1, normalization: NONE}}", true);
}
Test(softmax_loss, gradient_axis_2)
{
    int sh[3] = {3, 2, 4}, lsh[2] = {3, 2};
    cf_blob *b[2] = {tu_blob("x", 3, sh, -3, 3, 23), tu_labels(2, lsh, 4, 24)};
    cf_blob *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: loss, type: SoftmaxWithLoss, softmax_param: {axis: 2}}", CF_TRAIN, b, 2, &t, 1);
    bool check[2] = {true, false};
    tu_gradcheck(l, b, 2, &t, 1, check, 1e-2, 1e-2);
    cf_layer_free(l);
}

Test(softmax_loss, label_out_of_range_is_a_forward_error)
{
    int sh[2] = {2, 3}, lsh[1] = {2};
    float x[6] = {0}, lab[2] = {1, 3};
    cf_blob *b[2] = {tu_blob_of("x", 2, sh, x), tu_blob_of("label", 1, lsh, lab)};
    cf_blob *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: loss, type: SoftmaxWithLoss}", CF_TRAIN, b, 2, &t, 1);
    cr_assert_str_eq(tu_forward_error(l, b, 2, &t, 1),
                     "test.yaml:1:1: layer 'loss': label 3 at position 1 is out of range [0, 3)");
    cf_blob_mdata(b[1])[1] = -1;
    cr_assert_str_eq(tu_forward_error(l, b, 2, &t, 1),
                     "test.yaml:1:1: layer 'loss': label -1 at position 1 is out of range [0, 3)");
    cf_blob_mdata(b[1])[1] = 1.5f;
    cr_assert_str_eq(tu_forward_error(l, b, 2, &t, 1),
                     "test.yaml:1:1: layer 'loss': label 1.5 at position 1 is not a whole class index");
    cf_layer_free(l);
}

Test(softmax_loss, ignored_label_may_be_out_of_range)
{
    int sh[2] = {2, 3}, lsh[1] = {2};
    float x[6] = {1, 2, 3, 0, 0, 0}, lab[2] = {0, 255};
    cf_blob *b[2] = {tu_blob_of("x", 2, sh, x), tu_blob_of("label", 1, lsh, lab)};
    cf_blob *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: loss, type: SoftmaxWithLoss, loss_param: {ignore_label: 255}}", CF_TRAIN, b, 2,
                           &t, 1);
    tu_forward(l, b, 2, &t, 1);
    expect_near(cf_blob_data(t)[0], nll3(x, 0), "only row 0 counts");
    cf_layer_free(l);
}

Test(softmax_loss, label_count_mismatch_is_a_reshape_error)
{
    int sh[2] = {2, 3}, lsh[1] = {3};
    cf_blob *b[2] = {tu_blob("x", 2, sh, 0, 1, 1), tu_blob("label", 1, lsh, 0, 0, 1)};
    cf_blob *t = cf_blob_new("loss");
    const char *msg = tu_layer_error("{name: loss, type: SoftmaxWithLoss}", CF_TRAIN, b, 2, &t, 1);
    cr_assert_str_eq(msg, "test.yaml:1:1: layer 'loss': label count 3 does not match the 2 predictions "
                          "(scores 2 3 (6), labels 3 (3)): labels need one class index per position outside "
                          "softmax axis 1");
}

Test(softmax_loss, unknown_normalization_is_an_error)
{
    int sh[2] = {2, 3}, lsh[1] = {2};
    cf_blob *b[2] = {tu_blob("x", 2, sh, 0, 1, 1), tu_blob("label", 1, lsh, 0, 0, 1)};
    cf_blob *t = cf_blob_new("loss");
    const char *msg =
        tu_layer_error("{name: loss, type: SoftmaxWithLoss, loss_param: {normalization: ALL}}", CF_TRAIN, b, 2, &t, 1);
    cr_assert(strstr(msg, "unknown value 'ALL' (expected one of: FULL, VALID, BATCH_SIZE, NONE)"), "%s", msg);
}

/* ---- Accuracy ---- */

/* Six samples, four classes (class 3 never labelled, never close), one
 * sample ignored (label 7).  Ties with the true class do not count
 * against it. */
static const float ax[24] = {
    0.1f, 0.7f, 0.2f, -1,  /* label 1: best                       -> top1, top2 */
    0.5f, 0.5f, 0.1f, -1,  /* label 0: tied with class 1           -> top1, top2 */
    0.3f, 0.4f, 0.3f, -1,  /* label 2: one higher, one tie         -> top2 only */
    0.8f, 0.1f, 0.1f, -1,  /* label 1: one higher, one tie         -> top2 only */
    0.2f, 0.3f, 0.5f, -1,  /* label 0: two higher                  -> neither */
    0.0f, 0.0f, 9.0f, -1,  /* label 7: ignored */
};
static const float alab[6] = {1, 0, 2, 1, 0, 7};

static void accuracy_case(const char *yaml, float want, const float *want_per_class)
{
    int sh[2] = {6, 4}, lsh[1] = {6};
    cf_blob *b[2] = {tu_blob_of("x", 2, sh, ax), tu_blob_of("label", 1, lsh, alab)};
    cf_blob *t[2] = {cf_blob_new("acc"), cf_blob_new("per_class")};
    cf_layer *l = tu_layer(yaml, CF_TEST, b, 2, t, 2);
    tu_forward(l, b, 2, t, 2);
    cr_assert_eq(t[0]->count, 1);
    expect_near(cf_blob_data(t[0])[0], want, "accuracy");
    cr_assert_eq(t[1]->naxes, 1);
    cr_assert_eq(t[1]->shape[0], 4);
    for (int c = 0; c < 4; c++) expect_near(cf_blob_data(t[1])[c], want_per_class[c], "class %d", c);
    cf_layer_free(l);
}

Test(accuracy, top1_with_ties_and_ignore)
{
    float pc[4] = {0.5f, 0.5f, 0, 0};
    accuracy_case("{name: acc, type: Accuracy, accuracy_param: {ignore_label: 7}}", 2.0f / 5, pc);
}

Test(accuracy, top2_with_ties_and_ignore)
{
    float pc[4] = {0.5f, 1, 1, 0};
    accuracy_case("{name: acc, type: Accuracy, accuracy_param: {top_k: 2, ignore_label: 7}}", 4.0f / 5, pc);
}

Test(accuracy, inner_positions_along_axis)
{
    /* 1 × 3 × 2: two positions; classes along axis 1 */
    int sh[3] = {1, 3, 2}, lsh[2] = {1, 2};
    float x[6] = {0.1f, 0.9f, 0.8f, 0.05f, 0.1f, 0.05f}, lab[2] = {1, 1};
    cf_blob *b[2] = {tu_blob_of("x", 3, sh, x), tu_blob_of("label", 2, lsh, lab)};
    cf_blob *t = cf_blob_new("acc");
    cf_layer *l = tu_layer("{name: acc, type: Accuracy}", CF_TEST, b, 2, &t, 1);
    tu_forward(l, b, 2, &t, 1);
    expect_near(cf_blob_data(t)[0], 0.5, "position 0 right, position 1 wrong");
    cf_layer_free(l);
}

Test(accuracy, not_a_loss_and_no_gradient)
{
    const cf_layer_ops *ops = cf_layer_find("Accuracy");
    cr_assert_not_null(ops);
    cr_assert(!ops->is_loss);
    cr_assert_null(ops->backward);
}

Test(accuracy, errors)
{
    int sh[2] = {6, 4}, lsh[1] = {6};
    cf_blob *b[2] = {tu_blob_of("x", 2, sh, ax), tu_blob_of("label", 1, lsh, alab)};
    cf_blob *t = cf_blob_new("acc");
    const char *msg = tu_layer_error("{name: acc, type: Accuracy, accuracy_param: {top_k: 5}}", CF_TEST, b, 2, &t, 1);
    cr_assert(strstr(msg, "layer 'acc': top_k 5 is more than the 4 classes"), "%s", msg);
    cf_layer *l = tu_layer("{name: acc, type: Accuracy}", CF_TEST, b, 2, &t, 1);
    cr_assert_str_eq(tu_forward_error(l, b, 2, &t, 1),
                     "test.yaml:1:1: layer 'acc': label 7 at position 5 is out of range [0, 4)");
    cf_layer_free(l);
}

/* ---- Concat ---- */

Test(concat, values_along_axis_1)
{
    int s0[3] = {2, 1, 2}, s1[3] = {2, 2, 2};
    float x0[4] = {1, 2, 3, 4}, x1[8] = {10, 11, 12, 13, 14, 15, 16, 17};
    cf_blob *b[2] = {tu_blob_of("a", 3, s0, x0), tu_blob_of("b", 3, s1, x1)};
    cf_blob *t = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: cat, type: Concat}", CF_TRAIN, b, 2, &t, 1);
    tu_forward(l, b, 2, &t, 1);
    cr_assert_eq(t->naxes, 3);
    cr_assert_eq(t->shape[0], 2);
    cr_assert_eq(t->shape[1], 3);
    cr_assert_eq(t->shape[2], 2);
    float want[12] = {1, 2, 10, 11, 12, 13, 3, 4, 14, 15, 16, 17};
    for (int i = 0; i < 12; i++) cr_expect_eq(cf_blob_data(t)[i], want[i], "y[%d]", i);
    cf_layer_free(l);
}

static void concat_gradcheck(const char *yaml, int axis)
{
    int s[3][4] = {{2, 3, 2, 2}, {2, 3, 2, 2}, {2, 3, 2, 2}};
    s[0][axis] = 1, s[1][axis] = 2, s[2][axis] = 3;
    cf_blob *b[3] = {tu_blob("a", 4, s[0], -1, 1, 31), tu_blob("b", 4, s[1], -1, 1, 32),
                     tu_blob("c", 4, s[2], -1, 1, 33)};
    cf_blob *t = cf_blob_new("y");
    cf_layer *l = tu_layer(yaml, CF_TRAIN, b, 3, &t, 1);
    cr_assert_eq(t->shape[axis], 6);
    tu_gradcheck(l, b, 3, &t, 1, NULL, 1e-2, 1e-3);
    cf_layer_free(l);
}

Test(concat, gradient_axis_0) { concat_gradcheck("{name: cat, type: Concat, concat_param: {axis: 0}}", 0); }
Test(concat, gradient_axis_1) { concat_gradcheck("{name: cat, type: Concat}", 1); }
Test(concat, gradient_legacy_concat_dim_0)
{
    concat_gradcheck("{name: cat, type: Concat, concat_param: {concat_dim: 0}}", 0);
}

Test(concat, mismatched_dims_name_the_bottom)
{
    int s0[3] = {2, 3, 4}, s1[3] = {2, 1, 4}, s2[3] = {2, 3, 5};
    cf_blob *b[3] = {tu_blob("a", 3, s0, 0, 1, 1), tu_blob("b", 3, s1, 0, 1, 1), tu_blob("c", 3, s2, 0, 1, 1)};
    cf_blob *t = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("{name: cat, type: Concat}", CF_TRAIN, b, 3, &t, 1),
                     "test.yaml:1:1: layer 'cat': bottom 2 has shape 2 3 5 (30) but bottom 0 has 2 3 4 (24): "
                     "all axes but axis 1 must match");
    const char *msg =
        tu_layer_error("{name: cat, type: Concat, concat_param: {axis: 1, concat_dim: 1}}", CF_TRAIN, b, 2, &t, 1);
    cr_assert(strstr(msg, "layer 'cat': give either concat_param.axis or the legacy concat_dim, not both"), "%s", msg);
}

/* ---- Eltwise ---- */

Test(eltwise, sum_with_coeff_values_and_gradient)
{
    int s[2] = {3, 4};
    cf_blob *b[3] = {tu_blob("a", 2, s, -1, 1, 41), tu_blob("b", 2, s, -1, 1, 42), tu_blob("c", 2, s, -1, 1, 43)};
    cf_blob *t = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: e, type: Eltwise, eltwise_param: {operation: SUM, coeff: [1, -0.5, 2]}}", CF_TRAIN,
                           b, 3, &t, 1);
    tu_forward(l, b, 3, &t, 1);
    for (int i = 0; i < 12; i++)
        expect_near(cf_blob_data(t)[i],
                    cf_blob_data(b[0])[i] - 0.5 * cf_blob_data(b[1])[i] + 2 * cf_blob_data(b[2])[i], "y[%d]", i);
    tu_gradcheck(l, b, 3, &t, 1, NULL, 1e-2, 1e-3);
    cf_layer_free(l);
}

static void prod_case(const char *yaml)
{
    int s[2] = {3, 4};
    cf_blob *b[3] = {tu_blob("a", 2, s, 0.5f, 1.5f, 44), tu_blob("b", 2, s, -1.5f, -0.5f, 45),
                     tu_blob("c", 2, s, 0.5f, 1.5f, 46)};
    cf_blob *t = cf_blob_new("y");
    cf_layer *l = tu_layer(yaml, CF_TRAIN, b, 3, &t, 1);
    tu_forward(l, b, 3, &t, 1);
    for (int i = 0; i < 12; i++)
        expect_near(cf_blob_data(t)[i], cf_blob_data(b[0])[i] * cf_blob_data(b[1])[i] * cf_blob_data(b[2])[i],
                    "y[%d]", i);
    tu_gradcheck(l, b, 3, &t, 1, NULL, 1e-2, 1e-3);
    cf_layer_free(l);
}

Test(eltwise, prod_stable) { prod_case("{name: e, type: Eltwise, eltwise_param: {operation: PROD}}"); }
Test(eltwise, prod_unstable)
{
    prod_case("{name: e, type: Eltwise, eltwise_param: {operation: PROD, stable_prod_grad: false}}");
}

Test(eltwise, stable_prod_gradient_through_a_zero)
{
    int s[1] = {2};
    float x0[2] = {0, 2}, x1[2] = {3, 4};
    cf_blob *b[2] = {tu_blob_of("a", 1, s, x0), tu_blob_of("b", 1, s, x1)};
    cf_blob *t = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: e, type: Eltwise, eltwise_param: {operation: PROD}}", CF_TRAIN, b, 2, &t, 1);
    tu_forward(l, b, 2, &t, 1);
    float *dy = cf_blob_mdiff(t);
    dy[0] = dy[1] = 1;
    bool prop[2] = {true, true};
    l->ops->backward(l, &t, 1, prop, b, 2);
    cr_assert_eq(cf_blob_diff(b[0])[0], 3.0f, "d a = b even where a is 0");
    cr_assert_eq(cf_blob_diff(b[1])[0], 0.0f);
    cr_assert_eq(cf_blob_diff(b[0])[1], 4.0f);
    cf_layer_free(l);
}

Test(eltwise, max_gradient_well_separated)
{
    int s[2] = {3, 5};
    cf_blob *b[3];
    for (int k = 0; k < 3; k++) {
        b[k] = tu_blob("x", 2, s, -0.1f, 0.1f, 50 + (uint64_t)k);
        float *d = cf_blob_mdata(b[k]);
        for (int i = 0; i < 15; i++) d[i] += (float)((i + 2 * k) % 3); /* each element: 0, 1, 2 in some order */
    }
    cf_blob *t = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: e, type: Eltwise, eltwise_param: {operation: MAX}}", CF_TRAIN, b, 3, &t, 1);
    tu_forward(l, b, 3, &t, 1);
    for (int i = 0; i < 15; i++) {
        float m = fmaxf(fmaxf(cf_blob_data(b[0])[i], cf_blob_data(b[1])[i]), cf_blob_data(b[2])[i]);
        cr_expect_eq(cf_blob_data(t)[i], m, "y[%d]", i);
    }
    tu_gradcheck(l, b, 3, &t, 1, NULL, 1e-2, 1e-3);
    cf_layer_free(l);
}

Test(eltwise, max_tie_goes_to_the_first_bottom)
{
    int s[1] = {2};
    float x0[2] = {1, 0}, x1[2] = {1, 5};
    cf_blob *b[2] = {tu_blob_of("a", 1, s, x0), tu_blob_of("b", 1, s, x1)};
    cf_blob *t = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: e, type: Eltwise, eltwise_param: {operation: max}}", CF_TRAIN, b, 2, &t, 1);
    tu_forward(l, b, 2, &t, 1);
    float *dy = cf_blob_mdiff(t);
    dy[0] = 2, dy[1] = 3;
    bool prop[2] = {true, true};
    l->ops->backward(l, &t, 1, prop, b, 2);
    cr_assert_eq(cf_blob_diff(b[0])[0], 2.0f);
    cr_assert_eq(cf_blob_diff(b[1])[0], 0.0f);
    cr_assert_eq(cf_blob_diff(b[0])[1], 0.0f);
    cr_assert_eq(cf_blob_diff(b[1])[1], 3.0f);
    cf_layer_free(l);
}

Test(eltwise, errors)
{
    int s[2] = {3, 4}, s2[2] = {4, 3};
    cf_blob *b[3] = {tu_blob("a", 2, s, 0, 1, 1), tu_blob("b", 2, s, 0, 1, 1), tu_blob("c", 2, s2, 0, 1, 1)};
    cf_blob *t = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("{name: e, type: Eltwise, eltwise_param: {coeff: [1, 2, 3]}}", CF_TRAIN, b, 2,
                                    &t, 1),
                     "test.yaml:1:50: layer 'e': eltwise_param.coeff has 3 values for 2 bottoms (one per bottom)");
    const char *msg = tu_layer_error("{name: e, type: Eltwise, eltwise_param: {operation: PROD, coeff: [1, 2]}}",
                                     CF_TRAIN, b, 2, &t, 1);
    cr_assert(strstr(msg, "layer 'e': eltwise_param.coeff is only for operation SUM"), "%s", msg);
    cr_assert_str_eq(tu_layer_error("{name: e, type: Eltwise}", CF_TRAIN, b, 3, &t, 1),
                     "test.yaml:1:1: layer 'e': bottom 2 has shape 4 3 (12) but bottom 0 has 3 4 (12): "
                     "shapes must match");
}

/* ---- EuclideanLoss ---- */

Test(euclidean_loss, hand_computed)
{
    int s[2] = {2, 2};
    float a[4] = {1, 2, 3, 4}, c[4] = {0, 2, 1, 1};
    cf_blob *b[2] = {tu_blob_of("a", 2, s, a), tu_blob_of("b", 2, s, c)};
    cf_blob *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: l2, type: EuclideanLoss}", CF_TRAIN, b, 2, &t, 1);
    cr_assert(l->ops->is_loss);
    tu_forward(l, b, 2, &t, 1);
    expect_near(cf_blob_data(t)[0], (1 + 0 + 4 + 9) / 4.0, "14 / (2·2)");
    bool prop[2] = {true, true};
    tu_backward_with(l, &t, 1, 0.5f, prop, b, 2);
    float want[4] = {1, 0, 2, 3};
    for (int i = 0; i < 4; i++) {
        expect_near(cf_blob_diff(b[0])[i], want[i] * 0.5 / 2, "da[%d]", i);
        expect_near(cf_blob_diff(b[1])[i], -want[i] * 0.5 / 2, "db[%d]", i);
    }
    cf_layer_free(l);
}

Test(euclidean_loss, gradient_both_bottoms)
{
    int s[4] = {3, 2, 2, 2};
    cf_blob *b[2] = {tu_blob("a", 4, s, -1, 1, 61), tu_blob("b", 4, s, -1, 1, 62)};
    cf_blob *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: l2, type: EuclideanLoss}", CF_TRAIN, b, 2, &t, 1);
    tu_gradcheck(l, b, 2, &t, 1, NULL, 1e-2, 1e-3);
    cf_layer_free(l);
}

Test(euclidean_loss, count_mismatch_is_an_error)
{
    int s0[2] = {2, 3}, s1[2] = {2, 4};
    cf_blob *b[2] = {tu_blob("a", 2, s0, 0, 1, 1), tu_blob("b", 2, s1, 0, 1, 1)};
    cf_blob *t = cf_blob_new("loss");
    cr_assert_str_eq(tu_layer_error("{name: l2, type: EuclideanLoss}", CF_TRAIN, b, 2, &t, 1),
                     "test.yaml:1:1: layer 'l2': bottoms have shapes 2 3 (6) and 2 4 (8): they need the same count "
                     "and batch size");
}
