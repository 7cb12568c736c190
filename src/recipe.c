/* recipe.c — load a recipe, a Caffe solver or a bare net into a solver map
 * and a net map (see recipe.h for the three forms and the path rules). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "parse.h"
#include "recipe.h"
#include "upgrade_v1.h"

/* The keys a recipe may hold at its top level. */
static const char *const top_keys[] = {"name", "description", "net", "solver", NULL};
/* SolverParameter's ways of giving the net, in Caffe's names. */
static const char *const net_fields[] = {"net", "net_param", "train_net", "train_net_param", NULL};
/* and of giving separate test nets, which we do not take */
static const char *const test_net_fields[] = {"test_net", "test_net_param", NULL};

/* Where a relative net path is looked up first. */
typedef enum { FIRST_RECIPE_DIR, FIRST_CWD } lookup;

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) abort();
    return d;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    char *d = xstrdup(path);
    d[slash - path] = 0;
    return d;
}

static char *join(const char *dir, const char *rel)
{
    if (rel[0] == '/' || !strcmp(dir, ".")) return xstrdup(rel);
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (!p) abort();
    snprintf(p, n, "%s/%s", dir, rel);
    return p;
}

/* Direct look at a map's keys: no getter, so nothing is marked asked. */
static bool has_key(const cf_node *map, const char *key)
{
    if (!map || map->kind != CF_NODE_MAP) return false;
    for (size_t i = 0; i < map->nchild; i++)
        if (map->child[i]->key && !strcmp(map->child[i]->key, key)) return true;
    return false;
}

static bool is_net(const cf_node *n)
{
    return has_key(n, "layer") || has_key(n, "layers");
}

static bool in_list(const char *key, const char *const *list)
{
    for (int i = 0; list[i]; i++)
        if (key && !strcmp(key, list[i])) return true;
    return false;
}

/* Remove child c from map (it keeps pointing at the root's file name). */
static void detach(cf_node *map, cf_node *c)
{
    size_t k = 0;
    for (size_t i = 0; i < map->nchild; i++)
        if (map->child[i] != c) map->child[k++] = map->child[i];
    map->nchild = k;
    c->parent = NULL;
}

/* Unknown top-level keys of a recipe, with a suggestion.  The check runs on
 * a shallow copy of the top level: cf_node_check_unused walks into every
 * used sub-map, and the solver and net maps are for their readers to check. */
static int check_top_keys(cf_node *root, cf_error *err)
{
    cf_node *top = cf_node_new(CF_NODE_MAP, root->file, root->line, root->col);
    for (int k = 0; top_keys[k]; k++) cf_node_has(top, top_keys[k]);
    for (size_t i = 0; i < root->nchild; i++) {
        cf_node *c = root->child[i];
        cf_node *s = cf_node_scalar("", false, c->file, c->line, c->col);
        s->key_line = c->key_line;
        s->key_col = c->key_col;
        s->used = in_list(c->key, top_keys);
        cf_node_add(top, c->key, s);
    }
    int rc = cf_node_check_unused(top, err);
    cf_node_free(top);
    if (rc && err && !strstr(err->msg, "did you mean")) {
        size_t l = strlen(err->msg);
        bool layers = strstr(err->msg, "'layer'") || strstr(err->msg, "'layers'");
        snprintf(err->msg + l, sizeof err->msg - l, "%s",
                 layers ? " (in a recipe, layers go under 'net:')"
                        : " (a recipe's top level holds name, description, net and solver)");
    }
    return rc;
}

/* The net in its own file, named by field (a path).  Caffe resolves it
 * against the working directory; a recipe against its own directory; the
 * other place is tried second, so either habit works. */
static int open_net_file(cf_recipe *r, cf_node *field, const char *key, lookup how, cf_error *err)
{
    const char *rel = field->value;
    if (!rel[0]) return cf_node_error(field, err, CF_EINPUT, "field '%s': empty path", key);
    char *local = join(r->dir, rel), *plain = xstrdup(rel);
    char *first = how == FIRST_CWD ? plain : local, *second = how == FIRST_CWD ? local : plain;
    struct stat st;
    char *use = NULL;
    int e = 0;
    if (stat(first, &st) == 0) {
        use = first;
    } else {
        e = errno;
        if (stat(second, &st) == 0) use = second;
    }
    if (!use) {
        char where[600] = "";
        if (how == FIRST_CWD)
            snprintf(where, sizeof where, " (paths are relative to the working directory, as in Caffe)");
        else if (rel[0] != '/' && strcmp(r->dir, "."))
            snprintf(where, sizeof where, " (looked in '%s' and in the working directory)", r->dir);
        cf_node_error(field, err, CF_EINPUT, "field '%s': cannot open '%s': %s%s", key, rel, strerror(e),
                      where);
        free(local);
        free(plain);
        return -1;
    }
    r->net_path = xstrdup(use);
    r->net_found_beside = how == FIRST_CWD && use == second;
    free(local);
    free(plain);
    r->net_doc = cf_config_parse_file(r->net_path, err);
    if (!r->net_doc) return -1;
    if (!is_net(r->net_doc))
        return cf_node_error(field, err, CF_EINPUT, "field '%s': '%s' is not a net (it has no 'layer' entries)",
                             key, rel);
    r->net = r->net_doc;
    return 0;
}

