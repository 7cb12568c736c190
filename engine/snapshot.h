/* snapshot.h — the whole state of a training run in one HDF5 file, so that
 * a run can stop and go on exactly where it was.
 *
 * Layout (format version 1; h5ls -r shows it):
 *   /                         attribute cafetui_snapshot_version = 1
 *   /data/<layer>/<i>         float, param i of each train-net layer, in
 *                             its own shape: Caffe's HDF5 caffemodel layout,
 *                             so Caffe (and cf_net_load_weights) read the
 *                             weights of a snapshot as they are.  A param
 *                             shared with an earlier layer is stored with
 *                             its owner only, as Caffe does.
 *   /solver/type              string, "SGD", "Adam", ...
 *   /solver/iter              int64, iterations done
 *   /solver/current_step      int64
 *   /solver/lr_scale          double (the front end's lr factor)
 *   /solver/rng               uint64[2], PCG32 state and increment
 *   /solver/history/<i>       float, per learnable param i of the net (the
 *   /solver/history2/<i>      index in cf_net.params), shaped as the param;
 *                             history2 for Adam and AdaDelta only
 *   /solver/loss/ring         float[average_loss], the smoothing ring as is,
 *   /solver/loss/count, pos   int64, its fill and next slot,
 *   /solver/loss/last, smoothed  float
 *   /solver/data/<net>/<layer>  uint64[3], for each Data layer of the train
 *                             net ("train") and the test nets ("test0", ...):
 *                             the record its next forward begins with,
 *                             counting records forward consumed (not those
 *                             the prefetch thread has read ahead), and the
 *                             state and increment of its transform's
 *                             generator at that record (crop, mirror)
 *
 * Saving writes "<path>.tmp-XXXXXX" beside path, flushes it to disk and
 * renames it over path: a crash or a full disk leaves the previous file
 * as it was, and no temporary file behind.
 *
 * Loading checks everything against the solver before changing anything
 * (layers by name and shape, the solver type, every history blob, every
 * data layer's position), then restores: weights, solver state, RNG, and
 * each Data layer is moved to its saved record and transform state (its
 * prefetch thread restarts there).  On the CPU with the same net, solver
 * and thread count, N iterations straight and N/2 + save + load into a
 * fresh solver + N/2 give the same bits.
 *
 * Not saved: the read position of HDF5Data layers (the layer offers no
 * way to ask for it yet); they start again from their first file.
 */
#ifndef CF_SNAPSHOT_H
#define CF_SNAPSHOT_H

#include <stdbool.h>

#include "solver.h"
#include "weights.h"

#define CF_SNAPSHOT_VERSION 1

/* Matches cf_snapshot_fn (trainer.h).  Errors (CF_ERUNTIME) name path. */
int cf_snapshot_save(cf_solver *s, const char *path, cf_error *err);
/* Errors (CF_EINPUT): "path: not a cafetui snapshot (...)" for a file
 * that is not one (missing, truncated, another HDF5 file); "path: layer
 * 'x': ..." for weights that do not fit; a solver type, param or data
 * layer the snapshot does not match.  Nothing is changed on error, except
 * when the file turns out unreadable half-way through the restore (then
 * the message says so and the solver should not be used). */
int cf_snapshot_load(cf_solver *s, const char *path, cf_error *err);

/* Remove the temporary files "<prefix>_iter_<N>.h5.tmp-XXXXXX" that a
 * save killed between creating and renaming its file leaves beside the
 * snapshots (a crash, kill -9, a power cut).  They are never snapshots
 * and never read as such; this only reclaims their space.  Returns how
 * many were removed.  Not for a prefix that another running process
 * snapshots to: its save in flight would lose its file. */
int cf_snapshot_clean_temps(const char *prefix);

/* For cf_net_load_weights: is path an HDF5 file, and its data/ group as
 * weights. */
bool cf_is_hdf5(const char *path);
cf_weights *cf_h5_weights_read(const char *path, cf_error *err);

#endif
