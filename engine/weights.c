/* weights.c — weights from a file into a net by layer name (see weights.h). */
#include "weights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caffemodel.h"
#include "snapshot.h"

cf_weights *cf_weights_new(const char *path)
{
    cf_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) abort();
    return w;
}

void cf_weights_free(cf_weights *w)
{
    if (!w) return;
    for (int i = 0; i < w->nlayers; i++) {
        free(w->layers[i].name);
        free(w->layers[i].blobs);
    }
    free(w->layers);
    for (int i = 0; i < w->nbufs; i++) free(w->bufs[i]);
    free(w->bufs);
    if (w->msg) w->free_msg(w->msg);
    free(w->path);
    free(w);
}

cf_wlayer *cf_weights_add_layer(cf_weights *w, const char *name, int nblobs)
{
    cf_wlayer *ls = realloc(w->layers, (size_t)(w->nlayers + 1) * sizeof *ls);
    if (!ls) abort();
    w->layers = ls;
    cf_wlayer *l = &ls[w->nlayers++];
    l->name = strdup(name);
    l->nblobs = nblobs;
    l->blobs = calloc((size_t)nblobs + 1, sizeof *l->blobs);
    if (!l->name || !l->blobs) abort();
    return l;
}

void cf_weights_own(cf_weights *w, void *buf)
{
    void **b = realloc(w->bufs, (size_t)(w->nbufs + 1) * sizeof *b);
    if (!b) abort();
    w->bufs = b;
    w->bufs[w->nbufs++] = buf;
}

const char *cf_wblob_shape_str(const cf_wblob *b, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < b->naxes && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%lld ", b->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "(%zu)", b->count);
    return buf;
}

/* ---- matching ---- */

/* Shapes after dropping leading 1s (the legacy 4-D padding). */
static int squeeze(const long long *shape, int naxes, long long *out)
{
    int s = 0;
    while (s < naxes && shape[s] == 1) s++;
    for (int i = s; i < naxes; i++) out[i - s] = shape[i];
    return naxes - s;
}

static bool shape_fits(const cf_blob *p, const cf_wblob *b)
{
    if (b->count != p->count) return false;
    long long ps[CF_MAX_AXES];
    for (int i = 0; i < p->naxes; i++) ps[i] = p->shape[i];
    if (!b->legacy) return b->naxes == p->naxes && memcmp(ps, b->shape, (size_t)p->naxes * sizeof *ps) == 0;
    long long a[CF_MAX_AXES], c[CF_MAX_AXES];
    int na = squeeze(ps, p->naxes, a), nc = squeeze(b->shape, b->naxes, c);
    return na == nc && memcmp(a, c, (size_t)na * sizeof *a) == 0;
}

static const cf_wlayer *find_layer(const cf_weights *w, const char *name)
{
    for (int i = 0; i < w->nlayers; i++)
        if (strcmp(w->layers[i].name, name) == 0) return &w->layers[i];
    return NULL;
}

static bool has_blobs(const cf_wlayer *l)
{
    for (int j = 0; j < l->nblobs; j++)
        if (l->blobs[j].present) return true;
    return false;
}

/* Does net layer li own its param j (a shared param belongs to its first
 * user)? */
static bool owns_param(const cf_net *net, int li, int j)
{
    for (int k = 0; k < net->nparams; k++)
        if (net->params[k].layer == li && net->params[k].index == j) return net->params[k].owner == k;
    return true;
}

static bool owns_any(const cf_net *net, int li)
{
    for (int j = 0; j < net->layers[li].layer->nparam; j++)
        if (owns_param(net, li, j)) return true;
    return false;
}

/* Point an error already set at the file and the layer. */
static int in_layer(const cf_weights *w, const char *layer, cf_error *err)
{
    cf_error_at(err, w->path, 0, 0);
    return cf_error_ctx(err, "layer '%s'", layer);
}

/* Can file layer fl fill net layer li?  1 yes, 0 it holds nothing for it,
 * -1 error. */
static int check_layer(const cf_net *net, int li, const cf_wlayer *fl, const cf_weights *w, cf_error *err)
{
    const cf_layer *l = net->layers[li].layer;
    if (!has_blobs(fl)) return 0;
    for (int j = 0; j < l->nparam || j < fl->nblobs; j++) {
        const cf_wblob *fb = j < fl->nblobs ? &fl->blobs[j] : NULL;
        bool present = fb && fb->present;
        /* a param shared with an earlier layer may be left out: its owner brings it */
        if (j < l->nparam && !present && !owns_param(net, li, j)) continue;
        if (j >= l->nparam || !present) {
            cf_error_set(err, CF_EINPUT, "%d blobs in the file but %d params in the net", fl->nblobs, l->nparam);
            return in_layer(w, l->name, err);
        }
        if (!shape_fits(l->param[j], fb)) {
            char a[256], b[256];
            cf_error_set(err, CF_EINPUT, "param %d has shape %s in the net but %s in the file", j,
                         cf_blob_shape_str(l->param[j], a, sizeof a), cf_wblob_shape_str(fb, b, sizeof b));
            return in_layer(w, l->name, err);
        }
    }
    return 1;
}

