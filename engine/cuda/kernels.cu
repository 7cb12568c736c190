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

} // extern "C"
