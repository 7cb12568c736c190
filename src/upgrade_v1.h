/* upgrade_v1.h — Caffe's V1 net syntax (`layers { type: CONVOLUTION ... }`)
 * rewritten in place into the current one (`layer { type: "Convolution" }`),
 * as Caffe does when it loads an old net. */
#ifndef CF_UPGRADE_V1_H
#define CF_UPGRADE_V1_H

#include "conftree.h"

/* When net (a NetParameter map) holds `layers` entries, rewrite them and
 * set *upgraded = 1; otherwise leave the tree alone and set *upgraded = 0.
 * Nodes keep their file:line:col, so later errors point at the V1 text.
 * Nothing is marked used or asked.  Returns 0, or -1 with err set (a net
 * mixing `layer` and `layers`, a V0 net, an unknown V1 type ...). */
int cf_upgrade_v1(cf_node *net, int *upgraded, cf_error *err);

/* The current type name of a V1 enum name ("INNER_PRODUCT" ->
 * "InnerProduct"), or NULL when there is none. */
const char *cf_v1_type_name(const char *v1);

#endif
