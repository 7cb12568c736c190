/* test_dnnl.c — the oneDNN path agrees with the reference path.
 *
 * Every layer that can run through oneDNN (engine/dnnl) is built twice on
 * the same configuration and inputs: once on a backend made with
 * CAFETUI_DNNL=0 (the layers' own code, the reference) and once on a
 * backend with oneDNN.  Forward tops, bottom diffs and param diffs (which
 * start from the same nonzero values, so that accumulation is checked
 * too) must agree within 1e-4 relative; and the oneDNN backend must have
 * executed primitives where oneDNN is expected to take the layer, and
 * none where the layer must fall back (a Caffe configuration that oneDNN
 * cannot express exactly).  Shapes are odd on purpose; pad, stride,
 * groups, dilation, Caffe's rounded-up pooling sizes, in-place layers,
 * several bottoms and a change of shape (new primitives) are covered, and
 * a whole small net is compared end to end.
 *
 * The backends have 2 threads, so the oneDNN plans cut batches into two
 * slices run at once (odd batches into unequal ones).  The test sets
 * CAFETUI_DNNL (and _POOL, _OMP) itself for each backend, so it compares
 * the paths whatever the environment of `make check` says. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl/dnnl_layers.h"
#include "net.h"
#include "testutil.h"

/* The backends (2 threads, as tu_backend), made once: the reference,
 * oneDNN, oneDNN pooling too, oneDNN on its OpenMP threads. */
enum { REF, DN, DN_POOL, DN_OMP };
static cf_backend *backend_kind(int kind)
{
    static cf_backend *be[4];
    if (!be[kind]) {
        setenv("CAFETUI_DNNL", kind == REF ? "0" : "1", 1);
        setenv("CAFETUI_DNNL_POOL", kind == DN_POOL ? "1" : "0", 1);
        setenv("CAFETUI_DNNL_OMP", kind == DN_OMP ? "1" : "0", 1);
        be[kind] = cf_backend_cpu_new(2);
        unsetenv("CAFETUI_DNNL");
        unsetenv("CAFETUI_DNNL_POOL");
        unsetenv("CAFETUI_DNNL_OMP");
    }
    return be[kind];
}

static cf_backend *backend(bool dnnl, bool pool) { return backend_kind(!dnnl ? REF : pool ? DN_POOL : DN); }

/* a and b (n values) agree: |a − b| <= 1e-4 · max(|b|, 0.01 · max|b|). */
static void agree(const float *a, const float *b, size_t n, const char *what, const char *yaml)
{
    float big = 0;
    for (size_t i = 0; i < n; i++) big = fmaxf(big, fabsf(b[i]));
    for (size_t i = 0; i < n; i++) {
        float tol = 1e-4f * fmaxf(fabsf(b[i]), 0.01f * big);
        cr_assert_leq(fabsf(a[i] - b[i]), tol, "%s[%zu]: oneDNN %.9g, reference %.9g (tolerance %.3g)\nlayer:\n%s", what,
                      i, a[i], b[i], tol, yaml);
    }
}

static cf_layer *make_layer(const char *yaml, cf_backend *be, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    cf_error err;
    char buf[2048];
    cf_rng *rng = malloc(sizeof *rng);
    cf_rng_seed(rng, 1701);
    cf_layer *l = cf_layer_create(tu_yaml(yaml), CF_TRAIN, be, rng, &err);
    if (!l) cr_assert_fail("layer create failed: %s", cf_error_str(&err, buf, sizeof buf));
    if (cf_layer_setup(l, bottom, nb, top, nt, &err))
        cr_assert_fail("layer setup failed: %s", cf_error_str(&err, buf, sizeof buf));
    return l;
}

typedef struct {
    int nb, nt;
    bool inplace;       /* top i is bottom i */
    bool prop;          /* compute the bottom diffs */
    bool pool;          /* the oneDNN backend also pools through oneDNN */
    float lo, hi;       /* bottom values from U[lo, hi) */
} opts;

/* One forward and backward on both paths, compared; returns the number
 * of primitives the oneDNN backend executed. */
