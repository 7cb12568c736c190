/* view_cmd.c — `cafetui view RUN_DIR`: a finished or running run, read
 * from its files, in the TUI's panes.
 *
 * RUN_DIR is a run directory (its metrics.jsonl and train.log are read)
 * or a metrics file (train.log is looked for beside it).  On a terminal
 * the panes show the curves and the log and follow the files as they
 * grow: their sizes are polled four times a second, an unfinished last
 * line waits for its newline, a file that shrinks or is replaced is read
 * again from the start.  Nothing steers training here (the keys that
 * would say "read-only"), and q exits at once.  Without a terminal, or with
 * --summary, a text summary goes to stdout instead: each test result,
 * the last train line (and over several processes its ranks' figures),
 * the best value of each test output that is not a loss, and how the run
 * ended as train.log tells it.
 *
 * When train.log is there, the log pane shows it; otherwise the metrics'
 * events and test results stand in for it. */
#include <curses.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "follow.h"
#include "metrics_parse.h"
#include "ranks.h"
#include "term.h"
#include "view.h"

#define POLL_EVERY_S 0.25

static cf_flag view_flags[] = {
    {"summary", false, NULL, "print the text summary even on a terminal"},
    {"help", false, NULL, "this list"},
    {NULL, false, NULL, NULL},
};

typedef struct run_files {
    char shown[512];         /* as given, for messages */
    char metrics[1024], log[1024];
} run_files;

static bool is_file(const char *p)
{
    struct stat st;
    return !stat(p, &st) && S_ISREG(st.st_mode);
}

/* Where the files are.  Returns 0, or 2 with a message printed. */
static int locate(const char *arg, run_files *rf)
{
    struct stat st;
    snprintf(rf->shown, sizeof rf->shown, "%s", arg);
    for (size_t n = strlen(rf->shown); n > 1 && rf->shown[n - 1] == '/'; n--) rf->shown[n - 1] = 0; /* "runs/x/" */
    if (stat(arg, &st)) {
        fprintf(stderr, "cafetui: view: %s: no such run directory or metrics file\n", arg);
        return 2;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(rf->metrics, sizeof rf->metrics, "%s/metrics.jsonl", arg);
        snprintf(rf->log, sizeof rf->log, "%s/train.log", arg);
        if (!is_file(rf->metrics) && !is_file(rf->log)) {
            fprintf(stderr, "cafetui: view: %s has no metrics.jsonl or train.log (not a run directory?)\n", arg);
            return 2;
        }
        return 0;
    }
    /* a metrics file: train.log beside it, when there is one */
    snprintf(rf->metrics, sizeof rf->metrics, "%s", arg);
    const char *slash = strrchr(arg, '/');
    if (slash) snprintf(rf->log, sizeof rf->log, "%.*s/train.log", (int)(slash - arg), arg);
    else snprintf(rf->log, sizeof rf->log, "train.log");
    return 0;
}

static bool can_use_terminal(void)
{
    const char *term = getenv("TERM");
    return isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) && term && term[0] && strcmp(term, "dumb");
}

static void on_metrics_line(void *ctx, const char *line, size_t len) { cf_view_feed_metrics(ctx, line, len); }
static void on_log_line(void *ctx, const char *line, size_t len) { cf_view_feed_log(ctx, line, len); }

static cf_view *new_view(const run_files *rf)
{
    cf_view *v = cf_view_new();
    if (!v) return NULL;
    v->readonly = true;
    v->log_from_file = is_file(rf->log);
    v->focus = CF_PANE_LOSS;
    snprintf(v->source, sizeof v->source, "%s", rf->shown);
    cf_view_clear_run(v); /* the figures a view starts from */
    return v;
}

/* ---- text summary ---- */

typedef struct summary_ctx {
    cf_view *v;
    FILE *tests;             /* the test results, in the order of the file */
} summary_ctx;

