/* follow.h — read a file that another process is still appending to, a
 * line at a time (as `tail -f`): each poll reads what was added since the
 * last one and hands over the complete lines; an unfinished last line is
 * kept until its newline arrives.
 *
 *   - A file that does not exist yet is looked for again at each poll.
 *   - A file that shrank, or was replaced (another inode), is read again
 *     from its start: the poll that finds out reads nothing and says so,
 *     so that the caller can forget what it built from the old contents
 *     before the next poll brings the new ones.
 *   - A line longer than CF_FOLLOW_LINE_MAX is not kept: it is reported
 *     once, as a line with no text (NULL), and dropped up to its newline.
 *   - One poll reads at most CF_FOLLOW_POLL_MAX bytes, so that a large
 *     file is taken in over several polls and the caller stays
 *     responsive; cf_follow_behind says whether more is waiting.
 *
 * cf_follow_feed is the line splitter alone (no file), for tests. */
#ifndef CF_UI_FOLLOW_H
#define CF_UI_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CF_FOLLOW_LINE_MAX (64 * 1024)
#define CF_FOLLOW_POLL_MAX (4 * 1024 * 1024)

/* One complete line, without its newline (line NULL, len 0: a line too
 * long to keep). */
typedef void (*cf_line_fn)(void *ctx, const char *line, size_t len);

typedef struct cf_follow {
    char path[1024];
    int fd;                  /* -1: not open */
    dev_t dev;
    ino_t ino;
    off_t offset;            /* bytes read so far */
    off_t size;              /* size at the last poll */
    char *buf;               /* the unfinished line */
    size_t len, cap;
    bool skipping;           /* inside a line too long to keep */
} cf_follow;

/* Set up (nothing is opened until the first poll). */
void cf_follow_init(cf_follow *f, const char *path);
void cf_follow_close(cf_follow *f);

enum { CF_FOLLOW_SAME, CF_FOLLOW_RESTART };
/* Read what is new, calling fn for each complete line.  Returns
 * CF_FOLLOW_RESTART when the file shrank or was replaced (nothing read;
 * the next poll starts from the new file's beginning), CF_FOLLOW_SAME
 * otherwise, -1 on a read error (errno set; the next poll tries again). */
int cf_follow_poll(cf_follow *f, cf_line_fn fn, void *ctx);
/* Split bytes into lines, keeping the unfinished rest for next time. */
void cf_follow_feed(cf_follow *f, const char *data, size_t n, cf_line_fn fn, void *ctx);
/* Bytes of an unfinished last line held back. */
size_t cf_follow_pending(const cf_follow *f);
/* The file exists (was opened). */
bool cf_follow_found(const cf_follow *f);
/* More is on disk than has been read (a poll stopped at its limit). */
bool cf_follow_behind(const cf_follow *f);

#endif