static long run_both(const char *yaml, int naxes, const int *shape, opts o)
{
    cf_backend *be[2] = {backend(false, false), backend(true, o.pool)};
    cf_blob *bottom[2][4], *top[2][4];
    cf_layer *l[2];
    long before = cf_dnnl_executions(be[1]);
    cr_assert(cf_dnnl_on(be[1]) && !cf_dnnl_on(be[0]));
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < o.nb; i++) bottom[k][i] = tu_blob("x", naxes, shape, o.lo, o.hi, 11 + (uint64_t)i);
        for (int i = 0; i < o.nt; i++) top[k][i] = o.inplace ? bottom[k][i] : cf_blob_new("y");
        l[k] = make_layer(yaml, be[k], bottom[k], o.nb, top[k], o.nt);
    }
    /* same weights, and param diffs that already hold something */
    for (int p = 0; p < l[0]->nparam; p++) {
        tu_fill(l[0]->param[p], -1, 1, 21 + (uint64_t)p);
        tu_fill(l[1]->param[p], -1, 1, 21 + (uint64_t)p);
        cf_rng r;
        for (int k = 0; k < 2; k++) {
            cf_rng_seed(&r, 31 + (uint64_t)p);
            float *d = cf_blob_mdiff(l[k]->param[p]);
            for (size_t i = 0; i < l[k]->param[p]->count; i++) d[i] = cf_rng_uniform(&r, -0.5f, 0.5f);
        }
    }
    cf_error err;
    bool prop[4] = {o.prop, o.prop, o.prop, o.prop};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(l[k]->ops->reshape(l[k], bottom[k], o.nb, top[k], o.nt, &err), 0);
        cr_assert_eq(l[k]->ops->forward(l[k], bottom[k], o.nb, top[k], o.nt, &err), 0);
    }
    for (int i = 0; i < o.nt; i++) agree(cf_blob_data(top[1][i]), cf_blob_data(top[0][i]), top[0][i]->count, "top", yaml);
    /* top diffs: the same random values on both sides (in place, the top
     * data is the forward's output, which backward may read) */
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < o.nt; i++) {
            cf_rng r;
            cf_rng_seed(&r, 51 + (uint64_t)i);
            float *d = cf_blob_mdiff(top[k][i]);
            for (size_t j = 0; j < top[k][i]->count; j++) d[j] = cf_rng_uniform(&r, -1, 1);
        }
    for (int k = 0; k < 2; k++) l[k]->ops->backward(l[k], top[k], o.nt, prop, bottom[k], o.nb);
    if (o.prop)
        for (int i = 0; i < o.nb; i++)
            agree(cf_blob_diff(bottom[1][i]), cf_blob_diff(bottom[0][i]), bottom[0][i]->count, "bottom diff", yaml);
    for (int p = 0; p < l[0]->nparam; p++)
        agree(cf_blob_diff(l[1]->param[p]), cf_blob_diff(l[0]->param[p]), l[0]->param[p]->count,
              p ? "param diff (bias)" : "param diff (weights)", yaml);
    long ran = cf_dnnl_executions(be[1]) - before;
    for (int k = 0; k < 2; k++) {
        cf_rng *r = l[k]->rng;
        cf_layer_free(l[k]);
        free(r);
        for (int i = 0; i < o.nb; i++) cf_blob_free(bottom[k][i]);
        if (!o.inplace)
            for (int i = 0; i < o.nt; i++) cf_blob_free(top[k][i]);
    }
    return ran;
}

static const opts one = {1, 1, false, true, false, -1, 1};

#define SHAPE(...) (int[]){__VA_ARGS__}

/* ---- Convolution ---- */

Test(dnnl, convolution_pad_stride_odd_shapes)
{
    const char *y = "{name: c, type: Convolution, convolution_param: {num_output: 6, kernel_size: 3, pad: 1, stride: 2}}";
    cr_assert_gt(run_both(y, 4, SHAPE(3, 5, 7, 9), one), 0);
}

Test(dnnl, convolution_groups_rectangular_kernel_and_stride)
{
    const char *y = "{name: c, type: Convolution, convolution_param: {num_output: 6, group: 2, kernel_h: 3, kernel_w: 2,"
                    " pad_h: 1, pad_w: 0, stride_h: 1, stride_w: 2}}";
    cr_assert_gt(run_both(y, 4, SHAPE(2, 6, 8, 7), one), 0); /* 3 channels per group: oneDNN takes all */
}

Test(dnnl, convolution_dilation_no_bias)
{
    const char *y = "{name: c, type: Convolution, convolution_param: {num_output: 5, kernel_size: 3, dilation: 2,"
                    " pad: 2, bias_term: false}}";
    cr_assert_gt(run_both(y, 4, SHAPE(2, 3, 9, 8), one), 0);
}

Test(dnnl, convolution_first_layer_one_channel)
{
    /* oneDNN does forward and leaves the weight gradient to the layer */
    const char *y = "{name: c, type: Convolution, convolution_param: {num_output: 4, kernel_size: 5}}";
    opts o = one;
    o.prop = false;
    cr_assert_gt(run_both(y, 4, SHAPE(3, 1, 12, 11), o), 0);
    cr_assert_gt(run_both(y, 4, SHAPE(3, 1, 12, 11), one), 0);
}

Test(dnnl, convolution_three_channels_one_by_one_one_image)
{
    const char *y = "{name: c, type: Convolution, convolution_param: {num_output: 7, kernel_size: 1}}";
    cr_assert_gt(run_both(y, 4, SHAPE(1, 3, 5, 6), one), 0);
}

