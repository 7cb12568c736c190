/* snapshot.c — HDF5 snapshots of a solver, and HDF5 weights (see
 * snapshot.h for the layout).
 *
 * HDF5 prints its own error stack on every failure unless told not to;
 * every public function here silences it for its duration and turns the
 * innermost HDF5 message into our error instead.  Names in the file are
 * paths: a layer called "inception_3a/1x1" lives in nested groups, which
 * group_at() walks one level at a time. */
#include "snapshot.h"
#include "h5_check.h"

#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"

#define VERSION_ATTR "cafetui_snapshot_version"

static const char *const type_names[] = {"SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"};

/* ---- HDF5 quietly ---- */

typedef struct quiet {
    H5E_auto2_t fn;
    void *data;
} quiet;

static void hush(quiet *q)
{
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void unhush(quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *out)
{
    if (n == 0) snprintf(out, 512, "%s", e->desc ? e->desc : "unknown HDF5 error");
    return 0;
}

/* The most specific message on HDF5's error stack (read it right after
 * the failing call: the next HDF5 call clears the stack). */
static const char *h5_reason(char *buf)
{
    snprintf(buf, 512, "unknown HDF5 error");
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, buf);
    return buf;
}

/* File access without flock: snapshots are written under a temporary
 * name and renamed, so no reader ever sees one being written, and some
 * file systems (NFS) refuse the locks. */
static hid_t fapl_new(void)
{
    hid_t p = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    if (p >= 0) H5Pset_file_locking(p, 0, 1);
#endif
    return p;
}

/* The group at `path` below loc ('/'-separated, one level at a time,
 * created when asked); an id to close, or -1. */
static hid_t group_at(hid_t loc, const char *path, bool create)
{
    char *copy = strdup(path), *save = NULL;
    if (!copy) abort();
    hid_t cur = H5Gopen2(loc, ".", H5P_DEFAULT);
    for (char *c = strtok_r(copy, "/", &save); c && cur >= 0; c = strtok_r(NULL, "/", &save)) {
        htri_t there = H5Lexists(cur, c, H5P_DEFAULT);
        hid_t next = there > 0 ? H5Gopen2(cur, c, H5P_DEFAULT)
                     : create && there == 0 ? H5Gcreate2(cur, c, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                                            : -1;
        H5Gclose(cur);
        cur = next;
    }
    free(copy);
    return cur;
}

/* Split "a/b/c" into the group "a/b" and the last name "c". */
static const char *last_name(const char *path, char **dir)
{
    const char *slash = strrchr(path, '/');
    *dir = strndup(path, slash ? (size_t)(slash - path) : 0);
    if (!*dir) abort();
    return slash ? slash + 1 : path;
}

/* ---- writing ---- */

typedef struct writer {
    hid_t file;
    char reason[512];   /* HDF5's message for the first failure */
    bool failed;
} writer;

static int wfail(writer *w)
{
    if (!w->failed) h5_reason(w->reason);
    w->failed = true;
    return -1;
}

/* Dataset at path (rank 0: a scalar) from buf in memory type mtype,
 * stored as ftype. */
static int put(writer *w, const char *path, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims,
               const void *buf)
{
    if (w->failed) return -1;
    char *dir;
    const char *name = last_name(path, &dir);
    hid_t g = group_at(w->file, dir, true);
    free(dir);
    if (g < 0) return wfail(w);
    hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = sp < 0 ? -1 : H5Dcreate2(g, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = d < 0 ? -1 : H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    if (rc < 0) wfail(w);
    if (d >= 0 && H5Dclose(d) < 0) wfail(w);
    if (sp >= 0) H5Sclose(sp);
    H5Gclose(g);
    return w->failed ? -1 : 0;
}

static int put_i64(writer *w, const char *path, long long v)
{
    return put(w, path, H5T_STD_I64LE, H5T_NATIVE_LLONG, 0, NULL, &v);
}

static int put_blob(writer *w, const char *path, const cf_blob *b, const float *data)
{
    hsize_t dims[CF_MAX_AXES];
    for (int i = 0; i < b->naxes; i++) dims[i] = (hsize_t)b->shape[i];
    return put(w, path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, b->naxes, dims, data);
}

static int put_string(writer *w, const char *path, const char *s)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0 || H5Tset_size(t, strlen(s) + 1) < 0) return wfail(w);
    int rc = put(w, path, t, t, 0, NULL, s);
    H5Tclose(t);
    return rc;
}

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    va_start(ap, fmt);
    if (vasprintf(&p, fmt, ap) < 0) abort();
    va_end(ap);
    return p;
}

