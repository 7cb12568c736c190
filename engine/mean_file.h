/* mean_file.h — mean images in Caffe's .binaryproto format (a serialized
 * BlobProto), as compute_image_mean writes them and transform_param's
 * mean_file reads them.
 *
 * Loading accepts the legacy dimensions (num, channels, height, width;
 * num must be 1) or a `shape` of 3 axes (C, H, W) or 4 axes (1, C, H, W),
 * with float or double values.  Saving writes what compute_image_mean
 * writes: legacy dimensions 1×C×H×W and float data, so the file is
 * byte-for-byte what Caffe would write for the same values.
 */
#ifndef CF_MEAN_FILE_H
#define CF_MEAN_FILE_H

#include "error.h"

typedef struct cf_mean {
    int channels, height, width;
    float *data;        /* C*H*W values */
} cf_mean;

int cf_mean_load(const char *path, cf_mean *m, cf_error *err);
/* Written to a temporary file in the same directory, then renamed. */
int cf_mean_save(const char *path, const cf_mean *m, cf_error *err);
void cf_mean_free(cf_mean *m);

/* Mean of every record of a Datum LMDB, as compute_image_mean computes
 * it: per element, the values are summed in float32 in record order, and
 * each sum is divided by the record count in float32.  All records must
 * have the first one's shape. */
int cf_compute_mean_blob(const char *lmdb_dir, cf_mean *m, cf_error *err);
/* cf_compute_mean_blob, then cf_mean_save to out_path. */
int cf_compute_mean(const char *lmdb_dir, const char *out_path, cf_error *err);

#endif
