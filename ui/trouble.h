/* trouble.h — the rules that mark a layer-table row as a sign of trouble:
 *   dead ReLU      a ReLU's output is zero for more than 90% of its units
 *                  (they pass no gradient and may never come back);
 *   exploding      a param's last update is more than 1e-1 of its norm
 *                  (one step changes it by 10% or more);
 *   vanishing      a param's last update is less than 1e-7 of its norm
 *                  (it effectively stopped learning);
 *   non-finite     any NaN or Inf in the values or their gradients.
 * Update/weight ratio = ‖Δw‖ / ‖w‖ with the norms the monitor publishes;
 * rows with no update yet (or weights of norm 0) have no ratio.  Pure,
 * unit-tested. */
#ifndef CF_UI_TROUBLE_H
#define CF_UI_TROUBLE_H

#include <stdbool.h>

#include "monitor.h"

enum {
    CF_TROUBLE_DEAD = 1,
    CF_TROUBLE_EXPLODE = 2,
    CF_TROUBLE_VANISH = 4,
    CF_TROUBLE_NONFINITE = 8,
};

#define CF_DEAD_ZERO_FRAC 0.9
#define CF_EXPLODE_RATIO 1e-1
#define CF_VANISH_RATIO 1e-7

/* ‖update‖/‖w‖ of a param row, or -1 when there is none. */
double cf_update_ratio(const cf_blob_stat *b);
/* Bit set of CF_TROUBLE_*; relu_top: the row is the top of a ReLU layer. */
unsigned cf_trouble(const cf_blob_stat *b, bool relu_top);

#endif