/* Index in net->params of layer li's param j. */
static int param_id(const cf_net *net, int li, int j)
{
    for (int k = 0; k < net->nparams; k++)
        if (net->params[k].layer == li && net->params[k].index == j) return k;
    return -1;
}

/* data/<layer>/<i>, Caffe's way: a group per layer, params without a
 * layer of their own (shared, not the owner) left out. */
static void write_weights(writer *w, const cf_net *net)
{
    for (int li = 0; li < net->nlayers && !w->failed; li++) {
        const cf_layer *l = net->layers[li].layer;
        if (l->nparam && !l->name[0]) { /* its weights would land in data/ itself */
            snprintf(w->reason, sizeof w->reason, "layer %d has params but no name", li);
            w->failed = true;
            return;
        }
        char *gp = pathf("data/%s", l->name);
        hid_t g = group_at(w->file, gp, true);
        if (g < 0) wfail(w);
        else H5Gclose(g);
        for (int j = 0; j < l->nparam; j++) {
            int k = param_id(net, li, j);
            if (k >= 0 && net->params[k].owner != k) continue;
            char *p = pathf("%s/%d", gp, j);
            put_blob(w, p, l->param[j], cf_blob_data(l->param[j]));
            free(p);
        }
        free(gp);
    }
}

/* The data layers of a net, each with its read position: the values its
 * ops->position gives, as solver/data/<net>/<layer> (for Data: record,
 * generator state and increment). */
static void write_positions(writer *w, const cf_net *net, const char *tag)
{
    for (int li = 0; li < net->nlayers; li++) {
        const cf_layer *l = net->layers[li].layer;
        if (!l->ops->position) continue;
        hsize_t n = l->ops->position(l, NULL);
        uint64_t *v = malloc(n * sizeof *v);
        if (!v) abort();
        l->ops->position(l, v);
        char *p = pathf("solver/data/%s/%s", tag, l->name);
        put(w, p, H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, &n, v);
        free(p);
        free(v);
    }
}

static void write_solver(writer *w, const cf_solver *s)
{
    put_string(w, "solver/type", type_names[s->type]);
    put_i64(w, "solver/iter", s->iter);
    put_i64(w, "solver/current_step", s->current_step);
    put(w, "solver/lr_scale", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, NULL, &s->lr_scale);
    unsigned long long rng[2] = {s->rng.state, s->rng.inc};
    hsize_t two = 2;
    put(w, "solver/rng", H5T_STD_U64LE, H5T_NATIVE_ULLONG, 1, &two, rng);
    const cf_net *net = s->net;
    for (int i = 0; i < net->nparams; i++) {
        char *p;
        if (s->history[i]) {
            put_blob(w, p = pathf("solver/history/%d", i), s->history[i], cf_blob_data(s->history[i]));
            free(p);
        }
        if (s->history2[i]) {
            put_blob(w, p = pathf("solver/history2/%d", i), s->history2[i], cf_blob_data(s->history2[i]));
            free(p);
        }
    }
    hsize_t nring = (hsize_t)s->average_loss;
    put(w, "solver/loss/ring", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &nring, s->losses);
    put_i64(w, "solver/loss/count", s->nlosses);
    put_i64(w, "solver/loss/pos", s->loss_pos);
    put(w, "solver/loss/last", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 0, NULL, &s->last_loss);
    put(w, "solver/loss/smoothed", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 0, NULL, &s->smoothed_loss);
    write_positions(w, s->net, "train");
    for (int k = 0; k < s->ntest; k++) {
        char tag[16];
        snprintf(tag, sizeof tag, "test%d", k);
        write_positions(w, s->test[k], tag);
    }
}

static void write_version(writer *w)
{
    int v = CF_SNAPSHOT_VERSION;
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1 : H5Acreate2(w->file, VERSION_ATTR, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, H5T_NATIVE_INT, &v) < 0) wfail(w);
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
}

/* Bytes the snapshot will take, about: the core driver grows its buffer
 * by this much at a time, so one step usually holds the whole file. */
static size_t estimate(const cf_solver *s)
{
    size_t floats = (size_t)s->average_loss;
    for (int i = 0; i < s->net->nparams; i++) {
        size_t n = s->net->params[i].blob->count;
        floats += n + (s->history[i] ? n : 0) + (s->history2[i] ? n : 0);
    }
    return floats * sizeof(float) + ((size_t)1 << 20);
}

