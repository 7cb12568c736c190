/* test_ui_units.c — the TUI's pure parts, without a terminal: number
 * formats, axis mapping (log axes with zero and negative values), braille
 * rasterisation of known series, sparklines, pane layout, trouble rules,
 * the decimating curve store, the view's records and the key bindings;
 * for `cafetui view`: the metrics line parser (good lines, every malformed
 * form, nulls, escapes, what the writers write read back), the line
 * reader for a growing file (partial and over-long lines, a file that is
 * truncated, replaced or not there yet), and run files into the view. */
#include <criterion/criterion.h>
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt.h"
#include "follow.h"
#include "headless.h"
#include "layout.h"
#include "metrics_parse.h"
#include "testutil.h"
#include "plot.h"
#include "ranks.h"
#include "scale.h"
#include "series.h"
#include "sparkline.h"
#include "trouble.h"
#include "view.h"

/* ---- number formats ---- */

static const char *num(double v)
{
    static char b[32];
    return cf_fmt_num(v, b, sizeof b);
}

Test(fmt, numbers_keep_three_digits_in_eight_columns)
{
    cr_assert_str_eq(num(1.23e-4), "1.23e-04");
    cr_assert_str_eq(num(0.009999), "1.00e-02");
    cr_assert_str_eq(num(0.0123), "0.0123");
    cr_assert_str_eq(num(1.5), "1.5");
    cr_assert_str_eq(num(123.4), "123");
    cr_assert_str_eq(num(999.7), "1.00k"); /* %.3g would give 1e+03 */
    cr_assert_str_eq(num(1234), "1.23k");
    cr_assert_str_eq(num(12345), "12.3k");
    cr_assert_str_eq(num(123456), "123k");
    cr_assert_str_eq(num(999999), "1.00M");
    cr_assert_str_eq(num(2.5e9), "2.50G");
    cr_assert_str_eq(num(2e15), "2.00e+15");
    cr_assert_str_eq(num(-0.5), "-0.5");
    cr_assert_str_eq(num(-12345), "-12.3k");
    cr_assert_str_eq(num(0), "0");
    cr_assert_str_eq(num(NAN), "nan");
    cr_assert_str_eq(num(INFINITY), "inf");
    cr_assert_str_eq(num(-INFINITY), "-inf");
}

Test(fmt, bytes_and_durations)
{
    char b[32];
    cr_assert_str_eq(cf_fmt_bytes(0, b, sizeof b), "0 B");
    cr_assert_str_eq(cf_fmt_bytes(512, b, sizeof b), "512 B");
    cr_assert_str_eq(cf_fmt_bytes(1536, b, sizeof b), "1.50 KiB");
    cr_assert_str_eq(cf_fmt_bytes(12.3 * 1024 * 1024, b, sizeof b), "12.3 MiB");
    cr_assert_str_eq(cf_fmt_bytes(1023.9 * 1024, b, sizeof b), "1.00 MiB");
    cr_assert_str_eq(cf_fmt_bytes(123.0 * 1024 * 1024 * 1024, b, sizeof b), "123 GiB");
    cr_assert_str_eq(cf_fmt_duration(42, b, sizeof b), "42s");
    cr_assert_str_eq(cf_fmt_duration(185, b, sizeof b), "3m05s");
    cr_assert_str_eq(cf_fmt_duration(2 * 3600 + 7 * 60 + 20, b, sizeof b), "2h07m");
    cr_assert_str_eq(cf_fmt_duration(3 * 86400 + 4 * 3600, b, sizeof b), "3d04h");
    cr_assert_str_eq(cf_fmt_duration(-1, b, sizeof b), "--");
    cr_assert_str_eq(cf_fmt_duration(NAN, b, sizeof b), "--");
}

/* ---- axis mapping ---- */

Test(scale, linear_maps_ends_and_rounds_to_nearest)
{
    cf_scale s;
    cf_scale_reset(&s, false);
    cf_scale_add(&s, 10);
    cf_scale_add(&s, 0);
    cf_scale_add(&s, NAN); /* ignored */
    cr_assert(cf_scale_finish(&s));
    cr_assert_eq(s.lo, 0);
    cr_assert_eq(s.hi, 10);
    cr_assert_eq(cf_scale_pos(&s, 0, 11), 0);
    cr_assert_eq(cf_scale_pos(&s, 10, 11), 10);
    cr_assert_eq(cf_scale_pos(&s, 5, 11), 5);
    cr_assert_eq(cf_scale_pos(&s, 5, 4), 2);     /* 0.5·3 = 1.5 rounds to 2 */
    cr_assert_eq(cf_scale_pos(&s, 3.2, 4), 1);   /* 0.32·3 = 0.96 */
    cr_assert_eq(cf_scale_pos(&s, -3, 4), 0);    /* clamped */
    cr_assert_eq(cf_scale_pos(&s, NAN, 4), -1);
}

Test(scale, log_ignores_zero_and_negative_values)
{
    cf_scale s;
    cf_scale_reset(&s, true);
    cf_scale_add(&s, -1);
    cf_scale_add(&s, 0);
    cf_scale_add(&s, 10);
    cf_scale_add(&s, 1000);
    cr_assert(cf_scale_finish(&s));
    cr_assert_eq(s.lo, 10);
    cr_assert_eq(s.hi, 1000);
    cr_assert_eq(cf_scale_pos(&s, 100, 3), 1); /* half-way in decades */
    cr_assert_eq(cf_scale_pos(&s, 1000, 3), 2);
    cr_assert_eq(cf_scale_pos(&s, 0, 3), -1);
    cr_assert_eq(cf_scale_pos(&s, -5, 3), -1);

    cf_scale e;
    cf_scale_reset(&e, true);
    cf_scale_add(&e, 0);
    cf_scale_add(&e, -2);
    cr_assert_not(cf_scale_finish(&e), "no positive value: nothing to put on a log axis");
}

Test(scale, one_value_gets_a_range)
{
    cf_scale s;
    cf_scale_reset(&s, false);
    cf_scale_add(&s, 2);
    cf_scale_finish(&s);
    cr_assert_float_eq(s.lo, 1.8, 1e-12);
    cr_assert_float_eq(s.hi, 2.2, 1e-12);
    cf_scale_reset(&s, false);
    cf_scale_add(&s, 0);
    cf_scale_finish(&s);
    cr_assert(s.lo == -1 && s.hi == 1);
    cf_scale_reset(&s, true);
    cf_scale_add(&s, 10);
    cf_scale_finish(&s);
    cr_assert_float_eq(s.lo, 10 / sqrt(10), 1e-12);
    cr_assert_float_eq(s.hi, 10 * sqrt(10), 1e-12);
    cr_assert_eq(cf_scale_pos(&s, 10, 5), 2);
}

/* ---- braille plots ---- */

Test(plot, braille_code_points)
{
    char c[4];
    cr_assert_str_eq(cf_braille(0, c), "\u2800");
    cr_assert_str_eq(cf_braille(0xFF, c), "\u28FF");
    cr_assert_str_eq(cf_braille(0x47, c), "\u2847"); /* left column: dots 1, 2, 3, 7 */
}

Test(plot, dot_bits_follow_braille_numbering)
{
    cf_canvas c;
    cr_assert_eq(cf_canvas_init(&c, 2, 2), 0);
    cf_canvas_dot(&c, 0, 0, 1);
    cr_assert_eq(c.bits[0], 0x01);
    cf_canvas_dot(&c, 1, 0, 1);
    cr_assert_eq(c.bits[0], 0x09);
    cf_canvas_dot(&c, 1, 3, 2);
    cr_assert_eq(c.bits[0], 0x89);
    cr_assert_eq(c.owner[0], 2);
    cf_canvas_dot(&c, 3, 7, 3); /* last dot of the last cell */
    cr_assert_eq(c.bits[3], 0x80);
    cf_canvas_dot(&c, 4, 0, 1); /* outside: ignored */
    cf_canvas_dot(&c, -1, 0, 1);
    cr_assert_eq(c.bits[1], 0);
    cr_assert_eq(c.bits[2], 0);
    cf_canvas_free(&c);
}

Test(plot, rising_series_rasterises_to_a_diagonal)
{
    /* 2×1 cells = 4×4 dots; (0,0)→(3,3) on [0,3]² goes from the bottom-left
     * dot to the top-right one: dots (0,3) (1,2) | (2,1) (3,0) */
    cf_canvas c;
    cf_canvas_init(&c, 2, 1);
    cf_scale xs = {0, 3, false, true}, ys = {0, 3, false, true};
    cf_pt p[] = {{0, 0}, {3, 3}};
    cf_plot_series(&c, &xs, &ys, p, 2, 1);
    cr_assert_eq(c.bits[0], 0x40 | 0x20, "cell 0: %#x", c.bits[0]);
    cr_assert_eq(c.bits[1], 0x02 | 0x08, "cell 1: %#x", c.bits[1]);
    char a[4], b[4];
    cr_assert_str_eq(cf_braille(c.bits[0], a), "\u2860");
    cr_assert_str_eq(cf_braille(c.bits[1], b), "\u280A");
    cf_canvas_free(&c);
}

Test(plot, flat_series_fills_the_bottom_row_of_dots)
{
    cf_canvas c;
    cf_canvas_init(&c, 3, 2);
    cf_scale xs = {0, 5, false, true}, ys = {1, 2, false, true};
    cf_pt p[] = {{0, 1}, {5, 1}};
    cf_plot_series(&c, &xs, &ys, p, 2, 1);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(c.bits[i], 0, "top row stays empty");
        cr_assert_eq(c.bits[3 + i], 0xC0, "bottom dots of cell %d: %#x", i, c.bits[3 + i]);
    }
    cf_canvas_free(&c);
}

