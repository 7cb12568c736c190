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
