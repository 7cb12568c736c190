/* dnnl_common.c — the per-backend oneDNN state, running primitives on
 * the backend's threads, and moving operands between Caffe's plain
 * layout and the layouts primitives prefer (see dnnl_common.h).
 *
 * Threads.  Debian's libdnnl runs its primitives on OpenMP (dnnl_version()
 * says cpu_runtime OMP), whose threads spin at every barrier and for a
 * while after each parallel region.  On this shared 2-core machine that
 * made the oneDNN path 3 to 5 times slower with 2 threads than with one
 * whenever other processes wanted the cores (LeNet 116 ms per iteration
 * against 24; BENCHMARKS.md), and a pool thread woken after a primitive
 * waited for a core that a spinning OpenMP thread held.  So by default
 * no OpenMP team is ever started: every primitive runs single-threaded
 * (OpenMP's thread count, a per-thread setting, is set to 1 in each thread
 * that runs one), and the plans split the batch into one slice per thread
 * of the backend's own pool, whose threads sleep when idle.  Slices of one
 * layer run at once on their own streams, operand buffers and memory
 * objects, and scratchpads (primitives are made with user-managed
 * scratchpads, one buffer per slot: oneDNN's own global scratchpad is
 * shared by the threads of a process, and two slices writing it at once
 * crashed); weight gradients come out per slice and are added into the
 * param diff one slice after the other.
 *
 * CAFETUI_DNNL_OMP=1 (read with CAFETUI_DNNL) keeps oneDNN's OpenMP
 * threading instead: one slice, OpenMP's thread count set to the
 * backend's before each primitive is made and run (from whichever thread
 * runs the net), and the backend's pool jobs run on the OpenMP threads as
 * well (cf_dnnl_parallel, through libgomp's GOMP_parallel), so that a
 * single set of threads serves every layer.  libgomp's entry points are
 * looked up at run time in the libgomp that libdnnl brought in, so
 * cafetui needs no OpenMP flags of its own. */
#include "dnnl_common.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- backend state ---- */

typedef void (*omp_set_fn)(int);
typedef int (*omp_get_fn)(void);
typedef void (*gomp_parallel_fn)(void (*)(void *), void *, unsigned, unsigned);
static omp_set_fn omp_set;
static omp_get_fn omp_thread_num, omp_num_threads;
static gomp_parallel_fn gomp_parallel;

