/* test_snapshot.c — HDF5 snapshots, weights files and .caffemodel.
 *
 * Resume exactness: N iterations straight and N/2 + save + load into a
 * fresh solver + N/2 must give the same bits (dropout and DummyData draw
 * from the solver's generator; the Data layer's epoch wraps mid-run).
 * Caffe interoperability: Caffe's own LeNet and MLP models (binary and
 * HDF5, made by BVLC Caffe, see tests/fixtures/caffe) load into nets
 * built from Caffe's prototxts and reproduce the ip2 scores Caffe
 * recorded for the first 100 Fashion-MNIST test images. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "caffemodel.h"
#include "data_layers.h"
#include "datum.h"
#include "idx.h"
#include "lmdb_source.h"
#include "proto/caffe.pb-c.h"
#include "snapshot.h"
#include "testutil.h"
#include "trainer.h"
#include "weights.h"

/* the snapshot writer is what the trainer calls */
static const cf_snapshot_fn writer_fits_the_trainer = cf_snapshot_save;

#define TEST_IMAGES "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
#define TEST_LABELS "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"

/* ---- helpers ---- */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    cr_assert_geq(vasprintf(&s, f, ap), 0);
    va_end(ap);
    return s; /* leaked: short-lived test process */
}

static const char *estr(const cf_error *e)
{
    static char buf[2048];
    return cf_error_str(e, buf, sizeof buf);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return buf;
}

static void write_bytes(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
}

/* s with every `from` replaced by `to`. */
static char *replace(const char *s, const char *from, const char *to)
{
    char *out = strdup(s);
    for (char *p; (p = strstr(out, from));) {
        char *o = fmt("%.*s%s%s", (int)(p - out), out, to, p + strlen(from));
        free(out);
        out = o;
    }
    return out;
}

/* Files in dir whose name contains `part`. */
static int count_files(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, part) != NULL;
    closedir(d);
    return n;
}

static cf_solver *solver(const char *solver_yaml, const char *net_yaml)
{
    cf_error err;
    cf_solver_opts o = {.be = tu_backend(), .max_iter = -1, .base_lr = -1, .seed = -1};
    cf_solver *s = cf_solver_new(tu_yaml(solver_yaml), tu_yaml(net_yaml), &o, &err);
    if (!s) cr_assert_fail("solver: %s", estr(&err));
    return s;
}

static void steps(cf_solver *s, int n)
{
    cf_error err;
    for (int i = 0; i < n; i++)
        if (cf_solver_step(s, NULL, &err)) cr_assert_fail("step %d: %s", s->iter, estr(&err));
}

static void save(cf_solver *s, const char *path)
{
    cf_error err;
    if (cf_snapshot_save(s, path, &err)) cr_assert_fail("save: %s", estr(&err));
}

static void load(cf_solver *s, const char *path)
{
    cf_error err;
    if (cf_snapshot_load(s, path, &err)) cr_assert_fail("load: %s", estr(&err));
}

/* Every param of a and b holds the same bits. */
static void same_params(const cf_net *a, const cf_net *b, const char *what)
{
    cr_assert_eq(a->nparams, b->nparams);
    for (int i = 0; i < a->nparams; i++) {
        const cf_blob *x = a->params[i].blob, *y = b->params[i].blob;
        cr_assert(cf_blob_same_shape(x, y), "%s: param %d shape", what, i);
        cr_assert_eq(memcmp(cf_blob_data(x), cf_blob_data(y), x->count * sizeof(float)), 0,
                     "%s: param %d (layer '%s') differs", what, i, a->layers[a->params[i].layer].layer->name);
    }
}

static bool params_differ(const cf_net *a, const cf_net *b)
{
    for (int i = 0; i < a->nparams; i++)
        if (memcmp(cf_blob_data(a->params[i].blob), cf_blob_data(b->params[i].blob),
                   a->params[i].blob->count * sizeof(float)))
            return true;
    return false;
}

static cf_net *net_from_prototxt(const char *text, cf_phase phase)
{
    cf_error err;
    cf_node *conf = cf_prototxt_parse_string(text, "net.prototxt", &err);
    if (!conf) cr_assert_fail("parse: %s", estr(&err));
    cf_net_opts o = {.phase = phase, .be = tu_backend(), .rng = tu_rng()};
    cf_net *n = cf_net_build(conf, &o, &err);
    if (!n) cr_assert_fail("net: %s", estr(&err));
    return n;
}

static void load_weights(cf_net *n, const char *path, cf_weights_report *rep)
{
    cf_error err;
    if (cf_net_load_weights_ex(n, path, NULL, NULL, rep, &err)) cr_assert_fail("weights: %s", estr(&err));
}

/* ---- nets and solvers used below ---- */

/* Random inputs (DummyData refills from the solver's generator every
 * forward), a hidden layer with dropout, SGD with momentum. */
