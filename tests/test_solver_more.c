/* test_solver_more.c — Mocha's staged lr policy (values and errors), and
 * every solver type against a hand-computed recurrence over six steps,
 * with a snapshot/resume in the middle that must change nothing: three
 * steps, cf_snapshot_save, a fresh solver, cf_snapshot_load, three more
 * steps give the bits of six steps straight. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "snapshot.h"
#include "solver.h"
#include "testutil.h"

/* y = w1·x1 + w2·x2 + b with x = (2, −1), target t = 1:
 *     loss = (y − t)²/2,   dL/dw = (y − t)·x,   dL/db = y − t.
 * The weights have lr_mult 3, decay_mult 2; the bias lr_mult 2, decay_mult
 * 0, so each param's own multipliers are exercised. */
#define TWO_WEIGHT_NET                                                                          \
    "input: [x, t]\n"                                                                           \
    "input_shape: [{dim: [1, 2]}, {dim: [1, 1]}]\n"                                             \
    "layer:\n"                                                                                  \
    "  - {name: ip, type: InnerProduct, bottom: x, top: y,\n"                                   \
    "     param: [{lr_mult: 3, decay_mult: 2}, {lr_mult: 2, decay_mult: 0}],\n"                 \
    "     inner_product_param: {num_output: 1, weight_filler: {type: constant, value: 0.5},\n" \
    "                           bias_filler: {type: constant, value: 0.25}}}\n"                 \
    "  - {name: loss, type: EuclideanLoss, bottom: [y, t], top: loss}\n"

static const char *estr(const cf_error *e)
{
    static char buf[2048];
    return cf_error_str(e, buf, sizeof buf);
}

static cf_solver *make_solver(const char *solver_yaml, const char *net_yaml)
{
    cf_error err;
    cf_solver_opts o = {.be = tu_backend(), .max_iter = -1, .base_lr = -1, .seed = -1};
    cf_solver *s = cf_solver_new(tu_yaml(solver_yaml), tu_yaml(net_yaml), &o, &err);
    if (!s) cr_assert_fail("solver: %s", estr(&err));
    cf_blob *x = cf_net_blob(s->net, "x"), *t = cf_net_blob(s->net, "t");
    float *xd = cf_blob_mdata(x);
    xd[0] = 2;
    if (x->count > 1) xd[1] = -1;
    cf_blob_mdata(t)[0] = 1;
    return s;
}

static const char *solver_error(const char *solver_yaml)
{
    cf_error err;
    cf_solver_opts o = {.be = tu_backend(), .max_iter = -1, .base_lr = -1, .seed = -1};
    cf_solver *s = cf_solver_new(tu_yaml(solver_yaml), tu_yaml(TWO_WEIGHT_NET), &o, &err);
    cr_assert_null(s, "expected the solver to be refused");
    return estr(&err);
}

static void steps(cf_solver *s, int n)
{
    cf_error err;
    for (int i = 0; i < n; i++)
        if (cf_solver_step(s, NULL, &err)) cr_assert_fail("step: %s", estr(&err));
}

static double lr_at(cf_solver *s, int it)
{
    s->iter = it;
    return cf_solver_lr(s);
}

/* ---- staged ---- */

#define STAGED                                                         \
    "base_lr: 0.5\ngamma: 0.5\nlr_policy: staged\n"                    \
    "lr_stage:\n"                                                      \
    "  - {iters: 3, base_lr: 0.1}\n"                                   \
    "  - {iters: 4, lr_policy: step, base_lr: 1.0, stepsize: 2}\n"     \
    "  - {lr_policy: exp, gamma: 0.9}\n"

Test(staged, each_stage_rules_its_iterations_with_the_global_count)
{
    cf_solver *s = make_solver(STAGED, TWO_WEIGHT_NET);
    cr_assert_eq(s->nstage, 3);
    /* stage 0, iterations 0..2: fixed 0.1 */
    for (int it = 0; it < 3; it++) cr_expect_float_eq(lr_at(s, it), 0.1, 1e-15, "iter %d", it);
    /* stage 1, iterations 3..6: step at the run's iteration, γ from the solver:
     * 1.0 · 0.5^⌊it/2⌋ */
    cr_expect_float_eq(lr_at(s, 3), 0.5, 1e-15);
    cr_expect_float_eq(lr_at(s, 4), 0.25, 1e-15);
    cr_expect_float_eq(lr_at(s, 5), 0.25, 1e-15);
    cr_expect_float_eq(lr_at(s, 6), 0.125, 1e-15);
    /* last stage for ever: exp with its own γ, base_lr from the solver */
    cr_expect_float_eq(lr_at(s, 7), 0.5 * pow(0.9, 7), 1e-15);
    cr_expect_float_eq(lr_at(s, 100), 0.5 * pow(0.9, 100), 1e-20);
    /* a front end's lr factor applies on top */
    s->lr_scale = 0.5;
    cr_expect_float_eq(lr_at(s, 1), 0.05, 1e-15);
    cf_solver_free(s);
}

