/* test_neuron_layers.c — LRN, Power, AbsVal, BNLL, Exp, Log, PReLU, ELU,
 * Threshold, Bias, Scale, BatchNorm and MVN: values worked out by hand
 * with plain C math, gradient checks (in place too, params included),
 * BatchNorm's running statistics, and exact error messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "net.h"
#include "testutil.h"

#define GC_STEP 1e-2
#define GC_TOL 1e-3

static const int S2345[4] = {2, 3, 4, 5};

/* ---- helpers ---- */

static cf_blob *blob_of(const char *name, int naxes, const int *shape, const float *v)
{
    cf_blob *b = cf_blob_new(name);
    cr_assert_eq(cf_blob_reshape(b, naxes, shape, NULL), 0);
    memcpy(cf_blob_mdata(b), v, b->count * sizeof *v);
    return b;
}

static void set_values(cf_blob *b, const float *v, size_t n)
{
    cr_assert_eq(b->count, n);
    memcpy(cf_blob_mdata(b), v, n * sizeof(float));
}

static void forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    cf_error err;
    char buf[2048];
    if (l->ops->reshape(l, bottom, nb, top, nt, &err) || l->ops->forward(l, bottom, nb, top, nt, &err))
        cr_assert_fail("forward failed: %s", cf_error_str(&err, buf, sizeof buf));
}

static const char *reshape_error(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    static char buf[2048];
    cf_error err;
    cr_assert_neq(l->ops->reshape(l, bottom, nb, top, nt, &err), 0, "expected reshape to fail");
    return cf_error_str(&err, buf, sizeof buf);
}

static void expect_shape(const cf_blob *b, const char *want)
{
    char buf[128];
    cr_assert_str_eq(cf_blob_shape_str(b, buf, sizeof buf), want);
}

/* |got − want| within tol relative to max(|want|, 1). */
static void near(double got, double want, double tol, const char *what)
{
    cr_assert(fabs(got - want) <= tol * fmax(fabs(want), 1.0), "%s: got %.9g, want %.9g", what, got, want);
}

static void expect_values(const cf_blob *b, const double *want, size_t n, double tol)
{
    cr_assert_eq(b->count, n);
    const float *y = cf_blob_data(b);
    char what[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(what, sizeof what, "[%zu]", i);
        near(y[i], want[i], tol, what);
    }
}

/* Push values out of (-0.1, 0.1), away from kinks at 0. */
static void away_from_zero(cf_blob *b)
{
    float *x = cf_blob_mdata(b);
    for (size_t i = 0; i < b->count; i++)
        if (fabsf(x[i]) < 0.1f) x[i] += x[i] < 0 ? -0.2f : 0.2f;
}

/* Build the layer on a fresh random bottom and check its gradients
 * (bottom and params); in place when asked. */
static void gradcheck_yaml(const char *yaml, int naxes, const int *shape, float lo, float hi, uint64_t seed,
                           bool in_place, bool kinks_at_zero)
{
    cf_blob *x = tu_blob("x", naxes, shape, lo, hi, seed), *y = in_place ? x : cf_blob_new("y");
    if (kinks_at_zero) away_from_zero(x);
    cf_layer *l = tu_layer(yaml, CF_TRAIN, &x, 1, &y, 1);
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
    if (!in_place) cf_blob_free(y);
    cf_blob_free(x);
}

/* ================= LRN ================= */

Test(lrn, across_channels_by_hand)
{
    const int sh[4] = {1, 3, 1, 1};
    cf_blob *x = blob_of("x", 4, sh, (const float[]){1, 2, 3}), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: n, type: LRN, lrn_param: {local_size: 3, alpha: 0.3, beta: 0.75, k: 2}}",
                           CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    /* s = 2 + 0.3/3 · Σ x² over the neighbours that exist */
    double s0 = 2 + 0.1 * (1 + 4), s1 = 2 + 0.1 * (1 + 4 + 9), s2 = 2 + 0.1 * (4 + 9);
    expect_values(y, (const double[]){1 * pow(s0, -0.75), 2 * pow(s1, -0.75), 3 * pow(s2, -0.75)}, 3, 1e-6);
    cf_layer_free(l);

    /* defaults: local_size 5 covers all three channels, alpha 1, beta 0.75, k 1 */
    l = tu_layer("{name: n, type: LRN}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    double s = 1 + (1 + 4 + 9) / 5.0;
    expect_values(y, (const double[]){1 * pow(s, -0.75), 2 * pow(s, -0.75), 3 * pow(s, -0.75)}, 3, 1e-6);
    cf_layer_free(l);
}