#define DUMMY_NET                                                                               \
    "name: tiny\n"                                                                              \
    "layer:\n"                                                                                  \
    "  - {name: data, type: DummyData, top: [data, label],\n"                                   \
    "     dummy_data_param: {shape: [{dim: [8, 6]}, {dim: [8]}],\n"                             \
    "                        data_filler: [{type: gaussian, std: 1}, {type: constant, value: 2}]}}\n" \
    "  - {name: ip1, type: InnerProduct, bottom: data, top: ip1,\n"                             \
    "     inner_product_param: {num_output: 12, weight_filler: {type: xavier},\n"               \
    "                           bias_filler: {type: gaussian, std: 0.1}}}\n"                    \
    "  - {name: relu1, type: ReLU, bottom: ip1, top: ip1}\n"                                    \
    "  - {name: drop1, type: Dropout, bottom: ip1, top: ip1, dropout_param: {dropout_ratio: 0.4}}\n" \
    "  - {name: ip2, type: InnerProduct, bottom: ip1, top: ip2,\n"                              \
    "     inner_product_param: {num_output: 4, weight_filler: {type: xavier}}}\n"              \
    "  - {name: loss, type: SoftmaxWithLoss, bottom: [ip2, label], top: loss}\n"

#define SGD "base_lr: 0.1\nmomentum: 0.9\nweight_decay: 0.001\nlr_policy: inv\ngamma: 0.01\npower: 0.75\n" \
            "average_loss: 3\n"

/* ---- round trip ---- */

Test(snapshot, round_trip_restores_weights_history_iter_rng_and_losses)
{
    const char *path = fmt("%s/adam.h5", tu_tmpdir());
    cf_solver *a = solver("type: Adam\nbase_lr: 0.01\nmomentum: 0.9\naverage_loss: 3\nrandom_seed: 5\n", DUMMY_NET);
    steps(a, 5);
    a->lr_scale = 0.25;
    a->current_step = 3;
    save(a, path);

    cf_solver *b = solver("type: Adam\nbase_lr: 0.01\nmomentum: 0.9\naverage_loss: 3\nrandom_seed: 99\n", DUMMY_NET);
    cr_assert(params_differ(a->net, b->net), "a different seed should give different initial weights");
    load(b, path);
    same_params(a->net, b->net, "weights");
    for (int i = 0; i < a->net->nparams; i++) {
        size_t n = a->net->params[i].blob->count * sizeof(float);
        cr_assert_not_null(a->history[i]);
        cr_assert_eq(memcmp(cf_blob_data(a->history[i]), cf_blob_data(b->history[i]), n), 0, "history %d", i);
        cr_assert_eq(memcmp(cf_blob_data(a->history2[i]), cf_blob_data(b->history2[i]), n), 0, "history2 %d", i);
    }
    cr_assert_eq(b->iter, 5);
    cr_assert_eq(b->current_step, 3);
    cr_assert_eq(b->lr_scale, 0.25);
    cr_assert_eq(b->rng.state, a->rng.state);
    cr_assert_eq(b->rng.inc, a->rng.inc);
    cr_assert_eq(b->nlosses, 3);
    cr_assert_eq(b->loss_pos, a->loss_pos);
    cr_assert_eq(memcmp(a->losses, b->losses, 3 * sizeof(float)), 0);
    cr_assert_eq(b->smoothed_loss, a->smoothed_loss);
    cr_assert_eq(b->last_loss, a->last_loss);
    cf_solver_free(a);
    cf_solver_free(b);
}

Test(snapshot, a_snapshot_is_caffe_weights_and_loads_as_weights)
{
    const char *path = fmt("%s/w.h5", tu_tmpdir());
    cf_solver *a = solver(SGD "random_seed: 1\n", DUMMY_NET);
    steps(a, 2);
    save(a, path);
    cf_solver *b = solver(SGD "random_seed: 3\n", DUMMY_NET);
    cf_weights_report rep;
    load_weights(b->net, path, &rep);
    same_params(a->net, b->net, "weights");
    cr_assert_eq(rep.loaded, 2);
    cr_assert_eq(rep.missing, 0);
    cr_assert_eq(rep.ignored, 0);
    cr_assert_eq(b->iter, 0, "weights alone leave the solver state");
    cf_solver_free(a);
    cf_solver_free(b);
}

/* ---- resume exactness ---- */

/* 2n straight vs n + save + load into a fresh solver + n: the same bits.
 * test_before > 0: test net 0 also runs test_before iterations before the
 * snapshot (so its data layers have a position to restore) and once at
 * the end, where both runs' outputs must agree. */
static void check_resume(const char *solver_yaml, const char *net_yaml, int n, const char *path, int test_before)
{
    cf_error err;
    cf_test_result r1, r2;
    int mid = n - test_before;
    cf_solver *straight = solver(solver_yaml, net_yaml);
    steps(straight, mid);
    if (test_before) cr_assert_eq(cf_solver_test(straight, 0, &r1, &err), 0, "%s", estr(&err));
    steps(straight, 2 * n - mid);

    cf_solver *first = solver(solver_yaml, net_yaml);
    steps(first, mid);
    if (test_before) cr_assert_eq(cf_solver_test(first, 0, &r2, &err), 0, "%s", estr(&err));
    steps(first, n - mid);
    save(first, path);
    cf_solver_free(first);

    cf_solver *resumed = solver(solver_yaml, net_yaml);
    load(resumed, path);
    steps(resumed, n);
    same_params(straight->net, resumed->net, "resumed run");
    cr_assert_eq(resumed->iter, 2 * n);
    cr_assert_eq(resumed->rng.state, straight->rng.state);
    cr_assert_eq(resumed->smoothed_loss, straight->smoothed_loss);
    if (test_before) {
        cr_assert_eq(cf_solver_test(straight, 0, &r1, &err), 0, "%s", estr(&err));
        cr_assert_eq(cf_solver_test(resumed, 0, &r2, &err), 0, "%s", estr(&err));
        for (int i = 0; i < r1.noutputs; i++)
            cr_assert_eq(r1.out[i].value, r2.out[i].value, "test output %s", r1.out[i].name);
    }

    /* and the check has teeth: without the snapshot the run differs */
    cf_solver *fresh = solver(solver_yaml, net_yaml);
    steps(fresh, n);
    cr_assert(params_differ(straight->net, fresh->net));
    cf_solver_free(fresh);
    cf_solver_free(straight);
    cf_solver_free(resumed);
}

