/* solver.c — see solver.h.  Update rules as documented for Caffe's
 * solvers (g = gradient after regularisation, r = lr · lr_mult):
 *   SGD       v ← μv + r·g;                w ← w − v
 *   Nesterov  v' ← μv + r·g;               w ← w − ((1+μ)v' − μv)
 *   AdaGrad   h ← h + g²;                  w ← w − r·g / (√h + δ)
 *   RMSProp   h ← ρh + (1−ρ)g²;            w ← w − r·g / (√h + δ)
 *   AdaDelta  h ← μh + (1−μ)g²; u = g·√((h₂+δ)/(h+δ)); h₂ ← μh₂ + (1−μ)u²; w ← w − r·u
 *   Adam      m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
 *             w ← w − r·√(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε),  t = iter + 1
 * lr policies:
 *   fixed base; step base·γ^⌊it/stepsize⌋; exp base·γ^it;
 *   inv base·(1+γ·it)^(−power); multistep base·γ^(steps passed);
 *   poly base·(1 − it/max_iter)^power; sigmoid base/(1+e^(−γ(it−stepsize)));
 *   staged (Mocha's LRPolicy.Staged): a list of stages, each a policy of its
 *   own that lasts a number of iterations, the last one for ever:
 *       lr_policy: staged
 *       lr_stage:
 *         - {iters: 5000, lr_policy: fixed, base_lr: 0.01}
 *         - {iters: 3000, lr_policy: step, base_lr: 0.01, gamma: 0.1, stepsize: 1000}
 *         - {lr_policy: fixed, base_lr: 0.0001}
 *   `iters` is Mocha's stage length (stage k rules from the sum of the
 *   lengths before it up to, not including, that sum plus its own); the
 *   stage's policy sees the run's iteration count, not one restarted at
 *   the stage's start, exactly as in Mocha.  A stage takes Caffe's policy
 *   fields (lr_policy, default fixed; base_lr, gamma, power, stepsize,
 *   stepvalue, max_iter), each defaulting to the solver's own. */
#include "solver.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/dist_solver.h"

static const char *const type_names[] = {"SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam", NULL};
static const char *const policy_names[] = {"fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid", "staged",
                                           NULL};

/* The fields a policy cannot do without; pn is where the policy was named
 * (and c the map that holds the fields). */
static int check_policy(cf_node *c, cf_node *pn, cf_lr_policy policy, long stepsize, int nstepvalue, long max_iter,
                        cf_error *err)
{
    if ((policy == CF_LR_STEP || policy == CF_LR_SIGMOID) && !cf_node_has(c, "stepsize"))
        return cf_node_error(pn, err, CF_EINPUT, "lr_policy '%s' needs 'stepsize'", policy_names[policy]);
    if (policy == CF_LR_STEP && stepsize <= 0)
        return cf_node_error(cf_node_get(c, "stepsize"), err, CF_EINPUT, "stepsize must be > 0");
    if (policy == CF_LR_MULTISTEP && nstepvalue == 0)
        return cf_node_error(pn, err, CF_EINPUT, "lr_policy 'multistep' needs 'stepvalue'");
    if (policy == CF_LR_POLY && max_iter <= 0)
        return cf_node_error(pn, err, CF_EINPUT, "lr_policy 'poly' needs 'max_iter' > 0");
    return 0;
}

static int read_stepvalues(cf_node *c, int *n, long *v, cf_error *err)
{
    size_t nsv = cf_node_count(c, "stepvalue");
    if (nsv > CF_MAX_STEPS)
        return cf_node_error(cf_node_get(c, "stepvalue"), err, CF_EINPUT, "too many stepvalue entries (at most %d)",
                             CF_MAX_STEPS);
    *n = (int)nsv;
    for (size_t i = 0; i < nsv; i++) {
        if (cf_get_int_at(c, "stepvalue", i, &v[i], err)) return -1;
        if (i && v[i] <= v[i - 1])
            return cf_node_error(cf_node_at(c, "stepvalue", i), err, CF_EINPUT, "stepvalue must increase");
    }
    return 0;
}

/* Stage k of lr_stage (m, a map); *end is where the stages before it end
 * and becomes where this one does.  Unset fields take the solver's. */
