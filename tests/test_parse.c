/* test_parse.c — YAML and prototxt parsing, positions, error messages,
 * typed getters on parsed trees, the V1 net upgrade and recipe loading. */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"
#include "recipe.h"
#include "testutil.h"
#include "upgrade_v1.h"

/* ---- helpers ---- */

static char errbuf[4096];

static cf_node *pt(const char *text)
{
    cf_error err;
    cf_node *n = cf_prototxt_parse_string(text, "test.prototxt", &err);
    if (!n) cr_assert_fail("prototxt parse failed: %s", cf_error_str(&err, errbuf, sizeof errbuf));
    return n;
}

/* The message of a parse that must fail (code CF_EINPUT). */
static const char *pt_err(const char *text)
{
    cf_error err;
    cf_node *n = cf_prototxt_parse_string(text, "test.prototxt", &err);
    cr_assert_null(n, "expected the prototxt to be refused:\n%s", text);
    cr_assert_eq(err.code, CF_EINPUT);
    return cf_error_str(&err, errbuf, sizeof errbuf);
}

static const char *yaml_err(const char *text)
{
    cf_error err;
    cf_node *n = cf_yaml_parse_string(text, "test.yaml", &err);
    cr_assert_null(n, "expected the YAML to be refused:\n%s", text);
    cr_assert_eq(err.code, CF_EINPUT);
    return cf_error_str(&err, errbuf, sizeof errbuf);
}

static cf_node *file_tree(const char *rel)
{
    cf_error err;
    cf_node *n = cf_config_parse_file(tu_src(rel), &err);
    if (!n) cr_assert_fail("%s: %s", rel, cf_error_str(&err, errbuf, sizeof errbuf));
    return n;
}

/* Child lookups that do not mark anything asked or used. */
static size_t nvalues(const cf_node *m, const char *key)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nchild; i++)
        if (m->child[i]->key && !strcmp(m->child[i]->key, key))
            n += m->child[i]->kind == CF_NODE_SEQ ? m->child[i]->nchild : 1;
    return n;
}

static const cf_node *value(const cf_node *m, const char *key, size_t idx)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nchild; i++) {
        const cf_node *c = m->child[i];
        if (!c->key || strcmp(c->key, key)) continue;
        if (c->kind == CF_NODE_SEQ) {
            if (idx < n + c->nchild) return c->child[idx - n];
            n += c->nchild;
        } else if (n++ == idx) {
            return c;
        }
    }
    return NULL;
}

/* Walk a path like "layer[2].convolution_param.num_output" (no marking). */
static const cf_node *walk(const cf_node *n, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *tok = strtok(buf, "."); tok && n; tok = strtok(NULL, ".")) {
        size_t idx = 0;
        char *br = strchr(tok, '[');
        if (br) {
            idx = strtoul(br + 1, NULL, 10);
            *br = 0;
        }
        n = value(n, tok, idx);
    }
    cr_assert_not_null(n, "no node at %s", path);
    return n;
}

/* Tree equality as protobuf sees it: the values of one field keep their
 * order, different fields may come in any order, and a YAML list under a
 * key equals the same key repeated.  Positions are ignored; `quoting`
 * also compares the quoted flag.  On a difference, *why names the path. */
static bool tree_eq(const cf_node *a, const cf_node *b, bool quoting, const char *path, char *why, size_t n)
{
    if (a->kind != b->kind) {
        snprintf(why, n, "%s: kinds differ", path);
        return false;
    }
    if (a->kind == CF_NODE_SCALAR) {
        if (strcmp(a->value, b->value) || (quoting && a->quoted != b->quoted)) {
            snprintf(why, n, "%s: %s%s%s vs %s%s%s", path, a->quoted ? "\"" : "", a->value, a->quoted ? "\"" : "",
                     b->quoted ? "\"" : "", b->value, b->quoted ? "\"" : "");
            return false;
        }
        return true;
    }
    if (a->kind == CF_NODE_SEQ) {
        if (a->nchild != b->nchild) {
            snprintf(why, n, "%s: %zu vs %zu items", path, a->nchild, b->nchild);
            return false;
        }
        for (size_t i = 0; i < a->nchild; i++) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            if (!tree_eq(a->child[i], b->child[i], quoting, sub, why, n)) return false;
        }
        return true;
    }
    for (int side = 0; side < 2; side++) {
        const cf_node *x = side ? b : a, *y = side ? a : b;
        for (size_t i = 0; i < x->nchild; i++) {
            const char *key = x->child[i]->key;
            size_t cx = nvalues(x, key), cy = nvalues(y, key);
            if (cx != cy) {
                snprintf(why, n, "%s.%s: %zu vs %zu values", path, key, side ? cy : cx, side ? cx : cy);
                return false;
            }
            if (side) continue; /* values compared once, from a's side */
            for (size_t k = 0; k < cx; k++) {
                char sub[512];
                snprintf(sub, sizeof sub, "%s.%s[%zu]", path, key, k);
                if (!tree_eq(value(x, key, k), value(y, key, k), quoting, sub, why, n)) return false;
            }
        }
    }
    return true;
}

static void assert_tree_eq(const cf_node *a, const cf_node *b, bool quoting)
{
    char why[1024] = "";
    cr_assert(tree_eq(a, b, quoting, "", why, sizeof why), "trees differ at %s", why);
}

static void assert_pos(const cf_node *n, int line, int col, int key_line, int key_col)
{
    cr_assert(n->line == line && n->col == col && n->key_line == key_line && n->key_col == key_col,
              "'%s' at %d:%d (key %d:%d), expected %d:%d (key %d:%d)", n->key ? n->key : "-", n->line, n->col,
              n->key_line, n->key_col, line, col, key_line, key_col);
}

/* ---- prototxt ---- */

