/* plot.h — a dot canvas for line plots in a character grid.
 *
 * Each character cell holds 2×4 dots, as a Unicode braille pattern
 * (U+2800 + dot bits) does, so a pane of w×h cells plots 2w×4h points.
 * Dot (x, y) inside a cell, y counted from the top, has the bit of
 * braille dot number:
 *      x=0  x=1
 *   y=0  1    4        bits: dot1 0x01  dot2 0x02  dot3 0x04  dot4 0x08
 *   y=1  2    5              dot5 0x10  dot6 0x20  dot7 0x40  dot8 0x80
 *   y=2  3    6
 *   y=3  7    8
 * Each cell also remembers which series drew in it last (its owner), so
 * the front end can colour it.  Terminals without UTF-8 get one ASCII
 * character per cell that suggests where its dots sit.
 * Pure functions, unit-tested; the curses side lives in panes.c. */
#ifndef CF_UI_PLOT_H
#define CF_UI_PLOT_H

#include <stddef.h>
#include <stdint.h>

#include "scale.h"

typedef struct cf_pt { double x, y; } cf_pt;

typedef struct cf_canvas {
    int w, h;            /* cells */
    uint8_t *bits;       /* w*h dot patterns, row-major */
    signed char *owner;  /* w*h: series that drew last, 0 none */
} cf_canvas;

int cf_canvas_init(cf_canvas *c, int w, int h); /* 0, or -1 out of memory */
void cf_canvas_free(cf_canvas *c);
void cf_canvas_clear(cf_canvas *c);
/* Set dot (px, py): px in [0, 2w), py in [0, 4h) from the top; others
 * are ignored. */
void cf_canvas_dot(cf_canvas *c, int px, int py, int owner);
/* A straight line of dots from (x0, y0) to (x1, y1), ends included
 * (Bresenham). */
void cf_canvas_line(cf_canvas *c, int x0, int y0, int x1, int y1, int owner);
/* Plot points in order, joined by lines.  y grows upwards (ys.lo at the
 * bottom row of dots).  A point whose x or y is unusable on its scale
 * (NaN, or ≤ 0 on a log axis) is skipped and breaks the line. */
void cf_plot_series(cf_canvas *c, const cf_scale *xs, const cf_scale *ys, const cf_pt *p, size_t n, int owner);
/* Cell of point (x, y), or -1 when it has no place: *cx, *cy set. */
int cf_plot_cell(const cf_canvas *c, const cf_scale *xs, const cf_scale *ys, double x, double y, int *cx, int *cy);

/* UTF-8 bytes of the braille pattern (3 bytes + NUL); returns out. */
char *cf_braille(uint8_t bits, char out[4]);
/* One ASCII character for a dot pattern: ' ' empty, '\'' only the top
 * half, '.' only the bottom half, '-' only the middle rows, '|' three or
 * four rows, ':' otherwise. */
char cf_dots_ascii(uint8_t bits);

#endif
