/* plot_panes.c — the loss and accuracy panes: curves rasterised on a
 * braille canvas (plot.h) at the pane's full resolution, with a y axis
 * labelled at its top, middle and bottom and an x axis labelled with the
 * first and last iteration shown. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "draw.h"
#include "fmt.h"

#define LABEL_W 8
#define VIEW_MAX (CF_VIEW_SERIES_CAP + CF_SERIES_RECENT + 1)

typedef struct plot_line {
    const cf_pt *p;
    int n;
    int role;
} plot_line;

typedef struct plot_geom {
    int y, x, h, w;          /* the dot area, in cells */
    cf_scale xs, ys;
    cf_canvas cv;
} plot_geom;

static void centered(const cf_rect *r, int role, const char *text)
{
    int n = cf_text_cols(text);
    int x = r->x + (r->w - n) / 2;
    cf_put(r->y + r->h / 2, x > r->x ? x : r->x, r->w, role, text);
}

/* Draw axes and curves into the inner rectangle r.  Returns 0 when drawn
 * (g holds the scales and the canvas, which the caller frees), -1 when
 * nothing can be placed on these scales. */
static int draw_plot(cf_view *v, const cf_rect *r, const plot_line *lines, int nl, bool logy, const char *note,
                     plot_geom *g)
{
    g->y = r->y;
    g->x = r->x + LABEL_W + 1;
    g->h = r->h - 1;
    g->w = r->w - LABEL_W - 1;
    if (g->h < 1 || g->w < 2) return -1;
    cf_scale_reset(&g->xs, false);
    cf_scale_reset(&g->ys, logy);
    for (int k = 0; k < nl; k++)
        for (int i = 0; i < lines[k].n; i++) {
            if (!cf_scale_usable(&g->ys, lines[k].p[i].y)) continue;
            cf_scale_add(&g->xs, lines[k].p[i].x);
            cf_scale_add(&g->ys, lines[k].p[i].y);
        }
    if (g->xs.any && g->xs.hi == g->xs.lo) g->xs.hi = g->xs.lo + 1; /* one iteration: a unit range */
    if (!cf_scale_finish(&g->xs) || !cf_scale_finish(&g->ys)) return -1;
    if (cf_canvas_init(&g->cv, g->w, g->h)) return -1;
    for (int k = 0; k < nl; k++) cf_plot_series(&g->cv, &g->xs, &g->ys, lines[k].p, (size_t)lines[k].n, k + 1);

    /* y axis: labels at the top, middle and bottom rows */
    char a[32];
    attrset(cf_role(CF_ROLE_DIM));
    mvvline(g->y, g->x - 1, cf_ch(CF_CH_V), g->h);
    mvaddch(g->y + g->h, g->x - 1, cf_ch(CF_CH_LL));
    mvhline(g->y + g->h, g->x, cf_ch(CF_CH_H), g->w);
    attrset(A_NORMAL);
    double mid = logy ? sqrt(g->ys.lo * g->ys.hi) : (g->ys.lo + g->ys.hi) / 2;
    struct { int row; double val; } yl[3] = {{0, g->ys.hi}, {g->h - 1, g->ys.lo}, {(g->h - 1) / 2, mid}};
    for (int i = 0; i < (g->h >= 5 ? 3 : g->h >= 2 ? 2 : 1); i++) {
        cf_fmt_num(yl[i].val, a, sizeof a);
        int n = cf_text_cols(a);
        cf_put(g->y + yl[i].row, g->x - 1 - (n < LABEL_W ? n : LABEL_W), LABEL_W, CF_ROLE_DIM, a);
    }
    /* x axis: first and last iteration, and in the middle what is shown */
    char b[32];
    cf_fmt_num(round(g->xs.lo), a, sizeof a);
    cf_fmt_num(round(g->xs.hi), b, sizeof b);
    int na = cf_text_cols(a), nb = cf_text_cols(b), nn = cf_text_cols(note);
    cf_put(g->y + g->h, g->x, g->w, CF_ROLE_DIM, a);
    if (na + nb + 2 <= g->w) cf_put(g->y + g->h, g->x + g->w - nb, nb, CF_ROLE_DIM, b);
    if (na + nb + nn + 4 <= g->w) cf_put(g->y + g->h, g->x + (g->w - nn) / 2, nn, CF_ROLE_DIM, note);

    /* the dots, each cell in the colour of the last curve through it */
    char ch[4] = {0};
    for (int cy = 0; cy < g->h; cy++)
        for (int cx = 0; cx < g->w; cx++) {
            size_t i = (size_t)cy * g->w + cx;
            uint8_t bits = g->cv.bits[i];
            if (!bits) continue;
            int role = lines[g->cv.owner[i] - 1].role;
            if (v->ascii) {
                ch[0] = cf_dots_ascii(bits);
                ch[1] = 0;
            } else cf_braille(bits, ch);
            cf_put(g->y + cy, g->x + cx, 1, role, ch);
        }
    return 0;
}

