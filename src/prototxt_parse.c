/* prototxt_parse.c — protobuf text format (Caffe's .prototxt) to the same
 * config tree the YAML parser builds, so layers and solvers read both alike.
 *
 * The grammar, as protobuf's text format defines it:
 *   fields  := { field [';' | ','] }
 *   field   := name ':' scalar
 *            | name [':'] ('{' fields '}' | '<' fields '>')
 *            | name [':'] '[' [item {',' item}] ']'
 *   scalar  := word | string {string}      (adjacent strings concatenate)
 * A word is an enum name, true/false, or a number (1, -3, 1e-4, 0x1f, 1.5f,
 * -inf).  Words keep their text (the getters convert them); strings are
 * unescaped and marked quoted.  Repeated names stay repeated in the map.
 *
 * Hostile input is refused rather than trusted: nesting deeper than
 * MAX_DEPTH, a string or word longer than MAX_STRING bytes, a file larger
 * than MAX_FILE bytes.  Nothing here recurses deeper than MAX_DEPTH. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "parse.h"

#define MAX_DEPTH 100
#define MAX_STRING (1 << 20)
#define MAX_FILE (64 << 20)

typedef enum { TK_EOF, TK_WORD, TK_STRING, TK_PUNCT } tk_kind;

typedef struct {
    tk_kind kind;
    int line, col;
    char punct; /* TK_PUNCT: one of {}<>[]:;, */
    char *text; /* TK_WORD, TK_STRING: owned, NUL-terminated */
    size_t len;
} token;

typedef struct {
    const char *s;
    size_t n, i;
    int line, col;
    const char *file;
    cf_error *err;
    token ahead; /* one token of lookahead */
    bool has_ahead;
    int depth;
} pstate;

/* ---- errors ---- */

static int fail(pstate *p, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(pstate *p, int line, int col, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cf_error_set(p->err, CF_EINPUT, "prototxt: %s", msg);
    return cf_error_at(p->err, p->file, line, col);
}

/* A byte for a message: 'c' when printable, else its hex code. */
static const char *char_desc(unsigned char c, char *buf, size_t n)
{
    if (isprint(c)) snprintf(buf, n, "'%c'", c);
    else snprintf(buf, n, "byte 0x%02x", c);
    return buf;
}

/* A token for a message: 'word', "string", '}', end of file.  Long texts
 * are cut so that the message stays one line. */
static const char *tok_desc(const token *t, char *buf, size_t n)
{
    switch (t->kind) {
    case TK_EOF: snprintf(buf, n, "end of file"); break;
    case TK_PUNCT: snprintf(buf, n, "'%c'", t->punct); break;
    case TK_WORD: snprintf(buf, n, "'%.40s%s'", t->text, t->len > 40 ? "..." : ""); break;
    case TK_STRING: snprintf(buf, n, "\"%.40s%s\"", t->text, t->len > 40 ? "..." : ""); break;
    }
    return buf;
}

/* ---- lexer ---- */

static int at(const pstate *p, size_t k)
{
    return p->i + k < p->n ? (unsigned char)p->s[p->i + k] : -1;
}

/* Columns count characters: UTF-8 continuation bytes do not advance. */
static void adv(pstate *p)
{
    unsigned char c = (unsigned char)p->s[p->i++];
    if (c == '\n') {
        p->line++;
        p->col = 1;
    } else if ((c & 0xC0) != 0x80) {
        p->col++;
    }
}

static void skip_space(pstate *p)
{
    for (;;) {
        int c = at(p, 0);
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
            adv(p);
        } else if (c == '#') {
            while (at(p, 0) != -1 && at(p, 0) != '\n') adv(p);
        } else {
            return;
        }
    }
}

typedef struct {
    char *b;
    size_t len, cap;
} sbuf;

static void sb_put(sbuf *sb, char c)
{
    if (sb->len + 2 > sb->cap) {
        sb->cap = sb->cap ? sb->cap * 2 : 32;
        sb->b = realloc(sb->b, sb->cap);
        if (!sb->b) abort();
    }
    sb->b[sb->len++] = c;
    sb->b[sb->len] = 0;
}