Test(lrn, within_channel_by_hand_ignores_k_as_caffe)
{
    const int sh[4] = {1, 1, 3, 3};
    cf_blob *x = blob_of("x", 4, sh, (const float[]){1, 2, 3, 4, 5, 6, 7, 8, 9}), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: n, type: LRN, lrn_param: {local_size: 3, alpha: 0.9, beta: 0.5, k: 7, "
                           "norm_region: WITHIN_CHANNEL}}",
                           CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    const float *o = cf_blob_data(y);
    /* s = 1 + 0.9/9 · Σ x² over the 3×3 window cut at the edges */
    near(o[0], 1 / sqrt(1 + 0.1 * (1 + 4 + 16 + 25)), 1e-6, "corner");
    near(o[1], 2 / sqrt(1 + 0.1 * (1 + 4 + 9 + 16 + 25 + 36)), 1e-6, "edge");
    near(o[4], 5 / sqrt(1 + 0.1 * 285), 1e-6, "centre");
    near(o[8], 9 / sqrt(1 + 0.1 * (25 + 36 + 64 + 81)), 1e-6, "far corner");
    cf_layer_free(l);
}

Test(lrn, gradcheck_across_channels)
{
    const int sh[4] = {2, 7, 3, 3};
    gradcheck_yaml("{name: n, type: LRN, lrn_param: {local_size: 5, alpha: 1, beta: 0.75, k: 1.5}}", 4, sh, -1, 1,
                   101, false, false);
    gradcheck_yaml("{name: n, type: LRN, lrn_param: {local_size: 3, alpha: 0.5, beta: 1.2}}", 4, sh, -1, 1, 102,
                   false, false);
}

Test(lrn, gradcheck_within_channel)
{
    const int sh[4] = {2, 2, 5, 4};
    gradcheck_yaml("{name: n, type: LRN, lrn_param: {local_size: 3, alpha: 2, beta: 0.75, "
                   "norm_region: WITHIN_CHANNEL}}",
                   4, sh, -1, 1, 103, false, false);
    gradcheck_yaml("{name: n, type: LRN, lrn_param: {local_size: 5, alpha: 4, beta: 0.6, "
                   "norm_region: WITHIN_CHANNEL}}",
                   4, sh, -1, 1, 104, false, false);
}

Test(lrn, bad_parameters)
{
    const int sh[4] = {1, 3, 2, 2}, sh3[3] = {1, 3, 4};
    cf_blob *x = tu_blob("x", 4, sh, -1, 1, 1), *x3 = tu_blob("x3", 3, sh3, -1, 1, 1), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("{name: n, type: LRN, lrn_param: {local_size: 4}}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:46: layer 'n': lrn_param: local_size 4 must be a positive odd number");
    cr_assert_str_eq(tu_layer_error("{name: n, type: LRN, lrn_param: {local_size: -3}}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:46: layer 'n': lrn_param: local_size -3 must be a positive odd number");
    cr_assert_str_eq(tu_layer_error("{name: n, type: LRN, lrn_param: {norm_region: ACROSS}}", CF_TRAIN, &x, 1, &y,
                                    1),
                     "test.yaml:1:47: layer 'n': field 'norm_region': unknown value 'ACROSS' "
                     "(expected one of: ACROSS_CHANNELS, WITHIN_CHANNEL)");
    cr_assert_str_eq(tu_layer_error("{name: n, type: LRN}", CF_TRAIN, &x3, 1, &y, 1),
                     "test.yaml:1:1: layer 'n': LRN needs a 4-axis bottom (num, channels, height, width), got "
                     "1 3 4 (12)");
}

/* ================= Power, AbsVal, BNLL, Exp, Log ================= */

Test(power, forward_by_hand)
{
    const int sh[1] = {3};
    cf_blob *x = blob_of("x", 1, sh, (const float[]){1, 2, -3}), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: p, type: Power, power_param: {power: 2, scale: 0.5, shift: 1}}", CF_TRAIN, &x, 1,
                           &y, 1);
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){2.25, 4, 0.25}, 3, 1e-6); /* (1 + x/2)² */
    cf_layer_free(l);

    l = tu_layer("{name: p, type: Power}", CF_TRAIN, &x, 1, &y, 1); /* defaults: identity */
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){1, 2, -3}, 3, 0);
    cf_layer_free(l);

    /* a negative base with a fractional power is NaN, as in Caffe, not an error */
    l = tu_layer("{name: p, type: Power, power_param: {power: 0.5}}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    near(cf_blob_data(y)[1], sqrt(2), 1e-6, "sqrt 2");
    cr_assert(isnan(cf_blob_data(y)[2]), "sqrt(-3) is NaN");
    cf_layer_free(l);
}

Test(power, constant_when_power_times_scale_is_zero)
{
    const int sh[1] = {3};
    cf_blob *x = blob_of("x", 1, sh, (const float[]){1, 2, -3}), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: p, type: Power, power_param: {power: 3, scale: 0, shift: 2}}", CF_TRAIN, &x, 1,
                           &y, 1);
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){8, 8, 8}, 3, 0);
    memcpy(cf_blob_mdiff(y), (const float[]){1, 1, 1}, sizeof(float[3]));
    memcpy(cf_blob_mdiff(x), (const float[]){9, 9, 9}, sizeof(float[3]));
    l->ops->backward(l, &y, 1, (const bool[]){true}, &x, 1);
    for (int i = 0; i < 3; i++) cr_assert_eq(cf_blob_diff(x)[i], 0.0f);
    cf_layer_free(l);
}

Test(power, gradcheck)
{
    /* shift + scale·x stays in [1.3, 2.7]: a positive base for the fractional power */
    gradcheck_yaml("{name: p, type: Power, power_param: {power: 2.5, scale: 0.7, shift: 2}}", 4, S2345, -1, 1, 111,
                   false, false);
    gradcheck_yaml("{name: p, type: Power, power_param: {power: 2, scale: -1.5, shift: 0.3}}", 4, S2345, -1, 1, 112,
                   false, false);
    gradcheck_yaml("{name: p, type: Power, power_param: {power: -1.5, scale: 1, shift: 3}}", 4, S2345, -1, 1, 113,
                   false, false);
    gradcheck_yaml("{name: p, type: Power, power_param: {power: 1, scale: 3, shift: 1}}", 4, S2345, -1, 1, 114,
                   false, false);
}

Test(power, gradcheck_in_place)
{
    gradcheck_yaml("{name: p, type: Power, power_param: {power: 2.5, scale: 0.7, shift: 2}}", 4, S2345, -1, 1, 115,
                   true, false);
    gradcheck_yaml("{name: p, type: Power, power_param: {power: 3, scale: 2}}", 4, S2345, -1, 1, 116, true, false);
}

Test(absval, forward_backward_by_hand)
{
    const int sh[1] = {4};
    cf_blob *x = blob_of("x", 1, sh, (const float[]){-2, 3, 0, -0.5f}), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: a, type: AbsVal}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){2, 3, 0, 0.5}, 4, 0);
    memcpy(cf_blob_mdiff(y), (const float[]){10, 20, 30, 40}, sizeof(float[4]));
    l->ops->backward(l, &y, 1, (const bool[]){true}, &x, 1);
    const float *d = cf_blob_diff(x);
    cr_assert_eq(d[0], -10.0f);
    cr_assert_eq(d[1], 20.0f);
    cr_assert_eq(d[2], 0.0f);
    cr_assert_eq(d[3], -40.0f);
    cf_layer_free(l);
}

Test(absval, gradcheck_and_no_in_place)
{
    gradcheck_yaml("{name: a, type: AbsVal}", 4, S2345, -1, 1, 121, false, true);
    cf_blob *x = tu_blob("x", 4, S2345, -1, 1, 1);
    cr_assert_str_eq(tu_layer_error("{name: a, type: AbsVal}", CF_TRAIN, &x, 1, &x, 1),
                     "test.yaml:1:1: layer 'a': AbsVal cannot work in place (top 'x' is also a bottom)");
}

