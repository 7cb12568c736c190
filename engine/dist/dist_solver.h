/* dist_solver.h — the solver's side of data parallelism, called from
 * solver.c at fixed points of an iteration (see solver.h, "Several
 * processes").  Internal to the engine.
 *
 *   cf_solver_new   → cf_dist_solver_setup   shard the Data layers, make the reducer,
 *                                            keep the test nets on rank 0 only
 *   cf_solver_step  → cf_dist_step_begin     rank 0's {go/stop, lr_scale}
 *                     … forward, and before the last backward:
 *                     cf_dist_step_arm       hand the loss to the reducer, hook the backward
 *                     … backward (buckets start as layers finish):
 *                     cf_dist_step_finish    mean gradients and loss; timings
 * All are no-ops for a solver that is alone.
 */
#ifndef CF_DIST_SOLVER_H
#define CF_DIST_SOLVER_H

#include "solver.h"

int cf_dist_solver_setup(cf_solver *s, cf_error *err);
void cf_dist_solver_free(cf_solver *s);
int cf_dist_step_begin(cf_solver *s, cf_error *err);
void cf_dist_step_arm(cf_solver *s, float loss);
int cf_dist_step_finish(cf_solver *s, float *loss, cf_error *err);

#endif
