/* upgrade_v1.c — Caffe's V1 net syntax to the current one, in the tree.
 *
 * A V1 net lists `layers { ... }` (V1LayerParameter).  Caffe upgrades such
 * a net when it loads it; we do the same rewriting on the config tree:
 *   - `layers` becomes `layer`;
 *   - the enum type (CONVOLUTION, or its number 4) becomes the current type
 *     string ("Convolution");
 *   - the per-blob lists `param: "w"`, `blob_share_mode: STRICT`,
 *     `blobs_lr: a` and `weight_decay: x` become one `param { name
 *     share_mode lr_mult decay_mult }` per blob, the i-th of each list
 *     going into the i-th param;
 *   - a data layer's scale / mean_file / crop_size / mirror, which V1
 *     allowed inside data_param (image_data_param, window_data_param), move
 *     into transform_param, as Caffe's data-transformation upgrade does.
 * Every other field (name, bottom, top, include, exclude, loss_weight, the
 * *_param sub-messages) has the same name and meaning in both forms and is
 * left as it is.  Nodes are moved, not copied, so file:line:col stays on
 * the user's text. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upgrade_v1.h"

/* V1LayerParameter.LayerType: enum name, number, current type string. */
static const struct {
    const char *v1;
    int num;
    const char *type;
} v1_types[] = {
    {"ABSVAL", 35, "AbsVal"},
    {"ACCURACY", 1, "Accuracy"},
    {"ARGMAX", 30, "ArgMax"},
    {"BNLL", 2, "BNLL"},
    {"CONCAT", 3, "Concat"},
    {"CONTRASTIVE_LOSS", 37, "ContrastiveLoss"},
    {"CONVOLUTION", 4, "Convolution"},
    {"DATA", 5, "Data"},
    {"DECONVOLUTION", 39, "Deconvolution"},
    {"DROPOUT", 6, "Dropout"},
    {"DUMMY_DATA", 32, "DummyData"},
    {"EUCLIDEAN_LOSS", 7, "EuclideanLoss"},
    {"ELTWISE", 25, "Eltwise"},
    {"EXP", 38, "Exp"},
    {"FLATTEN", 8, "Flatten"},
    {"HDF5_DATA", 9, "HDF5Data"},
    {"HDF5_OUTPUT", 10, "HDF5Output"},
    {"HINGE_LOSS", 28, "HingeLoss"},
    {"IM2COL", 11, "Im2col"},
    {"IMAGE_DATA", 12, "ImageData"},
    {"INFOGAIN_LOSS", 13, "InfogainLoss"},
    {"INNER_PRODUCT", 14, "InnerProduct"},
    {"LRN", 15, "LRN"},
    {"MEMORY_DATA", 29, "MemoryData"},
    {"MULTINOMIAL_LOGISTIC_LOSS", 16, "MultinomialLogisticLoss"},
    {"MVN", 34, "MVN"},
    {"POOLING", 17, "Pooling"},
    {"POWER", 26, "Power"},
    {"RELU", 18, "ReLU"},
    {"SIGMOID", 19, "Sigmoid"},
    {"SIGMOID_CROSS_ENTROPY_LOSS", 27, "SigmoidCrossEntropyLoss"},
    {"SILENCE", 36, "Silence"},
    {"SOFTMAX", 20, "Softmax"},
    {"SOFTMAX_LOSS", 21, "SoftmaxWithLoss"},
    {"SPLIT", 22, "Split"},
    {"SLICE", 33, "Slice"},
    {"TANH", 23, "TanH"},
    {"WINDOW_DATA", 24, "WindowData"},
    {"THRESHOLD", 31, "Threshold"},
};
#define N_TYPES (sizeof v1_types / sizeof v1_types[0])

const char *cf_v1_type_name(const char *v1)
{
    for (size_t i = 0; i < N_TYPES; i++)
        if (!strcmp(v1, v1_types[i].v1)) return v1_types[i].type;
    return NULL;
}

/* The i-th V1 per-blob list is copied into the i-th param under this name. */
static const struct {
    const char *v1, *now;
} blob_fields[] = {
    {"param", "name"},
    {"blob_share_mode", "share_mode"},
    {"blobs_lr", "lr_mult"},
    {"weight_decay", "decay_mult"},
};
#define N_BLOB_FIELDS 4

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) abort();
    return d;
}

static void rename_key(cf_node *n, const char *key)
{
    free(n->key);
    n->key = xstrdup(key);
}

/* The first child under key, or NULL. */
static cf_node *child(cf_node *map, const char *key)
{
    for (size_t i = 0; i < map->nchild; i++)
        if (map->child[i]->key && !strcmp(map->child[i]->key, key)) return map->child[i];
    return NULL;
}

static const char *layer_name(cf_node *l)
{
    cf_node *n = child(l, "name");
    return n && n->kind == CF_NODE_SCALAR ? n->value : NULL;
}

