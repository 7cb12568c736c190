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

typedef struct cf_gradcheck_result {
    double worst;        /* largest error seen */
    char where[160];     /* "bottom 0 [17]" or "param 1 [3]" of the worst */
    double analytic, numeric;
    long checked;        /* elements checked */
} cf_gradcheck_result;

/* check_bottom: per bottom, NULL = all.  step h (1e-2 is Caffe's default
 * for float).  Returns -1 only when forward fails. */
int cf_gradcheck_layer(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, const bool *check_bottom,
                       double step, cf_gradcheck_result *res, cf_error *err);

#endif
