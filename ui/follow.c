/* follow.c — see follow.h. */
#include "follow.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cf_follow_init(cf_follow *f, const char *path)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    f->fd = -1;
}

static void forget(cf_follow *f)
{
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    f->offset = f->size = 0;
    f->len = 0;
    f->skipping = false;
}

void cf_follow_close(cf_follow *f)
{
    forget(f);
    free(f->buf);
    f->buf = NULL;
    f->cap = 0;
}

size_t cf_follow_pending(const cf_follow *f) { return f->len; }
bool cf_follow_found(const cf_follow *f) { return f->fd >= 0; }
bool cf_follow_behind(const cf_follow *f) { return f->fd >= 0 && f->offset < f->size; }

/* Keep n more bytes of the unfinished line; false when that would pass
 * the limit. */
static bool keep(cf_follow *f, const char *data, size_t n)
{
    if (f->len + n > CF_FOLLOW_LINE_MAX) return false;
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap : 4096;
        while (cap < f->len + n) cap *= 2;
        char *b = realloc(f->buf, cap);
        if (!b) return false;
        f->buf = b;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, data, n);
    f->len += n;
    return true;
}

void cf_follow_feed(cf_follow *f, const char *data, size_t n, cf_line_fn fn, void *ctx)
{
    while (n) {
        const char *nl = memchr(data, '\n', n);
        size_t part = nl ? (size_t)(nl - data) : n;
        if (!f->skipping && !keep(f, data, part)) {
            /* too long: say so once, then drop the rest of this line */
            fn(ctx, NULL, 0);
            f->skipping = true;
            f->len = 0;
        }
        if (nl) {
            if (!f->skipping) fn(ctx, f->len ? f->buf : "", f->len);
            f->skipping = false;
            f->len = 0;
            part++;
        }
        data += part;
        n -= part;
    }
}

/* Open the file when it is there; true when open. */
static bool open_file(cf_follow *f)
{
    if (f->fd >= 0) return true;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return false;
    }
    f->fd = fd;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    return true;
}

int cf_follow_poll(cf_follow *f, cf_line_fn fn, void *ctx)
{
    struct stat path_st, fd_st;
    if (f->fd >= 0) {
        /* replaced (the path names another file) or shrunk: start again */
        bool replaced = !stat(f->path, &path_st) && (path_st.st_ino != f->ino || path_st.st_dev != f->dev);
        bool shrunk = !fstat(f->fd, &fd_st) && fd_st.st_size < f->offset;
        if (replaced || shrunk) {
            forget(f);
            return CF_FOLLOW_RESTART;
        }
    }
    if (!open_file(f)) return CF_FOLLOW_SAME;
    if (fstat(f->fd, &fd_st)) return -1;
    f->size = fd_st.st_size;
    static char chunk[64 * 1024];
    size_t budget = CF_FOLLOW_POLL_MAX;
    while (f->offset < f->size && budget) {
        size_t want = (size_t)(f->size - f->offset);
        if (want > sizeof chunk) want = sizeof chunk;
        if (want > budget) want = budget;
        ssize_t got = pread(f->fd, chunk, want, f->offset);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (got == 0) break; /* shrank between fstat and pread: the next poll sees it */
        f->offset += got;
        budget -= (size_t)got;
        cf_follow_feed(f, chunk, (size_t)got, fn, ctx);
    }
    return CF_FOLLOW_SAME;
}
