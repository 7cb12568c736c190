/* backend_cpu.c — the CPU backend: OpenBLAS for BLAS, our pool for the
 * rest.  OpenBLAS threads and the pool never run at the same time (a
 * layer calls one, then the other), so both use every core.  When oneDNN
 * is in use, its OpenMP threads take the pool's jobs as well (see
 * run_parallel), so that one set of threads serves every layer. */
#include "backend.h"

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dnnl/dnnl_layers.h"
#include "pool.h"

void cf_conv_geom_out(cf_conv_geom *g)
{
    int ekh = g->dh * (g->kh - 1) + 1, ekw = g->dw * (g->kw - 1) + 1;
    g->Ho = (g->H + 2 * g->ph - ekh) / g->sh + 1;
    g->Wo = (g->W + 2 * g->pw - ekw) / g->sw + 1;
}

/* ---- parallel_for over the pool ---- */

/* fn(ctx, w) for every worker w: on oneDNN's OpenMP threads when oneDNN
 * is in use (its threads spin a while after each primitive, and a pool
 * thread woken meanwhile would wait for a core), else on our pool. */
static void run_parallel(cf_backend *be, cf_pool_fn fn, void *ctx)
{
#ifdef HAVE_DNNL
    if (be->dnnl && cf_dnnl_parallel(be, fn, ctx) == 0) return;
#endif
    cf_pool_run(be->pool, fn, ctx);
}

typedef struct {
    size_t n;
    int parts;
    cf_range_fn fn;
    void *ctx;
} pfor_job;

static void pfor_worker(void *arg, int w)
{
    pfor_job *j = arg;
    if (w >= j->parts) return;
    size_t b = j->n * (size_t)w / (size_t)j->parts, e = j->n * (size_t)(w + 1) / (size_t)j->parts;
    if (b < e) j->fn(j->ctx, b, e);
}

void cf_parallel_for(cf_backend *be, size_t n, size_t grain, cf_range_fn fn, void *ctx)
{
    if (n == 0) return;
    int threads = be && be->pool ? cf_pool_threads(be->pool) : 1;
    if (grain < 1) grain = 1;
    size_t maxparts = (n + grain - 1) / grain;
    int parts = (size_t)threads < maxparts ? threads : (int)maxparts;
    if (parts <= 1) {
        fn(ctx, 0, n);
        return;
    }
    pfor_job j = {n, parts, fn, ctx};
    run_parallel(be, pfor_worker, &j);
}

/* ---- BLAS ---- */

/* OpenBLAS runs single-threaded; the pool splits a big product into one
 * block of C per thread (columns when C is wide, rows when it is tall), so
 * OpenBLAS's own spinning threads never compete with ours for the cores. */
typedef struct {
    bool ta, tb;
    int M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    bool by_cols;
    int parts;
} gemm_job;

static void gemm_block(const gemm_job *j, int m0, int m1, int n0, int n1)
{
    int lda = j->ta ? j->M : j->K, ldb = j->tb ? j->K : j->N;
    const float *A = j->ta ? j->A + m0 : j->A + (size_t)m0 * j->K;
    const float *B = j->tb ? j->B + (size_t)n0 * j->K : j->B + n0;
    cblas_sgemm(CblasRowMajor, j->ta ? CblasTrans : CblasNoTrans, j->tb ? CblasTrans : CblasNoTrans, m1 - m0, n1 - n0,
                j->K, j->alpha, A, lda, B, ldb, j->beta, j->C + (size_t)m0 * j->N + n0, j->N);
}

static void gemm_part(void *arg, int w)
{
    const gemm_job *j = arg;
    if (w >= j->parts) return;
    int total = j->by_cols ? j->N : j->M;
    /* split on multiples of 16 so each block keeps whole SIMD panels */
    int units = (total + 15) / 16;
    int b = units * w / j->parts * 16, e = units * (w + 1) / j->parts * 16;
    if (e > total) e = total;
    if (b >= e) return;
    if (j->by_cols) gemm_block(j, 0, j->M, b, e);
    else gemm_block(j, b, e, 0, j->N);
}

static void cpu_gemm(cf_backend *be, bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                     const float *B, float beta, float *C)
{
    int threads = be->pool ? cf_pool_threads(be->pool) : 1;
    double work = (double)M * N * K;
    gemm_job j = {ta, tb, M, N, K, alpha, beta, A, B, C, N >= M, threads};
    int split = j.by_cols ? N : M;
    if (threads <= 1 || work < 262144.0 || split < 32) {
        j.parts = 1;
        gemm_block(&j, 0, M, 0, N);
        return;
    }
    run_parallel(be, gemm_part, &j);
}

