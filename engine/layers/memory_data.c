/* memory_data.c — the MemoryData layer: examples handed over from C with
 * cf_memory_data_set() (data_layers.h), served in batches.
 *
 *   memory_data_param: {batch_size: N, channels: C, height: H, width: W}
 *   tops: data [N, C, H, W], and optionally label [N]
 *
 * Forward serves consecutive examples, wrapping around after the last,
 * so a batch may span the end and the start of the set.  As in Caffe, no
 * transform is applied.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "data_layers.h"
#include "layer.h"

typedef struct mem_priv {
    int batch, C, H, W;
    size_t item;            /* floats per example */
    float *data, *labels;   /* n examples, copied */
    int n, next;            /* examples held, next one to serve */
    bool has_label;
} mem_priv;

static int mem_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    mem_priv *p = calloc(1, sizeof *p);
    if (!p) abort();
    l->priv = p;
    p->has_label = nt > 1;
    cf_node *mp;
    if (cf_layer_param_map(l, "memory_data_param", &mp, err)) return -1;
    if (!mp) return cf_layer_error(l, NULL, err, "memory_data_param is missing (it needs batch_size, channels, height, width)");
    const char *keys[] = {"batch_size", "channels", "height", "width"};
    int *vals[] = {&p->batch, &p->C, &p->H, &p->W};
    for (int i = 0; i < 4; i++) {
        long v;
        if (cf_get_int_range(mp, keys[i], 0, 1, 1 << 24, &v, err)) return -1;
        if (!cf_node_has(mp, keys[i]))
            return cf_layer_error(l, mp, err, "memory_data_param: field '%s' is missing", keys[i]);
        *vals[i] = (int)v;
    }
    p->item = (size_t)p->C * p->H * p->W;
    if (p->item > CF_MAX_COUNT / (size_t)p->batch)
        return cf_layer_error(l, mp, err, "memory_data_param: batch too large");
    return 0;
}

static int mem_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    mem_priv *p = l->priv;
    if (cf_blob_reshape4(top[0], p->batch, p->C, p->H, p->W, err)) return -1;
    if (nt > 1 && cf_blob_reshape(top[1], 1, &p->batch, err)) return -1;
    return 0;
}

static int mem_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    mem_priv *p = l->priv;
    if (!p->n) return cf_layer_error(l, NULL, err, "MemoryData has no data (call cf_memory_data_set first)");
    float *data = cf_blob_mdata(top[0]);
    float *label = nt > 1 ? cf_blob_mdata(top[1]) : NULL;
    for (int i = 0; i < p->batch; i++) {
        memcpy(data + (size_t)i * p->item, p->data + (size_t)p->next * p->item, p->item * sizeof(float));
        if (label) label[i] = p->labels ? p->labels[p->next] : 0;
        p->next = (p->next + 1) % p->n;
    }
    return 0;
}

static void mem_destroy(cf_layer *l)
{
    mem_priv *p = l->priv;
    if (!p) return;
    free(p->data);
    free(p->labels);
    free(p);
}

const cf_layer_ops cf_layer_MemoryData = {
    .type = "MemoryData",
    .min_bottom = 0, .max_bottom = 0,
    .min_top = 1, .max_top = 2,
    .setup = mem_setup,
    .reshape = mem_reshape,
    .forward = mem_forward,
    .destroy = mem_destroy,
};

int cf_memory_data_set(cf_layer *l, const float *data, const float *labels, int n, cf_error *err)
{
    if (!l || l->ops != &cf_layer_MemoryData || !l->priv)
        return cf_error_set(err, CF_ERUNTIME, "cf_memory_data_set: layer '%s' is not a MemoryData layer that was set up",
                            l && l->name ? l->name : "");
    mem_priv *p = l->priv;
    if (n < 1 || !data) return cf_layer_error(l, NULL, err, "MemoryData: no examples given (n = %d)", n);
    if (p->has_label && !labels)
        return cf_layer_error(l, NULL, err, "MemoryData: the layer has a label top but no labels were given");
    float *d = malloc((size_t)n * p->item * sizeof *d);
    float *lb = labels ? malloc((size_t)n * sizeof *lb) : NULL;
    if (!d || (labels && !lb)) abort();
    memcpy(d, data, (size_t)n * p->item * sizeof *d);
    if (labels) memcpy(lb, labels, (size_t)n * sizeof *lb);
    free(p->data);
    free(p->labels);
    p->data = d;
    p->labels = lb;
    p->n = n;
    p->next = 0;
    return 0;
}
