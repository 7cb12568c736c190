/* datum.h — Caffe's Datum record (one example in an LMDB), decoded and
 * encoded with protobuf-c so that our bytes are Caffe's bytes.
 *
 * A Datum holds a C×H×W image either as raw bytes (`data`, uint8) or as
 * floats (`float_data`), plus an integer label.  Compressed images
 * (`encoded: true`, JPEG/PNG) are refused with a clear error: we do not
 * link an image decoder.
 *
 * A decoded cf_datum points into its protobuf message, so it stays valid
 * until cf_datum_release(); the input buffer may go away after decoding.
 */
#ifndef CF_DATUM_H
#define CF_DATUM_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct cf_datum {
    int channels, height, width;
    int label;
    const uint8_t *bytes;   /* raw pixels, C*H*W of them, or NULL */
    const float *floats;    /* float_data, C*H*W of them, or NULL */
    void *msg;              /* the unpacked message (owner), NULL when built by hand */
} cf_datum;

/* Parse a serialized Datum and check that it holds exactly C*H*W values.
 * Errors (CF_EINPUT): not a Datum, "encoded Datum not supported ...",
 * no pixels, size mismatch. */
int cf_datum_decode(const void *buf, size_t len, cf_datum *d, cf_error *err);
void cf_datum_release(cf_datum *d);

/* Element i (in C,H,W order) as a float. */
static inline float cf_datum_at(const cf_datum *d, size_t i)
{
    return d->bytes ? (float)d->bytes[i] : d->floats[i];
}

/* Serialize d (fields channels, height, width, data or float_data, label,
 * in Caffe's field order).  Returns a malloc'd buffer and its length in
 * *len, or NULL when out of memory. */
uint8_t *cf_datum_encode(const cf_datum *d, size_t *len);

#endif
