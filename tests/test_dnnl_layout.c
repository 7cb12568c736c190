/* test_dnnl_layout.c — activations kept in oneDNN's blocked layouts
 * (the default with oneDNN; CAFETUI_DNNL_BLOCKED=0 turns it off,
 * dnnl_layers.h) give what the reference path gives.
 *
 * Small nets are built twice on the same configuration and inputs: on a
 * backend with oneDNN off (CAFETUI_DNNL=0, the layers' own code) and on
 * one with blocked activations.  After a forward and a backward pass
 * every blob's data and diff, read from outside through cf_blob_data and
 * cf_blob_diff (which must reorder a blocked side back to NCHW), and
 * every param gradient must agree within float tolerance; then a few SGD
 * steps through the solver must keep the weights together.  The nets have
 * channel counts that are not multiples of the block (padding lanes),
 * odd batches cut into two slices, an in-place ReLU on a convolution's
 * top, a split whose consumers are both convolutions (its backward sums
 * blocked diffs), MAX and AVE pooling on blocked bottoms, and layers
 * without oneDNN in the middle of a chain (Scale, Eltwise), which read and
 * write NCHW.  The test sets the CAFETUI_DNNL variables itself. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl/dnnl_layers.h"
#include "net.h"
#include "solver.h"
#include "testutil.h"

enum { REF, BLK };
static cf_backend *backend_kind(int kind)
{
    static cf_backend *be[2];
    if (!be[kind]) {
        setenv("CAFETUI_DNNL", kind == REF ? "0" : "1", 1);
        setenv("CAFETUI_DNNL_BLOCKED", kind == BLK ? "1" : "0", 1);
        unsetenv("CAFETUI_DNNL_POOL");
        unsetenv("CAFETUI_DNNL_OMP");
        be[kind] = cf_backend_cpu_new(2);
        unsetenv("CAFETUI_DNNL");
        unsetenv("CAFETUI_DNNL_BLOCKED");
    }
    return be[kind];
}

/* a and b (n values) agree: |a − b| <= tol · max(|b|, 0.01 · max|b|). */
static void agree(const float *a, const float *b, size_t n, float tol, const char *what, const char *name)
{
    float big = 0;
    for (size_t i = 0; i < n; i++) big = fmaxf(big, fabsf(b[i]));
    for (size_t i = 0; i < n; i++) {
        float t = tol * fmaxf(fabsf(b[i]), 0.01f * big);
        cr_assert_leq(fabsf(a[i] - b[i]), t, "%s of '%s' [%zu]: blocked %.9g, reference %.9g (tolerance %.3g)", what,
                      name, i, a[i], b[i], t);
    }
}

/* conv1 (12 channels: padded to 16 in 8-blocks) → ReLU in place → MAX
 * pool (Caffe's rounded-up size) → split into conv2 and conv3 → ReLU in
 * place → AVE pool / MAX pool → two inner products → Eltwise sum → loss. */
static const char *chain_yaml =
    "name: chain\n"
    "input: [data, label]\n"
    "input_shape: [{dim: [5, 3, 13, 11]}, {dim: [5]}]\n"
    "layer:\n"
    "  - {name: conv1, type: Convolution, bottom: data, top: conv1,\n"
    "     convolution_param: {num_output: 12, kernel_size: 3, pad: 1, weight_filler: {type: xavier},\n"
    "                         bias_filler: {type: uniform, min: -0.1, max: 0.1}}}\n"
    "  - {name: relu1, type: ReLU, bottom: conv1, top: conv1}\n"
    "  - {name: pool1, type: Pooling, bottom: conv1, top: pool1, pooling_param: {pool: MAX, kernel_size: 3, stride: 2}}\n"
    "  - {name: conv2, type: Convolution, bottom: pool1, top: conv2,\n"
    "     convolution_param: {num_output: 16, kernel_size: 3, pad: 1, weight_filler: {type: xavier}}}\n"
    "  - {name: relu2, type: ReLU, bottom: conv2, top: conv2, relu_param: {negative_slope: 0.1}}\n"
    "  - {name: pool2, type: Pooling, bottom: conv2, top: pool2, pooling_param: {pool: AVE, kernel_size: 2, stride: 2}}\n"
    "  - {name: conv3, type: Convolution, bottom: pool1, top: conv3,\n"
    "     convolution_param: {num_output: 24, kernel_size: 2, weight_filler: {type: xavier}}}\n"
    "  - {name: pool3, type: Pooling, bottom: conv3, top: pool3, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}\n"
    "  - {name: ipa, type: InnerProduct, bottom: pool2, top: ipa, inner_product_param: {num_output: 4,\n"
    "     weight_filler: {type: xavier}}}\n"
    "  - {name: ipb, type: InnerProduct, bottom: pool3, top: ipb, inner_product_param: {num_output: 4,\n"
    "     weight_filler: {type: xavier}}}\n"
    "  - {name: sum, type: Eltwise, bottom: [ipa, ipb], top: sum}\n"
    "  - {name: loss, type: SoftmaxWithLoss, bottom: [sum, label], top: loss}\n";