Test(plot, unusable_point_breaks_the_line_on_a_log_axis)
{
    /* log y over [1, 10] on 4 dot rows: 1 → bottom row, 10 → top row.  The
     * 0 is skipped and the line does not jump over it: no dot between
     * (0,3) and (2,0). */
    cf_canvas c;
    cf_canvas_init(&c, 2, 1);
    cf_scale xs = {0, 3, false, true}, ys = {1, 10, true, true};
    cf_pt p[] = {{0, 1}, {1, 0}, {2, 10}, {3, 10}};
    cf_plot_series(&c, &xs, &ys, p, 4, 1);
    cr_assert_eq(c.bits[0], 0x40, "cell 0: %#x", c.bits[0]);
    cr_assert_eq(c.bits[1], 0x09, "cell 1: %#x", c.bits[1]);
    int cx, cy;
    cr_assert_eq(cf_plot_cell(&c, &xs, &ys, 3, 10, &cx, &cy), 0);
    cr_assert(cx == 1 && cy == 0);
    cr_assert_eq(cf_plot_cell(&c, &xs, &ys, 3, -1, &cx, &cy), -1);
    cf_canvas_free(&c);
}

Test(plot, ascii_fallback_characters)
{
    cr_assert_eq(cf_dots_ascii(0), ' ');
    cr_assert_eq(cf_dots_ascii(0x09), '\''); /* top row */
    cr_assert_eq(cf_dots_ascii(0xC0), '.');  /* bottom row */
    cr_assert_eq(cf_dots_ascii(0x06), '-');  /* rows 1 and 2 */
    cr_assert_eq(cf_dots_ascii(0x47), '|');  /* a full column */
    cr_assert_eq(cf_dots_ascii(0x41), ':');  /* top and bottom */
}

/* ---- sparklines ---- */

Test(sparkline, levels_scale_to_min_and_max)
{
    float v[] = {0, 1, 2, 3, 4, 5, 6, 7};
    char out[64];
    cr_assert_eq(cf_sparkline(v, 8, 8, false, out, sizeof out), 8);
    cr_assert_str_eq(out, "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588");
    cf_sparkline(v, 8, 8, true, out, sizeof out);
    cr_assert_str_eq(out, "_.:-=+*#");
    float w[] = {10, 20, 30}; /* 7·(20−10)/20 = 3.5 → level 4 */
    cf_sparkline(w, 3, 3, true, out, sizeof out);
    cr_assert_str_eq(out, "_=#");
}

Test(sparkline, keeps_the_newest_values_right_aligned)
{
    float v[] = {100, 0, 7};
    char out[64];
    cf_sparkline(v, 3, 2, true, out, sizeof out);
    cr_assert_str_eq(out, "_#", "only the last two, scaled among themselves");
    float f[] = {1, 1, 1};
    cf_sparkline(f, 3, 6, true, out, sizeof out);
    cr_assert_str_eq(out, "   ---", "flat: a line half-way up, padded on the left");
    float n[] = {0, NAN, 1};
    cf_sparkline(n, 3, 3, true, out, sizeof out);
    cr_assert_str_eq(out, "_!#");
    cr_assert_eq(cf_sparkline(v, 3, 8, false, out, 10), -1, "8 bars need 25 bytes");
}

/* ---- layout ---- */

static bool overlap(cf_rect a, cf_rect b)
{
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

static void check_layout(int cols, int rows, bool ranks)
{
    cf_layout l;
    cf_layout_compute(cols, rows, -1, ranks, &l);
    cr_assert_not(l.too_small, "%dx%d", cols, rows);
    cf_rect all[CF_NPANES + 2];
    int n = 0;
    for (int i = 0; i < CF_NPANES; i++) all[n++] = l.pane[i];
    all[n++] = l.status;
    all[n++] = l.footer;
    long area = 0;
    for (int i = 0; i < n; i++) {
        cf_rect r = all[i];
        cr_assert(r.x >= 0 && r.y >= 0 && r.x + r.w <= cols && r.y + r.h <= rows, "%dx%d: rect %d (%d,%d %dx%d) outside",
                  cols, rows, i, r.x, r.y, r.w, r.h);
        for (int j = 0; j < i; j++) cr_assert_not(overlap(r, all[j]), "%dx%d: rects %d and %d overlap", cols, rows, i, j);
        area += (long)r.w * r.h;
    }
    cr_assert_eq(area, (long)cols * rows, "%dx%d: the panes tile the screen", cols, rows);
    /* every pane keeps room for its title and some content; the ranks
     * pane is there only for a run of several processes */
    for (int i = 0; i < CF_NPANES; i++) {
        if (i == CF_PANE_RANKS && !ranks) {
            cr_assert(l.pane[i].h == 0 && l.pane[i].w == 0, "%dx%d: a ranks pane for one process", cols, rows);
            continue;
        }
        cr_assert(l.pane[i].h >= 6 && l.pane[i].w >= 24, "%dx%d: pane %s is %dx%d", cols, rows, cf_pane_name(i),
                  l.pane[i].w, l.pane[i].h);
    }
    cr_assert_eq(l.status.y, 0);
    cr_assert_eq(l.footer.y, rows - 1);
}

Test(layout, panes_tile_80x24_and_200x60)
{
    for (int ranks = 0; ranks < 2; ranks++) {
        check_layout(80, 24, ranks);
        check_layout(200, 60, ranks);
        check_layout(120, 40, ranks);
        check_layout(100, 30, ranks);
    }
    cf_layout l;
    cf_layout_compute(80, 24, -1, false, &l);
    cr_assert_eq(l.pane[CF_PANE_LOSS].h, 9);
    cr_assert_eq(l.pane[CF_PANE_LAYERS].h, 7);
    cr_assert_eq(l.pane[CF_PANE_LOG].h, 6);
    cr_assert_eq(l.pane[CF_PANE_LOSS].w, 48);
    cr_assert_eq(l.pane[CF_PANE_LOG].w, 56);
}

Test(layout, several_processes_put_a_ranks_pane_between_log_and_memory)
{
    cf_layout l;
    cf_layout_compute(80, 24, -1, true, &l);
    cf_rect lg = l.pane[CF_PANE_LOG], rk = l.pane[CF_PANE_RANKS], mem = l.pane[CF_PANE_MEM];
    cr_assert(lg.w == 32 && rk.w == 24 && mem.w == 24, "log %d, ranks %d, memory %d columns", lg.w, rk.w, mem.w);
    cr_assert(rk.y == lg.y && rk.h == lg.h && rk.x == lg.x + lg.w && mem.x == rk.x + rk.w);
    cr_assert_eq(l.pane[CF_PANE_LOSS].w, 48, "the other bands do not change");
    cf_layout_compute(100, 30, CF_PANE_RANKS, true, &l);
    cr_assert(l.pane[CF_PANE_RANKS].h == 28 && l.pane[CF_PANE_RANKS].w == 100 && l.pane[CF_PANE_LOG].w == 0);
    /* zoomed on a ranks pane that is not there (the run directory was
     * used again by one process): the whole layout */
    cf_layout_compute(100, 30, CF_PANE_RANKS, false, &l);
    cr_assert(l.pane[CF_PANE_RANKS].w == 0 && l.pane[CF_PANE_LOSS].w > 0 && l.pane[CF_PANE_LOG].w > 0);
}

Test(layout, too_small_below_80x24)
{
    cf_layout l;
    cf_layout_compute(79, 24, -1, false, &l);
    cr_assert(l.too_small);
    cf_layout_compute(80, 23, -1, true, &l);
    cr_assert(l.too_small);
    cf_layout_compute(80, 24, -1, false, &l);
    cr_assert_not(l.too_small);
}

Test(layout, zoomed_pane_takes_the_body)
{
    cf_layout l;
    cf_layout_compute(100, 30, CF_PANE_LOG, false, &l);
    cr_assert(l.pane[CF_PANE_LOG].y == 1 && l.pane[CF_PANE_LOG].h == 28 && l.pane[CF_PANE_LOG].w == 100);
    cr_assert(l.pane[CF_PANE_LOSS].h == 0 && l.pane[CF_PANE_LAYERS].w == 0);
}

/* ---- trouble rules ---- */

static cf_blob_stat top(float zero_frac)
{
    cf_blob_stat b = {.kind = 't'};
    b.data.zero_frac = zero_frac;
    return b;
}

static cf_blob_stat param(float norm, float update)
{
    cf_blob_stat b = {.kind = 'p', .norm = norm, .grad_norm = 1, .update_norm = update};
    return b;
}

Test(trouble, dead_relu_needs_a_relu_top_above_90_percent_zeros)
{
    cf_blob_stat b = top(0.95f);
    cr_assert_eq(cf_trouble(&b, true), CF_TROUBLE_DEAD);
    cr_assert_eq(cf_trouble(&b, false), 0, "zeros in a non-ReLU top are no sign of death");
    b = top(0.9f);
    cr_assert_eq(cf_trouble(&b, true), 0, "the threshold is strict");
}

Test(trouble, update_ratio_bounds)
{
    cf_blob_stat b = param(1, 0.2f);
    cr_assert_float_eq(cf_update_ratio(&b), 0.2, 1e-6);
    cr_assert_eq(cf_trouble(&b, false), CF_TROUBLE_EXPLODE);
    b = param(2, 1e-7f); /* 5e-8 */
    cr_assert_eq(cf_trouble(&b, false), CF_TROUBLE_VANISH);
    b = param(1, 1e-3f);
    cr_assert_eq(cf_trouble(&b, false), 0);
    b = param(1, 0);
    cr_assert_eq(cf_update_ratio(&b), -1, "no update yet: no ratio");
    cr_assert_eq(cf_trouble(&b, false), 0);
    b = param(0, 0.5f);
    cr_assert_eq(cf_trouble(&b, false), 0, "weights of norm 0 have no ratio");
    cf_blob_stat t = top(0);
    t.update_norm = 5; /* tops have no ratio whatever the fields say */
    cr_assert_eq(cf_update_ratio(&t), -1);
}

Test(trouble, non_finite_values_anywhere)
{
    cf_blob_stat b = top(0);
    b.diff.nonfinite = 3;
    cr_assert_eq(cf_trouble(&b, false), CF_TROUBLE_NONFINITE);
    b = param(1, 1e-3f);
    b.grad_norm = NAN;
    cr_assert_eq(cf_trouble(&b, false), CF_TROUBLE_NONFINITE);
    b = top(0.99f);
    b.data.nonfinite = 1;
    cr_assert_eq(cf_trouble(&b, true), CF_TROUBLE_NONFINITE | CF_TROUBLE_DEAD);
}

/* ---- curve store ---- */

Test(series, full_store_averages_pairs_and_doubles_the_stride)
{
    cf_series s;
    cr_assert_eq(cf_series_init(&s, 4), 0);
    for (int i = 0; i < 10; i++) cf_series_add(&s, i, 10 * i);
    /* 0..3 fill the store → (0.5, 2.5), stride 2; 4..7 add (4.5, 6.5) →
     * full again → (1.5, 5.5), stride 4; 8, 9 wait in the bucket */
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.stride, 4);
    cr_assert_float_eq(s.pt[0].x, 1.5, 1e-12);
    cr_assert_float_eq(s.pt[0].y, 15, 1e-12);
    cr_assert_float_eq(s.pt[1].x, 5.5, 1e-12);
    cr_assert_eq(s.bn, 2);
    cf_pt out[16];
    int n = cf_series_view(&s, 5, out, 16);
    cr_assert_eq(n, 5, "recent raw points cover x >= 5");
    cr_assert(out[0].x == 5 && out[4].x == 9 && out[4].y == 90);
    cf_series_free(&s);
}

