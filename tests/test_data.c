/* test_data.c — the data side: Datum LMDBs against Caffe's own output,
 * the Data/HDF5Data/MemoryData layers, transforms, IDX converters, mean
 * files, and the error messages for bad inputs.
 *
 * Reference numbers come from BVLC Caffe runs recorded next to the
 * fixtures (tests/fixtures/data/fashion200_check.txt, mean_values.txt).
 * Expected pixels are read straight from the IDX fixture here, not
 * through the code under test. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "convert.h"
#include "data_layers.h"
#include "datum.h"
#include "idx.h"
#include "lmdb_source.h"
#include "mean_file.h"
#include "proto/caffe.pb-c.h"
#include "testutil.h"

#define N200 200
#define PIX 784
#define SCALE 0.00390625f

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

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    cr_assert(in && out, "copy %s -> %s", from, to);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) cr_assert_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static void write_bytes(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, n, f), n);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*n + 1);
    cr_assert_eq(fread(buf, 1, *n, f), *n);
    fclose(f);
    return buf;
}

static const char *fixture(const char *name) { return fmt("%s", tu_src(fmt("tests/fixtures/data/%s", name))); }
static const char *images200(void) { return fixture("fashion200_idx/train200-images-idx3-ubyte"); }
static const char *labels200(void) { return fixture("fashion200_idx/train200-labels-idx1-ubyte"); }

/* A private copy of Caffe's fashion200 LMDB, so that the reader's lock
 * file never lands in the source tree. */
static const char *lmdb200(void)
{
    static char *dir;
    if (!dir) {
        dir = fmt("%s/fashion200_lmdb", tu_tmpdir());
        cr_assert_eq(mkdir(dir, 0755), 0);
        copy_file(fixture("fashion200_lmdb/data.mdb"), fmt("%s/data.mdb", dir));
    }
    return dir;
}

/* The IDX fixture's pixels and labels, read by hand (16- and 8-byte
 * headers). */
static unsigned char pix[N200][PIX], lab[N200];
static void load_idx_by_hand(void)
{
    size_t n;
    unsigned char *im = read_bytes(images200(), &n);
    cr_assert_eq(n, 16 + (size_t)N200 * PIX);
    memcpy(pix, im + 16, sizeof pix);
    free(im);
    unsigned char *lb = read_bytes(labels200(), &n);
    cr_assert_eq(n, 8 + (size_t)N200);
    memcpy(lab, lb + 8, sizeof lab);
    free(lb);
}

static cf_blob *blob(const char *name) { return cf_blob_new(name); }

/* A layer from YAML on two fresh tops named data and label. */
static cf_layer *layer2(const char *yaml, cf_phase phase, cf_blob **top)
{
    top[0] = blob("data");
    top[1] = blob("label");
    return tu_layer(yaml, phase, NULL, 0, top, 2);
}

/* Same, with the layer's generator given (for reproducibility tests). */
static cf_layer *layer2_rng(const char *yaml, cf_phase phase, cf_rng *rng, cf_blob **top)
{
    cf_error err;
    char buf[2048];
    top[0] = blob("data");
    top[1] = blob("label");
    cf_layer *l = cf_layer_create(tu_yaml(yaml), phase, tu_backend(), rng, &err);
    cr_assert_not_null(l, "%s", cf_error_str(&err, buf, sizeof buf));
    cr_assert_eq(cf_layer_setup(l, NULL, 0, top, 2, &err), 0, "%s", cf_error_str(&err, buf, sizeof buf));
    return l;
}

static void forward(cf_layer *l, cf_blob **top, int nt)
{
    cf_error err;
    char buf[2048];
    cr_assert_eq(l->ops->forward(l, NULL, 0, top, nt, &err), 0, "forward: %s", cf_error_str(&err, buf, sizeof buf));
}

static const char *forward_error(cf_layer *l, cf_blob **top, int nt)
{
    static char buf[2048];
    cf_error err;
    cr_assert_neq(l->ops->forward(l, NULL, 0, top, nt, &err), 0, "forward should fail");
    return cf_error_str(&err, buf, sizeof buf);
}

static const char *data_yaml(const char *source, int batch, const char *extra)
{
    return fmt("name: d\ntype: Data\n"
               "data_param: {source: '%s', batch_size: %d, backend: LMDB}\n%s",
               source, batch, extra ? extra : "");
}

/* ---- Caffe's fashion200 check: Data layer, batch 200, scale 1/256 ---- */

Test(data_layer, matches_caffe_on_fashion200)
{
    load_idx_by_hand();
    cf_blob *top[2];
    cf_layer *l = layer2(data_yaml(lmdb200(), N200, "transform_param: {scale: 0.00390625}\n"), CF_TEST, top);
    cr_assert_eq(top[0]->naxes, 4);
    cr_assert(top[0]->shape[0] == 200 && top[0]->shape[1] == 1 && top[0]->shape[2] == 28 && top[0]->shape[3] == 28);
    cr_assert(top[1]->naxes == 1 && top[1]->shape[0] == 200);
    for (int pass = 0; pass < 2; pass++) { /* the second pass wraps around to the same images */
        forward(l, top, 2);
        const float *d = cf_blob_data(top[0]), *lb = cf_blob_data(top[1]);
        double sum = 0;
        for (size_t i = 0; i < top[0]->count; i++) sum += d[i];
        cr_assert_float_eq(sum, 44566.66015625, 1e-2, "pass %d: data sum %.8f", pass, sum);
        int hist[10] = {0}, want[10] = {24, 26, 18, 17, 18, 20, 21, 21, 16, 19};
        for (int i = 0; i < N200; i++) {
            cr_assert(lb[i] >= 0 && lb[i] <= 9);
            hist[(int)lb[i]]++;
            cr_assert_eq(lb[i], (float)lab[i], "label %d", i);
        }
        for (int k = 0; k < 10; k++) cr_assert_eq(hist[k], want[k], "class %d: %d", k, hist[k]);
        for (int i = 0; i < N200; i++)
            for (int j = 0; j < PIX; j++)
                cr_assert_eq(d[i * PIX + j], (float)pix[i][j] * SCALE, "image %d pixel %d", i, j);
        cr_assert_eq(cf_data_layer_position(l, NULL), 0);
    }
    cf_layer_free(l);
}

