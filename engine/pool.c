/* pool.c — see pool.h.  Workers sleep on a condition variable between
 * runs; a generation counter tells them a new run has started. */
#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

struct cf_pool {
    int n;
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long gen;
    int pending;
    int quit;
    cf_pool_fn fn;
    void *ctx;
};

typedef struct { cf_pool *p; int id; } worker_arg;

static void *worker(void *arg)
{
    worker_arg *w = arg;
    cf_pool *p = w->p;
    int id = w->id;
    free(w);
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->gen == seen && !p->quit) pthread_cond_wait(&p->go, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->gen;
        cf_pool_fn fn = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, id);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

cf_pool *cf_pool_new(int nthreads)
{
    if (nthreads < 1) nthreads = 1;
    cf_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    p->th = calloc((size_t)nthreads, sizeof *p->th);
    for (int i = 1; i < nthreads; i++) {
        worker_arg *w = malloc(sizeof *w);
        w->p = p;
        w->id = i;
        if (pthread_create(&p->th[i], NULL, worker, w)) {
            free(w);
            p->n = i; /* run with the threads we got */
            break;
        }
    }
    return p;
}

void cf_pool_free(cf_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->th[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p->th);
    free(p);
}

int cf_pool_threads(const cf_pool *p) { return p ? p->n : 1; }

void cf_pool_run(cf_pool *p, cf_pool_fn fn, void *ctx)
{
    if (!p || p->n == 1) {
        fn(ctx, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->pending = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
