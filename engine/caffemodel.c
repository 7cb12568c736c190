/* caffemodel.c — binary .caffemodel read and written with protobuf-c (see
 * caffemodel.h).  The blobs read stay inside the unpacked message, which
 * the cf_weights keeps; only double-valued blobs are converted. */
#include "caffemodel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "proto/caffe.pb-c.h"

static void free_msg(void *m) { caffe__net_parameter__free_unpacked(m, NULL); }

/* The whole file in memory (the message points into nothing of it once
 * unpacked, so the caller frees it right after). */
static uint8_t *slurp(const char *path, size_t *len, cf_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cf_error_set(err, CF_EINPUT, "cannot open weights '%s': %s", path, strerror(errno)), NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            uint8_t *b = realloc(buf, cap);
            if (!b) abort();
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return cf_error_set(err, CF_EINPUT, "cannot read weights '%s': read error", path), NULL;
    }
    *len = n;
    return buf;
}

static int blob_error(cf_weights *w, const char *layer, cf_error *err)
{
    cf_error_at(err, w->path, 0, 0);
    return cf_error_ctx(err, "layer '%s'", layer);
}

/* One BlobProto into slot b: its shape (BlobShape, else the legacy four
 * dimensions, as Caffe's Blob::FromProto reads it) and its values. */
static int read_blob(cf_weights *w, const char *layer, int j, const Caffe__BlobProto *p, cf_wblob *b, cf_error *err)
{
    b->present = true;
    if (p->shape) {
        if (p->shape->n_dim > CF_MAX_AXES) {
            cf_error_set(err, CF_EINPUT, "blob %d has %zu axes (at most %d)", j, p->shape->n_dim, CF_MAX_AXES);
            return blob_error(w, layer, err);
        }
        b->naxes = (int)p->shape->n_dim;
        for (int i = 0; i < b->naxes; i++) b->shape[i] = p->shape->dim[i];
    } else if (p->has_num || p->has_channels || p->has_height || p->has_width) {
        b->legacy = true;
        b->naxes = 4;
        b->shape[0] = p->num;
        b->shape[1] = p->channels;
        b->shape[2] = p->height;
        b->shape[3] = p->width;
    }
    unsigned long long count = 1;
    for (int i = 0; i < b->naxes; i++) {
        if (b->shape[i] < 0 || (b->shape[i] && count > CF_MAX_COUNT / (unsigned long long)b->shape[i])) {
            char s[256];
            cf_error_set(err, CF_EINPUT, "blob %d has a bad shape %s", j, cf_wblob_shape_str(b, s, sizeof s));
            return blob_error(w, layer, err);
        }
        count *= (unsigned long long)b->shape[i];
    }
    b->count = (size_t)count;
    if (p->n_data == b->count) {
        b->data = p->data;
    } else if (p->n_double_data == b->count && b->count) {
        float *f = malloc(b->count * sizeof *f);
        if (!f) abort();
        for (size_t i = 0; i < b->count; i++) f[i] = (float)p->double_data[i];
        cf_weights_own(w, f);
        b->data = f;
    } else {
        char s[256];
        cf_error_set(err, CF_EINPUT, "blob %d holds %zu values but its shape %s needs %zu", j,
                     p->n_data ? p->n_data : p->n_double_data, cf_wblob_shape_str(b, s, sizeof s), b->count);
        return blob_error(w, layer, err);
    }
    return 0;
}

static int read_layer(cf_weights *w, const char *name, size_t nblobs, Caffe__BlobProto **blobs, cf_error *err)
{
    cf_wlayer *l = cf_weights_add_layer(w, name ? name : "", (int)nblobs);
    for (size_t j = 0; j < nblobs; j++)
        if (read_blob(w, l->name, (int)j, blobs[j], &l->blobs[j], err)) return -1;
    return 0;
}

