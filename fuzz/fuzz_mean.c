/* fuzz_mean.c — a mean file (.binaryproto, a BlobProto): legacy
 * num/channels/height/width or a shape, float or double values; what
 * loads is read whole and written back. */
#include "fuzz_common.h"
#include "mean_file.h"

/* tests/test_fuzz_regress.c includes the harnesses under other names */
#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("mean.binaryproto", data, size);
    cf_mean m;
    cf_error err;
    if (cf_mean_load(path, &m, &err)) return 0;
    volatile float sum = 0;
    size_t n = (size_t)m.channels * (size_t)m.height * (size_t)m.width;
    for (size_t i = 0; i < n; i++) sum += m.data[i];
    char out[600];
    snprintf(out, sizeof out, "%s/out.binaryproto", fuzz_dir());
    (void)cf_mean_save(out, &m, &err);
    cf_mean_free(&m);
    return 0;
}
