/* test_dist.c — data parallelism inside one process: the Data layer's
 * shards, the bucketed gradient reducer and the solver's side of it,
 * against stand-in communicators whose "other ranks" are known.  (The
 * real thing, two processes under mpirun, is tests/test_mpi.sh.)
 *
 * Records are told apart by their pixels: one unsharded layer with a
 * batch of all 200 fixture records gives each record's image, and every
 * row a shard serves is looked up among them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_layers.h"
#include "dist/dist.h"
#include "dist/reducer.h"
#include "solver.h"
#include "testutil.h"

#define N200 200
#define PIX 784

static char *data_yaml(int batch, const char *extra)
{
    char *s = NULL;
    cr_assert_geq(asprintf(&s, "name: d\ntype: Data\ndata_param: {source: '%s', batch_size: %d, prefetch: %d}\n%s",
                           tu_src("tests/fixtures/data/fashion200_lmdb"), batch, batch % 2, extra ? extra : ""),
                  0);
    return s; /* leaked: short-lived test process */
}

static cf_layer *data_layer(int batch, cf_blob **top)
{
    top[0] = cf_blob_new("data");
    top[1] = cf_blob_new("label");
    return tu_layer(data_yaml(batch, NULL), CF_TRAIN, NULL, 0, top, 2);
}

static void forward(cf_layer *l, cf_blob **top) { tu_forward(l, NULL, 0, top, 2); }

/* All 200 images and labels in key order, read once without shards. */
static float *img, *lab;

static const float *all_images(void)
{
    if (img) return img;
    cf_blob *top[2];
    cf_layer *l = data_layer(N200, top);
    forward(l, top);
    img = malloc((size_t)N200 * PIX * sizeof(float));
    lab = malloc(N200 * sizeof(float));
    memcpy(img, cf_blob_data(top[0]), (size_t)N200 * PIX * sizeof(float));
    memcpy(lab, cf_blob_data(top[1]), N200 * sizeof(float));
    cf_layer_free(l);
    return img;
}

/* Which record row i of a batch is (the fixture has no duplicate images). */
static int record_of(const float *batch, int i)
{
    const float *all = all_images();
    for (int r = 0; r < N200; r++)
        if (!memcmp(batch + (size_t)i * PIX, all + (size_t)r * PIX, PIX * sizeof(float))) return r;
    cr_assert_fail("row %d matches no record", i);
    return -1;
}

static cf_layer *shard_layer(int batch, int rank, int nranks, cf_blob **top)
{
    cf_error err;
    char buf[1400];
    cf_layer *l = data_layer(batch, top);
    if (cf_data_layer_shard(l, rank, nranks, &err)) cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
    return l;
}

/* ---- shards ---- */

/* N ranks of batch B: rank r's k-th batch is records (kN + r)·B + i
 * (mod 200), i < B.  B does not divide 200, so batches wrap mid-way. */
static void check_slices(int nranks, int B, int iters)
{
    cf_blob *top[8][2];
    cf_layer *l[8];
    for (int r = 0; r < nranks; r++) l[r] = shard_layer(B, r, nranks, top[r]);
    int *seen = calloc(N200, sizeof *seen);
    int epoch_batches = N200 / (nranks * B); /* whole global batches in one epoch */
    for (int k = 0; k < iters; k++)
        for (int r = 0; r < nranks; r++) {
            forward(l[r], top[r]);
            const float *d = cf_blob_data(top[r][0]);
            for (int i = 0; i < B; i++) {
                int want = ((k * nranks + r) * B + i) % N200, got = record_of(d, i);
                cr_assert_eq(got, want, "%d ranks of %d, iteration %d, rank %d, row %d: record %d, want %d", nranks,
                             B, k, r, i, got, want);
                cr_assert_eq(cf_blob_data(top[r][1])[i], lab[want], "the label travels with its image");
                if (k < epoch_batches) seen[got]++;
            }
            cr_assert_eq(cf_data_layer_position(l[r], NULL), (size_t)((k + 1) * nranks * B % N200),
                         "rank %d after iteration %d", r, k);
        }
    /* within the epoch, no record twice */
    int distinct = 0;
    for (int i = 0; i < N200; i++) {
        cr_assert_leq(seen[i], 1, "record %d read %d times in one epoch", i, seen[i]);
        distinct += seen[i];
    }
    cr_assert_eq(distinct, epoch_batches * nranks * B);
    free(seen);
    for (int r = 0; r < nranks; r++) cf_layer_free(l[r]);
}

Test(shard, two_ranks_read_the_two_halves_of_each_global_batch) { check_slices(2, 15, 9); }
Test(shard, three_ranks_of_seven) { check_slices(3, 7, 12); }

/* The N slices of an iteration, side by side, are the batch of N·B that
 * one process reads: pixels and labels, before and after a wrap. */