static void cpu_gemv(cf_backend *be, bool ta, int M, int N, float alpha, const float *A, const float *x, float beta,
                     float *y)
{
    (void)be;
    cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, M, N, alpha, A, N, x, 1, beta, y, 1);
}

/* Elementwise ops go through the pool in chunks big enough to be worth
 * waking a thread (64 Ki floats). */
#define EW_GRAIN 65536

typedef struct { float a, b; const float *x; float *y; } ew_ctx;

static void axpy_rng(void *c, size_t b, size_t e)
{
    ew_ctx *k = c;
    cblas_saxpy((int)(e - b), k->a, k->x + b, 1, k->y + b, 1);
}
static void cpu_axpy(cf_backend *be, size_t n, float a, const float *x, float *y)
{
    ew_ctx k = {a, 0, x, y};
    cf_parallel_for(be, n, EW_GRAIN, axpy_rng, &k);
}

static void axpby_rng(void *c, size_t b, size_t e)
{
    ew_ctx *k = c;
    for (size_t i = b; i < e; i++) k->y[i] = k->a * k->x[i] + k->b * k->y[i];
}
static void cpu_axpby(cf_backend *be, size_t n, float a, const float *x, float b, float *y)
{
    ew_ctx k = {a, b, x, y};
    cf_parallel_for(be, n, EW_GRAIN, axpby_rng, &k);
}

static void scal_rng(void *c, size_t b, size_t e)
{
    ew_ctx *k = c;
    if (k->a == 0.0f) memset(k->y + b, 0, (e - b) * sizeof(float));
    else for (size_t i = b; i < e; i++) k->y[i] *= k->a;
}
static void cpu_scal(cf_backend *be, size_t n, float a, float *x)
{
    ew_ctx k = {a, 0, NULL, x};
    cf_parallel_for(be, n, EW_GRAIN, scal_rng, &k);
}

static void set_rng(void *c, size_t b, size_t e)
{
    ew_ctx *k = c;
    if (k->a == 0.0f) memset(k->y + b, 0, (e - b) * sizeof(float));
    else for (size_t i = b; i < e; i++) k->y[i] = k->a;
}
static void cpu_set(cf_backend *be, size_t n, float v, float *x)
{
    ew_ctx k = {v, 0, NULL, x};
    cf_parallel_for(be, n, EW_GRAIN, set_rng, &k);
}

static void copy_rng(void *c, size_t b, size_t e)
{
    ew_ctx *k = c;
    memcpy(k->y + b, k->x + b, (e - b) * sizeof(float));
}
static void cpu_copy(cf_backend *be, size_t n, const float *x, float *y)
{
    if (x == y) return;
    ew_ctx k = {0, 0, x, y};
    cf_parallel_for(be, n, EW_GRAIN, copy_rng, &k);
}

/* Dot and asum accumulate in double so long vectors stay accurate. */
static float cpu_dot(cf_backend *be, size_t n, const float *x, const float *y)
{
    (void)be;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * y[i];
    return (float)s;
}

static float cpu_asum(cf_backend *be, size_t n, const float *x)
{
    (void)be;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[i] < 0 ? -(double)x[i] : x[i];
    return (float)s;
}

/* ---- im2col / col2im, batched over the minibatch ---- */

typedef struct { const cf_conv_geom *g; const float *src; float *dst; } conv_ctx;

/* Outputs x in [lo, hi) of a row read input column x0 + x·s inside
 * [0, W); the others fall in the padding. */
static void x_range(int x0, int s, int W, int Wo, int *lo, int *hi)
{
    int l = x0 >= 0 ? 0 : (-x0 + s - 1) / s;
    int h = x0 > W - 1 ? 0 : (W - 1 - x0) / s + 1;
    if (h > Wo) h = Wo;
    if (l > h) l = h;
    *lo = l, *hi = h;
}

