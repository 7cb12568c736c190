/* fuzz_datum.c — one LMDB record: Caffe's Datum decoded (raw bytes or
 * float_data, encoded refused, size checked against C×H×W), passed
 * through a Data layer's transform (crop, mirror, scale, per-channel
 * mean values) as the prefetch thread passes it, and re-encoded. */
#include "data_transform.h"
#include "datum.h"
#include "fuzz_common.h"
#include "parse.h"

/* tests/test_fuzz_regress.c includes the harnesses under other names */
#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

static cf_transform dt_tf[2];
static int dt_ntf;

static void dt_setup(void)
{
    static const char *const confs[2] = {
        "{name: d, type: Data, transform_param: {crop_size: 3, mirror: true, scale: 0.5, mean_value: [1, 2, 3]}}",
        "{name: d, type: Data, transform_param: {mean_value: 9}}",
    };
    static cf_rng rng;
    cf_rng_seed(&rng, 3);
    cf_backend *be = cf_backend_cpu_new(1);
    cf_error err;
    for (int i = 0; i < 2; i++) {
        cf_node *n = cf_yaml_parse_string(confs[i], "fuzz", &err);
        cf_layer *l = n ? cf_layer_create(n, i ? CF_TEST : CF_TRAIN, be, &rng, &err) : NULL;
        if (!l || cf_transform_init(&dt_tf[i], l, &err)) abort();
    }
    dt_ntf = 2;
}

static void dt_transform(cf_transform *t, const cf_datum *d)
{
    int oh, ow;
    cf_error err;
    if (cf_transform_check(t, d->channels, d->height, d->width, &oh, &ow, &err)) return;
    float *out = malloc((size_t)d->channels * (size_t)oh * (size_t)ow * sizeof(float) + 1);
    if (!out) abort();
    cf_transform_datum(t, d, out);
    free(out);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    if (!dt_ntf) dt_setup();
    cf_datum d;
    cf_error err;
    if (cf_datum_decode(data, size, &d, &err)) return 0;
    size_t n = (size_t)d.channels * (size_t)d.height * (size_t)d.width;
    volatile float sum = 0;
    for (size_t i = 0; i < n; i++) sum += cf_datum_at(&d, i);
    for (int i = 0; i < dt_ntf; i++) dt_transform(&dt_tf[i], &d);
    size_t len;
    uint8_t *again = cf_datum_encode(&d, &len);
    if (again) {
        cf_datum e;
        if (cf_datum_decode(again, len, &e, &err) == 0) {
            if (e.channels != d.channels || e.height != d.height || e.width != d.width || e.label != d.label) abort();
            cf_datum_release(&e);
        }
        free(again);
    }
    cf_datum_release(&d);
    return 0;
}
