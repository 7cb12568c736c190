/* reducer.h — averaging the gradients of a net over the ranks of a
 * data-parallel job, overlapped with the backward pass.
 *
 * Synchronous data parallelism: every rank holds the same weights, runs
 * forward and backward on its own batch of B examples, and then every
 * learnable gradient is replaced by the mean over the N ranks,
 *     g ← (1/N) Σ_r g_r,
 * so that every rank applies the same update.  Each g_r is already a mean
 * over B examples (the loss layers normalise by their batch), so the mean
 * of the N is the gradient of one batch of N·B examples: N ranks with
 * batch B learn as one process with batch N·B, up to float rounding.
 *
 * Buckets: the learnable params (the owners of shared params, lr_mult
 * != 0) are taken in the order the backward pass finishes them — a
 * param's gradient is final once the earliest layer that uses it has run
 * its backward — and cut into buckets of about `bucket_bytes` (a param is
 * never split).  As the backward pass leaves layer l (the net's
 * after_backward hook), every bucket whose params are all final is packed
 * and its sum started (cf_dist_start_sum), so the gradients of the last
 * layers travel while the first layers compute; each later hook also
 * pokes the oldest unfinished sum so that MPI moves it along.  A bucket of
 * a single param is summed in place, without packing.
 *
 * `nextra` more floats ride in the last bucket: the caller's own values
 * (the loss, each rank's timings), summed with the rest.
 *
 * On a GPU whose memory the communicator can sum itself (NCCL: see
 * cf_dist_attach_gpu), a bucket is the list of its params' device diffs,
 * summed in place where the backward pass left them and scaled there;
 * the extras then take the host channel on their own.
 *
 * Every rank builds the same buckets from the same net, so the sums are
 * started in the same order everywhere, as MPI requires.
 */
#ifndef CF_REDUCER_H
#define CF_REDUCER_H

#include "dist.h"
#include "net.h"

typedef struct cf_reducer cf_reducer;

#define CF_BUCKET_BYTES (1u << 20)

cf_reducer *cf_reducer_new(cf_dist *d, cf_net *net, size_t bucket_bytes, int nextra);
void cf_reducer_free(cf_reducer *r);

/* Before the (last) backward pass of an iteration: remember extra[0 ..
 * nextra) and hook into the net's backward.  The hook must not outlive
 * the pass: call cf_reducer_finish after it. */
void cf_reducer_arm(cf_reducer *r, const float *extra);
/* After the backward pass: start what is left, wait for everything,
 * unpack, scale the gradients by 1/N; extra (may be NULL) gets the sums
 * of the extra values.  Unhooks.  0, or -1 with err (a failed call). */
int cf_reducer_finish(cf_reducer *r, float *extra, cf_error *err);

typedef struct cf_reducer_info {
    int nbuckets;
    size_t floats;          /* gradient floats reduced per iteration (without extras) */
    double post_s;          /* last iteration: seconds packing and starting during backward */
    double wait_s;          /* last iteration: seconds in finish (waiting, unpacking, scaling) */
} cf_reducer_info;

void cf_reducer_info_get(const cf_reducer *r, cf_reducer_info *out);
/* Whether the buckets are device diffs summed by the communicator. */
bool cf_reducer_on_device(const cf_reducer *r);
/* Which bucket param i of the net went to (-1: not reduced); tests. */
int cf_reducer_bucket_of(const cf_reducer *r, int param);

#endif