void *cf_dnnl_backend_new(cf_backend *be)
{
    /* On by default, CAFETUI_DNNL=0 turns it off.  It was opt-in while
     * oneDNN's OpenMP threads spun against our pool (339 vs 50 ms for
     * LeNet); since its primitives run single-threaded on slices cut by
     * our pool, bench/run_all.sh measures it level with the reference on
     * LeNet and twice as fast on CIFAR-10 quick (BENCHMARKS.md). */
    const char *env = getenv("CAFETUI_DNNL");
    if (env && strcmp(env, "0") == 0) return NULL;
    cf_dnnl *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->be = be;
    env = getenv("CAFETUI_DNNL_POOL");
    d->pool = env && strcmp(env, "1") == 0;
    env = getenv("CAFETUI_DNNL_OMP");
    d->omp = env && strcmp(env, "1") == 0;
    /* On by default, CAFETUI_DNNL_BLOCKED=0 turns it off: keeping
     * activations blocked between layers (dnnl_layers.h) took 5-10% off
     * the CPU time of a CIFAR-10 quick iteration and a little off LeNet's
     * on this AVX2 machine, where the reorders it saves are memory-bound. */
    env = getenv("CAFETUI_DNNL_BLOCKED");
    d->blocked = !(env && strcmp(env, "0") == 0);
    if (dnnl_engine_create(&d->engine, dnnl_cpu, 0) != dnnl_success) {
        free(d);
        return NULL;
    }
    if (dnnl_stream_create(&d->stream[0], d->engine, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(d->engine);
        free(d);
        return NULL;
    }
    if (dnnl_version()->cpu_runtime == DNNL_RUNTIME_OMP && !omp_set) {
        omp_thread_num = (omp_get_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "omp_get_thread_num");
        omp_num_threads = (omp_get_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "omp_get_num_threads");
        gomp_parallel = (gomp_parallel_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "GOMP_parallel");
        omp_set = (omp_set_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    }
    return d;
}

void cf_dnnl_backend_free(void *p)
{
    cf_dnnl *d = p;
    if (!d) return;
    for (int s = 0; s < DN_SLOTS; s++) {
        if (d->stream[s]) dnnl_stream_destroy(d->stream[s]);
        if (d->scratch[s]) dnnl_memory_destroy(d->scratch[s]);
    }
    dnnl_engine_destroy(d->engine);
    free(d);
}

long cf_dnnl_executions(const cf_backend *be)
{
    const cf_dnnl *d = cf_dnnl_of(be);
    return d ? __atomic_load_n(&d->executions, __ATOMIC_RELAXED) : 0;
}

typedef struct {
    void (*fn)(void *, int);
    void *ctx;
    int n;
} par_job;

/* Each OpenMP thread takes workers thread, thread + team, ...: all n run
 * even if the team came out smaller than asked. */
static void par_body(void *arg)
{
    par_job *j = arg;
    int team = omp_num_threads();
    for (int w = omp_thread_num(); w < j->n; w += team) j->fn(j->ctx, w);
}

int cf_dnnl_parallel(cf_backend *be, void (*fn)(void *ctx, int w), void *ctx)
{
    cf_dnnl *d = be->dnnl;
    if (!gomp_parallel || !omp_thread_num || !omp_num_threads || !d || !d->omp) return -1;
    par_job j = {fn, ctx, be->nthreads > 0 ? be->nthreads : 1};
    if (j.n == 1) {
        fn(ctx, 0);
        return 0;
    }
    gomp_parallel(par_body, &j, (unsigned)j.n, 0);
    return 0;
}

/* ---- primitives ---- */

/* OpenMP's thread count for the calling thread: 1 when slices do the
 * splitting, the backend's with CAFETUI_DNNL_OMP=1.  Many primitives size
 * their work split when they are made and keep it, so this is set before a
 * primitive is made as well as before it runs. */
static void use_threads(const cf_dnnl *d)
{
    static _Thread_local int threads_set = 0;
    int n = d->omp && d->be->nthreads > 0 ? d->be->nthreads : 1;
    if (omp_set && threads_set != n) {
        omp_set(n);
        threads_set = n;
    }
}

/* Slot s's scratchpad, grown to what the primitives made so far need
 * (in practice at the first run after a plan). */
static dnnl_memory_t slot_scratch(cf_dnnl *d, int s)
{
    size_t need = d->scratch_need;
    if (need == 0) return NULL;
    if (d->scratch_cap[s] < need) {
        if (d->scratch[s]) dnnl_memory_destroy(d->scratch[s]);
        d->scratch[s] = NULL, d->scratch_cap[s] = 0;
        dnnl_memory_desc_t md;
        dnnl_dims_t dims = {(dnnl_dim_t)need};
        if (dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_u8, dnnl_a) != dnnl_success ||
            dnnl_memory_create(&d->scratch[s], &md, d->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) {
            d->scratch[s] = NULL;
            return NULL;
        }
        d->scratch_cap[s] = need;
    }
    return d->scratch[s];
}

int dn_exec(cf_dnnl *d, int s, dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args)
{
    use_threads(d);
    __atomic_fetch_add(&d->executions, 1, __ATOMIC_RELAXED);
    dnnl_exec_arg_t a[16];
    if (nargs > 15) return -1;
    memcpy(a, args, (size_t)nargs * sizeof *a);
    if (d->scratch_need) {
        dnnl_memory_t m = slot_scratch(d, s);
        if (!m) return -1;
        a[nargs++] = DN_ARG(DNNL_ARG_SCRATCHPAD, m);
    }
    if (dnnl_primitive_execute(prim, d->stream[s], nargs, a) != dnnl_success) return -1;
    return dnnl_stream_wait(d->stream[s]) == dnnl_success ? 0 : -1;
}

int dn_slices(cf_dnnl *d, long n)
{
    int ns = d->omp ? 1 : d->be->nthreads;
    if (ns > DN_SLOTS) ns = DN_SLOTS;
    if (ns > n) ns = n > 0 ? (int)n : 1;
    if (ns < 1) ns = 1;
    for (int s = 0; s < ns; s++)
        if (!d->stream[s] && dnnl_stream_create(&d->stream[s], d->engine, dnnl_stream_default_flags) != dnnl_success) {
            d->stream[s] = NULL;
            return s > 0 ? s : 1; /* as many as we could make (stream 0 always exists) */
        }
    return ns;
}

typedef struct {
    int (*fn)(void *, int);
    void *ctx;
    int rc;
} slice_job;

static void slice_range(void *arg, size_t b, size_t e)
{
    slice_job *j = arg;
    for (size_t s = b; s < e; s++) {
        int rc = j->fn(j->ctx, (int)s);
        if (rc) __atomic_store_n(&j->rc, rc, __ATOMIC_RELAXED);
    }
}

int dn_parallel(cf_dnnl *d, int ns, int (*fn)(void *ctx, int s), void *ctx)
{
    if (ns == 1) return fn(ctx, 0);
    slice_job j = {fn, ctx, 0};
    cf_parallel_for(d->be, (size_t)ns, 1, slice_range, &j);
    return j.rc;
}

/* Remember the largest scratchpad a primitive asks for. */
static void need_scratch(cf_dnnl *d, const_dnnl_primitive_desc_t pd)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t n = md ? dnnl_memory_desc_get_size(md) : 0;
    if (n > d->scratch_need) d->scratch_need = n;
}

int dn_make(cf_dnnl *d, const_dnnl_op_desc_t op, const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *pd,
            dnnl_primitive_t *prim)
{
    *pd = NULL;
    *prim = NULL;
    use_threads(d);
    dnnl_primitive_attr_t attr;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return -1;
    dnnl_status_t st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(pd, op, attr, d->engine, hint);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) {
        *pd = NULL;
        return -1;
    }
    need_scratch(d, *pd);
    /* oneDNN's reference implementations are there for correctness, not
     * speed (a first-layer weight gradient took seconds): our own code
     * is better than those, so a plan that would get one is refused */
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl ||
        strncmp(impl, "ref", 3) == 0) {
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL;
        return -1;
    }
    if (dnnl_primitive_create(prim, *pd) != dnnl_success) {
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL;
        *prim = NULL;
        return -1;
    }
    return 0;
}

