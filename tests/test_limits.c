/* test_limits.c — hostile sizes are refused with a message naming the
 * layer, before any allocation that could not be met: the memory limit
 * and its accounting (blob.h), a param too big (cf_layer_add_param), a
 * filled top too big (DummyData through cf_fill), a net whose blobs, or
 * blobs and gradients, do not fit (cf_net_build), an allocation refused
 * while running (cf_net_forward), and shapes whose count overflows.
 *
 * The limit is set by hand (cf_mem_set_limit) so that the messages are
 * the same on every machine; Criterion runs each test in its own process,
 * so a limit set here does not leak into another test. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "net.h"
#include "testutil.h"

#define GiB ((size_t)1 << 30)

static const char *build_error(const char *yaml, cf_phase phase, int *code)
{
    static char buf[2048];
    cf_error err;
    cf_net_opts o = {.phase = phase, .be = tu_backend(), .rng = tu_rng()};
    cf_net *n = cf_net_build(tu_yaml(yaml), &o, &err);
    cr_assert_null(n, "expected the net build to fail");
    if (code) *code = err.code;
    return cf_error_str(&err, buf, sizeof buf);
}

static cf_net *build(const char *yaml, cf_phase phase)
{
    cf_error err;
    char buf[2048];
    cf_net_opts o = {.phase = phase, .be = tu_backend(), .rng = tu_rng()};
    cf_net *n = cf_net_build(tu_yaml(yaml), &o, &err);
    if (!n) cr_assert_fail("net build failed: %s", cf_error_str(&err, buf, sizeof buf));
    return n;
}

/* Leave exactly 1 GiB free, whatever the process holds already (the
 * backend's buffers are made first). */
static void free_gib(void)
{
    tu_backend();
    cf_mem_set_limit(cf_mem_in_use() + GiB);
}

Test(mem, accounting_counts_and_releases)
{
    size_t before = cf_mem_in_use();
    cf_mem *m = cf_mem_new();
    cr_assert_not_null(cf_mem_host(m, 1000));
    cr_assert_eq(cf_mem_in_use() - before, 4000);
    cr_assert_not_null(cf_mem_host(m, 500)); /* fits: nothing new */
    cr_assert_eq(cf_mem_in_use() - before, 4000);
    cr_assert_not_null(cf_mem_host(m, 3000)); /* grows: counted once at the new size */
    cr_assert_eq(cf_mem_in_use() - before, 12000);
    cf_mem_unref(m);
    cr_assert_eq(cf_mem_in_use(), before);
}

Test(mem, refused_growth_keeps_the_old_buffer)
{
    cf_mem *m = cf_mem_new();
    float *p = cf_mem_host(m, 10);
    cr_assert_not_null(p);
    p[9] = 42;
    cf_mem_set_limit(cf_mem_in_use() + 1000);
    cr_assert_null(cf_mem_host(m, 1000)); /* 4000 bytes more: refused */
    cr_assert_eq(m->size, 10, "a refused growth must not change the size in use");
    cr_assert_eq(cf_mem_host(m, 10), p);
    cr_assert_eq(p[9], 42);
    cf_mem_set_limit(0);
    cf_mem_unref(m);
}

