/* plot.c — see plot.h. */
#include "plot.h"

#include <stdlib.h>
#include <string.h>

/* bit of the dot at (x, y) inside a cell (braille numbering, see plot.h) */
static const uint8_t dot_bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};

int cf_canvas_init(cf_canvas *c, int w, int h)
{
    c->w = w > 0 ? w : 0;
    c->h = h > 0 ? h : 0;
    size_t n = (size_t)c->w * c->h;
    c->bits = calloc(n ? n : 1, 1);
    c->owner = calloc(n ? n : 1, 1);
    if (!c->bits || !c->owner) {
        cf_canvas_free(c);
        return -1;
    }
    return 0;
}

void cf_canvas_free(cf_canvas *c)
{
    free(c->bits);
    free(c->owner);
    c->bits = NULL;
    c->owner = NULL;
    c->w = c->h = 0;
}

void cf_canvas_clear(cf_canvas *c)
{
    memset(c->bits, 0, (size_t)c->w * c->h);
    memset(c->owner, 0, (size_t)c->w * c->h);
}

void cf_canvas_dot(cf_canvas *c, int px, int py, int owner)
{
    if (px < 0 || py < 0 || px >= 2 * c->w || py >= 4 * c->h) return;
    size_t i = (size_t)(py / 4) * c->w + px / 2;
    c->bits[i] |= dot_bit[py % 4][px % 2];
    c->owner[i] = (signed char)owner;
}

void cf_canvas_line(cf_canvas *c, int x0, int y0, int x1, int y1, int owner)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        cf_canvas_dot(c, x0, y0, owner);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * e;
        if (e2 >= dy) e += dy, x0 += sx;
        if (e2 <= dx) e += dx, y0 += sy;
    }
}

void cf_plot_series(cf_canvas *c, const cf_scale *xs, const cf_scale *ys, const cf_pt *p, size_t n, int owner)
{
    int W = 2 * c->w, H = 4 * c->h;
    int px = 0, py = 0;
    int have = 0;
    for (size_t i = 0; i < n; i++) {
        int x = cf_scale_pos(xs, p[i].x, W), y = cf_scale_pos(ys, p[i].y, H);
        if (x < 0 || y < 0) {
            have = 0;
            continue;
        }
        y = H - 1 - y;
        if (have) cf_canvas_line(c, px, py, x, y, owner);
        else cf_canvas_dot(c, x, y, owner);
        px = x, py = y, have = 1;
    }
}

int cf_plot_cell(const cf_canvas *c, const cf_scale *xs, const cf_scale *ys, double x, double y, int *cx, int *cy)
{
    int W = 2 * c->w, H = 4 * c->h;
    int px = cf_scale_pos(xs, x, W), py = cf_scale_pos(ys, y, H);
    if (px < 0 || py < 0) return -1;
    *cx = px / 2;
    *cy = (H - 1 - py) / 4;
    return 0;
}

char *cf_braille(uint8_t bits, char out[4])
{
    unsigned cp = 0x2800u + bits; /* three UTF-8 bytes: 1110xxxx 10xxxxxx 10xxxxxx */
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    out[3] = 0;
    return out;
}

char cf_dots_ascii(uint8_t bits)
{
    if (!bits) return ' ';
    int rows = 0, nrows = 0;
    for (int y = 0; y < 4; y++)
        if (bits & (dot_bit[y][0] | dot_bit[y][1])) rows |= 1 << y, nrows++;
    if (nrows >= 3) return '|';
    if (!(rows & 0xC)) return '\'';   /* rows 0–1 */
    if (!(rows & 0x3)) return '.';    /* rows 2–3 */
    if (rows == 0x6) return '-';      /* rows 1–2 */
    return ':';
}
