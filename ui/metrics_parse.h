/* metrics_parse.h — a strict reader for one line of a run's metrics.jsonl,
 * as src/headless.c writes them (cf_metrics_iter, cf_metrics_test,
 * cf_metrics_event):
 *
 *   {"type":"train","iter":N,"loss":X,"smoothed_loss":X,"lr":X,"images_per_s":X,"elapsed_s":X}
 *     and at display iterations "outputs":{"name":X,...} (the train net's),
 *     and over several processes (MPI) also, all optional:
 *     "ranks":N,"comm_s":X,"step_s":X,"comm_frac":X,"rank0_images_per_s":X,...
 *   {"type":"test","iter":N,"net":N,"outputs":{"name":X,...},"loss":X,"seconds":X}
 *   {"type":"event","iter":N,"event":"S","text":"S"}
 *
 * X is a JSON number or null (a non-finite value; read back as NaN), N a
 * non-negative integer, S a string.  The grammar is JSON's, restricted to
 * what those writers produce: one object per line, values that are
 * numbers, null or strings, and the one nested object "outputs" (names to
 * numbers or null).  Every key of the line's type must be there, once;
 * (a train line's outputs and the per-rank keys above may be missing: a
 * run on one process has none of the latter);
 * keys the writers never put in any line are ignored when their value is
 * a number, null or a string (so a newer writer's extra field does not
 * hide the line), and refused otherwise; a key that belongs to another
 * type is refused.  Strings take every JSON escape (json_str writes \" \\
 * and \u00XX); \u0000 and lone surrogates are refused.  Anything else --
 * a truncated line, a NUL byte, text after the object -- makes the line
 * bad, with a reason naming the column.
 *
 * The metrics do not say which test outputs are losses; an output whose
 * name contains "loss" is taken for one (weight 1), as Caffe names them.
 * Names and texts longer than the records hold are cut (at a UTF-8
 * character boundary).  Pure: no I/O, never reads past len. */
#ifndef CF_UI_METRICS_PARSE_H
#define CF_UI_METRICS_PARSE_H

#include <stddef.h>

#include "monitor.h"

typedef enum { CF_MLINE_BAD = -1, CF_MLINE_EMPTY, CF_MLINE_TRAIN, CF_MLINE_TEST, CF_MLINE_EVENT } cf_mline_type;

/* A train line's figures of several processes (cf_status's): ranks 0
 * when the line has none; a rank<k>_images_per_s that is missing (or
 * null, or k ≥ CF_MON_MAX_RANKS: not kept) reads as NaN. */
typedef struct cf_mline_ranks {
    int ranks;
    double comm_s, step_s, comm_frac;
    double ips[CF_MON_MAX_RANKS];
} cf_mline_ranks;

typedef struct cf_mline {
    cf_mline_type type;
    cf_iter_rec train;       /* CF_MLINE_TRAIN */
    cf_mline_ranks ranks;    /* CF_MLINE_TRAIN */
    cf_test_rec test;        /* CF_MLINE_TEST; CF_MLINE_TRAIN: the train
                                outputs (net -1, n 0 when the line has none) */
    int iter;                /* every type: the line's "iter" */
    char event[16];          /* CF_MLINE_EVENT: "log" or "warning" */
    char text[240];
    char why[96];            /* CF_MLINE_BAD: what is wrong, "col N: ..." */
} cf_mline;

/* Parse line[0..len) (without its newline).  A line of blanks only is
 * CF_MLINE_EMPTY.  Returns out->type. */
cf_mline_type cf_metrics_parse(const char *line, size_t len, cf_mline *out);

#endif
