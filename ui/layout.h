/* layout.h — where each pane goes for a given terminal size.
 *
 *   row 0        status line
 *   plots band   loss (3/5 of the width) | accuracy
 *   layers band  per-layer table, full width
 *   bottom band  log | memory (a quarter of the width, 24–34 columns);
 *                over several processes log | ranks | memory, the ranks
 *                pane as wide as the memory pane
 *   last row     keys / prompt / messages
 * The bands take about 41%, 32% and 27% of the rows between status and
 * message line, with floors that keep every pane usable at 80×24.  Below
 * CF_MIN_COLS × CF_MIN_ROWS the layout says too_small.  A zoomed pane
 * gets the whole body (the ranks pane only when it is shown; else
 * nothing is zoomed).  Pure, unit-tested. */
#ifndef CF_UI_LAYOUT_H
#define CF_UI_LAYOUT_H

#include <stdbool.h>

#define CF_MIN_COLS 80
#define CF_MIN_ROWS 24

/* in Tab order: left to right, top to bottom */
enum { CF_PANE_LOSS, CF_PANE_ACC, CF_PANE_LAYERS, CF_PANE_LOG, CF_PANE_RANKS, CF_PANE_MEM, CF_NPANES };

typedef struct cf_rect { int y, x, h, w; } cf_rect;

typedef struct cf_layout {
    bool too_small;
    cf_rect status, footer;
    cf_rect pane[CF_NPANES];  /* h = w = 0: not shown */
} cf_layout;

/* zoom: a pane index to show alone, or -1; ranks: whether the run has
 * several processes (the ranks pane is shown). */
void cf_layout_compute(int cols, int rows, int zoom, bool ranks, cf_layout *l);
const char *cf_pane_name(int pane);

#endif
