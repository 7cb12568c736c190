/* net.h — a net: layers wired by named blobs, run forward and backward.
 *
 * cf_net_build reads a net config (Caffe's NetParameter fields: name,
 * layer[], input/input_shape/input_dim, force_backward, state) for one
 * phase and:
 *   - keeps the layers whose include/exclude rules match the state
 *     (phase, level, stages), as Caffe's NetStateRule says;
 *   - orders them: file order, except that a layer whose bottoms are not
 *     yet produced waits until they are (so a net may list layers in any
 *     order); a bottom nobody produces and a cycle are errors;
 *   - gives each top name a blob; a top named like one of the layer's
 *     bottoms is computed in place;
 *   - inserts a Split layer after any blob read by several layers, so
 *     their gradients are summed;
 *   - shares params by `param { name }` (data and diff, so gradients of
 *     all users add up) and sets each param's lr_mult and decay_mult;
 *   - decides which layers need backward: those on a path to a loss, with
 *     a bottom that needs a gradient or a param that learns
 *     (propagate_down: false on a bottom cuts it);
 *   - sets loss weights: `loss_weight` per top, default 1 on top 0 of a
 *     loss layer.
 * Every failure is a cf_error naming the recipe position and the layer.
 *
 * Ownership: the net owns its layers, blobs and the config nodes it makes
 * (splits); the config tree it was built from is the caller's and must
 * outlive the net.
 */
#ifndef CF_NET_H
#define CF_NET_H

#include <stdio.h>

#include "layer.h"

typedef void (*cf_log_fn)(void *ctx, const char *line);

typedef struct cf_net_opts {
    cf_phase phase;
    int level;
    const char *const *stages;
    int nstages;
    cf_backend *be;
    cf_rng *rng;
    cf_log_fn log;      /* shape report and notices; may be NULL */
    void *log_ctx;
} cf_net_opts;

/* One layer as wired into the net. */
typedef struct cf_net_layer {
    cf_layer *layer;
    int nb, nt;
    cf_blob **bottom, **top;
    int *bottom_id, *top_id;   /* indices into net->blobs */
    bool *prop_down;           /* per bottom: compute its diff */
    float *loss_weight;        /* per top */
    bool need_backward;
} cf_net_layer;

/* A learnable parameter.  Shared params appear once per user; only the
 * owner (owner == own index) is updated by the solver. */
typedef struct cf_net_param {
    cf_blob *blob;
    int layer, index;          /* where it lives */
    int owner;                 /* index in net->params of the owner */
    float lr_mult, decay_mult;
    char *name;                /* param name if shared, else NULL */
} cf_net_param;

typedef struct cf_net {
    char *name;
    cf_phase phase;
    int nlayers;
    cf_net_layer *layers;
    int nblobs;
    cf_blob **blobs;           /* owned */
    int nparams;
    cf_net_param *params;
    int noutputs;
    int *outputs;              /* blob ids not read by any layer */
    cf_node **made;            /* config nodes made by the net (splits) */
    int nmade;
    cf_backend *be;
    /* Called by cf_net_backward after each layer (also those it skips),
     * last layer first, with the layer's index: a data-parallel gradient
     * reducer (engine/dist/reducer.h) starts sending the param gradients
     * that are complete while the earlier layers still run.  NULL: none. */
    void (*after_backward)(void *ctx, int layer);
    void *after_backward_ctx;
} cf_net;

cf_net *cf_net_build(cf_node *conf, const cf_net_opts *o, cf_error *err);
void cf_net_free(cf_net *net);

/* Forward all layers; *loss = Σ loss_weight · Σ top data. */
int cf_net_forward(cf_net *net, float *loss, cf_error *err);
/* Backward all layers that need it (top diffs of loss tops set to their
 * weights first).  Param diffs accumulate: call cf_net_clear_param_diffs
 * once per iteration. */
void cf_net_backward(cf_net *net);
/* Zero every owned param's diff (allocating those no backward writes):
 * -1 (err, when not NULL: the layer and the param) when memory for one is
 * refused. */
int cf_net_clear_param_diffs(cf_net *net, cf_error *err);
/* Forward up to and including layer `end` (for gradcheck and tools). */
int cf_net_forward_to(cf_net *net, int end, cf_error *err);

/* The blob currently known by this name (the last one written), or NULL. */
cf_blob *cf_net_blob(const cf_net *net, const char *name);
int cf_net_blob_id(const cf_net *net, const char *name);
/* Index of the layer with this name, or -1. */
int cf_net_layer_id(const cf_net *net, const char *name);

/* Make `net` use the param data of the same-named layers of `from`
 * (test nets share the train net's weights; data only, as Caffe). */
int cf_net_share_trained(cf_net *net, const cf_net *from, cf_error *err);

/* One element of an output of the net (a top no layer reads), as the
 * last forward left it. */
typedef struct cf_net_output {
    char name[128];         /* the top's name, or "prob[3]" for element 3 of a larger top */
    float value;            /* unweighted */
    float weight;           /* its loss weight (0: not a loss) */
} cf_net_output;

/* The net's outputs element by element, in output order (what Caffe
 * numbers "net output #k"): at most max written; returns how many. */
int cf_net_outputs(const cf_net *net, cf_net_output *out, int max);

/* Bytes held by blobs and params. */
size_t cf_net_bytes(const cf_net *net, size_t *param_bytes, size_t *blob_bytes);

#endif