Test(staged, command_line_base_lr_and_max_iter_reach_the_stages_that_inherit_them)
{
    cf_error err;
    cf_solver_opts o = {.be = tu_backend(), .max_iter = 40, .base_lr = 2, .seed = -1};
    cf_solver *s = cf_solver_new(tu_yaml("base_lr: 0.5\nmax_iter: 20\nlr_policy: staged\npower: 1\n"
                                         "lr_stage: [{iters: 10, base_lr: 0.1}, {lr_policy: poly}]\n"),
                                 tu_yaml(TWO_WEIGHT_NET), &o, &err);
    if (!s) cr_assert_fail("%s", estr(&err));
    cr_expect_float_eq(lr_at(s, 5), 0.1, 1e-15, "its own base_lr stays");
    cr_expect_float_eq(lr_at(s, 10), 2 * (1 - 10 / 40.0), 1e-15, "poly with --base-lr 2 and --max-iter 40");
    cf_solver_free(s);
}

Test(staged, errors)
{
    cr_expect_str_eq(solver_error("base_lr: 0.1\nlr_policy: staged\n"),
                     "test.yaml:2:12: lr_policy 'staged' needs 'lr_stage': a list of stages such as "
                     "{iters: 1000, lr_policy: fixed, base_lr: 0.01}");
    cr_expect_str_eq(solver_error("lr_policy: staged\nlr_stage:\n  - {base_lr: 0.1}\n  - {base_lr: 0.01}\n"),
                     "test.yaml:3:5: lr_stage 0 needs 'iters' (how many iterations it lasts); only the last stage may "
                     "go without");
    cr_expect_str_eq(solver_error("lr_policy: staged\nlr_stage:\n  - {iters: 5, lr_policy: step}\n  - {base_lr: 0.01}\n"),
                     "test.yaml:3:27: lr_policy 'step' needs 'stepsize'");
    cr_expect_str_eq(solver_error("lr_policy: staged\nlr_stage:\n  - {iters: 5, lr_policy: staged}\n"),
                     "test.yaml:3:27: lr_stage 0: a stage cannot be staged itself");
    cr_expect_str_eq(solver_error("lr_policy: fixed\nlr_stage: [{iters: 5}]\n"),
                     "test.yaml:2:12: 'lr_stage' is for lr_policy 'staged' (this solver's lr_policy is 'fixed')");
    cr_expect_str_eq(solver_error("lr_policy: staged\nlr_stage: [{iter: 5}, {base_lr: 0.1}]\n"),
                     "test.yaml:2:12: lr_stage 0 needs 'iters' (how many iterations it lasts); only the last stage "
                     "may go without");
    cr_expect_str_eq(solver_error("lr_policy: staged\nlr_stage: [{base_lr: 0.1, iterz: 5}]\n"),
                     "test.yaml:2:27: unknown field 'iterz' (did you mean 'iters'?)");
    cr_expect_str_eq(solver_error("lr_policy: staged\nlr_stage: [{iters: 0}, {base_lr: 0.1}]\n"),
                     "test.yaml:2:20: field 'iters': 0 is out of range (must be 1..2147483647)");
    cr_expect_str_eq(solver_error("lr_policy: staged\nlr_stage: [5]\n"),
                     "test.yaml:2:12: lr_stage 0: expected a map such as {iters: 1000, lr_policy: fixed, base_lr: 0.01}");
    const char *msg = solver_error("lr_policy: stagd\n");
    cr_expect(strstr(msg, "unknown value 'stagd' (expected one of: fixed, step, exp, inv, multistep, poly, sigmoid, staged)"),
              "%s", msg);
}

/* ---- every solver: hand-computed recurrence, and resume in the middle ---- */

typedef struct {
    const char *name;
    const char *yaml;
    cf_solver_type type;
    double base_lr, mu, mu2, delta, rho, wd, clip;
    bool l1, staged;
    int iter_size;
} solver_case;

/* inv: base·(1 + 0.1·it)^−0.75, except the staged case:
 * 0.05 for iterations 0..1, then inv from 0.04 for 2..3, then 0.01 */
