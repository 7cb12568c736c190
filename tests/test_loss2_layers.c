/* test_loss2_layers.c — SigmoidCrossEntropyLoss, HingeLoss, InfogainLoss,
 * MultinomialLogisticLoss, ContrastiveLoss, SoftmaxWithLoss class weights
 * (Mocha's), and the bilinear and orthogonal fillers: gradient checks
 * (labels excluded), hand-computed values and exact error messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mean_file.h"
#include "testutil.h"

/* ---- helpers ---- */






static double loss_of(cf_blob *top) { return cf_blob_data(top)[0]; }

#define expect_near(a, b, ...) cr_expect_float_eq((double)(a), (double)(b), 1e-5, __VA_ARGS__)
#define expect_msg(msg, want) cr_expect_str_eq(msg, want)

static double sigm(double x) { return 1 / (1 + exp(-x)); }

/* −log softmax(x)[k] for a row of n, by hand. */
static double nll(const float *x, int n, int stride, int k)
{
    double z = 0;
    for (int c = 0; c < n; c++) z += exp(x[c * stride]);
    return -(x[k * stride] - log(z));
}

static double softmax_p(const float *x, int n, int stride, int k)
{
    double z = 0;
    for (int c = 0; c < n; c++) z += exp(x[c * stride]);
    return exp(x[k * stride]) / z;
}

/* ---- SigmoidCrossEntropyLoss ---- */

static const float sce_x[6] = {2, -1, 0, 3, -4, 0.5f};
static const float sce_t[6] = {1, 0, 0.5f, 1, 0, 0.25f};

static double sce_term(double x, double t) { return -(t * log(sigm(x)) + (1 - t) * log(1 - sigm(x))); }

Test(sigmoid_ce, hand_computed_default_divides_by_the_batch)
{
    int sh[2] = {2, 3};
    cf_blob *b[2] = {tu_blob_of("x", 2, sh, sce_x), tu_blob_of("t", 2, sh, sce_t)}, *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: sce, type: SigmoidCrossEntropyLoss}", CF_TRAIN, b, 2, &t, 1);
    cr_assert(l->ops->is_loss);
    tu_forward(l, b, 2, &t, 1);
    double sum = 0;
    for (int i = 0; i < 6; i++) sum += sce_term(sce_x[i], sce_t[i]);
    cr_assert_eq(t->naxes, 0);
    expect_near(loss_of(t), sum / 2, "Caffe's default for this layer is BATCH_SIZE: 2 samples");
    /* backward: (σ(x) − t) · w / 2, w = 3; targets untouched */
    float *tdiff = cf_blob_mdiff(b[1]);
    for (int i = 0; i < 6; i++) tdiff[i] = 7;
    bool prop[2] = {true, true};
    tu_backward_with(l, &t, 1, 3.0f, prop, b, 2);
    for (int i = 0; i < 6; i++) {
        expect_near(cf_blob_diff(b[0])[i], (sigm(sce_x[i]) - sce_t[i]) * 3 / 2, "dx[%d]", i);
        cr_expect_eq(cf_blob_diff(b[1])[i], 7.0f, "targets get no gradient");
    }
    cf_layer_free(l);
}

Test(sigmoid_ce, large_scores_stay_finite)
{
    int sh[2] = {2, 1};
    float x[2] = {100, -100}, tv[2] = {0, 1}; /* both badly wrong: ℓ = 100 each */
    cf_blob *b[2] = {tu_blob_of("x", 2, sh, x), tu_blob_of("t", 2, sh, tv)}, *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: sce, type: SigmoidCrossEntropyLoss}", CF_TRAIN, b, 2, &t, 1);
    tu_forward(l, b, 2, &t, 1);
    cr_expect_float_eq(loss_of(t), 100.0, 1e-4);
    bool prop[2] = {true, false};
    tu_backward_with(l, &t, 1, 1.0f, prop, b, 2);
    cr_expect_float_eq(cf_blob_diff(b[0])[0], 0.5, 1e-6);
    cr_expect_float_eq(cf_blob_diff(b[0])[1], -0.5, 1e-6);
    cf_layer_free(l);
}

static double sce_norm_case(const char *extra)
{
    int sh[2] = {2, 3};
    float tv[6];
    memcpy(tv, sce_t, sizeof tv);
    tv[1] = tv[4] = -1; /* two ignored elements */
    cf_blob *b[2] = {tu_blob_of("x", 2, sh, sce_x), tu_blob_of("t", 2, sh, tv)}, *t = cf_blob_new("loss");
    char yaml[256];
    snprintf(yaml, sizeof yaml, "{name: sce, type: SigmoidCrossEntropyLoss, loss_param: {ignore_label: -1%s}}", extra);
    cf_layer *l = tu_layer(yaml, CF_TRAIN, b, 2, &t, 1);
    tu_forward(l, b, 2, &t, 1);
    double v = loss_of(t);
    cf_layer_free(l);
    return v;
}

Test(sigmoid_ce, ignore_label_and_normalization_modes)
{
    double s = 0;
    for (int i = 0; i < 6; i++)
        if (i != 1 && i != 4) s += sce_term(sce_x[i], sce_t[i]);
    expect_near(sce_norm_case(""), s / 2, "default BATCH_SIZE");
    expect_near(sce_norm_case(", normalization: VALID"), s / 4, "VALID: 4 valid elements");
    expect_near(sce_norm_case(", normalization: FULL"), s / 6, "FULL");
    expect_near(sce_norm_case(", normalization: BATCH_SIZE"), s / 2, "BATCH_SIZE");
    expect_near(sce_norm_case(", normalization: NONE"), s, "NONE");
    expect_near(sce_norm_case(", normalize: true"), s / 4, "legacy normalize true is VALID");
    expect_near(sce_norm_case(", normalize: false"), s / 2, "legacy normalize false is BATCH_SIZE");
}

