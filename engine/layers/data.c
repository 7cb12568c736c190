/* data.c — the Data layer: examples from an LMDB of Caffe Datum records
 * (as convert_mnist_data and convert_imageset write them), transformed by
 * transform_param (data_transform.h), served in batches.
 *
 *   data_param: {source: dir, batch_size: N, backend: LMDB, rand_skip: K,
 *                prefetch: P}
 *   tops: data [N, C, H, W] (H = W = crop_size when cropping), and
 *         optionally label [N]
 *
 * The shape comes from the first record; every record must share it.
 * Records are read in key order and wrap around after the last (one pass
 * is an epoch).  rand_skip skips a uniform draw from [0, K) records at
 * setup, as Caffe does so that parallel runs do not start alike.
 *
 * A prefetch thread (prefetch.h) reads, decodes and transforms up to P
 * batches ahead; forward copies the oldest ready batch into the tops, so
 * it waits on the disk only when the thread falls behind.  (A copy, not a
 * pointer swap: a top's memory may be shared with other blobs or bound
 * by a later layer, and a memcpy per batch is cheap beside the net.)
 * prefetch: 0 reads in forward itself.  backend defaults to LMDB
 * (Caffe's default, LEVELDB, is not supported).
 *
 * For resuming, the layer knows the record its next forward begins with
 * and the transform generator's state there (cf_data_layer_position and
 * cf_data_layer_seek in data_layers.h).
 *
 * Sharding (cf_data_layer_shard), for N data-parallel processes with
 * batch B each: the records form one stream, read in key order, cut into
 * global batches of N·B; rank r's k-th batch is the r-th slice of B of
 * the k-th global batch, records (g + (kN + r)·B + i) mod count, i < B,
 * where g is the global position the ranks started from.  So the N
 * batches of one iteration are together exactly the batch of one
 * process with batch N·B (the N·B-batch run and the N-rank run see the
 * same examples, in the same iterations), no two ranks read the same
 * record within an epoch, and the position is the global stream's: the
 * same on every rank, valid for any N.  The reading thread keeps its
 * cursor at g + r·B; after its B records it steps over the other ranks'
 * (N−1)·B.  Rank r > 0 draws its crops and mirrors from its own stream
 * of the transform's generator (the increment moved by 2r), so ranks do
 * not mirror in step; position and seek speak of rank 0's stream.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "data_layers.h"
#include "data_transform.h"
#include "datum.h"
#include "layer.h"
#include "lmdb_source.h"
#include "prefetch.h"

typedef struct data_priv {
    cf_lmdb_source *db;
    cf_transform tf;
    int batch, C, H, W, oh, ow;
    size_t item;            /* floats per transformed example */
    bool has_label;
    int nprefetch;
    cf_prefetch *pf;
    size_t position;        /* global record the next forward begins with */
    cf_rng position_rng;    /* the transform's generator at that point */
    int rank, nranks;       /* shard: this process's slice of each global batch */
    size_t fill_pos;        /* the reading thread's global position */
} data_priv;

static const char *const backends[] = {"LEVELDB", "LMDB", NULL};
enum { B_LEVELDB, B_LMDB };

/* Give an error from below the layer the layer's context and position
 * (at: the config node it concerns, or NULL for the layer). */
static int layer_err(cf_layer *l, const cf_node *at, cf_error *err)
{
    if (!err) return -1;
    char msg[sizeof err->msg];
    int code = err->code;
    strcpy(msg, err->msg);
    cf_layer_error(l, at, err, "%s", msg);
    err->code = code;
    return -1;
}

/* Re-point err at a record: "LMDB 'dir', record 'key': ...". */
static int record_error(data_priv *p, cf_error *err)
{
    const void *k, *v;
    size_t kl, vl;
    if (!err) return -1;
    cf_lmdb_get(p->db, &k, &kl, &v, &vl);
    char msg[sizeof err->msg];
    strcpy(msg, err->msg);
    return cf_error_set(err, CF_EINPUT, "LMDB '%s', record '%.*s': %s", cf_lmdb_path(p->db), (int)kl,
                        (const char *)k, msg);
}

