/* trainer.c — see trainer.h. */
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cuda/gpu.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long pages = 0, res = 0;
    if (fscanf(f, "%lu %lu", &pages, &res) != 2) res = 0;
    fclose(f);
    return (size_t)res * 4096u;
}

static int batch_size(const cf_net *net)
{
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].nb == 0 && net->layers[i].nt > 0) return cf_blob_dim(net->layers[i].top[0], 0);
    return 1;
}

/* Processes training together (solver.h, "Several processes"). */
static int ranks(const cf_solver *s) { return s->dist_timing.ranks > 1 ? s->dist_timing.ranks : 1; }

/* Several processes: the reduction's figures into the status. */
static void dist_status(const cf_solver *s, cf_status *st)
{
    const cf_dist_timing *t = &s->dist_timing;
    st->ranks = ranks(s);
    if (st->ranks < 2) return;
    st->comm_s = t->steps ? t->total_comm_s / t->steps : 0;
    st->step_s = t->steps ? t->total_step_s / t->steps : 0;
    st->comm_frac = t->total_step_s > 0 ? t->total_comm_s / t->total_step_s : 0;
    int b = batch_size(s->net) * (int)s->iter_size;
    for (int r = 0; r < st->ranks && r < CF_MON_MAX_RANKS && r < CF_DIST_SHOWN; r++)
        st->rank_ips[r] = t->rank_compute_s[r] > 0 ? b / t->rank_compute_s[r] : 0;
}

typedef struct {
    cf_trainer *t;
    cf_status st;
    double t0, last_t;
    int last_iter;
    double ips;
    int snapshot_failed_at;     /* iteration of the last periodic snapshot that failed, or -1 */
    cf_error snapshot_err;      /* and why */
    double mem_t;               /* when the memory figures were last read (0: never) */
} loop_state;

/* Memory figures: a read of /proc, a walk over the blobs and, on a GPU,
 * cudaMemGetInfo (which waits for the device) — every iteration of a small
 * net that was most of the system time (bench/soak.yaml: 10 µs an
 * iteration, 2.1 of 2.2 s over 200,000), so at most 4 times a second
 * while running, and at every change of state. */
static void memory_status(loop_state *ls)
{
    cf_solver *s = ls->t->solver;
    cf_net_bytes(s->net, &ls->st.param_bytes, &ls->st.blob_bytes);
    ls->st.rss_bytes = rss_bytes();
    snprintf(ls->st.device, sizeof ls->st.device, "%s, %d threads", s->net->be->ops->name, s->net->be->nthreads);
    cf_gpu_mem gm;
    if (cf_gpu_mem_get(s->net->be, &gm) == 0) { /* on a GPU: the device's figures (cudaMemGetInfo) and ours */
        ls->st.dev_used = gm.used;
        ls->st.dev_total = gm.total;
        ls->st.dev_engine = gm.engine;
        ls->st.workspace_bytes = gm.workspace;
        cf_gpu_describe(s->net->be, ls->st.device, sizeof ls->st.device);
    }
}

static void publish_status(loop_state *ls, cf_run_state state)
{
    cf_solver *s = ls->t->solver;
    double now = now_s();
    if (state != ls->st.state || state != CF_RUN_RUNNING || now - ls->mem_t >= 0.25 || ls->mem_t == 0) {
        memory_status(ls);
        ls->mem_t = now;
    }
    ls->st.state = state;
    ls->st.iter = s->iter;
    ls->st.max_iter = (int)s->max_iter;
    ls->st.lr = cf_solver_lr(s);
    ls->st.lr_scale = s->lr_scale;
    ls->st.ips = ls->ips;
    ls->st.elapsed = now - ls->t0;
    int left = (int)s->max_iter - s->iter;
    int b = batch_size(s->net) * ranks(s);
    ls->st.eta = ls->ips > 0 ? left * (double)b * s->iter_size / ls->ips : -1;
    ls->st.batch = b;
    snprintf(ls->st.net_name, sizeof ls->st.net_name, "%s", s->net->name);
    dist_status(s, &ls->st);
    cf_monitor_set_status(ls->t->mon, &ls->st);
}

const char *cf_first_nonfinite(const cf_net *net, const char **blob)
{
    for (int li = 0; li < net->nlayers; li++) {
        const cf_net_layer *nl = &net->layers[li];
        for (int t = 0; t < nl->nt; t++) {
            const float *d = cf_blob_data(nl->top[t]);
            for (size_t i = 0; i < nl->top[t]->count; i++)
                if (!isfinite(d[i])) {
                    if (blob) *blob = nl->top[t]->name;
                    return nl->layer->name;
                }
        }
    }
    return NULL;
}

