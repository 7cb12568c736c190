/* trainer.h — the training loop, run on a worker thread, talking to front
 * ends only through a cf_monitor.
 *
 * Order of one iteration, as Caffe's solver:
 *   test (every test_interval, and at 0 unless test_initialization is
 *   false) → forward/backward/update → publish the iteration → snapshot
 *   (every `snapshot` iterations).
 * After max_iter: a final snapshot (snapshot_after_train) and a final test
 * when max_iter is a multiple of test_interval.
 * Between iterations it drains commands: pause/resume, lr changes (logged
 * with their iteration), snapshot now, test now, stop.
 * A loss that turns NaN or infinite stops the run with an error naming the
 * first layer whose output went non-finite.
 */
#ifndef CF_TRAINER_H
#define CF_TRAINER_H

#include "monitor.h"
#include "solver.h"

/* Writes a snapshot of the solver at `path_prefix` (the trainer appends
 * nothing); returns 0 or -1 with err.  Provided by the snapshot module. */
typedef int (*cf_snapshot_fn)(cf_solver *s, const char *path, cf_error *err);

typedef struct cf_trainer {
    cf_solver *solver;
    cf_monitor *mon;
    cf_snapshot_fn snapshot;    /* NULL: snapshots are skipped with a warning */
    const char *snapshot_prefix; /* "runs/x/snapshots/lenet" → lenet_iter_N.h5 */
    /* A periodic snapshot that fails (a full disk): false (default) stops
     * the run with the error; true logs it and trains on (a later snapshot
     * may succeed once room is made), but a run that ends with its last
     * snapshot failed still fails.  A snapshot asked for by hand only
     * ever logs its failure. */
    bool snapshot_errors_continue;
    int exit_code;              /* 0 done, 1 runtime failure */
    cf_error err;
    bool stop_requested;
} cf_trainer;

/* Run to max_iter or until stopped.  Returns 0 or -1 (t->err filled and
 * published in the status). */
int cf_trainer_run(cf_trainer *t);
/* Fill per-blob statistics of the train net (at most max). */
int cf_trainer_stats(const cf_solver *s, cf_blob_stat *out, int max);
/* Name of the first layer whose top holds a NaN/Inf, or NULL. */
const char *cf_first_nonfinite(const cf_net *net, const char **blob);
/* Snapshot now, to "<prefix>_iter_<N>.h5".  Returns 0 or -1. */
int cf_trainer_snapshot(cf_trainer *t);

#endif
