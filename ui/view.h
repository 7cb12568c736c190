/* view.h — what the TUI knows and shows: the curves and tables it built
 * from the monitor's records, and the user's view settings (focus, zoom,
 * scales, scroll positions, an open prompt).  model.c fills it from
 * monitor records, keys.c changes it on key presses, panes.c draws it.
 * Nothing here touches the terminal or the engine, so all of it can be
 * tested without either. */
#ifndef CF_UI_VIEW_H
#define CF_UI_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"
#include "monitor.h"
#include "series.h"

#define CF_VIEW_SERIES_CAP 4096
#define CF_VIEW_MAX_ACC 8
#define CF_VIEW_LOG 1000
#define CF_VIEW_HIST 48

enum { CF_ZOOM_ALL, CF_ZOOM_1000, CF_ZOOM_100, CF_NZOOM };
enum { CF_PROMPT_NONE, CF_PROMPT_LR, CF_PROMPT_QUIT };
/* metric a layer row's sparkline follows */
enum { CF_SPARK_AUTO, CF_SPARK_MEAN, CF_SPARK_STD, CF_SPARK_ZERO, CF_SPARK_GRAD, CF_SPARK_RATIO, CF_NSPARK };
enum { CF_HIST_MEAN, CF_HIST_STD, CF_HIST_ZERO, CF_HIST_GRAD, CF_HIST_RATIO, CF_NHIST };

typedef struct cf_view_log {
    int level;              /* 0 info, 1 warning, 2 error */
    char text[240];
} cf_view_log;

typedef struct cf_view_row {
    cf_blob_stat st;
    bool relu;              /* top of a ReLU layer */
    unsigned trouble;       /* CF_TROUBLE_* */
    float hist[CF_NHIST][CF_VIEW_HIST];
    int nhist;              /* values held (≤ CF_VIEW_HIST), oldest first */
} cf_view_row;

typedef struct cf_view {
    /* curves */
    cf_series loss_raw, loss_smooth, test_loss;
    int nacc;
    char acc_name[CF_VIEW_MAX_ACC][56];
    cf_series acc[CF_VIEW_MAX_ACC];
    double acc_best[CF_VIEW_MAX_ACC];
    int acc_best_iter[CF_VIEW_MAX_ACC];
    int acc_net[CF_VIEW_MAX_ACC];    /* the test net each comes from */
    /* the last iteration of a train point and of each test net's point
     * (-1: none yet), to see a run go back */
    int last_train_iter, last_test_iter[CF_VIEW_MAX_ACC];
    /* log */
    cf_view_log log[CF_VIEW_LOG];
    uint64_t nlog;
    int log_scroll;         /* lines up from the newest */
    /* layers */
    cf_view_row row[CF_MON_MAX_STATS];
    int nrows, stats_iter;
    bool have_stats;
    int layer_scroll;
    char *relu_layers;      /* "\nname\nname\n": layers of type ReLU (owned) */
    /* engine status, as last published */
    cf_status st;
    bool has_test;          /* the recipe has test nets */
    /* view settings */
    bool logy, ascii, color;
    int zoom;               /* CF_ZOOM_* */
    int focus, zoomed;      /* pane index; zoomed -1: none */
    int spark;              /* CF_SPARK_* */
    bool help;
    int prompt;             /* CF_PROMPT_* */
    char input[64];
    /* one-line message under the panes */
    char msg[200];
    int msg_level;
    double msg_until, now;  /* seconds, monotonic */
    /* quitting */
    bool stop_sent;         /* CF_CMD_STOP went out: leave when the run ends */
    bool quit;              /* leave now */
    /* a run's files, viewed read-only (cafetui view; runview.c) */
    bool readonly;
    bool log_from_file;     /* the log pane shows train.log (else the metrics' events and tests) */
    bool run_stopped;       /* train.log says the run was stopped on request */
    unsigned long metric_lines, bad_lines;
    int bad_line_no;        /* line number of the last bad line, and why */
    char bad_why[96];
    char source[256];       /* what is viewed, for the status line */
} cf_view;

/* Allocates and sets defaults; NULL when out of memory. */
cf_view *cf_view_new(void);
void cf_view_free(cf_view *v);

/* ---- model.c: records in ---- */
/* Points are added in increasing iteration; a record at or before the
 * last one of its kind (train, or test net k) means the run went back —
 * resumed from an earlier snapshot, or started again in the same run
 * directory — and the curves of that kind forget their points from that
 * iteration on (the best values are taken again from what is left). */
void cf_view_add_iter(cf_view *v, const cf_iter_rec *r);
void cf_view_add_test(cf_view *v, const cf_test_rec *r);
/* Take no point as the last one seen (a view that starts again). */
void cf_view_forget_iters(cf_view *v);
void cf_view_add_log(cf_view *v, int level, const char *text);
void cf_view_set_stats(cf_view *v, const cf_blob_stat *s, int n, int iter);
/* Show a message for a few seconds (level 2: an error, in red). */
void cf_view_message(cf_view *v, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The history a row's sparkline follows under the view's setting. */
int cf_view_spark_metric(const cf_view *v, const cf_view_row *r);
const char *cf_spark_name(int spark);

/* ---- runview.c: a run's files in (cafetui view) ---- */
/* One line of metrics.jsonl (NULL: a line too long to keep): curves,
 * status figures, and when the log pane does not follow train.log, log
 * lines for events and test results.  A malformed line is counted and
 * skipped. */
void cf_view_feed_metrics(cf_view *v, const char *line, size_t len);
/* One line of train.log: into the log pane (without the top-shape
 * lines), and what it says about the run: the net's name and max_iter
 * from the banner, the end ("Optimization done/stopped at iteration N"),
 * an error that ended it. */
void cf_view_feed_log(cf_view *v, const char *line, size_t len);
/* Forget the curves, rows and log (the files are read again from their
 * start), keeping the view settings. */
void cf_view_clear_run(cf_view *v);

/* ---- keys.c: keys in, commands out ---- */
/* Strict parse of a typed learning rate: a finite number ≥ 0 with
 * nothing after it (spaces around are allowed). */
bool cf_parse_lr(const char *text, double *lr);
/* Apply one key (a curses key code or character); commands to send to
 * the engine go to out (room for 2).  Returns how many. */
int cf_view_key(cf_view *v, int key, cf_cmd *out);

#endif