static void summary_line(void *ctx, const char *line, size_t len)
{
    summary_ctx *c = ctx;
    static cf_mline m; /* large: not on the stack */
    if (line && cf_metrics_parse(line, len, &m) == CF_MLINE_TEST && c->tests) {
        fprintf(c->tests, "test iter %d (net %d):", m.test.iter, m.test.net);
        for (int i = 0; i < m.test.n; i++) fprintf(c->tests, "%s %s = %g", i ? "," : "", m.test.name[i], m.test.value[i]);
        fprintf(c->tests, "\n");
    }
    cf_view_feed_metrics(c->v, line, len);
}

/* Read a file to its current end. */
static int read_all(cf_follow *f, cf_line_fn fn, void *ctx)
{
    do
        if (cf_follow_poll(f, fn, ctx) < 0) {
            fprintf(stderr, "cafetui: view: %s: %s\n", f->path, strerror(errno));
            return 1;
        }
    while (cf_follow_behind(f));
    return 0;
}

/* The last train line's figures of several processes, worded as the
 * run's log words them. */
static void print_ranks(const cf_status *st)
{
    printf("%d ranks: communicating %.1f%% of the time (%.2f of %.2f ms per iteration); images/s per rank while computing:",
           st->ranks, 100 * st->comm_frac, 1e3 * st->comm_s, 1e3 * st->step_s);
    int held = st->ranks < CF_MON_MAX_RANKS ? st->ranks : CF_MON_MAX_RANKS;
    for (int k = 0; k < held; k++) printf("%s %.0f", k ? "," : "", st->rank_ips[k]);
    printf("%s\n", held < st->ranks ? ", ..." : "");
}

static int summary(const run_files *rf)
{
    cf_view *v = new_view(rf);
    if (!v) {
        fprintf(stderr, "cafetui: view: out of memory\n");
        return 1;
    }
    bool have_log = v->log_from_file;
    v->log_from_file = true; /* keep the metrics' events out of the (unused) log pane */
    cf_follow fm, fl;
    cf_follow_init(&fm, rf->metrics);
    cf_follow_init(&fl, rf->log);
    char *tests = NULL;
    size_t tests_len = 0;
    summary_ctx c = {v, open_memstream(&tests, &tests_len)};
    int rc = read_all(&fm, summary_line, &c);
    if (c.tests) fclose(c.tests);
    if (!rc && have_log) rc = read_all(&fl, on_log_line, v);
    if (!rc) {
        printf("run %s: %lu metrics lines", rf->shown, v->metric_lines);
        if (v->bad_lines)
            printf(", %lu bad line%s skipped (line %d: %s)", v->bad_lines, v->bad_lines > 1 ? "s" : "", v->bad_line_no,
                   v->bad_why);
        printf("\n");
        if (cf_follow_pending(&fm)) printf("an unfinished last line (%zu bytes) is left out\n", cf_follow_pending(&fm));
        if (tests) fputs(tests, stdout);
        if (v->loss_raw.total)
            printf("last train: iter %.0f, loss = %g, smoothed_loss = %g, lr = %g, %.0f img/s, %.1f s\n",
                   v->loss_raw.last.x, v->loss_raw.last.y, v->loss_smooth.last.y, v->st.lr, v->st.ips, v->st.elapsed);
        else printf("no train lines\n");
        if (cf_ranks_shown(&v->st)) print_ranks(&v->st);
        for (int i = 0; i < v->nacc; i++)
            if (!isnan(v->acc_best[i]))
                printf("best %s = %g at iter %d\n", v->acc_name[i], v->acc_best[i], v->acc_best_iter[i]);
        if (!have_log) printf("no train.log: how the run ended is not known\n");
        else if (v->st.state == CF_RUN_DONE)
            printf("the run %s at iteration %d\n", v->run_stopped ? "was stopped" : "finished", v->st.iter);
        else if (v->st.state == CF_RUN_FAILED) printf("the run failed: %s\n", v->st.error);
        else printf("the run has not ended (no end line in train.log yet)\n");
    }
    free(tests);
    cf_follow_close(&fm);
    cf_follow_close(&fl);
    cf_view_free(v);
    return rc;
}