Test(shard, ranks_together_read_what_one_process_with_their_total_batch_reads)
{
    cf_blob *a[2], *b[2], *one[2];
    cf_layer *la = shard_layer(30, 0, 2, a), *lb = shard_layer(30, 1, 2, b), *l1 = data_layer(60, one);
    for (int k = 0; k < 5; k++) {
        forward(la, a), forward(lb, b), forward(l1, one);
        cr_assert_eq(memcmp(cf_blob_data(a[0]), cf_blob_data(one[0]), 30 * PIX * sizeof(float)), 0, "iteration %d", k);
        cr_assert_eq(memcmp(cf_blob_data(b[0]), cf_blob_data(one[0]) + 30 * PIX, 30 * PIX * sizeof(float)), 0,
                     "iteration %d", k);
        cr_assert_eq(memcmp(cf_blob_data(a[1]), cf_blob_data(one[1]), 30 * sizeof(float)), 0);
        cr_assert_eq(memcmp(cf_blob_data(b[1]), cf_blob_data(one[1]) + 30, 30 * sizeof(float)), 0);
        cr_assert_eq(cf_data_layer_position(la, NULL), cf_data_layer_position(l1, NULL));
    }
    cf_layer_free(la), cf_layer_free(lb), cf_layer_free(l1);
}

/* HDF5Data, shuffled over three files of 37, 50 and 29 rows: N ranks of
 * batch B together read what one process with batch N·B reads (rows,
 * labels, and so files and shuffles), and all end where it ends; the
 * position of rank 0 resumes a 3-rank set where the one process is. */
static cf_layer *h5_layer(const char *list, int batch, int rank, int nranks, cf_blob **top)
{
    char *y = NULL;
    cr_assert_geq(asprintf(&y, "name: h\ntype: HDF5Data\nhdf5_data_param: {source: '%s', batch_size: %d, shuffle: true}\n",
                           list, batch), 0);
    top[0] = cf_blob_new("data");
    top[1] = cf_blob_new("label");
    cf_rng_seed(tu_rng(), 77); /* every rank's generator alike, as in one job */
    cf_layer *l = tu_layer(y, CF_TRAIN, NULL, 0, top, 2);
    free(y);
    cf_error err;
    char buf[1400];
    if (nranks > 1 && l->ops->shard(l, rank, nranks, &err)) cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
    return l;
}

static void same_position(const cf_layer *a, const cf_layer *b, const char *what)
{
    uint64_t pa[16], pb[16];
    size_t n = a->ops->position(a, pa);
    cr_assert(n <= 16 && n == b->ops->position(b, pb));
    cr_assert_eq(memcmp(pa, pb, n * sizeof *pa), 0, "%s", what);
}

Test(shard, hdf5_ranks_together_read_what_one_process_reads)
{
    const char *dir = tu_tmpdir();
    int rows[3] = {37, 50, 29};
    char *f[3], *list = NULL;
    for (int k = 0; k < 3; k++) {
        cr_assert_geq(asprintf(&f[k], "%s/r%d.h5", dir, k), 0);
        tu_write_h5_rows(f[k], rows[k], k);
    }
    cr_assert_geq(asprintf(&list, "%s/three.txt", dir), 0);
    FILE *lf = fopen(list, "w");
    cr_assert(lf && fprintf(lf, "r0.h5\nr1.h5\nr2.h5\n") > 0 && fclose(lf) == 0);

    enum { N = 3, B = 7 };
    cf_blob *t[N][2], *one[2];
    cf_layer *l[N], *l1 = h5_layer(list, N * B, 0, 1, one);
    for (int r = 0; r < N; r++) l[r] = h5_layer(list, B, r, N, t[r]);
    for (int k = 0; k < 14; k++) { /* 294 rows: two and a half passes over the 116 */
        forward(l1, one);
        for (int r = 0; r < N; r++) {
            forward(l[r], t[r]);
            cr_assert_eq(memcmp(cf_blob_data(t[r][0]), cf_blob_data(one[0]) + r * B * 6, B * 6 * sizeof(float)), 0,
                         "iteration %d, rank %d", k, r);
            cr_assert_eq(memcmp(cf_blob_data(t[r][1]), cf_blob_data(one[1]) + r * B, B * sizeof(float)), 0);
            same_position(l[r], l1, "every rank where the one process is");
        }
    }
    /* a 2-rank set seeks to that position and goes on as the one process */
    cf_blob *u[2][2];
    cf_error err;
    uint64_t pos[16];
    l1->ops->position(l1, pos);
    forward(l1, one);
    for (int r = 0; r < 2; r++) {
        cf_layer *lr = h5_layer(list, 21, r, 2, u[r]); /* 2 × 21 = 42: the one process's 21 and more */
        cr_assert_eq(lr->ops->seek(lr, pos, &err), 0);
        forward(lr, u[r]);
        if (r == 0) cr_assert_eq(memcmp(cf_blob_data(u[r][1]), cf_blob_data(one[1]), 21 * sizeof(float)), 0);
        cf_layer_free(lr);
    }
    for (int r = 0; r < N; r++) cf_layer_free(l[r]);
    cf_layer_free(l1);
}

