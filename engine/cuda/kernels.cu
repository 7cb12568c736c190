/* kernels.cu — the backend's own CUDA kernels (see kernels.h for what each
 * computes).  Every kernel is a grid-stride loop over its outputs, one
 * thread per output element, so no two threads write the same cell and
 * the results do not depend on scheduling: col2im gathers what each
 * image cell receives instead of scattering with atomics, and adds it in
 * the CPU backend's order (kernel row, then column). */
#include <cfloat>
#include <cuda_runtime.h>

#include "kernels.h"

namespace {

const int threads = 256;

/* Blocks for n elements: enough to fill any current GPU, the loop covers
 * the rest. */
unsigned blocks_for(size_t n)
{
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 65536 ? (b ? b : 1) : 65536);
}

#define GRID_LOOP(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
                             i += (size_t)blockDim.x * gridDim.x)

__global__ void set_k(size_t n, float v, float *x)
{
    GRID_LOOP(i, n) x[i] = v;
}

__global__ void axpby_k(size_t n, float a, const float *x, float b, float *y)
{
    GRID_LOOP(i, n) y[i] = a * x[i] + b * y[i];
}

/* One thread per (c, n, y, x): the kh·kw values that output position
 * reads from channel c of image n, into their col rows. */
__global__ void im2col_k(cf_cuk_geom g, size_t total, const float *im, float *col)
{
    size_t P = (size_t)g.Ho * g.Wo, NP = (size_t)g.N * P;
    GRID_LOOP(t, total) {
        int x = (int)(t % g.Wo);
        int y = (int)(t / g.Wo % g.Ho);
        int n = (int)(t / P % g.N);
        int c = (int)(t / NP);
        const float *plane = im + ((size_t)n * g.C + c) * g.H * g.W;
        float *out = col + (size_t)c * g.kh * g.kw * NP + (size_t)n * P + (size_t)y * g.Wo + x;
        for (int i = 0; i < g.kh; i++) {
            int iy = y * g.sh - g.ph + i * g.dh;
            for (int j = 0; j < g.kw; j++) {
                int ix = x * g.sw - g.pw + j * g.dw;
                float v = (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) ? plane[(size_t)iy * g.W + ix] : 0.0f;
                out[((size_t)i * g.kw + j) * NP] = v;
            }
        }
    }
}

/* One thread per image cell (n, c, h, w): the sum of every col cell
 * that im2col filled from it.  Kernel offset (i, j) reads it for the
 * output (y, x) with y·sh − ph + i·dh = h and x·sw − pw + j·dw = w. */
__global__ void col2im_k(cf_cuk_geom g, size_t total, const float *col, float *im)
{
    size_t P = (size_t)g.Ho * g.Wo, NP = (size_t)g.N * P;
    GRID_LOOP(t, total) {
        int w = (int)(t % g.W);
        int h = (int)(t / g.W % g.H);
        int c = (int)(t / ((size_t)g.W * g.H) % g.C);
        int n = (int)(t / ((size_t)g.W * g.H * g.C));
        float sum = 0.0f;
        for (int i = 0; i < g.kh; i++) {
            int hy = h + g.ph - i * g.dh;
            if (hy < 0 || hy % g.sh) continue;
            int y = hy / g.sh;
            if (y >= g.Ho) continue;
            for (int j = 0; j < g.kw; j++) {
                int wx = w + g.pw - j * g.dw;
                if (wx < 0 || wx % g.sw) continue;
                int x = wx / g.sw;
                if (x >= g.Wo) continue;
                sum += col[(((size_t)c * g.kh + i) * g.kw + j) * NP + (size_t)n * P + (size_t)y * g.Wo + x];
            }
        }
        im[t] = sum;
    }
}

__global__ void relu_fwd_k(size_t n, float s, const float *x, float *y)
{
    GRID_LOOP(i, n) {
        float v = x[i];
        y[i] = v > 0 ? v : s * v;
    }
}

