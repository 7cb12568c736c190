/* silence.c — the Silence layer (Caffe's SilenceLayer): takes blobs that
 * nothing else uses, so that the net does not count them as outputs.
 * It has no tops and computes nothing; since no loss depends on its
 * bottoms through it, backward writes them a zero gradient. */
#include "layer.h"

static int silence_forward(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, cf_error *err) { return 0; }

static void silence_backward(cf_layer *l, cf_blob **top, int nt, const bool *prop, cf_blob **bottom, int nb)
{
    for (int i = 0; i < nb; i++)
        if (prop[i]) cf_set(l->be, bottom[i]->count, 0.0f, cf_blob_mdiff(bottom[i]));
}

const cf_layer_ops cf_layer_Silence = {
    .type = "Silence",
    .min_bottom = 1, .max_bottom = -1,
    .min_top = 0, .max_top = 0,
    .forward = silence_forward,
    .backward = silence_backward,
};
