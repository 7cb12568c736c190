/* trouble.c — see trouble.h. */
#include "trouble.h"

#include <math.h>

double cf_update_ratio(const cf_blob_stat *b)
{
    if (b->kind != 'p' || !(b->norm > 0) || !(b->update_norm > 0)) return -1;
    return (double)b->update_norm / b->norm;
}

unsigned cf_trouble(const cf_blob_stat *b, bool relu_top)
{
    unsigned t = 0;
    if (b->data.nonfinite || b->diff.nonfinite || !isfinite(b->norm) || !isfinite(b->grad_norm) ||
        !isfinite(b->update_norm))
        t |= CF_TROUBLE_NONFINITE;
    if (b->kind == 't' && relu_top && b->data.zero_frac > CF_DEAD_ZERO_FRAC) t |= CF_TROUBLE_DEAD;
    double r = cf_update_ratio(b);
    if (r > CF_EXPLODE_RATIO) t |= CF_TROUBLE_EXPLODE;
    else if (r >= 0 && r < CF_VANISH_RATIO) t |= CF_TROUBLE_VANISH;
    return t;
}
