/* dnnl_layers.h — what the layers see of the oneDNN primitive layer.
 *
 * When cafetui is built with oneDNN (HAVE_DNNL) and the backend was
 * created with it switched on (the default; CAFETUI_DNNL=0 switches it off,
 * see cf_dnnl_backend_new),
 * Convolution, Deconvolution, InnerProduct, ReLU, Sigmoid, ELU, AbsVal,
 * BNLL, Power (where it maps), LRN (where oneDNN has fast code) and
 * BatchNorm (batch statistics) run their forward and backward passes
 * through oneDNN primitives, Softmax its forward (oneDNN 2.6 has only
 * reference code for its backward, slower than softmax.c's: see
 * dnnl_softmax.c), and Pooling both passes on a bottom left blocked by a
 * convolution (see Layouts below), or on NCHW when CAFETUI_DNNL_POOL=1
 * (off by default: slower than pooling.c on NCHW, see dnnl_pool.c);
 * otherwise the layers keep their own code, which stays the reference
 * that tests compare against.
 *
 * A layer asks for a "plan" in its reshape: the plan holds the primitives
 * made for one shape and is kept while the shape stays the same (a plan
 * call with an unchanged shape costs a comparison); a new shape frees the
 * plan and makes another.  The plan functions return NULL when oneDNN is
 * off, when the configuration cannot be expressed exactly in oneDNN
 * (the layer then falls back to its own code for that shape), or when
 * oneDNN refuses it.
 *
 * Layouts.  Every blob reads as NCHW to anyone, whatever layout a
 * primitive prefers inside; params and their gradients stay NCHW (the
 * solver, snapshots and the monitor read them as they are; param
 * gradients are accumulated, +=, as every layer does, layer.h).
 * Activations, though, stay in the primitives' blocked layouts (nChw8c
 * with AVX2) between layers that run on oneDNN, instead of a convolution
 * reordering its bottom in and its top out at every call, and its diffs
 * likewise (CAFETUI_DNNL_BLOCKED=0, read with CAFETUI_DNNL, goes back to
 * that: every activation crosses the boundary in NCHW).  A blob's data
 * and diff memory
 * (cf_mem, blob.h) can hold a second, "alt" side: the values in a
 * oneDNN layout (dnnl_common.c's dn_alt: an md for the whole batch, N
 * outermost so that a plan's batch slices are runs of bytes, and a
 * counted buffer).  A plan writes its top (or bottom diff) there in the
 * layout its primitive chose and marks it newest; the next plan reads it
 * in place when it wants that very layout, else from NCHW through its
 * usual reorder.  Anything else that reads the blob (a layer without
 * oneDNN, the loss, the monitor, snapshots, tests) goes through
 * cf_blob_data / cf_blob_diff, which reorder the alt side back to NCHW
 * then, lazily, once; a write through cf_blob_mdata / mdiff makes the
 * alt side stale.  So the NCHW path stays the reference and every mix of
 * layers stays correct.  Who keeps what:
 *   Convolution  reads its bottom and top diff blocked when they are in
 *                its primitives' layouts, writes its top and bottom diff
 *                in them.
 *   Pooling      on a blocked bottom: AVE through oneDNN's primitive in
 *                that layout, MAX through our own kernels on nChw8c /
 *                nChw16c (oneDNN's AVX2 MAX workspace is slow:
 *                dnnl_pool.c), top and diffs in the bottom's blocking.
 *   ReLU         over the alt side as a flat array (in place or not;
 *                padding stays zero as relu(0) = 0), when bottom (and in
 *                backward top diff) are blocked.
 *   Split        shares the data's memory, alt side included; its
 *                backward sums blocked top diffs in their layout.
 *   InnerProduct reads NCHW (a reorder of the last pooled map, small).
 * The net reserves memory without reading (cf_mem_hold), so it never
 * pulls a blocked side back.  Primitives are still made once per shape
 * (and, for pooling, per bottom layout), and the batch slices per thread
 * are kept.
 *
 * Without HAVE_DNNL every function here is an inline stub, so the layers
 * compile the same either way.
 */
#ifndef CF_DNNL_LAYERS_H
#define CF_DNNL_LAYERS_H

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdbool.h>
#include <stddef.h>

#include "backend.h"

typedef struct cf_dnnl_conv cf_dnnl_conv;
typedef struct cf_dnnl_pool cf_dnnl_pool;
typedef struct cf_dnnl_ip cf_dnnl_ip;
typedef struct cf_dnnl_relu cf_dnnl_relu;
typedef struct cf_dnnl_softmax cf_dnnl_softmax;

