/* test_stats.c — the per-blob statistics the monitor publishes
 * (cf_trainer_stats, engine/trainer.c) against values computed here
 * independently: by hand for blobs set to known values (with zeros, NaN
 * and infinities), and for every row of a net after a real
 * forward/backward pass, with a two-pass computation in double precision
 * (mean first, then the mean squared deviation), where the trainer uses
 * one pass of sums and sums of squares.
 *
 * Conventions checked: mean, std (population: divided by N), min and max
 * are over the finite values; the zero fraction is over all values; a
 * param row's norm, gradient norm and update norm are L2 norms of its
 * data, its diff and the solver's last step (SGD: the momentum history,
 * which is the step just taken).  Rows: each layer's tops in order, then
 * its params ("weights", "bias"); Split layers that the net inserts are
 * left out; a layer that shares a param reports the shared blob.  Large
 * blobs take the trainer's fast path; NaN, infinities and values whose
 * squares overflow a float must not fool it. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "solver.h"
#include "testutil.h"
#include "trainer.h"

/* x → ip1 (3×3 weights named "shared_w", bias with lr_mult 2) → relu (in
 * place) → ip2 (the same weights, no bias) → h2, read by ip3 and by a
 * Silence layer (so the net inserts a Split) → y → Euclidean loss. */
#define NET                                                                                                 \
    "input: [x, t]\n"                                                                                       \
    "input_shape: [{dim: [2, 3]}, {dim: [2, 2]}]\n"                                                         \
    "layer:\n"                                                                                              \
    "  - {name: ip1, type: InnerProduct, bottom: x, top: h, param: [{name: shared_w}, {lr_mult: 2}],\n"     \
    "     inner_product_param: {num_output: 3, weight_filler: {type: gaussian, std: 1},\n"                  \
    "                           bias_filler: {type: constant, value: 0.5}}}\n"                              \
    "  - {name: relu, type: ReLU, bottom: h, top: h}\n"                                                     \
    "  - {name: ip2, type: InnerProduct, bottom: h, top: h2, param: {name: shared_w},\n"                    \
    "     inner_product_param: {num_output: 3, bias_term: false}}\n"                                        \
    "  - {name: ip3, type: InnerProduct, bottom: h2, top: y,\n"                                             \
    "     inner_product_param: {num_output: 2, weight_filler: {type: xavier}}}\n"                           \
    "  - {name: sil, type: Silence, bottom: h2}\n"                                                          \
    "  - {name: loss, type: EuclideanLoss, bottom: [y, t], top: loss}\n"

static cf_solver *make_solver(void)
{
    cf_error err;
    char buf[2048];
    cf_solver_opts o = {.be = tu_backend(), .max_iter = -1, .base_lr = -1, .seed = -1};
    cf_solver *s = cf_solver_new(tu_yaml("base_lr: 0.1\nmomentum: 0.9\nlr_policy: fixed\nrandom_seed: 5\n"),
                                 tu_yaml(NET), &o, &err);
    if (!s) cr_assert_fail("solver: %s", cf_error_str(&err, buf, sizeof buf));
    return s;
}

static cf_layer *layer(cf_solver *s, const char *name)
{
    int i = cf_net_layer_id(s->net, name);
    cr_assert_geq(i, 0, "no layer %s", name);
    return s->net->layers[i].layer;
}

static const cf_blob_stat *row(const cf_blob_stat *st, int n, const char *layer, const char *blob, char kind)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(st[i].layer, layer) && !strcmp(st[i].blob, blob) && st[i].kind == kind) return &st[i];
    cr_assert_fail("no row %s/%s (%c)", layer, blob, kind);
    return NULL;
}

static void set(float *dst, const float *v, int n) { memcpy(dst, v, (size_t)n * sizeof *v); }

#define EPS 1e-6