Test(data_layer, without_label_top_and_without_prefetch_thread)
{
    load_idx_by_hand();
    cf_blob *top[1] = {blob("data")};
    cf_layer *l = tu_layer(fmt("name: d\ntype: Data\n"
                               "data_param: {source: '%s', batch_size: 3, prefetch: 0}\n", lmdb200()),
                           CF_TRAIN, NULL, 0, top, 1);
    forward(l, top, 1);
    forward(l, top, 1);
    const float *d = cf_blob_data(top[0]);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < PIX; j++) cr_assert_eq(d[i * PIX + j], (float)pix[3 + i][j]);
    cr_assert_eq(cf_data_layer_position(l, NULL), 6);
    cf_layer_free(l);
}

/* Batch 64 over 200 records: batches start at 0, 64, 128, 192; the 4th
 * holds records 192..199 then 0..55. */
Test(data_layer, wraps_around_after_the_last_record)
{
    load_idx_by_hand();
    cf_blob *top[2];
    cf_layer *l = layer2(data_yaml(lmdb200(), 64, NULL), CF_TRAIN, top);
    size_t want_pos[4] = {64, 128, 192, 56};
    for (int b = 0; b < 4; b++) {
        forward(l, top, 2);
        cr_assert_eq(cf_data_layer_position(l, NULL), want_pos[b], "after batch %d: %zu", b, cf_data_layer_position(l, NULL));
    }
    const float *d = cf_blob_data(top[0]), *lb = cf_blob_data(top[1]);
    for (int i = 0; i < 64; i++) {
        int rec = (192 + i) % N200;
        cr_assert_eq(lb[i], (float)lab[rec], "item %d", i);
        for (int j = 0; j < PIX; j++) cr_assert_eq(d[i * PIX + j], (float)pix[rec][j], "item %d pixel %d", i, j);
    }
    cr_assert_eq(d[8 * PIX + 300], (float)pix[0][300]); /* item 8 is record 0 */
    cf_layer_free(l);
}

Test(data_layer, seek_restarts_at_a_record)
{
    load_idx_by_hand();
    cf_blob *top[2];
    cf_error err;
    cf_layer *l = layer2(data_yaml(lmdb200(), 16, NULL), CF_TRAIN, top);
    forward(l, top, 2);
    cr_assert_eq(cf_data_layer_seek(l, 190 + 2 * N200, NULL, &err), 0);
    cr_assert_eq(cf_data_layer_position(l, NULL), 190);
    forward(l, top, 2);
    const float *d = cf_blob_data(top[0]), *lb = cf_blob_data(top[1]);
    for (int i = 0; i < 16; i++) {
        int rec = (190 + i) % N200;
        cr_assert_eq(lb[i], (float)lab[rec]);
        cr_assert_eq(d[i * PIX + 400], (float)pix[rec][400]);
    }
    cr_assert_eq(cf_data_layer_position(l, NULL), 6);
    cf_layer_free(l);
}

/* Position and generator state taken after a batch and restored into
 * another layer (another seed, same source open at the same time)
 * resume the very same randomly cropped and mirrored batches. */
Test(data_layer, resume_repeats_random_batches_bit_for_bit)
{
    const char *y = data_yaml(lmdb200(), 48, "transform_param: {crop_size: 22, mirror: true}\n");
    cf_rng r1, r2, at;
    cf_rng_seed(&r1, 11);
    cf_rng_seed(&r2, 12);
    cf_blob *a[2], *b[2];
    cf_error err;
    cf_layer *la = layer2_rng(y, CF_TRAIN, &r1, a), *lb = layer2_rng(y, CF_TRAIN, &r2, b);
    forward(la, a, 2);
    forward(la, a, 2);
    size_t pos = cf_data_layer_position(la, &at);
    cr_assert_eq(pos, 96);
    size_t n = a[0]->count;
    float *want = malloc(3 * n * sizeof(float));
    for (int k = 0; k < 3; k++) {
        forward(la, a, 2);
        memcpy(want + k * n, cf_blob_data(a[0]), n * sizeof(float));
    }
    cf_layer_free(la);
    forward(lb, b, 2); /* lb has its own seed and has read ahead: seek resets both */
    cr_assert_eq(cf_data_layer_seek(lb, pos, &at, &err), 0);
    for (int k = 0; k < 3; k++) {
        forward(lb, b, 2);
        cr_assert_eq(memcmp(want + k * n, cf_blob_data(b[0]), n * sizeof(float)), 0, "batch %d differs", k);
    }
    cr_assert_eq(cf_data_layer_position(lb, NULL), (96 + 3 * 48) % N200);
    free(want);
    cf_layer_free(lb);
}

/* rand_skip skips a draw in [0, rand_skip) from the layer's generator. */
Test(data_layer, rand_skip_draws_from_the_layer_rng)
{
    load_idx_by_hand();
    cf_rng mine, ref;
    cf_rng_seed(&mine, 99);
    cf_rng_seed(&ref, 99);
    uint32_t skip = cf_rng_below(&ref, 150);
    cf_blob *top[2];
    cf_layer *l = layer2_rng(fmt("name: d\ntype: Data\n"
                                 "data_param: {source: '%s', batch_size: 2, rand_skip: 150}\n", lmdb200()),
                             CF_TRAIN, &mine, top);
    cr_assert_eq(cf_data_layer_position(l, NULL), skip);
    forward(l, top, 2);
    cr_assert_eq(cf_blob_data(top[1])[0], (float)lab[skip]);
    cr_assert_eq(cf_blob_data(top[0])[500], (float)pix[skip][500]);
    cf_layer_free(l);
}

