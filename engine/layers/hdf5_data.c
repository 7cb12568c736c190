/* hdf5_data.c — the HDF5Data layer: examples from HDF5 files named in a
 * list file, as Caffe's (and Mocha's) HDF5Data.
 *
 *   hdf5_data_param: {source: list.txt, batch_size: N, shuffle: false}
 *   tops: one per dataset, named as the dataset (e.g. data, label); top i
 *         has shape [N, dims[1:]...] of its dataset
 *
 * The list holds one .h5 path per line, relative to the list file's
 * directory (or, failing that, to the working directory as Caffe reads
 * it), or absolute.  In each file every dataset's first axis indexes the
 * examples, and all of a file's datasets have the same number of rows.
 * Values of any integer or floating type are read as float32 (HDF5
 * converts).  A file is loaded whole when its turn comes; rows are served
 * in order and files in list order, cycling.  With shuffle in TRAIN, the
 * file order is shuffled at setup and after each pass over the list, and
 * the rows each time a file is loaded (or, with one file, at each pass).
 *
 * Sharded over N processes (ops->shard), rank r of batch B takes rows
 * [r·B, r·B + B) of each global batch of N·B rows of the stream above and
 * steps over the other ranks' rows, so the cursor, the files loaded and
 * the shuffles are the same on every rank, and its position is the
 * global stream's.
 *
 * Position (for snapshots): the file order, the file being served, its
 * next row, and the layer's generator both now and as it was before the
 * current file's rows were shuffled.  A row order is always a shuffle of
 * 0..rows-1 in order, so that earlier state draws it again on a resume
 * (the file is reloaded) without the snapshot holding one value per row.
 */
#include <errno.h>
#include <hdf5.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5_check.h"
#include "layer.h"

typedef struct h5_top {
    char *name;             /* dataset name = top name */
    float *buf;             /* the current file's rows */
    size_t row;             /* floats per row */
    int naxes;              /* of the top: 1 + the dataset's trailing axes */
    int shape[CF_MAX_AXES]; /* shape[0] is the batch size */
} h5_top;

typedef struct hdf5_priv {
    char **files;
    int nfiles;
    int *file_order;
    bool *probed;           /* file i was read by cf_h5_guarded's child */
    int cur_file;           /* index into file_order */
    int ntop;
    h5_top *t;
    size_t rows, cur_row;
    size_t *row_order;
    int batch;
    int rank, nranks;       /* sharding; 0 of 1 when alone */
    bool shuffle;
    cf_rng rng;
    cf_rng row_rng;         /* rng before the current row order was drawn */
    bool shape_known;       /* set by the first file loaded */
} hdf5_priv;