static void moments_are(const cf_moments *m, double mean, double std, double lo, double hi, double zero, unsigned bad,
                        const char *what)
{
    cr_assert_float_eq(m->mean, mean, EPS, "%s mean %g, want %g", what, m->mean, mean);
    cr_assert_float_eq(m->std, std, EPS, "%s std %g, want %g", what, m->std, std);
    cr_assert_float_eq(m->min, lo, EPS, "%s min %g, want %g", what, m->min, lo);
    cr_assert_float_eq(m->max, hi, EPS, "%s max %g, want %g", what, m->max, hi);
    cr_assert_float_eq(m->zero_frac, zero, EPS, "%s zero fraction %g, want %g", what, m->zero_frac, zero);
    cr_assert_eq(m->nonfinite, bad, "%s non-finite %u, want %u", what, m->nonfinite, bad);
}

Test(stats, rows_in_order_without_splits)
{
    cf_solver *s = make_solver();
    cr_assert_eq(cf_solver_step(s, NULL, NULL), 0);
    cf_blob_stat st[32];
    int n = cf_trainer_stats(s, st, 32);
    static const struct { const char *layer, *blob; char kind; const char *shape; } want[] = {
        {"ip1", "h", 't', "2 3 (6)"},       {"ip1", "weights", 'p', "3 3 (9)"}, {"ip1", "bias", 'p', "3 (3)"},
        {"relu", "h", 't', "2 3 (6)"},      {"ip2", "h2", 't', "2 3 (6)"},      {"ip2", "weights", 'p', "3 3 (9)"},
        {"ip3", "y", 't', "2 2 (4)"},       {"ip3", "weights", 'p', "2 3 (6)"}, {"ip3", "bias", 'p', "2 (2)"},
        {"loss", "loss", 't', "(1)"},
    };
    int nw = (int)(sizeof want / sizeof *want);
    cr_assert_eq(n, nw, "%d rows, want %d (no row for the Split, none for the Silence layer)", n, nw);
    for (int i = 0; i < n; i++) {
        cr_assert_str_eq(st[i].layer, want[i].layer, "row %d", i);
        cr_assert_str_eq(st[i].blob, want[i].blob, "row %d", i);
        cr_assert_eq(st[i].kind, want[i].kind, "row %d", i);
        cr_assert_str_eq(st[i].shape, want[i].shape, "row %d", i);
    }
    cr_assert_eq(cf_trainer_stats(s, st, 4), 4, "at most max rows");
    cf_solver_free(s);
}

