/* conftree.c — the config tree and its typed getters (see conftree.h). */
#include "conftree.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *xstrdup(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) abort(); /* out of memory for a few bytes of config: nothing to save */
    memcpy(d, s, n);
    return d;
}

cf_node *cf_node_new(cf_node_kind kind, const char *file, int line, int col)
{
    cf_node *n = calloc(1, sizeof *n);
    if (!n) abort();
    n->kind = kind;
    n->file = file;
    n->line = n->key_line = line;
    n->col = n->key_col = col;
    return n;
}

cf_node *cf_node_scalar(const char *value, bool quoted, const char *file, int line, int col)
{
    cf_node *n = cf_node_new(CF_NODE_SCALAR, file, line, col);
    n->value = xstrdup(value ? value : "");
    n->quoted = quoted;
    return n;
}

void cf_node_add(cf_node *parent, const char *key, cf_node *child)
{
    if (parent->nchild == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 4;
        parent->child = realloc(parent->child, parent->cap * sizeof *parent->child);
        if (!parent->child) abort();
    }
    free(child->key);
    child->key = key ? xstrdup(key) : NULL;
    child->parent = parent;
    parent->child[parent->nchild++] = child;
}

static void set_file_rec(cf_node *n, const char *file)
{
    n->file = file;
    for (size_t i = 0; i < n->nchild; i++) set_file_rec(n->child[i], file);
}

void cf_node_set_file(cf_node *root, const char *file)
{
    free(root->file_owned);
    root->file_owned = xstrdup(file);
    set_file_rec(root, root->file_owned);
}

void cf_node_free(cf_node *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->nchild; i++) cf_node_free(n->child[i]);
    for (size_t i = 0; i < n->nasked; i++) free(n->asked[i]);
    free(n->asked);
    free(n->child);
    free(n->key);
    free(n->value);
    free(n->file_owned);
    free(n);
}

static cf_node *clone_rec(const cf_node *n, const char *file)
{
    cf_node *c = cf_node_new(n->kind, file, n->line, n->col);
    c->key_line = n->key_line;
    c->key_col = n->key_col;
    c->value = xstrdup(n->value);
    c->quoted = n->quoted;
    for (size_t i = 0; i < n->nchild; i++)
        cf_node_add(c, n->child[i]->key, clone_rec(n->child[i], file));
    return c;
}

cf_node *cf_node_clone(const cf_node *n)
{
    if (!n) return NULL;
    cf_node *c = clone_rec(n, n->file);
    /* a copied root owns its own copy of the file name; a copied subtree
     * keeps pointing at the name its source tree owns */
    if (n->file_owned) cf_node_set_file(c, n->file_owned);
    return c;
}

/* ---- lookups ---- */

static void mark_asked(cf_node *map, const char *key)
{
    for (size_t i = 0; i < map->nasked; i++)
        if (!strcmp(map->asked[i], key)) return;
    char **a = realloc(map->asked, (map->nasked + 1) * sizeof *a);
    if (!a) abort();
    map->asked = a;
    map->asked[map->nasked++] = xstrdup(key);
}

size_t cf_node_count(cf_node *map, const char *key)
{
    if (!map || map->kind != CF_NODE_MAP) return 0;
    mark_asked(map, key);
    size_t n = 0;
    for (size_t i = 0; i < map->nchild; i++) {
        cf_node *c = map->child[i];
        if (!c->key || strcmp(c->key, key)) continue;
        n += c->kind == CF_NODE_SEQ ? c->nchild : 1;
    }
    return n;
}

cf_node *cf_node_at(cf_node *map, const char *key, size_t idx)
{
    if (!map || map->kind != CF_NODE_MAP) return NULL;
    mark_asked(map, key);
    size_t n = 0;
    for (size_t i = 0; i < map->nchild; i++) {
        cf_node *c = map->child[i];
        if (!c->key || strcmp(c->key, key)) continue;
        if (c->kind == CF_NODE_SEQ) {
            c->used = true;
            if (idx < n + c->nchild) {
                c->child[idx - n]->used = true;
                return c->child[idx - n];
            }
            n += c->nchild;
        } else {
            if (n == idx) {
                c->used = true;
                return c;
            }
            n++;
        }
    }
    return NULL;
}

bool cf_node_has(cf_node *map, const char *key)
{
    return cf_node_count(map, key) > 0;
}

int cf_node_error(const cf_node *n, cf_error *err, int code, const char *fmt, ...)
{
    if (!err) return -1;
    cf_error_clear(err);
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n) cf_error_at(err, n->file, n->line, n->col);
    return -1;
}

cf_node *cf_node_get(cf_node *map, const char *key)
{
    return cf_node_at(map, key, 0);
}