static int read_stage(cf_solver *s, cf_node *m, size_t k, long *end, cf_error *err)
{
    cf_lr_stage *st = &s->stage[k];
    bool last = k + 1 == (size_t)s->nstage;
    if (m->kind != CF_NODE_MAP)
        return cf_node_error(m, err, CF_EINPUT,
                             "lr_stage %zu: expected a map such as {iters: 1000, lr_policy: fixed, base_lr: 0.01}", k);
    int policy;
    long iters;
    if (cf_get_enum(m, "lr_policy", policy_names, CF_LR_FIXED, &policy, err) ||
        cf_get_int_range(m, "iters", 1, 1, 2147483647L, &iters, err) ||
        cf_get_float(m, "base_lr", -1, &st->base_lr, err) || cf_get_float(m, "gamma", s->gamma, &st->gamma, err) ||
        cf_get_float(m, "power", s->power, &st->power, err) ||
        cf_get_int_range(m, "stepsize", s->stepsize, 0, 2147483647L, &st->stepsize, err) ||
        cf_get_int_range(m, "max_iter", s->max_iter, 0, 2147483647L, &st->max_iter, err))
        return -1;
    st->policy = (cf_lr_policy)policy;
    if (st->policy == CF_LR_STAGED)
        return cf_node_error(cf_node_get(m, "lr_policy"), err, CF_EINPUT, "lr_stage %zu: a stage cannot be staged itself", k);
    if (cf_node_has(m, "base_lr") && st->base_lr < 0)
        return cf_node_error(cf_node_get(m, "base_lr"), err, CF_EINPUT, "base_lr must be >= 0");
    if (!cf_node_has(m, "iters") && !last)
        return cf_node_error(m, err, CF_EINPUT, "lr_stage %zu needs 'iters' (how many iterations it lasts); only the "
                             "last stage may go without", k);
    if (cf_node_has(m, "stepvalue")) {
        if (read_stepvalues(m, &st->nstepvalue, st->stepvalue, err)) return -1;
    } else {
        st->nstepvalue = s->nstepvalue;
        memcpy(st->stepvalue, s->stepvalue, sizeof st->stepvalue);
    }
    /* a field the stage inherits counts as given when the solver gives it */
    cf_node *fields = cf_node_has(m, "stepsize") ? m : s->conf;
    if (check_policy(fields, cf_node_has(m, "lr_policy") ? cf_node_get(m, "lr_policy") : m, st->policy, st->stepsize,
                     st->nstepvalue, st->max_iter, err))
        return -1;
    if (!cf_node_has(m, "max_iter")) st->max_iter = -1; /* the solver's, after any --max-iter */
    *end = last ? *end : *end + iters;
    st->end = *end;
    return 0;
}

static int read_stages(cf_solver *s, cf_node *c, cf_error *err)
{
    size_t n = cf_node_count(c, "lr_stage");
    if (s->policy != CF_LR_STAGED) {
        if (n)
            return cf_node_error(cf_node_at(c, "lr_stage", 0), err, CF_EINPUT,
                                 "'lr_stage' is for lr_policy 'staged' (this solver's lr_policy is '%s')",
                                 policy_names[s->policy]);
        return 0;
    }
    if (n == 0)
        return cf_node_error(cf_node_get(c, "lr_policy"), err, CF_EINPUT,
                             "lr_policy 'staged' needs 'lr_stage': a list of stages such as "
                             "{iters: 1000, lr_policy: fixed, base_lr: 0.01}");
    if (n > CF_MAX_STAGES)
        return cf_node_error(cf_node_at(c, "lr_stage", CF_MAX_STAGES), err, CF_EINPUT,
                             "too many lr_stage entries (at most %d)", CF_MAX_STAGES);
    s->nstage = (int)n;
    long end = 0;
    for (size_t k = 0; k < n; k++)
        if (read_stage(s, cf_node_at(c, "lr_stage", k), k, &end, err)) return -1;
    return 0;
}

