/* draw.c — curses helpers (see draw.h) and the frame: status line,
 * message line, help overlay, "terminal too small", and the panes in
 * the places layout.c gives them. */
#include <stdio.h>
#include <string.h>

#include "draw.h"
#include "fmt.h"
#include "ranks.h"

static attr_t roles[CF_NROLES];
static bool ascii_lines;

chtype cf_ch(int which)
{
    static const char plain[] = "-|+++++";
    if (ascii_lines) return (chtype)plain[which];
    switch (which) {
    case CF_CH_H: return ACS_HLINE;
    case CF_CH_V: return ACS_VLINE;
    case CF_CH_TEE: return ACS_TTEE;
    case CF_CH_LL: return ACS_LLCORNER;
    case CF_CH_UL: return ACS_ULCORNER;
    case CF_CH_UR: return ACS_URCORNER;
    default: return ACS_LRCORNER;
    }
}

void cf_draw_init(bool color, bool ascii)
{
    ascii_lines = ascii;
    static const short series[6] = {COLOR_GREEN, COLOR_CYAN, COLOR_YELLOW, COLOR_MAGENTA, COLOR_BLUE, COLOR_RED};
    for (int i = 0; i < CF_NROLES; i++) roles[i] = A_NORMAL;
    roles[CF_ROLE_DIM] = A_DIM;
    roles[CF_ROLE_RAW] = A_DIM;
    roles[CF_ROLE_SMOOTH] = A_BOLD;
    roles[CF_ROLE_TEST] = A_BOLD;
    roles[CF_ROLE_BAD] = A_BOLD | A_STANDOUT;
    roles[CF_ROLE_WARN] = A_BOLD;
    roles[CF_ROLE_STATUS] = A_REVERSE;
    roles[CF_ROLE_FOCUS] = A_REVERSE | A_BOLD;
    roles[CF_ROLE_HEADER] = A_BOLD;
    roles[CF_ROLE_TITLE] = A_BOLD;
    if (!color) return;
    /* pair numbers are the role numbers; -1: the terminal's own background */
    init_pair(CF_ROLE_SMOOTH, COLOR_YELLOW, -1);
    init_pair(CF_ROLE_TEST, COLOR_MAGENTA, -1);
    for (int i = 0; i < 6; i++) init_pair((short)(CF_ROLE_SERIES0 + i), series[i], -1);
    init_pair(CF_ROLE_BAD, COLOR_RED, -1);
    init_pair(CF_ROLE_WARN, COLOR_YELLOW, -1);
    init_pair(CF_ROLE_GOOD, COLOR_GREEN, -1);
    init_pair(CF_ROLE_STATUS, COLOR_BLACK, COLOR_CYAN);
    init_pair(CF_ROLE_FOCUS, COLOR_BLACK, COLOR_CYAN);
    init_pair(CF_ROLE_TITLE, COLOR_CYAN, -1);
    roles[CF_ROLE_SMOOTH] = COLOR_PAIR(CF_ROLE_SMOOTH) | A_BOLD;
    roles[CF_ROLE_TEST] = COLOR_PAIR(CF_ROLE_TEST) | A_BOLD;
    for (int i = 0; i < 6; i++) roles[CF_ROLE_SERIES0 + i] = COLOR_PAIR(CF_ROLE_SERIES0 + i) | A_BOLD;
    roles[CF_ROLE_BAD] = COLOR_PAIR(CF_ROLE_BAD) | A_BOLD;
    roles[CF_ROLE_WARN] = COLOR_PAIR(CF_ROLE_WARN);
    roles[CF_ROLE_GOOD] = COLOR_PAIR(CF_ROLE_GOOD);
    roles[CF_ROLE_STATUS] = COLOR_PAIR(CF_ROLE_STATUS);
    roles[CF_ROLE_FOCUS] = COLOR_PAIR(CF_ROLE_FOCUS) | A_BOLD;
    roles[CF_ROLE_TITLE] = COLOR_PAIR(CF_ROLE_TITLE) | A_BOLD;
}