Test(dnnl, convolution_large_images_lowered_in_chunks)
{
    /* the reference path lowers B images at a time (B·K·P <= 2^17):
     * K·P = 36·1600 gives B = 2 over 3 images (a short last chunk),
     * 72·1600 gives B = 1, and a 1×1 kernel over 64 channels of 48×48
     * reads the images in place */
    const char *y = "{name: c, type: Convolution, convolution_param: {num_output: 5, kernel_size: 3}}";
    cr_assert_gt(run_both(y, 4, SHAPE(3, 4, 42, 42), one), 0);
    cr_assert_gt(run_both(y, 4, SHAPE(3, 8, 42, 42), one), 0);
    const char *y1 = "{name: c, type: Convolution, convolution_param: {num_output: 3, kernel_size: 1}}";
    cr_assert_gt(run_both(y1, 4, SHAPE(2, 64, 48, 48), one), 0);
}

Test(dnnl, convolution_two_bottoms)
{
    const char *y = "{name: c, type: Convolution, convolution_param: {num_output: 3, kernel_size: 2, stride: 1}}";
    opts o = one;
    o.nb = o.nt = 2;
    cr_assert_gt(run_both(y, 4, SHAPE(2, 4, 5, 5), o), 0);
}

Test(dnnl, convolution_new_shape_new_primitives)
{
    /* the same layer on a second batch size: plans are made again */
    cf_backend *be[2] = {backend(false, false), backend(true, false)};
    const char *y = "{name: c, type: Convolution, convolution_param: {num_output: 4, kernel_size: 3, pad: 1}}";
    cf_blob *x[2], *t[2];
    cf_layer *l[2];
    cf_error err;
    for (int k = 0; k < 2; k++) {
        x[k] = tu_blob("x", 4, SHAPE(2, 3, 6, 6), -1, 1, 5);
        t[k] = cf_blob_new("t");
        l[k] = make_layer(y, be[k], &x[k], 1, &t[k], 1);
        tu_fill(l[k]->param[0], -1, 1, 6);
        tu_fill(l[k]->param[1], -1, 1, 7);
    }
    for (int n = 1; n <= 5; n += 4)
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(cf_blob_reshape4(x[k], n, 3, 7, 5, NULL), 0);
            tu_fill(x[k], -1, 1, 8 + (uint64_t)n);
            cr_assert_eq(l[k]->ops->reshape(l[k], &x[k], 1, &t[k], 1, &err), 0);
            long before = cf_dnnl_executions(be[k]);
            cr_assert_eq(l[k]->ops->forward(l[k], &x[k], 1, &t[k], 1, &err), 0);
            if (k == 1) {
                cr_assert_gt(cf_dnnl_executions(be[k]), before);
                agree(cf_blob_data(t[1]), cf_blob_data(t[0]), t[0]->count, "top after a new shape", y);
            }
        }
}

/* ---- Pooling ---- */

static const opts pooled = {1, 1, false, true, true, -1, 1};

Test(dnnl, pooling_max_ceil_sizes)
{
    /* 7 → ceil((7 − 3) / 2) + 1 = 3 and 10 → 5: the last window hangs over */
    const char *y = "{name: p, type: Pooling, pooling_param: {pool: MAX, kernel_size: 3, stride: 2}}";
    cr_assert_gt(run_both(y, 4, SHAPE(2, 3, 7, 10), pooled), 0);
}

Test(dnnl, pooling_max_ties_go_to_the_first)
{
    /* values from {0, 0.5}: most windows hold equal maxima */
    const char *y = "{name: p, type: Pooling, pooling_param: {pool: MAX, kernel_size: 2, stride: 1, pad: 1}}";
    opts o = pooled;
    o.lo = 0, o.hi = 0; /* all zero: every window a tie */
    cr_assert_gt(run_both(y, 4, SHAPE(2, 2, 5, 4), o), 0);
}

Test(dnnl, pooling_ave_no_pad_excludes_the_overhang)
{
    const char *y = "{name: p, type: Pooling, pooling_param: {pool: AVE, kernel_size: 3, stride: 2}}";
    cr_assert_gt(run_both(y, 4, SHAPE(2, 3, 8, 9), pooled), 0);
}

Test(dnnl, pooling_ave_pad_inside_the_padded_image)
{
    /* 6 + 2 − 3 = 5, /1 + 1 = 6 windows, the last inside the padding */
    const char *y = "{name: p, type: Pooling, pooling_param: {pool: AVE, kernel_size: 3, stride: 1, pad: 1}}";
    cr_assert_gt(run_both(y, 4, SHAPE(2, 2, 6, 5), pooled), 0);
}