static int read_params(cf_solver *s, cf_node *c, cf_error *err)
{
    int type = 0, policy = 0, reg = 0, mode = 0;
    static const char *const regs[] = {"L2", "L1", NULL};
    static const char *const modes[] = {"CPU", "GPU", NULL};
    static const char *const old_types[] = {"SGD", "NESTEROV", "ADAGRAD", "RMSPROP", "ADADELTA", "ADAM", NULL};
    long seed;
    if (cf_node_has(c, "solver_type")) { /* legacy enum spelling */
        if (cf_get_enum(c, "solver_type", old_types, 0, &type, err)) return -1;
    }
    if (cf_get_enum(c, "type", type_names, type, &type, err) || cf_get_enum(c, "lr_policy", policy_names, 0, &policy, err) ||
        cf_get_float(c, "base_lr", 0.01, &s->base_lr, err) || cf_get_float(c, "gamma", 0, &s->gamma, err) ||
        cf_get_float(c, "power", 0, &s->power, err) || cf_get_float(c, "momentum", 0, &s->momentum, err) ||
        cf_get_float(c, "momentum2", 0.999, &s->momentum2, err) || cf_get_float(c, "delta", 1e-8, &s->delta, err) ||
        cf_get_float(c, "rms_decay", 0.99, &s->rms_decay, err) ||
        cf_get_float(c, "weight_decay", 0, &s->weight_decay, err) ||
        cf_get_enum(c, "regularization_type", regs, 0, &reg, err) ||
        cf_get_float(c, "clip_gradients", -1, &s->clip_gradients, err) ||
        cf_get_int_range(c, "stepsize", 0, 0, 2147483647L, &s->stepsize, err) ||
        cf_get_int_range(c, "max_iter", 0, 0, 2147483647L, &s->max_iter, err) ||
        cf_get_int_range(c, "display", 0, 0, 2147483647L, &s->display, err) ||
        cf_get_int_range(c, "average_loss", 1, 1, 1000000, &s->average_loss, err) ||
        cf_get_int_range(c, "test_interval", 0, 0, 2147483647L, &s->test_interval, err) ||
        cf_get_int_range(c, "iter_size", 1, 1, 1000000, &s->iter_size, err) ||
        cf_get_int_range(c, "snapshot", 0, 0, 2147483647L, &s->snapshot, err) ||
        cf_get_bool(c, "test_initialization", true, &s->test_initialization, err) ||
        cf_get_bool(c, "snapshot_after_train", true, &s->snapshot_after_train, err) ||
        cf_get_string(c, "snapshot_prefix", "", &s->snapshot_prefix, err) ||
        cf_get_int(c, "random_seed", -1, &seed, err) || cf_get_enum(c, "solver_mode", modes, 0, &mode, err))
        return -1;
    s->type = (cf_solver_type)type;
    s->policy = (cf_lr_policy)policy;
    s->l1 = reg == 1;
    s->random_seed = seed;
    /* Caffe's example solvers say GPU; a build without one runs them on
     * the CPU and says so (cf_solver.gpu_requested) rather than refusing. */
    s->gpu_requested = mode == 1;
    if (read_stepvalues(c, &s->nstepvalue, s->stepvalue, err) ||
        check_policy(c, cf_node_get(c, "lr_policy"), s->policy, s->stepsize, s->nstepvalue, s->max_iter, err) ||
        read_stages(s, c, err))
        return -1;
    if (s->base_lr < 0) return cf_node_error(cf_node_get(c, "base_lr"), err, CF_EINPUT, "base_lr must be >= 0");
    if (s->momentum < 0 || s->momentum >= 1.0 + 1e-12)
        if (s->type != CF_ADADELTA || s->momentum < 0 || s->momentum > 1)
            return cf_node_error(cf_node_get(c, "momentum"), err, CF_EINPUT, "momentum must be in [0, 1)");
    size_t nti = cf_node_count(c, "test_iter");
    if (nti > CF_MAX_TEST_NETS)
        return cf_node_error(cf_node_get(c, "test_iter"), err, CF_EINPUT, "at most %d test nets", CF_MAX_TEST_NETS);
    s->ntest = (int)nti;
    for (size_t i = 0; i < nti; i++) {
        if (cf_get_int_at(c, "test_iter", i, &s->test_iter[i], err)) return -1;
        if (s->test_iter[i] <= 0)
            return cf_node_error(cf_node_at(c, "test_iter", i), err, CF_EINPUT, "test_iter must be > 0");
    }
    if (s->ntest && s->test_interval == 0 && cf_node_has(c, "test_interval"))
        return cf_node_error(cf_node_get(c, "test_interval"), err, CF_EINPUT, "test_interval must be > 0");
    /* Caffe fields we accept but that do not change training here */
    static const char *const ignored[] = {"net", "net_param", "train_net", "test_net", "device_id", "debug_info",
                                          "snapshot_diff", "snapshot_format", "test_compute_loss", "layer_wise_reduce",
                                          "weights", "test_state", "train_state", NULL};
    for (int i = 0; ignored[i]; i++)
        for (size_t k = 0; k < cf_node_count(c, ignored[i]); k++) cf_node_mark_used(cf_node_at(c, ignored[i], k));
    return 0;
}

