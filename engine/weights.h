/* weights.h — putting trained weights into a net by layer name (fine-tuning,
 * `cafetui test -weights`, resuming), whatever file they come from.
 *
 * cf_net_load_weights reads, by content, not by name:
 *   - an HDF5 file with Caffe's weights layout data/<layer>/<i> (our
 *     snapshots, Caffe's .caffemodel.h5);
 *   - a binary .caffemodel: a protobuf NetParameter whose layers are the
 *     current `layer` (field 100) or the pre-2015 V1 `layers` (field 2).
 * Layers are matched by name.  File layers the net does not have are
 * ignored; net layers the file does not have keep their initial weights;
 * both are counted in the report and told to the optional log.  A param
 * whose shape differs is an error naming the layer and both shapes, and
 * nothing is changed: every check runs before the first copy.
 *
 * Shapes must be equal, except that a blob stored with the legacy four
 * dimensions num/channels/height/width matches a param of fewer axes when
 * the element counts agree and the dimensions agree once leading 1s are
 * dropped from both (Caffe stored an InnerProduct weight of 500×800 as
 * 1×1×500×800 and its bias as 1×1×1×500).
 *
 * A param shared by name with an earlier layer (not its owner) may be
 * absent from a layer's entry, as Caffe's HDF5 writer leaves it out.
 *
 * cf_weights is the file's contents as a list of named layers, the form
 * in which the readers (caffemodel.c, snapshot.c) hand weights over.
 */
#ifndef CF_WEIGHTS_H
#define CF_WEIGHTS_H

#include <stdbool.h>
#include <stddef.h>

#include "net.h"

/* One stored blob.  present is false for a gap in the numbering. */
typedef struct cf_wblob {
    bool present;
    bool legacy;            /* shape came from num/channels/height/width */
    int naxes;
    long long shape[CF_MAX_AXES];
    size_t count;
    const float *data;      /* count floats (owned by the cf_weights) */
} cf_wblob;

typedef struct cf_wlayer {
    char *name;
    int nblobs;
    cf_wblob *blobs;
} cf_wlayer;

typedef struct cf_weights {
    char *path;             /* for messages */
    int nlayers;
    cf_wlayer *layers;
    int nbufs;
    void **bufs;            /* memory the blobs point into */
    void *msg;              /* an unpacked protobuf message the blobs point into */
    void (*free_msg)(void *msg);
} cf_weights;

typedef struct cf_weights_report {
    int loaded;     /* net layers whose params were set from the file */
    int missing;    /* net layers with learnable params the file lacks (kept their init) */
    int ignored;    /* file layers holding weights that the net lacks */
} cf_weights_report;

/* Load weights into net from path (any format above).  Errors name the
 * path: unreadable, neither HDF5 nor a NetParameter, a layer whose blob
 * count or shapes do not fit. */
int cf_net_load_weights(cf_net *net, const char *path, cf_error *err);
/* The same, with a line to `log` for each ignored and each missing layer
 * and the counts in *rep (both may be NULL). */
int cf_net_load_weights_ex(cf_net *net, const char *path, cf_log_fn log, void *log_ctx, cf_weights_report *rep,
                           cf_error *err);

/* ---- for the readers ---- */
cf_weights *cf_weights_new(const char *path);
void cf_weights_free(cf_weights *w);
/* Append a layer with nblobs empty slots; returns it. */
cf_wlayer *cf_weights_add_layer(cf_weights *w, const char *name, int nblobs);
/* Keep buf alive as long as w (freed with it). */
void cf_weights_own(cf_weights *w, void *buf);
/* "1 1 500 800 (400000)", as cf_blob_shape_str writes a blob's. */
const char *cf_wblob_shape_str(const cf_wblob *b, char *buf, size_t n);

/* Check every layer of w against net, then copy.  strict (resuming a
 * snapshot): a net layer with params missing from the file, or a file
 * layer with weights missing from the net, is an error too. */
/* The checks of cf_weights_apply alone: nothing is changed. */
int cf_weights_check(const cf_net *net, const cf_weights *w, bool strict, cf_error *err);
int cf_weights_apply(cf_net *net, const cf_weights *w, bool strict, cf_log_fn log, void *log_ctx,
                     cf_weights_report *rep, cf_error *err);

#endif