/* The position is the global stream's: taken from a 2-rank layer, it
 * resumes one process with batch 2B at the same records, and 3 ranks. */
Test(shard, a_position_resumes_on_any_number_of_ranks)
{
    cf_blob *a[2], *one[2], *t[3][2];
    cf_error err;
    cf_layer *la = shard_layer(15, 0, 2, a);
    for (int k = 0; k < 4; k++) forward(la, a);
    cf_rng rng;
    size_t pos = cf_data_layer_position(la, &rng);
    cr_assert_eq(pos, 120);
    cf_layer *l1 = data_layer(30, one);
    cr_assert_eq(cf_data_layer_seek(l1, pos, &rng, &err), 0);
    forward(l1, one);
    for (int i = 0; i < 30; i++) cr_assert_eq(record_of(cf_blob_data(one[0]), i), 120 + i);
    for (int r = 0; r < 3; r++) {
        cf_layer *l = shard_layer(10, r, 3, t[r]);
        cr_assert_eq(cf_data_layer_seek(l, pos, &rng, &err), 0);
        forward(l, t[r]);
        for (int i = 0; i < 10; i++) cr_assert_eq(record_of(cf_blob_data(t[r][0]), i), 120 + r * 10 + i);
        cf_layer_free(l);
    }
    cf_layer_free(la), cf_layer_free(l1);
}

/* Rank 1 mirrors from its own stream, and hands back rank 0's. */
Test(shard, ranks_draw_their_own_mirrors)
{
    const char *y = data_yaml(40, "transform_param: {mirror: true}\n");
    cf_blob *a[2] = {cf_blob_new("a"), cf_blob_new("al")}, *b[2] = {cf_blob_new("b"), cf_blob_new("bl")};
    cf_rng r0, r1;
    cf_rng_seed(&r0, 5);
    cf_rng_seed(&r1, 5);
    cf_error err;
    cf_layer *l0 = cf_layer_create(tu_yaml(y), CF_TRAIN, tu_backend(), &r0, &err);
    cf_layer *l1 = cf_layer_create(tu_yaml(y), CF_TRAIN, tu_backend(), &r1, &err);
    cr_assert(l0 && l1);
    cr_assert_eq(cf_layer_setup(l0, NULL, 0, a, 2, &err), 0);
    cr_assert_eq(cf_layer_setup(l1, NULL, 0, b, 2, &err), 0);
    cr_assert_eq(cf_data_layer_shard(l0, 0, 1, &err), 0);
    cr_assert_eq(cf_data_layer_shard(l1, 1, 2, &err), 0);
    cf_rng s0, s1;
    cf_data_layer_position(l0, &s0);
    cf_data_layer_position(l1, &s1);
    cr_assert(s0.state == s1.state && s0.inc == s1.inc, "both report the stream they were given");
    /* same images on both (rank 1 of 2 with B=40 starts at 40; rank 0 of 1 seeks there) */
    cr_assert_eq(cf_data_layer_seek(l0, 40, &s0, &err), 0);
    forward(l0, a), forward(l1, b);
    int same = 0;
    for (int i = 0; i < 40; i++)
        same += !memcmp(cf_blob_data(a[0]) + i * PIX, cf_blob_data(b[0]) + i * PIX, PIX * sizeof(float));
    cr_assert_lt(same, 40, "rank 1 mirrored exactly as rank 0 would");
    cr_assert_gt(same, 0);
    cf_layer_free(l0), cf_layer_free(l1);
}

Test(shard, no_such_shard)
{
    cf_blob *top[2];
    cf_error err;
    cf_layer *l = data_layer(4, top);
    cr_assert_eq(cf_data_layer_shard(l, 2, 2, &err), -1);
    cr_assert_str_eq(err.ctx, "layer 'd'");
    cr_assert_str_eq(err.msg, "shard 2 of 2: no such shard");
    cf_layer_free(l);
}

/* ---- stand-in communicators ----
 * "others": size N, this rank's values plus N−1 other ranks that each
 * hold `other` in every element.  A started sum copies the buffer at
 * once (as MPI may read it any time from then on) and writes the result
 * at wait; a bucket started before its gradients were final would thus
 * come back wrong.  "mirror": N−1 other ranks holding our very values.  Bcast is a no-op (we are rank 0), or, with `msg`,
 * delivers rank 0's scripted control message to rank 1. */
typedef struct fake {
    float other;
    bool mirror;            /* the others hold exactly our values */
    int starts, fail_at;
    double msg[2];
    bool scripted;
    int bcasts;
} fake;

