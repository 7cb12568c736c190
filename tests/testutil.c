/* testutil.c — see testutil.h. */
#include "testutil.h"

#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static cf_backend *be;
static cf_rng rng;
static int rng_ready;

cf_backend *tu_backend(void)
{
    if (!be) be = cf_backend_cpu_new(2);
    return be;
}

cf_rng *tu_rng(void)
{
    if (!rng_ready) {
        cf_rng_seed(&rng, 1701);
        rng_ready = 1;
    }
    return &rng;
}

/* Parsed trees live until the test process exits (layers keep pointers
 * into them), then are freed, so that LeakSanitizer (./configure
 * --enable-sanitizers) reports only real leaks. */
static cf_node **trees;
static size_t ntrees, trees_cap;

static void free_trees(void)
{
    for (size_t i = 0; i < ntrees; i++) cf_node_free(trees[i]);
    free(trees);
    trees = NULL;
    ntrees = trees_cap = 0;
}

cf_node *tu_yaml(const char *text)
{
    cf_error err;
    cf_node *n = cf_yaml_parse_string(text, "test.yaml", &err);
    if (!n) {
        char buf[2048];
        cr_assert_fail("YAML parse failed: %s", cf_error_str(&err, buf, sizeof buf));
    }
    if (ntrees == trees_cap) {
        if (!trees) atexit(free_trees);
        trees_cap = trees_cap ? 2 * trees_cap : 16;
        trees = realloc(trees, trees_cap * sizeof *trees);
        cr_assert_not_null(trees);
    }
    trees[ntrees++] = n;
    return n;
}

cf_layer *tu_layer(const char *yaml, cf_phase phase, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    cf_error err;
    char buf[2048];
    cf_node *n = tu_yaml(yaml);
    cf_layer *l = cf_layer_create(n, phase, tu_backend(), tu_rng(), &err);
    if (!l) cr_assert_fail("layer create failed: %s", cf_error_str(&err, buf, sizeof buf));
    if (cf_layer_setup(l, bottom, nb, top, nt, &err))
        cr_assert_fail("layer setup failed: %s", cf_error_str(&err, buf, sizeof buf));
    if (cf_node_check_unused(n, &err))
        cr_assert_fail("unused field: %s", cf_error_str(&err, buf, sizeof buf));
    return l;
}

const char *tu_layer_error(const char *yaml, cf_phase phase, cf_blob **bottom, int nb, cf_blob **top, int nt)
{
    static char buf[2048];
    cf_error err;
    cf_node *n = tu_yaml(yaml);
    cf_layer *l = cf_layer_create(n, phase, tu_backend(), tu_rng(), &err);
    if (!l) return cf_error_str(&err, buf, sizeof buf);
    int rc = cf_layer_setup(l, bottom, nb, top, nt, &err);
    if (rc == 0) rc = cf_node_check_unused(n, &err);
    cf_layer_free(l);
    if (rc == 0) cr_assert_fail("expected layer setup to fail:\n%s", yaml);
    return cf_error_str(&err, buf, sizeof buf);
}

void tu_fill(cf_blob *b, float lo, float hi, uint64_t seed)
{
    cf_rng r;
    cf_rng_seed(&r, seed);
    float *d = cf_blob_mdata(b);
    for (size_t i = 0; i < b->count; i++) d[i] = cf_rng_uniform(&r, lo, hi);
}

cf_blob *tu_blob(const char *name, int naxes, const int *shape, float lo, float hi, uint64_t seed)
{
    cf_blob *b = cf_blob_new(name);
    cr_assert_eq(cf_blob_reshape(b, naxes, shape, NULL), 0);
    tu_fill(b, lo, hi, seed);
    return b;
}

void tu_gradcheck(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, const bool *check_bottom,
                  double step, double threshold)
{
    cf_gradcheck_result r;
    cf_error err;
    char buf[2048];
    if (cf_gradcheck_layer(l, bottom, nb, top, nt, check_bottom, step, &r, &err))
        cr_assert_fail("gradcheck forward failed: %s", cf_error_str(&err, buf, sizeof buf));
    cr_assert_gt(r.checked, 0, "gradcheck checked nothing");
    cr_assert_leq(r.worst, threshold, "layer '%s': gradient error %g at %s (analytic %g, numeric %g)", l->name,
                  r.worst, r.where, r.analytic, r.numeric);
}

const char *tu_src(const char *rel)
{
    static char buf[4096];
    const char *s = getenv("CF_SRCDIR");
    snprintf(buf, sizeof buf, "%s/%s", s ? s : ".", rel);
    return buf;
}

static char tmpdir[256];

static void rm_tmpdir(void)
{
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd)) { /* best effort */ }
    }
}