cf_weights *cf_caffemodel_read(const char *path, cf_error *err)
{
    size_t len;
    uint8_t *buf = slurp(path, &len, err);
    if (!buf) return NULL;
    Caffe__NetParameter *m = caffe__net_parameter__unpack(NULL, len, buf);
    free(buf);
    if (!m) {
        cf_error_set(err, CF_EINPUT, "not a Caffe model (neither HDF5 nor a protobuf NetParameter)");
        cf_error_at(err, path, 0, 0);
        return NULL;
    }
    cf_weights *w = cf_weights_new(path);
    w->msg = m;
    w->free_msg = free_msg;
    if (m->n_layer == 0 && m->n_layers == 0) {
        cf_error_set(err, CF_EINPUT, "not a Caffe model (a NetParameter with no layers)");
        cf_error_at(err, path, 0, 0);
        goto fail;
    }
    for (size_t i = 0; i < m->n_layer; i++)
        if (read_layer(w, m->layer[i]->name, m->layer[i]->n_blobs, m->layer[i]->blobs, err)) goto fail;
    for (size_t i = 0; i < m->n_layers; i++)
        if (read_layer(w, m->layers[i]->name, m->layers[i]->n_blobs, m->layers[i]->blobs, err)) goto fail;
    return w;
fail:
    cf_weights_free(w);
    return NULL;
}

/* ---- writing ---- */

int cf_caffemodel_save(const cf_net *net, const char *path, cf_error *err)
{
    int n = 0;
    for (int i = 0; i < net->nlayers; i++) n += net->layers[i].layer->nparam > 0;
    Caffe__LayerParameter *lp = calloc((size_t)n + 1, sizeof *lp), **lpp = calloc((size_t)n + 1, sizeof *lpp);
    int nblob = 0;
    for (int i = 0; i < net->nlayers; i++) nblob += net->layers[i].layer->nparam;
    Caffe__BlobProto *bp = calloc((size_t)nblob + 1, sizeof *bp), **bpp = calloc((size_t)nblob + 1, sizeof *bpp);
    Caffe__BlobShape *sh = calloc((size_t)nblob + 1, sizeof *sh);
    int64_t *dims = calloc((size_t)nblob * CF_MAX_AXES + 1, sizeof *dims);
    if (!lp || !lpp || !bp || !bpp || !sh || !dims) abort();

    Caffe__NetParameter m = CAFFE__NET_PARAMETER__INIT;
    m.name = net->name;
    m.n_layer = (size_t)n;
    m.layer = lpp;
    int k = 0, b = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const cf_layer *l = net->layers[i].layer;
        if (l->nparam == 0) continue;
        caffe__layer_parameter__init(&lp[k]);
        lp[k].name = l->name;
        lp[k].type = (char *)l->ops->type;
        lp[k].n_blobs = (size_t)l->nparam;
        lp[k].blobs = &bpp[b];
        for (int j = 0; j < l->nparam; j++, b++) {
            const cf_blob *p = l->param[j];
            caffe__blob_shape__init(&sh[b]);
            sh[b].n_dim = (size_t)p->naxes;
            sh[b].dim = &dims[(size_t)b * CF_MAX_AXES];
            for (int a = 0; a < p->naxes; a++) sh[b].dim[a] = p->shape[a];
            caffe__blob_proto__init(&bp[b]);
            bp[b].shape = &sh[b];
            bp[b].n_data = p->count;
            bp[b].data = (float *)cf_blob_data(p); /* read only: pack does not write it */
            bpp[b] = &bp[b];
        }
        lpp[k] = &lp[k];
        k++;
    }
    size_t len = caffe__net_parameter__get_packed_size(&m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) abort();
    caffe__net_parameter__pack(&m, buf);
    int rc = cf_write_file_atomic(path, buf, len, err);
    free(buf);
    free(lp);
    free(lpp);
    free(bp);
    free(bpp);
    free(sh);
    free(dims);
    return rc;
}
