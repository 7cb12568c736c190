/* net.c — building and running a net (see net.h). */
#include "net.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* small growable arrays                                                */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) abort();
    return q;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d) abort();
    return d;
}

static void logf_(const cf_net_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const cf_net_opts *o, const char *fmt, ...)
{
    if (!o->log) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    o->log(o->log_ctx, buf);
}

/* ------------------------------------------------------------------ */
/* phase filtering: Caffe's NetStateRule                                */

static const char *const phase_names[] = {"TRAIN", "TEST", NULL};

static int rule_matches(cf_node *rule, const cf_net_opts *o, bool *match, cf_error *err)
{
    int phase;
    long lo, hi;
    *match = true;
    if (cf_get_enum(rule, "phase", phase_names, -1, &phase, err)) return -1;
    if (cf_get_int(rule, "min_level", -2147483647L, &lo, err)) return -1;
    if (cf_get_int(rule, "max_level", 2147483647L, &hi, err)) return -1;
    if (phase >= 0 && phase != (int)o->phase) *match = false;
    if (o->level < lo || o->level > hi) *match = false;
    size_t ns = cf_node_count(rule, "stage");
    for (size_t i = 0; i < ns; i++) {
        const char *st;
        if (cf_get_string_at(rule, "stage", i, &st, err)) return -1;
        bool have = false;
        for (int k = 0; k < o->nstages; k++)
            if (!strcmp(o->stages[k], st)) have = true;
        if (!have) *match = false;
    }
    size_t nn = cf_node_count(rule, "not_stage");
    for (size_t i = 0; i < nn; i++) {
        const char *st;
        if (cf_get_string_at(rule, "not_stage", i, &st, err)) return -1;
        for (int k = 0; k < o->nstages; k++)
            if (!strcmp(o->stages[k], st)) *match = false;
    }
    return 0;
}

static int layer_included(cf_node *lc, const cf_net_opts *o, bool *inc, cf_error *err)
{
    size_t ni = cf_node_count(lc, "include"), ne = cf_node_count(lc, "exclude");
    if (ni && ne)
        return cf_node_error(cf_node_get(lc, "exclude"), err, CF_EINPUT,
                             "a layer takes include rules or exclude rules, not both");
    *inc = ni == 0;
    for (size_t i = 0; i < ni; i++) {
        bool m;
        if (rule_matches(cf_node_at(lc, "include", i), o, &m, err)) return -1;
        if (m) *inc = true;
    }
    for (size_t i = 0; i < ne; i++) {
        bool m;
        if (rule_matches(cf_node_at(lc, "exclude", i), o, &m, err)) return -1;
        if (m) *inc = false;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* planning: which layers, in which order, reading which blob versions  */

typedef struct {
    cf_node *conf;
    const char *name;
    int nb, nt;
    const char **bnames, **tnames;
    cf_node **bnodes, **tnodes;
    int *bver;          /* version id read by each bottom */
    int *tver;          /* version id written by each top */
    bool scheduled;
} plan_layer;

/* A version is one value of a name: written by a layer's top (or an
 * in-place top that continues a previous version's blob). */
typedef struct {
    const char *name;
    int blob;           /* blob index (in-place versions share a blob) */
    int producer;       /* plan index; -1 for net inputs */
    int consumers;
} version;

typedef struct {
    plan_layer *L;
    int n;
    version *V;
    int nv;
    int nblob;
    int *order;         /* scheduled order of plan indices */
    int norder;
} plan;

static int latest_version(const plan *p, const char *name, const int *avail, int navail)
{
    for (int i = navail; i-- > 0;)
        if (!strcmp(p->V[avail[i]].name, name)) return avail[i];
    return -1;
}

static int read_names(cf_node *lc, const char *key, const char ***names, cf_node ***nodes, int *n, cf_error *err)
{
    size_t c = cf_node_count(lc, key);
    *names = xrealloc(NULL, c * sizeof **names);
    *nodes = xrealloc(NULL, c * sizeof **nodes);
    *n = (int)c;
    for (size_t i = 0; i < c; i++) {
        if (cf_get_string_at(lc, key, i, &(*names)[i], err)) return -1;
        (*nodes)[i] = cf_node_at(lc, key, i);
    }
    return 0;
}

static void plan_free(plan *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->L[i].bnames);
        free(p->L[i].tnames);
        free(p->L[i].bnodes);
        free(p->L[i].tnodes);
        free(p->L[i].bver);
        free(p->L[i].tver);
    }
    free(p->L);
    free(p->V);
    free(p->order);
}

static int add_version(plan *p, const char *name, int blob, int producer)
{
    p->V = xrealloc(p->V, (size_t)(p->nv + 1) * sizeof *p->V);
    p->V[p->nv] = (version){name, blob, producer, 0};
    return p->nv++;
}

/* Schedule layers: repeatedly take the first layer (in file order) whose
 * bottoms all have a current version. */
