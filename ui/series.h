/* series.h — a curve that grows for as long as training runs, kept in
 * bounded memory so that drawing it stays cheap.
 *
 * Two views of the same points:
 *   - the whole history, decimated: points are averaged in buckets of
 *     `stride` consecutive points; when the store is full, neighbouring
 *     pairs are averaged and the stride doubles (so at most `cap` points,
 *     evenly spread over the whole run, plus the bucket being filled);
 *   - the last CF_SERIES_RECENT points as they came, for zoomed views.
 * Pure, unit-tested. */
#ifndef CF_UI_SERIES_H
#define CF_UI_SERIES_H

#include <stdint.h>

#include "plot.h"

#define CF_SERIES_RECENT 2048

typedef struct cf_series {
    cf_pt *pt;
    int n, cap, stride;
    double bx, by;           /* sums of the bucket being filled */
    int bn;
    cf_pt recent[CF_SERIES_RECENT];
    uint64_t total;          /* points ever added (less those cut) */
    uint64_t recent_from;    /* recent[] holds no point below this number */
    cf_pt last;
} cf_series;

/* cap: even, ≥ 2.  Returns 0 or -1 (out of memory). */
int cf_series_init(cf_series *s, int cap);
void cf_series_free(cf_series *s);
void cf_series_add(cf_series *s, double x, double y);
/* Forget every point (the store is kept). */
void cf_series_clear(cf_series *s);
/* Forget the points at x or beyond: a run that went back (resumed from
 * an earlier snapshot, or started again in the same directory) goes on
 * from there.  Points are added in increasing x, so these are the last
 * ones; a bucket of the decimated store goes when its mean x does. */
void cf_series_cut(cf_series *s, double x);
/* Points with x ≥ xmin, oldest first, into out (room for max): raw
 * points when the recent ring reaches back to xmin, else the decimated
 * store (plus the partial bucket).  Returns how many. */
int cf_series_view(const cf_series *s, double xmin, cf_pt *out, int max);

#endif
