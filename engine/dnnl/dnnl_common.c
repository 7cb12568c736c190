/* dnnl_common.c — the per-backend oneDNN state, running primitives with
 * the backend's thread count, and moving operands between Caffe's plain
 * layout and the layouts primitives prefer (see dnnl_common.h).
 *
 * Threads: Debian's libdnnl runs its primitives on OpenMP (dnnl_version()
 * says cpu_runtime OMP).  OpenMP's thread count is a per-thread setting of
 * the thread that starts a parallel region, so it is set (only when it
 * changes) right before each primitive runs, from whichever thread runs
 * the net — the solver's worker thread is not the one that made the
 * backend.  omp_set_num_threads is looked up at run time in the libgomp
 * that libdnnl brought in, so cafetui needs no OpenMP flags of its own.
 *
 * OpenMP's threads spin for a while after each parallel region before
 * they sleep; a pool thread woken in that time (pooling, the solver's
 * update) would wait for a core that a spinning thread holds.  So while
 * oneDNN is in use the backend's pool jobs run on the OpenMP threads too
 * (cf_dnnl_parallel, through libgomp's GOMP_parallel entry, found at run
 * time like omp_set_num_threads): one set of threads for everything. */
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
    /* Opt-in (CAFETUI_DNNL=1): on this project's 2-core AVX2 machines the
     * oneDNN path measured 5-7x slower than the reference path for LeNet
     * (339 vs 50 ms per forward-backward), so the reference is the default
     * until BENCHMARKS.md shows oneDNN ahead. */
    const char *env = getenv("CAFETUI_DNNL");
    if (!env || strcmp(env, "1") != 0) return NULL;
    cf_dnnl *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->be = be;
    env = getenv("CAFETUI_DNNL_POOL");
    d->pool = env && strcmp(env, "1") == 0;
    if (dnnl_engine_create(&d->engine, dnnl_cpu, 0) != dnnl_success) {
        free(d);
        return NULL;
    }
    if (dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags) != dnnl_success) {
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
    dnnl_stream_destroy(d->stream);
    dnnl_engine_destroy(d->engine);
    free(d);
}

long cf_dnnl_executions(const cf_backend *be)
{
    const cf_dnnl *d = cf_dnnl_of(be);
    return d ? d->executions : 0;
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
    if (!gomp_parallel || !omp_thread_num || !omp_num_threads || !be->dnnl) return -1;
    par_job j = {fn, ctx, be->nthreads > 0 ? be->nthreads : 1};
    if (j.n == 1) {
        fn(ctx, 0);
        return 0;
    }
    gomp_parallel(par_body, &j, (unsigned)j.n, 0);
    return 0;
}

/* ---- primitives ---- */

/* Many primitives size their work split when they are made, from the
 * thread count then in force, and keep it: so the count is set before a
 * primitive is made as well as before it runs. */
static void use_threads(const cf_dnnl *d)
{
    static _Thread_local int threads_set = 0;
    int n = d->be->nthreads > 0 ? d->be->nthreads : 1;
    if (omp_set && threads_set != n) {
        omp_set(n);
        threads_set = n;
    }
}

int dn_exec(cf_dnnl *d, dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args)
{
    use_threads(d);
    d->executions++;
    if (dnnl_primitive_execute(prim, d->stream, nargs, args) != dnnl_success) return -1;
    return dnnl_stream_wait(d->stream) == dnnl_success ? 0 : -1;
}

int dn_make(cf_dnnl *d, const_dnnl_op_desc_t op, const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *pd,
            dnnl_primitive_t *prim)
{
    *pd = NULL;
    *prim = NULL;
    use_threads(d);
    if (dnnl_primitive_desc_create(pd, op, NULL, d->engine, hint) != dnnl_success) {
        *pd = NULL;
        return -1;
    }
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
    if (add) {
        if (dnnl_primitive_attr_create(&attr) != dnnl_success) return -1;
        if (dnnl_post_ops_create(&ops) != dnnl_success || dnnl_post_ops_append_sum(ops, 1.0f) != dnnl_success ||
            dnnl_primitive_attr_set_post_ops(attr, ops) != dnnl_success)
            goto out;
    }
    if (dnnl_reorder_primitive_desc_create(&pd, src, d->engine, dst, d->engine, attr) != dnnl_success) goto out;
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
    if (dir == DN_IN) return make_reorder(d, user_md, prim_md, false, &t->reorder);
    return make_reorder(d, prim_md, user_md, dir == DN_OUT_ADD, &t->reorder);
}

void dn_tensor_free(dn_tensor *t)
{
    if (t->reorder) dnnl_primitive_destroy(t->reorder);
    if (t->prim) dnnl_memory_destroy(t->prim);
    if (t->user) dnnl_memory_destroy(t->user);
    memset(t, 0, sizeof *t);
}

dnnl_memory_t dn_in(cf_dnnl *d, dn_tensor *t, const float *p, int *rc)
{
    dnnl_memory_set_data_handle(t->user, (void *)p);
    if (!t->prim) return t->user;
    dnnl_exec_arg_t a[2] = {DN_ARG(DNNL_ARG_FROM, t->user), DN_ARG(DNNL_ARG_TO, t->prim)};
    if (dn_exec(d, t->reorder, 2, a)) *rc = -1;
    return t->prim;
}

dnnl_memory_t dn_out(dn_tensor *t, float *p)
{
    dnnl_memory_set_data_handle(t->user, p);
    return t->prim ? t->prim : t->user;
}

int dn_out_done(cf_dnnl *d, dn_tensor *t)
{
    if (!t->prim) return 0;
    dnnl_exec_arg_t a[2] = {DN_ARG(DNNL_ARG_FROM, t->prim), DN_ARG(DNNL_ARG_TO, t->user)};
    return dn_exec(d, t->reorder, 2, a);
}