static double case_lr(const solver_case *c, int it)
{
    if (!c->staged) return c->base_lr * pow(1 + 0.1 * it, -0.75);
    if (it < 2) return 0.05;
    if (it < 4) return 0.04 * pow(1 + 0.1 * it, -0.75);
    return 0.01;
}

#define INV "lr_policy: inv\ngamma: 0.1\npower: 0.75\n"
static const solver_case cases[] = {
    {"SGD", "type: SGD\nmomentum: 0.9\nweight_decay: 0.01\nclip_gradients: 0.3\nlr_policy: staged\ngamma: 0.1\npower: 0.75\n"
            "lr_stage: [{iters: 2, base_lr: 0.05}, {iters: 2, lr_policy: inv, base_lr: 0.04}, {base_lr: 0.01}]\n",
     CF_SGD, 0, 0.9, 0, 0, 0, 0.01, 0.3, false, true, 1},
    {"Nesterov", "type: Nesterov\nbase_lr: 0.02\nmomentum: 0.9\nweight_decay: 0.01\nregularization_type: L1\n" INV,
     CF_NESTEROV, 0.02, 0.9, 0, 0, 0, 0.01, -1, true, false, 1},
    {"AdaGrad", "type: AdaGrad\nbase_lr: 0.1\ndelta: 1e-8\nweight_decay: 0.005\n" INV,
     CF_ADAGRAD, 0.1, 0, 0, 1e-8, 0, 0.005, -1, false, false, 1},
    {"RMSProp", "type: RMSProp\nbase_lr: 0.01\nrms_decay: 0.9\ndelta: 1e-8\niter_size: 2\n" INV,
     CF_RMSPROP, 0.01, 0, 0, 1e-8, 0.9, 0, -1, false, false, 2},
    {"AdaDelta", "type: AdaDelta\nbase_lr: 1.0\nmomentum: 0.95\ndelta: 1e-6\nweight_decay: 0.01\n" INV,
     CF_ADADELTA, 1.0, 0.95, 0, 1e-6, 0, 0.01, -1, false, false, 1},
    {"Adam", "type: Adam\nbase_lr: 0.01\nmomentum: 0.9\nmomentum2: 0.999\ndelta: 1e-8\nweight_decay: 0.001\n" INV,
     CF_ADAM, 0.01, 0.9, 0.999, 1e-8, 0, 0.001, -1, false, false, 1},
};

/* The three scalars (w1, w2, b) and their solver state, in double. */
typedef struct {
    double w[3], h[3], h2[3];
    int it;
} ref_state;

static const double lr_mult[3] = {3, 3, 2}, decay_mult[3] = {2, 2, 0};

static void ref_step(const solver_case *c, ref_state *r)
{
    double e = 2 * r->w[0] - r->w[1] + r->w[2] - 1, g[3] = {2 * e, -e, e};
    for (int k = 0; k < 3; k++) g[k] *= c->iter_size; /* iter_size identical passes, summed */
    if (c->clip > 0) {
        double norm = sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
        if (norm > c->clip)
            for (int k = 0; k < 3; k++) g[k] *= c->clip / norm;
    }
    double lr = case_lr(c, r->it);
    for (int k = 0; k < 3; k++) {
        double gk = g[k] / c->iter_size, w = r->w[k], *h = &r->h[k], *h2 = &r->h2[k];
        double wd = c->wd * decay_mult[k];
        gk += wd * (c->l1 ? (w > 0) - (w < 0) : w);
        double rate = lr * lr_mult[k];
        switch (c->type) {
        case CF_SGD: *h = c->mu * *h + rate * gk; r->w[k] -= *h; break;
        case CF_NESTEROV: {
            double prev = *h;
            *h = c->mu * *h + rate * gk;
            r->w[k] -= (1 + c->mu) * *h - c->mu * prev;
            break;
        }
        case CF_ADAGRAD: *h += gk * gk; r->w[k] -= rate * gk / (sqrt(*h) + c->delta); break;
        case CF_RMSPROP:
            *h = c->rho * *h + (1 - c->rho) * gk * gk;
            r->w[k] -= rate * gk / (sqrt(*h) + c->delta);
            break;
        case CF_ADADELTA: {
            *h = c->mu * *h + (1 - c->mu) * gk * gk;
            double u = gk * sqrt((*h2 + c->delta) / (*h + c->delta));
            *h2 = c->mu * *h2 + (1 - c->mu) * u * u;
            r->w[k] -= rate * u;
            break;
        }
        case CF_ADAM: {
            *h = c->mu * *h + (1 - c->mu) * gk;
            *h2 = c->mu2 * *h2 + (1 - c->mu2) * gk * gk;
            double t = r->it + 1, corr = sqrt(1 - pow(c->mu2, t)) / (1 - pow(c->mu, t));
            r->w[k] -= rate * corr * *h / (sqrt(*h2) + c->delta);
            break;
        }
        }
    }
    r->it++;
}

