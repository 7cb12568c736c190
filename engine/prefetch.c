/* prefetch.c — batch producer thread (see prefetch.h).
 *
 * Two counters order everything: `filled` batches have been produced and
 * `given` batches handed back, so filled - given batches are ready or in
 * the consumer's hands, and slot k % nbuf holds batch k.  The thread may
 * fill while filled - given < nbuf; the consumer may take while
 * filled > given.  One mutex and one condition variable guard both. */
#include "prefetch.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>

struct cf_prefetch {
    int nbuf;               /* 0: no thread */
    cf_batch *b;            /* max(nbuf, 1) batches */
    size_t filled, given;
    bool stop, dead, threaded;
    cf_error err;           /* fill's error once dead */
    cf_fill_fn fill;
    void *ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *run(void *arg)
{
    cf_prefetch *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->filled - p->given >= (size_t)p->nbuf) pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) break;
        cf_batch *b = &p->b[p->filled % (size_t)p->nbuf];
        pthread_mutex_unlock(&p->mu);
        cf_error e;
        int rc = p->fill(p->ctx, b, &e);
        pthread_mutex_lock(&p->mu);
        if (rc) {
            p->err = e;
            p->dead = true;
        } else {
            p->filled++;
        }
        pthread_cond_broadcast(&p->cv);
        if (rc) break;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void free_batches(cf_prefetch *p)
{
    for (int i = 0; i < (p->nbuf ? p->nbuf : 1); i++) {
        free(p->b[i].data);
        free(p->b[i].label);
    }
    free(p->b);
}

cf_prefetch *cf_prefetch_start(int nbuf, size_t ndata, size_t nlabel, cf_fill_fn fill, void *ctx, cf_error *err)
{
    cf_prefetch *p = calloc(1, sizeof *p);
    int nb = nbuf > 0 ? nbuf : 1;
    if (!p || !(p->b = calloc((size_t)nb, sizeof *p->b))) abort();
    p->nbuf = nbuf > 0 ? nbuf : 0;
    p->fill = fill;
    p->ctx = ctx;
    for (int i = 0; i < nb; i++) {
        p->b[i].data = malloc((ndata ? ndata : 1) * sizeof(float));
        p->b[i].label = nlabel ? malloc(nlabel * sizeof(float)) : NULL;
        if (!p->b[i].data || (nlabel && !p->b[i].label)) abort();
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (!p->nbuf) return p;
    /* The thread takes no signals: they belong to the program's main
     * thread, which polls flags that its handlers set. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->thread, NULL, run, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        cf_error_set(err, CF_ERUNTIME, "cannot start the prefetch thread");
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free_batches(p);
        free(p);
        return NULL;
    }
    p->threaded = true;
    return p;
}

cf_batch *cf_prefetch_take(cf_prefetch *p, cf_error *err)
{
    if (!p->nbuf) return p->fill(p->ctx, &p->b[0], err) ? NULL : &p->b[0];
    pthread_mutex_lock(&p->mu);
    while (p->filled == p->given && !p->dead) pthread_cond_wait(&p->cv, &p->mu);
    cf_batch *b = NULL;
    if (p->filled > p->given) b = &p->b[p->given % (size_t)p->nbuf];
    else if (err) *err = p->err;
    pthread_mutex_unlock(&p->mu);
    return b;
}

void cf_prefetch_give(cf_prefetch *p, cf_batch *b)
{
    (void)b;
    if (!p->nbuf) return;
    pthread_mutex_lock(&p->mu);
    p->given++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void cf_prefetch_stop(cf_prefetch *p)
{
    if (!p) return;
    if (p->threaded) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free_batches(p);
    free(p);
}