Test(bnll, forward_is_stable_softplus)
{
    const int sh[1] = {5};
    cf_blob *x = blob_of("x", 1, sh, (const float[]){0, 1, -2, 100, -100}), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: b, type: BNLL}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    const float *o = cf_blob_data(y);
    near(o[0], log(2), 1e-6, "x = 0");
    near(o[1], log(1 + exp(1)), 1e-6, "x = 1");
    near(o[2], log(1 + exp(-2)), 1e-6, "x = -2");
    near(o[3], 100, 1e-7, "x = 100 (no overflow)");
    cr_assert(o[4] >= 0 && o[4] < 1e-40, "x = -100: %g", o[4]);
    cf_layer_free(l);
}

Test(bnll, gradcheck)
{
    gradcheck_yaml("{name: b, type: BNLL}", 4, S2345, -3, 3, 131, false, false);
}

Test(exp, forward_by_hand)
{
    const int sh[1] = {3};
    cf_blob *x = blob_of("x", 1, sh, (const float[]){1, 0, -0.5f}), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: e, type: Exp}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){exp(1), 1, exp(-0.5)}, 3, 1e-6);
    cf_layer_free(l);
    l = tu_layer("{name: e, type: Exp, exp_param: {base: 2, scale: 3, shift: -1}}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){4, 0.5, pow(2, -2.5)}, 3, 1e-6); /* 2^(3x − 1) */
    cf_layer_free(l);
}

Test(exp, gradcheck)
{
    gradcheck_yaml("{name: e, type: Exp}", 4, S2345, -1, 1, 141, false, false);
    gradcheck_yaml("{name: e, type: Exp, exp_param: {base: 3, scale: -0.8, shift: 0.5}}", 4, S2345, -1, 1, 142,
                   false, false);
    gradcheck_yaml("{name: e, type: Exp, exp_param: {base: 0.5, scale: 1.5}}", 4, S2345, -1, 1, 143, true, false);
}

Test(exp, bad_base)
{
    cf_blob *x = tu_blob("x", 4, S2345, -1, 1, 1), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("{name: e, type: Exp, exp_param: {base: -2}}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:40: layer 'e': exp_param: base -2 must be > 0 (or -1 for e)");
    cr_assert_str_eq(tu_layer_error("{name: e, type: Exp, exp_param: {base: 0}}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:40: layer 'e': exp_param: base 0 must be > 0 (or -1 for e)");
}

Test(log, forward_by_hand)
{
    const int sh[1] = {3};
    cf_blob *x = blob_of("x", 1, sh, (const float[]){(float)M_E, 1, 49.5f}), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: g, type: Log}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){1, 0, log(49.5)}, 3, 1e-6);
    cf_layer_free(l);
    l = tu_layer("{name: g, type: Log, log_param: {base: 10, scale: 2, shift: 1}}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){log10(1 + 2 * M_E), log10(3), 2}, 3, 1e-6); /* log10(1 + 2x) */
    cf_layer_free(l);
}

Test(log, gradcheck)
{
    gradcheck_yaml("{name: g, type: Log}", 4, S2345, 0.5, 2, 151, false, false);
    gradcheck_yaml("{name: g, type: Log, log_param: {base: 3, scale: 1.5, shift: 0.2}}", 4, S2345, 0.5, 2, 152,
                   false, false);
    gradcheck_yaml("{name: g, type: Log, log_param: {base: 0.5, scale: -2, shift: 5}}", 4, S2345, -1, 1, 153, false,
                   false);
}

Test(log, bad_base)
{
    cf_blob *x = tu_blob("x", 4, S2345, 1, 2, 1), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("{name: g, type: Log, log_param: {base: 1}}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:40: layer 'g': log_param: base 1 must be > 0 and not 1 (or -1 for e)");
    cr_assert_str_eq(tu_layer_error("{name: g, type: Log, log_param: {base: -3}}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:40: layer 'g': log_param: base -3 must be > 0 and not 1 (or -1 for e)");
}

/* ================= PReLU ================= */

Test(prelu, forward_backward_by_hand)
{
    const int sh[3] = {1, 2, 3};
    cf_blob *x = blob_of("x", 3, sh, (const float[]){-1, 2, -3, 4, -5, 6}), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: p, type: PReLU}", CF_TRAIN, &x, 1, &y, 1);
    cr_assert_eq(l->nparam, 1);
    expect_shape(l->param[0], "2 (2)");
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){-0.25, 2, -0.75, 4, -1.25, 6}, 6, 1e-7); /* default slope 0.25 */

    set_values(l->param[0], (const float[]){0.1f, 0.5f}, 2);
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){-0.1, 2, -0.3, 4, -2.5, 6}, 6, 1e-7);

    memcpy(cf_blob_mdiff(y), (const float[]){1, 1, 2, 1, 3, 1}, sizeof(float[6]));
    l->ops->backward(l, &y, 1, (const bool[]){true}, &x, 1);
    expect_values(y, (const double[]){-0.1, 2, -0.3, 4, -2.5, 6}, 6, 1e-7);
    const float *dx = cf_blob_diff(x), *da = cf_blob_diff(l->param[0]);
    near(dx[0], 0.1, 1e-7, "dx0");
    near(dx[1], 1, 1e-7, "dx1");
    near(dx[2], 0.2, 1e-7, "dx2");
    near(dx[4], 1.5, 1e-7, "dx4");
    near(da[0], -1 * 1 + -3 * 2, 1e-6, "da0");  /* Σ dy·x over x <= 0 */
    near(da[1], -5 * 3, 1e-6, "da1");
    l->ops->backward(l, &y, 1, (const bool[]){false}, &x, 1);
    near(da[0], -14, 1e-6, "da0 accumulates");
    near(da[1], -30, 1e-6, "da1 accumulates");
    cf_layer_free(l);
}

