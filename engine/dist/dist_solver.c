/* dist_solver.c — the solver over several processes (see dist_solver.h
 * and solver.h, "Several processes").
 *
 * What keeps the ranks in step:
 *   - the same weights: rank 0's are broadcast at the start and after a
 *     resume (cf_solver_dist_sync); from then on every rank applies the
 *     same update to the same weights, so they stay equal bit for bit;
 *   - the same update: the gradients are averaged (reducer.h) and rank 0's
 *     lr_scale travels in the control message that opens each iteration;
 *   - the same iterations: that message also says whether rank 0 goes on
 *     (rank 0 stops early: `q` in the TUI, SIGINT, a stop command); a loss
 *     that turns NaN is the mean over the ranks, so all see it at once.
 * Things that are per rank, by design: the data (shards), the generator's
 * stream (ranks > 0 move to their own: dropout masks differ), BatchNorm's
 * running statistics (lr_mult 0 params are not averaged; rank 0's are the
 * ones snapshots keep, as with Caffe's multi-GPU training).
 */
#include "dist_solver.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reducer.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static cf_dist *job(const cf_solver *s) { return cf_dist_size(s->opts.dist) > 1 ? s->opts.dist : NULL; }
static int shown(const cf_dist *d) { return d->size < CF_DIST_SHOWN ? d->size : CF_DIST_SHOWN; }

/* The reducer, with the buckets the communicator can sum now (host
 * memory, or the GPU's once a device channel is attached). */
static void make_reducer(cf_solver *s, cf_dist *d)
{
    cf_reducer_free(s->reducer);
    size_t bucket = s->opts.bucket_bytes ? s->opts.bucket_bytes : CF_BUCKET_BYTES;
    s->reducer = cf_reducer_new(d, s->net, bucket, 1 + shown(d));
    cf_reducer_info info;
    cf_reducer_info_get(s->reducer, &info);
    s->dist_timing.ranks = d->size;
    s->dist_timing.grad_bytes = info.floats * sizeof(float);
    s->dist_timing.nbuckets = info.nbuckets;
}

int cf_dist_solver_setup(cf_solver *s, cf_error *err)
{
    cf_dist *d = job(s);
    if (!d) return 0;
    cf_net *net = s->net;
    for (int li = 0; li < net->nlayers; li++) {
        cf_layer *l = net->layers[li].layer;
        if (l->ops->shard && l->ops->shard(l, d->rank, d->size, err)) return -1;
    }
    /* the test nets run on rank 0 alone, which reports them */
    if (d->rank > 0) {
        for (int k = 0; k < s->ntest; k++) cf_net_free(s->test[k]), s->test[k] = NULL;
        s->ntest = 0;
    }
    make_reducer(s, d);
    s->dist_extra = calloc((size_t)(1 + shown(d)), sizeof(float));
    if (!s->dist_extra) abort();
    return 0;
}

void cf_dist_solver_free(cf_solver *s)
{
    cf_reducer_free(s->reducer);
    s->reducer = NULL;
    free(s->dist_extra);
    s->dist_extra = NULL;
}

/* The message that opens an iteration: {stop?, lr_scale}, from rank 0. */
static int control(cf_solver *s, double stop, cf_error *err)
{
    cf_dist *d = job(s);
    double msg[2] = {stop, s->lr_scale};
    if (cf_dist_bcast(d, msg, sizeof msg, 0, err)) return -1;
    if (msg[0] != 0) {
        s->dist_stopped = true;
        if (d->rank == 0) return 0; /* the one that said it */
        return cf_error_set(err, CF_ERUNTIME, "rank 0 stopped the run at iteration %d", s->iter);
    }
    s->lr_scale = msg[1];
    return 0;
}

int cf_dist_step_begin(cf_solver *s, cf_error *err)
{
    if (!job(s)) return 0;
    cf_dist_timing *t = &s->dist_timing;
    t->started = now_s();
    int rc = control(s, 0, err);
    t->ctl_s = now_s() - t->started;
    return rc;
}