static int schedule(plan *p, cf_error *err)
{
    int *avail = xrealloc(NULL, (size_t)(p->nv + 1) * sizeof *avail);
    int navail = 0;
    for (int v = 0; v < p->nv; v++) avail[navail++] = v; /* net inputs */
    p->order = xrealloc(NULL, (size_t)p->n * sizeof *p->order);
    p->norder = 0;
    while (p->norder < p->n) {
        int pick = -1;
        for (int i = 0; i < p->n && pick < 0; i++) {
            if (p->L[i].scheduled) continue;
            bool ready = true;
            for (int b = 0; b < p->L[i].nb; b++)
                if (latest_version(p, p->L[i].bnames[b], avail, navail) < 0) ready = false;
            if (ready) pick = i;
        }
        if (pick < 0) {
            /* Nothing ready: an undefined bottom, or a cycle. */
            for (int i = 0; i < p->n; i++) {
                if (p->L[i].scheduled) continue;
                for (int b = 0; b < p->L[i].nb; b++) {
                    const char *bn = p->L[i].bnames[b];
                    if (latest_version(p, bn, avail, navail) >= 0) continue;
                    bool produced = false;
                    for (int j = 0; j < p->n; j++)
                        for (int t = 0; t < p->L[j].nt; t++)
                            if (!p->L[j].scheduled && !strcmp(p->L[j].tnames[t], bn)) produced = true;
                    if (!produced) {
                        free(avail);
                        cf_node_error(p->L[i].bnodes[b], err, CF_EINPUT,
                                      "bottom '%s' is not produced by any layer", bn);
                        return cf_error_ctx(err, "layer '%s'", p->L[i].name);
                    }
                }
            }
            char names[512] = "";
            for (int i = 0; i < p->n; i++)
                if (!p->L[i].scheduled) {
                    size_t l = strlen(names);
                    snprintf(names + l, sizeof names - l, "%s'%s'", l ? ", " : "", p->L[i].name);
                }
            int first = 0;
            while (p->L[first].scheduled) first++;
            free(avail);
            return cf_node_error(p->L[first].conf, err, CF_EINPUT, "layers %s form a cycle", names);
        }
        plan_layer *L = &p->L[pick];
        L->scheduled = true;
        p->order[p->norder++] = pick;
        for (int b = 0; b < L->nb; b++) {
            L->bver[b] = latest_version(p, L->bnames[b], avail, navail);
            p->V[L->bver[b]].consumers++;
        }
        for (int t = 0; t < L->nt; t++) {
            int inplace = -1;
            for (int b = 0; b < L->nb; b++)
                if (!strcmp(L->bnames[b], L->tnames[t])) inplace = b;
            if (inplace < 0) {
                int prev = latest_version(p, L->tnames[t], avail, navail);
                if (prev >= 0) {
                    free(avail);
                    cf_node_error(L->tnodes[t], err, CF_EINPUT,
                                  "top '%s' is already produced by %s '%s' (only an in-place layer may reuse a name)",
                                  L->tnames[t], p->V[prev].producer >= 0 ? "layer" : "the net input",
                                  p->V[prev].producer >= 0 ? p->L[p->V[prev].producer].name : L->tnames[t]);
                    return cf_error_ctx(err, "layer '%s'", L->name);
                }
                L->tver[t] = add_version(p, L->tnames[t], p->nblob++, pick);
            } else {
                L->tver[t] = add_version(p, L->tnames[t], p->V[L->bver[inplace]].blob, pick);
            }
            avail = xrealloc(avail, (size_t)(p->nv + 1) * sizeof *avail);
            avail[navail++] = L->tver[t];
        }
    }
    free(avail);
    return 0;
}

/* ------------------------------------------------------------------ */
/* building                                                             */

static cf_blob *new_blob(cf_net *net, const char *name)
{
    net->blobs = xrealloc(net->blobs, (size_t)(net->nblobs + 1) * sizeof *net->blobs);
    net->blobs[net->nblobs] = cf_blob_new(name);
    return net->blobs[net->nblobs++];
}

static cf_node *make_node(cf_net *net, cf_node *at, const char *name, const char *type)
{
    cf_node *n = cf_node_new(CF_NODE_MAP, at ? at->file : NULL, at ? at->line : 0, at ? at->col : 0);
    cf_node_add(n, "name", cf_node_scalar(name, true, n->file, n->line, n->col));
    cf_node_add(n, "type", cf_node_scalar(type, true, n->file, n->line, n->col));
    net->made = xrealloc(net->made, (size_t)(net->nmade + 1) * sizeof *net->made);
    net->made[net->nmade++] = n;
    return n;
}

static cf_net_layer *append_layer(cf_net *net, cf_layer *l, int nb, int nt)
{
    net->layers = xrealloc(net->layers, (size_t)(net->nlayers + 1) * sizeof *net->layers);
    cf_net_layer *nl = &net->layers[net->nlayers++];
    memset(nl, 0, sizeof *nl);
    nl->layer = l;
    nl->nb = nb;
    nl->nt = nt;
    nl->bottom = xrealloc(NULL, (size_t)nb * sizeof *nl->bottom);
    nl->top = xrealloc(NULL, (size_t)nt * sizeof *nl->top);
    nl->bottom_id = xrealloc(NULL, (size_t)nb * sizeof(int));
    nl->top_id = xrealloc(NULL, (size_t)nt * sizeof(int));
    nl->prop_down = xrealloc(NULL, (size_t)nb * sizeof(bool));
    nl->loss_weight = xrealloc(NULL, (size_t)nt * sizeof(float));
    for (int i = 0; i < nt; i++) nl->loss_weight[i] = 0;
    for (int i = 0; i < nb; i++) nl->prop_down[i] = false;
    return nl;
}

/* ------------------------------------------------------------------ */
/* memory: a blob's data is allocated by the first forward, so a net too  */
/* big for the machine is refused while it is built, naming its biggest   */
/* blob, rather than found out by the OOM killer or a NULL pointer.       */

typedef struct mem_ledger {
    size_t promised;            /* bytes of data set up but not allocated yet */
    size_t big;                 /* bytes of the biggest top so far */
    const cf_blob *big_blob;
    cf_layer *big_layer;        /* its producer */
} mem_ledger;

static size_t unheld_bytes(const cf_mem *m, size_t count)
{
    size_t held = m->host ? m->cap : 0;
    return count > held ? (count - held) * sizeof(float) : 0;
}

/* Does b's data (diff when `diff`) share memory with one of the first n blobs of v? */
static bool mem_seen(const cf_blob *b, cf_blob *const *v, int n, bool diff)
{
    for (int i = 0; i < n; i++)
        if (diff ? v[i]->diff == b->diff : v[i]->data == b->data) return true;
    return false;
}

static int refuse(cf_layer *at, const char *what, size_t need, const mem_ledger *m, cf_error *err)
{
    char a[32], b[32], c[32], sh[128];
    size_t used = cf_mem_in_use(), lim = cf_mem_limit();
    return cf_layer_error(at, NULL, err,
                          "the net's %s need %s, more than the %s of memory available (%s); "
                          "the biggest is top '%s' of layer '%s' (%s, %s)",
                          what, cf_mem_str(need, a, sizeof a), cf_mem_str(used < lim ? lim - used : 0, b, sizeof b),
                          cf_mem_limit_source(), m->big_blob->name ? m->big_blob->name : "", m->big_layer->name,
                          cf_blob_shape_str(m->big_blob, sh, sizeof sh), cf_mem_str(m->big, c, sizeof c));
}