/* The train net's outputs after iteration `iter` (its last batch), for
 * the lines a display iteration prints; before its cf_iter_rec, so a
 * reader that has the iteration finds them. */
static void push_train_outputs(cf_trainer *t, int iter)
{
    cf_net_output out[CF_MON_MAX_OUT];
    cf_test_rec rec = {.iter = iter, .net = -1};
    rec.n = cf_net_outputs(t->solver->net, out, CF_MON_MAX_OUT);
    for (int o = 0; o < rec.n; o++) {
        snprintf(rec.name[o], sizeof rec.name[o], "%s", out[o].name);
        rec.value[o] = out[o].value;
        rec.is_loss[o] = out[o].weight != 0;
        rec.weight[o] = out[o].weight;
        rec.loss += out[o].weight * (double)out[o].value;
    }
    cf_monitor_push_train(t->mon, &rec);
}

static int run_tests(loop_state *ls)
{
    cf_trainer *t = ls->t;
    cf_solver *s = t->solver;
    publish_status(ls, CF_RUN_TESTING);
    for (int k = 0; k < s->ntest; k++) {
        cf_test_result r;
        double t0 = now_s();
        if (cf_solver_test(s, k, &r, &t->err)) return -1;
        cf_test_rec rec = {.iter = s->iter, .net = k, .loss = r.loss, .seconds = now_s() - t0};
        rec.n = r.noutputs < CF_MON_MAX_OUT ? r.noutputs : CF_MON_MAX_OUT;
        for (int o = 0; o < rec.n; o++) {
            snprintf(rec.name[o], sizeof rec.name[o], "%s", r.out[o].name);
            rec.value[o] = r.out[o].value;
            rec.is_loss[o] = r.out[o].is_loss;
            rec.weight[o] = r.out[o].weight;
        }
        cf_monitor_push_test(t->mon, &rec);
    }
    ls->last_t = now_s(); /* test time is not training throughput */
    ls->last_iter = s->iter;
    publish_status(ls, CF_RUN_RUNNING);
    return 0;
}

