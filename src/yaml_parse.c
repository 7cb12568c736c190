/* yaml_parse.c — YAML text to config tree, on libyaml's event API.
 * Anchors are remembered as subtrees and aliases cloned, with a bound on
 * the total node count so that a "billion laughs" document is refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "parse.h"

typedef struct {
    char *name;
    cf_node *node;
} anchor;

typedef struct {
    yaml_parser_t p;
    const char *file;
    anchor *anchors;
    size_t nanchors;
    size_t nodes;
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

static void remember(ystate *s, const unsigned char *name, cf_node *n)
{
    if (!name) return;
    anchor *a = realloc(s->anchors, (s->nanchors + 1) * sizeof *a);
    if (!a) abort();
    s->anchors = a;
    s->anchors[s->nanchors].name = strdup((const char *)name);
    s->anchors[s->nanchors++].node = n;
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
        remember(s, ev->data.scalar.anchor, n);
        return n;
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        for (size_t i = s->nanchors; i-- > 0;)
            if (!strcmp(s->anchors[i].name, name)) {
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
        cf_node *n = cf_node_new(CF_NODE_SEQ, s->file, line, col);
        remember(s, ev->data.sequence_start.anchor, n);
        for (;;) {
            yaml_event_t e;
            if (next(s, &e)) goto fail_seq;
            if (e.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&e);
                return n;
            }
            cf_node *c = parse_node(s, &e);
            yaml_event_delete(&e);
            if (!c) goto fail_seq;
            cf_node_add(n, NULL, c);
        }
    fail_seq: /* a failed child freed itself; n is not in a parent yet */
        cf_node_free(n);
        return NULL;
    }
    case YAML_MAPPING_START_EVENT: {
        cf_node *n = cf_node_new(CF_NODE_MAP, s->file, line, col);
        remember(s, ev->data.mapping_start.anchor, n);
        for (;;) {
            yaml_event_t k;
            if (next(s, &k)) goto fail_map;
            if (k.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&k);
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
            cf_node *c = parse_node(s, &v);
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
        if (t == YAML_STREAM_END_EVENT || t == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (root) {
            cf_error_set(s->err, CF_EINPUT, "YAML: only one document per file");
            cf_error_at(s->err, s->file, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1);
            yaml_event_delete(&ev);
            cf_node_free(root);
            goto fail;
        }
        root = parse_node(s, &ev);
        yaml_event_delete(&ev);
        if (!root) goto fail;
    }
    if (!root) root = cf_node_new(CF_NODE_MAP, s->file, 1, 1); /* empty file: empty map */
    return root;
fail:
    return NULL;
}

static cf_node *run(ystate *s)
{
    cf_node *root = parse_doc(s);
    for (size_t i = 0; i < s->nanchors; i++) free(s->anchors[i].name);
    free(s->anchors);
    return root;
}

cf_node *cf_yaml_parse_string(const char *text, const char *name, cf_error *err)
{
    ystate s = {.file = name ? name : "<string>", .err = err};
    if (!yaml_parser_initialize(&s.p)) {
        cf_error_set(err, CF_ERUNTIME, "YAML: cannot initialise parser");
        return NULL;
    }
    yaml_parser_set_input_string(&s.p, (const unsigned char *)text, strlen(text));
    cf_node *root = run(&s);
    yaml_parser_delete(&s.p);
    if (root) cf_node_set_file(root, s.file);
    return root;
}

cf_node *cf_yaml_parse_file(const char *path, cf_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cf_error_set(err, CF_EINPUT, "cannot open: %s", strerror(errno));
        cf_error_at(err, path, 0, 0);
        return NULL;
    }
    ystate s = {.file = path, .err = err};
    if (!yaml_parser_initialize(&s.p)) {
        fclose(f);
        cf_error_set(err, CF_ERUNTIME, "YAML: cannot initialise parser");
        return NULL;
    }
    yaml_parser_set_input_file(&s.p, f);
    cf_node *root = run(&s);
    yaml_parser_delete(&s.p);
    fclose(f);
    if (root) cf_node_set_file(root, path);
    return root;
}
