/* layout.c — see layout.h. */
#include "layout.h"

#include <string.h>

static const char *const names[CF_NPANES] = {"loss", "accuracy", "layers", "log", "ranks", "memory"};

const char *cf_pane_name(int pane)
{
    return pane >= 0 && pane < CF_NPANES ? names[pane] : "?";
}

static cf_rect rect(int y, int x, int h, int w) { return (cf_rect){y, x, h, w}; }

void cf_layout_compute(int cols, int rows, int zoom, bool ranks, cf_layout *l)
{
    memset(l, 0, sizeof *l);
    if (cols < CF_MIN_COLS || rows < CF_MIN_ROWS) {
        l->too_small = true;
        return;
    }
    l->status = rect(0, 0, 1, cols);
    l->footer = rect(rows - 1, 0, 1, cols);
    int body = rows - 2;
    if (zoom == CF_PANE_RANKS && !ranks) zoom = -1;
    if (zoom >= 0 && zoom < CF_NPANES) {
        l->pane[zoom] = rect(1, 0, body, cols);
        return;
    }
    int bottom = body * 27 / 100, plots = body * 41 / 100;
    if (bottom < 6) bottom = 6;
    if (plots < 9) plots = 9;
    int layers = body - plots - bottom;
    int loss_w = cols * 3 / 5;
    int mem_w = cols / 4;
    if (mem_w < 24) mem_w = 24;
    if (mem_w > 34) mem_w = 34;
    l->pane[CF_PANE_LOSS] = rect(1, 0, plots, loss_w);
    l->pane[CF_PANE_ACC] = rect(1, loss_w, plots, cols - loss_w);
    l->pane[CF_PANE_LAYERS] = rect(1 + plots, 0, layers, cols);
    int ranks_w = ranks ? mem_w : 0;
    l->pane[CF_PANE_LOG] = rect(1 + plots + layers, 0, bottom, cols - mem_w - ranks_w);
    if (ranks) l->pane[CF_PANE_RANKS] = rect(1 + plots + layers, cols - mem_w - ranks_w, bottom, ranks_w);
    l->pane[CF_PANE_MEM] = rect(1 + plots + layers, cols - mem_w, bottom, mem_w);
}
