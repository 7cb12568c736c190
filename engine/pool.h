/* pool.h — a small fixed thread pool for data-parallel loops.
 *
 * cf_pool_run(pool, n, fn, ctx) calls fn(ctx, i) for i in [0, nthreads)
 * once each, the caller's thread running i = 0, and returns when all are
 * done.  No allocation per call.  One run at a time (callers serialise).
 */
#ifndef CF_POOL_H
#define CF_POOL_H

typedef struct cf_pool cf_pool;
typedef void (*cf_pool_fn)(void *ctx, int worker);

cf_pool *cf_pool_new(int nthreads);
void cf_pool_free(cf_pool *p);
int cf_pool_threads(const cf_pool *p);
void cf_pool_run(cf_pool *p, cf_pool_fn fn, void *ctx);

#endif