/* Pooling as Caffe defines it (pooling.c), with the output size already
 * computed by Caffe's rule. */
typedef struct cf_dnnl_pool_geom {
    int N, C, H, W, Ho, Wo;
    int kh, kw, ph, pw, sh, sw;
    bool max;       /* MAX, else AVE */
} cf_dnnl_pool_geom;

#ifdef HAVE_DNNL

/* Backend side (backend_cpu.c): state for one backend, or NULL when the
 * environment says CAFETUI_DNNL=0 (read here, once per backend). */
void *cf_dnnl_backend_new(cf_backend *be);
void cf_dnnl_backend_free(void *d);
/* Is oneDNN in use on this backend? */
static inline bool cf_dnnl_on(const cf_backend *be) { return be && be->dnnl; }
/* Primitives executed so far on this backend (tests use it to know that
 * the oneDNN path really ran). */
long cf_dnnl_executions(const cf_backend *be);
/* fn(ctx, w) once for each w in [0, be->nthreads), on oneDNN's own
 * threads (the backend's pool jobs, so that two sets of threads do not
 * compete for the cores); -1 when that cannot be done (the caller then
 * uses its pool). */
int cf_dnnl_parallel(cf_backend *be, void (*fn)(void *ctx, int w), void *ctx);

/* Convolution: geometry g (N, C, H, W, kernel, pad, stride, dilation and
 * Ho, Wo filled), M outputs in G groups.  train: backward will be asked. */
cf_dnnl_conv *cf_dnnl_conv_plan(cf_dnnl_conv *old, cf_backend *be, const cf_conv_geom *g, int M, int G, bool bias,
                                bool train);
void cf_dnnl_conv_free(cf_dnnl_conv *p);
int cf_dnnl_conv_forward(cf_dnnl_conv *p, const float *x, const float *w, const float *b, float *y);
/* dx (NULL: skip) = ∂E/∂x; dw, db (NULL: skip) += their gradients. */
int cf_dnnl_conv_backward(cf_dnnl_conv *p, const float *x, const float *w, const float *dy, float *dx, float *dw,
                          float *db);
/* The same passes on blobs (dx: the blob whose diff gets ∂E/∂x, or
 * NULL): a bottom or top diff whose blocked side holds the layout the
 * primitive wants is read in place, and unless CAFETUI_DNNL_BLOCKED=0 the
 * top (bottom diff) is written in the primitive's layout (see above). */
int cf_dnnl_conv_forward_blob(cf_dnnl_conv *p, const cf_blob *x, const float *w, const float *b, cf_blob *y);
int cf_dnnl_conv_backward_blob(cf_dnnl_conv *p, const cf_blob *x, const float *w, const cf_blob *y, cf_blob *dx,
                               float *dw, float *db);
/* Does the plan compute the weight and bias gradients?  When not, the
 * layer takes them (pass dw = db = NULL). */
bool cf_dnnl_conv_weight_grad(const cf_dnnl_conv *p);

/* Pooling of bottom x: made for x's blocked layout when its blocked side
 * holds the current values, else (CAFETUI_DNNL_POOL=1 only) for NCHW.
 * Backward: the top's diff (y) to the bottom's (x). */
cf_dnnl_pool *cf_dnnl_pool_plan(cf_dnnl_pool *old, cf_backend *be, const cf_dnnl_pool_geom *g, bool train,
                                const cf_blob *x);
void cf_dnnl_pool_free(cf_dnnl_pool *p);
int cf_dnnl_pool_forward(cf_dnnl_pool *p, const cf_blob *x, cf_blob *y);
int cf_dnnl_pool_backward(cf_dnnl_pool *p, const cf_blob *y, cf_blob *x);

/* Inner product Y[M×N] = X[M×K]·Wᵀ + b (W [N×K]; [K×N] when transpose). */
cf_dnnl_ip *cf_dnnl_ip_plan(cf_dnnl_ip *old, cf_backend *be, int M, int N, int K, bool transpose, bool bias,
                            bool train);
void cf_dnnl_ip_free(cf_dnnl_ip *p);
int cf_dnnl_ip_forward(cf_dnnl_ip *p, const float *x, const float *w, const float *b, float *y);
int cf_dnnl_ip_backward(cf_dnnl_ip *p, const float *x, const float *w, const float *dy, float *dx, float *dw,
                        float *db);

/* ReLU with Caffe's negative slope over n values. */
cf_dnnl_relu *cf_dnnl_relu_plan(cf_dnnl_relu *old, cf_backend *be, size_t n, float slope);
void cf_dnnl_relu_free(cf_dnnl_relu *p);
int cf_dnnl_relu_forward(cf_dnnl_relu *p, const float *x, float *y);
int cf_dnnl_relu_backward(cf_dnnl_relu *p, const float *x, const float *dy, float *dx);

