/* monitor.h — the only door between a running engine and its front ends.
 *
 * The worker thread (the trainer) publishes; front ends (ui/, the
 * headless runner) read, from another thread, and send commands back.
 *   out: every iteration a cf_iter_rec; every test pass a cf_test_rec;
 *        at each display iteration the train net's outputs (a
 *        cf_test_rec with net -1, published before that iteration's
 *        cf_iter_rec); log lines; a cf_status snapshot; per-blob statistics when a front
 *        end has asked for them (cf_monitor_want_stats).
 *   in:  commands (pause, resume, lr, snapshot, test, stop), drained by
 *        the trainer between iterations.
 * Records live in rings with sequence numbers: a reader keeps the number
 * of the next record it wants and gets what is still held.  One mutex
 * guards everything; each call holds it for a memcpy, so neither side
 * can stall the other.
 *
 * Ownership: cf_monitor_new allocates, cf_monitor_free frees; records are
 * copied in and out.
 */
#ifndef CF_MONITOR_H
#define CF_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CF_MON_ITERS 65536
#define CF_MON_TESTS 4096
#define CF_MON_LOGS 2048
#define CF_MON_TRAINS 512
#define CF_MON_MAX_OUT 16
#define CF_MON_MAX_STATS 256
#define CF_MON_MAX_RANKS 16

typedef enum {
    CF_CMD_PAUSE, CF_CMD_RESUME, CF_CMD_TOGGLE_PAUSE,
    CF_CMD_LR_MUL,       /* value: multiply the lr scale */
    CF_CMD_LR_SET,       /* value: the lr to use now (scale = value / policy lr) */
    CF_CMD_SNAPSHOT, CF_CMD_TEST,
    CF_CMD_STOP,         /* value != 0: snapshot first */
} cf_cmd_kind;

typedef struct cf_cmd { cf_cmd_kind kind; double value; } cf_cmd;

typedef enum {
    CF_RUN_STARTING, CF_RUN_RUNNING, CF_RUN_PAUSED, CF_RUN_TESTING, CF_RUN_SNAPSHOTTING, CF_RUN_DONE, CF_RUN_FAILED
} cf_run_state;

const char *cf_run_state_name(cf_run_state s);

typedef struct cf_iter_rec {
    int iter;                /* iteration this loss belongs to (before the update) */
    float loss, smoothed;
    double lr;
    double ips;              /* images per second, recent (all ranks together) */
    double elapsed;          /* seconds since training started */
} cf_iter_rec;

/* A test pass's outputs (means over its batches), or the train net's
 * outputs at a display iteration (net -1; values of the last batch). */
typedef struct cf_test_rec {
    int iter, net, n;
    char name[CF_MON_MAX_OUT][48];
    double value[CF_MON_MAX_OUT];
    bool is_loss[CF_MON_MAX_OUT];
    double weight[CF_MON_MAX_OUT];
    double loss;
    double seconds;
} cf_test_rec;

typedef struct cf_log_rec {
    uint64_t seq;
    double t;
    int level;               /* 0 info, 1 warning, 2 error */
    char text[240];
} cf_log_rec;

typedef struct cf_moments {
    float mean, std, min, max, zero_frac;
    uint32_t nonfinite;
} cf_moments;

typedef struct cf_blob_stat {
    char layer[48], blob[48];
    char kind;               /* 't' a layer's top, 'p' a param */
    char shape[48];
    cf_moments data, diff;
    float norm, grad_norm, update_norm; /* params only: L2 norms */
} cf_blob_stat;

typedef struct cf_status {
    cf_run_state state;
    int iter, max_iter;
    double lr, lr_scale, ips, elapsed, eta, epoch;
    int batch;
    char last_snapshot[256];
    char net_name[64];
    size_t param_bytes, blob_bytes, workspace_bytes;
    size_t rss_bytes;
    char device[64];
    size_t dev_used, dev_total;  /* GPU; 0 on the CPU */
    size_t dev_engine;           /* GPU: bytes the engine holds there (blobs, workspace) */
    char error[512];
    /* several processes (ranks > 1); batch and ips above are for all ranks */
    int ranks;
    double comm_s, step_s;   /* mean seconds per iteration communicating, and in all, since the start */
    double comm_frac;        /* comm_s / step_s */
    double rank_ips[CF_MON_MAX_RANKS]; /* per rank (the first ones): images/s while computing */
} cf_status;

typedef struct cf_monitor cf_monitor;

cf_monitor *cf_monitor_new(void);
void cf_monitor_free(cf_monitor *m);

/* ---- engine side ---- */
void cf_monitor_push_iter(cf_monitor *m, const cf_iter_rec *r);
void cf_monitor_push_test(cf_monitor *m, const cf_test_rec *r);
void cf_monitor_push_train(cf_monitor *m, const cf_test_rec *r);
void cf_monitor_logf(cf_monitor *m, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cf_monitor_set_status(cf_monitor *m, const cf_status *s);
bool cf_monitor_stats_wanted(cf_monitor *m);
void cf_monitor_set_stats(cf_monitor *m, const cf_blob_stat *s, int n, int iter);
/* Next command, or false when none; with wait, blocks until one comes. */
bool cf_monitor_next_cmd(cf_monitor *m, cf_cmd *out, bool wait);

/* ---- front-end side ---- */
void cf_monitor_send(cf_monitor *m, cf_cmd c);
/* Copy records with sequence >= *seq (at most max) and advance *seq.
 * Returns how many were copied.  Records that fell out of the ring are
 * skipped. */
size_t cf_monitor_iters(cf_monitor *m, uint64_t *seq, cf_iter_rec *out, size_t max);
size_t cf_monitor_tests(cf_monitor *m, uint64_t *seq, cf_test_rec *out, size_t max);
size_t cf_monitor_logs(cf_monitor *m, uint64_t *seq, cf_log_rec *out, size_t max);
/* The train outputs published for iteration `iter`, read in iteration
 * order through a cursor (zeroed to start): false when there are none
 * (not a display iteration, or fallen out of the ring). */
typedef struct cf_train_cursor {
    uint64_t seq;
    bool held;               /* rec was read and is for a later iteration */
    cf_test_rec rec;
} cf_train_cursor;
bool cf_monitor_train_outputs(cf_monitor *m, cf_train_cursor *c, int iter, cf_test_rec *out);
void cf_monitor_get_status(cf_monitor *m, cf_status *out);
/* Ask for statistics (the trainer computes them between iterations). */
void cf_monitor_want_stats(cf_monitor *m);
/* Copy the latest statistics; returns their count, *iter their iteration. */
int cf_monitor_get_stats(cf_monitor *m, cf_blob_stat *out, int max, int *iter);
/* Wait until something new is published or ms pass, but return no
 * sooner than 10 ms after the previous return (one reader: a front end
 * wakes at most 100 times a second however fast iterations come; the
 * rings hold what came meanwhile). */
void cf_monitor_wait(cf_monitor *m, int ms);

#endif
