/* layers_pane.c — one row per blob of the train net (each layer's tops,
 * then its params), from the statistics the monitor publishes on request.
 * Columns are chosen by priority until the width is used up (at 80
 * columns the shape and diff columns go first); the name column takes
 * what is left, then the sparkline.  Rows that signal trouble (trouble.h)
 * are marked with '!' and the offending cell is coloured. */
#include <stdio.h>
#include <string.h>

#include "draw.h"
#include "fmt.h"
#include "sparkline.h"
#include "trouble.h"

enum { C_MEAN, C_ZERO, C_NONFIN, C_RATIO, C_GRAD, C_SPARK, C_STD, C_NORM, C_SHAPE, C_DSTD, NCOL };

/* in order of priority; widths include one leading space */
static const struct { const char *head; int w; } cols[NCOL] = {
    [C_MEAN] = {"mean", 10},  [C_ZERO] = {"zero", 5},  [C_NONFIN] = {"!fin", 5}, [C_RATIO] = {"upd/w", 9},
    [C_GRAD] = {"|grad|", 9}, [C_SPARK] = {"", 9},      [C_STD] = {"std", 9},     [C_NORM] = {"|w|", 9},
    [C_SHAPE] = {"shape", 15}, [C_DSTD] = {"diff std", 9},
};
/* left to right on screen */
static const int order[NCOL] = {C_SHAPE, C_MEAN, C_STD, C_ZERO, C_NONFIN, C_NORM, C_GRAD, C_RATIO, C_DSTD, C_SPARK};

#define NAME_MIN 12
#define NAME_MAX 26
#define SPARK_MAX 40

static void row_name(const cf_blob_stat *b, char *out, size_t n)
{
    if (b->kind == 'p') snprintf(out, n, "%s.%s", b->layer, !strcmp(b->blob, "weights") ? "w" : !strcmp(b->blob, "bias") ? "b" : b->blob);
    else if (!strcmp(b->layer, b->blob)) snprintf(out, n, "%s", b->layer);
    else snprintf(out, n, "%s:%s", b->layer, b->blob);
}

/* "64 20 24 24 (737280)" → "64x20x24x24" */
static void shape_str(const char *s, char *out, size_t n)
{
    size_t k = 0;
    for (; *s && *s != '(' && k + 1 < n; s++) out[k++] = *s == ' ' ? 'x' : *s;
    while (k && out[k - 1] == 'x') k--;
    out[k] = 0;
}

/* Right-aligned in a column of width w (leading space included). */
static void cell(int y, int x, int w, int role, const char *s)
{
    int n = cf_text_cols(s);
    if (n > w - 1) n = w - 1;
    cf_put(y, x + w - n, n, role, s);
}