/* The whole HDF5 file, built in memory. */
static void *build_image(cf_solver *s, const char *name, size_t *len, writer *w)
{
    hid_t fapl = fapl_new();
    void *img = NULL;
    if (fapl < 0 || H5Pset_fapl_core(fapl, estimate(s), 0) < 0) {
        wfail(w);
    } else if ((w->file = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0) {
        wfail(w);
    } else {
        write_version(w);
        write_weights(w, s->net);
        write_solver(w, s);
        if (!w->failed && H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0) wfail(w);
        ssize_t n = w->failed ? -1 : H5Fget_file_image(w->file, NULL, 0);
        if (n < 0 || !(img = malloc((size_t)n + 1)) || H5Fget_file_image(w->file, img, (size_t)n) != n) {
            wfail(w);
            free(img);
            img = NULL;
        }
        *len = n < 0 ? 0 : (size_t)n;
        if (H5Fclose(w->file) < 0) wfail(w); /* in memory: nothing to fail on but memory */
    }
    if (fapl >= 0) H5Pclose(fapl);
    return w->failed ? NULL : img;
}

/* buf into fd, made durable and readable by all (mkstemp made it 0600). */
static int write_fd(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t k = write(fd, buf, len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        buf += k;
        len -= (size_t)k;
    }
    return fchmod(fd, 0644) || fsync(fd) ? -1 : 0;
}

/* The file is built in memory with HDF5's core driver and written with
 * plain write() calls: a full disk then fails a write we see and handle,
 * never an HDF5 write (HDF5 1.10 cannot close a file whose writes failed
 * and crashes at exit over it).  Memory: about twice the snapshot, for a
 * moment. */
int cf_snapshot_save(cf_solver *s, const char *path, cf_error *err)
{
    size_t n = strlen(path) + 16, len = 0;
    char *tmp = malloc(n);
    int fd;
    if (!tmp) abort();
    if (cf_make_temp_beside(path, tmp, n, &fd, NULL)) {
        int e = errno;
        free(tmp);
        return cf_error_set(err, CF_ERUNTIME, "cannot write snapshot '%s': %s", path, strerror(e));
    }
    quiet q;
    hush(&q);
    writer w = {.file = -1};
    char *img = build_image(s, tmp, &len, &w);
    unhush(&q);
    const char *why = w.reason;
    int rc = img ? 0 : -1;
    if (rc == 0 && (write_fd(fd, img, len) || close(fd) || rename(tmp, path))) {
        rc = -1;
        why = strerror(errno);
        fd = -1; /* closed, or about to be below */
    }
    free(img);
    if (rc) {
        cf_error_set(err, CF_ERUNTIME, "cannot write snapshot '%s': %s", path, why);
        if (fd >= 0) close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    cf_sync_parent_dir(path);
    free(tmp);
    return 0;
}

/* "<base>_iter_<digits>.h5.tmp-" then the six characters mkstemp chose. */
static bool is_temp_of(const char *name, const char *base)
{
    size_t n = strlen(base);
    if (strncmp(name, base, n) || strncmp(name + n, "_iter_", 6)) return false;
    const char *p = name + n + 6, *d = p;
    while (*p >= '0' && *p <= '9') p++;
    if (p == d || strncmp(p, ".h5.tmp-", 8)) return false;
    p += 8;
    for (int i = 0; i < 6; i++, p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) return false;
    return *p == 0;
}

int cf_snapshot_clean_temps(const char *prefix)
{
    char *dir = strdup(prefix);
    if (!dir) abort();
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : prefix;
    if (slash) *slash = 0;
    DIR *d = opendir(slash ? (dir[0] ? dir : "/") : ".");
    int removed = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!is_temp_of(e->d_name, base)) continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", slash ? (dir[0] ? dir : "") : ".", e->d_name);
        if (unlink(path) == 0) removed++;
    }
    if (d) closedir(d);
    free(dir);
    return removed;
}

/* ---- reading ---- */

bool cf_is_hdf5(const char *path)
{
    quiet q;
    hush(&q);
    htri_t r = H5Fis_hdf5(path);
    unhush(&q);
    return r > 0;
}

/* Dataset path's shape; -1 when it is not there or not a dataset. */
static int shape_of(hid_t f, const char *path, int *rank, hsize_t *dims)
{
    char *dir;
    const char *name = last_name(path, &dir);
    hid_t g = group_at(f, dir, false);
    free(dir);
    if (g < 0) return -1;
    hid_t d = H5Lexists(g, name, H5P_DEFAULT) > 0 ? H5Dopen2(g, name, H5P_DEFAULT) : -1;
    H5Gclose(g);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    int r = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (r >= 0 && r <= CF_MAX_AXES) H5Sget_simple_extent_dims(sp, dims, NULL);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    if (r < 0 || r > CF_MAX_AXES) return -1;
    *rank = r;
    return 0;
}

/* Read the whole dataset at path (of `count` elements) into buf. */
static int get(hid_t f, const char *path, hid_t mtype, void *buf)
{
    char *dir;
    const char *name = last_name(path, &dir);
    hid_t g = group_at(f, dir, false);
    free(dir);
    if (g < 0) return -1;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    H5Gclose(g);
    if (d < 0) return -1;
    herr_t rc = cf_h5_unreadable(d) ? -1 : H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(d);
    return rc < 0 ? -1 : 0;
}

