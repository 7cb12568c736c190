/* yaml_parse.c — YAML text to config tree, on libyaml's event API.
 * Anchors are remembered as subtrees and aliases cloned, with a bound on
 * the total node count so that a "billion laughs" document is refused, and
 * a bound on nesting so that `[[[[...` cannot exhaust the stack (parsing
 * recurses once per level). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "parse.h"

#define MAX_DEPTH 100
#define MAX_FILE (64 << 20)

typedef struct {
    char *name;
    cf_node *node;
    bool done; /* the anchored node is complete: an alias inside it would recurse */
} anchor;

typedef struct {
    yaml_parser_t p;
    const char *file;
    const char *text; /* the input, to place reader errors (given as byte offsets) */
    size_t len;
    anchor *anchors;
    size_t nanchors;
    size_t nodes;
    int depth;
    cf_error *err;
} ystate;

static size_t count_nodes(const cf_node *n)
{
    size_t c = 1;
    for (size_t i = 0; i < n->nchild; i++) c += count_nodes(n->child[i]);
    return c;
}

static int perr(ystate *s, const char *what)
{
    cf_error_set(s->err, CF_EINPUT, "YAML: %s", what);
    if (s->p.error == YAML_READER_ERROR && s->text) {
        /* bad bytes (invalid UTF-8, control characters): libyaml gives a
         * byte offset, not a mark */
        int line = 1, col = 1;
        for (size_t i = 0; i < s->p.problem_offset && i < s->len; i++) {
            unsigned char c = (unsigned char)s->text[i];
            if (c == '\n') line++, col = 1;
            else if ((c & 0xC0) != 0x80) col++;
        }
        return cf_error_at(s->err, s->file, line, col);
    }
    return cf_error_at(s->err, s->file, (int)s->p.problem_mark.line + 1, (int)s->p.problem_mark.column + 1);
}

static int next(ystate *s, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&s->p, ev)) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s%s%s", s->p.problem ? s->p.problem : "syntax error",
                 s->p.context ? " " : "", s->p.context ? s->p.context : "");
        return perr(s, msg);
    }
    return 0;
}

/* Returns the anchor's index, or -1 when the node has no anchor. */
static long remember(ystate *s, const unsigned char *name, cf_node *n, bool done)
{
    if (!name) return -1;
    anchor *a = realloc(s->anchors, (s->nanchors + 1) * sizeof *a);
    if (!a) abort();
    s->anchors = a;
    s->anchors[s->nanchors].name = strdup((const char *)name);
    s->anchors[s->nanchors].done = done;
    s->anchors[s->nanchors++].node = n;
    return (long)s->nanchors - 1;
}

static void finish(ystate *s, long anchor_index)
{
    if (anchor_index >= 0) s->anchors[anchor_index].done = true;
}

static int too_deep(ystate *s, int line, int col)
{
    if (s->depth < MAX_DEPTH) return 0;
    cf_error_set(s->err, CF_EINPUT, "YAML: nesting deeper than %d levels", MAX_DEPTH);
    return cf_error_at(s->err, s->file, line, col);
}

static cf_node *parse_node(ystate *s, yaml_event_t *ev);