Test(sigmoid_ce, gradient_with_ignored_elements)
{
    int sh[4] = {2, 3, 2, 2};
    cf_blob *b[2] = {tu_blob("x", 4, sh, -4, 4, 31), tu_blob("t", 4, sh, 0, 1, 32)}, *t = cf_blob_new("loss");
    float *tv = cf_blob_mdata(b[1]);
    tv[3] = tv[10] = tv[17] = 5; /* ignore_label 5 */
    cf_layer *l = tu_layer("{name: sce, type: SigmoidCrossEntropyLoss, loss_param: {ignore_label: 5, normalization: VALID}}",
                           CF_TRAIN, b, 2, &t, 1);
    bool check[2] = {true, false};
    tu_gradcheck(l, b, 2, &t, 1, check, 1e-2, 1e-3);
    bool prop[2] = {true, false};
    tu_forward(l, b, 2, &t, 1);
    tu_backward_with(l, &t, 1, 1.0f, prop, b, 2);
    cr_expect_eq(cf_blob_diff(b[0])[10], 0.0f, "an ignored element gets no gradient");
    cf_layer_free(l);
}

Test(sigmoid_ce, count_mismatch_is_an_error)
{
    int sa[2] = {2, 3}, sb[2] = {2, 2};
    cf_blob *b[2] = {tu_blob("x", 2, sa, -1, 1, 1), tu_blob("t", 2, sb, 0, 1, 2)}, *t = cf_blob_new("loss");
    expect_msg(tu_layer_error("{name: sce, type: SigmoidCrossEntropyLoss}", CF_TRAIN, b, 2, &t, 1),
               "test.yaml:1:1: layer 'sce': scores 2 3 (6) and targets 2 2 (4) must have the same count");
}

/* ---- HingeLoss ---- */

static const float hx[6] = {0.5f, -2, 0.3f, 1.5f, 0.2f, -0.7f};
static const float hl[2] = {0, 2};

static cf_layer *hinge(const char *yaml, cf_blob **b, cf_blob **t)
{
    int sh[2] = {2, 3}, lsh[1] = {2};
    b[0] = tu_blob_of("x", 2, sh, hx);
    b[1] = tu_blob_of("label", 1, lsh, hl);
    *t = cf_blob_new("loss");
    return tu_layer(yaml, CF_TRAIN, b, 2, t, 1);
}

Test(hinge, l1_by_hand)
{
    cf_blob *b[2], *t;
    cf_layer *l = hinge("{name: h, type: HingeLoss}", b, &t);
    tu_forward(l, b, 2, &t, 1);
    /* sample 0 (class 0): 1 − 0.5, max(0, 1 − 2), 1 + 0.3 → 1.8; sample 1
     * (class 2): 1 + 1.5, 1 + 0.2, 1 + 0.7 → 5.4; (1.8 + 5.4) / 2 */
    expect_near(loss_of(t), 3.6, "L1 loss");
    bool prop[2] = {true, false};
    tu_backward_with(l, &t, 1, 1.0f, prop, b, 2);
    const float want[6] = {-0.5f, 0, 0.5f, 0.5f, 0.5f, -0.5f};
    for (int i = 0; i < 6; i++) expect_near(cf_blob_diff(b[0])[i], want[i], "dx[%d]", i);
    cf_layer_free(l);
}

Test(hinge, l2_by_hand)
{
    cf_blob *b[2], *t;
    cf_layer *l = hinge("{name: h, type: HingeLoss, hinge_loss_param: {norm: L2}}", b, &t);
    tu_forward(l, b, 2, &t, 1);
    /* (0.25 + 1.69 + 6.25 + 1.44 + 2.89) / 2 */
    expect_near(loss_of(t), 6.26, "L2 loss");
    bool prop[2] = {true, false};
    tu_backward_with(l, &t, 1, 2.0f, prop, b, 2); /* −2δm · w / N with w = 2, N = 2 */
    const float want[6] = {-1.0f, 0, 2.6f, 5.0f, 2.4f, -3.4f};
    for (int i = 0; i < 6; i++) expect_near(cf_blob_diff(b[0])[i], want[i], "dx[%d]", i);
    cf_layer_free(l);
}

/* Scores kept a step away from the hinge at ±1. */
static cf_blob *hinge_scores(int n, int k, uint64_t seed)
{
    int sh[2] = {n, k};
    cf_blob *x = tu_blob("x", 2, sh, -2.5f, 2.5f, seed);
    float *d = cf_blob_mdata(x);
    for (size_t i = 0; i < x->count; i++)
        if (fabsf(fabsf(d[i]) - 1) < 0.1f) d[i] += 0.3f;
    return x;
}

Test(hinge, gradients_l1_and_l2)
{
    const char *yaml[2] = {"{name: h, type: HingeLoss, hinge_loss_param: {norm: L1}}",
                           "{name: h, type: HingeLoss, hinge_loss_param: {norm: L2}}"};
    for (int k = 0; k < 2; k++) {
        int lsh[1] = {5};
        cf_blob *b[2] = {hinge_scores(5, 4, 40 + k), tu_labels(1, lsh, 4, 50 + k)}, *t = cf_blob_new("loss");
        cf_layer *l = tu_layer(yaml[k], CF_TRAIN, b, 2, &t, 1);
        bool check[2] = {true, false};
        tu_gradcheck(l, b, 2, &t, 1, check, 1e-2, 1e-3);
        cf_layer_free(l);
    }
}