/* After a layer's setup: add its tops' data to what the net will need. */
static int promise_tops(const cf_net_layer *nl, mem_ledger *m, cf_error *err)
{
    for (int t = 0; t < nl->nt; t++) {
        const cf_blob *b = nl->top[t];
        if (mem_seen(b, nl->bottom, nl->nb, false) || mem_seen(b, nl->top, t, false)) continue;
        m->promised += unheld_bytes(b->data, b->count);
        if (!m->big_blob || b->count * sizeof(float) > m->big)
            m->big = b->count * sizeof(float), m->big_blob = b, m->big_layer = nl->layer;
    }
    size_t used = cf_mem_in_use(), lim = cf_mem_limit();
    if (used <= lim && m->promised <= lim - used) return 0;
    return refuse(nl->layer, "blobs up to this layer", m->promised, m, err);
}

/* Once backward is decided (training nets): the diffs that backward and
 * the loss will write (those ensure_memory allocates), memory shared by
 * several blobs counted once. */
static size_t add_diff(cf_blob *b, cf_blob **seen, int *nseen)
{
    if (mem_seen(b, seen, *nseen, true)) return 0;
    seen[(*nseen)++] = b;
    return unheld_bytes(b->diff, b->count);
}

static int promise_diffs(cf_net *net, mem_ledger *m, cf_error *err)
{
    if (net->phase != CF_TRAIN || !m->big_blob) return 0;
    size_t diffs = 0, room = 1 + (size_t)net->nparams;
    for (int li = 0; li < net->nlayers; li++)
        room += (size_t)(net->layers[li].nt + net->layers[li].nb + net->layers[li].layer->nparam);
    cf_blob **seen = xrealloc(NULL, room * sizeof *seen);
    int nseen = 0;
    for (int li = 0; li < net->nlayers; li++) {
        cf_net_layer *nl = &net->layers[li];
        for (int t = 0; t < nl->nt; t++)
            if (nl->need_backward || nl->loss_weight[t] != 0) diffs += add_diff(nl->top[t], seen, &nseen);
        if (!nl->need_backward) continue;
        for (int b = 0; b < nl->nb; b++)
            if (nl->prop_down[b]) diffs += add_diff(nl->bottom[b], seen, &nseen);
        for (int p = 0; p < nl->layer->nparam; p++)
            if (nl->layer->param_grad[p]) diffs += add_diff(nl->layer->param[p], seen, &nseen);
    }
    /* the solver reads (and cf_net_clear_param_diffs zeroes) every owned
     * param's diff, written by a backward or not */
    for (int i = 0; i < net->nparams; i++)
        if (net->params[i].owner == i) diffs += add_diff(net->params[i].blob, seen, &nseen);
    free(seen);
    size_t used = cf_mem_in_use(), lim = cf_mem_limit(), need = m->promised + diffs;
    if (need >= diffs && used <= lim && need <= lim - used) return 0;
    return refuse(m->big_layer, "blobs and their gradients", need, m, err);
}

/* Before a layer's forward: its tops, and in training the diffs its
 * backward and the loss will write, are allocated here, where a refusal
 * can be reported with the layer's name; the layer then finds them. */
static int alloc_failed(cf_layer *l, const char *kind, const cf_blob *b, cf_error *err)
{
    char what[256], sh[128], a[32];
    snprintf(what, sizeof what, "%s '%s' (%s)", kind, b->name ? b->name : "", cf_blob_shape_str(b, sh, sizeof sh));
    cf_error e;
    if (cf_mem_check(b->count * sizeof(float), what, &e) == 0)
        snprintf(e.msg, sizeof e.msg, "%s: out of memory (the system refused %s)", what,
                 cf_mem_str(b->count * sizeof(float), a, sizeof a));
    cf_layer_error(l, NULL, err, "%s", e.msg);
    if (err) err->code = CF_ERUNTIME;
    return -1;
}

/* cf_mem_hold, not cf_blob_data: reserving must not copy a newer side
 * (a device, or oneDNN's blocked layout) back to the host each time. */
static int ensure_memory(const cf_net *net, const cf_net_layer *nl, cf_error *err)
{
    cf_layer *l = nl->layer;
    for (int t = 0; t < nl->nt; t++)
        if (!cf_mem_hold(nl->top[t]->data, nl->top[t]->count)) return alloc_failed(l, "top", nl->top[t], err);
    if (net->phase != CF_TRAIN) return 0;
    for (int t = 0; t < nl->nt; t++)
        if ((nl->need_backward || nl->loss_weight[t] != 0) && !cf_mem_hold(nl->top[t]->diff, nl->top[t]->count))
            return alloc_failed(l, "gradient of top", nl->top[t], err);
    if (!nl->need_backward) return 0;
    for (int b = 0; b < nl->nb; b++)
        if (nl->prop_down[b] && !cf_mem_hold(nl->bottom[b]->diff, nl->bottom[b]->count)) return alloc_failed(l, "gradient of bottom", nl->bottom[b], err);
    for (int p = 0; p < l->nparam; p++)
        if (l->param_grad[p] && !cf_mem_hold(l->param[p]->diff, l->param[p]->count)) return alloc_failed(l, "gradient of param", l->param[p], err);
    return 0;
}

static void report_tops(const cf_net_opts *o, const cf_net_layer *nl)
{
    char buf[256];
    for (int t = 0; t < nl->nt; t++)
        logf_(o, "%s -> %s  Top shape: %s", nl->layer->name, nl->top[t]->name, cf_blob_shape_str(nl->top[t], buf, sizeof buf));
}

/* Input blobs declared at net level: input: [names], input_shape {dim},
 * or input_dim (4 per input, legacy). */