/* A single value under key: more than one is an error. */
static int get_one(cf_node *map, const char *key, cf_node **out, cf_error *err)
{
    *out = NULL;
    size_t n = cf_node_count(map, key);
    if (n == 0) return 0;
    cf_node *v = cf_node_at(map, key, 0);
    if (n > 1) {
        cf_node *second = cf_node_at(map, key, 1);
        return cf_node_error(second, err, CF_EINPUT,
                             "field '%s' takes one value but is given %zu", key, n);
    }
    *out = v;
    return 0;
}

static const char *kind_name(cf_node_kind k)
{
    return k == CF_NODE_MAP ? "a map" : k == CF_NODE_SEQ ? "a list" : "a scalar";
}

static int need_scalar(cf_node *n, const char *what, cf_error *err)
{
    if (n->kind == CF_NODE_SCALAR) return 0;
    return cf_node_error(n, err, CF_EINPUT, "field '%s': expected %s, got %s",
                         n->key ? n->key : (n->parent && n->parent->key ? n->parent->key : "?"),
                         what, kind_name(n->kind));
}

static const char *field_name(const cf_node *n)
{
    if (n->key) return n->key;
    if (n->parent && n->parent->key) return n->parent->key;
    return "?";
}

int cf_node_int(cf_node *n, long *out, cf_error *err)
{
    if (need_scalar(n, "an integer", err)) return -1;
    const char *s = n->value;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (end != s && *end == 0 && errno == 0) {
        *out = v;
        return 0;
    }
    /* Accept "3.0" style integers written by other tools. */
    double d = strtod(s, &end);
    if (end != s && *end == 0 && d == floor(d) && fabs(d) < 9e15) {
        *out = (long)d;
        return 0;
    }
    return cf_node_error(n, err, CF_EINPUT, "field '%s': expected an integer, got '%s'",
                         field_name(n), s);
}

int cf_node_float(cf_node *n, double *out, cf_error *err)
{
    if (need_scalar(n, "a number", err)) return -1;
    const char *s = n->value;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s && *end == 0 && errno != ERANGE) {
        *out = v;
        return 0;
    }
    if (!strcasecmp(s, "inf") || !strcasecmp(s, ".inf")) { *out = INFINITY; return 0; }
    if (!strcasecmp(s, "-inf") || !strcasecmp(s, "-.inf")) { *out = -INFINITY; return 0; }
    return cf_node_error(n, err, CF_EINPUT, "field '%s': expected a number, got '%s'",
                         field_name(n), s);
}

int cf_node_bool(cf_node *n, bool *out, cf_error *err)
{
    if (need_scalar(n, "true or false", err)) return -1;
    const char *s = n->value;
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on") || !strcmp(s, "1")) {
        *out = true;
        return 0;
    }
    if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off") || !strcmp(s, "0")) {
        *out = false;
        return 0;
    }
    return cf_node_error(n, err, CF_EINPUT, "field '%s': expected true or false, got '%s'",
                         field_name(n), s);
}

int cf_get_int(cf_node *map, const char *key, long def, long *out, cf_error *err)
{
    cf_node *n;
    *out = def;
    if (get_one(map, key, &n, err)) return -1;
    return n ? cf_node_int(n, out, err) : 0;
}

int cf_get_float(cf_node *map, const char *key, double def, double *out, cf_error *err)
{
    cf_node *n;
    *out = def;
    if (get_one(map, key, &n, err)) return -1;
    return n ? cf_node_float(n, out, err) : 0;
}

int cf_get_bool(cf_node *map, const char *key, bool def, bool *out, cf_error *err)
{
    cf_node *n;
    *out = def;
    if (get_one(map, key, &n, err)) return -1;
    return n ? cf_node_bool(n, out, err) : 0;
}

int cf_get_string(cf_node *map, const char *key, const char *def, const char **out, cf_error *err)
{
    cf_node *n;
    *out = def;
    if (get_one(map, key, &n, err)) return -1;
    if (!n) return 0;
    if (need_scalar(n, "a string", err)) return -1;
    *out = n->value;
    return 0;
}

int cf_get_enum(cf_node *map, const char *key, const char *const *names, int def, int *out, cf_error *err)
{
    cf_node *n;
    *out = def;
    if (get_one(map, key, &n, err)) return -1;
    if (!n) return 0;
    if (need_scalar(n, "a name", err)) return -1;
    for (int i = 0; names[i]; i++)
        if (!strcasecmp(n->value, names[i])) {
            *out = i;
            return 0;
        }
    char list[512] = "";
    for (int i = 0; names[i]; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", names[i]);
    }
    return cf_node_error(n, err, CF_EINPUT, "field '%s': unknown value '%s' (expected one of: %s)",
                         key, n->value, list);
}

int cf_get_int_at(cf_node *map, const char *key, size_t i, long *out, cf_error *err)
{
    cf_node *n = cf_node_at(map, key, i);
    if (!n) return cf_node_error(map, err, CF_EINPUT, "field '%s': missing value %zu", key, i);
    return cf_node_int(n, out, err);
}

