/* bench_nets.c — training and inference speed of one benchmark net
 * (bench/lenet.yaml, bench/cifar10_quick.yaml) in one configuration, in
 * a process of its own so that its peak RSS is its own.
 *
 *   bench_nets NET.yaml [--threads N] [--iters N] [--runs N] [--layers]
 *
 * oneDNN is on or off as the environment says (CAFETUI_DNNL=0 turns it
 * off; see engine/dnnl/dnnl_layers.h).  Prints one line
 *   RESULT impl=cafetui net=... threads=... dnnl=... train_ms=... \
 *          train_cpu_ms=... gflop=... gflops=... sgemm_gflops=... \
 *          of_sgemm=... rss_mb=... infer1_ms=... inferB_ms=...
 * that bench/run_all.sh collects:
 *   train_ms      best over --runs of the mean over --iters training
 *                 iterations (solver step: forward, backward, SGD update
 *                 with momentum), after 5 warm-up iterations
 *   train_cpu_ms  CPU time of the whole process per iteration, same runs
 *                 (higher than train_ms × threads when threads spin)
 *   gflop         FLOPs of one iteration: each Convolution and
 *                 InnerProduct counts 2·weights·output positions forward,
 *                 the same for its weight gradient, and the same again for
 *                 its input gradient when one is needed
 *   gflops        gflop / train_ms
 *   sgemm_gflops  OpenBLAS sgemm 1024³ with N OpenBLAS threads, measured
 *                 in this process after the training runs (best of 5)
 *   of_sgemm      gflops / sgemm_gflops
 *   rss_mb        peak resident memory after the training runs (getrusage)
 *   infer1_ms / inferB_ms
 *                 forward of a TEST-phase net with batch 1 / the training
 *                 batch (best of 20 after 3 warm-ups)
 * --layers adds a per-layer table (forward and backward, wall and CPU
 * time of the calling thread) averaged over --iters, as `cafetui time`. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "parse.h"
#include "solver.h"
/* Also builds against a tree from before the oneDNN layer (for the
 * before/after rows of BENCHMARKS.md): oneDNN is then off. */
#if __has_include("dnnl/dnnl_layers.h")
#include "dnnl/dnnl_layers.h"
#else
#define cf_dnnl_on(be) ((void)(be), false)
#endif

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

/* The recipe text with the batch size B of its DummyData shapes replaced:
 * "dim: [64," and "dim: [64]" become "dim: [B," and "dim: [B]". */
static char *with_batch(const char *text, int from, int to)
{
    char pat1[32], pat2[32], rep1[32], rep2[32];
    snprintf(pat1, sizeof pat1, "dim: [%d,", from);
    snprintf(pat2, sizeof pat2, "dim: [%d]", from);
    snprintf(rep1, sizeof rep1, "dim: [%d,", to);
    snprintf(rep2, sizeof rep2, "dim: [%d]", to);
    size_t n = strlen(text);
    char *out = malloc(n * 2 + 64), *o = out;
    for (const char *p = text; *p;) {
        if (!strncmp(p, pat1, strlen(pat1))) {
            o += sprintf(o, "%s", rep1);
            p += strlen(pat1);
        } else if (!strncmp(p, pat2, strlen(pat2))) {
            o += sprintf(o, "%s", rep2);
            p += strlen(pat2);
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
    return out;
}

/* Images in [0, 1) and labels 0..9 from a fixed sequence. */
static void fill_inputs(cf_net *net)
{
    cf_blob *d = cf_net_blob(net, "data"), *l = cf_net_blob(net, "label");
    float *x = cf_blob_mdata(d);
    uint64_t s = 88172645463325252ULL;
    for (size_t i = 0; i < d->count; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)(s >> 40) / (float)(1 << 24);
    }
    if (l) {
        float *y = cf_blob_mdata(l);
        for (size_t i = 0; i < l->count; i++) y[i] = (float)(i * 7 % 10);
    }
}

static double iteration_flops(const cf_net *net)
{
    double f = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const cf_net_layer *nl = &net->layers[i];
        const char *t = nl->layer->ops->type;
        if (strcmp(t, "Convolution") && strcmp(t, "InnerProduct")) continue;
        double w = (double)nl->layer->param[0]->count;
        double positions = (double)nl->top[0]->count / cf_blob_dim(nl->top[0], 1);
        double fwd = 2 * w * positions;
        f += fwd + (nl->need_backward ? fwd + (nl->prop_down[0] ? fwd : 0) : 0);
    }
    return f;
}