Test(prelu, channel_shared_and_filler)
{
    const int sh[3] = {1, 2, 3};
    cf_blob *x = blob_of("x", 3, sh, (const float[]){-1, 2, -3, 4, -5, 6}), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: p, type: PReLU, prelu_param: {channel_shared: true, "
                           "filler: {type: constant, value: 0.5}}}",
                           CF_TRAIN, &x, 1, &y, 1);
    cr_assert_eq(l->param[0]->naxes, 0, "a shared slope is a scalar blob, as Caffe's");
    cr_assert_eq(l->param[0]->count, 1);
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){-0.5, 2, -1.5, 4, -2.5, 6}, 6, 1e-7);
    memcpy(cf_blob_mdiff(y), (const float[]){1, 1, 1, 1, 1, 1}, sizeof(float[6]));
    l->ops->backward(l, &y, 1, (const bool[]){true}, &x, 1);
    near(cf_blob_diff(l->param[0])[0], -9, 1e-6, "da = Σ over all negatives");
    cf_layer_free(l);
}

Test(prelu, gradcheck)
{
    const int sh[4] = {2, 3, 2, 3};
    const char *per_channel = "{name: p, type: PReLU, prelu_param: {filler: {type: uniform, min: 0.1, max: 0.6}}}";
    const char *shared = "{name: p, type: PReLU, prelu_param: {channel_shared: true}}";
    gradcheck_yaml(per_channel, 4, sh, -1, 1, 161, false, true);
    gradcheck_yaml(shared, 4, sh, -1, 1, 162, false, true);
    gradcheck_yaml(per_channel, 4, sh, -1, 1, 163, true, true);
    gradcheck_yaml(shared, 4, sh, -1, 1, 164, true, true);
    const int sh2[2] = {4, 3}; /* no spatial axes */
    gradcheck_yaml(per_channel, 2, sh2, -1, 1, 165, false, true);
}

Test(prelu, bad_bottom)
{
    const int sh[1] = {5}, sh4[4] = {2, 3, 2, 2}, sh4b[4] = {2, 4, 2, 2};
    cf_blob *x = tu_blob("x", 1, sh, -1, 1, 1), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("{name: p, type: PReLU}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:1: layer 'p': PReLU needs a bottom with at least 2 axes (N, C, ...), got 5 (5)");
    cf_blob *a = tu_blob("a", 4, sh4, -1, 1, 1), *b = tu_blob("b", 4, sh4b, -1, 1, 1);
    cf_layer *l = tu_layer("{name: p, type: PReLU}", CF_TRAIN, &a, 1, &y, 1);
    cr_assert_str_eq(reshape_error(l, &b, 1, &y, 1),
                     "test.yaml:1:1: layer 'p': bottom 2 4 2 2 (32) does not have the 3 channels the slopes were "
                     "made for");
    cf_layer_free(l);
}

/* ================= ELU, Threshold ================= */

Test(elu, forward_by_hand)
{
    const int sh[1] = {3};
    cf_blob *x = blob_of("x", 1, sh, (const float[]){-1, 0.5f, -2}), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: e, type: ELU, elu_param: {alpha: 0.5}}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){0.5 * (exp(-1) - 1), 0.5, 0.5 * (exp(-2) - 1)}, 3, 1e-6);
    memcpy(cf_blob_mdiff(y), (const float[]){2, 2, 2}, sizeof(float[3]));
    l->ops->backward(l, &y, 1, (const bool[]){true}, &x, 1);
    near(cf_blob_diff(x)[0], 2 * 0.5 * exp(-1), 1e-6, "dx0 = dy · α·e^x");
    near(cf_blob_diff(x)[1], 2, 1e-6, "dx1");
    cf_layer_free(l);
    l = tu_layer("{name: e, type: ELU}", CF_TRAIN, &x, 1, &y, 1); /* alpha 1 */
    forward(l, &x, 1, &y, 1);
    near(cf_blob_data(y)[0], exp(-1) - 1, 1e-6, "alpha 1");
    cf_layer_free(l);
}

Test(elu, gradcheck)
{
    gradcheck_yaml("{name: e, type: ELU}", 4, S2345, -2, 2, 171, false, true);
    gradcheck_yaml("{name: e, type: ELU, elu_param: {alpha: 0.3}}", 4, S2345, -2, 2, 172, true, true);
    /* negative alpha: y > 0 for x < 0, so in place needs the kept copy of x */
    gradcheck_yaml("{name: e, type: ELU, elu_param: {alpha: -0.7}}", 4, S2345, -2, 2, 173, true, true);
    gradcheck_yaml("{name: e, type: ELU, elu_param: {alpha: -0.7}}", 4, S2345, -2, 2, 174, false, true);
}

Test(threshold, forward_and_no_backward)
{
    const int sh[1] = {4};
    cf_blob *x = blob_of("x", 1, sh, (const float[]){0.5f, 0.2f, -1, 0.3f}), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: t, type: Threshold, threshold_param: {threshold: 0.3}}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){1, 0, 0, 0}, 4, 0); /* strictly greater */
    cr_assert_null(l->ops->backward);
    cf_layer_free(l);
    l = tu_layer("{name: t, type: Threshold}", CF_TRAIN, &x, 1, &x, 1); /* 0 by default, in place */
    forward(l, &x, 1, &x, 1);
    expect_values(x, (const double[]){1, 1, 0, 1}, 4, 0);
    cf_layer_free(l);
}

/* ================= Bias ================= */

Test(bias, learnt_bias_by_hand)
{
    const int sh[3] = {2, 3, 2};
    cf_blob *x = tu_blob("x", 3, sh, -1, 1, 181), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: b, type: Bias}", CF_TRAIN, &x, 1, &y, 1);
    expect_shape(l->param[0], "3 (3)");
    for (int i = 0; i < 3; i++) cr_assert_eq(cf_blob_data(l->param[0])[i], 0.0f, "filler: constant 0");
    set_values(l->param[0], (const float[]){1, 2, 3}, 3);
    forward(l, &x, 1, &y, 1);
    const float *a = cf_blob_data(x), *o = cf_blob_data(y);
    for (int i = 0; i < 12; i++) near(o[i], a[i] + 1 + (i / 2) % 3, 1e-6, "x + b[c]");
    float dy[12];
    for (int i = 0; i < 12; i++) dy[i] = (float)i;
    memcpy(cf_blob_mdiff(y), dy, sizeof dy);
    l->ops->backward(l, &y, 1, (const bool[]){true}, &x, 1);
    /* channel c collects elements 2c, 2c+1 (item 0) and 6+2c, 7+2c (item 1) */
    expect_values(l->param[0], (const double[]){1, 2, 3}, 3, 0);
    const float *db = cf_blob_diff(l->param[0]);
    near(db[0], 0 + 1 + 6 + 7, 1e-6, "db0");
    near(db[1], 2 + 3 + 8 + 9, 1e-6, "db1");
    near(db[2], 4 + 5 + 10 + 11, 1e-6, "db2");
    for (int i = 0; i < 12; i++) cr_assert_eq(cf_blob_diff(x)[i], dy[i]);
    cf_layer_free(l);
}

