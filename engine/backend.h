/* backend.h — the math a layer may use, behind one vtable per device.
 *
 * Layers call these functions, never BLAS or CUDA directly, so that a
 * device backend can take over by filling in its own cf_backend_ops.
 * Pointers are the backend's own (host pointers on the CPU).
 *
 * BLAS conventions are row-major, as cblas with CblasRowMajor:
 *   gemm: C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C
 *   gemv: y = alpha · op(A) x + beta · y, A is M×N
 *
 * im2col is batched over the whole minibatch: for images im[N][C][H][W]
 * the column buffer is col[C·kh·kw][N·Ho·Wo] (row r = (c, i, j), column
 * = (n, y, x)), so one gemm covers every image.  col2im adds back
 * (overwriting im first).  Ho = (H + 2ph − (dh(kh−1)+1)) / sh + 1.
 *
 * cf_parallel_for splits [0, n) into contiguous ranges over the backend's
 * thread pool (the caller's thread takes one); fn must not call it again.
 *
 * GPU (engine/cuda, built with --with-cuda): the backend a net is built
 * on stays a host backend, so every layer that knows nothing of the GPU
 * keeps computing on host pointers with the host math; `gpu` is the
 * device's own backend, whose ops take device pointers (cuBLAS and
 * kernels).  A GPU-aware pass asks for device pointers with
 * cf_blob_gpu_data & co. and calls cf_*(cf_backend_gpu(be), ...); the blob
 * memory copies whichever side is stale (blob.h).  The GPU side learns of
 * each layer through layer_ready, which cf_layer_setup calls, and takes
 * over the passes it implements (engine/cuda/cuda_layers.c).
 */
#ifndef CF_BACKEND_H
#define CF_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "blob.h"

typedef struct cf_backend cf_backend;
struct cf_layer;
typedef void (*cf_range_fn)(void *ctx, size_t begin, size_t end);

typedef struct cf_conv_geom {
    int N, C, H, W;     /* input */
    int kh, kw, ph, pw, sh, sw, dh, dw;
    int Ho, Wo;         /* output, filled by cf_conv_geom_out */
} cf_conv_geom;

/* One solver update of n parameters, as solver.c computes it on the host
 * (the rules are written out there; rule follows cf_solver_type's order):
 *   g ← g·scale;  g ← g + wd·(l1 ? sign w : w)  (when wd ≠ 0);
 *   then the rule's history and weight update at rate `rate`.
 * g keeps the regularised gradient, as on the host.  corr is Adam's
 * √(1−β₂ᵗ)/(1−β₁ᵗ), computed once by the solver. */
typedef enum { CF_UPD_SGD, CF_UPD_NESTEROV, CF_UPD_ADAGRAD, CF_UPD_RMSPROP, CF_UPD_ADADELTA, CF_UPD_ADAM } cf_update_rule;

typedef struct cf_update {
    cf_update_rule rule;
    float scale;            /* 1/iter_size (1: no scaling) */
    float wd;               /* weight_decay · decay_mult (0: none) */
    bool l1;
    float rate;             /* lr · lr_mult */
    float mu, mu2, delta, rho, corr; /* momentum, momentum2, delta, rms_decay, Adam's correction */
} cf_update;

typedef struct cf_backend_ops {
    const char *name;
    void (*gemm)(cf_backend *be, bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                 const float *B, float beta, float *C);
    void (*gemv)(cf_backend *be, bool ta, int M, int N, float alpha, const float *A, const float *x,
                 float beta, float *y);
    void (*axpy)(cf_backend *be, size_t n, float a, const float *x, float *y);
    void (*axpby)(cf_backend *be, size_t n, float a, const float *x, float b, float *y);
    void (*scal)(cf_backend *be, size_t n, float a, float *x);
    void (*set)(cf_backend *be, size_t n, float v, float *x);
    void (*copy)(cf_backend *be, size_t n, const float *x, float *y);
    float (*dot)(cf_backend *be, size_t n, const float *x, const float *y);
    float (*asum)(cf_backend *be, size_t n, const float *x);
    void (*im2col)(cf_backend *be, const cf_conv_geom *g, const float *im, float *col);
    void (*col2im)(cf_backend *be, const cf_conv_geom *g, const float *col, float *im);
    /* The whole update of one param in place (w, g, h and, for AdaDelta
     * and Adam, h2); NULL: the solver runs its own loops on host pointers
     * (the CPU).  A device backend fills it so weights, gradients and
     * history never leave the device. */
    void (*update)(cf_backend *be, const cf_update *u, size_t n, float *w, float *g, float *h, float *h2);
    void (*set_threads)(cf_backend *be, int n);
    void (*destroy)(cf_backend *be); /* frees impl; NULL when there is nothing to free */
} cf_backend_ops;

