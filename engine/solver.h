/* solver.h — learning: a train net, its test nets, and the update rule.
 *
 * Reads Caffe's SolverParameter fields from the solver config:
 *   type (SGD; Nesterov, AdaGrad, RMSProp, AdaDelta, Adam), base_lr,
 *   lr_policy (fixed, step, exp, inv, multistep, poly, sigmoid; and Mocha's
 *   staged, with lr_stage) with gamma, power, stepsize, stepvalue;
 *   momentum, momentum2, delta, rms_decay;
 *   weight_decay, regularization_type (L2, L1); iter_size; clip_gradients;
 *   max_iter, display, average_loss; test_iter, test_interval,
 *   test_initialization, test_compute_loss; snapshot, snapshot_prefix,
 *   snapshot_after_train; random_seed; solver_mode (CPU).
 * The net comes from the caller (already parsed).  Test nets are built from
 * the same net config in phase TEST, one per test_iter value, and share the
 * train net's weights.
 *
 * One iteration (cf_solver_step), as Caffe's SGDSolver:
 *   zero param diffs; iter_size × (forward, backward); then per learnable
 *   param: clip (global L2 norm > clip_gradients → scale all), normalise
 *   (÷ iter_size), regularise (L2: g += λ·decay_mult·w; L1: g += λ·decay_mult·sign w),
 *   update with the solver's rule at rate lr·lr_mult, and w −= update.
 * With a GPU backend (engine/cuda) each param whose gradient is on the
 * device is updated there (backend.h's update op: clipping, scaling,
 * regularisation and the rule), its history with it; a param whose
 * gradient the host computed is updated on the host.
 *
 * The solver never prints; front ends read its state (iter, loss, lr) and
 * the results of cf_solver_test.  Randomness comes from one generator
 * seeded by random_seed, saved in snapshots.
 *
 * Several processes (opts.dist of size N > 1, synchronous data
 * parallelism): the train net's Data layers read their shard of each
 * global batch (cf_data_layer_shard); every iteration starts with rank 0
 * broadcasting {go or stop, lr_scale} (so a stop, a pause or an lr change
 * made on rank 0 holds on every rank), and the last backward pass
 * averages the gradients over the ranks as it goes (engine/dist/
 * reducer.h), together with the loss, before the update — which is then
 * the same on every rank.  N ranks with batch B learn as one with batch
 * N·B.  Test nets exist on rank 0 only.  cf_solver_dist_sync makes every
 * rank start from rank 0's state.
 */
#ifndef CF_SOLVER_H
#define CF_SOLVER_H

#include "dist/dist.h"
#include "net.h"

typedef enum { CF_SGD, CF_NESTEROV, CF_ADAGRAD, CF_RMSPROP, CF_ADADELTA, CF_ADAM } cf_solver_type;
typedef enum {
    CF_LR_FIXED, CF_LR_STEP, CF_LR_EXP, CF_LR_INV, CF_LR_MULTISTEP, CF_LR_POLY, CF_LR_SIGMOID, CF_LR_STAGED
} cf_lr_policy;

#define CF_MAX_TEST_NETS 8
#define CF_MAX_STEPS 64
#define CF_MAX_OUTPUTS 32
#define CF_MAX_STAGES 16
#define CF_DIST_SHOWN 64    /* ranks whose timings every rank learns */

/* One stage of the staged policy (Mocha's LRPolicy.Staged): a policy of
 * its own that rules until iteration `end` (exclusive; the last stage has
 * no end).  See cf_solver_lr. */
typedef struct cf_lr_stage {
    long end;
    cf_lr_policy policy;
    double base_lr;         /* < 0: the solver's base_lr (so --base-lr reaches it) */
    double gamma, power;
    long stepsize;
    long max_iter;          /* < 0: the solver's max_iter */
    int nstepvalue;
    long stepvalue[CF_MAX_STEPS];
} cf_lr_stage;

typedef struct cf_solver_opts {
    cf_backend *be;
    cf_log_fn log;          /* shape reports of the nets; may be NULL */
    void *log_ctx;
    /* command-line overrides; a negative value leaves the recipe's */
    long max_iter;
    double base_lr;
    long long seed;
    cf_dist *dist;          /* the data-parallel job; NULL or size 1: alone */
    size_t bucket_bytes;    /* gradient bucket size; 0: CF_BUCKET_BYTES */
} cf_solver_opts;