/* Name of link i of group g (malloc'd), or NULL. */
static char *link_name(hid_t g, hsize_t i)
{
    ssize_t n = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) abort();
    if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, s, (size_t)n + 1, H5P_DEFAULT) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

static int read_error(cf_weights *w, const char *layer, cf_error *err, const char *fmt, const char *what)
{
    char why[512];
    cf_error_set(err, CF_EINPUT, fmt, what, h5_reason(why));
    cf_error_at(err, w->path, 0, 0);
    if (layer) cf_error_ctx(err, "layer '%s'", layer);
    return -1;
}

/* A param dataset of a layer into slot b. */
static int read_param(cf_weights *w, hid_t d, const char *layer, const char *name, cf_wblob *b, cf_error *err)
{
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    int cls = t < 0 ? -1 : H5Tget_class(t);
    int rank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    hsize_t dims[CF_MAX_AXES];
    if (rank >= 0 && rank <= CF_MAX_AXES) H5Sget_simple_extent_dims(sp, dims, NULL);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (cls != H5T_FLOAT || rank < 0 || rank > CF_MAX_AXES) {
        cf_error_set(err, CF_EINPUT, "param %s is not an array of floats of at most %d axes", name, CF_MAX_AXES);
        cf_error_at(err, w->path, 0, 0);
        return cf_error_ctx(err, "layer '%s'", layer);
    }
    b->present = true;
    b->naxes = rank;
    b->count = 1;
    for (int i = 0; i < rank; i++) {
        b->shape[i] = (long long)dims[i];
        if (dims[i] && b->count > CF_MAX_COUNT / dims[i]) { /* what the file says, not what it holds */
            cf_error_set(err, CF_EINPUT, "param %s has a shape too large for a blob (over %lu elements)", name,
                         CF_MAX_COUNT);
            cf_error_at(err, w->path, 0, 0);
            return cf_error_ctx(err, "layer '%s'", layer);
        }
        b->count *= (size_t)dims[i];
    }
    const char *why = cf_h5_unreadable(d);
    if (why) {
        cf_error_set(err, CF_EINPUT, "param %s cannot be read: %s", name, why);
        cf_error_at(err, w->path, 0, 0);
        return cf_error_ctx(err, "layer '%s'", layer);
    }
    char what[300];
    snprintf(what, sizeof what, "param %s", name);
    int refused = cf_mem_check(b->count * sizeof(float), what, err);
    float *buf = refused ? NULL : malloc(b->count * sizeof *buf + 1);
    if (!buf) {
        if (!refused) cf_error_set(err, CF_ERUNTIME, "param %s: out of memory", name);
        cf_error_at(err, w->path, 0, 0);
        return cf_error_ctx(err, "layer '%s'", layer);
    }
    cf_weights_own(w, buf);
    b->data = buf;
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        return read_error(w, layer, err, "cannot read param %s (%s)", name);
    return 0;
}

/* Layer names with '/' nest groups; deeper than this is a damaged or
 * hostile file (HDF5 hard links can make a group contain itself, which
 * would otherwise recurse until memory runs out). */
#define MAX_GROUP_DEPTH 32

/* The group g, standing for layer `layer` (NULL for data/ itself), depth
 * levels below data/: its datasets are the layer's params, its groups
 * more layers. */