typedef struct fake_req { float *buf, *copy; size_t n; } fake_req;

static float others(cf_dist *d, float v)
{
    fake *f = d->impl;
    return f->mirror ? v * (float)d->size : v + (float)(d->size - 1) * f->other;
}

static int f_sum(cf_dist *d, float *buf, size_t n, cf_error *err)
{
    for (size_t i = 0; i < n; i++) buf[i] = others(d, buf[i]);
    return 0;
}

static int f_start(cf_dist *d, float *buf, size_t n, void **req, cf_error *err)
{
    fake *f = d->impl;
    if (++f->starts == f->fail_at) return cf_error_set(err, CF_ERUNTIME, "link down");
    fake_req *r = malloc(sizeof *r);
    *r = (fake_req){buf, malloc(n * sizeof(float)), n};
    memcpy(r->copy, buf, n * sizeof(float));
    *req = r;
    return 0;
}

static int f_wait(cf_dist *d, void *req, cf_error *err)
{
    fake_req *r = req;
    for (size_t i = 0; i < r->n; i++) r->buf[i] = others(d, r->copy[i]);
    free(r->copy);
    free(r);
    return 0;
}

static int f_test(cf_dist *d, void *req, bool *done, cf_error *err)
{
    *done = false; /* finishes at wait */
    return 0;
}

static int f_bcast(cf_dist *d, void *buf, size_t bytes, int root, cf_error *err)
{
    fake *f = d->impl;
    f->bcasts++;
    if (f->scripted && bytes == sizeof f->msg) memcpy(buf, f->msg, sizeof f->msg);
    return 0;
}

static int f_barrier(cf_dist *d, cf_error *err) { return 0; }
static void f_abort(cf_dist *d, int code) { cr_assert_fail("abort %d", code); }

static const cf_dist_ops fake_ops = {.name = "fake", .allreduce_sum = f_sum, .start_sum = f_start, .test = f_test,
                                     .wait = f_wait, .bcast = f_bcast, .barrier = f_barrier, .abort = f_abort};

/* The same with a device channel, over a pretend device whose memory is
 * host memory: a device sum copies its buffers at once and writes the
 * results at wait, as the host one does; host sums are counted apart. */
static int devsums, hostsums;

static int f_sum_counted(cf_dist *d, float *buf, size_t n, cf_error *err)
{
    hostsums++;
    return f_sum(d, buf, n, err);
}

typedef struct fake_dev_req { int k; fake_req *part[64]; } fake_dev_req;

static int f_start_dev(cf_dist *d, float *const *bufs, const size_t *ns, int k, void **req, cf_error *err)
{
    devsums++;
    fake_dev_req *q = calloc(1, sizeof *q);
    cr_assert_leq(k, 64);
    q->k = k;
    for (int i = 0; i < k; i++) {
        q->part[i] = malloc(sizeof(fake_req));
        *q->part[i] = (fake_req){bufs[i], malloc(ns[i] * sizeof(float)), ns[i]};
        memcpy(q->part[i]->copy, bufs[i], ns[i] * sizeof(float));
    }
    *req = q;
    return 0;
}

static int f_wait_dev(cf_dist *d, void *req, cf_error *err)
{
    fake_dev_req *q = req;
    for (int i = 0; i < q->k; i++) f_wait(d, q->part[i], err);
    free(q);
    return 0;
}

static const cf_dist_ops fake_dev_ops = {.name = "fake + device", .allreduce_sum = f_sum_counted, .start_sum = f_start,
                                         .test = f_test, .wait = f_wait, .bcast = f_bcast, .barrier = f_barrier,
                                         .abort = f_abort, .start_sum_dev = f_start_dev, .test_dev = f_test,
                                         .wait_dev = f_wait_dev};

static void *pd_alloc(size_t bytes) { return malloc(bytes); }
static void pd_free(void *p, size_t bytes) { free(p); }
static void pd_copy_in(float *host, const void *dev, size_t bytes) { memcpy(host, dev, bytes); }
static void pd_copy_out(void *dev, const float *host, size_t bytes) { memcpy(dev, host, bytes); }
static void pd_zero(void *dev, size_t bytes) { memset(dev, 0, bytes); }
static const cf_device_ops pretend_device = {pd_alloc, pd_free, pd_copy_in, pd_copy_out, pd_zero};

/* A host backend with the pretend device hung off it: layers compute on
 * the host (no layer_ready), blobs copy to and from the "device". */
static cf_backend *pretend_gpu_backend(void)
{
    cf_backend *be = cf_backend_cpu_new(1);
    be->gpu = cf_backend_cpu_new(1);
    be->devops = &pretend_device;
    return be;
}

/* ---- the reducer ---- */

/* data → conv → ip_a → ip_b (shares ip_a's weights by name, so they are
 * final only after ip_a) → ip_c (lr_mult 0: not averaged) → loss */