void cf_dist_step_arm(cf_solver *s, float loss)
{
    cf_dist *d = job(s);
    if (!d) return;
    int n = shown(d);
    memset(s->dist_extra, 0, (size_t)(1 + n) * sizeof(float));
    s->dist_extra[0] = loss;
    if (d->rank < n) s->dist_extra[1 + d->rank] = (float)s->dist_timing.compute_s;
    cf_reducer_arm(s->reducer, s->dist_extra);
}

int cf_dist_step_finish(cf_solver *s, float *loss, cf_error *err)
{
    cf_dist *d = job(s);
    if (!d) return 0;
    cf_dist_timing *t = &s->dist_timing;
    double before = now_s();
    if (cf_reducer_finish(s->reducer, s->dist_extra, err)) return -1;
    cf_reducer_info info;
    cf_reducer_info_get(s->reducer, &info);
    int n = shown(d);
    *loss = s->dist_extra[0] / (float)d->size;
    for (int r = 0; r < n; r++) t->rank_compute_s[r] = s->dist_extra[1 + r];
    double end = now_s();
    t->step_s = end - t->started;
    t->comm_s = t->ctl_s + info.post_s + info.wait_s;
    t->compute_s = (before - t->started) - t->ctl_s - info.post_s;
    t->total_step_s += t->step_s;
    t->total_comm_s += t->comm_s;
    t->steps++;
    return 0;
}

int cf_solver_dist_leave(cf_solver *s, cf_error *err)
{
    if (!job(s) || job(s)->rank != 0) return 0;
    return control(s, 1, err);
}

/* ---- starting together ---- */

static int bcast_floats(cf_dist *d, float *p, size_t n, cf_error *err)
{
    return p ? cf_dist_bcast(d, p, n * sizeof(float), 0, err) : 0;
}

/* Every data layer of the train net to rank 0's global position (the
 * shard makes each rank read its own slice from there). */
static int sync_positions(cf_solver *s, cf_dist *d, cf_error *err)
{
    for (int li = 0; li < s->net->nlayers; li++) {
        cf_layer *l = s->net->layers[li].layer;
        if (!l->ops->position) continue;
        size_t n = l->ops->position(l, NULL); /* the same on every rank: the same recipe */
        uint64_t *pos = malloc(n * sizeof *pos);
        if (!pos) abort();
        l->ops->position(l, pos);
        int rc = cf_dist_bcast(d, pos, n * sizeof *pos, 0, err);
        if (!rc && d->rank > 0) rc = l->ops->seek(l, pos, err);
        free(pos);
        if (rc) return -1;
    }
    return 0;
}

int cf_solver_dist_sync(cf_solver *s, cf_error *err)
{
    cf_dist *d = job(s);
    if (!d) return 0;
    double hdr[3] = {s->iter, s->current_step, s->lr_scale};
    if (cf_dist_bcast(d, hdr, sizeof hdr, 0, err)) return -1;
    s->iter = (int)hdr[0];
    s->current_step = (int)hdr[1];
    s->lr_scale = hdr[2];
    cf_net *net = s->net;
    for (int i = 0; i < net->nparams; i++) {
        if (net->params[i].owner != i) continue;
        size_t n = net->params[i].blob->count;
        if (bcast_floats(d, cf_blob_mdata(net->params[i].blob), n, err) ||
            bcast_floats(d, cf_blob_mdata(s->history[i]), n, err) ||
            bcast_floats(d, s->history2[i] ? cf_blob_mdata(s->history2[i]) : NULL, n, err))
            return -1;
    }
    if (sync_positions(s, d, err)) return -1;
    /* a stream of its own for each rank (PCG32: any odd increment) */
    s->rng.inc += 2u * (uint64_t)d->rank;
    /* a device channel attached since the solver was made (cf_dist_attach_gpu) */
    if (cf_dist_on_device(d, s->net->be) != cf_reducer_on_device(s->reducer)) make_reducer(s, d);
    return 0;
}
