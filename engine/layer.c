/* layer.c — registry and lifecycle shared by all layers (see layer.h). */
#include "layer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each group of layers lists itself in a .def file: CF_LAYER(Type). */
#define CF_LAYER(T) extern const cf_layer_ops cf_layer_##T;
#include "layers/core.def"
#include "layers/basic.def"
#include "layers/loss.def"
#include "layers/data.def"
#include "layers/neuron.def"
#include "layers/shape.def"
#include "layers/loss2.def"
#undef CF_LAYER

static const cf_layer_ops *const registry[] = {
#define CF_LAYER(T) &cf_layer_##T,
#include "layers/core.def"
#include "layers/basic.def"
#include "layers/loss.def"
#include "layers/data.def"
#include "layers/neuron.def"
#include "layers/shape.def"
#include "layers/loss2.def"
#undef CF_LAYER
    NULL,
};

static const char *const type_names[] = {
#define CF_LAYER(T) #T,
#include "layers/core.def"
#include "layers/basic.def"
#include "layers/loss.def"
#include "layers/data.def"
#include "layers/neuron.def"
#include "layers/shape.def"
#include "layers/loss2.def"
#undef CF_LAYER
    NULL,
};

/* Tripwire: the two tables are built from the same lists. */
_Static_assert(sizeof registry / sizeof registry[0] == sizeof type_names / sizeof type_names[0],
               "layer registry and name table disagree");

const cf_layer_ops *cf_layer_find(const char *type)
{
    for (int i = 0; registry[i]; i++)
        if (!strcmp(registry[i]->type, type)) return registry[i];
    return NULL;
}

const char *const *cf_layer_types(void) { return type_names; }

int cf_layer_ntypes(void) { return (int)(sizeof type_names / sizeof type_names[0]) - 1; }

int cf_layer_error(cf_layer *l, const cf_node *at, cf_error *err, const char *fmt, ...)
{
    if (!err) return -1;
    cf_error_clear(err);
    err->code = CF_EINPUT;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    const cf_node *n = at ? at : l->conf;
    if (n) cf_error_at(err, n->file, n->line, n->col);
    cf_error_ctx(err, "layer '%s'", l->name);
    return -1;
}

cf_layer *cf_layer_create(cf_node *conf, cf_phase phase, cf_backend *be, cf_rng *rng, cf_error *err)
{
    const char *name, *type;
    if (!conf || conf->kind != CF_NODE_MAP) {
        cf_node_error(conf, err, CF_EINPUT, "a layer must be a map of fields");
        return NULL;
    }
    if (cf_get_string(conf, "name", "", &name, err)) return NULL;
    if (cf_get_string(conf, "type", NULL, &type, err)) return NULL;
    if (!type) {
        cf_node_error(conf, err, CF_EINPUT, "field 'type' is missing");
        if (name[0]) cf_error_ctx(err, "layer '%s'", name);
        return NULL;
    }
    const cf_layer_ops *ops = cf_layer_find(type);
    if (!ops) {
        cf_node *tn = cf_node_get(conf, "type");
        const char *best = NULL;
        size_t bestd = (size_t)-1;
        for (int i = 0; type_names[i]; i++) {
            size_t d = cf_edit_distance(type, type_names[i]);
            if (d < bestd) bestd = d, best = type_names[i];
        }
        if (best && bestd <= 3)
            cf_node_error(tn, err, CF_EINPUT, "unknown layer type '%s' (did you mean '%s'?)", type, best);
        else
            cf_node_error(tn, err, CF_EINPUT, "unknown layer type '%s' (see 'cafetui --layers')", type);
        if (name[0]) cf_error_ctx(err, "layer '%s'", name);
        return NULL;
    }
    cf_layer *l = calloc(1, sizeof *l);
    if (!l) abort();
    l->ops = ops;
    l->name = strdup(name);
    l->conf = conf;
    l->phase = phase;
    l->be = be;
    l->rng = rng;
    return l;
}

static int count_ok(int n, int lo, int hi) { return n >= lo && (hi < 0 || n <= hi); }

static const char *range_str(char *buf, size_t n, int lo, int hi)
{
    if (hi < 0) snprintf(buf, n, "at least %d", lo);
    else if (lo == hi) snprintf(buf, n, "%d", lo);
    else snprintf(buf, n, "%d to %d", lo, hi);
    return buf;
}

int cf_layer_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    char r[64];
    if (!count_ok(nb, l->ops->min_bottom, l->ops->max_bottom))
        return cf_layer_error(l, NULL, err, "%s takes %s bottom blob(s), got %d", l->ops->type,
                              range_str(r, sizeof r, l->ops->min_bottom, l->ops->max_bottom), nb);
    if (!count_ok(nt, l->ops->min_top, l->ops->max_top))
        return cf_layer_error(l, NULL, err, "%s takes %s top blob(s), got %d", l->ops->type,
                              range_str(r, sizeof r, l->ops->min_top, l->ops->max_top), nt);
    if (!l->ops->inplace_ok)
        for (int i = 0; i < nt; i++)
            for (int j = 0; j < nb; j++)
                if (top[i] == bottom[j])
                    return cf_layer_error(l, NULL, err, "%s cannot work in place (top '%s' is also a bottom)",
                                          l->ops->type, top[i]->name ? top[i]->name : "");
    if (l->ops->setup && l->ops->setup(l, bottom, nb, top, nt, err)) goto fail;
    if (l->ops->reshape && l->ops->reshape(l, bottom, nb, top, nt, err)) goto fail;
    if (l->be && l->be->layer_ready) l->be->layer_ready(l); /* a GPU backend takes over what it can */
    return 0;
fail:
    if (l->conf && err && !err->loc[0]) cf_error_at(err, l->conf->file, l->conf->line, l->conf->col);
    return cf_error_ctx(err, "layer '%s'", l->name);
}

void cf_layer_free(cf_layer *l)
{
    if (!l) return;
    if (l->ops->destroy) l->ops->destroy(l);
    else free(l->priv);
    for (int i = 0; i < l->nparam; i++) cf_blob_free(l->param[i]);
    free(l->name);
    free(l);
}

cf_blob *cf_layer_add_param(cf_layer *l, int naxes, const int *shape, cf_error *err)
{
    if (l->nparam >= CF_MAX_PARAMS) {
        cf_layer_error(l, NULL, err, "too many parameter blobs");
        return NULL;
    }
    char nm[512];
    snprintf(nm, sizeof nm, "%s.%d", l->name, l->nparam);
    cf_blob *b = cf_blob_new(nm);
    if (cf_blob_reshape(b, naxes, shape, err)) {
        cf_blob_free(b);
        cf_error_ctx(err, "layer '%s'", l->name);
        return NULL;
    }
    /* Allocated now (the filler writes it next), so that a param too big
     * for memory is refused with the layer's name, not met as NULL. */
    char what[160], sh[128];
    snprintf(what, sizeof what, "param %d (%s)", l->nparam, cf_blob_shape_str(b, sh, sizeof sh));
    cf_error e;
    if (cf_mem_check(b->count * sizeof(float), what, &e) ||
        (!cf_blob_mdata(b) && cf_error_set(&e, CF_ERUNTIME, "%s: out of memory", what))) {
        cf_blob_free(b);
        cf_layer_error(l, NULL, err, "%s", e.msg);
        return NULL;
    }
    l->param_grad[l->nparam] = true;
    l->param[l->nparam++] = b;
    return b;
}

int cf_layer_param_map(cf_layer *l, const char *field, cf_node **out, cf_error *err)
{
    return cf_get_map(l->conf, field, out, err);
}
