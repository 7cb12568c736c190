/* error.c — see error.h. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cf_error_clear(cf_error *e)
{
    if (e) memset(e, 0, sizeof *e);
}

int cf_error_set(cf_error *e, int code, const char *fmt, ...)
{
    if (!e) return -1;
    cf_error_clear(e);
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int cf_error_at(cf_error *e, const char *file, int line, int col)
{
    if (!e) return -1;
    if (line > 0 && col > 0)
        snprintf(e->loc, sizeof e->loc, "%s:%d:%d", file ? file : "<input>", line, col);
    else if (line > 0)
        snprintf(e->loc, sizeof e->loc, "%s:%d", file ? file : "<input>", line);
    else
        snprintf(e->loc, sizeof e->loc, "%s", file ? file : "");
    return -1;
}

int cf_error_ctx(cf_error *e, const char *fmt, ...)
{
    if (!e || e->ctx[0]) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->ctx, sizeof e->ctx, fmt, ap);
    va_end(ap);
    return -1;
}

const char *cf_error_str(const cf_error *e, char *buf, size_t n)
{
    if (!n) return buf;
    buf[0] = 0;
    if (!e) return buf;
    snprintf(buf, n, "%s%s%s%s%s", e->loc, e->loc[0] ? ": " : "",
             e->ctx, e->ctx[0] ? ": " : "", e->msg);
    return buf;
}
