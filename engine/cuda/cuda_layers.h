/* cuda_layers.h — how a layer type gets a GPU implementation.
 *
 * The layers under engine/layers know nothing of the GPU.  When a layer
 * is set up on a GPU backend, cf_layer_setup hands it to
 * cf_cuda_layer_ready (backend.h's layer_ready), which looks its type up
 * in the table of cf_cuda_impl below.  For a type found there the layer's
 * ops become a cf_cuda_layer: a copy of the layer's own ops (type, blob
 * counts, flags) whose reshape, forward, backward and destroy go first to
 * the GPU implementation and to the layer's own code when it declines.
 * The layer's own state (l->priv, its params) stays as it was: the GPU
 * side reads the layer's parameters from l->conf again (setup has already
 * checked them) and keeps its state in the wrapper.
 *
 *   reshape   the layer's own reshape (top shapes, its host state), then
 *             the implementation's: plans for this shape, and whether
 *             this shape runs on the GPU at all (cuDNN cannot express
 *             every Caffe configuration: those stay on the host).
 *   forward   on the GPU when the shape does; an implementation may still
 *             decline one call (return 1) before touching anything — the
 *             layer's own forward then runs, on the host.
 *   backward  where the forward ran, since each side's backward reads what
 *             its own forward left (pooling's argmax, the host state of
 *             the loss).
 *
 * Blob memory follows by itself (blob.h): GPU passes take device
 * pointers, host passes host pointers.
 */
#ifndef CF_CUDA_LAYERS_H
#define CF_CUDA_LAYERS_H

#include "cuda_common.h"

typedef struct cf_cuda_impl cf_cuda_impl;

typedef struct cf_cuda_layer {
    cf_layer_ops ops;           /* first: l->ops points here */
    const cf_layer_ops *host;   /* the layer's own ops */
    const cf_cuda_impl *impl;
    cf_cuda *cu;
    cf_backend *gpu;            /* the device backend (device pointers) */
    void *st;                   /* the implementation's state */
    bool shape_ok;              /* the current shape runs on the GPU */
    bool fwd_gpu;               /* the last forward ran there */
    long passes;                /* forward + backward passes run on the GPU */
} cf_cuda_layer;

struct cf_cuda_impl {
    const char *type;           /* Caffe's type name */
    /* State from l->conf; NULL keeps the whole layer on the host. */
    void *(*create)(cf_cuda_layer *w, cf_layer *l);
    /* After the layer's own reshape: true when this shape runs on the GPU. */
    bool (*reshape)(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt);
    /* 0 done, 1 declined (nothing written), -1 failed with err. */
    int (*forward)(cf_cuda_layer *w, cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err);
    /* Failures are recorded (cuda_common.h) and returned by the next forward. */
    void (*backward)(cf_cuda_layer *w, cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom,
                     int nb);
    void (*destroy)(void *st);
};

/* The implementations (one file each). */
extern const cf_cuda_impl cf_cuda_conv, cf_cuda_pool, cf_cuda_ip, cf_cuda_relu, cf_cuda_sigmoid, cf_cuda_tanh,
    cf_cuda_softmax, cf_cuda_softmax_loss;
extern const cf_cuda_impl cf_cuda_lrn;                                                     /* cudnn_lrn.c */
extern const cf_cuda_impl cf_cuda_power, cf_cuda_absval, cf_cuda_elu, cf_cuda_bnll, cf_cuda_dropout; /* cuda_neuron.c */
extern const cf_cuda_impl cf_cuda_eltwise, cf_cuda_concat, cf_cuda_split;                  /* cuda_join.c */
extern const cf_cuda_impl cf_cuda_scale, cf_cuda_bias;                                     /* cuda_scale.c */
extern const cf_cuda_impl cf_cuda_batch_norm;                                              /* cuda_bn.c */

#endif