static int net_inputs(cf_net *net, cf_node *conf, plan *p, cf_error *err)
{
    size_t ni = cf_node_count(conf, "input");
    size_t ns = cf_node_count(conf, "input_shape"), nd = cf_node_count(conf, "input_dim");
    if (ni == 0) {
        if (ns || nd)
            return cf_node_error(cf_node_get(conf, ns ? "input_shape" : "input_dim"), err, CF_EINPUT,
                                 "input shapes are given but no 'input' names");
        return 0;
    }
    if (ns && ns != ni)
        return cf_node_error(cf_node_get(conf, "input_shape"), err, CF_EINPUT,
                             "%zu input names but %zu input_shape entries", ni, ns);
    if (!ns && nd != 4 * ni)
        return cf_node_error(cf_node_get(conf, "input"), err, CF_EINPUT,
                             "each input needs a shape: input_shape { dim: ... } or 4 input_dim values");
    for (size_t i = 0; i < ni; i++) {
        const char *name;
        if (cf_get_string_at(conf, "input", i, &name, err)) return -1;
        int shape[CF_MAX_AXES], naxes = 0;
        if (ns) {
            if (cf_node_shape(cf_node_at(conf, "input_shape", i), "input_shape", CF_MAX_AXES, &naxes, shape, err)) return -1;
        } else {
            for (size_t k = 0; k < 4; k++) {
                long d;
                if (cf_get_int_at(conf, "input_dim", 4 * i + k, &d, err)) return -1;
                if (d < 0 || d > 2147483647L)
                    return cf_node_error(cf_node_at(conf, "input_dim", 4 * i + k), err, CF_EINPUT, "bad dim %ld", d);
                shape[naxes++] = (int)d;
            }
        }
        add_version(p, name, p->nblob++, -1);
        cf_blob *b = new_blob(net, name);
        if (cf_blob_reshape(b, naxes, shape, err)) return -1;
    }
    return 0;
}

static int setup_params(cf_net *net, int li, cf_node *lc, cf_error *err)
{
    cf_layer *l = net->layers[li].layer;
    size_t nspec = cf_node_count(lc, "param");
    if ((int)nspec > l->nparam && l->nparam >= 0 && nspec > 0 && l->nparam == 0)
        return cf_layer_error(l, cf_node_at(lc, "param", 0), err, "%zu param specs given but %s has no parameters",
                              nspec, l->ops->type);
    if ((int)nspec > l->nparam)
        return cf_layer_error(l, cf_node_at(lc, "param", (size_t)l->nparam), err,
                              "%zu param specs given but %s has %d parameter blobs", nspec, l->ops->type, l->nparam);
    for (int i = 0; i < l->nparam; i++) {
        double lr = l->param_fixed[i] ? 0 : 1, decay = 1;
        const char *pname = NULL;
        cf_node *spec = i < (int)nspec ? cf_node_at(lc, "param", (size_t)i) : NULL;
        if (spec) {
            if (spec->kind != CF_NODE_MAP)
                return cf_layer_error(l, spec, err, "field 'param': expected a map like {lr_mult: 1}");
            if (cf_get_float(spec, "lr_mult", lr, &lr, err) || cf_get_float(spec, "decay_mult", 1, &decay, err) ||
                cf_get_string(spec, "name", NULL, &pname, err))
                return cf_error_ctx(err, "layer '%s'", l->name);
            if (l->param_fixed[i] && lr != 0)
                return cf_layer_error(l, cf_node_get(spec, "lr_mult"), err,
                                      "param %d of %s holds statistics, not weights: its lr_mult must be 0", i,
                                      l->ops->type);
            static const char *const modes[] = {"STRICT", "PERMISSIVE", NULL};
            int mode;
            if (cf_get_enum(spec, "share_mode", modes, 0, &mode, err)) return cf_error_ctx(err, "layer '%s'", l->name);
            if (pname && !pname[0]) pname = NULL;
            if (pname) {
                /* shared: find the owner */
                for (int k = 0; k < net->nparams; k++) {
                    cf_net_param *o = &net->params[k];
                    if (!o->name || strcmp(o->name, pname) || o->owner != k) continue;
                    bool ok = mode == 1 ? o->blob->count == l->param[i]->count
                                        : cf_blob_same_shape(o->blob, l->param[i]);
                    if (!ok) {
                        char a[128], b[128];
                        return cf_layer_error(l, spec, err, "shared param '%s' has shape %s here but %s in layer '%s'",
                                              pname, cf_blob_shape_str(l->param[i], a, sizeof a),
                                              cf_blob_shape_str(o->blob, b, sizeof b),
                                              net->layers[o->layer].layer->name);
                    }
                    cf_blob_share_data(l->param[i], o->blob);
                    cf_blob_share_diff(l->param[i], o->blob);
                    l->param_grad[i] = o->lr_mult != 0; /* before the realloc below moves *o */
                    net->params = xrealloc(net->params, (size_t)(net->nparams + 1) * sizeof *net->params);
                    net->params[net->nparams] = (cf_net_param){l->param[i], li, i, k, (float)lr, (float)decay,
                                                               xstrdup(pname)};
                    net->nparams++;
                    goto next;
                }
            }
        }
        net->params = xrealloc(net->params, (size_t)(net->nparams + 1) * sizeof *net->params);
        net->params[net->nparams] = (cf_net_param){l->param[i], li, i, net->nparams, (float)lr, (float)decay,
                                                   pname ? xstrdup(pname) : NULL};
        net->nparams++;
        l->param_grad[i] = lr != 0;
    next:;
    }
    return 0;
}

static int read_loss_weights(cf_net_layer *nl, cf_node *lc, cf_error *err)
{
    cf_layer *l = nl->layer;
    size_t nw = cf_node_count(lc, "loss_weight");
    if (nw && (int)nw != nl->nt)
        return cf_layer_error(l, cf_node_get(lc, "loss_weight"), err,
                              "%zu loss_weight values for %d tops (give one per top)", nw, nl->nt);
    for (int t = 0; t < nl->nt; t++) {
        double w = (t == 0 && l->ops->is_loss) ? 1.0 : 0.0;
        if (nw && cf_get_float_at(lc, "loss_weight", (size_t)t, &w, err)) return cf_error_ctx(err, "layer '%s'", l->name);
        nl->loss_weight[t] = (float)w;
    }
    return 0;
}

