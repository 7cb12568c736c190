/* blob.c — see blob.h. */
#include "blob.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- memory limit and accounting (see blob.h) ---- */

static size_t mem_in_use;     /* bytes of cf_mem host buffers; atomics: prefetch threads allocate too */
static size_t mem_set_limit;  /* cf_mem_set_limit, 0 when unset */

void cf_mem_set_limit(size_t bytes) { __atomic_store_n(&mem_set_limit, bytes, __ATOMIC_RELAXED); }

size_t cf_mem_in_use(void) { return __atomic_load_n(&mem_in_use, __ATOMIC_RELAXED); }

/* CAFETUI_MEM_LIMIT: "1073741824", "512M", "2G"; 0 when unset or unreadable. */
static size_t env_limit(void)
{
    const char *v = getenv("CAFETUI_MEM_LIMIT");
    if (!v || !*v) return 0;
    char *end;
    double d = strtod(v, &end);
    double mult = *end == 'K' || *end == 'k' ? 1024.0 : *end == 'M' || *end == 'm' ? 1048576.0
                : *end == 'G' || *end == 'g' ? 1073741824.0 : *end == 'T' || *end == 't' ? 1099511627776.0 : 1.0;
    if (mult != 1.0) end++;
    if (end == v || *end || !(d > 0) || d * mult >= 1.8e19) return 0;
    return (size_t)(d * mult);
}

static size_t limit_and_source(const char **source)
{
    size_t set = __atomic_load_n(&mem_set_limit, __ATOMIC_RELAXED);
    if (set) {
        *source = "cf_mem_set_limit";
        return set;
    }
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    size_t lim = pages > 0 && psize > 0 ? (size_t)pages * (size_t)psize : (size_t)-1;
    *source = "physical memory";
    struct rlimit rl;
    if (!getrlimit(RLIMIT_AS, &rl) && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < lim)
        lim = rl.rlim_cur, *source = "ulimit -v";
    if (!getrlimit(RLIMIT_DATA, &rl) && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < lim)
        lim = rl.rlim_cur, *source = "ulimit -d";
    size_t e = env_limit();
    if (e && e < lim) lim = e, *source = "CAFETUI_MEM_LIMIT";
    return lim;
}

size_t cf_mem_limit(void)
{
    const char *src;
    return limit_and_source(&src);
}

const char *cf_mem_limit_source(void)
{
    const char *src;
    limit_and_source(&src);
    return src;
}

const char *cf_mem_str(size_t bytes, char *buf, size_t n)
{
    /* the larger unit as soon as one decimal would round up to 1024 */
    double b = (double)bytes;
    if (b >= 1023.95 * 1048576.0) snprintf(buf, n, "%.1f GiB", b / 1073741824.0);
    else if (b >= 1023.95 * 1024.0) snprintf(buf, n, "%.1f MiB", b / 1048576.0);
    else if (bytes >= 1024) snprintf(buf, n, "%.1f KiB", b / 1024.0);
    else snprintf(buf, n, "%zu bytes", bytes);
    return buf;
}

int cf_mem_check(size_t bytes, const char *what, cf_error *err)
{
    const char *src;
    size_t lim = limit_and_source(&src), used = cf_mem_in_use();
    size_t avail = used < lim ? lim - used : 0;
    if (bytes <= avail) return 0;
    char a[32], b[32];
    return cf_error_set(err, CF_EINPUT, "%s needs %s, more than the %s of memory available (%s)", what,
                        cf_mem_str(bytes, a, sizeof a), cf_mem_str(avail, b, sizeof b), src);
}

cf_mem *cf_mem_new(void)
{
    cf_mem *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->refs = 1;
    return m;
}

/* n floats of zeroed host memory, 64-byte aligned for SIMD and oneDNN,
 * counted in mem_in_use until host_free.  Past the limit: NULL, refused
 * here, where it can be reported, instead of being killed when memset
 * touches pages the system does not have.  `freed` bytes are about to be
 * released by the caller (growth needs only the difference). */
static float *host_alloc(size_t n, size_t freed)
{
    if (n > SIZE_MAX / sizeof(float)) return NULL;
    size_t bytes = n * sizeof(float), more = bytes > freed ? bytes - freed : 0, lim = cf_mem_limit();
    if (more > lim || cf_mem_in_use() > lim - more) return NULL;
    float *p = NULL;
    if (posix_memalign((void **)&p, 64, bytes)) return NULL;
    memset(p, 0, bytes);
    __atomic_add_fetch(&mem_in_use, bytes, __ATOMIC_RELAXED);
    return p;
}

static void host_free(float *p, size_t n)
{
    if (!p) return;
    free(p);
    __atomic_sub_fetch(&mem_in_use, n * sizeof(float), __ATOMIC_RELAXED);
}

void cf_mem_unref(cf_mem *m)
{
    if (!m || --m->refs > 0) return;
    host_free(m->host, m->cap);
    if (m->dev) m->devops->free(m->dev, m->cap * sizeof(float));
    if (m->alt) m->altops->free(m->alt);
    free(m);
}