const char *tu_tmpdir(void)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/cafetui-test-XXXXXX");
        cr_assert_not_null(mkdtemp(tmpdir));
        atexit(rm_tmpdir);
    }
    return tmpdir;
}

cf_blob *tu_blob_of(const char *name, int naxes, const int *shape, const float *v)
{
    cf_blob *b = cf_blob_new(name);
    cr_assert_eq(cf_blob_reshape(b, naxes, shape, NULL), 0);
    memcpy(cf_blob_mdata(b), v, b->count * sizeof *v);
    return b;
}

cf_blob *tu_blob4(const char *name, int n, int c, int h, int w, uint64_t seed)
{
    int shape[4] = {n, c, h, w};
    return tu_blob(name, 4, shape, -1, 1, seed);
}

cf_blob *tu_labels(int naxes, const int *shape, int C, uint64_t seed)
{
    cf_blob *b = cf_blob_new("label");
    cr_assert_eq(cf_blob_reshape(b, naxes, shape, NULL), 0);
    cf_rng r;
    cf_rng_seed(&r, seed);
    float *d = cf_blob_mdata(b);
    for (size_t i = 0; i < b->count; i++) d[i] = (float)cf_rng_below(&r, (uint32_t)C);
    return b;
}

void tu_fill_permutation(cf_blob *b, uint64_t seed)
{
    cf_rng r;
    cf_rng_seed(&r, seed);
    float *d = cf_blob_mdata(b);
    size_t n = b->count;
    for (size_t i = 0; i < n; i++) d[i] = (float)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = cf_rng_below(&r, (uint32_t)(i + 1));
        float t = d[i];
        d[i] = d[j];
        d[j] = t;
    }
    for (size_t i = 0; i < n; i++) d[i] = 0.1f * d[i] - 0.05f * (float)n;
}

void tu_set_data(cf_blob *b, const float *v) { memcpy(cf_blob_mdata(b), v, b->count * sizeof(float)); }

static void assert_values(const cf_blob *b, const float *d, const char *what, const float *want, double tol)
{
    for (size_t i = 0; i < b->count; i++)
        cr_assert(fabs(d[i] - want[i]) <= tol, "%s%s[%zu] = %.7g, want %.7g", b->name ? b->name : "blob", what, i,
                  d[i], want[i]);
}

void tu_assert_data(const cf_blob *b, const float *want, double tol) { assert_values(b, cf_blob_data(b), "", want, tol); }
void tu_assert_diff(const cf_blob *b, const float *want, double tol) { assert_values(b, cf_blob_diff(b), " diff", want, tol); }

void tu_forward(cf_layer *l, cf_blob **b, int nb, cf_blob **t, int nt)
{
    cf_error err;
    char buf[2048];
    if (l->ops->reshape(l, b, nb, t, nt, &err) || l->ops->forward(l, b, nb, t, nt, &err))
        cr_assert_fail("forward failed: %s", cf_error_str(&err, buf, sizeof buf));
}

const char *tu_forward_error(cf_layer *l, cf_blob **b, int nb, cf_blob **t, int nt)
{
    static char buf[2048];
    cf_error err;
    int rc = l->ops->reshape(l, b, nb, t, nt, &err);
    if (rc == 0) rc = l->ops->forward(l, b, nb, t, nt, &err);
    cr_assert_neq(rc, 0, "expected forward to fail");
    return cf_error_str(&err, buf, sizeof buf);
}

void tu_backward_with(cf_layer *l, cf_blob **t, int nt, float top_diff, const bool *prop, cf_blob **b, int nb)
{
    cf_blob_mdiff(t[0])[0] = top_diff;
    l->ops->backward(l, t, nt, prop, b, nb);
}

void tu_write_h5_rows(const char *path, int n, int file)
{
    float *d = malloc((size_t)n * 6 * sizeof *d), *lb = malloc((size_t)n * sizeof *lb);
    cr_assert(d && lb);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 6; j++) d[i * 6 + j] = sinf((float)(file * 1000 + i * 7 + j));
        lb[i] = (float)((i * 3 + file) % 5);
    }
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dd[2] = {(hsize_t)n, 6}, dl[1] = {(hsize_t)n};
    hid_t sd = H5Screate_simple(2, dd, NULL), sl = H5Screate_simple(1, dl, NULL);
    hid_t a = H5Dcreate2(f, "data", H5T_IEEE_F32LE, sd, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t b = H5Dcreate2(f, "label", H5T_IEEE_F32LE, sl, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(H5Dwrite(a, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, d) >= 0);
    cr_assert(H5Dwrite(b, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, lb) >= 0);
    H5Dclose(a);
    H5Dclose(b);
    H5Sclose(sd);
    H5Sclose(sl);
    H5Fclose(f);
    free(d);
    free(lb);
}
