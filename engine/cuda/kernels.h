/* kernels.h — the CUDA kernels of the backend (kernels.cu), as plain C
 * functions that launch them on the current device's default stream.
 * Pointers are device pointers; each returns the launch status (kernels
 * run asynchronously: a fault shows up at the next synchronising call).
 * Nothing here needs a CUDA header, so C files include it freely. */
#ifndef CF_CUDA_KERNELS_H
#define CF_CUDA_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The return value is a cudaError_t. */
typedef int cf_cuk_status;

/* x[i] = v */
cf_cuk_status cf_cuk_set(size_t n, float v, float *x);
/* y[i] = a·x[i] + b·y[i] */
cf_cuk_status cf_cuk_axpby(size_t n, float a, const float *x, float b, float *y);

/* Geometry of im2col/col2im, as backend.h's cf_conv_geom. */
typedef struct cf_cuk_geom {
    int N, C, H, W, kh, kw, ph, pw, sh, sw, dh, dw, Ho, Wo;
} cf_cuk_geom;
/* Batched lowering, backend.h's layout: col[(c·kh + i)·kw + j][n·Ho·Wo + y·Wo + x]. */
cf_cuk_status cf_cuk_im2col(const cf_cuk_geom *g, const float *im, float *col);
/* The adjoint: every im cell gets the sum of the col cells that read it
 * (im is overwritten). */
cf_cuk_status cf_cuk_col2im(const cf_cuk_geom *g, const float *col, float *im);

/* ReLU with Caffe's negative slope s: y = x > 0 ? x : s·x;
 * dx = dy · (x > 0 ? 1 : s).  In place (x == y, dy == dx) is fine. */
cf_cuk_status cf_cuk_relu_forward(size_t n, float s, const float *x, float *y);
cf_cuk_status cf_cuk_relu_backward(size_t n, float s, const float *x, const float *dy, float *dx);

/* SoftmaxWithLoss over prob [outer][C][inner] and labels [outer·inner]
 * (whole class indices, already checked): per position,
 *   loss[t] = ignored ? 0 : −log(max(p[label], FLT_MIN))
 * and the scores' gradient
 *   dx[c] = ignored ? 0 : (p[c] − [c = label]) · scale.
 * A position is ignored when has_ignore and its label equals ignore. */
cf_cuk_status cf_cuk_softmax_loss(size_t outer, size_t C, size_t inner, const float *prob, const float *label,
                                  bool has_ignore, float ignore, float *loss);
cf_cuk_status cf_cuk_softmax_loss_grad(size_t outer, size_t C, size_t inner, const float *prob, const float *label,
                                       bool has_ignore, float ignore, float scale, float *dx);

#ifdef __cplusplus
}
#endif

#endif