Test(dnnl, pooling_global)
{
    const char *y = "{name: p, type: Pooling, pooling_param: {pool: AVE, global_pooling: true}}";
    cr_assert_gt(run_both(y, 4, SHAPE(3, 4, 5, 3), pooled), 0);
}

Test(dnnl, pooling_falls_back_where_onednn_differs)
{
    /* AVE with pad whose last window reaches past the padded image:
     * Caffe's divisor shrinks there, oneDNN's would not */
    const char *y1 = "{name: p, type: Pooling, pooling_param: {pool: AVE, kernel_size: 3, stride: 2, pad: 1}}";
    cr_assert_eq(run_both(y1, 4, SHAPE(2, 2, 6, 6), pooled), 0);
    /* stride larger than the kernel: a last window wholly outside */
    const char *y2 = "{name: p, type: Pooling, pooling_param: {pool: MAX, kernel_size: 1, stride: 3}}";
    cr_assert_eq(run_both(y2, 4, SHAPE(1, 2, 5, 5), pooled), 0);
    /* the argmax mask top */
    const char *y3 = "{name: p, type: Pooling, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}";
    opts o = pooled;
    o.nt = 2;
    cr_assert_eq(run_both(y3, 4, SHAPE(1, 2, 4, 4), o), 0);
}

Test(dnnl, pooling_stays_with_our_code_by_default)
{
    const char *y = "{name: p, type: Pooling, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}";
    opts o = pooled;
    o.pool = false;
    cr_assert_eq(run_both(y, 4, SHAPE(2, 3, 6, 6), o), 0);
}

/* ---- InnerProduct, ReLU, Softmax ---- */

Test(dnnl, inner_product_4d_bottom)
{
    const char *y = "{name: ip, type: InnerProduct, inner_product_param: {num_output: 7}}";
    cr_assert_gt(run_both(y, 4, SHAPE(5, 3, 2, 3), one), 0);
}

Test(dnnl, inner_product_transpose_no_bias)
{
    const char *y = "{name: ip, type: InnerProduct, inner_product_param: {num_output: 6, transpose: true, bias_term: false}}";
    cr_assert_gt(run_both(y, 2, SHAPE(4, 9), one), 0);
}

Test(dnnl, inner_product_axis_2)
{
    const char *y = "{name: ip, type: InnerProduct, inner_product_param: {num_output: 3, axis: 2}}";
    cr_assert_gt(run_both(y, 3, SHAPE(2, 3, 5), one), 0);
}

Test(dnnl, relu_and_leaky_relu_in_place)
{
    cr_assert_gt(run_both("{name: r, type: ReLU}", 4, SHAPE(3, 4, 5, 7), one), 0);
    opts o = one;
    o.inplace = true;
    cr_assert_gt(run_both("{name: r, type: ReLU, relu_param: {negative_slope: 0.1}}", 2, SHAPE(7, 13), o), 0);
}

Test(dnnl, softmax_channels_and_last_axis)
{
    /* over channels with positions after them (inner 6): oneDNN has only
     * its reference code for that, which is refused: the layer's own */
    cr_assert_eq(run_both("{name: s, type: Softmax}", 4, SHAPE(2, 5, 3, 2), one), 0);
    cr_assert_gt(run_both("{name: s, type: Softmax}", 2, SHAPE(9, 5), one), 0);
    opts o = one;
    o.inplace = true;
    o.lo = -20, o.hi = 20;
    cr_assert_gt(run_both("{name: s, type: Softmax, softmax_param: {axis: -1}}", 3, SHAPE(3, 2, 11), o), 0);
}

/* ---- a whole net ---- */

static const char *net_yaml =
    "name: small\n"
    "input: [data, label]\n"
    "input_shape: [{dim: [5, 3, 11, 10]}, {dim: [5]}]\n"
    "layer:\n"
    "  - {name: conv1, type: Convolution, bottom: data, top: conv1,\n"
    "     convolution_param: {num_output: 8, kernel_size: 3, pad: 1, weight_filler: {type: xavier}}}\n"
    "  - {name: pool1, type: Pooling, bottom: conv1, top: pool1, pooling_param: {pool: MAX, kernel_size: 3, stride: 2}}\n"
    "  - {name: relu1, type: ReLU, bottom: pool1, top: pool1}\n"
    "  - {name: conv2, type: Convolution, bottom: pool1, top: conv2,\n"
    "     convolution_param: {num_output: 16, kernel_size: 3, group: 2, weight_filler: {type: xavier}}}\n"
    "  - {name: pool2, type: Pooling, bottom: conv2, top: pool2, pooling_param: {pool: AVE, kernel_size: 2, stride: 2}}\n"
    "  - {name: ip1, type: InnerProduct, bottom: pool2, top: ip1, inner_product_param: {num_output: 12,\n"
    "     weight_filler: {type: xavier}}}\n"
    "  - {name: relu2, type: ReLU, bottom: ip1, top: ip1}\n"
    "  - {name: ip2, type: InnerProduct, bottom: ip1, top: ip2, inner_product_param: {num_output: 4,\n"
    "     weight_filler: {type: xavier}}}\n"
    "  - {name: loss, type: SoftmaxWithLoss, bottom: [ip2, label], top: loss}\n";