static double sgemm_gflops(int n, int threads)
{
    float *A = malloc(sizeof(float) * n * n), *B = malloc(sizeof(float) * n * n), *C = malloc(sizeof(float) * n * n);
    for (long i = 0; i < (long)n * n; i++) A[i] = (float)(i % 13) * 0.01f, B[i] = (float)(i % 11) * 0.01f;
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, A, n, B, n, 0, C, n);
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, A, n, B, n, 0, C, n);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    openblas_set_num_threads(1);
    free(A), free(B), free(C);
    return 2.0 * n * n * n / best / 1e9;
}

/* Per-layer forward/backward times over iters iterations of the net. */
static void layer_table(cf_net *net, int iters)
{
    int n = net->nlayers;
    double *fw = calloc((size_t)n * 4, sizeof(double)), *bw = fw + n, *fc = fw + 2 * n, *bc = fw + 3 * n;
    cf_error err;
    for (int it = 0; it <= iters; it++) {
        for (int li = 0; li < n; li++) {
            cf_net_layer *nl = &net->layers[li];
            double a = now(), c = clock_s(CLOCK_THREAD_CPUTIME_ID);
            if (nl->layer->ops->reshape) nl->layer->ops->reshape(nl->layer, nl->bottom, nl->nb, nl->top, nl->nt, &err);
            nl->layer->ops->forward(nl->layer, nl->bottom, nl->nb, nl->top, nl->nt, &err);
            if (it) fw[li] += now() - a, fc[li] += clock_s(CLOCK_THREAD_CPUTIME_ID) - c;
        }
        cf_net_clear_param_diffs(net, NULL);
        for (int li = 0; li < n; li++)
            for (int t = 0; t < net->layers[li].nt; t++)
                if (net->layers[li].loss_weight[t] != 0)
                    cf_set(net->be, net->layers[li].top[t]->count, net->layers[li].loss_weight[t],
                           cf_blob_mdiff(net->layers[li].top[t]));
        for (int li = n; li-- > 0;) {
            cf_net_layer *nl = &net->layers[li];
            if (!nl->need_backward) continue;
            double a = now(), c = clock_s(CLOCK_THREAD_CPUTIME_ID);
            nl->layer->ops->backward(nl->layer, nl->top, nl->nt, nl->prop_down, nl->bottom, nl->nb);
            if (it) bw[li] += now() - a, bc[li] += clock_s(CLOCK_THREAD_CPUTIME_ID) - c;
        }
    }
    printf("%-10s %-14s %10s %10s %10s %10s   (ms; cpu = calling thread)\n", "layer", "type", "fwd", "fwd cpu", "bwd",
           "bwd cpu");
    double sums[4] = {0};
    for (int li = 0; li < n; li++) {
        printf("%-10s %-14s %10.3f %10.3f %10.3f %10.3f\n", net->layers[li].layer->name,
               net->layers[li].layer->ops->type, fw[li] * 1e3 / iters, fc[li] * 1e3 / iters, bw[li] * 1e3 / iters,
               bc[li] * 1e3 / iters);
        sums[0] += fw[li], sums[1] += fc[li], sums[2] += bw[li], sums[3] += bc[li];
    }
    printf("%-10s %-14s %10.3f %10.3f %10.3f %10.3f\n", "total", "", sums[0] * 1e3 / iters, sums[1] * 1e3 / iters,
           sums[2] * 1e3 / iters, sums[3] * 1e3 / iters);
    free(fw);
}

