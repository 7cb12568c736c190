/* cuda_layers.c — the wrapper that puts a layer's passes on the GPU (see
 * cuda_layers.h for the rules), and gpu.h's count of GPU passes. */
#include "cuda_layers.h"

#include <stdlib.h>
#include <string.h>

#include "cuda/gpu.h"

static const cf_cuda_impl *const impls[] = {
    &cf_cuda_conv, &cf_cuda_pool, &cf_cuda_ip, &cf_cuda_relu, &cf_cuda_sigmoid, &cf_cuda_tanh, &cf_cuda_softmax,
    &cf_cuda_softmax_loss, &cf_cuda_lrn, &cf_cuda_power, &cf_cuda_absval, &cf_cuda_elu, &cf_cuda_bnll,
    &cf_cuda_dropout, &cf_cuda_eltwise, &cf_cuda_concat, &cf_cuda_split, &cf_cuda_scale, &cf_cuda_bias,
    &cf_cuda_batch_norm, NULL,
};

static cf_cuda_layer *wrapper(const cf_layer *l) { return (cf_cuda_layer *)l->ops; }

static int w_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_cuda_layer *w = wrapper(l);
    if (w->host->reshape && w->host->reshape(l, bottom, nb, top, nt, err)) return -1;
    /* a failure since the last pass (a copy, a backward pass) stops here */
    if (cf_cuda_take_error(err)) return cf_error_ctx(err, "layer '%s'", l->name);
    cf_cuda_enter(w->cu);
    w->shape_ok = w->impl->reshape(w, l, bottom, nb, top, nt);
    cf_cuda_take_error(NULL); /* a shape cuDNN refuses runs on the host: not an error */
    return 0;
}

static int w_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_cuda_layer *w = wrapper(l);
    if (cf_cuda_take_error(err)) return cf_error_ctx(err, "layer '%s'", l->name);
    w->fwd_gpu = false;
    if (w->shape_ok) {
        cf_cuda_enter(w->cu);
        int r = w->impl->forward(w, l, bottom, nb, top, nt, err);
        if (r < 0) return cf_error_ctx(err, "layer '%s'", l->name);
        if (r == 0) {
            w->fwd_gpu = true;
            w->passes++;
            return cf_cuda_take_error(err) ? cf_error_ctx(err, "layer '%s'", l->name) : 0;
        }
    }
    return w->host->forward(l, bottom, nb, top, nt, err);
}

static void w_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    cf_cuda_layer *w = wrapper(l);
    if (!w->fwd_gpu) {
        w->host->backward(l, top, nt, prop, bottom, nb);
        return;
    }
    cf_cuda_enter(w->cu);
    w->impl->backward(w, l, top, nt, prop, bottom, nb);
    w->passes++;
}

static void w_destroy(cf_layer *l)
{
    cf_cuda_layer *w = wrapper(l);
    const cf_layer_ops *host = w->host;
    if (w->st) {
        cf_cuda_enter(w->cu);
        w->impl->destroy(w->st);
    }
    l->ops = host;
    free(w);
    if (host->destroy) host->destroy(l);
    else free(l->priv);
    l->priv = NULL;
}

void cf_cuda_layer_ready(cf_layer *l)
{
    const cf_cuda_impl *impl = NULL;
    for (int i = 0; impls[i] && !impl; i++)
        if (!strcmp(impls[i]->type, l->ops->type)) impl = impls[i];
    if (!impl || !cf_backend_is_gpu(l->be)) return;
    cf_cuda_layer *w = calloc(1, sizeof *w);
    if (!w) return; /* the layer stays on the host */
    w->ops = *l->ops;
    w->host = l->ops;
    w->impl = impl;
    w->cu = cf_cuda_of(l->be);
    w->gpu = cf_backend_gpu(l->be);
    cf_cuda_enter(w->cu);
    w->st = impl->create(w, l);
    cf_cuda_take_error(NULL); /* a layer the GPU side cannot take stays on the host */
    if (!w->st) {
        free(w);
        return;
    }
    w->ops.reshape = w_reshape;
    w->ops.forward = w_forward;
    w->ops.backward = w->host->backward ? w_backward : NULL;
    w->ops.destroy = w_destroy;
    l->ops = &w->ops;
}

long cf_gpu_layer_passes(const cf_layer *l)
{
    if (!l || !cf_backend_is_gpu(l->be) || l->ops->reshape != w_reshape) return -1;
    return wrapper(l)->passes;
}
