/* data_transform.h — Caffe's transform_param, applied to each example as
 * a data layer loads it:
 *
 *   out[c][y][x] = (in[c][y + dy][x' + dx] − mean) × scale
 *
 * where mean is the mean file's value at the same input position
 * (mean_file) or the channel's mean_value (one value for all channels, or
 * one per channel), or 0; the crop offsets (dy, dx) are uniform in TRAIN
 * and centred ((H − crop) / 2, rounded down) in TEST; x' = crop − 1 − x
 * when the example is mirrored, else x.  Mirroring is drawn with
 * probability 1/2 per example in TRAIN only (Caffe also draws it in TEST;
 * we keep TEST deterministic).  Draw order per example as Caffe: mirror,
 * then dy, then dx.
 *
 * The transform has its own PCG32, seeded from the layer's generator at
 * setup (only when it will draw), so runs repeat for a seed and the
 * prefetch thread never touches the net's generator.
 */
#ifndef CF_DATA_TRANSFORM_H
#define CF_DATA_TRANSFORM_H

#include <stdbool.h>

#include "datum.h"
#include "layer.h"
#include "mean_file.h"

typedef struct cf_transform {
    cf_layer *layer;        /* for error messages (not owned) */
    cf_node *node;          /* transform_param, NULL when absent */
    cf_phase phase;
    float scale;
    int crop;
    bool mirror;
    cf_mean mean;           /* mean_file (data NULL when none) */
    int nmean_values;
    float *mean_values;     /* after cf_transform_check: one per channel */
    cf_rng rng;
} cf_transform;

/* Read the layer's transform_param (absent: identity) and load its mean
 * file. */
int cf_transform_init(cf_transform *t, cf_layer *l, cf_error *err);
/* Check that c×h×w inputs fit (crop size, mean file shape, number of
 * mean values) and give the output height and width. */
int cf_transform_check(cf_transform *t, int c, int h, int w, int *oh, int *ow, cf_error *err);
/* Transform one example of the checked shape into out (C × oh × ow). */
void cf_transform_datum(cf_transform *t, const cf_datum *d, float *out);
void cf_transform_free(cf_transform *t);

#endif
