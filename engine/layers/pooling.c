/* pooling.c — Caffe's Pooling layer (pooling_param): MAX or AVE over
 * kernel windows of each (n, c) plane of an NCHW bottom.
 *
 * Output size rounds UP, as Caffe does (round_mode CEIL, its default):
 *     Ho = ceil((H + 2ph − kh) / sh) + 1
 * and when there is padding, a last window that would start at or past
 * H + ph (entirely in the padding) is dropped: Ho −= 1.  round_mode FLOOR
 * rounds down instead.  global_pooling takes the kernel from the bottom's
 * H×W (one output per plane).
 *
 * MAX: the largest bottom value inside the window clipped to the image
 * (padding never wins); the first of equal values wins.  Its index inside
 * the plane (y·W + x) is kept for backward and, when a second top is
 * given, written there as a float (Caffe's mask top).
 * AVE: the sum over the window clipped to the image, divided by the size
 * of the window clipped to the PADDED image (hend = min(hstart + kh,
 * H + ph), before clipping to the image) — Caffe's divisor, which counts
 * padding cells inside the padded border but not beyond it.
 * A stride larger than the kernel can leave Caffe's last window outside
 * the image; such an empty window gives 0 here (Caffe gives −FLT_MAX for
 * MAX and divides by a negative size for AVE) and passes no gradient.
 * STOCHASTIC pooling is not supported.
 *
 * Planes are independent, so forward and backward split them over the
 * thread pool.  With oneDNN (dnnl_layers.h) both passes run as its pooling
 * primitive whenever it computes exactly the above (dnnl_pool.c says
 * when); the argmax mask top keeps this code. */
#include <limits.h>
#include <math.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "dnnl/dnnl_layers.h"
#include "layer.h"

enum { POOL_MAX, POOL_AVE, POOL_STOCHASTIC };
static const char *const pool_names[] = {"MAX", "AVE", "STOCHASTIC", NULL};
static const char *const round_names[] = {"CEIL", "FLOOR", NULL};
static const char *const engines[] = {"DEFAULT", "CAFFE", "CUDNN", NULL};

typedef struct {
    int pool;
    bool global, floor_mode;
    int kh, kw, ph, pw, sh, sw;
    int N, C, H, W, Ho, Wo;
    int *argmax;            /* MAX: per top element, index in its bottom plane */
    size_t argmax_cap;
    int *xlo, *xhi;         /* per kernel column j: outputs whose column is inside the image */
    int xcap;
    float *wdiv;            /* AVE: per output column, the divisor's factor along w */
    int wcap;
    cf_dnnl_pool *dn;       /* oneDNN plan for the current shape, or NULL */
    bool dn_forward;        /* the last forward ran in oneDNN (no argmax here) */
} pool_priv;

/* A single-valued spatial field: `key` for both axes or key_h/key_w. */
static int read_hw(cf_layer *l, cf_node *p, const char *key, const char *hkey, const char *wkey, long def, long lo,
                   int out[2], bool *given, cf_error *err)
{
    bool has = cf_node_has(p, key), has_h = cf_node_has(p, hkey), has_w = cf_node_has(p, wkey);
    long v[2];
    const char *names[2] = {key, key};
    *given = has || has_h || has_w;
    out[0] = out[1] = (int)def;
    if (!*given) return 0;
    if (has && (has_h || has_w))
        return cf_layer_error(l, cf_node_get(p, key), err, "give either '%s' or '%s'/'%s', not both", key, hkey,
                              wkey);
    if (has_h != has_w) return cf_layer_error(l, p, err, "'%s' and '%s' must be given together", hkey, wkey);
    if (has_h) {
        names[0] = hkey;
        names[1] = wkey;
        if (cf_get_int(p, hkey, def, &v[0], err) || cf_get_int(p, wkey, def, &v[1], err)) return -1;
    } else {
        if (cf_get_int(p, key, def, &v[0], err)) return -1;
        v[1] = v[0];
    }
    for (int i = 0; i < 2; i++) {
        cf_node *at = cf_node_get(p, names[i]);
        if (v[i] < lo)
            return cf_layer_error(l, at, err, "field '%s': %ld is out of range (must be >= %ld)", names[i], v[i], lo);
        if (v[i] > INT_MAX / 4) return cf_layer_error(l, at, err, "field '%s': %ld is too large", names[i], v[i]);
        out[i] = (int)v[i];
    }
    return 0;
}

