/* dist_nccl.c — the communicator's device channel: NCCL sums of GPU
 * memory, for a build with CUDA, MPI and NCCL (see dist.h; configure's
 * HAVE_NCCL).  The host channel stays MPI's.
 *
 * Attaching (collective, once, after the GPU backend exists): rank 0
 * makes NCCL's unique id, MPI broadcasts it, every rank joins the NCCL
 * communicator on its current device, and makes one non-blocking stream
 * for the sums.
 *
 * A device sum of a bucket: the CUDA backend queues all its work on the
 * device's legacy default stream, so an event recorded there when the
 * bucket starts marks "these gradients are written"; the NCCL stream
 * waits for that event, runs the bucket's all-reduces as one NCCL group
 * (in place), and records a second event, which test_dev polls and
 * wait_dev waits for on the host.  The default stream goes on with the
 * backward pass of earlier layers meanwhile, which is the overlap.  After
 * wait_dev the reducer scales the sums on the default stream, so nothing
 * reads them before they are complete.
 *
 * Compiled and linked by every --with-cuda build that finds MPI and NCCL
 * (tests/test_cuda_build.sh builds one in `make check`); it runs only
 * where there are GPUs.
 */
#include <cuda_runtime_api.h>
#include <nccl.h>
#include <stdlib.h>

#include "dist.h"

typedef struct nccl_impl {
    cf_dist_ops ops;        /* the host channel's ops plus ours */
    void (*host_free)(cf_dist *d);
    ncclComm_t comm;
    cudaStream_t stream;
    int device;
} nccl_impl;

typedef struct dev_req {
    cudaEvent_t ready, done;
} dev_req;

static nccl_impl *impl_of(cf_dist *d) { return d->dev_impl; }

static int cuda_fail(cf_dist *d, cudaError_t e, const char *what, cf_error *err)
{
    return cf_error_set(err, CF_ERUNTIME, "rank %d of %d: %s failed: %s", d->rank, d->size, what,
                        cudaGetErrorString(e));
}

static int nccl_fail(cf_dist *d, ncclResult_t r, const char *what, cf_error *err)
{
    return cf_error_set(err, CF_ERUNTIME, "rank %d of %d: %s failed: %s (has another rank stopped?)", d->rank,
                        d->size, what, ncclGetErrorString(r));
}

static void req_free(dev_req *q)
{
    cudaEventDestroy(q->ready);
    cudaEventDestroy(q->done);
    free(q);
}

static int start_dev(cf_dist *d, float *const *bufs, const size_t *ns, int k, void **req, cf_error *err)
{
    nccl_impl *n = impl_of(d);
    *req = NULL;
    cudaError_t e = cudaSetDevice(n->device);
    if (e != cudaSuccess) return cuda_fail(d, e, "cudaSetDevice", err);
    dev_req *q = calloc(1, sizeof *q);
    if (!q) abort();
    if ((e = cudaEventCreateWithFlags(&q->ready, cudaEventDisableTiming)) != cudaSuccess ||
        (e = cudaEventCreateWithFlags(&q->done, cudaEventDisableTiming)) != cudaSuccess ||
        (e = cudaEventRecord(q->ready, cudaStreamLegacy)) != cudaSuccess ||
        (e = cudaStreamWaitEvent(n->stream, q->ready, 0)) != cudaSuccess) {
        req_free(q);
        return cuda_fail(d, e, "queueing a gradient sum", err);
    }
    ncclResult_t r = ncclGroupStart();
    for (int i = 0; i < k && r == ncclSuccess; i++)
        r = ncclAllReduce(bufs[i], bufs[i], ns[i], ncclFloat, ncclSum, n->comm, n->stream);
    ncclResult_t r2 = ncclGroupEnd();
    if (r == ncclSuccess) r = r2;
    if (r != ncclSuccess) {
        req_free(q);
        return nccl_fail(d, r, "ncclAllReduce", err);
    }
    if ((e = cudaEventRecord(q->done, n->stream)) != cudaSuccess) {
        req_free(q);
        return cuda_fail(d, e, "cudaEventRecord", err);
    }
    *req = q;
    return 0;
}

static int test_dev(cf_dist *d, void *req, bool *done, cf_error *err)
{
    dev_req *q = req;
    *done = true;
    if (!q) return 0;
    cudaError_t e = cudaEventQuery(q->done);
    if (e == cudaErrorNotReady) {
        *done = false;
        return 0;
    }
    req_free(q);
    return e == cudaSuccess ? 0 : cuda_fail(d, e, "a gradient sum on the GPU", err);
}

static int wait_dev(cf_dist *d, void *req, cf_error *err)
{
    dev_req *q = req;
    if (!q) return 0;
    cudaError_t e = cudaEventSynchronize(q->done);
    req_free(q);
    return e == cudaSuccess ? 0 : cuda_fail(d, e, "a gradient sum on the GPU", err);
}

static void nccl_free(cf_dist *d)
{
    nccl_impl *n = impl_of(d);
    void (*host_free)(cf_dist *) = n->host_free;
    ncclCommDestroy(n->comm);
    cudaStreamDestroy(n->stream);
    d->dev_impl = NULL;
    d->devops = NULL;
    free(n); /* d->ops pointed into n: nothing may use it from here */
    if (host_free) host_free(d);
}

int cf_dist_attach_gpu(cf_dist *d, cf_backend *be, cf_error *err)
{
    if (d->size <= 1 || !cf_backend_is_gpu(be) || d->dev_impl) return 0;
    nccl_impl *n = calloc(1, sizeof *n);
    if (!n) abort();
    cudaError_t e = cudaGetDevice(&n->device);
    if (e != cudaSuccess) {
        free(n);
        return cuda_fail(d, e, "cudaGetDevice", err);
    }
    /* rank 0's id, and whether it has one: every rank stops if not */
    struct { ncclUniqueId id; int result; } msg = {.result = ncclSuccess};
    if (d->rank == 0) msg.result = ncclGetUniqueId(&msg.id);
    if (cf_dist_bcast(d, &msg, sizeof msg, 0, err)) {
        free(n);
        return -1;
    }
    ncclResult_t r = (ncclResult_t)msg.result;
    if (r != ncclSuccess) {
        free(n);
        return nccl_fail(d, r, "ncclGetUniqueId on rank 0", err);
    }
    if ((r = ncclCommInitRank(&n->comm, d->size, msg.id, d->rank)) != ncclSuccess) {
        free(n);
        return nccl_fail(d, r, "ncclCommInitRank", err);
    }
    if ((e = cudaStreamCreateWithFlags(&n->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        ncclCommDestroy(n->comm);
        free(n);
        return cuda_fail(d, e, "cudaStreamCreateWithFlags", err);
    }
    n->ops = *d->ops;
    n->host_free = d->ops->free;
    n->ops.name = "MPI + NCCL";
    n->ops.start_sum_dev = start_dev;
    n->ops.test_dev = test_dev;
    n->ops.wait_dev = wait_dev;
    n->ops.free = nccl_free;
    d->ops = &n->ops;
    d->dev_impl = n;
    d->devops = be->devops;
    return 0;
}
