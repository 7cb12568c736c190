/* conv_geom.c — convolution_param's spatial fields and the layout moves
 * shared by Convolution, Deconvolution and Im2col (see conv_geom.h). */
#include "conv_geom.h"

#include <limits.h>
#include <string.h>

int cf_conv_read_hw(cf_layer *l, cf_node *p, const char *key, const char *hkey, const char *wkey, long def,
                    long pair_def, long lo, int out[2], cf_error *err)
{
    size_t n = cf_node_count(p, key);
    bool has_h = hkey && cf_node_has(p, hkey), has_w = wkey && cf_node_has(p, wkey);
    long v[2] = {def, def};
    cf_node *at[2] = {NULL, NULL};
    if (has_h || has_w) {
        if (n > 0)
            return cf_layer_error(l, cf_node_at(p, key, 0), err, "give either '%s' or '%s'/'%s', not both", key,
                                  hkey, wkey);
        if ((!has_h || !has_w) && pair_def < 0)
            return cf_layer_error(l, p, err, "'%s' and '%s' must be given together", hkey, wkey);
        if (cf_get_int(p, hkey, pair_def, &v[0], err) || cf_get_int(p, wkey, pair_def, &v[1], err)) return -1;
        at[0] = cf_node_get(p, hkey);
        at[1] = cf_node_get(p, wkey);
    } else if (n == 0) {
        if (def < 0) return cf_layer_error(l, p, err, "convolution_param: field '%s' is missing", key);
    } else if (n <= 2) {
        for (size_t i = 0; i < n; i++)
            if (cf_get_int_at(p, key, i, &v[i], err)) return -1;
        if (n == 1) v[1] = v[0];
        at[0] = cf_node_at(p, key, 0);
        at[1] = cf_node_at(p, key, n - 1);
    } else {
        return cf_layer_error(l, cf_node_at(p, key, 2), err,
                              "field '%s' takes 1 value or 2 (h, w) for 2-D convolution, got %zu", key, n);
    }
    for (int i = 0; i < 2; i++) {
        const char *name = at[i] && at[i]->key ? at[i]->key : key;
        if (v[i] < lo)
            return cf_layer_error(l, at[i], err, "field '%s': %ld is out of range (must be >= %ld)", name, v[i], lo);
        if (v[i] > INT_MAX / 4)
            return cf_layer_error(l, at[i], err, "field '%s': %ld is too large", name, v[i]);
        out[i] = (int)v[i];
    }
    return 0;
}

int cf_conv_read_window(cf_layer *l, cf_node *p, cf_conv_geom *g, cf_error *err)
{
    int k[2], pad[2], stride[2], dil[2];
    if (cf_conv_read_hw(l, p, "kernel_size", "kernel_h", "kernel_w", -1, -1, 1, k, err) ||
        cf_conv_read_hw(l, p, "pad", "pad_h", "pad_w", 0, 0, 0, pad, err) ||
        cf_conv_read_hw(l, p, "stride", "stride_h", "stride_w", 1, -1, 1, stride, err) ||
        cf_conv_read_hw(l, p, "dilation", NULL, NULL, 1, -1, 1, dil, err))
        return -1;
    g->kh = k[0], g->kw = k[1], g->ph = pad[0], g->pw = pad[1];
    g->sh = stride[0], g->sw = stride[1], g->dh = dil[0], g->dw = dil[1];
    return 0;
}

void cf_batch_to_rows(int N, int R, size_t P, const float *src, float *dst)
{
    size_t NP = (size_t)N * P;
    for (int n = 0; n < N; n++)
        for (int r = 0; r < R; r++)
            memcpy(dst + (size_t)r * NP + (size_t)n * P, src + ((size_t)n * R + r) * P, P * sizeof(float));
}

void cf_rows_to_batch(int N, int R, size_t P, const float *src, float *dst)
{
    size_t NP = (size_t)N * P;
    for (int n = 0; n < N; n++)
        for (int r = 0; r < R; r++)
            memcpy(dst + ((size_t)n * R + r) * P, src + (size_t)r * NP + (size_t)n * P, P * sizeof(float));
}
