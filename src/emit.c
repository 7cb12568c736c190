/* emit.c — see emit.h. */
#include "emit.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool is_number(const char *s)
{
    if (!*s) return false;
    char *end;
    strtod(s, &end);
    return *end == 0 && !isspace((unsigned char)s[0]);
}

static bool is_bool(const char *s) { return !strcmp(s, "true") || !strcmp(s, "false"); }

static bool is_enum(const char *s)
{
    if (!isupper((unsigned char)s[0])) return false;
    for (; *s; s++)
        if (!isupper((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_') return false;
    return true;
}

/* Caffe's string fields: never an enum, always quoted in prototxt. */
static bool string_field(const char *key)
{
    static const char *const k[] = {"name", "type", "bottom", "top", "source", "net", "train_net", "test_net",
                                    "snapshot_prefix", "mean_file", "lr_policy", "stage", "not_stage", "input",
                                    "regularization_type", "file_name", "root_folder", "weights", NULL};
    for (int i = 0; key && k[i]; i++)
        if (!strcmp(key, k[i])) return true;
    return false;
}

static void quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* ---- YAML ---- */

static bool yaml_plain_ok(const char *s, bool was_quoted)
{
    if (!*s) return false;
    if (was_quoted && (is_number(s) || is_bool(s))) return false; /* keep "1" a string */
    if (strchr("-?:,[]{}#&*!|>'\"%@`~ ", s[0])) return false;
    if (isspace((unsigned char)s[strlen(s) - 1])) return false;
    if (strstr(s, ": ") || strstr(s, " #") || strchr(s, '\n') || strchr(s, '\t')) return false;
    static const char *const special[] = {"null", "Null", "NULL", "~", "yes", "no", "on", "off", "Yes", "No",
                                          "On", "Off", "YES", "NO", "ON", "OFF", "True", "False", "TRUE", "FALSE", NULL};
    for (int i = 0; special[i]; i++)
        if (!strcmp(s, special[i])) return false;
    return true;
}

static void yaml_scalar(FILE *f, const cf_node *n)
{
    if (yaml_plain_ok(n->value, n->quoted)) fputs(n->value, f);
    else quoted(f, n->value);
}

static void yaml_node(FILE *f, const cf_node *n, int indent);

/* Values under `key` in map n (each occurrence; sequences flattened). */
static size_t values_of(const cf_node *n, const char *key, const cf_node **out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n->nchild; i++) {
        const cf_node *c = n->child[i];
        if (!c->key || strcmp(c->key, key)) continue;
        if (c->kind == CF_NODE_SEQ)
            for (size_t j = 0; j < c->nchild && k < max; j++) out[k++] = c->child[j];
        else if (k < max) out[k++] = c;
    }
    return k;
}

static bool first_of_key(const cf_node *n, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (n->child[j]->key && !strcmp(n->child[j]->key, n->child[i]->key)) return false;
    return true;
}

static void yaml_item(FILE *f, const cf_node *v, int indent)
{
    if (v->kind == CF_NODE_SCALAR) {
        fputc(' ', f);
        yaml_scalar(f, v);
        fputc('\n', f);
    } else if (v->nchild == 0) {
        fputs(v->kind == CF_NODE_MAP ? " {}\n" : " []\n", f);
    } else {
        fputc('\n', f);
        yaml_node(f, v, indent + 2);
    }
}

static void yaml_map(FILE *f, const cf_node *n, int indent)
{
    for (size_t i = 0; i < n->nchild; i++) {
        const cf_node *c = n->child[i];
        if (!c->key || !first_of_key(n, i)) continue;
        const cf_node **vals = malloc(sizeof *vals * (n->nchild + 1024));
        size_t nv = values_of(n, c->key, vals, n->nchild + 1024);
        fprintf(f, "%*s%s:", indent, "", c->key);
        if (nv == 1 && c->kind != CF_NODE_SEQ) {
            yaml_item(f, vals[0], indent);
        } else {
            bool all_scalars = true;
            for (size_t k = 0; k < nv; k++)
                if (vals[k]->kind != CF_NODE_SCALAR) all_scalars = false;
            if (all_scalars) { /* flow list: top: [a, b] */
                fputs(" [", f);
                for (size_t k = 0; k < nv; k++) {
                    if (k) fputs(", ", f);
                    if (yaml_plain_ok(vals[k]->value, vals[k]->quoted) && !strchr(vals[k]->value, ',')) fputs(vals[k]->value, f);
                    else quoted(f, vals[k]->value);
                }
                fputs("]\n", f);
            } else {
                fputc('\n', f);
                for (size_t k = 0; k < nv; k++) {
                    fprintf(f, "%*s-", indent + 2, "");
                    if (vals[k]->kind == CF_NODE_MAP && vals[k]->nchild) {
                        /* "- first: v" then the rest aligned under it */
                        fputc(' ', f);
                        yaml_node(f, vals[k], -(indent + 4));
                    } else {
                        yaml_item(f, vals[k], indent + 2);
                    }
                }
            }
        }
        free(vals);
    }
}

/* indent < 0: the first line is already indented (after "- "). */
static void yaml_node(FILE *f, const cf_node *n, int indent)
{
    if (n->kind == CF_NODE_MAP) {
        if (indent >= 0) {
            yaml_map(f, n, indent);
            return;
        }
        /* first entry on the current line, the others indented */
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        yaml_map(m, n, -indent);
        fclose(m);
        fputs(buf + -indent, f); /* drop the first line's indentation */
        free(buf);
    } else if (n->kind == CF_NODE_SEQ) {
        int in = indent < 0 ? -indent : indent;
        for (size_t k = 0; k < n->nchild; k++) {
            fprintf(f, "%*s-", in, "");
            yaml_item(f, n->child[k], in);
        }
    } else {
        yaml_scalar(f, n);
        fputc('\n', f);
    }
}

void cf_emit_yaml(FILE *f, const cf_node *root) { yaml_node(f, root, 0); }

/* ---- prototxt ---- */

static void proto_value(FILE *f, const char *key, const cf_node *v)
{
    const char *s = v->value;
    if (!string_field(key) && !v->quoted && (is_number(s) || is_bool(s) || is_enum(s))) fputs(s, f);
    else quoted(f, s);
}

static void proto_map(FILE *f, const cf_node *n, int indent);

static void proto_entry(FILE *f, const char *key, const cf_node *v, int indent)
{
    if (v->kind == CF_NODE_SEQ) {
        for (size_t k = 0; k < v->nchild; k++) proto_entry(f, key, v->child[k], indent);
    } else if (v->kind == CF_NODE_MAP) {
        fprintf(f, "%*s%s {\n", indent, "", key);
        proto_map(f, v, indent + 2);
        fprintf(f, "%*s}\n", indent, "");
    } else {
        fprintf(f, "%*s%s: ", indent, "", key);
        proto_value(f, key, v);
        fputc('\n', f);
    }
}

static void proto_map(FILE *f, const cf_node *n, int indent)
{
    for (size_t i = 0; i < n->nchild; i++)
        if (n->child[i]->key) proto_entry(f, n->child[i]->key, n->child[i], indent);
}

void cf_emit_prototxt(FILE *f, const cf_node *root)
{
    if (root->kind == CF_NODE_MAP) proto_map(f, root, 0);
}