/* ---- the panes ---- */

static volatile sig_atomic_t got_signal;
static void on_signal(int sig) { got_signal = sig; }

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* What is new in the files.  A file that shrank or was replaced: forget
 * everything and read both again from their start. */
static void poll_files(cf_view *v, cf_follow *fm, cf_follow *fl)
{
    int a = cf_follow_poll(fm, on_metrics_line, v);
    int b = v->log_from_file ? cf_follow_poll(fl, on_log_line, v) : CF_FOLLOW_SAME;
    if (a == CF_FOLLOW_RESTART || b == CF_FOLLOW_RESTART) {
        cf_view_clear_run(v);
        cf_follow_close(fm);
        cf_follow_close(fl);
        cf_follow_init(fm, fm->path);
        cf_follow_init(fl, fl->path);
        cf_view_message(v, 1, "%s was truncated or replaced: reading it again", a == CF_FOLLOW_RESTART ? "metrics" : "train.log");
    } else if (a < 0 || b < 0) cf_view_message(v, 2, "cannot read %s: %s", a < 0 ? fm->path : fl->path, strerror(errno));
}

static int panes(const run_files *rf)
{
    setlocale(LC_ALL, "");
    cf_view *v = new_view(rf);
    if (!v) {
        fprintf(stderr, "cafetui: view: out of memory\n");
        return 1;
    }
    v->ascii = cf_term_ascii();
    if (!cf_term_start(v)) {
        cf_view_free(v);
        fprintf(stderr, "cafetui: cannot drive this terminal (TERM=%s); printing a summary\n",
                getenv("TERM") ? getenv("TERM") : "");
        return summary(rf);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) sigaction(sigs[i], &sa, NULL);

    cf_follow fm, fl;
    cf_follow_init(&fm, rf->metrics);
    cf_follow_init(&fl, rf->log);
    double last_poll = -1;
    while (!got_signal && !v->quit) {
        v->now = now_s();
        /* a few polls a second; back to back while a large file is read */
        if (v->now - last_poll >= POLL_EVERY_S || cf_follow_behind(&fm) || cf_follow_behind(&fl)) {
            poll_files(v, &fm, &fl);
            last_poll = v->now;
        }
        cf_term_draw(v);
        int ch = cf_term_key();
        if (ch == CF_TERM_LOST) break;
        while (ch != ERR && ch != CF_TERM_LOST) {
            cf_cmd out[2];
            cf_view_key(v, ch, out); /* read-only: no command comes out */
            ch = cf_term_key_now();
        }
    }
    cf_term_restore();
    for (int i = 0; i < 3; i++) signal(sigs[i], SIG_DFL);
    cf_term_release_signals();
    cf_follow_close(&fm);
    cf_follow_close(&fl);
    cf_view_free(v);
    return 0;
}

int cf_cmd_view(int argc, char **argv, int first)
{
    const char *pos[2];
    int npos;
    for (cf_flag *f = view_flags; f->name; f++) f->value = NULL;
    if (cf_args_parse(argc, argv, first, view_flags, pos, 2, &npos)) return 2;
    if (cf_flag_get(view_flags, "help")) {
        fprintf(stderr, "usage: cafetui view RUN_DIR|METRICS_FILE [--summary]\n");
        cf_flags_help(view_flags);
        return 0;
    }
    if (npos != 1) {
        fprintf(stderr, "cafetui: view: %s\nusage: cafetui view RUN_DIR|METRICS_FILE [--summary]\n",
                npos ? "give one run directory" : "no run directory given");
        return 2;
    }
    run_files rf;
    int rc = locate(pos[0], &rf);
    if (rc) return rc;
    if (cf_flag_get(view_flags, "summary") || !can_use_terminal()) return summary(&rf);
    return panes(&rf);
}
