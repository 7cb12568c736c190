/* dnnl_common.h — pieces shared by the oneDNN primitive files (not for
 * layers: they use dnnl_layers.h).
 *
 * cf_dnnl is the per-backend state: one CPU engine and a stream per
 * slot.  Threads (see dnnl_common.c): by default every primitive runs
 * single-threaded, and a plan splits the batch into one slice per thread
 * of the backend's pool, slice s running on stream s; with
 * CAFETUI_DNNL_OMP=1, one slice and oneDNN's own OpenMP threads.  dn_tensor
 * moves one operand between the caller's plain buffer (Caffe's layout)
 * and the layout a primitive asked for: when the two layouts agree the
 * caller's buffer is used in place, otherwise a reorder primitive copies
 * through a buffer of the primitive's layout, made once with the plan.
 */
#ifndef CF_DNNL_COMMON_H
#define CF_DNNL_COMMON_H

#include <dnnl.h>
#include <stdbool.h>

#include "backend.h"
#include "dnnl_layers.h"

#define DN_SLOTS 64     /* most slices (threads) a plan splits into */

typedef struct cf_dnnl {
    dnnl_engine_t engine;
    dnnl_stream_t stream[DN_SLOTS];   /* made up to the thread count */
    dnnl_memory_t scratch[DN_SLOTS];  /* each slot's scratchpad */
    size_t scratch_cap[DN_SLOTS];
    size_t scratch_need;              /* the most any primitive made asks */
    cf_backend *be;
    long executions;    /* atomically counted: slices run at once */
    bool pool;          /* CAFETUI_DNNL_POOL=1: pooling through oneDNN too */
    bool omp;           /* CAFETUI_DNNL_OMP=1: oneDNN's OpenMP threads, one slice */
    bool blocked;       /* activations stay in blocked layouts (dnnl_layers.h); CAFETUI_DNNL_BLOCKED=0: not */
} cf_dnnl;

static inline cf_dnnl *cf_dnnl_of(const cf_backend *be) { return be ? (cf_dnnl *)be->dnnl : NULL; }

/* Run one primitive on slot s's stream; 0 or -1.  A slot is used by one
 * thread at a time. */
int dn_exec(cf_dnnl *d, int s, dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args);

/* How many slices a batch of n splits into (the pool's threads, at most
 * n, 1 with CAFETUI_DNNL_OMP=1), with their streams made; slice s is
 * [n·s / ns, n·(s + 1) / ns). */
int dn_slices(cf_dnnl *d, long n);
static inline long dn_slice_at(long n, int ns, int s) { return n * s / ns; }
/* fn(ctx, s) for s in [0, ns), on the backend's pool (each s on one
 * thread); returns the first nonzero result, or 0. */
int dn_parallel(cf_dnnl *d, int ns, int (*fn)(void *ctx, int s), void *ctx);

/* Primitive from an op descriptor (hint: the forward pd for backward
 * ones, else NULL).  0, or -1 when oneDNN has no implementation. */
int dn_make(cf_dnnl *d, const_dnnl_op_desc_t op, const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *pd,
            dnnl_primitive_t *prim);
/* dn_make, also refusing an implementation that only names itself a
 * reference one further in ("lrn_ref:any", "bnorm_ref:any"): for the
 * plans whose layers' own code beats those. */
int dn_make_fast(cf_dnnl *d, const_dnnl_op_desc_t op, const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *pd,
                 dnnl_primitive_t *prim);
/* The md a pd wants for `what` (dnnl_query_src_md, ...). */
const dnnl_memory_desc_t *dn_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what);

/* Plain memory descriptors: 4-D NCHW-like (tag abcd), 5-D abcde, 2-D ab
 * or ba, 1-D a. */
void dn_md_plain(dnnl_memory_desc_t *md, int ndims, const long *dims, dnnl_format_tag_t tag);

typedef enum { DN_IN, DN_OUT, DN_OUT_ADD } dn_dir;

typedef struct {
    dnnl_memory_t user;     /* caller's layout; its handle is set per call */
    dnnl_memory_t prim;     /* primitive's layout (own buffer), or NULL: use `user` */
    dnnl_memory_t ext;      /* primitive's layout, caller's buffer (dn_ext); with prim */
    dnnl_primitive_t reorder; /* user→prim (DN_IN) or prim→user (DN_OUT*), or NULL */
    dn_dir dir;
} dn_tensor;

/* user_md: the caller's layout; prim_md: the primitive's.  DN_OUT_ADD
 * always goes through a buffer and adds into the caller's memory. */
int dn_tensor_init(dn_tensor *t, cf_dnnl *d, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md,
                   dn_dir dir);
void dn_tensor_free(dn_tensor *t);
/* Input: point at p and reorder it if needed; returns the memory the
 * primitive reads. */
