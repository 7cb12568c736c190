/* idx.c — IDX reader (see idx.h). */
#include "idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Read up to n bytes; returns the count read, or -1 on a gzip error
 * (a damaged or cut-off .gz stream). */
static long read_some(gzFile f, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? 1u << 30 : (unsigned)(n - got);
        int r = gzread(f, (char *)buf + got, chunk);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long)got;
}

static int gz_fail(gzFile f, const char *path, cf_error *err)
{
    int zerr;
    const char *msg = gzerror(f, &zerr);
    return cf_error_set(err, CF_EINPUT, "IDX file '%s' is damaged: %s", path, zerr == Z_ERRNO ? strerror(errno) : msg);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char *kind(int magic) { return magic == CF_IDX_IMAGES ? "images" : "labels"; }

/* "200 images of 28x28" / "200 labels" */
static void describe(const cf_idx *x, char *buf, size_t n)
{
    if (x->ndims == 3) snprintf(buf, n, "%d images of %dx%d", x->dims[0], x->dims[1], x->dims[2]);
    else snprintf(buf, n, "%d labels", x->dims[0]);
}

static int read_header(gzFile f, const char *path, int magic, cf_idx *x, cf_error *err)
{
    uint8_t h[16];
    int ndims = magic == CF_IDX_IMAGES ? 3 : 1;
    size_t hlen = 4 + 4 * (size_t)ndims;
    long r = read_some(f, h, 4);
    if (r < 0) return gz_fail(f, path, err);
    if (r < 4) return cf_error_set(err, CF_EINPUT, "IDX file '%s' is truncated: no header", path);
    uint32_t m = be32(h);
    if (m != (uint32_t)magic) {
        if (m == CF_IDX_IMAGES || m == CF_IDX_LABELS)
            return cf_error_set(err, CF_EINPUT, "IDX file '%s' holds %s (magic %u), expected %s (magic %d)", path,
                                kind((int)m), m, kind(magic), magic);
        return cf_error_set(err, CF_EINPUT, "IDX file '%s': bad magic number 0x%08x, expected %d (%s)", path, m,
                            magic, kind(magic));
    }
    r = read_some(f, h + 4, hlen - 4);
    if (r < 0) return gz_fail(f, path, err);
    if ((size_t)r < hlen - 4) return cf_error_set(err, CF_EINPUT, "IDX file '%s' is truncated: header incomplete", path);
    x->magic = magic;
    x->ndims = ndims;
    x->item_size = 1;
    for (int i = 0; i < ndims; i++) {
        uint32_t d = be32(h + 4 + 4 * i);
        if (d > 0x7fffffffu || (i > 0 && (d == 0 || d > 65535)))
            return cf_error_set(err, CF_EINPUT, "IDX file '%s': dimension %d has a bad size %u", path, i, d);
        x->dims[i] = (int)d;
        if (i > 0) x->item_size *= d;
    }
    return 0;
}

/* The body is read in growing steps rather than allocated from the
 * header's claim at once, so a damaged header cannot ask for terabytes. */
static int read_body(gzFile f, const char *path, cf_idx *x, cf_error *err)
{
    size_t want = (size_t)x->dims[0] * x->item_size, have = 0, cap = 0;
    while (have < want) {
        size_t step = want - have < ((size_t)64 << 20) ? want - have : (size_t)64 << 20;
        if (have + step > cap) {
            cap = have + step;
            uint8_t *p = realloc(x->data, cap);
            if (!p) return cf_error_set(err, CF_ERUNTIME, "IDX file '%s': out of memory", path);
            x->data = p;
        }
        long r = read_some(f, x->data + have, step);
        if (r < 0) return gz_fail(f, path, err);
        have += (size_t)r;
        if ((size_t)r < step) {
            char what[128];
            describe(x, what, sizeof what);
            return cf_error_set(err, CF_EINPUT,
                                "IDX file '%s' is truncated: header says %s (%zu bytes) but only %zu bytes follow",
                                path, what, want, have);
        }
    }
    return 0;
}

int cf_idx_read(const char *path, int magic, cf_idx *x, cf_error *err)
{
    *x = (cf_idx){0};
    gzFile f = gzopen(path, "rb");
    if (!f) return cf_error_set(err, CF_EINPUT, "cannot open IDX file '%s': %s", path, strerror(errno));
    int rc = read_header(f, path, magic, x, err);
    if (!rc) rc = read_body(f, path, x, err);
    gzclose(f);
    if (rc) cf_idx_free(x);
    return rc;
}

void cf_idx_free(cf_idx *x)
{
    free(x->data);
    *x = (cf_idx){0};
}