/* The field name of a value (a list item's is its list's). */
static const char *field_of(const cf_node *v)
{
    return v->key ? v->key : v->parent && v->parent->key ? v->parent->key : "net";
}

/* v, found under holder, gives the net: inline map or path. */
static int take_net(cf_recipe *r, cf_node *holder, cf_node *v, lookup how, cf_error *err)
{
    const char *key = field_of(v);
    size_t kl = strlen(key);
    bool inline_only = kl > 6 && !strcmp(key + kl - 6, "_param");
    if (v->kind == CF_NODE_SCALAR && !inline_only && (v->value[0] || v->quoted))
        return open_net_file(r, v, key, how, err);
    if (v->kind != CF_NODE_MAP)
        return cf_node_error(v, err, CF_EINPUT,
                             inline_only ? "field '%s': expected a map of net fields (layer, ...)"
                                         : "field '%s': expected the net (a map with its layers) or the path of a net file",
                             key);
    if (!is_net(v)) return cf_node_error(v, err, CF_EINPUT, "field '%s': the net has no 'layer' entries", key);
    if (holder == r->solver) {
        /* out of the solver map, so that the solver's unused-field check
         * does not walk into the layers */
        detach(v->parent, v);
        r->net_doc = v;
    }
    r->net = v;
    r->net_path = xstrdup(r->path);
    return 0;
}

/* Find the one place that gives the net: a recipe's top-level `net`, or
 * the solver's net fields. */
static int find_net(cf_recipe *r, lookup how, cf_error *err)
{
    cf_node *found = NULL, *holder = NULL;
    cf_node *maps[2] = {r->form == CF_RECIPE_FULL ? r->root : NULL, r->solver};
    for (int m = 0; m < 2; m++) {
        if (!maps[m]) continue;
        for (int f = 0; net_fields[f]; f++) {
            if (m == 0 && f > 0) break; /* a recipe's top level has only `net` */
            size_t n = cf_node_count(maps[m], net_fields[f]);
            for (size_t i = 0; i < n; i++) {
                cf_node *v = cf_node_at(maps[m], net_fields[f], i);
                if (found)
                    return cf_node_error(v, err, CF_EINPUT,
                                         "field '%s': the net is already given by '%s' at %d:%d (give only one of "
                                         "net, net_param, train_net, train_net_param)",
                                         net_fields[f], field_of(found), found->key_line,
                                         found->key_col);
                found = v;
                holder = maps[m];
            }
        }
    }
    for (int f = 0; r->solver && test_net_fields[f]; f++) {
        if (!has_key(r->solver, test_net_fields[f])) continue;
        cf_node *v = cf_node_get(r->solver, test_net_fields[f]);
        return cf_node_error(v, err, CF_EINPUT,
                             "field '%s': separate test nets are not supported; use one net whose test-only "
                             "layers say include { phase: TEST }",
                             test_net_fields[f]);
    }
    if (!found) {
        cf_error_set(err, CF_EINPUT, "%s",
                     r->form == CF_RECIPE_SOLVER
                         ? "no net: a solver names its net with net, net_param, train_net or train_net_param"
                         : "no net: give 'net:' with the layers, or the path of a net file");
        return cf_error_at(err, r->path, 0, 0);
    }
    return take_net(r, holder, found, how, err);
}

/* Form (a): name, description, solver, net. */
static int load_full(cf_recipe *r, cf_error *err)
{
    cf_node *root = r->root;
    if (check_top_keys(root, err)) return -1;
    if (cf_get_string(root, "name", NULL, &r->name, err) ||
        cf_get_string(root, "description", NULL, &r->description, err) ||
        cf_get_map(root, "solver", &r->solver, err))
        return -1;
    return find_net(r, FIRST_RECIPE_DIR, err);
}

static const char *kind_name(cf_node_kind k)
{
    return k == CF_NODE_SEQ ? "a list" : k == CF_NODE_SCALAR ? "a single value" : "a map";
}

int cf_recipe_load(const char *path, cf_recipe *out, cf_error *err)
{
    memset(out, 0, sizeof *out);
    out->root = cf_config_parse_file(path, err);
    if (!out->root) return -1;
    out->path = xstrdup(path);
    out->dir = dir_of(path);
    cf_node *root = out->root;
    int rc;
    if (root->kind != CF_NODE_MAP) {
        rc = cf_node_error(root, err, CF_EINPUT, "expected a map of fields at the top of the file, got %s",
                           kind_name(root->kind));
    } else if (has_key(root, "solver") || (!is_net(root) && !cf_config_is_prototxt(path))) {
        out->form = CF_RECIPE_FULL;
        rc = load_full(out, err);
    } else if (is_net(root)) {
        out->form = CF_RECIPE_NET;
        out->net = root;
        out->net_path = xstrdup(path);
        rc = 0;
    } else {
        out->form = CF_RECIPE_SOLVER;
        out->solver = root;
        rc = find_net(out, FIRST_CWD, err);
    }
    int up = 0;
    if (!rc) rc = cf_upgrade_v1(out->net, &up, err);
    if (rc) {
        cf_recipe_free(out);
        return -1;
    }
    out->upgraded_v1 = up != 0;
    return 0;
}

void cf_recipe_free(cf_recipe *r)
{
    if (!r) return;
    cf_node_free(r->net_doc);
    cf_node_free(r->root);
    free(r->path);
    free(r->dir);
    free(r->net_path);
    memset(r, 0, sizeof *r);
}