int cf_get_float_at(cf_node *map, const char *key, size_t i, double *out, cf_error *err)
{
    cf_node *n = cf_node_at(map, key, i);
    if (!n) return cf_node_error(map, err, CF_EINPUT, "field '%s': missing value %zu", key, i);
    return cf_node_float(n, out, err);
}

int cf_get_string_at(cf_node *map, const char *key, size_t i, const char **out, cf_error *err)
{
    cf_node *n = cf_node_at(map, key, i);
    if (!n) return cf_node_error(map, err, CF_EINPUT, "field '%s': missing value %zu", key, i);
    if (need_scalar(n, "a string", err)) return -1;
    *out = n->value;
    return 0;
}

int cf_get_int_range(cf_node *map, const char *key, long def, long lo, long hi, long *out, cf_error *err)
{
    if (cf_get_int(map, key, def, out, err)) return -1;
    if (*out < lo || *out > hi) {
        cf_node *n = cf_node_get(map, key);
        if (hi == (long)(~0UL >> 1))
            return cf_node_error(n ? n : map, err, CF_EINPUT,
                                 "field '%s': %ld is out of range (must be >= %ld)", key, *out, lo);
        return cf_node_error(n ? n : map, err, CF_EINPUT,
                             "field '%s': %ld is out of range (must be %ld..%ld)", key, *out, lo, hi);
    }
    return 0;
}

int cf_get_map(cf_node *map, const char *key, cf_node **out, cf_error *err)
{
    cf_node *n;
    *out = NULL;
    if (get_one(map, key, &n, err)) return -1;
    if (!n) return 0;
    if (n->kind != CF_NODE_MAP) {
        /* `{}` written as an empty scalar in YAML (`key:`) means an empty message */
        if (n->kind == CF_NODE_SCALAR && n->value[0] == 0 && !n->quoted) {
            n->kind = CF_NODE_MAP;
            free(n->value);
            n->value = NULL;
        } else {
            return cf_node_error(n, err, CF_EINPUT, "field '%s': expected a map of fields, got %s",
                                 key, kind_name(n->kind));
        }
    }
    *out = n;
    return 0;
}

/* ---- unused-field check ---- */

size_t cf_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = malloc((lb + 1) * sizeof *row);
    if (!row) abort();
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t del = row[j] + 1, ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

static int check_rec(cf_node *map, cf_error *err)
{
    for (size_t i = 0; i < map->nchild; i++) {
        cf_node *c = map->child[i];
        if (c->unchecked) continue;
        if (map->kind == CF_NODE_MAP && c->key && !c->used) {
            const char *best = NULL;
            size_t bestd = (size_t)-1;
            for (size_t k = 0; k < map->nasked; k++) {
                size_t d = cf_edit_distance(c->key, map->asked[k]);
                if (d < bestd) {
                    bestd = d;
                    best = map->asked[k];
                }
            }
            cf_error_clear(err);
            if (err) {
                err->code = CF_EINPUT;
                cf_error_at(err, c->file, c->key_line, c->key_col);
                size_t limit = strlen(c->key) / 3 + 1;
                if (best && bestd <= (limit > 3 ? 3 : limit))
                    snprintf(err->msg, sizeof err->msg, "unknown field '%s' (did you mean '%s'?)", c->key, best);
                else
                    snprintf(err->msg, sizeof err->msg, "unknown field '%s'", c->key);
            }
            return -1;
        }
        if (c->used && (c->kind == CF_NODE_MAP || c->kind == CF_NODE_SEQ))
            if (check_rec(c, err)) return -1;
    }
    return 0;
}

int cf_node_check_unused(cf_node *map, cf_error *err)
{
    if (!map) return 0;
    return check_rec(map, err);
}

void cf_node_mark_used(cf_node *n)
{
    if (!n) return;
    n->used = true;
    for (size_t i = 0; i < n->nchild; i++) cf_node_mark_used(n->child[i]);
}

int cf_node_shape(cf_node *s, const char *what, int max_axes, int *naxes, int *dims, cf_error *err)
{
    if (s->kind != CF_NODE_MAP)
        return cf_node_error(s, err, CF_EINPUT, "%s: 'shape' must be a map like {dim: [64, 1, 28, 28]}", what);
    size_t n = cf_node_count(s, "dim");
    if (n > (size_t)max_axes)
        return cf_node_error(s, err, CF_EINPUT, "%s: shape has %zu axes (at most %d)", what, n, max_axes);
    for (size_t i = 0; i < n; i++) {
        long d;
        if (cf_get_int_at(s, "dim", i, &d, err)) return -1;
        if (d < 0 || d > INT_MAX)
            return cf_node_error(cf_node_at(s, "dim", i), err, CF_EINPUT, "%s: dimension %ld is out of range", what, d);
        dims[i] = (int)d;
    }
    *naxes = (int)n;
    return 0;
}
