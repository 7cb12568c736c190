/* cmd_convert.c — `cafetui convert`: datasets into the formats the data
 * layers read.
 *   convert idx2lmdb IMAGES LABELS OUT_LMDB        (Caffe's convert_mnist_data)
 *   convert idx2hdf5 IMAGES LABELS OUT.h5 [--scale S] (+ OUT.txt list file)
 *   convert mean LMDB OUT.binaryproto               (Caffe's compute_image_mean)
 *   convert fashion-mnist [DIR] [--from SRC]        both splits of Debian's
 *        dataset-fashion-mnist into DIR/fashion_{train,test}_lmdb */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "args.h"
#include "commands.h"
#include "convert.h"
#include "emit.h"
#include "parse.h"
#include "upgrade_v1.h"
#include "mean_file.h"

static int usage(void)
{
    fprintf(stderr, "usage: cafetui convert NET_OR_SOLVER [--to yaml|prototxt] > OUT\n"
                    "       cafetui convert idx2lmdb IMAGES LABELS OUT_LMDB\n"
                    "       cafetui convert idx2hdf5 IMAGES LABELS OUT.h5 [--scale S]\n"
                    "       cafetui convert mean LMDB OUT.binaryproto\n"
                    "       cafetui convert random-lmdb OUT [--count 1000] [--shape 3,32,32] [--classes 10] [--seed 1]\n"
                    "       cafetui convert fashion-mnist [DIR] [--from /usr/share/datasets/fashion-mnist]\n");
    return 2;
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int fashion(const char *dir, const char *src)
{
    const char *split[2][3] = {{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "fashion_train_lmdb"},
                               {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "fashion_test_lmdb"}};
    if (mkdir(dir, 0777) && !exists(dir)) {
        fprintf(stderr, "cafetui: %s: cannot create directory\n", dir);
        return 1;
    }
    for (int k = 0; k < 2; k++) {
        char im[1024], lb[1024], out[1024];
        snprintf(im, sizeof im, "%s/%s", src, split[k][0]);
        snprintf(lb, sizeof lb, "%s/%s", src, split[k][1]);
        snprintf(out, sizeof out, "%s/%s", dir, split[k][2]);
        if (exists(out)) {
            fprintf(stderr, "%s exists, kept\n", out);
            continue;
        }
        cf_error err;
        if (cf_convert_idx_to_lmdb(im, lb, out, &err)) {
            int rc = cf_report(&err);
            if (!exists(im)) fprintf(stderr, "hint: install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)\n");
            return rc;
        }
        fprintf(stderr, "wrote %s\n", out);
    }
    return 0;
}

/* A net or solver file to the other text format, on stdout.  V1 nets are
 * upgraded first. */
static int convert_text(const char *path, const char *to)
{
    bool to_yaml = to ? !strcmp(to, "yaml") : cf_config_is_prototxt(path);
    if (to && strcmp(to, "yaml") && strcmp(to, "prototxt")) {
        fprintf(stderr, "cafetui: --to: '%s' is not yaml or prototxt\n", to);
        return 2;
    }
    cf_error err;
    cf_node *root = cf_config_parse_file(path, &err);
    if (!root) return cf_report(&err);
    int upgraded = 0;
    if (cf_node_has(root, "layers") && cf_upgrade_v1(root, &upgraded, &err)) {
        cf_node_free(root);
        return cf_report(&err);
    }
    if (upgraded) fprintf(stderr, "notice: %s uses Caffe's V1 layer syntax; written upgraded\n", path);
    if (to_yaml) cf_emit_yaml(stdout, root);
    else cf_emit_prototxt(stdout, root);
    cf_node_free(root);
    return fflush(stdout) ? 1 : 0;
}

int cf_cmd_convert(int argc, char **argv, int first)
{
    cf_flag flags[] = {
        {"scale", true, NULL, "pixel scale for idx2hdf5 (default 0.00390625)"},
        {"from", true, NULL, "source directory for fashion-mnist"},
        {"to", true, NULL, "yaml or prototxt (default: the other one)"},
        {"count", true, NULL, "records for random-lmdb (default 1000)"},
        {"shape", true, NULL, "C,H,W for random-lmdb (default 3,32,32)"},
        {"classes", true, NULL, "labels for random-lmdb (default 10)"},
        {"seed", true, NULL, "seed for random-lmdb (default 1)"},
        {"help", false, NULL, "this help"},
        {NULL, false, NULL, NULL},
    };
    const char *pos[5];
    int npos;
    if (cf_args_parse(argc, argv, first, flags, pos, 5, &npos)) return 2;
    if (cf_flag_get(flags, "help") || npos < 1) return usage();
    cf_error err;
    const char *what = pos[0];
    if (!strcmp(what, "idx2lmdb") && npos == 4) {
        if (cf_convert_idx_to_lmdb(pos[1], pos[2], pos[3], &err)) return cf_report(&err);
        return 0;
    }
    if (!strcmp(what, "idx2hdf5") && npos == 4) {
        const char *v = cf_flag_get(flags, "scale");
        if (cf_convert_idx_to_hdf5(pos[1], pos[2], pos[3], v ? (float)atof(v) : 0.00390625f, &err))
            return cf_report(&err);
        return 0;
    }
    if (!strcmp(what, "mean") && npos == 3) {
        if (cf_compute_mean(pos[1], pos[2], &err)) return cf_report(&err);
        return 0;
    }
    if (!strcmp(what, "random-lmdb") && npos == 2) {
        const char *v;
        int C = 3, H = 32, W = 32;
        if ((v = cf_flag_get(flags, "shape")) && sscanf(v, "%d,%d,%d", &C, &H, &W) != 3) {
            fprintf(stderr, "cafetui: --shape wants C,H,W (e.g. 3,32,32), got '%s'\n", v);
            return 2;
        }
        long n = (v = cf_flag_get(flags, "count")) ? atol(v) : 1000;
        int classes = (v = cf_flag_get(flags, "classes")) ? atoi(v) : 10;
        unsigned long long seed = (v = cf_flag_get(flags, "seed")) ? strtoull(v, NULL, 10) : 1;
        if (n < 1) {
            fprintf(stderr, "cafetui: --count must be >= 1\n");
            return 2;
        }
        if (cf_convert_random_lmdb(pos[1], (size_t)n, C, H, W, classes, seed, &err)) return cf_report(&err);
        return 0;
    }
    if (npos == 1 && strchr(what, '.')) return convert_text(what, cf_flag_get(flags, "to"));
    if (!strcmp(what, "fashion-mnist") && npos <= 2) {
        const char *src = cf_flag_get(flags, "from");
        return fashion(npos == 2 ? pos[1] : "data", src ? src : "/usr/share/datasets/fashion-mnist");
    }
    return usage();
}
