/* test_fuzz_regress.c — every input that ever crashed a reader under the
 * fuzzers (fuzz/), and hostile inputs made by hand, kept under
 * tests/fixtures/fuzz/<reader>/ and replayed here:
 *
 *   1. through the fuzz harness itself (the same calls as when it was
 *      found: a crash fails the test as a crash, and under
 *      ./configure --enable-sanitizers a memory error or leak does too);
 *   2. through the reader's main entry point, which must refuse it with
 *      an error (or accept it, for a name ending in ".ok": inputs that
 *      are valid but once crashed something), and when a file NAME.expect
 *      sits beside it, with exactly that message (the input's own path
 *      written as FILE).
 *
 * The harness sources are included here under other entry-point names
 * (each harness's statics carry its own prefix, so they live together). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define FUZZ_ENTRY fuzz_yaml_one
#include "../fuzz/fuzz_yaml.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_prototxt_one
#include "../fuzz/fuzz_prototxt.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_caffemodel_one
#include "../fuzz/fuzz_caffemodel.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_datum_one
#include "../fuzz/fuzz_datum.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_idx_one
#include "../fuzz/fuzz_idx.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_hdf5_one
#include "../fuzz/fuzz_hdf5.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_mean_one
#include "../fuzz/fuzz_mean.c"
#undef FUZZ_ENTRY
#define FUZZ_ENTRY fuzz_recipe_one
#include "../fuzz/fuzz_recipe.c"
#undef FUZZ_ENTRY

/* ---- the readers' entry points: 0, or -1 with the message in msg ---- */

typedef int (*reader_fn)(const char *path, const uint8_t *data, size_t size, cf_error *err);

static int read_yaml(const char *path, const uint8_t *data, size_t size, cf_error *err)
{
    cf_node *n = cf_yaml_parse_file(path, err);
    cf_node_free(n);
    return n ? 0 : -1;
}

static int read_prototxt(const char *path, const uint8_t *data, size_t size, cf_error *err)
{
    cf_node *n = cf_prototxt_parse_file(path, err);
    cf_node_free(n);
    return n ? 0 : -1;
}

static int read_caffemodel(const char *path, const uint8_t *data, size_t size, cf_error *err)
{
    cf_solver *s = fuzz_solver(tu_backend());
    int rc = cf_net_load_weights(s->net, path, err);
    cf_solver_free(s);
    return rc;
}

static int read_datum(const char *path, const uint8_t *data, size_t size, cf_error *err)
{
    cf_datum d;
    if (cf_datum_decode(data, size, &d, err)) return -1;
    cf_datum_release(&d);
    return 0;
}

/* Label files are named labels*, the rest are read as image files. */
static int read_idx(const char *path, const uint8_t *data, size_t size, cf_error *err)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    cf_idx x;
    if (cf_idx_read(path, strncmp(base, "labels", 6) ? CF_IDX_IMAGES : CF_IDX_LABELS, &x, err)) return -1;
    cf_idx_free(&x);
    return 0;
}

/* As weights (every HDF5 reader goes through the same dataset reader),
 * then as a snapshot when the weights load. */
static int read_hdf5(const char *path, const uint8_t *data, size_t size, cf_error *err)
{
    cf_solver *s = fuzz_solver(tu_backend());
    int rc = cf_net_load_weights(s->net, path, err);
    if (rc == 0) rc = cf_snapshot_load(s, path, err);
    cf_solver_free(s);
    return rc;
}

static int read_mean(const char *path, const uint8_t *data, size_t size, cf_error *err)
{
    cf_mean m;
    if (cf_mean_load(path, &m, err)) return -1;
    cf_mean_free(&m);
    return 0;
}

/* As the recipe harness: 'P' then prototxt, else YAML after the first
 * byte; loaded, and the solver (or the nets) built and run once. */
