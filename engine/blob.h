/* blob.h — N-D float32 arrays holding data and diff.
 *
 * Shape is NCHW row-major (as Caffe), up to CF_MAX_AXES axes.  Memory is
 * allocated lazily, zero-filled, on first access, and a reshape that fits
 * the capacity already held keeps the memory (no reallocation in the
 * training loop).  data and diff live in cf_mem buffers that blobs may
 * share (Flatten, Reshape and Split share their bottom's data; shared
 * parameters share data and diff): a cf_mem is reference counted.
 *
 * cf_mem keeps Caffe's four-state head (uninitialised, host, device,
 * synced) so that a device backend can copy only when the other side is
 * newer; on the CPU only the host side exists.  With a GPU backend
 * (engine/cuda) each side is allocated on its first use, both at the same
 * capacity; a layer that runs on the GPU asks for device pointers
 * (cf_blob_dev_*, or backend.h's cf_blob_gpu_*), any other code for host
 * pointers, and whichever side is stale is brought up to date then, so
 * layers can move to the GPU one at a time and every mix stays correct.
 *
 * A cf_mem may also hold its values in a second layout on the host (an
 * "alt" side: oneDNN's blocked layouts, engine/dnnl/dnnl_layers.h), made
 * and written by the code that owns that layout, which marks it newest
 * with cf_mem_alt_wrote.  Any host read of a stale host side (cf_blob_data
 * and the rest) first has the owner write the values back in NCHW
 * (alt_ops.to_host); any host write (cf_blob_mdata, ...) makes the alt
 * side stale.  So the layout is invisible to every reader but the owner.
 *
 * Ownership: cf_blob_new allocates; cf_blob_free releases its references.
 */
#ifndef CF_BLOB_H
#define CF_BLOB_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define CF_MAX_AXES 8
/* Largest element count one blob may hold (2^31-1 floats = 8 GiB), so
 * that every index fits an int for BLAS. */
#define CF_MAX_COUNT 2147483647UL

typedef enum { CF_MEM_UNINIT, CF_MEM_HOST, CF_MEM_DEVICE, CF_MEM_SYNCED } cf_mem_head;

struct cf_device_ops;

/* Hooks of an alt side's owner: to_host writes the alt side's values into
 * host in NCHW (size floats); free releases it (when the cf_mem goes or is
 * given another alt side). */
typedef struct cf_mem_alt_ops {
    void (*to_host)(void *alt, float *host, size_t size);
    void (*free)(void *alt);
} cf_mem_alt_ops;

typedef struct cf_mem {
    float *host;
    void *dev;
    size_t cap;         /* floats each allocated side holds (host and device alike) */
    size_t size;        /* floats in use */
    cf_mem_head head;
    int refs;
    const struct cf_device_ops *devops; /* NULL on the CPU */
    void *alt;          /* the alt side (see the top comment), or NULL */
    const cf_mem_alt_ops *altops;
    bool alt_valid;     /* the alt side holds the current values */
    bool alt_newest;    /* ... and the host side does not (implies alt_valid) */
} cf_mem;

/* Device hooks a GPU backend fills in (copies and allocation).  alloc
 * returns NULL when the device is out of memory; free gets the size that
 * was allocated (for the backend's accounting). */
typedef struct cf_device_ops {
    void *(*alloc)(size_t bytes);
    void (*free)(void *p, size_t bytes);
    void (*to_host)(float *host, const void *dev, size_t bytes);
    void (*to_device)(void *dev, const float *host, size_t bytes);
    void (*zero)(void *dev, size_t bytes);
} cf_device_ops;

typedef struct cf_blob {
    char *name;
    int naxes;
    int shape[CF_MAX_AXES];
    size_t count;
    cf_mem *data;
    cf_mem *diff;
} cf_blob;

cf_blob *cf_blob_new(const char *name);
void cf_blob_free(cf_blob *b);
/* Reshape; fails (without changing the blob) on a negative axis, more
 * than CF_MAX_AXES axes or a count over CF_MAX_COUNT. */
int cf_blob_reshape(cf_blob *b, int naxes, const int *shape, cf_error *err);
int cf_blob_reshape4(cf_blob *b, int n, int c, int h, int w, cf_error *err);
int cf_blob_reshape_like(cf_blob *b, const cf_blob *other, cf_error *err);
/* Host pointers, allocated on first use.  m* versions mark the host side
 * newest (the device copy, if any, becomes stale). */