Test(mem, limit_sources)
{
    cf_mem_set_limit(12345);
    cr_assert_eq(cf_mem_limit(), 12345);
    cr_assert_str_eq(cf_mem_limit_source(), "cf_mem_set_limit");
    cf_mem_set_limit(0);
    setenv("CAFETUI_MEM_LIMIT", "512M", 1);
    cr_assert_eq(cf_mem_limit(), (size_t)512 << 20);
    cr_assert_str_eq(cf_mem_limit_source(), "CAFETUI_MEM_LIMIT");
    setenv("CAFETUI_MEM_LIMIT", "1.5G", 1);
    cr_assert_eq(cf_mem_limit(), (size_t)3 << 29);
    setenv("CAFETUI_MEM_LIMIT", "lots", 1); /* unreadable: ignored */
    cr_assert_str_neq(cf_mem_limit_source(), "CAFETUI_MEM_LIMIT");
    unsetenv("CAFETUI_MEM_LIMIT");
    cr_assert_str_eq(cf_mem_limit_source(), "physical memory");
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

Test(mem, ulimit_v_is_a_limit)
{
#ifdef UNDER_ASAN
    cr_skip_test("AddressSanitizer reserves terabytes of address space: RLIMIT_AS cannot be lowered under it");
#else
    struct rlimit rl = {(rlim_t)3 << 30, RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_AS, &rl), 0);
    cr_assert_eq(cf_mem_limit(), (size_t)3 << 30);
    cr_assert_str_eq(cf_mem_limit_source(), "ulimit -v");
    const char *e = build_error("layer:\n"
                                "  - {name: big, type: DummyData, top: data,\n"
                                "     dummy_data_param: {shape: {dim: [1000, 1000, 1000]}}}\n",
                                CF_TEST, NULL);
    cr_assert(strstr(e, "test.yaml:2:5: layer 'big': blob 'data' (1000 1000 1000 (1000000000)) needs 3.7 GiB, "
                        "more than the "),
              "%s", e);
    cr_assert(strstr(e, "of memory available (ulimit -v)"), "%s", e);
#endif
}

Test(mem, str)
{
    char b[32];
    cr_assert_str_eq(cf_mem_str(512, b, sizeof b), "512 bytes");
    cr_assert_str_eq(cf_mem_str(1536, b, sizeof b), "1.5 KiB");
    cr_assert_str_eq(cf_mem_str((size_t)3 << 20, b, sizeof b), "3.0 MiB");
    cr_assert_str_eq(cf_mem_str((size_t)4000000000, b, sizeof b), "3.7 GiB");
    cr_assert_str_eq(cf_mem_str(((size_t)1 << 30) - 16, b, sizeof b), "1.0 GiB"); /* not "1024.0 MiB" */
    cr_assert_str_eq(cf_mem_str(1023, b, sizeof b), "1023 bytes");
}

/* num_output 5e8 on four inputs: a weight of 2e9 floats (7.5 GiB) fits
 * the element count but not the memory. */
Test(limits, param_too_big_for_memory)
{
    free_gib();
    int shape[2] = {1, 4};
    cf_blob *x = tu_blob("x", 2, shape, -1, 1, 1), *y = cf_blob_new("y");
    const char *e = tu_layer_error("{name: ip, type: InnerProduct,\n"
                                   " inner_product_param: {num_output: 500000000}}",
                                   CF_TRAIN, &x, 1, &y, 1);
    cr_assert_str_eq(e, "test.yaml:1:1: layer 'ip': param 0 (500000000 4 (2000000000)) needs 7.5 GiB, "
                        "more than the 1.0 GiB of memory available (cf_mem_set_limit)");
    cf_blob_free(x);
    cf_blob_free(y);
}

/* num_output 5e8 on five inputs: 2.5e9 elements do not fit an int index. */
Test(limits, param_count_overflow)
{
    int shape[2] = {1, 5};
    cf_blob *x = tu_blob("x", 2, shape, -1, 1, 1), *y = cf_blob_new("y");
    const char *e = tu_layer_error("{name: ip, type: InnerProduct,\n"
                                   " inner_product_param: {num_output: 500000000}}",
                                   CF_TRAIN, &x, 1, &y, 1);
    cr_assert_str_eq(e, "test.yaml:1:1: layer 'ip': blob 'ip.0': shape too large (over 2147483647 elements)");
    cf_blob_free(x);
    cf_blob_free(y);
}

Test(limits, top_count_overflow)
{
    const char *e = build_error("layer:\n"
                                "  - {name: big, type: DummyData, top: data,\n"
                                "     dummy_data_param: {shape: {dim: [100000, 100000, 100000]}}}\n",
                                CF_TEST, NULL);
    cr_assert(strstr(e, "layer 'big'") && strstr(e, "shape too large (over 2147483647 elements)"), "%s", e);
}

