/* test_train_lenet.c — a small real training run: Caffe's LeNet and
 * solver on the first 3200 Fashion-MNIST training images, read from
 * Debian's dataset-fashion-mnist package.  The loss must fall well below
 * chance (ln 10 ≈ 2.30) within 150 iterations. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "idx.h"
#include "solver.h"
#include "testutil.h"

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

Test(train, lenet_learns_fashion_mnist, .timeout = 300)
{
    if (access(IMAGES, R_OK) != 0) cr_skip_test("%s missing: install dataset-fashion-mnist", IMAGES);
    cf_idx im, lb;
    cf_error err;
    char buf[1024];
    if (cf_idx_read(IMAGES, CF_IDX_IMAGES, &im, &err) || cf_idx_read(LABELS, CF_IDX_LABELS, &lb, &err))
        cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
    cf_solver_opts o = {.be = tu_backend(), .max_iter = -1, .base_lr = -1, .seed = -1};
    cf_solver *s = cf_solver_new(tu_yaml(solver), tu_yaml(lenet), &o, &err);
    if (!s) cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
    cf_blob *data = cf_net_blob(s->net, "data"), *label = cf_net_blob(s->net, "label");
    const int n = 3200, B = 64;
    double first = 0, last = 0;
    for (int it = 0; it < 150; it++) {
        float *d = cf_blob_mdata(data), *l = cf_blob_mdata(label);
        for (int b = 0; b < B; b++) {
            int k = (it * B + b) % n;
            for (int p = 0; p < 784; p++) d[b * 784 + p] = im.data[(size_t)k * 784 + p] * 0.00390625f;
            l[b] = lb.data[k];
        }
        float loss;
        cr_assert_eq(cf_solver_step(s, &loss, NULL), 0);
        cr_assert(isfinite(loss));
        if (it < 10) first += loss / 10;
        if (it >= 130) last += loss / 20;
    }
    cr_assert_gt(first, 1.8, "starts near chance: %g", first);
    cr_assert_lt(last, 1.0, "mean loss of iterations 130..149 is %g (chance is 2.30)", last);
    cf_solver_free(s);
    cf_idx_free(&im);
    cf_idx_free(&lb);
}
