/* atomic_file.h — writing a file so that it is either the old one or the
 * complete new one, never half written: write a temporary file in the
 * same directory, flush it to disk, then rename it over the target. */
#ifndef CF_ATOMIC_FILE_H
#define CF_ATOMIC_FILE_H

#include <stddef.h>

#include "error.h"

/* Errors (CF_ERUNTIME) name the path and the system's reason. */
int cf_write_file_atomic(const char *path, const void *buf, size_t len, cf_error *err);

/* "<path>.tmp-XXXXXX" made unique: a file (mkstemp, fd returned in *fd)
 * or, when fd is NULL, a directory (mkdtemp).  tmp must hold
 * strlen(path) + 16 bytes. */
int cf_make_temp_beside(const char *path, char *tmp, size_t n, int *fd, cf_error *err);

/* fsync the directory holding path, so a rename in it is on disk. */
void cf_sync_parent_dir(const char *path);

#endif
