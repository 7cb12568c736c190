/* model.c — the view's data side: monitor records become curves, log
 * lines and layer rows with their histories (see view.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trouble.h"
#include "view.h"

cf_view *cf_view_new(void)
{
    cf_view *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    int bad = cf_series_init(&v->loss_raw, CF_VIEW_SERIES_CAP) | cf_series_init(&v->loss_smooth, CF_VIEW_SERIES_CAP) |
              cf_series_init(&v->test_loss, CF_VIEW_SERIES_CAP);
    if (bad) {
        cf_view_free(v);
        return NULL;
    }
    v->zoomed = -1;
    v->focus = CF_PANE_LAYERS;
    cf_view_forget_iters(v);
    return v;
}

void cf_view_free(cf_view *v)
{
    if (!v) return;
    cf_series_free(&v->loss_raw);
    cf_series_free(&v->loss_smooth);
    cf_series_free(&v->test_loss);
    for (int i = 0; i < v->nacc; i++) cf_series_free(&v->acc[i]);
    free(v->relu_layers);
    free(v);
}

void cf_view_forget_iters(cf_view *v)
{
    v->last_train_iter = -1;
    for (int k = 0; k < CF_VIEW_MAX_ACC; k++) v->last_test_iter[k] = -1;
}

void cf_view_add_iter(cf_view *v, const cf_iter_rec *r)
{
    if (r->iter <= v->last_train_iter) {
        cf_series_cut(&v->loss_raw, r->iter);
        cf_series_cut(&v->loss_smooth, r->iter);
    }
    v->last_train_iter = r->iter;
    cf_series_add(&v->loss_raw, r->iter, r->loss);
    cf_series_add(&v->loss_smooth, r->iter, r->smoothed);
}

/* The best of series i again, from the points it still holds. */
static void rebest(cf_view *v, int i)
{
    static cf_pt pts[CF_VIEW_SERIES_CAP + 1];
    int n = cf_series_view(&v->acc[i], -INFINITY, pts, CF_VIEW_SERIES_CAP + 1);
    v->acc_best[i] = NAN;
    for (int k = 0; k < n; k++)
        if (isfinite(pts[k].y) && (isnan(v->acc_best[i]) || pts[k].y > v->acc_best[i])) {
            v->acc_best[i] = pts[k].y;
            v->acc_best_iter[i] = (int)pts[k].x;
        }
}

/* Test net `net` went back to iteration `iter`. */
static void cut_tests(cf_view *v, int net, int iter)
{
    if (net == 0) cf_series_cut(&v->test_loss, iter);
    for (int i = 0; i < v->nacc; i++)
        if (v->acc_net[i] == net) {
            cf_series_cut(&v->acc[i], iter);
            if (!isnan(v->acc_best[i]) && v->acc_best_iter[i] >= iter) rebest(v, i);
        }
}

/* Series of a test output: its name, with "#k" for test net k > 0. */
static int acc_index(cf_view *v, const char *name, int net)
{
    char key[56];
    if (net) snprintf(key, sizeof key, "%s#%d", name, net);
    else snprintf(key, sizeof key, "%s", name);
    for (int i = 0; i < v->nacc; i++)
        if (!strcmp(v->acc_name[i], key)) return i;
    if (v->nacc == CF_VIEW_MAX_ACC || cf_series_init(&v->acc[v->nacc], CF_VIEW_SERIES_CAP)) return -1;
    snprintf(v->acc_name[v->nacc], sizeof v->acc_name[0], "%s", key);
    v->acc_best[v->nacc] = NAN;
    v->acc_net[v->nacc] = net;
    return v->nacc++;
}

