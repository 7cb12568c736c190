/* test_synced_mem.c — the device side of blob memory (blob.h), checked
 * without a GPU: a pretend device whose memory is host memory and whose
 * hooks count what they do.  What a GPU backend relies on: a side is
 * copied only when the other is newer, each side is allocated on first
 * use, growth keeps the contents whichever side holds them, and shared
 * memory stays one buffer.  Runs in every build. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"

static struct {
    int allocs, frees, to_host, to_device, zeros;
    size_t live;        /* bytes allocated and not freed */
} dev;

static void *fake_alloc(size_t bytes)
{
    dev.allocs++;
    dev.live += bytes;
    return malloc(bytes);
}
static void fake_free(void *p, size_t bytes)
{
    dev.frees++;
    dev.live -= bytes;
    free(p);
}
static void fake_to_host(float *h, const void *d, size_t bytes) { dev.to_host++, memcpy(h, d, bytes); }
static void fake_to_device(void *d, const float *h, size_t bytes) { dev.to_device++, memcpy(d, h, bytes); }
static void fake_zero(void *d, size_t bytes) { dev.zeros++, memset(d, 0, bytes); }

static const cf_device_ops fake = {fake_alloc, fake_free, fake_to_host, fake_to_device, fake_zero};

static void reset(void) { memset(&dev, 0, sizeof dev); }

static cf_blob *blob(int n)
{
    cf_blob *b = cf_blob_new("b");
    cr_assert_eq(cf_blob_reshape(b, 1, &n, NULL), 0);
    return b;
}

TestSuite(synced_mem, .init = reset);

Test(synced_mem, copies_only_when_the_other_side_is_newer)
{
    cf_blob *b = blob(5);
    float *h = cf_blob_mdata(b);
    for (int i = 0; i < 5; i++) h[i] = (float)i + 1;
    const float *d = cf_blob_dev_data(b, &fake);
    cr_assert_eq(dev.to_device, 1);
    cr_assert_eq(d[4], 5.0f);
    cf_blob_dev_data(b, &fake);
    cf_blob_data(b);
    cr_assert_eq(dev.to_device, 1, "both sides current: no copy");
    cr_assert_eq(dev.to_host, 0);
    cr_assert_eq(b->data->head, CF_MEM_SYNCED);

    float *dm = cf_blob_dev_mdata(b, &fake);
    dm[2] = 30;
    cr_assert_eq(b->data->head, CF_MEM_DEVICE);
    cr_assert_eq(cf_blob_data(b)[2], 30.0f, "the host sees the device's write");
    cr_assert_eq(dev.to_host, 1);
    cf_blob_data(b);
    cf_blob_dev_data(b, &fake);
    cr_assert_eq(dev.to_host, 1);
    cr_assert_eq(dev.to_device, 1, "synced again: no copy either way");

    cf_blob_mdata(b)[0] = -1; /* host newest: the device copy is stale */
    cr_assert_eq(cf_blob_dev_data(b, &fake)[0], -1.0f);
    cr_assert_eq(dev.to_device, 2);
    cf_blob_free(b);
    cr_assert_eq(dev.frees, 1);
    cr_assert_eq(dev.live, 0);
}

Test(synced_mem, device_first_allocates_no_host_memory)
{
    cf_blob *b = blob(1000);
    float *d = cf_blob_dev_mdiff(b, &fake);
    cr_assert_not_null(d);
    cr_assert_null(b->diff->host);
    cr_assert_eq(dev.zeros, 1);
    for (int i = 0; i < 1000; i++) cr_assert_eq(d[i], 0.0f, "a new side starts as zeros");
    cr_assert_eq(dev.to_device + dev.to_host, 0);
    cr_assert_eq(cf_blob_dev_bytes(b), 1000 * sizeof(float));
    cr_assert_eq(cf_blob_bytes(b), 0, "no host memory held");
    d[999] = 7;
    cr_assert_eq(cf_blob_diff(b)[999], 7.0f);
    cr_assert_eq(cf_blob_bytes(b), 1000 * sizeof(float));
    cf_blob_free(b);
}

Test(synced_mem, growth_keeps_device_contents)
{
    cf_blob *b = blob(4);
    float *d = cf_blob_dev_mdata(b, &fake);
    for (int i = 0; i < 4; i++) d[i] = (float)(10 + i);
    int n = 64;
    cr_assert_eq(cf_blob_reshape(b, 1, &n, NULL), 0);
    const float *h = cf_blob_data(b); /* grows on the host: the device's values come along */
    for (int i = 0; i < 4; i++) cr_assert_eq(h[i], (float)(10 + i));
    for (int i = 4; i < 64; i++) cr_assert_eq(h[i], 0.0f);
    cr_assert_null(b->data->dev, "the old device side was too small: dropped");
    const float *d2 = cf_blob_dev_data(b, &fake);
    cr_assert_eq(d2[3], 13.0f);
    cr_assert_eq(b->data->cap, 64);
    cf_blob_free(b);
    cr_assert_eq(dev.live, 0);
}

Test(synced_mem, growth_from_the_device_side_keeps_host_contents)
{
    cf_blob *b = blob(3);
    float *h = cf_blob_mdata(b);
    h[0] = 1, h[1] = 2, h[2] = 3;
    cf_blob_dev_data(b, &fake);
    int n = 300;
    cr_assert_eq(cf_blob_reshape(b, 1, &n, NULL), 0);
    const float *d = cf_blob_dev_data(b, &fake);
    cr_assert_eq(d[2], 3.0f);
    cr_assert_eq(d[299], 0.0f);
    cr_assert_eq(dev.frees, 1, "the small device side was freed");
    cf_blob_free(b);
    cr_assert_eq(dev.live, 0);
}

Test(synced_mem, shrinking_keeps_the_buffers)
{
    cf_blob *b = blob(100);
    cf_blob_dev_mdata(b, &fake);
    int n = 10;
    cr_assert_eq(cf_blob_reshape(b, 1, &n, NULL), 0);
    cf_blob_dev_mdata(b, &fake);
    cf_blob_data(b);
    cr_assert_eq(dev.allocs, 1);
    cr_assert_eq(b->data->cap, 100);
    cf_blob_free(b);
}

Test(synced_mem, shared_memory_is_one_buffer)
{
    cf_blob *a = blob(6), *b = blob(6);
    cf_blob_share_data(b, a);
    cf_blob_dev_mdata(a, &fake)[5] = 42;
    cr_assert_eq(cf_blob_data(b)[5], 42.0f, "b reads what was written through a on the device");
    cr_assert_eq(dev.allocs, 1);
    cf_blob_free(a);
    cr_assert_eq(dev.frees, 0, "b still holds it");
    cf_blob_free(b);
    cr_assert_eq(dev.frees, 1);
}

Test(synced_mem, engine_buffers_on_the_device)
{
    cf_mem *m = cf_mem_new();
    float *d = cf_mem_dev(m, 16, &fake);
    cr_assert_not_null(d);
    cr_assert_eq(m->head, CF_MEM_DEVICE);
    d[0] = 3;
    cr_assert_eq(cf_mem_dev(m, 8, &fake), d, "a smaller request reuses the buffer");
    cr_assert_eq(cf_mem_host(m, 16)[0], 3.0f);
    cf_mem_unref(m);
    cr_assert_eq(dev.live, 0);
}