Test(snapshot, resume_is_bitwise_exact_with_dropout_and_random_inputs)
{
    check_resume(SGD "random_seed: 17\n", DUMMY_NET, 10, fmt("%s/tiny.h5", tu_tmpdir()), 0);
}

/* Two layers sharing one weight by name: Caffe's HDF5 layout stores it
 * with its owner only, and loading must accept the second layer's empty
 * group. */
#define SHARED_NET                                                                            \
    "name: shared\n"                                                                          \
    "layer:\n"                                                                                \
    "  - {name: data, type: DummyData, top: [data, target],\n"                                \
    "     dummy_data_param: {shape: {dim: [4, 5]}, data_filler: {type: gaussian, std: 1}}}\n" \
    "  - {name: ipA, type: InnerProduct, bottom: data, top: a, param: {name: w},\n"           \
    "     inner_product_param: {num_output: 5, bias_term: false, weight_filler: {type: xavier}}}\n" \
    "  - {name: ipB, type: InnerProduct, bottom: a, top: b, param: {name: w},\n"              \
    "     inner_product_param: {num_output: 5, bias_term: false, weight_filler: {type: xavier}}}\n" \
    "  - {name: loss, type: EuclideanLoss, bottom: [b, target], top: loss}\n"

Test(snapshot, resume_is_exact_with_a_shared_weight_stored_once)
{
    const char *path = fmt("%s/shared.h5", tu_tmpdir());
    check_resume(SGD "random_seed: 8\n", SHARED_NET, 4, path, 0);
    cf_error err;
    cf_weights *w = cf_h5_weights_read(path, &err);
    cr_assert_not_null(w, "%s", estr(&err));
    int seen = 0;
    for (int i = 0; i < w->nlayers; i++) {
        const cf_wlayer *l = &w->layers[i];
        if (!strcmp(l->name, "ipA")) {
            cr_assert(l->nblobs == 1 && l->blobs[0].present);
            seen += 1;
        }
        if (!strcmp(l->name, "ipB")) {
            cr_assert_eq(l->nblobs, 0);
            seen += 2;
        }
    }
    cr_assert_eq(seen, 3, "both layers have a group");
    cf_weights_free(w);
}

#define LMDB_NET                                                                                 \
    "name: fashion\n"                                                                            \
    "layer:\n"                                                                                   \
    "  - {name: data, type: Data, top: [data, label], include: {phase: TRAIN},\n"                \
    "     transform_param: {scale: 0.00390625, mirror: true},\n"                                 \
    "     data_param: {source: '%s', batch_size: 64, backend: LMDB}}\n"                          \
    "  - {name: data, type: Data, top: [data, label], include: {phase: TEST},\n"                 \
    "     transform_param: {scale: 0.00390625},\n"                                               \
    "     data_param: {source: '%s', batch_size: 30}}\n"                                         \
    "  - {name: ip1, type: InnerProduct, bottom: data, top: ip1,\n"                              \
    "     inner_product_param: {num_output: 16, weight_filler: {type: xavier}}}\n"               \
    "  - {name: drop1, type: Dropout, bottom: ip1, top: ip1}\n"                                  \
    "  - {name: ip2, type: InnerProduct, bottom: ip1, top: ip2,\n"                               \
    "     inner_product_param: {num_output: 10, weight_filler: {type: xavier}}}\n"               \
    "  - {name: loss, type: SoftmaxWithLoss, bottom: [ip2, label], top: loss}\n"                 \
    "  - {name: acc, type: Accuracy, bottom: [ip2, label], top: acc, include: {phase: TEST}}\n"