Test(bias, param_shapes_follow_axis_and_num_axes)
{
    cf_blob *x = tu_blob("x", 4, S2345, -1, 1, 1), *y = cf_blob_new("y");
    static const char *const cases[][2] = {
        {"{name: b, type: Bias, bias_param: {axis: 1, num_axes: 2}}", "3 4 (12)"},
        {"{name: b, type: Bias, bias_param: {axis: -1}}", "5 (5)"},
        {"{name: b, type: Bias, bias_param: {axis: 2, num_axes: -1}}", "4 5 (20)"},
        {"{name: b, type: Bias, bias_param: {num_axes: 0}}", "(1)"},
        {"{name: b, type: Bias, bias_param: {axis: 0, num_axes: -1}}", "2 3 4 5 (120)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cf_layer *l = tu_layer(cases[i][0], CF_TRAIN, &x, 1, &y, 1);
        char buf[128];
        cr_assert_str_eq(cf_blob_shape_str(l->param[0], buf, sizeof buf), cases[i][1], "%s", cases[i][0]);
        cf_layer_free(l);
    }
}

Test(bias, gradcheck_learnt)
{
    const char *yamls[] = {
        "{name: b, type: Bias, bias_param: {filler: {type: uniform, min: -1, max: 1}}}",
        "{name: b, type: Bias, bias_param: {axis: 1, num_axes: 2, filler: {type: gaussian}}}",
        "{name: b, type: Bias, bias_param: {axis: -1}}",
        "{name: b, type: Bias, bias_param: {num_axes: 0}}",
        "{name: b, type: Bias, bias_param: {axis: 0, num_axes: -1}}",
    };
    for (size_t i = 0; i < sizeof yamls / sizeof *yamls; i++)
        gradcheck_yaml(yamls[i], 4, S2345, -1, 1, 190 + i, i % 2 == 1, false);
}

Test(bias, second_bottom_by_hand_and_gradcheck)
{
    const int sh[3] = {2, 2, 3}, bsh[1] = {3};
    cf_blob *x = tu_blob("x", 3, sh, -1, 1, 201), *b = blob_of("b", 1, bsh, (const float[]){10, 20, 30});
    cf_blob *y = cf_blob_new("y"), *bot[2] = {x, b};
    cf_layer *l = tu_layer("{name: b, type: Bias, bias_param: {axis: 2}}", CF_TRAIN, bot, 2, &y, 1);
    cr_assert_eq(l->nparam, 0, "the bias comes from the second bottom");
    forward(l, bot, 2, &y, 1);
    for (int i = 0; i < 12; i++) near(cf_blob_data(y)[i], cf_blob_data(x)[i] + 10 * (1 + i % 3), 1e-6, "x + b[w]");
    tu_gradcheck(l, bot, 2, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);

    /* a bias bottom covering two axes, with the layer in place */
    const int b2[2] = {3, 4};
    cf_blob *x2 = tu_blob("x2", 4, S2345, -1, 1, 202), *bb = tu_blob("bb", 2, b2, -1, 1, 203);
    cf_blob *bot2[2] = {x2, bb};
    l = tu_layer("{name: b, type: Bias}", CF_TRAIN, bot2, 2, &x2, 1);
    tu_gradcheck(l, bot2, 2, &x2, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);

    /* a scalar bias bottom (no axes) is added everywhere */
    cf_blob *s = blob_of("s", 0, NULL, (const float[]){0.5f}), *bot3[2] = {x, s};
    l = tu_layer("{name: b, type: Bias, bias_param: {axis: 3}}", CF_TRAIN, bot3, 2, &y, 1);
    forward(l, bot3, 2, &y, 1);
    for (int i = 0; i < 12; i++) near(cf_blob_data(y)[i], cf_blob_data(x)[i] + 0.5, 1e-6, "x + s");
    tu_gradcheck(l, bot3, 2, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

Test(bias, bad_parameters)
{
    cf_blob *x = tu_blob("x", 4, S2345, -1, 1, 1), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("{name: b, type: Bias, bias_param: {axis: 4}}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:42: layer 'b': bias_param: axis 4 is out of range for a bottom with 4 axes");
    cr_assert_str_eq(tu_layer_error("{name: b, type: Bias, bias_param: {axis: 2, num_axes: 3}}", CF_TRAIN, &x, 1, &y,
                                    1),
                     "test.yaml:1:55: layer 'b': bias_param: num_axes 3 from axis 2 runs past the bottom's 4 axes");
    cr_assert_str_eq(tu_layer_error("{name: b, type: Bias, bias_param: {num_axes: -2}}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:46: layer 'b': bias_param: num_axes -2 must be >= 0, or -1 for all axes from axis "
                     "on");
    const int bsh[2] = {3, 5};
    cf_blob *b = tu_blob("b", 2, bsh, -1, 1, 1), *bot[2] = {x, b};
    cr_assert_str_eq(tu_layer_error("{name: b, type: Bias}", CF_TRAIN, bot, 2, &y, 1),
                     "test.yaml:1:1: layer 'b': the bias 3 5 (15) does not match bottom 2 3 4 5 (120) from axis 1");
    cr_assert_str_eq(tu_layer_error("{name: b, type: Bias, bias_param: {axis: -5}}", CF_TRAIN, bot, 2, &y, 1),
                     "test.yaml:1:42: layer 'b': bias_param: axis -5 is out of range for a bottom with 4 axes");
}

/* ================= Scale ================= */

Test(scale, learnt_scale_and_bias_by_hand)
{
    const int sh[3] = {2, 3, 2};
    cf_blob *x = tu_blob("x", 3, sh, -1, 1, 211), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: s, type: Scale}", CF_TRAIN, &x, 1, &y, 1);
    cr_assert_eq(l->nparam, 1);
    forward(l, &x, 1, &y, 1);
    for (int i = 0; i < 12; i++) cr_assert_eq(cf_blob_data(y)[i], cf_blob_data(x)[i], "filler: constant 1");
    cf_layer_free(l);

    l = tu_layer("{name: s, type: Scale, scale_param: {bias_term: true}}", CF_TRAIN, &x, 1, &y, 1);
    cr_assert_eq(l->nparam, 2);
    expect_shape(l->param[1], "3 (3)");
    set_values(l->param[0], (const float[]){2, -1, 0.5f}, 3);
    set_values(l->param[1], (const float[]){1, 0, -1}, 3);
    forward(l, &x, 1, &y, 1);
    const float *a = cf_blob_data(x), *o = cf_blob_data(y);
    const double s[3] = {2, -1, 0.5}, b[3] = {1, 0, -1};
    for (int i = 0; i < 12; i++) near(o[i], a[i] * s[(i / 2) % 3] + b[(i / 2) % 3], 1e-6, "x·s + b");
    float dy[12];
    for (int i = 0; i < 12; i++) dy[i] = 1;
    memcpy(cf_blob_mdiff(y), dy, sizeof dy);
    l->ops->backward(l, &y, 1, (const bool[]){true}, &x, 1);
    near(cf_blob_diff(l->param[0])[1], a[2] + a[3] + a[8] + a[9], 1e-6, "ds1 = Σ x");
    near(cf_blob_diff(l->param[1])[1], 4, 1e-6, "db1 = Σ dy");
    near(cf_blob_diff(x)[2], -1, 1e-6, "dx = dy · s");
    cf_layer_free(l);
}

Test(scale, gradcheck_learnt)
{
    const char *yamls[] = {
        "{name: s, type: Scale, scale_param: {filler: {type: uniform, min: -2, max: 2}}}",
        "{name: s, type: Scale, scale_param: {filler: {type: uniform, min: -2, max: 2}, bias_term: true, "
        "bias_filler: {type: gaussian}}}",
        "{name: s, type: Scale, scale_param: {axis: 1, num_axes: 2, bias_term: true, "
        "filler: {type: gaussian}}}",
        "{name: s, type: Scale, scale_param: {axis: 0, num_axes: -1, filler: {type: gaussian}}}",
        "{name: s, type: Scale, scale_param: {num_axes: 0, bias_term: true, filler: {type: constant, value: 1.5}}}",
        "{name: s, type: Scale, scale_param: {axis: -2, num_axes: 2, bias_term: true, filler: {type: gaussian}}}",
    };
    for (size_t i = 0; i < sizeof yamls / sizeof *yamls; i++) {
        gradcheck_yaml(yamls[i], 4, S2345, -1, 1, 220 + i, false, false);
        gradcheck_yaml(yamls[i], 4, S2345, -1, 1, 230 + i, true, false);
    }
}

Test(scale, second_bottom_gradcheck)
{
    const int ssh[2] = {3, 4};
    cf_blob *x = tu_blob("x", 4, S2345, -1, 1, 241), *s = tu_blob("s", 2, ssh, -2, 2, 242), *y = cf_blob_new("y");
    cf_blob *bot[2] = {x, s};
    cf_layer *l = tu_layer("{name: s, type: Scale}", CF_TRAIN, bot, 2, &y, 1);
    cr_assert_eq(l->nparam, 0);
    forward(l, bot, 2, &y, 1);
    near(cf_blob_data(y)[27], cf_blob_data(x)[27] * cf_blob_data(s)[5], 1e-6, "x[0,1,1,2] · s[1,1]");
    tu_gradcheck(l, bot, 2, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);

    l = tu_layer("{name: s, type: Scale, scale_param: {bias_term: true, bias_filler: {type: gaussian}}}", CF_TRAIN,
                 bot, 2, &y, 1);
    cr_assert_eq(l->nparam, 1, "only the bias is learnt");
    expect_shape(l->param[0], "3 4 (12)");
    tu_gradcheck(l, bot, 2, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);

    /* in place on the first bottom: the scale's gradient reads the kept x */
    l = tu_layer("{name: s, type: Scale, scale_param: {bias_term: true}}", CF_TRAIN, bot, 2, &x, 1);
    tu_gradcheck(l, bot, 2, &x, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

Test(scale, bad_parameters)
{
    cf_blob *x = tu_blob("x", 4, S2345, -1, 1, 1), *y = cf_blob_new("y");
    cr_assert_str_eq(tu_layer_error("{name: s, type: Scale, scale_param: {axis: -5}}", CF_TRAIN, &x, 1, &y, 1),
                     "test.yaml:1:44: layer 's': scale_param: axis -5 is out of range for a bottom with 4 axes");
    cr_assert_str_eq(tu_layer_error("{name: s, type: Scale, scale_param: {axis: 3, num_axes: 2}}", CF_TRAIN, &x, 1,
                                    &y, 1),
                     "test.yaml:1:57: layer 's': scale_param: num_axes 2 from axis 3 runs past the bottom's 4 axes");
    const int ssh[1] = {4};
    cf_blob *s = tu_blob("s", 1, ssh, -1, 1, 1), *bot[2] = {x, s};
    cr_assert_str_eq(tu_layer_error("{name: s, type: Scale}", CF_TRAIN, bot, 2, &y, 1),
                     "test.yaml:1:1: layer 's': the scale 4 (4) does not match bottom 2 3 4 5 (120) from axis 1");
    cr_assert_str_eq(tu_layer_error("{name: s, type: Scale}", CF_TRAIN, bot, 2, &s, 1),
                     "test.yaml:1:1: layer 's': the top cannot be the scale bottom");
}

/* ================= BatchNorm ================= */

/* x is 2 × 2 × 1 × 2: channel 0 holds {1, 3, 5, 7}, channel 1 {-1, 0, 1, 2}. */
static const float BN_X[8] = {1, 3, -1, 0, 5, 7, 1, 2};
static const int BN_SH[4] = {2, 2, 1, 2};

static void bn_expect(const cf_blob *y, const float *x, const double mean[2], const double var[2], double eps)
{
    const float *o = cf_blob_data(y);
    for (int i = 0; i < 8; i++) {
        int c = (i / 2) % 2;
        char what[32];
        snprintf(what, sizeof what, "y[%d]", i);
        near(o[i], (x[i] - mean[c]) / sqrt(var[c] + eps), 1e-5, what);
    }
}

Test(batch_norm, train_forward_by_hand)
{
    cf_blob *x = blob_of("x", 4, BN_SH, BN_X), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: bn, type: BatchNorm}", CF_TRAIN, &x, 1, &y, 1);
    cr_assert_eq(l->nparam, 3);
    expect_shape(l->param[0], "2 (2)");
    expect_shape(l->param[1], "2 (2)");
    expect_shape(l->param[2], "1 (1)");
    for (int i = 0; i < 3; i++) {
        cr_assert(!l->param_grad[i], "statistics are not learnt");
        cr_assert(l->param_fixed[i]);
    }
    forward(l, &x, 1, &y, 1);
    /* channel 0: mean 4, biased variance (9+1+1+9)/4 = 5; channel 1: mean 0.5, variance 1.25 */
    bn_expect(y, BN_X, (const double[]){4, 0.5}, (const double[]){5, 1.25}, 1e-5);
    cf_layer_free(l);
}

Test(batch_norm, running_statistics_after_two_passes_then_test_phase)
{
    cf_blob *x = blob_of("x", 4, BN_SH, BN_X), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: bn, type: BatchNorm, batch_norm_param: {moving_average_fraction: 0.9}}",
                           CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    float x2[8];
    for (int i = 0; i < 8; i++) x2[i] = 2 * BN_X[i] + 1; /* mean 2μ + 1, variance 4σ² */
    set_values(x, x2, 8);
    forward(l, &x, 1, &y, 1);
    bn_expect(y, x2, (const double[]){9, 2}, (const double[]){20, 5}, 1e-5);

    /* m = 4 values per channel: the variance goes in unbiased, × 4/3 */
    const double t = 0.9 * 1 + 1;
    const double m0 = 9 + 0.9 * 4, m1 = 2 + 0.9 * 0.5;
    const double v0 = 4.0 / 3 * 20 + 0.9 * 4.0 / 3 * 5, v1 = 4.0 / 3 * 5 + 0.9 * 4.0 / 3 * 1.25;
    expect_values(l->param[0], (const double[]){m0, m1}, 2, 1e-6);
    expect_values(l->param[1], (const double[]){v0, v1}, 2, 1e-6);
    expect_values(l->param[2], (const double[]){t}, 1, 1e-7);

    /* a TEST-phase layer sharing these statistics uses mean = [0]/t, variance = [1]/t */
    cf_blob *y2 = cf_blob_new("y2");
    cf_layer *lt = tu_layer("{name: bn, type: BatchNorm}", CF_TEST, &x, 1, &y2, 1);
    for (int i = 0; i < 3; i++) cf_blob_share_data(lt->param[i], l->param[i]);
    const float x3[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    set_values(x, x3, 8);
    forward(lt, &x, 1, &y2, 1);
    bn_expect(y2, x3, (const double[]){m0 / t, m1 / t}, (const double[]){v0 / t, v1 / t}, 1e-5);
    expect_values(l->param[2], (const double[]){t}, 1, 1e-7); /* TEST leaves the statistics alone */

    /* with no statistics yet (t = 0), global stats mean 0 and variance 0 */
    cf_layer *fresh = tu_layer("{name: bn, type: BatchNorm, batch_norm_param: {eps: 0.25}}", CF_TEST, &x, 1, &y2, 1);
    forward(fresh, &x, 1, &y2, 1);
    bn_expect(y2, x3, (const double[]){0, 0}, (const double[]){0, 0}, 0.25);
    cf_layer_free(fresh);
    cf_layer_free(lt);
    cf_layer_free(l);
}

Test(batch_norm, use_global_stats_in_train_and_batch_stats_in_test)
{
    cf_blob *x = blob_of("x", 4, BN_SH, BN_X), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: bn, type: BatchNorm, batch_norm_param: {use_global_stats: true}}", CF_TRAIN, &x,
                           1, &y, 1);
    set_values(l->param[0], (const float[]){2, 4}, 2);
    set_values(l->param[1], (const float[]){8, 2}, 2);
    set_values(l->param[2], (const float[]){2}, 1);
    forward(l, &x, 1, &y, 1);
    bn_expect(y, BN_X, (const double[]){1, 2}, (const double[]){4, 1}, 1e-5);
    expect_values(l->param[2], (const double[]){2}, 1, 0); /* not updated */
    cf_layer_free(l);

    l = tu_layer("{name: bn, type: BatchNorm, batch_norm_param: {use_global_stats: false}}", CF_TEST, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    bn_expect(y, BN_X, (const double[]){4, 0.5}, (const double[]){5, 1.25}, 1e-5);
    cf_layer_free(l);
}

Test(batch_norm, gradcheck_train)
{
    const int sh[4] = {3, 4, 2, 3};
    gradcheck_yaml("{name: bn, type: BatchNorm}", 4, sh, -1, 1, 251, false, false);
    gradcheck_yaml("{name: bn, type: BatchNorm, batch_norm_param: {eps: 0.1}}", 4, sh, -1, 1, 252, true, false);
    const int sh2[2] = {5, 3}; /* no spatial axes */
    gradcheck_yaml("{name: bn, type: BatchNorm}", 2, sh2, -1, 1, 253, false, false);
}

Test(batch_norm, gradcheck_global_stats)
{
    const int sh[4] = {3, 4, 2, 3};
    cf_blob *x = tu_blob("x", 4, sh, -1, 1, 254), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: bn, type: BatchNorm, batch_norm_param: {use_global_stats: true}}", CF_TRAIN, &x,
                           1, &y, 1);
    set_values(l->param[0], (const float[]){0.1f, 0.2f, -0.3f, 0}, 4);
    set_values(l->param[1], (const float[]){0.5f, 1, 2, 0.25f}, 4);
    set_values(l->param[2], (const float[]){1}, 1);
    tu_gradcheck(l, &x, 1, &y, 1, NULL, GC_STEP, GC_TOL);
    cf_layer_free(l);
}

static cf_net *bn_net(const char *params, cf_error *err)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "input: [x]\n"
             "input_shape: {dim: [2, 3, 2, 2]}\n"
             "layer:\n"
             "  - {name: bn, type: BatchNorm, bottom: x, top: x%s}\n"
             "  - {name: sc, type: Scale, bottom: x, top: x, scale_param: {bias_term: true}}\n",
             params);
    cf_net_opts o = {.phase = CF_TRAIN, .be = tu_backend(), .rng = tu_rng()};
    return cf_net_build(tu_yaml(yaml), &o, err);
}

