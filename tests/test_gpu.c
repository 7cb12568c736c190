/* test_gpu.c — the GPU backend against the CPU (built with --with-cuda
 * only).  Every layer type the GPU runs is made twice from one recipe
 * fragment, on the CPU and on GPU 0, given the same params and bottoms;
 * forward, backward and forward again must agree within 1e-4 of the
 * largest magnitude in each blob (tops, bottom diffs, param diffs), and
 * the GPU layer must say it ran on the GPU (or on the host, for the
 * configurations that fall back).  The backend's math is checked op by
 * op, every solver type's update on the device against the host's (a few
 * iterations, same weights and gradients, weights and history compared),
 * and a short LeNet must learn on the GPU and start from the CPU's
 * loss.  With no usable CUDA device every test is skipped, saying why. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cuda/gpu.h"
#include "idx.h"
#include "solver.h"
#include "testutil.h"

/* GPU 0's backend, made once; skips the test when there is no device. */
static cf_backend *gpu(void)
{
    static cf_backend *be;
    static char why[1100];
    if (!be && !why[0]) {
        cf_error err;
        char buf[2048];
        if (cf_gpu_count(&err) == 0) snprintf(why, sizeof why, "%s", err.msg);
        else if (!(be = cf_backend_gpu_new(0, 2, &err)))
            cr_assert_fail("a device is there but the backend failed: %s", cf_error_str(&err, buf, sizeof buf));
    }
    if (!be) cr_skip_test("%s", why); /* "no CUDA device: ..." */
    return be;
}

/* ---- comparing ---- */

/* got within 1e-4 of want, relative to want's largest magnitude. */
static void assert_close(const char *what, const float *got, const float *want, size_t n)
{
    double scale = 1e-3;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    double tol = 1e-4 * scale;
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= tol))
            cr_assert_fail("%s[%zu]: GPU %.9g, CPU %.9g (tolerance %.3g)", what, i, got[i], want[i], tol);
}

static cf_blob *copy_of(const cf_blob *src)
{
    cf_blob *b = cf_blob_new(src->name);
    cr_assert_eq(cf_blob_reshape_like(b, src, NULL), 0);
    memcpy(cf_blob_mdata(b), cf_blob_data(src), src->count * sizeof(float));
    return b;
}

static cf_layer *make_with(const char *yaml, cf_phase phase, cf_backend *be, cf_rng *rng, cf_blob **bottom, int nb,
                           cf_blob **top, int nt)
{
    cf_error err;
    char buf[2048];
    cf_layer *l = cf_layer_create(tu_yaml(yaml), phase, be, rng, &err);
    if (!l || cf_layer_setup(l, bottom, nb, top, nt, &err))
        cr_assert_fail("layer setup failed: %s", cf_error_str(&err, buf, sizeof buf));
    return l;
}

static cf_layer *make(const char *yaml, cf_backend *be, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    return make_with(yaml, CF_TRAIN, be, tu_rng(), bottom, nb, top, nt);
}

enum { ON_GPU, ON_HOST, NOT_WRAPPED };

typedef struct {
    const char *yaml;
    int nb, nt;
    cf_blob *in[4];     /* the CPU's bottoms; the GPU gets copies */
    bool prop[4];
    bool inplace;       /* top 0 is bottom 0 */
    float loss_weight;  /* > 0: a loss (top 0's diff is the weight), else random top diffs */
    int where;
    uint64_t seed;      /* != 0: each side draws from a generator of its own seeded so (Dropout) */
    cf_phase phase;     /* CF_TRAIN unless set */
    void (*prep)(cf_layer *l); /* called on the CPU layer before its params are copied */
} layer_case;

/* Same random top diffs on both sides. */
static void top_diffs(cf_blob *a, cf_blob *b, uint64_t seed)
{
    cf_rng r;
    cf_rng_seed(&r, seed);
    float *da = cf_blob_mdiff(a), *db = cf_blob_mdiff(b);
    for (size_t i = 0; i < a->count; i++) da[i] = db[i] = cf_rng_uniform(&r, -1, 1);
}

