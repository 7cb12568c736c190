/* dist.h — the processes of one data-parallel training job, seen by the
 * engine as a small communicator: who am I (rank), how many are we
 * (size), sum these floats over everyone (all-reduce), send these bytes
 * from one of us to all (broadcast), wait for everyone (barrier), and
 * stop the whole job (abort).
 *
 * Two implementations:
 *   - MPI (dist_mpi.c, built when ./configure finds MPI): MPI_COMM_WORLD
 *     of a job started by mpirun.  Errors return (MPI_ERRORS_RETURN) and
 *     become cf_errors, so a dead peer gives a message instead of a hang
 *     where the library can tell.
 *   - a single process (dist.c): rank 0 of 1, every collective a no-op.
 *     A plain `cafetui` run uses it, and so does an MPI build started
 *     without mpirun.
 * Tests may make their own (cf_dist_new with their own ops), for example
 * a stand-in for N identical ranks.
 *
 * The non-blocking sum (cf_dist_start_sum, cf_dist_test, cf_dist_wait)
 * lets the gradient reducer (reducer.h) send the gradients of the last
 * layers while the backward pass works on the first ones.
 *
 * GPUs: in a build with CUDA, MPI and NCCL, cf_dist_attach_gpu gives the
 * communicator a second channel, NCCL on the GPU of a backend, for sums
 * of device memory (cf_dist_start_sum_dev & co.): the gradients of a
 * net on that GPU are then summed where they are, without a trip
 * through host memory (dist_nccl.c).  Without it, a GPU net's gradients
 * are summed on the host like any other (the blobs copy them).
 *
 * Threads: cf_dist_init asks MPI for MPI_THREAD_SERIALIZED: any thread may
 * call, one at a time (the trainer's worker thread does all calls during
 * training; the main thread before and after it).
 *
 * Every call counts the seconds it spent and the bytes it reduced
 * (cf_dist_stats), which is how the trainer reports the time spent in
 * communication.
 */
#ifndef CF_DIST_H
#define CF_DIST_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "error.h"

typedef struct cf_dist cf_dist;

typedef struct cf_dist_ops {
    const char *name;
    /* in place: buf[i] = Σ over ranks of buf[i] */
    int (*allreduce_sum)(cf_dist *d, float *buf, size_t n, cf_error *err);
    /* start the same in the background; *req is the implementation's */
    int (*start_sum)(cf_dist *d, float *buf, size_t n, void **req, cf_error *err);
    /* drive progress; *done set when req finished (req is then freed) */
    int (*test)(cf_dist *d, void *req, bool *done, cf_error *err);
    /* finish req (and free it) */
    int (*wait)(cf_dist *d, void *req, cf_error *err);
    int (*bcast)(cf_dist *d, void *buf, size_t bytes, int root, cf_error *err);
    int (*barrier)(cf_dist *d, cf_error *err);
    void (*abort)(cf_dist *d, int code);   /* does not return */
    void (*free)(cf_dist *d);
    /* device memory (NULL when the communicator has no device channel):
     * in place, bufs[i] (ns[i] floats each, device pointers of d->devops'
     * device) summed over the ranks, in the background; test_dev and
     * wait_dev finish such a request */
    int (*start_sum_dev)(cf_dist *d, float *const *bufs, const size_t *ns, int k, void **req, cf_error *err);
    int (*test_dev)(cf_dist *d, void *req, bool *done, cf_error *err);
    int (*wait_dev)(cf_dist *d, void *req, cf_error *err);
} cf_dist_ops;

/* Running totals, for reports. */
typedef struct cf_dist_stats {
    double seconds;         /* inside the calls (blocked or starting) */
    double bytes;           /* all-reduced payload */
    long calls;
} cf_dist_stats;

struct cf_dist {
    const cf_dist_ops *ops;
    int rank, size;
    void *impl;             /* the implementation's state */
    cf_dist_stats stats;
    const cf_device_ops *devops; /* the device start_sum_dev works on (NULL: none) */
    void *dev_impl;         /* the device channel's state */
};

/* The job this process belongs to.  Call once, first thing in main:
 * under mpirun (an MPI build, and the launcher's environment variables
 * present) it initialises MPI; otherwise it is the single process.
 * Never NULL.  A failure to initialise MPI is printed and ends the
 * process (there is nothing to train with). */
cf_dist *cf_dist_init(int *argc, char ***argv);
/* The communicator cf_dist_init made (the single process before it). */
cf_dist *cf_dist_world(void);
/* Finalise MPI (when it was initialised); the world becomes the single
 * process again. */
void cf_dist_finalize(void);
/* Whether this build can run over several processes. */
bool cf_dist_have_mpi(void);

/* A communicator with the given ops (tests); free with cf_dist_free. */
cf_dist *cf_dist_new(const cf_dist_ops *ops, int rank, int size, void *impl);
void cf_dist_free(cf_dist *d);
/* The single-process communicator (static; do not free). */
cf_dist *cf_dist_self(void);

static inline int cf_dist_rank(const cf_dist *d) { return d ? d->rank : 0; }
static inline int cf_dist_size(const cf_dist *d) { return d ? d->size : 1; }
const char *cf_dist_name(const cf_dist *d);

/* Collectives: every rank calls them in the same order.  0 or -1 (err). */
int cf_dist_allreduce_sum(cf_dist *d, float *buf, size_t n, cf_error *err);
int cf_dist_start_sum(cf_dist *d, float *buf, size_t n, void **req, cf_error *err);
int cf_dist_test(cf_dist *d, void *req, bool *done, cf_error *err);
int cf_dist_wait(cf_dist *d, void *req, cf_error *err);
int cf_dist_bcast(cf_dist *d, void *buf, size_t bytes, int root, cf_error *err);
int cf_dist_barrier(cf_dist *d, cf_error *err);
/* Stop every process of the job with exit status code. */
void cf_dist_abort(cf_dist *d, int code) __attribute__((noreturn));

/* Device sums, when cf_dist_on_device(d, be): the communicator sums
 * memory of be's GPU itself. */
bool cf_dist_on_device(const cf_dist *d, const cf_backend *be);
int cf_dist_start_sum_dev(cf_dist *d, float *const *bufs, const size_t *ns, int k, void **req, cf_error *err);
int cf_dist_test_dev(cf_dist *d, void *req, bool *done, cf_error *err);
int cf_dist_wait_dev(cf_dist *d, void *req, cf_error *err);
/* Collective: give d a device channel on be's GPU (NCCL) when this build
 * has one and be is a GPU backend; 0 without changing anything
 * otherwise. */
int cf_dist_attach_gpu(cf_dist *d, cf_backend *be, cf_error *err);
/* This process's index among the job's processes on its host (the
 * launcher's OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID or
 * PMIX_LOCAL_RANK; 0 when none says), e.g. to pick a GPU. */
int cf_dist_local_rank(void);

/* For the MPI implementation: make it the world (dist_mpi.c). */
cf_dist *cf_dist_mpi_init(int *argc, char ***argv);
void cf_dist_mpi_finalize(cf_dist *d);

#endif