#define NET                                                                                            \
    "name: r\n"                                                                                        \
    "layer:\n"                                                                                         \
    "  - {name: data, type: DummyData, top: [x, y], dummy_data_param: {shape: [{dim: [4, 1, 6, 6]}, {dim: [4]}],\n" \
    "     data_filler: [{type: gaussian, std: 1}, {type: constant, value: 1}]}}\n"                       \
    "  - {name: conv, type: Convolution, bottom: x, top: c, convolution_param: {num_output: 3, kernel_size: 3,\n" \
    "     weight_filler: {type: xavier}, bias_filler: {type: constant, value: 0.1}}}\n"                \
    "  - {name: ip_a, type: InnerProduct, bottom: c, top: a, param: [{name: shared}],\n"               \
    "     inner_product_param: {num_output: 48, bias_term: false, weight_filler: {type: xavier}}}\n"   \
    "  - {name: ip_b, type: InnerProduct, bottom: c, top: b, param: [{name: shared}],\n"               \
    "     inner_product_param: {num_output: 48, bias_term: false, weight_filler: {type: xavier}}}\n"   \
    "  - {name: sum, type: Eltwise, bottom: [a, b], top: s}\n"                                         \
    "  - {name: ip_c, type: InnerProduct, bottom: s, top: z, param: [{lr_mult: 0}, {lr_mult: 1}],\n"   \
    "     inner_product_param: {num_output: 5, weight_filler: {type: xavier}}}\n"                      \
    "  - {name: loss, type: SoftmaxWithLoss, bottom: [z, y], top: loss}\n"

static cf_net *make_net_on(uint64_t seed, cf_backend *be)
{
    static cf_rng rngs[8]; /* one per net: DummyData draws from it at every forward */
    static int used;
    cr_assert_lt(used, 8);
    cf_rng *rng = &rngs[used++];
    cf_rng_seed(rng, seed);
    cf_error err;
    char buf[1400];
    cf_net_opts o = {.phase = CF_TRAIN, .be = be, .rng = rng};
    cf_net *n = cf_net_build(tu_yaml(NET), &o, &err);
    if (!n) cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
    return n;
}

static cf_net *make_net(uint64_t seed) { return make_net_on(seed, tu_backend()); }

/* One forward/backward, the param diffs copied out (owners only). */
static float **grads(cf_net *n, float *loss)
{
    cf_error err;
    float **g = calloc((size_t)n->nparams, sizeof *g);
    cf_net_clear_param_diffs(n, NULL);
    cr_assert_eq(cf_net_forward(n, loss, &err), 0);
    cf_net_backward(n);
    for (int i = 0; i < n->nparams; i++) {
        if (n->params[i].owner != i) continue;
        g[i] = malloc(n->params[i].blob->count * sizeof(float));
        memcpy(g[i], cf_blob_diff(n->params[i].blob), n->params[i].blob->count * sizeof(float));
    }
    return g;
}

static void check_average(size_t bucket_bytes, int want_buckets)
{
    /* the same draws twice: once alone, once reduced */
    cf_net *alone = make_net(3), *net = make_net(3);
    float l0, l1;
    float **g0 = grads(alone, &l0);
    fake f = {.other = 1.0f};
    cf_dist *d = cf_dist_new(&fake_ops, 0, 3, &f);
    cf_reducer *r = cf_reducer_new(d, net, bucket_bytes, 2);
    cf_reducer_info info;
    cf_reducer_info_get(r, &info);
    cr_assert_eq(info.nbuckets, want_buckets);
    cr_assert_eq(info.floats, 27 + 3 + 48 * 48 + 5, "conv w+b, the shared weights once, ip_c's bias");
    cf_error err;
    cf_net_clear_param_diffs(net, NULL);
    cr_assert_eq(cf_net_forward(net, &l1, &err), 0);
    float extra[2] = {l1, 7};
    cf_reducer_arm(r, extra);
    cf_net_backward(net);
    cr_assert_eq(cf_reducer_finish(r, extra, &err), 0);
    cr_assert_float_eq(extra[0], l0 + 2, 1e-5, "the loss rides along and is summed");
    cr_assert_float_eq(extra[1], 9, 1e-6);
    for (int i = 0; i < net->nparams; i++) {
        if (net->params[i].owner != i) continue;
        const float *g = cf_blob_diff(net->params[i].blob);
        bool avg = net->params[i].lr_mult != 0;
        cr_assert_eq(cf_reducer_bucket_of(r, i) >= 0, avg, "param %d", i);
        for (size_t k = 0; k < net->params[i].blob->count; k++) {
            float want = avg ? (g0[i][k] + 2.0f) / 3.0f : g0[i][k];
            cr_assert_float_eq(g[k], want, 1e-6, "param %d [%zu]: %g, want %g (bucket %d)", i, k, g[k], want,
                               cf_reducer_bucket_of(r, i));
        }
    }
    cf_reducer_free(r);
    cf_dist_free(d);
    cf_net_free(alone), cf_net_free(net);
}