/* ---- transforms ---- */

Test(transform, mean_value_then_scale)
{
    load_idx_by_hand();
    cf_blob *top[2];
    cf_layer *l = layer2(data_yaml(lmdb200(), 10, "transform_param: {mean_value: 100, scale: 0.5}\n"), CF_TEST, top);
    forward(l, top, 2);
    const float *d = cf_blob_data(top[0]);
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < PIX; j++) cr_assert_eq(d[i * PIX + j], ((float)pix[i][j] - 100.0f) * 0.5f);
    cr_assert_eq(d[0], -50.0f); /* pixel 0 of image 0 is 0 */
    cf_layer_free(l);
}

Test(transform, mean_file_subtracted_per_pixel)
{
    load_idx_by_hand();
    cf_mean m;
    cf_error err;
    cr_assert_eq(cf_mean_load(fixture("mean.binaryproto"), &m, &err), 0);
    cf_blob *top[2];
    cf_layer *l = layer2(data_yaml(lmdb200(), 4, fmt("transform_param: {mean_file: '%s', scale: 2}\n",
                                                     fixture("mean.binaryproto"))),
                         CF_TEST, top);
    forward(l, top, 2);
    const float *d = cf_blob_data(top[0]);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < PIX; j++) cr_assert_eq(d[i * PIX + j], ((float)pix[i][j] - m.data[j]) * 2.0f);
    cf_mean_free(&m);
    cf_layer_free(l);
}

/* TEST crops the centre: offset (28 - 20) / 2 = 4 on both axes; for 27
 * the offset rounds down to 0. */
Test(transform, centre_crop_in_test)
{
    load_idx_by_hand();
    int sizes[2] = {20, 27}, offs[2] = {4, 0};
    for (int k = 0; k < 2; k++) {
        cf_blob *top[2];
        int c = sizes[k], o = offs[k];
        cf_layer *l = layer2(data_yaml(lmdb200(), 5, fmt("transform_param: {crop_size: %d, scale: 0.00390625}\n", c)),
                             CF_TEST, top);
        cr_assert(top[0]->shape[2] == c && top[0]->shape[3] == c);
        forward(l, top, 2);
        const float *d = cf_blob_data(top[0]);
        for (int i = 0; i < 5; i++)
            for (int y = 0; y < c; y++)
                for (int x = 0; x < c; x++)
                    cr_assert_eq(d[(i * c + y) * c + x], (float)pix[i][(y + o) * 28 + x + o] * SCALE,
                                 "crop %d image %d (%d,%d)", c, i, y, x);
        cf_layer_free(l);
    }
}

static bool same_image(const float *d, int rec, bool mirrored)
{
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            if (d[y * 28 + x] != (float)pix[rec][y * 28 + (mirrored ? 27 - x : x)]) return false;
    return true;
}

Test(transform, mirror_random_in_train_only)
{
    load_idx_by_hand();
    cf_blob *top[2];
    cf_layer *l = layer2(data_yaml(lmdb200(), N200, "transform_param: {mirror: true}\n"), CF_TRAIN, top);
    forward(l, top, 2);
    const float *d = cf_blob_data(top[0]);
    int flipped = 0;
    for (int i = 0; i < N200; i++) {
        bool as_is = same_image(d + i * PIX, i, false), mirrored = same_image(d + i * PIX, i, true);
        cr_assert(as_is || mirrored, "image %d is neither itself nor its mirror", i);
        if (mirrored && !as_is) flipped++;
    }
    cr_assert(flipped > 60 && flipped < 140, "%d of 200 mirrored", flipped);
    cf_layer_free(l);

    l = layer2(data_yaml(lmdb200(), N200, "transform_param: {mirror: true}\n"), CF_TEST, top);
    forward(l, top, 2);
    d = cf_blob_data(top[0]);
    for (int i = 0; i < N200; i++) cr_assert(same_image(d + i * PIX, i, false), "TEST mirrored image %d", i);
    cf_layer_free(l);
}

/* TRAIN crops at random offsets in [0, 28 - 24]; each output is a crop
 * of its image, and the offsets vary. */
Test(transform, random_crop_in_train)
{
    load_idx_by_hand();
    cf_blob *top[2];
    cf_layer *l = layer2(data_yaml(lmdb200(), 50, "transform_param: {crop_size: 24}\n"), CF_TRAIN, top);
    forward(l, top, 2);
    const float *d = cf_blob_data(top[0]);
    int seen[5][5] = {{0}}, distinct = 0;
    for (int i = 0; i < 50; i++) {
        int found = 0;
        for (int dy = 0; dy <= 4; dy++)
            for (int dx = 0; dx <= 4; dx++) {
                bool ok = true;
                for (int y = 0; y < 24 && ok; y++)
                    for (int x = 0; x < 24 && ok; x++)
                        ok = d[(i * 24 + y) * 24 + x] == (float)pix[i][(y + dy) * 28 + x + dx];
                if (ok && !found) {
                    found = 1;
                    if (!seen[dy][dx]++) distinct++;
                }
            }
        cr_assert(found, "image %d is no crop of record %d", i, i);
    }
    cr_assert_gt(distinct, 5, "only %d distinct offsets in 50 draws", distinct);
    cf_layer_free(l);
}

/* The same seed gives the same crops and mirrors; another seed does not. */
Test(transform, random_transforms_repeat_for_a_seed)
{
    const char *y = data_yaml(lmdb200(), 32, "transform_param: {crop_size: 20, mirror: true}\n");
    float *out[3];
    uint64_t seeds[3] = {5, 5, 6};
    for (int k = 0; k < 3; k++) {
        cf_rng r;
        cf_rng_seed(&r, seeds[k]);
        cf_blob *top[2];
        cf_layer *l = layer2_rng(y, CF_TRAIN, &r, top);
        forward(l, top, 2);
        forward(l, top, 2);
        out[k] = malloc(top[0]->count * sizeof(float));
        memcpy(out[k], cf_blob_data(top[0]), top[0]->count * sizeof(float));
        cf_layer_free(l);
    }
    size_t n = 32 * 20 * 20;
    cr_assert_eq(memcmp(out[0], out[1], n * sizeof(float)), 0);
    cr_assert_neq(memcmp(out[0], out[2], n * sizeof(float)), 0);
}