Test(hinge, bad_labels_and_params)
{
    cf_blob *b[2], *t;
    cf_layer *l = hinge("{name: h, type: HingeLoss}", b, &t);
    cf_blob_mdata(b[1])[1] = 3;
    expect_msg(tu_forward_error(l, b, 2, &t, 1), "test.yaml:1:1: layer 'h': label 3 of sample 1 is out of range [0, 3)");
    cf_blob_mdata(b[1])[1] = 0.5f;
    expect_msg(tu_forward_error(l, b, 2, &t, 1), "test.yaml:1:1: layer 'h': label 0.5 of sample 1 is not a whole class index");
    cf_layer_free(l);

    int sh[2] = {2, 3}, lsh[1] = {3};
    cf_blob *c[2] = {tu_blob_of("x", 2, sh, hx), tu_labels(1, lsh, 3, 1)};
    expect_msg(tu_layer_error("{name: h, type: HingeLoss}", CF_TRAIN, c, 2, &t, 1),
               "test.yaml:1:1: layer 'h': label count 3 does not match the batch of 2 (scores 2 3 (6), labels 3 (3)): "
               "labels need one class index per sample");
    expect_msg(tu_layer_error("{name: h, type: HingeLoss, hinge_loss_param: {norm: L3}}", CF_TRAIN, b, 2, &t, 1),
               "test.yaml:1:53: layer 'h': field 'norm': unknown value 'L3' (expected one of: L1, L2)");
}

/* ---- MultinomialLogisticLoss ---- */

Test(multinomial_logistic, hand_computed)
{
    int sh[2] = {2, 3}, lsh[1] = {2};
    float p[6] = {0.2f, 0.5f, 0.3f, 0.1f, 0.1f, 0.8f}, lab[2] = {1, 2};
    cf_blob *b[2] = {tu_blob_of("p", 2, sh, p), tu_blob_of("label", 1, lsh, lab)}, *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: mll, type: MultinomialLogisticLoss}", CF_TRAIN, b, 2, &t, 1);
    tu_forward(l, b, 2, &t, 1);
    expect_near(loss_of(t), -(log(0.5) + log(0.8)) / 2, "loss");
    float *d = cf_blob_mdiff(b[0]);
    for (int i = 0; i < 6; i++) d[i] = 7; /* stale values must go */
    bool prop[2] = {true, false};
    tu_backward_with(l, &t, 1, 2.0f, prop, b, 2);
    const float want[6] = {0, -2.0f, 0, 0, 0, -1.25f}; /* −w / (N·p) at the labels */
    for (int i = 0; i < 6; i++) expect_near(cf_blob_diff(b[0])[i], want[i], "dp[%d]", i);
    cf_layer_free(l);
}

Test(multinomial_logistic, zero_probability_is_clamped_at_1e_20)
{
    int sh[2] = {1, 2}, lsh[1] = {1};
    float p[2] = {1, 0}, lab[1] = {1};
    cf_blob *b[2] = {tu_blob_of("p", 2, sh, p), tu_blob_of("label", 1, lsh, lab)}, *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: mll, type: MultinomialLogisticLoss}", CF_TRAIN, b, 2, &t, 1);
    tu_forward(l, b, 2, &t, 1);
    cr_expect_float_eq(loss_of(t), -log(1e-20), 1e-4);
    cf_layer_free(l);
}

Test(multinomial_logistic, gradient)
{
    int sh[4] = {4, 5, 1, 1}, lsh[1] = {4};
    cf_blob *b[2] = {tu_blob("p", 4, sh, 0.2f, 1, 60), tu_labels(1, lsh, 5, 61)}, *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: mll, type: MultinomialLogisticLoss}", CF_TRAIN, b, 2, &t, 1);
    bool check[2] = {true, false};
    tu_gradcheck(l, b, 2, &t, 1, check, 1e-3, 1e-3);
    cf_layer_free(l);
}

Test(multinomial_logistic, bad_labels)
{
    int sh[2] = {2, 3}, lsh[1] = {2}, lsh2[2] = {2, 2};
    float p[6] = {0.2f, 0.5f, 0.3f, 0.1f, 0.1f, 0.8f}, lab[2] = {1, -1};
    cf_blob *b[2] = {tu_blob_of("p", 2, sh, p), tu_blob_of("label", 1, lsh, lab)}, *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: mll, type: MultinomialLogisticLoss}", CF_TRAIN, b, 2, &t, 1);
    expect_msg(tu_forward_error(l, b, 2, &t, 1), "test.yaml:1:1: layer 'mll': label -1 of sample 1 is out of range [0, 3)");
    cf_layer_free(l);
    cf_blob *c[2] = {b[0], tu_labels(2, lsh2, 3, 5)};
    expect_msg(tu_layer_error("{name: mll, type: MultinomialLogisticLoss}", CF_TRAIN, c, 2, &t, 1),
               "test.yaml:1:1: layer 'mll': label count 4 does not match the batch of 2 (probabilities 2 3 (6), "
               "labels 2 2 (4)): labels need one class index per sample");
}

/* ---- InfogainLoss ---- */

static const float ig_x[6] = {1, 2, 3, 0.5f, -1, 2};
static const float ig_lab[2] = {0, 2};
static const float ig_H[9] = {1, 0.5f, 0, 0.2f, 1, 0.1f, 0, 0.3f, 2};

