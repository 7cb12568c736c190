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

/* Metrics lines, shared with the TUI (which writes the same file). */
void cf_metrics_iter(FILE *f, const cf_iter_rec *r);
void cf_metrics_test(FILE *f, const cf_test_rec *r);
void cf_metrics_event(FILE *f, int iter, const char *kind, const char *text);

#endif