/* Backward needs: Caffe's rules, plus pruning of layers that do not lead
 * to any loss. */
static int decide_backward(cf_net *net, cf_node **confs, bool force_backward, cf_error *err)
{
    bool *blob_needs = calloc((size_t)net->nblobs + 1, sizeof(bool));
    for (int li = 0; li < net->nlayers; li++) {
        cf_net_layer *nl = &net->layers[li];
        cf_layer *l = nl->layer;
        bool need = false;
        for (int i = 0; i < l->nparam; i++)
            if (l->param_grad[i]) need = true;
        size_t npd = confs[li] ? cf_node_count(confs[li], "propagate_down") : 0;
        if (npd && (int)npd != nl->nb) {
            free(blob_needs);
            return cf_layer_error(l, cf_node_get(confs[li], "propagate_down"), err,
                                  "%zu propagate_down values for %d bottoms", npd, nl->nb);
        }
        for (int b = 0; b < nl->nb; b++) {
            bool pd = true;
            if (npd && cf_node_bool(cf_node_at(confs[li], "propagate_down", (size_t)b), &pd, err)) {
                free(blob_needs);
                return cf_error_ctx(err, "layer '%s'", l->name);
            }
            nl->prop_down[b] = pd && (blob_needs[nl->bottom_id[b]] || force_backward) && l->ops->backward;
            if (nl->prop_down[b]) need = true;
        }
        if (!l->ops->backward) need = false;
        nl->need_backward = need;
        for (int t = 0; t < nl->nt; t++)
            if (need) blob_needs[nl->top_id[t]] = true;
    }
    /* prune: walk back from the losses */
    bool *contributes = calloc((size_t)net->nblobs + 1, sizeof(bool));
    for (int li = net->nlayers; li-- > 0;) {
        cf_net_layer *nl = &net->layers[li];
        bool leads = false;
        for (int t = 0; t < nl->nt; t++)
            if (nl->loss_weight[t] != 0 || contributes[nl->top_id[t]]) leads = true;
        if (!leads && !force_backward) {
            nl->need_backward = false;
            for (int b = 0; b < nl->nb; b++) nl->prop_down[b] = false;
        }
        for (int b = 0; b < nl->nb; b++)
            if (nl->prop_down[b]) contributes[nl->bottom_id[b]] = true;
        /* an in-place top keeps its bottom contributing */
    }
    free(contributes);
    free(blob_needs);
    return 0;
}

static cf_node *make_node(cf_net *net, cf_node *at, const char *name, const char *type);

/* Mocha's per-layer neuron: `neuron: ReLU` (or a map {type: ReLU,
 * relu_param: ...}) on a layer with one top means an in-place activation
 * layer right after it, named "<layer>_neuron".  Mocha's names are
 * accepted too (Tanh, Exponential, LReLU = ReLU with slope 0.01,
 * Identity = nothing). */
static int add_neuron(cf_net *net, plan *p, int li, cf_error *err)
{
    plan_layer *L = &p->L[li];
    cf_node *nn = cf_node_get(L->conf, "neuron");
    if (!nn) return 0;
    const char *type = NULL;
    if (nn->kind == CF_NODE_SCALAR) type = nn->value;
    else if (nn->kind == CF_NODE_MAP) {
        if (cf_get_string(nn, "type", NULL, &type, err)) return cf_error_ctx(err, "layer '%s'", L->name);
        if (!type) return cf_node_error(nn, err, CF_EINPUT, "neuron: 'type' is missing"), cf_error_ctx(err, "layer '%s'", L->name);
    } else {
        return cf_node_error(nn, err, CF_EINPUT, "neuron: expected a layer type or a map"), cf_error_ctx(err, "layer '%s'", L->name);
    }
    if (L->nt != 1)
        return cf_node_error(nn, err, CF_EINPUT, "neuron: the layer must have exactly one top (it has %d)", L->nt),
               cf_error_ctx(err, "layer '%s'", L->name);
    static const char *const mocha[][2] = {{"tanh", "TanH"}, {"exponential", "Exp"}, {"lrelu", "ReLU"}, {"leakyrelu", "ReLU"}};
    const char *real = NULL;
    bool leaky = false;
    if (!strcasecmp(type, "identity")) {
        cf_node_mark_used(nn);
        return 0;
    }
    for (size_t k = 0; k < sizeof mocha / sizeof *mocha; k++)
        if (!strcasecmp(type, mocha[k][0])) real = mocha[k][1], leaky = !strcasecmp(real, "ReLU");
    const char *const *names = cf_layer_types();
    for (int k = 0; !real && names[k]; k++)
        if (!strcasecmp(type, names[k])) real = names[k];
    if (!real || !cf_layer_find(real)->inplace_ok)
        return cf_node_error(nn, err, CF_EINPUT, "neuron: '%s' is not an in-place activation layer", type),
               cf_error_ctx(err, "layer '%s'", L->name);
    char name[512];
    snprintf(name, sizeof name, "%s_neuron", L->name);
    cf_node *c = make_node(net, nn, name, real);
    cf_node_add(c, "bottom", cf_node_scalar(L->tnames[0], true, nn->file, nn->line, nn->col));
    cf_node_add(c, "top", cf_node_scalar(L->tnames[0], true, nn->file, nn->line, nn->col));
    if (nn->kind == CF_NODE_MAP)
        for (size_t k = 0; k < nn->nchild; k++)
            if (nn->child[k]->key && strcmp(nn->child[k]->key, "type")) cf_node_add(c, nn->child[k]->key, cf_node_clone(nn->child[k]));
    if (leaky && !cf_node_has(c, "relu_param")) {
        cf_node *rp = cf_node_new(CF_NODE_MAP, nn->file, nn->line, nn->col);
        cf_node_add(rp, "negative_slope", cf_node_scalar("0.01", false, nn->file, nn->line, nn->col));
        cf_node_add(c, "relu_param", rp);
    }
    cf_node_mark_used(nn);
    plan_layer *N = &p->L[p->n++];
    memset(N, 0, sizeof *N);
    N->conf = c;
    N->name = net->made[net->nmade - 1]->child[0]->value;
    cf_error e2;
    if (read_names(c, "bottom", &N->bnames, &N->bnodes, &N->nb, &e2) || read_names(c, "top", &N->tnames, &N->tnodes, &N->nt, &e2))
        return -1;
    N->bver = xrealloc(NULL, sizeof(int));
    N->tver = xrealloc(NULL, sizeof(int));
    return 0;
}

