/* layer.h — what every layer promises, and the registry of layer types.
 *
 * A layer type is a cf_layer_ops table in its own file under
 * engine/layers/, named cf_layer_<Type> (Type as Caffe spells it), and
 * listed in a .def file there so the registry finds it by name.
 *
 * Life of a layer (the net drives it; tests may drive it directly):
 *   cf_layer_create(conf)      reads name/type, nothing else
 *   cf_layer_setup(bottom,top) checks blob counts, calls ops->setup (read
 *                              the *_param fields, create params with
 *                              cf_layer_add_param and fill them), then
 *                              ops->reshape, then reports unknown fields
 *   ops->reshape               before every forward: set top shapes from
 *                              bottom shapes; cheap, no allocation unless a
 *                              buffer must grow
 *   ops->forward               top data from bottom data
 *   ops->backward              bottom diff from top diff
 *
 * Conventions every layer keeps (Caffe's):
 *   - backward OVERWRITES bottom diffs, but ACCUMULATES (+=) into param
 *     diffs: the net zeroes param diffs once per iteration, so shared
 *     params and iter_size sum their gradients for free.
 *   - skip bottom i's diff when prop[i] is false, and param i's gradient
 *     when l->param_grad[i] is false.
 *   - a loss layer (ops->is_loss) scales its gradient by top[0]'s diff[0],
 *     which the net sets to the loss weight.
 *   - in-place (top[i] == bottom[i]) works for layers that declare
 *     ops->inplace_ok; they must not need the original bottom in backward.
 *   - randomness only from l->rng (the net's generator), so a seed makes
 *     runs repeat.
 *   - user-facing failures return cf_error with the config node's position;
 *     never abort on bad input.
 */
#ifndef CF_LAYER_H
#define CF_LAYER_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "blob.h"
#include "conftree.h"
#include "error.h"
#include "rng.h"

typedef enum { CF_TRAIN = 0, CF_TEST = 1 } cf_phase;

typedef struct cf_layer cf_layer;

typedef struct cf_layer_ops {
    const char *type;
    int min_bottom, max_bottom; /* max -1: any number */
    int min_top, max_top;
    bool is_loss;               /* top 0 gets loss_weight 1 by default */
    bool inplace_ok;
    int (*setup)(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err);
    int (*reshape)(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err);
    int (*forward)(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err);
    /* NULL when the layer has no gradient (data layers, Accuracy). */
    void (*backward)(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb);
    void (*destroy)(cf_layer *l); /* frees l->priv; NULL when priv is plain malloc'd */
    /* Data layers whose read position a snapshot keeps (NULL otherwise).
     * position: the number of values that describe where the next forward
     * reads (the same for the life of the layer), written to v unless v is
     * NULL.  seek: make the next forward read from there again, checking
     * the values against the source (a changed file is an error, nothing
     * is served from a half-restored state). */
    size_t (*position)(const cf_layer *l, uint64_t *v);
    int (*seek)(cf_layer *l, const uint64_t *v, cf_error *err);
    /* Data layers, for `nranks` data-parallel processes: from now on read
     * as rank `rank`, whose batches of B are the r-th slices of the global
     * batches of nranks·B (position and seek then speak of the global
     * stream).  NULL: every rank reads the same examples. */
    int (*shard)(cf_layer *l, int rank, int nranks, cf_error *err);
} cf_layer_ops;

#define CF_MAX_PARAMS 8

struct cf_layer {
    const cf_layer_ops *ops;
    char *name;
    cf_node *conf;          /* the layer's map in the recipe (not owned) */
    cf_phase phase;
    cf_backend *be;         /* not owned */
    cf_rng *rng;            /* not owned */
    int nparam;
    cf_blob *param[CF_MAX_PARAMS];  /* owned (refcounted memory when shared) */
    bool param_grad[CF_MAX_PARAMS]; /* compute this param's gradient */
    /* Set in setup for state that is kept, not learnt (BatchNorm's
     * statistics): the net forces lr_mult 0 and refuses a nonzero one. */
    bool param_fixed[CF_MAX_PARAMS];
    void *priv;             /* layer-type state */
};

/* ---- registry ---- */
const cf_layer_ops *cf_layer_find(const char *type);
/* Known type names, NULL-terminated, in registry order. */
const char *const *cf_layer_types(void);
int cf_layer_ntypes(void);

/* ---- lifecycle ---- */
/* Reads "name" and "type"; errors on an unknown type (nearest suggested). */
cf_layer *cf_layer_create(cf_node *conf, cf_phase phase, cf_backend *be, cf_rng *rng, cf_error *err);
int cf_layer_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err);
void cf_layer_free(cf_layer *l);

/* For ops->setup: append a learnable param of the given shape (its diff is
 * zeroed, param_grad set true).  Returns NULL (err filled) on a bad shape. */
cf_blob *cf_layer_add_param(cf_layer *l, int naxes, const int *shape, cf_error *err);
/* For ops->setup: the layer's "<type>_param" map, e.g. "convolution_param"
 * (NULL when absent, which means all defaults). */
int cf_layer_param_map(cf_layer *l, const char *field, cf_node **out, cf_error *err);
/* Error pointing at the layer's node ("layer 'conv1': ..."). */
int cf_layer_error(cf_layer *l, const cf_node *at, cf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- fillers (filler.c) ----
 * Fill a blob as Caffe's FillerParameter says: type constant (value),
 * uniform (min, max), gaussian (mean, std), xavier and msra (variance_norm
 * FAN_IN | FAN_OUT | AVERAGE), positive_unitball; `filler` may be NULL
 * for `def_type` with defaults. */
int cf_fill(cf_blob *b, cf_node *filler, const char *def_type, cf_rng *rng, cf_error *err);

#endif
