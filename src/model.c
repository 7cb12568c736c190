/* model.c — see model.h. */
#include "model.h"

#include <string.h>

#include "weights.h"

int cf_model_open(cf_model *m, const char *path, cf_phase phase, int threads, const char *weights, cf_log_fn log,
                  cf_error *err)
{
    memset(m, 0, sizeof *m);
    if (cf_recipe_load(path, &m->recipe, err)) return -1;
    m->be = cf_backend_cpu_new(threads);
    cf_rng_seed(&m->rng, 1701);
    cf_net_opts no = {.phase = phase, .be = m->be, .rng = &m->rng};
    m->net = cf_net_build(m->recipe.net, &no, err);
    if (!m->net || (weights && cf_net_load_weights_ex(m->net, weights, log, NULL, NULL, err))) {
        cf_model_close(m);
        return -1;
    }
    return 0;
}

void cf_model_close(cf_model *m)
{
    cf_net_free(m->net);
    cf_backend_free(m->be);
    cf_recipe_free(&m->recipe);
    memset(m, 0, sizeof *m);
}