const float *cf_blob_data(const cf_blob *b);
const float *cf_blob_diff(const cf_blob *b);
float *cf_blob_mdata(cf_blob *b);
float *cf_blob_mdiff(cf_blob *b);
/* Device pointers for the device whose hooks are `ops`: the device side
 * is allocated on first use (zero-filled) and the host side copied over
 * when it is newer.  m* versions mark the device side newest (the host
 * copy becomes stale until the next host access copies it back).  NULL
 * when the device allocation fails.  A cf_mem lives on one device. */
const float *cf_blob_dev_data(const cf_blob *b, const cf_device_ops *ops);
const float *cf_blob_dev_diff(const cf_blob *b, const cf_device_ops *ops);
float *cf_blob_dev_mdata(cf_blob *b, const cf_device_ops *ops);
float *cf_blob_dev_mdiff(cf_blob *b, const cf_device_ops *ops);
/* Make b use other's data (diff) memory; b keeps its shape, which must
 * have the same count. */
void cf_blob_share_data(cf_blob *b, const cf_blob *other);
void cf_blob_share_diff(cf_blob *b, const cf_blob *other);
/* Axis helpers: canonical index of a possibly negative axis (error when
 * out of range), and product of shape[start..end). */
int cf_blob_axis(const cf_blob *b, int axis, int *out, cf_error *err);
size_t cf_blob_count_range(const cf_blob *b, int start, int end);
/* Legacy 4-D accessors (1 for missing axes, as Caffe's num()/...). */
int cf_blob_dim(const cf_blob *b, int axis);
/* "64 20 24 24 (737280)" */
const char *cf_blob_shape_str(const cf_blob *b, char *buf, size_t n);
/* Same shape? */
bool cf_blob_same_shape(const cf_blob *a, const cf_blob *b);
/* Bytes held by data and diff, for memory accounting: on the host, and
 * on a device. */
size_t cf_blob_bytes(const cf_blob *b);
size_t cf_blob_dev_bytes(const cf_blob *b);
void cf_blob_zero_diff(cf_blob *b);

/* Memory limit.  Host memory for blobs and workspaces is counted as it is
 * allocated; an allocation that would take the count past the limit is
 * refused (cf_mem_host returns NULL) rather than left to the OOM killer.
 * The limit is the smallest of physical memory, RLIMIT_AS (ulimit -v),
 * RLIMIT_DATA (ulimit -d) and the environment's CAFETUI_MEM_LIMIT (bytes,
 * or with a K/M/G suffix), unless cf_mem_set_limit set one (0 clears it).
 * cf_mem_limit_source says which ("physical memory", "ulimit -v", ...). */
size_t cf_mem_limit(void);
const char *cf_mem_limit_source(void);
void cf_mem_set_limit(size_t bytes);
size_t cf_mem_in_use(void);
/* Fail (CF_EINPUT) when `bytes` more would not fit under the limit:
 * "<what> needs 3.7 GiB, more than the 1.0 GiB of memory available
 * (physical memory)".  The caller adds the layer's name and position. */
int cf_mem_check(size_t bytes, const char *what, cf_error *err);
/* "3.7 GiB", "12.0 MiB", "512 bytes" */
const char *cf_mem_str(size_t bytes, char *buf, size_t n);

/* cf_mem for engine-internal buffers (workspaces). */
cf_mem *cf_mem_new(void);
void cf_mem_unref(cf_mem *m);
/* Ensure at least n floats; returns the host pointer (NULL when the
 * allocation fails). */
float *cf_mem_host(cf_mem *m, size_t n);
/* The same on the device of `ops` (see cf_blob_dev_data; the device side
 * is not marked newest). */
float *cf_mem_dev(cf_mem *m, size_t n, const cf_device_ops *ops);
/* Make sure the host side holds n floats (allocating it zero-filled),
 * without bringing it up to date: for reserving memory ahead (the net
 * before a forward), where cf_mem_host would copy a newer side back. */
bool cf_mem_hold(cf_mem *m, size_t n);
/* Give m an alt side (the old one freed), not yet valid. */
void cf_mem_set_alt(cf_mem *m, void *alt, const cf_mem_alt_ops *ops);
/* The alt side's owner wrote it: it is newest, the host side stale. */
void cf_mem_alt_wrote(cf_mem *m);

#endif