static const char conv1_prototxt[] = "layer {\n"
                                     "  name: \"conv1\"\n"
                                     "  type: \"Convolution\"\n"
                                     "  bottom: \"data\"\n"
                                     "  top: \"conv1\"\n"
                                     "  param { lr_mult: 1 }\n"
                                     "  param { lr_mult: 2 }\n"
                                     "  convolution_param {\n"
                                     "    num_output: 20\n"
                                     "    kernel_size: 5\n"
                                     "    stride: 1\n"
                                     "    weight_filler { type: \"xavier\" }\n"
                                     "    bias_filler { type: \"constant\" }\n"
                                     "  }\n"
                                     "}\n";

static const char conv1_yaml[] = "layer:\n"
                                 "  - name: conv1\n"
                                 "    type: Convolution\n"
                                 "    bottom: data\n"
                                 "    top: conv1\n"
                                 "    param: [{lr_mult: 1}, {lr_mult: 2}]\n"
                                 "    convolution_param:\n"
                                 "      num_output: 20\n"
                                 "      kernel_size: 5\n"
                                 "      stride: 1\n"
                                 "      weight_filler: {type: xavier}\n"
                                 "      bias_filler: {type: constant}\n";

Test(prototxt, same_tree_as_yaml)
{
    cf_node *p = pt(conv1_prototxt), *y = tu_yaml(conv1_yaml);
    assert_tree_eq(p, y, false);
    /* the comparison does look at values: a different num_output differs */
    cf_node *y2 = tu_yaml("layer:\n  - name: conv1\n    type: Convolution\n"
                          "    bottom: data\n    top: conv1\n"
                          "    param: [{lr_mult: 1}, {lr_mult: 2}]\n"
                          "    convolution_param: {num_output: 21, kernel_size: 5, stride: 1,\n"
                          "                        weight_filler: {type: xavier}, bias_filler: {type: constant}}\n");
    char why[1024];
    cr_assert_not(tree_eq(p, y2, false, "", why, sizeof why));
    cr_assert_str_eq(why, ".layer[0].convolution_param[0].num_output[0]: 20 vs 21");
    /* quoting: prototxt strings are quoted, YAML plain scalars are not */
    cr_assert_not(tree_eq(p, y, true, "", why, sizeof why));
    cf_node_free(p);
}

Test(prototxt, positions)
{
    cf_node *p = pt(conv1_prototxt);
    const cf_node *layer = walk(p, "layer");
    assert_pos(layer, 1, 1, 1, 1);
    assert_pos(walk(p, "layer.name"), 2, 9, 2, 3);
    assert_pos(walk(p, "layer.param[1]"), 7, 3, 7, 3);
    assert_pos(walk(p, "layer.param[1].lr_mult"), 7, 20, 7, 11);
    assert_pos(walk(p, "layer.convolution_param"), 8, 3, 8, 3);
    assert_pos(walk(p, "layer.convolution_param.num_output"), 9, 17, 9, 5);
    assert_pos(walk(p, "layer.convolution_param.bias_filler.type"), 13, 25, 13, 19);
    cr_assert_str_eq(p->file, "test.prototxt");
    cr_assert_str_eq(walk(p, "layer.convolution_param.num_output")->file, "test.prototxt");
    cf_node_free(p);
}

Test(prototxt, syntax_variants)
{
    cf_node *p = pt("# comment line\n"
                    "a: { x: 1 }\n"         /* colon before a message */
                    "b < y: 2 >\n"          /* angle brackets */
                    "c: [1, 2, 3]; d: 4,\n" /* list and separators */
                    "e: TRAIN f: 'single' g: \"dou\\\"ble\" # trailing comment\n"
                    "h: 1e-4 i: -inf j: 1.5f k: 0x1F l: -.5e+3\n"
                    "m: \"a\\n\\t\\x41\\101\\u00e9\" 'cat' \"enated\"\n"
                    "n: [{z: 1}, <z: 2>]\n"
                    "o: []\n"
                    "top: \"p\" top: [\"q\", r]\n"
                    "s {}\n");
    cr_assert_str_eq(walk(p, "a.x")->value, "1");
    cr_assert_str_eq(walk(p, "b.y")->value, "2");
    cr_assert_eq(nvalues(p, "c"), 3);
    cr_assert_str_eq(walk(p, "c[2]")->value, "3");
    cr_assert_str_eq(walk(p, "d")->value, "4");
    cr_assert_str_eq(walk(p, "e")->value, "TRAIN");
    cr_assert_not(walk(p, "e")->quoted, "an enum name is a bare word");
    cr_assert(walk(p, "f")->quoted);
    cr_assert_str_eq(walk(p, "f")->value, "single");
    cr_assert_str_eq(walk(p, "g")->value, "dou\"ble");
    cr_assert_str_eq(walk(p, "h")->value, "1e-4");
    cr_assert_str_eq(walk(p, "i")->value, "-inf");
    cr_assert_str_eq(walk(p, "j")->value, "1.5", "the float suffix is dropped");
    cr_assert_str_eq(walk(p, "k")->value, "0x1F");
    cr_assert_str_eq(walk(p, "l")->value, "-.5e+3");
    cr_assert_str_eq(walk(p, "m")->value, "a\n\tAA\xc3\xa9" "catenated");
    cr_assert_eq(walk(p, "n[1]")->kind, CF_NODE_MAP);
    cr_assert_str_eq(walk(p, "n[1].z")->value, "2");
    cr_assert_eq(nvalues(p, "o"), 0);
    const cf_node *o = p->child[p->nchild - 4]; /* o, top, top, s */
    cr_assert_str_eq(o->key, "o");
    cr_assert_eq(o->kind, CF_NODE_SEQ);
    assert_pos(o, 9, 4, 9, 1);
    cr_assert_eq(walk(p, "s")->kind, CF_NODE_MAP);
    /* repeated keys stay separate children; the getters flatten them */
    size_t tops = 0;
    for (size_t i = 0; i < p->nchild; i++) tops += !strcmp(p->child[i]->key, "top");
    cr_assert_eq(tops, 2);
    cr_assert_eq(cf_node_count(p, "top"), 3);
    cr_assert_str_eq(cf_node_at(p, "top", 2)->value, "r");
    cr_assert_not(cf_node_at(p, "top", 2)->quoted);
    cr_assert(cf_node_at(p, "top", 1)->quoted);
    cf_node_free(p);
}