cf_net *cf_net_build(cf_node *conf, const cf_net_opts *o, cf_error *err)
{
    if (!conf || conf->kind != CF_NODE_MAP) {
        cf_node_error(conf, err, CF_EINPUT, "a net must be a map with a 'layer' list");
        return NULL;
    }
    cf_net *net = calloc(1, sizeof *net);
    if (!net) abort();
    net->phase = o->phase;
    net->be = o->be;
    plan p = {0};
    mem_ledger mem = {0};
    cf_node **confs = NULL;
    const char *nm;
    bool force_backward = false;
    if (cf_get_string(conf, "name", "", &nm, err) || cf_get_bool(conf, "force_backward", false, &force_backward, err))
        goto fail;
    net->name = xstrdup(nm);
    cf_node_get(conf, "state"); /* the state comes from the caller */
    cf_node_get(conf, "debug_info");
    if (cf_node_count(conf, "layers") && !cf_node_count(conf, "layer")) {
        cf_node_error(cf_node_get(conf, "layers"), err, CF_EINPUT,
                      "this net uses Caffe's old V1 'layers' syntax; load it through a recipe so it is upgraded");
        goto fail;
    }
    if (net_inputs(net, conf, &p, err)) goto fail;

    /* 1. plan: filter by phase, read names */
    size_t nl = cf_node_count(conf, "layer");
    p.L = xrealloc(NULL, (2 * nl + 1) * sizeof *p.L); /* room for a neuron after each */
    for (size_t i = 0; i < nl; i++) {
        cf_node *lc = cf_node_at(conf, "layer", i);
        if (!lc || lc->kind != CF_NODE_MAP) {
            cf_node_error(lc, err, CF_EINPUT, "each entry of 'layer' must be a map of fields");
            goto fail;
        }
        bool inc = false;
        if (layer_included(lc, o, &inc, err)) goto fail;
        lc->unchecked = !inc; /* another phase's layer: checked by the phase that builds it */
        if (!inc) continue;
        plan_layer *L = &p.L[p.n];
        memset(L, 0, sizeof *L);
        L->conf = lc;
        if (cf_get_string(lc, "name", "", &L->name, err)) goto fail;
        p.n++;
        if (read_names(lc, "bottom", &L->bnames, &L->bnodes, &L->nb, err) ||
            read_names(lc, "top", &L->tnames, &L->tnodes, &L->nt, err)) {
            cf_error_ctx(err, "layer '%s'", L->name);
            goto fail;
        }
        L->bver = xrealloc(NULL, (size_t)L->nb * sizeof(int));
        L->tver = xrealloc(NULL, (size_t)L->nt * sizeof(int));
        if (add_neuron(net, &p, p.n - 1, err)) goto fail;
    }
    if (schedule(&p, err)) goto fail;

    /* 2. blobs: one per blob id of the plan (inputs already made) */
    for (int v = 0; v < p.nv; v++)
        if (p.V[v].producer >= 0 && p.V[v].blob >= net->nblobs) new_blob(net, p.V[v].name);

    /* Split bookkeeping: for versions read more than once, consumers take
     * split tops in scheduling order. */
    int *split_next = calloc((size_t)p.nv + 1, sizeof(int));
    int *split_first_blob = calloc((size_t)p.nv + 1, sizeof(int));
    int *ver_blob = calloc((size_t)p.nv + 1, sizeof(int)); /* blob holding each version */
    for (int v = 0; v < p.nv; v++) ver_blob[v] = p.V[v].blob;
    confs = calloc((size_t)(p.n * 2 + p.nv + 1), sizeof *confs);

    /* A split for a net input goes first. */
    for (int pass = -1; pass < p.norder; pass++) {
        if (pass >= 0) {
            int pi = p.order[pass];
            plan_layer *L = &p.L[pi];
            cf_layer *l = cf_layer_create(L->conf, o->phase, o->be, o->rng, err);
            if (!l) goto fail_split;
            cf_net_layer *nlr = append_layer(net, l, L->nb, L->nt);
            confs[net->nlayers - 1] = L->conf;
            for (int b = 0; b < L->nb; b++) {
                int v = L->bver[b];
                int id = ver_blob[v];
                if (p.V[v].consumers > 1) id = split_first_blob[v] + split_next[v]++;
                nlr->bottom_id[b] = id;
                nlr->bottom[b] = net->blobs[id];
            }
            for (int t = 0; t < L->nt; t++) {
                int v = L->tver[t];
                int id = p.V[v].blob;
                /* in-place on a split bottom: write into that split top */
                for (int b = 0; b < L->nb; b++)
                    if (!strcmp(L->bnames[b], L->tnames[t])) id = nlr->bottom_id[b];
                nlr->top_id[t] = id;
                nlr->top[t] = net->blobs[id];
                ver_blob[v] = id;
            }
            if (cf_layer_setup(l, nlr->bottom, nlr->nb, nlr->top, nlr->nt, err)) {
                /* a misspelt field ("did you mean ...") is the likelier cause
                 * of a missing one; a field merely not reached yet is not */
                cf_error unknown;
                if (cf_node_check_unused(L->conf, &unknown) && err && strstr(unknown.msg, "did you mean")) {
                    *err = unknown;
                    cf_error_ctx(err, "layer '%s'", l->name);
                }
                goto fail_split;
            }
            if (setup_params(net, net->nlayers - 1, L->conf, err)) goto fail_split;
            if (read_loss_weights(nlr, L->conf, err)) goto fail_split;
            /* read later (propagate_down) or deliberately unused (phase) */
            for (size_t k = 0; k < cf_node_count(L->conf, "propagate_down"); k++) cf_node_at(L->conf, "propagate_down", k);
            cf_node_get(L->conf, "phase");
            if (cf_node_check_unused(L->conf, err)) {
                cf_error_ctx(err, "layer '%s'", l->name);
                goto fail_split;
            }
            report_tops(o, nlr);
            if (promise_tops(nlr, &mem, err)) goto fail_split;
        }
        /* splits for the versions this step produced */
        for (int v = 0; v < p.nv; v++) {
            bool made_now = pass >= 0 ? p.V[v].producer == p.order[pass] : p.V[v].producer < 0;
            if (!made_now || p.V[v].consumers < 2) continue;
            int k = p.V[v].consumers;
            char lname[512];
            const char *prod = p.V[v].producer >= 0 ? p.L[p.V[v].producer].name : "input";
            snprintf(lname, sizeof lname, "%s_%s_split", p.V[v].name, prod);
            cf_node *sc = make_node(net, p.V[v].producer >= 0 ? p.L[p.V[v].producer].conf : conf, lname, "Split");
            cf_layer *l = cf_layer_create(sc, o->phase, o->be, o->rng, err);
            if (!l) goto fail_split;
            cf_net_layer *nlr = append_layer(net, l, 1, k);
            confs[net->nlayers - 1] = NULL;
            nlr->bottom_id[0] = ver_blob[v];
            nlr->bottom[0] = net->blobs[ver_blob[v]];
            split_first_blob[v] = net->nblobs;
            for (int t = 0; t < k; t++) {
                char bn[600];
                snprintf(bn, sizeof bn, "%s_split_%d", p.V[v].name, t);
                cf_blob *b = new_blob(net, bn);
                nlr->top_id[t] = net->nblobs - 1;
                nlr->top[t] = b;
            }
            if (cf_layer_setup(l, nlr->bottom, 1, nlr->top, k, err)) goto fail_split;
            if (promise_tops(nlr, &mem, err)) goto fail_split;
        }
    }
    free(split_next);
    free(split_first_blob);
    free(ver_blob);

    /* Names may repeat (Caffe's autoencoder has two 'loss' layers), but
     * weights are matched by layer name in snapshots and caffemodels. */
    for (int a = 0; a < net->nlayers; a++)
        for (int b = a + 1; b < net->nlayers; b++)
            if (net->layers[a].layer->nparam && net->layers[b].layer->nparam &&
                !strcmp(net->layers[a].layer->name, net->layers[b].layer->name)) {
                cf_node *c = net->layers[b].layer->conf;
                cf_node_error(cf_node_get(c, "name") ? cf_node_get(c, "name") : c, err, CF_EINPUT,
                              "two layers with weights are named '%s' (weights are matched by layer name)",
                              net->layers[b].layer->name);
                goto fail;
            }

    /* 3. backward needs and outputs */
    if (decide_backward(net, confs, force_backward, err) || promise_diffs(net, &mem, err)) goto fail;
    /* outputs: blobs that no later layer reads (an in-place chain counts once) */
    for (int li = 0; li < net->nlayers; li++)
        for (int t = 0; t < net->layers[li].nt; t++) {
            int id = net->layers[li].top_id[t];
            bool later = false, dup = false;
            for (int lj = li + 1; lj < net->nlayers; lj++)
                for (int b = 0; b < net->layers[lj].nb; b++)
                    if (net->layers[lj].bottom_id[b] == id) later = true;
            for (int k = 0; k < net->noutputs; k++)
                if (net->outputs[k] == id) dup = true;
            if (!later && !dup) {
                net->outputs = xrealloc(net->outputs, (size_t)(net->noutputs + 1) * sizeof(int));
                net->outputs[net->noutputs++] = id;
            }
        }
    if (cf_node_check_unused(conf, err)) goto fail;
    free(confs);
    plan_free(&p);
    return net;

fail_split:
    free(split_next);
    free(split_first_blob);
    free(ver_blob);
fail:
    free(confs);
    plan_free(&p);
    cf_net_free(net);
    return NULL;
}

