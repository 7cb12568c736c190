/* mean_file.c — .binaryproto mean images (see mean_file.h). */
#include "mean_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "datum.h"
#include "lmdb_source.h"
#include "proto/caffe.pb-c.h"

/* Mean files are small (one image); anything past this is not one. */
#define MAX_MEAN_BYTES ((long)1 << 30)

static uint8_t *slurp(const char *path, size_t *len, cf_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cf_error_set(err, CF_EINPUT, "cannot open mean file '%s': %s", path, strerror(errno));
        return NULL;
    }
    long size = -1;
    if (!fseek(f, 0, SEEK_END)) size = ftell(f);
    if (size < 0 || size > MAX_MEAN_BYTES || fseek(f, 0, SEEK_SET)) {
        fclose(f);
        cf_error_set(err, CF_EINPUT, "mean file '%s': cannot read it (not a regular file, or too large)", path);
        return NULL;
    }
    uint8_t *buf = malloc((size_t)size + 1);
    if (!buf) abort();
    *len = fread(buf, 1, (size_t)size, f);
    int bad = ferror(f) || *len != (size_t)size;
    fclose(f);
    if (bad) {
        free(buf);
        cf_error_set(err, CF_EINPUT, "mean file '%s': read error", path);
        return NULL;
    }
    return buf;
}

/* C, H, W from `shape` when present, else from the legacy fields. */
static int blob_dims(const Caffe__BlobProto *b, const char *path, int *c, int *h, int *w, cf_error *err)
{
    long d[4] = {1, 1, 1, 1};
    if (b->shape) {
        size_t n = b->shape->n_dim;
        if (n < 3 || n > 4)
            return cf_error_set(err, CF_EINPUT, "mean file '%s': shape has %zu axes, expected C×H×W or 1×C×H×W", path,
                                n);
        for (size_t i = 0; i < n; i++) d[4 - n + i] = (long)b->shape->dim[i];
    } else {
        if (b->has_num) d[0] = b->num;
        if (b->has_channels) d[1] = b->channels;
        if (b->has_height) d[2] = b->height;
        if (b->has_width) d[3] = b->width;
    }
    if (d[0] != 1)
        return cf_error_set(err, CF_EINPUT, "mean file '%s' holds %ld images, expected one", path, d[0]);
    for (int i = 1; i < 4; i++)
        if (d[i] <= 0 || d[i] > 1 << 20)
            return cf_error_set(err, CF_EINPUT, "mean file '%s': bad shape %ldx%ldx%ld", path, d[1], d[2], d[3]);
    *c = (int)d[1];
    *h = (int)d[2];
    *w = (int)d[3];
    return 0;
}

int cf_mean_load(const char *path, cf_mean *m, cf_error *err)
{
    *m = (cf_mean){0};
    size_t len;
    uint8_t *buf = slurp(path, &len, err);
    if (!buf) return -1;
    Caffe__BlobProto *b = caffe__blob_proto__unpack(NULL, len, buf);
    free(buf);
    if (!b) return cf_error_set(err, CF_EINPUT, "mean file '%s' is not a BlobProto (.binaryproto)", path);
    int c = 0, h = 0, w = 0, rc = blob_dims(b, path, &c, &h, &w, err);
    size_t count = (size_t)c * (size_t)h * (size_t)w;
    size_t have = b->n_data ? b->n_data : b->n_double_data;
    if (!rc && have != count)
        rc = cf_error_set(err, CF_EINPUT, "mean file '%s': shape %dx%dx%d needs %zu values but it holds %zu", path, c,
                          h, w, count, have);
    if (!rc) {
        m->channels = c;
        m->height = h;
        m->width = w;
        m->data = malloc(count * sizeof *m->data);
        if (!m->data) abort();
        for (size_t i = 0; i < count; i++) m->data[i] = b->n_data ? b->data[i] : (float)b->double_data[i];
    }
    caffe__blob_proto__free_unpacked(b, NULL);
    return rc;
}

int cf_mean_save(const char *path, const cf_mean *m, cf_error *err)
{
    Caffe__BlobProto b = CAFFE__BLOB_PROTO__INIT;
    b.has_num = b.has_channels = b.has_height = b.has_width = 1;
    b.num = 1;
    b.channels = m->channels;
    b.height = m->height;
    b.width = m->width;
    b.n_data = (size_t)m->channels * (size_t)m->height * (size_t)m->width;
    b.data = m->data;
    size_t len = caffe__blob_proto__get_packed_size(&b);
    uint8_t *buf = malloc(len);
    if (!buf) abort();
    caffe__blob_proto__pack(&b, buf);
    int rc = cf_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}

void cf_mean_free(cf_mean *m)
{
    free(m->data);
    *m = (cf_mean){0};
}

static int record_error(cf_lmdb_source *db, cf_error *err)
{
    const void *k, *v;
    size_t kl, vl;
    if (!err) return -1;
    cf_lmdb_get(db, &k, &kl, &v, &vl);
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return cf_error_set(err, CF_EINPUT, "LMDB '%s', record '%.*s': %s", cf_lmdb_path(db), (int)kl, (const char *)k,
                        msg);
}

int cf_compute_mean_blob(const char *lmdb_dir, cf_mean *m, cf_error *err)
{
    *m = (cf_mean){0};
    cf_lmdb_source *db = cf_lmdb_open(lmdb_dir, err);
    if (!db) return -1;
    size_t n = cf_lmdb_count(db), count = 0;
    float *sum = NULL;
    int rc = 0;
    for (size_t r = 0; r < n && !rc; r++) {
        const void *k, *v;
        size_t kl, vl;
        cf_datum d;
        cf_lmdb_get(db, &k, &kl, &v, &vl);
        if (cf_datum_decode(v, vl, &d, err)) {
            rc = record_error(db, err);
            break;
        }
        if (!sum) {
            m->channels = d.channels;
            m->height = d.height;
            m->width = d.width;
            count = (size_t)d.channels * d.height * d.width;
            sum = calloc(count, sizeof *sum);
            if (!sum) abort();
        } else if (d.channels != m->channels || d.height != m->height || d.width != m->width) {
            cf_error_set(err, CF_EINPUT, "shape %dx%dx%d differs from the first record's %dx%dx%d", d.channels,
                         d.height, d.width, m->channels, m->height, m->width);
            rc = record_error(db, err);
        }
        /* float32 accumulation, one element at a time, as Caffe does: the
         * result is then bitwise Caffe's for the same records. */
        for (size_t i = 0; !rc && i < count; i++) sum[i] += cf_datum_at(&d, i);
        cf_datum_release(&d);
        if (!rc && r + 1 < n) rc = cf_lmdb_advance(db, err);
    }
    cf_lmdb_close(db);
    if (rc) {
        free(sum);
        *m = (cf_mean){0};
        return -1;
    }
    float fn = (float)n;
    for (size_t i = 0; i < count; i++) sum[i] = sum[i] / fn;
    m->data = sum;
    return 0;
}

int cf_compute_mean(const char *lmdb_dir, const char *out_path, cf_error *err)
{
    cf_mean m;
    if (cf_compute_mean_blob(lmdb_dir, &m, err)) return -1;
    int rc = cf_mean_save(out_path, &m, err);
    cf_mean_free(&m);
    return rc;
}
