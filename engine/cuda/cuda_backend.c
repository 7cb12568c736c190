/* cuda_backend.c — the CUDA backend: its context, blob memory on the
 * device, the backend math on device pointers (cuBLAS and kernels.cu),
 * error records, and gpu.h for a CUDA build.
 *
 * Row-major BLAS on column-major cuBLAS.  A row-major M×N matrix read
 * column-major is its transpose, so C = op(A)·op(B) (row-major) is
 * computed as Cᵀ = op(B)ᵀ·op(A)ᵀ (column-major): cuBLAS gets B before A,
 * N and M swapped, and each operand's own transpose flag and leading
 * dimension (its row length in row-major).  For gemv, A (M×N row-major)
 * is Aᵀ column-major with leading dimension N, so the flag flips.
 *
 * Precision: cuBLAS's default math mode computes in FP32 (no TF32 unless
 * asked), as the CPU backend does; cuDNN is told the same (cudnn_conv.c).
 */
#include "cuda_common.h"

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gpu.h"
#include "dnnl/dnnl_layers.h"
#include "kernels.h"

/* ---- errors ---- */

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char fail_msg[768];

static void record(const char *what, const char *why)
{
    pthread_mutex_lock(&fail_lock);
    if (!fail_msg[0]) snprintf(fail_msg, sizeof fail_msg, "CUDA: %s: %s", what, why);
    pthread_mutex_unlock(&fail_lock);
}

bool cf_cuda_rt(cudaError_t e, const char *what)
{
    if (e == cudaSuccess) return true;
    record(what, cudaGetErrorString(e));
    return false;
}

bool cf_cuda_blas(cublasStatus_t s, const char *what)
{
    if (s == CUBLAS_STATUS_SUCCESS) return true;
    record(what, cublasGetStatusString(s));
    return false;
}

bool cf_cuda_dnn(cudnnStatus_t s, const char *what)
{
    if (s == CUDNN_STATUS_SUCCESS) return true;
    record(what, cudnnGetErrorString(s));
    return false;
}

void cf_cuda_fail(const char *what) { record(what, "out of GPU memory"); }

int cf_cuda_take_error(cf_error *err)
{
    pthread_mutex_lock(&fail_lock);
    char msg[sizeof fail_msg];
    snprintf(msg, sizeof msg, "%s", fail_msg);
    fail_msg[0] = 0;
    pthread_mutex_unlock(&fail_lock);
    if (!msg[0]) return 0;
    return cf_error_set(err, CF_ERUNTIME, "%s", msg);
}

/* ---- device memory ---- */

/* The device blob memory lives on: that of the last GPU backend made (one
 * GPU per process). */
static int current_device = -1;
static size_t bytes_in_use; /* atomics: a prefetch thread may free a blob */

void cf_cuda_enter(const cf_cuda *cu) { cf_cuda_rt(cudaSetDevice(cu->device), "cudaSetDevice"); }

static void enter_current(void)
{
    int d = __atomic_load_n(&current_device, __ATOMIC_RELAXED);
    if (d >= 0) cf_cuda_rt(cudaSetDevice(d), "cudaSetDevice");
}

size_t cf_cuda_bytes_in_use(void) { return __atomic_load_n(&bytes_in_use, __ATOMIC_RELAXED); }

void *cf_cuda_malloc(size_t bytes)
{
    void *p = NULL;
    enter_current();
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
        cudaGetLastError(); /* out of memory is not sticky: clear it */
        return NULL;
    }
    __atomic_add_fetch(&bytes_in_use, bytes, __ATOMIC_RELAXED);
    return p;
}

void cf_cuda_free(void *p, size_t bytes)
{
    if (!p) return;
    enter_current();
    cf_cuda_rt(cudaFree(p), "cudaFree");
    __atomic_sub_fetch(&bytes_in_use, bytes, __ATOMIC_RELAXED);
}

static void dev_to_host(float *host, const void *dev, size_t bytes)
{
    enter_current();
    cf_cuda_rt(cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost), "copy to the host");
}

static void dev_to_device(void *dev, const float *host, size_t bytes)
{
    enter_current();
    cf_cuda_rt(cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice), "copy to the GPU");
}

static void dev_zero(void *dev, size_t bytes)
{
    enter_current();
    cf_cuda_rt(cudaMemset(dev, 0, bytes), "cudaMemset");
}

