/* sparkline.h — a row of bars (▁▂▃▄▅▆▇█, or ASCII "_.:-=+*#") showing
 * the recent history of one number in a table cell.  Pure, unit-tested. */
#ifndef CF_UI_SPARKLINE_H
#define CF_UI_SPARKLINE_H

#include <stdbool.h>
#include <stddef.h>

/* The last min(n, width) values of v (oldest first), right-aligned in
 * `width` cells (spaces on the left).  Each finite value gets level
 * round(7·(v − min)/(max − min)) over the finite values shown; when they
 * are all equal, level 3 (a flat line half-way up); a non-finite value is
 * '!'.  Writes a NUL-terminated string (3 bytes per bar in UTF-8); returns
 * the number of cells written, or -1 when cap is too small. */
int cf_sparkline(const float *v, int n, int width, bool ascii, char *out, size_t cap);

#endif