/* Decode the current record and check its shape against the first's. */
static int decode(data_priv *p, cf_datum *d, cf_error *err)
{
    const void *k, *v;
    size_t kl, vl;
    cf_lmdb_get(p->db, &k, &kl, &v, &vl);
    if (cf_datum_decode(v, vl, d, err)) return record_error(p, err);
    if (p->C && (d->channels != p->C || d->height != p->H || d->width != p->W)) {
        cf_error_set(err, CF_EINPUT, "shape %dx%dx%d differs from the first record's %dx%dx%d", d->channels,
                     d->height, d->width, p->C, p->H, p->W);
        cf_datum_release(d);
        return record_error(p, err);
    }
    return 0;
}

/* The producer: runs on the prefetch thread (or in forward when
 * prefetch is 0) and alone touches the cursor and the transform's RNG. */
static int fill(void *ctx, cf_batch *b, cf_error *err)
{
    data_priv *p = ctx;
    b->start = p->fill_pos;
    for (int i = 0; i < p->batch; i++) {
        cf_datum d;
        if (decode(p, &d, err)) return -1;
        cf_transform_datum(&p->tf, &d, b->data + (size_t)i * p->item);
        if (b->label) b->label[i] = (float)d.label;
        cf_datum_release(&d);
        if (cf_lmdb_advance(p->db, err)) return -1;
    }
    /* the other ranks' slices of this global batch */
    for (long i = 0; i < (long)(p->nranks - 1) * p->batch; i++)
        if (cf_lmdb_advance(p->db, err)) return -1;
    p->fill_pos = (p->fill_pos + (size_t)p->nranks * p->batch) % cf_lmdb_count(p->db);
    b->rng_after = p->tf.rng;
    return 0;
}

/* The stream of rank r's transform generator, and back. */
static void to_rank_stream(data_priv *p, cf_rng *r) { r->inc += 2u * (uint64_t)p->rank; }
static void to_base_stream(const data_priv *p, cf_rng *r) { r->inc -= 2u * (uint64_t)p->rank; }

static int start_prefetch(cf_layer *l, data_priv *p, cf_error *err)
{
    p->pf = cf_prefetch_start(p->nprefetch, (size_t)p->batch * p->item, p->has_label ? (size_t)p->batch : 0, fill,
                              p, err);
    return p->pf ? 0 : layer_err(l, NULL, err);
}

static int read_params(cf_layer *l, data_priv *p, cf_node **source_node, const char **source, cf_error *err)
{
    cf_node *dp;
    if (cf_layer_param_map(l, "data_param", &dp, err)) return -1;
    if (!dp) return cf_layer_error(l, NULL, err, "data_param is missing (it needs source and batch_size)");
    long batch, skip, prefetch;
    int backend;
    if (cf_get_string(dp, "source", NULL, source, err) ||
        cf_get_int_range(dp, "batch_size", 0, 1, 1 << 24, &batch, err) ||
        cf_get_enum(dp, "backend", backends, B_LMDB, &backend, err) ||
        cf_get_int_range(dp, "rand_skip", 0, 0, 1L << 31, &skip, err) ||
        cf_get_int_range(dp, "prefetch", 4, 0, 64, &prefetch, err))
        return -1;
    if (!*source) return cf_layer_error(l, dp, err, "data_param: field 'source' is missing");
    if (!cf_node_has(dp, "batch_size")) return cf_layer_error(l, dp, err, "data_param: field 'batch_size' is missing");
    if (backend == B_LEVELDB)
        return cf_layer_error(l, cf_node_get(dp, "backend"), err,
                              "backend LEVELDB is not supported (use an LMDB: backend: LMDB)");
    *source_node = cf_node_get(dp, "source");
    p->batch = (int)batch;
    p->nprefetch = (int)prefetch;
    /* Caffe skips a uniform draw in [0, rand_skip). */
    if (skip > 0) p->position = l->rng ? cf_rng_below(l->rng, (uint32_t)skip) : 0;
    return 0;
}

static int data_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    data_priv *p = calloc(1, sizeof *p);
    if (!p) abort();
    l->priv = p;
    p->has_label = nt > 1;
    p->nranks = 1;
    cf_node *source_node = NULL;
    const char *source = NULL;
    if (read_params(l, p, &source_node, &source, err) || cf_transform_init(&p->tf, l, err)) return -1;
    if (!(p->db = cf_lmdb_open(source, err))) return layer_err(l, source_node, err);
    if (p->position && cf_lmdb_seek(p->db, p->position, err)) return layer_err(l, source_node, err);
    p->position = p->fill_pos = cf_lmdb_index(p->db);
    p->position_rng = p->tf.rng;
    cf_datum d;
    if (decode(p, &d, err)) return layer_err(l, source_node, err);
    p->C = d.channels;
    p->H = d.height;
    p->W = d.width;
    cf_datum_release(&d);
    if (cf_transform_check(&p->tf, p->C, p->H, p->W, &p->oh, &p->ow, err)) return -1;
    p->item = (size_t)p->C * p->oh * p->ow;
    return start_prefetch(l, p, err);
}

