/* cmd_time.c — `cafetui time --model M --iterations N`: per-layer forward
 * and backward wall time of the training net, averaged over N iterations
 * after one warm-up (what `caffe time` reports). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "args.h"
#include "commands.h"
#include "model.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

int cf_cmd_time(int argc, char **argv, int first)
{
    cf_flag flags[] = {
        {"model", true, NULL, "net, recipe or Caffe solver/net prototxt"},
        {"iterations", true, NULL, "iterations to average (default 50)"},
        {"threads", true, NULL, "CPU threads (default: all cores)"},
        {"phase", true, NULL, "TRAIN (default) or TEST"},
        {"gpu", true, NULL, "time on GPU N (needs a --with-cuda build)"},
        {"help", false, NULL, "this help"},
        {NULL, false, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    if (cf_args_parse(argc, argv, first, flags, pos, 1, &npos)) return 2;
    const char *model = cf_flag_get(flags, "model");
    if (!model && npos) model = pos[0];
    if (cf_flag_get(flags, "help") || !model) {
        fprintf(stderr, "usage: cafetui time --model NET [--iterations 50] [--threads N]\n");
        cf_flags_help(flags);
        return model ? 0 : 2;
    }
    int gpu;
    cf_error gerr;
    if (cf_model_gpu_flag(cf_flag_get(flags, "gpu"), &gpu, &gerr)) return cf_report(&gerr);
    const char *v = cf_flag_get(flags, "iterations");
    int iters = v ? atoi(v) : 50;
    if (iters < 1) {
        fprintf(stderr, "cafetui: --iterations must be >= 1\n");
        return 2;
    }
    v = cf_flag_get(flags, "phase");
    cf_phase phase = v && (v[0] == 'T' || v[0] == 't') && (v[1] == 'E' || v[1] == 'e') ? CF_TEST : CF_TRAIN;
    cf_model m;
    cf_error err;
    v = cf_flag_get(flags, "threads");
    if (cf_model_open(&m, model, phase, v ? atoi(v) : 0, gpu, NULL, NULL, &err)) return cf_report(&err);
    cf_net *net = m.net;
    cf_backend *be = m.be;
    int rc = 0;
    double *fw = calloc((size_t)net->nlayers, sizeof(double)), *bw = calloc((size_t)net->nlayers, sizeof(double));
    double total = 0;
    for (int it = 0; it <= iters; it++) { /* iteration 0 warms up */
        double t0 = now_ms();
        for (int li = 0; li < net->nlayers; li++) {
            cf_net_layer *nl = &net->layers[li];
            double a = now_ms();
            if (nl->layer->ops->reshape && nl->layer->ops->reshape(nl->layer, nl->bottom, nl->nb, nl->top, nl->nt, &err)) {
                rc = cf_report(&err);
                goto done;
            }
            if (nl->layer->ops->forward(nl->layer, nl->bottom, nl->nb, nl->top, nl->nt, &err)) {
                cf_error_ctx(&err, "layer '%s'", nl->layer->name);
                rc = cf_report(&err);
                goto done;
            }
            if (it) fw[li] += now_ms() - a;
        }
        for (int li = 0; li < net->nlayers; li++)
            for (int t = 0; t < net->layers[li].nt; t++)
                if (net->layers[li].loss_weight[t] != 0)
                    cf_set(be, net->layers[li].top[t]->count, net->layers[li].loss_weight[t], cf_blob_mdiff(net->layers[li].top[t]));
        for (int li = net->nlayers; li-- > 0;) {
            cf_net_layer *nl = &net->layers[li];
            if (!nl->need_backward) continue;
            double a = now_ms();
            nl->layer->ops->backward(nl->layer, nl->top, nl->nt, nl->prop_down, nl->bottom, nl->nb);
            if (it) bw[li] += now_ms() - a;
        }
        if (it) total += now_ms() - t0;
    }
    printf("Average time per layer (%d iterations, %d threads):\n", iters, be->nthreads);
    double fsum = 0, bsum = 0;
    for (int li = 0; li < net->nlayers; li++) {
        printf("%16s   forward: %9.4f ms.\n", net->layers[li].layer->name, fw[li] / iters);
        printf("%16s  backward: %9.4f ms.\n", net->layers[li].layer->name, bw[li] / iters);
        fsum += fw[li];
        bsum += bw[li];
    }
    printf("Average Forward pass: %.4f ms.\n", fsum / iters);
    printf("Average Backward pass: %.4f ms.\n", bsum / iters);
    printf("Average Forward-Backward: %.4f ms.\n", total / iters);
done:
    free(fw);
    free(bw);
    cf_model_close(&m);
    return rc;
}
