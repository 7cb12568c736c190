/* fuzz_idx.c — MNIST IDX files (plain or gzip): the bytes read as an
 * image file and as a label file; what loads is read to the end. */
#include "fuzz_common.h"
#include "idx.h"

/* tests/test_fuzz_regress.c includes the harnesses under other names */
#ifndef FUZZ_ENTRY
#define FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif

static void idx_read_as(const char *path, int magic)
{
    cf_idx x;
    cf_error err;
    if (cf_idx_read(path, magic, &x, &err)) return;
    volatile unsigned sum = 0;
    size_t n = (size_t)x.dims[0] * x.item_size;
    for (size_t i = 0; i < n; i++) sum += x.data[i];
    cf_idx_free(&x);
}

int FUZZ_ENTRY(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("f.idx", data, size);
    idx_read_as(path, CF_IDX_IMAGES);
    idx_read_as(path, CF_IDX_LABELS);
    return 0;
}