Test(snapshot, resume_is_bitwise_exact_with_the_lmdb_data_layer_across_epochs)
{
    const char *db = tu_src("tests/fixtures/data/fashion200_lmdb");
    const char *net = fmt(LMDB_NET, db, db);
    const char *sv = SGD "random_seed: 17\ntest_iter: 2\ntest_interval: 1000\n";
    const char *path = fmt("%s/lmdb.h5", tu_tmpdir());
    cf_error err;
    cf_test_result r1, r2;

    /* 20 × 64 records from 200: six and a half epochs; the snapshot at
     * 10 sits at record 640 mod 200 = 40.  Random mirroring makes the
     * transform's generator part of the state.  The test net reads 2 × 30
     * per pass, so it too has a position to restore. */
    cf_solver *straight = solver(sv, net);
    steps(straight, 7);
    cr_assert_eq(cf_solver_test(straight, 0, &r1, &err), 0, "%s", estr(&err));
    steps(straight, 13);
    cr_assert_eq(cf_solver_test(straight, 0, &r1, &err), 0, "%s", estr(&err));

    cf_solver *first = solver(sv, net);
    steps(first, 7);
    cr_assert_eq(cf_solver_test(first, 0, &r2, &err), 0, "%s", estr(&err));
    steps(first, 3);
    cr_assert_eq(cf_data_layer_position(first->net->layers[0].layer, NULL), 40);
    save(first, path);
    cf_solver_free(first);

    cf_solver *resumed = solver(sv, net);
    load(resumed, path);
    cr_assert_eq(cf_data_layer_position(resumed->net->layers[0].layer, NULL), 40);
    cr_assert_eq(cf_data_layer_position(resumed->test[0]->layers[0].layer, NULL), 60);
    steps(resumed, 10);
    same_params(straight->net, resumed->net, "resumed run");
    cr_assert_eq(cf_solver_test(resumed, 0, &r2, &err), 0, "%s", estr(&err));
    cr_assert_eq(r1.noutputs, r2.noutputs);
    for (int i = 0; i < r1.noutputs; i++)
        cr_assert_eq(r1.out[i].value, r2.out[i].value, "test output %s", r1.out[i].name);
    cf_solver_free(straight);
    cf_solver_free(resumed);
}

#define H5_NET                                                                                   \
    "name: h5\n"                                                                                 \
    "layer:\n"                                                                                   \
    "  - {name: data, type: HDF5Data, top: [data, label], include: {phase: TRAIN},\n"            \
    "     hdf5_data_param: {source: '%s', batch_size: 16, shuffle: true}}\n"                     \
    "  - {name: data, type: HDF5Data, top: [data, label], include: {phase: TEST},\n"             \
    "     hdf5_data_param: {source: '%s', batch_size: 12}}\n"                                    \
    "  - {name: ip1, type: InnerProduct, bottom: data, top: ip1,\n"                              \
    "     inner_product_param: {num_output: 8, weight_filler: {type: xavier}}}\n"                \
    "  - {name: drop1, type: Dropout, bottom: ip1, top: ip1}\n"                                  \
    "  - {name: ip2, type: InnerProduct, bottom: ip1, top: ip2,\n"                               \
    "     inner_product_param: {num_output: 5, weight_filler: {type: xavier}}}\n"                \
    "  - {name: loss, type: SoftmaxWithLoss, bottom: [ip2, label], top: loss}\n"                 \
    "  - {name: acc, type: Accuracy, bottom: [ip2, label], top: acc, include: {phase: TEST}}\n"

/* Three files of 37, 50 and 29 rows, rows and files shuffled: 40
 * iterations of 16 pass over the list five and a half times, so the
 * snapshot at 20 falls inside a file of a reshuffled list; the test net
 * (36 rows a pass, no shuffle) stops inside a file too.  Then one file
 * (its rows reshuffled each pass).  Then the refusals: a list whose file
 * shrank, a list with another number of files. */
Test(snapshot, resume_is_bitwise_exact_with_shuffled_hdf5_data)
{
    const char *dir = tu_tmpdir();
    int rows[3] = {37, 50, 29};
    for (int k = 0; k < 3; k++) tu_write_h5_rows(fmt("%s/rows%d.h5", dir, k), rows[k], k);
    const char *three = fmt("%s/three.txt", dir), *one = fmt("%s/one.txt", dir);
    write_bytes(three, "rows0.h5\nrows1.h5\nrows2.h5\n", 27);
    write_bytes(one, "rows1.h5\n", 9);
    const char *path = fmt("%s/h5data.h5", dir);
    const char *sv = SGD "random_seed: 23\ntest_iter: 3\ntest_interval: 1000\n";
    check_resume(sv, fmt(H5_NET, three, three), 20, path, 3);
    check_resume(sv, fmt(H5_NET, one, three), 20, fmt("%s/h5one.h5", dir), 3);

    /* the snapshot of the three-file run names row r of some file; with
     * every file cut to one row that row is gone */
    cf_solver *s = solver(SGD "random_seed: 23\n", fmt(H5_NET, three, three));
    for (int k = 0; k < 3; k++) tu_write_h5_rows(fmt("%s/rows%d.h5", dir, k), 1, k);
    cf_error err;
    cr_assert_eq(cf_snapshot_load(s, path, &err), -1);
    cr_assert(strstr(estr(&err), "layer 'data': the saved position is row ") &&
                  strstr(estr(&err), "which now has 1 rows (was it changed?)"),
              "%s", estr(&err));
    cf_solver_free(s);
    for (int k = 0; k < 3; k++) tu_write_h5_rows(fmt("%s/rows%d.h5", dir, k), rows[k], k);

    /* a list of another length: refused before anything changes */
    write_bytes(three, "rows0.h5\nrows1.h5\n", 18);
    s = solver(SGD "random_seed: 23\n", fmt(H5_NET, three, three));
    cr_assert_eq(cf_snapshot_load(s, path, &err), -1);
    cr_assert_str_eq(estr(&err), fmt("%s: the saved read position of data layer 'data' of the train net does not fit "
                                     "it (was the snapshot taken from another net, or did its list of files change?)",
                                     path));
    cr_assert_eq(s->iter, 0);
    cf_solver_free(s);
}