static int read_group(cf_weights *w, hid_t g, const char *layer, int depth, cf_error *err)
{
    if (depth > MAX_GROUP_DEPTH) {
        cf_error_set(err, CF_EINPUT, "groups nested more than %d levels deep under data/ (a group that contains itself?)",
                     MAX_GROUP_DEPTH);
        cf_error_at(err, w->path, 0, 0);
        return -1;
    }
    H5G_info_t info;
    if (H5Gget_info(g, &info) < 0) return read_error(w, layer, err, "cannot list %s (%s)", "a group");
    int nblobs = 0;
    for (hsize_t i = 0; i < info.nlinks; i++) { /* first pass: how many params */
        char *name = link_name(g, i), *end;
        if (!name) return read_error(w, layer, err, "cannot list %s (%s)", "a group");
        hid_t o = H5Oopen(g, name, H5P_DEFAULT);
        H5I_type_t t = o < 0 ? H5I_BADID : H5Iget_type(o);
        if (o >= 0) H5Oclose(o);
        long j = strtol(name, &end, 10);
        if (t == H5I_DATASET && (!layer || *end || end == name || j < 0 || j > 4096)) {
            cf_error_set(err, CF_EINPUT, "unexpected dataset '%s' (params are named 0, 1, ... inside a layer's group)",
                         name);
            free(name);
            cf_error_at(err, w->path, 0, 0);
            return layer ? cf_error_ctx(err, "layer '%s'", layer) : -1;
        }
        if (t == H5I_DATASET && j + 1 > nblobs) nblobs = (int)j + 1;
        free(name);
    }
    int idx = -1;
    if (layer) {
        cf_weights_add_layer(w, layer, nblobs);
        idx = w->nlayers - 1;
    }
    for (hsize_t i = 0; i < info.nlinks; i++) {
        char *name = link_name(g, i);
        hid_t o = name ? H5Oopen(g, name, H5P_DEFAULT) : -1;
        if (o < 0) {
            free(name);
            return read_error(w, layer, err, "cannot open %s (%s)", "an object");
        }
        int rc = 0;
        if (H5Iget_type(o) == H5I_DATASET) {
            rc = read_param(w, o, layer, name, &w->layers[idx].blobs[strtol(name, NULL, 10)], err);
        } else if (H5Iget_type(o) == H5I_GROUP) {
            char *sub = layer ? pathf("%s/%s", layer, name) : strdup(name);
            rc = read_group(w, o, sub, depth + 1, err);
            free(sub);
        }
        H5Oclose(o);
        free(name);
        if (rc) return -1;
    }
    return 0;
}

/* Mocha's flat layout: datasets "<layer>___<param>" at the root, the
 * param named filter/weight (index 0) or bias (index 1).  Julia writes its
 * column-major arrays with the dimensions reversed, so a Mocha filter
 * (kw, kh, C, M) reads here as M×C×kh×kw, Caffe's order; trailing axes of
 * size 1 (Mocha's bias blobs) are dropped and the legacy rule for leading
 * 1s applies.  Returns NULL with err when the file has no such dataset. */
static cf_weights *read_mocha(hid_t f, const char *path, cf_error *err)
{
    H5G_info_t info;
    cf_weights *w = cf_weights_new(path);
    int found = 0;
    if (H5Gget_info(f, &info) < 0) goto none;
    for (hsize_t i = 0; i < info.nlinks; i++) {
        char *name = link_name(f, i);
        char *sep = name ? strstr(name, "___") : NULL;
        if (!sep) {
            free(name);
            continue;
        }
        *sep = 0;
        const char *layer = name, *param = sep + 3;
        int j = !strcmp(param, "filter") || !strcmp(param, "weight") ? 0 : !strcmp(param, "bias") ? 1 : -1;
        if (j < 0) {
            cf_error_set(err, CF_EINPUT, "Mocha param '%s' of layer '%s': only filter, weight and bias are known", param, layer);
            cf_error_at(err, path, 0, 0);
            free(name);
            cf_weights_free(w);
            return NULL;
        }
        int li = -1;
        for (int k = 0; k < w->nlayers; k++)
            if (!strcmp(w->layers[k].name, layer)) li = k;
        if (li < 0) {
            cf_weights_add_layer(w, layer, 2);
            li = w->nlayers - 1;
        }
        *sep = '_';
        hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
        *sep = 0;
        cf_wblob *b = &w->layers[li].blobs[j];
        int rc = d < 0 ? read_error(w, layer, err, "cannot open %s (%s)", param) : read_param(w, d, layer, param, b, err);
        if (d >= 0) H5Dclose(d);
        free(name);
        if (rc) {
            cf_weights_free(w);
            return NULL;
        }
        while (b->naxes > 1 && b->shape[b->naxes - 1] == 1) b->naxes--;
        b->legacy = true;
        found++;
    }
    for (int k = 0; k < w->nlayers; k++) /* no bias (bias_term: false): one param */
        if (!w->layers[k].blobs[1].present) w->layers[k].nblobs = 1;
    if (found) return w;
none:
    cf_weights_free(w);
    cf_error_set(err, CF_EINPUT, "no 'data' group and no Mocha 'layer___param' datasets: not a Caffe or Mocha HDF5 model, nor a cafetui snapshot");
    cf_error_at(err, path, 0, 0);
    return NULL;
}

/* data/ of an open file as weights (or Mocha's flat layout). */
static cf_weights *read_weights(hid_t f, const char *path, cf_error *err)
{
    if (H5Lexists(f, "data", H5P_DEFAULT) <= 0) return read_mocha(f, path, err);
    cf_weights *w = cf_weights_new(path);
    hid_t g = H5Lexists(f, "data", H5P_DEFAULT) > 0 ? H5Gopen2(f, "data", H5P_DEFAULT) : -1;
    if (g < 0) {
        cf_error_set(err, CF_EINPUT, "no 'data' group: not a Caffe HDF5 model or cafetui snapshot");
        cf_error_at(err, path, 0, 0);
        cf_weights_free(w);
        return NULL;
    }
    int rc = read_group(w, g, NULL, 0, err);
    H5Gclose(g);
    if (rc) {
        cf_weights_free(w);
        return NULL;
    }
    return w;
}

