/* main.c — the cafetui program: picks the verb.
 *   cafetui RECIPE                 train in the TUI (headless without a terminal)
 *   cafetui --headless RECIPE      train, progress on stderr
 *   cafetui train RECIPE           same as --headless (Caffe's verb)
 *   cafetui gradcheck RECIPE       finite-difference check of every layer
 *   cafetui time --model NET       per-layer timings
 *   cafetui convert ...            datasets to LMDB / HDF5, mean files
 *   cafetui device                 what the machine offers
 *   cafetui view RUN_DIR           a run's metrics in the TUI's panes, read-only
 * Under mpirun (a build with MPI) every process joins the job first and
 * leaves it last (engine/dist/dist.h); training is then data-parallel. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "dist/dist.h"
#include "layer.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cafetui RECIPE [options]            train, watching in the TUI\n"
            "       cafetui --headless RECIPE [options] train without a terminal\n"
            "       cafetui train RECIPE [options]      the same (also --solver FILE)\n"
            "       cafetui gradcheck RECIPE            check every layer's gradient\n"
            "       cafetui time --model NET            per-layer forward/backward times\n"
            "       cafetui test --model NET --weights W  test outputs averaged over batches\n"
            "       cafetui export --model NET --weights W -o OUT.caffemodel\n"
            "       cafetui convert ...                 IDX to LMDB/HDF5, mean files\n"
            "       cafetui device                      CPU (and GPU) information\n"
            "       cafetui view RUN_DIR                a run's metrics and log in the TUI's panes\n"
            "       cafetui --layers | --version | --help\n"
            "RECIPE is a YAML recipe, a Caffe solver .prototxt, or (for time) a net.\n"
            "Run 'cafetui train --help' for the training options; see cafetui(1).\n");
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *v = argv[1];
    if (!strcmp(v, "--version") || !strcmp(v, "version")) {
        printf("cafetui %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (!strcmp(v, "--help") || !strcmp(v, "-h") || !strcmp(v, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(v, "--layers")) {
        const char *const *t = cf_layer_types();
        for (int i = 0; t[i]; i++) printf("%s\n", t[i]);
        return 0;
    }
    if (!strcmp(v, "train")) return cf_cmd_train(argc, argv, 2, 1);
    if (!strcmp(v, "gradcheck")) return cf_cmd_gradcheck(argc, argv, 2);
    if (!strcmp(v, "time")) return cf_cmd_time(argc, argv, 2);
    if (!strcmp(v, "convert")) return cf_cmd_convert(argc, argv, 2);
    if (!strcmp(v, "test")) return cf_cmd_test(argc, argv, 2);
    if (!strcmp(v, "export")) return cf_cmd_export(argc, argv, 2);
    if (!strcmp(v, "device") || !strcmp(v, "device_query")) return cf_cmd_device(argc, argv, 2);
    if (!strcmp(v, "view")) return cf_cmd_view(argc, argv, 2);
    return cf_cmd_train(argc, argv, 1, 0);
}

int main(int argc, char **argv)
{
    cf_dist_init(&argc, &argv);
    int rc = run(argc, argv);
    cf_dist_finalize();
    return rc;
}