struct cf_backend {
    const cf_backend_ops *ops;
    int nthreads;
    struct cf_pool *pool;
    void *impl;
    void *dnnl;             /* oneDNN state (engine/dnnl), NULL when not in use */
    /* GPU (see the top comment); all NULL on a CPU backend */
    cf_backend *gpu;                    /* the device's backend (device pointers) */
    const cf_device_ops *devops;        /* blob memory on that device */
    void (*layer_ready)(struct cf_layer *l); /* called once each layer is set up */
};

/* The CPU backend; nthreads <= 0 means the number of cores.  Free with
 * cf_backend_free. */
cf_backend *cf_backend_cpu_new(int nthreads);
void cf_backend_free(cf_backend *be);
void cf_backend_set_threads(cf_backend *be, int n);

void cf_conv_geom_out(cf_conv_geom *g);

static inline void cf_gemm(cf_backend *be, bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                           const float *B, float beta, float *C)
{ be->ops->gemm(be, ta, tb, M, N, K, alpha, A, B, beta, C); }
static inline void cf_gemv(cf_backend *be, bool ta, int M, int N, float alpha, const float *A, const float *x,
                           float beta, float *y)
{ be->ops->gemv(be, ta, M, N, alpha, A, x, beta, y); }
static inline void cf_axpy(cf_backend *be, size_t n, float a, const float *x, float *y) { be->ops->axpy(be, n, a, x, y); }
static inline void cf_axpby(cf_backend *be, size_t n, float a, const float *x, float b, float *y)
{ be->ops->axpby(be, n, a, x, b, y); }
static inline void cf_scal(cf_backend *be, size_t n, float a, float *x) { be->ops->scal(be, n, a, x); }
static inline void cf_set(cf_backend *be, size_t n, float v, float *x) { be->ops->set(be, n, v, x); }
static inline void cf_copy(cf_backend *be, size_t n, const float *x, float *y) { be->ops->copy(be, n, x, y); }
static inline float cf_dot(cf_backend *be, size_t n, const float *x, const float *y) { return be->ops->dot(be, n, x, y); }
static inline float cf_asum(cf_backend *be, size_t n, const float *x) { return be->ops->asum(be, n, x); }
static inline void cf_im2col(cf_backend *be, const cf_conv_geom *g, const float *im, float *col)
{ be->ops->im2col(be, g, im, col); }
static inline void cf_col2im(cf_backend *be, const cf_conv_geom *g, const float *col, float *im)
{ be->ops->col2im(be, g, col, im); }

/* ---- GPU ---- */
static inline bool cf_backend_is_gpu(const cf_backend *be) { return be && be->gpu; }
static inline cf_backend *cf_backend_gpu(const cf_backend *be) { return be->gpu; }
/* Device pointers of a blob on be's GPU (blob.h's cf_blob_dev_*): NULL
 * when the device allocation fails. */
static inline const float *cf_blob_gpu_data(const cf_backend *be, const cf_blob *b)
{ return cf_blob_dev_data(b, be->devops); }
static inline const float *cf_blob_gpu_diff(const cf_backend *be, const cf_blob *b)
{ return cf_blob_dev_diff(b, be->devops); }
static inline float *cf_blob_gpu_mdata(const cf_backend *be, cf_blob *b) { return cf_blob_dev_mdata(b, be->devops); }
static inline float *cf_blob_gpu_mdiff(const cf_backend *be, cf_blob *b) { return cf_blob_dev_mdiff(b, be->devops); }

/* Run fn over [0, n) on the pool; ranges are at least `grain` long. */
void cf_parallel_for(cf_backend *be, size_t n, size_t grain, cf_range_fn fn, void *ctx);

#endif
