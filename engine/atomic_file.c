/* atomic_file.c — temporary file, fsync, rename (see atomic_file.h). */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cf_make_temp_beside(const char *path, char *tmp, size_t n, int *fd, cf_error *err)
{
    if ((size_t)snprintf(tmp, n, "%s.tmp-XXXXXX", path) >= n)
        return cf_error_set(err, CF_ERUNTIME, "path too long: '%s'", path);
    if (fd) {
        *fd = mkstemp(tmp);
        if (*fd < 0) return cf_error_set(err, CF_ERUNTIME, "cannot create '%s': %s", tmp, strerror(errno));
    } else if (!mkdtemp(tmp)) {
        return cf_error_set(err, CF_ERUNTIME, "cannot create '%s': %s", tmp, strerror(errno));
    }
    return 0;
}

void cf_sync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd); /* best effort: some file systems refuse it */
        close(fd);
    }
    free(copy);
}

int cf_write_file_atomic(const char *path, const void *buf, size_t len, cf_error *err)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    int fd = -1;
    if (!tmp) abort();
    if (cf_make_temp_beside(path, tmp, n, &fd, err)) {
        free(tmp);
        return -1;
    }
    const char *p = buf;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) goto fail;
        p += w;
        left -= (size_t)w;
    }
    /* mkstemp makes the file 0600; a data file is readable by all. */
    if (fchmod(fd, 0644) || fsync(fd)) goto fail;
    if (close(fd)) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path)) goto fail;
    cf_sync_parent_dir(path);
    free(tmp);
    return 0;
fail:
    cf_error_set(err, CF_ERUNTIME, "cannot write '%s': %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(tmp);
    return -1;
}
