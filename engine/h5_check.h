/* h5_check.h — what libhdf5 (1.10) does not check before H5Dread, for
 * the readers of HDF5 files from outside (snapshots, weights, HDF5Data).
 *
 * A damaged file can declare a compact or contiguous dataset whose raw
 * data is shorter than its shape and type say, or lies past the end of
 * the file; libhdf5's H5Dread then copies from outside its own buffers
 * and the process faults (fuzz_hdf5 found a compact 3-float dataset with
 * no data at all).  A dataset may also keep its values in external files
 * named by the file, which a hostile file would point at any file of the
 * machine.  Asking these before reading turns both into errors. */
#ifndef CF_H5_CHECK_H
#define CF_H5_CHECK_H

#include <hdf5.h>

/* NULL when dataset ds can be read whole: chunked (libhdf5 checks each
 * chunk), not yet written (it reads as the fill value), or holding at
 * least the bytes its shape and type declare, inside the file.  Else why
 * not, for a message ("its data is shorter than its shape", "its data
 * is in external files"). */
const char *cf_h5_unreadable(hid_t ds);

#endif