/* Blobs set by hand; every figure worked out on paper. */
Test(stats, known_values)
{
    cf_solver *s = make_solver();
    /* a top with zeros, a NaN and an infinity:
     * finite values −1, 3, 0, 0 → mean 0.5, variance (1+9+0+0)/4 − 0.25 = 2.25
     * → std 1.5; min −1, max 3; zeros 2 of 6; non-finite 2.
     * its diff ±0.5 → mean 0, std 0.5, no zeros */
    cf_blob *h2 = s->net->layers[cf_net_layer_id(s->net, "ip2")].top[0];
    set(cf_blob_mdata(h2), (const float[]){-1, 3, 0, NAN, 0, INFINITY}, 6);
    set(cf_blob_mdiff(h2), (const float[]){0.5f, -0.5f, 0.5f, -0.5f, 0.5f, -0.5f}, 6);

    /* params: gradients set, one SGD step taken (lr 0.1, momentum 0.9,
     * empty history: the step is lr·lr_mult·g), then weights set */
    cf_layer *ip1 = layer(s, "ip1"), *ip3 = layer(s, "ip3");
    set(cf_blob_mdiff(ip3->param[0]), (const float[]){0, 1, 2, 2, 0, 0}, 6);       /* ‖g‖ = 3 */
    set(cf_blob_mdiff(ip3->param[1]), (const float[]){0, 0}, 2);
    set(cf_blob_mdiff(ip1->param[0]), (const float[]){1, 0, 0, 0, 2, 0, 0, 0, 2}, 9); /* ‖g‖ = 3 */
    set(cf_blob_mdiff(ip1->param[1]), (const float[]){1, 2, 2}, 3);                 /* ‖g‖ = 3, lr_mult 2 */
    cf_solver_apply_update(s);
    set(cf_blob_mdata(ip3->param[0]), (const float[]){3, 0, 0, 4, 0, 0}, 6);        /* ‖w‖ = 5 */
    set(cf_blob_mdata(ip1->param[0]), (const float[]){0, 0, 0, 0, 0, 0, 0, 6, 8}, 9); /* ‖w‖ = 10 */
    set(cf_blob_mdata(ip1->param[1]), (const float[]){-2, 0, 2}, 3);

    cf_blob_stat st[32];
    int n = cf_trainer_stats(s, st, 32);
    const cf_blob_stat *r = row(st, n, "ip2", "h2", 't');
    moments_are(&r->data, 0.5, 1.5, -1, 3, 2.0 / 6, 2, "h2 data");
    moments_are(&r->diff, 0, 0.5, -0.5, 0.5, 0, 0, "h2 diff");

    r = row(st, n, "ip3", "weights", 'p');
    cr_assert_float_eq(r->norm, 5, EPS);
    cr_assert_float_eq(r->grad_norm, 3, EPS);
    cr_assert_float_eq(r->update_norm, 0.3, EPS, "update 0.1·g: %g", r->update_norm);
    /* weights 3, 0, 0, 4, 0, 0: mean 7/6, E[w²] = 25/6 → std √(25/6 − 49/36) */
    moments_are(&r->data, 7.0 / 6, sqrt(25.0 / 6 - 49.0 / 36), 0, 4, 4.0 / 6, 0, "ip3 weights");
    r = row(st, n, "ip3", "bias", 'p');
    cr_assert(r->grad_norm == 0 && r->update_norm == 0);

    r = row(st, n, "ip1", "bias", 'p');
    cr_assert_float_eq(r->norm, sqrt(8.0), EPS);
    cr_assert_float_eq(r->grad_norm, 3, EPS);
    cr_assert_float_eq(r->update_norm, 0.6, EPS, "lr_mult 2: update 0.2·g: %g", r->update_norm);
    moments_are(&r->data, 0, sqrt(8.0 / 3), -2, 2, 1.0 / 3, 0, "ip1 bias");

    /* the shared weights: the same figures from both of their layers */
    for (int k = 0; k < 2; k++) {
        const char *who = k ? "ip2" : "ip1";
        r = row(st, n, who, "weights", 'p');
        cr_assert_float_eq(r->norm, 10, EPS, "%s", who);
        cr_assert_float_eq(r->grad_norm, 3, EPS, "%s", who);
        cr_assert_float_eq(r->update_norm, 0.3, EPS, "%s: update of the shared weights %g", who, r->update_norm);
    }
    cf_solver_free(s);
}

/* The reference: two passes in double. */
static void reference(const float *d, size_t n, cf_moments *m)
{
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    size_t finite = 0, zeros = 0;
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == 0) zeros++;
        if (!isfinite(d[i])) {
            bad++;
            continue;
        }
        finite++;
        sum += d[i];
        lo = fmin(lo, d[i]);
        hi = fmax(hi, d[i]);
    }
    double mean = finite ? sum / (double)finite : 0, dev = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(d[i])) dev += (d[i] - mean) * (d[i] - mean);
    m->mean = (float)mean;
    m->std = finite ? (float)sqrt(dev / (double)finite) : 0;
    m->min = finite ? (float)lo : 0;
    m->max = finite ? (float)hi : 0;
    m->zero_frac = n ? (float)zeros / (float)n : 0;
    m->nonfinite = bad;
}

static double l2(const float *d, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)d[i] * d[i];
    return sqrt(s);
}