Test(infogain, hand_computed_with_H_as_third_bottom)
{
    int sh[2] = {2, 3}, lsh[1] = {2}, hsh[2] = {3, 3};
    cf_blob *b[3] = {tu_blob_of("x", 2, sh, ig_x), tu_blob_of("label", 1, lsh, ig_lab), tu_blob_of("H", 2, hsh, ig_H)};
    cf_blob *t[2] = {cf_blob_new("loss"), cf_blob_new("prob")};
    cf_layer *l = tu_layer("{name: ig, type: InfogainLoss}", CF_TRAIN, b, 3, t, 2);
    tu_forward(l, b, 3, t, 2);
    double want = 0;
    for (int r = 0; r < 2; r++) {
        int y = (int)ig_lab[r];
        for (int k = 0; k < 3; k++) want -= ig_H[y * 3 + k] * log(softmax_p(ig_x + 3 * r, 3, 1, k));
    }
    expect_near(loss_of(t[0]), want / 2, "loss (VALID: 2)");
    expect_near(cf_blob_data(t[1])[4], softmax_p(ig_x + 3, 3, 1, 1), "second top: the probabilities");
    /* backward: (p_k · Σ_j H[y, j] − H[y, k]) · w / 2, w = 3 */
    float *hd = cf_blob_mdiff(b[2]);
    for (int i = 0; i < 9; i++) hd[i] = 7;
    bool prop[3] = {true, false, true};
    tu_backward_with(l, t, 2, 3.0f, prop, b, 3);
    for (int r = 0; r < 2; r++) {
        int y = (int)ig_lab[r];
        double rs = ig_H[y * 3] + ig_H[y * 3 + 1] + ig_H[y * 3 + 2];
        for (int k = 0; k < 3; k++)
            expect_near(cf_blob_diff(b[0])[r * 3 + k], (softmax_p(ig_x + 3 * r, 3, 1, k) * rs - ig_H[y * 3 + k]) * 1.5,
                        "dx[%d][%d]", r, k);
    }
    for (int i = 0; i < 9; i++) cr_expect_eq(cf_blob_diff(b[2])[i], 0.0f, "H gets a zero gradient");
    cf_layer_free(l);
}

Test(infogain, identity_H_is_softmax_with_loss)
{
    int sh[3] = {2, 4, 3}, lsh[2] = {2, 3}, hsh[2] = {4, 4};
    float eye[16] = {0};
    for (int i = 0; i < 4; i++) eye[i * 5] = 1;
    cf_blob *b[3] = {tu_blob("x", 3, sh, -2, 2, 70), tu_labels(2, lsh, 4, 71), tu_blob_of("H", 2, hsh, eye)};
    cf_blob *t1 = cf_blob_new("l1"), *t2 = cf_blob_new("l2");
    cf_layer *ig = tu_layer("{name: ig, type: InfogainLoss}", CF_TRAIN, b, 3, &t1, 1);
    cf_layer *sm = tu_layer("{name: sm, type: SoftmaxWithLoss}", CF_TRAIN, b, 2, &t2, 1);
    tu_forward(ig, b, 3, &t1, 1);
    tu_forward(sm, b, 2, &t2, 1);
    expect_near(loss_of(t1), loss_of(t2), "same loss");
    bool prop[3] = {true, false, false};
    float g[24];
    tu_backward_with(sm, &t2, 1, 1.0f, prop, b, 2);
    memcpy(g, cf_blob_diff(b[0]), sizeof g);
    tu_backward_with(ig, &t1, 1, 1.0f, prop, b, 3);
    for (int i = 0; i < 24; i++) expect_near(cf_blob_diff(b[0])[i], g[i], "gradient %d", i);
    cf_layer_free(ig);
    cf_layer_free(sm);
}

Test(infogain, H_from_a_binaryproto_source)
{
    char path[512], yaml[1024];
    snprintf(path, sizeof path, "%s/H.binaryproto", tu_tmpdir());
    float h[9];
    memcpy(h, ig_H, sizeof h);
    cf_mean m = {.channels = 1, .height = 3, .width = 3, .data = h}; /* 1×1×3×3, as Caffe's tools write H */
    cr_assert_eq(cf_mean_save(path, &m, NULL), 0);
    int sh[2] = {2, 3}, lsh[1] = {2}, hsh[2] = {3, 3};
    cf_blob *b[3] = {tu_blob_of("x", 2, sh, ig_x), tu_blob_of("label", 1, lsh, ig_lab), tu_blob_of("H", 2, hsh, ig_H)};
    cf_blob *t1 = cf_blob_new("l1"), *t2 = cf_blob_new("l2");
    snprintf(yaml, sizeof yaml, "{name: ig, type: InfogainLoss, infogain_loss_param: {source: '%s'}}", path);
    cf_layer *from_file = tu_layer(yaml, CF_TRAIN, b, 2, &t1, 1);
    cf_layer *from_bottom = tu_layer("{name: ig, type: InfogainLoss}", CF_TRAIN, b, 3, &t2, 1);
    tu_forward(from_file, b, 2, &t1, 1);
    tu_forward(from_bottom, b, 3, &t2, 1);
    cr_expect_eq(loss_of(t1), loss_of(t2));
    cf_layer_free(from_file);
    cf_layer_free(from_bottom);
}

