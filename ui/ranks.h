/* ranks.h — the text of the ranks pane, shown when a run has several
 * processes (MPI): what the gradient reduction costs each iteration and
 * each rank's throughput, so that a slow link or a straggling rank shows.
 *
 *   comm  2.46 ms 53.8%        rank 0's mean time per iteration in the
 *   step        4.57 ms        reduction (posting it, waiting for it, its
 *   r0      34.7k img/s ███    control message), its share of the step,
 *   r1      28.6k img/s ██     and each rank's images/s while computing
 *
 * The figures are cf_status's (the live TUI has them from the monitor;
 * `cafetui view` from metrics.jsonl's train lines).  A rank per line, with
 * a bar against the fastest when the width allows; when they do not fit,
 * several to a line ("r0 34.7k  r1 28.6k"), and what still does not fit
 * counted on the last line.  A figure not known yet (before the first
 * timed iteration, or missing from the metrics) is "--".  Pure: no
 * terminal, unit-tested. */
#ifndef CF_UI_RANKS_H
#define CF_UI_RANKS_H

#include <stdbool.h>

#include "monitor.h"

#define CF_RANKS_LINE 256

/* Whether the ranks pane is shown: more than one rank. */
bool cf_ranks_shown(const cf_status *st);
/* At most `rows` lines of at most `width` columns (UTF-8 text; the bars
 * are '#' when ascii) into out.  Returns how many. */
int cf_ranks_lines(const cf_status *st, int width, int rows, bool ascii, char (*out)[CF_RANKS_LINE]);

#endif