static void logf_(cf_log_fn log, void *ctx, const char *fmt, const char *a, const char *b)
{
    if (!log) return;
    char line[1024];
    snprintf(line, sizeof line, fmt, a, b);
    log(ctx, line);
}

/* Which file layer feeds each net layer (src[li], NULL for none), with
 * every check made and the counts in *r; nothing is changed. */
static int match(const cf_net *net, const cf_weights *w, bool strict, cf_log_fn log, void *log_ctx,
                 cf_weights_report *r, const cf_wlayer **src, cf_error *err)
{
    *r = (cf_weights_report){0};
    for (int li = 0; li < net->nlayers; li++) {
        const cf_layer *l = net->layers[li].layer;
        if (l->nparam == 0) continue;
        const cf_wlayer *fl = find_layer(w, l->name);
        int ok = fl ? check_layer(net, li, fl, w, err) : 0;
        if (ok < 0) return -1;
        if (ok) {
            src[li] = fl;
            r->loaded++;
            continue;
        }
        if (!owns_any(net, li)) continue; /* all its params come with their owners */
        if (strict) {
            cf_error_set(err, CF_EINPUT, "the snapshot holds no weights for this layer (was it taken from another net?)");
            return in_layer(w, l->name, err);
        }
        r->missing++;
        logf_(log, log_ctx, "layer '%s' keeps its initial weights: '%s' has none for it", l->name, w->path);
    }
    for (int i = 0; i < w->nlayers; i++) {
        const cf_wlayer *fl = &w->layers[i];
        if (!has_blobs(fl) || cf_net_layer_id(net, fl->name) >= 0) continue;
        if (strict) {
            cf_error_set(err, CF_EINPUT, "the snapshot holds weights for layer '%s', which the net does not have",
                         fl->name);
            return cf_error_at(err, w->path, 0, 0);
        }
        r->ignored++;
        logf_(log, log_ctx, "ignoring layer '%s' of '%s': the net has no layer of that name", fl->name, w->path);
    }
    return 0;
}

int cf_weights_check(const cf_net *net, const cf_weights *w, bool strict, cf_error *err)
{
    const cf_wlayer **src = calloc((size_t)net->nlayers + 1, sizeof *src);
    if (!src) abort();
    cf_weights_report r;
    int rc = match(net, w, strict, NULL, NULL, &r, src, err);
    free(src);
    return rc;
}

int cf_weights_apply(cf_net *net, const cf_weights *w, bool strict, cf_log_fn log, void *log_ctx,
                     cf_weights_report *rep, cf_error *err)
{
    const cf_wlayer **src = calloc((size_t)net->nlayers + 1, sizeof *src);
    if (!src) abort();
    cf_weights_report r;
    if (match(net, w, strict, log, log_ctx, &r, src, err)) {
        free(src);
        return -1;
    }
    for (int li = 0; li < net->nlayers; li++) {
        if (!src[li]) continue;
        cf_layer *l = net->layers[li].layer;
        for (int j = 0; j < l->nparam && j < src[li]->nblobs; j++) {
            const cf_wblob *fb = &src[li]->blobs[j];
            if (fb->present && fb->count) memcpy(cf_blob_mdata(l->param[j]), fb->data, fb->count * sizeof(float));
        }
    }
    free(src);
    if (rep) *rep = r;
    return 0;
}

/* ---- the entry point ---- */

int cf_net_load_weights_ex(cf_net *net, const char *path, cf_log_fn log, void *log_ctx, cf_weights_report *rep,
                           cf_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cf_error_set(err, CF_EINPUT, "cannot open weights '%s': %s", path, strerror(errno));
    fclose(f);
    cf_weights *w = cf_is_hdf5(path) ? cf_h5_weights_read(path, err) : cf_caffemodel_read(path, err);
    if (!w) return -1;
    int rc = cf_weights_apply(net, w, false, log, log_ctx, rep, err);
    cf_weights_free(w);
    return rc;
}

int cf_net_load_weights(cf_net *net, const char *path, cf_error *err)
{
    return cf_net_load_weights_ex(net, path, NULL, NULL, NULL, err);
}
