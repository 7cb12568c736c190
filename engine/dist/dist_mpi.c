/* dist_mpi.c — the communicator over MPI (built only when ./configure
 * finds MPI; see dist.h).
 *
 * The job's processes are MPI_COMM_WORLD; we work on a duplicate of it so
 * that our collectives cannot match anyone else's, with MPI_ERRORS_RETURN
 * on it: a failed call (a peer that died, a broken link) comes back as a
 * cf_error naming the call and MPI's own words, and the trainer stops
 * with it instead of MPI killing the process without a word.  (Open MPI's
 * mpirun also ends the whole job when one process exits with an error or
 * a signal, and says which; either way nobody hangs for ever.)
 *
 * Counts: MPI takes int counts; larger buffers go in pieces of at most
 * CHUNK elements.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "dist.h"

#define CHUNK ((size_t)1 << 30)

typedef struct mpi_impl {
    MPI_Comm comm;
} mpi_impl;

static MPI_Comm comm_of(cf_dist *d) { return ((mpi_impl *)d->impl)->comm; }

static int mpi_fail(cf_dist *d, int rc, const char *call, cf_error *err)
{
    char why[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, why, &len);
    return cf_error_set(err, CF_ERUNTIME, "rank %d of %d: %s failed: %s (has another rank stopped?)", d->rank, d->size,
                        call, why);
}

static int mpi_sum(cf_dist *d, float *buf, size_t n, cf_error *err)
{
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + at, (int)k, MPI_FLOAT, MPI_SUM, comm_of(d));
        if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "MPI_Allreduce", err);
    }
    return 0;
}

static int mpi_start(cf_dist *d, float *buf, size_t n, void **req, cf_error *err)
{
    if (n > CHUNK) { /* not worth a request list: buckets are far smaller */
        *req = NULL;
        return mpi_sum(d, buf, n, err);
    }
    MPI_Request *r = malloc(sizeof *r);
    if (!r) abort();
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, comm_of(d), r);
    if (rc != MPI_SUCCESS) {
        free(r);
        *req = NULL;
        return mpi_fail(d, rc, "MPI_Iallreduce", err);
    }
    *req = r;
    return 0;
}

static int mpi_test(cf_dist *d, void *req, bool *done, cf_error *err)
{
    *done = true;
    if (!req) return 0;
    int flag = 0;
    int rc = MPI_Test((MPI_Request *)req, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
        free(req);
        return mpi_fail(d, rc, "MPI_Test", err);
    }
    *done = flag != 0;
    if (flag) free(req);
    return 0;
}

static int mpi_wait(cf_dist *d, void *req, cf_error *err)
{
    if (!req) return 0;
    int rc = MPI_Wait((MPI_Request *)req, MPI_STATUS_IGNORE);
    free(req);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(d, rc, "MPI_Wait", err);
}

static int mpi_bcast(cf_dist *d, void *buf, size_t bytes, int root, cf_error *err)
{
    char *p = buf;
    for (size_t at = 0; at < bytes; at += CHUNK) {
        size_t k = bytes - at < CHUNK ? bytes - at : CHUNK;
        int rc = MPI_Bcast(p + at, (int)k, MPI_BYTE, root, comm_of(d));
        if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "MPI_Bcast", err);
    }
    return 0;
}

static int mpi_barrier(cf_dist *d, cf_error *err)
{
    int rc = MPI_Barrier(comm_of(d));
    return rc == MPI_SUCCESS ? 0 : mpi_fail(d, rc, "MPI_Barrier", err);
}

static void mpi_abort(cf_dist *d, int code) { MPI_Abort(MPI_COMM_WORLD, code); }

static const cf_dist_ops mpi_ops = {
    .name = "MPI",
    .allreduce_sum = mpi_sum, .start_sum = mpi_start, .test = mpi_test, .wait = mpi_wait,
    .bcast = mpi_bcast, .barrier = mpi_barrier, .abort = mpi_abort,
};

cf_dist *cf_dist_mpi_init(int *argc, char ***argv)
{
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "cafetui: MPI_Init_thread failed: cannot join the MPI job\n");
        exit(1);
    }
    mpi_impl *m = calloc(1, sizeof *m);
    if (!m) abort();
    MPI_Comm_dup(MPI_COMM_WORLD, &m->comm);
    MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    int rank = 0, size = 1;
    MPI_Comm_rank(m->comm, &rank);
    MPI_Comm_size(m->comm, &size);
    if (provided < MPI_THREAD_SERIALIZED && rank == 0)
        fprintf(stderr, "cafetui: warning: this MPI offers thread level %d, below MPI_THREAD_SERIALIZED; "
                        "training calls MPI from its worker thread\n", provided);
    return cf_dist_new(&mpi_ops, rank, size, m);
}

void cf_dist_mpi_finalize(cf_dist *d)
{
    mpi_impl *m = d->impl;
    MPI_Comm_free(&m->comm);
    free(m);
    d->impl = NULL;
    cf_dist_free(d);
    MPI_Finalize();
}