int cf_trainer_snapshot(cf_trainer *t)
{
    cf_solver *s = t->solver;
    if (!t->snapshot) {
        cf_monitor_logf(t->mon, 1, "snapshot skipped: no snapshot writer in this build");
        return 0;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s_iter_%d.h5", t->snapshot_prefix, s->iter);
    cf_error err;
    if (t->snapshot(s, path, &err)) {
        t->err = err; /* the caller reports it: once, saying what happens next */
        return -1;
    }
    cf_status st;
    cf_monitor_get_status(t->mon, &st);
    snprintf(st.last_snapshot, sizeof st.last_snapshot, "%s", path);
    cf_monitor_set_status(t->mon, &st);
    cf_monitor_logf(t->mon, 0, "Snapshotting to %s", path);
    return 0;
}

static int snapshot(loop_state *ls)
{
    publish_status(ls, CF_RUN_SNAPSHOTTING);
    int rc = cf_trainer_snapshot(ls->t);
    cf_monitor_get_status(ls->t->mon, &ls->st); /* keep last_snapshot */
    publish_status(ls, CF_RUN_RUNNING);
    return rc;
}

/* A periodic snapshot failed (t->err says why): stop (returns -1, and
 * the run fails with that one message), or, with snapshot_errors_continue,
 * log it, keep it for the end of the run and train on (returns 0). */
static int periodic_failed(loop_state *ls)
{
    cf_trainer *t = ls->t;
    if (!t->snapshot_errors_continue) return -1;
    char buf[1400];
    cf_monitor_logf(t->mon, 2, "snapshot failed: %s; training goes on (--on-snapshot-error continue)",
                    cf_error_str(&t->err, buf, sizeof buf));
    ls->snapshot_failed_at = t->solver->iter;
    ls->snapshot_err = t->err;
    return 0;
}

/* Handle one command; returns 1 to stop. */
static int command(loop_state *ls, const cf_cmd *c, bool *paused)
{
    cf_trainer *t = ls->t;
    cf_solver *s = t->solver;
    switch (c->kind) {
    case CF_CMD_PAUSE: *paused = true; break;
    case CF_CMD_RESUME: *paused = false; break;
    case CF_CMD_TOGGLE_PAUSE: *paused = !*paused; break;
    case CF_CMD_LR_MUL:
        if (c->value > 0 && isfinite(c->value)) {
            s->lr_scale *= c->value;
            cf_monitor_logf(t->mon, 0, "Iteration %d, lr scaled by %g: lr = %g", s->iter, c->value, cf_solver_lr(s));
        }
        break;
    case CF_CMD_LR_SET: {
        double scale = s->lr_scale;
        s->lr_scale = 1.0;
        double base = cf_solver_lr(s);
        if (c->value >= 0 && isfinite(c->value) && base > 0) {
            s->lr_scale = c->value / base;
            cf_monitor_logf(t->mon, 0, "Iteration %d, lr set to %g", s->iter, c->value);
        } else {
            s->lr_scale = scale;
            cf_monitor_logf(t->mon, 1, "lr %g refused (the policy's lr is %g)", c->value, base);
        }
        break;
    }
    case CF_CMD_SNAPSHOT: /* asked for by hand: a failure is logged, training goes on */
        if (snapshot(ls)) {
            char buf[1400];
            cf_monitor_logf(t->mon, 2, "snapshot failed: %s; training goes on", cf_error_str(&t->err, buf, sizeof buf));
        }
        break;
    case CF_CMD_TEST: if (s->ntest && run_tests(ls)) return -1; break;
    case CF_CMD_STOP:
        if (c->value != 0 && snapshot(ls)) return -1;
        t->stop_requested = true;
        return 1;
    }
    publish_status(ls, *paused ? CF_RUN_PAUSED : CF_RUN_RUNNING);
    return 0;
}

static int drain(loop_state *ls)
{
    bool paused = ls->st.state == CF_RUN_PAUSED;
    cf_cmd c;
    for (;;) {
        bool got = cf_monitor_next_cmd(ls->t->mon, &c, paused);
        if (!got) {
            if (paused) continue;
            break;
        }
        bool was = paused;
        int r = command(ls, &c, &paused);
        if (r) return r;
        if (was && !paused) {
            ls->last_t = now_s(); /* pauses don't count against images/s */
            ls->last_iter = ls->t->solver->iter;
        }
    }
    return 0;
}

static int fail(loop_state *ls)
{
    cf_trainer *t = ls->t;
    char buf[1400];
    cf_error_str(&t->err, buf, sizeof buf);
    snprintf(ls->st.error, sizeof ls->st.error, "%s", buf);
    cf_monitor_logf(t->mon, 2, "%s", buf);
    publish_status(ls, CF_RUN_FAILED);
    t->exit_code = t->err.code == CF_EINPUT ? 2 : 1;
    return -1;
}

static void maybe_stats(cf_trainer *t)
{
    if (!cf_monitor_stats_wanted(t->mon)) return;
    static cf_blob_stat st[CF_MON_MAX_STATS]; /* one trainer at a time */
    int n = cf_trainer_stats(t->solver, st, CF_MON_MAX_STATS);
    cf_monitor_set_stats(t->mon, st, n, t->solver->iter);
}

int cf_trainer_run(cf_trainer *t)
{
    cf_solver *s = t->solver;
    loop_state ls = {.t = t, .snapshot_failed_at = -1};
    ls.t0 = ls.last_t = now_s();
    ls.last_iter = s->iter;
    t->exit_code = 0;
    publish_status(&ls, CF_RUN_RUNNING);
    int b = batch_size(s->net) * ranks(s);

    while (s->iter < s->max_iter) {
        int r = drain(&ls);
        if (r < 0) return fail(&ls);
        if (r > 0) break;
        if (s->ntest && s->test_interval && s->iter % s->test_interval == 0 &&
            (s->iter > 0 || s->test_initialization) && run_tests(&ls))
            return fail(&ls);
        double lr = cf_solver_lr(s);
        int iter = s->iter;
        float loss;
        if (cf_solver_step(s, &loss, &t->err)) return fail(&ls);
        if (!isfinite(loss)) {
            const char *blob = NULL, *layer = cf_first_nonfinite(s->net, &blob);
            if (layer)
                cf_error_set(&t->err, CF_ERUNTIME, "loss is %g at iteration %d: layer '%s' was the first to output a non-finite value (in '%s'); try a lower base_lr", loss, iter, layer, blob);
            else
                cf_error_set(&t->err, CF_ERUNTIME, "loss is %g at iteration %d (non-finite gradients or weights); try a lower base_lr", loss, iter);
            return fail(&ls);
        }
        double now = now_s();
        /* images/s over the last quarter second (or 20 iterations), smoothed */
        if (now - ls.last_t > 0.25 || (s->iter - ls.last_iter >= 20 && now - ls.last_t > 0.02)) {
            double inst = (s->iter - ls.last_iter) * (double)b * s->iter_size / (now - ls.last_t);
            ls.ips = ls.ips > 0 ? 0.5 * ls.ips + 0.5 * inst : inst;
            ls.last_t = now;
            ls.last_iter = s->iter;
        }
        if (s->display && iter % s->display == 0) push_train_outputs(t, iter);
        cf_iter_rec rec = {iter, loss, s->smoothed_loss, lr, ls.ips, now - ls.t0};
        cf_monitor_push_iter(t->mon, &rec);
        maybe_stats(t);
        if (s->snapshot && s->iter % s->snapshot == 0 && snapshot(&ls) && periodic_failed(&ls)) return fail(&ls);
        publish_status(&ls, ls.st.state == CF_RUN_PAUSED ? CF_RUN_PAUSED : CF_RUN_RUNNING);
    }
    if (!t->stop_requested) {
        if (s->snapshot_after_train && s->max_iter > 0 && (!s->snapshot || s->iter % s->snapshot != 0) &&
            snapshot(&ls))
            return fail(&ls);
        if (s->ntest && s->test_interval && s->iter % s->test_interval == 0 && run_tests(&ls)) return fail(&ls);
        /* going on past a failed snapshot is for the middle of a run: one
         * that ends without its last snapshot has not kept its work */
        if (ls.snapshot_failed_at == s->iter) {
            char buf[1100];
            snprintf(buf, sizeof buf, "%s", ls.snapshot_err.msg);
            cf_error_set(&t->err, CF_ERUNTIME, "training ended but its last snapshot failed: %s", buf);
            return fail(&ls);
        }
    }
    publish_status(&ls, CF_RUN_DONE);
    return 0;
}

/* ---- statistics ---- */

/* Moments of n floats: mean, std (population), min and max of the finite
 * values, the fraction of zeros among all, the count of NaN/Inf; and in
 * *sumsq (when not NULL) Σ v² over all of them (NaN or Inf when one is).
 *
 * The front ends ask for these a few times a second, and they are
 * computed between two iterations, so they must cost little: the fast
 * path has no test in its inner loop (the compiler vectorises it) and
 * sums 8 interleaved lanes in float over blocks of STAT_BLOCK values,
 * each block's sums then added in double.  Around a pivot p (the first
 * value): Σ(v−p) and Σ(v−p)² stay small when the values sit close
 * together, so var = E[(v−p)²] − E[v−p]² keeps its digits where
 * E[v²] − E[v]² would cancel them.  A NaN or an infinity makes the sums
 * non-finite; such a blob is measured again by the careful loop, which
 * skips them. */
#define STAT_LANES 8
#define STAT_BLOCK 512

static void moments_careful(const float *d, size_t n, cf_moments *m, double *sumsq)
{
    double s = 0, ss = 0, all = 0;
    float lo = INFINITY, hi = -INFINITY;
    size_t zeros = 0, finite = 0;
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float v = d[i];
        all += (double)v * v;
        if (!isfinite(v)) {
            bad++;
            continue;
        }
        finite++;
        s += v;
        ss += (double)v * v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
        if (v == 0) zeros++;
    }
    double mean = finite ? s / finite : 0;
    double var = finite ? ss / finite - mean * mean : 0;
    m->mean = (float)mean;
    m->std = (float)sqrt(var > 0 ? var : 0);
    m->min = finite ? lo : 0;
    m->max = finite ? hi : 0;
    m->zero_frac = n ? (float)zeros / (float)n : 0;
    m->nonfinite = bad;
    if (sumsq) *sumsq = all;
}

