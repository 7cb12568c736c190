/* dist.c — the communicator's dispatch and timing, the single-process
 * implementation, and the choice between it and MPI (see dist.h). */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "config.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- one process: rank 0 of 1 ---- */

static int self_sum(cf_dist *d, float *buf, size_t n, cf_error *err) { return 0; }
static int self_start(cf_dist *d, float *buf, size_t n, void **req, cf_error *err)
{
    *req = NULL;
    return 0;
}
static int self_test(cf_dist *d, void *req, bool *done, cf_error *err)
{
    *done = true;
    return 0;
}
static int self_wait(cf_dist *d, void *req, cf_error *err) { return 0; }
static int self_bcast(cf_dist *d, void *buf, size_t bytes, int root, cf_error *err) { return 0; }
static int self_barrier(cf_dist *d, cf_error *err) { return 0; }
static void self_abort(cf_dist *d, int code) { exit(code); }

static const cf_dist_ops self_ops = {
    .name = "single process",
    .allreduce_sum = self_sum, .start_sum = self_start, .test = self_test, .wait = self_wait,
    .bcast = self_bcast, .barrier = self_barrier, .abort = self_abort,
};

static cf_dist self_dist = {.ops = &self_ops, .rank = 0, .size = 1};
static cf_dist *world = &self_dist;

cf_dist *cf_dist_self(void) { return &self_dist; }
cf_dist *cf_dist_world(void) { return world; }

bool cf_dist_have_mpi(void)
{
#ifdef HAVE_MPI
    return true;
#else
    return false;
#endif
}

/* Started by a launcher?  Open MPI's mpirun, MPICH's Hydra and PMIx
 * launchers (srun among them) leave these in every process's
 * environment.  Without one, MPI_Init would make a singleton job of one,
 * which is the single process with more start-up cost. */
static bool launched(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", NULL};
    for (int i = 0; vars[i]; i++)
        if (getenv(vars[i])) return true;
    return false;
}

cf_dist *cf_dist_init(int *argc, char ***argv)
{
#ifdef HAVE_MPI
    if (world == &self_dist && launched()) world = cf_dist_mpi_init(argc, argv);
#else
    (void)argc, (void)argv;
    if (launched())
        fprintf(stderr, "cafetui: warning: started by an MPI launcher, but this build has no MPI: every process "
                        "runs alone (install libopenmpi-dev and re-run ./configure)\n");
#endif
    return world;
}

void cf_dist_finalize(void)
{
#ifdef HAVE_MPI
    if (world != &self_dist) cf_dist_mpi_finalize(world);
#endif
    world = &self_dist;
}

cf_dist *cf_dist_new(const cf_dist_ops *ops, int rank, int size, void *impl)
{
    cf_dist *d = calloc(1, sizeof *d);
    if (!d) abort();
    *d = (cf_dist){.ops = ops, .rank = rank, .size = size, .impl = impl};
    return d;
}

void cf_dist_free(cf_dist *d)
{
    if (!d || d == &self_dist) return;
    if (d->ops->free) d->ops->free(d);
    free(d);
}

const char *cf_dist_name(const cf_dist *d) { return d ? d->ops->name : self_ops.name; }

/* ---- dispatch, timed ---- */

#define TIMED(d, expr)                                                                                                 \
    do {                                                                                                               \
        double t0_ = now_s();                                                                                          \
        int rc_ = (expr);                                                                                              \
        (d)->stats.seconds += now_s() - t0_;                                                                           \
        (d)->stats.calls++;                                                                                            \
        return rc_;                                                                                                    \
    } while (0)

int cf_dist_allreduce_sum(cf_dist *d, float *buf, size_t n, cf_error *err)
{
    d->stats.bytes += (double)n * sizeof(float);
    TIMED(d, d->ops->allreduce_sum(d, buf, n, err));
}

int cf_dist_start_sum(cf_dist *d, float *buf, size_t n, void **req, cf_error *err)
{
    d->stats.bytes += (double)n * sizeof(float);
    TIMED(d, d->ops->start_sum(d, buf, n, req, err));
}

int cf_dist_test(cf_dist *d, void *req, bool *done, cf_error *err) { TIMED(d, d->ops->test(d, req, done, err)); }
int cf_dist_wait(cf_dist *d, void *req, cf_error *err) { TIMED(d, d->ops->wait(d, req, err)); }

int cf_dist_bcast(cf_dist *d, void *buf, size_t bytes, int root, cf_error *err)
{
    TIMED(d, d->ops->bcast(d, buf, bytes, root, err));
}

int cf_dist_barrier(cf_dist *d, cf_error *err) { TIMED(d, d->ops->barrier(d, err)); }

bool cf_dist_on_device(const cf_dist *d, const cf_backend *be)
{
    return d && d->ops->start_sum_dev && d->devops && be && be->devops == d->devops;
}

int cf_dist_start_sum_dev(cf_dist *d, float *const *bufs, const size_t *ns, int k, void **req, cf_error *err)
{
    for (int i = 0; i < k; i++) d->stats.bytes += (double)ns[i] * sizeof(float);
    TIMED(d, d->ops->start_sum_dev(d, bufs, ns, k, req, err));
}

int cf_dist_test_dev(cf_dist *d, void *req, bool *done, cf_error *err) { TIMED(d, d->ops->test_dev(d, req, done, err)); }
int cf_dist_wait_dev(cf_dist *d, void *req, cf_error *err) { TIMED(d, d->ops->wait_dev(d, req, err)); }

#ifndef HAVE_NCCL
/* No device channel in this build: a GPU net's gradients go through the
 * host. */
int cf_dist_attach_gpu(cf_dist *d, cf_backend *be, cf_error *err) { return 0; }
#endif

int cf_dist_local_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMIX_LOCAL_RANK", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) >= 0) return atoi(v);
    }
    return 0;
}

void cf_dist_abort(cf_dist *d, int code)
{
    fflush(stdout);
    fflush(stderr);
    d->ops->abort(d, code);
    exit(code); /* an implementation that returned */
}