static void same_moments(const cf_moments *got, const cf_moments *want, const char *what)
{
    /* relative to the spread of the values: float sums against double */
    double tol = 1e-5 * (fabs(want->mean) + want->std + 1e-3);
    cr_assert_float_eq(got->mean, want->mean, tol, "%s mean %.9g vs %.9g", what, got->mean, want->mean);
    cr_assert_float_eq(got->std, want->std, tol, "%s std %.9g vs %.9g", what, got->std, want->std);
    cr_assert_eq(got->min, want->min, "%s min", what);
    cr_assert_eq(got->max, want->max, "%s max", what);
    cr_assert_float_eq(got->zero_frac, want->zero_frac, 1e-7, "%s zero fraction", what);
    cr_assert_eq(got->nonfinite, want->nonfinite, "%s non-finite", what);
}

/* Every row after real iterations, against the reference. */
Test(stats, every_row_after_training_steps)
{
    cf_solver *s = make_solver();
    tu_fill(cf_net_blob(s->net, "x"), -1, 1, 11);
    tu_fill(cf_net_blob(s->net, "t"), -1, 1, 12);
    for (int i = 0; i < 3; i++) cr_assert_eq(cf_solver_step(s, NULL, NULL), 0);
    /* forward and backward once more without an update, so that the
     * diffs are the gradients of the weights as they are now */
    cf_net_clear_param_diffs(s->net, NULL);
    cr_assert_eq(cf_net_forward(s->net, NULL, NULL), 0);
    cf_net_backward(s->net);

    cf_blob_stat st[32];
    int n = cf_trainer_stats(s, st, 32);
    int rows = 0, relu_zero = 0;
    for (int li = 0; li < s->net->nlayers; li++) {
        const cf_net_layer *nl = &s->net->layers[li];
        if (!strcmp(nl->layer->ops->type, "Split")) continue;
        for (int t = 0; t < nl->nt; t++, rows++) {
            const cf_blob_stat *r = row(st, n, nl->layer->name, nl->top[t]->name, 't');
            cf_moments m;
            char what[96];
            snprintf(what, sizeof what, "%s:%s data", r->layer, r->blob);
            reference(cf_blob_data(nl->top[t]), nl->top[t]->count, &m);
            same_moments(&r->data, &m, what);
            if (!strcmp(r->layer, "relu")) relu_zero = m.zero_frac > 0;
            snprintf(what, sizeof what, "%s:%s diff", r->layer, r->blob);
            reference(cf_blob_diff(nl->top[t]), nl->top[t]->count, &m);
            same_moments(&r->diff, &m, what);
        }
        for (int p = 0; p < nl->layer->nparam; p++, rows++) {
            cf_blob *pb = nl->layer->param[p];
            const cf_blob_stat *r = row(st, n, nl->layer->name, p ? "bias" : "weights", 'p');
            char what[96];
            snprintf(what, sizeof what, "%s.%s", r->layer, r->blob);
            cf_moments m;
            reference(cf_blob_data(pb), pb->count, &m);
            same_moments(&r->data, &m, what);
            reference(cf_blob_diff(pb), pb->count, &m);
            same_moments(&r->diff, &m, what);
            cr_assert_float_eq(r->norm, l2(cf_blob_data(pb), pb->count), 1e-5 * r->norm + 1e-9, "%s norm", what);
            cr_assert_float_eq(r->grad_norm, l2(cf_blob_diff(pb), pb->count), 1e-5 * r->grad_norm + 1e-9, "%s grad", what);
            /* the last step, from the solver's history of the owner */
            int owner = -1;
            for (int k = 0; k < s->net->nparams; k++)
                if (s->net->params[k].blob == pb) owner = s->net->params[k].owner;
            cr_assert_geq(owner, 0);
            double upd = l2(cf_blob_data(s->history[owner]), pb->count);
            cr_assert(upd > 0, "%s has moved", what);
            cr_assert_float_eq(r->update_norm, upd, 1e-5 * upd, "%s update %g vs %g", what, r->update_norm, upd);
        }
    }
    cr_assert_eq(rows, n, "every row checked");
    cr_assert(relu_zero, "the ReLU output has zeros (the zero fraction is exercised)");
    cf_solver_free(s);
}

