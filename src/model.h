/* model.h — a net opened for a verb that runs it outside training
 * (test, time, gradcheck, export): the model file (a recipe, a Caffe
 * solver or a bare net), a backend, a seeded RNG, the net built for the
 * phase asked, and weights when given.  Ownership: cf_model_close frees
 * all of it. */
#ifndef CF_MODEL_H
#define CF_MODEL_H

#include "net.h"
#include "recipe.h"

typedef struct cf_model {
    cf_recipe recipe;
    cf_backend *be;
    cf_rng rng;
    cf_net *net;
} cf_model;

/* threads <= 0: all cores; gpu >= 0: that GPU (an error when it cannot
 * be used).  weights may be NULL; log (may be NULL) hears which layers
 * the weights filled.  Returns 0, or -1 with err (the model is then
 * closed). */
int cf_model_open(cf_model *m, const char *path, cf_phase phase, int threads, int gpu, const char *weights,
                  cf_log_fn log, cf_error *err);
/* The value of a --gpu flag: -1 when absent; else the GPU number after
 * checking it can be used (CF_EINPUT error naming the reason otherwise). */
int cf_model_gpu_flag(const char *value, int *gpu, cf_error *err);
void cf_model_close(cf_model *m);

#endif
