/* conv_geom.h — what the convolution-shaped layers share: reading the
 * spatial fields of convolution_param (Convolution, Deconvolution,
 * Im2col) and moving data between the per-image layout of a blob,
 * [N][R][P], and the batched column layout of the backend, [R][N·P]. */
#ifndef CF_CONV_GEOM_H
#define CF_CONV_GEOM_H

#include "layer.h"

/* A spatial field given as `key` (one value for both axes, or two: h, w)
 * or as the pair key_h/key_w (hkey NULL when Caffe has no such pair).
 * def < 0 means the field is required.  As in Caffe, one of pad_h/pad_w
 * alone leaves the other 0 (pair_def 0); kernel and stride need both
 * (pair_def -1).  Values below lo are an error. */
int cf_conv_read_hw(cf_layer *l, cf_node *p, const char *key, const char *hkey, const char *wkey, long def,
                    long pair_def, long lo, int out[2], cf_error *err);

/* kernel (required), pad, stride and dilation of convolution_param p
 * into g's kh, kw, ph, pw, sh, sw, dh, dw. */
int cf_conv_read_window(cf_layer *l, cf_node *p, cf_conv_geom *g, cf_error *err);

/* dst[r][n·P + j] = src[n][r][j] for n < N, r < R, j < P. */
void cf_batch_to_rows(int N, int R, size_t P, const float *src, float *dst);
/* The inverse: dst[n][r][j] = src[r][n·P + j]. */
void cf_rows_to_batch(int N, int R, size_t P, const float *src, float *dst);

#endif