/* Blobs large enough for the trainer's fast path (blocks of 512 values
 * summed in float lanes), and the values that must send it back to the
 * careful loop: a NaN or an infinity among them, or values whose squares
 * overflow a float.  A large offset with a small spread must keep its
 * digits (the sums are taken around a pivot). */
Test(stats, large_blobs_and_awkward_values)
{
    cf_error err;
    char buf[2048];
    cf_solver_opts o = {.be = tu_backend(), .max_iter = -1, .base_lr = -1, .seed = -1};
    cf_solver *s = cf_solver_new(tu_yaml("base_lr: 0.1\nlr_policy: fixed\n"),
                                 tu_yaml("input: x\ninput_shape: {dim: [2, 3]}\nlayer:\n"
                                         "  - {name: big, type: InnerProduct, bottom: x, top: y,\n"
                                         "     inner_product_param: {num_output: 2000, bias_term: false}}\n"),
                                 &o, &err);
    if (!s) cr_assert_fail("solver: %s", cf_error_str(&err, buf, sizeof buf));
    cf_blob *y = s->net->layers[0].top[0], *w = s->net->layers[0].layer->param[0];
    cr_assert(y->count == 4000 && w->count == 6000);
    float *yd = cf_blob_mdata(y), *yg = cf_blob_mdiff(y), *wd = cf_blob_mdata(w), *wg = cf_blob_mdiff(w);
    tu_fill(y, -0.01f, 0.01f, 21);
    for (size_t i = 0; i < y->count; i++) yd[i] += 1e4f;  /* 1e4 ± 0.01 */
    for (size_t i = 0; i < y->count; i++) yg[i] = (float)((i * 7919) % 1000) / 1000 - 0.5f;
    yg[1234] = NAN;                                         /* far from the first block */
    yg[3999] = INFINITY;                                    /* in the tail after the last full block */
    for (size_t i = 0; i < w->count; i++) wd[i] = (float)(i % 13) - 6;
    wd[0] = NAN;                                            /* the pivot itself */
    for (size_t i = 0; i < w->count; i++) wg[i] = (float)(i % 5);
    wg[700] = 3e20f, wg[4000] = -2e20f;                     /* their squares overflow a float */

    cf_blob_stat st[4];
    int n = cf_trainer_stats(s, st, 4);
    cr_assert_eq(n, 2);
    cf_moments m;
    reference(yd, y->count, &m);
    cr_assert_float_eq(st[0].data.mean, m.mean, 1e-7 * 1e4);
    cr_assert_float_eq(st[0].data.std, m.std, 1e-3 * m.std, "std %.6g vs %.6g: the spread lost its digits", st[0].data.std,
                       m.std);
    cr_assert(m.std > 0.004 && m.std < 0.008, "the reference itself: %g", m.std);
    reference(yg, y->count, &m);
    same_moments(&st[0].diff, &m, "y diff with a NaN and an Inf");
    cr_assert_eq(st[0].diff.nonfinite, 2);
    reference(wd, w->count, &m);
    same_moments(&st[1].data, &m, "weights with a NaN first");
    cr_assert(isnan(st[1].norm), "the norm of weights holding a NaN is NaN: %g", st[1].norm);
    reference(wg, w->count, &m);
    same_moments(&st[1].diff, &m, "gradients of 1e20");
    double want = l2(wg, w->count);
    cr_assert(isfinite(st[1].grad_norm) && fabs(st[1].grad_norm - want) <= 1e-6 * want, "grad norm %g vs %g",
              st[1].grad_norm, want);
    cf_solver_free(s);
}