Test(series, long_runs_use_the_store_for_the_whole_history)
{
    static cf_series s;
    cf_series_init(&s, 1024);
    for (int i = 0; i < 5000; i++) cf_series_add(&s, i, 1);
    static cf_pt out[CF_SERIES_RECENT + 1025];
    int n = cf_series_view(&s, -INFINITY, out, CF_SERIES_RECENT + 1025);
    cr_assert(n <= 1025 && n >= 512, "decimated: %d points", n);
    cr_assert(out[0].x < 10, "reaches back to the start: %g", out[0].x);
    cr_assert(out[n - 1].x > 4900, "and up to now: %g", out[n - 1].x);
    n = cf_series_view(&s, 4900, out, CF_SERIES_RECENT + 1025);
    cr_assert_eq(n, 100, "a recent window is raw");
    cr_assert_eq(out[0].x, 4900);
    cf_series_free(&s);
}

/* A run that went back: points from x on are forgotten, in the store,
 * its partial bucket and the raw ring, and what comes next joins what
 * is left.  Past the ring's reach the slots written by the points cut
 * are not shown again. */
Test(series, cut_forgets_from_x_on_and_the_curve_goes_on_from_there)
{
    cf_series s;
    cr_assert_eq(cf_series_init(&s, 8), 0);
    for (int i = 0; i < 6; i++) cf_series_add(&s, i, i);
    cf_series_cut(&s, 3);
    cr_assert_eq(s.total, 3);
    cr_assert(s.last.x == 2 && s.last.y == 2);
    cf_series_add(&s, 3, 30);
    cf_pt out[16];
    int n = cf_series_view(&s, -INFINITY, out, 16);
    cr_assert_eq(n, 4);
    cr_assert(out[2].x == 2 && out[3].x == 3 && out[3].y == 30, "the new point follows the old ones");
    cf_series_cut(&s, 0); /* started again */
    cr_assert_eq(cf_series_view(&s, -INFINITY, out, 16), 0);
    cr_assert_eq(s.n, 0);
    cf_series_free(&s);

    static cf_series l;
    static cf_pt big[CF_SERIES_RECENT + 1100];
    cf_series_init(&l, 1024);
    for (int i = 0; i < 5000; i++) cf_series_add(&l, i, i);
    cf_series_cut(&l, 4000); /* the ring held 2952..4999 */
    cr_assert_eq(l.last.x, 3999);
    n = cf_series_view(&l, 3500, big, CF_SERIES_RECENT + 1100);
    cr_assert_eq(n, 500, "raw points 3500..3999");
    cr_assert(big[0].x == 3500 && big[n - 1].x == 3999);
    n = cf_series_view(&l, -INFINITY, big, CF_SERIES_RECENT + 1100);
    cr_assert(big[n - 1].x < 4000, "the store is cut too: %g", big[n - 1].x);
    for (int i = 4000; i < 4100; i++) cf_series_add(&l, i, -i);
    n = cf_series_view(&l, 3990, big, CF_SERIES_RECENT + 1100);
    cr_assert_eq(n, 110);
    cr_assert(big[9].y == 3999 && big[10].x == 4000 && big[10].y == -4000 && big[109].y == -4099);
    /* asking from before what the ring holds now goes to the store */
    n = cf_series_view(&l, 2000, big, CF_SERIES_RECENT + 1100);
    cr_assert(n < 2100 && big[n - 1].x >= 4000, "%d points, last %g", n, big[n - 1].x);
    cf_series_free(&l);
}

/* ---- view: records in ---- */

static cf_test_rec test_rec(int iter, int net, double acc, double loss)
{
    cf_test_rec r = {.iter = iter, .net = net, .n = 2, .loss = loss};
    strcpy(r.name[0], "accuracy");
    r.value[0] = acc;
    strcpy(r.name[1], "loss");
    r.value[1] = loss;
    r.is_loss[1] = true;
    return r;
}

Test(view, test_outputs_become_curves_with_their_best)
{
    cf_view *v = cf_view_new();
    cf_test_rec r = test_rec(100, 0, 0.5, 2);
    cf_view_add_test(v, &r);
    r = test_rec(200, 0, 0.8, 1);
    cf_view_add_test(v, &r);
    r = test_rec(300, 0, 0.7, 1.5);
    cf_view_add_test(v, &r);
    r = test_rec(300, 1, 0.9, 1.5);
    cf_view_add_test(v, &r);
    cr_assert_eq(v->nacc, 2, "losses are not accuracy curves");
    cr_assert_str_eq(v->acc_name[0], "accuracy");
    cr_assert_str_eq(v->acc_name[1], "accuracy#1");
    cr_assert_float_eq(v->acc_best[0], 0.8, 1e-12);
    cr_assert_eq(v->acc_best_iter[0], 200);
    cr_assert_eq(v->test_loss.total, 3, "test loss of net 0 only");
    cr_assert_float_eq(v->test_loss.last.y, 1.5, 1e-12);
    cf_view_free(v);
}

Test(view, stats_rows_keep_history_and_flag_dead_relus)
{
    cf_view *v = cf_view_new();
    v->relu_layers = strdup("\nrelu1\n");
    cf_blob_stat s[2] = {{.layer = "relu1", .blob = "ip1", .kind = 't'}, {.layer = "ip1", .blob = "weights", .kind = 'p'}};
    s[0].data.zero_frac = 0.95f;
    s[1].norm = 1;
    s[1].update_norm = 0.01f;
    cf_view_set_stats(v, s, 2, 10);
    s[1].update_norm = 0.02f;
    cf_view_set_stats(v, s, 2, 20);
    cr_assert_eq(v->nrows, 2);
    cr_assert(v->row[0].relu);
    cr_assert_eq(v->row[0].trouble, CF_TROUBLE_DEAD);
    cr_assert_eq(v->row[1].trouble, 0);
    cr_assert_eq(v->row[1].nhist, 2);
    cr_assert_float_eq(v->row[1].hist[CF_HIST_RATIO][1], 0.02, 1e-7);
    cr_assert_eq(cf_view_spark_metric(v, &v->row[1]), CF_HIST_RATIO);
    cr_assert_eq(cf_view_spark_metric(v, &v->row[0]), CF_HIST_ZERO);
    /* a different blob in the same place starts a new history */
    strcpy(s[1].layer, "ip2");
    cf_view_set_stats(v, s, 2, 30);
    cr_assert_eq(v->row[1].nhist, 1);
    cr_assert_eq(v->row[0].nhist, 3);
    cf_view_free(v);
}

/* ---- keys ---- */