/* Layers without oneDNN inside a chain: Scale reads a blocked top as
 * NCHW and hands conv2 an NCHW bottom; conv2's bottom diff goes back to
 * Scale blocked; ReLU not in place; an inner product straight on a
 * convolution's top. */
static const char *mixed_yaml =
    "name: mixed\n"
    "input: [data, label]\n"
    "input_shape: [{dim: [3, 4, 9, 10]}, {dim: [3]}]\n"
    "layer:\n"
    "  - {name: conv1, type: Convolution, bottom: data, top: conv1,\n"
    "     convolution_param: {num_output: 8, kernel_size: 3, weight_filler: {type: xavier}}}\n"
    "  - {name: scale, type: Scale, bottom: conv1, top: scaled, scale_param: {bias_term: true,\n"
    "     filler: {type: uniform, min: 0.5, max: 1.5}, bias_filler: {type: uniform, min: -0.1, max: 0.1}}}\n"
    "  - {name: conv2, type: Convolution, bottom: scaled, top: conv2,\n"
    "     convolution_param: {num_output: 16, kernel_size: 3, pad: 1, stride: 2, weight_filler: {type: xavier}}}\n"
    "  - {name: relu2, type: ReLU, bottom: conv2, top: relu2}\n"
    "  - {name: pool2, type: Pooling, bottom: relu2, top: pool2, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}\n"
    "  - {name: ip, type: InnerProduct, bottom: conv2, top: ip, inner_product_param: {num_output: 5,\n"
    "     weight_filler: {type: xavier}}}\n"
    "  - {name: ip2, type: InnerProduct, bottom: pool2, top: ip2, inner_product_param: {num_output: 5,\n"
    "     weight_filler: {type: xavier}}}\n"
    "  - {name: sum, type: Eltwise, bottom: [ip, ip2], top: sum}\n"
    "  - {name: loss, type: SoftmaxWithLoss, bottom: [sum, label], top: loss}\n";

static cf_net *build(const char *yaml, int kind, cf_rng *rng)
{
    cf_error err;
    char buf[2048];
    cf_rng_seed(rng, 3);
    cf_net_opts o = {.phase = CF_TRAIN, .be = backend_kind(kind), .rng = rng};
    cf_net *net = cf_net_build(tu_yaml(yaml), &o, &err);
    if (!net) cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
    return net;
}

static void inputs(cf_net *net)
{
    cf_blob *data = cf_net_blob(net, "data"), *label = cf_net_blob(net, "label");
    tu_fill(data, -1, 1, 9);
    float *lab = cf_blob_mdata(label);
    for (size_t i = 0; i < label->count; i++) lab[i] = (float)(i % 4);
}

/* Does any blob of the net hold its data (diff) newest in a blocked side? */
static int blocked_blobs(const cf_net *net, bool diff)
{
    int n = 0;
    for (int i = 0; i < net->nblobs; i++) n += (diff ? net->blobs[i]->diff : net->blobs[i]->data)->alt_newest;
    return n;
}

/* One forward and backward on both backends, then every blob and every
 * param gradient compared. */
