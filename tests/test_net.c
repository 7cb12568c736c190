/* test_net.c — net wiring: splits, in-place, sharing, phases, order,
 * loss weights, propagate_down, and the errors for bad graphs. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "net.h"
#include "testutil.h"

static cf_net *build(const char *yaml, cf_phase phase)
{
    cf_error err;
    char buf[2048];
    cf_net_opts o = {.phase = phase, .be = tu_backend(), .rng = tu_rng()};
    cf_net *n = cf_net_build(tu_yaml(yaml), &o, &err);
    if (!n) cr_assert_fail("net build failed: %s", cf_error_str(&err, buf, sizeof buf));
    return n;
}

static const char *build_error(const char *yaml, cf_phase phase)
{
    static char buf[2048];
    cf_error err;
    cf_net_opts o = {.phase = phase, .be = tu_backend(), .rng = tu_rng()};
    cf_net *n = cf_net_build(tu_yaml(yaml), &o, &err);
    cr_assert_null(n, "expected the net build to fail");
    return cf_error_str(&err, buf, sizeof buf);
}

static int count_type(const cf_net *n, const char *type)
{
    int c = 0;
    for (int i = 0; i < n->nlayers; i++)
        if (!strcmp(n->layers[i].layer->ops->type, type)) c++;
    return c;
}

/* Net-level central differences of the loss w.r.t. a blob's data. */
static void net_gradcheck_input(cf_net *n, const char *blob, double thr)
{
    cf_blob *x = cf_net_blob(n, blob);
    cr_assert_not_null(x);
    float loss;
    cr_assert_eq(cf_net_forward(n, &loss, NULL), 0);
    cf_net_clear_param_diffs(n, NULL);
    cf_net_backward(n);
    size_t cnt = x->count;
    float *an = malloc(cnt * sizeof(float));
    memcpy(an, cf_blob_diff(x), cnt * sizeof(float));
    for (size_t i = 0; i < cnt; i++) {
        float *d = cf_blob_mdata(x);
        float o = d[i], lp, lm;
        d[i] = o + 1e-2f;
        cf_net_forward(n, &lp, NULL);
        d = cf_blob_mdata(x);
        d[i] = o - 1e-2f;
        cf_net_forward(n, &lm, NULL);
        d = cf_blob_mdata(x);
        d[i] = o;
        double num = (lp - lm) / 2e-2;
        double e = fabs(num - an[i]) / fmax(fmax(fabs(num), fabs(an[i])), 1.0);
        cr_assert_leq(e, thr, "d loss / d %s[%zu]: analytic %g numeric %g", blob, i, an[i], num);
    }
    free(an);
}

#define INPUTS                                                                  \
    "name: t\n"                                                                 \
    "input: [x, t]\n"                                                           \
    "input_shape: [{dim: [2, 3]}, {dim: [2, 4]}]\n"                             \
    "force_backward: true\n"

Test(net, split_sums_gradients_of_a_blob_read_twice)
{
    cf_net *n = build(INPUTS
                      "layer:\n"
                      "  - {name: a, type: InnerProduct, bottom: x, top: a,\n"
                      "     inner_product_param: {num_output: 4, weight_filler: {type: gaussian, std: 0.5}}}\n"
                      "  - {name: b, type: InnerProduct, bottom: x, top: b,\n"
                      "     inner_product_param: {num_output: 4, weight_filler: {type: gaussian, std: 0.5}}}\n"
                      "  - {name: s, type: Eltwise, bottom: [a, b], top: s}\n"
                      "  - {name: loss, type: EuclideanLoss, bottom: [s, t], top: loss}\n",
                      CF_TRAIN);
    cr_assert_eq(count_type(n, "Split"), 1, "one split for x");
    tu_fill(cf_net_blob(n, "x"), -1, 1, 3);
    tu_fill(cf_net_blob(n, "t"), -1, 1, 4);
    net_gradcheck_input(n, "x", 1e-2);
    cf_net_free(n);
}

Test(net, in_place_layer_writes_its_bottom_blob)
{
    cf_net *n = build(INPUTS
                      "layer:\n"
                      "  - {name: a, type: InnerProduct, bottom: x, top: a,\n"
                      "     inner_product_param: {num_output: 4, weight_filler: {type: gaussian, std: 1}}}\n"
                      "  - {name: r, type: ReLU, bottom: a, top: a}\n"
                      "  - {name: loss, type: EuclideanLoss, bottom: [a, t], top: loss}\n",
                      CF_TRAIN);
    int r = cf_net_layer_id(n, "r");
    cr_assert_geq(r, 0);
    cr_assert_eq(n->layers[r].top[0], n->layers[r].bottom[0], "ReLU top is its bottom blob");
    tu_fill(cf_net_blob(n, "x"), -1, 1, 5);
    float loss;
    cr_assert_eq(cf_net_forward(n, &loss, NULL), 0);
    const float *a = cf_blob_data(cf_net_blob(n, "a"));
    for (int i = 0; i < 8; i++) cr_assert_geq(a[i], 0.0f);
    cf_net_free(n);
}