void cf_view_add_test(cf_view *v, const cf_test_rec *r)
{
    if (r->net >= 0 && r->net < CF_VIEW_MAX_ACC) {
        if (r->iter <= v->last_test_iter[r->net]) cut_tests(v, r->net, r->iter);
        v->last_test_iter[r->net] = r->iter;
    }
    if (r->net == 0) cf_series_add(&v->test_loss, r->iter, r->loss);
    for (int o = 0; o < r->n; o++) {
        if (r->is_loss[o]) continue;
        int i = acc_index(v, r->name[o], r->net);
        if (i < 0) continue;
        cf_series_add(&v->acc[i], r->iter, r->value[o]);
        /* best of an output that is not a loss: the highest (accuracy-like) */
        if (isfinite(r->value[o]) && (isnan(v->acc_best[i]) || r->value[o] > v->acc_best[i])) {
            v->acc_best[i] = r->value[o];
            v->acc_best_iter[i] = r->iter;
        }
    }
}

void cf_view_add_log(cf_view *v, int level, const char *text)
{
    cf_view_log *l = &v->log[v->nlog++ % CF_VIEW_LOG];
    l->level = level;
    snprintf(l->text, sizeof l->text, "%s", text);
    /* a reader scrolled back keeps looking at the same lines */
    if (v->log_scroll > 0 && v->log_scroll < CF_VIEW_LOG - 1) v->log_scroll++;
}

void cf_view_message(cf_view *v, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->msg, sizeof v->msg, fmt, ap);
    va_end(ap);
    v->msg_level = level;
    v->msg_until = v->now + (level >= 2 ? 6 : 3);
}

static bool is_relu(const cf_view *v, const char *layer)
{
    if (!v->relu_layers) return false;
    char key[56];
    snprintf(key, sizeof key, "\n%s\n", layer);
    return strstr(v->relu_layers, key) != NULL;
}

static bool same_blob(const cf_blob_stat *a, const cf_blob_stat *b)
{
    return a->kind == b->kind && !strcmp(a->layer, b->layer) && !strcmp(a->blob, b->blob);
}

static void push_hist(cf_view_row *r)
{
    const cf_blob_stat *b = &r->st;
    double ratio = cf_update_ratio(b);
    float x[CF_NHIST] = {b->data.mean, b->data.std, b->data.zero_frac, b->kind == 'p' ? b->grad_norm : b->diff.std,
                         ratio >= 0 ? (float)ratio : 0};
    if (r->nhist == CF_VIEW_HIST) {
        for (int k = 0; k < CF_NHIST; k++) memmove(r->hist[k], r->hist[k] + 1, (CF_VIEW_HIST - 1) * sizeof(float));
        r->nhist--;
    }
    for (int k = 0; k < CF_NHIST; k++) r->hist[k][r->nhist] = x[k];
    r->nhist++;
}

void cf_view_set_stats(cf_view *v, const cf_blob_stat *s, int n, int iter)
{
    if (n > CF_MON_MAX_STATS) n = CF_MON_MAX_STATS;
    for (int i = 0; i < n; i++) {
        cf_view_row *r = &v->row[i];
        if (i >= v->nrows || !same_blob(&r->st, &s[i])) {
            memset(r, 0, sizeof *r);
            r->relu = s[i].kind == 't' && is_relu(v, s[i].layer);
        }
        r->st = s[i];
        r->trouble = cf_trouble(&r->st, r->relu);
        push_hist(r);
    }
    v->nrows = n;
    v->stats_iter = iter;
    v->have_stats = true;
}

int cf_view_spark_metric(const cf_view *v, const cf_view_row *r)
{
    switch (v->spark) {
    case CF_SPARK_MEAN: return CF_HIST_MEAN;
    case CF_SPARK_STD: return CF_HIST_STD;
    case CF_SPARK_ZERO: return CF_HIST_ZERO;
    case CF_SPARK_GRAD: return CF_HIST_GRAD;
    case CF_SPARK_RATIO: return CF_HIST_RATIO;
    default:
        /* params: how fast they move; a top: how spread its values are */
        if (r->st.kind == 'p') return r->st.update_norm > 0 ? CF_HIST_RATIO : CF_HIST_GRAD;
        return r->relu ? CF_HIST_ZERO : CF_HIST_STD;
    }
}

const char *cf_spark_name(int spark)
{
    static const char *const n[CF_NSPARK] = {"auto", "mean", "std", "zero%", "grad", "upd/w"};
    return spark >= 0 && spark < CF_NSPARK ? n[spark] : "?";
}