/* ---- Datum and LMDB ---- */

Test(datum, encode_decode_round_trip_bytes_and_floats)
{
    uint8_t px[6] = {0, 1, 2, 250, 128, 255};
    cf_datum d = {.channels = 1, .height = 2, .width = 3, .label = 7, .bytes = px};
    size_t len;
    uint8_t *buf = cf_datum_encode(&d, &len);
    /* Caffe's wire order: channels, height, width, data, label. */
    uint8_t want[] = {0x08, 1, 0x10, 2, 0x18, 3, 0x22, 6, 0, 1, 2, 250, 128, 255, 0x28, 7};
    cr_assert_eq(len, sizeof want);
    cr_assert_eq(memcmp(buf, want, len), 0);
    cf_datum e;
    cf_error err;
    cr_assert_eq(cf_datum_decode(buf, len, &e, &err), 0);
    cr_assert(e.channels == 1 && e.height == 2 && e.width == 3 && e.label == 7 && e.bytes && !e.floats);
    cr_assert_eq(cf_datum_at(&e, 3), 250.0f);
    cf_datum_release(&e);
    free(buf);

    float fv[2] = {-1.5f, 3.25f};
    cf_datum f = {.channels = 2, .height = 1, .width = 1, .label = -1, .floats = fv};
    buf = cf_datum_encode(&f, &len);
    cr_assert_eq(cf_datum_decode(buf, len, &e, &err), 0);
    cr_assert(e.floats && !e.bytes && e.label == -1);
    cr_assert(cf_datum_at(&e, 0) == -1.5f && cf_datum_at(&e, 1) == 3.25f);
    cf_datum_release(&e);
    free(buf);
}

Test(datum, bad_records_are_refused_with_a_reason)
{
    cf_datum e;
    cf_error err;
    Caffe__Datum m = CAFFE__DATUM__INIT;
    m.has_channels = m.has_height = m.has_width = m.has_data = m.has_encoded = 1;
    m.channels = 1, m.height = 2, m.width = 2;
    uint8_t png[4] = {0x89, 'P', 'N', 'G'};
    m.data.len = 4;
    m.data.data = png;
    m.encoded = 1;
    uint8_t buf[64];
    size_t len = caffe__datum__pack(&m, buf);
    cr_assert_eq(cf_datum_decode(buf, len, &e, &err), -1);
    cr_assert_str_eq(err.msg, "encoded Datum not supported (JPEG/PNG images must be stored as raw pixels)");
    m.encoded = 0;
    m.width = 3;
    len = caffe__datum__pack(&m, buf);
    cr_assert_eq(cf_datum_decode(buf, len, &e, &err), -1);
    cr_assert_str_eq(err.msg, "Datum 1x2x3 should hold 6 values but holds 4");
    uint8_t junk[3] = {0xff, 0xff, 0xff};
    cr_assert_eq(cf_datum_decode(junk, 3, &e, &err), -1);
    cr_assert_str_eq(err.msg, "record is not a Caffe Datum (protobuf parse failed)");
}

/* Our converter's records are byte for byte those of Caffe's
 * convert_mnist_data, key by key. */
Test(convert, idx_to_lmdb_matches_caffe_record_for_record)
{
    cf_error err;
    char buf[2048];
    const char *out = fmt("%s/ours_lmdb", tu_tmpdir());
    cr_assert_eq(cf_convert_idx_to_lmdb(images200(), labels200(), out, &err), 0, "%s",
                 cf_error_str(&err, buf, sizeof buf));
    cf_lmdb_source *a = cf_lmdb_open(lmdb200(), &err), *b = cf_lmdb_open(out, &err);
    cr_assert(a && b);
    cr_assert_eq(cf_lmdb_count(a), 200);
    cr_assert_eq(cf_lmdb_count(b), 200);
    for (int i = 0; i < N200; i++) {
        const void *ka, *va, *kb, *vb;
        size_t kla, vla, klb, vlb;
        cf_lmdb_get(a, &ka, &kla, &va, &vla);
        cf_lmdb_get(b, &kb, &klb, &vb, &vlb);
        char key[16];
        snprintf(key, sizeof key, "%08d", i);
        cr_assert(kla == 8 && !memcmp(ka, key, 8), "Caffe key %d", i);
        cr_assert(klb == 8 && !memcmp(kb, key, 8), "our key %d", i);
        cr_assert(vla == vlb && !memcmp(va, vb, vla), "record %s differs", key);
        cr_assert_eq(cf_lmdb_advance(a, &err), 0);
        cr_assert_eq(cf_lmdb_advance(b, &err), 0);
    }
    cr_assert_eq(cf_lmdb_index(b), 0, "the cursor wraps to the first record");
    cf_lmdb_close(a);
    cf_lmdb_close(b);
    /* never overwrite an output */
    cr_assert_eq(cf_convert_idx_to_lmdb(images200(), labels200(), out, &err), -1);
    cr_assert_str_eq(err.msg, fmt("output '%s' already exists", out));
}

Test(idx, gzip_reads_like_plain)
{
    size_t n;
    unsigned char *raw = read_bytes(images200(), &n);
    const char *gz = fmt("%s/images.gz", tu_tmpdir());
    gzFile f = gzopen(gz, "wb");
    cr_assert_eq(gzwrite(f, raw, (unsigned)n), (int)n);
    gzclose(f);
    cf_idx a, b;
    cf_error err;
    cr_assert_eq(cf_idx_read(images200(), CF_IDX_IMAGES, &a, &err), 0);
    cr_assert_eq(cf_idx_read(gz, CF_IDX_IMAGES, &b, &err), 0);
    cr_assert(a.dims[0] == 200 && a.dims[1] == 28 && a.dims[2] == 28 && a.item_size == 784);
    cr_assert(b.dims[0] == 200 && b.item_size == 784);
    cr_assert_eq(memcmp(a.data, raw + 16, 200 * 784), 0);
    cr_assert_eq(memcmp(b.data, raw + 16, 200 * 784), 0);
    cf_idx_free(&a);
    cf_idx_free(&b);
    free(raw);
}

