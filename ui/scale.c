/* scale.c — see scale.h.  Position along the axis: t = (f(v) − f(lo)) /
 * (f(hi) − f(lo)) with f the identity or log10, then pixel = round(t·(npix−1)). */
#include "scale.h"

#include <math.h>

void cf_scale_reset(cf_scale *s, bool log)
{
    s->lo = s->hi = 0;
    s->log = log;
    s->any = false;
}

bool cf_scale_usable(const cf_scale *s, double v)
{
    return isfinite(v) && (!s->log || v > 0);
}

void cf_scale_add(cf_scale *s, double v)
{
    if (!cf_scale_usable(s, v)) return;
    if (!s->any) {
        s->lo = s->hi = v;
        s->any = true;
    } else if (v < s->lo) s->lo = v;
    else if (v > s->hi) s->hi = v;
}

bool cf_scale_finish(cf_scale *s)
{
    if (!s->any) return false;
    if (s->hi > s->lo) return true;
    double v = s->lo;
    if (s->log) {
        s->lo = v / sqrt(10.0);
        s->hi = v * sqrt(10.0);
    } else if (v == 0) {
        s->lo = -1;
        s->hi = 1;
    } else {
        s->lo = v - fabs(v) / 10;
        s->hi = v + fabs(v) / 10;
    }
    return true;
}

int cf_scale_pos(const cf_scale *s, double v, int npix)
{
    if (npix <= 0 || !cf_scale_usable(s, v)) return -1;
    double a = s->lo, b = s->hi;
    if (s->log) a = log10(a), b = log10(b), v = log10(v);
    double t = b > a ? (v - a) / (b - a) : 0.5;
    double p = floor(t * (npix - 1) + 0.5);
    if (p < 0) p = 0;
    if (p > npix - 1) p = npix - 1;
    return (int)p;
}