attr_t cf_role(int role) { return role >= 0 && role < CF_NROLES ? roles[role] : A_NORMAL; }

int cf_text_cols(const char *s)
{
    int n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

int cf_put_attr(int y, int x, int width, attr_t attr, const char *s)
{
    if (width <= 0) return 0;
    /* bytes of the first `width` code points */
    int cols = 0;
    const char *p = s;
    while (*p) {
        if (((unsigned char)*p & 0xC0) != 0x80) {
            if (cols == width) break;
            cols++;
        }
        p++;
    }
    attrset(attr);
    mvaddnstr(y, x, s, (int)(p - s));
    attrset(A_NORMAL);
    return cols;
}

int cf_put(int y, int x, int width, int role, const char *s) { return cf_put_attr(y, x, width, cf_role(role), s); }

cf_rect cf_pane_frame(const cf_rect *r, const char *name, bool focused)
{
    attrset(cf_role(CF_ROLE_DIM));
    mvhline(r->y, r->x, cf_ch(CF_CH_H), r->w);
    int left = r->x > 0;
    if (left) {
        mvvline(r->y + 1, r->x, cf_ch(CF_CH_V), r->h - 1);
        mvaddch(r->y, r->x, cf_ch(CF_CH_TEE));
    }
    attrset(A_NORMAL);
    char t[64];
    snprintf(t, sizeof t, " %s ", name);
    cf_put(r->y, r->x + 1 + left, r->w - 2 - left, focused ? CF_ROLE_FOCUS : CF_ROLE_TITLE, t);
    return (cf_rect){r->y + 1, r->x + left, r->h - 1, r->w - left};
}

int cf_title_start(const cf_rect *r, const char *name)
{
    return r->x + (r->x > 0) + 1 + cf_text_cols(name) + 2 + 1;
}

void cf_title_seg(int y, int *x, int end, int role, const char *text)
{
    int n = cf_text_cols(text);
    if (*x + n + 2 > end) {
        *x = end; /* no room: later segments are dropped too */
        return;
    }
    /* " text " — the next segment's leading space overwrites the trailing one */
    mvaddch(y, *x, ' ');
    cf_put(y, *x + 1, n, role, text);
    mvaddch(y, *x + n + 1, ' ');
    *x += n + 1;
}

/* ---- status line ---- */

static const char *state_text(const cf_view *v, char *buf, size_t n)
{
    const char *dash = v->ascii ? "-" : "\u2014";
    if (v->readonly) {
        /* what the run's files say; "following" until they say it ended */
        snprintf(buf, n, "view %s %s", dash,
                 v->st.state == CF_RUN_DONE ? (v->run_stopped ? "run stopped" : "run done")
                 : v->st.state == CF_RUN_FAILED ? "run failed" : "following");
        return buf;
    }
    if (v->st.state == CF_RUN_DONE) snprintf(buf, n, "done %s press q to exit", dash);
    else if (v->st.state == CF_RUN_FAILED) snprintf(buf, n, "failed %s press q to exit", dash);
    else if (v->stop_sent) snprintf(buf, n, "stopping");
    else snprintf(buf, n, "%s", cf_run_state_name(v->st.state));
    return buf;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

void cf_draw_status(cf_view *v, const cf_rect *r)
{
    const cf_status *st = &v->st;
    attrset(cf_role(CF_ROLE_STATUS));
    mvhline(r->y, r->x, ' ', r->w);
    attrset(A_NORMAL);
    char seg[9][160], a[32], b[32];
    int n = 0;
    state_text(v, seg[n++], sizeof seg[0]);
    if (v->readonly && v->bad_lines) snprintf(seg[n++], sizeof seg[0], "%lu bad line%s skipped", v->bad_lines, v->bad_lines > 1 ? "s" : "");
    if (st->max_iter > 0 || !v->readonly) snprintf(seg[n++], sizeof seg[0], "iter %d/%d", st->iter, st->max_iter);
    else snprintf(seg[n++], sizeof seg[0], "iter %d", st->iter);
    if (st->lr_scale != 1 && st->lr_scale > 0)
        snprintf(seg[n++], sizeof seg[0], "lr %s (%s%s)", cf_fmt_num(st->lr, a, sizeof a), v->ascii ? "x" : "\u00d7",
                 cf_fmt_num(st->lr_scale, b, sizeof b));
    else snprintf(seg[n++], sizeof seg[0], "lr %s", cf_fmt_num(st->lr, a, sizeof a));
    snprintf(seg[n++], sizeof seg[0], "%s img/s", cf_fmt_num(st->ips, a, sizeof a));
    if (v->readonly) snprintf(seg[n++], sizeof seg[0], "elapsed %s", cf_fmt_duration(st->elapsed, a, sizeof a));
    else if (st->state != CF_RUN_DONE && st->state != CF_RUN_FAILED)
        snprintf(seg[n++], sizeof seg[0], "ETA %s", cf_fmt_duration(st->ips > 0 ? st->eta : -1, a, sizeof a));
    if (st->epoch > 0) snprintf(seg[n++], sizeof seg[0], "epoch %.2f", st->epoch);
    if (st->last_snapshot[0]) snprintf(seg[n++], sizeof seg[0], "snap %s", base_name(st->last_snapshot));
    if (st->net_name[0]) snprintf(seg[n++], sizeof seg[0], "%s", st->net_name);
    if (v->readonly && v->source[0]) snprintf(seg[n++], sizeof seg[0], "%s", base_name(v->source));
    const char *sep = v->ascii ? " | " : " \u2502 ";
    int x = r->x + 1, end = r->x + r->w - 1;
    for (int i = 0; i < n; i++) {
        int cols = cf_text_cols(seg[i]) + (i ? 3 : 0);
        if (x + cols > end) break; /* drop what does not fit, whole */
        if (i) x += cf_put(r->y, x, 3, CF_ROLE_STATUS, sep);
        attr_t at = cf_role(CF_ROLE_STATUS);
        if (i == 0 || (v->readonly && v->bad_lines && i == 1)) at |= A_BOLD;
        x += cf_put_attr(r->y, x, end - x, at, seg[i]);
    }
}

/* ---- message line ---- */

void cf_draw_footer(cf_view *v, const cf_rect *r)
{
    mvhline(r->y, r->x, ' ', r->w);
    if (v->prompt == CF_PROMPT_LR) {
        char line[128];
        snprintf(line, sizeof line, "new lr (Enter applies, Esc cancels): %s", v->input);
        int n = cf_put(r->y, r->x, r->w - 1, CF_ROLE_HEADER, line);
        cf_put_attr(r->y, r->x + n, 1, A_REVERSE, " ");
        return;
    }
    if (v->prompt == CF_PROMPT_QUIT) {
        cf_put(r->y, r->x, r->w, CF_ROLE_WARN, "snapshot before quitting? [y/n/c]");
        return;
    }
    if (v->msg[0] && v->now < v->msg_until) {
        cf_put(r->y, r->x, r->w, v->msg_level >= 2 ? CF_ROLE_BAD : v->msg_level ? CF_ROLE_WARN : CF_ROLE_TEXT, v->msg);
        return;
    }
    if (v->st.state == CF_RUN_FAILED && v->st.error[0]) {
        cf_put(r->y, r->x, r->w, CF_ROLE_BAD, v->st.error);
        return;
    }
    if (v->readonly) {
        cf_put(r->y, r->x, r->w, CF_ROLE_DIM, "read-only view: q exits  L log  z zoom  Tab focus  Enter zoom  [/] log  ? help");
        return;
    }
    bool over = v->st.state == CF_RUN_DONE || v->st.state == CF_RUN_FAILED;
    cf_put(r->y, r->x, r->w, CF_ROLE_DIM,
           over ? "the run is over: q exits  (L log  z zoom  Tab focus  Enter zoom pane  [/] log  ? help)"
                : "p pause  +/- lr  l set lr  s snapshot  t test  L log  z zoom  Tab focus  ? help  q quit");
}

/* ---- help ---- */

void cf_draw_help(cf_view *v, int cols, int rows)
{
    static const char *const lines[] = {
        "p        pause / resume",
        "+ / -    learning rate x2 / /2",
        "l        type a learning rate (Enter, Esc)",
        "s        snapshot now",
        "t        run the test nets now",
        "q        quit (asks: snapshot first?)",
        "L        loss axis: linear / log",
        "z        loss plot: all / last 1000 / last 100",
        "m        sparkline metric: auto/mean/std/zero/grad/upd",
        "Tab      focus the next pane (Shift-Tab: back)",
        "Enter    zoom the focused pane (Esc: back)",
        "arrows   scroll the layers (or the focused log)",
        "PgUp/Dn  scroll a page; Home/End",
        "[ / ]    scroll the log",
        "?        this help (any key closes it)",
    };
    int n = (int)(sizeof lines / sizeof *lines);
    int w = 62, h = n + 4;
    if (w > cols - 2) w = cols - 2;
    if (h > rows - 2) h = rows - 2;
    int y = (rows - h) / 2, x = (cols - w) / 2;
    attrset(A_NORMAL);
    for (int i = 0; i < h; i++) mvhline(y + i, x, ' ', w);
    attrset(cf_role(CF_ROLE_TITLE));
    mvhline(y, x, cf_ch(CF_CH_H), w);
    mvhline(y + h - 1, x, cf_ch(CF_CH_H), w);
    mvvline(y, x, cf_ch(CF_CH_V), h);
    mvvline(y, x + w - 1, cf_ch(CF_CH_V), h);
    mvaddch(y, x, cf_ch(CF_CH_UL));
    mvaddch(y, x + w - 1, cf_ch(CF_CH_UR));
    mvaddch(y + h - 1, x, cf_ch(CF_CH_LL));
    mvaddch(y + h - 1, x + w - 1, cf_ch(CF_CH_LR));
    attrset(A_NORMAL);
    cf_put(y, x + 2, w - 4, CF_ROLE_FOCUS, v->readonly ? " keys (read-only view: p + - l s t steer a live run) " : " keys ");
    for (int i = 0; i < n && i < h - 4; i++)
        cf_put(y + 2 + i, x + 3, w - 5, v->readonly && i < 5 ? CF_ROLE_DIM : CF_ROLE_TEXT, lines[i]);
}

/* ---- frame ---- */

void cf_draw_frame(cf_view *v, int cols, int rows)
{
    erase();
    cf_layout l;
    cf_layout_compute(cols, rows, v->zoomed, cf_ranks_shown(&v->st), &l);
    if (l.too_small) {
        char m[128];
        snprintf(m, sizeof m, "terminal too small: %dx%d, need at least %dx%d", cols, rows, CF_MIN_COLS, CF_MIN_ROWS);
        int y = rows / 2 - 1;
        cf_put(y > 0 ? y : 0, 0, cols, CF_ROLE_BAD, m);
        char s[160], a[32];
        snprintf(s, sizeof s, "%s, iter %d/%d, loss %s (q quits)", cf_run_state_name(v->st.state), v->st.iter,
                 v->st.max_iter, cf_fmt_num(v->loss_smooth.total ? v->loss_smooth.last.y : 0, a, sizeof a));
        if (rows > 1) cf_put(y + 1 < rows ? y + 1 : rows - 1, 0, cols, CF_ROLE_TEXT, s);
        if (v->prompt == CF_PROMPT_QUIT && rows > 2) cf_put(rows - 1, 0, cols, CF_ROLE_WARN, "snapshot before quitting? [y/n/c]");
        return;
    }
    typedef void (*drawer)(cf_view *, const cf_rect *);
    static const drawer panes[CF_NPANES] = {cf_draw_loss, cf_draw_acc, cf_draw_layers, cf_draw_log, cf_draw_ranks,
                                               cf_draw_mem};
    for (int i = 0; i < CF_NPANES; i++)
        if (l.pane[i].h > 1 && l.pane[i].w > 2) panes[i](v, &l.pane[i]);
    cf_draw_status(v, &l.status);
    cf_draw_footer(v, &l.footer);
    if (v->help) cf_draw_help(v, cols, rows);
}
