/* model.c — see model.h. */
#include "model.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gpu.h"

#include "weights.h"

int cf_model_gpu_flag(const char *v, int *gpu, cf_error *err)
{
    *gpu = -1;
    if (!v) return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (end == v || *end || errno || n < 0 || n > INT_MAX)
        return cf_error_set(err, CF_EINPUT, "option --gpu: '%s' is not a GPU number (0, 1, ...)", v);
    cf_error why;
    if (cf_gpu_check((int)n, &why)) return cf_error_set(err, CF_EINPUT, "option --gpu: %s", why.msg);
    *gpu = (int)n;
    return 0;
}

int cf_model_open(cf_model *m, const char *path, cf_phase phase, int threads, int gpu, const char *weights,
                  cf_log_fn log, cf_error *err)
{
    memset(m, 0, sizeof *m);
    if (cf_recipe_load(path, &m->recipe, err)) return -1;
    m->be = gpu >= 0 ? cf_backend_gpu_new(gpu, threads, err) : cf_backend_cpu_new(threads);
    if (!m->be) {
        cf_model_close(m);
        return -1;
    }
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