static void whole_net(int kind)
{
    cf_net *net[2];
    cf_error err;
    char buf[2048];
    float loss[2];
    cf_node *conf = tu_yaml(net_yaml);
    cf_rng rng[2];
    long before = cf_dnnl_executions(backend_kind(kind));
    for (int k = 0; k < 2; k++) {
        cf_rng_seed(&rng[k], 3);
        cf_net_opts o = {.phase = CF_TRAIN, .be = backend_kind(k ? kind : REF), .rng = &rng[k]};
        net[k] = cf_net_build(conf, &o, &err);
        if (!net[k]) cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
        tu_fill(cf_net_blob(net[k], "data"), -1, 1, 9);
        float *lab = cf_blob_mdata(cf_net_blob(net[k], "label"));
        for (int i = 0; i < 5; i++) lab[i] = (float)(i % 4);
        cf_net_clear_param_diffs(net[k], NULL);
        cr_assert_eq(cf_net_forward(net[k], &loss[k], &err), 0);
        cf_net_backward(net[k]);
    }
    cr_assert_gt(cf_dnnl_executions(backend_kind(kind)), before);
    cr_assert_gt(loss[0], 0.5f); /* four classes: about log 4 */
    agree(&loss[1], &loss[0], 1, "loss", net_yaml);
    cr_assert_eq(net[0]->nparams, net[1]->nparams);
    for (int p = 0; p < net[0]->nparams; p++)
        agree(cf_blob_diff(net[1]->params[p].blob), cf_blob_diff(net[0]->params[p].blob), net[0]->params[p].blob->count,
              net[0]->layers[net[0]->params[p].layer].layer->name, net_yaml);
    cf_net_free(net[0]);
    cf_net_free(net[1]);
}

/* The batch cut into one slice per thread (the default) */
Test(dnnl, whole_net_loss_and_gradients) { whole_net(DN); }

/* oneDNN's OpenMP threads instead (CAFETUI_DNNL_OMP=1), the backend's
 * pool jobs run on them too */
Test(dnnl, whole_net_on_openmp_threads) { whole_net(DN_OMP); }

/* ---- issue 7: the other activations (dnnl_act.c) ---- */

/* The layer on an odd shape, out of place and (where it allows) in place,
 * each time through oneDNN; values from U[lo, hi). */
static void act_both(const char *yaml, bool inplace_too, float lo, float hi)
{
    opts o = one;
    o.lo = lo, o.hi = hi;
    cr_assert_gt(run_both(yaml, 4, SHAPE(3, 5, 7, 9), o), 0);
    /* large enough that the values are cut into two slices */
    cr_assert_gt(run_both(yaml, 2, SHAPE(9, 8191), o), 0);
    if (!inplace_too) return;
    o.inplace = true;
    cr_assert_gt(run_both(yaml, 2, SHAPE(7, 13), o), 0);
}

Test(dnnl, sigmoid_in_place)
{
    act_both("{name: s, type: Sigmoid}", true, -8, 8);
}

Test(dnnl, tanh_keeps_its_own_code)
{
    /* oneDNN's tanh was measured no faster (tanh.c) */
    cr_assert_eq(run_both("{name: t, type: TanH}", 2, SHAPE(9, 8191), one), 0);
}

Test(dnnl, elu_alphas_in_place)
{
    act_both("{name: e, type: ELU}", true, -3, 3);
    act_both("{name: e, type: ELU, elu_param: {alpha: 0.3}}", true, -3, 3);
    /* α < 0: in place the layer keeps a copy of x, which oneDNN then reads */
    act_both("{name: e, type: ELU, elu_param: {alpha: -0.5}}", true, -3, 3);
}

Test(dnnl, absval_and_bnll)
{
    act_both("{name: a, type: AbsVal}", false, -1, 1);
    opts o = one;
    o.lo = 0, o.hi = 0; /* all zero: sign 0 is 0 on both paths */
    cr_assert_gt(run_both("{name: a, type: AbsVal}", 2, SHAPE(3, 4), o), 0);
    act_both("{name: b, type: BNLL}", false, -30, 30);
    act_both("{name: b, type: BNLL}", false, -1, 1);
}

