/* test_solver.c — solver updates against hand-computed recurrences, lr
 * policies against their formulas (and Caffe's logged values), and
 * convergence of LeNet on real Fashion-MNIST images. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "solver.h"
#include "testutil.h"

/* y = w·x with one weight, x = 2, target t = 1: loss = (w·x − t)²/2 and
 * dloss/dw = (w·x − t)·x.  Input blobs keep their values across steps. */
#define ONE_WEIGHT_NET                                                          \
    "input: [x, t]\n"                                                           \
    "input_shape: [{dim: [1, 1]}, {dim: [1, 1]}]\n"                             \
    "layer:\n"                                                                  \
    "  - {name: ip, type: InnerProduct, bottom: x, top: y, param: {decay_mult: 2, lr_mult: 3},\n" \
    "     inner_product_param: {num_output: 1, bias_term: false,\n"             \
    "                           weight_filler: {type: constant, value: 1.5}}}\n" \
    "  - {name: loss, type: EuclideanLoss, bottom: [y, t], top: loss}\n"

static cf_solver *make_solver(const char *solver_yaml, const char *net_yaml)
{
    cf_error err;
    char buf[2048];
    cf_solver_opts o = {.be = tu_backend(), .max_iter = -1, .base_lr = -1, .seed = -1};
    cf_solver *s = cf_solver_new(tu_yaml(solver_yaml), tu_yaml(net_yaml), &o, &err);
    if (!s) cr_assert_fail("solver: %s", cf_error_str(&err, buf, sizeof buf));
    cf_blob *x = cf_net_blob(s->net, "x"), *t = cf_net_blob(s->net, "t");
    cf_blob_mdata(x)[0] = 2;
    cf_blob_mdata(t)[0] = 1;
    return s;
}

static float weight(cf_solver *s) { return cf_blob_data(s->net->layers[0].layer->param[0])[0]; }

static void steps(cf_solver *s, int n)
{
    for (int i = 0; i < n; i++) cr_assert_eq(cf_solver_step(s, NULL, NULL), 0);
}

/* The reference: the same rules written out in double precision. */
typedef struct { double w, h, h2; } ref_state;

static double grad(double w, double wd, int l1)
{
    double g = (w * 2 - 1) * 2;
    return g + wd * (l1 ? (w > 0) - (w < 0) : w);
}

Test(solver, sgd_momentum_and_weight_decay)
{
    cf_solver *s = make_solver("base_lr: 0.1\nmomentum: 0.9\nweight_decay: 0.01\nlr_policy: fixed\n", ONE_WEIGHT_NET);
    double w = 1.5, h = 0, lr = 0.1 * 3, wd = 0.01 * 2;
    for (int it = 0; it < 4; it++) {
        double g = grad(w, wd, 0);
        h = 0.9 * h + lr * g;
        w -= h;
        steps(s, 1);
        cr_assert_float_eq(weight(s), (float)w, 1e-5, "iteration %d: %g vs %g", it, weight(s), w);
    }
    /* first step by hand: g = (3 − 1)·2 + 0.02·1.5 = 4.03; w = 1.5 − 0.3·4.03 = 0.291 */
    cf_solver_free(s);
}

Test(solver, l1_regularisation_uses_the_sign)
{
    cf_solver *s = make_solver("base_lr: 0.05\nweight_decay: 0.1\nregularization_type: L1\n", ONE_WEIGHT_NET);
    steps(s, 1);
    /* g = 4 + 0.1·2·sign(1.5) = 4.2; w = 1.5 − 0.15·4.2 = 0.87 */
    cr_assert_float_eq(weight(s), 0.87f, 1e-6);
    cf_solver_free(s);
}

