/* dummy_data.c — DummyData layer: tops filled by fillers, for nets that
 * need inputs without a dataset (speed tests, shape checks, debugging).
 *
 * dummy_data_param, as Caffe's DummyDataParameter:
 *   shape        BlobShape, once for all tops or once per top; or the
 *                legacy num/channels/height/width, each once or once per
 *                top (a 4-D shape), never both styles together
 *   data_filler  a FillerParameter, none (constant 0), one for all tops
 *                or one per top
 * A constant filler fills its top once, at setup; any other filler draws
 * fresh values at every forward (Caffe's "refill" rule).  Setup fills every
 * top once, so that a bad filler is reported before training starts and
 * every filler field counts as read. */
#include <limits.h>
#include <stdlib.h>
#include <strings.h>

#include "layer.h"

typedef struct {
    int nt;
    cf_node **filler; /* per top; NULL = constant 0 */
    bool *refill;     /* per top: draw again at every forward */
} dummy_priv;

/* A repeated field given neither once nor once per top. */
static int count_error(cf_layer *l, cf_node *at, const char *field, int nt, size_t n, cf_error *err)
{
    return cf_layer_error(l, at, err, "dummy_data_param: give '%s' once, or once per top (%d top%s), not %zu times",
                          field, nt, nt == 1 ? "" : "s", n);
}

static int read_shape(cf_layer *l, cf_node *s, int *naxes, int *dims, cf_error *err)
{
    if (cf_node_shape(s, "dummy_data_param", CF_MAX_AXES, naxes, dims, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    return 0;
}

/* Top i's shape from the legacy fields: each given once or once per top. */
static int read_legacy(cf_layer *l, cf_node *p, int i, int nt, int *dims, cf_error *err)
{
    static const char *const keys[4] = {"num", "channels", "height", "width"};
    for (int k = 0; k < 4; k++) {
        size_t n = cf_node_count(p, keys[k]);
        if (n != 1 && n != (size_t)nt)
            return count_error(l, p, keys[k], nt, n, err);
        long d;
        if (cf_get_int_at(p, keys[k], n == 1 ? 0 : (size_t)i, &d, err)) return -1;
        if (d < 0 || d > INT_MAX)
            return cf_layer_error(l, cf_node_at(p, keys[k], n == 1 ? 0 : (size_t)i), err,
                                  "dummy_data_param: %s %ld is out of range", keys[k], d);
        dims[k] = (int)d;
    }
    return 0;
}

static int shape_tops(cf_layer *l, cf_node *p, cf_blob **top, int nt, cf_error *err)
{
    bool legacy = cf_node_has(p, "num") || cf_node_has(p, "channels") || cf_node_has(p, "height") ||
                  cf_node_has(p, "width");
    size_t ns = cf_node_count(p, "shape");
    if (legacy && ns)
        return cf_layer_error(l, cf_node_at(p, "shape", 0), err,
                              "dummy_data_param: use either 'shape' or num/channels/height/width, not both");
    if (!legacy && ns != 1 && ns != (size_t)nt)
        return count_error(l, ns ? cf_node_at(p, "shape", 0) : p, "shape", nt, ns, err);
    for (int i = 0; i < nt; i++) {
        int naxes = 4, dims[CF_MAX_AXES];
        if (legacy ? read_legacy(l, p, i, nt, dims, err)
                   : read_shape(l, cf_node_at(p, "shape", ns == 1 ? 0 : (size_t)i), &naxes, dims, err))
            return -1;
        if (cf_blob_reshape(top[i], naxes, dims, err)) return -1;
    }
    return 0;
}

static int dummy_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    if (cf_layer_param_map(l, "dummy_data_param", &p, err)) return -1;
    if (shape_tops(l, p, top, nt, err)) return -1;
    size_t nf = cf_node_count(p, "data_filler");
    if (nf > 1 && nf != (size_t)nt)
        return count_error(l, cf_node_at(p, "data_filler", 0), "data_filler", nt, nf, err);
    dummy_priv *d = calloc(1, sizeof *d);
    if (!d) abort();
    l->priv = d;
    d->nt = nt;
    d->filler = calloc((size_t)nt, sizeof *d->filler);
    d->refill = calloc((size_t)nt, sizeof *d->refill);
    if (!d->filler || !d->refill) abort();
    for (int i = 0; i < nt; i++) {
        cf_node *f = nf ? cf_node_at(p, "data_filler", nf == 1 ? 0 : (size_t)i) : NULL;
        const char *type = "constant";
        if (f && f->kind != CF_NODE_MAP)
            return cf_layer_error(l, f, err, "dummy_data_param: 'data_filler' must be a map like {type: gaussian}");
        if (cf_get_string(f, "type", "constant", &type, err)) return -1;
        d->filler[i] = f;
        d->refill[i] = strcasecmp(type, "constant") != 0;
        if (cf_fill(top[i], f, "constant", l->rng, err)) return -1;
    }
    return 0;
}

/* Shapes are fixed at setup (as Caffe). */
static int dummy_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err) { return 0; }

static int dummy_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    dummy_priv *d = l->priv;
    for (int i = 0; i < nt && i < d->nt; i++)
        if (d->refill[i] && cf_fill(top[i], d->filler[i], "constant", l->rng, err)) return -1;
    return 0;
}

static void dummy_destroy(cf_layer *l)
{
    dummy_priv *d = l->priv;
    if (!d) return;
    free(d->filler);
    free(d->refill);
    free(d);
}

const cf_layer_ops cf_layer_DummyData = {
    .type = "DummyData",
    .min_bottom = 0, .max_bottom = 0,
    .min_top = 1, .max_top = -1,
    .setup = dummy_setup,
    .reshape = dummy_reshape,
    .forward = dummy_forward,
    .destroy = dummy_destroy,
};
