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

/* ---- more layers (cuda_neuron.c, cuda_join.c, cuda_scale.c) ---- */

/* y = a·b element by element (y may be a or b). */
cf_cuk_status cf_cuk_mul(size_t n, const float *a, const float *b, float *y);
/* Eltwise PROD without stable_prod_grad: dx = dy·y / x. */
cf_cuk_status cf_cuk_div_mul(size_t n, const float *dy, const float *y, const float *x, float *dx);
/* Eltwise MAX, bottom b in turn: b = 0 copies x into y with arg = 0;
 * later bottoms take over where x > y (strictly: the first wins ties). */
cf_cuk_status cf_cuk_max_step(size_t n, int b, const float *x, float *y, int *arg);
/* dx = arg = b ? dy : 0 */
cf_cuk_status cf_cuk_max_grad(size_t n, int b, const int *arg, const float *dy, float *dx);

/* Elementwise neurons with up to three parameters p[0..2]:
 *   POWER   p = (power, scale, shift): y = (shift + scale·x)^power
 *   ABSVAL  y = |x|
 *   ELU     p = (alpha): y = x > 0 ? x : α(e^x − 1)
 *   BNLL    y = log(1 + e^x)
 * with the host layers' exact case split (power.c, absval.c, elu.c,
 * bnll.c).  Backward reads x, y and dy as the host does (y only for ELU). */
enum { CF_CUK_POWER, CF_CUK_ABSVAL, CF_CUK_ELU, CF_CUK_BNLL };
cf_cuk_status cf_cuk_neuron_forward(int kind, size_t n, const float *p, const float *x, float *y);
cf_cuk_status cf_cuk_neuron_backward(int kind, size_t n, const float *p, const float *x, const float *y,
                                     const float *dy, float *dx);

/* Scale/Bias over x read as outer × dim × inner (d = the middle index):
 *   forward   y = x·s[d] + b[d]   (s NULL: 1; b NULL: 0; y may be x)
 *   dx        dx = dy·s[d]
 *   grads     ds[d] (=|+=) Σ_{o,i} dy·x,  db[d] (=|+=) Σ_{o,i} dy
 *             (either may be NULL; sums in double, as the host) */
cf_cuk_status cf_cuk_scale_forward(size_t outer, size_t dim, size_t inner, const float *x, const float *s,
                                   const float *b, float *y);
cf_cuk_status cf_cuk_scale_dx(size_t outer, size_t dim, size_t inner, const float *dy, const float *s, float *dx);
cf_cuk_status cf_cuk_channel_grads(size_t outer, size_t dim, size_t inner, const float *dy, const float *x,
                                   float *ds, bool acc_s, float *db, bool acc_b);

/* BatchNorm over x as N × C × S (batch_norm.c's formulas and order).
 * Statistics, one block per channel:
 *   global:  μ = f·sum_mean, σ² = f·sum_var with f = t ? 1/t : 0
 *   batch:   μ, σ² (biased) over the channel's m = N·S values in double;
 *            t ← λt + 1, sum_mean ← μ + λ·sum_mean,
 *            sum_var ← m/(m−1)·σ² + λ·sum_var   (m/(m−1) = 1 when m = 1)
 *   then std = √(σ² + ε); mean and std (C floats) are kept for backward.
 * Normalise: y = (x − μ)/std, and ŷ = y into y_norm without global stats
 * (x may be y).  Backward: dx = dy/std with global stats, else
 *   dx = (dy − mean(dy) − mean(dy·ŷ)·ŷ)/std   (dx may be dy). */
cf_cuk_status cf_cuk_bn_forward(size_t N, size_t C, size_t S, bool global, float maf, float eps, const float *x,
                                float *y, float *y_norm, float *mean, float *std, float *sum_mean, float *sum_var,
                                float *t);
cf_cuk_status cf_cuk_bn_backward(size_t N, size_t C, size_t S, bool global, const float *dy, const float *y_norm,
                                 const float *std, float *dx);

/* One solver update of n parameters in place (backend.h's cf_update,
 * field for field; rule in cf_solver_type's order): per element
 *   g ← g·scale + wd·(l1 ? sign w : w)   (g keeps it, as on the host)
 *   SGD       h ← μh + r·g;                       w ← w − h
 *   Nesterov  h' ← μh + r·g;                      w ← w − ((1+μ)h' − μh)
 *   AdaGrad   h ← h + g²;                         w ← w − r·g/(√h + δ)
 *   RMSProp   h ← ρh + (1−ρ)g²;                   w ← w − r·g/(√h + δ)
 *   AdaDelta  h ← μh + (1−μ)g²; u = g·√((h₂+δ)/(h+δ)); h₂ ← μh₂ + (1−μ)u²; w ← w − r·u
 *   Adam      h ← μh + (1−μ)g; h₂ ← μ₂h₂ + (1−μ₂)g²; w ← w − r·corr·h/(√h₂ + δ)
 * h2 is used by AdaDelta and Adam only. */
typedef struct cf_cuk_update_args {
    int rule;
    float scale, wd;
    bool l1;
    float rate, mu, mu2, delta, rho, corr;
} cf_cuk_update_args;
cf_cuk_status cf_cuk_solver_update(size_t n, const cf_cuk_update_args *u, float *w, float *g, float *h, float *h2);

#ifdef __cplusplus
}
#endif

#endif
