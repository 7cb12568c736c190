/* emit.h — a config tree back to text: YAML (recipes) or protobuf text
 * (Caffe's prototxt).  Parsing what these write gives an equivalent tree.
 *
 * YAML: repeated keys become one key with a list (in first-seen order);
 * scalars are quoted when YAML would read them differently.
 * Prototxt: lists become repeated keys, maps `key { }`; a scalar is bare
 * when it is a number, true/false or an all-capitals enum name (TRAIN,
 * MAX, LMDB), and quoted otherwise — and always quoted for the fields
 * Caffe declares as strings (name, type, bottom, top, source, ...). */
#ifndef CF_EMIT_H
#define CF_EMIT_H

#include <stdio.h>

#include "conftree.h"

void cf_emit_yaml(FILE *f, const cf_node *root);
void cf_emit_prototxt(FILE *f, const cf_node *root);

#endif