Test(prototxt, typed_getters_on_prototxt)
{
    cf_node *p = pt("h: 1e-4 i: -inf j: 1.5f k: 0x1F b: true n: abc\n");
    cf_error err;
    double d;
    long v;
    bool b;
    cr_assert_eq(cf_get_float(p, "h", 0, &d, &err), 0);
    cr_assert_float_eq(d, 1e-4, 1e-12);
    cr_assert_eq(cf_get_float(p, "i", 0, &d, &err), 0);
    cr_assert(isinf(d) && d < 0);
    cr_assert_eq(cf_get_float(p, "j", 0, &d, &err), 0);
    cr_assert_eq(d, 1.5);
    cr_assert_eq(cf_get_int(p, "k", 0, &v, &err), 0);
    cr_assert_eq(v, 31);
    cr_assert_eq(cf_get_bool(p, "b", false, &b, &err), 0);
    cr_assert(b);
    cr_assert_eq(cf_get_int(p, "n", 0, &v, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, errbuf, sizeof errbuf),
                     "test.prototxt:1:44: field 'n': expected an integer, got 'abc'");
    cf_node_free(p);
}

Test(prototxt, error_messages)
{
    cr_assert_str_eq(pt_err("layer {\n  convolution_param {\n    num_output 20\n  }\n}\n"),
                     "test.prototxt:3:16: prototxt: expected ':' or '{' after 'num_output'");
    cr_assert_str_eq(pt_err("name: \"abc\nlayer {}\n"), "test.prototxt:1:7: prototxt: unterminated string");
    cr_assert_str_eq(pt_err("name: 'abc"), "test.prototxt:1:7: prototxt: unterminated string");
    cr_assert_str_eq(pt_err("a: 1\n}\n"), "test.prototxt:2:1: prototxt: unbalanced '}'");
    cr_assert_str_eq(pt_err("layer {\n  name: \"x\"\n  param {\n"),
                     "test.prototxt:4:1: prototxt: unexpected end of file: '{' opened at 3:9 is not closed");
    cr_assert_str_eq(pt_err("a < b: 1 }"),
                     "test.prototxt:1:10: prototxt: expected '>' to close '<' opened at 1:3, got '}'");
    cr_assert_str_eq(pt_err("a: }"), "test.prototxt:1:4: prototxt: expected a value after 'a:', got '}'");
    cr_assert_str_eq(pt_err("a: [1, 2"),
                     "test.prototxt:1:9: prototxt: unexpected end of file: '[' opened at 1:4 is not closed");
    cr_assert_str_eq(pt_err("a: [1 2]"), "test.prototxt:1:7: prototxt: expected ',' or ']' in the list for 'a', got '2'");
    cr_assert_str_eq(pt_err("a: [1, ]"), "test.prototxt:1:8: prototxt: expected a value in the list for 'a', got ']'");
    cr_assert_str_eq(pt_err("a: \"x\\q\""), "test.prototxt:1:6: prototxt: invalid escape '\\q' in string");
    cr_assert_str_eq(pt_err("a: \"x\\0\""),
                     "test.prototxt:1:6: prototxt: string contains a NUL character (\\0), which is not supported");
    cr_assert_str_eq(pt_err("a @ 1"), "test.prototxt:1:3: prototxt: unexpected character '@'");
    cr_assert_str_eq(pt_err("\n  123: 4"), "test.prototxt:2:3: prototxt: expected a field name, got '123'");
    cr_assert_str_eq(pt_err("a: \"x\" { }"), "test.prototxt:1:8: prototxt: expected a field name, got '{'");
    /* columns count characters, not bytes */
    cr_assert_str_eq(pt_err("a: \"\xc3\xa9\xc3\xa9\" @"), "test.prototxt:1:9: prototxt: unexpected character '@'");
}

Test(prototxt, hostile_input_is_refused)
{
    /* 100 nested messages are fine, 101 are refused */
    for (size_t n = 100; n <= 101; n++) {
        char *deep = malloc(n * 4 + 8), *w = deep;
        for (size_t i = 0; i < n; i++) w += sprintf(w, "a {");
        for (size_t i = 0; i < n; i++) *w++ = '}';
        *w = 0;
        if (n == 100) cf_node_free(pt(deep));
        else cr_assert_str_eq(pt_err(deep), "test.prototxt:1:303: prototxt: nesting deeper than 100 levels");
        free(deep);
    }

    size_t len = (1u << 20) + 1;
    char *big = malloc(len + 16);
    strcpy(big, "a: \"");
    memset(big + 4, 'x', len);
    strcpy(big + 4 + len, "\"");
    cr_assert_str_eq(pt_err(big), "test.prototxt:1:4: prototxt: string longer than 1048576 bytes");
    free(big);
}