/* Open an HDF5 file for reading; `noun` names what it should be in the
 * message for a file that is not one ("not a cafetui snapshot (...)"). */
static hid_t open_file(const char *path, const char *noun, cf_error *err)
{
    if (access(path, R_OK)) {
        cf_error_set(err, CF_EINPUT, "cannot open: %s", strerror(errno));
        return cf_error_at(err, path, 0, 0);
    }
    if (!cf_is_hdf5(path)) {
        cf_error_set(err, CF_EINPUT, "not a %s (not an HDF5 file)", noun);
        return cf_error_at(err, path, 0, 0);
    }
    hid_t fapl = fapl_new();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    char why[512];
    if (f < 0) {
        cf_error_set(err, CF_EINPUT, "not a %s (HDF5 cannot open it: %s)", noun, h5_reason(why));
        cf_error_at(err, path, 0, 0);
    }
    H5Pclose(fapl);
    return f;
}

/* In cf_h5_guarded's child: the read, without its result. */
static int probe_weights(void *ctx)
{
    const char *path = ctx;
    cf_error e;
    hid_t f = open_file(path, "readable HDF5 model", &e);
    if (f >= 0) {
        cf_weights_free(read_weights(f, path, &e));
        H5Fclose(f);
    }
    return 0;
}

cf_weights *cf_h5_weights_read(const char *path, cf_error *err)
{
    if (cf_h5_guarded(path, probe_weights, (void *)path, err)) return NULL;
    quiet q;
    hush(&q);
    cf_weights *w = NULL;
    hid_t f = open_file(path, "readable HDF5 model", err);
    if (f >= 0) {
        w = read_weights(f, path, err);
        H5Fclose(f);
    }
    unhush(&q);
    return w;
}

/* ---- restoring a solver ---- */

static int damaged(const char *path, cf_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int damaged(const char *path, cf_error *err, const char *fmt, ...)
{
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    char msg[sizeof err->msg - 64];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cf_error_set(err, CF_EINPUT, "%s", msg);
    return cf_error_at(err, path, 0, 0);
}

/* Is there a dataset at p of rank `rank` and (when dims given) these
 * dimensions? */
static bool has(hid_t f, const char *p, int rank, const hsize_t *dims)
{
    int r;
    hsize_t d[CF_MAX_AXES];
    if (shape_of(f, p, &r, d) || r != rank) return false;
    return !dims || memcmp(d, dims, (size_t)rank * sizeof *d) == 0;
}

static int read_version(hid_t f, int *v)
{
    if (H5Aexists(f, VERSION_ATTR) <= 0) return -1;
    hid_t a = H5Aopen(f, VERSION_ATTR, H5P_DEFAULT);
    int rc = a < 0 || H5Aread(a, H5T_NATIVE_INT, v) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    return rc;
}

/* A scalar string dataset at p (malloc'd), or NULL. */
static char *read_string(hid_t f, const char *p)
{
    if (!has(f, p, 0, NULL)) return NULL;
    hid_t d = H5Dopen2(f, p, H5P_DEFAULT);
    hid_t t = d < 0 ? -1 : H5Dget_type(d);
    /* a fixed-length string only (a variable-length one reads as a pointer) */
    size_t n = t < 0 || H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) != 0 || cf_h5_unreadable(d) ? 0
                                                                                                         : H5Tget_size(t);
    char *s = n ? calloc(n + 1, 1) : NULL;
    if (s && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0) {
        free(s);
        s = NULL;
    }
    if (t >= 0) H5Tclose(t);
    if (d >= 0) H5Dclose(d);
    return s;
}

static void blob_dims(const cf_blob *b, hsize_t *d)
{
    for (int i = 0; i < b->naxes; i++) d[i] = (hsize_t)b->shape[i];
}

static int check_history(const cf_solver *s, hid_t f, const char *path, const char *which, cf_blob **h, cf_error *err)
{
    for (int i = 0; i < s->net->nparams; i++) {
        if (!h[i]) continue;
        const cf_net_param *p = &s->net->params[i];
        hsize_t d[CF_MAX_AXES];
        blob_dims(p->blob, d);
        char *name = pathf("solver/%s/%d", which, i);
        bool ok = has(f, name, p->blob->naxes, d);
        free(name);
        if (!ok) {
            char sh[256];
            return damaged(path, err, "solver/%s/%d is missing or not shaped as param %d of layer '%s' (%s)", which,
                           i, p->index, s->net->layers[p->layer].layer->name,
                           cf_blob_shape_str(p->blob, sh, sizeof sh));
        }
    }
    return 0;
}