static int data_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    data_priv *p = l->priv;
    if (cf_blob_reshape4(top[0], p->batch, p->C, p->oh, p->ow, err)) return -1;
    if (nt > 1 && cf_blob_reshape(top[1], 1, &p->batch, err)) return -1;
    return 0;
}

static int data_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    data_priv *p = l->priv;
    if (!p->pf) return cf_layer_error(l, NULL, err, "no data source (a previous seek failed)");
    cf_batch *b = cf_prefetch_take(p->pf, err);
    if (!b) return layer_err(l, NULL, err);
    memcpy(cf_blob_mdata(top[0]), b->data, (size_t)p->batch * p->item * sizeof(float));
    if (nt > 1) memcpy(cf_blob_mdata(top[1]), b->label, (size_t)p->batch * sizeof(float));
    p->position = (b->start + (size_t)p->nranks * p->batch) % cf_lmdb_count(p->db);
    p->position_rng = b->rng_after;
    to_base_stream(p, &p->position_rng);
    cf_prefetch_give(p->pf, b);
    return 0;
}

static void data_destroy(cf_layer *l)
{
    data_priv *p = l->priv;
    if (!p) return;
    cf_prefetch_stop(p->pf); /* first: the thread uses the cursor and the transform */
    cf_lmdb_close(p->db);
    cf_transform_free(&p->tf);
    free(p);
}

/* The snapshot's view of the position: record, generator state, inc. */
static size_t data_position(const cf_layer *l, uint64_t *v)
{
    if (v) {
        cf_rng rng;
        v[0] = cf_data_layer_position(l, &rng);
        v[1] = rng.state;
        v[2] = rng.inc;
    }
    return 3;
}

static int data_seek(cf_layer *l, const uint64_t *v, cf_error *err)
{
    cf_rng rng = {.state = v[1], .inc = v[2]};
    return cf_data_layer_seek(l, (size_t)v[0], &rng, err);
}

const cf_layer_ops cf_layer_Data = {
    .type = "Data",
    .min_bottom = 0, .max_bottom = 0,
    .min_top = 1, .max_top = 2,
    .setup = data_setup,
    .reshape = data_reshape,
    .forward = data_forward,
    .destroy = data_destroy,
    .position = data_position,
    .seek = data_seek,
    .shard = cf_data_layer_shard,
};

size_t cf_data_layer_position(const cf_layer *l, cf_rng *rng)
{
    assert(l->ops == &cf_layer_Data && l->priv);
    const data_priv *p = l->priv;
    if (rng) *rng = p->position_rng;
    return p->position;
}

int cf_data_layer_seek(cf_layer *l, size_t index, const cf_rng *rng, cf_error *err)
{
    assert(l->ops == &cf_layer_Data && l->priv);
    data_priv *p = l->priv;
    cf_prefetch_stop(p->pf); /* the thread is gone: cursor and generator are ours */
    p->pf = NULL;
    size_t count = cf_lmdb_count(p->db);
    index %= count;
    if (cf_lmdb_seek(p->db, index + (size_t)p->rank * p->batch % count, err)) return layer_err(l, NULL, err);
    if (rng) {
        p->tf.rng = *rng;
        to_rank_stream(p, &p->tf.rng);
    }
    p->position = p->fill_pos = index;
    p->position_rng = p->tf.rng;
    to_base_stream(p, &p->position_rng);
    return start_prefetch(l, p, err);
}

int cf_data_layer_shard(cf_layer *l, int rank, int nranks, cf_error *err)
{
    assert(l->ops == &cf_layer_Data && l->priv);
    data_priv *p = l->priv;
    if (nranks < 1 || rank < 0 || rank >= nranks)
        return cf_layer_error(l, NULL, err, "shard %d of %d: no such shard", rank, nranks);
    cf_rng base = p->position_rng;
    p->rank = rank;
    p->nranks = nranks;
    return cf_data_layer_seek(l, p->position, &base, err);
}
