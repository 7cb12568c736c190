/* bench_lenet.c — how fast one LeNet training iteration (batch 64:
 * forward, backward, SGD update) runs, against what OpenBLAS sgemm alone
 * reaches on this machine in the same run.
 *
 * Prints, for 1 and 2 threads: ms per iteration, the GFLOP/s that
 * implies (multiply-adds of the convolutions and inner products counted
 * as 2 FLOPs, forward and backward), sgemm's GFLOP/s on a 1024³ product
 * and on the shape of LeNet's biggest gemm, and the ratio.  The floor is
 * the iteration's FLOPs at sgemm's best rate.
 *
 *   make bench/bench_lenet && ./bench/bench_lenet [iterations]
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"
#include "solver.h"

static const char *lenet =
    "name: LeNet\n"
    "input: [data, label]\n"
    "input_shape: [{dim: [64, 1, 28, 28]}, {dim: [64]}]\n"
    "layer:\n"
    "  - {name: conv1, type: Convolution, bottom: data, top: conv1, param: [{lr_mult: 1}, {lr_mult: 2}],\n"
    "     convolution_param: {num_output: 20, kernel_size: 5, weight_filler: {type: xavier}}}\n"
    "  - {name: pool1, type: Pooling, bottom: conv1, top: pool1, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}\n"
    "  - {name: conv2, type: Convolution, bottom: pool1, top: conv2, param: [{lr_mult: 1}, {lr_mult: 2}],\n"
    "     convolution_param: {num_output: 50, kernel_size: 5, weight_filler: {type: xavier}}}\n"
    "  - {name: pool2, type: Pooling, bottom: conv2, top: pool2, pooling_param: {pool: MAX, kernel_size: 2, stride: 2}}\n"
    "  - {name: ip1, type: InnerProduct, bottom: pool2, top: ip1, param: [{lr_mult: 1}, {lr_mult: 2}],\n"
    "     inner_product_param: {num_output: 500, weight_filler: {type: xavier}}}\n"
    "  - {name: relu1, type: ReLU, bottom: ip1, top: ip1}\n"
    "  - {name: ip2, type: InnerProduct, bottom: ip1, top: ip2, param: [{lr_mult: 1}, {lr_mult: 2}],\n"
    "     inner_product_param: {num_output: 10, weight_filler: {type: xavier}}}\n"
    "  - {name: loss, type: SoftmaxWithLoss, bottom: [ip2, label], top: loss}\n";

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* FLOPs of one training iteration: for each Convolution / InnerProduct,
 * forward 2·(weights)·(output positions); backward the same again for the
 * weight gradient and once more for the input gradient when it is needed. */
static double iteration_flops(const cf_net *net)
{
    double f = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const cf_net_layer *nl = &net->layers[i];
        const char *t = nl->layer->ops->type;
        if (strcmp(t, "Convolution") && strcmp(t, "InnerProduct")) continue;
        double w = (double)nl->layer->param[0]->count;
        double positions = (double)nl->top[0]->count / (strcmp(t, "Convolution") ? cf_blob_dim(nl->top[0], 1)
                                                                                   : cf_blob_dim(nl->top[0], 1));
        double fwd = 2 * w * positions;
        f += fwd + fwd + (nl->prop_down[0] ? fwd : 0);
    }
    return f;
}

static double sgemm_gflops(int M, int N, int K, int reps)
{
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N), *C = malloc(sizeof(float) * M * N);
    for (long i = 0; i < (long)M * K; i++) A[i] = (float)(i % 13) * 0.01f;
    for (long i = 0; i < (long)K * N; i++) B[i] = (float)(i % 11) * 0.01f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, A, K, B, N, 0, C, N);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, A, K, B, N, 0, C, N);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    free(A);
    free(B);
    free(C);
    return 2.0 * M * N * K / best / 1e9;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 50;
    printf("LeNet training iteration, batch 64 (%d iterations per measurement, best of 3 runs)\n", iters);
    printf("%-8s %10s %10s %14s %14s %10s %10s\n", "threads", "ms/iter", "GFLOP/s", "sgemm 1024^3", "sgemm 50x4096x500",
           "floor ms", "vs sgemm");
    for (int threads = 1; threads <= 2; threads++) {
        cf_backend *be = cf_backend_cpu_new(threads);
        cf_error err;
        char buf[1024];
        cf_node *sc = cf_yaml_parse_string("base_lr: 0.01\nmomentum: 0.9\nweight_decay: 0.0005\nlr_policy: inv\n"
                                           "gamma: 0.0001\npower: 0.75\nmax_iter: 100000\nrandom_seed: 1\n",
                                           "solver", &err);
        cf_node *nc = cf_yaml_parse_string(lenet, "lenet", &err);
        cf_solver_opts o = {.be = be, .max_iter = -1, .base_lr = -1, .seed = -1};
        cf_solver *s = cf_solver_new(sc, nc, &o, &err);
        if (!s) {
            fprintf(stderr, "%s\n", cf_error_str(&err, buf, sizeof buf));
            return 1;
        }
        float *d = cf_blob_mdata(cf_net_blob(s->net, "data")), *l = cf_blob_mdata(cf_net_blob(s->net, "label"));
        for (int i = 0; i < 64 * 784; i++) d[i] = (float)((i * 7919) % 256) / 256.0f;
        for (int i = 0; i < 64; i++) l[i] = (float)(i % 10);
        for (int w = 0; w < 5; w++) cf_solver_step(s, NULL, NULL);
        double best = 1e30;
        for (int run = 0; run < 3; run++) {
            double t0 = now();
            for (int i = 0; i < iters; i++) cf_solver_step(s, NULL, NULL);
            double ms = (now() - t0) * 1e3 / iters;
            if (ms < best) best = ms;
        }
        double flops = iteration_flops(s->net);
        /* sgemm alone, with OpenBLAS's own threads (the engine runs it single-threaded per block) */
        openblas_set_num_threads(threads);
        double g_big = sgemm_gflops(1024, 1024, 1024, 5), g_conv = sgemm_gflops(50, 4096, 500, 20);
        openblas_set_num_threads(1);
        double peak = g_big > g_conv ? g_big : g_conv;
        double achieved = flops / (best * 1e-3) / 1e9;
        printf("%-8d %10.2f %10.1f %14.1f %14.1f %10.2f %9.0f%%\n", threads, best, achieved, g_big, g_conv,
               flops / peak / 1e6, 100.0 * achieved / peak);
        if (threads == 1) printf("(FLOPs per iteration: %.3f G)\n", flops / 1e9);
        cf_solver_free(s);
        cf_node_free(sc);
        cf_node_free(nc);
        cf_backend_free(be);
    }
    return 0;
}