static int pool_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    if (cf_layer_param_map(l, "pooling_param", &p, err)) return -1;
    int pool, round, engine, k[2] = {0, 0}, pad[2], stride[2];
    bool global, kgiven, pgiven, sgiven;
    if (cf_get_enum(p, "pool", pool_names, POOL_MAX, &pool, err) ||
        cf_get_bool(p, "global_pooling", false, &global, err) ||
        cf_get_enum(p, "round_mode", round_names, 0, &round, err) || cf_get_enum(p, "engine", engines, 0, &engine, err))
        return -1;
    if (pool == POOL_STOCHASTIC)
        return cf_layer_error(l, cf_node_get(p, "pool"), err, "pool: STOCHASTIC is not supported (use MAX or AVE)");
    if (read_hw(l, p, "kernel_size", "kernel_h", "kernel_w", 0, global ? 0 : 1, k, &kgiven, err) ||
        read_hw(l, p, "pad", "pad_h", "pad_w", 0, 0, pad, &pgiven, err) ||
        read_hw(l, p, "stride", "stride_h", "stride_w", 1, 1, stride, &sgiven, err))
        return -1;
    if (global) {
        if (kgiven)
            return cf_layer_error(l, p, err, "global_pooling takes the kernel size from the bottom: give no kernel");
        if (pad[0] || pad[1] || stride[0] != 1 || stride[1] != 1)
            return cf_layer_error(l, p, err, "global_pooling needs pad 0 and stride 1");
    } else {
        if (!kgiven)
            return cf_layer_error(l, p, err,
                                  "pooling_param: field 'kernel_size' is missing (or give kernel_h and kernel_w, "
                                  "or global_pooling: true)");
        if (pad[0] >= k[0] || pad[1] >= k[1])
            return cf_layer_error(l, p, err, "pad %dx%d must be smaller than the kernel %dx%d", pad[0], pad[1], k[0],
                                  k[1]);
    }
    if (nt > 1 && pool != POOL_MAX)
        return cf_layer_error(l, NULL, err, "a second top (the argmax mask) needs pool: MAX");

    pool_priv *c = calloc(1, sizeof *c);
    if (!c) return cf_layer_error(l, NULL, err, "out of memory");
    l->priv = c;
    c->pool = pool;
    c->global = global;
    c->floor_mode = round == 1;
    c->kh = k[0], c->kw = k[1], c->ph = pad[0], c->pw = pad[1], c->sh = stride[0], c->sw = stride[1];
    return 0;
}

/* Caffe's output extent along one axis (see the top comment). */
static int pooled_size(int in, int k, int pad, int stride, bool floor_mode)
{
    double span = (double)((long)in + 2L * pad - k) / stride;
    long o = (long)(floor_mode ? floor(span) : ceil(span)) + 1;
    if (pad > 0 && (o - 1) * stride >= (long)in + pad) o--;
    return o > INT_MAX ? INT_MAX : (int)o;
}

/* AVE's divisor along one axis for output o: the extent of its window
 * clipped to the padded input [−p, in + p) (<= 0 for a window past it,
 * which covers no cell and gives 0). */
static int ave_extent(int o, int s, int p, int k, int in)
{
    int st = o * s - p, en = st + k < in + p ? st + k : in + p;
    return en - st;
}

