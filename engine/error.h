/* error.h — errors returned, never exited on.
 *
 * Every engine function that can fail on user input takes a `cf_error *`
 * last and returns -1 (or NULL) after filling it; 0 (or a pointer) on
 * success.  A message has three parts, printed "loc: ctx: msg":
 *   loc  where in the user's files ("recipes/x.yaml:14:7"), may be empty
 *   ctx  which object ("layer 'conv2'"), may be empty; outer callers fill it
 *        only when an inner one has not
 *   msg  what is wrong, in words a user can act on
 * `code` is the process exit status the error maps to: CF_EINPUT (2) for
 * bad recipes and data, CF_ERUNTIME (1) for failures while running.
 * Passing err == NULL is allowed; the error is then dropped.
 */
#ifndef CF_ERROR_H
#define CF_ERROR_H

#include <stddef.h>

enum { CF_ERUNTIME = 1, CF_EINPUT = 2 };

typedef struct cf_error {
    int code;
    char loc[256];
    char ctx[256];
    char msg[1024];
} cf_error;

/* Set code and message (printf format); clears loc and ctx.  Returns -1. */
int cf_error_set(cf_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Set the location "file:line:col" (line/col 0 are left out).  Returns -1. */
int cf_error_at(cf_error *e, const char *file, int line, int col);
/* Fill ctx when still empty.  Returns -1. */
int cf_error_ctx(cf_error *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "loc: ctx: msg" into buf; returns buf. */
const char *cf_error_str(const cf_error *e, char *buf, size_t n);
void cf_error_clear(cf_error *e);

#endif
