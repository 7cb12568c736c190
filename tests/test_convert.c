/* test_convert.c — `cafetui convert`: every Caffe prototxt fixture goes
 * to YAML and back to prototxt, and each text parses to a tree equal to
 * the original (same keys, values in the same order, quotedness aside). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "testutil.h"

static bool same(const cf_node *a, const cf_node *b, char *why, size_t n);

/* The values under each key, lists flattened: `top: a top: b` == `top: [a, b]`. */
static size_t flat(const cf_node *m, const char *key, const cf_node **out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < m->nchild; i++) {
        const cf_node *c = m->child[i];
        if (!c->key || strcmp(c->key, key)) continue;
        if (c->kind == CF_NODE_SEQ)
            for (size_t j = 0; j < c->nchild && k < max; j++) out[k++] = c->child[j];
        else if (k < max) out[k++] = c;
    }
    return k;
}

static bool same(const cf_node *a, const cf_node *b, char *why, size_t n)
{
    if (a->kind == CF_NODE_SCALAR || b->kind == CF_NODE_SCALAR) {
        if (a->kind != b->kind || strcmp(a->value, b->value)) {
            snprintf(why, n, "%d:%d '%s' vs '%s'", a->line, a->col, a->value ? a->value : "(map)", b->value ? b->value : "(map)");
            return false;
        }
        return true;
    }
    const cf_node *va[4096], *vb[4096];
    for (size_t i = 0; i < a->nchild; i++) {
        const char *k = a->child[i]->key;
        if (!k) continue;
        size_t na = flat(a, k, va, 4096), nb = flat(b, k, vb, 4096);
        if (na != nb) {
            snprintf(why, n, "%d:%d key '%s': %zu values vs %zu", a->child[i]->line, a->child[i]->col, k, na, nb);
            return false;
        }
        for (size_t j = 0; j < na; j++)
            if (!same(va[j], vb[j], why, n)) return false;
    }
    for (size_t i = 0; i < b->nchild; i++)
        if (b->child[i]->key && !flat(a, b->child[i]->key, va, 1)) {
            snprintf(why, n, "extra key '%s'", b->child[i]->key);
            return false;
        }
    return true;
}

static char *emit(const cf_node *n, bool yaml)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (yaml) cf_emit_yaml(f, n);
    else cf_emit_prototxt(f, n);
    fclose(f);
    return buf;
}

static int round_trip(const char *path)
{
    cf_error err;
    char buf[2048], why[512] = "";
    cf_node *orig = cf_prototxt_parse_file(path, &err);
    if (!orig) cr_assert_fail("%s", cf_error_str(&err, buf, sizeof buf));
    char *y = emit(orig, true);
    cf_node *fromy = cf_yaml_parse_string(y, "converted.yaml", &err);
    if (!fromy) cr_assert_fail("%s: YAML does not parse: %s\n%s", path, cf_error_str(&err, buf, sizeof buf), y);
    cr_assert(same(orig, fromy, why, sizeof why), "%s → YAML differs: %s", path, why);
    char *p = emit(fromy, false);
    cf_node *back = cf_prototxt_parse_string(p, "back.prototxt", &err);
    if (!back) cr_assert_fail("%s: prototxt does not parse: %s", path, cf_error_str(&err, buf, sizeof buf));
    cr_assert(same(orig, back, why, sizeof why), "%s → YAML → prototxt differs: %s", path, why);
    free(y);
    free(p);
    cf_node_free(orig);
    cf_node_free(fromy);
    cf_node_free(back);
    return 1;
}

Test(convert, every_caffe_prototxt_survives_yaml_and_back)
{
    const char *dirs[] = {"tests/fixtures/caffe", "tests/fixtures/caffe/examples/mnist",
                          "tests/fixtures/caffe/examples/cifar10", "tests/fixtures/caffe/examples/siamese"};
    int n = 0;
    for (int d = 0; d < 4; d++) {
        char dir[2048];
        snprintf(dir, sizeof dir, "%s", tu_src(dirs[d]));
        DIR *D = opendir(dir);
        cr_assert_not_null(D, "%s", dir);
        struct dirent *e;
        while ((e = readdir(D))) {
            size_t l = strlen(e->d_name);
            if (l < 9 || strcmp(e->d_name + l - 9, ".prototxt")) continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            n += round_trip(path);
        }
        closedir(D);
    }
    cr_assert_geq(n, 20, "only %d files found", n);
}

Test(convert, strings_that_look_like_other_things_stay_strings)
{
    cf_node *t = tu_yaml("name: \"123\"\nflag: \"true\"\nlabel: 'a: b'\nenum: MAX\nlist: [x, 'y z']\n");
    char *y = emit(t, true);
    cf_node *u = cf_yaml_parse_string(y, "x.yaml", NULL);
    cr_assert_not_null(u, "%s", y);
    cr_assert(cf_node_get(u, "name")->quoted);
    cr_assert(cf_node_get(u, "flag")->quoted);
    cr_assert_str_eq(cf_node_get(u, "label")->value, "a: b");
    char *p = emit(t, false);
    cr_assert(strstr(p, "enum: MAX\n"), "enum stays bare:\n%s", p);
    cr_assert(strstr(p, "name: \"123\"\n"), "name stays a string:\n%s", p);
    free(y);
    free(p);
}
