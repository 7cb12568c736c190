/* convert.h — dataset converters: MNIST-style IDX files to a Datum LMDB
 * (as Caffe's convert_mnist_data) or to HDF5 (for HDF5Data).
 *
 * Outputs appear whole or not at all: they are written under a temporary
 * name beside the target and renamed when complete.  An existing output
 * is an error, never overwritten.
 */
#ifndef CF_CONVERT_H
#define CF_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* One record per image, in file order, keyed "%08d" (00000000, ...):
 * a Datum with channels 1, height rows, width cols, the raw pixel bytes
 * and the label.  The records are byte for byte those of
 * convert_mnist_data --backend=lmdb. */
int cf_convert_idx_to_lmdb(const char *images, const char *labels, const char *out_dir, cf_error *err);

/* A synthetic LMDB of n Datums (C×H×W bytes, labels uniform in
 * [0, classes)), reproducible from seed: for trying nets without a
 * dataset (CIFAR-10's shape is 3×32×32). */
int cf_convert_random_lmdb(const char *out_dir, size_t n, int C, int H, int W, int classes, uint64_t seed,
                           cf_error *err);

/* An HDF5 file with `data` (N×1×rows×cols float32, pixel × scale) and
 * `label` (N float32), plus the list file HDF5Data reads
 * (cf_hdf5_list_path: the .h5 path with its extension replaced by .txt),
 * holding the .h5 file's name relative to the list's directory. */
int cf_convert_idx_to_hdf5(const char *images, const char *labels, const char *out_h5, float scale,
                           cf_error *err);
/* "dir/train.h5" -> "dir/train.txt" (appends .txt when there is no
 * extension).  Returns buf. */
const char *cf_hdf5_list_path(const char *h5_path, char *buf, size_t n);

#endif
