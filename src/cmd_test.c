/* cmd_test.c — `cafetui test --model NET --weights W --iterations N`:
 * run the TEST-phase net N times and print each output averaged over the
 * batches, as `caffe test` does; `--dump BLOB=FILE` writes a blob's values
 * (one line per item, %.6f) for comparison with other tools.
 * Also `cafetui export --model NET --weights W -o OUT.caffemodel`:
 * write weights as a binary .caffemodel that Caffe loads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "caffemodel.h"
#include "commands.h"
#include "model.h"

#define MAX_DUMPS 8

typedef struct { char blob[128]; const char *path; FILE *f; } dump;

static void log_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

int cf_cmd_test(int argc, char **argv, int first)
{
    cf_flag flags[] = {
        {"model", true, NULL, "net (prototxt or YAML) or recipe"},
        {"weights", true, NULL, "snapshot, .caffemodel or .caffemodel.h5"},
        {"iterations", true, NULL, "batches to run (default 50, as Caffe)"},
        {"dump", true, NULL, "BLOB=FILE: write a blob's values, one line per item"},
        {"threads", true, NULL, "CPU threads"},
        {"gpu", true, NULL, "GPU N (needs a --with-cuda build)"},
        {"help", false, NULL, "this help"},
        {NULL, false, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    if (cf_args_parse(argc, argv, first, flags, pos, 1, &npos)) return 2;
    const char *model = cf_flag_get(flags, "model");
    if (!model && npos) model = pos[0];
    if (cf_flag_get(flags, "help") || !model) {
        fprintf(stderr, "usage: cafetui test --model NET --weights W [--iterations 50] [--dump BLOB=FILE]\n");
        cf_flags_help(flags);
        return model ? 0 : 2;
    }
    int gpu;
    cf_error gerr;
    if (cf_model_gpu_flag(cf_flag_get(flags, "gpu"), &gpu, &gerr)) return cf_report(&gerr);
    const char *v = cf_flag_get(flags, "iterations");
    long iters = v ? atol(v) : 50;
    if (iters < 1) {
        fprintf(stderr, "cafetui: --iterations must be >= 1\n");
        return 2;
    }
    /* --dump may be given once (the flag table keeps the last): BLOB=FILE */
    dump d = {{0}, NULL, NULL};
    if ((v = cf_flag_get(flags, "dump"))) {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || !eq[1]) {
            fprintf(stderr, "cafetui: --dump wants BLOB=FILE, got '%s'\n", v);
            return 2;
        }
        snprintf(d.blob, sizeof d.blob, "%.*s", (int)(eq - v), v);
        d.path = eq + 1;
    }
    cf_model m;
    cf_error err;
    v = cf_flag_get(flags, "threads");
    if (cf_model_open(&m, model, CF_TEST, v ? atoi(v) : 0, gpu, cf_flag_get(flags, "weights"), log_line, &err))
        return cf_report(&err);
    cf_net *net = m.net;
    int rc = 0;
    if (!cf_flag_get(flags, "weights")) fprintf(stderr, "warning: no --weights: testing the initial weights\n");
    cf_blob *db = NULL;
    if (d.path) {
        db = cf_net_blob(net, d.blob);
        if (!db) {
            fprintf(stderr, "cafetui: --dump: the net has no blob '%s'\n", d.blob);
            rc = 2;
            goto out;
        }
        d.f = fopen(d.path, "w");
        if (!d.f) {
            perror(d.path);
            rc = 1;
            goto out;
        }
    }
    double *sum = NULL;
    float *weight = NULL;
    char (*names)[160] = NULL;
    int nout = 0;
    double loss_total = 0;
    for (long it = 0; it < iters; it++) {
        float loss;
        if (cf_net_forward(net, &loss, &err)) {
            rc = cf_report(&err);
            goto done;
        }
        loss_total += loss;
        int k = 0;
        for (int o = 0; o < net->noutputs; o++) {
            const cf_blob *b = net->blobs[net->outputs[o]];
            const float *x = cf_blob_data(b);
            if (it == 0) {
                sum = realloc(sum, (size_t)(nout + b->count) * sizeof *sum);
                weight = realloc(weight, (size_t)(nout + b->count) * sizeof *weight);
                names = realloc(names, (size_t)(nout + b->count) * sizeof *names);
                float w = 0;
                for (int li = 0; li < net->nlayers; li++)
                    for (int t = 0; t < net->layers[li].nt; t++)
                        if (net->layers[li].top_id[t] == net->outputs[o]) w = net->layers[li].loss_weight[t];
                for (size_t e = 0; e < b->count; e++) {
                    sum[nout + e] = 0;
                    weight[nout + e] = w;
                    if (b->count == 1) snprintf(names[nout + e], sizeof names[0], "%s", b->name);
                    else snprintf(names[nout + e], sizeof names[0], "%s[%zu]", b->name, e);
                }
                nout += (int)b->count;
            }
            for (size_t e = 0; e < b->count; e++, k++) {
                sum[k] += x[e];
                printf("Batch %ld, %s = %g\n", it, names[k], x[e]);
            }
        }
        if (d.f) {
            size_t items = (size_t)cf_blob_dim(db, 0), per = items ? db->count / items : 0;
            const float *x = cf_blob_data(db);
            for (size_t i = 0; i < items; i++) {
                for (size_t j = 0; j < per; j++) fprintf(d.f, "%s%.6f", j ? " " : "", x[i * per + j]);
                fputc('\n', d.f);
            }
        }
    }
    printf("Loss: %g\n", loss_total / iters);
    for (int k = 0; k < nout; k++) {
        double mean = sum[k] / iters;
        if (weight[k] != 0) printf("%s = %g (* %g = %g loss)\n", names[k], mean, weight[k], weight[k] * mean);
        else printf("%s = %g\n", names[k], mean);
    }
done:
    free(sum);
    free(weight);
    free(names);
    if (d.f && fclose(d.f)) {
        perror(d.path);
        rc = 1;
    }
out:
    cf_model_close(&m);
    return rc;
}

int cf_cmd_export(int argc, char **argv, int first)
{
    cf_flag flags[] = {
        {"model", true, NULL, "net (prototxt or YAML) or recipe"},
        {"weights", true, NULL, "snapshot, .caffemodel or .caffemodel.h5"},
        {"output", true, NULL, "the .caffemodel to write"},
        {"o", true, NULL, "same as --output"},
        {"help", false, NULL, "this help"},
        {NULL, false, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    if (cf_args_parse(argc, argv, first, flags, pos, 1, &npos)) return 2;
    const char *model = cf_flag_get(flags, "model"), *weights = cf_flag_get(flags, "weights");
    const char *out = cf_flag_get(flags, "output") ? cf_flag_get(flags, "output") : cf_flag_get(flags, "o");
    if (!weights && npos) weights = pos[0];
    if (cf_flag_get(flags, "help") || !model || !weights || !out) {
        fprintf(stderr, "usage: cafetui export --model NET --weights SNAPSHOT -o OUT.caffemodel\n");
        cf_flags_help(flags);
        return cf_flag_get(flags, "help") ? 0 : 2;
    }
    cf_model m;
    cf_error err;
    if (cf_model_open(&m, model, CF_TRAIN, 1, -1, weights, NULL, &err)) return cf_report(&err);
    int rc = 0;
    if (cf_caffemodel_save(m.net, out, &err)) rc = cf_report(&err);
    else fprintf(stderr, "wrote %s\n", out);
    cf_model_close(&m);
    return rc;
}
