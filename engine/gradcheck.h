/* gradcheck.h — a layer's backward checked against central differences.
 *
 * The objective is a fixed pseudo-random projection of the tops,
 *     E = Σ_t Σ_i w_ti · top_t[i],   w_ti ~ U[-1, 1] (seeded),
 * so top diffs are w and every top element matters.  For each element x
 * of each checked bottom and of each param with param_grad set:
 *     numeric  n = (E(x + h) − E(x − h)) / 2h
 *     analytic a = the layer's backward
 *     error    |a − n| / max(|a|, |n|, 1)
 * Bottoms are restored before every forward (so in-place layers can be
 * checked) and the layer's RNG is rewound, so Dropout draws the same mask.
 * Inputs near a kink (ReLU at 0, ties in max pooling) make the numeric
 * side wrong; tests pick inputs away from kinks.
 */
#ifndef CF_GRADCHECK_H
#define CF_GRADCHECK_H

#include "layer.h"
#include "net.h"

typedef struct cf_gradcheck_result {
    double worst;        /* largest error seen */
    char where[160];     /* "bottom 0 [17]" or "param 1 [3]" of the worst */
    double analytic, numeric;
    long checked;        /* elements checked */
    long kinks;          /* elements skipped as non-smooth (skip_kinks) */
} cf_gradcheck_result;

/* check_bottom: per bottom, NULL = all.  step h (1e-2 is Caffe's default
 * for float).  Returns -1 only when forward fails. */
int cf_gradcheck_layer(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, const bool *check_bottom,
                       double step, cf_gradcheck_result *res, cf_error *err);
/* For real nets on real data (`cafetui gradcheck`):
 *   max_per_blob  check at most this many elements of each blob, spread
 *                 evenly with a fixed stride (0 = all);
 *   skip_kinks    skip an element where the one-sided slopes
 *                 (E(x+h) − E(x))/h and (E(x) − E(x−h))/h disagree by more
 *                 than kink_tol — the function itself is not smooth there
 *                 (ReLU near 0, a max changing hands), so no derivative
 *                 exists to compare.  A wrong backward on smooth ground is
 *                 still caught. */
typedef struct cf_gradcheck_opts {
    double step;
    long max_per_blob;
    bool skip_kinks;
    double kink_tol;
} cf_gradcheck_opts;

int cf_gradcheck_layer_opts(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, const bool *check_bottom,
                            const cf_gradcheck_opts *o, cf_gradcheck_result *res, cf_error *err);

/* Check every layer of a net that has a backward, on the data its own
 * forward pass feeds it (the net is run up to the layer first).  cb, if
 * given, hears each layer's result.  *worst is the largest error. */
typedef void (*cf_gradcheck_report)(void *ctx, const cf_layer *l, const cf_gradcheck_result *r);
int cf_gradcheck_net(cf_net *net, const cf_gradcheck_opts *o, cf_gradcheck_report cb, void *ctx, double *worst,
                     cf_error *err);

#endif
