/* cmd_device.c — `cafetui device`: what the machine offers (Caffe's
 * device_query): CPU model, cores, vector extensions, memory, the BLAS
 * and primitive libraries this build uses, and GPUs when built with CUDA. */
#include <cblas.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"

static void cpu_line(const char *key, char *out, size_t n)
{
    out[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[4096];
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl)) {
            char *c = strchr(line, ':');
            if (c) snprintf(out, n, "%s", c + 2);
            out[strcspn(out, "\n")] = 0;
            break;
        }
    fclose(f);
}

static bool has_flag(const char *flags, const char *f)
{
    size_t n = strlen(f);
    for (const char *p = flags; (p = strstr(p, f)); p += n)
        if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return true;
    return false;
}

int cf_cmd_device(int argc, char **argv, int first)
{
    (void)argc;
    (void)argv;
    (void)first;
    char model[256], flags[8192];
    cpu_line("model name", model, sizeof model);
    cpu_line("flags", flags, sizeof flags);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGE_SIZE);
    printf("Device 0: CPU\n");
    printf("  Name:              %s\n", model[0] ? model : "unknown");
    printf("  Cores online:      %ld\n", cores);
    printf("  Memory:            %.1f GiB\n", (double)pages * psize / (1024.0 * 1024 * 1024));
    const char *ext[] = {"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "amx_tile"};
    printf("  Vector extensions:");
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
        if (has_flag(flags, ext[i])) printf(" %s", ext[i]);
    printf("\n  BLAS:              %s (core %s)\n", openblas_get_config(), openblas_get_corename());
#ifdef HAVE_DNNL
    printf("  oneDNN:            built in\n");
#else
    printf("  oneDNN:            not built in\n");
#endif
#ifdef HAVE_CUDA
    printf("GPUs: see the CUDA backend\n");
#else
    printf("GPUs:                this build has no GPU backend (./configure --with-cuda)\n");
#endif
    return 0;
}