Test(infogain, gradient_axis_and_ignore_label)
{
    int sh[4] = {2, 3, 2, 2}, lsh[3] = {2, 2, 2}, hsh[2] = {3, 3};
    cf_blob *b[3] = {tu_blob("x", 4, sh, -2, 2, 80), tu_labels(3, lsh, 3, 81), tu_blob("H", 2, hsh, 0, 2, 82)};
    cf_blob_mdata(b[1])[2] = 7; /* ignored */
    cf_blob *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: ig, type: InfogainLoss, loss_param: {ignore_label: 7, normalization: FULL}}",
                           CF_TRAIN, b, 3, &t, 1);
    bool check[3] = {true, false, false};
    tu_gradcheck(l, b, 3, &t, 1, check, 1e-2, 1e-3);
    cf_layer_free(l);

    /* axis 2 of 2×2×3: H is 3×3 again, labels 2×2 */
    int sh2[3] = {2, 2, 3}, lsh2[2] = {2, 2};
    cf_blob *c[3] = {tu_blob("x", 3, sh2, -2, 2, 83), tu_labels(2, lsh2, 3, 84), b[2]};
    l = tu_layer("{name: ig, type: InfogainLoss, infogain_loss_param: {axis: -1}}", CF_TRAIN, c, 3, &t, 1);
    tu_gradcheck(l, c, 3, &t, 1, check, 1e-2, 1e-3);
    cf_layer_free(l);
}

Test(infogain, errors)
{
    int sh[2] = {2, 3}, lsh[1] = {2}, hsh[2] = {2, 2};
    cf_blob *b[3] = {tu_blob_of("x", 2, sh, ig_x), tu_blob_of("label", 1, lsh, ig_lab), tu_blob_of("H", 2, hsh, ig_H)};
    cf_blob *t = cf_blob_new("loss");
    expect_msg(tu_layer_error("{name: ig, type: InfogainLoss}", CF_TRAIN, b, 2, &t, 1),
               "test.yaml:1:1: layer 'ig': InfogainLoss needs the infogain matrix H: give infogain_loss_param.source "
               "(a .binaryproto) or H as a third bottom");
    expect_msg(tu_layer_error("{name: ig, type: InfogainLoss}", CF_TRAIN, b, 3, &t, 1),
               "test.yaml:1:1: layer 'ig': the infogain matrix H has 4 values (2 2 (4)): it must be 3 × 3, one row and "
               "column per class");
    expect_msg(tu_layer_error("{name: ig, type: InfogainLoss, infogain_loss_param: {source: /nonexistent/H.binaryproto}}",
                              CF_TRAIN, b, 2, &t, 1),
               "test.yaml:1:62: layer 'ig': infogain_loss_param.source '/nonexistent/H.binaryproto': No such file or "
               "directory");
    expect_msg(tu_layer_error("{name: ig, type: InfogainLoss, loss_param: {normalize: true}}", CF_TRAIN, b, 3, &t, 1),
               "test.yaml:1:56: layer 'ig': InfogainLoss does not take the legacy loss_param.normalize: use "
               "normalization (VALID, FULL, BATCH_SIZE or NONE)");
    expect_msg(tu_layer_error("{name: ig, type: InfogainLoss, infogain_loss_param: {axis: 2}}", CF_TRAIN, b, 3, &t, 1),
               "test.yaml:1:60: layer 'ig': infogain_loss_param.axis 2 is out of range for a bottom with 2 axes");
    /* a file that is not a BlobProto */
    char path[512], yaml[1024];
    snprintf(path, sizeof path, "%s/junk.binaryproto", tu_tmpdir());
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("\xff\xff\xff\xff not protobuf", f);
    fclose(f);
    snprintf(yaml, sizeof yaml, "{name: ig, type: InfogainLoss, infogain_loss_param: {source: '%s'}}", path);
    const char *msg = tu_layer_error(yaml, CF_TRAIN, b, 2, &t, 1);
    cr_expect(strstr(msg, "is not a BlobProto (.binaryproto)"), "%s", msg);
    /* bad labels */
    cf_blob *h3 = tu_blob_of("H", 2, (int[]){3, 3}, ig_H);
    cf_blob *c[3] = {b[0], b[1], h3};
    cf_layer *l = tu_layer("{name: ig, type: InfogainLoss}", CF_TRAIN, c, 3, &t, 1);
    cf_blob_mdata(b[1])[1] = 3;
    expect_msg(tu_forward_error(l, c, 3, &t, 1), "test.yaml:1:1: layer 'ig': label 3 at position 1 is out of range [0, 3)");
    cf_layer_free(l);
}

/* ---- ContrastiveLoss ---- */

static const float ca[6] = {1, 0, 0, 0, 1, 1};
static const float cb[6] = {0, 0, 0.3f, 0.4f, 0, 1};
static const float cy[3] = {1, 0, 0};

static cf_layer *contrastive(const char *yaml, cf_blob **b, cf_blob **t)
{
    int sh[2] = {3, 2}, ysh[4] = {3, 1, 1, 1};
    b[0] = tu_blob_of("a", 2, sh, ca);
    b[1] = tu_blob_of("b", 2, sh, cb);
    b[2] = tu_blob_of("y", 4, ysh, cy);
    *t = cf_blob_new("loss");
    return tu_layer(yaml, CF_TRAIN, b, 3, t, 1);
}

Test(contrastive, hand_computed)
{
    /* d = 1, 0.25, 1; pair 0 similar: 1; pair 1: (1 − 0.5)²; pair 2: max(1 − 1, 0)² = 0 */
    cf_blob *b[3], *t;
    cf_layer *l = contrastive("{name: c, type: ContrastiveLoss}", b, &t);
    tu_forward(l, b, 3, &t, 1);
    expect_near(loss_of(t), 1.25 / 6, "loss over 2N");
    bool prop[3] = {true, true, false};
    tu_backward_with(l, &t, 1, 1.0f, prop, b, 3);
    /* α = 1/3: pair 0: α·(1, 0); pair 1: −α·0.5/(0.5 + 1e-4)·(−0.3, −0.4); pair 2: 0 */
    double f1 = -(1.0 / 3) * 0.5 / (0.5 + 1e-4);
    const double want[6] = {1.0 / 3, 0, f1 * -0.3, f1 * -0.4, 0, 0};
    for (int i = 0; i < 6; i++) {
        expect_near(cf_blob_diff(b[0])[i], want[i], "da[%d]", i);
        expect_near(cf_blob_diff(b[1])[i], -want[i], "db[%d]", i);
    }
    cf_layer_free(l);
}