static void compare_pass(const char *yaml)
{
    cf_net *net[2];
    cf_rng rng[2];
    float loss[2];
    cf_error err;
    long before = cf_dnnl_executions(backend_kind(BLK));
    for (int k = 0; k < 2; k++) {
        net[k] = build(yaml, k, &rng[k]);
        inputs(net[k]);
        cf_net_clear_param_diffs(net[k], NULL);
        cr_assert_eq(cf_net_forward(net[k], &loss[k], &err), 0);
        cf_net_backward(net[k]);
    }
    cr_assert_gt(cf_dnnl_executions(backend_kind(BLK)), before);
    /* the blocked layouts were really used: data and diffs left blocked
     * (nothing read them since), none on the reference side */
    cr_assert_gt(blocked_blobs(net[BLK], false), 0);
    cr_assert_gt(blocked_blobs(net[BLK], true), 0);
    cr_assert_eq(blocked_blobs(net[REF], false) + blocked_blobs(net[REF], true), 0);
    agree(&loss[BLK], &loss[REF], 1, 1e-5f, "value", "loss");
    cr_assert_eq(net[REF]->nblobs, net[BLK]->nblobs);
    for (int i = 0; i < net[REF]->nblobs; i++) {
        cf_blob *r = net[REF]->blobs[i], *b = net[BLK]->blobs[i];
        cr_assert(cf_blob_same_shape(r, b));
        const char *name = r->name ? r->name : "?";
        agree(cf_blob_data(b), cf_blob_data(r), r->count, 1e-4f, "data", name);
        cr_assert(!b->data->alt_newest, "reading '%s' left its blocked side newest", name);
        agree(cf_blob_diff(b), cf_blob_diff(r), r->count, 1e-4f, "diff", name);
    }
    cr_assert_eq(net[REF]->nparams, net[BLK]->nparams);
    for (int p = 0; p < net[REF]->nparams; p++)
        agree(cf_blob_diff(net[BLK]->params[p].blob), cf_blob_diff(net[REF]->params[p].blob),
              net[REF]->params[p].blob->count, 1e-4f, "gradient",
              net[REF]->layers[net[REF]->params[p].layer].layer->name);
    /* a second pass after everything was read back (the NCHW sides are
     * current, the blocked ones stale until written again) agrees too */
    for (int k = 0; k < 2; k++) {
        cf_net_clear_param_diffs(net[k], NULL);
        cr_assert_eq(cf_net_forward(net[k], &loss[k], &err), 0);
        cf_net_backward(net[k]);
    }
    agree(&loss[BLK], &loss[REF], 1, 1e-5f, "value", "loss (second pass)");
    for (int p = 0; p < net[REF]->nparams; p++)
        agree(cf_blob_diff(net[BLK]->params[p].blob), cf_blob_diff(net[REF]->params[p].blob),
              net[REF]->params[p].blob->count, 1e-4f, "gradient (second pass)",
              net[REF]->layers[net[REF]->params[p].layer].layer->name);
    cf_net_free(net[0]);
    cf_net_free(net[1]);
}

Test(dnnl_layout, chain_with_split_and_in_place_relu) { compare_pass(chain_yaml); }

Test(dnnl_layout, layers_without_onednn_in_the_chain) { compare_pass(mixed_yaml); }

/* A middle blob read from outside between forward and backward (as the
 * monitor's statistics do) is NCHW, and backward still agrees after it. */
Test(dnnl_layout, outside_read_between_passes)
{
    cf_net *net[2];
    cf_rng rng[2];
    float loss[2];
    cf_error err;
    for (int k = 0; k < 2; k++) {
        net[k] = build(chain_yaml, k, &rng[k]);
        inputs(net[k]);
        cf_net_clear_param_diffs(net[k], NULL);
        cr_assert_eq(cf_net_forward(net[k], &loss[k], &err), 0);
    }
    cf_blob *b = cf_net_blob(net[BLK], "pool1");
    cr_assert(b->data->alt_newest, "pool1 should be left blocked by the forward pass");
    /* NCHW as the reference has it, value for value */
    agree(cf_blob_data(b), cf_blob_data(cf_net_blob(net[REF], "pool1")), b->count, 1e-4f, "data", "pool1");
    cr_assert(!b->data->alt_newest);
    for (int k = 0; k < 2; k++) cf_net_backward(net[k]);
    for (int p = 0; p < net[REF]->nparams; p++)
        agree(cf_blob_diff(net[BLK]->params[p].blob), cf_blob_diff(net[REF]->params[p].blob),
              net[REF]->params[p].blob->count, 1e-4f, "gradient",
              net[REF]->layers[net[REF]->params[p].layer].layer->name);
    cf_net_free(net[0]);
    cf_net_free(net[1]);
}

/* SGD with momentum and weight decay through the solver: the weights
 * (kept NCHW) stay together over a few steps. */
Test(dnnl_layout, sgd_steps_agree)
{
    cf_solver *s[2];
    cf_error err;
    char buf[2048];
    for (int k = 0; k < 2; k++) {
        cf_solver_opts o = {.be = backend_kind(k), .max_iter = -1, .base_lr = -1, .seed = 5};
        s[k] = cf_solver_new(tu_yaml("base_lr: 0.05\nmomentum: 0.9\nweight_decay: 0.001\nlr_policy: fixed\n"),
                             tu_yaml(chain_yaml), &o, &err);
        if (!s[k]) cr_assert_fail("solver: %s", cf_error_str(&err, buf, sizeof buf));
        inputs(s[k]->net);
    }
    for (int it = 0; it < 4; it++) {
        float loss[2];
        for (int k = 0; k < 2; k++) cr_assert_eq(cf_solver_step(s[k], &loss[k], &err), 0);
        agree(&loss[BLK], &loss[REF], 1, 1e-4f, "value", "loss");
        for (int p = 0; p < s[REF]->net->nparams; p++)
            agree(cf_blob_data(s[BLK]->net->params[p].blob), cf_blob_data(s[REF]->net->params[p].blob),
                  s[REF]->net->params[p].blob->count, 1e-4f, "weights",
                  s[REF]->net->layers[s[REF]->net->params[p].layer].layer->name);
    }
    cf_solver_free(s[0]);
    cf_solver_free(s[1]);
}
