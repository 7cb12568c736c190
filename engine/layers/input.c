/* input.c — Input layer: tops whose data is written from outside the net
 * (a deploy net's "data", a test feeding blobs by hand).
 *
 * input_param { shape { dim: 64 dim: 1 dim: 28 dim: 28 } } gives the shape
 * of the tops, as Caffe's InputParameter: no shape at all (the caller
 * shapes the tops), one shape for every top, or one shape per top.
 * Forward and reshape do nothing: the layer only holds the blobs' place in
 * the graph. */
#include <limits.h>

#include "layer.h"

/* One BlobShape map {dim: [...]} into dims; sizes must be >= 0. */
static int read_shape(cf_layer *l, cf_node *s, int *naxes, int *dims, cf_error *err)
{
    if (cf_node_shape(s, "input_param", CF_MAX_AXES, naxes, dims, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    return 0;
}

static int input_setup(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err)
{
    cf_node *p;
    if (cf_layer_param_map(l, "input_param", &p, err)) return -1;
    size_t ns = cf_node_count(p, "shape");
    if (ns > 1 && ns != (size_t)nt)
        return cf_layer_error(l, cf_node_at(p, "shape", 0), err,
                              "input_param: give 'shape' once, or once per top (%d top%s), not %zu times", nt,
                              nt == 1 ? "" : "s", ns);
    for (int i = 0; ns && i < nt; i++) {
        int naxes = 0, dims[CF_MAX_AXES];
        if (read_shape(l, cf_node_at(p, "shape", ns == 1 ? 0 : (size_t)i), &naxes, dims, err)) return -1;
        if (cf_blob_reshape(top[i], naxes, dims, err)) return -1;
    }
    return 0;
}

/* The tops keep whatever shape and data the caller gave them. */
static int input_reshape(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err) { return 0; }
static int input_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err) { return 0; }

const cf_layer_ops cf_layer_Input = {
    .type = "Input",
    .min_bottom = 0, .max_bottom = 0,
    .min_top = 1, .max_top = -1,
    .setup = input_setup,
    .reshape = input_reshape,
    .forward = input_forward,
};
