/* fuzz_hdf5.c — HDF5 files, by every reader that opens one: weights in
 * Caffe's data/<layer>/<i> layout (read, checked and loaded into the fuzz
 * net), a cafetui snapshot restored into a fresh solver (every check,
 * then the restore), and an HDF5Data layer whose list names the file
 * (setup reads the first file for the top shapes; three forwards cycle
 * through it).  After each input no HDF5 file or object may be left
 * open. */
#include <hdf5.h>

#include "fuzz_common.h"
#include "fuzz_net.h"
#include "h5_check.h"
#include "snapshot.h"
#include "weights.h"

/* tests/test_fuzz_regress.c includes the harnesses under other names */
#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
/* The fuzzer reads HDF5 files in its own process (engine/h5_check.h): a
 * fault, libhdf5's or ours, must reach it; the regression test keeps the
 * guard that turns libhdf5's into errors. */
#define FUZZ_H5_UNGUARDED 1
#endif

static cf_backend *h5_be;
static cf_node *h5_data;
static char h5_list_path[600];

static void h5_setup(void)
{
    h5_be = cf_backend_cpu_new(1);
    snprintf(h5_list_path, sizeof h5_list_path, "%s/list.txt", fuzz_dir());
    FILE *f = fopen(h5_list_path, "w");
    if (!f || fprintf(f, "f.h5\n") < 0 || fclose(f)) abort();
    char y[1024];
    snprintf(y, sizeof y,
             "{name: h5, type: HDF5Data, top: [data, label], hdf5_data_param: {source: '%s', batch_size: 2}}",
             h5_list_path);
    cf_error err;
    if (!(h5_data = cf_yaml_parse_string(y, "fuzz", &err))) abort();
    cf_mem_set_limit((size_t)256 << 20); /* a hostile file asks for at most this much */
#ifdef FUZZ_H5_UNGUARDED
    cf_h5_guard_off = true;
#endif
}

static void h5_as_hdf5data(void)
{
    cf_blob *top[2] = {cf_blob_new("data"), cf_blob_new("label")};
    cf_error err;
    cf_rng rng;
    cf_rng_seed(&rng, 1);
    cf_layer *l = cf_layer_create(h5_data, CF_TRAIN, h5_be, &rng, &err);
    if (l && cf_layer_setup(l, NULL, 0, top, 2, &err) == 0)
        for (int i = 0; i < 3; i++)
            if (l->ops->reshape(l, NULL, 0, top, 2, &err) || l->ops->forward(l, NULL, 0, top, 2, &err)) break;
    cf_layer_free(l);
    cf_blob_free(top[0]);
    cf_blob_free(top[1]);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    if (!h5_be) h5_setup();
    const char *path = fuzz_file("f.h5", data, size);
    if (!cf_is_hdf5(path)) return 0;
    cf_error err;
    cf_solver *s = fuzz_solver(h5_be);
    cf_weights *w = cf_h5_weights_read(path, &err);
    if (w) {
        (void)cf_weights_check(s->net, w, false, &err);
        cf_weights_free(w);
    }
    (void)cf_net_load_weights(s->net, path, &err);
    (void)cf_snapshot_load(s, path, &err);
    cf_solver_free(s);
    h5_as_hdf5data();
    /* every reader closes what it opened, whatever the file held (an
     * object left open is reachable from HDF5's tables, so the leak
     * checker cannot see it; this can) */
    if (H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) abort();
    return 0;
}