dnnl_memory_t dn_in(cf_dnnl *d, int s, dn_tensor *t, const float *p, int *rc);
/* Output: the memory the primitive writes (p itself when layouts agree). */
dnnl_memory_t dn_out(dn_tensor *t, float *p);
/* After the primitive ran: copy (or add) the result back to p. */
int dn_out_done(cf_dnnl *d, int s, dn_tensor *t);
/* Did dn_tensor_init make a buffer (the layouts differ)? */
static inline bool dn_reordered(const dn_tensor *t) { return t->prim != NULL; }
/* The caller's buffer p, already in the primitive's layout (a blob's
 * blocked side): the memory the primitive reads or writes, no reorder. */
dnnl_memory_t dn_ext(dn_tensor *t, const float *p);

/* ---- blocked activations: the alt side of a blob's cf_mem (blob.h) ----
 *
 * dn_batch describes one batch operand of a sliced plan (a bottom, a top,
 * their diffs) in its primitives' layout: the whole batch's md, when every
 * slice's primitive chose the same layout, not the plain one, with N
 * outermost (so slice s is the bytes from n0[s]·img on). */
typedef struct {
    bool ok;
    dnnl_memory_desc_t md;  /* the whole batch */
    size_t img;             /* bytes per image */
} dn_batch;

/* Start (s = 0) or extend b with slice s's md (N_s images), of a batch of
 * N; reordered: the slice's md is not the plain one. */
void dn_batch_add(dn_batch *b, int s, const dnnl_memory_desc_t *md, bool reordered, long N);
/* m's blocked side when it holds the current values in layout md (NULL
 * otherwise): a plan reads it in place. */
const float *dn_alt_read(const cf_mem *m, const dnnl_memory_desc_t *md);
/* m's blocked side in layout md, made (or remade) as needed, for a plan
 * to write the whole of it (padding included, which primitives keep at
 * zero), then to call cf_mem_alt_wrote(m); NULL when memory runs out.
 * count: the blob's floats (the NCHW side is reserved for later reads). */
float *dn_alt_write(cf_dnnl *d, cf_mem *m, const dnnl_memory_desc_t *md, size_t count);
/* m's blocked side in layout md holding the current values: read in
 * place, or reordered there from the NCHW side (brought up to date
 * first); NULL when that fails. */
const float *dn_alt_get(cf_dnnl *d, cf_mem *m, const dnnl_memory_desc_t *md, size_t count);
/* The md of m's blocked side when it holds the current values, or NULL. */
const dnnl_memory_desc_t *dn_alt_md(const cf_mem *m);

/* A batch operand as a sliced plan sees it: a base pointer, in the
 * primitives' layout (ext: a blob's blocked side) or in Caffe's, and the
 * bytes per image, so that slice s starts at base + n0[s]·img. */
typedef struct {
    char *base;
    bool ext;
    size_t img;
} dn_op;

/* Slice at image n0: what dn_in_op / dn_out_op take. */
typedef struct {
    float *p;
    bool ext;
} dn_ptr;

static inline dn_ptr dn_op_at(dn_op o, long n0)
{
    return (dn_ptr){o.base ? (float *)(o.base + (size_t)n0 * o.img) : NULL, o.ext};
}
/* Read blob's data (diff when `diff`): its blocked side in place when it
 * holds layout b, else its NCHW values (brought up to date), plain_img
 * bytes per image. */
dn_op dn_op_read(const cf_blob *blob, bool diff, const dn_batch *b, size_t plain_img);
/* Write blob's data (diff): its blocked side in layout b when the backend
 * keeps activations blocked and b allows, else its NCHW host side; after
 * the primitives ran, dn_op_wrote marks what was written newest. */
dn_op dn_op_write(cf_dnnl *d, cf_blob *blob, bool diff, const dn_batch *b, size_t plain_img);
void dn_op_wrote(cf_blob *blob, bool diff, dn_op o);

/* dn_in / dn_out / dn_out_done for a slice that may already be in the
 * primitive's layout. */
static inline dnnl_memory_t dn_in_op(cf_dnnl *d, int s, dn_tensor *t, dn_ptr x, int *rc)
{
    return x.ext ? dn_ext(t, x.p) : dn_in(d, s, t, x.p, rc);
}
static inline dnnl_memory_t dn_out_op(dn_tensor *t, dn_ptr y) { return y.ext ? dn_ext(t, y.p) : dn_out(t, y.p); }
static inline int dn_out_done_op(cf_dnnl *d, int s, dn_tensor *t, dn_ptr y)
{
    return y.ext ? 0 : dn_out_done(d, s, t);
}

#define DN_ARG(a, m) ((dnnl_exec_arg_t){(a), (m)})

#endif
