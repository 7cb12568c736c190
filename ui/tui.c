/* tui.c — the ncurses front end's main loop (see tui.h).
 *
 * The trainer runs on its worker thread; this thread, about ten times a
 * second: turns signals into commands, drains the monitor (writing the
 * run's train.log and metrics.jsonl exactly as the headless runner does,
 * and feeding the view), asks for per-blob statistics a few times a
 * second, draws a frame off-screen (erase, draw, one doupdate: no
 * flicker), and waits up to 100 ms for a key.  Keys become commands that
 * go out through cf_monitor_send only.
 *
 * The terminal is always given back: endwin on the way out, from an
 * atexit hook, and from a handler for fatal signals that then re-raises
 * the signal.  SIGINT/SIGTERM/SIGHUP only set flags that the loop polls:
 * SIGINT and SIGTERM do what --sigint-effect says (by default snapshot
 * and stop, as headless).  A SIGHUP means the terminal is gone, so here,
 * unlike headless, it snapshots and stops unless --sighup-effect is none.
 * While the screen is ours, stderr goes to the run log, so a stray
 * message from a library cannot scribble over the panes.
 *
 * A terminal that goes away without a SIGHUP (getch keeps failing at
 * once) is treated the same way.  Until the run ends, the log and metrics
 * are still written; with --sighup-effect none, training goes on to its
 * end without a screen.
 *
 * Environment: CAFETUI_EXIT_WHEN_DONE=1 leaves when training ends (else
 * the final state stays up until q); CAFETUI_ASCII=1 (or a locale that is
 * not UTF-8) draws with ASCII only; NO_COLOR set disables colour. */
#include <curses.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "headless.h"
#include "term.h"
#include "tui.h"
#include "view.h"

#define STATS_EVERY_S 0.3

static volatile sig_atomic_t got_int, got_term, got_hup;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- signals (the terminal itself: term.c) ---- */

