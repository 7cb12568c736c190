/* cmd_gradcheck.c — `cafetui gradcheck RECIPE`: numerically check every
 * layer of the training net on one batch of its real data, print the
 * worst relative error per layer, exit 1 when any exceeds the threshold. */
#include <stdio.h>
#include <stdlib.h>

#include "args.h"
#include "commands.h"
#include "gradcheck.h"
#include "model.h"

typedef struct { double thr; int bad; } gc_ctx;

static void report(void *ctx, const cf_layer *l, const cf_gradcheck_result *r)
{
    gc_ctx *c = ctx;
    bool ok = r->worst <= c->thr;
    if (!ok) c->bad++;
    printf("%-20s %-18s worst %.3e at %-18s (%ld checked, %ld kinks skipped)  %s\n", l->name, l->ops->type, r->worst,
           r->where, r->checked, r->kinks, ok ? "ok" : "FAIL");
}

int cf_cmd_gradcheck(int argc, char **argv, int first)
{
    cf_flag flags[] = {
        {"threshold", true, NULL, "largest relative error allowed (default 1e-2)"},
        {"step", true, NULL, "finite-difference step (default 1e-2)"},
        {"samples", true, NULL, "elements checked per blob (default 100; 0 = all)"},
        {"threads", true, NULL, "CPU threads"},
        {"help", false, NULL, "this help"},
        {NULL, false, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    if (cf_args_parse(argc, argv, first, flags, pos, 1, &npos)) return 2;
    if (cf_flag_get(flags, "help") || npos != 1) {
        fprintf(stderr, "usage: cafetui gradcheck RECIPE [--threshold 1e-2] [--step 1e-2] [--samples 100]\n");
        cf_flags_help(flags);
        return npos == 1 ? 0 : 2;
    }
    const char *v;
    gc_ctx c = {.thr = (v = cf_flag_get(flags, "threshold")) ? atof(v) : 1e-2};
    cf_gradcheck_opts o = {.step = (v = cf_flag_get(flags, "step")) ? atof(v) : 1e-2,
                           .max_per_blob = (v = cf_flag_get(flags, "samples")) ? atol(v) : 100,
                           .skip_kinks = true,
                           .kink_tol = 1e-2};
    if (!(c.thr > 0) || !(o.step > 0)) {
        fprintf(stderr, "cafetui: --threshold and --step must be positive numbers\n");
        return 2;
    }
    cf_model m;
    cf_error err;
    if (cf_model_open(&m, pos[0], CF_TRAIN, (v = cf_flag_get(flags, "threads")) ? atoi(v) : 0, -1, NULL, NULL, &err))
        return cf_report(&err);
    int rc;
    double worst;
    if (cf_net_forward(m.net, NULL, &err) || cf_gradcheck_net(m.net, &o, report, &c, &worst, &err)) {
        rc = cf_report(&err);
    } else {
        printf("worst relative error %.3e (threshold %.1e): %s\n", worst, c.thr, c.bad ? "FAIL" : "ok");
        rc = c.bad ? 1 : 0;
    }
    cf_model_close(&m);
    return rc;
}