__global__ void relu_bwd_k(size_t n, float s, const float *x, const float *dy, float *dx)
{
    GRID_LOOP(i, n) dx[i] = dy[i] * (x[i] > 0 ? 1.0f : s);
}

/* One thread per position t = o·inner + i. */
__global__ void swl_loss_k(size_t outer, size_t C, size_t inner, const float *prob, const float *label,
                           bool has_ignore, float ignore, float *loss)
{
    GRID_LOOP(t, outer * inner) {
        float l = label[t];
        if (has_ignore && l == ignore) {
            loss[t] = 0.0f;
            continue;
        }
        size_t o = t / inner, i = t % inner;
        float p = prob[(o * C + (size_t)l) * inner + i];
        loss[t] = -logf(fmaxf(p, FLT_MIN));
    }
}

__global__ void swl_grad_k(size_t outer, size_t C, size_t inner, const float *prob, const float *label,
                           bool has_ignore, float ignore, float scale, float *dx)
{
    GRID_LOOP(t, outer * inner) {
        float l = label[t];
        bool use = !(has_ignore && l == ignore);
        size_t o = t / inner, i = t % inner, y = use ? (size_t)l : 0;
        for (size_t c = 0; c < C; c++) {
            size_t at = (o * C + c) * inner + i;
            dx[at] = use ? (c == y ? prob[at] - 1.0f : prob[at]) * scale : 0.0f;
        }
    }
}

__global__ void mul_k(size_t n, const float *a, const float *b, float *y)
{
    GRID_LOOP(i, n) y[i] = a[i] * b[i];
}

__global__ void div_mul_k(size_t n, const float *dy, const float *y, const float *x, float *dx)
{
    GRID_LOOP(i, n) dx[i] = dy[i] * y[i] / x[i];
}

__global__ void max_step_k(size_t n, int b, const float *x, float *y, int *arg)
{
    GRID_LOOP(i, n) {
        if (b == 0) {
            y[i] = x[i];
            arg[i] = 0;
        } else if (x[i] > y[i]) {
            y[i] = x[i];
            arg[i] = b;
        }
    }
}

__global__ void max_grad_k(size_t n, int b, const int *arg, const float *dy, float *dx)
{
    GRID_LOOP(i, n) dx[i] = arg[i] == b ? dy[i] : 0.0f;
}

struct neuron_p {
    float a, b, c;
};

/* BNLL's clip of x before e^x in the gradient (bnll.c). */
#define BNLL_CLIP 50.0f

__global__ void neuron_fwd_k(int kind, size_t n, neuron_p p, const float *x, float *y)
{
    GRID_LOOP(i, n) {
        float v = x[i], out = 0.0f;
        switch (kind) {
        case CF_CUK_POWER: /* p = (power, scale, shift) */
            if (p.a * p.b == 0) out = p.a == 0 ? 1.0f : powf(p.c, p.a);
            else if (p.a == 1) out = p.c + p.b * v;
            else out = powf(p.c + p.b * v, p.a);
            break;
        case CF_CUK_ABSVAL: out = v < 0 ? -v : v; break;
        case CF_CUK_ELU: out = v > 0 ? v : p.a * expm1f(v); break;
        case CF_CUK_BNLL: out = v > 0 ? v + log1pf(expf(-v)) : log1pf(expf(v)); break;
        }
        y[i] = out;
    }
}

