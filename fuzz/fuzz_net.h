/* fuzz_net.h — the small solver the binary-format harnesses load their
 * inputs into (weights, snapshots), and that fuzz/mkseeds.c trains to
 * make their seeds, so that a seed gets past the shape checks into the
 * copying.  Its layers cover the cases the readers treat apart: a
 * convolution (4-axis weights), an inner product, BatchNorm (three
 * params, fixed), a param shared by name, and a Data-free input. */
#ifndef CF_FUZZ_NET_H
#define CF_FUZZ_NET_H

#include <stdlib.h>

#include "net.h"
#include "parse.h"
#include "solver.h"

static const char fuzz_recipe_yaml[] =
    "name: fuzz\n"
    "solver: {base_lr: 0.01, momentum: 0.9, lr_policy: fixed, max_iter: 2, type: Adam, random_seed: 7}\n"
    "net:\n"
    "  name: fuzz\n"
    "  layer:\n"
    "    - {name: data, type: DummyData, top: [data, label],\n"
    "       dummy_data_param: {shape: [{dim: [2, 1, 5, 5]}, {dim: [2]}],\n"
    "                          data_filler: [{type: gaussian}, {type: constant, value: 1}]}}\n"
    "    - {name: conv1, type: Convolution, bottom: data, top: conv1,\n"
    "       convolution_param: {num_output: 2, kernel_size: 3, weight_filler: {type: xavier}}}\n"
    "    - {name: ip1, type: InnerProduct, bottom: conv1, top: ip1,\n"
    "       inner_product_param: {num_output: 3, weight_filler: {type: xavier}}}\n"
    "    - {name: bn, type: BatchNorm, bottom: ip1, top: ip1}\n"
    "    - {name: shared, type: InnerProduct, bottom: ip1, top: ip2, param: [{name: w}],\n"
    "       inner_product_param: {num_output: 3, bias_term: false, weight_filler: {type: xavier}}}\n"
    "    - {name: shared2, type: InnerProduct, bottom: ip2, top: ip3, param: [{name: w}],\n"
    "       inner_product_param: {num_output: 3, bias_term: false}}\n"
    "    - {name: loss, type: SoftmaxWithLoss, bottom: [ip3, label], top: loss}\n";

/* The recipe's tree and a fresh solver on it (abort on failure: the
 * recipe is ours). */
static cf_solver *fuzz_solver(cf_backend *be)
{
    static cf_node *root;
    cf_error err;
    if (!root && !(root = cf_yaml_parse_string(fuzz_recipe_yaml, "fuzz_net.h", &err))) abort();
    cf_solver_opts o = {.be = be, .max_iter = -1, .base_lr = -1, .seed = -1};
    cf_solver *s = cf_solver_new(cf_node_get(root, "solver"), cf_node_get(root, "net"), &o, &err);
    if (!s) abort();
    return s;
}

#endif
