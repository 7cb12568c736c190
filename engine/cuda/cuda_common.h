/* cuda_common.h — what the files of the CUDA backend share (engine/cuda;
 * compiled only with --with-cuda, and seen by no file outside it).
 *
 * One cf_cuda per GPU backend: the device, the cuBLAS and cuDNN handles
 * and the convolution workspace that every cuDNN call on it shares (all
 * work goes to the device's default stream, in order, so one workspace
 * serves every layer).
 *
 * Errors.  A CUDA, cuBLAS or cuDNN call that fails in a place that cannot
 * return an error (a copy inside a blob access, a backward pass) is
 * recorded here; the first one sticks and the next forward pass of any
 * GPU layer returns it (cf_cuda_take_error), so training stops with the
 * reason instead of going on with garbage.
 *
 * Threads.  The CUDA runtime's current device is per thread and training
 * runs on a worker thread, so every entry point makes the backend's
 * device current first (cf_cuda_enter; cheap when it already is).
 */
#ifndef CF_CUDA_COMMON_H
#define CF_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <stdbool.h>

#include "backend.h"
#include "error.h"
#include "layer.h"

/* cuDNN workspace bound: algorithms needing more are passed over. */
#define CF_CUDA_WORKSPACE_LIMIT ((size_t)256 << 20)

typedef struct cf_cuda {
    int device;
    char name[256];
    cublasHandle_t blas;
    cudnnHandle_t dnn;
    void *ws;               /* cuDNN workspace, ws_bytes long (NULL when 0) */
    size_t ws_bytes;
} cf_cuda;

/* The context of a GPU backend (the host backend or its device one). */
static inline cf_cuda *cf_cuda_of(const cf_backend *be) { return (cf_cuda *)(be->gpu ? be->gpu->impl : be->impl); }

/* Blob memory on the device (cuda_backend.c). */
extern const cf_device_ops cf_cuda_devops;

/* Make the context's device current on this thread. */
void cf_cuda_enter(const cf_cuda *cu);

/* Check a status; on failure record it ("what: reason") and return false. */
bool cf_cuda_rt(cudaError_t e, const char *what);
bool cf_cuda_blas(cublasStatus_t s, const char *what);
bool cf_cuda_dnn(cudnnStatus_t s, const char *what);
/* Record a failure of our own (an allocation that came back NULL). */
void cf_cuda_fail(const char *what);
/* The first failure recorded since the last call: -1 with err filled (and
 * the record cleared), or 0. */
int cf_cuda_take_error(cf_error *err);

/* Make the shared workspace at least `bytes` long; false when the device
 * has no room for it. */
bool cf_cuda_workspace(cf_cuda *cu, size_t bytes);

/* Bytes the engine holds on the device now (every buffer through
 * cf_cuda_malloc and the blob memory). */
size_t cf_cuda_bytes_in_use(void);
void *cf_cuda_malloc(size_t bytes);
void cf_cuda_free(void *p, size_t bytes);

/* A device buffer a layer keeps for itself (a saved bottom, a mask),
 * grown on demand, contents not kept when it grows. */
typedef struct cf_cuda_buf {
    void *p;
    size_t bytes;
} cf_cuda_buf;
/* At least `bytes` long; false (nothing recorded) when the device has no
 * room. */
bool cf_cuda_buf_reserve(cf_cuda_buf *b, size_t bytes);
void cf_cuda_buf_free(cf_cuda_buf *b);

/* The layer hook (cuda_layers.c): backend.h's layer_ready. */
void cf_cuda_layer_ready(cf_layer *l);

/* cuDNN descriptors of a plain NCHW float tensor; false on failure
 * (recorded). */
bool cf_cudnn_tensor4(cudnnTensorDescriptor_t d, int n, int c, int h, int w);

#endif
