/* gradcheck.c — see gradcheck.h. */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    cf_layer *l;
    cf_blob **bottom, **top;
    int nb, nt;
    float **saved;       /* bottom data as the caller gave it (plus perturbation) */
    float **w;           /* projection weights per top */
    cf_rng rng0;         /* layer RNG state to rewind to */
} gc_state;

static int objective(gc_state *s, double *E, cf_error *err)
{
    for (int i = 0; i < s->nb; i++) memcpy(cf_blob_mdata(s->bottom[i]), s->saved[i], s->bottom[i]->count * sizeof(float));
    if (s->l->rng) *s->l->rng = s->rng0;
    if (s->l->ops->reshape && s->l->ops->reshape(s->l, s->bottom, s->nb, s->top, s->nt, err)) return -1;
    if (s->l->ops->forward(s->l, s->bottom, s->nb, s->top, s->nt, err)) return -1;
    double e = 0;
    for (int t = 0; t < s->nt; t++) {
        if (!s->w[t]) continue; /* first call: tops not shaped yet, no weights */
        const float *d = cf_blob_data(s->top[t]);
        for (size_t i = 0; i < s->top[t]->count; i++) e += (double)s->w[t][i] * d[i];
    }
    *E = e;
    return 0;
}

static void note(cf_gradcheck_result *r, const char *kind, int idx, size_t i, double a, double n)
{
    double err = fabs(a - n) / fmax(fmax(fabs(a), fabs(n)), 1.0);
    r->checked++;
    if (err > r->worst || r->checked == 1) {
        r->worst = err;
        r->analytic = a;
        r->numeric = n;
        snprintf(r->where, sizeof r->where, "%s %d [%zu]", kind, idx, i);
    }
}

/* Central difference of E w.r.t. *x, restoring x after.  With kinks
 * detection, *kink tells whether the one-sided slopes disagree. */
static int numeric(gc_state *s, float *x, double h, const cf_gradcheck_opts *o, double *out, bool *kink,
                   cf_error *err)
{
    float orig = *x;
    double ep, em, e0 = 0;
    *x = (float)(orig + h);
    if (objective(s, &ep, err)) return -1;
    *x = (float)(orig - h);
    if (objective(s, &em, err)) return -1;
    *x = orig;
    *out = (ep - em) / (2 * h);
    *kink = false;
    if (o->skip_kinks) {
        if (objective(s, &e0, err)) return -1;
        double fwd = (ep - e0) / h, bwd = (e0 - em) / h;
        double tol = o->kink_tol > 0 ? o->kink_tol : 1e-2;
        *kink = fabs(fwd - bwd) > tol * fmax(fmax(fabs(fwd), fabs(bwd)), 1.0);
    }
    return 0;
}

int cf_gradcheck_layer(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, const bool *check_bottom,
                       double step, cf_gradcheck_result *res, cf_error *err)
{
    cf_gradcheck_opts o = {.step = step};
    return cf_gradcheck_layer_opts(l, bottom, nb, top, nt, check_bottom, &o, res, err);
}

/* Stride that visits at most max elements of n. */
static size_t stride_for(size_t n, long max)
{
    if (max <= 0 || n <= (size_t)max) return 1;
    return (n + (size_t)max - 1) / (size_t)max;
}