Test(net, shared_params_use_one_memory_and_sum_gradients)
{
    cf_net *n = build(INPUTS
                      "layer:\n"
                      "  - {name: a, type: InnerProduct, bottom: x, top: a, param: [{name: w}, {name: bias}],\n"
                      "     inner_product_param: {num_output: 4, weight_filler: {type: gaussian, std: 1}}}\n"
                      "  - {name: b, type: InnerProduct, bottom: x, top: b, param: [{name: w}, {name: bias}],\n"
                      "     inner_product_param: {num_output: 4}}\n"
                      "  - {name: s, type: Eltwise, bottom: [a, b], top: s}\n"
                      "  - {name: loss, type: EuclideanLoss, bottom: [s, t], top: loss}\n",
                      CF_TRAIN);
    cf_layer *a = n->layers[cf_net_layer_id(n, "a")].layer, *b = n->layers[cf_net_layer_id(n, "b")].layer;
    cr_assert_eq(a->param[0]->data, b->param[0]->data, "weights shared");
    cr_assert_eq(a->param[0]->diff, b->param[0]->diff, "gradients shared");
    int owners = 0;
    for (int i = 0; i < n->nparams; i++) owners += n->params[i].owner == i;
    cr_assert_eq(owners, 2, "two learnable params (w, bias), not four");
    /* s = 2 (W x + b): gradient of W is twice what one layer alone gives */
    tu_fill(cf_net_blob(n, "x"), -1, 1, 6);
    tu_fill(cf_net_blob(n, "t"), -1, 1, 7);
    float loss;
    cf_net_forward(n, &loss, NULL);
    cf_net_clear_param_diffs(n, NULL);
    cf_net_backward(n);
    const float *x = cf_blob_data(cf_net_blob(n, "x")), *t = cf_blob_data(cf_net_blob(n, "t"));
    const float *W = cf_blob_data(a->param[0]), *bb = cf_blob_data(a->param[1]);
    const float *dW = cf_blob_diff(a->param[0]);
    for (int o = 0; o < 4; o++)
        for (int k = 0; k < 3; k++) {
            double g = 0;
            for (int s = 0; s < 2; s++) {
                double y = bb[o];
                for (int j = 0; j < 3; j++) y += W[o * 3 + j] * x[s * 3 + j];
                g += (2 * y - t[s * 4 + o]) * 2 * x[s * 3 + k] / 2.0; /* d/dW of Σ(2y−t)²/(2N), N = 2 */
            }
            cr_assert_float_eq(dW[o * 3 + k], (float)g, 1e-4, "dW[%d][%d]", o, k);
        }
    cf_net_free(n);
}

#define PHASED                                                                   \
    "input: [x]\n"                                                               \
    "input_shape: {dim: [1, 2]}\n"                                               \
    "layer:\n"                                                                   \
    "  - {name: tr, type: ReLU, bottom: x, top: y, include: {phase: TRAIN}}\n"   \
    "  - {name: te, type: Sigmoid, bottom: x, top: y, include: {phase: TEST}}\n" \
    "  - {name: dbg, type: TanH, bottom: y, top: z, include: {phase: TEST, stage: debug}}\n" \
    "  - {name: notst, type: TanH, bottom: y, top: w, exclude: {phase: TEST}}\n"

Test(net, phase_and_stage_rules_pick_layers)
{
    cf_net *tr = build(PHASED, CF_TRAIN);
    cr_assert_eq(tr->nlayers, 2);
    cr_assert_str_eq(tr->layers[0].layer->name, "tr");
    cr_assert_str_eq(tr->layers[1].layer->name, "notst");
    cf_net *te = build(PHASED, CF_TEST);
    cr_assert_eq(te->nlayers, 1);
    cr_assert_str_eq(te->layers[0].layer->name, "te");
    cf_error err;
    const char *st[] = {"debug"};
    cf_net_opts o = {.phase = CF_TEST, .be = tu_backend(), .rng = tu_rng(), .stages = st, .nstages = 1};
    cf_net *dbg = cf_net_build(tu_yaml(PHASED), &o, &err);
    cr_assert_not_null(dbg);
    cr_assert_eq(dbg->nlayers, 2);
    cf_net_free(tr);
    cf_net_free(te);
    cf_net_free(dbg);
}

