/* gpu.h — what the rest of cafetui asks of the GPU, the same in every
 * build: a CUDA build (./configure --with-cuda) implements it in
 * engine/cuda, a CPU-only build gets gpu_none.c, whose answers say that
 * this build has no GPU backend.  Nothing here names a CUDA type, so
 * callers need no #ifdef.
 *
 * A GPU backend (cf_backend_gpu_new) is a host backend with the device
 * hung off it (backend.h says how the two share the work): nets built on
 * it run the layers engine/cuda implements on the GPU and every other
 * layer on the host, their blobs moving between the two as needed.
 */
#ifndef CF_GPU_H
#define CF_GPU_H

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "error.h"
#include "layer.h"

/* Was this build made with a GPU backend? */
bool cf_gpu_built(void);

/* Number of usable GPUs.  0 with err filled when there is none: no GPU
 * backend in this build, or the CUDA runtime's reason ("no CUDA-capable
 * device is detected", a driver too old, ...). */
int cf_gpu_count(cf_error *err);

/* One GPU as `cafetui device` shows it. */
typedef struct cf_gpu_info {
    char name[256];
    int major, minor;           /* compute capability */
    size_t mem_total, mem_free; /* bytes */
    int sm_count;
    int clock_mhz, mem_clock_mhz, mem_bus_bits; /* 0 when the driver does not say */
    size_t l2_bytes;
    int driver_version, runtime_version; /* CUDA's encoding: 12040 = 12.4 */
} cf_gpu_info;

int cf_gpu_info_get(int device, cf_gpu_info *out, cf_error *err);

/* Can GPU `device` be used?  0, or -1 with one clear reason in err
 * ("GPU 1: there are only 1 CUDA device(s)", "no CUDA device: ..."). */
int cf_gpu_check(int device, cf_error *err);

/* A backend that runs what it can on GPU `device` and the rest on the
 * host with `nthreads` threads (<= 0: all cores); NULL with err when the
 * GPU cannot be used.  Free with cf_backend_free. */
cf_backend *cf_backend_gpu_new(int device, int nthreads, cf_error *err);

/* Memory figures of a GPU backend: bytes the engine holds on the device
 * (blobs and workspaces), of which the convolution workspace, and the
 * device's used and total memory (cudaMemGetInfo, every process).
 * -1 (figures zeroed) for a CPU backend. */
typedef struct cf_gpu_mem {
    size_t engine, workspace, used, total;
} cf_gpu_mem;

int cf_gpu_mem_get(const cf_backend *be, cf_gpu_mem *out);

/* "cuda:0 NVIDIA H100 80GB HBM3"; "" for a CPU backend. */
const char *cf_gpu_describe(const cf_backend *be, char *buf, size_t n);

/* For tests: how many forward and backward passes layer l has run on the
 * GPU so far; -1 when l never runs there (not on a GPU backend, or a type
 * the GPU side does not implement). */
long cf_gpu_layer_passes(const cf_layer *l);

#endif
