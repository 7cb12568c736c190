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
#include "cuda/gpu.h"

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

static double gib(size_t b) { return (double)b / (1024.0 * 1024 * 1024); }

/* Each GPU, as Caffe's device_query shows it (--gpu N picks one). */
static void list_gpus(void)
{
    if (!cf_gpu_built()) {
        printf("GPUs:                this build has no GPU backend (./configure --with-cuda)\n");
        return;
    }
    cf_error err;
    int n = cf_gpu_count(&err);
    if (n == 0) {
        printf("GPUs:                none (%s)\n", err.msg);
        return;
    }
    for (int i = 0; i < n; i++) {
        cf_gpu_info g;
        if (cf_gpu_info_get(i, &g, &err)) {
            printf("GPU %d:               %s\n", i, err.msg);
            continue;
        }
        printf("GPU %d: %s (--gpu %d)\n", i, g.name, i);
        printf("  Compute capability: %d.%d\n", g.major, g.minor);
        printf("  Multiprocessors:   %d\n", g.sm_count);
        if (g.clock_mhz) printf("  Clock:             %d MHz\n", g.clock_mhz);
        printf("  Memory:            %.1f GiB (%.1f GiB free)\n", gib(g.mem_total), gib(g.mem_free));
        if (g.mem_clock_mhz) printf("  Memory clock:      %d MHz, %d-bit bus\n", g.mem_clock_mhz, g.mem_bus_bits);
        printf("  L2 cache:          %.1f MiB\n", (double)g.l2_bytes / (1024.0 * 1024));
        printf("  CUDA:              driver %d.%d, runtime %d.%d\n", g.driver_version / 1000,
               g.driver_version % 1000 / 10, g.runtime_version / 1000, g.runtime_version % 1000 / 10);
    }
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
    list_gpus();
    return 0;
}