const cf_device_ops cf_cuda_devops = {
    .alloc = cf_cuda_malloc,
    .free = cf_cuda_free,
    .to_host = dev_to_host,
    .to_device = dev_to_device,
    .zero = dev_zero,
};

bool cf_cuda_workspace(cf_cuda *cu, size_t bytes)
{
    if (bytes <= cu->ws_bytes) return true;
    void *p = cf_cuda_malloc(bytes);
    if (!p) return false;
    cf_cuda_free(cu->ws, cu->ws_bytes);
    cu->ws = p;
    cu->ws_bytes = bytes;
    return true;
}

bool cf_cuda_buf_reserve(cf_cuda_buf *b, size_t bytes)
{
    if (bytes <= b->bytes && b->p) return true;
    void *p = cf_cuda_malloc(bytes ? bytes : 1);
    if (!p) return false;
    cf_cuda_free(b->p, b->bytes);
    b->p = p;
    b->bytes = bytes ? bytes : 1;
    return true;
}

void cf_cuda_buf_free(cf_cuda_buf *b)
{
    cf_cuda_free(b->p, b->bytes);
    b->p = NULL;
    b->bytes = 0;
}

bool cf_cudnn_tensor4(cudnnTensorDescriptor_t d, int n, int c, int h, int w)
{
    return cf_cuda_dnn(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w),
                       "cudnnSetTensor4dDescriptor");
}

/* ---- the backend's math on device pointers ---- */

static cf_cuda *ctx(cf_backend *be) { return be->impl; }

static void cu_gemm(cf_backend *be, bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                    const float *B, float beta, float *C)
{
    int lda = ta ? M : K, ldb = tb ? K : N;
    cf_cuda_blas(cublasSgemm(ctx(be)->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
                             &alpha, B, ldb, A, lda, &beta, C, N),
                 "cublasSgemm");
}

static void cu_gemv(cf_backend *be, bool ta, int M, int N, float alpha, const float *A, const float *x, float beta,
                    float *y)
{
    cf_cuda_blas(cublasSgemv(ctx(be)->blas, ta ? CUBLAS_OP_N : CUBLAS_OP_T, N, M, &alpha, A, N, x, 1, &beta, y, 1),
                 "cublasSgemv");
}

static void cu_axpy(cf_backend *be, size_t n, float a, const float *x, float *y)
{
    cf_cuda_blas(cublasSaxpy(ctx(be)->blas, (int)n, &a, x, 1, y, 1), "cublasSaxpy");
}

static void cu_axpby(cf_backend *be, size_t n, float a, const float *x, float b, float *y)
{
    (void)be;
    cf_cuda_rt((cudaError_t)cf_cuk_axpby(n, a, x, b, y), "axpby kernel");
}

/* a = 0 clears, as the CPU backend does (0·NaN would stay NaN). */
static void cu_scal(cf_backend *be, size_t n, float a, float *x)
{
    if (a == 0.0f) cf_cuda_rt(cudaMemset(x, 0, n * sizeof(float)), "cudaMemset");
    else cf_cuda_blas(cublasSscal(ctx(be)->blas, (int)n, &a, x, 1), "cublasSscal");
}

static void cu_set(cf_backend *be, size_t n, float v, float *x)
{
    (void)be;
    if (v == 0.0f) cf_cuda_rt(cudaMemset(x, 0, n * sizeof(float)), "cudaMemset");
    else cf_cuda_rt((cudaError_t)cf_cuk_set(n, v, x), "set kernel");
}

static void cu_copy(cf_backend *be, size_t n, const float *x, float *y)
{
    (void)be;
    if (x == y || n == 0) return;
    cf_cuda_rt(cudaMemcpy(y, x, n * sizeof(float), cudaMemcpyDeviceToDevice), "cudaMemcpy");
}

static float cu_dot(cf_backend *be, size_t n, const float *x, const float *y)
{
    float r = 0;
    cf_cuda_blas(cublasSdot(ctx(be)->blas, (int)n, x, 1, y, 1, &r), "cublasSdot");
    return r;
}

static float cu_asum(cf_backend *be, size_t n, const float *x)
{
    float r = 0;
    cf_cuda_blas(cublasSasum(ctx(be)->blas, (int)n, x, 1, &r), "cublasSasum");
    return r;
}