static void check_layer(layer_case *c)
{
    cf_backend *g = gpu();
    cf_blob *bc[4], *bg[4], *tc[4], *tg[4];
    char what[64];
    for (int i = 0; i < c->nb; i++) bc[i] = c->in[i], bg[i] = copy_of(c->in[i]);
    for (int i = 0; i < c->nt; i++) {
        if (i == 0 && c->inplace) {
            tc[0] = bc[0], tg[0] = bg[0];
            continue;
        }
        tc[i] = cf_blob_new("top");
        tg[i] = cf_blob_new("top");
    }
    cf_rng rc, rg; /* same seed, same draws on both sides */
    cf_rng_seed(&rc, c->seed);
    cf_rng_seed(&rg, c->seed);
    cf_layer *lc = make_with(c->yaml, c->phase, tu_backend(), c->seed ? &rc : tu_rng(), bc, c->nb, tc, c->nt);
    cf_layer *lg = make_with(c->yaml, c->phase, g, c->seed ? &rg : tu_rng(), bg, c->nb, tg, c->nt);
    cr_assert_eq(lg->nparam, lc->nparam);
    if (c->prep) c->prep(lc);
    for (int p = 0; p < lc->nparam; p++)
        memcpy(cf_blob_mdata(lg->param[p]), cf_blob_data(lc->param[p]), lc->param[p]->count * sizeof(float));

    tu_forward(lc, bc, c->nb, tc, c->nt);
    tu_forward(lg, bg, c->nb, tg, c->nt);
    long passes = cf_gpu_layer_passes(lg);
    if (c->where == ON_GPU) cr_assert_eq(passes, 1, "the forward pass should have run on the GPU (passes %ld)", passes);
    if (c->where == ON_HOST) cr_assert_eq(passes, 0, "this configuration should have stayed on the host");
    if (c->where == NOT_WRAPPED) cr_assert_eq(passes, -1, "this layer should not have a GPU side");
    for (int t = 0; t < c->nt; t++) {
        snprintf(what, sizeof what, "top %d", t);
        assert_close(what, cf_blob_data(tg[t]), cf_blob_data(tc[t]), tc[t]->count);
    }

    if (c->loss_weight > 0) {
        cf_blob_mdiff(tc[0])[0] = cf_blob_mdiff(tg[0])[0] = c->loss_weight;
        for (int t = 1; t < c->nt; t++) top_diffs(tc[t], tg[t], 99 + (uint64_t)t);
    } else {
        for (int t = 0; t < c->nt; t++) top_diffs(tc[t], tg[t], 42 + (uint64_t)t);
    }
    lc->ops->backward(lc, tc, c->nt, c->prop, bc, c->nb);
    lg->ops->backward(lg, tg, c->nt, c->prop, bg, c->nb);
    if (c->where == ON_GPU) cr_assert_eq(cf_gpu_layer_passes(lg), 2, "backward should have run on the GPU");
    for (int i = 0; i < c->nb; i++) {
        if (!c->prop[i]) continue;
        snprintf(what, sizeof what, "bottom %d diff", i);
        assert_close(what, cf_blob_diff(bg[i]), cf_blob_diff(bc[i]), bc[i]->count);
    }
    for (int p = 0; p < lc->nparam; p++) {
        snprintf(what, sizeof what, "param %d diff", p);
        assert_close(what, cf_blob_diff(lg->param[p]), cf_blob_diff(lc->param[p]), lc->param[p]->count);
        /* and what forward may change in them (BatchNorm's running sums) */
        snprintf(what, sizeof what, "param %d data", p);
        assert_close(what, cf_blob_data(lg->param[p]), cf_blob_data(lc->param[p]), lc->param[p]->count);
    }
    /* forward again: plans are reused, and a failure recorded during
     * backward (none expected) would surface here */
    if (!c->inplace) {
        tu_forward(lc, bc, c->nb, tc, c->nt);
        tu_forward(lg, bg, c->nb, tg, c->nt);
        assert_close("top 0 (second forward)", cf_blob_data(tg[0]), cf_blob_data(tc[0]), tc[0]->count);
    }
    cf_layer_free(lc);
    cf_layer_free(lg);
    for (int t = 0; t < c->nt; t++)
        if (!(t == 0 && c->inplace)) cf_blob_free(tc[t]), cf_blob_free(tg[t]);
    for (int i = 0; i < c->nb; i++) cf_blob_free(bg[i]);
}

static cf_blob *rnd(int naxes, const int *shape, uint64_t seed) { return tu_blob("x", naxes, shape, -1, 1, seed); }

/* ---- layers ---- */