Test(limits, filled_top_too_big)
{
    free_gib();
    int code;
    const char *e = build_error("layer:\n"
                                "  - {name: big, type: DummyData, top: data,\n"
                                "     dummy_data_param: {shape: {dim: [1000, 1000, 1000]}}}\n",
                                CF_TEST, &code);
    cr_assert_str_eq(e, "test.yaml:2:5: layer 'big': blob 'data' (1000 1000 1000 (1000000000)) needs 3.7 GiB, "
                        "more than the 1.0 GiB of memory available (cf_mem_set_limit)");
    cr_assert_eq(code, CF_EINPUT);
    cr_assert_lt(cf_mem_in_use(), (size_t)1 << 20, "nothing big was allocated");
}

/* A top is allocated only by the first forward: the net refuses what
 * cannot fit at build time, at the layer that tips it over, naming the
 * biggest blob (which may be another layer's). */
Test(limits, net_blobs_too_big)
{
    tu_backend();
    cf_mem_set_limit(cf_mem_in_use() + 4 * GiB);
    const char *e = build_error("layer:\n"
                                "  - {name: a, type: Input, top: a, input_param: {shape: {dim: [600, 1000, 1000]}}}\n"
                                "  - {name: b, type: Input, top: b, input_param: {shape: {dim: [500, 1000, 1000]}}}\n",
                                CF_TEST, NULL);
    cr_assert_str_eq(e, "test.yaml:3:5: layer 'b': the net's blobs up to this layer need 4.1 GiB, more than the "
                        "4.0 GiB of memory available (cf_mem_set_limit); the biggest is top 'a' of layer 'a' "
                        "(600 1000 1000 (600000000), 2.2 GiB)");
}

Test(limits, net_blob_too_big_after_a_layer)
{
    free_gib();
    const char *e = build_error("layer:\n"
                                "  - {name: data, type: Input, top: data, input_param: {shape: {dim: [100, 1]}}}\n"
                                "  - {name: ip, type: InnerProduct, bottom: data, top: ip,\n"
                                "     inner_product_param: {num_output: 1000000}}\n"
                                "  - {name: tile, type: Tile, bottom: ip, top: t, tile_param: {tiles: 10}}\n",
                                CF_TEST, NULL);
    cr_assert(strstr(e, "test.yaml:5:5: layer 'tile': the net's blobs up to this layer need 4.1 GiB, more than the "),
              "%s", e);
    cr_assert(strstr(e, " of memory available (cf_mem_set_limit); the biggest is top 't' of layer 'tile' "
                        "(100 10000000 (1000000000), 3.7 GiB)"),
              "%s", e);
}

/* Data fits (610 MiB) but with the gradients backward writes (610 MiB
 * more, asked for by force_backward) the training net does not; the same
 * net without gradients builds. */
static const char *two_inputs = "force_backward: %s\n"
                                "layer:\n"
                                "  - {name: input, type: Input, top: [a, b],\n"
                                "     input_param: {shape: {dim: [2, 40000000]}}}\n"
                                "  - {name: loss, type: EuclideanLoss, bottom: [a, b], top: loss}\n";

Test(limits, net_gradients_too_big)
{
    free_gib();
    char y[512];
    snprintf(y, sizeof y, two_inputs, "true");
    const char *e = build_error(y, CF_TRAIN, NULL);
    cr_assert_str_eq(e, "test.yaml:3:5: layer 'input': the net's blobs and their gradients need 1.2 GiB, more than "
                        "the 1.0 GiB of memory available (cf_mem_set_limit); the biggest is top 'a' of layer 'input' "
                        "(2 40000000 (80000000), 305.2 MiB)");
    snprintf(y, sizeof y, two_inputs, "false");
    cf_net_free(build(y, CF_TRAIN));
}

