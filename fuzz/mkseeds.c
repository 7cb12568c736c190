/* mkseeds.c — the binary seeds of the fuzz corpora (fuzz/corpus/NAME/),
 * made from the test fixtures and from the fuzz net (fuzz_net.h), small
 * so that the fuzzers mutate them quickly.  `make fuzz-seeds` runs it
 * (the text seeds are copied from the fixtures by the same rule):
 *
 *   mkseeds SRCDIR OUTDIR
 *
 *   datum/      the first three records of the Fashion-MNIST fixture LMDB,
 *               and a float_data Datum
 *   idx/        the fixture's image and label files cut to two items
 *               (header count patched), plain and gzip
 *   mean/       the fixture mean file, and a 3-axis shape with double values
 *   caffemodel/ the fuzz net's weights as a current .caffemodel, the same
 *               in V1 form (legacy dimensions, double values), a 3×3
 *               infogain H and the fixture mean file (BlobProtos)
 *   hdf5/       a snapshot of the fuzz solver after two Adam steps, and an
 *               HDF5Data file (data 4×1×2×2 float, label 4 int)
 *   recipe/     the fuzz net's recipe
 */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "caffemodel.h"
#include "datum.h"
#include "fuzz_net.h"
#include "lmdb_source.h"
#include "mean_file.h"
#include "proto/caffe.pb-c.h"
#include "snapshot.h"

static const char *out_dir;

static void die(const char *what, const cf_error *err)
{
    char buf[2048];
    fprintf(stderr, "mkseeds: %s: %s\n", what, err ? cf_error_str(err, buf, sizeof buf) : "failed");
    exit(1);
}

static const char *out(const char *rel)
{
    static char p[4][1024];
    static int k;
    char *s = p[k++ % 4];
    snprintf(s, 1024, "%s/%s", out_dir, rel);
    char d[1024];
    snprintf(d, sizeof d, "%s", s);
    *strrchr(d, '/') = 0;
    mkdir(d, 0777);
    return s;
}

static void put(const char *rel, const void *buf, size_t len)
{
    FILE *f = fopen(out(rel), "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) die(rel, NULL);
}

static void put_gz(const char *rel, const void *buf, size_t len)
{
    gzFile g = gzopen(out(rel), "wb");
    if (!g || gzwrite(g, buf, (unsigned)len) != (int)len || gzclose(g) != Z_OK) die(rel, NULL);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) die(path, NULL);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len + 1);
    if (!b || fread(b, 1, *len, f) != *len) die(path, NULL);
    fclose(f);
    return b;
}

static void datum_seeds(const char *src)
{
    char p[1024];
    cf_error err;
    snprintf(p, sizeof p, "%s/tests/fixtures/data/fashion200_lmdb", src);
    cf_lmdb_source *db = cf_lmdb_open(p, &err);
    if (!db) die(p, &err);
    for (int i = 0; i < 3; i++) {
        const void *k, *v;
        size_t kl, vl;
        cf_lmdb_get(db, &k, &kl, &v, &vl);
        char name[64];
        snprintf(name, sizeof name, "datum/fashion200_%d", i);
        put(name, v, vl);
        if (cf_lmdb_advance(db, &err)) die(p, &err);
    }
    cf_lmdb_close(db);
    float f[12];
    for (int i = 0; i < 12; i++) f[i] = (float)i * 0.5f - 2;
    cf_datum d = {.channels = 3, .height = 2, .width = 2, .label = 7, .floats = f};
    size_t len;
    uint8_t *b = cf_datum_encode(&d, &len);
    if (!b) die("datum encode", NULL);
    put("datum/float_3x2x2", b, len);
    free(b);
}

/* IDX: header (magic, dims) then items; keep two items. */
static void idx_seeds(const char *src)
{
    static const char *const files[2] = {"train200-images-idx3-ubyte", "train200-labels-idx1-ubyte"};
    for (int k = 0; k < 2; k++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/tests/fixtures/data/fashion200_idx/%s", src, files[k]);
        size_t len;
        uint8_t *b = slurp(p, &len);
        int ndims = b[3];
        size_t item = 1;
        for (int d = 1; d < ndims; d++) item *= (size_t)b[4 + 4 * d + 2] << 8 | b[4 + 4 * d + 3];
        b[4] = b[5] = b[6] = 0;
        b[7] = 2;
        size_t keep = 4 + 4 * (size_t)ndims + 2 * item;
        char name[64];
        snprintf(name, sizeof name, "idx/%s_2", k ? "labels" : "images");
        put(name, b, keep);
        snprintf(name, sizeof name, "idx/%s_2.gz", k ? "labels" : "images");
        put_gz(name, b, keep);
        free(b);
    }
}

static void blobproto(const char *rel, Caffe__BlobProto *bp)
{
    size_t len = caffe__blob_proto__get_packed_size(bp);
    uint8_t *b = malloc(len + 1);
    caffe__blob_proto__pack(bp, b);
    put(rel, b, len);
    free(b);
}

