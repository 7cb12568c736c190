/* conftree.h — the config tree: one node type for YAML recipes and Caffe
 * prototxt text, with file:line:col on every node.
 *
 * A document is a tree of maps, sequences and scalars.  A map keeps its
 * entries in order and may hold the same key several times (prototxt's
 * repeated `layer { }`); a YAML list under a key means the same thing, so
 * the getters below see `top: a top: b` and `top: [a, b]` alike.
 *
 * Getters mark what they read.  After a layer or solver has read its
 * fields, cf_node_check_unused() reports the first key nobody asked for,
 * with the nearest key that was asked for ("did you mean ...?"), so the
 * list of known fields is exactly what the code reads.
 *
 * Ownership: a tree is owned by its root; cf_node_free(root) frees it all.
 * Parsers (src/) build trees with cf_node_new / cf_node_add.
 */
#ifndef CF_CONFTREE_H
#define CF_CONFTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef enum { CF_NODE_SCALAR, CF_NODE_MAP, CF_NODE_SEQ } cf_node_kind;

typedef struct cf_node cf_node;
struct cf_node {
    cf_node_kind kind;
    char *key;          /* key in the parent map; NULL for sequence items */
    char *value;        /* scalar text; NULL for maps and sequences */
    bool quoted;        /* scalar was quoted in the source (a string) */
    const char *file;   /* interned file name, owned by the root */
    int line, col;      /* 1-based position of the value (key for maps) */
    int key_line, key_col;
    cf_node **child;
    size_t nchild, cap;
    cf_node *parent;
    bool used;          /* read by a getter */
    bool unchecked;     /* left out on purpose (a layer of another phase): not checked */
    char **asked;       /* keys looked up in this map (for suggestions) */
    size_t nasked;
    char *file_owned;   /* root only: storage behind `file` */
};

/* ---- building (parsers) ---- */
cf_node *cf_node_new(cf_node_kind kind, const char *file, int line, int col);
/* Append child to a map (key != NULL) or sequence (key == NULL). */
void cf_node_add(cf_node *parent, const char *key, cf_node *child);
cf_node *cf_node_scalar(const char *value, bool quoted, const char *file, int line, int col);
void cf_node_free(cf_node *n);
/* Deep copy (used flags cleared). */
cf_node *cf_node_clone(const cf_node *n);
/* Root owns its file name: set it once on the root, children point at it. */
void cf_node_set_file(cf_node *root, const char *file);

/* ---- reading ---- */
/* Number of values under key: each occurrence counts, a sequence counts
 * its items.  Marks the key asked. */
size_t cf_node_count(cf_node *map, const char *key);
/* The i-th value under key (sequences flattened), or NULL.  Marks used. */
cf_node *cf_node_at(cf_node *map, const char *key, size_t i);
/* The single value under key, or NULL when absent.  Marks used. */
cf_node *cf_node_get(cf_node *map, const char *key);
/* true when key is present (marks asked, not used). */
bool cf_node_has(cf_node *map, const char *key);

/* Typed getters.  When key is absent the default is stored and 0 returned.
 * A present value of the wrong type is an error naming file:line:col and
 * the field.  *_at read the i-th of a repeated field (no default). */
int cf_get_int(cf_node *map, const char *key, long def, long *out, cf_error *err);
int cf_get_float(cf_node *map, const char *key, double def, double *out, cf_error *err);
int cf_get_bool(cf_node *map, const char *key, bool def, bool *out, cf_error *err);
int cf_get_string(cf_node *map, const char *key, const char *def, const char **out, cf_error *err);
/* names: NULL-terminated; matched case-insensitively; *out = index. */
int cf_get_enum(cf_node *map, const char *key, const char *const *names, int def, int *out, cf_error *err);
int cf_get_int_at(cf_node *map, const char *key, size_t i, long *out, cf_error *err);
int cf_get_float_at(cf_node *map, const char *key, size_t i, double *out, cf_error *err);
int cf_get_string_at(cf_node *map, const char *key, size_t i, const char **out, cf_error *err);
/* Bounds: value must satisfy lo <= v <= hi; error otherwise. */
int cf_get_int_range(cf_node *map, const char *key, long def, long lo, long hi, long *out, cf_error *err);
/* The sub-message under key as a map (absent -> NULL, no error); a scalar
 * there is an error. */
int cf_get_map(cf_node *map, const char *key, cf_node **out, cf_error *err);

/* A BlobShape map {dim: [...]} into dims (at most max_axes sizes, each
 * 0..INT_MAX).  `what` prefixes messages ("input_param"). */
int cf_node_shape(cf_node *s, const char *what, int max_axes, int *naxes, int *dims, cf_error *err);

/* Scalar conversions on a node (error names the node's position). */
int cf_node_int(cf_node *n, long *out, cf_error *err);
int cf_node_float(cf_node *n, double *out, cf_error *err);
int cf_node_bool(cf_node *n, bool *out, cf_error *err);

/* Report the first entry of map (recursively, into sub-maps that were
 * used) that no getter read: "unknown field 'kernal_size' (did you mean
 * 'kernel_size'?)".  Returns 0 when everything was read. */
int cf_node_check_unused(cf_node *map, cf_error *err);
/* Mark a whole subtree used (fields a layer deliberately ignores). */
void cf_node_mark_used(cf_node *n);
/* Point err at the node's position. */
int cf_node_error(const cf_node *n, cf_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Levenshtein distance, for suggestions. */
size_t cf_edit_distance(const char *a, const char *b);

#endif