/* Copy the device side to the host when it is the newer one (the host
 * side exists at the current capacity). */
static void pull(cf_mem *m)
{
    if (m->head != CF_MEM_DEVICE) return;
    m->devops->to_host(m->host, m->dev, m->size * sizeof(float));
    m->head = CF_MEM_SYNCED;
}

/* Have the alt side's owner write it back when it is the newer one (the
 * host side exists at the current capacity). */
static void pull_alt(cf_mem *m)
{
    if (!m->alt_newest) return;
    m->altops->to_host(m->alt, m->host, m->size);
    m->alt_newest = false;
}

/* Capacity for at least n floats (at least 1), keeping the contents.
 * Growing moves the contents to the host (growth is rare: a reshape past
 * anything seen before) and drops the device side, which is made again
 * at the new capacity on its next use. */
static bool reserve(cf_mem *m, size_t n)
{
    if (n == 0) n = 1;
    if (n <= m->cap) return true;
    if (m->head == CF_MEM_UNINIT) { /* nothing to keep, nothing allocated */
        m->cap = n;
        return true;
    }
    if (m->head == CF_MEM_DEVICE && !m->host && !(m->host = host_alloc(m->cap, 0))) return false;
    pull(m);
    pull_alt(m);
    m->alt_valid = false; /* made for a smaller shape */
    float *p = host_alloc(n, m->cap * sizeof(float));
    if (!p) return false;
    memcpy(p, m->host, m->size * sizeof(float));
    host_free(m->host, m->cap);
    m->host = p;
    if (m->dev) {
        m->devops->free(m->dev, m->cap * sizeof(float));
        m->dev = NULL;
    }
    m->head = CF_MEM_HOST;
    m->cap = n;
    return true;
}

float *cf_mem_host(cf_mem *m, size_t n)
{
    if (!reserve(m, n)) return NULL;
    if (!m->host && !(m->host = host_alloc(m->cap, 0))) return NULL;
    pull(m);
    pull_alt(m);
    if (m->head == CF_MEM_UNINIT) m->head = CF_MEM_HOST;
    if (n > m->size) m->size = n;
    return m->host;
}

bool cf_mem_hold(cf_mem *m, size_t n)
{
    if (!reserve(m, n)) return false;
    if (!m->host && !(m->host = host_alloc(m->cap, 0))) return false;
    if (m->head == CF_MEM_UNINIT) m->head = CF_MEM_HOST;
    if (n > m->size) m->size = n;
    return true;
}

void cf_mem_set_alt(cf_mem *m, void *alt, const cf_mem_alt_ops *ops)
{
    if (m->alt && m->alt != alt) {
        if (m->alt_newest && m->host) pull_alt(m); /* never lose the newest values */
        m->altops->free(m->alt);
    }
    m->alt = alt;
    m->altops = ops;
    m->alt_valid = m->alt_newest = false;
}

void cf_mem_alt_wrote(cf_mem *m)
{
    m->alt_valid = m->alt_newest = true;
    m->head = CF_MEM_HOST; /* the alt side lives on the host: a device copy is stale */
}

/* A host write: the alt side no longer holds the values. */
static void alt_stale(cf_mem *m) { m->alt_valid = m->alt_newest = false; }

float *cf_mem_dev(cf_mem *m, size_t n, const cf_device_ops *ops)
{
    assert(!m->devops || m->devops == ops); /* one device per buffer */
    m->devops = ops;
    if (!reserve(m, n)) return NULL;
    if (!m->dev) {
        if (!(m->dev = ops->alloc(m->cap * sizeof(float)))) return NULL;
        ops->zero(m->dev, m->cap * sizeof(float)); /* a new side starts as zeros, as the host's does */
    }
    if (m->alt_newest && m->host) pull_alt(m);
    if (m->head == CF_MEM_HOST) {
        ops->to_device(m->dev, m->host, m->size * sizeof(float));
        m->head = CF_MEM_SYNCED;
    }
    if (m->head == CF_MEM_UNINIT) m->head = CF_MEM_DEVICE;
    if (n > m->size) m->size = n;
    return m->dev;
}

cf_blob *cf_blob_new(const char *name)
{
    cf_blob *b = calloc(1, sizeof *b);
    if (!b) abort();
    if (name) {
        b->name = strdup(name);
        if (!b->name) abort();
    }
    b->data = cf_mem_new();
    b->diff = cf_mem_new();
    return b;
}

void cf_blob_free(cf_blob *b)
{
    if (!b) return;
    cf_mem_unref(b->data);
    cf_mem_unref(b->diff);
    free(b->name);
    free(b);
}

