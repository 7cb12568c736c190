/* series.c — see series.h. */
#include "series.h"

#include <stdbool.h>
#include <stdlib.h>

int cf_series_init(cf_series *s, int cap)
{
    s->pt = malloc((size_t)cap * sizeof *s->pt);
    s->n = 0;
    s->cap = cap;
    s->stride = 1;
    s->bx = s->by = 0;
    s->bn = 0;
    s->total = 0;
    s->recent_from = 0;
    return s->pt ? 0 : -1;
}

void cf_series_free(cf_series *s)
{
    free(s->pt);
    s->pt = NULL;
    s->n = s->cap = 0;
}

void cf_series_clear(cf_series *s)
{
    s->n = 0;
    s->stride = 1;
    s->bx = s->by = 0;
    s->bn = 0;
    s->total = 0;
    s->recent_from = 0;
}

void cf_series_cut(cf_series *s, double x)
{
    if (s->bn && s->bx / s->bn >= x) s->bx = s->by = 0, s->bn = 0;
    while (s->n > 0 && s->pt[s->n - 1].x >= x) s->n--;
    /* the slots of the points cut will be written again: what they held
     * before is no longer there to show */
    uint64_t oldest = s->total > CF_SERIES_RECENT ? s->total - CF_SERIES_RECENT : 0;
    bool cut = false;
    while (s->total > s->recent_from && s->total > oldest && s->recent[(s->total - 1) % CF_SERIES_RECENT].x >= x) {
        s->total--;
        cut = true;
    }
    if (cut && oldest > s->recent_from) s->recent_from = oldest;
    if (s->total > s->recent_from && s->total > oldest) s->last = s->recent[(s->total - 1) % CF_SERIES_RECENT];
    else if (s->n) s->last = s->pt[s->n - 1];
}

static void compact(cf_series *s)
{
    int h = s->n / 2;
    for (int i = 0; i < h; i++)
        s->pt[i] = (cf_pt){(s->pt[2 * i].x + s->pt[2 * i + 1].x) / 2, (s->pt[2 * i].y + s->pt[2 * i + 1].y) / 2};
    s->n = h;
    s->stride *= 2;
}

void cf_series_add(cf_series *s, double x, double y)
{
    s->recent[s->total % CF_SERIES_RECENT] = (cf_pt){x, y};
    s->total++;
    s->last = (cf_pt){x, y};
    s->bx += x;
    s->by += y;
    if (++s->bn < s->stride) return;
    s->pt[s->n++] = (cf_pt){s->bx / s->bn, s->by / s->bn};
    s->bx = s->by = 0;
    s->bn = 0;
    if (s->n == s->cap) compact(s);
}

int cf_series_view(const cf_series *s, double xmin, cf_pt *out, int max)
{
    int k = 0;
    uint64_t held = s->total < CF_SERIES_RECENT ? s->total : CF_SERIES_RECENT;
    uint64_t first = s->total - held;
    if (first < s->recent_from) first = s->recent_from;
    if (first < s->total && (first == 0 || s->recent[first % CF_SERIES_RECENT].x <= xmin)) {
        for (uint64_t i = first; i < s->total && k < max; i++) {
            cf_pt p = s->recent[i % CF_SERIES_RECENT];
            if (p.x >= xmin) out[k++] = p;
        }
        return k;
    }
    for (int i = 0; i < s->n && k < max; i++)
        if (s->pt[i].x >= xmin) out[k++] = s->pt[i];
    if (s->bn && k < max && s->bx / s->bn >= xmin) out[k++] = (cf_pt){s->bx / s->bn, s->by / s->bn};
    return k;
}