/* Elementwise layers on blocked blobs.  An elementwise op does not care
 * about the layout, so a layer may run over a blob's blocked side as a
 * flat array of n floats, padding included, provided its op maps 0 to 0
 * (the padding must stay zero).  cf_dnnl_alt: m's blocked side when it
 * holds the current values (its floats in *n), else NULL.
 * cf_dnnl_alt_like: m's blocked side in like's layout, for writing all of
 * it, then cf_mem_alt_wrote(m) (count: the blob's floats); NULL when like
 * holds none or memory runs out.  cf_dnnl_alt_same: do a and b both hold
 * current blocked sides in one layout? */
const float *cf_dnnl_alt(const cf_mem *m, size_t *n);
float *cf_dnnl_alt_like(cf_backend *be, cf_mem *m, const cf_mem *like, size_t count);
bool cf_dnnl_alt_same(const cf_mem *a, const cf_mem *b);

/* Softmax over the middle axis of an outer × C × inner array. */
cf_dnnl_softmax *cf_dnnl_softmax_plan(cf_dnnl_softmax *old, cf_backend *be, size_t outer, size_t C, size_t inner);
void cf_dnnl_softmax_free(cf_dnnl_softmax *p);
int cf_dnnl_softmax_forward(cf_dnnl_softmax *p, const float *x, float *y);
int cf_dnnl_softmax_backward(cf_dnnl_softmax *p, const float *y, const float *dy, float *dx);

#else /* no oneDNN: stubs, so that layer code needs no #ifdef */

static inline bool cf_dnnl_on(const cf_backend *be) { (void)be; return false; }
static inline long cf_dnnl_executions(const cf_backend *be) { (void)be; return 0; }

static inline cf_dnnl_conv *cf_dnnl_conv_plan(cf_dnnl_conv *old, cf_backend *be, const cf_conv_geom *g, int M, int G,
                                              bool bias, bool train)
{ (void)old; (void)be; (void)g; (void)M; (void)G; (void)bias; (void)train; return NULL; }
static inline void cf_dnnl_conv_free(cf_dnnl_conv *p) { (void)p; }
static inline int cf_dnnl_conv_forward(cf_dnnl_conv *p, const float *x, const float *w, const float *b, float *y)
{ (void)p; (void)x; (void)w; (void)b; (void)y; return -1; }
static inline int cf_dnnl_conv_backward(cf_dnnl_conv *p, const float *x, const float *w, const float *dy, float *dx,
                                        float *dw, float *db)
{ (void)p; (void)x; (void)w; (void)dy; (void)dx; (void)dw; (void)db; return -1; }
static inline int cf_dnnl_conv_forward_blob(cf_dnnl_conv *p, const cf_blob *x, const float *w, const float *b,
                                            cf_blob *y)
{ (void)p; (void)x; (void)w; (void)b; (void)y; return -1; }
static inline int cf_dnnl_conv_backward_blob(cf_dnnl_conv *p, const cf_blob *x, const float *w, const cf_blob *y,
                                             cf_blob *dx, float *dw, float *db)
{ (void)p; (void)x; (void)w; (void)y; (void)dx; (void)dw; (void)db; return -1; }
static inline bool cf_dnnl_conv_weight_grad(const cf_dnnl_conv *p) { (void)p; return false; }

static inline cf_dnnl_pool *cf_dnnl_pool_plan(cf_dnnl_pool *old, cf_backend *be, const cf_dnnl_pool_geom *g,
                                              bool train, const cf_blob *x)
{ (void)old; (void)be; (void)g; (void)train; (void)x; return NULL; }
static inline void cf_dnnl_pool_free(cf_dnnl_pool *p) { (void)p; }
static inline int cf_dnnl_pool_forward(cf_dnnl_pool *p, const cf_blob *x, cf_blob *y)
{ (void)p; (void)x; (void)y; return -1; }
static inline int cf_dnnl_pool_backward(cf_dnnl_pool *p, const cf_blob *y, cf_blob *x)
{ (void)p; (void)y; (void)x; return -1; }

