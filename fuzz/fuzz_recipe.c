/* fuzz_recipe.c — a whole recipe: the bytes after the first as prototxt
 * when the first is 'P', else as YAML (seeds start with 'P' or 'Y'),
 * loaded as `cafetui FILE` loads it (recipe, Caffe solver or net alone;
 * V1 upgrade), the solver and its train and test nets built (every
 * layer's setup on whatever parameters the input holds), then one forward
 * and backward of the train net.
 *
 * Bounded: blob memory is capped at 64 MiB (cf_mem_set_limit), one
 * thread, and the run happens in a scratch directory.  Inputs holding '/'
 * or '\' are skipped: without them no path can leave the scratch
 * directory (no escape can make a '/' either), so a recipe cannot make
 * the harness read a device or write over a file outside it. */
#include <unistd.h>

#include "fuzz_common.h"
#include "h5_check.h"
#include "net.h"
#include "recipe.h"
#include "solver.h"

/* tests/test_fuzz_regress.c includes the harnesses under other names */
#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
/* The fuzzer reads HDF5 files in its own process (engine/h5_check.h): a
 * fault, libhdf5's or ours, must reach it; the regression test keeps the
 * guard that turns libhdf5's into errors. */
#define FUZZ_H5_UNGUARDED 1
#endif

static cf_backend *rc_be;

static void rc_run_net(cf_net *n)
{
    cf_error err;
    float loss;
    if (cf_net_forward(n, &loss, &err) == 0 && cf_net_clear_param_diffs(n, &err) == 0) cf_net_backward(n);
}

static void rc_build_nets(cf_node *net)
{
    cf_rng rng;
    cf_rng_seed(&rng, 5);
    for (int ph = 0; ph < 2; ph++) {
        cf_net_opts o = {.phase = ph ? CF_TEST : CF_TRAIN, .be = rc_be, .rng = &rng};
        cf_error err;
        cf_net *n = cf_net_build(net, &o, &err);
        if (n) {
            rc_run_net(n);
            cf_net_free(n);
        }
    }
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    if (!rc_be) {
        rc_be = cf_backend_cpu_new(1);
        cf_mem_set_limit((size_t)64 << 20);
#ifdef FUZZ_H5_UNGUARDED
        cf_h5_guard_off = true;
#endif
        if (chdir(fuzz_dir())) abort();
    }
    if (size < 1 || memchr(data, '/', size) || memchr(data, '\\', size)) return 0;
    const char *name = data[0] == 'P' ? "recipe.prototxt" : "recipe.yaml";
    const char *path = fuzz_file(name, data + 1, size - 1);
    cf_recipe r;
    cf_error err;
    if (cf_recipe_load(path, &r, &err)) return 0;
    if (r.solver) {
        cf_solver_opts o = {.be = rc_be, .max_iter = -1, .base_lr = -1, .seed = 1};
        cf_solver *s = cf_solver_new(r.solver, r.net, &o, &err);
        if (s) {
            rc_run_net(s->net);
            cf_solver_free(s);
        }
    } else {
        rc_build_nets(r.net);
    }
    cf_recipe_free(&r);
    return 0;
}
