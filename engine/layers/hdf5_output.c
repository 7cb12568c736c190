/* hdf5_output.c — the HDF5Output layer (Caffe's HDF5OutputLayer): writes
 * what reaches it to an HDF5 file, e.g. a net's predictions with their
 * labels.
 *
 *   hdf5_output_param: {file_name: out.h5}   (required)
 *
 * Bottom 0 goes to the dataset `data`, bottom 1 to `label`, both float32,
 * shaped as their bottom but with the first axis unlimited: every forward
 * appends the batch's rows, so the file holds every batch seen (Caffe
 * rewrote the two datasets each time, which HDF5 refuses after the first).
 * The file is created (truncated) at setup — a path that cannot be
 * created is a setup error naming it — and flushed and closed when the
 * layer is destroyed.  Both bottoms must keep their per-row shape and
 * agree on the number of rows.  No tops; backward leaves the diffs alone,
 * as Caffe's does. */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"

static const char *const dataset_names[2] = {"data", "label"};

typedef struct {
    char *path;
    hid_t file;
    hid_t ds[2];
    int rank[2];
    hsize_t dims[2][CF_MAX_AXES];   /* current extent of each dataset */
} h5out_priv;

/* HDF5 prints its error stack by default; we report our own messages. */
typedef struct { H5E_auto2_t fn; void *data; } quiet;

static quiet hush(void)
{
    quiet q;
    H5Eget_auto2(H5E_DEFAULT, &q.fn, &q.data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return q;
}

static void unhush(quiet q) { H5Eset_auto2(H5E_DEFAULT, q.fn, q.data); }

/* An empty dataset shaped like bottom b, growing along axis 0, chunked
 * by about a megabyte of rows. */
static int create_dataset(cf_layer *l, h5out_priv *h, int i, const cf_blob *b, cf_error *err)
{
    char s[128];
    size_t row = b->naxes < 1 ? 0 : cf_blob_count_range(b, 1, b->naxes);
    if (row == 0)
        return cf_layer_error(l, NULL, err, "bottom %d (%s) has no values per row to write", i,
                              cf_blob_shape_str(b, s, sizeof s));
    hsize_t maxd[CF_MAX_AXES], chunk[CF_MAX_AXES];
    h->rank[i] = b->naxes;
    for (int a = 0; a < b->naxes; a++) h->dims[i][a] = maxd[a] = chunk[a] = (hsize_t)b->shape[a];
    h->dims[i][0] = 0;
    maxd[0] = H5S_UNLIMITED;
    size_t rows = ((size_t)1 << 18) / row;
    chunk[0] = rows < 1 ? 1 : rows;
    hid_t space = H5Screate_simple(b->naxes, h->dims[i], maxd);
    hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(plist, b->naxes, chunk);
    h->ds[i] = H5Dcreate2(h->file, dataset_names[i], H5T_IEEE_F32LE, space, H5P_DEFAULT, plist, H5P_DEFAULT);
    H5Pclose(plist);
    H5Sclose(space);
    if (h->ds[i] < 0)
        return cf_layer_error(l, NULL, err, "cannot create dataset '%s' in '%s'", dataset_names[i], h->path);
    return 0;
}

static int h5out_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    h5out_priv *h = calloc(1, sizeof *h);
    if (!h) abort();
    l->priv = h;
    h->file = h->ds[0] = h->ds[1] = -1;
    cf_node *p;
    const char *path;
    if (cf_layer_param_map(l, "hdf5_output_param", &p, err) || cf_get_string(p, "file_name", NULL, &path, err))
        return -1;
    if (!path || !path[0])
        return cf_layer_error(l, p, err, "hdf5_output_param: field 'file_name' is missing");
    if (!(h->path = strdup(path))) abort();
    quiet q = hush();
    h->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (h->file < 0)
        rc = cf_layer_error(l, cf_node_get(p, "file_name"), err, "cannot create HDF5 file '%s'", path);
    for (int i = 0; !rc && i < 2; i++) rc = create_dataset(l, h, i, bottom[i], err);
    unhush(q);
    return rc;
}

static int h5out_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    h5out_priv *h = l->priv;
    char s[128];
    for (int i = 0; i < 2; i++) {
        const cf_blob *b = bottom[i];
        bool same = b->naxes == h->rank[i];
        for (int a = 1; same && a < b->naxes; a++) same = (hsize_t)b->shape[a] == h->dims[i][a];
        if (!same)
            return cf_layer_error(l, NULL, err, "bottom %d changed shape to %s, but the rows of '%s' in '%s' were set "
                                  "by its first shape", i, cf_blob_shape_str(b, s, sizeof s), dataset_names[i], h->path);
    }
    if (bottom[0]->shape[0] != bottom[1]->shape[0])
        return cf_layer_error(l, NULL, err, "bottom 0 has %d rows but bottom 1 has %d: data and label must match",
                              bottom[0]->shape[0], bottom[1]->shape[0]);
    return 0;
}

/* Append bottom b's rows to dataset i. */
static int append(h5out_priv *h, int i, const cf_blob *b)
{
    hsize_t start[CF_MAX_AXES] = {0}, count[CF_MAX_AXES], grown[CF_MAX_AXES];
    for (int a = 0; a < h->rank[i]; a++) count[a] = grown[a] = h->dims[i][a];
    count[0] = (hsize_t)b->shape[0];
    if (count[0] == 0) return 0;
    start[0] = h->dims[i][0];
    grown[0] = start[0] + count[0];
    if (H5Dset_extent(h->ds[i], grown) < 0) return -1;
    hid_t fspace = H5Dget_space(h->ds[i]);
    hid_t mspace = H5Screate_simple(h->rank[i], count, NULL);
    herr_t rc = fspace < 0 || mspace < 0 ? -1 : H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    if (rc >= 0) rc = H5Dwrite(h->ds[i], H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, cf_blob_data(b));
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    if (rc < 0) return -1;
    h->dims[i][0] = grown[0];
    return 0;
}

static int h5out_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    h5out_priv *h = l->priv;
    quiet q = hush();
    int rc = 0;
    for (int i = 0; !rc && i < 2; i++)
        if (append(h, i, bottom[i]))
            rc = cf_layer_error(l, NULL, err, "cannot append %d rows to '%s' in '%s' (disk full?)",
                                bottom[i]->shape[0], dataset_names[i], h->path);
    unhush(q);
    if (rc && err) err->code = CF_ERUNTIME; /* the recipe was fine; the disk was not */
    return rc;
}

static void h5out_destroy(cf_layer *l)
{
    h5out_priv *h = l->priv;
    if (!h) return;
    quiet q = hush();
    for (int i = 0; i < 2; i++)
        if (h->ds[i] >= 0) H5Dclose(h->ds[i]);
    if (h->file >= 0) {
        H5Fflush(h->file, H5F_SCOPE_LOCAL);
        H5Fclose(h->file);
    }
    unhush(q);
    free(h->path);
    free(h);
}

const cf_layer_ops cf_layer_HDF5Output = {
    .type = "HDF5Output",
    .min_bottom = 2, .max_bottom = 2,
    .min_top = 0, .max_top = 0,
    .setup = h5out_setup,
    .reshape = h5out_reshape,
    .forward = h5out_forward,
    .destroy = h5out_destroy,
};
