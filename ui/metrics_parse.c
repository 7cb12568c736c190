/* metrics_parse.c — see metrics_parse.h.  A cursor walks the line once,
 * left to right; every read checks the end first, so no input can make
 * it read past len.  Values are kept per key until the closing brace,
 * because "type" need not come first. */
#include "metrics_parse.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the keys the writers use, the types whose lines carry them, and those
 * of these types where the key may be missing: the figures of several
 * processes (besides these, rank<k>_images_per_s: rank_key below), and a
 * train line's outputs (display iterations only) */
enum {
    K_TYPE, K_ITER, K_LOSS, K_SMOOTHED, K_LR, K_IPS, K_ELAPSED, K_NET, K_OUTPUTS, K_SECONDS, K_EVENT, K_TEXT,
    K_RANKS, K_COMM_S, K_STEP_S, K_COMM_FRAC, NKEYS
};
enum { V_STR, V_INT, V_NUM, V_OBJ };
#define T_TRAIN 1u
#define T_TEST 2u
#define T_EVENT 4u
static const struct { const char *name; int kind; unsigned types, optional; } keys[NKEYS] = {
    [K_TYPE] = {"type", V_STR, T_TRAIN | T_TEST | T_EVENT},
    [K_ITER] = {"iter", V_INT, T_TRAIN | T_TEST | T_EVENT},
    [K_LOSS] = {"loss", V_NUM, T_TRAIN | T_TEST},
    [K_SMOOTHED] = {"smoothed_loss", V_NUM, T_TRAIN},
    [K_LR] = {"lr", V_NUM, T_TRAIN},
    [K_IPS] = {"images_per_s", V_NUM, T_TRAIN},
    [K_ELAPSED] = {"elapsed_s", V_NUM, T_TRAIN},
    [K_NET] = {"net", V_INT, T_TEST},
    [K_OUTPUTS] = {"outputs", V_OBJ, T_TRAIN | T_TEST, T_TRAIN},
    [K_SECONDS] = {"seconds", V_NUM, T_TEST},
    [K_EVENT] = {"event", V_STR, T_EVENT},
    [K_TEXT] = {"text", V_STR, T_EVENT},
    [K_RANKS] = {"ranks", V_INT, T_TRAIN, T_TRAIN},
    [K_COMM_S] = {"comm_s", V_NUM, T_TRAIN, T_TRAIN},
    [K_STEP_S] = {"step_s", V_NUM, T_TRAIN, T_TRAIN},
    [K_COMM_FRAC] = {"comm_frac", V_NUM, T_TRAIN, T_TRAIN},
};

typedef struct cursor {
    const char *start, *p, *end;
    cf_mline *out;
} cursor;

