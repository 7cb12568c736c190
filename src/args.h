/* args.h — command-line flags, with Caffe's spellings accepted:
 * `--max-iter 5`, `--max-iter=5`, `-max_iter 5`, `--max_iter=5` all mean
 * the same flag.  A flag table names each flag once (with dashes); the
 * parser normalises '_' to '-' and one or two leading dashes. */
#ifndef CF_ARGS_H
#define CF_ARGS_H

#include <stdbool.h>

typedef struct cf_flag {
    const char *name;     /* "max-iter" */
    bool takes_value;
    const char *value;    /* filled: the value, or "1" for a switch */
    const char *help;
} cf_flag;

/* Parse argv[first..argc) against flags (terminated by name == NULL).
 * Positional arguments are collected in pos (at most maxpos).  Returns 0,
 * or prints a message naming the flag to stderr and returns -1. */
int cf_args_parse(int argc, char **argv, int first, cf_flag *flags, const char **pos, int maxpos, int *npos);
const char *cf_flag_get(const cf_flag *flags, const char *name);
void cf_flags_help(const cf_flag *flags);

#endif