static int layer_error(cf_node *l, const cf_node *at, cf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int layer_error(cf_node *l, const cf_node *at, cf_error *err, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cf_node_error(at, err, CF_EINPUT, "%s", msg);
    const char *name = layer_name(l);
    return name ? cf_error_ctx(err, "layer '%s'", name) : -1;
}

/* type: CONVOLUTION (or 4) -> type: "Convolution".  Returns the table
 * index through *idx, -1 when the layer has no type. */
static int upgrade_type(cf_node *l, int *idx, cf_error *err)
{
    *idx = -1;
    cf_node *t = child(l, "type");
    if (!t) return 0;
    if (t->kind != CF_NODE_SCALAR)
        return layer_error(l, t, err, "field 'type': expected a V1 layer type name such as CONVOLUTION");
    char *end;
    long num = strtol(t->value, &end, 10);
    bool numeric = end != t->value && *end == 0;
    for (size_t i = 0; i < N_TYPES; i++)
        if (numeric ? num == v1_types[i].num : !strcmp(t->value, v1_types[i].v1)) {
            *idx = (int)i;
            free(t->value);
            t->value = xstrdup(v1_types[i].type);
            t->quoted = true;
            return 0;
        }
    if (numeric ? num == 0 : !strcmp(t->value, "NONE"))
        return layer_error(l, t, err, "V1 layer type NONE has no current equivalent; give the layer a type");
    /* suggest the V1 name closest to what was written (case aside: the
     * distance ignores case, so `Convolution` suggests CONVOLUTION) */
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    for (size_t i = 0; i < N_TYPES; i++) {
        size_t d = cf_edit_distance(t->value, v1_types[i].v1);
        if (d < bestd) bestd = d, best = v1_types[i].v1;
    }
    if (best && bestd <= strlen(t->value) / 3 + 1)
        return layer_error(l, t, err, "unknown V1 layer type '%s' (did you mean '%s'?)", t->value, best);
    return layer_error(l, t, err, "unknown V1 layer type '%s'", t->value);
}

/* The values of key in l, flattened (a YAML list counts its items), into
 * out[0..max); *n is their number. */
static int gather(cf_node *l, const char *key, cf_node **out, size_t max, size_t *n, cf_error *err)
{
    *n = 0;
    for (size_t i = 0; i < l->nchild; i++) {
        cf_node *c = l->child[i];
        if (!c->key || strcmp(c->key, key)) continue;
        size_t k = c->kind == CF_NODE_SEQ ? c->nchild : 1;
        for (size_t j = 0; j < k; j++) {
            cf_node *v = c->kind == CF_NODE_SEQ ? c->child[j] : c;
            if (v->kind != CF_NODE_SCALAR && !strcmp(key, "param"))
                return layer_error(l, v, err,
                                   "field 'param': in V1 'layers' a param is a name string (param: \"w\"); "
                                   "the multipliers are blobs_lr and weight_decay");
            if (v->kind != CF_NODE_SCALAR)
                return layer_error(l, v, err, "field '%s': expected one value per blob", key);
            if (*n < max) out[*n] = v;
            (*n)++;
        }
    }
    return 0;
}

static bool is_blob_field(const char *key)
{
    for (int f = 0; f < N_BLOB_FIELDS; f++)
        if (key && !strcmp(key, blob_fields[f].v1)) return true;
    return false;
}

/* blobs_lr / weight_decay / param / blob_share_mode -> param { ... } */
static int upgrade_params(cf_node *l, cf_error *err)
{
    size_t count[N_BLOB_FIELDS], nparam = 0;
    cf_node **vals[N_BLOB_FIELDS];
    for (int f = 0; f < N_BLOB_FIELDS; f++) {
        size_t n;
        if (gather(l, blob_fields[f].v1, NULL, 0, &n, err)) {
            while (f-- > 0) free(vals[f]);
            return -1;
        }
        vals[f] = calloc(n + 1, sizeof *vals[f]);
        if (!vals[f]) abort();
        gather(l, blob_fields[f].v1, vals[f], n, &n, err);
        count[f] = n;
        if (n > nparam) nparam = n;
    }
    if (nparam == 0) {
        for (int f = 0; f < N_BLOB_FIELDS; f++) free(vals[f]);
        return 0;
    }

    /* l's children without the V1 fields; the params will go where the
     * first of those was.  A YAML list that held V1 values is emptied and
     * freed once its items have moved. */
    cf_node **kids = malloc((l->nchild + nparam) * sizeof *kids);
    cf_node **lists = malloc(l->nchild * sizeof *lists);
    if (!kids || !lists) abort();
    size_t nk = 0, nlists = 0, at = (size_t)-1;
    for (size_t i = 0; i < l->nchild; i++) {
        cf_node *c = l->child[i];
        if (!is_blob_field(c->key)) {
            kids[nk++] = c;
            continue;
        }
        if (at == (size_t)-1) at = nk;
        if (c->kind == CF_NODE_SEQ) lists[nlists++] = c;
    }

    /* one new map per blob, at the position of its first source value;
     * the values move into it under their current names */
    cf_node **params = calloc(nparam, sizeof *params);
    if (!params) abort();
    for (size_t i = 0; i < nparam; i++) {
        for (int f = 0; f < N_BLOB_FIELDS; f++) {
            if (i >= count[f]) continue;
            cf_node *v = vals[f][i];
            if (!params[i]) params[i] = cf_node_new(CF_NODE_MAP, v->file, v->key_line, v->key_col);
            cf_node_add(params[i], blob_fields[f].now, v); /* keeps v's position */
        }
    }

    memmove(kids + at + nparam, kids + at, (nk - at) * sizeof *kids);
    for (size_t j = 0; j < nparam; j++) {
        params[j]->key = xstrdup("param");
        params[j]->parent = l;
        kids[at + j] = params[j];
    }
    free(l->child);
    l->child = kids;
    l->nchild = nk + nparam;
    l->cap = l->nchild;
    for (size_t j = 0; j < nlists; j++) {
        lists[j]->nchild = 0;
        cf_node_free(lists[j]);
    }
    free(lists);
    free(params);
    for (int f = 0; f < N_BLOB_FIELDS; f++) free(vals[f]);
    return 0;
}

/* V1 data layers took scale, mean_file, crop_size and mirror in their own
 * parameter message; they belong in transform_param. */
static int upgrade_transform(cf_node *l, const char *param_key, cf_error *err)
{
    static const char *const moved[] = {"scale", "mean_file", "crop_size", "mirror", NULL};
    cf_node *p = child(l, param_key);
    if (!p || p->kind != CF_NODE_MAP) return 0;
    cf_node *tp = child(l, "transform_param");
    if (tp && tp->kind != CF_NODE_MAP)
        return layer_error(l, tp, err, "field 'transform_param': expected a map of fields");
    size_t keep = 0;
    for (size_t i = 0; i < p->nchild; i++) {
        cf_node *c = p->child[i];
        bool move = false;
        for (int k = 0; moved[k]; k++)
            if (c->key && !strcmp(c->key, moved[k])) move = true;
        if (!move) {
            p->child[keep++] = c;
            continue;
        }
        if (!tp) {
            tp = cf_node_new(CF_NODE_MAP, c->file, c->key_line, c->key_col);
            cf_node_add(l, "transform_param", tp);
        }
        char *key = xstrdup(c->key);
        cf_node_add(tp, key, c);
        free(key);
    }
    p->nchild = keep;
    return 0;
}

static int upgrade_layer(cf_node *l, cf_error *err)
{
    if (l->kind != CF_NODE_MAP)
        return cf_node_error(l, err, CF_EINPUT, "field 'layers': expected a map of layer fields");
    cf_node *v0 = child(l, "layer");
    if (v0)
        return layer_error(l, v0, err,
                           "V0 layer definitions ('layer' inside 'layers') are not supported; "
                           "convert the net with Caffe's upgrade_net_proto_text first");
    int t;
    if (upgrade_type(l, &t, err) || upgrade_params(l, err)) return -1;
    if (t >= 0 && !strcmp(v1_types[t].v1, "DATA")) return upgrade_transform(l, "data_param", err);
    if (t >= 0 && !strcmp(v1_types[t].v1, "IMAGE_DATA")) return upgrade_transform(l, "image_data_param", err);
    if (t >= 0 && !strcmp(v1_types[t].v1, "WINDOW_DATA")) return upgrade_transform(l, "window_data_param", err);
    return 0;
}

int cf_upgrade_v1(cf_node *net, int *upgraded, cf_error *err)
{
    *upgraded = 0;
    if (!net || net->kind != CF_NODE_MAP) return 0;
    cf_node *v1 = child(net, "layers"), *cur = child(net, "layer");
    if (!v1) return 0;
    if (cur) {
        const cf_node *second = v1->key_line > cur->key_line ||
                                        (v1->key_line == cur->key_line && v1->key_col > cur->key_col)
                                    ? v1
                                    : cur;
        cf_node_error(second, err, CF_EINPUT, "a net cannot mix 'layer' and V1 'layers' entries");
        return cf_error_at(err, second->file, second->key_line, second->key_col);
    }
    for (size_t i = 0; i < net->nchild; i++) {
        cf_node *c = net->child[i];
        if (!c->key || strcmp(c->key, "layers")) continue;
        if (c->kind == CF_NODE_SEQ) {
            for (size_t j = 0; j < c->nchild; j++)
                if (upgrade_layer(c->child[j], err)) return -1;
        } else if (upgrade_layer(c, err)) {
            return -1;
        }
        rename_key(c, "layer");
    }
    *upgraded = 1;
    return 0;
}