static cf_cuk_geom kgeom(const cf_conv_geom *g)
{
    return (cf_cuk_geom){g->N, g->C, g->H, g->W, g->kh, g->kw, g->ph, g->pw, g->sh, g->sw, g->dh, g->dw, g->Ho, g->Wo};
}

static void cu_im2col(cf_backend *be, const cf_conv_geom *g, const float *im, float *col)
{
    (void)be;
    cf_cuk_geom k = kgeom(g);
    cf_cuda_rt((cudaError_t)cf_cuk_im2col(&k, im, col), "im2col kernel");
}

static void cu_col2im(cf_backend *be, const cf_conv_geom *g, const float *col, float *im)
{
    (void)be;
    cf_cuk_geom k = kgeom(g);
    cf_cuda_rt((cudaError_t)cf_cuk_col2im(&k, col, im), "col2im kernel");
}

/* The solver's update of one param on the device (kernels.cu). */
static void cu_update(cf_backend *be, const cf_update *u, size_t n, float *w, float *g, float *h, float *h2)
{
    (void)be;
    cf_cuk_update_args k = {.rule = (int)u->rule, .scale = u->scale, .wd = u->wd, .l1 = u->l1, .rate = u->rate,
                            .mu = u->mu, .mu2 = u->mu2, .delta = u->delta, .rho = u->rho, .corr = u->corr};
    cf_cuda_rt((cudaError_t)cf_cuk_solver_update(n, &k, w, g, h, h2), "solver update kernel");
}

static void cu_set_threads(cf_backend *be, int n)
{
    (void)be;
    (void)n; /* the host backend's threads are what --threads sets */
}

static void cu_destroy(cf_backend *be)
{
    cf_cuda *cu = be->impl;
    if (!cu) return;
    cf_cuda_enter(cu);
    cf_cuda_free(cu->ws, cu->ws_bytes);
    if (cu->dnn) cudnnDestroy(cu->dnn);
    if (cu->blas) cublasDestroy(cu->blas);
    free(cu);
    be->impl = NULL;
}

static const cf_backend_ops cuda_ops = {
    .name = "cuda",
    .gemm = cu_gemm,
    .gemv = cu_gemv,
    .axpy = cu_axpy,
    .axpby = cu_axpby,
    .scal = cu_scal,
    .set = cu_set,
    .copy = cu_copy,
    .dot = cu_dot,
    .asum = cu_asum,
    .im2col = cu_im2col,
    .col2im = cu_col2im,
    .update = cu_update,
    .set_threads = cu_set_threads,
    .destroy = cu_destroy,
};

/* ---- gpu.h ---- */

bool cf_gpu_built(void) { return true; }

int cf_gpu_count(cf_error *err)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        cf_error_set(err, CF_EINPUT, "no CUDA device: %s", cudaGetErrorString(e));
        return 0;
    }
    if (n <= 0) cf_error_set(err, CF_EINPUT, "no CUDA device: cudaGetDeviceCount found none");
    return n > 0 ? n : 0;
}

int cf_gpu_check(int device, cf_error *err)
{
    int n = cf_gpu_count(err);
    if (n == 0) return -1;
    if (device < 0 || device >= n)
        return cf_error_set(err, CF_EINPUT, "GPU %d does not exist: this machine has %d CUDA device%s (0..%d)", device,
                            n, n == 1 ? "" : "s", n - 1);
    cudaError_t e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaFree(NULL); /* makes the context: a GPU in use elsewhere fails here */
    if (e != cudaSuccess) {
        cudaGetLastError();
        return cf_error_set(err, CF_ERUNTIME, "GPU %d cannot be used: %s", device, cudaGetErrorString(e));
    }
    return 0;
}