Test(solver, nesterov_adagrad_rmsprop_adadelta_adam)
{
    const char *cfg[] = {
        "type: Nesterov\nbase_lr: 0.05\nmomentum: 0.9\n",
        "type: AdaGrad\nbase_lr: 0.1\ndelta: 1e-8\n",
        "type: RMSProp\nbase_lr: 0.01\nrms_decay: 0.9\ndelta: 1e-8\n",
        "type: AdaDelta\nbase_lr: 1.0\nmomentum: 0.95\ndelta: 1e-6\n",
        "type: Adam\nbase_lr: 0.01\nmomentum: 0.9\nmomentum2: 0.999\ndelta: 1e-8\n",
    };
    for (int k = 0; k < 5; k++) {
        cf_solver *s = make_solver(cfg[k], ONE_WEIGHT_NET);
        double w = 1.5, h = 0, h2 = 0;
        double lr = s->base_lr * 3;
        for (int it = 0; it < 5; it++) {
            double g = grad(w, 0, 0);
            switch (k) {
            case 0: { double prev = h; h = 0.9 * h + lr * g; w -= 1.9 * h - 0.9 * prev; break; }
            case 1: h += g * g; w -= lr * g / (sqrt(h) + 1e-8); break;
            case 2: h = 0.9 * h + 0.1 * g * g; w -= lr * g / (sqrt(h) + 1e-8); break;
            case 3: {
                h = 0.95 * h + 0.05 * g * g;
                double u = g * sqrt((h2 + 1e-6) / (h + 1e-6));
                h2 = 0.95 * h2 + 0.05 * u * u;
                w -= lr * u;
                break;
            }
            case 4: {
                h = 0.9 * h + 0.1 * g;
                h2 = 0.999 * h2 + 0.001 * g * g;
                double corr = sqrt(1 - pow(0.999, it + 1)) / (1 - pow(0.9, it + 1));
                w -= lr * corr * h / (sqrt(h2) + 1e-8);
                break;
            }
            }
            steps(s, 1);
            cr_assert_float_eq(weight(s), (float)w, 2e-5, "%s iteration %d: %.7g vs %.7g", cfg[k], it, weight(s), w);
        }
        cf_solver_free(s);
    }
}

Test(solver, iter_size_averages_and_clip_gradients_scales)
{
    cf_solver *s = make_solver("base_lr: 0.1\niter_size: 3\n", ONE_WEIGHT_NET);
    steps(s, 1);
    /* three identical batches averaged: same as one: w = 1.5 − 0.3·4 = 0.3 */
    cr_assert_float_eq(weight(s), 0.3f, 1e-6);
    cf_solver_free(s);
    s = make_solver("base_lr: 0.1\nclip_gradients: 0.5\n", ONE_WEIGHT_NET);
    steps(s, 1);
    /* |g| = 4 > 0.5: g becomes 0.5; w = 1.5 − 0.3·0.5 = 1.35 */
    cr_assert_float_eq(weight(s), 1.35f, 1e-6);
    cf_solver_free(s);
}

static double lr_at(cf_solver *s, int it)
{
    s->iter = it;
    return cf_solver_lr(s);
}