Test(keys, lr_parsing_is_strict)
{
    double lr = -1;
    cr_assert(cf_parse_lr("0.01", &lr) && lr == 0.01);
    cr_assert(cf_parse_lr(" 1e-3 ", &lr) && lr == 1e-3);
    cr_assert(cf_parse_lr("0", &lr) && lr == 0);
    const char *bad[] = {"", "  ", "abc", "1e-x", "0.01x", "-1", "inf", "nan", "1e999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) cr_assert_not(cf_parse_lr(bad[i], &lr), "'%s'", bad[i]);
}

static int press(cf_view *v, const char *keys, cf_cmd *last)
{
    int total = 0;
    for (const char *k = keys; *k; k++) {
        cf_cmd out[2];
        int n = cf_view_key(v, *k == '\n' ? '\n' : *k == '\e' ? 27 : *k, out);
        if (n) *last = out[n - 1];
        total += n;
    }
    return total;
}

Test(keys, run_commands)
{
    cf_view *v = cf_view_new();
    v->st.state = CF_RUN_RUNNING;
    v->has_test = true;
    cf_cmd c;
    cr_assert_eq(press(v, "p", &c), 1);
    cr_assert_eq(c.kind, CF_CMD_TOGGLE_PAUSE);
    cr_assert_eq(press(v, "+", &c), 1);
    cr_assert(c.kind == CF_CMD_LR_MUL && c.value == 2);
    cr_assert_eq(press(v, "-", &c), 1);
    cr_assert(c.kind == CF_CMD_LR_MUL && c.value == 0.5);
    cr_assert_eq(press(v, "s", &c), 1);
    cr_assert_eq(c.kind, CF_CMD_SNAPSHOT);
    cr_assert_eq(press(v, "t", &c), 1);
    cr_assert_eq(c.kind, CF_CMD_TEST);
    v->has_test = false;
    cr_assert_eq(press(v, "t", &c), 0, "no test net: nothing to run");
    cf_view_free(v);
}

Test(keys, lr_prompt)
{
    cf_view *v = cf_view_new();
    v->st.state = CF_RUN_RUNNING;
    cf_cmd c;
    cr_assert_eq(press(v, "l0.5", &c), 0);
    cr_assert_eq(v->prompt, CF_PROMPT_LR);
    cr_assert_str_eq(v->input, "0.5");
    cr_assert_eq(press(v, "\n", &c), 1);
    cr_assert(c.kind == CF_CMD_LR_SET && c.value == 0.5);
    cr_assert_eq(v->prompt, CF_PROMPT_NONE);
    cr_assert_eq(press(v, "l1e-x\n", &c), 0, "invalid input sends nothing");
    cr_assert_eq(v->msg_level, 2);
    cr_assert(strstr(v->msg, "invalid lr '1e-x'"), "%s", v->msg);
    cr_assert_eq(press(v, "l3\e", &c), 0, "Esc cancels");
    cr_assert_eq(v->prompt, CF_PROMPT_NONE);
    cf_cmd out[2];
    press(v, "l12", &c);
    cf_view_key(v, KEY_BACKSPACE, out);
    cr_assert_str_eq(v->input, "1");
    cf_view_free(v);
}

Test(keys, quit_asks_about_a_snapshot)
{
    cf_view *v = cf_view_new();
    v->st.state = CF_RUN_RUNNING;
    cf_cmd c;
    cr_assert_eq(press(v, "q", &c), 0);
    cr_assert_eq(v->prompt, CF_PROMPT_QUIT);
    cr_assert_eq(press(v, "c", &c), 0, "c cancels");
    cr_assert_eq(v->prompt, CF_PROMPT_NONE);
    cr_assert_not(v->stop_sent);
    cr_assert_eq(press(v, "qy", &c), 1);
    cr_assert(c.kind == CF_CMD_STOP && c.value == 1);
    cr_assert(v->stop_sent && !v->quit);
    cf_view_free(v);

    v = cf_view_new();
    v->st.state = CF_RUN_PAUSED;
    cr_assert_eq(press(v, "qn", &c), 1);
    cr_assert(c.kind == CF_CMD_STOP && c.value == 0);
    cf_view_free(v);

    v = cf_view_new();
    v->st.state = CF_RUN_DONE;
    cr_assert_eq(press(v, "p+sq", &c), 0, "a finished run takes no commands; q leaves at once");
    cr_assert(v->quit);
    cf_view_free(v);
}

Test(keys, view_settings)
{
    cf_view *v = cf_view_new();
    cf_cmd c;
    press(v, "L", &c);
    cr_assert(v->logy);
    press(v, "zz", &c);
    cr_assert_eq(v->zoom, CF_ZOOM_100);
    press(v, "z", &c);
    cr_assert_eq(v->zoom, CF_ZOOM_ALL);
    int f = v->focus;
    press(v, "\t", &c);
    cr_assert_eq(v->focus, (f + 1) % CF_NPANES);
    press(v, "\n", &c);
    cr_assert_eq(v->zoomed, v->focus, "Enter zooms the focused pane");
    press(v, "\e", &c);
    cr_assert_eq(v->zoomed, -1);
    press(v, "?", &c);
    cr_assert(v->help);
    cr_assert_eq(press(v, "p", &c), 0, "a key closes the help and does nothing else");
    cr_assert_not(v->help);
    cf_view_free(v);
}

/* ---- metrics lines (cafetui view) ---- */

static cf_mline ml; /* large: not on the stack */

static cf_mline_type parse(const char *line) { return cf_metrics_parse(line, strlen(line), &ml); }

Test(metrics_parse, lines_as_the_writers_write_them)
{
    cr_assert_eq(parse("{\"type\":\"train\",\"iter\":100,\"loss\":0.178340927,\"smoothed_loss\":0.5,\"lr\":0.0002,"
                       "\"images_per_s\":18788.1049,\"elapsed_s\":0.405522642}"),
                 CF_MLINE_TRAIN, "%s", ml.why);
    cr_assert_eq(ml.train.iter, 100);
    cr_assert_float_eq(ml.train.loss, 0.178340927f, 1e-9);
    cr_assert_float_eq(ml.train.smoothed, 0.5f, 1e-9);
    cr_assert_eq(ml.train.lr, 0.0002);
    cr_assert_eq(ml.train.ips, 18788.1049);
    cr_assert_eq(ml.train.elapsed, 0.405522642);

    cr_assert_eq(parse("{\"type\":\"test\",\"iter\":500,\"net\":1,\"outputs\":{\"accuracy\":0.8412,\"loss\":0.43018},"
                       "\"loss\":0.43018,\"seconds\":1.3}"),
                 CF_MLINE_TEST, "%s", ml.why);
    cr_assert(ml.test.iter == 500 && ml.test.net == 1 && ml.test.n == 2);
    cr_assert_str_eq(ml.test.name[0], "accuracy");
    cr_assert_eq(ml.test.value[0], 0.8412);
    cr_assert_not(ml.test.is_loss[0]);
    cr_assert_str_eq(ml.test.name[1], "loss");
    cr_assert(ml.test.is_loss[1], "an output named like a loss is one");
    cr_assert_eq(ml.test.loss, 0.43018);
    cr_assert_eq(ml.test.seconds, 1.3);

    cr_assert_eq(parse("{\"type\":\"event\",\"iter\":5000,\"event\":\"log\",\"text\":\"Snapshotting to a/b_iter_5000.h5\"}"),
                 CF_MLINE_EVENT, "%s", ml.why);
    cr_assert_eq(ml.iter, 5000);
    cr_assert_str_eq(ml.event, "log");
    cr_assert_str_eq(ml.text, "Snapshotting to a/b_iter_5000.h5");

    /* blanks between tokens, keys in another order, a test with no outputs */
    cr_assert_eq(parse(" { \"iter\" : 3 , \"outputs\" : { } , \"type\" : \"test\" , \"net\" : 0 ,"
                       " \"loss\" : -1.5e-3 , \"seconds\" : 0 }\r"),
                 CF_MLINE_TEST, "%s", ml.why);
    cr_assert(ml.test.iter == 3 && ml.test.n == 0 && ml.test.loss == -1.5e-3);
    cr_assert_eq(parse(""), CF_MLINE_EMPTY);
    cr_assert_eq(parse("  \t "), CF_MLINE_EMPTY);
}

Test(metrics_parse, null_is_a_missing_number)
{
    cr_assert_eq(parse("{\"type\":\"train\",\"iter\":7,\"loss\":null,\"smoothed_loss\":null,\"lr\":0.1,"
                       "\"images_per_s\":null,\"elapsed_s\":1}"),
                 CF_MLINE_TRAIN, "%s", ml.why);
    cr_assert(isnan(ml.train.loss) && isnan(ml.train.smoothed) && isnan(ml.train.ips));
    cr_assert_eq(ml.train.lr, 0.1);
    cr_assert_eq(parse("{\"type\":\"test\",\"iter\":0,\"net\":0,\"outputs\":{\"accuracy\":null},\"loss\":null,"
                       "\"seconds\":null}"),
                 CF_MLINE_TEST, "%s", ml.why);
    cr_assert(isnan(ml.test.value[0]) && isnan(ml.test.loss));
    /* but an iteration or a net index must be there */
    cr_assert_eq(parse("{\"type\":\"event\",\"iter\":null,\"event\":\"log\",\"text\":\"x\"}"), CF_MLINE_BAD);
    cr_assert_str_eq(ml.why, "col 24: null where an integer is required");
}

/* What cf_metrics_* write (src/headless.c) reads back as it was,
 * including names and texts that need escapes, and non-finite values. */
Test(metrics_parse, what_the_writers_write_reads_back)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cf_iter_rec it = {42, 0.25f, NAN, 0.01, 1234.5, 3.75};
    cf_metrics_iter(f, &it, NULL, NULL);
    cf_test_rec te = {.iter = 500, .net = 2, .n = 3, .loss = INFINITY, .seconds = 0.125};
    strcpy(te.name[0], "acc \"top-1\"");
    te.value[0] = 0.75;
    strcpy(te.name[1], "back\\slash\ttab");
    te.value[1] = NAN;
    strcpy(te.name[2], "caf\xc3\xa9_loss");
    te.value[2] = 1e-30;
    cf_metrics_test(f, &te);
    cf_metrics_event(f, 9, "warning", "line\nbreak \x01 and \"quotes\"");
    fclose(f);

    char *l1 = buf, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    cr_assert_eq(cf_metrics_parse(l1, (size_t)(l2 - l1 - 1), &ml), CF_MLINE_TRAIN, "%s", ml.why);
    cr_assert(ml.train.iter == 42 && ml.train.loss == 0.25f && isnan(ml.train.smoothed) && ml.train.lr == 0.01 &&
              ml.train.ips == 1234.5 && ml.train.elapsed == 3.75);
    cr_assert_eq(cf_metrics_parse(l2, (size_t)(l3 - l2 - 1), &ml), CF_MLINE_TEST, "%s", ml.why);
    cr_assert(ml.test.iter == 500 && ml.test.net == 2 && ml.test.n == 3 && isnan(ml.test.loss) && ml.test.seconds == 0.125);
    cr_assert_str_eq(ml.test.name[0], "acc \"top-1\"");
    cr_assert_str_eq(ml.test.name[1], "back\\slash\ttab");
    cr_assert_str_eq(ml.test.name[2], "caf\xc3\xa9_loss");
    cr_assert(ml.test.value[0] == 0.75 && isnan(ml.test.value[1]) && ml.test.value[2] == 1e-30);
    cr_assert(!ml.test.is_loss[0] && ml.test.is_loss[2]);
    cr_assert_eq(cf_metrics_parse(l3, strlen(l3) - 1, &ml), CF_MLINE_EVENT, "%s", ml.why);
    cr_assert_eq(ml.iter, 9);
    cr_assert_str_eq(ml.event, "warning");
    cr_assert_str_eq(ml.text, "line\nbreak \x01 and \"quotes\"");
    free(buf);
}

Test(metrics_parse, escapes)
{
    cr_assert_eq(parse("{\"type\":\"event\",\"iter\":0,\"event\":\"log\",\"text\":"
                       "\"\\u00e9\\u20ac\\ud83d\\ude00 \\/\\b\\f\\n\\r\\t\\\\\\\"\"}"),
                 CF_MLINE_EVENT, "%s", ml.why);
    cr_assert_str_eq(ml.text, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 /\b\f\n\r\t\\\"");
}