Test(dnnl, power_where_it_maps)
{
    /* power 1: linear */
    act_both("{name: p, type: Power, power_param: {scale: -1.5, shift: 0.25}}", true, -2, 2);
    /* shift 0: pow, a whole power on negative values with a negative scale */
    act_both("{name: p, type: Power, power_param: {power: 2, scale: -0.5}}", true, -2, 2);
    act_both("{name: p, type: Power, power_param: {power: 3}}", true, -2, 2);
    act_both("{name: p, type: Power, power_param: {power: 0.5, scale: 2}}", true, 0.1f, 3);
    act_both("{name: p, type: Power, power_param: {power: -1.5, scale: 0.7}}", true, 0.5f, 3);
}

Test(dnnl, power_falls_back_where_it_does_not)
{
    /* a shift under a power, a constant output, a fractional power of a
     * negative scale: the layer's own code */
    const char *ys[] = {"{name: p, type: Power, power_param: {power: 2, shift: 1}}",
                        "{name: p, type: Power, power_param: {power: 0, shift: 3}}",
                        "{name: p, type: Power, power_param: {power: 2, scale: 0}}",
                        "{name: p, type: Power, power_param: {power: 0.5, scale: -2}}"};
    opts o = one;
    o.lo = -2, o.hi = -0.1f;
    for (size_t i = 0; i < sizeof ys / sizeof *ys; i++) cr_assert_eq(run_both(ys[i], 2, SHAPE(5, 6), o), 0);
}

/* ---- issue 7: Deconvolution (dnnl_deconv.c) ---- */

Test(dnnl, deconvolution_stride_pad_odd_shapes)
{
    const char *y = "{name: d, type: Deconvolution, convolution_param: {num_output: 6, kernel_size: 4, stride: 2,"
                    " pad: 1}}";
    cr_assert_gt(run_both(y, 4, SHAPE(3, 5, 7, 6), one), 0);
    opts o = one;
    o.prop = false; /* the weight and bias gradients alone */
    cr_assert_gt(run_both(y, 4, SHAPE(3, 5, 7, 6), o), 0);
}

Test(dnnl, deconvolution_groups_rectangular_dilation_no_bias)
{
    const char *y = "{name: d, type: Deconvolution, convolution_param: {num_output: 6, group: 3, kernel_h: 3,"
                    " kernel_w: 2, stride_h: 1, stride_w: 2, pad_h: 1, dilation: 2, bias_term: false}}";
    cr_assert_gt(run_both(y, 4, SHAPE(2, 9, 5, 4), one), 0);
}

Test(dnnl, deconvolution_two_bottoms_one_image)
{
    const char *y = "{name: d, type: Deconvolution, convolution_param: {num_output: 3, kernel_size: 2, stride: 2}}";
    opts o = one;
    o.nb = o.nt = 2;
    cr_assert_gt(run_both(y, 4, SHAPE(1, 4, 5, 5), o), 0);
    /* one channel in and out, as an upsampling layer */
    const char *y1 = "{name: d, type: Deconvolution, convolution_param: {num_output: 1, kernel_size: 3, stride: 1}}";
    cr_assert_gt(run_both(y1, 4, SHAPE(3, 1, 6, 7), one), 0);
}

/* ---- issue 7: LRN (dnnl_lrn.c) ---- */

Test(dnnl, lrn_across_channels_alexnet)
{
    const char *y = "{name: n, type: LRN, lrn_param: {local_size: 5, alpha: 0.5, beta: 0.75}}";
    cr_assert_gt(run_both(y, 4, SHAPE(3, 16, 7, 5), one), 0);
    opts o = one;
    o.lo = -3, o.hi = 3;
    const char *yk = "{name: n, type: LRN, lrn_param: {local_size: 5, alpha: 0.1, beta: 0.75, k: 2}}";
    cr_assert_gt(run_both(yk, 4, SHAPE(2, 24, 3, 9), o), 0);
}

Test(dnnl, lrn_within_channel_divides_by_n_squared_at_the_edges)
{
    /* k is ignored within a channel, as Caffe */
    const char *y = "{name: n, type: LRN, lrn_param: {local_size: 3, alpha: 0.7, beta: 0.75, k: 5,"
                    " norm_region: WITHIN_CHANNEL}}";
    cr_assert_gt(run_both(y, 4, SHAPE(3, 16, 7, 6), one), 0);
    const char *y5 = "{name: n, type: LRN, lrn_param: {local_size: 5, alpha: 2, beta: 0.75,"
                     " norm_region: WITHIN_CHANNEL}}";
    cr_assert_gt(run_both(y5, 4, SHAPE(2, 24, 5, 9), one), 0);
}