/* Σ v², in float lanes per block as above. */
static double sum_squares(const float *d, size_t n)
{
    double total = 0;
    size_t nb = n / STAT_BLOCK * STAT_BLOCK;
    for (size_t b = 0; b < nb; b += STAT_BLOCK) {
        float sq[STAT_LANES] = {0};
        for (size_t k = b; k < b + STAT_BLOCK; k += STAT_LANES)
#pragma GCC unroll 1
            for (int l = 0; l < STAT_LANES; l++) sq[l] += d[k + l] * d[k + l];
        for (int l = 0; l < STAT_LANES; l++) total += sq[l];
    }
    for (size_t k = nb; k < n; k++) total += (double)d[k] * d[k];
    return total;
}

static void moments(const float *d, size_t n, cf_moments *m, double *sumsq)
{
    if (n == 0 || !isfinite(d[0])) {
        moments_careful(d, n, m, sumsq);
        return;
    }
    const float p = d[0];
    double S = 0, SS = 0, SQ = 0;
    size_t zeros = 0, nb = n / STAT_BLOCK * STAT_BLOCK;
    float lo[STAT_LANES], hi[STAT_LANES];
    for (int l = 0; l < STAT_LANES; l++) lo[l] = hi[l] = p;
    for (size_t b = 0; b < nb; b += STAT_BLOCK) {
        float s[STAT_LANES] = {0}, ss[STAT_LANES] = {0}, sq[STAT_LANES] = {0};
        int z[STAT_LANES] = {0};
        for (size_t k = b; k < b + STAT_BLOCK; k += STAT_LANES)
#pragma GCC unroll 1 /* keep the lane loop a loop: -O3 would unroll it and no longer vectorise it */
            for (int l = 0; l < STAT_LANES; l++) {
                float v = d[k + l], t = v - p;
                s[l] += t;
                ss[l] += t * t;
                sq[l] += v * v;
                lo[l] = v < lo[l] ? v : lo[l];
                hi[l] = v > hi[l] ? v : hi[l];
                z[l] += v == 0;
            }
        for (int l = 0; l < STAT_LANES; l++) S += s[l], SS += ss[l], SQ += sq[l], zeros += (size_t)z[l];
    }
    for (size_t k = nb; k < n; k++) {
        float v = d[k], t = v - p;
        S += t;
        SS += (double)t * t;
        SQ += (double)v * v;
        lo[0] = v < lo[0] ? v : lo[0];
        hi[0] = v > hi[0] ? v : hi[0];
        zeros += v == 0;
    }
    if (!isfinite(S) || !isfinite(SS) || !isfinite(SQ)) { /* a NaN or Inf in there (or |v| near FLT_MAX) */
        moments_careful(d, n, m, sumsq);
        return;
    }
    for (int l = 1; l < STAT_LANES; l++) {
        if (lo[l] < lo[0]) lo[0] = lo[l];
        if (hi[l] > hi[0]) hi[0] = hi[l];
    }
    double mt = S / (double)n, var = SS / (double)n - mt * mt;
    m->mean = (float)(p + mt);
    m->std = (float)sqrt(var > 0 ? var : 0);
    m->min = lo[0];
    m->max = hi[0];
    m->zero_frac = (float)zeros / (float)n;
    m->nonfinite = 0;
    if (sumsq) *sumsq = SQ;
}