static int read_state(cf_node *st, cf_net_opts *o, const char **stages, cf_error *err)
{
    if (!st) return 0;
    long level;
    if (cf_get_int(st, "level", 0, &level, err)) return -1;
    o->level = (int)level;
    size_t ns = cf_node_count(st, "stage");
    if (ns > 16) ns = 16;
    for (size_t i = 0; i < ns; i++)
        if (cf_get_string_at(st, "stage", i, &stages[i], err)) return -1;
    o->stages = stages;
    o->nstages = (int)ns;
    static const char *const ph[] = {"TRAIN", "TEST", NULL};
    int phase;
    if (cf_get_enum(st, "phase", ph, (int)o->phase, &phase, err)) return -1;
    return 0;
}

/* A zeroed history blob shaped as param p (its host side allocated now,
 * so that running out of memory is reported here, not in the update). */
static cf_blob *history_blob(const cf_blob *p, cf_error *err)
{
    cf_blob *h = cf_blob_new(p->name);
    if (cf_blob_reshape_like(h, p, err)) {
        cf_blob_free(h);
        return NULL;
    }
    if (!cf_blob_mdata(h)) {
        cf_blob_free(h);
        cf_error_set(err, CF_ERUNTIME, "out of memory for the solver history of '%s' (%zu values)",
                     p->name ? p->name : "a param", p->count);
        return NULL;
    }
    return h;
}

cf_solver *cf_solver_new(cf_node *sc, cf_node *nc, const cf_solver_opts *opts, cf_error *err)
{
    cf_solver *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->opts = *opts;
    s->conf = sc;
    s->lr_scale = 1.0;
    if (read_params(s, sc, err)) goto fail;
    if (opts->max_iter >= 0) s->max_iter = opts->max_iter;
    if (opts->base_lr >= 0) s->base_lr = opts->base_lr;
    if (opts->seed >= 0) s->random_seed = opts->seed;
    if (s->random_seed < 0) s->random_seed = (long long)time(NULL);
    cf_rng_seed(&s->rng, (uint64_t)s->random_seed);

    cf_net_opts no = {.phase = CF_TRAIN, .be = opts->be, .rng = &s->rng, .log = opts->log, .log_ctx = opts->log_ctx};
    const char *stages[16];
    if (read_state(cf_node_get(sc, "train_state"), &no, stages, err)) goto fail;
    s->net = cf_net_build(nc, &no, err);
    if (!s->net) goto fail;
    for (int k = 0; k < s->ntest; k++) {
        cf_net_opts to = {.phase = CF_TEST, .be = opts->be, .rng = &s->rng, .log = opts->log, .log_ctx = opts->log_ctx};
        const char *tst[16];
        if (read_state(cf_node_at(sc, "test_state", (size_t)k), &to, tst, err)) goto fail;
        s->test[k] = cf_net_build(nc, &to, err);
        if (!s->test[k]) goto fail;
        if (cf_net_share_trained(s->test[k], s->net, err)) goto fail;
    }
    if (cf_node_check_unused(sc, err)) goto fail;
    if (cf_dist_solver_setup(s, err)) goto fail;

    s->history = calloc((size_t)s->net->nparams + 1, sizeof *s->history);
    s->history2 = calloc((size_t)s->net->nparams + 1, sizeof *s->history2);
    if (!s->history || !s->history2) abort();
    for (int i = 0; i < s->net->nparams; i++) {
        if (s->net->params[i].owner != i) continue;
        if (!(s->history[i] = history_blob(s->net->params[i].blob, err))) goto fail;
        if ((s->type == CF_ADAM || s->type == CF_ADADELTA) && !(s->history2[i] = history_blob(s->net->params[i].blob, err)))
            goto fail;
    }
    s->losses = calloc((size_t)s->average_loss, sizeof(float));
    return s;
fail:
    cf_solver_free(s);
    return NULL;
}

