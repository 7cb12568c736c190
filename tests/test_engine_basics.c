/* test_engine_basics.c — blobs, the config getters, fillers, backend math. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "testutil.h"

Test(blob, reshape_keeps_capacity_and_refuses_overflow)
{
    cf_blob *b = cf_blob_new("b");
    cr_assert_eq(cf_blob_reshape4(b, 2, 3, 4, 5, NULL), 0);
    float *p = cf_blob_mdata(b);
    cr_assert_eq(b->count, 120u);
    cr_assert_eq(cf_blob_reshape4(b, 1, 3, 4, 5, NULL), 0);
    cr_assert_eq(cf_blob_mdata(b), p, "shrinking keeps the memory");
    cf_error err;
    int big[3] = {1 << 20, 1 << 20, 4};
    cr_assert_eq(cf_blob_reshape(b, 3, big, &err), -1);
    cr_assert_str_eq(err.msg, "blob 'b': shape too large (over 2147483647 elements)");
    cr_assert_eq(b->count, 60u, "a failed reshape leaves the blob as it was");
    cf_blob_free(b);
}

Test(config, getters_name_the_position)
{
    cf_error err;
    char buf[512];
    cf_node *n = tu_yaml("a: 3\nb: abc\nc: [1, 2]\nd: {e: 1}\n");
    long v;
    cr_assert_eq(cf_get_int(n, "a", 0, &v, &err), 0);
    cr_assert_eq(v, 3);
    cr_assert_eq(cf_get_int(n, "b", 0, &v, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, buf, sizeof buf), "test.yaml:2:4: field 'b': expected an integer, got 'abc'");
    cr_assert_eq(cf_node_count(n, "c"), 2u);
    cr_assert_eq(cf_get_int(n, "c", 0, &v, &err), -1, "a list where one value is wanted");
    cr_assert_eq(cf_get_int(n, "zz", 7, &v, &err), 0);
    cr_assert_eq(v, 7, "default when absent");
}

Test(filler, xavier_and_msra_scales)
{
    cf_blob *b = cf_blob_new("w");
    cf_blob_reshape4(b, 50, 20, 5, 5, NULL); /* fan_in = 500 */
    cf_rng r;
    cf_rng_seed(&r, 1);
    cr_assert_eq(cf_fill(b, tu_yaml("type: xavier"), "constant", &r, NULL), 0);
    const float *w = cf_blob_data(b);
    double lim = sqrt(3.0 / 500), var = 0;
    for (size_t i = 0; i < b->count; i++) {
        cr_assert_leq(fabs(w[i]), lim);
        var += w[i] * w[i];
    }
    /* U[−s, s] has variance s²/3 = 1/fan_in */
    cr_assert_float_eq(var / b->count, 1.0 / 500, 0.05 / 500);
    cr_assert_eq(cf_fill(b, tu_yaml("type: msra"), "constant", &r, NULL), 0);
    var = 0;
    for (size_t i = 0; i < b->count; i++) var += w[i] * w[i];
    cr_assert_float_eq(var / b->count, 2.0 / 500, 0.1 / 500);
    cr_assert_eq(cf_fill(b, tu_yaml("type: positive_unitball"), "constant", &r, NULL), 0);
    for (int row = 0; row < 50; row++) {
        double s = 0;
        for (int k = 0; k < 500; k++) s += w[row * 500 + k];
        cr_assert_float_eq(s, 1.0, 1e-5);
    }
    cf_blob_free(b);
}

