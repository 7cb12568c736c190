/* gpu_none.c — gpu.h in a build without CUDA: every GPU request gets the
 * same one-line reason, and nothing here touches CUDA. */
#include "cuda/gpu.h"

#include <string.h>

#define NO_GPU "this build has no GPU backend (rebuild with ./configure --with-cuda)"

bool cf_gpu_built(void) { return false; }

int cf_gpu_count(cf_error *err)
{
    cf_error_set(err, CF_EINPUT, NO_GPU);
    return 0;
}

int cf_gpu_info_get(int device, cf_gpu_info *out, cf_error *err)
{
    (void)device;
    memset(out, 0, sizeof *out);
    return cf_error_set(err, CF_EINPUT, NO_GPU);
}

int cf_gpu_check(int device, cf_error *err)
{
    (void)device;
    return cf_error_set(err, CF_EINPUT, NO_GPU);
}

cf_backend *cf_backend_gpu_new(int device, int nthreads, cf_error *err)
{
    (void)device;
    (void)nthreads;
    cf_error_set(err, CF_EINPUT, NO_GPU);
    return NULL;
}

int cf_gpu_mem_get(const cf_backend *be, cf_gpu_mem *out)
{
    (void)be;
    memset(out, 0, sizeof *out);
    return -1;
}

const char *cf_gpu_describe(const cf_backend *be, char *buf, size_t n)
{
    (void)be;
    if (n) buf[0] = 0;
    return buf;
}

long cf_gpu_layer_passes(const cf_layer *l)
{
    (void)l;
    return -1;
}