Test(idx, truncated_and_wrong_files_are_named)
{
    size_t n;
    unsigned char *raw = read_bytes(images200(), &n);
    const char *cut = fmt("%s/cut-images-idx3-ubyte", tu_tmpdir());
    write_bytes(cut, raw, 16 + 1000); /* header says 200 images */
    cf_idx x;
    cf_error err;
    cr_assert_eq(cf_idx_read(cut, CF_IDX_IMAGES, &x, &err), -1);
    cr_assert_str_eq(err.msg, fmt("IDX file '%s' is truncated: header says 200 images of 28x28 (156800 bytes) "
                                  "but only 1000 bytes follow", cut));
    /* the converter passes it on and leaves no output behind */
    const char *out = fmt("%s/never_lmdb", tu_tmpdir());
    cr_assert_eq(cf_convert_idx_to_lmdb(cut, labels200(), out, &err), -1);
    cr_assert(strstr(err.msg, "is truncated"));
    cr_assert_neq(access(out, F_OK), 0);

    write_bytes(cut, raw, 10);
    cr_assert_eq(cf_idx_read(cut, CF_IDX_IMAGES, &x, &err), -1);
    cr_assert_str_eq(err.msg, fmt("IDX file '%s' is truncated: header incomplete", cut));
    cr_assert_eq(cf_idx_read(labels200(), CF_IDX_IMAGES, &x, &err), -1);
    cr_assert_str_eq(err.msg, fmt("IDX file '%s' holds labels (magic 2049), expected images (magic 2051)", labels200()));
    write_bytes(cut, "GARBAGE!", 8);
    cr_assert_eq(cf_idx_read(cut, CF_IDX_LABELS, &x, &err), -1);
    cr_assert_str_eq(err.msg, fmt("IDX file '%s': bad magic number 0x47415242, expected 2049 (labels)", cut));
    const char *missing = fmt("%s/nope-idx1-ubyte", tu_tmpdir());
    cr_assert_eq(cf_idx_read(missing, CF_IDX_LABELS, &x, &err), -1);
    cr_assert_str_eq(err.msg, fmt("cannot open IDX file '%s': No such file or directory", missing));
    free(raw);
}

/* ---- HDF5 ---- */

static const char *h5_200(void)
{
    static char *h5;
    if (!h5) {
        cf_error err;
        char buf[2048];
        h5 = fmt("%s/fashion200.h5", tu_tmpdir());
        cr_assert_eq(cf_convert_idx_to_hdf5(images200(), labels200(), h5, SCALE, &err), 0, "%s",
                     cf_error_str(&err, buf, sizeof buf));
    }
    return h5;
}

static const char *hdf5_yaml(const char *list, int batch, const char *extra)
{
    return fmt("name: h\ntype: HDF5Data\nhdf5_data_param: {source: '%s', batch_size: %d%s}\n",
               list, batch, extra ? extra : "");
}

/* IDX -> HDF5 -> HDF5Data gives exactly the Data layer's batch. */
Test(hdf5_data, round_trip_equals_data_layer)
{
    const char *list = fmt("%s/fashion200.txt", tu_tmpdir());
    h5_200();
    size_t n;
    char *text = (char *)read_bytes(list, &n);
    text[n] = 0;
    cr_assert_str_eq(text, "fashion200.h5\n");
    cf_blob *a[2], *b[2];
    cf_layer *h = layer2(hdf5_yaml(list, N200, NULL), CF_TRAIN, a);
    cf_layer *d = layer2(data_yaml(lmdb200(), N200, "transform_param: {scale: 0.00390625}\n"), CF_TRAIN, b);
    cr_assert(cf_blob_same_shape(a[0], b[0]) && cf_blob_same_shape(a[1], b[1]));
    forward(h, a, 2);
    forward(d, b, 2);
    cr_assert_eq(memcmp(cf_blob_data(a[0]), cf_blob_data(b[0]), a[0]->count * sizeof(float)), 0);
    cr_assert_eq(memcmp(cf_blob_data(a[1]), cf_blob_data(b[1]), a[1]->count * sizeof(float)), 0);
    cf_layer_free(h);
    cf_layer_free(d);
}

/* Two files in the list (the same one, by relative and absolute path),
 * batch 150: the second batch ends file 1 and begins file 2. */
Test(hdf5_data, cycles_through_files)
{
    load_idx_by_hand();
    const char *h5 = h5_200();
    const char *list = fmt("%s/two.txt", tu_tmpdir());
    char *text = fmt("fashion200.h5\n\n  %s  \n", h5);
    write_bytes(list, text, strlen(text));
    cf_blob *top[2];
    cf_layer *l = layer2(hdf5_yaml(list, 150, NULL), CF_TRAIN, top);
    for (int b = 0; b < 3; b++) {
        forward(l, top, 2);
        const float *lb = cf_blob_data(top[1]);
        for (int i = 0; i < 150; i++) cr_assert_eq(lb[i], (float)lab[(b * 150 + i) % 200], "batch %d item %d", b, i);
    }
    cf_layer_free(l);
}

