/* sparkline.c — see sparkline.h. */
#include "sparkline.h"

#include <math.h>
#include <string.h>

static const char *const bars[8] = {"\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588"};
static const char ascii_bars[8] = {'_', '.', ':', '-', '=', '+', '*', '#'};

int cf_sparkline(const float *v, int n, int width, bool ascii, char *out, size_t cap)
{
    if (width < 0) width = 0;
    if ((size_t)width * (ascii ? 1 : 3) + 1 > cap) return -1;
    int k = n < width ? n : width;
    const float *w = v + (n - k);
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < k; i++)
        if (isfinite(w[i])) {
            if (w[i] < lo) lo = w[i];
            if (w[i] > hi) hi = w[i];
        }
    char *p = out;
    for (int i = 0; i < width - k; i++) *p++ = ' ';
    for (int i = 0; i < k; i++) {
        if (!isfinite(w[i])) {
            *p++ = '!';
            continue;
        }
        int level = hi > lo ? (int)floor(7 * (w[i] - lo) / (hi - lo) + 0.5) : 3;
        if (ascii) *p++ = ascii_bars[level];
        else {
            memcpy(p, bars[level], 3);
            p += 3;
        }
    }
    *p = 0;
    return width;
}