Test(net, layers_listed_out_of_order_are_sorted)
{
    cf_net *n = build("input: [x]\ninput_shape: {dim: [1, 2]}\n"
                      "layer:\n"
                      "  - {name: second, type: TanH, bottom: h, top: out}\n"
                      "  - {name: first, type: ReLU, bottom: x, top: h}\n",
                      CF_TRAIN);
    cr_assert_str_eq(n->layers[0].layer->name, "first");
    cr_assert_str_eq(n->layers[1].layer->name, "second");
    cf_net_free(n);
}

Test(net, undefined_bottom_is_an_error_at_its_position)
{
    const char *m = build_error("input: [x]\ninput_shape: {dim: [1, 2]}\n"
                                "layer:\n"
                                "  - name: r\n"
                                "    type: ReLU\n"
                                "    bottom: nope\n"
                                "    top: y\n",
                                CF_TRAIN);
    cr_assert_str_eq(m, "test.yaml:6:13: layer 'r': bottom 'nope' is not produced by any layer");
}

Test(net, cycle_is_an_error)
{
    const char *m = build_error("layer:\n"
                                "  - {name: a, type: ReLU, bottom: q, top: p}\n"
                                "  - {name: b, type: ReLU, bottom: p, top: q}\n",
                                CF_TRAIN);
    cr_assert_str_eq(m, "test.yaml:2:5: layers 'a', 'b' form a cycle");
}

Test(net, two_producers_of_a_name_is_an_error)
{
    const char *m = build_error("input: [x]\ninput_shape: {dim: [1, 2]}\n"
                                "layer:\n"
                                "  - {name: a, type: ReLU, bottom: x, top: y}\n"
                                "  - {name: b, type: TanH, bottom: x, top: y}\n",
                                CF_TRAIN);
    cr_assert_str_eq(m, "test.yaml:5:43: layer 'b': top 'y' is already produced by layer 'a' (only an in-place layer may reuse a name)");
}

Test(net, unknown_layer_type_and_field_are_named)
{
    const char *m = build_error("input: [x]\ninput_shape: {dim: [1, 2]}\n"
                                "layer:\n  - {name: a, type: Relu, bottom: x, top: y}\n",
                                CF_TRAIN);
    cr_assert_str_eq(m, "test.yaml:4:21: layer 'a': unknown layer type 'Relu' (did you mean 'ReLU'?)");
    m = build_error("input: [x]\ninput_shape: {dim: [1, 1, 5, 5]}\n"
                    "layer:\n"
                    "  - name: c\n"
                    "    type: Convolution\n"
                    "    bottom: x\n"
                    "    top: y\n"
                    "    convolution_param: {num_output: 2, kernal_size: 3, kernel_size: 3}\n",
                    CF_TRAIN);
    cr_assert_str_eq(m, "test.yaml:8:40: layer 'c': unknown field 'kernal_size' (did you mean 'kernel_size'?)");
}

Test(net, loss_weight_scales_loss_and_gradient)
{
    const char *base = INPUTS
        "layer:\n"
        "  - {name: a, type: InnerProduct, bottom: x, top: a,\n"
        "     inner_product_param: {num_output: 4, weight_filler: {type: gaussian, std: 1}}}\n"
        "  - {name: loss, type: EuclideanLoss, bottom: [a, t], top: loss%s}\n";
    char y1[2048], y2[2048];
    snprintf(y1, sizeof y1, base, "");
    snprintf(y2, sizeof y2, base, ", loss_weight: 2.5");
    cf_rng_seed(tu_rng(), 9);
    cf_net *n1 = build(y1, CF_TRAIN);
    cf_rng_seed(tu_rng(), 9);
    cf_net *n2 = build(y2, CF_TRAIN);
    tu_fill(cf_net_blob(n1, "x"), -1, 1, 1);
    tu_fill(cf_net_blob(n2, "x"), -1, 1, 1);
    tu_fill(cf_net_blob(n1, "t"), -1, 1, 2);
    tu_fill(cf_net_blob(n2, "t"), -1, 1, 2);
    float l1, l2;
    cf_net_forward(n1, &l1, NULL);
    cf_net_forward(n2, &l2, NULL);
    cr_assert_float_eq(l2, 2.5f * l1, 1e-5);
    cf_net_clear_param_diffs(n1, NULL);
    cf_net_clear_param_diffs(n2, NULL);
    cf_net_backward(n1);
    cf_net_backward(n2);
    const float *g1 = cf_blob_diff(n1->layers[0].layer->param[0]), *g2 = cf_blob_diff(n2->layers[0].layer->param[0]);
    for (int i = 0; i < 12; i++) cr_assert_float_eq(g2[i], 2.5f * g1[i], 1e-5);
    cf_net_free(n1);
    cf_net_free(n2);
}