/* ---- failures ---- */

Test(snapshot, truncated_file_is_refused_and_the_solver_left_alone)
{
    const char *path = fmt("%s/full.h5", tu_tmpdir()), *cut = fmt("%s/cut.h5", tu_tmpdir());
    cf_solver *a = solver(SGD "random_seed: 1\n", DUMMY_NET);
    steps(a, 3);
    save(a, path);
    size_t n;
    char *bytes = slurp(path, &n);
    write_bytes(cut, bytes, n / 2);

    cf_solver *b = solver(SGD "random_seed: 4\n", DUMMY_NET);
    cf_solver *c = solver(SGD "random_seed: 4\n", DUMMY_NET);
    cf_error err;
    cr_assert_eq(cf_snapshot_load(b, cut, &err), -1);
    cr_assert_str_eq(estr(&err),
                     fmt("%s: not a cafetui snapshot (HDF5 cannot open it: truncated file: eof = %zu, "
                         "sblock->base_addr = 0, stored_eof = %zu)",
                         cut, n / 2, n));
    cr_assert_eq(err.code, CF_EINPUT);
    same_params(b->net, c->net, "after a refused load");
    cr_assert_eq(b->iter, 0);

    /* a file that is not HDF5 at all, a missing file, Caffe's weights-only file */
    write_bytes(cut, "hello", 5);
    cr_assert_eq(cf_snapshot_load(b, cut, &err), -1);
    cr_assert_str_eq(estr(&err), fmt("%s: not a cafetui snapshot (not an HDF5 file)", cut));
    cr_assert_eq(cf_snapshot_load(b, fmt("%s/none.h5", tu_tmpdir()), &err), -1);
    cr_assert_str_eq(estr(&err), fmt("%s/none.h5: cannot open: No such file or directory", tu_tmpdir()));
    const char *h5 = tu_src("tests/fixtures/caffe/lenet_fashion_500.caffemodel.h5");
    cr_assert_eq(cf_snapshot_load(b, h5, &err), -1);
    cr_assert_str_eq(estr(&err), fmt("%s: not a cafetui snapshot (no cafetui_snapshot_version attribute; "
                                     "a Caffe model holds weights only: load it as weights)", h5));
    same_params(b->net, c->net, "after refused loads");
    cf_solver_free(a);
    cf_solver_free(b);
    cf_solver_free(c);
}

Test(snapshot, a_snapshot_of_another_net_or_solver_is_refused_by_name)
{
    const char *path = fmt("%s/tiny.h5", tu_tmpdir());
    cf_solver *a = solver(SGD "random_seed: 1\n", DUMMY_NET);
    save(a, path);
    cf_error err;

    cf_solver *wide = solver(SGD "random_seed: 1\n", replace(DUMMY_NET, "num_output: 12", "num_output: 13"));
    cr_assert_eq(cf_snapshot_load(wide, path, &err), -1);
    cr_assert_str_eq(estr(&err), fmt("%s: layer 'ip1': param 0 has shape 13 6 (78) in the net but 12 6 (72) in the file",
                                     path));
    cf_solver *renamed = solver(SGD "random_seed: 1\n", replace(DUMMY_NET, "name: ip2", "name: out"));
    cr_assert_eq(cf_snapshot_load(renamed, path, &err), -1);
    cr_assert_str_eq(estr(&err), fmt("%s: layer 'out': the snapshot holds no weights for this layer "
                                     "(was it taken from another net?)", path));
    cf_solver *adam = solver("type: Adam\n", DUMMY_NET);
    cr_assert_eq(cf_snapshot_load(adam, path, &err), -1);
    cr_assert_str_eq(estr(&err),
                     fmt("%s: the snapshot was taken with solver type 'SGD' but this solver is 'Adam'", path));
    cf_solver_free(a);
    cf_solver_free(wide);
    cf_solver_free(renamed);
    cf_solver_free(adam);
}

Test(snapshot, a_failed_write_leaves_the_old_file_and_no_temporary)
{
    const char *dir = tu_tmpdir(), *path = fmt("%s/run.h5", dir);
    cf_solver *a = solver(SGD "random_seed: 1\n", DUMMY_NET);
    save(a, path);
    size_t n0;
    char *before = slurp(path, &n0);
    steps(a, 2);

    /* a disk that fills up: writes past 4 KiB fail with EFBIG */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cf_error err;
    int rc = cf_snapshot_save(a, path, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    cr_assert_eq(rc, -1);
    cr_assert_str_eq(estr(&err), fmt("cannot write snapshot '%s': File too large", path));
    size_t n1;
    char *after = slurp(path, &n1);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "the previous snapshot must be untouched");
    cr_assert_eq(count_files(dir, ".tmp-"), 0, "temporary file left behind");

    /* a directory that cannot be written to (missing; a file in its place) */
    const char *nodir = fmt("%s/missing/run.h5", dir);
    cr_assert_eq(cf_snapshot_save(a, nodir, &err), -1);
    cr_assert_str_eq(estr(&err), fmt("cannot write snapshot '%s': No such file or directory", nodir));
    const char *notdir = fmt("%s/run.h5/x.h5", dir);
    cr_assert_eq(cf_snapshot_save(a, notdir, &err), -1);
    cr_assert_str_eq(estr(&err), fmt("cannot write snapshot '%s': Not a directory", notdir));
    cr_assert_eq(count_files(dir, ".tmp-"), 0);
    cr_assert_eq(err.code, CF_ERUNTIME);
    cf_solver_free(a);
}

