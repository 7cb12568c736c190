/* data_transform.c — transform_param (see data_transform.h). */
#include "data_transform.h"

#include <stdlib.h>
#include <string.h>

int cf_transform_init(cf_transform *t, cf_layer *l, cf_error *err)
{
    *t = (cf_transform){.layer = l, .phase = l->phase, .scale = 1};
    cf_node *tp;
    if (cf_layer_param_map(l, "transform_param", &tp, err)) return -1;
    t->node = tp;
    double scale;
    long crop;
    const char *mean_file;
    if (cf_get_float(tp, "scale", 1, &scale, err) || cf_get_bool(tp, "mirror", false, &t->mirror, err) ||
        cf_get_int_range(tp, "crop_size", 0, 0, 1 << 20, &crop, err) ||
        cf_get_string(tp, "mean_file", NULL, &mean_file, err))
        return -1;
    t->scale = (float)scale;
    t->crop = (int)crop;
    size_t nmv = cf_node_count(tp, "mean_value");
    if (mean_file && nmv)
        return cf_layer_error(l, cf_node_get(tp, "mean_value"), err,
                              "give either mean_file or mean_value, not both");
    if (nmv) {
        t->mean_values = calloc(nmv, sizeof *t->mean_values);
        if (!t->mean_values) abort();
        t->nmean_values = (int)nmv;
        for (size_t i = 0; i < nmv; i++) {
            double v;
            if (cf_get_float_at(tp, "mean_value", i, &v, err)) return -1;
            t->mean_values[i] = (float)v;
        }
    }
    if (mean_file && cf_mean_load(mean_file, &t->mean, err)) {
        if (!err) return -1;
        char msg[sizeof err->msg];
        strcpy(msg, err->msg);
        return cf_layer_error(l, cf_node_get(tp, "mean_file"), err, "%s", msg);
    }
    if (t->phase == CF_TRAIN && (t->mirror || t->crop)) {
        uint64_t seed = 0;
        if (l->rng) seed = (uint64_t)cf_rng_u32(l->rng) << 32 | cf_rng_u32(l->rng);
        cf_rng_seed(&t->rng, seed);
    }
    return 0;
}

int cf_transform_check(cf_transform *t, int c, int h, int w, int *oh, int *ow, cf_error *err)
{
    if (t->crop && (t->crop > h || t->crop > w))
        return cf_layer_error(t->layer, cf_node_get(t->node, "crop_size"), err,
                              "crop_size %d is larger than the %dx%d images", t->crop, h, w);
    if (t->mean.data && (t->mean.channels != c || t->mean.height != h || t->mean.width != w))
        return cf_layer_error(t->layer, cf_node_get(t->node, "mean_file"), err,
                              "the mean file is %dx%dx%d but the images are %dx%dx%d", t->mean.channels,
                              t->mean.height, t->mean.width, c, h, w);
    if (t->nmean_values && t->nmean_values != 1 && t->nmean_values != c)
        return cf_layer_error(t->layer, cf_node_get(t->node, "mean_value"), err,
                              "mean_value has %d values but the images have %d channel%s (give one value, or one per channel)",
                              t->nmean_values, c, c == 1 ? "" : "s");
    if (t->nmean_values == 1 && c > 1) { /* one value serves every channel */
        float v = t->mean_values[0];
        float *mv = realloc(t->mean_values, (size_t)c * sizeof *mv);
        if (!mv) abort();
        for (int i = 0; i < c; i++) mv[i] = v;
        t->mean_values = mv;
        t->nmean_values = c;
    }
    *oh = t->crop ? t->crop : h;
    *ow = t->crop ? t->crop : w;
    return 0;
}

void cf_transform_datum(cf_transform *t, const cf_datum *d, float *out)
{
    int C = d->channels, H = d->height, W = d->width;
    int oh = t->crop ? t->crop : H, ow = t->crop ? t->crop : W;
    bool train = t->phase == CF_TRAIN;
    bool mirror = t->mirror && train && cf_rng_below(&t->rng, 2);
    int dy = 0, dx = 0;
    if (t->crop) {
        if (train) {
            dy = (int)cf_rng_below(&t->rng, (uint32_t)(H - t->crop + 1));
            dx = (int)cf_rng_below(&t->rng, (uint32_t)(W - t->crop + 1));
        } else {
            dy = (H - t->crop) / 2;
            dx = (W - t->crop) / 2;
        }
    }
    const float *mean = t->mean.data;
    for (int c = 0; c < C; c++) {
        float mv = t->nmean_values ? t->mean_values[c] : 0;
        for (int y = 0; y < oh; y++) {
            size_t in_row = ((size_t)c * H + y + dy) * W + dx;
            float *o = out + ((size_t)c * oh + y) * ow;
            for (int x = 0; x < ow; x++) {
                size_t i = in_row + x;
                float m = mean ? mean[i] : mv;
                o[mirror ? ow - 1 - x : x] = (cf_datum_at(d, i) - m) * t->scale;
            }
        }
    }
}

void cf_transform_free(cf_transform *t)
{
    cf_mean_free(&t->mean);
    free(t->mean_values);
    t->mean_values = NULL;
    t->nmean_values = 0;
}