Test(net, propagate_down_false_stops_the_gradient)
{
    cf_net *n = build("input: [x, t]\ninput_shape: [{dim: [2, 3]}, {dim: [2, 4]}]\nforce_backward: true\n"
                      "layer:\n"
                      "  - {name: a, type: InnerProduct, bottom: x, top: a, propagate_down: false,\n"
                      "     inner_product_param: {num_output: 4, weight_filler: {type: gaussian, std: 1}}}\n"
                      "  - {name: loss, type: EuclideanLoss, bottom: [a, t], top: loss}\n",
                      CF_TRAIN);
    cf_net_layer *a = &n->layers[cf_net_layer_id(n, "a")];
    cr_assert_not(a->prop_down[0]);
    cr_assert(a->need_backward, "weights still learn");
    cf_net_free(n);
}

Test(net, layers_off_the_loss_path_skip_backward)
{
    cf_net *n = build("input: [x, t]\ninput_shape: [{dim: [2, 3]}, {dim: [2]}]\n"
                      "layer:\n"
                      "  - {name: a, type: InnerProduct, bottom: x, top: a,\n"
                      "     inner_product_param: {num_output: 4, weight_filler: {type: gaussian, std: 1}}}\n"
                      "  - {name: sm, type: Softmax, bottom: a, top: p}\n"
                      "  - {name: acc, type: Accuracy, bottom: [a, t], top: acc}\n"
                      "  - {name: loss, type: SoftmaxWithLoss, bottom: [a, t], top: loss}\n",
                      CF_TRAIN);
    cr_assert_not(n->layers[cf_net_layer_id(n, "sm")].need_backward, "softmax output feeds no loss");
    cr_assert(n->layers[cf_net_layer_id(n, "a")].need_backward);
    cr_assert_not(n->layers[cf_net_layer_id(n, "loss")].prop_down[1], "labels get no gradient");
    /* outputs: p, acc, loss */
    cr_assert_eq(n->noutputs, 3);
    cf_net_free(n);
}

/* ---- cafetui gradcheck's engine side ---- */

typedef struct { char worst_layer[64]; double worst; } gc_seen;

static void seen(void *ctx, const cf_layer *l, const cf_gradcheck_result *r)
{
    gc_seen *g = ctx;
    if (r->worst > g->worst) {
        g->worst = r->worst;
        snprintf(g->worst_layer, sizeof g->worst_layer, "%s", l->name);
    }
}

static cf_layer_ops broken_tanh;

/* TanH's backward, off by a factor of 1.5 */
static void broken_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    cf_layer_find("TanH")->backward(l, top, nt, prop, bottom, nb);
    float *d = cf_blob_mdiff(bottom[0]);
    for (size_t i = 0; i < bottom[0]->count; i++) d[i] *= 1.5f;
}

Test(gradcheck, net_check_passes_and_finds_a_broken_backward)
{
    const char *y = "input: [x, t]\ninput_shape: [{dim: [3, 5]}, {dim: [3]}]\n"
                    "layer:\n"
                    "  - {name: a, type: InnerProduct, bottom: x, top: a,\n"
                    "     inner_product_param: {num_output: 6, weight_filler: {type: gaussian, std: 0.7}}}\n"
                    "  - {name: th, type: TanH, bottom: a, top: a}\n"
                    "  - {name: b, type: InnerProduct, bottom: a, top: b,\n"
                    "     inner_product_param: {num_output: 4, weight_filler: {type: gaussian, std: 0.7}}}\n"
                    "  - {name: loss, type: SoftmaxWithLoss, bottom: [b, t], top: loss}\n";
    cf_net *n = build(y, CF_TRAIN);
    tu_fill(cf_net_blob(n, "x"), -1, 1, 11);
    float *t = cf_blob_mdata(cf_net_blob(n, "t"));
    t[0] = 1, t[1] = 3, t[2] = 0;
    cf_gradcheck_opts o = {.step = 1e-2, .skip_kinks = true, .kink_tol = 1e-2};
    gc_seen g = {"", 0};
    double worst;
    cr_assert_eq(cf_gradcheck_net(n, &o, seen, &g, &worst, NULL), 0);
    cr_assert_lt(worst, 1e-2, "a correct net passes (worst %g in '%s')", worst, g.worst_layer);

    int th = cf_net_layer_id(n, "th");
    broken_tanh = *n->layers[th].layer->ops;
    broken_tanh.backward = broken_backward;
    n->layers[th].layer->ops = &broken_tanh;
    g = (gc_seen){"", 0};
    cr_assert_eq(cf_gradcheck_net(n, &o, seen, &g, &worst, NULL), 0);
    cr_assert_gt(worst, 0.2, "the broken backward is caught (worst %g)", worst);
    cr_assert_str_eq(g.worst_layer, "th");
    n->layers[th].layer->ops = cf_layer_find("TanH");
    cf_net_free(n);
}