/* ---- Caffe's models ---- */

/* The first 100 test images as an LMDB of Datums (keys 00000000...), as
 * Caffe's convert_mnist_data writes them, so that the TEST phase of
 * Caffe's own train_test nets can read them. */
static const char *test100_lmdb(void)
{
    const char *dir = fmt("%s/test100_lmdb", tu_tmpdir());
    cf_idx img, lab;
    cf_error err;
    cr_assert_eq(cf_idx_read(TEST_IMAGES, CF_IDX_IMAGES, &img, &err), 0, "%s", estr(&err));
    cr_assert_eq(cf_idx_read(TEST_LABELS, CF_IDX_LABELS, &lab, &err), 0, "%s", estr(&err));
    cr_assert_eq(mkdir(dir, 0755), 0);
    cf_lmdb_writer *w = cf_lmdb_create(dir, 1 << 22, &err);
    cr_assert_not_null(w, "%s", estr(&err));
    for (int i = 0; i < 100; i++) {
        cf_datum d = {.channels = 1, .height = 28, .width = 28, .label = lab.data[i], .bytes = img.data + i * 784};
        size_t len;
        uint8_t *v = cf_datum_encode(&d, &len);
        char key[16];
        snprintf(key, sizeof key, "%08d", i);
        cr_assert_eq(cf_lmdb_put(w, key, 8, v, len, &err), 0, "%s", estr(&err));
        free(v);
    }
    cr_assert_eq(cf_lmdb_finish(w, &err), 0, "%s", estr(&err));
    cf_idx_free(&img);
    cf_idx_free(&lab);
    return dir;
}

/* Caffe's train_test prototxt with its LMDB placeholders pointed at
 * `test_db` (TEST) and the fashion200 LMDB (TRAIN). */
static char *caffe_net(const char *file, const char *test_db)
{
    char *text = slurp(tu_src(fmt("tests/fixtures/caffe/%s", file)), NULL);
    text = replace(text, "FASHION_TRAIN_LMDB", tu_src("tests/fixtures/data/fashion200_lmdb"));
    return replace(text, "FASHION_TEST_LMDB", test_db);
}

/* ip2 after one forward equals Caffe's recorded scores within 1e-4. */
static void check_ip2(cf_net *n, const char *ref_file)
{
    cf_error err;
    cr_assert_eq(cf_net_forward(n, NULL, &err), 0, "%s", estr(&err));
    const cf_blob *ip2 = cf_net_blob(n, "ip2");
    cr_assert_not_null(ip2);
    cr_assert_eq(ip2->count, 1000);
    FILE *f = fopen(tu_src(fmt("tests/fixtures/caffe/%s", ref_file)), "r");
    cr_assert_not_null(f);
    const float *got = cf_blob_data(ip2);
    for (int i = 0; i < 1000; i++) {
        double want;
        cr_assert_eq(fscanf(f, "%lf", &want), 1);
        cr_assert_float_eq(got[i], want, 1e-4, "image %d score %d: %f, Caffe %f", i / 10, i % 10, got[i], want);
    }
    fclose(f);
}

Test(caffemodel, lenet_binary_and_hdf5_models_load_alike_and_score_as_caffe)
{
    const char *net = caffe_net("lenet_fashion_train_test.prototxt", test100_lmdb());
    cf_net *bin = net_from_prototxt(net, CF_TEST), *h5 = net_from_prototxt(net, CF_TEST);
    cf_weights_report rb, rh;
    load_weights(bin, tu_src("tests/fixtures/caffe/lenet_fashion_500.caffemodel"), &rb);
    load_weights(h5, tu_src("tests/fixtures/caffe/lenet_fashion_500.caffemodel.h5"), &rh);
    /* conv1, conv2, ip1, ip2 carry weights; Caffe's files also list the
     * param-less layers, which count for nothing */
    cr_assert(rb.loaded == 4 && rb.missing == 0 && rb.ignored == 0, "%d %d %d", rb.loaded, rb.missing, rb.ignored);
    cr_assert(rh.loaded == 4 && rh.missing == 0 && rh.ignored == 0, "%d %d %d", rh.loaded, rh.missing, rh.ignored);
    same_params(bin, h5, "binary vs HDF5 caffemodel");
    check_ip2(bin, "lenet_fashion_500_ip2_first100.txt");
    cf_net_free(bin);
    cf_net_free(h5);
}

Test(caffemodel, lenet_deploy_net_fed_from_idx_scores_as_caffe)
{
    /* Caffe's deploy net (Input layer), batch 100, pixels × 1/256 */
    char *text = slurp(tu_src("tests/fixtures/caffe/examples/mnist/lenet.prototxt"), NULL);
    cf_net *n = net_from_prototxt(replace(text, "dim: 64", "dim: 100"), CF_TEST);
    load_weights(n, tu_src("tests/fixtures/caffe/lenet_fashion_500.caffemodel.h5"), NULL);
    cf_idx img;
    cf_error err;
    cr_assert_eq(cf_idx_read(TEST_IMAGES, CF_IDX_IMAGES, &img, &err), 0, "%s", estr(&err));
    float *x = cf_blob_mdata(cf_net_blob(n, "data"));
    for (int i = 0; i < 100 * 784; i++) x[i] = img.data[i] * 0.00390625f;
    cf_idx_free(&img);
    check_ip2(n, "lenet_fashion_500_ip2_first100.txt");
    cf_net_free(n);
}