Test(metrics_parse, every_malformed_form_is_refused_with_a_reason)
{
    struct { const char *line, *why; } bad[] = {
        {"[1]", "col 1: '{' expected"},
        {"{\"type\":\"train\"", "line ends before the closing '}'"},
        {"{\"type\":\"train\",", "line ends where a string was expected"},
        {"{\"type\":\"train\",\"iter\":1,\"loss\":1,\"smoothed_loss\":1,\"lr\":1,\"images_per_s\":1}",
         "train line without \"elapsed_s\""},
        {"{\"type\":\"weights\",\"iter\":1}", "col 9: unknown type 'weights'"},
        {"{\"iter\":1}", "no \"type\""},
        {"{}", "no \"type\""},
        {"{\"type\":\"event\",\"iter\":1,\"iter\":2,\"event\":\"log\",\"text\":\"\"}", "key 'iter' twice"},
        {"{\"type\":\"event\",\"iter\":1,\"event\":\"log\",\"text\":\"\",\"lr\":1}", "\"lr\" in an event line"},
        {"{\"type\":\"event\",\"iter\":1,\"event\":\"log\",\"text\":\"\"} x", "col 51: text after the object"},
        {"{\"type\":\"event\",\"iter\":1,\"event\":\"log\",\"text\":\"\"}{}", "text after the object"},
        {"{\"type\":\"event\" \"iter\":1}", "col 17: ',' or '}' expected"},
        {"{\"type\"=\"event\"}", "col 8: ':' expected"},
        {"{type:\"event\"}", "col 2: string expected"},
        {"{\"type\":\"event\",\"iter\":1.5}", "col 27: non-negative integer expected"},
        {"{\"type\":\"event\",\"iter\":-1}", "non-negative integer expected"},
        {"{\"type\":\"event\",\"iter\":3000000000}", "non-negative integer expected"},
        {"{\"type\":\"event\",\"iter\":01}", "',' or '}' expected"},
        {"{\"type\":\"event\",\"iter\":1.}", "digit expected after '.'"},
        {"{\"type\":\"event\",\"iter\":1e}", "digit expected in an exponent"},
        {"{\"type\":\"event\",\"iter\":+1}", "col 24: number expected"},
        {"{\"type\":\"event\",\"iter\":NaN}", "number expected"},
        {"{\"type\":\"event\",\"iter\":\"1\"}", "number expected"},
        {"{\"type\":\"train\",\"iter\":1,\"loss\":1e999}", "number out of range"},
        {"{\"type\":\"train\",\"iter\":1,\"loss\":true}", "number expected"},
        {"{\"type\":\"train\",\"iter\":1,\"loss\":nul}", "number expected"},
        {"{\"type\":\"train\",\"iter\":1,\"loss\":1000000000000000000000000000000000000000000000000000000000000000}",
         "number too long"},
        {"{\"type\":\"event\",\"text\":\"a\x01\"}", "col 26: control character 0x01 in a string"},
        {"{\"type\":\"event\",\"text\":\"\\x\"}", "col 25: unknown escape '\\x'"},
        {"{\"type\":\"event\",\"text\":\"\\u0000\"}", "\\u0000 in a string"},
        {"{\"type\":\"event\",\"text\":\"\\u12g4\"}", "bad hex digit in a \\u escape"},
        {"{\"type\":\"event\",\"text\":\"\\u12", "line ends inside a \\u escape"},
        {"{\"type\":\"event\",\"text\":\"\\ud83d\"}", "lone high surrogate in a string"},
        {"{\"type\":\"event\",\"text\":\"\\ud83d\\u0041\"}", "high surrogate without its low half"},
        {"{\"type\":\"event\",\"text\":\"\\ude00\"}", "lone low surrogate in a string"},
        {"{\"type\":\"event\",\"text\":\"abc", "line ends inside a string"},
        {"{\"type\":\"event\",\"text\":\"abc\\", "line ends inside an escape"},
        {"{\"type\":\"event\",\"extra\":[1,2]}", "unknown key 'extra' with a value that is not a number, null or a string"},
        {"{\"type\":\"event\",\"extra\":{}}", "unknown key 'extra'"},
        {"{\"type\":\"event\",\"iter\":1,\"outputs\":{}}", "\"outputs\" in an event line"},
        {"{\"type\":\"test\",\"outputs\":[]}", "'{' expected"},
        {"{\"type\":\"test\",\"outputs\":{\"a\":1,\"a\":2}}", "output 'a' twice"},
        {"{\"type\":\"test\",\"outputs\":{\"a\":\"x\"}}", "number expected"},
        {"{\"type\":\"test\",\"outputs\":{\"a\":1 \"b\":2}}", "',' or '}' expected in \"outputs\""},
        {"{\"type\":\"test\",\"outputs\":{\"a\":1,", "line ends where a string was expected"},
        {"{\"type\":\"test\",\"outputs\":{\"a\":1", "line ends inside \"outputs\""},
        {"{\"type\":\"test\",\"outputs\":{\"a\":{\"b\":1}}}", "number expected"},
        {"{\"type\":\"test\",\"iter\":1,\"net\":0,\"outputs\":{},\"loss\":1}", "test line without \"seconds\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(parse(bad[i].line), CF_MLINE_BAD, "accepted: %s", bad[i].line);
        cr_assert(strstr(ml.why, bad[i].why), "%s\n  gave '%s', expected '%s'", bad[i].line, ml.why, bad[i].why);
    }
    /* more outputs than a record holds */
    char line[1024];
    int n = snprintf(line, sizeof line, "{\"type\":\"test\",\"outputs\":{");
    for (int i = 0; i <= CF_MON_MAX_OUT; i++) n += snprintf(line + n, sizeof line - n, "%s\"o%d\":1", i ? "," : "", i);
    snprintf(line + n, sizeof line - n, "}}");
    cr_assert_eq(parse(line), CF_MLINE_BAD);
    cr_assert(strstr(ml.why, "more than 16 outputs"), "%s", ml.why);
    /* a NUL byte inside the line (its length says it goes on) */
    const char nul[] = "{\"type\":\"event\",\"iter\":1,\"event\":\"lo\0g\",\"text\":\"\"}";
    cr_assert_eq(cf_metrics_parse(nul, sizeof nul - 1, &ml), CF_MLINE_BAD);
    cr_assert(strstr(ml.why, "col 37: NUL byte in a string"), "%s", ml.why);
}

Test(metrics_parse, unknown_scalar_keys_are_ignored_and_long_names_cut_whole)
{
    cr_assert_eq(parse("{\"type\":\"event\",\"iter\":1,\"epoch\":0.5,\"host\":\"x\",\"gpu\":null,\"event\":\"log\",\"text\":\"t\"}"),
                 CF_MLINE_EVENT, "%s", ml.why);
    cr_assert_str_eq(ml.text, "t");
    /* an output name longer than the record's 47 bytes: cut before a
     * character that would not fit whole (é is 2 bytes at bytes 46-47) */
    char line[512], name[64];
    memset(name, 'a', 46);
    strcpy(name + 46, "\xc3\xa9zz");
    snprintf(line, sizeof line, "{\"type\":\"test\",\"iter\":1,\"net\":0,\"outputs\":{\"%s\":1},\"loss\":0,\"seconds\":0}", name);
    cr_assert_eq(parse(line), CF_MLINE_TEST, "%s", ml.why);
    cr_assert_eq(strlen(ml.test.name[0]), 46);
}

Test(metrics_parse, every_prefix_of_a_line_is_bad_and_no_input_crashes_it)
{
    const char *good = "{\"type\":\"test\",\"iter\":500,\"net\":0,\"outputs\":{\"accuracy\":0.84,\"loss\":null},"
                       "\"loss\":0.43,\"seconds\":1.3e-2}";
    size_t n = strlen(good);
    for (size_t k = 1; k < n; k++) {
        /* each prefix in a buffer of exactly its size, so a read past the
         * end is a read past the allocation (caught by sanitizers) */
        char *p = malloc(k);
        memcpy(p, good, k);
        cr_assert_eq(cf_metrics_parse(p, k, &ml), CF_MLINE_BAD, "prefix of %zu bytes accepted", k);
        cr_assert(ml.why[0]);
        free(p);
    }
    cr_assert_eq(parse(good), CF_MLINE_TEST);
    /* random changes to a good line: a verdict every time, never a crash */
    srand(7);
    int verdicts[3] = {0};
    for (int t = 0; t < 20000; t++) {
        char *p = malloc(n);
        memcpy(p, good, n);
        for (int e = 0; e < 1 + t % 4; e++) p[rand() % n] = (char)(rand() % 256);
        cf_mline_type r = cf_metrics_parse(p, n, &ml);
        cr_assert(r == CF_MLINE_BAD || r == CF_MLINE_TEST || r == CF_MLINE_EVENT || r == CF_MLINE_TRAIN);
        cr_assert(r != CF_MLINE_BAD || ml.why[0], "a bad line needs a reason");
        verdicts[r == CF_MLINE_BAD ? 0 : r == CF_MLINE_TEST ? 1 : 2]++;
        free(p);
    }
    cr_assert(verdicts[0] > 10000 && verdicts[1] > 100, "bad %d, test %d", verdicts[0], verdicts[1]);
}

/* ---- lines of a growing file ---- */

typedef struct lines_seen {
    int n, too_long;
    char line[8][64];
} lines_seen;

static void collect(void *ctx, const char *line, size_t len)
{
    lines_seen *s = ctx;
    if (!line) {
        s->too_long++;
        return;
    }
    if (s->n < 8) snprintf(s->line[s->n], sizeof s->line[0], "%.*s", (int)len, line);
    s->n++;
}

Test(follow, partial_lines_wait_for_their_newline)
{
    cf_follow f;
    cf_follow_init(&f, "unused");
    lines_seen s = {0};
    cf_follow_feed(&f, "a\nbb", 4, collect, &s);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(cf_follow_pending(&f), 2);
    cf_follow_feed(&f, "b", 1, collect, &s);
    cf_follow_feed(&f, "\n\nc", 3, collect, &s);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.line[0], "a");
    cr_assert_str_eq(s.line[1], "bbb");
    cr_assert_str_eq(s.line[2], "", "an empty line is a line");
    cr_assert_eq(cf_follow_pending(&f), 1);
    cf_follow_close(&f);
}