void cf_solver_free(cf_solver *s)
{
    if (!s) return;
    if (s->net && s->history && s->history2)
        for (int i = 0; i < s->net->nparams; i++) {
            cf_blob_free(s->history[i]);
            cf_blob_free(s->history2[i]);
        }
    free(s->history);
    free(s->history2);
    cf_dist_solver_free(s);
    for (int k = 0; k < s->ntest; k++) cf_net_free(s->test[k]);
    cf_net_free(s->net);
    free(s->losses);
    free(s);
}

/* One (non-staged) policy's rate at iteration iter. */
static double policy_lr(const cf_lr_stage *p, double base, int iter)
{
    double it = iter;
    switch (p->policy) {
    case CF_LR_FIXED: return base;
    case CF_LR_STEP: return base * pow(p->gamma, floor(it / (double)p->stepsize));
    case CF_LR_EXP: return base * pow(p->gamma, it);
    case CF_LR_INV: return base * pow(1.0 + p->gamma * it, -p->power);
    case CF_LR_MULTISTEP: {
        int steps = 0;
        while (steps < p->nstepvalue && iter >= p->stepvalue[steps]) steps++;
        return base * pow(p->gamma, steps);
    }
    case CF_LR_POLY: return base * pow(1.0 - it / (double)p->max_iter, p->power);
    case CF_LR_SIGMOID: return base * (1.0 / (1.0 + exp(-p->gamma * (it - (double)p->stepsize))));
    case CF_LR_STAGED: break; /* refused when reading a stage */
    }
    return base;
}

double cf_solver_lr(const cf_solver *s)
{
    if (s->policy == CF_LR_STAGED) {
        const cf_lr_stage *st = &s->stage[s->nstage - 1];
        for (int k = 0; k + 1 < s->nstage; k++)
            if (s->iter < s->stage[k].end) {
                st = &s->stage[k];
                break;
            }
        cf_lr_stage p = *st;
        if (p.max_iter < 0) p.max_iter = s->max_iter;
        return policy_lr(&p, p.base_lr < 0 ? s->base_lr : p.base_lr, s->iter) * s->lr_scale;
    }
    cf_lr_stage p = {.policy = s->policy, .gamma = s->gamma, .power = s->power, .stepsize = s->stepsize,
                     .max_iter = s->max_iter, .nstepvalue = s->nstepvalue};
    memcpy(p.stepvalue, s->stepvalue, sizeof p.stepvalue);
    return policy_lr(&p, s->base_lr, s->iter) * s->lr_scale;
}

/* ---- the update ---- */

/* backend.h's cf_update_rule names the solver types in the same order. */
_Static_assert((int)CF_UPD_SGD == (int)CF_SGD && (int)CF_UPD_NESTEROV == (int)CF_NESTEROV &&
                   (int)CF_UPD_ADAGRAD == (int)CF_ADAGRAD && (int)CF_UPD_RMSPROP == (int)CF_RMSPROP &&
                   (int)CF_UPD_ADADELTA == (int)CF_ADADELTA && (int)CF_UPD_ADAM == (int)CF_ADAM,
               "cf_update_rule follows cf_solver_type");

/* The device backend that updates param i, or NULL for the host.  A GPU
 * backend updates on the device every param whose gradient is there (the
 * last writer of the diff was a GPU pass, or nobody wrote since the two
 * sides were synced); a gradient a host layer computed is updated on the
 * host rather than copied over and back.  Either way the blob memory
 * (blob.h) moves the weights and the history to the side that runs. */
static cf_backend *update_device(const cf_solver *s, int i)
{
    cf_backend *be = s->net->be;
    if (!cf_backend_is_gpu(be) || !cf_backend_gpu(be)->ops->update) return NULL;
    cf_mem_head head = s->net->params[i].blob->diff->head;
    return head == CF_MEM_DEVICE || head == CF_MEM_SYNCED ? cf_backend_gpu(be) : NULL;
}

static bool clipped(const cf_solver *s, int i)
{
    const cf_net_param *p = &s->net->params[i];
    return p->owner == i && p->lr_mult != 0;
}