/* Record why the line is bad (the first reason only) and return -1. */
static int bad(cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(cursor *c, const char *fmt, ...)
{
    if (c->out->why[0]) return -1;
    int n = snprintf(c->out->why, sizeof c->out->why, "col %d: ", (int)(c->p - c->start) + 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->out->why + n, sizeof c->out->why - n, fmt, ap);
    va_end(ap);
    return -1;
}

static bool at_end(const cursor *c) { return c->p >= c->end; }

static void skip_ws(cursor *c)
{
    while (!at_end(c) && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r')) c->p++;
}

/* Skip blanks, then take character ch or fail. */
static int expect(cursor *c, char ch)
{
    skip_ws(c);
    if (at_end(c)) return bad(c, "line ends where '%c' was expected", ch);
    if (*c->p != ch) return bad(c, "'%c' expected", ch);
    c->p++;
    return 0;
}

/* ---- strings ---- */

typedef struct sink { char *buf; size_t cap, n; bool full; } sink;

/* Append one code point's UTF-8 bytes, or nothing once one did not fit
 * (so a cut string ends on a character boundary). */
static void put_bytes(sink *s, const char *b, size_t n)
{
    if (!s->buf || s->full) return;
    if (s->n + n + 1 > s->cap) {
        s->full = true;
        return;
    }
    memcpy(s->buf + s->n, b, n);
    s->n += n;
    s->buf[s->n] = 0;
}

static void put_code(sink *s, unsigned cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) b[0] = (char)cp, n = 1;
    else if (cp < 0x800) b[0] = (char)(0xC0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        b[0] = (char)(0xE0 | cp >> 12), b[1] = (char)(0x80 | (cp >> 6 & 0x3F)), b[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    else
        b[0] = (char)(0xF0 | cp >> 18), b[1] = (char)(0x80 | (cp >> 12 & 0x3F)), b[2] = (char)(0x80 | (cp >> 6 & 0x3F)),
        b[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    put_bytes(s, b, n);
}

static int hex4(cursor *c, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++, c->p++) {
        if (at_end(c)) return bad(c, "line ends inside a \\u escape");
        char h = *c->p;
        int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (d < 0) return bad(c, "bad hex digit in a \\u escape");
        *v = *v << 4 | (unsigned)d;
    }
    return 0;
}

/* One escape after the backslash. */
static int escape(cursor *c, sink *s)
{
    if (at_end(c)) return bad(c, "line ends inside an escape");
    char e = *c->p++;
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
    const char *k = strchr(from, e);
    if (e && k) {
        put_bytes(s, to + (k - from), 1);
        return 0;
    }
    if (e != 'u') {
        c->p -= 2; /* point at the backslash */
        return bad(c, "unknown escape '\\%c'", e);
    }
    unsigned cp;
    if (hex4(c, &cp)) return -1;
    if (cp == 0) return bad(c, "\\u0000 in a string");
    if (cp >= 0xDC00 && cp <= 0xDFFF) return bad(c, "lone low surrogate in a string");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* a high surrogate must be followed by \u and a low one */
        unsigned lo;
        if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u') return bad(c, "lone high surrogate in a string");
        c->p += 2;
        if (hex4(c, &lo)) return -1;
        if (lo < 0xDC00 || lo > 0xDFFF) return bad(c, "high surrogate without its low half");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    put_code(s, cp);
    return 0;
}

/* A string into buf (cap bytes; cut when longer), or skipped with buf
 * NULL.  Raw control characters and NUL bytes are refused, as JSON
 * requires. */
static int string(cursor *c, char *buf, size_t cap)
{
    skip_ws(c);
    if (at_end(c)) return bad(c, "line ends where a string was expected");
    if (*c->p != '"') return bad(c, "string expected");
    c->p++;
    sink s = {buf, cap, 0, false};
    if (buf && cap) buf[0] = 0;
    for (;;) {
        if (at_end(c)) return bad(c, "line ends inside a string");
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            c->p++;
            return 0;
        }
        if (!ch) return bad(c, "NUL byte in a string");
        if (ch < 0x20) return bad(c, "control character 0x%02x in a string", ch);
        c->p++;
        if (ch == '\\') {
            if (escape(c, &s)) return -1;
            continue;
        }
        /* a multi-byte character is copied whole or not at all */
        const char *from = c->p - 1;
        while (!at_end(c) && ((unsigned char)*c->p & 0xC0) == 0x80 && ch >= 0xC0) c->p++;
        put_bytes(&s, from, (size_t)(c->p - from));
    }
}

/* ---- numbers ---- */

static bool digit(const cursor *c) { return !at_end(c) && *c->p >= '0' && *c->p <= '9'; }

/* A JSON number, or null (NaN) when null_ok. */
static int number(cursor *c, double *v, bool null_ok)
{
    skip_ws(c);
    if (c->end - c->p >= 4 && !memcmp(c->p, "null", 4)) {
        if (!null_ok) return bad(c, "null where an integer is required");
        c->p += 4;
        *v = NAN;
        return 0;
    }
    const char *from = c->p;
    if (!at_end(c) && *c->p == '-') c->p++;
    if (!digit(c)) return bad(c, at_end(c) ? "line ends where a number was expected" : "number expected");
    if (*c->p == '0') c->p++;
    else
        while (digit(c)) c->p++;
    if (!at_end(c) && *c->p == '.') {
        c->p++;
        if (!digit(c)) return bad(c, "digit expected after '.'");
        while (digit(c)) c->p++;
    }
    if (!at_end(c) && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (!at_end(c) && (*c->p == '+' || *c->p == '-')) c->p++;
        if (!digit(c)) return bad(c, "digit expected in an exponent");
        while (digit(c)) c->p++;
    }
    char buf[64];
    size_t n = (size_t)(c->p - from);
    if (n >= sizeof buf) return bad(c, "number too long");
    memcpy(buf, from, n);
    buf[n] = 0;
    *v = strtod(buf, NULL);
    if (!isfinite(*v)) return bad(c, "number out of range");
    return 0;
}

static int integer(cursor *c, int *v)
{
    double d;
    if (number(c, &d, false)) return -1;
    if (d != floor(d) || d < 0 || d > INT_MAX) return bad(c, "non-negative integer expected");
    *v = (int)d;
    return 0;
}

/* A value of a key the writers never use: skipped when it is a number,
 * null or a string. */
static int skip_scalar(cursor *c, const char *key)
{
    skip_ws(c);
    if (at_end(c)) return bad(c, "line ends where a value was expected");
    if (*c->p == '"') return string(c, NULL, 0);
    if (*c->p == '{' || *c->p == '[' || *c->p == 't' || *c->p == 'f')
        return bad(c, "unknown key '%s' with a value that is not a number, null or a string", key);
    double d;
    return number(c, &d, true);
}

/* ---- the outputs object ---- */

static int outputs(cursor *c, cf_test_rec *r)
{
    if (expect(c, '{')) return -1;
    skip_ws(c);
    if (!at_end(c) && *c->p == '}') {
        c->p++;
        return 0;
    }
    for (;;) {
        if (r->n == CF_MON_MAX_OUT) return bad(c, "more than %d outputs", CF_MON_MAX_OUT);
        char *name = r->name[r->n];
        if (string(c, name, sizeof r->name[0])) return -1;
        for (int i = 0; i < r->n; i++)
            if (!strcmp(r->name[i], name)) return bad(c, "output '%s' twice", name);
        if (expect(c, ':') || number(c, &r->value[r->n], true)) return -1;
        r->is_loss[r->n] = strstr(name, "loss") != NULL;
        r->weight[r->n] = 1;
        r->n++;
        skip_ws(c);
        if (at_end(c)) return bad(c, "line ends inside \"outputs\"");
        if (*c->p == '}') {
            c->p++;
            return 0;
        }
        if (*c->p != ',') return bad(c, "',' or '}' expected in \"outputs\"");
        c->p++;
    }
}

/* ---- the line ---- */

typedef struct fields {
    unsigned seen;           /* bit per key */
    unsigned type;           /* T_* */
    int iter, net, ranks;
    double num[NKEYS];
    unsigned rank_seen;      /* bit per rank<k>_images_per_s, k < CF_MON_MAX_RANKS */
    bool any_rank;           /* one of them, kept or not: a train line's key */
    double rank_ips[CF_MON_MAX_RANKS];
} fields;

/* "rank<k>_images_per_s" (k written as the writer does: no leading zero):
 * k, or -1 for any other key. */
static int rank_key(const char *key)
{
    static const char pre[] = "rank", post[] = "_images_per_s";
    if (strncmp(key, pre, 4)) return -1;
    const char *p = key + 4;
    if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9')) return -1;
    long k = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((k = k * 10 + (*p - '0')) > INT_MAX / 10) return -1;
    return strcmp(p, post) ? -1 : (int)k;
}

static int rank_member(cursor *c, fields *f, const char *key, int r)
{
    f->any_rank = true;
    if (r >= CF_MON_MAX_RANKS) return skip_scalar(c, key); /* the writer keeps no more than these */
    if (f->rank_seen & 1u << r) return bad(c, "key '%s' twice", key);
    f->rank_seen |= 1u << r;
    return number(c, &f->rank_ips[r], true);
}

static int member(cursor *c, fields *f)
{
    char key[32];
    if (string(c, key, sizeof key) || expect(c, ':')) return -1;
    int k = 0;
    while (k < NKEYS && strcmp(keys[k].name, key)) k++;
    int r = k == NKEYS ? rank_key(key) : -1;
    if (r >= 0) return rank_member(c, f, key, r);
    if (k == NKEYS) return skip_scalar(c, key);
    if (f->seen & 1u << k) return bad(c, "key '%s' twice", key);
    f->seen |= 1u << k;
    cf_mline *o = c->out;
    switch (k) {
    case K_TYPE: {
        char t[16];
        const char *at = c->p;
        if (string(c, t, sizeof t)) return -1;
        f->type = !strcmp(t, "train") ? T_TRAIN : !strcmp(t, "test") ? T_TEST : !strcmp(t, "event") ? T_EVENT : 0;
        if (!f->type) {
            c->p = at;
            skip_ws(c);
            return bad(c, "unknown type '%s'", t);
        }
        return 0;
    }
    case K_ITER: return integer(c, &f->iter);
    case K_NET: return integer(c, &f->net);
    case K_RANKS: return integer(c, &f->ranks);
    case K_OUTPUTS: return outputs(c, &o->test);
    case K_EVENT: return string(c, o->event, sizeof o->event);
    case K_TEXT: return string(c, o->text, sizeof o->text);
    default: return number(c, &f->num[k], true);
    }
}

/* Every key of the type there, none of another type's. */
static int check_keys(cursor *c, const fields *f)
{
    if (!(f->seen & 1u << K_TYPE)) return bad(c, "no \"type\"");
    const char *tname = f->type == T_TRAIN ? "a train" : f->type == T_TEST ? "a test" : "an event";
    for (int k = 0; k < NKEYS; k++)
        if (!(keys[k].types & f->type) && f->seen & 1u << k) return bad(c, "\"%s\" in %s line", keys[k].name, tname);
    if (f->any_rank && f->type != T_TRAIN) return bad(c, "\"rank<k>_images_per_s\" in %s line", tname);
    for (int k = 0; k < NKEYS; k++)
        if (keys[k].types & f->type && !(keys[k].optional & f->type) && !(f->seen & 1u << k))
            return bad(c, "%s line without \"%s\"", tname, keys[k].name);
    return 0;
}

static void fill(cf_mline *o, const fields *f)
{
    o->iter = f->iter;
    if (f->type == T_TRAIN) {
        o->type = CF_MLINE_TRAIN;
        o->train = (cf_iter_rec){f->iter, (float)f->num[K_LOSS], (float)f->num[K_SMOOTHED], f->num[K_LR],
                                 f->num[K_IPS], f->num[K_ELAPSED]};
        /* several processes: what is missing reads as NaN, as null does */
        cf_mline_ranks *rk = &o->ranks;
        rk->ranks = f->seen & 1u << K_RANKS ? f->ranks : 0;
        rk->comm_s = f->seen & 1u << K_COMM_S ? f->num[K_COMM_S] : NAN;
        rk->step_s = f->seen & 1u << K_STEP_S ? f->num[K_STEP_S] : NAN;
        rk->comm_frac = f->seen & 1u << K_COMM_FRAC ? f->num[K_COMM_FRAC] : NAN;
        for (int r = 0; r < CF_MON_MAX_RANKS; r++) rk->ips[r] = f->rank_seen & 1u << r ? f->rank_ips[r] : NAN;
        o->test.iter = f->iter; /* the outputs, if the line had them */
        o->test.net = -1;
    } else if (f->type == T_TEST) {
        o->type = CF_MLINE_TEST;
        o->test.iter = f->iter;
        o->test.net = f->net;
        o->test.loss = f->num[K_LOSS];
        o->test.seconds = f->num[K_SECONDS];
    } else o->type = CF_MLINE_EVENT;
}

cf_mline_type cf_metrics_parse(const char *line, size_t len, cf_mline *out)
{
    memset(out, 0, sizeof *out);
    cursor c = {line, line, line + len, out};
    skip_ws(&c);
    if (at_end(&c)) return out->type = CF_MLINE_EMPTY;
    fields f;
    memset(&f, 0, sizeof f);
    out->type = CF_MLINE_BAD;
    if (expect(&c, '{')) return CF_MLINE_BAD;
    skip_ws(&c);
    if (!at_end(&c) && *c.p == '}') c.p++;
    else
        for (;;) {
            if (member(&c, &f)) return CF_MLINE_BAD;
            skip_ws(&c);
            if (at_end(&c)) {
                bad(&c, "line ends before the closing '}'");
                return CF_MLINE_BAD;
            }
            if (*c.p == '}') {
                c.p++;
                break;
            }
            if (*c.p != ',') {
                bad(&c, "',' or '}' expected");
                return CF_MLINE_BAD;
            }
            c.p++;
        }
    skip_ws(&c);
    if (!at_end(&c)) {
        bad(&c, "text after the object");
        return CF_MLINE_BAD;
    }
    if (check_keys(&c, &f)) return CF_MLINE_BAD;
    fill(out, &f);
    return out->type;
}