/* g ← (g + 2·1)/3 for every learnt param, whatever the buckets; a
 * bucket sent before its gradient was final would show the stale copy. */
Test(reducer, averages_every_learnt_gradient_once_one_param_per_bucket) { check_average(1, 4); }
Test(reducer, averages_every_learnt_gradient_once_one_bucket) { check_average(1 << 20, 1); }
/* 100 floats: {ip_c's bias, the shared weights} {conv's weights and bias} */
Test(reducer, averages_every_learnt_gradient_once_buckets_of_100_floats) { check_average(400, 2); }

/* Buckets start as the backward pass leaves their layers: driving the
 * hook by hand, layer by layer from the last. */
Test(reducer, starts_each_bucket_as_soon_as_its_gradients_are_final)
{
    cf_net *net = make_net(3);
    fake f = {.other = 0};
    cf_dist *d = cf_dist_new(&fake_ops, 0, 2, &f);
    cf_reducer *r = cf_reducer_new(d, net, 1, 1);
    int conv = cf_net_layer_id(net, "conv"), a = cf_net_layer_id(net, "ip_a"), b = cf_net_layer_id(net, "ip_b"),
        c = cf_net_layer_id(net, "ip_c");
    cr_assert(conv < a && a < b && b < c);
    float extra = 0;
    cf_reducer_arm(r, &extra);
    cf_error err;
    for (int li = net->nlayers - 1; li >= 0; li--) {
        net->after_backward(net->after_backward_ctx, li);
        /* ip_c's bias after ip_c; the shared weights not after ip_b, only after ip_a; conv's two after conv */
        int want = li > c ? 0 : li > a ? 1 : li > conv ? 2 : 4;
        cr_assert_eq(f.starts, want, "after layer %d: %d started, want %d", li, f.starts, want);
    }
    cr_assert_eq(cf_reducer_finish(r, &extra, &err), 0);
    cr_assert_eq(f.starts, 4, "finish starts nothing twice");
    cr_assert_null(net->after_backward, "finish unhooks");
    cf_reducer_free(r);
    cf_dist_free(d);
    cf_net_free(net);
}

/* On a GPU the communicator sums itself, the buckets are the params'
 * device diffs, summed in place and scaled there; the extras go through
 * the host channel, once per iteration. */
Test(reducer, device_buckets_are_summed_where_the_gradients_are)
{
    cf_backend *be = pretend_gpu_backend();
    cf_net *alone = make_net(3), *net = make_net_on(3, be);
    float l0, l1;
    float **g0 = grads(alone, &l0);
    fake f = {.other = 1.0f};
    cf_dist *d = cf_dist_new(&fake_dev_ops, 0, 3, &f);
    d->devops = &pretend_device;
    cr_assert(cf_dist_on_device(d, be));
    cr_assert_not(cf_dist_on_device(d, tu_backend()), "a host net's gradients take the host channel");
    cf_reducer *r = cf_reducer_new(d, net, 1, 2);
    cr_assert(cf_reducer_on_device(r));
    cf_error err;
    devsums = hostsums = 0;
    cf_net_clear_param_diffs(net, NULL);
    cr_assert_eq(cf_net_forward(net, &l1, &err), 0);
    float extra[2] = {l1, 7};
    cf_reducer_arm(r, extra);
    cf_net_backward(net);
    cr_assert_eq(cf_reducer_finish(r, extra, &err), 0);
    cr_assert_eq(devsums, 4, "one device sum per bucket");
    cr_assert_eq(hostsums, 1, "the extras in one host sum");
    cr_assert_float_eq(extra[0], l0 + 2, 1e-5);
    cr_assert_float_eq(extra[1], 9, 1e-6);
    for (int i = 0; i < net->nparams; i++) {
        if (net->params[i].owner != i) continue;
        const float *g = cf_blob_diff(net->params[i].blob); /* from the "device" */
        bool avg = net->params[i].lr_mult != 0;
        for (size_t k = 0; k < net->params[i].blob->count; k++)
            cr_assert_float_eq(g[k], avg ? (g0[i][k] + 2.0f) / 3.0f : g0[i][k], 1e-6, "param %d [%zu]", i, k);
    }
    cf_reducer_free(r);
    cf_dist_free(d);
    cf_net_free(alone), cf_net_free(net);
    cf_backend_free(be->gpu);
    be->gpu = NULL;
    cf_backend_free(be);
}

