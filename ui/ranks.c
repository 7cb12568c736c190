/* ranks.c — see ranks.h. */
#include "ranks.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fmt.h"

#define VALUE_W 13  /* "2.46 ms 53.8%", "34.7k img/s" */
#define BAR_MIN 4
#define BAR_MAX 40

bool cf_ranks_shown(const cf_status *st) { return st->ranks > 1; }

static bool known(double x) { return isfinite(x) && x > 0; }

/* Seconds as a short duration: "850 us", "2.46 ms", "1.20 s"; "--" when
 * not known. */
static char *secs(double s, char *buf, size_t cap)
{
    char a[32];
    if (!(isfinite(s) && s >= 0)) snprintf(buf, cap, "--");
    else if (s < 1e-3) snprintf(buf, cap, "%.0f us", s * 1e6);
    else if (s < 1) snprintf(buf, cap, "%s ms", cf_fmt_num(s * 1e3, a, sizeof a));
    else snprintf(buf, cap, "%.2f s", s);
    return buf;
}

static char *ips(double x, char *buf, size_t cap)
{
    return known(x) ? cf_fmt_num(x, buf, cap) : (snprintf(buf, cap, "--"), buf);
}

/* label, then value right-aligned to the end of the value column; when
 * the width is shorter, the label and the value one space apart. */
static void pair(char *out, int width, int label_w, const char *label, const char *value)
{
    int lw = (int)strlen(label), vw = (int)strlen(value);
    if (label_w + VALUE_W <= width) snprintf(out, CF_RANKS_LINE, "%-*s%*s", label_w, label, VALUE_W, value);
    else if (lw + 1 + vw <= width) snprintf(out, CF_RANKS_LINE, "%s%*s", label, width - lw, value);
    else snprintf(out, CF_RANKS_LINE, "%s %s", label, value);
}

static void bar(char *out, int cells, bool ascii)
{
    size_t n = strlen(out);
    if (n + 2 >= CF_RANKS_LINE) return;
    out[n++] = ' ';
    for (int i = 0; i < cells; i++) {
        const char *b = ascii ? "#" : "\u2588";
        size_t k = strlen(b);
        if (n + k + 1 > CF_RANKS_LINE) break;
        memcpy(out + n, b, k);
        n += k;
    }
    out[n] = 0;
}

int cf_ranks_lines(const cf_status *st, int width, int rows, bool ascii, char (*out)[CF_RANKS_LINE])
{
    if (rows <= 0 || width <= 0) return 0;
    if (width >= CF_RANKS_LINE) width = CF_RANKS_LINE - 1;
    int n = 0;
    char a[32], b[32], v[64];
    int held = st->ranks < CF_MON_MAX_RANKS ? st->ranks : CF_MON_MAX_RANKS;
    char last[16];
    snprintf(last, sizeof last, "r%d", held > 0 ? held - 1 : 0);
    int label_w = (int)strlen(last) + 2;
    if (label_w < 6) label_w = 6; /* "comm", "step" */

    /* the reduction: its time per iteration and share of the step */
    if (known(st->step_s)) snprintf(v, sizeof v, "%s %.1f%%", secs(st->comm_s, a, sizeof a), 100 * st->comm_frac);
    else snprintf(v, sizeof v, "--");
    pair(out[n++], width, label_w, "comm", v);
    if (n == rows) return n;
    pair(out[n++], width, label_w, "step", known(st->step_s) ? secs(st->step_s, a, sizeof a) : "--");
    if (n == rows) return n;

    double top = 0;
    for (int r = 0; r < held; r++)
        if (known(st->rank_ips[r]) && st->rank_ips[r] > top) top = st->rank_ips[r];
    int left = rows - n;
    if (held <= left && held == st->ranks) {
        /* one rank a line, a bar against the fastest when there is room */
        int barw = width - label_w - VALUE_W - 1;
        if (barw > BAR_MAX) barw = BAR_MAX;
        for (int r = 0; r < held; r++) {
            char label[16];
            snprintf(label, sizeof label, "r%d", r);
            if (known(st->rank_ips[r])) snprintf(v, sizeof v, "%s img/s", ips(st->rank_ips[r], a, sizeof a));
            else snprintf(v, sizeof v, "--");
            pair(out[n], width, label_w, label, v);
            if (barw >= BAR_MIN && top > 0 && known(st->rank_ips[r]))
                bar(out[n], (int)lround(barw * st->rank_ips[r] / top), ascii);
            n++;
        }
        return n;
    }
    /* several to a line: "r0 34.7k  r1 28.6k"; what does not fit, counted */
    int plw = (int)strlen(last) + 1;
    int cell = plw + 5 + 2; /* "r15 " "34.7k" and a gap */
    int per = (width + 2) / cell > 0 ? (width + 2) / cell : 1; /* no gap after the last */
    int room = left * per;
    int shown = held;
    if (shown < st->ranks || shown > room) {
        room = (left - 1) * per; /* the last line says how many more */
        if (shown > room) shown = room;
    }
    for (int r = 0; r < shown; r += per) {
        int k = 0;
        out[n][0] = 0;
        for (int j = r; j < r + per && j < shown; j++) {
            snprintf(b, sizeof b, "r%d", j);
            k += snprintf(out[n] + k, (size_t)(CF_RANKS_LINE - k), "%-*s%5s%s", plw, b, ips(st->rank_ips[j], a, sizeof a),
                          j + 1 < r + per && j + 1 < shown ? "  " : "");
        }
        n++;
    }
    if (shown < st->ranks && n < rows) snprintf(out[n++], CF_RANKS_LINE, "+%d more", st->ranks - shown);
    return n;
}
