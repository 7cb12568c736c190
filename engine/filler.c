/* filler.c — parameter initialisation, with Caffe's FillerParameter names
 * and formulas:
 *   constant          w = value
 *   uniform           w ~ U[min, max]
 *   gaussian          w ~ N(mean, std)
 *   xavier            w ~ U[-s, s], s = sqrt(3 / n)
 *   msra              w ~ N(0, sqrt(2 / n))
 *   positive_unitball w ~ U[0, 1], then each of shape[0] rows scaled to sum 1
 * where n = fan_in = count / shape[0], fan_out = count / shape[1], or their
 * average, as variance_norm says. */
#include <math.h>
#include <string.h>

#include "layer.h"

static const char *const filler_types[] = {"constant", "uniform", "gaussian", "xavier", "msra",
                                           "positive_unitball", NULL};
enum { F_CONSTANT, F_UNIFORM, F_GAUSSIAN, F_XAVIER, F_MSRA, F_UNITBALL };
static const char *const norms[] = {"FAN_IN", "FAN_OUT", "AVERAGE", NULL};

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
    long sparse;
    if (cf_get_int(f, "sparse", -1, &sparse, err)) return -1;
    if (sparse >= 0 && type != F_GAUSSIAN)
        return cf_node_error(cf_node_get(f, "sparse"), err, CF_EINPUT, "field 'sparse' needs a gaussian filler");

    float *w = cf_blob_mdata(b);
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
    }
    return 0;
}
