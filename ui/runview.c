/* runview.c — the data side of `cafetui view`: lines of a run's
 * metrics.jsonl and train.log become the same curves, status figures and
 * log lines that the live TUI builds from the monitor (see view.h).  The
 * files say less than the monitor does: no layer statistics, no memory
 * figures, no lr factor; the iteration shown is the latest one a line
 * mentions.  A run of several processes (MPI) has each train line carry
 * the ranks' figures, which the ranks pane shows as in the live TUI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_parse.h"
#include "view.h"

static void note_iter(cf_view *v, int iter)
{
    if (iter > v->st.iter) v->st.iter = iter;
}

/* A train line's figures of several processes, as the live TUI has them
 * from the status; a line without them (one process: a run directory
 * used again by a single-process run) takes the ranks pane away. */
static void set_ranks(cf_view *v, const cf_mline_ranks *r)
{
    v->st.ranks = r->ranks;
    v->st.comm_s = r->comm_s;
    v->st.step_s = r->step_s;
    v->st.comm_frac = r->comm_frac;
    memcpy(v->st.rank_ips, r->ips, sizeof v->st.rank_ips);
}

/* "Iteration N, test net #k: accuracy = 0.5 loss = 1.2", as the live TUI
 * puts a test pass in its log pane */
static void log_test(cf_view *v, const cf_test_rec *r)
{
    char line[240];
    int n = snprintf(line, sizeof line, "Iteration %d, test net #%d:", r->iter, r->net);
    for (int i = 0; i < r->n && n < (int)sizeof line; i++)
        n += snprintf(line + n, sizeof line - n, " %s = %.4g", r->name[i], r->value[i]);
    cf_view_add_log(v, 0, line);
}

void cf_view_feed_metrics(cf_view *v, const char *line, size_t len)
{
    v->metric_lines++;
    static cf_mline m; /* large (a test record): not on the stack */
    if (!line) {
        v->bad_lines++;
        v->bad_line_no = (int)v->metric_lines;
        snprintf(v->bad_why, sizeof v->bad_why, "line longer than %d KiB", 64);
        return;
    }
    switch (cf_metrics_parse(line, len, &m)) {
    case CF_MLINE_EMPTY: return;
    case CF_MLINE_BAD:
        v->bad_lines++;
        v->bad_line_no = (int)v->metric_lines;
        snprintf(v->bad_why, sizeof v->bad_why, "%s", m.why);
        return;
    case CF_MLINE_TRAIN:
        if (m.iter <= v->last_train_iter) v->st.iter = m.iter; /* the run went back: the iteration shown with it */
        cf_view_add_iter(v, &m.train);
        v->st.lr = m.train.lr;
        v->st.ips = m.train.ips;
        v->st.elapsed = m.train.elapsed;
        set_ranks(v, &m.ranks);
        note_iter(v, m.iter);
        return;
    case CF_MLINE_TEST:
        cf_view_add_test(v, &m.test);
        v->has_test = true;
        note_iter(v, m.iter);
        if (!v->log_from_file) log_test(v, &m.test);
        return;
    case CF_MLINE_EVENT:
        if (!v->log_from_file) cf_view_add_log(v, strcmp(m.event, "log") ? 1 : 0, m.text);
        return;
    }
}

/* Text after `key` in s, or NULL. */
static const char *after(const char *s, const char *key)
{
    const char *p = strstr(s, key);
    return p ? p + strlen(key) : NULL;
}

void cf_view_feed_log(cf_view *v, const char *line, size_t len)
{
    char s[1024];
    if (!line) line = "(a line too long to show)", len = strlen(line);
    if (len >= sizeof s) len = sizeof s - 1;
    memcpy(s, line, len);
    s[len] = 0;
    for (size_t i = 0; i < len; i++)
        if (!s[i]) s[i] = ' '; /* a NUL byte would end the line early */
    if (strstr(s, "  Top shape: ")) return; /* the net's shapes, written at the start */
    int level = !strncmp(s, "error: ", 7) ? 2 : !strncmp(s, "warning: ", 9) ? 1 : 0;
    cf_view_add_log(v, level, s);

    const char *p;
    if (!strncmp(s, "cafetui: net '", 14)) {
        /* the banner of a run (again, when the run directory is used again) */
        const char *name = s + 14, *q = strchr(name, '\'');
        if (q) snprintf(v->st.net_name, sizeof v->st.net_name, "%.*s", (int)(q - name), name);
        if ((p = after(s, ", max_iter "))) v->st.max_iter = atoi(p);
        v->st.state = CF_RUN_RUNNING;
        v->st.error[0] = 0;
        v->run_stopped = false;
    } else if ((p = after(s, "Optimization done at iteration ")) || (p = after(s, "Optimization stopped at iteration "))) {
        v->st.state = CF_RUN_DONE;
        v->run_stopped = strstr(s, "stopped") != NULL;
        note_iter(v, atoi(p));
    } else if (level == 2 && strncmp(s, "error: snapshot failed", 22)) {
        /* the trainer's last word when a run fails (its only other error,
         * a snapshot that failed, lets the run go on) */
        v->st.state = CF_RUN_FAILED;
        snprintf(v->st.error, sizeof v->st.error, "%s", s + 7);
    }
}

void cf_view_clear_run(cf_view *v)
{
    cf_series_clear(&v->loss_raw);
    cf_series_clear(&v->loss_smooth);
    cf_series_clear(&v->test_loss);
    for (int i = 0; i < v->nacc; i++) cf_series_free(&v->acc[i]);
    v->nacc = 0;
    v->nlog = 0;
    v->log_scroll = 0;
    v->nrows = 0;
    v->have_stats = false;
    v->layer_scroll = 0;
    memset(&v->st, 0, sizeof v->st);
    cf_view_forget_iters(v);
    v->st.state = CF_RUN_RUNNING;
    v->st.lr_scale = 1;
    v->st.eta = -1;
    v->has_test = false;
    v->run_stopped = false;
    v->metric_lines = v->bad_lines = 0;
    v->bad_line_no = 0;
    v->bad_why[0] = 0;
}