static void shuffle_ints(cf_rng *r, int *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = cf_rng_below(r, (uint32_t)i);
        int t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static void shuffle_sizes(cf_rng *r, size_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = cf_rng_below(r, (uint32_t)i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* ---- the list file ---- */

static char *resolve(const char *list, const char *entry)
{
    if (entry[0] == '/') return strdup(entry);
    char *copy = strdup(list);
    if (!copy) abort();
    const char *dir = dirname(copy);
    size_t n = strlen(dir) + strlen(entry) + 2;
    char *path = malloc(n);
    if (!path) abort();
    snprintf(path, n, "%s/%s", dir, entry);
    free(copy);
    if (access(path, F_OK) && !access(entry, F_OK)) { /* Caffe's reading: relative to the working directory */
        free(path);
        return strdup(entry);
    }
    return path;
}

static int read_list(cf_layer *l, hdf5_priv *p, const char *list, const cf_node *at, cf_error *err)
{
    FILE *f = fopen(list, "r");
    if (!f) return cf_layer_error(l, at, err, "cannot open HDF5 list file '%s': %s", list, strerror(errno));
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *s = line, *e = line + strlen(line);
        while (*s == ' ' || *s == '\t') s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
        if (!*s) continue;
        char **files = realloc(p->files, (size_t)(p->nfiles + 1) * sizeof *files);
        if (!files) abort();
        p->files = files;
        p->files[p->nfiles++] = resolve(list, s);
    }
    fclose(f);
    if (!p->nfiles) return cf_layer_error(l, at, err, "HDF5 list file '%s' names no files", list);
    for (int i = 0; i < p->nfiles; i++)
        if (access(p->files[i], R_OK))
            return cf_layer_error(l, at, err, "cannot open HDF5 file '%s' (listed in '%s'): %s", p->files[i], list,
                                  strerror(errno));
    return 0;
}

/* The rows of the loaded file in serving order: 0..rows-1, shuffled
 * from that order (not from the last one) so that row_rng alone says it. */
static void draw_row_order(hdf5_priv *p)
{
    for (size_t r = 0; r < p->rows; r++) p->row_order[r] = r;
    p->row_rng = p->rng;
    if (p->shuffle) shuffle_sizes(&p->rng, p->row_order, p->rows);
}

/* ---- loading a file ---- */

/* Read dataset t->name of f into t->buf; *rows = its first dimension.
 * The first file fixes each top's row shape; later files must match. */
static int read_dataset(cf_layer *l, hdf5_priv *p, hid_t f, const char *path, h5_top *t, size_t *rows,
                        cf_error *err)
{
    if (H5Lexists(f, t->name, H5P_DEFAULT) <= 0)
        return cf_layer_error(l, NULL, err, "HDF5 file '%s' has no dataset '%s'", path, t->name);
    hid_t ds = H5Dopen2(f, t->name, H5P_DEFAULT);
    if (ds < 0) return cf_layer_error(l, NULL, err, "HDF5 file '%s': cannot open dataset '%s'", path, t->name);
    hid_t type = H5Dget_type(ds), space = H5Dget_space(ds);
    H5T_class_t cls = H5Tget_class(type);
    int nd = H5Sget_simple_extent_ndims(space);
    hsize_t dims[H5S_MAX_RANK];
    int rc = 0;
    if (cls != H5T_FLOAT && cls != H5T_INTEGER)
        rc = cf_layer_error(l, NULL, err, "dataset '%s' in '%s' is not numeric", t->name, path);
    else if (nd < 1 || nd > CF_MAX_AXES)
        rc = cf_layer_error(l, NULL, err, "dataset '%s' in '%s' has %d axes (expected 1 to %d, the first indexing examples)",
                            t->name, path, nd, CF_MAX_AXES);
    if (!rc) {
        H5Sget_simple_extent_dims(space, dims, NULL);
        size_t row = 1;
        bool big = false;
        for (int i = 1; i < nd; i++) {
            big |= dims[i] > CF_MAX_COUNT || (dims[i] && row > CF_MAX_COUNT / dims[i]);
            if (!big) row *= dims[i];
        }
        if (big)
            rc = cf_layer_error(l, NULL, err, "dataset '%s' in '%s' is too large for a blob (over %lu elements a row)",
                                t->name, path, CF_MAX_COUNT);
        else if (!dims[0] || !row)
            rc = cf_layer_error(l, NULL, err, "dataset '%s' in '%s' is empty", t->name, path);
        else if (p->shape_known && (nd != t->naxes || row != t->row))
            rc = cf_layer_error(l, NULL, err, "dataset '%s' in '%s' has rows of another shape than in '%s'", t->name,
                                path, p->files[p->file_order[0]]);
        else if (dims[0] > CF_MAX_COUNT / row)
            rc = cf_layer_error(l, NULL, err, "dataset '%s' in '%s' is too large", t->name, path);
        if (!rc) {
            t->naxes = nd;
            t->row = row;
            for (int i = 1; i < nd; i++) t->shape[i] = (int)dims[i];
            *rows = dims[0];
        }
    }
    const char *why = rc ? NULL : cf_h5_unreadable(ds);
    if (why) rc = cf_layer_error(l, NULL, err, "dataset '%s' in '%s' cannot be read: %s", t->name, path, why);
    char what[300];
    snprintf(what, sizeof what, "dataset '%s' in '%s'", t->name, path);
    cf_error e;
    if (!rc && cf_mem_check(dims[0] * t->row * sizeof(float), what, &e)) rc = cf_layer_error(l, NULL, err, "%s", e.msg);
    if (!rc) {
        float *buf = realloc(t->buf, dims[0] * t->row * sizeof *buf);
        if (!buf) {
            rc = cf_layer_error(l, NULL, err, "%s: out of memory", what);
            goto done;
        }
        t->buf = buf;
        if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            rc = cf_layer_error(l, NULL, err, "cannot read dataset '%s' in '%s'", t->name, path);
    }
done:
    H5Sclose(space);
    H5Tclose(type);
    H5Dclose(ds);
    return rc;
}

static int load_file(cf_layer *l, hdf5_priv *p, int which, cf_error *err)
{
    const char *path = p->files[which];
    if (!p->probed[which]) { /* a file that makes libhdf5 crash is an error, not a crash */
        cf_error e;
        if (cf_h5_guarded(path, NULL, NULL, &e)) {
            p->rows = 0;
            return cf_layer_error(l, NULL, err, "'%s': %s", path, e.msg);
        }
        p->probed[which] = true;
    }
    /* HDF5 prints its error stack by default; we report our own message. */
    H5E_auto2_t efunc;
    void *edata;
    H5Eget_auto2(H5E_DEFAULT, &efunc, &edata);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = 0;
    hid_t f = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (f < 0) rc = cf_layer_error(l, NULL, err, "'%s' is not an HDF5 file (or is damaged)", path);
    size_t rows0 = 0;
    for (int i = 0; !rc && i < p->ntop; i++) {
        size_t rows = 0;
        rc = read_dataset(l, p, f, path, &p->t[i], &rows, err);
        if (!rc && i == 0) rows0 = rows;
        else if (!rc && rows != rows0)
            rc = cf_layer_error(l, NULL, err, "datasets in '%s' disagree on the number of rows: '%s' has %zu, '%s' has %zu",
                                path, p->t[0].name, rows0, p->t[i].name, rows);
    }
    if (f >= 0) H5Fclose(f);
    H5Eset_auto2(H5E_DEFAULT, efunc, edata);
    if (rc) { /* buffers may be half replaced: nothing is served until a load succeeds */
        p->rows = 0;
        return -1;
    }
    p->shape_known = true;
    p->rows = rows0;
    p->cur_row = 0;
    size_t *order = realloc(p->row_order, rows0 * sizeof *order);
    if (!order) abort();
    p->row_order = order;
    draw_row_order(p);
    return 0;
}

/* After the last row of the current file: the next file (or the same
 * one again, reshuffled). */
static int next_file(cf_layer *l, hdf5_priv *p, cf_error *err)
{
    p->cur_row = 0;
    if (p->nfiles == 1) {
        if (p->shuffle) draw_row_order(p);
        return 0;
    }
    if (++p->cur_file == p->nfiles) {
        p->cur_file = 0;
        if (p->shuffle) shuffle_ints(&p->rng, p->file_order, (size_t)p->nfiles);
    }
    return load_file(l, p, p->file_order[p->cur_file], err);
}

/* ---- the layer ---- */

static int hdf5_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    hdf5_priv *p = calloc(1, sizeof *p);
    if (!p) abort();
    l->priv = p;
    cf_node *hp;
    if (cf_layer_param_map(l, "hdf5_data_param", &hp, err)) return -1;
    if (!hp) return cf_layer_error(l, NULL, err, "hdf5_data_param is missing (it needs source and batch_size)");
    const char *source;
    long batch;
    if (cf_get_string(hp, "source", NULL, &source, err) ||
        cf_get_int_range(hp, "batch_size", 0, 1, 1 << 24, &batch, err) ||
        cf_get_bool(hp, "shuffle", false, &p->shuffle, err))
        return -1;
    if (!source) return cf_layer_error(l, hp, err, "hdf5_data_param: field 'source' is missing");
    if (!cf_node_has(hp, "batch_size"))
        return cf_layer_error(l, hp, err, "hdf5_data_param: field 'batch_size' is missing");
    p->batch = (int)batch;
    p->nranks = 1;
    p->shuffle = p->shuffle && l->phase == CF_TRAIN;
    if (p->shuffle) {
        uint64_t seed = 0;
        if (l->rng) seed = (uint64_t)cf_rng_u32(l->rng) << 32 | cf_rng_u32(l->rng);
        cf_rng_seed(&p->rng, seed);
    }
    p->t = calloc((size_t)nt, sizeof *p->t);
    if (!p->t) abort();
    p->ntop = nt;
    for (int i = 0; i < nt; i++) {
        if (!top[i]->name || !top[i]->name[0]) return cf_layer_error(l, NULL, err, "top %d has no name", i);
        if (!(p->t[i].name = strdup(top[i]->name))) abort();
    }
    if (read_list(l, p, source, cf_node_get(hp, "source"), err)) return -1;
    p->file_order = malloc((size_t)p->nfiles * sizeof *p->file_order);
    p->probed = calloc((size_t)p->nfiles, sizeof *p->probed);
    if (!p->file_order || !p->probed) abort();
    for (int i = 0; i < p->nfiles; i++) p->file_order[i] = i;
    if (p->shuffle) shuffle_ints(&p->rng, p->file_order, (size_t)p->nfiles);
    return load_file(l, p, p->file_order[0], err);
}

static int hdf5_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    hdf5_priv *p = l->priv;
    for (int i = 0; i < nt; i++) {
        p->t[i].shape[0] = p->batch;
        if (cf_blob_reshape(top[i], p->t[i].naxes, p->t[i].shape, err)) return -1;
    }
    return 0;
}

