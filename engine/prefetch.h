/* prefetch.h — a producer thread that fills batches ahead of use, so
 * that a data layer's forward only takes a ready batch (Caffe's
 * BasePrefetchingDataLayer idea).
 *
 * `nbuf` batches circulate: the thread fills free ones in order with
 * `fill` and queues them; the consumer takes the oldest ready batch,
 * copies it out, and gives it back.  With nbuf == 0 there is no thread:
 * take() fills one batch in the caller's thread (useful for debugging and
 * for exact control in tests).
 *
 * `fill` runs on the thread and owns whatever state it touches (a
 * database cursor, an RNG) until cf_prefetch_stop() returns.  When it
 * fails, the batches already queued are still served, then take() returns
 * NULL with fill's error and no more batches come.
 */
#ifndef CF_PREFETCH_H
#define CF_PREFETCH_H

#include <stddef.h>

#include "error.h"
#include "rng.h"

typedef struct cf_batch {
    float *data;        /* ndata floats */
    float *label;       /* nlabel floats, NULL when nlabel is 0 */
    size_t start;       /* for the filler: where this batch began (e.g. record index) */
    cf_rng rng_after;   /* for the filler: its generator's state after this batch */
} cf_batch;

typedef int (*cf_fill_fn)(void *ctx, cf_batch *b, cf_error *err);

typedef struct cf_prefetch cf_prefetch;

cf_prefetch *cf_prefetch_start(int nbuf, size_t ndata, size_t nlabel, cf_fill_fn fill, void *ctx, cf_error *err);
/* The next batch (blocks only while the thread is behind); NULL on error.
 * Give it back before taking the next one. */
cf_batch *cf_prefetch_take(cf_prefetch *p, cf_error *err);
void cf_prefetch_give(cf_prefetch *p, cf_batch *b);
/* Stop the thread (it finishes the batch in hand), join it, free all. */
void cf_prefetch_stop(cf_prefetch *p);

#endif