int cf_blob_reshape(cf_blob *b, int naxes, const int *shape, cf_error *err)
{
    if (naxes < 0 || naxes > CF_MAX_AXES)
        return cf_error_set(err, CF_EINPUT, "blob '%s': %d axes (at most %d)", b->name ? b->name : "", naxes,
                            CF_MAX_AXES);
    size_t count = 1;
    for (int i = 0; i < naxes; i++) {
        if (shape[i] < 0)
            return cf_error_set(err, CF_EINPUT, "blob '%s': negative size %d on axis %d", b->name ? b->name : "",
                                shape[i], i);
        if (shape[i] && count > CF_MAX_COUNT / (size_t)shape[i])
            return cf_error_set(err, CF_EINPUT, "blob '%s': shape too large (over %lu elements)",
                                b->name ? b->name : "", CF_MAX_COUNT);
        count *= (size_t)shape[i];
    }
    b->naxes = naxes;
    for (int i = 0; i < naxes; i++) b->shape[i] = shape[i];
    for (int i = naxes; i < CF_MAX_AXES; i++) b->shape[i] = 0;
    b->count = count;
    return 0;
}

int cf_blob_reshape4(cf_blob *b, int n, int c, int h, int w, cf_error *err)
{
    int s[4] = {n, c, h, w};
    return cf_blob_reshape(b, 4, s, err);
}

int cf_blob_reshape_like(cf_blob *b, const cf_blob *o, cf_error *err)
{
    return cf_blob_reshape(b, o->naxes, o->shape, err);
}

const float *cf_blob_data(const cf_blob *b) { return cf_mem_host(b->data, b->count); }
const float *cf_blob_diff(const cf_blob *b) { return cf_mem_host(b->diff, b->count); }

float *cf_blob_mdata(cf_blob *b)
{
    float *p = cf_mem_host(b->data, b->count);
    b->data->head = CF_MEM_HOST;
    alt_stale(b->data);
    return p;
}

float *cf_blob_mdiff(cf_blob *b)
{
    float *p = cf_mem_host(b->diff, b->count);
    b->diff->head = CF_MEM_HOST;
    alt_stale(b->diff);
    return p;
}

const float *cf_blob_dev_data(const cf_blob *b, const cf_device_ops *ops) { return cf_mem_dev(b->data, b->count, ops); }
const float *cf_blob_dev_diff(const cf_blob *b, const cf_device_ops *ops) { return cf_mem_dev(b->diff, b->count, ops); }

float *cf_blob_dev_mdata(cf_blob *b, const cf_device_ops *ops)
{
    float *p = cf_mem_dev(b->data, b->count, ops);
    if (p) b->data->head = CF_MEM_DEVICE, alt_stale(b->data);
    return p;
}

float *cf_blob_dev_mdiff(cf_blob *b, const cf_device_ops *ops)
{
    float *p = cf_mem_dev(b->diff, b->count, ops);
    if (p) b->diff->head = CF_MEM_DEVICE, alt_stale(b->diff);
    return p;
}

void cf_blob_share_data(cf_blob *b, const cf_blob *o)
{
    if (b->data == o->data) return;
    o->data->refs++;
    cf_mem_unref(b->data);
    b->data = o->data;
}

void cf_blob_share_diff(cf_blob *b, const cf_blob *o)
{
    if (b->diff == o->diff) return;
    o->diff->refs++;
    cf_mem_unref(b->diff);
    b->diff = o->diff;
}

int cf_blob_axis(const cf_blob *b, int axis, int *out, cf_error *err)
{
    int a = axis < 0 ? axis + b->naxes : axis;
    if (a < 0 || a >= b->naxes)
        return cf_error_set(err, CF_EINPUT, "axis %d is out of range for a blob with %d axes", axis, b->naxes);
    *out = a;
    return 0;
}

size_t cf_blob_count_range(const cf_blob *b, int start, int end)
{
    size_t c = 1;
    for (int i = start; i < end && i < b->naxes; i++) c *= (size_t)b->shape[i];
    return c;
}

int cf_blob_dim(const cf_blob *b, int axis)
{
    return axis < b->naxes ? b->shape[axis] : 1;
}

const char *cf_blob_shape_str(const cf_blob *b, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < b->naxes && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%d ", b->shape[i]);
    if (used < n) snprintf(buf + used, n - used, "(%zu)", b->count);
    return buf;
}

bool cf_blob_same_shape(const cf_blob *a, const cf_blob *b)
{
    if (a->naxes != b->naxes) return false;
    for (int i = 0; i < a->naxes; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

size_t cf_blob_bytes(const cf_blob *b)
{
    return ((b->data->host ? b->data->cap : 0) + (b->diff->host ? b->diff->cap : 0)) * sizeof(float);
}

size_t cf_blob_dev_bytes(const cf_blob *b)
{
    return ((b->data->dev ? b->data->cap : 0) + (b->diff->dev ? b->diff->cap : 0)) * sizeof(float);
}

void cf_blob_zero_diff(cf_blob *b)
{
    memset(cf_blob_mdiff(b), 0, b->count * sizeof(float));
}