/* Global L2 norm over every learnable gradient; past clip_gradients all
 * are scaled by clip_gradients / norm.  Each param's sum of squares and
 * scaling run where its gradient is. */
static void clip(cf_solver *s)
{
    if (s->clip_gradients < 0) return;
    double sumsq = 0;
    cf_net *n = s->net;
    for (int i = 0; i < n->nparams; i++) {
        if (!clipped(s, i)) continue;
        cf_backend *dev = update_device(s, i);
        const cf_blob *b = n->params[i].blob;
        const float *g = dev ? cf_blob_gpu_diff(n->be, b) : NULL;
        if (g) sumsq += cf_dot(dev, b->count, g, g);
        else g = cf_blob_diff(b), sumsq += cf_dot(n->be, b->count, g, g);
    }
    double norm = sqrt(sumsq);
    if (norm <= s->clip_gradients) return;
    float f = (float)(s->clip_gradients / norm);
    for (int i = 0; i < n->nparams; i++) {
        if (!clipped(s, i)) continue;
        cf_backend *dev = update_device(s, i);
        cf_blob *b = n->params[i].blob;
        float *g = dev ? cf_blob_gpu_mdiff(n->be, b) : NULL;
        if (g) cf_scal(dev, b->count, f, g);
        else cf_scal(n->be, b->count, f, cf_blob_mdiff(b));
    }
}

/* Param i on the device: true when it ran there (false, nothing done,
 * when a device buffer could not be had: the host does it then). */
static bool update_on_device(cf_solver *s, cf_backend *dev, int i, const cf_update *u)
{
    cf_backend *be = s->net->be;
    cf_blob *p = s->net->params[i].blob;
    float *w = cf_blob_gpu_mdata(be, p), *g = cf_blob_gpu_mdiff(be, p), *h = cf_blob_gpu_mdata(be, s->history[i]);
    float *h2 = s->history2[i] ? cf_blob_gpu_mdata(be, s->history2[i]) : NULL;
    if (!w || !g || !h || (s->history2[i] && !h2)) return false;
    dev->ops->update(dev, u, p->count, w, g, h, h2);
    return true;
}

static void update_param(cf_solver *s, int i, double rate)
{
    cf_net_param *p = &s->net->params[i];
    size_t n = p->blob->count;
    float r = (float)(rate * p->lr_mult);
    float wd = (float)(s->weight_decay * p->decay_mult);
    float mu = (float)s->momentum, delta = (float)s->delta;
    cf_backend *dev = update_device(s, i);
    if (dev) {
        cf_update u = {.rule = (cf_update_rule)s->type,
                       .scale = s->iter_size > 1 ? 1.0f / (float)s->iter_size : 1.0f,
                       .wd = wd, .l1 = s->l1, .rate = r, .mu = mu, .mu2 = (float)s->momentum2, .delta = delta,
                       .rho = (float)s->rms_decay, .corr = 1};
        if (s->type == CF_ADAM) { /* as the host computes it below */
            float b1 = mu, b2 = (float)s->momentum2;
            double t = s->iter + 1;
            u.corr = (float)(sqrt(1 - pow(b2, t)) / (1 - pow(b1, t)));
        }
        if (update_on_device(s, dev, i, &u)) return;
    }

    /* the host: every line below is what the CPU has always run */
    float *w = cf_blob_mdata(p->blob), *g = cf_blob_mdiff(p->blob);
    float *h = cf_blob_mdata(s->history[i]), *h2 = s->history2[i] ? cf_blob_mdata(s->history2[i]) : NULL;
    if (s->iter_size > 1) cf_scal(s->net->be, n, 1.0f / (float)s->iter_size, g);
    if (wd != 0) {
        if (s->l1)
            for (size_t k = 0; k < n; k++) g[k] += wd * (float)((w[k] > 0) - (w[k] < 0));
        else
            cf_axpy(s->net->be, n, wd, w, g);
    }
    switch (s->type) {
    case CF_SGD:
        for (size_t k = 0; k < n; k++) {
            h[k] = mu * h[k] + r * g[k];
            w[k] -= h[k];
        }
        break;
    case CF_NESTEROV:
        for (size_t k = 0; k < n; k++) {
            float prev = h[k];
            h[k] = mu * h[k] + r * g[k];
            w[k] -= (1 + mu) * h[k] - mu * prev;
        }
        break;
    case CF_ADAGRAD:
        for (size_t k = 0; k < n; k++) {
            h[k] += g[k] * g[k];
            w[k] -= r * g[k] / (sqrtf(h[k]) + delta);
        }
        break;
    case CF_RMSPROP: {
        float rho = (float)s->rms_decay;
        for (size_t k = 0; k < n; k++) {
            h[k] = rho * h[k] + (1 - rho) * g[k] * g[k];
            w[k] -= r * g[k] / (sqrtf(h[k]) + delta);
        }
        break;
    }
    case CF_ADADELTA:
        for (size_t k = 0; k < n; k++) {
            h[k] = mu * h[k] + (1 - mu) * g[k] * g[k];
            float u = g[k] * sqrtf((h2[k] + delta) / (h[k] + delta));
            h2[k] = mu * h2[k] + (1 - mu) * u * u;
            w[k] -= r * u;
        }
        break;
    case CF_ADAM: {
        float b1 = mu, b2 = (float)s->momentum2;
        double t = s->iter + 1;
        float corr = (float)(sqrt(1 - pow(b2, t)) / (1 - pow(b1, t)));
        for (size_t k = 0; k < n; k++) {
            h[k] = b1 * h[k] + (1 - b1) * g[k];
            h2[k] = b2 * h2[k] + (1 - b2) * g[k] * g[k];
            w[k] -= r * corr * h[k] / (sqrtf(h2[k]) + delta);
        }
        break;
    }
    }
}

