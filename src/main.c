/* main.c — the cafetui program: dispatches to the verbs. */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "layer.h"

static void print_layers(void)
{
    const char *const *t = cf_layer_types();
    for (int i = 0; t[i]; i++) printf("%s\n", t[i]);
}

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        printf("cafetui %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--layers")) {
        print_layers();
        return 0;
    }
    printf("cafetui %s\nlayer types:\n", PACKAGE_VERSION);
    print_layers();
    return 0;
}