static inline cf_dnnl_ip *cf_dnnl_ip_plan(cf_dnnl_ip *old, cf_backend *be, int M, int N, int K, bool transpose,
                                          bool bias, bool train)
{ (void)old; (void)be; (void)M; (void)N; (void)K; (void)transpose; (void)bias; (void)train; return NULL; }
static inline void cf_dnnl_ip_free(cf_dnnl_ip *p) { (void)p; }
static inline int cf_dnnl_ip_forward(cf_dnnl_ip *p, const float *x, const float *w, const float *b, float *y)
{ (void)p; (void)x; (void)w; (void)b; (void)y; return -1; }
static inline int cf_dnnl_ip_backward(cf_dnnl_ip *p, const float *x, const float *w, const float *dy, float *dx,
                                      float *dw, float *db)
{ (void)p; (void)x; (void)w; (void)dy; (void)dx; (void)dw; (void)db; return -1; }

static inline cf_dnnl_relu *cf_dnnl_relu_plan(cf_dnnl_relu *old, cf_backend *be, size_t n, float slope)
{ (void)old; (void)be; (void)n; (void)slope; return NULL; }
static inline void cf_dnnl_relu_free(cf_dnnl_relu *p) { (void)p; }
static inline int cf_dnnl_relu_forward(cf_dnnl_relu *p, const float *x, float *y) { (void)p; (void)x; (void)y; return -1; }
static inline int cf_dnnl_relu_backward(cf_dnnl_relu *p, const float *x, const float *dy, float *dx)
{ (void)p; (void)x; (void)dy; (void)dx; return -1; }

static inline const float *cf_dnnl_alt(const cf_mem *m, size_t *n) { (void)m; (void)n; return NULL; }
static inline float *cf_dnnl_alt_like(cf_backend *be, cf_mem *m, const cf_mem *like, size_t count)
{ (void)be; (void)m; (void)like; (void)count; return NULL; }
static inline bool cf_dnnl_alt_same(const cf_mem *a, const cf_mem *b) { (void)a; (void)b; return false; }

static inline cf_dnnl_softmax *cf_dnnl_softmax_plan(cf_dnnl_softmax *old, cf_backend *be, size_t outer, size_t C,
                                                    size_t inner)
{ (void)old; (void)be; (void)outer; (void)C; (void)inner; return NULL; }
static inline void cf_dnnl_softmax_free(cf_dnnl_softmax *p) { (void)p; }
static inline int cf_dnnl_softmax_forward(cf_dnnl_softmax *p, const float *x, float *y)
{ (void)p; (void)x; (void)y; return -1; }
static inline int cf_dnnl_softmax_backward(cf_dnnl_softmax *p, const float *y, const float *dy, float *dx)
{ (void)p; (void)y; (void)dy; (void)dx; return -1; }

#endif

/* ---- issue 7: activations, deconvolution, LRN, batch norm ----
 * (dnnl_act.c, dnnl_deconv.c, dnnl_lrn.c, dnnl_bn.c; each file states the
 * formulas it matches and when its plan declines.) */

typedef struct cf_dnnl_act cf_dnnl_act;
typedef struct cf_dnnl_deconv cf_dnnl_deconv;
typedef struct cf_dnnl_lrn cf_dnnl_lrn;
typedef struct cf_dnnl_bn cf_dnnl_bn;

/* Elementwise activations (dnnl_act.c gives each one's formula). */
typedef enum {
    CF_DNNL_SIGMOID, CF_DNNL_ELU, CF_DNNL_ELU_DST, CF_DNNL_ABS, CF_DNNL_SOFTPLUS, CF_DNNL_POW,
    CF_DNNL_LINEAR, CF_DNNL_RELU
} cf_dnnl_act_kind;

#ifdef HAVE_DNNL

/* y = f(x) over n values; backward reads y when cf_dnnl_act_uses_dst
 * (in place is then fine), else x: pass that as xy. */
cf_dnnl_act *cf_dnnl_act_plan(cf_dnnl_act *old, cf_backend *be, size_t n, cf_dnnl_act_kind kind, float alpha,
                              float beta);
void cf_dnnl_act_free(cf_dnnl_act *p);
bool cf_dnnl_act_uses_dst(cf_dnnl_act_kind kind);
int cf_dnnl_act_forward(cf_dnnl_act *p, const float *x, float *y);
int cf_dnnl_act_backward(cf_dnnl_act *p, const float *xy, const float *dy, float *dx);

/* Deconvolution: g is the layer seen from its bottom (N, C, H, W) to its
 * top (Ho, Wo) with the window; M top channels in G groups; weights
 * Caffe's [C, M/G, kh, kw]. */
cf_dnnl_deconv *cf_dnnl_deconv_plan(cf_dnnl_deconv *old, cf_backend *be, const cf_conv_geom *g, int M, int G,
                                    bool bias, bool train);