Test(reducer, a_failed_sum_is_the_steps_error)
{
    cf_net *net = make_net(3);
    fake f = {.fail_at = 2};
    cf_dist *d = cf_dist_new(&fake_ops, 0, 2, &f);
    cf_reducer *r = cf_reducer_new(d, net, 1, 0);
    float l;
    cf_error err;
    char buf[1400];
    cr_assert_eq(cf_net_forward(net, &l, &err), 0);
    cf_reducer_arm(r, NULL);
    cf_net_backward(net);
    cr_assert_eq(cf_reducer_finish(r, NULL, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, buf, sizeof buf), "link down");
    cf_reducer_free(r);
    cf_dist_free(d);
    cf_net_free(net);
}

/* ---- the communicator ---- */

Test(dist, one_process_is_rank_0_of_1_and_its_sums_are_its_own)
{
    cf_dist *d = cf_dist_self();
    cr_assert_eq(cf_dist_rank(d), 0);
    cr_assert_eq(cf_dist_size(d), 1);
    cr_assert_eq(cf_dist_size(NULL), 1);
    float v[3] = {1, -2, 3};
    cf_error err;
    double bytes = d->stats.bytes;
    cr_assert_eq(cf_dist_allreduce_sum(d, v, 3, &err), 0);
    cr_assert(v[0] == 1 && v[1] == -2 && v[2] == 3);
    cr_assert_eq(d->stats.bytes - bytes, 12, "reduced bytes are counted");
    cr_assert_eq(cf_dist_bcast(d, v, sizeof v, 0, &err), 0);
    cr_assert_eq(cf_dist_barrier(d, &err), 0);
    cr_assert_eq(cf_dist_world(), d, "no mpirun here: the world is this process");
}

/* ---- the solver over stand-in ranks ---- */

#define SOLVER "base_lr: 0.1\nmomentum: 0.9\nweight_decay: 0.001\nlr_policy: fixed\nrandom_seed: 9\nmax_iter: 10\n"

static cf_solver *solver(cf_dist *d, const char *net, const char *extra)
{
    cf_error err;
    char buf[1400], sy[512];
    snprintf(sy, sizeof sy, SOLVER "%s", extra ? extra : "");
    cf_solver_opts o = {.be = tu_backend(), .max_iter = -1, .base_lr = -1, .seed = -1, .dist = d, .bucket_bytes = 256};
    cf_solver *s = cf_solver_new(tu_yaml(sy), tu_yaml(net), &o, &err);
    if (!s) cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
    return s;
}

/* Two ranks that computed exactly what we did: the mean of g and g is g
 * bit for bit, and so is the mean loss, so the run follows the lone one
 * exactly — also with iter_size 2, where the buckets go out once per
 * iteration, in the last pass, over the gradients of both. */
static void same_as_alone(const char *extra)
{
    fake f = {.mirror = true};
    cf_dist *d = cf_dist_new(&fake_ops, 0, 2, &f);
    cf_solver *a = solver(NULL, NET, extra), *s = solver(d, NET, extra);
    cr_assert_not_null(s->reducer);
    cr_assert_null(a->reducer);
    cf_error err;
    for (int it = 0; it < 4; it++) {
        float la, ls;
        cr_assert_eq(cf_solver_step(a, &la, &err), 0);
        cr_assert_eq(cf_solver_step(s, &ls, &err), 0);
        cr_assert_eq(ls, la, "iteration %d: loss %.9g, alone %.9g", it, ls, la);
    }
    for (int i = 0; i < s->net->nparams; i++)
        cr_assert_eq(memcmp(cf_blob_data(s->net->params[i].blob), cf_blob_data(a->net->params[i].blob),
                            s->net->params[i].blob->count * sizeof(float)), 0, "param %d", i);
    cr_assert_eq(f.bcasts, 4, "one control message per iteration");
    cr_assert_eq(f.starts, 4 * s->dist_timing.nbuckets, "each bucket once per iteration: %d starts", f.starts);
    cr_assert_eq(s->dist_timing.nbuckets, 2, "256-byte buckets: {ip_c's bias, the shared weights}, {conv's weights and bias}");
    cr_assert_eq(s->dist_timing.steps, 4);
    cr_assert_eq(s->dist_timing.grad_bytes, (27 + 3 + 48 * 48 + 5) * sizeof(float));
    cf_solver_free(a), cf_solver_free(s);
    cf_dist_free(d);
}

Test(dist_solver, identical_ranks_train_as_one) { same_as_alone(NULL); }
Test(dist_solver, identical_ranks_train_as_one_with_iter_size_2) { same_as_alone("iter_size: 2\n"); }

/* A device channel attached after the solver was made (as the session
 * does, once the GPU backend exists) takes over the buckets at the sync,
 * and the run still follows the lone one exactly. */
