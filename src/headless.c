/* headless.c — see headless.h. */
#include "headless.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t got_int, got_hup;

static void on_signal(int sig)
{
    if (sig == SIGINT || sig == SIGTERM) got_int++;
    else if (sig == SIGHUP) got_hup++;
}

/* JSON string body with the characters JSON requires escaped. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* JSON has no NaN/Inf: write null. */
static void json_num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("null", f);
}

/* "outputs":{"loss":0.5,"acc":0.9} */
static void json_outputs(FILE *f, const cf_test_rec *r)
{
    fputs(",\"outputs\":{", f);
    for (int i = 0; i < r->n; i++) {
        if (i) fputc(',', f);
        json_str(f, r->name[i]);
        fputc(':', f);
        json_num(f, r->value[i]);
    }
    fputc('}', f);
}

/* A train line, with the train net's outputs when outs is not NULL (its
 * last batch, unweighted); over several processes (from the status st,
 * NULL: left out) also the ranks, the mean seconds per iteration spent communicating
 * and in all, their ratio, and each rank's images/s while computing
 * (rank<r>_images_per_s): plain numbers, which readers that do not know
 * them skip. */
static void iter_line(FILE *f, const cf_iter_rec *r, const cf_test_rec *outs, const cf_status *st)
{
    fprintf(f, "{\"type\":\"train\",\"iter\":%d,\"loss\":", r->iter);
    json_num(f, r->loss);
    fputs(",\"smoothed_loss\":", f);
    json_num(f, r->smoothed);
    fputs(",\"lr\":", f);
    json_num(f, r->lr);
    fputs(",\"images_per_s\":", f);
    json_num(f, r->ips);
    fputs(",\"elapsed_s\":", f);
    json_num(f, r->elapsed);
    if (outs) json_outputs(f, outs);
    if (st && st->ranks > 1) {
        fprintf(f, ",\"ranks\":%d,\"comm_s\":", st->ranks);
        json_num(f, st->comm_s);
        fputs(",\"step_s\":", f);
        json_num(f, st->step_s);
        fputs(",\"comm_frac\":", f);
        json_num(f, st->comm_frac);
        for (int k = 0; k < st->ranks && k < CF_MON_MAX_RANKS; k++) {
            fprintf(f, ",\"rank%d_images_per_s\":", k);
            json_num(f, st->rank_ips[k]);
        }
    }
    fputs("}\n", f);
}

void cf_metrics_iter(FILE *f, const cf_iter_rec *r, const cf_test_rec *outs, const cf_status *st)
{
    iter_line(f, r, outs, st);
}

bool cf_ranks_line(const cf_status *st, char *buf, size_t cap)
{
    if (!(st->ranks > 1 && st->step_s > 0)) return false;
    char ips[256] = "";
    for (int k = 0; k < st->ranks && k < CF_MON_MAX_RANKS; k++) {
        size_t n = strlen(ips);
        snprintf(ips + n, sizeof ips - n, "%s%.0f", k ? ", " : "", st->rank_ips[k]);
    }
    snprintf(buf, cap, "    %d ranks: communicating %.1f%% of the time (%.2f of %.2f ms per iteration); images/s per "
             "rank while computing: %s%s", st->ranks, 100 * st->comm_frac, 1e3 * st->comm_s, 1e3 * st->step_s, ips,
             st->ranks > CF_MON_MAX_RANKS ? ", ..." : "");
    return true;
}

bool cf_dist_banner(const cf_session *s, char *buf, size_t cap)
{
    if (cf_dist_size(s->dist) <= 1) return false;
    const cf_solver *sv = s->solver;
    int b = 1;
    for (int i = 0; i < sv->net->nlayers; i++)
        if (sv->net->layers[i].nb == 0 && sv->net->layers[i].nt > 0) {
            b = cf_blob_dim(sv->net->layers[i].top[0], 0);
            break;
        }
    snprintf(buf, cap, "cafetui: %d processes (%s): batch %d per rank, %d per iteration; %.3f MB of gradients "
             "averaged per iteration in %d buckets during the backward pass",
             s->dist->size, cf_dist_name(s->dist), b, b * s->dist->size, sv->dist_timing.grad_bytes / 1e6,
             sv->dist_timing.nbuckets);
    return true;
}

