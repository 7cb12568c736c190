/* scale.h — mapping data values to pixel positions along one axis,
 * linear or logarithmic (base 10).  On a log axis only positive values
 * have a place: zero and negative values are left out of the range and
 * map to nothing, so a plot breaks its line there instead of drawing a
 * spike to the edge.  Pure functions, unit-tested. */
#ifndef CF_UI_SCALE_H
#define CF_UI_SCALE_H

#include <stdbool.h>

typedef struct cf_scale {
    double lo, hi;
    bool log;
    bool any;     /* at least one usable value was added */
} cf_scale;

void cf_scale_reset(cf_scale *s, bool log);
/* Can v be placed on this axis?  (finite, and > 0 on a log axis) */
bool cf_scale_usable(const cf_scale *s, double v);
/* Widen [lo, hi] to include v (unusable values are ignored). */
void cf_scale_add(cf_scale *s, double v);
/* Give an empty or one-point range some width: a linear range [v, v]
 * becomes [v − |v|/10, v + |v|/10] ([−1, 1] for 0), a log range
 * [v/√10, v·√10].  Returns false when no usable value was added. */
bool cf_scale_finish(cf_scale *s);
/* Pixel 0..npix−1 for v (lo → 0, hi → npix−1, rounded to nearest,
 * clamped), or −1 when v is unusable. */
int cf_scale_pos(const cf_scale *s, double v, int npix);

#endif