/* Best forward time of a TEST-phase net at batch `batch`. */
static double infer_ms(const char *text, int train_batch, int batch, cf_backend *be)
{
    char *t = with_batch(text, train_batch, batch);
    cf_error err;
    char buf[1024];
    cf_node *root = cf_yaml_parse_string(t, "bench", &err);
    free(t);
    if (!root) return -1;
    cf_rng rng;
    cf_rng_seed(&rng, 1);
    cf_net_opts o = {.phase = CF_TEST, .be = be, .rng = &rng};
    cf_net *net = cf_net_build(cf_node_get(root, "net"), &o, &err);
    if (!net) {
        fprintf(stderr, "%s\n", cf_error_str(&err, buf, sizeof buf));
        cf_node_free(root);
        return -1;
    }
    fill_inputs(net);
    float loss;
    double best = 1e30;
    for (int i = 0; i < 23; i++) {
        double t0 = now();
        cf_net_forward(net, &loss, &err);
        double dt = now() - t0;
        if (i >= 3 && dt < best) best = dt;
    }
    cf_net_free(net);
    cf_node_free(root);
    return best * 1e3;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int threads = 1, iters = 20, runs = 3;
    bool layers = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layers")) layers = true;
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else {
            fprintf(stderr, "usage: bench_nets NET.yaml [--threads N] [--iters N] [--runs N] [--layers]\n");
            return 2;
        }
    }
    if (!path || threads < 1 || iters < 1 || runs < 1) {
        fprintf(stderr, "usage: bench_nets NET.yaml [--threads N] [--iters N] [--runs N] [--layers]\n");
        return 2;
    }
    char *text = read_file(path);
    if (!text) {
        fprintf(stderr, "bench_nets: cannot read %s\n", path);
        return 1;
    }
    cf_error err;
    char buf[1024];
    cf_node *root = cf_yaml_parse_string(text, path, &err);
    if (!root) {
        fprintf(stderr, "%s\n", cf_error_str(&err, buf, sizeof buf));
        return 1;
    }
    cf_backend *be = cf_backend_cpu_new(threads);
    cf_solver_opts o = {.be = be, .max_iter = -1, .base_lr = -1, .seed = -1};
    cf_solver *s = cf_solver_new(cf_node_get(root, "solver"), cf_node_get(root, "net"), &o, &err);
    if (!s) {
        fprintf(stderr, "%s\n", cf_error_str(&err, buf, sizeof buf));
        return 1;
    }
    const char *name = s->net->name ? s->net->name : path;
    fill_inputs(s->net);
    int batch = cf_blob_dim(cf_net_blob(s->net, "data"), 0);
    for (int w = 0; w < 5; w++)
        if (cf_solver_step(s, NULL, &err)) {
            fprintf(stderr, "%s\n", cf_error_str(&err, buf, sizeof buf));
            return 1;
        }
    double best = 1e30, best_cpu = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        for (int i = 0; i < iters; i++) cf_solver_step(s, NULL, NULL);
        double ms = (now() - t0) * 1e3 / iters, cpu = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) * 1e3 / iters;
        if (ms < best) best = ms, best_cpu = cpu;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = ru.ru_maxrss / 1024.0;
    double flops = iteration_flops(s->net);
    if (layers) {
        printf("%s, batch %d, %d thread%s, oneDNN %s\n", name, batch, threads, threads > 1 ? "s" : "",
               cf_dnnl_on(be) ? "on" : "off");
        layer_table(s->net, iters);
    }
    double g1 = infer_ms(text, batch, 1, be), gb = infer_ms(text, batch, batch, be);
    double sg = sgemm_gflops(1024, threads);
    double achieved = flops / (best * 1e-3) / 1e9;
    printf("RESULT impl=cafetui net=%s batch=%d threads=%d dnnl=%d train_ms=%.2f train_cpu_ms=%.2f gflop=%.3f "
           "gflops=%.1f sgemm_gflops=%.1f of_sgemm=%.2f rss_mb=%.1f infer1_ms=%.3f inferB_ms=%.2f\n",
           name, batch, threads, cf_dnnl_on(be) ? 1 : 0, best, best_cpu, flops / 1e9, achieved, sg, achieved / sg,
           rss_mb, g1, gb);
    cf_solver_free(s);
    cf_node_free(root);
    cf_backend_free(be);
    free(text);
    return 0;
}
