/* filler.c — parameter initialisation, with Caffe's FillerParameter names
 * and formulas:
 *   constant          w = value
 *   uniform           w ~ U[min, max]
 *   gaussian          w ~ N(mean, std)
 *   xavier            w ~ U[-s, s], s = sqrt(3 / n)
 *   msra              w ~ N(0, sqrt(2 / n))
 *   positive_unitball w ~ U[0, 1], then each of shape[0] rows scaled to sum 1
 *   bilinear          (Caffe's, for Deconvolution kernels that upsample by a
 *                     factor f) a 4-axis blob with square k × k kernels, each
 *                     w[y][x] = (1 − |x/f − c|)(1 − |y/f − c|),
 *                     f = ⌈k/2⌉, c = (2f − 1 − f mod 2) / (2f)
 *   orthogonal        (Mocha's OrthogonalInitializer, `gain` 1) the blob as a
 *                     matrix, shape[0] rows × count/shape[0] columns, with
 *                     orthonormal rows (W·Wᵀ = I) when rows <= columns, else
 *                     orthonormal columns (Wᵀ·W = I), times gain.  Mocha
 *                     takes the factors of an SVD of a gaussian matrix; the Q
 *                     of a QR decomposition (LAPACK, from OpenBLAS) with its
 *                     columns' signs set by R's diagonal is as orthonormal
 *                     and has the same (uniform, Haar) distribution.
 * where n = fan_in = count / shape[0], fan_out = count / shape[1], or their
 * average, as variance_norm says. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"

/* LAPACK (Fortran calling convention, column-major), exported by OpenBLAS:
 * Householder QR of an m × n matrix, and the m × n Q it implies. */
void sgeqrf_(const int *m, const int *n, float *a, const int *lda, float *tau, float *work, const int *lwork,
             int *info);
void sorgqr_(const int *m, const int *n, const int *k, float *a, const int *lda, const float *tau, float *work,
             const int *lwork, int *info);

static const char *const filler_types[] = {"constant", "uniform", "gaussian", "xavier", "msra",
                                           "positive_unitball", "bilinear", "orthogonal", NULL};
enum { F_CONSTANT, F_UNIFORM, F_GAUSSIAN, F_XAVIER, F_MSRA, F_UNITBALL, F_BILINEAR, F_ORTHOGONAL };
static const char *const norms[] = {"FAN_IN", "FAN_OUT", "AVERAGE", NULL};

static int fill_bilinear(cf_blob *b, cf_node *f, cf_error *err)
{
    char sh[128];
    if (b->naxes != 4)
        return cf_node_error(f, err, CF_EINPUT, "bilinear filler needs a 4-axis blob (N × C × k × k), got %s",
                             cf_blob_shape_str(b, sh, sizeof sh));
    int k = b->shape[3];
    if (b->shape[2] != k)
        return cf_node_error(f, err, CF_EINPUT, "bilinear filler needs square kernels, got %d × %d", b->shape[2], k);
    float *w = cf_blob_mdata(b);
    int fac = (k + 1) / 2; /* ⌈k/2⌉ */
    float c = (float)((2 * fac - 1 - fac % 2) / (2.0 * fac));
    for (size_t i = 0; i < b->count; i++) {
        float x = (float)(i % (size_t)k), y = (float)(i / (size_t)k % (size_t)k);
        w[i] = (1 - fabsf(x / (float)fac - c)) * (1 - fabsf(y / (float)fac - c));
    }
    return 0;
}

/* Q (m × n, m >= n, column-major in a) of a's QR decomposition, each
 * column's sign flipped to make R's diagonal positive. */
static int orthonormal_columns(float *a, int m, int n, cf_node *f, cf_error *err)
{
    float *tau = malloc((size_t)n * sizeof *tau), q1 = 0, q2 = 0;
    if (!tau) abort();
    int info = 0, lwork = -1; /* first ask each routine how much workspace it wants */
    sgeqrf_(&m, &n, a, &m, tau, &q1, &lwork, &info);
    if (!info) sorgqr_(&m, &n, &n, a, &m, tau, &q2, &lwork, &info);
    lwork = n;
    if ((int)q1 > lwork) lwork = (int)q1;
    if ((int)q2 > lwork) lwork = (int)q2;
    float *work = malloc((size_t)lwork * sizeof *work);
    float *sign = malloc((size_t)n * sizeof *sign);
    if (!work || !sign) abort();
    if (!info) sgeqrf_(&m, &n, a, &m, tau, work, &lwork, &info);
    if (!info) {
        for (int j = 0; j < n; j++) sign[j] = a[(size_t)j * m + j] < 0 ? -1.0f : 1.0f;
        sorgqr_(&m, &n, &n, a, &m, tau, work, &lwork, &info);
    }
    if (!info)
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) a[(size_t)j * m + i] *= sign[j];
    free(tau);
    free(work);
    free(sign);
    if (info) return cf_node_error(f, err, CF_EINPUT, "orthogonal filler: LAPACK QR failed (info %d)", info);
    return 0;
}