/* A refusal while running (the limit lowered after the build, as another
 * allocation could have taken the room) is an error naming the layer and
 * the blob, not a NULL pointer. */
Test(limits, forward_refused)
{
    cf_net *n = build("layer:\n"
                      "  - {name: data, type: Input, top: data, input_param: {shape: {dim: [10, 4]}}}\n"
                      "  - {name: ip, type: InnerProduct, bottom: data, top: ip,\n"
                      "     inner_product_param: {num_output: 3}}\n",
                      CF_TEST);
    cf_mem_set_limit(1);
    cf_error err;
    char buf[1024];
    cr_assert_eq(cf_net_forward(n, NULL, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, buf, sizeof buf),
                     "test.yaml:2:5: layer 'data': top 'data' (10 4 (40)) needs 160 bytes, more than the 0 bytes of "
                     "memory available (cf_mem_set_limit)");
    cr_assert_eq(err.code, CF_ERUNTIME);
    cf_mem_set_limit(0);
    cr_assert_eq(cf_net_forward(n, NULL, &err), 0);
    cf_net_free(n);
}

/* In training the gradient a loss writes is allocated before the loss
 * runs: a refusal names it. */
Test(limits, gradient_refused)
{
    cf_net *n = build("layer:\n"
                      "  - {name: data, type: Input, top: [x, y], input_param: {shape: {dim: [10, 4]}}}\n"
                      "  - {name: ip, type: InnerProduct, bottom: x, top: ip,\n"
                      "     inner_product_param: {num_output: 4}}\n"
                      "  - {name: loss, type: EuclideanLoss, bottom: [ip, y], top: loss}\n",
                      CF_TRAIN);
    cf_error err;
    char buf[1024];
    /* room for the data of x, y and ip (3 × 160 bytes), not for ip's gradient */
    cf_mem_set_limit(cf_mem_in_use() + 3 * 160);
    cr_assert_eq(cf_net_forward(n, NULL, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, buf, sizeof buf),
                     "test.yaml:3:5: layer 'ip': gradient of top 'ip' (10 4 (40)) needs 160 bytes, more than the "
                     "0 bytes of memory available (cf_mem_set_limit)");
    cf_mem_set_limit(0);
    cf_net_free(n);
}

/* A param that no backward writes (here: no loss, so no backward at all)
 * still has a diff the solver reads, made when the diffs are zeroed: a
 * refusal there names the layer and the param (it was a NULL handed to
 * memset), and the build counts those diffs among the gradients. */
Test(limits, param_gradient_refused_off_the_loss_path)
{
    const char *y = "layer:\n"
                    "  - {name: data, type: Input, top: x, input_param: {shape: {dim: [10, 4]}}}\n"
                    "  - {name: ip, type: InnerProduct, bottom: x, top: ip,\n"
                    "     inner_product_param: {num_output: 100, bias_term: false}}\n";
    cf_net *n = build(y, CF_TRAIN);
    cf_error err;
    char buf[1024];
    cr_assert_eq(cf_net_forward(n, NULL, &err), 0, "%s", cf_error_str(&err, buf, sizeof buf));
    cf_mem_set_limit(cf_mem_in_use() + 100);
    cr_assert_eq(cf_net_clear_param_diffs(n, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, buf, sizeof buf),
                     "test.yaml:3:5: layer 'ip': gradient of param 'ip.0' (100 4 (400)) needs 1.6 KiB, more than the "
                     "100 bytes of memory available (cf_mem_set_limit)");
    cr_assert_eq(err.code, CF_ERUNTIME);
    cr_assert_eq(cf_net_clear_param_diffs(n, NULL), -1);
    cf_mem_set_limit(0);
    cr_assert_eq(cf_net_clear_param_diffs(n, &err), 0);
    cr_assert_eq(cf_blob_diff(n->params[0].blob)[399], 0.0f);
    cf_net_free(n);
}