void cf_dnnl_deconv_free(cf_dnnl_deconv *p);
int cf_dnnl_deconv_forward(cf_dnnl_deconv *p, const float *x, const float *w, const float *b, float *y);
int cf_dnnl_deconv_backward(cf_dnnl_deconv *p, const float *x, const float *w, const float *dy, float *dx, float *dw,
                            float *db);

/* LRN over an N × C × H × W blob (k is 1 within a channel, as Caffe). */
cf_dnnl_lrn *cf_dnnl_lrn_plan(cf_dnnl_lrn *old, cf_backend *be, const int shape[4], bool within, int size,
                              float alpha, float beta, float k, bool train);
void cf_dnnl_lrn_free(cf_dnnl_lrn *p);
int cf_dnnl_lrn_forward(cf_dnnl_lrn *p, const float *x, float *y);
int cf_dnnl_lrn_backward(cf_dnnl_lrn *p, const float *x, const float *dy, float *dx);

/* Batch norm's forward pass with batch statistics, without scale and
 * shift, over an N × C × S blob: y, and the batch's mean and biased
 * variance into mean and var (C each).  (Backward is the layer's own.) */
cf_dnnl_bn *cf_dnnl_bn_plan(cf_dnnl_bn *old, cf_backend *be, size_t N, size_t C, size_t S, float eps);
void cf_dnnl_bn_free(cf_dnnl_bn *p);
int cf_dnnl_bn_forward(cf_dnnl_bn *p, const float *x, float *y, float *mean, float *var);

#else

static inline cf_dnnl_act *cf_dnnl_act_plan(cf_dnnl_act *old, cf_backend *be, size_t n, cf_dnnl_act_kind kind,
                                            float alpha, float beta)
{ (void)old; (void)be; (void)n; (void)kind; (void)alpha; (void)beta; return NULL; }
static inline void cf_dnnl_act_free(cf_dnnl_act *p) { (void)p; }
static inline bool cf_dnnl_act_uses_dst(cf_dnnl_act_kind kind) { (void)kind; return false; }
static inline int cf_dnnl_act_forward(cf_dnnl_act *p, const float *x, float *y) { (void)p; (void)x; (void)y; return -1; }
static inline int cf_dnnl_act_backward(cf_dnnl_act *p, const float *xy, const float *dy, float *dx)
{ (void)p; (void)xy; (void)dy; (void)dx; return -1; }

static inline cf_dnnl_deconv *cf_dnnl_deconv_plan(cf_dnnl_deconv *old, cf_backend *be, const cf_conv_geom *g, int M,
                                                  int G, bool bias, bool train)
{ (void)old; (void)be; (void)g; (void)M; (void)G; (void)bias; (void)train; return NULL; }
static inline void cf_dnnl_deconv_free(cf_dnnl_deconv *p) { (void)p; }
static inline int cf_dnnl_deconv_forward(cf_dnnl_deconv *p, const float *x, const float *w, const float *b, float *y)
{ (void)p; (void)x; (void)w; (void)b; (void)y; return -1; }
static inline int cf_dnnl_deconv_backward(cf_dnnl_deconv *p, const float *x, const float *w, const float *dy,
                                          float *dx, float *dw, float *db)
{ (void)p; (void)x; (void)w; (void)dy; (void)dx; (void)dw; (void)db; return -1; }

static inline cf_dnnl_lrn *cf_dnnl_lrn_plan(cf_dnnl_lrn *old, cf_backend *be, const int shape[4], bool within,
                                            int size, float alpha, float beta, float k, bool train)
{ (void)old; (void)be; (void)shape; (void)within; (void)size; (void)alpha; (void)beta; (void)k; (void)train; return NULL; }
static inline void cf_dnnl_lrn_free(cf_dnnl_lrn *p) { (void)p; }
static inline int cf_dnnl_lrn_forward(cf_dnnl_lrn *p, const float *x, float *y) { (void)p; (void)x; (void)y; return -1; }
static inline int cf_dnnl_lrn_backward(cf_dnnl_lrn *p, const float *x, const float *dy, float *dx)
{ (void)p; (void)x; (void)dy; (void)dx; return -1; }

static inline cf_dnnl_bn *cf_dnnl_bn_plan(cf_dnnl_bn *old, cf_backend *be, size_t N, size_t C, size_t S, float eps)
{ (void)old; (void)be; (void)N; (void)C; (void)S; (void)eps; return NULL; }
static inline void cf_dnnl_bn_free(cf_dnnl_bn *p) { (void)p; }
static inline int cf_dnnl_bn_forward(cf_dnnl_bn *p, const float *x, float *y, float *mean, float *var)
{ (void)p; (void)x; (void)y; (void)mean; (void)var; return -1; }

#endif /* issue 7 block */
#endif