void cf_metrics_test(FILE *f, const cf_test_rec *r)
{
    fprintf(f, "{\"type\":\"test\",\"iter\":%d,\"net\":%d", r->iter, r->net);
    json_outputs(f, r);
    fputs(",\"loss\":", f);
    json_num(f, r->loss);
    fputs(",\"seconds\":", f);
    json_num(f, r->seconds);
    fputs("}\n", f);
}

void cf_metrics_event(FILE *f, int iter, const char *kind, const char *text)
{
    fprintf(f, "{\"type\":\"event\",\"iter\":%d,\"event\":", iter);
    json_str(f, kind);
    fputs(",\"text\":", f);
    json_str(f, text);
    fputs("}\n", f);
}

/* "    Train net output #0: loss = 0.58 (* 1 = 0.58 loss)" for each of r's
 * outputs (a loss shows its weight and weighted value). */
static void output_lines(const char *which, const cf_test_rec *r, cf_emit_fn *emit, void *ctx)
{
    char line[400];
    for (int i = 0; i < r->n; i++) {
        int n = snprintf(line, sizeof line, "    %s net output #%d: %s = %g", which, i, r->name[i], r->value[i]);
        if (r->is_loss[i] && n > 0 && (size_t)n < sizeof line)
            snprintf(line + n, sizeof line - (size_t)n, " (* %g = %g loss)", r->weight[i], r->weight[i] * r->value[i]);
        emit(ctx, line);
    }
}

void cf_iter_lines(const cf_iter_rec *it, const cf_test_rec *outs, cf_emit_fn *emit, void *ctx)
{
    char line[200];
    snprintf(line, sizeof line, "Iteration %d (%.0f img/s, %.1f s), loss = %g", it->iter, it->ips, it->elapsed,
             it->smoothed);
    emit(ctx, line);
    if (outs) output_lines("Train", outs, emit, ctx);
    snprintf(line, sizeof line, "    Iteration %d, lr = %g", it->iter, it->lr);
    emit(ctx, line);
}

void cf_test_lines(const cf_test_rec *r, cf_emit_fn *emit, void *ctx)
{
    char line[80];
    snprintf(line, sizeof line, "Iteration %d, Testing net (#%d)", r->iter, r->net);
    emit(ctx, line);
    output_lines("Test", r, emit, ctx);
}

static void session_line(void *ctx, const char *line) { cf_session_print(ctx, "%s", line); }

static void print_test(cf_session *s, const cf_test_rec *r)
{
    cf_test_lines(r, session_line, s);
    if (s->quiet && cf_dist_rank(s->dist) == 0) {
        fprintf(stderr, "test iter %d:", r->iter);
        for (int i = 0; i < r->n; i++) fprintf(stderr, " %s=%g", r->name[i], r->value[i]);
        fprintf(stderr, "\n");
    }
}

static void handle_signals(cf_session *s)
{
    static bool stop_sent;
    if (got_int) {
        got_int = 0;
        const char *e = s->sigint_effect;
        if (stop_sent) cf_session_abort_now(s, "SIGINT/SIGTERM");
        stop_sent = !strcmp(e, "stop");
        cf_session_print(s, "SIGINT: %s", !strcmp(e, "stop") ? "snapshot and stop" : e);
        if (!strcmp(e, "stop")) cf_monitor_send(s->mon, (cf_cmd){CF_CMD_STOP, 1});
        else if (!strcmp(e, "snapshot")) cf_monitor_send(s->mon, (cf_cmd){CF_CMD_SNAPSHOT, 0});
    }
    if (got_hup) {
        got_hup = 0;
        const char *e = s->sighup_effect;
        cf_session_print(s, "SIGHUP: %s", e);
        if (!strcmp(e, "stop")) stop_sent = true;
        if (!strcmp(e, "stop")) cf_monitor_send(s->mon, (cf_cmd){CF_CMD_STOP, 1});
        else if (!strcmp(e, "snapshot")) cf_monitor_send(s->mon, (cf_cmd){CF_CMD_SNAPSHOT, 0});
    }
}