/* Step over n rows of the stream (other ranks' rows). */
static int skip_rows(cf_layer *l, hdf5_priv *p, size_t n, cf_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (++p->cur_row == p->rows && next_file(l, p, err)) return -1;
    return 0;
}

static int hdf5_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    hdf5_priv *p = l->priv;
    if (!p->rows && load_file(l, p, p->file_order[p->cur_file], err)) return -1; /* after a failed load */
    if (skip_rows(l, p, (size_t)p->rank * (size_t)p->batch, err)) return -1;
    for (int i = 0; i < p->batch; i++) {
        size_t r = p->row_order[p->cur_row];
        for (int j = 0; j < nt; j++) {
            size_t n = p->t[j].row;
            memcpy(cf_blob_mdata(top[j]) + (size_t)i * n, p->t[j].buf + r * n, n * sizeof(float));
        }
        if (++p->cur_row == p->rows && next_file(l, p, err)) return -1;
    }
    return skip_rows(l, p, (size_t)(p->nranks - 1 - p->rank) * (size_t)p->batch, err);
}

static int hdf5_shard(cf_layer *l, int rank, int nranks, cf_error *err)
{
    hdf5_priv *p = l->priv;
    if (nranks < 1 || rank < 0 || rank >= nranks)
        return cf_layer_error(l, NULL, err, "shard %d of %d: no such shard", rank, nranks);
    p->rank = rank;
    p->nranks = nranks;
    return 0;
}