Test(gpu_layers, convolution_pad_stride_bias)
{
    layer_case c = {.yaml = "{name: c, type: Convolution, convolution_param: {num_output: 4, kernel_size: 3, pad: 1, "
                            "stride: 2, weight_filler: {type: gaussian, std: 0.5}, bias_filler: {type: uniform}}}",
                    .nb = 1, .nt = 1, .in = {rnd(4, (int[]){2, 3, 9, 9}, 1)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, convolution_groups_dilation)
{
    layer_case c = {.yaml = "{name: c, type: Convolution, convolution_param: {num_output: 6, group: 2, kernel_h: 3, "
                            "kernel_w: 2, dilation: 2, pad_h: 2, weight_filler: {type: xavier}, "
                            "bias_filler: {type: uniform}}}",
                    .nb = 1, .nt = 1, .in = {rnd(4, (int[]){3, 4, 10, 11}, 2)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, convolution_two_bottoms_no_bias)
{
    layer_case c = {.yaml = "{name: c, type: Convolution, convolution_param: {num_output: 5, kernel_size: 1, "
                            "bias_term: false, weight_filler: {type: xavier}}}",
                    .nb = 2, .nt = 2, .in = {rnd(4, (int[]){1, 3, 4, 4}, 3), rnd(4, (int[]){1, 3, 4, 4}, 4)},
                    .prop = {true, true}, .where = ON_GPU};
    check_layer(&c);
}

static cf_blob *distinct(int n, int ch, int h, int w, uint64_t seed)
{
    cf_blob *b = tu_blob4("x", n, ch, h, w, seed);
    tu_fill_permutation(b, seed); /* no ties for MAX */
    return b;
}

Test(gpu_layers, pooling_max)
{
    layer_case c = {.yaml = "{name: p, type: Pooling, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}",
                    .nb = 1, .nt = 1, .in = {distinct(2, 3, 8, 8, 5)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, pooling_ave_padded)
{
    layer_case c = {.yaml = "{name: p, type: Pooling, pooling_param: {pool: AVE, kernel_size: 3, stride: 1, pad: 1}}",
                    .nb = 1, .nt = 1, .in = {rnd(4, (int[]){2, 3, 7, 7}, 6)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, pooling_global_ave)
{
    layer_case c = {.yaml = "{name: p, type: Pooling, pooling_param: {pool: AVE, global_pooling: true}}",
                    .nb = 1, .nt = 1, .in = {rnd(4, (int[]){2, 3, 5, 6}, 7)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

/* 3×3/2 on 8×8 rounds up to 4×4 (cuDNN would give 3×3): the host does it. */
Test(gpu_layers, pooling_ceil_falls_back_to_the_host)
{
    layer_case c = {.yaml = "{name: p, type: Pooling, pooling_param: {pool: MAX, kernel_size: 3, stride: 2}}",
                    .nb = 1, .nt = 1, .in = {distinct(2, 2, 8, 8, 8)}, .prop = {true}, .where = ON_HOST};
    check_layer(&c);
}

Test(gpu_layers, pooling_floor_mode)
{
    layer_case c = {.yaml = "{name: p, type: Pooling, pooling_param: {pool: MAX, kernel_size: 3, stride: 2, "
                            "round_mode: FLOOR}}",
                    .nb = 1, .nt = 1, .in = {distinct(2, 2, 8, 8, 9)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, inner_product)
{
    layer_case c = {.yaml = "{name: ip, type: InnerProduct, inner_product_param: {num_output: 7, "
                            "weight_filler: {type: gaussian, std: 0.3}, bias_filler: {type: uniform}}}",
                    .nb = 1, .nt = 1, .in = {rnd(4, (int[]){5, 3, 2, 2}, 10)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, inner_product_transpose_axis2)
{
    layer_case c = {.yaml = "{name: ip, type: InnerProduct, inner_product_param: {num_output: 3, transpose: true, "
                            "axis: 2, weight_filler: {type: xavier}, bias_filler: {type: uniform}}}",
                    .nb = 1, .nt = 1, .in = {rnd(3, (int[]){2, 3, 4}, 11)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, relu_in_place)
{
    layer_case c = {.yaml = "{name: r, type: ReLU}", .nb = 1, .nt = 1, .in = {rnd(3, (int[]){3, 4, 5}, 12)},
                    .prop = {true}, .inplace = true, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, relu_leaky)
{
    layer_case c = {.yaml = "{name: r, type: ReLU, relu_param: {negative_slope: 0.1}}", .nb = 1, .nt = 1,
                    .in = {rnd(3, (int[]){3, 4, 5}, 13)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, sigmoid)
{
    layer_case c = {.yaml = "{name: s, type: Sigmoid}", .nb = 1, .nt = 1, .in = {tu_blob("x", 2, (int[]){6, 7}, -4, 4, 14)},
                    .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, sigmoid_in_place)
{
    layer_case c = {.yaml = "{name: s, type: Sigmoid}", .nb = 1, .nt = 1, .in = {tu_blob("x", 2, (int[]){6, 7}, -4, 4, 15)},
                    .prop = {true}, .inplace = true, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, tanh)
{
    layer_case c = {.yaml = "{name: t, type: TanH}", .nb = 1, .nt = 1, .in = {tu_blob("x", 3, (int[]){2, 5, 3}, -3, 3, 16)},
                    .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, softmax_channels)
{
    layer_case c = {.yaml = "{name: s, type: Softmax}", .nb = 1, .nt = 1,
                    .in = {tu_blob("x", 4, (int[]){3, 5, 2, 2}, -3, 3, 17)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, softmax_last_axis)
{
    layer_case c = {.yaml = "{name: s, type: Softmax, softmax_param: {axis: -1}}", .nb = 1, .nt = 1,
                    .in = {tu_blob("x", 3, (int[]){3, 5, 4}, -3, 3, 18)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, softmax_loss)
{
    layer_case c = {.yaml = "{name: loss, type: SoftmaxWithLoss}", .nb = 2, .nt = 1,
                    .in = {tu_blob("x", 2, (int[]){8, 10}, -4, 4, 19), tu_labels(1, (int[]){8}, 10, 20)},
                    .prop = {true, false}, .loss_weight = 1.5f, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, softmax_loss_spatial_ignore_full_prob_top)
{
    cf_blob *label = tu_labels(3, (int[]){3, 2, 3}, 4, 21);
    float *l = cf_blob_mdata(label);
    l[0] = l[5] = l[11] = 2; /* some positions are ignored */
    layer_case c = {.yaml = "{name: loss, type: SoftmaxWithLoss, loss_param: {ignore_label: 2, normalization: FULL}}",
                    .nb = 2, .nt = 2, .in = {tu_blob("x", 4, (int[]){3, 4, 2, 3}, -2, 2, 22), label},
                    .prop = {true, false}, .loss_weight = 0.5f, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, softmax_loss_class_weights_stay_on_the_host)
{
    layer_case c = {.yaml = "{name: loss, type: SoftmaxWithLoss, loss_param: {class_weight: [1, 2, 0.5]}}",
                    .nb = 2, .nt = 1, .in = {tu_blob("x", 2, (int[]){5, 3}, -2, 2, 23), tu_labels(1, (int[]){5}, 3, 24)},
                    .prop = {true, false}, .loss_weight = 1, .where = NOT_WRAPPED};
    check_layer(&c);
}

/* A label the host refuses: the GPU side declines and the host says why,
 * in the same words as on the CPU. */
Test(gpu_layers, softmax_loss_bad_label_gives_the_host_error)
{
    cf_backend *g = gpu();
    const char *yaml = "{name: loss, type: SoftmaxWithLoss}";
    cf_blob *x = tu_blob("x", 2, (int[]){2, 3}, -1, 1, 25), *lab = tu_blob_of("l", 1, (int[]){2}, (float[]){1, 3});
    cf_blob *b[2] = {x, lab}, *tc = cf_blob_new("t"), *tg = cf_blob_new("t"), *t[1];
    t[0] = tc;
    cf_layer *lc = make(yaml, tu_backend(), b, 2, t, 1);
    char want[2048];
    snprintf(want, sizeof want, "%s", tu_forward_error(lc, b, 2, t, 1));
    t[0] = tg;
    cf_layer *lg = make(yaml, g, b, 2, t, 1);
    cr_assert_str_eq(tu_forward_error(lg, b, 2, t, 1), want);
    cr_assert(strstr(want, "out of range"), "%s", want);
    cf_layer_free(lc);
    cf_layer_free(lg);
}

/* ---- more layers: LRN, neurons, Dropout, joins, Scale/Bias, BatchNorm ---- */

Test(gpu_layers, lrn_across_channels)
{
    layer_case c = {.yaml = "{name: n, type: LRN, lrn_param: {local_size: 5, alpha: 0.0001, beta: 0.75}}", .nb = 1,
                    .nt = 1, .in = {rnd(4, (int[]){2, 7, 4, 5}, 40)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, lrn_across_channels_k2_size3)
{
    layer_case c = {.yaml = "{name: n, type: LRN, lrn_param: {local_size: 3, alpha: 0.5, beta: 0.6, k: 2}}", .nb = 1,
                    .nt = 1, .in = {tu_blob("x", 4, (int[]){2, 4, 3, 3}, -2, 2, 41)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, lrn_within_channel_stays_on_the_host)
{
    layer_case c = {.yaml = "{name: n, type: LRN, lrn_param: {local_size: 3, norm_region: WITHIN_CHANNEL}}", .nb = 1,
                    .nt = 1, .in = {rnd(4, (int[]){2, 3, 5, 5}, 42)}, .prop = {true}, .where = NOT_WRAPPED};
    check_layer(&c);
}

Test(gpu_layers, power_square)
{
    layer_case c = {.yaml = "{name: p, type: Power, power_param: {power: 2, scale: 0.5, shift: 1}}", .nb = 1, .nt = 1,
                    .in = {rnd(3, (int[]){3, 4, 5}, 43)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, power_fractional)
{
    layer_case c = {.yaml = "{name: p, type: Power, power_param: {power: 0.5, scale: 2, shift: 3}}", .nb = 1, .nt = 1,
                    .in = {rnd(2, (int[]){6, 7}, 44)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, power_linear_in_place)
{
    layer_case c = {.yaml = "{name: p, type: Power, power_param: {scale: -1.5, shift: 0.25}}", .nb = 1, .nt = 1,
                    .in = {rnd(2, (int[]){6, 7}, 45)}, .prop = {true}, .inplace = true, .where = ON_GPU};
    check_layer(&c);
}

/* In place with a gradient that reads x: the host keeps the copy. */
Test(gpu_layers, power_cube_in_place_stays_on_the_host)
{
    layer_case c = {.yaml = "{name: p, type: Power, power_param: {power: 3}}", .nb = 1, .nt = 1,
                    .in = {rnd(2, (int[]){4, 5}, 46)}, .prop = {true}, .inplace = true, .where = ON_HOST};
    check_layer(&c);
}

Test(gpu_layers, absval)
{
    cf_blob *x = rnd(3, (int[]){3, 4, 5}, 47);
    cf_blob_mdata(x)[3] = 0; /* sign(0) = 0 */
    layer_case c = {.yaml = "{name: a, type: AbsVal}", .nb = 1, .nt = 1, .in = {x}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, bnll)
{
    cf_blob *x = tu_blob("x", 2, (int[]){5, 8}, -6, 6, 48);
    cf_blob_mdata(x)[0] = 60; /* past the gradient's clip */
    cf_blob_mdata(x)[1] = -60;
    layer_case c = {.yaml = "{name: b, type: BNLL}", .nb = 1, .nt = 1, .in = {x}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, elu)
{
    layer_case c = {.yaml = "{name: e, type: ELU, elu_param: {alpha: 0.7}}", .nb = 1, .nt = 1,
                    .in = {tu_blob("x", 3, (int[]){2, 5, 6}, -3, 3, 49)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, elu_in_place)
{
    layer_case c = {.yaml = "{name: e, type: ELU}", .nb = 1, .nt = 1,
                    .in = {tu_blob("x", 3, (int[]){2, 5, 6}, -3, 3, 50)}, .prop = {true}, .inplace = true,
                    .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, elu_negative_alpha_in_place_stays_on_the_host)
{
    layer_case c = {.yaml = "{name: e, type: ELU, elu_param: {alpha: -0.5}}", .nb = 1, .nt = 1,
                    .in = {tu_blob("x", 2, (int[]){4, 6}, -3, 3, 51)}, .prop = {true}, .inplace = true,
                    .where = ON_HOST};
    check_layer(&c);
}

/* The same seed draws the same mask on both devices. */
Test(gpu_layers, dropout_train_same_mask)
{
    layer_case c = {.yaml = "{name: d, type: Dropout, dropout_param: {dropout_ratio: 0.3}}", .nb = 1, .nt = 1,
                    .in = {rnd(2, (int[]){16, 33}, 52)}, .prop = {true}, .where = ON_GPU, .seed = 77};
    check_layer(&c);
}

Test(gpu_layers, dropout_in_place)
{
    layer_case c = {.yaml = "{name: d, type: Dropout}", .nb = 1, .nt = 1, .in = {rnd(2, (int[]){8, 20}, 53)},
                    .prop = {true}, .inplace = true, .where = ON_GPU, .seed = 78};
    check_layer(&c);
}

Test(gpu_layers, dropout_test_phase_is_the_identity)
{
    layer_case c = {.yaml = "{name: d, type: Dropout}", .nb = 1, .nt = 1, .in = {rnd(2, (int[]){8, 20}, 54)},
                    .prop = {true}, .where = ON_GPU, .phase = CF_TEST};
    check_layer(&c);
}

Test(gpu_layers, eltwise_sum_coeff)
{
    layer_case c = {.yaml = "{name: e, type: Eltwise, eltwise_param: {operation: SUM, coeff: [1, -0.5, 2]}}",
                    .nb = 3, .nt = 1,
                    .in = {rnd(3, (int[]){2, 3, 4}, 55), rnd(3, (int[]){2, 3, 4}, 56), rnd(3, (int[]){2, 3, 4}, 57)},
                    .prop = {true, true, true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, eltwise_prod_stable)
{
    layer_case c = {.yaml = "{name: e, type: Eltwise, eltwise_param: {operation: PROD}}", .nb = 3, .nt = 1,
                    .in = {rnd(2, (int[]){5, 6}, 58), rnd(2, (int[]){5, 6}, 59), rnd(2, (int[]){5, 6}, 60)},
                    .prop = {true, false, true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, eltwise_prod_unstable)
{
    layer_case c = {.yaml = "{name: e, type: Eltwise, eltwise_param: {operation: PROD, stable_prod_grad: false}}",
                    .nb = 2, .nt = 1, .in = {tu_blob("x", 2, (int[]){5, 6}, 0.5, 2, 61), tu_blob("y", 2, (int[]){5, 6}, 0.5, 2, 62)},
                    .prop = {true, true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, eltwise_max_first_wins_ties)
{
    cf_blob *a = distinct(2, 3, 4, 4, 63), *b = distinct(2, 3, 4, 4, 64);
    memcpy(cf_blob_mdata(b), cf_blob_data(a), 8 * sizeof(float)); /* ties: bottom 0 takes them */
    layer_case c = {.yaml = "{name: e, type: Eltwise, eltwise_param: {operation: MAX}}", .nb = 2, .nt = 1,
                    .in = {a, b}, .prop = {true, true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, concat_channels)
{
    layer_case c = {.yaml = "{name: c, type: Concat}", .nb = 3, .nt = 1,
                    .in = {rnd(4, (int[]){2, 3, 4, 5}, 65), rnd(4, (int[]){2, 1, 4, 5}, 66), rnd(4, (int[]){2, 4, 4, 5}, 67)},
                    .prop = {true, false, true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, concat_batch_and_last_axis)
{
    layer_case a = {.yaml = "{name: c, type: Concat, concat_param: {concat_dim: 0}}", .nb = 2, .nt = 1,
                    .in = {rnd(3, (int[]){2, 3, 4}, 68), rnd(3, (int[]){5, 3, 4}, 69)}, .prop = {true, true},
                    .where = ON_GPU};
    check_layer(&a);
    layer_case b = {.yaml = "{name: c, type: Concat, concat_param: {axis: -1}}", .nb = 2, .nt = 1,
                    .in = {rnd(3, (int[]){2, 3, 4}, 70), rnd(3, (int[]){2, 3, 1}, 71)}, .prop = {true, true},
                    .where = ON_GPU};
    check_layer(&b);
}

Test(gpu_layers, split_sums_the_top_diffs)
{
    layer_case c = {.yaml = "{name: s, type: Split}", .nb = 1, .nt = 3, .in = {rnd(2, (int[]){7, 9}, 72)},
                    .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, scale_learnt_with_bias)
{
    layer_case c = {.yaml = "{name: s, type: Scale, scale_param: {bias_term: true, filler: {type: uniform, min: -1, max: 2},"
                            " bias_filler: {type: uniform}}}",
                    .nb = 1, .nt = 1, .in = {rnd(4, (int[]){3, 4, 5, 2}, 73)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, scale_in_place_two_axes)
{
    layer_case c = {.yaml = "{name: s, type: Scale, scale_param: {num_axes: 2, filler: {type: uniform, min: -1, max: 2}}}",
                    .nb = 1, .nt = 1, .in = {rnd(4, (int[]){3, 4, 5, 2}, 74)}, .prop = {true}, .inplace = true,
                    .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, scale_by_a_bottom)
{
    layer_case c = {.yaml = "{name: s, type: Scale, scale_param: {axis: 0}}", .nb = 2, .nt = 1,
                    .in = {rnd(3, (int[]){3, 4, 5}, 75), rnd(2, (int[]){3, 4}, 76)}, .prop = {true, true},
                    .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, bias_learnt_and_by_a_bottom)
{
    layer_case a = {.yaml = "{name: b, type: Bias, bias_param: {filler: {type: uniform}}}", .nb = 1, .nt = 1,
                    .in = {rnd(4, (int[]){2, 3, 4, 4}, 77)}, .prop = {true}, .where = ON_GPU};
    check_layer(&a);
    layer_case b = {.yaml = "{name: b, type: Bias}", .nb = 2, .nt = 1,
                    .in = {rnd(4, (int[]){2, 3, 4, 4}, 78), rnd(1, (int[]){3}, 79)}, .prop = {true, true},
                    .where = ON_GPU};
    check_layer(&b);
}

Test(gpu_layers, batch_norm_batch_statistics)
{
    layer_case c = {.yaml = "{name: bn, type: BatchNorm}", .nb = 1, .nt = 1,
                    .in = {tu_blob("x", 4, (int[]){4, 3, 5, 5}, -2, 3, 80)}, .prop = {true}, .where = ON_GPU};
    check_layer(&c);
}

Test(gpu_layers, batch_norm_in_place_2d)
{
    layer_case c = {.yaml = "{name: bn, type: BatchNorm, batch_norm_param: {moving_average_fraction: 0.9}}", .nb = 1,
                    .nt = 1, .in = {tu_blob("x", 2, (int[]){6, 5}, -2, 3, 81)}, .prop = {true}, .inplace = true,
                    .where = ON_GPU};
    check_layer(&c);
}

/* Running sums as after some training: Σμ, Σσ² and the weight t. */
static void bn_stats(cf_layer *l)
{
    float *m = cf_blob_mdata(l->param[0]), *v = cf_blob_mdata(l->param[1]);
    for (size_t i = 0; i < l->param[0]->count; i++) m[i] = 0.3f * (float)i - 0.5f, v[i] = 1.5f + (float)i;
    cf_blob_mdata(l->param[2])[0] = 2.5f;
}

Test(gpu_layers, batch_norm_global_statistics)
{
    layer_case c = {.yaml = "{name: bn, type: BatchNorm, batch_norm_param: {use_global_stats: true}}", .nb = 1,
                    .nt = 1, .in = {rnd(4, (int[]){2, 3, 4, 4}, 82)}, .prop = {true}, .where = ON_GPU,
                    .prep = bn_stats};
    check_layer(&c);
}

/* ---- the backend's math on device pointers ---- */

static const float *dptr(const cf_blob *b) { return cf_blob_gpu_data(gpu(), b); }
static float *dmut(cf_blob *b) { return cf_blob_gpu_mdata(gpu(), b); }

Test(gpu_backend, gemm_every_transpose)
{
    cf_backend *g = cf_backend_gpu(gpu()), *c = tu_backend();
    const int M = 5, N = 7, K = 3;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            cf_blob *A = rnd(2, (int[]){M, K}, 30), *B = rnd(2, (int[]){K, N}, 31);
            cf_blob *Cc = rnd(2, (int[]){M, N}, 32), *Cg = copy_of(Cc);
            cf_gemm(c, ta, tb, M, N, K, 0.7f, cf_blob_data(A), cf_blob_data(B), 0.3f, cf_blob_mdata(Cc));
            cf_gemm(g, ta, tb, M, N, K, 0.7f, dptr(A), dptr(B), 0.3f, dmut(Cg));
            char what[32];
            snprintf(what, sizeof what, "gemm ta=%d tb=%d", ta, tb);
            assert_close(what, cf_blob_data(Cg), cf_blob_data(Cc), (size_t)M * N);
        }
}

Test(gpu_backend, gemv_both_ways)
{
    cf_backend *g = cf_backend_gpu(gpu()), *c = tu_backend();
    const int M = 6, N = 4;
    for (int ta = 0; ta < 2; ta++) {
        int nx = ta ? M : N, ny = ta ? N : M;
        cf_blob *A = rnd(2, (int[]){M, N}, 33), *x = rnd(1, &nx, 34), *yc = rnd(1, &ny, 35), *yg = copy_of(yc);
        cf_gemv(c, ta, M, N, 1.5f, cf_blob_data(A), cf_blob_data(x), 0.5f, cf_blob_mdata(yc));
        cf_gemv(g, ta, M, N, 1.5f, dptr(A), dptr(x), 0.5f, dmut(yg));
        assert_close(ta ? "gemv transposed" : "gemv", cf_blob_data(yg), cf_blob_data(yc), (size_t)ny);
    }
}

Test(gpu_backend, vector_ops)
{
    cf_backend *g = cf_backend_gpu(gpu()), *c = tu_backend();
    int n = 1000;
    cf_blob *x = rnd(1, &n, 36), *yc = rnd(1, &n, 37), *yg = copy_of(yc);
    cf_axpy(c, (size_t)n, 0.25f, cf_blob_data(x), cf_blob_mdata(yc));
    cf_axpy(g, (size_t)n, 0.25f, dptr(x), dmut(yg));
    assert_close("axpy", cf_blob_data(yg), cf_blob_data(yc), (size_t)n);
    cf_axpby(c, (size_t)n, -2.0f, cf_blob_data(x), 0.5f, cf_blob_mdata(yc));
    cf_axpby(g, (size_t)n, -2.0f, dptr(x), 0.5f, dmut(yg));
    assert_close("axpby", cf_blob_data(yg), cf_blob_data(yc), (size_t)n);
    cf_scal(c, (size_t)n, 3.0f, cf_blob_mdata(yc));
    cf_scal(g, (size_t)n, 3.0f, dmut(yg));
    assert_close("scal", cf_blob_data(yg), cf_blob_data(yc), (size_t)n);
    float dc = cf_dot(c, (size_t)n, cf_blob_data(x), cf_blob_data(yc)), dg = cf_dot(g, (size_t)n, dptr(x), dptr(yg));
    cr_assert_float_eq(dg, dc, 1e-4 * fabs(dc) + 1e-5, "dot: GPU %g, CPU %g", dg, dc);
    float ac = cf_asum(c, (size_t)n, cf_blob_data(yc)), ag = cf_asum(g, (size_t)n, dptr(yg));
    cr_assert_float_eq(ag, ac, 1e-4 * ac, "asum: GPU %g, CPU %g", ag, ac);
    cf_copy(g, (size_t)n, dptr(x), dmut(yg));
    assert_close("copy", cf_blob_data(yg), cf_blob_data(x), (size_t)n);
    cf_set(g, (size_t)n, 2.5f, dmut(yg));
    for (int i = 0; i < n; i++) cr_assert_eq(cf_blob_data(yg)[i], 2.5f);
    cf_scal(g, (size_t)n, 0.0f, dmut(yg));
    for (int i = 0; i < n; i++) cr_assert_eq(cf_blob_data(yg)[i], 0.0f);
}

Test(gpu_backend, im2col_and_col2im)
{
    cf_backend *g = cf_backend_gpu(gpu()), *c = tu_backend();
    cf_conv_geom geo = {.N = 2, .C = 3, .H = 7, .W = 6, .kh = 3, .kw = 2, .ph = 1, .pw = 0, .sh = 2, .sw = 1,
                        .dh = 1, .dw = 2};
    cf_conv_geom_out(&geo);
    int ncol = geo.C * geo.kh * geo.kw * geo.N * geo.Ho * geo.Wo;
    cf_blob *im = rnd(4, (int[]){geo.N, geo.C, geo.H, geo.W}, 38);
    cf_blob *colc = cf_blob_new("c"), *colg = cf_blob_new("c");
    cf_blob_reshape(colc, 1, &ncol, NULL);
    cf_blob_reshape(colg, 1, &ncol, NULL);
    cf_im2col(c, &geo, cf_blob_data(im), cf_blob_mdata(colc));
    cf_im2col(g, &geo, dptr(im), dmut(colg));
    assert_close("im2col", cf_blob_data(colg), cf_blob_data(colc), (size_t)ncol);
    cf_blob *imc = cf_blob_new("i"), *img = cf_blob_new("i");
    cf_blob_reshape_like(imc, im, NULL);
    cf_blob_reshape_like(img, im, NULL);
    cf_col2im(c, &geo, cf_blob_data(colc), cf_blob_mdata(imc));
    cf_col2im(g, &geo, dptr(colc), dmut(img));
    assert_close("col2im", cf_blob_data(img), cf_blob_data(imc), im->count);
}

Test(gpu_backend, a_gpu_that_does_not_exist_is_refused)
{
    gpu();
    cf_error err;
    int n = cf_gpu_count(&err);
    cr_assert_eq(cf_gpu_check(n, &err), -1);
    char want[128];
    snprintf(want, sizeof want, "GPU %d does not exist", n);
    cr_assert(strstr(err.msg, want), "%s", err.msg);
    cf_gpu_info info;
    cr_assert_eq(cf_gpu_info_get(0, &info, &err), 0, "%s", err.msg);
    cr_assert(info.name[0] && info.major >= 1 && info.mem_total > 0);
}

/* ---- solver updates on the device ---- */

/* Two params (weights with decay, bias without), no forward needed: the
 * gradients are set by hand. */
static const char *update_net =
    "input: x\n"
    "input_shape: {dim: [2, 3]}\n"
    "layer:\n"
    "  - {name: ip, type: InnerProduct, bottom: x, top: y, param: [{lr_mult: 1}, {lr_mult: 2, decay_mult: 0}],\n"
    "     inner_product_param: {num_output: 5, weight_filler: {type: gaussian, std: 0.5},\n"
    "                           bias_filler: {type: uniform}}}\n";

static cf_solver *update_solver(const char *yaml, cf_backend *be)
{
    cf_error err;
    char buf[2048];
    cf_solver_opts o = {.be = be, .max_iter = -1, .base_lr = -1, .seed = 5};
    cf_solver *s = cf_solver_new(tu_yaml(yaml), tu_yaml(update_net), &o, &err);
    if (!s) cr_assert_fail("solver: %s", cf_error_str(&err, buf, sizeof buf));
    return s;
}

/* Four updates from the same weights and gradients on the CPU and on the
 * GPU: weights, regularised gradients and every history blob agree.
 * on_device: the GPU solver's gradients are put on the device first (as
 * a GPU backward pass leaves them), so the update must run there; else
 * they stay on the host, and so must the update. */
static void check_update(const char *yaml, bool on_device)
{
    cf_backend *g = gpu();
    cf_solver *sc = update_solver(yaml, tu_backend()), *sg = update_solver(yaml, g);
    cf_net *nc = sc->net, *ng = sg->net;
    cr_assert_eq(nc->nparams, ng->nparams);
    for (int i = 0; i < nc->nparams; i++)
        memcpy(cf_blob_mdata(ng->params[i].blob), cf_blob_data(nc->params[i].blob),
               nc->params[i].blob->count * sizeof(float));
    cf_rng r;
    cf_rng_seed(&r, 99);
    char what[96];
    for (int it = 0; it < 4; it++) {
        for (int i = 0; i < nc->nparams; i++) {
            if (nc->params[i].owner != i) continue;
            cf_blob *bc = nc->params[i].blob, *bg = ng->params[i].blob;
            float *dc = cf_blob_mdiff(bc), *dg = cf_blob_mdiff(bg);
            for (size_t k = 0; k < bc->count; k++) dc[k] = dg[k] = cf_rng_uniform(&r, -1, 1);
            if (on_device) cr_assert_not_null(cf_blob_gpu_mdiff(g, bg));
        }
        cf_solver_apply_update(sc);
        cf_solver_apply_update(sg);
        sc->iter++;
        sg->iter++;
        for (int i = 0; i < nc->nparams; i++) {
            if (nc->params[i].owner != i) continue;
            cf_blob *bc = nc->params[i].blob, *bg = ng->params[i].blob;
            cf_mem_head want = on_device ? CF_MEM_DEVICE : CF_MEM_HOST;
            cr_assert_eq(bg->data->head, want, "param %d: the update ran on the %s", i,
                         bg->data->head == CF_MEM_DEVICE ? "GPU" : "host");
            cr_assert_eq(sg->history[i]->data->head, want, "param %d: the history is on the other side", i);
            snprintf(what, sizeof what, "iteration %d param %d weights", it, i);
            assert_close(what, cf_blob_data(bg), cf_blob_data(bc), bc->count);
            snprintf(what, sizeof what, "iteration %d param %d gradient", it, i);
            assert_close(what, cf_blob_diff(bg), cf_blob_diff(bc), bc->count);
            snprintf(what, sizeof what, "iteration %d param %d history", it, i);
            assert_close(what, cf_blob_data(sg->history[i]), cf_blob_data(sc->history[i]), bc->count);
            cr_assert_eq(!sg->history2[i], !sc->history2[i]);
            if (sc->history2[i]) {
                snprintf(what, sizeof what, "iteration %d param %d history2", it, i);
                assert_close(what, cf_blob_data(sg->history2[i]), cf_blob_data(sc->history2[i]), bc->count);
            }
        }
    }
    cf_solver_free(sc);
    cf_solver_free(sg);
}

Test(gpu_solver, sgd_momentum_l2)
{
    check_update("type: SGD\nbase_lr: 0.1\nmomentum: 0.9\nweight_decay: 0.01\n", true);
}

Test(gpu_solver, sgd_clip_iter_size_l1)
{
    check_update("type: SGD\nbase_lr: 0.05\nmomentum: 0.5\nweight_decay: 0.02\nregularization_type: L1\n"
                 "clip_gradients: 0.5\niter_size: 2\n", true);
}

Test(gpu_solver, nesterov)
{
    check_update("type: Nesterov\nbase_lr: 0.1\nmomentum: 0.9\nweight_decay: 0.005\n", true);
}

Test(gpu_solver, adagrad)
{
    check_update("type: AdaGrad\nbase_lr: 0.1\ndelta: 1e-6\nweight_decay: 0.01\n", true);
}

Test(gpu_solver, rmsprop)
{
    check_update("type: RMSProp\nbase_lr: 0.01\nrms_decay: 0.9\ndelta: 1e-6\nlr_policy: step\ngamma: 0.5\n"
                 "stepsize: 2\n", true);
}

Test(gpu_solver, adadelta)
{
    check_update("type: AdaDelta\nbase_lr: 1\nmomentum: 0.95\ndelta: 1e-6\nweight_decay: 0.01\n", true);
}

Test(gpu_solver, adam)
{
    check_update("type: Adam\nbase_lr: 0.01\nmomentum: 0.9\nmomentum2: 0.999\ndelta: 1e-8\n", true);
}

/* A gradient a host layer computed is updated on the host, not copied over. */
Test(gpu_solver, a_host_gradient_is_updated_on_the_host)
{
    check_update("type: Adam\nbase_lr: 0.01\nmomentum: 0.9\n", false);
}

/* ---- LeNet on the GPU ---- */

#define IMAGES "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
#define LABELS "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"

static const char *lenet =
    "name: LeNet\n"
    "input: [data, label]\n"
    "input_shape: [{dim: [64, 1, 28, 28]}, {dim: [64]}]\n"
    "layer:\n"
    "  - {name: conv1, type: Convolution, bottom: data, top: conv1, param: [{lr_mult: 1}, {lr_mult: 2}],\n"
    "     convolution_param: {num_output: 20, kernel_size: 5, weight_filler: {type: xavier}}}\n"
    "  - {name: pool1, type: Pooling, bottom: conv1, top: pool1, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}\n"
    "  - {name: conv2, type: Convolution, bottom: pool1, top: conv2, param: [{lr_mult: 1}, {lr_mult: 2}],\n"
    "     convolution_param: {num_output: 50, kernel_size: 5, weight_filler: {type: xavier}}}\n"
    "  - {name: pool2, type: Pooling, bottom: conv2, top: pool2, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}\n"
    "  - {name: ip1, type: InnerProduct, bottom: pool2, top: ip1, param: [{lr_mult: 1}, {lr_mult: 2}],\n"
    "     inner_product_param: {num_output: 500, weight_filler: {type: xavier}}}\n"
    "  - {name: relu1, type: ReLU, bottom: ip1, top: ip1}\n"
    "  - {name: ip2, type: InnerProduct, bottom: ip1, top: ip2, param: [{lr_mult: 1}, {lr_mult: 2}],\n"
    "     inner_product_param: {num_output: 10, weight_filler: {type: xavier}}}\n"
    "  - {name: loss, type: SoftmaxWithLoss, bottom: [ip2, label], top: loss}\n";

static const char *solver =
    "base_lr: 0.01\nmomentum: 0.9\nweight_decay: 0.0005\nlr_policy: inv\ngamma: 0.0001\npower: 0.75\n"
    "max_iter: 150\nrandom_seed: 1701\n";

static void batch(cf_solver *s, const cf_idx *im, const cf_idx *lb, int it)
{
    float *d = cf_blob_mdata(cf_net_blob(s->net, "data")), *l = cf_blob_mdata(cf_net_blob(s->net, "label"));
    for (int b = 0; b < 64; b++) {
        int k = (it * 64 + b) % 3200;
        for (int p = 0; p < 784; p++) d[b * 784 + p] = im->data[(size_t)k * 784 + p] * 0.00390625f;
        l[b] = lb->data[k];
    }
}

Test(gpu_train, lenet_learns_on_the_gpu, .timeout = 300)
{
    cf_backend *g = gpu();
    if (access(IMAGES, R_OK) != 0) cr_skip_test("%s missing: install dataset-fashion-mnist", IMAGES);
    cf_idx im, lb;
    cf_error err;
    char buf[1024];
    if (cf_idx_read(IMAGES, CF_IDX_IMAGES, &im, &err) || cf_idx_read(LABELS, CF_IDX_LABELS, &lb, &err))
        cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
    cf_solver_opts og = {.be = g, .max_iter = -1, .base_lr = -1, .seed = -1};
    cf_solver_opts oc = {.be = tu_backend(), .max_iter = -1, .base_lr = -1, .seed = -1};
    cf_solver *sg = cf_solver_new(tu_yaml(solver), tu_yaml(lenet), &og, &err);
    if (!sg) cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
    cf_solver *sc = cf_solver_new(tu_yaml(solver), tu_yaml(lenet), &oc, &err);
    if (!sc) cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));

    /* the same seed gives the same weights: the first steps must agree */
    double first = 0, last = 0;
    for (int it = 0; it < 3; it++) {
        float lg, lc;
        batch(sg, &im, &lb, it);
        batch(sc, &im, &lb, it);
        cr_assert_eq(cf_solver_step(sg, &lg, &err), 0, "%s", cf_error_str(&err, buf, sizeof buf));
        cr_assert_eq(cf_solver_step(sc, &lc, NULL), 0);
        cr_assert_float_eq(lg, lc, 1e-4 * lc, "iteration %d: GPU loss %g, CPU loss %g", it, lg, lc);
        first += lg / 3;
    }
    /* every layer but the input ran forward and backward on the GPU */
    const char *names[] = {"conv1", "pool1", "conv2", "pool2", "ip1", "relu1", "ip2", "loss"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        int li = cf_net_layer_id(sg->net, names[k]);
        cr_assert_geq(li, 0);
        long passes = cf_gpu_layer_passes(sg->net->layers[li].layer);
        cr_assert_eq(passes, 6, "layer '%s' ran %ld passes on the GPU in 3 iterations", names[k], passes);
    }
    cf_gpu_mem m;
    cr_assert_eq(cf_gpu_mem_get(g, &m), 0);
    cr_assert_gt(m.engine, 431080 * sizeof(float), "the weights at least are on the GPU: %zu bytes", m.engine);
    cr_assert(m.total > 0 && m.used <= m.total && m.engine <= m.used);

    for (int it = 3; it < 150; it++) {
        float loss;
        batch(sg, &im, &lb, it);
        cr_assert_eq(cf_solver_step(sg, &loss, &err), 0, "%s", cf_error_str(&err, buf, sizeof buf));
        cr_assert(isfinite(loss));
        if (it >= 130) last += loss / 20;
    }
    cr_assert_gt(first, 1.8, "starts near chance: %g", first);
    cr_assert_lt(last, 1.0, "mean loss of iterations 130..149 is %g (chance is 2.30)", last);
    cf_solver_free(sg);
    cf_solver_free(sc);
    cf_idx_free(&im);
    cf_idx_free(&lb);
}