/* Rows r = (c, i, j) of col are independent: split rows over threads. */
static void im2col_rows(void *arg, size_t rb, size_t re)
{
    conv_ctx *k = arg;
    const cf_conv_geom *g = k->g;
    size_t P = (size_t)g->Ho * g->Wo, NP = (size_t)g->N * P;
    for (size_t r = rb; r < re; r++) {
        int j = (int)(r % g->kw), i = (int)(r / g->kw % g->kh), c = (int)(r / g->kw / g->kh);
        float *out = k->dst + r * NP;
        for (int n = 0; n < g->N; n++) {
            const float *im = k->src + ((size_t)n * g->C + c) * g->H * g->W;
            for (int y = 0; y < g->Ho; y++) {
                int iy = y * g->sh - g->ph + i * g->dh;
                float *o = out + (size_t)n * P + (size_t)y * g->Wo;
                if (iy < 0 || iy >= g->H) {
                    memset(o, 0, (size_t)g->Wo * sizeof(float));
                    continue;
                }
                const float *row = im + (size_t)iy * g->W;
                int x0 = j * g->dw - g->pw; /* input column for output x = 0 */
                /* outputs [lo, hi) read inside the row, the rest are padding;
                 * plain loops rather than memcpy/memset, whose calls cost
                 * more than these short runs (Wo is 8 to 32 in CIFAR) */
                int lo, hi;
                x_range(x0, g->sw, g->W, g->Wo, &lo, &hi);
                for (int x = 0; x < lo; x++) o[x] = 0.0f;
                if (g->sw == 1)
                    for (int x = lo; x < hi; x++) o[x] = row[x0 + x];
                else
                    for (int x = lo; x < hi; x++) o[x] = row[x0 + x * g->sw];
                for (int x = hi; x < g->Wo; x++) o[x] = 0.0f;
            }
        }
    }
}

static void cpu_im2col(cf_backend *be, const cf_conv_geom *g, const float *im, float *col)
{
    conv_ctx k = {g, im, col};
    size_t rows = (size_t)g->C * g->kh * g->kw;
    cf_parallel_for(be, rows, 1, im2col_rows, &k);
}

/* Planes (n, c) of im are independent: split them over threads. */
static void col2im_planes(void *arg, size_t pb, size_t pe)
{
    conv_ctx *k = arg;
    const cf_conv_geom *g = k->g;
    size_t P = (size_t)g->Ho * g->Wo, NP = (size_t)g->N * P;
    for (size_t p = pb; p < pe; p++) {
        int n = (int)(p / g->C), c = (int)(p % g->C);
        float *im = k->dst + p * g->H * g->W;
        memset(im, 0, (size_t)g->H * g->W * sizeof(float));
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                const float *cr = k->src + (((size_t)c * g->kh + i) * g->kw + j) * NP + (size_t)n * P;
                int x0 = j * g->dw - g->pw, lo, hi;
                x_range(x0, g->sw, g->W, g->Wo, &lo, &hi);
                for (int y = 0; y < g->Ho; y++) {
                    int iy = y * g->sh - g->ph + i * g->dh;
                    if (iy < 0 || iy >= g->H) continue;
                    float *row = im + (size_t)iy * g->W;
                    const float *cy = cr + (size_t)y * g->Wo;
                    if (g->sw == 1)
                        for (int x = lo; x < hi; x++) row[x0 + x] += cy[x];
                    else
                        for (int x = lo; x < hi; x++) row[x0 + x * g->sw] += cy[x];
                }
            }
    }
}

static void cpu_col2im(cf_backend *be, const cf_conv_geom *g, const float *col, float *im)
{
    conv_ctx k = {g, col, im};
    cf_parallel_for(be, (size_t)g->N * g->C, 1, col2im_planes, &k);
}

/* ---- lifetime ---- */

static void cpu_set_threads(cf_backend *be, int n)
{
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    if (be->pool && n == be->nthreads) return;
    cf_pool_free(be->pool);
    be->pool = cf_pool_new(n);
    be->nthreads = n;
    openblas_set_num_threads(1); /* our pool does the splitting (see cpu_gemm) */
}

static const cf_backend_ops cpu_ops = {
    .name = "cpu",
    .gemm = cpu_gemm,
    .gemv = cpu_gemv,
    .axpy = cpu_axpy,
    .axpby = cpu_axpby,
    .scal = cpu_scal,
    .set = cpu_set,
    .copy = cpu_copy,
    .dot = cpu_dot,
    .asum = cpu_asum,
    .im2col = cpu_im2col,
    .col2im = cpu_col2im,
    .set_threads = cpu_set_threads,
};

cf_backend *cf_backend_cpu_new(int nthreads)
{
    cf_backend *be = calloc(1, sizeof *be);
    if (!be) return NULL;
    be->ops = &cpu_ops;
    cpu_set_threads(be, nthreads);
#ifdef HAVE_DNNL
    be->dnnl = cf_dnnl_backend_new(be); /* NULL when CAFETUI_DNNL=0 */
#endif
    return be;
}

void cf_backend_set_threads(cf_backend *be, int n) { be->ops->set_threads(be, n); }

void cf_backend_free(cf_backend *be)
{
    if (!be) return;
#ifdef HAVE_DNNL
    cf_dnnl_backend_free(be->dnnl);
#endif
    cf_backend_free(be->gpu);
    if (be->ops->destroy) be->ops->destroy(be);
    cf_pool_free(be->pool);
    free(be);
}