static int pool_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    pool_priv *c = l->priv;
    const cf_blob *b = bottom[0];
    char s[128];
    if (b->naxes != 4)
        return cf_layer_error(l, NULL, err, "Pooling needs a 4-D bottom (N, C, H, W), got shape %s",
                              cf_blob_shape_str(b, s, sizeof s));
    c->N = b->shape[0], c->C = b->shape[1], c->H = b->shape[2], c->W = b->shape[3];
    if (c->global) c->kh = c->H, c->kw = c->W;
    /* Caffe pads only when either pad is set; the drop applies per axis. */
    bool padded = c->ph > 0 || c->pw > 0;
    c->Ho = pooled_size(c->H, c->kh, padded ? c->ph : 0, c->sh, c->floor_mode);
    c->Wo = pooled_size(c->W, c->kw, padded ? c->pw : 0, c->sw, c->floor_mode);
    if (c->Ho <= 0 || c->Wo <= 0 || c->kh <= 0 || c->kw <= 0)
        return cf_layer_error(l, NULL, err, "kernel %dx%d (stride %dx%d) does not fit the padded input %dx%d", c->kh,
                              c->kw, c->sh, c->sw, c->H + 2 * c->ph, c->W + 2 * c->pw);
    for (int i = 0; i < nt; i++)
        if (cf_blob_reshape4(top[i], c->N, c->C, c->Ho, c->Wo, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    if (c->kw > c->xcap) {
        int *lo = realloc(c->xlo, (size_t)c->kw * sizeof *lo);
        if (!lo) return cf_layer_error(l, NULL, err, "out of memory");
        c->xlo = lo;
        int *hi = realloc(c->xhi, (size_t)c->kw * sizeof *hi);
        if (!hi) return cf_layer_error(l, NULL, err, "out of memory");
        c->xhi = hi;
        c->xcap = c->kw;
    }
    /* Kernel column j reads bottom column x·sw − pw + j for output x:
     * inside the image for x in [xlo[j], xhi[j]). */
    for (int j = 0; j < c->kw; j++) {
        int off = j - c->pw;
        c->xlo[j] = off >= 0 ? 0 : (-off + c->sw - 1) / c->sw;
        c->xhi[j] = off > c->W - 1 ? 0 : (c->W - 1 - off) / c->sw + 1;
        if (c->xhi[j] > c->Wo) c->xhi[j] = c->Wo;
        if (c->xlo[j] > c->xhi[j]) c->xlo[j] = c->xhi[j];
    }
    if (c->Wo > c->wcap) {
        float *w = realloc(c->wdiv, (size_t)c->Wo * sizeof *w);
        if (!w) return cf_layer_error(l, NULL, err, "out of memory");
        c->wdiv = w;
        c->wcap = c->Wo;
    }
    for (int xo = 0; xo < c->Wo; xo++) {
        int e = ave_extent(xo, c->sw, c->pw, c->kw, c->W);
        c->wdiv[xo] = (float)(e > 0 ? e : 1);
    }
    if (c->pool == POOL_MAX && top[0]->count > c->argmax_cap) {
        int *a = realloc(c->argmax, top[0]->count * sizeof *a);
        if (!a) return cf_layer_error(l, NULL, err, "out of memory for the argmax buffer");
        c->argmax = a;
        c->argmax_cap = top[0]->count;
    }
    if (cf_dnnl_on(l->be)) {
        cf_dnnl_pool_geom g = {c->N, c->C, c->H, c->W, c->Ho, c->Wo, c->kh, c->kw, c->ph, c->pw, c->sh, c->sw,
                               c->pool == POOL_MAX};
        /* the bottom: when a convolution left it in a blocked layout, the
         * plan takes that layout (dnnl_pool.c) */
        c->dn = nt == 1 ? cf_dnnl_pool_plan(c->dn, l->be, &g, l->phase == CF_TRAIN, bottom[0]) : NULL;
    }
    return 0;
}

typedef struct {
    const pool_priv *c;
    const float *src;
    float *dst, *mask;
} plane_ctx;

static size_t plane_grain(const pool_priv *c)
{
    size_t work = (size_t)c->H * c->W + (size_t)c->Ho * c->Wo;
    return work >= 16384 ? 1 : 16384 / (work ? work : 1);
}

/* Output row y's window rows, clipped to the image: [*h0, *h1). */
static void window_rows(const pool_priv *c, int y, int *h0, int *h1)
{
    int hs = y * c->sh - c->ph;
    *h0 = hs > 0 ? hs : 0;
    *h1 = hs + c->kh < c->H ? hs + c->kh : c->H;
}

/* ---- forward ----
 *
 * Forward sweeps one output row at a time: for each bottom row h under
 * the row's windows and each kernel column j, every output x of the row
 * reads bottom column x·sw − pw + j (x in [xlo[j], xhi[j]), the outputs
 * for which that column is inside the image), a strided run.  The runs
 * are written without branches (a select, and the argmax merged with a
 * mask) and with the stride a constant for the common strides 1 and 2,
 * so that the compiler vectorises them.  Rows are short (16 outputs in
 * CIFAR's first pooling), so the edges would cost more than the runs: a
 * bottom row that fits ROW_BUF is first copied between pad values (−∞
 * for MAX, which never wins; 0 for AVE, which adds nothing), after which
 * every window is whole and one pass over the row with the kw columns
 * unrolled does it all.  Cells are visited h first, then j: row-major
 * within each window, so MAX keeps the first of equal values (strictly
 * greater wins), as the definition says; AVE adds in the same order.
 * The geometry is copied to locals so that the compiler can keep it in
 * registers. */

#define ROW_BUF 2048

static inline __attribute__((always_inline)) void max_run(float *restrict t, int *restrict am,
                                                          const float *restrict xr, int lo, int hi, int sw, int idx0)
{
    for (int xo = lo; xo < hi; xo++) {
        float v = xr[xo * sw], o = t[xo];
        int m = -(v > o); /* all ones where v wins */
        t[xo] = v > o ? v : o;
        am[xo] = (am[xo] & ~m) | ((idx0 + xo * sw) & m);
    }
}

/* Outputs [lo, hi) whose whole window row lies inside the image: all kw
 * columns in one pass (kw and sw constants where it is called, so the
 * j loop unrolls and the xo loop vectorises). */
static inline __attribute__((always_inline)) void max_inner(float *restrict t, int *restrict am,
                                                            const float *restrict xr, int lo, int hi, int kw, int sw,
                                                            int idx0)
{
    for (int xo = lo; xo < hi; xo++) {
        float best = t[xo];
        int bi = am[xo];
        for (int j = 0; j < kw; j++) {
            float v = xr[xo * sw + j];
            int m = -(v > best);
            best = v > best ? v : best;
            bi = (bi & ~m) | ((idx0 + xo * sw + j) & m);
        }
        t[xo] = best, am[xo] = bi;
    }
}

/* The padded copy of bottom row xr: buf[i] is column i − pw, pad values
 * outside the image; len = (Wo − 1)·sw + kw. */
static void pad_row(float *restrict buf, const float *restrict xr, int W, int pw, int len, float pad)
{
    int lo = pw < len ? pw : len, hi = pw + W < len ? pw + W : len;
    for (int i = 0; i < lo; i++) buf[i] = pad;
    if (hi > lo) memcpy(buf + lo, xr, (size_t)(hi - lo) * sizeof(float));
    for (int i = hi > lo ? hi : lo; i < len; i++) buf[i] = pad;
}

static int padded_len(const pool_priv *c) { return (c->Wo - 1) * c->sw + c->kw; }

/* One bottom row h (xr = the row, idx0 = h·W) into one output row. */
static void max_row(const pool_priv *c, float *t, int *am, const float *xr, int idx0)
{
    int kw = c->kw, sw = c->sw, Wo = c->Wo, len = padded_len(c);
    if (len <= ROW_BUF) {
        float buf[ROW_BUF];
        pad_row(buf, xr, c->W, c->pw, len, -INFINITY);
        idx0 -= c->pw;
        if (kw == 2 && sw == 2) max_inner(t, am, buf, 0, Wo, 2, 2, idx0);
        else if (kw == 3 && sw == 2) max_inner(t, am, buf, 0, Wo, 3, 2, idx0);
        else if (kw == 3 && sw == 1) max_inner(t, am, buf, 0, Wo, 3, 1, idx0);
        else if (kw == 2 && sw == 1) max_inner(t, am, buf, 0, Wo, 2, 1, idx0);
        else max_inner(t, am, buf, 0, Wo, kw, sw, idx0);
        return;
    }
    /* a long row: strided runs over the outputs each column reaches */
    xr -= c->pw, idx0 -= c->pw;
    for (int j = 0; j < kw; j++)
        if (sw == 2) max_run(t, am, xr + j, c->xlo[j], c->xhi[j], 2, idx0 + j);
        else max_run(t, am, xr + j, c->xlo[j], c->xhi[j], sw, idx0 + j);
}

static void max_planes(void *arg, size_t pb, size_t pe)
{
    const plane_ctx *k = arg;
    const pool_priv c = *k->c;
    const int W = c.W, Wo = c.Wo;
    size_t in = (size_t)c.H * W, out = (size_t)c.Ho * Wo;
    for (size_t q = pb; q < pe; q++) {
        const float *x = k->src + q * in;
        for (int y = 0; y < c.Ho; y++) {
            float *t = k->dst + q * out + (size_t)y * Wo;
            int *am = c.argmax + q * out + (size_t)y * Wo;
            for (int xo = 0; xo < Wo; xo++) t[xo] = -FLT_MAX, am[xo] = -1;
            int h0, h1;
            window_rows(&c, y, &h0, &h1);
            for (int h = h0; h < h1; h++) max_row(&c, t, am, x + (size_t)h * W, h * W);
            for (int xo = 0; xo < Wo; xo++)
                if (am[xo] < 0) t[xo] = 0.0f; /* empty window */
            if (k->mask)
                for (int xo = 0; xo < Wo; xo++) k->mask[q * out + (size_t)y * Wo + xo] = (float)am[xo];
        }
    }
}

static inline __attribute__((always_inline)) void sum_run(float *restrict t, const float *restrict xr, int lo,
                                                          int hi, int sw)
{
    for (int xo = lo; xo < hi; xo++) t[xo] += xr[xo * sw];
}

static inline __attribute__((always_inline)) void sum_inner(float *restrict t, const float *restrict buf, int Wo,
                                                            int kw, int sw)
{
    for (int xo = 0; xo < Wo; xo++) {
        float a = t[xo];
        for (int j = 0; j < kw; j++) a += buf[xo * sw + j];
        t[xo] = a;
    }
}

/* One bottom row into the sums of one output row. */
static void sum_row(const pool_priv *c, float *t, const float *xr)
{
    int kw = c->kw, sw = c->sw, Wo = c->Wo, len = padded_len(c);
    if (len <= ROW_BUF) {
        float buf[ROW_BUF];
        pad_row(buf, xr, c->W, c->pw, len, 0.0f);
        if (kw == 2 && sw == 2) sum_inner(t, buf, Wo, 2, 2);
        else if (kw == 3 && sw == 2) sum_inner(t, buf, Wo, 3, 2);
        else if (kw == 3 && sw == 1) sum_inner(t, buf, Wo, 3, 1);
        else sum_inner(t, buf, Wo, kw, sw);
        return;
    }
    for (int j = 0; j < kw; j++) {
        const float *r = xr + j - c->pw;
        if (sw == 2) sum_run(t, r, c->xlo[j], c->xhi[j], 2);
        else sum_run(t, r, c->xlo[j], c->xhi[j], sw);
    }
}

static void ave_planes(void *arg, size_t pb, size_t pe)
{
    const plane_ctx *k = arg;
    const pool_priv c = *k->c;
    const int W = c.W, Wo = c.Wo;
    size_t in = (size_t)c.H * W, out = (size_t)c.Ho * Wo;
    for (size_t q = pb; q < pe; q++) {
        const float *x = k->src + q * in;
        for (int y = 0; y < c.Ho; y++) {
            float *t = k->dst + q * out + (size_t)y * Wo;
            for (int xo = 0; xo < Wo; xo++) t[xo] = 0.0f;
            int h0, h1;
            window_rows(&c, y, &h0, &h1);
            for (int h = h0; h < h1; h++) sum_row(&c, t, x + (size_t)h * W);
            int eh = ave_extent(y, c.sh, c.ph, c.kh, c.H);
            float hdiv = (float)(eh > 0 ? eh : 1);
            for (int xo = 0; xo < Wo; xo++) t[xo] /= hdiv * c.wdiv[xo];
        }
    }
}

static int pool_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    pool_priv *c = l->priv;
    c->dn_forward = c->dn && cf_dnnl_pool_forward(c->dn, bottom[0], top[0]) == 0;
    if (c->dn_forward) return 0;
    plane_ctx k = {c, cf_blob_data(bottom[0]), cf_blob_mdata(top[0]), nt > 1 ? cf_blob_mdata(top[1]) : NULL};
    cf_parallel_for(l->be, (size_t)c->N * c->C, plane_grain(c), c->pool == POOL_MAX ? max_planes : ave_planes, &k);
    return 0;
}

