/* test_ui_units.c — the TUI's pure parts, without a terminal: number
 * formats, axis mapping (log axes with zero and negative values), braille
 * rasterisation of known series, sparklines, pane layout, trouble rules,
 * the decimating curve store, the view's records and the key bindings. */
#include <criterion/criterion.h>
#include <curses.h>
#include <math.h>
#include <string.h>

#include "fmt.h"
#include "layout.h"
#include "plot.h"
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

static void check_layout(int cols, int rows)
{
    cf_layout l;
    cf_layout_compute(cols, rows, -1, &l);
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
    /* every pane keeps room for its title and some content */
    for (int i = 0; i < CF_NPANES; i++)
        cr_assert(l.pane[i].h >= 6 && l.pane[i].w >= 24, "%dx%d: pane %s is %dx%d", cols, rows, cf_pane_name(i),
                  l.pane[i].w, l.pane[i].h);
    cr_assert_eq(l.status.y, 0);
    cr_assert_eq(l.footer.y, rows - 1);
}

Test(layout, panes_tile_80x24_and_200x60)
{
    check_layout(80, 24);
    check_layout(200, 60);
    check_layout(120, 40);
    check_layout(100, 30);
    cf_layout l;
    cf_layout_compute(80, 24, -1, &l);
    cr_assert_eq(l.pane[CF_PANE_LOSS].h, 9);
    cr_assert_eq(l.pane[CF_PANE_LAYERS].h, 7);
    cr_assert_eq(l.pane[CF_PANE_LOG].h, 6);
    cr_assert_eq(l.pane[CF_PANE_LOSS].w, 48);
}

Test(layout, too_small_below_80x24)
{
    cf_layout l;
    cf_layout_compute(79, 24, -1, &l);
    cr_assert(l.too_small);
    cf_layout_compute(80, 23, -1, &l);
    cr_assert(l.too_small);
    cf_layout_compute(80, 24, -1, &l);
    cr_assert_not(l.too_small);
}

Test(layout, zoomed_pane_takes_the_body)
{
    cf_layout l;
    cf_layout_compute(100, 30, CF_PANE_LOG, &l);
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