Test(follow, a_line_too_long_is_reported_once_and_dropped)
{
    cf_follow f;
    cf_follow_init(&f, "unused");
    lines_seen s = {0};
    static char x[CF_FOLLOW_LINE_MAX];
    memset(x, 'x', sizeof x);
    cf_follow_feed(&f, x, sizeof x, collect, &s); /* exactly the limit: kept */
    cf_follow_feed(&f, "\n", 1, collect, &s);
    cr_assert(s.n == 1 && s.too_long == 0);
    for (int i = 0; i < 3; i++) cf_follow_feed(&f, x, sizeof x, collect, &s);
    cr_assert_eq(s.too_long, 1);
    cf_follow_feed(&f, "yy\nok\n", 6, collect, &s);
    cr_assert_eq(s.too_long, 1, "the rest of the long line is dropped");
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.line[1], "ok");
    cf_follow_close(&f);
}

static void write_file(const char *path, const char *mode, const char *text)
{
    FILE *f = fopen(path, mode);
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(follow, a_file_that_grows_shrinks_or_is_replaced)
{
    char path[512], other[512];
    snprintf(path, sizeof path, "%s/m.jsonl", tu_tmpdir());
    snprintf(other, sizeof other, "%s/new.jsonl", tu_tmpdir());
    cf_follow f;
    cf_follow_init(&f, path);
    lines_seen s = {0};
    cr_assert_eq(cf_follow_poll(&f, collect, &s), CF_FOLLOW_SAME, "not there yet: nothing, no error");
    cr_assert_not(cf_follow_found(&f));
    write_file(path, "w", "one\ntwo\nthr");
    cr_assert_eq(cf_follow_poll(&f, collect, &s), CF_FOLLOW_SAME);
    cr_assert(cf_follow_found(&f) && s.n == 2 && cf_follow_pending(&f) == 3);
    cr_assert_eq(cf_follow_poll(&f, collect, &s), CF_FOLLOW_SAME);
    cr_assert_eq(s.n, 2, "nothing new");
    write_file(path, "a", "ee\nfour\n");
    cf_follow_poll(&f, collect, &s);
    cr_assert_eq(s.n, 4);
    cr_assert_str_eq(s.line[2], "three");
    cr_assert_str_eq(s.line[3], "four");
    /* truncated and rewritten shorter: read again from the start */
    write_file(path, "w", "A\n");
    cr_assert_eq(cf_follow_poll(&f, collect, &s), CF_FOLLOW_RESTART);
    cr_assert_eq(s.n, 4, "the poll that finds out reads nothing");
    cf_follow_poll(&f, collect, &s);
    cr_assert_eq(s.n, 5);
    cr_assert_str_eq(s.line[4], "A");
    /* replaced by another file, even a longer one */
    write_file(other, "w", "B\nC\nD\n");
    cr_assert_eq(rename(other, path), 0);
    cr_assert_eq(cf_follow_poll(&f, collect, &s), CF_FOLLOW_RESTART);
    cf_follow_poll(&f, collect, &s);
    cr_assert_eq(s.n, 8);
    cr_assert_str_eq(s.line[5], "B");
    cr_assert_str_eq(s.line[7], "D");
    cf_follow_close(&f);
}

/* ---- a run's files into the view ---- */

static void feed_m(cf_view *v, const char *line) { cf_view_feed_metrics(v, line, strlen(line)); }
static void feed_l(cf_view *v, const char *line) { cf_view_feed_log(v, line, strlen(line)); }
static const char *log_at(const cf_view *v, int back) { return v->log[(v->nlog - 1 - back) % CF_VIEW_LOG].text; }

Test(runview, metrics_become_curves_and_status)
{
    cf_view *v = cf_view_new();
    v->readonly = true;
    feed_m(v, "{\"type\":\"test\",\"iter\":0,\"net\":0,\"outputs\":{\"accuracy\":0.1,\"loss\":2.3},\"loss\":2.3,\"seconds\":0.1}");
    feed_m(v, "{\"type\":\"train\",\"iter\":0,\"loss\":2.5,\"smoothed_loss\":2.5,\"lr\":0.01,\"images_per_s\":0,\"elapsed_s\":0.1}");
    feed_m(v, "{\"type\":\"train\",\"iter\":100,\"loss\":0.5,\"smoothed_loss\":0.7,\"lr\":0.005,\"images_per_s\":900,\"elapsed_s\":2}");
    feed_m(v, "{\"type\":\"train\",\"iter\":200,\"loss\":");
    feed_m(v, "");
    feed_m(v, "{\"type\":\"test\",\"iter\":200,\"net\":0,\"outputs\":{\"accuracy\":0.9,\"loss\":0.4},\"loss\":0.4,\"seconds\":0.1}");
    feed_m(v, "{\"type\":\"event\",\"iter\":200,\"event\":\"warning\",\"text\":\"lr 5 refused\"}");
    cf_view_feed_metrics(v, NULL, 0);
    cr_assert_eq(v->loss_raw.total, 2);
    cr_assert(v->loss_raw.last.x == 100 && v->loss_raw.last.y == 0.5 && v->loss_smooth.last.y == 0.7f);
    cr_assert_eq(v->test_loss.total, 2);
    cr_assert_eq(v->nacc, 1);
    cr_assert(v->acc_best[0] == 0.9 && v->acc_best_iter[0] == 200);
    cr_assert(v->has_test);
    cr_assert(v->st.iter == 200 && v->st.lr == 0.005 && v->st.ips == 900 && v->st.elapsed == 2);
    cr_assert_eq(v->metric_lines, 8);
    cr_assert_eq(v->bad_lines, 2, "the cut line and the too-long one; the empty line is not bad");
    cr_assert_eq(v->bad_line_no, 8);
    /* without train.log, tests and events make the log */
    cr_assert_eq(v->nlog, 3);
    cr_assert_str_eq(log_at(v, 2), "Iteration 0, test net #0: accuracy = 0.1 loss = 2.3");
    cr_assert_str_eq(log_at(v, 0), "lr 5 refused");
    cr_assert_eq(v->log[(v->nlog - 1) % CF_VIEW_LOG].level, 1);
    /* with train.log, they stay out of it */
    v->log_from_file = true;
    feed_m(v, "{\"type\":\"event\",\"iter\":300,\"event\":\"log\",\"text\":\"x\"}");
    cr_assert_eq(v->nlog, 3);
    cf_view_clear_run(v);
    cr_assert(v->loss_raw.total == 0 && v->nacc == 0 && v->nlog == 0 && v->bad_lines == 0 && v->st.iter == 0);
    cr_assert(v->readonly && v->log_from_file, "settings are kept");
    cf_view_free(v);
}

/* A run directory used again: a resume from an earlier snapshot, then a
 * fresh start.  The curves go on from where each went back, the best
 * accuracy is taken from what is left, the iteration shown follows. */
Test(runview, a_run_that_goes_back_replaces_what_followed)
{
    cf_view *v = cf_view_new();
    v->readonly = true;
    char line[256];
    for (int it = 0; it <= 700; it += 100) {
        snprintf(line, sizeof line, "{\"type\":\"train\",\"iter\":%d,\"loss\":%g,\"smoothed_loss\":1,\"lr\":0.01,"
                                    "\"images_per_s\":1,\"elapsed_s\":1}", it, 2.0 - it / 1000.0);
        feed_m(v, line);
        if (it % 200 == 0) {
            snprintf(line, sizeof line, "{\"type\":\"test\",\"iter\":%d,\"net\":0,\"outputs\":{\"accuracy\":%g,"
                                        "\"loss\":1},\"loss\":1,\"seconds\":0.1}", it, 0.5 + it / 2000.0);
            feed_m(v, line);
        }
    }
    cr_assert(v->acc_best[0] == 0.8 && v->acc_best_iter[0] == 600 && v->st.iter == 700);
    /* resumed from the snapshot at 400: its test at 400 comes first */
    feed_m(v, "{\"type\":\"test\",\"iter\":400,\"net\":0,\"outputs\":{\"accuracy\":0.65,\"loss\":1},\"loss\":1,\"seconds\":0.1}");
    cr_assert(v->acc_best[0] == 0.65 && v->acc_best_iter[0] == 400, "600 is gone: %g at %d", v->acc_best[0],
              v->acc_best_iter[0]);
    cr_assert_eq(v->acc[0].total, 3, "0, 200 and the new 400");
    feed_m(v, "{\"type\":\"train\",\"iter\":400,\"loss\":5,\"smoothed_loss\":5,\"lr\":0.01,\"images_per_s\":1,\"elapsed_s\":1}");
    cr_assert_eq(v->loss_raw.total, 5, "0..300 and the new 400");
    cr_assert(v->loss_raw.last.x == 400 && v->loss_raw.last.y == 5 && v->st.iter == 400);
    cr_assert_eq(v->test_loss.total, 3);
    /* the same directory, a fresh run */
    feed_m(v, "{\"type\":\"test\",\"iter\":0,\"net\":0,\"outputs\":{\"accuracy\":0.1,\"loss\":1},\"loss\":1,\"seconds\":0.1}");
    feed_m(v, "{\"type\":\"train\",\"iter\":0,\"loss\":9,\"smoothed_loss\":9,\"lr\":0.01,\"images_per_s\":1,\"elapsed_s\":1}");
    cr_assert(v->loss_raw.total == 1 && v->acc[0].total == 1 && v->acc_best[0] == 0.1 && v->st.iter == 0);
    /* a second test net's pass at the same iteration is not a going back */
    feed_m(v, "{\"type\":\"test\",\"iter\":0,\"net\":1,\"outputs\":{\"accuracy\":0.2,\"loss\":1},\"loss\":1,\"seconds\":0.1}");
    cr_assert(v->nacc == 2 && v->acc[0].total == 1 && v->acc[1].total == 1);
    cf_view_free(v);
}

Test(runview, train_log_says_how_the_run_went)
{
    cf_view *v = cf_view_new();
    v->readonly = v->log_from_file = true;
    feed_l(v, "conv1 -> conv1  Top shape: 64 20 24 24 (737280)");
    cr_assert_eq(v->nlog, 0, "top shapes are left out");
    feed_l(v, "cafetui: net 'LeNet': 9 layers, 8 learnable params; solver SGD, base_lr 0.01, max_iter 10000, 2 threads");
    cr_assert_str_eq(v->st.net_name, "LeNet");
    cr_assert_eq(v->st.max_iter, 10000);
    cr_assert_eq(v->st.state, CF_RUN_RUNNING);
    feed_l(v, "error: snapshot failed: disk full");
    cr_assert_eq(v->st.state, CF_RUN_RUNNING, "a failed snapshot does not end a run");
    cr_assert_eq(v->log[(v->nlog - 1) % CF_VIEW_LOG].level, 2);
    feed_l(v, "warning: lr 5 refused (the policy's lr is 0)");
    cr_assert_eq(v->log[(v->nlog - 1) % CF_VIEW_LOG].level, 1);
    feed_l(v, "Optimization stopped at iteration 4242.");
    cr_assert(v->st.state == CF_RUN_DONE && v->run_stopped && v->st.iter == 4242);
    /* the same run directory used again: a new banner, a failure */
    feed_l(v, "cafetui: net 'Other': 3 layers, 2 learnable params; solver Adam, base_lr 0.001, max_iter 50, 1 threads");
    cr_assert(v->st.state == CF_RUN_RUNNING && !v->run_stopped && v->st.max_iter == 50);
    feed_l(v, "error: iteration 7: loss is nan; first non-finite output: layer 'ip1' top 'ip1'");
    cr_assert_eq(v->st.state, CF_RUN_FAILED);
    cr_assert_str_eq(v->st.error, "iteration 7: loss is nan; first non-finite output: layer 'ip1' top 'ip1'");
    const char withnul[] = "a\0b";
    cf_view_feed_log(v, withnul, 3);
    cr_assert_str_eq(log_at(v, 0), "a b");
    cf_view_free(v);
}

Test(keys, a_read_only_view_steers_nothing_and_q_leaves_at_once)
{
    cf_view *v = cf_view_new();
    v->readonly = true;
    v->st.state = CF_RUN_RUNNING;
    v->has_test = true;
    cf_cmd c;
    cr_assert_eq(press(v, "p+-lst", &c), 0);
    cr_assert_eq(v->prompt, CF_PROMPT_NONE, "no lr prompt");
    cr_assert(strstr(v->msg, "read-only"), "%s", v->msg);
    press(v, "Lz", &c);
    cr_assert(v->logy && v->zoom == CF_ZOOM_1000, "view settings still work");
    cr_assert_eq(press(v, "q", &c), 0);
    cr_assert(v->quit && v->prompt == CF_PROMPT_NONE, "no question: nothing to snapshot");
    cf_view_free(v);
}

/* ---- several processes (MPI): the ranks' figures ---- */

static cf_status two_ranks(void)
{
    cf_status st = {.ranks = 2, .comm_s = 0.00246, .step_s = 0.00457, .comm_frac = 0.538};
    st.rank_ips[0] = 34723;
    st.rank_ips[1] = 28582;
    return st;
}

static char rl[64][CF_RANKS_LINE];

Test(ranks, two_ranks_at_80x24_and_zoomed)
{
    cf_status st = two_ranks();
    cr_assert(cf_ranks_shown(&st));
    /* the pane at 80x24: 22 columns, 5 rows */
    cr_assert_eq(cf_ranks_lines(&st, 22, 5, false, rl), 4);
    cr_assert_str_eq(rl[0], "comm  2.46 ms 53.8%");
    cr_assert_str_eq(rl[1], "step        4.57 ms");
    cr_assert_str_eq(rl[2], "r0      34.7k img/s");
    cr_assert_str_eq(rl[3], "r1      28.6k img/s");
    /* wider: bars against the fastest rank */
    cr_assert_eq(cf_ranks_lines(&st, 40, 20, true, rl), 4);
    cr_assert_str_eq(rl[2], "r0      34.7k img/s ####################");
    cr_assert_str_eq(rl[3], "r1      28.6k img/s ################");
    cr_assert_eq(cf_ranks_lines(&st, 78, 20, false, rl), 4);
    cr_assert_str_eq(rl[3], "r1      28.6k img/s ████████████████"
                            "█████████████████",
                     "33 of the 40 cells the fastest has");
    cr_assert_eq(cf_ranks_lines(&st, 22, 1, false, rl), 1, "the rows given, no more");
    /* before the first timed iteration nothing is known */
    cf_status early = {.ranks = 2};
    cr_assert_eq(cf_ranks_lines(&early, 22, 5, false, rl), 4);
    cr_assert_str_eq(rl[0], "comm             --");
    cr_assert_str_eq(rl[1], "step             --");
    cr_assert_str_eq(rl[3], "r1               --");
    /* one process: no pane */
    cf_status one = {.ranks = 1};
    cr_assert_not(cf_ranks_shown(&one));
    cf_status none = {0};
    cr_assert_not(cf_ranks_shown(&none));
}

Test(ranks, many_ranks_go_several_to_a_line_and_the_rest_are_counted)
{
    cf_status st = {.ranks = 16, .comm_s = 0.0005, .step_s = 0.01, .comm_frac = 0.05};
    for (int i = 0; i < 16; i++) st.rank_ips[i] = 1000 * (i + 1);
    cr_assert_eq(cf_ranks_lines(&st, 22, 5, false, rl), 5);
    cr_assert_str_eq(rl[0], "comm    500 us 5.0%");
    cr_assert_str_eq(rl[1], "step          10 ms");
    cr_assert_str_eq(rl[2], "r0  1.00k  r1  2.00k");
    cr_assert_str_eq(rl[3], "r2  3.00k  r3  4.00k");
    cr_assert_str_eq(rl[4], "+12 more");
    /* zoomed, they all fit: one a line */
    cr_assert_eq(cf_ranks_lines(&st, 78, 22, false, rl), 18);
    cr_assert(!strncmp(rl[17], "r15     16.0k img/s ", 20), "%s", rl[17]);
    /* more ranks than the status holds: those are counted, never invented */
    st.ranks = 40;
    st.comm_s = 1.5, st.step_s = 3, st.comm_frac = 0.5;
    int n = cf_ranks_lines(&st, 78, 22, false, rl);
    cr_assert_eq(n, 6);
    cr_assert_str_eq(rl[0], "comm   1.50 s 50.0%");
    cr_assert_str_eq(rl[2], "r0  1.00k  r1  2.00k  r2  3.00k  r3  4.00k  r4  5.00k  r5  6.00k  r6  7.00k");
    cr_assert_str_eq(rl[4], "r14 15.0k  r15 16.0k");
    cr_assert_str_eq(rl[5], "+24 more");
}

Test(metrics_parse, the_figures_of_several_processes)
{
    /* as src/headless.c writes a train line of a 2-rank run */
    cr_assert_eq(parse("{\"type\":\"train\",\"iter\":1200,\"loss\":0.008,\"smoothed_loss\":0.0084,\"lr\":0.0002,"
                       "\"images_per_s\":41570,\"elapsed_s\":5.9,\"ranks\":2,\"comm_s\":0.00246,\"step_s\":0.00457,"
                       "\"comm_frac\":0.538,\"rank0_images_per_s\":34723,\"rank1_images_per_s\":null}"),
                 CF_MLINE_TRAIN, "%s", ml.why);
    cr_assert(ml.ranks.ranks == 2 && ml.ranks.comm_s == 0.00246 && ml.ranks.step_s == 0.00457 && ml.ranks.comm_frac == 0.538);
    cr_assert(ml.ranks.ips[0] == 34723 && isnan(ml.ranks.ips[1]) && isnan(ml.ranks.ips[2]));
    cr_assert_eq(ml.train.ips, 41570);
    /* one process: none of them, and none needed */
    cr_assert_eq(parse("{\"type\":\"train\",\"iter\":1,\"loss\":1,\"smoothed_loss\":1,\"lr\":1,\"images_per_s\":1,\"elapsed_s\":1}"),
                 CF_MLINE_TRAIN, "%s", ml.why);
    cr_assert(ml.ranks.ranks == 0 && isnan(ml.ranks.comm_s) && isnan(ml.ranks.ips[0]));
    /* ranks past what the status holds are skipped; a spelling the writer
     * never uses is an unknown key */
    cr_assert_eq(parse("{\"type\":\"train\",\"iter\":1,\"loss\":1,\"smoothed_loss\":1,\"lr\":1,\"images_per_s\":1,\"elapsed_s\":1,"
                       "\"rank16_images_per_s\":5,\"rank01_images_per_s\":6,\"rank2_images_per_sec\":7,\"rank3_images_per_s\":8}"),
                 CF_MLINE_TRAIN, "%s", ml.why);
    cr_assert(isnan(ml.ranks.ips[1]) && isnan(ml.ranks.ips[2]) && ml.ranks.ips[3] == 8);
    /* refused: twice, in a line of another type, not a number */
    cr_assert_eq(parse("{\"type\":\"train\",\"iter\":1,\"loss\":1,\"smoothed_loss\":1,\"lr\":1,\"images_per_s\":1,\"elapsed_s\":1,"
                       "\"rank0_images_per_s\":5,\"rank0_images_per_s\":6}"),
                 CF_MLINE_BAD);
    cr_assert(strstr(ml.why, "key 'rank0_images_per_s' twice"), "%s", ml.why);
    cr_assert_eq(parse("{\"type\":\"event\",\"iter\":1,\"event\":\"log\",\"text\":\"x\",\"rank0_images_per_s\":5}"), CF_MLINE_BAD);
    cr_assert(strstr(ml.why, "in an event line"), "%s", ml.why);
    cr_assert_eq(parse("{\"type\":\"test\",\"iter\":1,\"net\":0,\"outputs\":{},\"loss\":1,\"seconds\":1,\"comm_s\":1}"), CF_MLINE_BAD);
    cr_assert(strstr(ml.why, "\"comm_s\" in a test line"), "%s", ml.why);
    cr_assert_eq(parse("{\"type\":\"train\",\"iter\":1,\"loss\":1,\"smoothed_loss\":1,\"lr\":1,\"images_per_s\":1,\"elapsed_s\":1,"
                       "\"ranks\":1.5}"),
                 CF_MLINE_BAD);
    cr_assert_eq(parse("{\"type\":\"train\",\"iter\":1,\"loss\":1,\"smoothed_loss\":1,\"lr\":1,\"images_per_s\":1,\"elapsed_s\":1,"
                       "\"rank1_images_per_s\":\"fast\"}"),
                 CF_MLINE_BAD);
}

/* The writer's line with a status of 3 ranks reads back as it was. */
Test(metrics_parse, the_ranks_written_read_back)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cf_iter_rec it = {40, 0.5f, 0.5f, 0.01, 900, 3};
    cf_status st = {.ranks = 3, .comm_s = 0.125, .step_s = 0.5, .comm_frac = 0.25};
    st.rank_ips[0] = 300, st.rank_ips[1] = NAN, st.rank_ips[2] = 250.5;
    cf_metrics_iter(f, &it, NULL, &st);
    cf_status one = {.ranks = 1};
    cf_metrics_iter(f, &it, NULL, &one);
    fclose(f);
    char *l2 = strchr(buf, '\n') + 1;
    cr_assert_eq(cf_metrics_parse(buf, (size_t)(l2 - buf - 1), &ml), CF_MLINE_TRAIN, "%s", ml.why);
    cr_assert(ml.ranks.ranks == 3 && ml.ranks.comm_s == 0.125 && ml.ranks.step_s == 0.5 && ml.ranks.comm_frac == 0.25);
    cr_assert(ml.ranks.ips[0] == 300 && isnan(ml.ranks.ips[1]) && ml.ranks.ips[2] == 250.5 && isnan(ml.ranks.ips[3]));
    cr_assert(!strstr(l2, "ranks"), "one process writes no rank keys: %s", l2);
    free(buf);
}