/* Parse from an already-read start event; returns the node or NULL. */
static cf_node *parse_node(ystate *s, yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    if (++s->nodes > CF_YAML_MAX_NODES) {
        cf_error_set(s->err, CF_EINPUT, "YAML: document too large (more than %d nodes after alias expansion)",
                     CF_YAML_MAX_NODES);
        cf_error_at(s->err, s->file, line, col);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        bool quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                      ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        cf_node *n = cf_node_scalar((const char *)ev->data.scalar.value, quoted, s->file, line, col);
        remember(s, ev->data.scalar.anchor, n, true);
        return n;
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        for (size_t i = s->nanchors; i-- > 0;)
            if (!strcmp(s->anchors[i].name, name)) {
                if (!s->anchors[i].done) {
                    cf_error_set(s->err, CF_EINPUT, "YAML: alias '*%s' is inside the node it refers to", name);
                    cf_error_at(s->err, s->file, line, col);
                    return NULL;
                }
                size_t c = count_nodes(s->anchors[i].node);
                if (s->nodes + c > CF_YAML_MAX_NODES) {
                    cf_error_set(s->err, CF_EINPUT,
                                 "YAML: alias '*%s' expands the document past %d nodes", name, CF_YAML_MAX_NODES);
                    cf_error_at(s->err, s->file, line, col);
                    return NULL;
                }
                s->nodes += c;
                return cf_node_clone(s->anchors[i].node);
            }
        cf_error_set(s->err, CF_EINPUT, "YAML: unknown alias '*%s'", name);
        cf_error_at(s->err, s->file, line, col);
        return NULL;
    }
    case YAML_SEQUENCE_START_EVENT: {
        if (too_deep(s, line, col)) return NULL;
        cf_node *n = cf_node_new(CF_NODE_SEQ, s->file, line, col);
        long an = remember(s, ev->data.sequence_start.anchor, n, false);
        for (;;) {
            yaml_event_t e;
            if (next(s, &e)) goto fail_seq;
            if (e.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&e);
                finish(s, an);
                return n;
            }
            s->depth++;
            cf_node *c = parse_node(s, &e);
            s->depth--;
            yaml_event_delete(&e);
            if (!c) goto fail_seq;
            cf_node_add(n, NULL, c);
        }
    fail_seq: /* a failed child freed itself; n is not in a parent yet */
        cf_node_free(n);
        return NULL;
    }
    case YAML_MAPPING_START_EVENT: {
        if (too_deep(s, line, col)) return NULL;
        cf_node *n = cf_node_new(CF_NODE_MAP, s->file, line, col);
        long an = remember(s, ev->data.mapping_start.anchor, n, false);
        for (;;) {
            yaml_event_t k;
            if (next(s, &k)) goto fail_map;
            if (k.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&k);
                finish(s, an);
                return n;
            }
            if (k.type != YAML_SCALAR_EVENT) {
                cf_error_set(s->err, CF_EINPUT, "YAML: a key must be a plain name");
                cf_error_at(s->err, s->file, (int)k.start_mark.line + 1, (int)k.start_mark.column + 1);
                yaml_event_delete(&k);
                goto fail_map;
            }
            int kl = (int)k.start_mark.line + 1, kc = (int)k.start_mark.column + 1;
            char *key = strdup((const char *)k.data.scalar.value);
            yaml_event_delete(&k);
            yaml_event_t v;
            if (next(s, &v)) {
                free(key);
                goto fail_map;
            }
            s->depth++;
            cf_node *c = parse_node(s, &v);
            s->depth--;
            yaml_event_delete(&v);
            if (!c) {
                free(key);
                goto fail_map;
            }
            c->key_line = kl;
            c->key_col = kc;
            /* A map value's position is its key's: errors then point at the field. */
            if (c->kind == CF_NODE_MAP) c->line = kl, c->col = kc;
            cf_node_add(n, key, c);
            free(key);
        }
    fail_map:
        cf_node_free(n);
        return NULL;
    }
    default:
        cf_error_set(s->err, CF_EINPUT, "YAML: unexpected event");
        cf_error_at(s->err, s->file, line, col);
        return NULL;
    }
}

/* Nodes are owned by their parents once added; a level that fails frees
 * its own partial node, so nothing leaks on error. */
static cf_node *parse_doc(ystate *s)
{
    yaml_event_t ev;
    cf_node *root = NULL;
    for (;;) {
        if (next(s, &ev)) goto fail;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (t == YAML_DOCUMENT_END_EVENT) { /* a second document is refused below */
            yaml_event_delete(&ev);
            continue;
        }
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (root) {
            cf_error_set(s->err, CF_EINPUT, "YAML: only one document per file");
            cf_error_at(s->err, s->file, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1);
            yaml_event_delete(&ev);
            goto fail;
        }
        root = parse_node(s, &ev);
        yaml_event_delete(&ev);
        if (!root) goto fail;
    }
    if (!root) root = cf_node_new(CF_NODE_MAP, s->file, 1, 1); /* empty file: empty map */
    return root;
fail: /* also when the text after a complete document is broken */
    cf_node_free(root);
    return NULL;
}

static cf_node *run(ystate *s)
{
    cf_node *root = parse_doc(s);
    for (size_t i = 0; i < s->nanchors; i++) free(s->anchors[i].name);
    free(s->anchors);
    return root;
}

static cf_node *parse_text(const char *text, size_t len, const char *name, cf_error *err)
{
    ystate s = {.file = name, .text = text, .len = len, .err = err};
    if (!yaml_parser_initialize(&s.p)) {
        cf_error_set(err, CF_ERUNTIME, "YAML: cannot initialise parser");
        return NULL;
    }
    yaml_parser_set_input_string(&s.p, (const unsigned char *)text, len);
    cf_node *root = run(&s);
    yaml_parser_delete(&s.p);
    if (root) cf_node_set_file(root, s.file);
    return root;
}

cf_node *cf_yaml_parse_string(const char *text, const char *name, cf_error *err)
{
    return parse_text(text, strlen(text), name ? name : "<string>", err);
}

/* Read whole (bounded), so that reader errors can be placed by line. */
cf_node *cf_yaml_parse_file(const char *path, cf_error *err)
{
    size_t len;
    char *text = cf_read_file(path, MAX_FILE, &len, err);
    if (!text) return NULL;
    cf_node *root = parse_text(text, len, path, err);
    free(text);
    return root;
}