Test(prototxt, caffe_files_all_parse)
{
    static const char *const files[] = {
        "fashion200_data_check.prototxt",
        "lenet_fashion_solver.prototxt",
        "lenet_fashion_solver_hdf5.prototxt",
        "lenet_fashion_train_test.prototxt",
        "mlp_v1_solver.prototxt",
        "mlp_v1_train_test.prototxt",
        "mlp_v1_upgraded.prototxt",
        "examples/cifar10/cifar10_full.prototxt",
        "examples/cifar10/cifar10_full_solver.prototxt",
        "examples/cifar10/cifar10_full_train_test.prototxt",
        "examples/cifar10/cifar10_quick.prototxt",
        "examples/cifar10/cifar10_quick_solver.prototxt",
        "examples/cifar10/cifar10_quick_train_test.prototxt",
        "examples/mnist/lenet.prototxt",
        "examples/mnist/lenet_solver.prototxt",
        "examples/mnist/lenet_solver_adam.prototxt",
        "examples/mnist/lenet_solver_rmsprop.prototxt",
        "examples/mnist/lenet_train_test.prototxt",
        "examples/mnist/mnist_autoencoder.prototxt",
        "examples/mnist/mnist_autoencoder_solver.prototxt",
        "examples/siamese/mnist_siamese.prototxt",
        "examples/siamese/mnist_siamese_train_test.prototxt",
    };
    /* layer (or V1 layers) entries, counted in the files with grep '^layer' */
    static const size_t nlayers[] = {1, 0, 0, 11, 0, 7, 7, 14, 0, 16, 13, 0, 15, 9, 0, 0, 0, 11, 21, 0, 9, 20};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/fixtures/caffe/%s", files[i]);
        cf_node *n = file_tree(rel);
        size_t got = nvalues(n, "layer") + nvalues(n, "layers");
        cr_assert_eq(got, nlayers[i], "%s: %zu layers", files[i], got);
        /* a solver names its net; a net has no base_lr */
        cr_assert_eq(nvalues(n, "base_lr") + nvalues(n, "net"), strstr(files[i], "solver") ? 2 : 0, "%s", files[i]);
        cf_node_free(n);
    }
}

Test(prototxt, lenet_values_and_positions)
{
    cf_node *n = file_tree("tests/fixtures/caffe/examples/mnist/lenet_train_test.prototxt");
    cr_assert_eq(nvalues(n, "layer"), 11);
    const cf_node *conv1 = walk(n, "layer[2]");
    cr_assert_str_eq(walk(conv1, "name")->value, "conv1");
    const cf_node *no = walk(conv1, "convolution_param.num_output");
    cr_assert_str_eq(no->value, "20");
    assert_pos(no, 48, 17, 48, 5);
    cr_assert_str_eq(no->file, tu_src("tests/fixtures/caffe/examples/mnist/lenet_train_test.prototxt"));
    cr_assert_str_eq(walk(n, "layer[1].include.phase")->value, "TEST");
    cr_assert_str_eq(walk(n, "layer[10].type")->value, "SoftmaxWithLoss");
    cf_node_free(n);

    cf_node *s = file_tree("tests/fixtures/caffe/examples/mnist/mnist_autoencoder_solver.prototxt");
    cr_assert_eq(nvalues(s, "test_state"), 2);
    cr_assert_str_eq(walk(s, "test_state[1].stage")->value, "test-on-test");
    cf_error err;
    double lr;
    cr_assert_eq(cf_get_float(s, "base_lr", 0, &lr, &err), 0);
    cr_assert_float_eq(lr, 0.01, 1e-12);
    cf_node_free(s);
}

Test(prototxt, config_parse_file_by_extension)
{
    /* the same text is prototxt under .prototxt and a YAML error under .yaml */
    const char *dir = tu_tmpdir();
    char pp[512], yp[512];
    snprintf(pp, sizeof pp, "%s/net.prototxt", dir);
    snprintf(yp, sizeof yp, "%s/net.yaml", dir);
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(i ? yp : pp, "w");
        fputs("layer { name: \"a\" }\n", f);
        fclose(f);
    }
    cf_error err;
    cf_node *n = cf_config_parse_file(pp, &err);
    cr_assert_not_null(n);
    cr_assert_str_eq(walk(n, "layer.name")->value, "a");
    cf_node_free(n);
    cr_assert_null(cf_config_parse_file(yp, &err));
    cr_assert(strstr(err.msg, "YAML: "), "%s", err.msg);
    cr_assert(cf_config_is_prototxt("x/y.PBTXT") && cf_config_is_prototxt("a.pt") &&
              !cf_config_is_prototxt("a.prototxt/b.yaml") && !cf_config_is_prototxt("prototxt"));

    cr_assert_null(cf_config_parse_file("no/such/file.yaml", &err));
    cr_assert_eq(err.code, CF_EINPUT);
    cr_assert_str_eq(cf_error_str(&err, errbuf, sizeof errbuf), "no/such/file.yaml: cannot open: No such file or directory");
    cr_assert_null(cf_config_parse_file("no/such/file.prototxt", &err));
    cr_assert_eq(err.code, CF_EINPUT);
    cr_assert_str_eq(cf_error_str(&err, errbuf, sizeof errbuf),
                     "no/such/file.prototxt: cannot open: No such file or directory");
    /* a directory is refused, not read as an empty document */
    cr_assert_null(cf_config_parse_file(dir, &err));
    cr_assert(strstr(err.msg, "cannot read: Is a directory"), "%s", err.msg);
}

/* ---- YAML ---- */

Test(yaml, positions)
{
    cf_node *y = tu_yaml(conv1_yaml);
    const cf_node *cp = walk(y, "layer.convolution_param");
    assert_pos(cp, 7, 5, 7, 5);
    assert_pos(walk(y, "layer.convolution_param.num_output"), 8, 19, 8, 7);
    assert_pos(walk(y, "layer.param[1]"), 6, 27, 6, 27);
    assert_pos(walk(y, "layer.param[1].lr_mult"), 6, 37, 6, 28);
    cr_assert_str_eq(y->file, "test.yaml");
}