/* ---- backward ---- */

/* MAX: each top diff goes to the cell its maximum came from.  AVE: each
 * top diff g, divided as in forward, goes to every image cell of its
 * window.  For a bottom row under a row of windows, the padded row
 * (ROW_BUF, as forward) receives at column i the sum of g over the windows
 * covering i, written in one pass for the usual kernels (kernel 2 or 3 at
 * stride 2: each pair of columns written together, so that it
 * vectorises), then is added into the bottom row inside the image. */
static void spread_padded(float *restrict buf, const float *restrict g, int Wo, int kw, int sw, int len)
{
    if (Wo < 1) return; /* never: reshape refuses an empty top */
    if (sw == 2 && kw == 2) {
        for (int xo = 0; xo < Wo; xo++) buf[2 * xo] = g[xo], buf[2 * xo + 1] = g[xo];
    } else if (sw == 2 && kw == 3) {
        buf[0] = g[0], buf[1] = g[0];
        for (int xo = 1; xo < Wo; xo++) buf[2 * xo] = g[xo - 1] + g[xo], buf[2 * xo + 1] = g[xo];
        buf[2 * Wo] = g[Wo - 1];
    } else {
        memset(buf, 0, (size_t)len * sizeof(float));
        for (int j = 0; j < kw; j++)
            for (int xo = 0; xo < Wo; xo++) buf[xo * sw + j] += g[xo];
    }
}