static void weights_of(cf_solver *s, float out[3])
{
    const cf_layer *ip = s->net->layers[0].layer;
    cr_assert_eq(ip->nparam, 2);
    out[0] = cf_blob_data(ip->param[0])[0];
    out[1] = cf_blob_data(ip->param[0])[1];
    out[2] = cf_blob_data(ip->param[1])[0];
}

/* Same weights and solver history, bit for bit. */
static void same_state(cf_solver *a, cf_solver *b, const char *what)
{
    for (int i = 0; i < a->net->nparams; i++) {
        const cf_blob *pa = a->net->params[i].blob, *pb = b->net->params[i].blob;
        size_t n = pa->count * sizeof(float);
        cr_assert_eq(memcmp(cf_blob_data(pa), cf_blob_data(pb), n), 0, "%s: param %d", what, i);
        cr_assert_eq(memcmp(cf_blob_data(a->history[i]), cf_blob_data(b->history[i]), n), 0, "%s: history %d", what, i);
        cr_assert_eq(!a->history2[i], !b->history2[i], "%s: history2 %d presence", what, i);
        if (a->history2[i]) cr_assert_eq(memcmp(cf_blob_data(a->history2[i]), cf_blob_data(b->history2[i]), n), 0, "%s: history2 %d", what, i);
    }
    cr_assert_eq(a->iter, b->iter, "%s: iteration", what);
}

Test(solver_resume, every_solver_matches_its_recurrence_and_resumes_exactly)
{
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const solver_case *c = &cases[k];
        cf_error err;
        char path[512];
        snprintf(path, sizeof path, "%s/%s.h5", tu_tmpdir(), c->name);

        /* straight: six steps, each against the recurrence */
        cf_solver *straight = make_solver(c->yaml, TWO_WEIGHT_NET);
        cr_assert_eq(straight->type, c->type, "%s", c->name);
        ref_state r = {.w = {0.5, 0.5, 0.25}};
        for (int it = 0; it < 6; it++) {
            ref_step(c, &r);
            steps(straight, 1);
            float w[3];
            weights_of(straight, w);
            for (int p = 0; p < 3; p++)
                cr_assert_float_eq(w[p], r.w[p], 2e-5 * fmax(1, fabs(r.w[p])), "%s iteration %d param %d: %.8g vs %.8g",
                                   c->name, it, p, w[p], r.w[p]);
        }

        /* interrupted: three steps, snapshot, a fresh solver loads it, three more */
        cf_solver *first = make_solver(c->yaml, TWO_WEIGHT_NET);
        steps(first, 3);
        if (cf_snapshot_save(first, path, &err)) cr_assert_fail("%s: save: %s", c->name, estr(&err));
        cf_solver *resumed = make_solver(c->yaml, TWO_WEIGHT_NET);
        if (cf_snapshot_load(resumed, path, &err)) cr_assert_fail("%s: load: %s", c->name, estr(&err));
        same_state(first, resumed, c->name);
        steps(resumed, 3);
        same_state(straight, resumed, c->name);
        cf_solver_free(first);
        cf_solver_free(resumed);
        cf_solver_free(straight);
    }
}

Test(solver_resume, a_fresh_solver_without_the_snapshot_would_differ)
{
    /* the check above has teeth: skipping the load (history lost) changes
     * the result of the last three steps for every solver */
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const solver_case *c = &cases[k];
        cf_solver *straight = make_solver(c->yaml, TWO_WEIGHT_NET), *fresh = make_solver(c->yaml, TWO_WEIGHT_NET);
        steps(straight, 3);
        /* copy the weights and iteration only, as if history were not saved */
        for (int i = 0; i < straight->net->nparams; i++) {
            cf_blob *src = straight->net->params[i].blob, *dst = fresh->net->params[i].blob;
            memcpy(cf_blob_mdata(dst), cf_blob_data(src), src->count * sizeof(float));
        }
        fresh->iter = straight->iter;
        steps(straight, 3);
        steps(fresh, 3);
        float a[3], b[3];
        weights_of(straight, a);
        weights_of(fresh, b);
        cr_expect_neq(memcmp(a, b, sizeof a), 0, "%s: history matters", c->name);
        cf_solver_free(straight);
        cf_solver_free(fresh);
    }
}