Test(runview, a_run_of_several_processes_shows_its_ranks)
{
    cf_view *v = cf_view_new();
    v->readonly = true;
    feed_m(v, "{\"type\":\"train\",\"iter\":100,\"loss\":0.5,\"smoothed_loss\":0.7,\"lr\":0.005,\"images_per_s\":900,\"elapsed_s\":2,"
              "\"ranks\":2,\"comm_s\":0.00246,\"step_s\":0.00457,\"comm_frac\":0.538,\"rank0_images_per_s\":34723,"
              "\"rank1_images_per_s\":28582}");
    cr_assert(cf_ranks_shown(&v->st));
    cr_assert(v->st.ranks == 2 && v->st.comm_s == 0.00246 && v->st.comm_frac == 0.538);
    cr_assert(v->st.rank_ips[0] == 34723 && v->st.rank_ips[1] == 28582);
    cr_assert_eq(cf_ranks_lines(&v->st, 22, 5, false, rl), 4);
    cr_assert_str_eq(rl[3], "r1      28.6k img/s");
    /* the run directory used again by one process */
    feed_m(v, "{\"type\":\"train\",\"iter\":200,\"loss\":0.5,\"smoothed_loss\":0.7,\"lr\":0.005,\"images_per_s\":900,\"elapsed_s\":2}");
    cr_assert_not(cf_ranks_shown(&v->st));
    cf_view_free(v);
}