static int check_positions(const cf_net *net, hid_t f, const char *path, const char *tag, cf_error *err)
{
    for (int li = 0; li < net->nlayers; li++) {
        const cf_layer *l = net->layers[li].layer;
        if (!l->ops->position) continue;
        char *p = pathf("solver/data/%s/%s", tag, l->name);
        hsize_t n = l->ops->position(l, NULL);
        bool fits = has(f, p, 1, &n), there = fits || has(f, p, 1, NULL);
        free(p);
        if (!there)
            return damaged(path, err, "no read position for data layer '%s' of the %s net (was it taken from another net?)",
                           l->name, tag);
        if (!fits)
            return damaged(path, err, "the saved read position of data layer '%s' of the %s net does not fit it (was the "
                           "snapshot taken from another net, or did its list of files change?)", l->name, tag);
    }
    return 0;
}

/* Everything the restore will read is there and fits the solver. */
static int check_solver(const cf_solver *s, hid_t f, const char *path, cf_error *err)
{
    char *type = read_string(f, "solver/type");
    if (!type) return damaged(path, err, "not a cafetui snapshot (no solver/type)");
    bool same = strcmp(type, type_names[s->type]) == 0;
    if (!same) {
        damaged(path, err, "the snapshot was taken with solver type '%s' but this solver is '%s'", type,
                type_names[s->type]);
        free(type);
        return -1;
    }
    free(type);
    static const char *const scalars[] = {"solver/iter", "solver/current_step", "solver/lr_scale",
                                          "solver/loss/count", "solver/loss/pos", "solver/loss/last",
                                          "solver/loss/smoothed", NULL};
    for (int i = 0; scalars[i]; i++)
        if (!has(f, scalars[i], 0, NULL)) return damaged(path, err, "damaged snapshot: no %s", scalars[i]);
    hsize_t two = 2;
    if (!has(f, "solver/rng", 1, &two)) return damaged(path, err, "damaged snapshot: no solver/rng");
    if (!has(f, "solver/loss/ring", 1, NULL)) return damaged(path, err, "damaged snapshot: no solver/loss/ring");
    if (check_history(s, f, path, "history", s->history, err) ||
        check_history(s, f, path, "history2", s->history2, err) || check_positions(s->net, f, path, "train", err))
        return -1;
    for (int k = 0; k < s->ntest; k++) {
        char tag[16];
        snprintf(tag, sizeof tag, "test%d", k);
        if (check_positions(s->test[k], f, path, tag, err)) return -1;
    }
    return 0;
}

/* The smoothing ring: as saved when average_loss is unchanged (so the
 * smoothed loss repeats to the bit), else its most recent values. */
static int restore_losses(cf_solver *s, hid_t f)
{
    int rank;
    hsize_t m;
    long long count, pos;
    if (shape_of(f, "solver/loss/ring", &rank, &m) || get(f, "solver/loss/count", H5T_NATIVE_LLONG, &count) ||
        get(f, "solver/loss/pos", H5T_NATIVE_LLONG, &pos) || count < 0 || (hsize_t)count > m || pos < 0 ||
        (m && (hsize_t)pos >= m))
        return -1;
    float *ring = malloc((size_t)m * sizeof *ring + 1);
    if (!ring) abort();
    if (m && get(f, "solver/loss/ring", H5T_NATIVE_FLOAT, ring)) {
        free(ring);
        return -1;
    }
    if ((long)m == s->average_loss) {
        memcpy(s->losses, ring, (size_t)m * sizeof *ring);
        s->nlosses = (int)count;
        s->loss_pos = (int)pos;
    } else {
        /* oldest first: from pos when the ring is full, from 0 before */
        long long keep = count < s->average_loss ? count : s->average_loss;
        long long first = (hsize_t)count == m ? pos : 0;
        for (long long i = 0; i < keep; i++) s->losses[i] = ring[(first + count - keep + i) % (long long)m];
        s->nlosses = (int)keep;
        s->loss_pos = 0;
    }
    free(ring);
    return get(f, "solver/loss/last", H5T_NATIVE_FLOAT, &s->last_loss) ||
           get(f, "solver/loss/smoothed", H5T_NATIVE_FLOAT, &s->smoothed_loss);
}

/* Into the host side (marked newest: a device copy is refreshed on its
 * next use). */