Test(contrastive, legacy_version_and_margin)
{
    cf_blob *b[3], *t;
    cf_layer *l = contrastive("{name: c, type: ContrastiveLoss, contrastive_loss_param: {legacy_version: true}}", b, &t);
    tu_forward(l, b, 3, &t, 1);
    expect_near(loss_of(t), (1 + 0.75) / 6, "legacy: max(m − d, 0)");
    bool prop[3] = {true, false, false};
    tu_backward_with(l, &t, 1, 1.0f, prop, b, 3);
    expect_near(cf_blob_diff(b[0])[2], -(1.0 / 3) * -0.3, "legacy: −α·Δ while m − d > 0");
    cf_layer_free(l);

    l = contrastive("{name: c, type: ContrastiveLoss, contrastive_loss_param: {margin: 2}}", b, &t);
    tu_forward(l, b, 3, &t, 1);
    expect_near(loss_of(t), (1 + 2.25 + 1) / 6, "margin 2: (2 − 0.5)², (2 − 1)²");
    cf_layer_free(l);
}

static void contrastive_gradcheck(const char *yaml, uint64_t seed)
{
    int sh[2] = {6, 4}, ysh[1] = {6};
    float y[6] = {1, 0, 0, 1, 0, 0};
    cf_blob *b[3] = {tu_blob("a", 2, sh, -1, 1, seed), tu_blob("b", 2, sh, -1, 1, seed + 1), tu_blob_of("y", 1, ysh, y)};
    cf_blob *t = cf_blob_new("loss");
    cf_layer *l = tu_layer(yaml, CF_TRAIN, b, 3, &t, 1);
    bool check[3] = {true, true, false};
    tu_gradcheck(l, b, 3, &t, 1, check, 1e-2, 2e-3);
    cf_layer_free(l);
}

Test(contrastive, gradients)
{
    /* margins far from every distance, so no pair sits on the hinge */
    contrastive_gradcheck("{name: c, type: ContrastiveLoss, contrastive_loss_param: {margin: 5}}", 90);
    contrastive_gradcheck("{name: c, type: ContrastiveLoss, contrastive_loss_param: {margin: 12, legacy_version: true}}",
                          92);
}

Test(contrastive, shape_errors)
{
    int sa[2] = {3, 2}, sb[2] = {3, 3}, ysh[1] = {2};
    cf_blob *b[3] = {tu_blob("a", 2, sa, -1, 1, 1), tu_blob("b", 2, sb, -1, 1, 2), tu_blob("y", 1, ysh, 0, 1, 3)};
    cf_blob *t = cf_blob_new("loss");
    expect_msg(tu_layer_error("{name: c, type: ContrastiveLoss}", CF_TRAIN, b, 3, &t, 1),
               "test.yaml:1:1: layer 'c': the two feature bottoms have shapes 3 2 (6) and 3 3 (9): they must be the same");
    b[1] = tu_blob("b", 2, sa, -1, 1, 2);
    expect_msg(tu_layer_error("{name: c, type: ContrastiveLoss}", CF_TRAIN, b, 3, &t, 1),
               "test.yaml:1:1: layer 'c': similarity count 2 does not match the batch of 3 (features 3 2 (6), "
               "similarity 2 (2)): give one 0/1 value per pair");
}

/* ---- SoftmaxWithLoss class weights (Mocha's weights / normalize) ---- */

static double swl_loss(const char *loss_param, int naxes, const int *sh, const float *x, const int *lsh,
                       const float *lab)
{
    cf_blob *b[2] = {tu_blob_of("x", naxes, sh, x), tu_blob_of("label", naxes - 1, lsh, lab)}, *t = cf_blob_new("loss");
    char yaml[512];
    snprintf(yaml, sizeof yaml, "{name: loss, type: SoftmaxWithLoss, loss_param: %s}", loss_param);
    cf_layer *l = tu_layer(yaml, CF_TRAIN, b, 2, &t, 1);
    tu_forward(l, b, 2, &t, 1);
    double v = loss_of(t);
    cf_layer_free(l);
    return v;
}

Test(class_weight, one_weight_per_class)
{
    int sh[2] = {2, 3}, lsh[1] = {2};
    float x[6] = {1, 2, 3, 0.5f, -1, 2}, lab[2] = {2, 0};
    double n0 = nll(x, 3, 1, 2), n1 = nll(x + 3, 3, 1, 0);
    /* [1, 2, 3] rescaled to sum to C = 3: [0.5, 1, 1.5] */
    expect_near(swl_loss("{class_weight: [1, 2, 3]}", 2, sh, x, lsh, lab), (1.5 * n0 + 0.5 * n1) / 2, "LOCAL default");
    expect_near(swl_loss("{class_weight: [1, 2, 3], class_weight_normalization: GLOBAL}", 2, sh, x, lsh, lab),
                (1.5 * n0 + 0.5 * n1) / 2, "GLOBAL agrees with one weight per class");
    expect_near(swl_loss("{class_weight: [1, 2, 3], class_weight_normalization: NONE}", 2, sh, x, lsh, lab),
                (3 * n0 + 1 * n1) / 2, "NONE: as written");
    cr_expect_eq(swl_loss("{class_weight: [1, 1, 1]}", 2, sh, x, lsh, lab), swl_loss("{}", 2, sh, x, lsh, lab),
                 "ones are the unweighted loss");
}