Test(hdf5_data, shuffle_in_train_permutes_rows)
{
    load_idx_by_hand();
    h5_200();
    const char *list = fmt("%s/fashion200.txt", tu_tmpdir());
    cf_blob *top[2];
    cf_layer *l = layer2(hdf5_yaml(list, N200, ", shuffle: true"), CF_TRAIN, top);
    forward(l, top, 2);
    const float *d = cf_blob_data(top[0]), *lb = cf_blob_data(top[1]);
    int used[N200] = {0}, in_place = 0;
    for (int i = 0; i < N200; i++) {
        int rec = -1;
        for (int r = 0; r < N200 && rec < 0; r++)
            if (!used[r] && lb[i] == lab[r]) {
                bool same = true;
                for (int j = 0; j < PIX && same; j++) same = d[i * PIX + j] == (float)pix[r][j] * SCALE;
                if (same) rec = r;
            }
        cr_assert_geq(rec, 0, "row %d is no row of the file", i);
        used[rec] = 1;
        in_place += rec == i;
    }
    cr_assert_lt(in_place, 20, "%d rows did not move", in_place);
    cf_layer_free(l);

    /* TEST ignores shuffle: rows in file order */
    l = layer2(hdf5_yaml(list, N200, ", shuffle: true"), CF_TEST, top);
    forward(l, top, 2);
    for (int i = 0; i < N200; i++) cr_assert_eq(cf_blob_data(top[1])[i], (float)lab[i]);
    cf_layer_free(l);
}

Test(hdf5_data, errors_name_the_file_and_dataset)
{
    const char *h5 = h5_200();
    const char *list = fmt("%s/fashion200.txt", tu_tmpdir());
    cf_blob *top[2] = {blob("data"), blob("lbl")};
    cr_assert_str_eq(tu_layer_error(hdf5_yaml(list, 10, NULL), CF_TRAIN, NULL, 0, top, 2),
                     fmt("test.yaml:1:1: layer 'h': HDF5 file '%s' has no dataset 'lbl'", h5));

    const char *bad = fmt("%s/bad.txt", tu_tmpdir());
    write_bytes(bad, "missing.h5\n", 11);
    top[1] = blob("label");
    cr_assert_str_eq(tu_layer_error(hdf5_yaml(bad, 10, NULL), CF_TRAIN, NULL, 0, top, 2),
                     fmt("test.yaml:3:27: layer 'h': cannot open HDF5 file '%s/missing.h5' (listed in '%s'): "
                         "No such file or directory", tu_tmpdir(), bad));
    const char *nolist = fmt("%s/nolist.txt", tu_tmpdir());
    cr_assert_str_eq(tu_layer_error(hdf5_yaml(nolist, 10, NULL), CF_TRAIN, NULL, 0, top, 2),
                     fmt("test.yaml:3:27: layer 'h': cannot open HDF5 list file '%s': No such file or directory",
                         nolist));
    const char *notes = fmt("%s/notes.txt", tu_tmpdir());
    write_bytes(notes, "hello\n", 6);
    write_bytes(bad, "notes.txt\n", 10);
    cr_assert_str_eq(tu_layer_error(hdf5_yaml(bad, 10, NULL), CF_TRAIN, NULL, 0, top, 2),
                     fmt("test.yaml:1:1: layer 'h': '%s' is not an HDF5 file (or is damaged)", notes));
}

/* A file whose turn comes later lacks a dataset: forward fails when it
 * gets there, and keeps failing rather than serving stale rows. */
