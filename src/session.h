/* session.h — everything a training run needs, set up from the command
 * line: the recipe, the backend, the solver (with --weights or --resume
 * applied), the run directory, and the monitor + trainer that the front
 * ends (headless, TUI) drive.  Shared by `train`, `--headless` and the TUI.
 *
 * Run directory (--run-dir, default runs/<recipe name>): a copy of the
 * recipe, train.log (every line printed), metrics.jsonl, and snapshots
 * (unless the recipe's snapshot_prefix says elsewhere; a relative prefix
 * is taken from the working directory, as Caffe does).
 *
 * Several processes (started by mpirun, see engine/dist/dist.h): every
 * rank opens a session; rank 0 alone writes the run directory (log,
 * metrics, snapshots) and hears signals and commands, the others train
 * quietly.  Opening ends with every rank learning whether all opened
 * (else all fail, each failed rank saying why) and then taking rank 0's
 * weights and solver state (cf_solver_dist_sync).  Closing after rank 0
 * stopped early tells the others; after a failure it ends the whole job.
 */
#ifndef CF_SESSION_H
#define CF_SESSION_H

#include <stdio.h>

#include "args.h"
#include "recipe.h"
#include "trainer.h"

typedef struct cf_session {
    cf_recipe recipe;
    cf_backend *be;
    cf_solver *solver;
    cf_monitor *mon;
    cf_trainer trainer;
    char run_dir[512];
    char snapshot_prefix[768];
    FILE *log;             /* run_dir/train.log */
    FILE *metrics;         /* run_dir/metrics.jsonl */
    int threads;
    const char *sigint_effect, *sighup_effect; /* stop | snapshot | none */
    bool quiet;
    char device_note[512]; /* the GPU in use, or why solver_mode GPU runs on the CPU (front ends print it) */
    cf_dist *dist;         /* the job (the single process when alone) */
    bool started;          /* the trainer ran */
} cf_session;

/* Flags understood by cf_session_open (terminated by {NULL}); the caller
 * may pass its own table as long as it contains these names. */
extern cf_flag cf_train_flags[];

/* Open a session from parsed flags and the recipe path.  Prints nothing;
 * on failure returns the exit code (2 bad input, 1 runtime) with err. */
int cf_session_open(cf_session *s, const char *recipe_path, const cf_flag *flags, cf_error *err);
void cf_session_close(cf_session *s);

/* Write a line to the run log (and stderr unless quiet). */
void cf_session_print(cf_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A second SIGINT or SIGTERM after a stop was asked for: the user will
 * not wait for the snapshot or the test pass under way.  Writes why to
 * the log (and stderr), flushes the log and metrics, and ends the process
 * with status 130 (128 + SIGINT) without joining the worker.  Nothing on
 * disk is lost: a snapshot being written is still a temporary file, which
 * the next run in this directory removes (snapshot.h).  The terminal view
 * restores the terminal before calling this. */
_Noreturn void cf_session_abort_now(cf_session *s, const char *signame);

/* Start the trainer on a worker thread. */
int cf_session_start(cf_session *s);
/* Wait for the worker; returns the trainer's exit code. */
int cf_session_join(cf_session *s);

#endif