static int attr(enum cudaDeviceAttr a, int device)
{
    int v = 0;
    if (cudaDeviceGetAttribute(&v, a, device) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return v;
}

int cf_gpu_info_get(int device, cf_gpu_info *out, cf_error *err)
{
    memset(out, 0, sizeof *out);
    if (cf_gpu_check(device, err)) return -1;
    struct cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess)
        return cf_error_set(err, CF_ERUNTIME, "GPU %d: cudaGetDeviceProperties: %s", device, cudaGetErrorString(e));
    snprintf(out->name, sizeof out->name, "%s", p.name);
    out->major = p.major;
    out->minor = p.minor;
    out->mem_total = p.totalGlobalMem;
    out->sm_count = p.multiProcessorCount;
    out->l2_bytes = p.l2CacheSize > 0 ? (size_t)p.l2CacheSize : 0;
    out->mem_bus_bits = p.memoryBusWidth;
    out->clock_mhz = attr(cudaDevAttrClockRate, device) / 1000;        /* kHz */
    out->mem_clock_mhz = attr(cudaDevAttrMemoryClockRate, device) / 1000;
    size_t fr = 0, tot = 0;
    if (cudaMemGetInfo(&fr, &tot) == cudaSuccess) out->mem_free = fr;
    else cudaGetLastError();
    cudaDriverGetVersion(&out->driver_version);
    cudaRuntimeGetVersion(&out->runtime_version);
    return 0;
}

cf_backend *cf_backend_gpu_new(int device, int nthreads, cf_error *err)
{
    if (cf_gpu_check(device, err)) return NULL;
    cf_cuda *cu = calloc(1, sizeof *cu);
    cf_backend *dev = calloc(1, sizeof *dev);
    if (!cu || !dev) {
        free(cu);
        free(dev);
        cf_error_set(err, CF_ERUNTIME, "out of memory");
        return NULL;
    }
    cu->device = device;
    cf_cuda_enter(cu); /* the handles belong to the device current when they are made */
    __atomic_store_n(&current_device, device, __ATOMIC_RELAXED);
    dev->ops = &cuda_ops;
    dev->impl = cu;
    dev->nthreads = 1;
    dev->devops = &cf_cuda_devops;
    struct cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, device) == cudaSuccess) snprintf(cu->name, sizeof cu->name, "%s", p.name);
    cublasStatus_t bs = cublasCreate(&cu->blas);
    cudnnStatus_t ds = bs == CUBLAS_STATUS_SUCCESS ? cudnnCreate(&cu->dnn) : CUDNN_STATUS_SUCCESS;
    if (bs != CUBLAS_STATUS_SUCCESS || ds != CUDNN_STATUS_SUCCESS) {
        cf_error_set(err, CF_ERUNTIME, "GPU %d: %s", device,
                     bs != CUBLAS_STATUS_SUCCESS ? cublasGetStatusString(bs) : cudnnGetErrorString(ds));
        if (ds != CUDNN_STATUS_SUCCESS) cu->dnn = NULL;
        if (bs != CUBLAS_STATUS_SUCCESS) cu->blas = NULL;
        cu_destroy(dev);
        free(dev);
        return NULL;
    }
    cf_backend *be = cf_backend_cpu_new(nthreads);
    if (!be) {
        cu_destroy(dev);
        free(dev);
        cf_error_set(err, CF_ERUNTIME, "out of memory");
        return NULL;
    }
#ifdef HAVE_DNNL
    /* The layers oneDNN would run are the ones the GPU runs: no plans for
     * them on the host. */
    cf_dnnl_backend_free(be->dnnl);
    be->dnnl = NULL;
#endif
    be->gpu = dev;
    be->devops = &cf_cuda_devops;
    be->layer_ready = cf_cuda_layer_ready;
    return be;
}

int cf_gpu_mem_get(const cf_backend *be, cf_gpu_mem *out)
{
    memset(out, 0, sizeof *out);
    if (!cf_backend_is_gpu(be)) return -1;
    cf_cuda *cu = cf_cuda_of(be);
    cf_cuda_enter(cu);
    out->engine = cf_cuda_bytes_in_use();
    out->workspace = cu->ws_bytes;
    size_t fr = 0, tot = 0;
    if (cudaMemGetInfo(&fr, &tot) == cudaSuccess) {
        out->total = tot;
        out->used = tot - fr;
    } else {
        cudaGetLastError();
    }
    return 0;
}

const char *cf_gpu_describe(const cf_backend *be, char *buf, size_t n)
{
    if (!n) return buf;
    buf[0] = 0;
    if (!cf_backend_is_gpu(be)) return buf;
    const cf_cuda *cu = cf_cuda_of(be);
    snprintf(buf, n, "cuda:%d %s", cu->device, cu->name);
    return buf;
}
