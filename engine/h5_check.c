/* h5_check.c — see h5_check.h. */
#include "h5_check.h"

#include <stdint.h>

const char *cf_h5_unreadable(hid_t ds)
{
    hid_t pl = H5Dget_create_plist(ds);
    if (pl < 0) return "its creation properties cannot be read";
    H5D_layout_t layout = H5Pget_layout(pl);
    int external = H5Pget_external_count(pl);
    H5Pclose(pl);
    if (external != 0) return "its data is in external files";
    if (layout != H5D_COMPACT && layout != H5D_CONTIGUOUS) return NULL;

    hid_t sp = H5Dget_space(ds), t = H5Dget_type(ds);
    hssize_t points = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    size_t size = t < 0 ? 0 : H5Tget_size(t);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (points < 0 || size == 0) return "its shape or type cannot be read";
    if (points > 0 && size > UINT64_MAX / (uint64_t)points) return "its shape is too large";
    uint64_t need = (uint64_t)points * size;

    haddr_t at = layout == H5D_CONTIGUOUS ? H5Dget_offset(ds) : 0;
    if (layout == H5D_CONTIGUOUS && at == HADDR_UNDEF) return NULL; /* never written: the fill value */
    if (H5Dget_storage_size(ds) < need) return "its data is shorter than its shape";
    if (layout == H5D_CONTIGUOUS) {
        hid_t f = H5Iget_file_id(ds);
        hsize_t fsize = 0;
        herr_t rc = f < 0 ? -1 : H5Fget_filesize(f, &fsize);
        if (f >= 0) H5Fclose(f);
        if (rc < 0 || at > fsize || need > fsize - at) return "its data lies past the end of the file";
    }
    return NULL;
}

/* ---- the child ---- */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"

bool cf_h5_guard_off;

#define PROBE_MAX_BYTES ((hsize_t)1 << 30)
#define PROBE_ATTR_BYTES ((hsize_t)1 << 20)

static herr_t probe_attr(hid_t loc, const char *name, const H5A_info_t *info, void *op)
{
    (void)info, (void)op;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return 0;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    size_t size = t < 0 ? 0 : H5Tget_size(t);
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    if (n > 0 && size > 0 && (hsize_t)n <= PROBE_ATTR_BYTES / size && cls != H5T_VLEN && H5Tis_variable_str(t) == 0) {
        void *buf = malloc((size_t)n * size);
        if (buf) H5Aread(a, t, buf);
        free(buf);
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Aclose(a);
    return 0;
}

static void probe_dataset(hid_t d)
{
    if (cf_h5_unreadable(d)) return;
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    if ((cls == H5T_FLOAT || cls == H5T_INTEGER) && n > 0 && (hsize_t)n <= PROBE_MAX_BYTES / sizeof(float)) {
        float *buf = malloc((size_t)n * sizeof *buf);
        if (buf) H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        free(buf);
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
}

static herr_t probe_object(hid_t g, const char *name, const H5O_info_t *info, void *op)
{
    (void)op;
    H5Aiterate_by_name(g, name, H5_INDEX_NAME, H5_ITER_INC, NULL, probe_attr, NULL, H5P_DEFAULT);
    if (info->type == H5O_TYPE_GROUP) {
        H5G_info_t gi;
        H5Gget_info_by_name(g, name, &gi, H5P_DEFAULT);
    } else if (info->type == H5O_TYPE_DATASET) {
        hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
        if (d >= 0) {
            probe_dataset(d);
            H5Dclose(d);
        }
    }
    return 0;
}

/* In the child: every object of the file, then the caller's probe. */
static void probe_file(const char *path, int (*probe)(void *ctx), void *ctx)
{
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 2); /* libhdf5's complaints are the parent's to make */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (f >= 0) {
        H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, probe_object, NULL);
        H5Fclose(f);
    }
    if (probe) probe(ctx);
}

int cf_h5_guarded(const char *path, int (*probe)(void *ctx), void *ctx, cf_error *err)
{
    if (cf_h5_guard_off || getenv("CAFETUI_H5_UNGUARDED")) return 0;
    pid_t pid = fork();
    if (pid < 0) return 0; /* no child to spare: read it here, as without the guard */
    if (pid == 0) {
        probe_file(path, probe, ctx);
        _exit(0); /* no atexit handlers, no stdio buffers flushed twice */
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    /* killed by a signal, or (under a sanitizer, which catches the signal)
     * an exit status of its own: the same for the user */
    cf_error_set(err, CF_EINPUT, "libhdf5 crashed reading it: the file is damaged");
    return cf_error_at(err, path, 0, 0);
}