Test(backend, im2col_col2im_are_adjoint)
{
    /* <im2col(x), y> == <x, col2im(y)> for any x, y: col2im is im2col's transpose */
    cf_conv_geom g = {.N = 2, .C = 3, .H = 7, .W = 6, .kh = 3, .kw = 2, .ph = 1, .pw = 2, .sh = 2, .sw = 1, .dh = 2, .dw = 1};
    cf_conv_geom_out(&g);
    size_t ni = (size_t)g.N * g.C * g.H * g.W, nc = (size_t)g.C * g.kh * g.kw * g.N * g.Ho * g.Wo;
    int si[1] = {(int)ni}, sc[1] = {(int)nc};
    cf_blob *x = tu_blob("x", 1, si, -1, 1, 1), *y = tu_blob("y", 1, sc, -1, 1, 2);
    cf_blob *cx = cf_blob_new("cx"), *ty = cf_blob_new("ty");
    cf_blob_reshape(cx, 1, sc, NULL);
    cf_blob_reshape(ty, 1, si, NULL);
    cf_im2col(tu_backend(), &g, cf_blob_data(x), cf_blob_mdata(cx));
    cf_col2im(tu_backend(), &g, cf_blob_data(y), cf_blob_mdata(ty));
    double a = 0, b = 0;
    for (size_t i = 0; i < nc; i++) a += (double)cf_blob_data(cx)[i] * cf_blob_data(y)[i];
    for (size_t i = 0; i < ni; i++) b += (double)cf_blob_data(x)[i] * cf_blob_data(ty)[i];
    cr_assert_float_eq(a, b, 1e-4);
    /* one element by hand: row (c=1, i=2, j=1), column (n=1, y=1, x=3) reads
     * im[1][1][1·2 − 1 + 2·2][3·1 − 2 + 1·1] = im[1][1][5][2] */
    size_t P = (size_t)g.Ho * g.Wo, row = (1 * g.kh + 2) * g.kw + 1, col = 1 * P + 1 * g.Wo + 3;
    cr_assert_float_eq(cf_blob_data(cx)[row * g.N * P + col], cf_blob_data(x)[((1 * 3 + 1) * 7 + 5) * 6 + 2], 0);
}

Test(backend, gemm_row_major_with_transposes)
{
    float A[6] = {1, 2, 3, 4, 5, 6}; /* 2×3 */
    float B[6] = {1, 0, 0, 1, 1, 1}; /* 3×2 */
    float C[4] = {1, 1, 1, 1};
    cf_gemm(tu_backend(), false, false, 2, 2, 3, 1, A, B, 2, C);
    cr_assert_float_eq(C[0], 1 + 3 + 2, 0);
    cr_assert_float_eq(C[1], 2 + 3 + 2, 0);
    cr_assert_float_eq(C[2], 4 + 6 + 2, 0);
    cr_assert_float_eq(C[3], 5 + 6 + 2, 0);
    float D[9];
    cf_gemm(tu_backend(), true, false, 3, 3, 2, 1, A, A, 0, D); /* AᵀA */
    cr_assert_float_eq(D[0], 1 + 16, 0);
    cr_assert_float_eq(D[5], 2 * 3 + 5 * 6, 0);
}

Test(backend, threaded_gemm_blocks_match_a_plain_product)
{
    /* big enough to be split over the pool, with every transpose */
    const int M = 70, N = 333, K = 45;
    int sa[1] = {M * K}, sb[1] = {K * N}, sc[1] = {M * N};
    cf_blob *a = tu_blob("a", 1, sa, -1, 1, 1), *b = tu_blob("b", 1, sb, -1, 1, 2), *c = tu_blob("c", 1, sc, -1, 1, 3);
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        float *C = cf_blob_mdata(c);
        float *C0 = malloc(sizeof(float) * M * N);
        memcpy(C0, C, sizeof(float) * M * N);
        const float *A = cf_blob_data(a), *B = cf_blob_data(b);
        cf_gemm(tu_backend(), ta, tb, M, N, K, 0.5f, A, B, 2.0f, C);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0;
                for (int k = 0; k < K; k++)
                    s += (double)(ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
                cr_assert_float_eq(C[i * N + j], 0.5 * s + 2.0 * C0[i * N + j], 1e-4, "ta %d tb %d C[%d][%d]", ta, tb, i, j);
            }
        memcpy(C, C0, sizeof(float) * M * N);
        free(C0);
    }
}