int dn_make_fast(cf_dnnl *d, const_dnnl_op_desc_t op, const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *pd,
                 dnnl_primitive_t *prim)
{
    if (dn_make(d, op, hint, pd, prim)) return -1;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
        !strstr(impl, "ref"))
        return 0;
    dnnl_primitive_destroy(*prim);
    dnnl_primitive_desc_destroy(*pd);
    *prim = NULL, *pd = NULL;
    return -1;
}

const dnnl_memory_desc_t *dn_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

void dn_md_plain(dnnl_memory_desc_t *md, int ndims, const long *dims, dnnl_format_tag_t tag)
{
    dnnl_dims_t d;
    for (int i = 0; i < ndims; i++) d[i] = dims[i];
    dnnl_memory_desc_init_by_tag(md, ndims, d, dnnl_f32, tag);
}

/* ---- operands ---- */

/* A reorder from src to dst; with add, dst += src (a sum post-op). */
static int make_reorder(cf_dnnl *d, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst, bool add,
                        dnnl_primitive_t *out)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int rc = -1;
    use_threads(d);
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return -1;
    if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) != dnnl_success) goto out;
    if (add && (dnnl_post_ops_create(&ops) != dnnl_success || dnnl_post_ops_append_sum(ops, 1.0f) != dnnl_success ||
                dnnl_primitive_attr_set_post_ops(attr, ops) != dnnl_success))
        goto out;
    if (dnnl_reorder_primitive_desc_create(&pd, src, d->engine, dst, d->engine, attr) != dnnl_success) goto out;
    need_scratch(d, pd);
    if (dnnl_primitive_create(out, pd) != dnnl_success) goto out;
    rc = 0;
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return rc;
}

