/* convert.c — IDX to LMDB and IDX to HDF5 converters (see convert.h). */
#include "convert.h"

#include "rng.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "datum.h"
#include "idx.h"
#include "lmdb_source.h"

static int refuse_existing(const char *path, cf_error *err)
{
    struct stat st;
    if (!lstat(path, &st)) return cf_error_set(err, CF_EINPUT, "output '%s' already exists", path);
    return 0;
}

static int read_pair(const char *images, const char *labels, cf_idx *im, cf_idx *lb, cf_error *err)
{
    if (cf_idx_read(images, CF_IDX_IMAGES, im, err)) return -1;
    if (cf_idx_read(labels, CF_IDX_LABELS, lb, err)) {
        cf_idx_free(im);
        return -1;
    }
    if (im->dims[0] != lb->dims[0]) {
        cf_error_set(err, CF_EINPUT, "'%s' holds %d images but '%s' holds %d labels", images, im->dims[0], labels,
                     lb->dims[0]);
        cf_idx_free(im);
        cf_idx_free(lb);
        return -1;
    }
    return 0;
}

/* Remove a half-built LMDB directory (it holds only LMDB's files). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[4096];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(dir);
}

/* n records of C×H×W bytes each (pixels[i·CHW ...]) with labels[i],
 * keyed "%08zu" in order, as Caffe's converters write them. */
static int write_lmdb(const char *dir, size_t n, int C, int H, int W, const uint8_t *pixels, const uint8_t *labels,
                      cf_error *err)
{
    size_t item = (size_t)C * H * W;
    cf_lmdb_writer *w = cf_lmdb_create(dir, n * (item + 64), err);
    if (!w) return -1;
    for (size_t i = 0; i < n; i++) {
        cf_datum d = {.channels = C, .height = H, .width = W, .label = labels[i], .bytes = pixels + i * item};
        size_t len;
        uint8_t *val = cf_datum_encode(&d, &len);
        if (!val) abort();
        char key[32];
        int klen = snprintf(key, sizeof key, "%08zu", i);
        int rc = cf_lmdb_put(w, key, (size_t)klen, val, len, err);
        free(val);
        if (rc) {
            cf_lmdb_abort(w);
            return -1;
        }
    }
    return cf_lmdb_finish(w, err);
}

/* write_lmdb into a temporary directory beside out_dir, renamed into
 * place when complete: out_dir appears whole or not at all. */
static int publish_lmdb(const char *out_dir, size_t n, int C, int H, int W, const uint8_t *pixels,
                        const uint8_t *labels, cf_error *err)
{
    size_t len = strlen(out_dir) + 16;
    char *tmp = malloc(len);
    if (!tmp) abort();
    int rc = cf_make_temp_beside(out_dir, tmp, len, NULL, err);
    if (!rc) {
        rc = write_lmdb(tmp, n, C, H, W, pixels, labels, err);
        if (!rc && rename(tmp, out_dir))
            rc = cf_error_set(err, CF_ERUNTIME, "cannot rename '%s' to '%s': %s", tmp, out_dir, strerror(errno));
        if (rc) remove_dir(tmp);
        else cf_sync_parent_dir(out_dir);
    }
    free(tmp);
    return rc;
}

int cf_convert_idx_to_lmdb(const char *images, const char *labels, const char *out_dir, cf_error *err)
{
    cf_idx im, lb;
    if (refuse_existing(out_dir, err) || read_pair(images, labels, &im, &lb, err)) return -1;
    int rc = publish_lmdb(out_dir, (size_t)im.dims[0], 1, im.dims[1], im.dims[2], im.data, lb.data, err);
    cf_idx_free(&im);
    cf_idx_free(&lb);
    return rc;
}

