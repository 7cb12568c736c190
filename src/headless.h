/* headless.h — the front end for scripts: Caffe-style progress lines on
 * stderr (and the run log), metrics as JSON Lines, signals turned into
 * commands (SIGINT: snapshot and stop; SIGHUP: snapshot and go on, or as
 * --sigint-effect / --sighup-effect say).  Reads the engine only through
 * the monitor.  Returns the process exit status: 0 done, 1 runtime
 * failure, 2 bad input. */
#ifndef CF_HEADLESS_H
#define CF_HEADLESS_H

#include "session.h"

int cf_headless_run(cf_session *s);

/* Metrics lines, shared with the TUI (which writes the same file).  A
 * train line takes the status st (NULL: none) for the figures of several
 * processes: ranks, comm_s, step_s, comm_frac, rank<k>_images_per_s;
 * outs (NULL: none) the train net's outputs at that iteration. */
void cf_metrics_iter(FILE *f, const cf_iter_rec *r, const cf_test_rec *outs, const cf_status *st);
/* Lines for the log of a run over several processes, shared with the
 * TUI; false (nothing written) for one process, or before the first
 * timed iteration:
 *   the reduction at each display step ("    2 ranks: communicating ...")
 *   the banner ("cafetui: 2 processes (MPI): batch 64 per rank, ...") */
bool cf_ranks_line(const cf_status *st, char *buf, size_t cap);
bool cf_dist_banner(const cf_session *s, char *buf, size_t cap);
void cf_metrics_test(FILE *f, const cf_test_rec *r);

/* The log lines of a display iteration and of a test pass, as Caffe
 * writes them, shared with the TUI; each line goes to emit(ctx, line).
 *   Iteration 100 (1520 img/s, 4.2 s), loss = 0.61
 *       Train net output #0: loss = 0.58 (* 1 = 0.58 loss)
 *       Iteration 100, lr = 0.00992565
 * outs: the train outputs of that iteration (NULL: none are known, no
 * output lines). */
typedef void cf_emit_fn(void *ctx, const char *line);
void cf_iter_lines(const cf_iter_rec *it, const cf_test_rec *outs, cf_emit_fn *emit, void *ctx);
void cf_test_lines(const cf_test_rec *r, cf_emit_fn *emit, void *ctx);
void cf_metrics_event(FILE *f, int iter, const char *kind, const char *text);

#endif
