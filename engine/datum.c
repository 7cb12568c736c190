/* datum.c — Datum records (see datum.h). */
#include "datum.h"

#include <stdlib.h>

#include "proto/caffe.pb-c.h"

int cf_datum_decode(const void *buf, size_t len, cf_datum *d, cf_error *err)
{
    *d = (cf_datum){0};
    Caffe__Datum *m = caffe__datum__unpack(NULL, len, buf);
    if (!m) return cf_error_set(err, CF_EINPUT, "record is not a Caffe Datum (protobuf parse failed)");
    if (m->has_encoded && m->encoded) {
        caffe__datum__free_unpacked(m, NULL);
        return cf_error_set(err, CF_EINPUT,
                            "encoded Datum not supported (JPEG/PNG images must be stored as raw pixels)");
    }
    long c = m->channels, h = m->height, w = m->width;
    if (c <= 0 || h <= 0 || w <= 0) {
        caffe__datum__free_unpacked(m, NULL);
        return cf_error_set(err, CF_EINPUT, "Datum has a bad shape %ldx%ldx%ld", c, h, w);
    }
    size_t want = (size_t)c * (size_t)h * (size_t)w;
    /* Caffe reads the bytes when there are any, else the floats. */
    size_t have = m->has_data && m->data.len ? m->data.len : m->n_float_data;
    if (have != want) {
        caffe__datum__free_unpacked(m, NULL);
        return cf_error_set(err, CF_EINPUT, "Datum %ldx%ldx%ld should hold %zu values but holds %zu", c, h, w,
                            want, have);
    }
    d->channels = (int)c;
    d->height = (int)h;
    d->width = (int)w;
    d->label = m->label;
    if (m->has_data && m->data.len) d->bytes = m->data.data;
    else d->floats = m->float_data;
    d->msg = m;
    return 0;
}

void cf_datum_release(cf_datum *d)
{
    if (d->msg) caffe__datum__free_unpacked(d->msg, NULL);
    *d = (cf_datum){0};
}

uint8_t *cf_datum_encode(const cf_datum *d, size_t *len)
{
    Caffe__Datum m = CAFFE__DATUM__INIT;
    size_t n = (size_t)d->channels * (size_t)d->height * (size_t)d->width;
    m.has_channels = m.has_height = m.has_width = m.has_label = 1;
    m.channels = d->channels;
    m.height = d->height;
    m.width = d->width;
    m.label = d->label;
    if (d->bytes) {
        m.has_data = 1;
        m.data.len = n;
        m.data.data = (uint8_t *)d->bytes;
    } else {
        m.n_float_data = n;
        m.float_data = (float *)d->floats;
    }
    size_t sz = caffe__datum__get_packed_size(&m);
    uint8_t *out = malloc(sz ? sz : 1);
    if (!out) return NULL;
    *len = caffe__datum__pack(&m, out);
    return out;
}