int dn_tensor_init(dn_tensor *t, cf_dnnl *d, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md,
                   dn_dir dir)
{
    memset(t, 0, sizeof *t);
    t->dir = dir;
    if (dnnl_memory_create(&t->user, user_md, d->engine, DNNL_MEMORY_NONE) != dnnl_success) {
        t->user = NULL;
        return -1;
    }
    if (dir != DN_OUT_ADD && dnnl_memory_desc_equal(user_md, prim_md)) return 0;
    if (dnnl_memory_create(&t->prim, prim_md, d->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) {
        t->prim = NULL;
        return -1;
    }
    if (dnnl_memory_create(&t->ext, prim_md, d->engine, DNNL_MEMORY_NONE) != dnnl_success) {
        t->ext = NULL;
        return -1;
    }
    if (dir == DN_IN) return make_reorder(d, user_md, prim_md, false, &t->reorder);
    return make_reorder(d, prim_md, user_md, dir == DN_OUT_ADD, &t->reorder);
}

void dn_tensor_free(dn_tensor *t)
{
    if (t->reorder) dnnl_primitive_destroy(t->reorder);
    if (t->prim) dnnl_memory_destroy(t->prim);
    if (t->ext) dnnl_memory_destroy(t->ext);
    if (t->user) dnnl_memory_destroy(t->user);
    memset(t, 0, sizeof *t);
}

dnnl_memory_t dn_in(cf_dnnl *d, int s, dn_tensor *t, const float *p, int *rc)
{
    dnnl_memory_set_data_handle(t->user, (void *)p);
    if (!t->prim) return t->user;
    dnnl_exec_arg_t a[2] = {DN_ARG(DNNL_ARG_FROM, t->user), DN_ARG(DNNL_ARG_TO, t->prim)};
    if (dn_exec(d, s, t->reorder, 2, a)) *rc = -1;
    return t->prim;
}

dnnl_memory_t dn_out(dn_tensor *t, float *p)
{
    dnnl_memory_set_data_handle(t->user, p);
    return t->prim ? t->prim : t->user;
}

int dn_out_done(cf_dnnl *d, int s, dn_tensor *t)
{
    if (!t->prim) return 0;
    dnnl_exec_arg_t a[2] = {DN_ARG(DNNL_ARG_FROM, t->prim), DN_ARG(DNNL_ARG_TO, t->user)};
    return dn_exec(d, s, t->reorder, 2, a);
}

dnnl_memory_t dn_ext(dn_tensor *t, const float *p)
{
    dnnl_memory_set_data_handle(t->ext, (void *)p);
    return t->ext;
}

/* ---- blocked activations ---- */

/* The whole batch's md from a slice's, or false when N is not the
 * outermost axis of its layout (a slice would not be one run of bytes). */
static bool batch_md(dnnl_memory_desc_t *out, const dnnl_memory_desc_t *md, long N)
{
    if (md->format_kind != dnnl_blocked || md->ndims < 2 || md->offset0 != 0 || md->extra.flags != 0 ||
        md->padded_dims[0] != md->dims[0] || md->dims[0] < 1)
        return false;
    const dnnl_blocking_desc_t *bd = &md->format_desc.blocking;
    for (int i = 0; i < bd->inner_nblks; i++)
        if (bd->inner_idxs[i] == 0) return false;
    size_t size = dnnl_memory_desc_get_size(md);
    if ((size_t)bd->strides[0] * sizeof(float) * (size_t)md->dims[0] != size) return false;
    *out = *md;
    out->dims[0] = out->padded_dims[0] = N;
    return true;
}

void dn_batch_add(dn_batch *b, int s, const dnnl_memory_desc_t *md, bool reordered, long N)
{
    dnnl_memory_desc_t whole;
    bool ok = reordered && md->data_type == dnnl_f32 && batch_md(&whole, md, N);
    if (s == 0) {
        b->ok = ok;
        if (ok) b->md = whole, b->img = dnnl_memory_desc_get_size(md) / (size_t)md->dims[0];
        return;
    }
    b->ok = b->ok && ok && dnnl_memory_desc_equal(&b->md, &whole);
}

/* A blob's blocked side: its values in layout md, in counted host memory,
 * and the reorder back to the plain layout, made on first use. */
typedef struct dn_alt {
    cf_dnnl *d;
    dnnl_memory_desc_t md;
    cf_mem *buf;
    float *p;
    dnnl_primitive_t to_plain, from_plain;
    dnnl_memory_t m_alt, m_plain;
} dn_alt;

static void alt_free(void *arg)
{
    dn_alt *a = arg;
    if (a->to_plain) dnnl_primitive_destroy(a->to_plain);
    if (a->from_plain) dnnl_primitive_destroy(a->from_plain);
    if (a->m_alt) dnnl_memory_destroy(a->m_alt);
    if (a->m_plain) dnnl_memory_destroy(a->m_plain);
    cf_mem_unref(a->buf);
    free(a);
}

/* The plain md of a's shape and the memory objects for reorders. */
static int alt_plain_md(dn_alt *a, dnnl_memory_desc_t *plain)
{
    static const dnnl_format_tag_t tags[] = {0, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde};
    if (a->md.ndims < 1 || a->md.ndims > 5 ||
        dnnl_memory_desc_init_by_tag(plain, a->md.ndims, a->md.dims, dnnl_f32, tags[a->md.ndims]) != dnnl_success)
        return -1;
    if (!a->m_alt && dnnl_memory_create(&a->m_alt, &a->md, a->d->engine, DNNL_MEMORY_NONE) != dnnl_success)
        return a->m_alt = NULL, -1;
    if (!a->m_plain && dnnl_memory_create(&a->m_plain, plain, a->d->engine, DNNL_MEMORY_NONE) != dnnl_success)
        return a->m_plain = NULL, -1;
    return 0;
}

/* Reorder between the blocked values and host's NCHW ones (to_host:
 * blocked to NCHW), made on first use, run on stream 0 from the calling
 * thread, which is never inside a plan's slices. */
static int alt_reorder(dn_alt *a, float *host, bool to_host)
{
    dnnl_primitive_t *r = to_host ? &a->to_plain : &a->from_plain;
    if (!*r) {
        dnnl_memory_desc_t plain;
        if (alt_plain_md(a, &plain) ||
            (to_host ? make_reorder(a->d, &a->md, &plain, false, r) : make_reorder(a->d, &plain, &a->md, false, r)))
            return *r = NULL, -1;
    }
    dnnl_memory_set_data_handle(a->m_alt, a->p);
    dnnl_memory_set_data_handle(a->m_plain, host);
    dnnl_exec_arg_t args[2] = {DN_ARG(DNNL_ARG_FROM, to_host ? a->m_alt : a->m_plain),
                               DN_ARG(DNNL_ARG_TO, to_host ? a->m_plain : a->m_alt)};
    return dn_exec(a->d, 0, *r, 2, args);
}

/* Whoever reads a stale host side (cf_blob_data and the rest).  blob.h's
 * hooks return nothing: a failure here is a broken oneDNN, not bad
 * input, and aborts rather than hand wrong values on. */
static void alt_to_host(void *arg, float *host, size_t size)
{
    (void)size;
    if (alt_reorder(arg, host, true)) {
        fprintf(stderr, "cafetui: oneDNN failed to reorder a blocked blob back to NCHW\n");
        abort();
    }
}

static const cf_mem_alt_ops alt_ops = {alt_to_host, alt_free};

const dnnl_memory_desc_t *dn_alt_md(const cf_mem *m)
{
    if (!m->alt || m->altops != &alt_ops || !m->alt_valid) return NULL;
    return &((const dn_alt *)m->alt)->md;
}

const float *dn_alt_read(const cf_mem *m, const dnnl_memory_desc_t *md)
{
    const dnnl_memory_desc_t *have = dn_alt_md(m);
    return have && dnnl_memory_desc_equal(have, md) ? ((const dn_alt *)m->alt)->p : NULL;
}

float *dn_alt_write(cf_dnnl *d, cf_mem *m, const dnnl_memory_desc_t *md, size_t count)
{
    if (!cf_mem_hold(m, count)) return NULL;
    if (m->alt && m->altops == &alt_ops) {
        dn_alt *a = m->alt;
        if (a->d == d && dnnl_memory_desc_equal(&a->md, md)) return a->p;
    }
    dn_alt *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->d = d, a->md = *md, a->buf = cf_mem_new();
    size_t bytes = dnnl_memory_desc_get_size(md);
    /* zero-filled: the padding of blocked channels must read as zeros */
    if (!(a->p = cf_mem_host(a->buf, (bytes + sizeof(float) - 1) / sizeof(float)))) {
        alt_free(a);
        return NULL;
    }
    cf_mem_set_alt(m, a, &alt_ops);
    return a->p;
}

dn_op dn_op_read(const cf_blob *blob, bool diff, const dn_batch *b, size_t plain_img)
{
    const cf_mem *m = diff ? blob->diff : blob->data;
    const float *p = b->ok ? dn_alt_read(m, &b->md) : NULL;
    if (p) return (dn_op){(char *)p, true, b->img};
    return (dn_op){(char *)(diff ? cf_blob_diff(blob) : cf_blob_data(blob)), false, plain_img};
}

dn_op dn_op_write(cf_dnnl *d, cf_blob *blob, bool diff, const dn_batch *b, size_t plain_img)
{
    float *p = d->blocked && b->ok ? dn_alt_write(d, diff ? blob->diff : blob->data, &b->md, blob->count) : NULL;
    if (p) return (dn_op){(char *)p, true, b->img};
    return (dn_op){(char *)(diff ? cf_blob_mdiff(blob) : cf_blob_mdata(blob)), false, plain_img};
}

void dn_op_wrote(cf_blob *blob, bool diff, dn_op o)
{
    if (o.ext) cf_mem_alt_wrote(diff ? blob->diff : blob->data);
}

const float *cf_dnnl_alt(const cf_mem *m, size_t *n)
{
    const dnnl_memory_desc_t *md = dn_alt_md(m);
    if (!md) return NULL;
    *n = dnnl_memory_desc_get_size(md) / sizeof(float);
    return ((const dn_alt *)m->alt)->p;
}

float *cf_dnnl_alt_like(cf_backend *be, cf_mem *m, const cf_mem *like, size_t count)
{
    cf_dnnl *d = cf_dnnl_of(be);
    const dnnl_memory_desc_t *md = dn_alt_md(like);
    return d && md ? dn_alt_write(d, m, md, count) : NULL;
}

bool cf_dnnl_alt_same(const cf_mem *a, const cf_mem *b)
{
    const dnnl_memory_desc_t *ma = dn_alt_md(a), *mb = dn_alt_md(b);
    return ma && mb && dnnl_memory_desc_equal(ma, mb);
}

const float *dn_alt_get(cf_dnnl *d, cf_mem *m, const dnnl_memory_desc_t *md, size_t count)
{
    const float *p = dn_alt_read(m, md);
    if (p) return p;
    const float *host = cf_mem_host(m, count); /* current, whatever layout held it */
    float *q = host ? dn_alt_write(d, m, md, count) : NULL;
    if (!q || alt_reorder(m->alt, (float *)host, false)) return NULL;
    m->alt_valid = true; /* both sides now hold the values */
    return q;
}