/* Several processes: what the last iterations cost in communication. */
typedef struct cf_dist_timing {
    int ranks;
    double step_s;          /* last iteration: seconds in cf_solver_step */
    double comm_s;          /*   of which communicating: the control broadcast,
                             *   starting sums during backward, waiting at the end */
    double total_step_s, total_comm_s; /* since the start */
    long steps;
    size_t grad_bytes;      /* gradient bytes reduced per iteration */
    int nbuckets;
    double compute_s;       /* last iteration: this rank's seconds computing */
    /* the previous iteration's computing seconds of ranks 0 .. min(N, CF_DIST_SHOWN)−1 */
    double rank_compute_s[CF_DIST_SHOWN];
    double started, ctl_s;  /* scratch of the iteration under way */
} cf_dist_timing;

typedef struct cf_test_output {
    char name[128];         /* "accuracy", or "loss" ... */
    double value;           /* mean over test_iter batches (× loss_weight) */
    bool is_loss;
    double weight;          /* its loss_weight (0: not a loss) */
} cf_test_output;

typedef struct cf_test_result {
    int net;                /* which test net */
    int iter;               /* solver iteration it was taken at */
    int noutputs;
    cf_test_output out[CF_MAX_OUTPUTS];
    double loss;            /* Σ of the weighted loss outputs */
} cf_test_result;

typedef struct cf_solver {
    cf_solver_opts opts;
    cf_node *conf;
    cf_net *net;
    int ntest;
    cf_net *test[CF_MAX_TEST_NETS];
    long test_iter[CF_MAX_TEST_NETS];
    cf_rng rng;

    /* hyper-parameters */
    cf_solver_type type;
    cf_lr_policy policy;
    double base_lr, gamma, power, momentum, momentum2, delta, rms_decay, weight_decay, clip_gradients;
    long stepsize, max_iter, display, average_loss, test_interval, iter_size, snapshot;
    int nstepvalue;
    long stepvalue[CF_MAX_STEPS];
    int nstage;             /* lr_policy staged */
    cf_lr_stage stage[CF_MAX_STAGES];
    bool l1, test_initialization, snapshot_after_train;
    const char *snapshot_prefix;
    long long random_seed;
    bool gpu_requested;     /* solver_mode: GPU (the caller decides what to do) */

    /* state (what a snapshot saves) */
    int iter;
    int current_step;       /* multistep position */
    /* Per owned param i: the solver history (momentum, ...) and the second
     * one (Adam, AdaDelta; else NULL), blobs shaped as the param so that
     * they live where the update runs (on the device with a GPU backend)
     * and are read on the host through the blob API (snapshots). */
    cf_blob **history;
    cf_blob **history2;
    double lr_scale;        /* set from a front end: lr = policy × lr_scale */

    /* loss smoothing over the last average_loss iterations */
    float *losses;
    int nlosses, loss_pos;
    float last_loss, smoothed_loss;

    /* several processes (NULL / unused when alone) */
    struct cf_reducer *reducer;
    float *dist_extra;      /* rides with the gradients: loss, each rank's compute seconds */
    bool dist_stopped;      /* rank > 0: rank 0 ended the run before max_iter */
    cf_dist_timing dist_timing;
} cf_solver;

cf_solver *cf_solver_new(cf_node *solver_conf, cf_node *net_conf, const cf_solver_opts *opts, cf_error *err);
void cf_solver_free(cf_solver *s);

/* Learning rate the policy gives at the current iteration (× lr_scale).
 * Staged: the first stage whose end is past the iteration (else the last)
 * gives it, its own policy evaluated at the global iteration, as Mocha's
 * Staged policy does. */
double cf_solver_lr(const cf_solver *s);
/* One iteration; fills *loss with the (unsmoothed) training loss. */
int cf_solver_step(cf_solver *s, float *loss, cf_error *err);
/* Run test net k for its test_iter batches. */
int cf_solver_test(cf_solver *s, int k, cf_test_result *res, cf_error *err);
/* Apply the update from the current param diffs (used by step and by
 * tests that set gradients by hand). */
void cf_solver_apply_update(cf_solver *s);

/* Several processes, collective: every rank takes rank 0's weights,
 * solver history, iteration, lr scale and data positions (after a resume
 * or --weights, or none); ranks > 0 then draw from their own stream of
 * the generator.  A no-op alone. */
int cf_solver_dist_sync(cf_solver *s, cf_error *err);
/* Rank 0, when it stops before max_iter: tell the other ranks, whose
 * next cf_solver_step then fails with dist_stopped set. */
int cf_solver_dist_leave(cf_solver *s, cf_error *err);

#endif