/* Drain what the engine published since last time. */
static void drain(cf_session *s, uint64_t *iseq, uint64_t *tseq, uint64_t *lseq, cf_train_cursor *tc)
{
    static cf_iter_rec it[1024];
    static cf_test_rec te[64];
    static cf_log_rec lg[256];
    size_t n;
    long display = s->solver->display;
    cf_status st;
    cf_monitor_get_status(s->mon, &st);
    while ((n = cf_monitor_logs(s->mon, lseq, lg, 256)) > 0)
        for (size_t i = 0; i < n; i++) {
            cf_session_print(s, "%s%s", lg[i].level == 2 ? "error: " : lg[i].level == 1 ? "warning: " : "", lg[i].text);
            if (lg[i].level == 2 && s->quiet && !s->solver->dist_stopped) {
                if (cf_dist_size(s->dist) > 1) fprintf(stderr, "cafetui: rank %d: %s\n", cf_dist_rank(s->dist), lg[i].text);
                else fprintf(stderr, "cafetui: %s\n", lg[i].text);
            }
            cf_metrics_event(s->metrics, s->solver->iter, lg[i].level ? "warning" : "log", lg[i].text);
        }
    while ((n = cf_monitor_iters(s->mon, iseq, it, 1024)) > 0)
        for (size_t i = 0; i < n; i++) {
            if (display && it[i].iter % display == 0) {
                static cf_test_rec outs;
                bool have = cf_monitor_train_outputs(s->mon, tc, it[i].iter, &outs);
                cf_iter_lines(&it[i], have ? &outs : NULL, session_line, s);
                char line[512];
                if (cf_ranks_line(&st, line, sizeof line)) cf_session_print(s, "%s", line);
                iter_line(s->metrics, &it[i], have ? &outs : NULL, &st);
            }
        }
    while ((n = cf_monitor_tests(s->mon, tseq, te, 64)) > 0)
        for (size_t i = 0; i < n; i++) {
            print_test(s, &te[i]);
            cf_metrics_test(s->metrics, &te[i]);
        }
    fflush(s->metrics);
}

int cf_headless_run(cf_session *s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    cf_solver *sv = s->solver;
    cf_session_print(s, "cafetui: net '%s': %d layers, %d learnable params; solver %s, base_lr %g, max_iter %ld, %d threads",
                     sv->net->name, sv->net->nlayers, sv->net->nparams,
                     (const char *[]){"SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"}[sv->type],
                     sv->base_lr, sv->max_iter, s->be->nthreads);
    cf_session_print(s, "cafetui: run directory %s (log, metrics.jsonl); snapshots %s_iter_N.h5", s->run_dir,
                     s->snapshot_prefix);
    if (s->device_note[0]) cf_session_print(s, "%s", s->device_note);
    if (s->recipe.net_found_beside)
        cf_session_print(s, "notice: the solver's net path is relative to the solver file, not the working directory as Caffe reads it; using %s",
                         s->recipe.net_path);
    if (s->recipe.upgraded_v1)
        cf_session_print(s, "notice: %s uses Caffe's V1 layer syntax; upgraded in memory", s->recipe.net_path);
    char banner[512];
    if (cf_dist_banner(s, banner, sizeof banner)) cf_session_print(s, "%s", banner);
    if (sv->iter > 0) cf_session_print(s, "Resuming at iteration %d", sv->iter);
    if (cf_session_start(s)) {
        fprintf(stderr, "cafetui: cannot start the training thread\n");
        return 1;
    }
    uint64_t iseq = 0, tseq = 0, lseq = 0;
    cf_train_cursor tc = {0};
    cf_status st;
    for (;;) {
        cf_monitor_wait(s->mon, 200);
        handle_signals(s);
        drain(s, &iseq, &tseq, &lseq, &tc);
        cf_monitor_get_status(s->mon, &st);
        if (st.state == CF_RUN_DONE || st.state == CF_RUN_FAILED) break;
    }
    int rc = cf_session_join(s);
    drain(s, &iseq, &tseq, &lseq, &tc);
    if (rc && sv->dist_stopped) rc = 0; /* rank > 0: rank 0 ended the run; nothing failed */
    if (rc == 0) cf_session_print(s, "Optimization %s at iteration %d.", s->trainer.stop_requested ? "stopped" : "done", sv->iter);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    return rc;
}
