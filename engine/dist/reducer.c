/* reducer.c — bucketed, overlapped gradient averaging (see reducer.h).
 *
 * Two ways to send a bucket: host memory (packed into one buffer, or the
 * lone param's diff in place), or — when the communicator sums the memory
 * of the net's GPU itself (cf_dist_on_device: NCCL) — the params' device
 * diffs in place, one grouped call per bucket, the extras then going
 * through the host channel on their own. */
#include "reducer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bucket {
    int nparam;
    int *param;             /* indices into net->params, in packing order */
    size_t n;               /* floats, extras included */
    float *buf;             /* packing buffer; NULL for a single param summed in place */
    int ready;              /* every param is final once layer `ready` has run backward */
    void *req;
    bool posted, done;
} bucket;

struct cf_reducer {
    cf_dist *d;
    cf_net *net;
    int nextra;
    int nb;
    bucket *b;
    int *bucket_of;         /* per net param */
    int next;               /* first bucket not started */
    int oldest;             /* first bucket not known finished */
    size_t floats;
    const float *extra;
    cf_error err;
    bool failed;
    double post_s, wait_s;
    bool dev;               /* device sums: buckets are lists of device diffs */
    float **ptrs;           /* scratch for a device bucket's pointers and counts */
    size_t *ns;
    float *extra_buf;       /* device sums: the extras' own host buffer */
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static bool reduced(const cf_net *net, int i) { return net->params[i].owner == i && net->params[i].lr_mult != 0; }

/* The earliest layer that uses param i (its owner or a sharer): the
 * gradient is final after that layer's backward. */
static int final_after(const cf_net *net, int i)
{
    int first = net->params[i].layer;
    for (int j = 0; j < net->nparams; j++)
        if (net->params[j].owner == i && net->params[j].layer < first) first = net->params[j].layer;
    return first;
}

typedef struct { int param, layer; } order_item;

/* Later layers first (they finish first); ties in param order. */
static int by_finish(const void *a, const void *b)
{
    const order_item *x = a, *y = b;
    if (x->layer != y->layer) return y->layer - x->layer;
    return x->param - y->param;
}

static bucket *new_bucket(cf_reducer *r)
{
    r->b = realloc(r->b, (size_t)(r->nb + 1) * sizeof *r->b);
    if (!r->b) abort();
    bucket *b = &r->b[r->nb++];
    memset(b, 0, sizeof *b);
    b->ready = r->net->nlayers;
    return b;
}

cf_reducer *cf_reducer_new(cf_dist *d, cf_net *net, size_t bucket_bytes, int nextra)
{
    cf_reducer *r = calloc(1, sizeof *r);
    if (!r) abort();
    r->d = d;
    r->net = net;
    r->nextra = nextra;
    r->dev = cf_dist_on_device(d, net->be);
    r->bucket_of = malloc(((size_t)net->nparams + 1) * sizeof *r->bucket_of);
    order_item *ord = malloc(((size_t)net->nparams + 1) * sizeof *ord);
    if (!r->bucket_of || !ord) abort();
    int n = 0;
    for (int i = 0; i < net->nparams; i++) {
        r->bucket_of[i] = -1;
        if (reduced(net, i)) ord[n++] = (order_item){i, final_after(net, i)};
    }
    qsort(ord, (size_t)n, sizeof *ord, by_finish);

    bucket *b = NULL;
    size_t bytes = 0;
    for (int k = 0; k < n; k++) {
        if (!b || bytes >= bucket_bytes) b = new_bucket(r), bytes = 0;
        b->param = realloc(b->param, (size_t)(b->nparam + 1) * sizeof *b->param);
        if (!b->param) abort();
        b->param[b->nparam++] = ord[k].param;
        r->bucket_of[ord[k].param] = r->nb - 1;
        size_t cnt = net->params[ord[k].param].blob->count;
        b->n += cnt;
        r->floats += cnt;
        bytes += cnt * sizeof(float);
        if (ord[k].layer < b->ready) b->ready = ord[k].layer;
    }
    free(ord);
    r->ptrs = malloc(((size_t)net->nparams + 1) * sizeof *r->ptrs);
    r->ns = malloc(((size_t)net->nparams + 1) * sizeof *r->ns);
    r->extra_buf = malloc(((size_t)nextra + 1) * sizeof *r->extra_buf);
    if (!r->ptrs || !r->ns || !r->extra_buf) abort();
    if (r->dev) return r; /* no packing: device diffs in place, extras apart */
    if (!b || nextra > 0) {
        if (!b) b = new_bucket(r);
        b->n += (size_t)nextra;
    }
    for (int k = 0; k < r->nb; k++) {
        bucket *q = &r->b[k];
        bool in_place = q->nparam == 1 && (k + 1 < r->nb || nextra == 0);
        if (!in_place) {
            q->buf = malloc((q->n + 1) * sizeof(float));
            if (!q->buf) abort();
        }
    }
    return r;
}

void cf_reducer_free(cf_reducer *r)
{
    if (!r) return;
    if (r->net && r->net->after_backward_ctx == r) r->net->after_backward = NULL, r->net->after_backward_ctx = NULL;
    for (int k = 0; k < r->nb; k++) {
        if (r->b[k].posted && !r->b[k].done)
            r->dev ? cf_dist_wait_dev(r->d, r->b[k].req, NULL) : cf_dist_wait(r->d, r->b[k].req, NULL);
        free(r->b[k].param);
        free(r->b[k].buf);
    }
    free(r->b);
    free(r->bucket_of);
    free(r->ptrs);
    free(r->ns);
    free(r->extra_buf);
    free(r);
}

/* The floats a bucket sends: its buffer, or the lone param's diff. */
static float *payload(cf_reducer *r, bucket *b)
{
    return b->buf ? b->buf : cf_blob_mdiff(r->net->params[b->param[0]].blob);
}

static void pack(cf_reducer *r, bucket *b, bool last)
{
    if (!b->buf) return;
    size_t at = 0;
    for (int k = 0; k < b->nparam; k++) {
        cf_blob *blob = r->net->params[b->param[k]].blob;
        memcpy(b->buf + at, cf_blob_diff(blob), blob->count * sizeof(float));
        at += blob->count;
    }
    if (last && r->nextra) memcpy(b->buf + at, r->extra, (size_t)r->nextra * sizeof(float));
}

static void unpack(cf_reducer *r, bucket *b, float *extra)
{
    float inv = 1.0f / (float)r->d->size;
    if (r->dev) { /* the sums are on the device: scale them there */
        for (int k = 0; k < b->nparam; k++) {
            cf_blob *blob = r->net->params[b->param[k]].blob;
            cf_scal(cf_backend_gpu(r->net->be), blob->count, inv, cf_blob_gpu_mdiff(r->net->be, blob));
        }
        return;
    }
    float *src = payload(r, b);
    size_t at = 0;
    for (int k = 0; k < b->nparam; k++) {
        cf_blob *blob = r->net->params[b->param[k]].blob;
        float *g = cf_blob_mdiff(blob);
        if (b->buf) memcpy(g, src + at, blob->count * sizeof(float));
        cf_scal(r->net->be, blob->count, inv, g);
        at += blob->count;
    }
    if (extra && b == &r->b[r->nb - 1] && r->nextra) memcpy(extra, src + at, (size_t)r->nextra * sizeof(float));
}

/* Start a device bucket: its params' device diffs, in place. */
static int post_dev(cf_reducer *r, bucket *b)
{
    for (int k = 0; k < b->nparam; k++) {
        cf_blob *blob = r->net->params[b->param[k]].blob;
        r->ptrs[k] = cf_blob_gpu_mdiff(r->net->be, blob);
        r->ns[k] = blob->count;
        if (!r->ptrs[k]) return cf_error_set(&r->err, CF_ERUNTIME, "out of GPU memory for the gradient of '%s'", blob->name);
    }
    return cf_dist_start_sum_dev(r->d, r->ptrs, r->ns, b->nparam, &b->req, &r->err);
}

static void post(cf_reducer *r, bucket *b)
{
    b->posted = true;
    int rc;
    if (r->dev) {
        rc = post_dev(r, b);
    } else {
        pack(r, b, b == &r->b[r->nb - 1]);
        rc = cf_dist_start_sum(r->d, payload(r, b), b->n, &b->req, &r->err);
    }
    if (rc) {
        r->failed = true;
        b->done = true;     /* nothing to wait for */
    }
}

static int test_bucket(cf_reducer *r, bucket *b, bool *done)
{
    return r->dev ? cf_dist_test_dev(r->d, b->req, done, &r->err) : cf_dist_test(r->d, b->req, done, &r->err);
}

static int wait_bucket(cf_reducer *r, bucket *b, cf_error *err)
{
    return r->dev ? cf_dist_wait_dev(r->d, b->req, err) : cf_dist_wait(r->d, b->req, err);
}

/* Let the oldest unfinished sum move (MPI progresses inside its calls). */
static void poke(cf_reducer *r)
{
    while (r->oldest < r->next && r->b[r->oldest].done) r->oldest++;
    if (r->oldest >= r->next || r->failed) return;
    bucket *b = &r->b[r->oldest];
    bool done = false;
    if (test_bucket(r, b, &done)) r->failed = true, done = true;
    b->done = done;
}

static void after_layer(void *ctx, int layer)
{
    cf_reducer *r = ctx;
    double t0 = now_s();
    poke(r);
    while (r->next < r->nb && r->b[r->next].ready >= layer && !r->failed) post(r, &r->b[r->next++]);
    r->post_s += now_s() - t0;
}

void cf_reducer_arm(cf_reducer *r, const float *extra)
{
    r->extra = extra;
    r->next = r->oldest = 0;
    r->failed = false;
    r->post_s = r->wait_s = 0;
    for (int k = 0; k < r->nb; k++) r->b[k].posted = r->b[k].done = false, r->b[k].req = NULL;
    r->net->after_backward = after_layer;
    r->net->after_backward_ctx = r;
}

int cf_reducer_finish(cf_reducer *r, float *extra, cf_error *err)
{
    double t0 = now_s();
    r->net->after_backward = NULL;
    r->net->after_backward_ctx = NULL;
    while (r->next < r->nb && !r->failed) post(r, &r->b[r->next++]);
    /* device sums: the extras go through the host channel while the GPU works */
    if (r->dev && r->nextra && !r->failed) {
        memcpy(r->extra_buf, r->extra, (size_t)r->nextra * sizeof(float));
        if (cf_dist_allreduce_sum(r->d, r->extra_buf, (size_t)r->nextra, &r->err)) r->failed = true;
    }
    for (int k = 0; k < r->nb; k++) {
        bucket *b = &r->b[k];
        if (b->posted && !b->done) {
            if (wait_bucket(r, b, r->failed ? NULL : &r->err)) r->failed = true;
            b->done = true;
        }
    }
    if (r->failed) {
        if (err) *err = r->err;
        r->wait_s = now_s() - t0;
        return -1;
    }
    for (int k = 0; k < r->nb; k++) unpack(r, &r->b[k], extra);
    if (r->dev && extra && r->nextra) memcpy(extra, r->extra_buf, (size_t)r->nextra * sizeof(float));
    r->wait_s = now_s() - t0;
    return 0;
}

void cf_reducer_info_get(const cf_reducer *r, cf_reducer_info *out)
{
    *out = (cf_reducer_info){.nbuckets = r->nb, .floats = r->floats, .post_s = r->post_s, .wait_s = r->wait_s};
}

int cf_reducer_bucket_of(const cf_reducer *r, int param)
{
    return param >= 0 && param < r->net->nparams ? r->bucket_of[param] : -1;
}

bool cf_reducer_on_device(const cf_reducer *r) { return r->dev; }
