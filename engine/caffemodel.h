/* caffemodel.h — Caffe's binary .caffemodel: a protobuf NetParameter whose
 * layers carry their learned blobs (schema: engine/proto/caffe.proto).
 *
 * Reading accepts the current form (repeated `layer`, field 100, blob
 * shapes in BlobShape) and the pre-2015 form (repeated V1 `layers`, field
 * 2, shapes in the legacy num/channels/height/width); values may be float
 * or double.  Writing produces the current form, as Caffe does today.
 */
#ifndef CF_CAFFEMODEL_H
#define CF_CAFFEMODEL_H

#include "net.h"
#include "weights.h"

/* The layers and blobs of a .caffemodel.  Errors (CF_EINPUT) name the
 * path: unreadable, not a NetParameter, no layers, a blob whose value
 * count disagrees with its shape. */
cf_weights *cf_caffemodel_read(const char *path, cf_error *err);

/* Write `net` as a NetParameter: its name and, for every layer with
 * params, one `layer` holding name, type and the params as BlobProtos
 * with a BlobShape.  Written to a temporary file beside path, flushed,
 * then renamed over it; on failure path is untouched and the error
 * (CF_ERUNTIME) names it. */
int cf_caffemodel_save(const cf_net *net, const char *path, cf_error *err);

#endif
