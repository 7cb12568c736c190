/* args.c — see args.h. */
#include "args.h"

#include <stdio.h>
#include <string.h>

#include "conftree.h"

static void normalise(const char *in, char *out, size_t n)
{
    while (*in == '-') in++;
    size_t i = 0;
    for (; in[i] && in[i] != '=' && i + 1 < n; i++) out[i] = in[i] == '_' ? '-' : in[i];
    out[i] = 0;
}

int cf_args_parse(int argc, char **argv, int first, cf_flag *flags, const char **pos, int maxpos, int *npos)
{
    *npos = 0;
    bool only_pos = false;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || !a[1]) {
            if (*npos >= maxpos) {
                fprintf(stderr, "cafetui: unexpected argument '%s'\n", a);
                return -1;
            }
            pos[(*npos)++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = true;
            continue;
        }
        char name[128];
        normalise(a, name, sizeof name);
        const char *eq = strchr(a, '=');
        cf_flag *f = NULL;
        for (cf_flag *k = flags; k->name; k++)
            if (!strcmp(k->name, name)) f = k;
        if (!f) {
            const char *best = NULL;
            size_t bd = (size_t)-1;
            for (cf_flag *k = flags; k->name; k++) {
                size_t d = cf_edit_distance(name, k->name);
                if (d < bd) bd = d, best = k->name;
            }
            if (best && bd <= 2)
                fprintf(stderr, "cafetui: unknown option '%s' (did you mean '--%s'?)\n", a, best);
            else
                fprintf(stderr, "cafetui: unknown option '%s' (see --help)\n", a);
            return -1;
        }
        if (f->takes_value) {
            if (eq) f->value = eq + 1;
            else if (i + 1 < argc) f->value = argv[++i];
            else {
                fprintf(stderr, "cafetui: option '--%s' needs a value\n", f->name);
                return -1;
            }
        } else {
            if (eq) {
                fprintf(stderr, "cafetui: option '--%s' takes no value\n", f->name);
                return -1;
            }
            f->value = "1";
        }
    }
    return 0;
}

const char *cf_flag_get(const cf_flag *flags, const char *name)
{
    for (const cf_flag *k = flags; k->name; k++)
        if (!strcmp(k->name, name)) return k->value;
    return NULL;
}

void cf_flags_help(const cf_flag *flags)
{
    for (const cf_flag *k = flags; k->name; k++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s", k->name, k->takes_value ? " X" : "");
        fprintf(stderr, "  %-22s %s\n", left, k->help ? k->help : "");
    }
}