Test(dnnl, lrn_falls_back_without_fast_code)
{
    /* configurations oneDNN has only reference code for (a β other than
     * 0.75, a window other than 5 across, 8 channels within): the layer's
     * own code */
    const char *ys[] = {"{name: n, type: LRN, lrn_param: {local_size: 3}}",
                        "{name: n, type: LRN, lrn_param: {beta: 0.6}}",
                        "{name: n, type: LRN, lrn_param: {local_size: 7, beta: 1}}",
                        "{name: n, type: LRN, lrn_param: {norm_region: WITHIN_CHANNEL, beta: 0.6}}"};
    for (size_t i = 0; i < sizeof ys / sizeof *ys; i++) cr_assert_eq(run_both(ys[i], 4, SHAPE(2, 16, 5, 5), one), 0);
    cr_assert_eq(run_both("{name: n, type: LRN, lrn_param: {local_size: 3, norm_region: WITHIN_CHANNEL}}", 4,
                          SHAPE(2, 8, 5, 5), one), 0);
    /* channels not a multiple of 8: whoever takes it, the answers agree */
    run_both("{name: n, type: LRN}", 4, SHAPE(2, 20, 5, 5), one);
}

/* ---- issue 7: BatchNorm (dnnl_bn.c) ---- */

/* Like run_both, for BatchNorm: its three blobs start as running sums
 * that make sense (a positive variance and weight), and after forward
 * they must agree too (the running update from oneDNN's batch mean and
 * variance, with Caffe's m/(m − 1)). */
static long bn_both(const char *yaml, int naxes, const int *shape, bool inplace, float lo, float hi)
{
    cf_backend *be[2] = {backend(false, false), backend(true, false)};
    cf_blob *bottom[2], *top[2];
    cf_layer *l[2];
    cf_error err;
    long before = cf_dnnl_executions(be[1]);
    for (int k = 0; k < 2; k++) {
        bottom[k] = tu_blob("x", naxes, shape, lo, hi, 11);
        top[k] = inplace ? bottom[k] : cf_blob_new("y");
        l[k] = make_layer(yaml, be[k], &bottom[k], 1, &top[k], 1);
        float *mean = cf_blob_mdata(l[k]->param[0]), *var = cf_blob_mdata(l[k]->param[1]);
        for (size_t c = 0; c < l[k]->param[0]->count; c++) {
            mean[c] = 0.3f * (float)c - 0.5f;
            var[c] = 0.5f + 0.25f * (float)c;
        }
        cf_blob_mdata(l[k]->param[2])[0] = 1.7f;
        cr_assert_eq(l[k]->ops->reshape(l[k], &bottom[k], 1, &top[k], 1, &err), 0);
        cr_assert_eq(l[k]->ops->forward(l[k], &bottom[k], 1, &top[k], 1, &err), 0);
    }
    agree(cf_blob_data(top[1]), cf_blob_data(top[0]), top[0]->count, "top", yaml);
    for (int p = 0; p < 3; p++)
        agree(cf_blob_data(l[1]->param[p]), cf_blob_data(l[0]->param[p]), l[0]->param[p]->count, "running sums", yaml);
    for (int k = 0; k < 2; k++) {
        cf_rng r;
        cf_rng_seed(&r, 51);
        float *d = cf_blob_mdiff(top[k]);
        for (size_t j = 0; j < top[k]->count; j++) d[j] = cf_rng_uniform(&r, -1, 1);
        bool prop = true;
        l[k]->ops->backward(l[k], &top[k], 1, &prop, &bottom[k], 1);
    }
    agree(cf_blob_diff(bottom[1]), cf_blob_diff(bottom[0]), bottom[0]->count, "bottom diff", yaml);
    for (int k = 0; k < 2; k++) {
        cf_rng *r = l[k]->rng;
        cf_layer_free(l[k]);
        free(r);
        cf_blob_free(bottom[k]);
        if (!inplace) cf_blob_free(top[k]);
    }
    return cf_dnnl_executions(be[1]) - before;
}

Test(dnnl, batch_norm_batch_statistics)
{
    const char *y = "{name: b, type: BatchNorm, batch_norm_param: {moving_average_fraction: 0.9, eps: 0.001}}";
    cr_assert_gt(bn_both(y, 4, SHAPE(3, 5, 7, 6), false, -1, 1), 0);
    /* values far from 0: the variance must not lose its digits */
    cr_assert_gt(bn_both(y, 4, SHAPE(4, 3, 5, 5), false, 3, 5), 0);
    /* after an InnerProduct (2 axes), and one value per channel (m = 1) */
    cr_assert_gt(bn_both("{name: b, type: BatchNorm}", 2, SHAPE(16, 7), false, -2, 2), 0);
    cr_assert_gt(bn_both("{name: b, type: BatchNorm}", 2, SHAPE(1, 4), false, -2, 2), 0);
}

Test(dnnl, batch_norm_in_place)
{
    /* oneDNN reads x into its own layout before it writes y over it */
    cr_assert_gt(bn_both("{name: b, type: BatchNorm}", 4, SHAPE(3, 4, 5, 7), true, -1, 1), 0);
}