__global__ void neuron_bwd_k(int kind, size_t n, neuron_p p, const float *x, const float *y, const float *dy,
                             float *dx)
{
    GRID_LOOP(i, n) {
        float out = 0.0f;
        switch (kind) {
        case CF_CUK_POWER: {
            float ds = p.a * p.b;
            if (ds == 0) out = 0.0f;
            else if (p.a == 1) out = dy[i] * ds;
            else if (p.a == 2) out = dy[i] * ds * (p.c + p.b * x[i]);
            else out = dy[i] * ds * powf(p.c + p.b * x[i], p.a - 1);
            break;
        }
        case CF_CUK_ABSVAL: {
            float v = x[i];
            out = v > 0 ? dy[i] : v < 0 ? -dy[i] : 0.0f;
            break;
        }
        case CF_CUK_ELU: out = dy[i] * (x[i] > 0 ? 1.0f : p.a + y[i]); break;
        case CF_CUK_BNLL: {
            float ex = expf(fminf(x[i], BNLL_CLIP));
            out = dy[i] * ex / (ex + 1.0f);
            break;
        }
        }
        dx[i] = out;
    }
}

__global__ void scale_fwd_k(size_t outer, size_t dim, size_t inner, const float *x, const float *s, const float *b,
                            float *y)
{
    GRID_LOOP(t, outer * dim * inner) {
        size_t d = t / inner % dim;
        float v = s ? x[t] * s[d] : x[t];
        y[t] = b ? v + b[d] : v;
    }
}

__global__ void scale_dx_k(size_t outer, size_t dim, size_t inner, const float *dy, const float *s, float *dx)
{
    GRID_LOOP(t, outer * dim * inner) dx[t] = dy[t] * s[t / inner % dim];
}

/* One block per entry d: its threads sum over (o, i) in double, then a
 * tree in shared memory (fixed order: the result does not depend on
 * scheduling). */