void cf_net_free(cf_net *net)
{
    if (!net) return;
    for (int i = 0; i < net->nlayers; i++) {
        cf_net_layer *nl = &net->layers[i];
        cf_layer_free(nl->layer);
        free(nl->bottom);
        free(nl->top);
        free(nl->bottom_id);
        free(nl->top_id);
        free(nl->prop_down);
        free(nl->loss_weight);
    }
    free(net->layers);
    for (int i = 0; i < net->nblobs; i++) cf_blob_free(net->blobs[i]);
    free(net->blobs);
    for (int i = 0; i < net->nparams; i++) free(net->params[i].name);
    free(net->params);
    for (int i = 0; i < net->nmade; i++) cf_node_free(net->made[i]);
    free(net->made);
    free(net->outputs);
    free(net->name);
    free(net);
}

/* ------------------------------------------------------------------ */
/* running                                                              */

static int forward_layer(cf_net *net, int li, float *loss, cf_error *err)
{
    cf_net_layer *nl = &net->layers[li];
    cf_layer *l = nl->layer;
    if (l->ops->reshape && l->ops->reshape(l, nl->bottom, nl->nb, nl->top, nl->nt, err))
        return cf_error_ctx(err, "layer '%s'", l->name);
    if (ensure_memory(net, nl, err)) return -1;
    if (l->ops->forward(l, nl->bottom, nl->nb, nl->top, nl->nt, err)) return cf_error_ctx(err, "layer '%s'", l->name);
    for (int t = 0; t < nl->nt; t++) {
        if (nl->loss_weight[t] == 0) continue;
        const float *d = cf_blob_data(nl->top[t]);
        double s = 0;
        for (size_t i = 0; i < nl->top[t]->count; i++) s += d[i];
        *loss += nl->loss_weight[t] * (float)s;
    }
    return 0;
}