static void mean_seeds(const char *src)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/fixtures/data/mean.binaryproto", src);
    size_t len;
    uint8_t *b = slurp(p, &len);
    put("mean/fixture_mean.binaryproto", b, len);
    put("caffemodel/fixture_mean.binaryproto", b, len);
    free(b);

    int64_t dims[3] = {3, 2, 2};
    double v[12];
    for (int i = 0; i < 12; i++) v[i] = i * 10.0;
    Caffe__BlobShape sh = CAFFE__BLOB_SHAPE__INIT;
    sh.n_dim = 3;
    sh.dim = dims;
    Caffe__BlobProto bp = CAFFE__BLOB_PROTO__INIT;
    bp.shape = &sh;
    bp.n_double_data = 12;
    bp.double_data = v;
    blobproto("mean/shape3_double.binaryproto", &bp);

    float h[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    Caffe__BlobProto hp = CAFFE__BLOB_PROTO__INIT;
    hp.has_num = hp.has_channels = hp.has_height = hp.has_width = 1;
    hp.num = hp.channels = 1;
    hp.height = hp.width = 3;
    hp.n_data = 9;
    hp.data = h;
    blobproto("caffemodel/infogain_h_3x3.binaryproto", &hp);
}

/* The fuzz net's params as V1 layers: legacy 4-D dims, double values. */
static void v1_caffemodel(const cf_net *net)
{
    Caffe__NetParameter np = CAFFE__NET_PARAMETER__INIT;
    np.name = "fuzz";
    Caffe__V1LayerParameter **ls = calloc((size_t)net->nlayers, sizeof *ls);
    for (int li = 0; li < net->nlayers; li++) {
        cf_layer *l = net->layers[li].layer;
        if (!l->nparam || strcmp(l->ops->type, "InnerProduct")) continue;
        Caffe__V1LayerParameter *v = calloc(1, sizeof *v);
        caffe__v1_layer_parameter__init(v);
        v->name = l->name;
        v->has_type = 1;
        v->type = CAFFE__V1_LAYER_PARAMETER__LAYER_TYPE__INNER_PRODUCT;
        v->n_blobs = (size_t)l->nparam;
        v->blobs = calloc((size_t)l->nparam, sizeof *v->blobs);
        for (int j = 0; j < l->nparam; j++) {
            cf_blob *p = l->param[j];
            Caffe__BlobProto *bp = calloc(1, sizeof *bp);
            caffe__blob_proto__init(bp);
            bp->has_num = bp->has_channels = bp->has_height = bp->has_width = 1;
            bp->num = bp->channels = 1;
            bp->height = p->naxes > 1 ? p->shape[0] : 1;
            bp->width = p->naxes > 1 ? p->shape[1] : p->shape[0];
            bp->n_double_data = p->count;
            bp->double_data = calloc(p->count, sizeof(double));
            for (size_t i = 0; i < p->count; i++) bp->double_data[i] = cf_blob_data(p)[i];
            v->blobs[j] = bp;
        }
        ls[np.n_layers++] = v;
    }
    np.layers = ls;
    size_t len = caffe__net_parameter__get_packed_size(&np);
    uint8_t *b = malloc(len + 1);
    caffe__net_parameter__pack(&np, b);
    put("caffemodel/fuzz_v1.caffemodel", b, len);
    free(b);
    for (size_t i = 0; i < np.n_layers; i++) {
        for (size_t j = 0; j < ls[i]->n_blobs; j++) {
            free(ls[i]->blobs[j]->double_data);
            free(ls[i]->blobs[j]);
        }
        free(ls[i]->blobs);
        free(ls[i]);
    }
    free(ls);
}

static void h5data_seed(void)
{
    hid_t f = H5Fcreate(out("hdf5/h5data.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dd[4] = {4, 1, 2, 2}, ld[1] = {4};
    float x[16];
    int y[4] = {0, 1, 2, 1};
    for (int i = 0; i < 16; i++) x[i] = (float)i / 16;
    hid_t s = H5Screate_simple(4, dd, NULL);
    hid_t d = H5Dcreate2(f, "data", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(d);
    H5Sclose(s);
    s = H5Screate_simple(1, ld, NULL);
    d = H5Dcreate2(f, "label", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
    H5Dclose(d);
    H5Sclose(s);
    if (H5Fclose(f) < 0) die("h5data.h5", NULL);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mkseeds SRCDIR OUTDIR\n");
        return 2;
    }
    out_dir = argv[2];
    mkdir(out_dir, 0777);
    datum_seeds(argv[1]);
    idx_seeds(argv[1]);
    mean_seeds(argv[1]);

    cf_backend *be = cf_backend_cpu_new(1);
    cf_solver *s = fuzz_solver(be);
    cf_error err;
    float loss;
    for (int i = 0; i < 2; i++)
        if (cf_solver_step(s, &loss, &err)) die("solver step", &err);
    if (cf_snapshot_save(s, out("hdf5/fuzz_snapshot.h5"), &err)) die("snapshot", &err);
    if (cf_caffemodel_save(s->net, out("caffemodel/fuzz.caffemodel"), &err)) die("caffemodel", &err);
    v1_caffemodel(s->net);
    h5data_seed();
    size_t n = strlen(fuzz_recipe_yaml);
    char *y = malloc(n + 2);
    y[0] = 'Y';
    memcpy(y + 1, fuzz_recipe_yaml, n);
    put("recipe/fuzz_net.yaml", y, n + 1);
    free(y);
    cf_solver_free(s);
    cf_backend_free(be);
    return 0;
}