Test(hdf5_data, a_bad_later_file_fails_forward)
{
    const char *h5 = h5_200();
    const char *only = fmt("%s/dataonly.h5", tu_tmpdir());
    hid_t f = H5Fcreate(only, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[4] = {10, 1, 28, 28};
    hid_t sp = H5Screate_simple(4, dims, NULL);
    hid_t ds = H5Dcreate2(f, "data", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    static float zeros[10 * 784];
    cr_assert_geq(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros), 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
    const char *list = fmt("%s/then_bad.txt", tu_tmpdir());
    char *text = fmt("%s\ndataonly.h5\n", h5);
    write_bytes(list, text, strlen(text));
    cf_blob *top[2];
    cf_layer *l = layer2(hdf5_yaml(list, 150, NULL), CF_TRAIN, top);
    forward(l, top, 2);
    const char *want = fmt("test.yaml:1:1: layer 'h': HDF5 file '%s' has no dataset 'label'", only);
    cr_assert_str_eq(forward_error(l, top, 2), want);
    cr_assert_str_eq(forward_error(l, top, 2), want);
    cf_layer_free(l);
}

/* ---- mean files ---- */

/* Caffe's compute_image_mean over the 60000 training images. */
Test(mean_file, loads_caffe_mean)
{
    cf_mean m;
    cf_error err;
    cr_assert_eq(cf_mean_load(fixture("mean.binaryproto"), &m, &err), 0);
    cr_assert(m.channels == 1 && m.height == 28 && m.width == 28);
    double sum = 0;
    int imax = 0;
    for (int i = 0; i < PIX; i++) {
        sum += m.data[i];
        if (m.data[i] > m.data[imax]) imax = i;
    }
    cr_assert_float_eq(sum / PIX, 72.940352353, 1e-4);
    cr_assert_eq(imax, 464);
    /* the first 20 values, printed %.9g (which round-trips a float) */
    size_t n;
    char *text = (char *)read_bytes(fixture("mean_values.txt"), &n);
    text[n] = 0;
    char *p = strstr(text, "first 20 values");
    cr_assert_not_null(p);
    p = strchr(p, '\n') + 1;
    for (int i = 0; i < 20; i++) {
        char *end;
        float v = strtof(p, &end);
        cr_assert_neq(end, p);
        cr_assert_eq(m.data[i], v, "value %d: %.9g vs %.9g", i, m.data[i], v);
        p = end;
    }
    cr_assert_eq(m.data[0], 0.00079999998f);
    cf_mean_free(&m);
}

/* Saving writes what Caffe wrote: the same bytes back. */
Test(mean_file, save_is_byte_identical_to_caffe)
{
    cf_mean m;
    cf_error err;
    cr_assert_eq(cf_mean_load(fixture("mean.binaryproto"), &m, &err), 0);
    const char *out = fmt("%s/mean.binaryproto", tu_tmpdir());
    cr_assert_eq(cf_mean_save(out, &m, &err), 0);
    size_t na, nb;
    unsigned char *a = read_bytes(fixture("mean.binaryproto"), &na), *b = read_bytes(out, &nb);
    cr_assert_eq(na, nb);
    cr_assert_eq(memcmp(a, b, na), 0);
    cf_mean_free(&m);
}

/* compute_image_mean's arithmetic: float32 sums in record order, then a
 * float32 division by the count. */
Test(mean_file, compute_mean_of_fashion200)
{
    load_idx_by_hand();
    cf_error err;
    char buf[2048];
    const char *out = fmt("%s/mean200.binaryproto", tu_tmpdir());
    cr_assert_eq(cf_compute_mean(lmdb200(), out, &err), 0, "%s", cf_error_str(&err, buf, sizeof buf));
    cf_mean m;
    cr_assert_eq(cf_mean_load(out, &m, &err), 0);
    cr_assert(m.channels == 1 && m.height == 28 && m.width == 28);
    for (int j = 0; j < PIX; j++) {
        float s = 0;
        for (int i = 0; i < N200; i++) s += (float)pix[i][j];
        cr_assert_eq(m.data[j], s / 200.0f, "pixel %d", j);
    }
    cf_mean_free(&m);
}

Test(mean_file, errors)
{
    cf_mean m;
    cf_error err;
    const char *missing = fmt("%s/none.binaryproto", tu_tmpdir());
    cr_assert_eq(cf_mean_load(missing, &m, &err), -1);
    cr_assert_str_eq(err.msg, fmt("cannot open mean file '%s': No such file or directory", missing));
    const char *junk = fmt("%s/junk.binaryproto", tu_tmpdir());
    write_bytes(junk, "\xff\xff\xff", 3);
    cr_assert_eq(cf_mean_load(junk, &m, &err), -1);
    cr_assert_str_eq(err.msg, fmt("mean file '%s' is not a BlobProto (.binaryproto)", junk));
    /* a mean of another size than the images */
    cf_blob *top[2] = {blob("data"), blob("label")};
    float v[4] = {1, 2, 3, 4};
    cf_mean small = {.channels = 1, .height = 2, .width = 2, .data = v};
    const char *sm = fmt("%s/small.binaryproto", tu_tmpdir());
    cr_assert_eq(cf_mean_save(sm, &small, &err), 0);
    cr_assert_str_eq(tu_layer_error(data_yaml(lmdb200(), 4, fmt("transform_param: {mean_file: '%s'}\n", sm)),
                                    CF_TRAIN, NULL, 0, top, 2),
                     fmt("test.yaml:4:30: layer 'd': the mean file is 1x2x2 but the images are 1x28x28"));
}

/* ---- MemoryData ---- */

Test(memory_data, serves_consecutive_batches_wrapping)
{
    cf_blob *top[2];
    cf_layer *l = layer2("name: m\ntype: MemoryData\n"
                         "memory_data_param: {batch_size: 2, channels: 1, height: 2, width: 2}\n",
                         CF_TRAIN, top);
    cr_assert(top[0]->shape[0] == 2 && top[0]->shape[1] == 1 && top[0]->shape[2] == 2 && top[0]->shape[3] == 2);
    cf_error err;
    cr_assert_str_eq(forward_error(l, top, 2),
                     "test.yaml:1:1: layer 'm': MemoryData has no data (call cf_memory_data_set first)");
    float data[5 * 4], labels[5];
    for (int i = 0; i < 5; i++) {
        labels[i] = 10.0f + i;
        for (int j = 0; j < 4; j++) data[i * 4 + j] = (float)(i * 4 + j);
    }
    cr_assert_eq(cf_memory_data_set(l, data, NULL, 5, &err), -1);
    cr_assert_str_eq(err.msg, "MemoryData: the layer has a label top but no labels were given");
    cr_assert_eq(cf_memory_data_set(l, data, labels, 5, &err), 0);
    data[0] = -1; /* copied: later changes do not show */
    int want[4][2] = {{0, 1}, {2, 3}, {4, 0}, {1, 2}};
    for (int b = 0; b < 4; b++) {
        forward(l, top, 2);
        for (int i = 0; i < 2; i++) {
            int e = want[b][i];
            cr_assert_eq(cf_blob_data(top[1])[i], 10.0f + e);
            for (int j = 0; j < 4; j++) cr_assert_eq(cf_blob_data(top[0])[i * 4 + j], (float)(e * 4 + j));
        }
    }
    cf_layer_free(l);
    cf_blob *t1[2];
    cf_layer *d = layer2(data_yaml(lmdb200(), 2, NULL), CF_TRAIN, t1);
    cr_assert_eq(cf_memory_data_set(d, data, labels, 5, &err), -1);
    cr_assert_str_eq(err.msg, "cf_memory_data_set: layer 'd' is not a MemoryData layer that was set up");
    cf_layer_free(d);
}

/* ---- Data layer errors ---- */

Test(data_layer, setup_errors_have_exact_messages)
{
    cf_blob *top[2] = {blob("data"), blob("label")};
    const char *missing = fmt("%s/no_such_lmdb", tu_tmpdir());
    cr_assert_str_eq(tu_layer_error(data_yaml(missing, 4, NULL), CF_TRAIN, NULL, 0, top, 2),
                     fmt("test.yaml:3:22: layer 'd': cannot open LMDB '%s': No such file or directory", missing));
    cr_assert_str_eq(tu_layer_error(fmt("name: d\ntype: Data\n"
                                        "data_param: {backend: LEVELDB, source: '%s', batch_size: 4}\n", lmdb200()),
                                    CF_TRAIN, NULL, 0, top, 1),
                     "test.yaml:3:23: layer 'd': backend LEVELDB is not supported (use an LMDB: backend: LMDB)");
    cr_assert_str_eq(tu_layer_error("name: d\ntype: Data\ndata_param: {batch_size: 4}\n", CF_TRAIN,
                                    NULL, 0, top, 1),
                     "test.yaml:3:1: layer 'd': data_param: field 'source' is missing");
    cr_assert_str_eq(tu_layer_error(data_yaml(lmdb200(), 4, "transform_param: {crop_size: 29}\n"), CF_TRAIN, NULL,
                                    0, top, 2),
                     "test.yaml:4:30: layer 'd': crop_size 29 is larger than the 28x28 images");
    cr_assert_str_eq(tu_layer_error(data_yaml(lmdb200(), 4, "transform_param: {mean_value: [1, 2]}\n"), CF_TRAIN,
                                    NULL, 0, top, 2),
                     "test.yaml:4:32: layer 'd': mean_value has 2 values but the images have 1 channel (give one value, "
                     "or one per channel)");
    const char *file = fmt("%s/plainfile", tu_tmpdir());
    write_bytes(file, "x", 1);
    cr_assert_str_eq(tu_layer_error(data_yaml(file, 4, NULL), CF_TRAIN, NULL, 0, top, 2),
                     fmt("test.yaml:3:22: layer 'd': cannot open LMDB '%s': not a directory (an LMDB is a directory "
                         "holding data.mdb)", file));
}

Test(data_layer, damaged_lmdb_is_refused_not_crashed_on)
{
    cf_blob *top[2] = {blob("data"), blob("label")};
    size_t n;
    unsigned char *mdb = read_bytes(fixture("fashion200_lmdb/data.mdb"), &n);
    /* garbage in place of data.mdb */
    const char *junk = fmt("%s/junk_lmdb", tu_tmpdir());
    mkdir(junk, 0755);
    unsigned char zeros[16384] = {0};
    write_bytes(fmt("%s/data.mdb", junk), zeros, sizeof zeros);
    cr_assert_str_eq(tu_layer_error(data_yaml(junk, 4, NULL), CF_TRAIN, NULL, 0, top, 2),
                     fmt("test.yaml:3:22: layer 'd': cannot open LMDB '%s': MDB_INVALID: File is not an LMDB file",
                         junk));
    /* cut in half: the pages promised by the meta page are missing */
    const char *cut = fmt("%s/cut_lmdb", tu_tmpdir());
    mkdir(cut, 0755);
    write_bytes(fmt("%s/data.mdb", cut), mdb, n / 2);
    cr_assert_str_eq(tu_layer_error(data_yaml(cut, 4, NULL), CF_TRAIN, NULL, 0, top, 2),
                     fmt("test.yaml:3:22: layer 'd': LMDB '%s' is truncated: data.mdb has %zu bytes, needs %zu", cut,
                         n / 2, n));
    free(mdb);
}

/* A database whose 4th record is not a Datum: the prefetch thread stops
 * there, the batches before it are still served, then forward fails with
 * the record's key. */
static const char *lmdb_with_bad_record(void)
{
    cf_error err;
    const char *dir = fmt("%s/bad_record_lmdb", tu_tmpdir());
    mkdir(dir, 0755);
    cf_lmdb_writer *w = cf_lmdb_create(dir, 1 << 20, &err);
    cr_assert_not_null(w);
    uint8_t px[4] = {1, 2, 3, 4};
    for (int i = 0; i < 6; i++) {
        char key[16];
        snprintf(key, sizeof key, "%08d", i);
        cf_datum d = {.channels = 1, .height = 2, .width = 2, .label = i, .bytes = px};
        size_t len;
        uint8_t *val = cf_datum_encode(&d, &len);
        if (i == 3) val[0] = 0xff, len = 1; /* a truncated varint: no Datum */
        cr_assert_eq(cf_lmdb_put(w, key, 8, val, len, &err), 0);
        free(val);
    }
    cr_assert_eq(cf_lmdb_finish(w, &err), 0);
    return dir;
}

Test(data_layer, bad_record_fails_forward_through_the_thread)
{
    const char *dir = lmdb_with_bad_record();
    cf_blob *top[2];
    cf_layer *l = layer2(data_yaml(dir, 3, NULL), CF_TRAIN, top);
    forward(l, top, 2);
    cr_assert_eq(cf_blob_data(top[1])[2], 2.0f);
    cr_assert_str_eq(forward_error(l, top, 2),
                     fmt("test.yaml:1:1: layer 'd': LMDB '%s', record '00000003': record is not a Caffe Datum "
                         "(protobuf parse failed)", dir));
    cr_assert_str_eq(forward_error(l, top, 2),
                     fmt("test.yaml:1:1: layer 'd': LMDB '%s', record '00000003': record is not a Caffe Datum "
                         "(protobuf parse failed)", dir));
    cf_layer_free(l);
}

Test(data_layer, encoded_datum_is_a_clear_error)
{
    cf_error err;
    const char *dir = fmt("%s/jpeg_lmdb", tu_tmpdir());
    mkdir(dir, 0755);
    cf_lmdb_writer *w = cf_lmdb_create(dir, 1 << 20, &err);
    Caffe__Datum m = CAFFE__DATUM__INIT;
    m.has_channels = m.has_height = m.has_width = m.has_data = m.has_encoded = 1;
    m.channels = 3, m.height = 32, m.width = 32;
    uint8_t jpeg[4] = {0xff, 0xd8, 0xff, 0xe0};
    m.data.len = 4;
    m.data.data = jpeg;
    m.encoded = 1;
    uint8_t buf[64];
    size_t len = caffe__datum__pack(&m, buf);
    cr_assert_eq(cf_lmdb_put(w, "img0", 4, buf, len, &err), 0);
    cr_assert_eq(cf_lmdb_finish(w, &err), 0);
    cf_blob *top[2] = {blob("data"), blob("label")};
    cr_assert_str_eq(tu_layer_error(data_yaml(dir, 4, NULL), CF_TRAIN, NULL, 0, top, 2),
                     fmt("test.yaml:3:22: layer 'd': LMDB '%s', record 'img0': encoded Datum not supported "
                         "(JPEG/PNG images must be stored as raw pixels)", dir));
}