static void ave_backward_row(const pool_priv *c, float *dx, const float *dtr, int y)
{
    int h0, h1, eh = ave_extent(y, c->sh, c->ph, c->kh, c->H), W = c->W, Wo = c->Wo, sw = c->sw, kw = c->kw;
    float hdiv = (float)(eh > 0 ? eh : 1);
    window_rows(c, y, &h0, &h1);
    int len = padded_len(c);
    if (len <= ROW_BUF) {
        float g[ROW_BUF], buf[ROW_BUF];
        for (int xo = 0; xo < Wo; xo++) g[xo] = dtr[xo] / (hdiv * c->wdiv[xo]);
        spread_padded(buf, g, Wo, kw, sw, len);
        int lo = c->pw, hi = c->pw + W < len ? c->pw + W : len; /* buffer columns inside the image */
        for (int h = h0; h < h1; h++) {
            float *dr = dx + (size_t)h * W - c->pw;
            for (int i = lo; i < hi; i++) dr[i] += buf[i];
        }
        return;
    }
    for (int h = h0; h < h1; h++)
        for (int j = 0; j < kw; j++) {
            float *dr = dx + (size_t)h * W + j - c->pw;
            for (int xo = c->xlo[j]; xo < c->xhi[j]; xo++) dr[xo * sw] += dtr[xo] / (hdiv * c->wdiv[xo]);
        }
}