Test(dnnl, batch_norm_global_statistics_keep_the_layers_code)
{
    /* measured faster than oneDNN there (dnnl_bn.c) */
    const char *y = "{name: b, type: BatchNorm, batch_norm_param: {use_global_stats: true, eps: 0.01}}";
    cr_assert_eq(bn_both(y, 4, SHAPE(5, 6, 9, 7), false, -1, 1), 0);
}

/* ---- issue 7: a whole net of the new primitives ---- */

/* BatchNorm and Scale in place (Scale rewrites the blob BatchNorm's
 * backward needs x of), ELU in place, LRN, Deconvolution, Sigmoid, BNLL,
 * AbsVal and Power: loss and every param gradient agree. */
static const char *net7_yaml =
    "name: issue7\n"
    "input: [data, label]\n"
    "input_shape: [{dim: [5, 3, 9, 8]}, {dim: [5]}]\n"
    "layer:\n"
    "  - {name: conv1, type: Convolution, bottom: data, top: conv1,\n"
    "     convolution_param: {num_output: 16, kernel_size: 3, pad: 1, bias_term: false,\n"
    "     weight_filler: {type: xavier}}}\n" /* a bias before BatchNorm has no gradient but rounding */
    "  - {name: bn1, type: BatchNorm, bottom: conv1, top: conv1}\n"
    "  - {name: sc1, type: Scale, bottom: conv1, top: conv1, scale_param: {bias_term: true,\n"
    "     filler: {type: uniform, min: 0.5, max: 1.5}, bias_filler: {type: uniform, min: -0.2, max: 0.2}}}\n"
    "  - {name: elu1, type: ELU, bottom: conv1, top: conv1}\n"
    "  - {name: norm1, type: LRN, bottom: conv1, top: norm1, lrn_param: {local_size: 5, alpha: 0.3, beta: 0.75}}\n"
    "  - {name: up, type: Deconvolution, bottom: norm1, top: up,\n"
    "     convolution_param: {num_output: 4, kernel_size: 4, stride: 2, pad: 1, weight_filler: {type: xavier}}}\n"
    "  - {name: sig, type: Sigmoid, bottom: up, top: up}\n"
    "  - {name: soft, type: BNLL, bottom: up, top: soft}\n"
    "  - {name: abs, type: AbsVal, bottom: soft, top: abs}\n"
    "  - {name: sq, type: Power, bottom: abs, top: abs, power_param: {power: 2, scale: 0.5}}\n"
    "  - {name: ip, type: InnerProduct, bottom: abs, top: ip, inner_product_param: {num_output: 4,\n"
    "     weight_filler: {type: xavier}}}\n"
    "  - {name: loss, type: SoftmaxWithLoss, bottom: [ip, label], top: loss}\n";

Test(dnnl, whole_net_of_the_new_primitives)
{
    cf_net *net[2];
    cf_error err;
    char buf[2048];
    float loss[2];
    cf_node *conf = tu_yaml(net7_yaml);
    cf_rng rng[2];
    long before = cf_dnnl_executions(backend_kind(DN));
    for (int k = 0; k < 2; k++) {
        cf_rng_seed(&rng[k], 3);
        cf_net_opts o = {.phase = CF_TRAIN, .be = backend_kind(k ? DN : REF), .rng = &rng[k]};
        net[k] = cf_net_build(conf, &o, &err);
        if (!net[k]) cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
        tu_fill(cf_net_blob(net[k], "data"), -1, 1, 9);
        float *lab = cf_blob_mdata(cf_net_blob(net[k], "label"));
        for (int i = 0; i < 5; i++) lab[i] = (float)(i % 4);
        /* two iterations: the second forward sees BatchNorm's running sums */
        for (int it = 0; it < 2; it++) {
            cf_net_clear_param_diffs(net[k], NULL);
            cr_assert_eq(cf_net_forward(net[k], &loss[k], &err), 0);
            cf_net_backward(net[k]);
        }
    }
    cr_assert_gt(cf_dnnl_executions(backend_kind(DN)), before);
    agree(&loss[1], &loss[0], 1, "loss", net7_yaml);
    cr_assert_eq(net[0]->nparams, net[1]->nparams);
    for (int p = 0; p < net[0]->nparams; p++) {
        const char *name = net[0]->layers[net[0]->params[p].layer].layer->name;
        agree(cf_blob_data(net[1]->params[p].blob), cf_blob_data(net[0]->params[p].blob),
              net[0]->params[p].blob->count, name, net7_yaml);
        agree(cf_blob_diff(net[1]->params[p].blob), cf_blob_diff(net[0]->params[p].blob),
              net[0]->params[p].blob->count, name, net7_yaml);
    }
    cf_net_free(net[0]);
    cf_net_free(net[1]);
}