void cf_solver_apply_update(cf_solver *s)
{
    double rate = cf_solver_lr(s);
    clip(s);
    for (int i = 0; i < s->net->nparams; i++)
        if (s->net->params[i].owner == i && s->net->params[i].lr_mult != 0) update_param(s, i, rate);
}

int cf_solver_step(cf_solver *s, float *loss, cf_error *err)
{
    if (cf_dist_step_begin(s, err)) return -1;
    if (cf_net_clear_param_diffs(s->net, err)) return -1;
    double total = 0;
    for (long k = 0; k < s->iter_size; k++) {
        float l;
        if (cf_net_forward(s->net, &l, err)) return -1;
        total += l;
        /* several processes: the last pass averages the gradients as it goes */
        if (k == s->iter_size - 1) cf_dist_step_arm(s, (float)(total / (double)s->iter_size));
        cf_net_backward(s->net);
    }
    float l = (float)(total / (double)s->iter_size);
    if (cf_dist_step_finish(s, &l, err)) return -1;
    cf_solver_apply_update(s);
    /* smoothed loss: mean of the last average_loss values, as Caffe shows */
    if (s->nlosses < s->average_loss) {
        s->losses[s->nlosses++] = l;
    } else {
        s->losses[s->loss_pos] = l;
        s->loss_pos = (s->loss_pos + 1) % (int)s->average_loss;
    }
    double sum = 0;
    for (int i = 0; i < s->nlosses; i++) sum += s->losses[i];
    s->smoothed_loss = (float)(sum / s->nlosses);
    s->last_loss = l;
    s->iter++;
    if (loss) *loss = l;
    return 0;
}

int cf_solver_test(cf_solver *s, int k, cf_test_result *res, cf_error *err)
{
    cf_net *n = s->test[k];
    memset(res, 0, sizeof *res);
    res->net = k;
    res->iter = s->iter;
    double sums[CF_MAX_OUTPUTS] = {0};
    cf_net_output out[CF_MAX_OUTPUTS];
    int no = 0;
    for (long it = 0; it < s->test_iter[k]; it++) {
        if (cf_net_forward(n, NULL, err)) return -1;
        no = cf_net_outputs(n, out, CF_MAX_OUTPUTS);
        for (int o = 0; o < no; o++) sums[o] += out[o].value;
    }
    res->noutputs = no;
    for (int o = 0; o < no; o++) {
        snprintf(res->out[o].name, sizeof res->out[o].name, "%s", out[o].name);
        res->out[o].value = sums[o] / (double)s->test_iter[k];
        res->out[o].is_loss = out[o].weight != 0;
        res->out[o].weight = out[o].weight;
        res->loss += out[o].weight * res->out[o].value;
    }
    return 0;
}