Test(dist_solver, a_device_channel_attached_later_takes_over_the_buckets)
{
    cf_backend *be = pretend_gpu_backend();
    fake f = {.mirror = true};
    cf_dist *d = cf_dist_new(&fake_ops, 0, 2, &f);
    cf_error err;
    char buf[1400];
    cf_solver_opts o = {.be = be, .max_iter = -1, .base_lr = -1, .seed = -1, .dist = d, .bucket_bytes = 256};
    cf_solver *s = cf_solver_new(tu_yaml(SOLVER), tu_yaml(NET), &o, &err);
    if (!s) cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
    cf_backend *one = cf_backend_cpu_new(1); /* as many threads as be: the same sums */
    cf_solver_opts oa = {.be = one, .max_iter = -1, .base_lr = -1, .seed = -1};
    cf_solver *a = cf_solver_new(tu_yaml(SOLVER), tu_yaml(NET), &oa, &err);
    cr_assert_not_null(a);
    cr_assert_not(cf_reducer_on_device(s->reducer));
    d->ops = &fake_dev_ops; /* what cf_dist_attach_gpu does with NCCL */
    d->devops = &pretend_device;
    cr_assert_eq(cf_solver_dist_sync(s, &err), 0);
    cr_assert(cf_reducer_on_device(s->reducer));
    devsums = hostsums = 0;
    for (int it = 0; it < 3; it++) {
        float la, ls;
        cr_assert_eq(cf_solver_step(a, &la, &err), 0);
        cr_assert_eq(cf_solver_step(s, &ls, &err), 0);
        cr_assert_eq(ls, la, "iteration %d", it);
    }
    cr_assert_eq(devsums, 3 * s->dist_timing.nbuckets);
    cr_assert_eq(hostsums, 3);
    for (int i = 0; i < s->net->nparams; i++)
        cr_assert_eq(memcmp(cf_blob_data(s->net->params[i].blob), cf_blob_data(a->net->params[i].blob),
                            s->net->params[i].blob->count * sizeof(float)), 0, "param %d", i);
    cf_solver_free(a), cf_solver_free(s);
    cf_dist_free(d);
    cf_backend_free(one);
    cf_backend_free(be->gpu);
    be->gpu = NULL;
    cf_backend_free(be);
}

/* Rank 1 takes rank 0's lr scale from the message that opens each
 * iteration, and stops when it says so. */
Test(dist_solver, rank_0_sets_the_lr_and_says_when_to_stop)
{
    fake f = {.mirror = true, .scripted = true, .msg = {0, 0.25}};
    cf_dist *d = cf_dist_new(&fake_ops, 1, 2, &f);
    cf_solver *s = solver(d, NET, NULL);
    cf_error err;
    char buf[1400];
    cr_assert_eq(cf_solver_step(s, NULL, &err), 0);
    cr_assert_eq(s->lr_scale, 0.25);
    cr_assert_float_eq(cf_solver_lr(s), 0.025, 1e-12);
    f.msg[0] = 1;
    cr_assert_eq(cf_solver_step(s, NULL, &err), -1);
    cr_assert(s->dist_stopped);
    cr_assert_str_eq(cf_error_str(&err, buf, sizeof buf), "rank 0 stopped the run at iteration 1");
    cr_assert_eq(s->iter, 1);
    cf_solver_free(s);
    cf_dist_free(d);
}

/* Test nets live on rank 0; the train net's Data layer reads its shard. */
Test(dist_solver, rank_1_reads_its_shard_and_has_no_test_nets)
{
    char *net = NULL;
    cr_assert_geq(asprintf(&net,
                           "layer:\n"
                           "  - {name: d, type: Data, top: [x, y], data_param: {source: '%s', batch_size: 10}}\n"
                           "  - {name: ip, type: InnerProduct, bottom: x, top: z, inner_product_param: {num_output: 10}}\n"
                           "  - {name: loss, type: SoftmaxWithLoss, bottom: [z, y], top: loss}\n",
                           tu_src("tests/fixtures/data/fashion200_lmdb")), 0);
    fake f = {.mirror = true};
    cf_dist *d1 = cf_dist_new(&fake_ops, 1, 2, &f), *d0 = cf_dist_new(&fake_ops, 0, 2, &f);
    cf_solver *s1 = solver(d1, net, "test_iter: 2\ntest_interval: 5\n");
    cf_solver *s0 = solver(d0, net, "test_iter: 2\ntest_interval: 5\n");
    cr_assert_eq(s1->ntest, 0);
    cr_assert_eq(s0->ntest, 1);
    cf_error err;
    cr_assert_eq(cf_solver_step(s1, NULL, &err), 0);
    const float *x = cf_blob_data(cf_net_blob(s1->net, "x"));
    for (int i = 0; i < 10; i++) cr_assert_eq(record_of(x, i), 10 + i, "row %d", i);
    cr_assert_eq(cf_data_layer_position(s1->net->layers[0].layer, NULL), 20);
    cf_solver_free(s1), cf_solver_free(s0);
    cf_dist_free(d1), cf_dist_free(d0);
    free(net);
}