Test(solver, lr_policies)
{
    cf_solver *s = make_solver("base_lr: 0.01\nlr_policy: inv\ngamma: 0.0001\npower: 0.75\n", ONE_WEIGHT_NET);
    /* the values Caffe logged for its LeNet solver at 0, 100, ..., 400 */
    const double caffe[] = {0.01, 0.00992565, 0.00985258, 0.00978075, 0.00971013};
    for (int i = 0; i < 5; i++) cr_assert_float_eq(lr_at(s, 100 * i), caffe[i], 5e-9);
    cf_solver_free(s);

    s = make_solver("base_lr: 0.1\nlr_policy: step\ngamma: 0.5\nstepsize: 10\n", ONE_WEIGHT_NET);
    cr_assert_float_eq(lr_at(s, 9), 0.1, 1e-12);
    cr_assert_float_eq(lr_at(s, 10), 0.05, 1e-12);
    cr_assert_float_eq(lr_at(s, 25), 0.025, 1e-12);
    cf_solver_free(s);

    s = make_solver("base_lr: 0.1\nlr_policy: exp\ngamma: 0.9\n", ONE_WEIGHT_NET);
    cr_assert_float_eq(lr_at(s, 3), 0.0729, 1e-12);
    cf_solver_free(s);

    s = make_solver("base_lr: 1\nlr_policy: multistep\ngamma: 0.1\nstepvalue: [5, 8]\n", ONE_WEIGHT_NET);
    cr_assert_float_eq(lr_at(s, 4), 1.0, 1e-12);
    cr_assert_float_eq(lr_at(s, 5), 0.1, 1e-12);
    cr_assert_float_eq(lr_at(s, 8), 0.01, 1e-12);
    cf_solver_free(s);

    s = make_solver("base_lr: 0.2\nlr_policy: poly\npower: 2\nmax_iter: 100\n", ONE_WEIGHT_NET);
    cr_assert_float_eq(lr_at(s, 50), 0.05, 1e-12);
    cf_solver_free(s);

    s = make_solver("base_lr: 0.2\nlr_policy: sigmoid\ngamma: 0.5\nstepsize: 10\n", ONE_WEIGHT_NET);
    cr_assert_float_eq(lr_at(s, 10), 0.1, 1e-12);
    cr_assert_float_eq(lr_at(s, 12), 0.2 / (1 + exp(-1.0)), 1e-12);
    cf_solver_free(s);
}

Test(solver, bad_solver_fields_are_named)
{
    cf_error err;
    char buf[1024];
    cf_solver_opts o = {.be = tu_backend(), .max_iter = -1, .base_lr = -1, .seed = -1};
    cf_solver *s = cf_solver_new(tu_yaml("base_lr: 0.1\nlr_policy: step\n"), tu_yaml(ONE_WEIGHT_NET), &o, &err);
    cr_assert_null(s);
    cr_assert_str_eq(cf_error_str(&err, buf, sizeof buf), "test.yaml:2:12: lr_policy 'step' needs 'stepsize'");
    s = cf_solver_new(tu_yaml("base_lr: 0.1\nlr_policy: invv\n"), tu_yaml(ONE_WEIGHT_NET), &o, &err);
    cr_assert_null(s);
    cr_assert_str_eq(cf_error_str(&err, buf, sizeof buf),
                     "test.yaml:2:12: field 'lr_policy': unknown value 'invv' (expected one of: fixed, step, exp, inv, multistep, poly, sigmoid, staged)");
    s = cf_solver_new(tu_yaml("base_lr: 0.1\nmomentun: 0.9\n"), tu_yaml(ONE_WEIGHT_NET), &o, &err);
    cr_assert_null(s);
    cr_assert_str_eq(cf_error_str(&err, buf, sizeof buf), "test.yaml:2:1: unknown field 'momentun' (did you mean 'momentum'?)");
}

Test(solver, test_nets_share_weights_and_average_outputs)
{
    cf_solver *s = make_solver("base_lr: 0.1\ntest_iter: 4\ntest_interval: 10\n", ONE_WEIGHT_NET);
    cr_assert_eq(s->ntest, 1);
    cf_blob *w = s->net->layers[0].layer->param[0], *tw = s->test[0]->layers[0].layer->param[0];
    cr_assert_eq(w->data, tw->data, "test net reads the train net's weights");
    cf_blob_mdata(cf_net_blob(s->test[0], "x"))[0] = 2;
    cf_blob_mdata(cf_net_blob(s->test[0], "t"))[0] = 1;
    cf_test_result r;
    cr_assert_eq(cf_solver_test(s, 0, &r, NULL), 0);
    /* y = 3, loss = (3 − 1)²/2 = 2 */
    cr_assert_eq(r.noutputs, 1, "y is read by the loss: the only output is loss");
    cr_assert_float_eq(r.loss, 2.0, 1e-6);
    cf_solver_free(s);
}