Test(batch_norm, net_never_learns_the_statistics)
{
    cf_error err;
    char buf[2048];
    static const char *const ok[] = {"", ", param: [{lr_mult: 0}, {lr_mult: 0}, {lr_mult: 0}]",
                                     ", param: [{lr_mult: 0, decay_mult: 0}]"};
    for (size_t k = 0; k < sizeof ok / sizeof *ok; k++) {
        cf_net *n = bn_net(ok[k], &err);
        cr_assert_not_null(n, "%s", cf_error_str(&err, buf, sizeof buf));
        cr_assert_eq(n->nparams, 5, "3 statistics + scale + bias");
        for (int i = 0; i < 3; i++) {
            cr_assert_eq(n->params[i].lr_mult, 0.0f, "BatchNorm param %d with '%s'", i, ok[k]);
            cr_assert(!n->layers[0].layer->param_grad[i]);
        }
        cr_assert_eq(n->params[3].lr_mult, 1.0f, "the Scale after it learns");
        cf_net_free(n);
    }
    cr_assert_null(bn_net(", param: [{lr_mult: 0}, {lr_mult: 1}]", &err));
    cr_assert_str_eq(cf_error_str(&err, buf, sizeof buf),
                     "test.yaml:4:84: layer 'bn': param 1 of BatchNorm holds statistics, not weights: its lr_mult "
                     "must be 0");
    cr_assert_null(bn_net(", param: [{lr_mult: 0}, {lr_mult: 0}, {lr_mult: 0}, {lr_mult: 0}]", &err));
    cr_assert_str_eq(cf_error_str(&err, buf, sizeof buf),
                     "test.yaml:4:102: layer 'bn': 4 param specs given but BatchNorm has 3 parameter blobs");
}