Test(net, mocha_neuron_shorthand_adds_an_in_place_activation)
{
    cf_net *n = build("input: [x]\ninput_shape: {dim: [2, 3]}\n"
                      "layer:\n"
                      "  - {name: a, type: InnerProduct, bottom: x, top: a, neuron: ReLU,\n"
                      "     inner_product_param: {num_output: 4, weight_filler: {type: gaussian, std: 1}}}\n"
                      "  - {name: b, type: InnerProduct, bottom: a, top: b, neuron: {type: LReLU},\n"
                      "     inner_product_param: {num_output: 4, weight_filler: {type: gaussian, std: 1}}}\n"
                      "  - {name: c, type: InnerProduct, bottom: b, top: c, neuron: Identity,\n"
                      "     inner_product_param: {num_output: 2}}\n",
                      CF_TRAIN);
    cr_assert_eq(n->nlayers, 5, "a, a_neuron, b, b_neuron, c");
    int an = cf_net_layer_id(n, "a_neuron"), bn = cf_net_layer_id(n, "b_neuron");
    cr_assert_eq(an, 1);
    cr_assert_str_eq(n->layers[an].layer->ops->type, "ReLU");
    cr_assert_eq(n->layers[an].top[0], n->layers[an].bottom[0], "in place");
    tu_fill(cf_net_blob(n, "x"), -1, 1, 3);
    cr_assert_eq(cf_net_forward(n, NULL, NULL), 0);
    const float *a = cf_blob_data(cf_net_blob(n, "a")), *b = cf_blob_data(cf_net_blob(n, "b"));
    bool neg = false;
    for (int i = 0; i < 8; i++) {
        cr_assert_geq(a[i], 0.0f);
        if (b[i] < 0) neg = true;
    }
    cr_assert_str_eq(n->layers[bn].layer->ops->type, "ReLU");
    (void)neg; /* LReLU lets small negatives through (slope 0.01) */
    cf_net_free(n);
    const char *m = build_error("input: [x]\ninput_shape: {dim: [2, 3]}\n"
                                "layer:\n  - {name: a, type: InnerProduct, bottom: x, top: a, neuron: Concat,\n"
                                "     inner_product_param: {num_output: 4}}\n",
                                CF_TRAIN);
    cr_assert_str_eq(m, "test.yaml:4:62: layer 'a': neuron: 'Concat' is not an in-place activation layer");
}

Test(net, a_bad_value_is_reported_before_fields_not_yet_read)
{
    const char *m = build_error("input: [x]\ninput_shape: {dim: [2, 3]}\n"
                                "layer:\n  - {name: a, type: InnerProduct, bottom: x, top: a,\n"
                                "     inner_product_param: {num_output: two, weight_filler: {type: xavier}}}\n",
                                CF_TRAIN);
    cr_assert_str_eq(m, "test.yaml:5:40: layer 'a': field 'num_output': expected an integer, got 'two'");
}

Test(net, repeated_names_are_allowed_unless_both_hold_weights)
{
    cf_net *n = build("input: [x]\ninput_shape: {dim: [1, 2]}\n"
                      "layer:\n"
                      "  - {name: act, type: ReLU, bottom: x, top: y}\n"
                      "  - {name: act, type: TanH, bottom: x, top: z}\n",
                      CF_TRAIN);
    cr_assert_eq(n->nlayers, 3, "two activations and the split of x");
    cf_net_free(n);
    const char *m = build_error("input: [x]\ninput_shape: {dim: [1, 2]}\n"
                                "layer:\n"
                                "  - {name: ip, type: InnerProduct, bottom: x, top: y, inner_product_param: {num_output: 2}}\n"
                                "  - {name: ip, type: InnerProduct, bottom: x, top: z, inner_product_param: {num_output: 2}}\n",
                                CF_TRAIN);
    cr_assert_str_eq(m, "test.yaml:5:12: two layers with weights are named 'ip' (weights are matched by layer name)");
}