__global__ void channel_grads_k(size_t outer, size_t dim, size_t inner, const float *dy, const float *x, float *ds,
                                bool acc_s, float *db, bool acc_b)
{
    __shared__ double ss[threads], sb[threads];
    size_t d = blockIdx.x, m = outer * inner;
    double a = 0, c = 0;
    for (size_t k = threadIdx.x; k < m; k += blockDim.x) {
        size_t at = (k / inner * dim + d) * inner + k % inner;
        if (ds) a += (double)dy[at] * x[at];
        c += dy[at];
    }
    ss[threadIdx.x] = a;
    sb[threadIdx.x] = c;
    __syncthreads();
    for (int h = threads / 2; h > 0; h /= 2) {
        if ((int)threadIdx.x < h) {
            ss[threadIdx.x] += ss[threadIdx.x + h];
            sb[threadIdx.x] += sb[threadIdx.x + h];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        if (ds) ds[d] = acc_s ? ds[d] + (float)ss[0] : (float)ss[0];
        if (db) db[d] = acc_b ? db[d] + (float)sb[0] : (float)sb[0];
    }
}

/* Sum of v over a block in a fixed tree (every thread gets the total). */
__device__ double block_sum(double v, double *sh)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int h = threads / 2; h > 0; h /= 2) {
        if ((int)threadIdx.x < h) sh[threadIdx.x] += sh[threadIdx.x + h];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

/* One block per channel: its statistics and the running sums. */
__global__ void bn_stats_k(size_t N, size_t C, size_t S, bool global, float maf, float eps, const float *x,
                           float *mean, float *std, float *sum_mean, float *sum_var, float *t)
{
    __shared__ double sh[threads];
    size_t ch = blockIdx.x, m = N * S;
    float var;
    if (global) {
        float f = t[0] == 0 ? 0 : 1 / t[0];
        if (threadIdx.x == 0) mean[ch] = f * sum_mean[ch];
        var = f * sum_var[ch];
    } else {
        double sum = 0;
        for (size_t k = threadIdx.x; k < m; k += blockDim.x) sum += x[(k / S * C + ch) * S + k % S];
        double mu = block_sum(sum, sh) / (double)m, sq = 0;
        for (size_t k = threadIdx.x; k < m; k += blockDim.x) {
            double d = x[(k / S * C + ch) * S + k % S] - mu;
            sq += d * d;
        }
        sq = block_sum(sq, sh);
        float fmu = (float)mu;
        var = (float)(sq / (double)m);
        if (threadIdx.x == 0) {
            float corr = m > 1 ? (float)m / (float)(m - 1) : 1.0f;
            mean[ch] = fmu;
            sum_mean[ch] = fmu + maf * sum_mean[ch];
            sum_var[ch] = corr * var + maf * sum_var[ch];
            if (ch == 0) t[0] = t[0] * maf + 1;
        }
    }
    if (threadIdx.x == 0) std[ch] = sqrtf(var + eps);
}

__global__ void bn_norm_k(size_t N, size_t C, size_t S, bool global, const float *x, const float *mean,
                          const float *std, float *y, float *y_norm)
{
    GRID_LOOP(k, N * C * S) {
        size_t ch = k / S % C;
        float v = (x[k] - mean[ch]) / std[ch];
        y[k] = v;
        if (!global) y_norm[k] = v;
    }
}

__global__ void bn_bwd_global_k(size_t N, size_t C, size_t S, const float *dy, const float *std, float *dx)
{
    GRID_LOOP(k, N * C * S) dx[k] = dy[k] / std[k / S % C];
}

/* One block per channel: the two means, then dx. */
__global__ void bn_bwd_k(size_t N, size_t C, size_t S, const float *dy, const float *y_norm, const float *std,
                         float *dx)
{
    __shared__ double sh[threads];
    size_t ch = blockIdx.x, m = N * S;
    double sdy = 0, sdyy = 0;
    for (size_t k = threadIdx.x; k < m; k += blockDim.x) {
        size_t at = (k / S * C + ch) * S + k % S;
        sdy += dy[at];
        sdyy += (double)dy[at] * y_norm[at];
    }
    float a = (float)(block_sum(sdy, sh) / (double)m), b = (float)(block_sum(sdyy, sh) / (double)m);
    float sd = std[ch];
    for (size_t k = threadIdx.x; k < m; k += blockDim.x) {
        size_t at = (k / S * C + ch) * S + k % S;
        dx[at] = (dy[at] - a - b * y_norm[at]) / sd;
    }
}

/* The solver rules, one thread per parameter, in the host's order of
 * operations (solver.c) so that the two agree to rounding. */
template <int RULE>
__global__ void update_k(size_t n, cf_cuk_update_args u, float *w, float *g, float *h, float *h2)
{
    GRID_LOOP(k, n) {
        float gk = g[k], wk = w[k];
        if (u.scale != 1.0f) gk *= u.scale;
        if (u.wd != 0.0f) gk += u.l1 ? u.wd * (float)((wk > 0) - (wk < 0)) : u.wd * wk;
        g[k] = gk;
        float hk = h[k];
        switch (RULE) {
        case 0: /* SGD */
            hk = u.mu * hk + u.rate * gk;
            wk -= hk;
            break;
        case 1: { /* Nesterov */
            float prev = hk;
            hk = u.mu * hk + u.rate * gk;
            wk -= (1 + u.mu) * hk - u.mu * prev;
            break;
        }
        case 2: /* AdaGrad */
            hk += gk * gk;
            wk -= u.rate * gk / (sqrtf(hk) + u.delta);
            break;
        case 3: /* RMSProp */
            hk = u.rho * hk + (1 - u.rho) * gk * gk;
            wk -= u.rate * gk / (sqrtf(hk) + u.delta);
            break;
        case 4: { /* AdaDelta */
            hk = u.mu * hk + (1 - u.mu) * gk * gk;
            float step = gk * sqrtf((h2[k] + u.delta) / (hk + u.delta));
            h2[k] = u.mu * h2[k] + (1 - u.mu) * step * step;
            wk -= u.rate * step;
            break;
        }
        case 5: /* Adam */
            hk = u.mu * hk + (1 - u.mu) * gk;
            h2[k] = u.mu2 * h2[k] + (1 - u.mu2) * gk * gk;
            wk -= u.rate * u.corr * hk / (sqrtf(h2[k]) + u.delta);
            break;
        }
        h[k] = hk;
        w[k] = wk;
    }
}

cf_cuk_status launched() { return (cf_cuk_status)cudaGetLastError(); }

} // namespace