static int restore_history(cf_solver *s, hid_t f, const char *which, cf_blob **h)
{
    for (int i = 0; i < s->net->nparams; i++) {
        if (!h[i]) continue;
        char *p = pathf("solver/%s/%d", which, i);
        int rc = get(f, p, H5T_NATIVE_FLOAT, cf_blob_mdata(h[i]));
        free(p);
        if (rc) return -1;
    }
    return 0;
}

/* Move each data layer back to its saved position (ops->seek: a Data
 * layer's prefetch restarts there, an HDF5Data layer reloads its file). */
static int restore_positions(cf_net *net, hid_t f, const char *tag, cf_error *err)
{
    for (int li = 0; li < net->nlayers; li++) {
        cf_layer *l = net->layers[li].layer;
        if (!l->ops->position) continue;
        uint64_t *v = malloc(l->ops->position(l, NULL) * sizeof *v);
        if (!v) abort();
        char *p = pathf("solver/data/%s/%s", tag, l->name);
        int rc = get(f, p, H5T_NATIVE_UINT64, v) ? 1 : 0; /* 1: HDF5 could not read it */
        free(p);
        if (!rc && l->ops->seek(l, v, err)) rc = -1;
        free(v);
        if (rc) return rc;
    }
    return 0;
}

static int restore_solver(cf_solver *s, hid_t f)
{
    long long iter, step;
    unsigned long long rng[2];
    if (get(f, "solver/iter", H5T_NATIVE_LLONG, &iter) || get(f, "solver/current_step", H5T_NATIVE_LLONG, &step) ||
        get(f, "solver/lr_scale", H5T_NATIVE_DOUBLE, &s->lr_scale) || get(f, "solver/rng", H5T_NATIVE_ULLONG, rng) ||
        iter < 0 || iter > 2147483647LL || step < 0 || step > 2147483647LL)
        return -1;
    s->iter = (int)iter;
    s->current_step = (int)step;
    s->rng.state = rng[0];
    s->rng.inc = rng[1];
    if (restore_history(s, f, "history", s->history) || restore_history(s, f, "history2", s->history2) ||
        restore_losses(s, f))
        return -1;
    return 0;
}

static int load(cf_solver *s, hid_t f, const char *path, cf_error *err)
{
    int version;
    if (read_version(f, &version))
        return damaged(path, err,
                       "not a cafetui snapshot (no %s attribute; a Caffe model holds weights only: load it as weights)",
                       VERSION_ATTR);
    if (version != CF_SNAPSHOT_VERSION)
        return damaged(path, err, "snapshot format %d is not one this build reads (it reads format %d)", version,
                       CF_SNAPSHOT_VERSION);
    cf_weights *w = read_weights(f, path, err);
    if (!w) return -1;
    if (cf_weights_check(s->net, w, true, err) || check_solver(s, f, path, err)) {
        cf_weights_free(w);
        return -1;
    }
    int rc = cf_weights_apply(s->net, w, true, NULL, NULL, NULL, err);
    cf_weights_free(w);
    if (rc) return -1;
    char why[512];
    if (restore_solver(s, f))
        return damaged(path, err, "damaged snapshot: reading the solver state failed (%s); the solver is half restored",
                       h5_reason(why));
    rc = restore_positions(s->net, f, "train", err);
    for (int k = 0; k < s->ntest && rc == 0; k++) {
        char tag[16];
        snprintf(tag, sizeof tag, "test%d", k);
        rc = restore_positions(s->test[k], f, tag, err);
    }
    if (rc > 0)
        return damaged(path, err, "damaged snapshot: reading a data layer's position failed (%s)", h5_reason(why));
    return rc;
}

/* In cf_h5_guarded's child: every read and check of load(), none of its
 * changes to the solver (whose blobs may be a GPU's). */
typedef struct {
    cf_solver *s;
    const char *path;
} snap_probe;

static int probe_snapshot(void *ctx)
{
    snap_probe *sp = ctx;
    cf_error e;
    int version;
    hid_t f = open_file(sp->path, "cafetui snapshot", &e);
    if (f < 0) return 0;
    if (read_version(f, &version) == 0) {
        cf_weights *w = read_weights(f, sp->path, &e);
        if (w && cf_weights_check(sp->s->net, w, true, &e) == 0) check_solver(sp->s, f, sp->path, &e);
        cf_weights_free(w);
    }
    H5Fclose(f);
    return 0;
}

int cf_snapshot_load(cf_solver *s, const char *path, cf_error *err)
{
    snap_probe sp = {s, path};
    if (cf_h5_guarded(path, probe_snapshot, &sp, err)) return -1;
    quiet q;
    hush(&q);
    hid_t f = open_file(path, "cafetui snapshot", err);
    int rc = f < 0 ? -1 : load(s, f, path, err);
    if (f >= 0) H5Fclose(f);
    unhush(&q);
    return rc;
}