Test(class_weight, per_position_local_and_global_differ)
{
    /* C = 2, inner = 2; weights w[c][i] = [[1, 2], [3, 6]] */
    int sh[3] = {1, 2, 2}, lsh[2] = {1, 2};
    float x[4] = {0.5f, -1, 2, 0.25f}, lab[2] = {1, 0};
    double n0 = nll(x, 2, 2, 1), n1 = nll(x + 1, 2, 2, 0);
    const char *w = "class_weight: [1, 2, 3, 6]";
    char p[256];
    /* LOCAL: position 0 (1, 3) → (0.5, 1.5); position 1 (2, 6) → (0.5, 1.5) */
    snprintf(p, sizeof p, "{%s}", w);
    expect_near(swl_loss(p, 3, sh, x, lsh, lab), (1.5 * n0 + 0.5 * n1) / 2, "LOCAL");
    /* GLOBAL: all four sum to 4: × 1/3 → position 0 class 1: 1, position 1 class 0: 2/3 */
    snprintf(p, sizeof p, "{%s, class_weight_normalization: GLOBAL}", w);
    expect_near(swl_loss(p, 3, sh, x, lsh, lab), (1.0 * n0 + 2.0 / 3 * n1) / 2, "GLOBAL");
    snprintf(p, sizeof p, "{%s, class_weight_normalization: NONE}", w);
    expect_near(swl_loss(p, 3, sh, x, lsh, lab), (3 * n0 + 2 * n1) / 2, "NONE");
}

Test(class_weight, backward_scales_each_row_by_its_weight)
{
    int sh[2] = {2, 3}, lsh[1] = {2};
    float x[6] = {1, 2, 3, 0.5f, -1, 2}, lab[2] = {2, 0};
    cf_blob *b[2] = {tu_blob_of("x", 2, sh, x), tu_blob_of("label", 1, lsh, lab)}, *t = cf_blob_new("loss");
    cf_layer *l = tu_layer("{name: loss, type: SoftmaxWithLoss, loss_param: {class_weight: [1, 2, 3]}}", CF_TRAIN, b, 2,
                           &t, 1);
    tu_forward(l, b, 2, &t, 1);
    bool prop[2] = {true, false};
    tu_backward_with(l, &t, 1, 2.0f, prop, b, 2);
    const double w[2] = {1.5, 0.5};
    for (int r = 0; r < 2; r++)
        for (int c = 0; c < 3; c++)
            expect_near(cf_blob_diff(b[0])[r * 3 + c],
                        w[r] * (softmax_p(x + 3 * r, 3, 1, c) - (c == (int)lab[r])) * 2.0 / 2, "dx[%d][%d]", r, c);
    cf_layer_free(l);
}

Test(class_weight, gradient_with_weights_and_ignore_label)
{
    int sh[4] = {2, 4, 2, 3}, lsh[4] = {2, 1, 2, 3};
    cf_blob *b[2] = {tu_blob("x", 4, sh, -3, 3, 21), tu_labels(4, lsh, 4, 22)}, *t = cf_blob_new("loss");
    cf_blob_mdata(b[1])[5] = 9;
    cf_layer *l = tu_layer("{name: loss, type: SoftmaxWithLoss, loss_param: {ignore_label: 9, class_weight: [0.5, 2, 1, 3]}}",
                           CF_TRAIN, b, 2, &t, 1);
    bool check[2] = {true, false};
    tu_gradcheck(l, b, 2, &t, 1, check, 1e-2, 1e-3);
    cf_layer_free(l);
    /* one weight per class and position (4 × 6) */
    char yaml[1024] = "{name: loss, type: SoftmaxWithLoss, loss_param: {ignore_label: 9, class_weight_normalization: GLOBAL, class_weight: [";
    for (int i = 0; i < 24; i++) snprintf(yaml + strlen(yaml), sizeof yaml - strlen(yaml), "%s%g", i ? ", " : "", 0.25 + 0.1 * i);
    strcat(yaml, "]}}");
    l = tu_layer(yaml, CF_TRAIN, b, 2, &t, 1);
    tu_gradcheck(l, b, 2, &t, 1, check, 1e-2, 1e-3);
    cf_layer_free(l);
}

Test(class_weight, errors)
{
    int sh[3] = {2, 3, 2}, lsh[2] = {2, 2};
    cf_blob *b[2] = {tu_blob("x", 3, sh, -1, 1, 1), tu_labels(2, lsh, 3, 2)}, *t = cf_blob_new("loss");
    expect_msg(tu_layer_error("{name: loss, type: SoftmaxWithLoss, loss_param: {class_weight: [1, 2]}}", CF_TRAIN, b, 2, &t, 1),
               "test.yaml:1:65: layer 'loss': loss_param.class_weight has 2 values: give one per class (3) or one per "
               "class and position (3 × 2 = 6)");
    expect_msg(tu_layer_error("{name: loss, type: SoftmaxWithLoss, loss_param: {class_weight: [1, -2, 1]}}", CF_TRAIN, b, 2,
                              &t, 1),
               "test.yaml:1:68: layer 'loss': loss_param.class_weight -2: weights must be finite and >= 0");
    expect_msg(tu_layer_error("{name: loss, type: SoftmaxWithLoss, loss_param: {class_weight: [0, 0, 0]}}", CF_TRAIN, b, 2,
                              &t, 1),
               "test.yaml:1:65: layer 'loss': loss_param.class_weight: the weights at position 0 sum to 0, which LOCAL "
               "normalization cannot scale to 3");
    const char *msg = tu_layer_error("{name: loss, type: SoftmaxWithLoss, loss_param: {class_weight: [1, 1, 1], "
                                     "class_weight_normalization: MEAN}}",
                                     CF_TRAIN, b, 2, &t, 1);
    cr_expect(strstr(msg, "field 'class_weight_normalization': unknown value 'MEAN' (expected one of: LOCAL, GLOBAL, NONE)"),
              "%s", msg);
}