static int read_recipe(const char *path, const uint8_t *data, size_t size, cf_error *err)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/%s", tu_tmpdir(), size && data[0] == 'P' ? "FILE.prototxt" : "FILE.yaml");
    FILE *f = fopen(tmp, "wb");
    cr_assert_not_null(f);
    if (size > 1) fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    cf_recipe r;
    if (cf_recipe_load(tmp, &r, err)) return -1;
    int rc = 0;
    if (r.solver) {
        cf_solver_opts o = {.be = tu_backend(), .max_iter = -1, .base_lr = -1, .seed = 1};
        cf_solver *s = cf_solver_new(r.solver, r.net, &o, err);
        float loss;
        rc = !s || cf_net_forward(s->net, &loss, err) ? -1 : 0;
        cf_solver_free(s);
    } else {
        cf_net_opts o = {.phase = CF_TRAIN, .be = tu_backend(), .rng = tu_rng()};
        cf_net *n = cf_net_build(r.net, &o, err);
        float loss;
        rc = !n || cf_net_forward(n, &loss, err) ? -1 : 0;
        cf_net_free(n);
    }
    cf_recipe_free(&r);
    return rc;
}

/* ---- replaying a directory ---- */

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len + 1);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    b[*len] = 0;
    return b;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* The message with every occurrence of the input's path (and of the
 * recipe's temporary copy) written FILE. */
static void normalise(char *msg, const char *path)
{
    const char *pats[2] = {path, tu_tmpdir()};
    for (int k = 0; k < 2; k++) {
        char *p;
        size_t n = strlen(pats[k]);
        while (n && (p = strstr(msg, pats[k]))) {
            const char *rest = p + n;
            if (k == 1 && *rest == '/') rest++; /* tmpdir/FILE.yaml -> FILE.yaml */
            memmove(p + (k == 0 ? 4 : 0), rest, strlen(rest) + 1);
            if (k == 0) memcpy(p, "FILE", 4);
        }
    }
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void replay(const char *reader, int (*harness)(const uint8_t *, size_t), reader_fn read)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", tu_src("tests/fixtures/fuzz/"));
    strncat(dir, reader, sizeof dir - strlen(dir) - 1);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "no regression inputs in %s", dir);
    char *names[512];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 512)
        if (e->d_name[0] != '.' && !ends_with(e->d_name, ".expect")) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, compare_names);
    cr_assert_gt(n, 0, "no regression inputs in %s", dir);
    for (int i = 0; i < n; i++) {
        char path[2048], exp_path[2100];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        cr_log_info("%s/%s", reader, names[i]);
        size_t len;
        uint8_t *data = slurp(path, &len);
        harness(data, len);
        cf_error err;
        cf_error_clear(&err);
        int rc = read(path, data, len, &err);
        char msg[2048];
        cf_error_str(&err, msg, sizeof msg);
        normalise(msg, path);
        if (ends_with(names[i], ".ok")) {
            cr_expect_eq(rc, 0, "%s/%s should load, got: %s", reader, names[i], msg);
        } else {
            cr_expect_neq(rc, 0, "%s/%s should be refused", reader, names[i]);
            cr_expect(msg[0], "%s/%s: refused without a message", reader, names[i]);
            snprintf(exp_path, sizeof exp_path, "%s.expect", path);
            FILE *ef = fopen(exp_path, "r");
            if (ef) {
                fclose(ef);
                size_t el;
                char *want = (char *)slurp(exp_path, &el);
                while (el && want[el - 1] == '\n') want[--el] = 0;
                cr_expect_str_eq(msg, want, "%s/%s:\n got: %s\nwant: %s", reader, names[i], msg, want);
                free(want);
            }
        }
        free(data);
        free(names[i]);
    }
}

Test(fuzz_regress, yaml) { replay("yaml", fuzz_yaml_one, read_yaml); }
Test(fuzz_regress, prototxt) { replay("prototxt", fuzz_prototxt_one, read_prototxt); }
Test(fuzz_regress, caffemodel) { replay("caffemodel", fuzz_caffemodel_one, read_caffemodel); }
Test(fuzz_regress, datum) { replay("datum", fuzz_datum_one, read_datum); }
Test(fuzz_regress, idx) { replay("idx", fuzz_idx_one, read_idx); }
Test(fuzz_regress, hdf5) { replay("hdf5", fuzz_hdf5_one, read_hdf5); }
Test(fuzz_regress, mean) { replay("mean", fuzz_mean_one, read_mean); }
Test(fuzz_regress, recipe) { replay("recipe", fuzz_recipe_one, read_recipe); }