static void sb_utf8(sbuf *sb, unsigned long cp)
{
    if (cp < 0x80) {
        sb_put(sb, (char)cp);
    } else if (cp < 0x800) {
        sb_put(sb, (char)(0xC0 | (cp >> 6)));
        sb_put(sb, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        sb_put(sb, (char)(0xE0 | (cp >> 12)));
        sb_put(sb, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sb_put(sb, (char)(0x80 | (cp & 0x3F)));
    } else {
        sb_put(sb, (char)(0xF0 | (cp >> 18)));
        sb_put(sb, (char)(0x80 | ((cp >> 12) & 0x3F)));
        sb_put(sb, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sb_put(sb, (char)(0x80 | (cp & 0x3F)));
    }
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Read exactly `digits` hex digits of a \u or \U escape; -1 when malformed. */
static long read_hex(pstate *p, int digits)
{
    long v = 0;
    for (int k = 0; k < digits; k++) {
        int h = hexval(at(p, 0));
        if (h < 0) return -1;
        v = v * 16 + h;
        adv(p);
    }
    return v;
}

/* One escape after the backslash (already consumed), as protobuf's text
 * format defines them: C escapes, octal \NNN, hex \xHH, \uXXXX, \UXXXXXXXX. */
static int lex_escape(pstate *p, sbuf *sb, int bline, int bcol)
{
    int c = at(p, 0);
    const char *simple = "n\nt\tr\ra\ab\bf\fv\v\\\\''\"\"??";
    for (const char *s = simple; *s; s += 2)
        if (c == s[0]) {
            adv(p);
            sb_put(sb, s[1]);
            return 0;
        }
    unsigned long v = 0;
    if (c >= '0' && c <= '7') {
        for (int k = 0; k < 3 && at(p, 0) >= '0' && at(p, 0) <= '7'; k++) {
            v = v * 8 + (unsigned long)(at(p, 0) - '0');
            adv(p);
        }
        if (v > 255) return fail(p, bline, bcol, "octal escape out of range in string");
    } else if (c == 'x' || c == 'X') {
        adv(p);
        if (hexval(at(p, 0)) < 0) return fail(p, bline, bcol, "invalid escape '\\x' in string (no hex digits)");
        for (int k = 0; k < 2 && hexval(at(p, 0)) >= 0; k++) {
            v = v * 16 + (unsigned long)hexval(at(p, 0));
            adv(p);
        }
    } else if (c == 'u' || c == 'U') {
        adv(p);
        long cp = read_hex(p, c == 'u' ? 4 : 8);
        /* a UTF-16 surrogate pair written as two \u escapes is one character */
        if (cp >= 0xD800 && cp <= 0xDBFF && at(p, 0) == '\\' && at(p, 1) == 'u') {
            adv(p);
            adv(p);
            long lo = read_hex(p, 4);
            cp = lo >= 0xDC00 && lo <= 0xDFFF ? 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00) : -1;
        }
        if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return fail(p, bline, bcol, "invalid unicode escape in string");
        if (cp == 0) return fail(p, bline, bcol, "string contains a NUL character (\\0), which is not supported");
        sb_utf8(sb, (unsigned long)cp);
        return 0;
    } else {
        char d[16];
        if (c == -1 || c == '\n') return fail(p, bline, bcol, "unterminated string");
        if (isprint(c)) return fail(p, bline, bcol, "invalid escape '\\%c' in string", c);
        return fail(p, bline, bcol, "invalid escape in string: backslash before %s", char_desc((unsigned char)c, d, sizeof d));
    }
    if (v == 0) return fail(p, bline, bcol, "string contains a NUL character (\\0), which is not supported");
    sb_put(sb, (char)v);
    return 0;
}

/* A quoted string: '...' or "...", on one line (protobuf strings do not
 * cross lines). */
static int lex_string(pstate *p, token *t)
{
    char q = p->s[p->i];
    adv(p);
    sbuf sb = {0};
    sb_put(&sb, 0); /* an empty string is "", not NULL */
    sb.len = 0;
    for (;;) {
        int c = at(p, 0);
        if (c == -1 || c == '\n') {
            free(sb.b);
            return fail(p, t->line, t->col, "unterminated string");
        }
        if (c == q) {
            adv(p);
            break;
        }
        if (sb.len >= MAX_STRING) {
            free(sb.b);
            return fail(p, t->line, t->col, "string longer than %d bytes", MAX_STRING);
        }
        if (c == '\\') {
            int bl = p->line, bc = p->col;
            adv(p);
            if (lex_escape(p, &sb, bl, bc)) {
                free(sb.b);
                return -1;
            }
        } else if (c == 0) {
            free(sb.b);
            return fail(p, p->line, p->col, "string contains a NUL byte");
        } else {
            sb_put(&sb, (char)c);
            adv(p);
        }
    }
    t->kind = TK_STRING;
    t->text = sb.b;
    t->len = sb.len;
    return 0;
}

static bool word_char(int c)
{
    return c != -1 && (isalnum(c) || c == '_' || c == '.');
}

/* A bare word: a name (TRAIN, xavier, true) or a number.  In a number an
 * exponent may carry a sign (1e-4); a trailing float suffix (1.5f) is
 * dropped so that the text is what strtod reads. */
static int lex_word(pstate *p, token *t)
{
    size_t start = p->i;
    int c = at(p, 0);
    size_t body = start; /* after any sign */
    if (c == '-' || c == '+') {
        if (!word_char(at(p, 1))) {
            char d[16];
            return fail(p, t->line, t->col, "unexpected character %s", char_desc((unsigned char)c, d, sizeof d));
        }
        adv(p);
        body = p->i;
    }
    bool numeric = isdigit(at(p, 0)) || at(p, 0) == '.';
    bool hex = numeric && at(p, 0) == '0' && (at(p, 1) == 'x' || at(p, 1) == 'X');
    for (;;) {
        int ch = at(p, 0);
        if (word_char(ch)) {
            adv(p);
        } else if ((ch == '-' || ch == '+') && numeric && !hex && p->i > body &&
                   (p->s[p->i - 1] == 'e' || p->s[p->i - 1] == 'E')) {
            adv(p);
        } else {
            break;
        }
        if (p->i - start > MAX_STRING) return fail(p, t->line, t->col, "word longer than %d bytes", MAX_STRING);
    }
    size_t len = p->i - start;
    if (numeric && !hex && len > 1 && (p->s[p->i - 1] == 'f' || p->s[p->i - 1] == 'F')) {
        char tmp[64];
        if (len - 1 < sizeof tmp) {
            memcpy(tmp, p->s + start, len - 1);
            tmp[len - 1] = 0;
            char *end;
            strtod(tmp, &end);
            if (*end == 0) len--;
        }
    }
    t->kind = TK_WORD;
    t->text = malloc(len + 1);
    if (!t->text) abort();
    memcpy(t->text, p->s + start, len);
    t->text[len] = 0;
    t->len = len;
    return 0;
}

static int lex(pstate *p, token *t)
{
    memset(t, 0, sizeof *t);
    skip_space(p);
    t->line = p->line;
    t->col = p->col;
    int c = at(p, 0);
    if (c == -1) {
        t->kind = TK_EOF;
        return 0;
    }
    if (c && strchr("{}<>[]:;,", c)) {
        t->kind = TK_PUNCT;
        t->punct = (char)c;
        adv(p);
        return 0;
    }
    if (c == '"' || c == '\'') return lex_string(p, t);
    if (word_char(c) || c == '-' || c == '+') return lex_word(p, t);
    char d[16];
    return fail(p, t->line, t->col, "unexpected character %s", char_desc((unsigned char)c, d, sizeof d));
}

static int next(pstate *p, token *t)
{
    if (p->has_ahead) {
        *t = p->ahead;
        p->has_ahead = false;
        return 0;
    }
    return lex(p, t);
}

static int peek(pstate *p, const token **t)
{
    if (!p->has_ahead) {
        if (lex(p, &p->ahead)) return -1;
        p->has_ahead = true;
    }
    *t = &p->ahead;
    return 0;
}

static bool is_punct(const token *t, char c)
{
    return t->kind == TK_PUNCT && t->punct == c;
}

static bool is_name(const token *t)
{
    if (t->kind != TK_WORD || !(isalpha((unsigned char)t->text[0]) || t->text[0] == '_')) return false;
    for (const char *s = t->text; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_') return false;
    return true;
}

/* ---- parser ----
 * Every node is added to its parent before its contents are parsed, so on
 * an error the caller frees the root and nothing leaks. */

static int parse_fields(pstate *p, cf_node *map, char opener, int oline, int ocol);

/* A scalar from a word or from a string (plus any strings right after it). */
static int parse_scalar(pstate *p, token *t, cf_node **out)
{
    if (t->kind == TK_STRING) {
        const token *nx;
        for (;;) {
            if (peek(p, &nx)) return -1;
            if (nx->kind != TK_STRING) break;
            if (t->len + nx->len > MAX_STRING)
                return fail(p, nx->line, nx->col, "string longer than %d bytes", MAX_STRING);
            char *s = realloc(t->text, t->len + nx->len + 1);
            if (!s) abort();
            memcpy(s + t->len, nx->text, nx->len + 1);
            t->text = s;
            t->len += nx->len;
            free(p->ahead.text);
            p->has_ahead = false;
        }
    }
    *out = cf_node_scalar(t->text, t->kind == TK_STRING, p->file, t->line, t->col);
    return 0;
}

/* `{ ... }` or `< ... >` into a new map at (line, col), added to parent. */
static int parse_message(pstate *p, cf_node *parent, const char *key, const token *open, int line, int col)
{
    if (p->depth >= MAX_DEPTH) return fail(p, open->line, open->col, "nesting deeper than %d levels", MAX_DEPTH);
    cf_node *m = cf_node_new(CF_NODE_MAP, p->file, line, col);
    cf_node_add(parent, key, m);
    p->depth++;
    int rc = parse_fields(p, m, open->punct, open->line, open->col);
    p->depth--;
    return rc;
}

static int eof_error(pstate *p, const token *t, char opener, int oline, int ocol)
{
    return fail(p, t->line, t->col, "unexpected end of file: '%c' opened at %d:%d is not closed", opener, oline, ocol);
}

/* `[ item, item ]` after key: scalars or messages. */
static int parse_list(pstate *p, cf_node *parent, const token *key, const token *open)
{
    cf_node *seq = cf_node_new(CF_NODE_SEQ, p->file, open->line, open->col);
    cf_node_add(parent, key->text, seq);
    seq->key_line = key->line;
    seq->key_col = key->col;
    const token *nx;
    if (peek(p, &nx)) return -1;
    if (is_punct(nx, ']')) {
        p->has_ahead = false;
        return 0;
    }
    char d[64];
    for (;;) {
        token t;
        if (next(p, &t)) return -1;
        int rc = 0;
        if (t.kind == TK_WORD || t.kind == TK_STRING) {
            cf_node *item;
            rc = parse_scalar(p, &t, &item);
            if (!rc) cf_node_add(seq, NULL, item);
        } else if (is_punct(&t, '{') || is_punct(&t, '<')) {
            rc = parse_message(p, seq, NULL, &t, t.line, t.col);
        } else if (t.kind == TK_EOF) {
            rc = eof_error(p, &t, '[', open->line, open->col);
        } else {
            rc = fail(p, t.line, t.col, "expected a value in the list for '%s', got %s", key->text,
                      tok_desc(&t, d, sizeof d));
        }
        free(t.text);
        if (rc) return -1;
        if (next(p, &t)) return -1;
        if (is_punct(&t, ']')) return 0;
        if (is_punct(&t, ',')) continue;
        if (t.kind == TK_EOF) return eof_error(p, &t, '[', open->line, open->col);
        rc = fail(p, t.line, t.col, "expected ',' or ']' in the list for '%s', got %s", key->text,
                  tok_desc(&t, d, sizeof d));
        free(t.text);
        return rc;
    }
}

/* One field after its name. */
static int parse_field(pstate *p, cf_node *map, const token *key)
{
    token t;
    char d[64];
    if (next(p, &t)) return -1;
    bool colon = is_punct(&t, ':');
    if (colon && next(p, &t)) return -1;
    int rc;
    if (is_punct(&t, '{') || is_punct(&t, '<')) {
        /* a message takes its key's position: errors then name the field */
        rc = parse_message(p, map, key->text, &t, key->line, key->col);
    } else if (is_punct(&t, '[')) {
        rc = parse_list(p, map, key, &t);
    } else if (colon && (t.kind == TK_WORD || t.kind == TK_STRING)) {
        cf_node *v;
        rc = parse_scalar(p, &t, &v);
        if (!rc) {
            cf_node_add(map, key->text, v);
            v->key_line = key->line;
            v->key_col = key->col;
        }
    } else if (!colon) {
        rc = fail(p, t.line, t.col, "expected ':' or '{' after '%s'", key->text);
    } else {
        rc = fail(p, t.line, t.col, "expected a value after '%s:', got %s", key->text, tok_desc(&t, d, sizeof d));
    }
    free(t.text);
    return rc;
}

/* Fields up to the closer of `opener` (or to the end of the text when
 * opener is 0, at the top level). */
static int parse_fields(pstate *p, cf_node *map, char opener, int oline, int ocol)
{
    char closer = opener == '{' ? '}' : opener == '<' ? '>' : 0;
    char d[64];
    for (;;) {
        token t;
        if (next(p, &t)) return -1;
        if (t.kind == TK_EOF) return closer ? eof_error(p, &t, opener, oline, ocol) : 0;
        if (t.kind == TK_PUNCT) {
            if (t.punct == closer) return 0;
            if (t.punct == ';' || t.punct == ',') continue; /* optional separators */
            if ((t.punct == '}' || t.punct == '>') && !closer) return fail(p, t.line, t.col, "unbalanced '%c'", t.punct);
            if (t.punct == '}' || t.punct == '>')
                return fail(p, t.line, t.col, "expected '%c' to close '%c' opened at %d:%d, got '%c'", closer,
                            opener, oline, ocol, t.punct);
        }
        if (!is_name(&t)) {
            int rc = fail(p, t.line, t.col, "expected a field name, got %s", tok_desc(&t, d, sizeof d));
            free(t.text);
            return rc;
        }
        int rc = parse_field(p, map, &t);
        free(t.text);
        if (rc) return -1;
    }
}

static cf_node *parse_text(const char *text, size_t n, const char *name, cf_error *err)
{
    pstate p = {.s = text, .n = n, .line = 1, .col = 1, .file = name, .err = err};
    if (n >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) p.i = 3; /* UTF-8 byte order mark */
    cf_node *root = cf_node_new(CF_NODE_MAP, name, 1, 1);
    int rc = parse_fields(&p, root, 0, 0, 0);
    if (p.has_ahead) free(p.ahead.text);
    if (rc) {
        cf_node_free(root);
        return NULL;
    }
    cf_node_set_file(root, name);
    return root;
}

cf_node *cf_prototxt_parse_string(const char *text, const char *name, cf_error *err)
{
    return parse_text(text, strlen(text), name ? name : "<string>", err);
}

char *cf_read_file(const char *path, size_t max, size_t *len_out, cf_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cf_error_set(err, CF_EINPUT, "cannot open: %s", strerror(errno));
        cf_error_at(err, path, 0, 0);
        return NULL;
    }
    /* read at most max + 1 bytes: one more than allowed tells "too large" */
    size_t cap = 1 << 16, len = 0, limit = max + 1;
    char *buf = malloc(cap + 1);
    if (!buf) abort();
    for (;;) {
        if (len == cap) {
            cap = cap * 2 < limit ? cap * 2 : limit;
            buf = realloc(buf, cap + 1);
            if (!buf) abort();
        }
        size_t want = cap - len;
        if (want == 0) break;
        size_t got = fread(buf + len, 1, want, f);
        len += got;
        if (got < want) break; /* end of file or error */
    }
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    if (rerr || len > max) {
        if (rerr) cf_error_set(err, CF_EINPUT, "cannot read: %s", strerror(rerr));
        else cf_error_set(err, CF_EINPUT, "file is larger than %zu MiB", max >> 20);
        cf_error_at(err, path, 0, 0);
        free(buf);
        return NULL;
    }
    buf[len] = 0;
    *len_out = len;
    return buf;
}

cf_node *cf_prototxt_parse_file(const char *path, cf_error *err)
{
    size_t len;
    char *buf = cf_read_file(path, MAX_FILE, &len, err);
    if (!buf) return NULL;
    cf_node *root = parse_text(buf, len, path, err);
    free(buf);
    return root;
}

/* Caffe's text files: nets and solvers (.prototxt, .pbtxt, .pt) and the
 * rare text-format solver state.  Anything else is read as YAML. */
bool cf_config_is_prototxt(const char *path)
{
    static const char *const exts[] = {".prototxt", ".pbtxt", ".pt", ".solverstate", NULL};
    const char *base = strrchr(path, '/');
    const char *dot = strrchr(base ? base : path, '.');
    if (!dot) return false;
    for (int i = 0; exts[i]; i++)
        if (!strcasecmp(dot, exts[i])) return true;
    return false;
}

cf_node *cf_config_parse_file(const char *path, cf_error *err)
{
    return cf_config_is_prototxt(path) ? cf_prototxt_parse_file(path, err) : cf_yaml_parse_file(path, err);
}