Test(keys, tab_visits_the_ranks_pane_only_when_it_is_shown)
{
    cf_view *v = cf_view_new();
    cf_cmd c;
    v->focus = CF_PANE_LOG;
    press(v, "\t", &c);
    cr_assert_eq(v->focus, CF_PANE_MEM, "one process: from the log to the memory pane");
    press(v, "\t", &c);
    cr_assert_eq(v->focus, CF_PANE_LOSS);
    cf_cmd out[2];
    v->focus = CF_PANE_MEM;
    cf_view_key(v, KEY_BTAB, out);
    cr_assert_eq(v->focus, CF_PANE_LOG, "Shift-Tab skips it too");
    v->st.ranks = 2;
    v->focus = CF_PANE_LOG;
    press(v, "\t", &c);
    cr_assert_eq(v->focus, CF_PANE_RANKS);
    press(v, "\n", &c);
    cr_assert_eq(v->zoomed, CF_PANE_RANKS, "Enter zooms it");
    press(v, "\t", &c);
    cr_assert_eq(v->zoomed, CF_PANE_MEM, "and Tab moves the zoom on");
    cf_view_key(v, KEY_BTAB, out);
    cr_assert_eq(v->focus, CF_PANE_RANKS);
    cf_view_free(v);
}

/* ---- the log lines of a display iteration and a test pass ---- */

static char emitted[1024];
static void collect_line(void *ctx, const char *line)
{
    (void)ctx;
    strncat(emitted, line, sizeof emitted - strlen(emitted) - 2);
    strcat(emitted, "\n");
}

static cf_test_rec two_losses_and_accuracy(int net)
{
    cf_test_rec r = {.iter = 100, .net = net, .n = 3};
    strcpy(r.name[0], "recon_loss"), r.value[0] = 0.75, r.is_loss[0] = true, r.weight[0] = 1;
    strcpy(r.name[1], "class_loss"), r.value[1] = 2.5, r.is_loss[1] = true, r.weight[1] = 0.5;
    strcpy(r.name[2], "accuracy"), r.value[2] = 0.125;
    return r;
}

Test(log_lines, each_output_with_its_weight_as_caffe_prints_them)
{
    cf_iter_rec it = {100, 2.0f, 1.96875f, 0.00992565, 1520.4, 4.25};
    cf_test_rec outs = two_losses_and_accuracy(-1);
    emitted[0] = 0;
    cf_iter_lines(&it, &outs, collect_line, NULL);
    cr_assert_str_eq(emitted, "Iteration 100 (1520 img/s, 4.2 s), loss = 1.96875\n"
                              "    Train net output #0: recon_loss = 0.75 (* 1 = 0.75 loss)\n"
                              "    Train net output #1: class_loss = 2.5 (* 0.5 = 1.25 loss)\n"
                              "    Train net output #2: accuracy = 0.125\n"
                              "    Iteration 100, lr = 0.00992565\n");
    emitted[0] = 0;
    cf_iter_lines(&it, NULL, collect_line, NULL); /* outputs not known: none shown */
    cr_assert_str_eq(emitted, "Iteration 100 (1520 img/s, 4.2 s), loss = 1.96875\n"
                              "    Iteration 100, lr = 0.00992565\n");
    cf_test_rec te = two_losses_and_accuracy(1);
    emitted[0] = 0;
    cf_test_lines(&te, collect_line, NULL);
    cr_assert_str_eq(emitted, "Iteration 100, Testing net (#1)\n"
                              "    Test net output #0: recon_loss = 0.75 (* 1 = 0.75 loss)\n"
                              "    Test net output #1: class_loss = 2.5 (* 0.5 = 1.25 loss)\n"
                              "    Test net output #2: accuracy = 0.125\n");
}

/* A train line's outputs read back with net -1; a line without them has
 * none. */
Test(metrics_parse, train_outputs_written_read_back)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cf_iter_rec it = {100, 2.0f, 1.96875f, 0.01, 900, 3};
    cf_test_rec outs = two_losses_and_accuracy(-1);
    cf_metrics_iter(f, &it, &outs, NULL);
    cf_metrics_iter(f, &it, NULL, NULL);
    fclose(f);
    char *l2 = strchr(buf, '\n') + 1;
    cr_assert(strstr(buf, ",\"outputs\":{\"recon_loss\":0.75,\"class_loss\":2.5,\"accuracy\":0.125}"), "%s", buf);
    cr_assert_eq(cf_metrics_parse(buf, (size_t)(l2 - buf - 1), &ml), CF_MLINE_TRAIN, "%s", ml.why);
    cr_assert(ml.train.iter == 100 && ml.test.net == -1 && ml.test.iter == 100 && ml.test.n == 3);
    cr_assert_str_eq(ml.test.name[1], "class_loss");
    cr_assert(ml.test.value[0] == 0.75 && ml.test.value[1] == 2.5 && ml.test.value[2] == 0.125);
    cr_assert_eq(cf_metrics_parse(l2, strlen(l2) - 1, &ml), CF_MLINE_TRAIN, "%s", ml.why);
    cr_assert_eq(ml.test.n, 0);
    /* still refused where no writer puts them */
    cr_assert_eq(parse("{\"type\":\"event\",\"iter\":1,\"event\":\"log\",\"text\":\"x\",\"outputs\":{}}"), CF_MLINE_BAD);
    cr_assert_str_eq(ml.why, "col 64: \"outputs\" in an event line");
    free(buf);
}

/* The front end finds the outputs of the display iteration it prints:
 * older ones (its ring lost the iteration, or it skipped) are passed
 * over, a later one is kept for its own iteration. */
Test(monitor, train_outputs_are_found_by_iteration)
{
    cf_monitor *m = cf_monitor_new();
    cf_train_cursor c = {0};
    cf_test_rec r = {.net = -1, .n = 1}, got;
    strcpy(r.name[0], "loss");
    int iters[] = {0, 10, 20, 50};
    for (int i = 0; i < 4; i++) {
        r.iter = iters[i], r.value[0] = iters[i] + 0.5;
        cf_monitor_push_train(m, &r);
    }
    cr_assert(cf_monitor_train_outputs(m, &c, 0, &got) && got.iter == 0 && got.value[0] == 0.5);
    cr_assert(!cf_monitor_train_outputs(m, &c, 5, &got), "no display at 5");
    cr_assert(cf_monitor_train_outputs(m, &c, 10, &got) && got.value[0] == 10.5);
    cr_assert(!cf_monitor_train_outputs(m, &c, 30, &got), "20 is passed over, 50 kept");
    cr_assert(!cf_monitor_train_outputs(m, &c, 40, &got));
    cr_assert(cf_monitor_train_outputs(m, &c, 50, &got) && got.value[0] == 50.5);
    cr_assert(!cf_monitor_train_outputs(m, &c, 60, &got), "nothing more");
    /* more than the ring holds: the oldest are gone, the newest found */
    for (int i = 0; i < CF_MON_TRAINS + 10; i++) {
        r.iter = 100 + i, r.value[0] = i;
        cf_monitor_push_train(m, &r);
    }
    cr_assert(!cf_monitor_train_outputs(m, &c, 100, &got));
    cr_assert(cf_monitor_train_outputs(m, &c, 100 + CF_MON_TRAINS + 9, &got) && got.value[0] == CF_MON_TRAINS + 9);
    cf_monitor_free(m);
}
