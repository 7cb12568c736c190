/* panes.c — the log pane (the engine's messages and the test results,
 * newest at the bottom, scrollable), the ranks pane of a run over
 * several processes (its text: ranks.c) and the memory pane (the
 * engine's own byte counts, the process RSS, the GPU when there is one). */
#include <stdio.h>
#include <string.h>

#include "draw.h"
#include "fmt.h"
#include "ranks.h"

void cf_draw_log(cf_view *v, const cf_rect *pr)
{
    cf_rect r = cf_pane_frame(pr, "log", v->focus == CF_PANE_LOG);
    int held = (int)(v->nlog < CF_VIEW_LOG ? v->nlog : CF_VIEW_LOG);
    int max_scroll = held - r.h > 0 ? held - r.h : 0;
    if (v->log_scroll > max_scroll) v->log_scroll = max_scroll;
    if (v->log_scroll > 0) {
        char t[48];
        int x = cf_title_start(pr, "log");
        snprintf(t, sizeof t, "%d newer below (])", v->log_scroll);
        cf_title_seg(pr->y, &x, pr->x + pr->w - 1, CF_ROLE_WARN, t);
    }
    /* the r.h lines ending log_scroll lines above the newest */
    int last = (int)v->nlog - 1 - v->log_scroll;
    for (int i = 0; i < r.h; i++) {
        int k = last - (r.h - 1 - i);
        if (k < 0 || k < (int)v->nlog - held) continue;
        const cf_view_log *l = &v->log[k % CF_VIEW_LOG];
        cf_put(r.y + i, r.x + 1, r.w - 1, l->level >= 2 ? CF_ROLE_BAD : l->level ? CF_ROLE_WARN : CF_ROLE_TEXT, l->text);
    }
}

void cf_draw_ranks(cf_view *v, const cf_rect *pr)
{
    cf_rect r = cf_pane_frame(pr, "ranks", v->focus == CF_PANE_RANKS);
    char t[32];
    int x = cf_title_start(pr, "ranks");
    snprintf(t, sizeof t, "%d", v->st.ranks);
    cf_title_seg(pr->y, &x, pr->x + pr->w - 1, CF_ROLE_TEXT, t);
    static char lines[256][CF_RANKS_LINE];
    int rows = r.h < 256 ? r.h : 256;
    int n = cf_ranks_lines(&v->st, r.w - 1, rows, v->ascii, lines);
    for (int i = 0; i < n; i++) cf_put(r.y + i, r.x + 1, r.w - 1, CF_ROLE_TEXT, lines[i]);
}

static void mem_line(const cf_rect *r, int *row, const char *label, const char *value)
{
    if (*row >= r->h) return;
    cf_put(r->y + *row, r->x + 1, r->w - 1, CF_ROLE_DIM, label);
    int n = cf_text_cols(value);
    int x = r->x + r->w - 1 - n;
    if (x < r->x + 11) x = r->x + 11;
    cf_put(r->y + *row, x, r->x + r->w - x, CF_ROLE_TEXT, value);
    (*row)++;
}

void cf_draw_mem(cf_view *v, const cf_rect *pr)
{
    cf_rect r = cf_pane_frame(pr, "memory", v->focus == CF_PANE_MEM);
    const cf_status *st = &v->st;
    char a[32], b[32], t[80];
    int row = 0;
    if (v->readonly) {
        /* instead: what was read from the files */
        const char *say[2] = {"not recorded in", "metrics"};
        for (int i = 0; i < 2 && row < r.h; i++) cf_put(r.y + row++, r.x + 1, r.w - 1, CF_ROLE_DIM, say[i]);
        snprintf(t, sizeof t, "%lu", v->metric_lines);
        mem_line(&r, &row, "lines read", t);
        snprintf(t, sizeof t, "%lu", v->bad_lines);
        mem_line(&r, &row, "bad lines", t);
        if (v->bad_lines && row < r.h) {
            snprintf(t, sizeof t, "line %d: %s", v->bad_line_no, v->bad_why);
            cf_put(r.y + row++, r.x + 1, r.w - 1, CF_ROLE_WARN, t);
        }
        return;
    }
    mem_line(&r, &row, "params", cf_fmt_bytes((double)st->param_bytes, a, sizeof a));
    mem_line(&r, &row, "blobs", cf_fmt_bytes((double)st->blob_bytes, a, sizeof a));
    mem_line(&r, &row, "workspace", cf_fmt_bytes((double)st->workspace_bytes, a, sizeof a));
    mem_line(&r, &row, "process RSS", cf_fmt_bytes((double)st->rss_bytes, a, sizeof a));
    if (st->dev_total) {
        snprintf(t, sizeof t, "%s / %s", cf_fmt_bytes((double)st->dev_used, a, sizeof a),
                 cf_fmt_bytes((double)st->dev_total, b, sizeof b));
        mem_line(&r, &row, "GPU", t);
        mem_line(&r, &row, "on GPU", cf_fmt_bytes((double)st->dev_engine, a, sizeof a));
    }
    if (st->device[0] && row < r.h) cf_put(r.y + row++, r.x + 1, r.w - 1, CF_ROLE_DIM, st->device);
    if (st->batch > 0 && row < r.h) {
        snprintf(t, sizeof t, "batch %d", st->batch);
        cf_put(r.y + row++, r.x + 1, r.w - 1, CF_ROLE_DIM, t);
    }
}
