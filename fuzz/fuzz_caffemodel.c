/* fuzz_caffemodel.c — Caffe's binary protobufs: the bytes as a
 * .caffemodel (NetParameter, current or V1 layers, float or double
 * blobs) read and loaded by layer name into the fuzz net (every shape
 * check, then the copy), and the same bytes as a BlobProto
 * (.binaryproto) read by an InfogainLoss layer as its H matrix.
 * (There is no SolverState reader: cafetui resumes from its own HDF5
 * snapshots, fuzzed by fuzz_hdf5.) */
#include "caffemodel.h"
#include "fuzz_common.h"
#include "fuzz_net.h"
#include "weights.h"

/* tests/test_fuzz_regress.c includes the harnesses under other names */
#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

static cf_backend *cm_be;
static cf_solver *cm_solver;
static cf_node *cm_infogain;

static void cm_setup(void)
{
    cm_be = cf_backend_cpu_new(1);
    cm_solver = fuzz_solver(cm_be);
    char y[1024];
    snprintf(y, sizeof y,
             "{name: infogain, type: InfogainLoss, infogain_loss_param: {source: '%s/h.binaryproto'}}", fuzz_dir());
    cf_error err;
    if (!(cm_infogain = cf_yaml_parse_string(y, "fuzz", &err))) abort();
}

static void cm_as_blobproto(const uint8_t *data, size_t size)
{
    fuzz_file("h.binaryproto", data, size);
    int ss[2] = {2, 3}, ls[1] = {2};
    cf_blob *score = cf_blob_new("score"), *label = cf_blob_new("label"), *loss = cf_blob_new("loss");
    cf_blob_reshape(score, 2, ss, NULL);
    cf_blob_reshape(label, 1, ls, NULL);
    cf_blob *bot[2] = {score, label};
    cf_error err;
    cf_rng rng;
    cf_rng_seed(&rng, 1);
    cf_layer *l = cf_layer_create(cm_infogain, CF_TRAIN, cm_be, &rng, &err);
    if (l && cf_layer_setup(l, bot, 2, &loss, 1, &err) == 0) l->ops->forward(l, bot, 2, &loss, 1, &err);
    cf_layer_free(l);
    cf_blob_free(score);
    cf_blob_free(label);
    cf_blob_free(loss);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    if (!cm_be) cm_setup();
    const char *path = fuzz_file("w.caffemodel", data, size);
    cf_error err;
    cf_weights *w = cf_caffemodel_read(path, &err);
    if (w) {
        (void)cf_weights_check(cm_solver->net, w, true, &err);
        cf_weights_free(w);
    }
    (void)cf_net_load_weights(cm_solver->net, path, &err);
    cm_as_blobproto(data, size);
    return 0;
}