int cf_gradcheck_layer_opts(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, const bool *check_bottom,
                            const cf_gradcheck_opts *o, cf_gradcheck_result *res, cf_error *err)
{
    double step = o->step;
    long max_per_blob = o->max_per_blob;
    memset(res, 0, sizeof *res);
    gc_state s = {l, bottom, top, nb, nt, NULL, NULL, {0, 0}};
    if (l->rng) s.rng0 = *l->rng;
    s.saved = calloc((size_t)(nb ? nb : 1), sizeof *s.saved);
    s.w = calloc((size_t)(nt ? nt : 1), sizeof *s.w);
    int rc = -1;
    for (int i = 0; i < nb; i++) {
        s.saved[i] = malloc(bottom[i]->count * sizeof(float) + 1);
        memcpy(s.saved[i], cf_blob_data(bottom[i]), bottom[i]->count * sizeof(float));
    }
    double E;
    if (objective(&s, &E, err)) goto out; /* establishes top shapes */
    cf_rng wr;
    cf_rng_seed(&wr, 4242);
    for (int t = 0; t < nt; t++) {
        s.w[t] = malloc(top[t]->count * sizeof(float) + 1);
        for (size_t i = 0; i < top[t]->count; i++) s.w[t][i] = cf_rng_uniform(&wr, -1, 1);
    }

    /* analytic: forward, set top diffs to w, backward */
    if (objective(&s, &E, err)) goto out;
    for (int t = 0; t < nt; t++) memcpy(cf_blob_mdiff(top[t]), s.w[t], top[t]->count * sizeof(float));
    for (int p = 0; p < l->nparam; p++) cf_blob_zero_diff(l->param[p]);
    bool *prop = calloc((size_t)(nb ? nb : 1), sizeof *prop);
    for (int i = 0; i < nb; i++) prop[i] = check_bottom ? check_bottom[i] : true;
    if (l->ops->backward) l->ops->backward(l, top, nt, prop, bottom, nb);
    float **bdiff = calloc((size_t)(nb ? nb : 1), sizeof *bdiff);
    float **pdiff = calloc((size_t)(l->nparam ? l->nparam : 1), sizeof *pdiff);
    for (int i = 0; i < nb; i++) {
        bdiff[i] = malloc(bottom[i]->count * sizeof(float) + 1);
        memcpy(bdiff[i], cf_blob_diff(bottom[i]), bottom[i]->count * sizeof(float));
    }
    for (int p = 0; p < l->nparam; p++) {
        pdiff[p] = malloc(l->param[p]->count * sizeof(float) + 1);
        memcpy(pdiff[p], cf_blob_diff(l->param[p]), l->param[p]->count * sizeof(float));
    }

    rc = 0;
    for (int i = 0; i < nb && rc == 0; i++) {
        if (!prop[i]) continue;
        for (size_t k = 0; k < bottom[i]->count; k += stride_for(bottom[i]->count, max_per_blob)) {
            double n;
            bool kink;
            if (numeric(&s, &s.saved[i][k], step, o, &n, &kink, err)) { rc = -1; break; }
            if (kink) res->kinks++;
            else note(res, "bottom", i, k, bdiff[i][k], n);
        }
    }
    for (int p = 0; p < l->nparam && rc == 0; p++) {
        if (!l->param_grad[p]) continue;
        float *w = cf_blob_mdata(l->param[p]);
        for (size_t k = 0; k < l->param[p]->count; k += stride_for(l->param[p]->count, max_per_blob)) {
            double n;
            bool kink;
            if (numeric(&s, &w[k], step, o, &n, &kink, err)) { rc = -1; break; }
            if (kink) res->kinks++;
            else note(res, "param", p, k, pdiff[p][k], n);
        }
    }
    for (int i = 0; i < nb; i++) free(bdiff[i]);
    for (int p = 0; p < l->nparam; p++) free(pdiff[p]);
    free(bdiff);
    free(pdiff);
    free(prop);
    /* leave the bottoms as the caller gave them */
    for (int i = 0; i < nb; i++) memcpy(cf_blob_mdata(bottom[i]), s.saved[i], bottom[i]->count * sizeof(float));
out:
    for (int i = 0; i < nb; i++) free(s.saved[i]);
    for (int t = 0; t < nt; t++) free(s.w[t]);
    free(s.saved);
    free(s.w);
    return rc;
}

int cf_gradcheck_net(cf_net *net, const cf_gradcheck_opts *o, cf_gradcheck_report cb, void *ctx, double *worst,
                     cf_error *err)
{
    *worst = 0;
    for (int li = 0; li < net->nlayers; li++) {
        cf_net_layer *nl = &net->layers[li];
        if (!nl->need_backward || !nl->layer->ops->backward) continue;
        if (li > 0 && cf_net_forward_to(net, li - 1, err)) return -1;
        cf_gradcheck_result r;
        if (cf_gradcheck_layer_opts(nl->layer, nl->bottom, nl->nb, nl->top, nl->nt, nl->prop_down, o, &r, err))
            return cf_error_ctx(err, "layer '%s'", nl->layer->name);
        if (r.worst > *worst) *worst = r.worst;
        if (cb) cb(ctx, nl->layer, &r);
    }
    return 0;
}