int cf_trainer_stats(const cf_solver *s, cf_blob_stat *out, int max)
{
    const cf_net *net = s->net;
    int n = 0;
    for (int li = 0; li < net->nlayers && n < max; li++) {
        const cf_net_layer *nl = &net->layers[li];
        if (!strcmp(nl->layer->ops->type, "Split")) continue;
        for (int t = 0; t < nl->nt && n < max; t++) {
            cf_blob_stat *b = &out[n++];
            memset(b, 0, sizeof *b);
            snprintf(b->layer, sizeof b->layer, "%s", nl->layer->name);
            snprintf(b->blob, sizeof b->blob, "%s", nl->top[t]->name);
            b->kind = 't';
            char sh[128];
            snprintf(b->shape, sizeof b->shape, "%s", cf_blob_shape_str(nl->top[t], sh, sizeof sh));
            moments(cf_blob_data(nl->top[t]), nl->top[t]->count, &b->data, NULL);
            moments(cf_blob_diff(nl->top[t]), nl->top[t]->count, &b->diff, NULL);
        }
        for (int p = 0; p < nl->layer->nparam && n < max; p++) {
            cf_blob_stat *b = &out[n++];
            memset(b, 0, sizeof *b);
            cf_blob *pb = nl->layer->param[p];
            snprintf(b->layer, sizeof b->layer, "%s", nl->layer->name);
            snprintf(b->blob, sizeof b->blob, "%s", p == 0 ? "weights" : p == 1 ? "bias" : "param");
            b->kind = 'p';
            char sh[128];
            snprintf(b->shape, sizeof b->shape, "%s", cf_blob_shape_str(pb, sh, sizeof sh));
            double nw, ng;
            moments(cf_blob_data(pb), pb->count, &b->data, &nw);
            moments(cf_blob_diff(pb), pb->count, &b->diff, &ng);
            b->norm = (float)sqrt(nw);
            b->grad_norm = (float)sqrt(ng);
            /* after the update the diff holds the raw gradient; the update is
             * lr·lr_mult·g plus momentum: report the history (the last step) */
            int pi = -1; /* the owner's history (a layer that shares the param has none) */
            for (int k = 0; k < net->nparams; k++)
                if (net->params[k].blob == pb) pi = net->params[k].owner;
            if (pi >= 0 && s->history && s->history[pi] && s->type == CF_SGD)
                b->update_norm = (float)sqrt(sum_squares(cf_blob_data(s->history[pi]), pb->count));
        }
    }
    return n;
}
