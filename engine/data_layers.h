/* data_layers.h — what the data layers offer beyond the layer contract
 * (engine/layer.h): feeding a MemoryData layer from C, and the read
 * position of a Data layer, for resuming a run where it stopped.
 *
 * Layer types (engine/layers/): Data (LMDB of Caffe Datums, with a
 * prefetch thread), HDF5Data (list of .h5 files), MemoryData (arrays set
 * from C).
 */
#ifndef CF_DATA_LAYERS_H
#define CF_DATA_LAYERS_H

#include <stddef.h>

#include "layer.h"

/* MemoryData: serve `n` examples (each channels×height×width floats,
 * labels may be NULL when the layer has no label top), copied now.
 * Forward serves consecutive batches, wrapping around after the last
 * example.  Errors: l is not a MemoryData layer, n < 1, labels missing. */
int cf_memory_data_set(cf_layer *l, const float *data, const float *labels, int n, cf_error *err);

/* Data: index (0-based, in key order) of the record that the next forward
 * begins with, and (rng != NULL) the state of the transform's generator
 * (random crops and mirrors) at that point.  l must be a Data layer that
 * was set up. */
size_t cf_data_layer_position(const cf_layer *l, cf_rng *rng);
/* Data: make the next forward begin at record `index` (modulo the record
 * count) with the transform's generator in state *rng (NULL: it goes on
 * from where the prefetch thread left it); batches prefetched so far are
 * dropped.  Restoring both values that cf_data_layer_position gave
 * resumes the same batches bit for bit. */
int cf_data_layer_seek(cf_layer *l, size_t index, const cf_rng *rng, cf_error *err);
/* Data: read as rank `rank` of `nranks` data-parallel processes: each
 * iteration the ranks' batches of B are the consecutive slices of one
 * global batch of nranks·B records (rank r takes slice r), so together
 * they are what one process with batch nranks·B reads, and no two ranks
 * read the same record within an epoch.  Position and seek then speak of
 * the global stream (the same on every rank, valid for any nranks).
 * Starts from the current position; batches prefetched are dropped. */
int cf_data_layer_shard(cf_layer *l, int rank, int nranks, cf_error *err);

#endif
