/* fuzz_common.h — what the libFuzzer harnesses share: a private scratch
 * directory for readers that want a path, and a walk over a config tree
 * that calls every getter on every field (so that a parse that succeeds
 * still has its values converted, as a layer would).
 *
 * Each harness defines LLVMFuzzerTestOneInput and is linked with
 * -fsanitize=fuzzer,address,undefined (fuzz/fuzz.mk). */
#ifndef CF_FUZZ_COMMON_H
#define CF_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conftree.h"

/* A directory of our own, made once per process (in /dev/shm when there
 * is one: the readers open the same file thousands of times a second),
 * removed at exit. */
static char fuzz_dir_[256];

static void fuzz_rmdir_(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_);
    if (system(cmd)) { /* best effort */ }
}

static const char *fuzz_dir(void)
{
    if (!fuzz_dir_[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_dir_, sizeof fuzz_dir_, "%s/cafetui-fuzz-XXXXXX", base);
        if (!mkdtemp(fuzz_dir_)) abort();
        atexit(fuzz_rmdir_);
    }
    return fuzz_dir_;
}

/* Write the input to <dir>/name and return that path (static storage, one
 * per name slot: callers use it before the next call with the same slot). */
static const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[4][512];
    static int slot;
    char *p = path[slot++ % 4];
    snprintf(p, 512, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f)) abort();
    return p;
}

/* NUL-terminated copy of the input (the text parsers want a string). */
static char *fuzz_text(const uint8_t *data, size_t size)
{
    char *t = malloc(size + 1);
    if (!t) abort();
    memcpy(t, data, size);
    t[size] = 0;
    return t;
}

/* Every getter on every field; errors are expected, crashes are not. */
static void fuzz_walk(cf_node *n)
{
    if (!n) return;
    cf_error err;
    if (n->kind == CF_NODE_MAP) {
        for (size_t i = 0; i < n->nchild; i++) {
            const char *k = n->child[i]->key ? n->child[i]->key : "";
            long l;
            double d;
            bool b;
            const char *s;
            cf_node *m;
            static const char *const names[] = {"TRAIN", "TEST", "MAX", "AVE", NULL};
            int e;
            int dims[8], nd;
            (void)cf_get_int(n, k, 0, &l, &err);
            (void)cf_get_float(n, k, 0, &d, &err);
            (void)cf_get_bool(n, k, false, &b, &err);
            (void)cf_get_string(n, k, "", &s, &err);
            (void)cf_get_enum(n, k, names, 0, &e, &err);
            (void)cf_get_int_range(n, k, 0, -5, 5, &l, &err);
            size_t c = cf_node_count(n, k);
            for (size_t j = 0; j < c && j < 4; j++) {
                (void)cf_get_int_at(n, k, j, &l, &err);
                (void)cf_get_float_at(n, k, j, &d, &err);
                (void)cf_get_string_at(n, k, j, &s, &err);
            }
            if (cf_get_map(n, k, &m, &err) == 0 && m) (void)cf_node_shape(m, "fuzz", 8, &nd, dims, &err);
        }
    }
    for (size_t i = 0; i < n->nchild; i++) fuzz_walk(n->child[i]);
    (void)cf_node_check_unused(n, &err);
}

#endif