Test(caffemodel, mlp_trained_from_a_v1_net_scores_as_caffe)
{
    cf_net *n = net_from_prototxt(caffe_net("mlp_v1_upgraded.prototxt", test100_lmdb()), CF_TEST);
    cf_weights_report r;
    load_weights(n, tu_src("tests/fixtures/caffe/mlp_v1_300.caffemodel"), &r);
    cr_assert_eq(r.loaded, 2);
    check_ip2(n, "mlp_v1_300_ip2_first100.txt");
    cf_net_free(n);
}

#define MLP_DEPLOY                                                                       \
    "name: mlp\n"                                                                        \
    "layer:\n"                                                                           \
    "  - {name: data, type: Input, top: data, input_param: {shape: {dim: [2, 1, 28, 28]}}}\n" \
    "  - {name: ip1, type: InnerProduct, bottom: data, top: ip1, inner_product_param: {num_output: 128}}\n" \
    "  - {name: relu1, type: ReLU, bottom: ip1, top: ip1}\n"                             \
    "  - {name: ip2, type: InnerProduct, bottom: ip1, top: ip2, inner_product_param: {num_output: 10}}\n"

static cf_net *yaml_net(const char *yaml)
{
    cf_error err;
    cf_net_opts o = {.phase = CF_TEST, .be = tu_backend(), .rng = tu_rng()};
    cf_net *n = cf_net_build(tu_yaml(yaml), &o, &err);
    if (!n) cr_assert_fail("net: %s", estr(&err));
    return n;
}

Test(caffemodel, legacy_v1_layers_with_4d_blob_shapes_load)
{
    /* Rewrite Caffe's MLP model the pre-2015 way: V1 `layers` (field 2)
     * whose blobs give num/channels/height/width instead of a BlobShape:
     * ip1's 128×784 weight as 1×1×128×784, its bias as 1×1×1×128. */
    size_t len;
    uint8_t *buf = (uint8_t *)slurp(tu_src("tests/fixtures/caffe/mlp_v1_300.caffemodel"), &len);
    Caffe__NetParameter *m = caffe__net_parameter__unpack(NULL, len, buf);
    cr_assert_not_null(m);
    Caffe__NetParameter v1 = CAFFE__NET_PARAMETER__INIT;
    Caffe__V1LayerParameter layers[16], *lp[16];
    v1.layers = lp;
    for (size_t i = 0; i < m->n_layer && i < 16; i++) {
        Caffe__LayerParameter *l = m->layer[i];
        caffe__v1_layer_parameter__init(&layers[i]);
        layers[i].name = l->name;
        layers[i].n_blobs = l->n_blobs;
        layers[i].blobs = l->blobs;
        for (size_t j = 0; j < l->n_blobs; j++) {
            Caffe__BlobProto *b = l->blobs[j];
            int64_t d[4] = {1, 1, 1, 1};
            for (size_t k = 0; k < b->shape->n_dim; k++) d[4 - b->shape->n_dim + k] = b->shape->dim[k];
            b->shape = NULL; /* leaked with the message: the test process ends soon */
            b->has_num = b->has_channels = b->has_height = b->has_width = 1;
            b->num = (int)d[0], b->channels = (int)d[1], b->height = (int)d[2], b->width = (int)d[3];
        }
        lp[v1.n_layers++] = &layers[i];
    }
    size_t n = caffe__net_parameter__get_packed_size(&v1);
    uint8_t *out = malloc(n);
    caffe__net_parameter__pack(&v1, out);
    const char *path = fmt("%s/mlp_v1_legacy.caffemodel", tu_tmpdir());
    write_bytes(path, out, n);

    cf_net *a = yaml_net(MLP_DEPLOY), *b = yaml_net(MLP_DEPLOY);
    load_weights(a, tu_src("tests/fixtures/caffe/mlp_v1_300.caffemodel"), NULL);
    cf_weights_report r;
    load_weights(b, path, &r);
    cr_assert_eq(r.loaded, 2);
    same_params(a, b, "V1 legacy vs current form");

    /* a legacy shape whose count agrees but whose dimensions do not */
    m->layer[1]->blobs[0]->height = 784, m->layer[1]->blobs[0]->width = 128;
    n = caffe__net_parameter__get_packed_size(&v1);
    out = realloc(out, n);
    caffe__net_parameter__pack(&v1, out);
    write_bytes(path, out, n);
    cf_error err;
    cr_assert_eq(cf_net_load_weights(b, path, &err), -1);
    cr_assert_str_eq(estr(&err),
                     fmt("%s: layer 'ip1': param 0 has shape 128 784 (100352) in the net but 1 1 784 128 (100352) in "
                         "the file", path));
    cf_net_free(a);
    cf_net_free(b);
}

static void log_line(void *ctx, const char *line)
{
    char *all = ctx;
    strcat(all, line);
    strcat(all, "\n");
}