void cf_draw_layers(cf_view *v, const cf_rect *pr)
{
    cf_rect r = cf_pane_frame(pr, "layers", v->focus == CF_PANE_LAYERS);
    if (v->readonly) {
        cf_put(r.y + r.h / 2, r.x + 1, r.w - 1, CF_ROLE_DIM,
               "layer statistics: not recorded in metrics (watch a run live to see them)");
        return;
    }
    /* which columns fit */
    bool on[NCOL] = {0};
    int used = NAME_MIN + 1;
    for (int c = 0; c < NCOL; c++)
        if (used + cols[c].w <= r.w) on[c] = true, used += cols[c].w;
    int spare = r.w - used;
    int name_w = NAME_MIN + (spare < NAME_MAX - NAME_MIN ? spare : NAME_MAX - NAME_MIN);
    spare -= name_w - NAME_MIN;
    int spark_w = on[C_SPARK] ? cols[C_SPARK].w + (spare < SPARK_MAX - 8 ? spare : SPARK_MAX - 8) : 0;

    /* title: iteration of the figures, trouble count, sparkline metric, scroll position */
    int ntrouble = 0;
    for (int i = 0; i < v->nrows; i++) ntrouble += v->row[i].trouble != 0;
    char t[96];
    int x = cf_title_start(pr, "layers"), end = pr->x + pr->w - 1;
    if (v->have_stats) {
        snprintf(t, sizeof t, "@ iter %d", v->stats_iter);
        cf_title_seg(pr->y, &x, end, CF_ROLE_DIM, t);
    }
    if (ntrouble) {
        snprintf(t, sizeof t, "%d in trouble", ntrouble);
        cf_title_seg(pr->y, &x, end, CF_ROLE_BAD, t);
    }
    int body = r.h - 1;
    if (v->layer_scroll > v->nrows - body) v->layer_scroll = v->nrows - body > 0 ? v->nrows - body : 0;
    if (v->nrows > body) {
        snprintf(t, sizeof t, "rows %d-%d/%d", v->layer_scroll + 1, v->layer_scroll + body, v->nrows);
        cf_title_seg(pr->y, &x, end, CF_ROLE_DIM, t);
    }
    if (on[C_SPARK]) {
        snprintf(t, sizeof t, "m: %s", cf_spark_name(v->spark));
        cf_title_seg(pr->y, &x, end, CF_ROLE_DIM, t);
    }

    /* header */
    cf_put(r.y, r.x + 1, name_w, CF_ROLE_HEADER, "blob");
    x = r.x + 1 + name_w;
    for (int k = 0; k < NCOL; k++) {
        int c = order[k];
        if (!on[c]) continue;
        int w = c == C_SPARK ? spark_w : cols[c].w;
        if (c == C_SHAPE || c == C_SPARK) cf_put(r.y, x + 1, w - 1, CF_ROLE_HEADER, c == C_SPARK ? "history" : cols[c].head);
        else cell(r.y, x, w, CF_ROLE_HEADER, cols[c].head);
        x += w;
    }
    if (!v->have_stats) {
        cf_put(r.y + 1, r.x + 1, r.w - 1, CF_ROLE_DIM, "waiting for statistics...");
        return;
    }

    for (int i = 0; i < body && v->layer_scroll + i < v->nrows; i++) {
        const cf_view_row *row = &v->row[v->layer_scroll + i];
        const cf_blob_stat *b = &row->st;
        unsigned tr = row->trouble;
        int y = r.y + 1 + i;
        char s[256], a[32];
        int base = tr & CF_TROUBLE_NONFINITE ? CF_ROLE_BAD : CF_ROLE_TEXT;
        cf_put(y, r.x, 1, CF_ROLE_BAD, tr ? "!" : " ");
        row_name(b, s, sizeof s);
        cf_put(y, r.x + 1, name_w - 1, tr ? CF_ROLE_BAD : b->kind == 'p' ? CF_ROLE_DIM : CF_ROLE_TEXT, s);
        x = r.x + 1 + name_w;
        for (int k = 0; k < NCOL; k++) {
            int c = order[k];
            if (!on[c]) continue;
            int w = c == C_SPARK ? spark_w : cols[c].w;
            double ratio = cf_update_ratio(b);
            switch (c) {
            case C_SHAPE: shape_str(b->shape, s, sizeof s); cf_put(y, x + 1, w - 1, CF_ROLE_DIM, s); break;
            case C_MEAN: cell(y, x, w, base, cf_fmt_num(b->data.mean, a, sizeof a)); break;
            case C_STD: cell(y, x, w, base, cf_fmt_num(b->data.std, a, sizeof a)); break;
            case C_ZERO:
                snprintf(s, sizeof s, "%.0f%%", 100.0 * b->data.zero_frac);
                cell(y, x, w, tr & CF_TROUBLE_DEAD ? CF_ROLE_BAD : base, s);
                break;
            case C_NONFIN:
                snprintf(s, sizeof s, "%u", b->data.nonfinite + b->diff.nonfinite);
                cell(y, x, w, tr & CF_TROUBLE_NONFINITE ? CF_ROLE_BAD : CF_ROLE_DIM, s);
                break;
            case C_NORM: if (b->kind == 'p') cell(y, x, w, base, cf_fmt_num(b->norm, a, sizeof a)); break;
            case C_GRAD: if (b->kind == 'p') cell(y, x, w, base, cf_fmt_num(b->grad_norm, a, sizeof a)); break;
            case C_RATIO:
                if (ratio >= 0)
                    cell(y, x, w, tr & CF_TROUBLE_EXPLODE ? CF_ROLE_BAD : tr & CF_TROUBLE_VANISH ? CF_ROLE_WARN : base,
                         cf_fmt_num(ratio, a, sizeof a));
                break;
            case C_DSTD: cell(y, x, w, base, cf_fmt_num(b->diff.std, a, sizeof a)); break;
            case C_SPARK: {
                int m = cf_view_spark_metric(v, row);
                if (cf_sparkline(row->hist[m], row->nhist, w - 1, v->ascii, s, sizeof s) >= 0)
                    cf_put(y, x + 1, w - 1, tr ? CF_ROLE_WARN : CF_ROLE_SERIES0 + 1, s);
                break;
            }
            }
            x += w;
        }
    }
}