int cf_convert_random_lmdb(const char *out_dir, size_t n, int C, int H, int W, int classes, uint64_t seed,
                           cf_error *err)
{
    if (n == 0 || C <= 0 || H <= 0 || W <= 0 || classes <= 0 || classes > 256 || (size_t)C * H * W > 100000000u)
        return cf_error_set(err, CF_EINPUT, "random LMDB: bad size (count %zu, shape %dx%dx%d, %d classes)", n, C, H,
                            W, classes);
    if (refuse_existing(out_dir, err)) return -1;
    size_t item = (size_t)C * H * W;
    uint8_t *pix = malloc(n * item), *lab = malloc(n);
    if (!pix || !lab) abort();
    cf_rng r;
    cf_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        lab[i] = (uint8_t)cf_rng_below(&r, (uint32_t)classes);
        /* noise around a per-class level, so a net has something to learn */
        for (size_t k = 0; k < item; k++) {
            int v = 40 + lab[i] * 180 / classes + (int)cf_rng_below(&r, 60);
            pix[i * item + k] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
    int rc = publish_lmdb(out_dir, n, C, H, W, pix, lab, err);
    free(pix);
    free(lab);
    return rc;
}

/* ---- HDF5 ---- */

const char *cf_hdf5_list_path(const char *h5_path, char *buf, size_t n)
{
    const char *slash = strrchr(h5_path, '/');
    const char *dot = strrchr(h5_path, '.');
    size_t stem = dot && (!slash || dot > slash + 1) ? (size_t)(dot - h5_path) : strlen(h5_path);
    snprintf(buf, n, "%.*s.txt", (int)stem, h5_path);
    return buf;
}

/* Write the `rows` rows (row_len values each) of dataset `ds` from bytes,
 * a block of rows at a time so that memory stays small: pixels become
 * byte × scale (in float32, as the Data layer's transform computes it),
 * labels become the byte's value. */
static int write_rows(hid_t ds, size_t rows, size_t row_len, const uint8_t *src, float scale, bool is_pixels)
{
    enum { BLOCK = 1000 };
    float *buf = malloc(BLOCK * row_len * sizeof *buf);
    if (!buf) abort();
    hid_t fspace = H5Dget_space(ds);
    int ndims = H5Sget_simple_extent_ndims(fspace);
    int rc = 0;
    for (size_t r0 = 0; r0 < rows && !rc; r0 += BLOCK) {
        size_t nr = rows - r0 < BLOCK ? rows - r0 : BLOCK;
        for (size_t i = 0; i < nr * row_len; i++)
            buf[i] = is_pixels ? (float)src[r0 * row_len + i] * scale : (float)src[r0 * row_len + i];
        hsize_t start[4] = {r0, 0, 0, 0}, count[4];
        H5Sget_simple_extent_dims(fspace, count, NULL);
        count[0] = nr;
        hid_t mspace = H5Screate_simple(ndims, count, NULL);
        if (H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dwrite(ds, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, buf) < 0)
            rc = -1;
        H5Sclose(mspace);
    }
    H5Sclose(fspace);
    free(buf);
    return rc;
}

static int write_dataset(hid_t f, const char *name, int ndims, const hsize_t *dims, const uint8_t *src,
                         float scale, bool is_pixels)
{
    hid_t space = H5Screate_simple(ndims, dims, NULL);
    hid_t ds = H5Dcreate2(f, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(space);
    if (ds < 0) return -1;
    size_t row_len = 1;
    for (int i = 1; i < ndims; i++) row_len *= dims[i];
    int rc = write_rows(ds, dims[0], row_len, src, scale, is_pixels);
    if (H5Dclose(ds) < 0) rc = -1;
    return rc;
}

static int write_h5(const char *path, const cf_idx *im, const cf_idx *lb, float scale)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return -1;
    hsize_t n = (hsize_t)im->dims[0];
    hsize_t ddims[4] = {n, 1, (hsize_t)im->dims[1], (hsize_t)im->dims[2]}, ldims[1] = {n};
    int rc = write_dataset(f, "data", 4, ddims, im->data, scale, true);
    if (!rc) rc = write_dataset(f, "label", 1, ldims, lb->data, 1, false);
    if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) rc = -1;
    if (H5Fclose(f) < 0) rc = -1;
    if (!rc) { /* H5Fclose does not fsync: do it before the rename */
        int fd = open(path, O_RDONLY);
        if (fd < 0 || fsync(fd)) rc = -1;
        if (fd >= 0) close(fd);
    }
    return rc;
}

int cf_convert_idx_to_hdf5(const char *images, const char *labels, const char *out_h5, float scale,
                           cf_error *err)
{
    cf_idx im, lb;
    if (refuse_existing(out_h5, err) || read_pair(images, labels, &im, &lb, err)) return -1;
    size_t n = strlen(out_h5) + 16;
    char *tmp = malloc(n);
    int fd;
    if (!tmp) abort();
    int rc = cf_make_temp_beside(out_h5, tmp, n, &fd, err);
    if (!rc) {
        close(fd);
        H5E_auto2_t efunc;
        void *edata;
        H5Eget_auto2(H5E_DEFAULT, &efunc, &edata);
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our message instead of HDF5's stack dump */
        rc = write_h5(tmp, &im, &lb, scale);
        H5Eset_auto2(H5E_DEFAULT, efunc, edata);
        if (rc) cf_error_set(err, CF_ERUNTIME, "cannot write HDF5 file '%s' (disk full?)", out_h5);
        else if (rename(tmp, out_h5))
            rc = cf_error_set(err, CF_ERUNTIME, "cannot rename '%s' to '%s': %s", tmp, out_h5, strerror(errno));
        if (rc) unlink(tmp);
    }
    if (!rc) {
        char list[4096], *copy = strdup(out_h5), line[4096];
        if (!copy) abort();
        snprintf(line, sizeof line, "%s\n", basename(copy));
        free(copy);
        rc = cf_write_file_atomic(cf_hdf5_list_path(out_h5, list, sizeof list), line, strlen(line), err);
    }
    free(tmp);
    cf_idx_free(&im);
    cf_idx_free(&lb);
    return rc;
}