static int fill_orthogonal(cf_blob *b, cf_node *f, double gain, cf_rng *rng, cf_error *err)
{
    char sh[128];
    if (b->naxes < 2 || b->count == 0)
        return cf_node_error(f, err, CF_EINPUT, "orthogonal filler needs a blob with at least 2 axes, got %s",
                             cf_blob_shape_str(b, sh, sizeof sh));
    int rows = b->shape[0], cols = (int)(b->count / (size_t)rows);
    int m = rows > cols ? rows : cols, n = rows > cols ? cols : rows;
    float *a = malloc(b->count * sizeof *a);
    if (!a) abort();
    for (size_t i = 0; i < b->count; i++) a[i] = cf_rng_gaussian(rng, 0, 1);
    if (orthonormal_columns(a, m, n, f, err)) {
        free(a);
        return -1;
    }
    /* rows <= cols: Q is cols × rows column-major, which is W (rows × cols)
     * row-major already; rows > cols: Q is W itself, column-major. */
    float *w = cf_blob_mdata(b);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            w[(size_t)r * cols + c] =
                (float)gain * (rows <= cols ? a[(size_t)r * cols + c] : a[(size_t)c * rows + r]);
    free(a);
    return 0;
}

int cf_fill(cf_blob *b, cf_node *f, const char *def_type, cf_rng *rng, cf_error *err)
{
    int type = F_CONSTANT, norm = 0;
    for (int i = 0; filler_types[i]; i++)
        if (!strcmp(def_type, filler_types[i])) type = i;
    double value, lo, hi, mean, std;
    if (cf_get_enum(f, "type", filler_types, type, &type, err) || cf_get_float(f, "value", 0, &value, err) ||
        cf_get_float(f, "min", 0, &lo, err) || cf_get_float(f, "max", 1, &hi, err) ||
        cf_get_float(f, "mean", 0, &mean, err) || cf_get_float(f, "std", 1, &std, err) ||
        cf_get_enum(f, "variance_norm", norms, 0, &norm, err))
        return -1;
    double gain;
    if (cf_get_float(f, "gain", 1, &gain, err)) return -1;
    if (cf_node_has(f, "gain") && type != F_ORTHOGONAL)
        return cf_node_error(cf_node_get(f, "gain"), err, CF_EINPUT, "field 'gain' is for the orthogonal filler");
    long sparse;
    if (cf_get_int(f, "sparse", -1, &sparse, err)) return -1;
    if (sparse >= 0 && type != F_GAUSSIAN)
        return cf_node_error(cf_node_get(f, "sparse"), err, CF_EINPUT, "field 'sparse' needs a gaussian filler");

    float *w = cf_blob_mdata(b);
    if (!w) { /* refused by the memory limit (blob.h) or by the system */
        char what[160], sh[128];
        snprintf(what, sizeof what, "blob '%s' (%s)", b->name ? b->name : "", cf_blob_shape_str(b, sh, sizeof sh));
        if (!cf_mem_check(b->count * sizeof(float), what, err)) cf_error_set(err, CF_ERUNTIME, "%s: out of memory", what);
        return -1;
    }
    size_t count = b->count;
    double fan_in = b->naxes > 0 && b->shape[0] ? (double)count / b->shape[0] : 1;
    double fan_out = b->naxes > 1 && b->shape[1] ? (double)count / b->shape[1] : (double)count;
    double n = norm == 0 ? fan_in : norm == 1 ? fan_out : (fan_in + fan_out) / 2;

    switch (type) {
    case F_CONSTANT:
        for (size_t i = 0; i < count; i++) w[i] = (float)value;
        break;
    case F_UNIFORM:
        if (hi < lo) return cf_node_error(f, err, CF_EINPUT, "uniform filler: max %g < min %g", hi, lo);
        for (size_t i = 0; i < count; i++) w[i] = cf_rng_uniform(rng, (float)lo, (float)hi);
        break;
    case F_GAUSSIAN: {
        for (size_t i = 0; i < count; i++) w[i] = cf_rng_gaussian(rng, (float)mean, (float)std);
        /* Caffe's sparse gaussian: keep each weight with p = sparse / fan_out rows */
        if (sparse >= 0 && b->naxes >= 2) {
            double p = (double)sparse / b->shape[0];
            for (size_t i = 0; i < count; i++)
                if (cf_rng_uniform01(rng) >= p) w[i] = 0;
        }
        break;
    }
    case F_XAVIER: {
        float s = (float)sqrt(3.0 / n);
        for (size_t i = 0; i < count; i++) w[i] = cf_rng_uniform(rng, -s, s);
        break;
    }
    case F_MSRA: {
        float s = (float)sqrt(2.0 / n);
        for (size_t i = 0; i < count; i++) w[i] = cf_rng_gaussian(rng, 0, s);
        break;
    }
    case F_UNITBALL: {
        size_t rows = b->naxes > 0 ? (size_t)b->shape[0] : 1, dim = rows ? count / rows : 0;
        for (size_t i = 0; i < count; i++) w[i] = cf_rng_uniform(rng, 0, 1);
        for (size_t r = 0; r < rows; r++) {
            double s = 0;
            for (size_t k = 0; k < dim; k++) s += w[r * dim + k];
            for (size_t k = 0; k < dim; k++) w[r * dim + k] = (float)(w[r * dim + k] / s);
        }
        break;
    }
    case F_BILINEAR:
        return fill_bilinear(b, f, err);
    case F_ORTHOGONAL:
        return fill_orthogonal(b, f, gain, rng, err);
    }
    return 0;
}