Test(batch_norm, bad_bottom)
{
    const int sh[4] = {2, 3, 2, 2}, sh2[4] = {2, 4, 2, 2};
    cf_blob *x = tu_blob("x", 4, sh, -1, 1, 1), *x2 = tu_blob("x2", 4, sh2, -1, 1, 1), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: bn, type: BatchNorm}", CF_TRAIN, &x, 1, &y, 1);
    cr_assert_str_eq(reshape_error(l, &x2, 1, &y, 1),
                     "test.yaml:1:1: layer 'bn': bottom 2 4 2 2 (32) does not have the 3 channels the statistics "
                     "are for");
    cf_layer_free(l);
    cf_blob *s = blob_of("s", 0, NULL, (const float[]){1});
    cr_assert_str_eq(tu_layer_error("{name: bn, type: BatchNorm}", CF_TRAIN, &s, 1, &y, 1),
                     "test.yaml:1:1: layer 'bn': BatchNorm needs a bottom with at least 1 axis, got (1)");
}

/* ================= MVN ================= */

Test(mvn, forward_by_hand)
{
    const int sh[4] = {1, 2, 1, 3};
    const float v[6] = {1, 2, 3, 4, 4, 4};
    cf_blob *x = blob_of("x", 4, sh, v), *y = cf_blob_new("y");
    cf_layer *l = tu_layer("{name: m, type: MVN}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    double sd = sqrt(2.0 / 3) + 1e-9; /* ε goes on σ */
    expect_values(y, (const double[]){-1 / sd, 0, 1 / sd, 0, 0, 0}, 6, 1e-6);
    cf_layer_free(l);

    l = tu_layer("{name: m, type: MVN, mvn_param: {across_channels: true, eps: 0.5}}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    sd = sqrt((4 + 1 + 0 + 1 + 1 + 1) / 6.0) + 0.5; /* mean 3 */
    expect_values(y, (const double[]){-2 / sd, -1 / sd, 0, 1 / sd, 1 / sd, 1 / sd}, 6, 1e-6);
    cf_layer_free(l);

    l = tu_layer("{name: m, type: MVN, mvn_param: {normalize_variance: false}}", CF_TRAIN, &x, 1, &y, 1);
    forward(l, &x, 1, &y, 1);
    expect_values(y, (const double[]){-1, 0, 1, 0, 0, 0}, 6, 1e-6);
    cf_layer_free(l);
}

Test(mvn, gradcheck)
{
    const int sh[4] = {2, 3, 2, 3};
    static const char *const yamls[] = {
        "{name: m, type: MVN}",
        "{name: m, type: MVN, mvn_param: {across_channels: true}}",
        "{name: m, type: MVN, mvn_param: {normalize_variance: false}}",
        "{name: m, type: MVN, mvn_param: {normalize_variance: false, across_channels: true}}",
    };
    for (size_t i = 0; i < sizeof yamls / sizeof *yamls; i++) {
        gradcheck_yaml(yamls[i], 4, sh, -1, 1, 260 + i, false, false);
        gradcheck_yaml(yamls[i], 4, sh, -1, 1, 270 + i, true, false);
    }
}

/* ================= registry ================= */

Test(neuron, every_type_is_registered)
{
    static const char *const types[] = {"LRN", "Power", "AbsVal", "BNLL", "Exp", "Log", "PReLU",
                                        "ELU", "Threshold", "Bias", "Scale", "BatchNorm", "MVN"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        const cf_layer_ops *ops = cf_layer_find(types[i]);
        cr_assert_not_null(ops, "%s", types[i]);
        cr_assert_str_eq(ops->type, types[i]);
    }
}