Test(yaml, error_messages)
{
    cr_assert_str_eq(yaml_err("layer:\n  name: conv1\n   type: Convolution\n"),
                     "test.yaml:3:8: YAML: mapping values are not allowed in this context");
    cr_assert_str_eq(yaml_err("a:\n  b: 1\n c: 2\n"),
                     "test.yaml:3:2: YAML: did not find expected key while parsing a block mapping");
    cr_assert_str_eq(yaml_err("a: \"abc\n"),
                     "test.yaml:2:1: YAML: found unexpected end of stream while scanning a quoted scalar");
    cr_assert_str_eq(yaml_err("a: 1\n---\nb: 2\n"), "test.yaml:3:1: YAML: only one document per file");
    cr_assert_str_eq(yaml_err("a: *x\n"), "test.yaml:1:4: YAML: unknown alias '*x'");
    cr_assert_str_eq(yaml_err("a: &x [1, *x]\n"), "test.yaml:1:11: YAML: alias '*x' is inside the node it refers to");
    /* bad bytes are placed by line and column, not at 1:1 */
    cr_assert_str_eq(yaml_err("a: 1\nb: \xff\xfe\n"), "test.yaml:2:4: YAML: invalid leading UTF-8 octet");
}

Test(yaml, billion_laughs_refused)
{
    /* nine aliases per level: level k expands to 9^k nodes; the sixth level
     * (531441 scalars) fits, the seventh passes CF_YAML_MAX_NODES */
    char doc[4096], *w = doc;
    w += sprintf(w, "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    const char *names = "abcdefghi";
    for (int i = 1; i < 9; i++) {
        w += sprintf(w, "%c: &%c [", names[i], names[i]);
        for (int k = 0; k < 9; k++) w += sprintf(w, "%s*%c", k ? ", " : "", names[i - 1]);
        w += sprintf(w, "]\n");
    }
    cr_assert_str_eq(yaml_err(doc), "test.yaml:7:8: YAML: alias '*f' expands the document past 1000000 nodes");
}

Test(yaml, deep_nesting_refused)
{
    size_t n = 100000;
    char *doc = malloc(2 * n + 8);
    strcpy(doc, "a: ");
    memset(doc + 3, '[', n);
    memset(doc + 3 + n, ']', n);
    doc[3 + 2 * n] = 0;
    cr_assert_str_eq(yaml_err(doc), "test.yaml:1:103: YAML: nesting deeper than 100 levels");
    free(doc);
}

/* ---- getters on parsed trees ---- */

Test(getters, messages_name_the_position)
{
    cf_node *y = tu_yaml("convolution_param:\n  num_output: abc\n  kernal_size: 3\n  pool: MAXX\n");
    cf_node *cp;
    cf_error err;
    long v;
    cr_assert_eq(cf_get_map(y, "convolution_param", &cp, &err), 0);
    cr_assert_eq(cf_get_int(cp, "num_output", 1, &v, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, errbuf, sizeof errbuf),
                     "test.yaml:2:15: field 'num_output': expected an integer, got 'abc'");
    cr_assert_eq(cf_get_int(cp, "kernel_size", 1, &v, &err), 0);
    cr_assert_eq(v, 1, "absent: the default");
    static const char *const pools[] = {"MAX", "AVE", "STOCHASTIC", NULL};
    int pool;
    cr_assert_eq(cf_get_enum(cp, "pool", pools, 0, &pool, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, errbuf, sizeof errbuf),
                     "test.yaml:4:9: field 'pool': unknown value 'MAXX' (expected one of: MAX, AVE, STOCHASTIC)");
    cr_assert_eq(cf_node_check_unused(y, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, errbuf, sizeof errbuf),
                     "test.yaml:3:3: unknown field 'kernal_size' (did you mean 'kernel_size'?)");
}

Test(getters, same_messages_from_prototxt)
{
    cf_node *p = pt("convolution_param {\n  kernal_size: 3\n  pool: ave\n}\n");
    cf_node *cp;
    cf_error err;
    long v;
    int pool;
    static const char *const pools[] = {"MAX", "AVE", "STOCHASTIC", NULL};
    cr_assert_eq(cf_get_map(p, "convolution_param", &cp, &err), 0);
    cr_assert_eq(cf_get_int(cp, "kernel_size", 1, &v, &err), 0);
    cr_assert_eq(cf_get_enum(cp, "pool", pools, 0, &pool, &err), 0);
    cr_assert_eq(pool, 1, "enum names match without regard to case");
    cr_assert_eq(cf_node_check_unused(p, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, errbuf, sizeof errbuf),
                     "test.prototxt:2:3: unknown field 'kernal_size' (did you mean 'kernel_size'?)");
    cf_node_free(p);
}

/* ---- V1 upgrade ---- */

Test(upgrade, mlp_v1_matches_caffes_upgrade)
{
    cf_node *v1 = file_tree("tests/fixtures/caffe/mlp_v1_train_test.prototxt");
    cf_node *want = file_tree("tests/fixtures/caffe/mlp_v1_upgraded.prototxt");
    char why[1024];
    cr_assert_not(tree_eq(v1, want, true, "", why, sizeof why), "before the upgrade they differ");
    cf_error err;
    int up = -1;
    cr_assert_eq(cf_upgrade_v1(v1, &up, &err), 0, "%s", cf_error_str(&err, errbuf, sizeof errbuf));
    cr_assert_eq(up, 1);
    assert_tree_eq(v1, want, true);

    /* positions stay on the V1 text */
    const cf_node *ip1 = walk(v1, "layer[2]");
    assert_pos(walk(ip1, "type"), 36, 9, 36, 3);
    assert_pos(walk(ip1, "param[0]"), 39, 3, 39, 3);
    assert_pos(walk(ip1, "param[0].lr_mult"), 39, 13, 39, 3);
    assert_pos(walk(ip1, "param[1].lr_mult"), 40, 13, 40, 3);
    assert_pos(walk(ip1, "param[1].decay_mult"), 42, 17, 42, 3);
    cr_assert_eq(v1->child[1]->parent, v1);
    cr_assert_eq(walk(ip1, "param[1].decay_mult")->parent, walk(ip1, "param[1]"));

    /* a current net is left alone */
    cf_node *again = file_tree("tests/fixtures/caffe/mlp_v1_upgraded.prototxt");
    cr_assert_eq(cf_upgrade_v1(want, &up, &err), 0);
    cr_assert_eq(up, 0);
    assert_tree_eq(want, again, true);
    cf_node_free(v1);
    cf_node_free(want);
    cf_node_free(again);
}

Test(upgrade, yaml_lists_names_share_modes_and_data_transforms)
{
    cf_node *v1 = tu_yaml("layers:\n"
                          "  - name: conv1\n"
                          "    type: CONVOLUTION\n"
                          "    param: [w, b]\n"
                          "    blob_share_mode: [STRICT, PERMISSIVE]\n"
                          "    blobs_lr: [1, 2]\n"
                          "    weight_decay: [1, 0]\n"
                          "    convolution_param: {num_output: 3}\n"
                          "  - name: d\n"
                          "    type: 5\n" /* DATA by number */
                          "    data_param: {source: x, scale: 0.5, mirror: true, batch_size: 4}\n"
                          "  - name: ip\n"
                          "    type: INNER_PRODUCT\n"
                          "    blobs_lr: 3\n"
                          "    weight_decay: 4\n"
                          "    weight_decay: 5\n");
    cf_node *want = tu_yaml("layer:\n"
                            "  - name: conv1\n"
                            "    type: Convolution\n"
                            "    param:\n"
                            "      - {name: w, share_mode: STRICT, lr_mult: 1, decay_mult: 1}\n"
                            "      - {name: b, share_mode: PERMISSIVE, lr_mult: 2, decay_mult: 0}\n"
                            "    convolution_param: {num_output: 3}\n"
                            "  - name: d\n"
                            "    type: Data\n"
                            "    data_param: {source: x, batch_size: 4}\n"
                            "    transform_param: {scale: 0.5, mirror: true}\n"
                            "  - name: ip\n"
                            "    type: InnerProduct\n"
                            "    param: [{lr_mult: 3, decay_mult: 4}, {decay_mult: 5}]\n");
    cf_error err;
    int up;
    cr_assert_eq(cf_upgrade_v1(v1, &up, &err), 0, "%s", cf_error_str(&err, errbuf, sizeof errbuf));
    cr_assert_eq(up, 1);
    assert_tree_eq(v1, want, false);
    cr_assert(walk(v1, "layer[0].type")->quoted, "the new type is a string");
    assert_pos(walk(v1, "layer[1].transform_param.scale"), 11, 36, 11, 29);
    assert_pos(walk(v1, "layer[0].param[1].name"), 4, 16, 4, 16);
}

Test(upgrade, errors)
{
    cf_error err;
    int up;
    cf_node *n = pt("layer { name: \"a\" }\nlayers { name: \"b\" type: RELU }\n");
    cr_assert_eq(cf_upgrade_v1(n, &up, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, errbuf, sizeof errbuf),
                     "test.prototxt:2:1: a net cannot mix 'layer' and V1 'layers' entries");
    cf_node_free(n);

    n = pt("layers {\n  name: \"c\"\n  type: CONVOLUTON\n}\n");
    cr_assert_eq(cf_upgrade_v1(n, &up, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, errbuf, sizeof errbuf),
                     "test.prototxt:3:9: layer 'c': unknown V1 layer type 'CONVOLUTON' (did you mean 'CONVOLUTION'?)");
    cf_node_free(n);

    n = pt("layers {\n  name: \"c\"\n  type: Convolution\n}\n");
    cr_assert_eq(cf_upgrade_v1(n, &up, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, errbuf, sizeof errbuf),
                     "test.prototxt:3:9: layer 'c': unknown V1 layer type 'Convolution' (did you mean 'CONVOLUTION'?)");
    cf_node_free(n);

    n = pt("layers { name: \"c\" type: INNER_PRODUCT param { lr_mult: 1 } }\n");
    cr_assert_eq(cf_upgrade_v1(n, &up, &err), -1);
    cr_assert_str_eq(cf_error_str(&err, errbuf, sizeof errbuf),
                     "test.prototxt:1:40: layer 'c': field 'param': in V1 'layers' a param is a name string "
                     "(param: \"w\"); the multipliers are blobs_lr and weight_decay");
    cf_node_free(n);

    n = pt("layers { layer { name: \"old\" type: \"conv\" } }\n");
    cr_assert_eq(cf_upgrade_v1(n, &up, &err), -1);
    cr_assert(strstr(err.msg, "V0 layer definitions"), "%s", err.msg);
    cf_node_free(n);

    cr_assert_str_eq(cf_v1_type_name("SOFTMAX_LOSS"), "SoftmaxWithLoss");
    cr_assert_str_eq(cf_v1_type_name("TANH"), "TanH");
    cr_assert_str_eq(cf_v1_type_name("HDF5_DATA"), "HDF5Data");
    cr_assert_null(cf_v1_type_name("NONE"));
}

/* ---- recipes ---- */

static const char *recipe_err(const char *path)
{
    cf_recipe r;
    cf_error err;
    cr_assert_eq(cf_recipe_load(path, &r, &err), -1, "expected %s to be refused", path);
    cr_assert_eq(err.code, CF_EINPUT);
    cr_assert_null(r.root, "a failed load leaves the recipe empty");
    return cf_error_str(&err, errbuf, sizeof errbuf);
}

static void load(const char *path, cf_recipe *r)
{
    cf_error err;
    if (cf_recipe_load(path, r, &err)) cr_assert_fail("%s", cf_error_str(&err, errbuf, sizeof errbuf));
}

Test(recipe, inline_yaml)
{
    cf_recipe r;
    char path[1024];
    snprintf(path, sizeof path, "%s", tu_src("tests/fixtures/recipes/inline.yaml"));
    load(path, &r);
    cr_assert_eq(r.form, CF_RECIPE_FULL);
    cr_assert_str_eq(r.name, "tiny-inline");
    cr_assert_str_eq(r.description, "a two-layer net written inline");
    cr_assert_str_eq(r.net_path, path);
    cr_assert_str_eq(r.dir, tu_src("tests/fixtures/recipes"));
    cr_assert_not(r.upgraded_v1);
    cr_assert_str_eq(walk(r.solver, "base_lr")->value, "0.01");
    cr_assert_eq(nvalues(r.net, "layer"), 3);
    cr_assert_str_eq(walk(r.net, "layer[2].bottom[1]")->value, "label");
    /* the solver and net maps are for their readers to check: nothing in
     * them has been read yet */
    cf_error err;
    cr_assert_eq(cf_node_check_unused(r.solver, &err), -1);
    cr_assert_str_eq(err.msg, "unknown field 'base_lr'");
    cf_recipe_free(&r);
    cr_assert_null(r.root);
    cf_recipe_free(&r); /* twice is harmless */
}

Test(recipe, net_path_next_to_recipe)
{
    cf_recipe r;
    load(tu_src("tests/fixtures/recipes/netpath.yaml"), &r);
    cr_assert_eq(r.form, CF_RECIPE_FULL);
    cr_assert_str_eq(r.net_path, tu_src("tests/fixtures/recipes/nets/tiny.prototxt"));
    cr_assert_str_eq(walk(r.net, "name")->value, "TinyFile");
    cr_assert_str_eq(walk(r.net, "name")->file, r.net_path, "net nodes name their own file");
    cr_assert_str_eq(walk(r.solver, "base_lr")->value, "0.1");
    cf_recipe_free(&r);
}

Test(recipe, net_path_from_working_directory)
{
    cr_assert_eq(chdir(tu_src("")), 0);
    cf_recipe r;
    load("tests/fixtures/recipes/cwd_fallback.yaml", &r);
    cr_assert_str_eq(r.net_path, "tests/fixtures/recipes/nets/tiny.yaml");
    cr_assert_str_eq(walk(r.net, "name")->value, "TinyYaml");
    cf_recipe_free(&r);
}

Test(recipe, v1_net_is_upgraded)
{
    cf_recipe r;
    load(tu_src("tests/fixtures/recipes/v1path.yaml"), &r);
    cr_assert(r.upgraded_v1);
    cf_node *want = file_tree("tests/fixtures/caffe/mlp_v1_upgraded.prototxt");
    assert_tree_eq(r.net, want, true);
    cf_node_free(want);
    cf_recipe_free(&r);
}

Test(recipe, net_param_inside_yaml_solver)
{
    cf_recipe r;
    load(tu_src("tests/fixtures/recipes/net_in_solver.yaml"), &r);
    cr_assert_str_eq(walk(r.net, "name")->value, "InSolver");
    /* the net was taken out of the solver map: reading the solver's own
     * fields leaves nothing unknown */
    cf_error err;
    double lr;
    cr_assert_eq(cf_get_float(r.solver, "base_lr", 0, &lr, &err), 0);
    cr_assert_eq(cf_node_check_unused(r.solver, &err), 0, "%s", cf_error_str(&err, errbuf, sizeof errbuf));
    cf_recipe_free(&r);
}

Test(recipe, caffe_solver_net_next_to_solver)
{
    /* mlp_v1_solver.prototxt says net: "mlp_v1_train_test.prototxt"; from
     * the build directory that is found only beside the solver */
    cf_recipe r;
    char solver[1024];
    snprintf(solver, sizeof solver, "%s", tu_src("tests/fixtures/caffe/mlp_v1_solver.prototxt"));
    load(solver, &r);
    cr_assert_eq(r.form, CF_RECIPE_SOLVER);
    cr_assert_eq(r.solver, r.root);
    cr_assert_str_eq(r.net_path, tu_src("tests/fixtures/caffe/mlp_v1_train_test.prototxt"));
    cr_assert(r.upgraded_v1);
    cr_assert_str_eq(walk(r.solver, "random_seed")->value, "7");
    cr_assert_eq(nvalues(r.net, "layer"), 7);
    cr_assert_eq(nvalues(r.net, "layers"), 0);
    cf_recipe_free(&r);
}

Test(recipe, caffe_solver_net_relative_to_working_directory)
{
    /* Caffe's own example, run from the directory its paths assume */
    cr_assert_eq(chdir(tu_src("tests/fixtures/caffe")), 0);
    cf_recipe r;
    load("examples/mnist/lenet_solver.prototxt", &r);
    cr_assert_str_eq(r.net_path, "examples/mnist/lenet_train_test.prototxt");
    cr_assert_eq(nvalues(r.net, "layer"), 11);
    cr_assert_not(r.upgraded_v1);
    cf_recipe_free(&r);

    /* the working directory wins over the solver's directory */
    char solver[1024];
    snprintf(solver, sizeof solver, "%s", tu_src("tests/fixtures/caffe/mlp_v1_solver.prototxt"));
    cr_assert_eq(chdir(tu_tmpdir()), 0);
    FILE *f = fopen("mlp_v1_train_test.prototxt", "w");
    fputs("name: \"FromCwd\"\nlayer { name: \"d\" type: \"DummyData\" top: \"d\" }\n", f);
    fclose(f);
    load(solver, &r);
    cr_assert_str_eq(r.net_path, "mlp_v1_train_test.prototxt");
    cr_assert_str_eq(walk(r.net, "name")->value, "FromCwd");
    cr_assert_not(r.upgraded_v1);
    cf_recipe_free(&r);
}

Test(recipe, caffe_solver_with_net_param)
{
    cf_recipe r;
    load(tu_src("tests/fixtures/recipes/solver_net_param.prototxt"), &r);
    cr_assert_eq(r.form, CF_RECIPE_SOLVER);
    cr_assert_str_eq(walk(r.net, "name")->value, "Inline");
    cr_assert_eq(nvalues(r.solver, "net_param"), 0, "taken out of the solver map");
    cr_assert_str_eq(walk(r.solver, "max_iter")->value, "5");
    cf_recipe_free(&r);
}

Test(recipe, net_alone)
{
    cf_recipe r;
    load(tu_src("tests/fixtures/recipes/nets/tiny.yaml"), &r);
    cr_assert_eq(r.form, CF_RECIPE_NET);
    cr_assert_null(r.solver);
    cr_assert_eq(r.net, r.root);
    cf_recipe_free(&r);

    load(tu_src("tests/fixtures/caffe/mlp_v1_train_test.prototxt"), &r);
    cr_assert_eq(r.form, CF_RECIPE_NET);
    cr_assert_null(r.solver);
    cr_assert(r.upgraded_v1);
    cr_assert_str_eq(walk(r.net, "layer[4].type")->value, "InnerProduct");
    cf_recipe_free(&r);
}

Test(recipe, error_messages)
{
    char want[2048];
    const char *dir = tu_src("tests/fixtures/recipes");
    char d[1024];
    snprintf(d, sizeof d, "%s", dir);
#define EXPECT(file, fmt, ...)                                                                                         \
    do {                                                                                                               \
        char p[1100];                                                                                                  \
        snprintf(p, sizeof p, "%s/%s", d, file);                                                                       \
        snprintf(want, sizeof want, fmt, __VA_ARGS__);                                                                 \
        cr_assert_str_eq(recipe_err(p), want);                                                                         \
    } while (0)
    EXPECT("bad_top_key.yaml", "%s/bad_top_key.yaml:2:1: unknown field 'slover' (did you mean 'solver'?)", d);
    EXPECT("bad_caffe_style.yaml",
           "%s/bad_caffe_style.yaml:3:1: unknown field 'base_lr' (a recipe's top level holds name, description, net "
           "and solver)",
           d);
    EXPECT("bad_missing_net.prototxt",
           "%s/bad_missing_net.prototxt:3:6: field 'net': cannot open 'no_such_net.prototxt': No such file or "
           "directory (paths are relative to the working directory, as in Caffe)",
           d);
    EXPECT("bad_missing_net.yaml",
           "%s/bad_missing_net.yaml:2:6: field 'net': cannot open 'nets/no_such_net.yaml': No such file or directory "
           "(looked in '%s' and in the working directory)",
           d, d);
    EXPECT("bad_not_a_net.yaml",
           "%s/bad_not_a_net.yaml:2:6: field 'net': '../caffe/mlp_v1_solver.prototxt' is not a net (it has no "
           "'layer' entries)",
           d);
    EXPECT("bad_two_nets.yaml",
           "%s/bad_two_nets.yaml:3:14: field 'train_net': the net is already given by 'net' at 4:1 (give only one of "
           "net, net_param, train_net, train_net_param)",
           d);
    EXPECT("bad_test_net.prototxt",
           "%s/bad_test_net.prototxt:2:11: field 'test_net': separate test nets are not supported; use one net whose "
           "test-only layers say include { phase: TEST }",
           d);
    EXPECT("bad_no_net.yaml", "%s/bad_no_net.yaml: no net: give 'net:' with the layers, or the path of a net file", d);
    EXPECT("bad_v1_type.prototxt",
           "%s/bad_v1_type.prototxt:4:9: layer 'c': unknown V1 layer type 'CONVOLUTON' (did you mean 'CONVOLUTION'?)",
           d);
    EXPECT("no_such_recipe.yaml", "%s/no_such_recipe.yaml: cannot open: No such file or directory", d);
#undef EXPECT
}

Test(recipe, prototxt_recipe_and_misplaced_layers)
{
    const char *dir = tu_tmpdir();
    char p[1024], want[1400];
    snprintf(p, sizeof p, "%s/recipe.prototxt", dir);
    FILE *f = fopen(p, "w");
    fputs("name: \"p\"\nsolver { base_lr: 0.1 }\nnet { layer { name: \"d\" type: \"DummyData\" top: \"d\" } }\n", f);
    fclose(f);
    cf_recipe r;
    load(p, &r);
    cr_assert_eq(r.form, CF_RECIPE_FULL);
    cr_assert_str_eq(r.name, "p");
    cr_assert_str_eq(walk(r.net, "layer.name")->value, "d");
    cr_assert_str_eq(walk(r.solver, "base_lr")->value, "0.1");
    cf_recipe_free(&r);

    /* layers at the top of a recipe that has a solver: said plainly */
    snprintf(p, sizeof p, "%s/misplaced.yaml", dir);
    f = fopen(p, "w");
    fputs("solver: {base_lr: 0.1}\nlayer:\n  - {name: d, type: DummyData, top: d}\n", f);
    fclose(f);
    snprintf(want, sizeof want, "%s:2:1: unknown field 'layer' (in a recipe, layers go under 'net:')", p);
    cr_assert_str_eq(recipe_err(p), want);
}

Test(recipe, top_level_must_be_a_map)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/list.yaml", tu_tmpdir());
    FILE *f = fopen(p, "w");
    fputs("- a\n- b\n", f);
    fclose(f);
    char want[1200];
    snprintf(want, sizeof want, "%s:1:1: expected a map of fields at the top of the file, got a list", p);
    cr_assert_str_eq(recipe_err(p), want);
}
