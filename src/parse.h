/* parse.h — text to config tree (engine/conftree.h), for YAML recipes and
 * Caffe prototxt.  Every node carries file:line:col (1-based).  A parse
 * error is one message "file:line:col: ..." with exit code CF_EINPUT.
 * The caller owns the returned tree (cf_node_free).
 *
 * YAML: maps, sequences (block and flow), scalars; anchors and aliases are
 * expanded (bounded: a document that would expand past CF_YAML_MAX_NODES
 * nodes is refused).  Scalars keep their text; the getters convert.
 *
 * Prototxt (protobuf text format): `key: value`, `key { ... }`,
 * `key: { ... }`, `key: [a, b]`, # comments, quoted strings with escapes,
 * enum names as bare words.  Repeated keys stay repeated in the map.
 */
#ifndef CF_PARSE_H
#define CF_PARSE_H

#include "conftree.h"

#define CF_YAML_MAX_NODES 1000000

cf_node *cf_yaml_parse_file(const char *path, cf_error *err);
cf_node *cf_yaml_parse_string(const char *text, const char *name, cf_error *err);
cf_node *cf_prototxt_parse_file(const char *path, cf_error *err);
cf_node *cf_prototxt_parse_string(const char *text, const char *name, cf_error *err);
/* By extension: .prototxt/.pbtxt/.pt -> prototxt, else YAML. */
cf_node *cf_config_parse_file(const char *path, cf_error *err);
/* true when cf_config_parse_file reads path as prototxt */
bool cf_config_is_prototxt(const char *path);
/* The whole file, NUL-terminated (malloc'd; *len excludes the NUL), or
 * NULL with "path: cannot open: ..." / "cannot read: ..." / "file is larger
 * than N MiB" when it has more than max bytes. */
char *cf_read_file(const char *path, size_t max, size_t *len, cf_error *err);

#endif
