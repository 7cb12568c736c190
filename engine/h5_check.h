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
#include <stdbool.h>

struct cf_error;

/* NULL when dataset ds can be read whole: chunked (libhdf5 checks each
 * chunk), not yet written (it reads as the fill value), or holding at
 * least the bytes its shape and type declare, inside the file.  Else why
 * not, for a message ("its data is shorter than its shape", "its data
 * is in external files"). */
const char *cf_h5_unreadable(hid_t ds);

/* ---- reading a file from outside in a child first ----
 *
 * Some damaged files make libhdf5 itself fault — a NULL from a huge
 * allocation it does not check, over-reads while decoding metadata
 * (fuzz/README.md) — where no check of ours can reach.  So a reader of a
 * file from outside first has a forked child open it, look at every
 * object (attributes, group tables, every numeric dataset up to 1 GiB
 * read whole as floats) and run `probe` (ctx; NULL: none), the reader's
 * own read without its side effects.  Returns 0 when the child came back
 * (whatever it found: the caller then reads for real and reports what is
 * wrong itself), or -1 with an error naming `path` when libhdf5 crashed
 * in it ("libhdf5 crashed reading it: the file is damaged").  Without fork (or with CAFETUI_H5_UNGUARDED set, or
 * cf_h5_guard_off) it returns 0 at once.  The probe must not touch a
 * GPU or write files: it runs in a copy of the process. */
extern bool cf_h5_guard_off; /* the fuzz harnesses: faults must reach them */
int cf_h5_guarded(const char *path, int (*probe)(void *ctx), void *ctx, struct cf_error *err);

#endif