extern "C" {

cf_cuk_status cf_cuk_set(size_t n, float v, float *x)
{
    if (!n) return 0;
    set_k<<<blocks_for(n), threads>>>(n, v, x);
    return launched();
}

cf_cuk_status cf_cuk_axpby(size_t n, float a, const float *x, float b, float *y)
{
    if (!n) return 0;
    axpby_k<<<blocks_for(n), threads>>>(n, a, x, b, y);
    return launched();
}

cf_cuk_status cf_cuk_im2col(const cf_cuk_geom *g, const float *im, float *col)
{
    size_t total = (size_t)g->C * g->N * g->Ho * g->Wo;
    if (!total) return 0;
    im2col_k<<<blocks_for(total), threads>>>(*g, total, im, col);
    return launched();
}

cf_cuk_status cf_cuk_col2im(const cf_cuk_geom *g, const float *col, float *im)
{
    size_t total = (size_t)g->N * g->C * g->H * g->W;
    if (!total) return 0;
    col2im_k<<<blocks_for(total), threads>>>(*g, total, col, im);
    return launched();
}

cf_cuk_status cf_cuk_relu_forward(size_t n, float s, const float *x, float *y)
{
    if (!n) return 0;
    relu_fwd_k<<<blocks_for(n), threads>>>(n, s, x, y);
    return launched();
}

cf_cuk_status cf_cuk_relu_backward(size_t n, float s, const float *x, const float *dy, float *dx)
{
    if (!n) return 0;
    relu_bwd_k<<<blocks_for(n), threads>>>(n, s, x, dy, dx);
    return launched();
}

cf_cuk_status cf_cuk_softmax_loss(size_t outer, size_t C, size_t inner, const float *prob, const float *label,
                                  bool has_ignore, float ignore, float *loss)
{
    if (outer * inner == 0) return 0;
    swl_loss_k<<<blocks_for(outer * inner), threads>>>(outer, C, inner, prob, label, has_ignore, ignore, loss);
    return launched();
}

cf_cuk_status cf_cuk_softmax_loss_grad(size_t outer, size_t C, size_t inner, const float *prob, const float *label,
                                       bool has_ignore, float ignore, float scale, float *dx)
{
    if (outer * inner == 0) return 0;
    swl_grad_k<<<blocks_for(outer * inner), threads>>>(outer, C, inner, prob, label, has_ignore, ignore, scale, dx);
    return launched();
}

cf_cuk_status cf_cuk_mul(size_t n, const float *a, const float *b, float *y)
{
    if (!n) return 0;
    mul_k<<<blocks_for(n), threads>>>(n, a, b, y);
    return launched();
}

cf_cuk_status cf_cuk_div_mul(size_t n, const float *dy, const float *y, const float *x, float *dx)
{
    if (!n) return 0;
    div_mul_k<<<blocks_for(n), threads>>>(n, dy, y, x, dx);
    return launched();
}

cf_cuk_status cf_cuk_max_step(size_t n, int b, const float *x, float *y, int *arg)
{
    if (!n) return 0;
    max_step_k<<<blocks_for(n), threads>>>(n, b, x, y, arg);
    return launched();
}

cf_cuk_status cf_cuk_max_grad(size_t n, int b, const int *arg, const float *dy, float *dx)
{
    if (!n) return 0;
    max_grad_k<<<blocks_for(n), threads>>>(n, b, arg, dy, dx);
    return launched();
}

cf_cuk_status cf_cuk_neuron_forward(int kind, size_t n, const float *p, const float *x, float *y)
{
    if (!n) return 0;
    neuron_p q = {p ? p[0] : 0, p ? p[1] : 0, p ? p[2] : 0};
    neuron_fwd_k<<<blocks_for(n), threads>>>(kind, n, q, x, y);
    return launched();
}

cf_cuk_status cf_cuk_neuron_backward(int kind, size_t n, const float *p, const float *x, const float *y,
                                     const float *dy, float *dx)
{
    if (!n) return 0;
    neuron_p q = {p ? p[0] : 0, p ? p[1] : 0, p ? p[2] : 0};
    neuron_bwd_k<<<blocks_for(n), threads>>>(kind, n, q, x, y, dy, dx);
    return launched();
}

cf_cuk_status cf_cuk_scale_forward(size_t outer, size_t dim, size_t inner, const float *x, const float *s,
                                   const float *b, float *y)
{
    size_t n = outer * dim * inner;
    if (!n) return 0;
    scale_fwd_k<<<blocks_for(n), threads>>>(outer, dim, inner, x, s, b, y);
    return launched();
}

cf_cuk_status cf_cuk_scale_dx(size_t outer, size_t dim, size_t inner, const float *dy, const float *s, float *dx)
{
    size_t n = outer * dim * inner;
    if (!n) return 0;
    scale_dx_k<<<blocks_for(n), threads>>>(outer, dim, inner, dy, s, dx);
    return launched();
}

cf_cuk_status cf_cuk_channel_grads(size_t outer, size_t dim, size_t inner, const float *dy, const float *x,
                                   float *ds, bool acc_s, float *db, bool acc_b)
{
    if (!dim || (!ds && !db)) return 0;
    if (dim > 2147483647u) return (cf_cuk_status)cudaErrorInvalidValue;
    channel_grads_k<<<(unsigned)dim, threads>>>(outer, dim, inner, dy, x, ds, acc_s, db, acc_b);
    return launched();
}

cf_cuk_status cf_cuk_bn_forward(size_t N, size_t C, size_t S, bool global, float maf, float eps, const float *x,
                                float *y, float *y_norm, float *mean, float *std, float *sum_mean, float *sum_var,
                                float *t)
{
    if (C == 0 || N * S == 0) return 0;
    if (C > 2147483647u) return (cf_cuk_status)cudaErrorInvalidValue;
    bn_stats_k<<<(unsigned)C, threads>>>(N, C, S, global, maf, eps, x, mean, std, sum_mean, sum_var, t);
    cf_cuk_status e = launched();
    if (e) return e;
    bn_norm_k<<<blocks_for(N * C * S), threads>>>(N, C, S, global, x, mean, std, y, y_norm);
    return launched();
}

cf_cuk_status cf_cuk_bn_backward(size_t N, size_t C, size_t S, bool global, const float *dy, const float *y_norm,
                                 const float *std, float *dx)
{
    if (C == 0 || N * S == 0) return 0;
    if (C > 2147483647u) return (cf_cuk_status)cudaErrorInvalidValue;
    if (global) bn_bwd_global_k<<<blocks_for(N * C * S), threads>>>(N, C, S, dy, std, dx);
    else bn_bwd_k<<<(unsigned)C, threads>>>(N, C, S, dy, y_norm, std, dx);
    return launched();
}

cf_cuk_status cf_cuk_solver_update(size_t n, const cf_cuk_update_args *u, float *w, float *g, float *h, float *h2)
{
    if (!n) return 0;
    unsigned nb = blocks_for(n);
    switch (u->rule) {
    case 0: update_k<0><<<nb, threads>>>(n, *u, w, g, h, h2); break;
    case 1: update_k<1><<<nb, threads>>>(n, *u, w, g, h, h2); break;
    case 2: update_k<2><<<nb, threads>>>(n, *u, w, g, h, h2); break;
    case 3: update_k<3><<<nb, threads>>>(n, *u, w, g, h, h2); break;
    case 4: update_k<4><<<nb, threads>>>(n, *u, w, g, h, h2); break;
    case 5: update_k<5><<<nb, threads>>>(n, *u, w, g, h, h2); break;
    default: return (cf_cuk_status)cudaErrorInvalidValue;
    }
    return launched();
}

} // extern "C"