Test(caffemodel, layers_match_by_name_extra_and_missing_ones_are_reported)
{
    /* ip1 renamed: the file's ip1 is ignored and the net's hidden keeps
     * its init; ip2 loads */
    cf_net *n = yaml_net(replace(MLP_DEPLOY, "name: ip1,", "name: hidden,"));
    cf_net *ref = yaml_net(MLP_DEPLOY);
    const char *model = tu_src("tests/fixtures/caffe/mlp_v1_300.caffemodel");
    load_weights(ref, model, NULL);
    float init0 = cf_blob_data(n->layers[1].layer->param[0])[0];
    char lines[2048] = "";
    cf_weights_report r;
    cf_error err;
    cr_assert_eq(cf_net_load_weights_ex(n, model, log_line, lines, &r, &err), 0, "%s", estr(&err));
    cr_assert(r.loaded == 1 && r.missing == 1 && r.ignored == 1, "%d %d %d", r.loaded, r.missing, r.ignored);
    cr_assert_str_eq(lines, fmt("layer 'hidden' keeps its initial weights: '%s' has none for it\n"
                                "ignoring layer 'ip1' of '%s': the net has no layer of that name\n",
                                model, model));
    cr_assert_eq(cf_blob_data(n->layers[1].layer->param[0])[0], init0);
    const cf_blob *w2 = n->layers[3].layer->param[0], *r2 = ref->layers[3].layer->param[0];
    cr_assert_eq(memcmp(cf_blob_data(w2), cf_blob_data(r2), w2->count * sizeof(float)), 0);

    /* a shape mismatch changes nothing, not even the layers checked before */
    cf_net *narrow = yaml_net(replace(MLP_DEPLOY, "num_output: 10", "num_output: 9"));
    float before = cf_blob_data(narrow->layers[1].layer->param[0])[0];
    cr_assert_eq(cf_net_load_weights(narrow, model, &err), -1);
    cr_assert_str_eq(estr(&err), fmt("%s: layer 'ip2': param 0 has shape 9 128 (1152) in the net but 10 128 (1280) "
                                     "in the file", model));
    cr_assert_eq(cf_blob_data(narrow->layers[1].layer->param[0])[0], before);

    /* a blob the net's layer has no param for */
    cf_net *nobias = yaml_net(replace(MLP_DEPLOY, "{num_output: 10}", "{num_output: 10, bias_term: false}"));
    cr_assert_eq(cf_net_load_weights(nobias, model, &err), -1);
    cr_assert_str_eq(estr(&err), fmt("%s: layer 'ip2': 2 blobs in the file but 1 params in the net", model));
    cf_net_free(nobias);

    /* not a model at all */
    const char *junk = fmt("%s/junk.caffemodel", tu_tmpdir());
    write_bytes(junk, "\xff\xff\xff\xff", 4);
    cr_assert_eq(cf_net_load_weights(n, junk, &err), -1);
    cr_assert_str_eq(estr(&err), fmt("%s: not a Caffe model (neither HDF5 nor a protobuf NetParameter)", junk));
    cf_net_free(n);
    cf_net_free(ref);
    cf_net_free(narrow);
}

Test(caffemodel, save_then_load_gives_the_same_weights)
{
    const char *net = caffe_net("lenet_fashion_train_test.prototxt", tu_src("tests/fixtures/data/fashion200_lmdb"));
    cf_net *a = net_from_prototxt(net, CF_TEST), *b = net_from_prototxt(net, CF_TEST);
    load_weights(a, tu_src("tests/fixtures/caffe/lenet_fashion_500.caffemodel"), NULL);
    cr_assert(params_differ(a, b));
    const char *path = fmt("%s/lenet.caffemodel", tu_tmpdir());
    cf_error err;
    cr_assert_eq(cf_caffemodel_save(a, path, &err), 0, "%s", estr(&err));
    cf_weights_report r;
    load_weights(b, path, &r);
    cr_assert_eq(r.loaded, 4);
    same_params(a, b, "caffemodel round trip");

    /* what we wrote is a NetParameter of the current form, as Caffe reads it */
    size_t len;
    uint8_t *buf = (uint8_t *)slurp(path, &len);
    Caffe__NetParameter *m = caffe__net_parameter__unpack(NULL, len, buf);
    cr_assert_not_null(m);
    cr_assert_str_eq(m->name, "LeNet");
    cr_assert_eq(m->n_layer, 4);
    cr_assert_eq(m->n_layers, 0);
    cr_assert_str_eq(m->layer[2]->name, "ip1");
    cr_assert_str_eq(m->layer[2]->type, "InnerProduct");
    cr_assert_eq(m->layer[2]->blobs[0]->shape->n_dim, 2);
    cr_assert_eq(m->layer[2]->blobs[0]->shape->dim[0], 500);
    cr_assert_eq(m->layer[2]->blobs[0]->shape->dim[1], 800);
    caffe__net_parameter__free_unpacked(m, NULL);

    /* an unwritable place leaves nothing behind */
    const char *bad = fmt("%s/missing/x.caffemodel", tu_tmpdir());
    cr_assert_eq(cf_caffemodel_save(a, bad, &err), -1);
    cf_net_free(a);
    cf_net_free(b);
    (void)writer_fits_the_trainer;
}