static double zoom_xmin(const cf_view *v)
{
    if (v->zoom == CF_ZOOM_ALL || !v->loss_raw.total) return -INFINITY;
    double n = v->zoom == CF_ZOOM_1000 ? 1000 : 100;
    return v->loss_raw.last.x - n + 1;
}

void cf_draw_loss(cf_view *v, const cf_rect *pr)
{
    static cf_pt raw[VIEW_MAX], smooth[VIEW_MAX], test[VIEW_MAX];
    cf_rect r = cf_pane_frame(pr, "loss", v->focus == CF_PANE_LOSS);
    double xmin = zoom_xmin(v);
    plot_line lines[3] = {
        {raw, cf_series_view(&v->loss_raw, xmin, raw, VIEW_MAX), CF_ROLE_RAW},
        {smooth, cf_series_view(&v->loss_smooth, xmin, smooth, VIEW_MAX), CF_ROLE_SMOOTH},
        {test, cf_series_view(&v->test_loss, xmin, test, VIEW_MAX), CF_ROLE_TEST},
    };
    /* title: legend with the latest values, then the axis settings */
    char a[32], t[64];
    int x = cf_title_start(pr, "loss"), end = pr->x + pr->w - 1;
    cf_title_seg(pr->y, &x, end, CF_ROLE_RAW, "raw");
    snprintf(t, sizeof t, "smoothed %s", v->loss_smooth.total ? cf_fmt_num(v->loss_smooth.last.y, a, sizeof a) : "-");
    cf_title_seg(pr->y, &x, end, CF_ROLE_SMOOTH, t);
    if (v->test_loss.total) {
        snprintf(t, sizeof t, "test %s", cf_fmt_num(v->test_loss.last.y, a, sizeof a));
        cf_title_seg(pr->y, &x, end, CF_ROLE_TEST, t);
    }

    if (!v->loss_raw.total) {
        centered(&r, CF_ROLE_DIM, "waiting for the first iteration...");
        return;
    }
    plot_geom g;
    char note[64];
    snprintf(note, sizeof note, " iter%s%s ", (const char *[]){"", ", last 1000", ", last 100"}[v->zoom],
             v->logy ? ", log y" : "");
    if (draw_plot(v, &r, lines, 3, v->logy, note, &g)) {
        centered(&r, CF_ROLE_WARN, v->logy ? "no positive values for a log axis (L: linear)" : "nothing to plot");
        return;
    }
    cf_canvas_free(&g.cv);
}

void cf_draw_acc(cf_view *v, const cf_rect *pr)
{
    static cf_pt pts[CF_VIEW_MAX_ACC][VIEW_MAX];
    cf_rect r = cf_pane_frame(pr, "accuracy", v->focus == CF_PANE_ACC);
    if (!v->nacc) {
        centered(&r, CF_ROLE_DIM, v->has_test ? "no test outputs yet" : "no test net in this recipe");
        return;
    }
    plot_line lines[CF_VIEW_MAX_ACC];
    int x = cf_title_start(pr, "accuracy"), end = pr->x + pr->w - 1;
    const char *star = v->ascii ? "*" : "\u25c6";
    for (int i = 0; i < v->nacc; i++) {
        lines[i] = (plot_line){pts[i], cf_series_view(&v->acc[i], -INFINITY, pts[i], VIEW_MAX), CF_ROLE_SERIES0 + i % 6};
        /* "name last ◆best", shortened to what the title has room for */
        char a[32], b[32], t[3][160];
        cf_fmt_num(v->acc[i].last.y, a, sizeof a);
        cf_fmt_num(v->acc_best[i], b, sizeof b);
        snprintf(t[0], sizeof t[0], "%s %s %s%s", v->acc_name[i], a, star, b);
        snprintf(t[1], sizeof t[1], "%s %s%s", a, star, b);
        snprintf(t[2], sizeof t[2], "%s%s", star, b);
        int k = 0;
        while (k < 2 && x + cf_text_cols(t[k]) + 2 > end) k++;
        cf_title_seg(pr->y, &x, end, lines[i].role, t[k]);
    }
    plot_geom g;
    if (draw_plot(v, &r, lines, v->nacc, false, " iter ", &g)) {
        centered(&r, CF_ROLE_DIM, "nothing to plot");
        return;
    }
    /* mark each output's best value where it was reached */
    for (int i = 0; i < v->nacc; i++) {
        int cx, cy;
        if (!isnan(v->acc_best[i]) && !cf_plot_cell(&g.cv, &g.xs, &g.ys, v->acc_best_iter[i], v->acc_best[i], &cx, &cy))
            cf_put(g.y + cy, g.x + cx, 1, lines[i].role, star);
    }
    cf_canvas_free(&g.cv);
}