int cf_net_forward(cf_net *net, float *loss, cf_error *err)
{
    float l = 0;
    for (int li = 0; li < net->nlayers; li++)
        if (forward_layer(net, li, &l, err)) return -1;
    if (loss) *loss = l;
    return 0;
}

int cf_net_outputs(const cf_net *net, cf_net_output *out, int max)
{
    int no = 0;
    for (int o = 0; o < net->noutputs && no < max; o++) {
        int id = net->outputs[o];
        const cf_blob *b = net->blobs[id];
        float w = 0; /* the loss weight of the layer that wrote it last */
        for (int li = 0; li < net->nlayers; li++)
            for (int t = 0; t < net->layers[li].nt; t++)
                if (net->layers[li].top_id[t] == id && net->layers[li].loss_weight[t] != 0) w = net->layers[li].loss_weight[t];
        const float *d = cf_blob_data(b);
        for (size_t e = 0; e < b->count && no < max; e++, no++) {
            if (b->count == 1) snprintf(out[no].name, sizeof out[no].name, "%s", b->name);
            else snprintf(out[no].name, sizeof out[no].name, "%s[%zu]", b->name, e);
            out[no].value = d[e];
            out[no].weight = w;
        }
    }
    return no;
}

int cf_net_forward_to(cf_net *net, int end, cf_error *err)
{
    float l = 0;
    for (int li = 0; li <= end && li < net->nlayers; li++)
        if (forward_layer(net, li, &l, err)) return -1;
    return 0;
}

void cf_net_backward(cf_net *net)
{
    for (int li = 0; li < net->nlayers; li++) {
        cf_net_layer *nl = &net->layers[li];
        for (int t = 0; t < nl->nt; t++)
            if (nl->loss_weight[t] != 0)
                cf_set(net->be, nl->top[t]->count, nl->loss_weight[t], cf_blob_mdiff(nl->top[t]));
    }
    for (int li = net->nlayers; li-- > 0;) {
        cf_net_layer *nl = &net->layers[li];
        if (nl->need_backward) nl->layer->ops->backward(nl->layer, nl->top, nl->nt, nl->prop_down, nl->bottom, nl->nb);
        if (net->after_backward) net->after_backward(net->after_backward_ctx, li);
    }
}

/* With a GPU backend a gradient whose newest copy is on the device (the
 * last update ran there) is cleared there, instead of being copied to the
 * host to be cleared and back again by the next GPU backward pass. */
int cf_net_clear_param_diffs(cf_net *net, cf_error *err)
{
    for (int i = 0; i < net->nparams; i++) {
        if (net->params[i].owner != i) continue;
        cf_blob *b = net->params[i].blob;
        cf_mem_head head = b->diff->head;
        float *d = cf_backend_is_gpu(net->be) && (head == CF_MEM_DEVICE || head == CF_MEM_SYNCED)
                       ? cf_blob_gpu_mdiff(net->be, b) : NULL;
        if (d) {
            cf_set(cf_backend_gpu(net->be), b->count, 0, d);
            continue;
        }
        /* a param no backward writes (frozen, or off the loss path) gets
         * its diff here, where a refusal is an error, not a NULL */
        float *h = cf_blob_mdiff(b);
        if (!h) return err ? alloc_failed(net->layers[net->params[i].layer].layer, "gradient of param", b, err) : -1;
        cf_set(net->be, b->count, 0, h);
    }
    return 0;
}

int cf_net_blob_id(const cf_net *net, const char *name)
{
    /* the last writer of the name wins (in-place chains share one blob) */
    for (int li = net->nlayers; li-- > 0;) {
        const cf_net_layer *nl = &net->layers[li];
        for (int t = 0; t < nl->nt; t++)
            if (nl->top[t]->name && !strcmp(nl->top[t]->name, name)) return nl->top_id[t];
    }
    for (int i = 0; i < net->nblobs; i++)
        if (net->blobs[i]->name && !strcmp(net->blobs[i]->name, name)) return i;
    return -1;
}

cf_blob *cf_net_blob(const cf_net *net, const char *name)
{
    int id = cf_net_blob_id(net, name);
    return id < 0 ? NULL : net->blobs[id];
}

int cf_net_layer_id(const cf_net *net, const char *name)
{
    for (int i = 0; i < net->nlayers; i++)
        if (!strcmp(net->layers[i].layer->name, name)) return i;
    return -1;
}

int cf_net_share_trained(cf_net *net, const cf_net *from, cf_error *err)
{
    for (int li = 0; li < net->nlayers; li++) {
        cf_layer *l = net->layers[li].layer;
        if (!l->nparam) continue;
        int fi = cf_net_layer_id(from, l->name);
        if (fi < 0) continue; /* a test-only layer keeps its own params */
        cf_layer *f = from->layers[fi].layer;
        if (f->nparam != l->nparam)
            return cf_layer_error(l, NULL, err, "has %d param blobs in this net but %d in the training net", l->nparam,
                                  f->nparam);
        for (int i = 0; i < l->nparam; i++) {
            if (!cf_blob_same_shape(l->param[i], f->param[i])) {
                char a[128], b[128];
                return cf_layer_error(l, NULL, err, "param %d has shape %s here but %s in the training net", i,
                                      cf_blob_shape_str(l->param[i], a, sizeof a),
                                      cf_blob_shape_str(f->param[i], b, sizeof b));
            }
            cf_blob_share_data(l->param[i], f->param[i]);
        }
    }
    return 0;
}

size_t cf_net_bytes(const cf_net *net, size_t *param_bytes, size_t *blob_bytes)
{
    size_t pb = 0, bb = 0;
    for (int i = 0; i < net->nparams; i++)
        if (net->params[i].owner == i) pb += cf_blob_bytes(net->params[i].blob);
    for (int i = 0; i < net->nblobs; i++) bb += cf_blob_bytes(net->blobs[i]);
    if (param_bytes) *param_bytes = pb;
    if (blob_bytes) *blob_bytes = bb;
    return pb + bb;
}