static void backward_planes(void *arg, size_t pb, size_t pe)
{
    plane_ctx *k = arg;
    const pool_priv c = *k->c;
    const int W = c.W, Wo = c.Wo;
    size_t in = (size_t)c.H * W, out = (size_t)c.Ho * Wo;
    for (size_t q = pb; q < pe; q++) {
        const float *dt = k->src + q * out;
        float *dx = k->dst + q * in;
        memset(dx, 0, in * sizeof(float));
        if (c.pool == POOL_MAX) {
            const int *am = c.argmax + q * out;
            for (size_t o = 0; o < out; o++)
                if (am[o] >= 0) dx[am[o]] += dt[o];
            continue;
        }
        for (int y = 0; y < c.Ho; y++) ave_backward_row(&c, dx, dt + (size_t)y * Wo, y);
    }
}

static void pool_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    if (!prop[0]) return;
    pool_priv *c = l->priv;
    if (c->dn_forward) {
        if (cf_dnnl_pool_backward(c->dn, top[0], bottom[0]) == 0) return;
        /* oneDNN failed: our backward needs the argmax that only our
         * forward records, so run it again into a scratch top */
        if (c->pool == POOL_MAX) {
            float *scratch = malloc(top[0]->count * sizeof *scratch);
            if (!scratch) abort();
            plane_ctx f = {c, cf_blob_data(bottom[0]), scratch, NULL};
            cf_parallel_for(l->be, (size_t)c->N * c->C, plane_grain(c), max_planes, &f);
            free(scratch);
        }
        c->dn_forward = false;
    }
    plane_ctx k = {c, cf_blob_diff(top[0]), cf_blob_mdiff(bottom[0]), NULL};
    cf_parallel_for(l->be, (size_t)c->N * c->C, plane_grain(c), backward_planes, &k);
}

static void pool_destroy(cf_layer *l)
{
    pool_priv *c = l->priv;
    if (!c) return;
    free(c->argmax);
    free(c->xlo);
    free(c->xhi);
    free(c->wdiv);
    cf_dnnl_pool_free(c->dn);
    free(c);
}

const cf_layer_ops cf_layer_Pooling = {
    .type = "Pooling",
    .min_bottom = 1,
    .max_bottom = 1,
    .min_top = 1,
    .max_top = 2,
    .setup = pool_setup,
    .reshape = pool_reshape,
    .forward = pool_forward,
    .backward = pool_backward,
    .destroy = pool_destroy,
};