/* ---- fillers: bilinear (Caffe) and orthogonal (Mocha) ---- */

static cf_blob *filled(const char *filler, int naxes, const int *shape)
{
    cf_blob *b = cf_blob_new("w");
    cr_assert_eq(cf_blob_reshape(b, naxes, shape, NULL), 0);
    cf_error err;
    char buf[1024];
    if (cf_fill(b, tu_yaml(filler), "constant", tu_rng(), &err))
        cr_assert_fail("fill: %s", cf_error_str(&err, buf, sizeof buf));
    return b;
}

static const char *fill_error(const char *filler, int naxes, const int *shape)
{
    static char buf[1024];
    cf_blob *b = cf_blob_new("w");
    cr_assert_eq(cf_blob_reshape(b, naxes, shape, NULL), 0);
    cf_error err;
    cr_assert_neq(cf_fill(b, tu_yaml(filler), "constant", tu_rng(), &err), 0, "expected the fill to fail");
    cf_blob_free(b);
    return cf_error_str(&err, buf, sizeof buf);
}

Test(filler, bilinear_k4_by_hand)
{
    /* k = 4: f = 2, c = 3/4; along an axis 1 − |x/2 − 3/4| = 0.25, 0.75, 0.75, 0.25 */
    int sh[4] = {2, 3, 4, 4};
    cf_blob *b = filled("{type: bilinear}", 4, sh);
    const float v[4] = {0.25f, 0.75f, 0.75f, 0.25f};
    const float *w = cf_blob_data(b);
    for (int k = 0; k < 6; k++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) cr_expect_eq(w[k * 16 + y * 4 + x], v[y] * v[x], "kernel %d (%d, %d)", k, y, x);
    cf_blob_free(b);
    /* k = 5 (factor 3): f = 3, c = 2/3: 1/3, 2/3, 1, 2/3, 1/3 */
    int sh5[4] = {1, 1, 5, 5};
    b = filled("{type: bilinear}", 4, sh5);
    const double v5[5] = {1.0 / 3, 2.0 / 3, 1, 2.0 / 3, 1.0 / 3};
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 5; x++) cr_expect_float_eq(cf_blob_data(b)[y * 5 + x], v5[y] * v5[x], 1e-6, "(%d, %d)", y, x);
    cf_blob_free(b);
}

Test(filler, bilinear_errors)
{
    int sh3[3] = {2, 4, 4}, shr[4] = {1, 1, 4, 3};
    expect_msg(fill_error("{type: bilinear}", 3, sh3),
               "test.yaml:1:1: bilinear filler needs a 4-axis blob (N × C × k × k), got 2 4 4 (32)");
    expect_msg(fill_error("{type: bilinear}", 4, shr), "test.yaml:1:1: bilinear filler needs square kernels, got 4 × 3");
}

/* max |W·Wᵀ − g²I| (rows) or |Wᵀ·W − g²I| (columns) */
static double gram_error(const cf_blob *b, bool by_rows, double gain)
{
    int rows = b->shape[0], cols = (int)(b->count / (size_t)rows);
    int n = by_rows ? rows : cols, len = by_rows ? cols : rows;
    const float *w = cf_blob_data(b);
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < len; k++)
                s += by_rows ? (double)w[i * cols + k] * w[j * cols + k] : (double)w[k * cols + i] * w[k * cols + j];
            worst = fmax(worst, fabs(s - (i == j ? gain * gain : 0)));
        }
    return worst;
}

Test(filler, orthogonal_rows_columns_and_gain)
{
    int wide[2] = {3, 5}, tall[2] = {6, 2}, conv[4] = {4, 2, 2, 2}, square[2] = {5, 5};
    cf_blob *b = filled("{type: orthogonal}", 2, wide);
    cr_expect_leq(gram_error(b, true, 1), 1e-5, "3 × 5: W·Wᵀ = I");
    b = filled("{type: orthogonal}", 2, tall);
    cr_expect_leq(gram_error(b, false, 1), 1e-5, "6 × 2: Wᵀ·W = I");
    b = filled("{type: orthogonal}", 4, conv);
    cr_expect_leq(gram_error(b, true, 1), 1e-5, "4 filters of 2·2·2: W·Wᵀ = I");
    b = filled("{type: orthogonal, gain: 2}", 2, square);
    cr_expect_leq(gram_error(b, true, 2), 1e-5, "gain 2: W·Wᵀ = 4I");
    cr_expect_leq(gram_error(b, false, 2), 1e-5, "square: Wᵀ·W = 4I too");
    /* not a fixed matrix: two fills differ */
    cf_blob *c = filled("{type: orthogonal, gain: 2}", 2, square);
    cr_expect_neq(memcmp(cf_blob_data(b), cf_blob_data(c), 25 * sizeof(float)), 0);
}

Test(filler, orthogonal_errors)
{
    int one[1] = {5}, sh[2] = {2, 2};
    expect_msg(fill_error("{type: orthogonal}", 1, one),
               "test.yaml:1:1: orthogonal filler needs a blob with at least 2 axes, got 5 (5)");
    expect_msg(fill_error("{type: xavier, gain: 2}", 2, sh), "test.yaml:1:22: field 'gain' is for the orthogonal filler");
}