static void on_signal(int sig)
{
    if (sig == SIGINT) got_int++;
    else if (sig == SIGTERM) got_term++;
    else if (sig == SIGHUP) got_hup++;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static void reset_signals(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    cf_term_release_signals();
}

/* ---- run log and metrics (the lines the headless runner writes) ---- */

static void log_line(cf_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(cf_session *s, const char *fmt, ...)
{
    if (!s->log) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(s->log, fmt, ap);
    va_end(ap);
    fputc('\n', s->log);
    fflush(s->log);
}

static void run_log_line(void *ctx, const char *line) { log_line(ctx, "%s", line); }

static void log_test(cf_session *s, cf_view *v, const cf_test_rec *r)
{
    cf_test_lines(r, run_log_line, s);
    char pane[240];
    int n = snprintf(pane, sizeof pane, "Iteration %d, test net #%d:", r->iter, r->net);
    for (int i = 0; i < r->n && n < (int)sizeof pane; i++)
        n += snprintf(pane + n, sizeof pane - n, " %s = %.4g", r->name[i], r->value[i]);
    if (v) cf_view_add_log(v, 0, pane);
}

typedef struct seqs {
    uint64_t iter, test, log;
    cf_train_cursor train;
} seqs;

/* Everything published since last time: to the files, and to the view
 * when there is one. */
static void drain(cf_session *s, cf_view *v, seqs *q, int iter_now)
{
    static cf_iter_rec it[1024];
    static cf_test_rec te[64];
    static cf_log_rec lg[256];
    size_t n;
    long display = s->solver->display;
    cf_status st; /* several processes: the reduction's figures, as headless */
    cf_monitor_get_status(s->mon, &st);
    while ((n = cf_monitor_logs(s->mon, &q->log, lg, 256)) > 0)
        for (size_t i = 0; i < n; i++) {
            log_line(s, "%s%s", lg[i].level == 2 ? "error: " : lg[i].level == 1 ? "warning: " : "", lg[i].text);
            cf_metrics_event(s->metrics, iter_now, lg[i].level ? "warning" : "log", lg[i].text);
            if (v) cf_view_add_log(v, lg[i].level, lg[i].text);
        }
    while ((n = cf_monitor_iters(s->mon, &q->iter, it, 1024)) > 0)
        for (size_t i = 0; i < n; i++) {
            if (v) cf_view_add_iter(v, &it[i]);
            if (display && it[i].iter % display == 0) {
                static cf_test_rec outs;
                bool have = cf_monitor_train_outputs(s->mon, &q->train, it[i].iter, &outs);
                cf_iter_lines(&it[i], have ? &outs : NULL, run_log_line, s);
                char line[512];
                if (cf_ranks_line(&st, line, sizeof line)) log_line(s, "%s", line);
                cf_metrics_iter(s->metrics, &it[i], have ? &outs : NULL, &st);
            }
        }
    while ((n = cf_monitor_tests(s->mon, &q->test, te, 64)) > 0)
        for (size_t i = 0; i < n; i++) {
            log_test(s, v, &te[i]);
            cf_metrics_test(s->metrics, &te[i]);
            if (v) cf_view_add_test(v, &te[i]);
        }
    fflush(s->metrics);
}

/* A line for the run log and the log pane. */
static void say(cf_session *s, cf_view *v, int level, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void say(cf_session *s, cf_view *v, int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_line(s, "%s", buf);
    cf_view_add_log(v, level, buf);
}

static void handle_signals(cf_session *s, cf_view *v)
{
    static const char *const names[3] = {"SIGINT", "SIGTERM", "SIGHUP"};
    volatile sig_atomic_t *flags[3] = {&got_int, &got_term, &got_hup};
    for (int k = 0; k < 3; k++) {
        if (!*flags[k]) continue;
        *flags[k] = 0;
        const char *e = s->sigint_effect; /* SIGTERM acts as SIGINT */
        if (k == 2) e = strcmp(s->sighup_effect, "none") ? "stop" : "none"; /* no terminal: no point going on */
        if (v->stop_sent && k < 2 && strcmp(e, "none")) {
            /* asked twice: stop at once (the terminal first) */
            cf_term_restore();
            cf_session_abort_now(s, names[k]);
        }
        if (v->stop_sent && strcmp(e, "none")) continue;
        say(s, v, 1, "%s: %s", names[k], !strcmp(e, "stop") ? "snapshot and stop" : e);
        if (!strcmp(e, "stop")) {
            cf_monitor_send(s->mon, (cf_cmd){CF_CMD_STOP, 1});
            v->stop_sent = true;
        } else if (!strcmp(e, "snapshot")) cf_monitor_send(s->mon, (cf_cmd){CF_CMD_SNAPSHOT, 0});
    }
}

/* What the view needs to know about the net, read before the worker
 * starts (so never concurrently with it). */
static void describe_net(cf_session *s, cf_view *v)
{
    const cf_net *net = s->solver->net;
    size_t len = 2;
    for (int i = 0; i < net->nlayers; i++) len += strlen(net->layers[i].layer->name) + 1;
    v->relu_layers = malloc(len);
    if (v->relu_layers) {
        strcpy(v->relu_layers, "\n");
        for (int i = 0; i < net->nlayers; i++)
            if (!strcmp(net->layers[i].layer->ops->type, "ReLU")) {
                strcat(v->relu_layers, net->layers[i].layer->name);
                strcat(v->relu_layers, "\n");
            }
    }
    v->has_test = s->solver->ntest > 0;
    v->st.max_iter = (int)s->solver->max_iter;
    v->st.iter = s->solver->iter;
    v->st.lr = cf_solver_lr(s->solver);
    v->st.lr_scale = s->solver->lr_scale;
    v->st.eta = -1;
    snprintf(v->st.net_name, sizeof v->st.net_name, "%s", net->name);
}

static void banner(cf_session *s, cf_view *v)
{
    cf_solver *sv = s->solver;
    say(s, v, 0, "cafetui: net '%s': %d layers, %d learnable params; solver %s, base_lr %g, max_iter %ld, %d threads",
        sv->net->name, sv->net->nlayers, sv->net->nparams,
        (const char *[]){"SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"}[sv->type], sv->base_lr,
        sv->max_iter, s->be->nthreads);
    say(s, v, 0, "cafetui: run directory %s (log, metrics.jsonl); snapshots %s_iter_N.h5", s->run_dir, s->snapshot_prefix);
    if (s->recipe.upgraded_v1) say(s, v, 1, "notice: %s uses Caffe's V1 layer syntax; upgraded in memory", s->recipe.net_path);
    char line[512];
    if (cf_dist_banner(s, line, sizeof line)) say(s, v, 0, "%s", line);
    if (sv->iter > 0) say(s, v, 0, "Resuming at iteration %d", sv->iter);
}

/* Keys typed since the last frame.  Returns false when the terminal has
 * gone (getch keeps failing at once instead of waiting: a hung-up line). */
static bool keys(cf_session *s, cf_view *v)
{
    int ch = cf_term_key(); /* waits up to a tick */
    if (ch == CF_TERM_LOST) return false;
    while (ch != ERR) {
        cf_cmd out[2];
        int n = cf_view_key(v, ch, out);
        for (int i = 0; i < n; i++) cf_monitor_send(s->mon, out[i]);
        ch = cf_term_key_now(); /* take whatever else is already typed before redrawing */
    }
    return true;
}

int cf_tui_run(cf_session *s)
{
    setlocale(LC_ALL, "");
    cf_view *v = cf_view_new();
    if (!v) {
        fprintf(stderr, "cafetui: out of memory for the TUI; running headless\n");
        return cf_headless_run(s);
    }
    v->ascii = cf_term_ascii();
    bool exit_when_done = cf_env_on("CAFETUI_EXIT_WHEN_DONE");
    describe_net(s, v);
    if (!cf_term_start(v)) {
        cf_view_free(v);
        fprintf(stderr, "cafetui: cannot drive this terminal (TERM=%s); running headless\n",
                getenv("TERM") ? getenv("TERM") : "");
        return cf_headless_run(s);
    }
    if (s->log) cf_term_stderr_to(fileno(s->log));
    install_signals();
    banner(s, v);
    if (cf_session_start(s)) {
        cf_term_restore();
        reset_signals();
        cf_view_free(v);
        fprintf(stderr, "cafetui: cannot start the training thread\n");
        return 1;
    }

    seqs q = {0};
    double last_stats = 0;
    int stats_seen = -1;
    static cf_blob_stat stats[CF_MON_MAX_STATS];
    bool lost = false;
    for (;;) {
        v->now = now_s();
        handle_signals(s, v);
        drain(s, v, &q, v->st.iter);
        /* statistics cost the trainer a pass over every blob: ask for them
         * a few times a second, and only while the layer table is shown */
        bool table_shown = (v->zoomed < 0 || v->zoomed == CF_PANE_LAYERS) && !v->help;
        if (table_shown && v->now - last_stats >= STATS_EVERY_S) {
            cf_monitor_want_stats(s->mon);
            last_stats = v->now;
        }
        int siter;
        int ns = cf_monitor_get_stats(s->mon, stats, CF_MON_MAX_STATS, &siter);
        if (ns > 0 && siter != stats_seen) {
            cf_view_set_stats(v, stats, ns, siter);
            stats_seen = siter;
        }
        cf_status st;
        cf_monitor_get_status(s->mon, &st);
        if (st.state != CF_RUN_STARTING || st.iter) v->st = st; /* keep the pre-start figures until the first status */
        bool over = v->st.state == CF_RUN_DONE || v->st.state == CF_RUN_FAILED;
        if (v->quit || (over && (v->stop_sent || exit_when_done))) break;
        cf_term_draw(v);
        if (!keys(s, v)) {
            lost = true;
            break;
        }
    }

    cf_term_restore();
    if (lost) {
        /* no screen any more: snapshot and stop (unless told to ignore
         * hangups), writing the files until the run ends */
        bool go_on = !strcmp(s->sighup_effect, "none");
        say(s, v, 1, "terminal lost: %s", go_on ? "training goes on without a screen" : v->stop_sent ? "stopping" : "snapshot and stop");
        if (!go_on && !v->stop_sent) {
            cf_monitor_send(s->mon, (cf_cmd){CF_CMD_STOP, 1});
            v->stop_sent = true;
        }
        for (;;) {
            cf_monitor_wait(s->mon, 200);
            handle_signals(s, v);
            drain(s, NULL, &q, v->st.iter);
            cf_monitor_get_status(s->mon, &v->st);
            if (v->st.state == CF_RUN_DONE || v->st.state == CF_RUN_FAILED) break;
        }
    }
    int rc = cf_session_join(s);
    cf_status st;
    cf_monitor_get_status(s->mon, &st);
    drain(s, NULL, &q, st.iter);
    if (rc == 0) {
        log_line(s, "Optimization %s at iteration %d.", s->trainer.stop_requested ? "stopped" : "done", s->solver->iter);
        fprintf(stderr, "cafetui: optimization %s at iteration %d; run directory %s\n",
                s->trainer.stop_requested ? "stopped" : "done", s->solver->iter, s->run_dir);
    } else fprintf(stderr, "cafetui: %s\n", st.error[0] ? st.error : "training failed");
    reset_signals();
    cf_view_free(v);
    return rc;
}