static void hdf5_destroy(cf_layer *l)
{
    hdf5_priv *p = l->priv;
    if (!p) return;
    for (int i = 0; i < p->nfiles; i++) free(p->files[i]);
    free(p->files);
    free(p->file_order);
    free(p->probed);
    for (int i = 0; i < p->ntop; i++) {
        free(p->t[i].name);
        free(p->t[i].buf);
    }
    free(p->t);
    free(p->row_order);
    free(p);
}

/* v: cur_file, cur_row, rng (state, inc), row_rng (state, inc), then
 * file_order[nfiles]. */
static size_t hdf5_position(const cf_layer *l, uint64_t *v)
{
    const hdf5_priv *p = l->priv;
    if (v) {
        v[0] = (uint64_t)p->cur_file;
        v[1] = p->cur_row;
        v[2] = p->rng.state;
        v[3] = p->rng.inc;
        v[4] = p->row_rng.state;
        v[5] = p->row_rng.inc;
        for (int i = 0; i < p->nfiles; i++) v[6 + i] = (uint64_t)p->file_order[i];
    }
    return 6 + (size_t)p->nfiles;
}

static int hdf5_seek(cf_layer *l, const uint64_t *v, cf_error *err)
{
    hdf5_priv *p = l->priv;
    int n = p->nfiles;
    bool *seen = calloc((size_t)n, sizeof *seen);
    if (!seen) abort();
    int bad = 0;
    for (int i = 0; i < n && !bad; i++) {
        bad = v[6 + i] >= (uint64_t)n || seen[v[6 + i]];
        if (!bad) seen[v[6 + i]] = true;
    }
    free(seen);
    if (bad) return cf_layer_error(l, NULL, err, "the saved file order is not an order of the %d files in the list", n);
    if (v[0] >= (uint64_t)n)
        return cf_layer_error(l, NULL, err, "the saved position names file %llu of %d", (unsigned long long)v[0], n);
    for (int i = 0; i < n; i++) p->file_order[i] = (int)v[6 + i];
    p->cur_file = (int)v[0];
    p->rng = (cf_rng){.state = v[4], .inc = v[5]}; /* load_file draws the row order from here */
    if (load_file(l, p, p->file_order[p->cur_file], err)) return -1;
    if (v[1] >= p->rows) {
        size_t rows = p->rows;
        p->rows = 0; /* serve nothing from a position that is not there */
        return cf_layer_error(l, NULL, err, "the saved position is row %llu of '%s', which now has %zu rows (was it changed?)",
                              (unsigned long long)v[1], p->files[p->file_order[p->cur_file]], rows);
    }
    p->cur_row = (size_t)v[1];
    p->rng = (cf_rng){.state = v[2], .inc = v[3]};
    return 0;
}

const cf_layer_ops cf_layer_HDF5Data = {
    .type = "HDF5Data",
    .min_bottom = 0, .max_bottom = 0,
    .min_top = 1, .max_top = -1,
    .setup = hdf5_setup,
    .reshape = hdf5_reshape,
    .forward = hdf5_forward,
    .destroy = hdf5_destroy,
    .position = hdf5_position,
    .seek = hdf5_seek,
    .shard = hdf5_shard,
};
