/* monitor.c — see monitor.h. */
#include "monitor.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD_CAP 64

struct cf_monitor {
    pthread_mutex_t mu;
    pthread_cond_t cmd_cv, pub_cv;
    cf_iter_rec iters[CF_MON_ITERS];
    uint64_t niters;
    cf_test_rec tests[CF_MON_TESTS];
    uint64_t ntests;
    cf_test_rec trains[CF_MON_TRAINS];
    uint64_t ntrains;
    cf_log_rec logs[CF_MON_LOGS];
    uint64_t nlogs;
    cf_cmd cmds[CMD_CAP];
    int cmd_head, cmd_len;
    cf_status status;
    cf_blob_stat stats[CF_MON_MAX_STATS];
    int nstats, stats_iter;
    bool stats_wanted;
    struct timespec t0;
    uint64_t npub, npub_seen;   /* publications; their count when the reader last woke */
    struct timespec last_wake;  /* CLOCK_MONOTONIC; the reader's alone */
};

static const char *const state_names[] = {"starting", "running", "paused", "testing", "snapshotting", "done", "failed"};

const char *cf_run_state_name(cf_run_state s)
{
    return (unsigned)s < sizeof state_names / sizeof *state_names ? state_names[s] : "?";
}

cf_monitor *cf_monitor_new(void)
{
    cf_monitor *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cmd_cv, NULL);
    pthread_cond_init(&m->pub_cv, NULL);
    clock_gettime(CLOCK_MONOTONIC, &m->t0);
    return m;
}

void cf_monitor_free(cf_monitor *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cmd_cv);
    pthread_cond_destroy(&m->pub_cv);
    free(m);
}

static void published(cf_monitor *m)
{
    m->npub++;
    pthread_cond_broadcast(&m->pub_cv); /* no syscall while the reader is not waiting */
}

void cf_monitor_push_iter(cf_monitor *m, const cf_iter_rec *r)
{
    pthread_mutex_lock(&m->mu);
    m->iters[m->niters++ % CF_MON_ITERS] = *r;
    published(m);
    pthread_mutex_unlock(&m->mu);
}

void cf_monitor_push_test(cf_monitor *m, const cf_test_rec *r)
{
    pthread_mutex_lock(&m->mu);
    m->tests[m->ntests++ % CF_MON_TESTS] = *r;
    published(m);
    pthread_mutex_unlock(&m->mu);
}

void cf_monitor_push_train(cf_monitor *m, const cf_test_rec *r)
{
    pthread_mutex_lock(&m->mu);
    m->trains[m->ntrains++ % CF_MON_TRAINS] = *r;
    pthread_mutex_unlock(&m->mu); /* its cf_iter_rec, pushed next, wakes the readers */
}

void cf_monitor_logf(cf_monitor *m, int level, const char *fmt, ...)
{
    cf_log_rec r = {0};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r.text, sizeof r.text, fmt, ap);
    va_end(ap);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    r.t = (double)(now.tv_sec - m->t0.tv_sec) + (now.tv_nsec - m->t0.tv_nsec) * 1e-9;
    r.level = level;
    pthread_mutex_lock(&m->mu);
    r.seq = m->nlogs;
    m->logs[m->nlogs++ % CF_MON_LOGS] = r;
    published(m);
    pthread_mutex_unlock(&m->mu);
}

void cf_monitor_set_status(cf_monitor *m, const cf_status *s)
{
    pthread_mutex_lock(&m->mu);
    m->status = *s;
    published(m);
    pthread_mutex_unlock(&m->mu);
}

bool cf_monitor_stats_wanted(cf_monitor *m)
{
    pthread_mutex_lock(&m->mu);
    bool w = m->stats_wanted;
    pthread_mutex_unlock(&m->mu);
    return w;
}

void cf_monitor_set_stats(cf_monitor *m, const cf_blob_stat *s, int n, int iter)
{
    if (n > CF_MON_MAX_STATS) n = CF_MON_MAX_STATS;
    pthread_mutex_lock(&m->mu);
    memcpy(m->stats, s, (size_t)n * sizeof *s);
    m->nstats = n;
    m->stats_iter = iter;
    m->stats_wanted = false;
    published(m);
    pthread_mutex_unlock(&m->mu);
}

static void deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

bool cf_monitor_next_cmd(cf_monitor *m, cf_cmd *out, bool wait)
{
    pthread_mutex_lock(&m->mu);
    while (wait && m->cmd_len == 0) {
        struct timespec ts;
        deadline(&ts, 200);
        pthread_cond_timedwait(&m->cmd_cv, &m->mu, &ts);
    }
    bool got = m->cmd_len > 0;
    if (got) {
        *out = m->cmds[m->cmd_head];
        m->cmd_head = (m->cmd_head + 1) % CMD_CAP;
        m->cmd_len--;
    }
    pthread_mutex_unlock(&m->mu);
    return got;
}

void cf_monitor_send(cf_monitor *m, cf_cmd c)
{
    pthread_mutex_lock(&m->mu);
    if (m->cmd_len < CMD_CAP) { /* a full queue drops the command: keys can be pressed again */
        m->cmds[(m->cmd_head + m->cmd_len) % CMD_CAP] = c;
        m->cmd_len++;
    }
    pthread_cond_signal(&m->cmd_cv);
    pthread_mutex_unlock(&m->mu);
}

/* Copy ring entries [max(*seq, total − cap), total) — at most `max`. */
static size_t ring_copy(const void *ring, size_t elem, size_t cap, uint64_t total, uint64_t *seq, void *out,
                        size_t max)
{
    uint64_t from = *seq;
    if (total > cap && from < total - cap) from = total - cap;
    size_t n = 0;
    for (uint64_t i = from; i < total && n < max; i++, n++)
        memcpy((char *)out + n * elem, (const char *)ring + (i % cap) * elem, elem);
    *seq = from + n;
    return n;
}

size_t cf_monitor_iters(cf_monitor *m, uint64_t *seq, cf_iter_rec *out, size_t max)
{
    pthread_mutex_lock(&m->mu);
    size_t n = ring_copy(m->iters, sizeof *out, CF_MON_ITERS, m->niters, seq, out, max);
    pthread_mutex_unlock(&m->mu);
    return n;
}

size_t cf_monitor_tests(cf_monitor *m, uint64_t *seq, cf_test_rec *out, size_t max)
{
    pthread_mutex_lock(&m->mu);
    size_t n = ring_copy(m->tests, sizeof *out, CF_MON_TESTS, m->ntests, seq, out, max);
    pthread_mutex_unlock(&m->mu);
    return n;
}

bool cf_monitor_train_outputs(cf_monitor *m, cf_train_cursor *c, int iter, cf_test_rec *out)
{
    for (;;) {
        if (!c->held) {
            pthread_mutex_lock(&m->mu);
            size_t n = ring_copy(m->trains, sizeof c->rec, CF_MON_TRAINS, m->ntrains, &c->seq, &c->rec, 1);
            pthread_mutex_unlock(&m->mu);
            if (!n) return false;
            c->held = true;
        }
        if (c->rec.iter > iter) return false; /* for a later display iteration */
        c->held = false;
        if (c->rec.iter == iter) {
            *out = c->rec;
            return true;
        }
    }
}

size_t cf_monitor_logs(cf_monitor *m, uint64_t *seq, cf_log_rec *out, size_t max)
{
    pthread_mutex_lock(&m->mu);
    size_t n = ring_copy(m->logs, sizeof *out, CF_MON_LOGS, m->nlogs, seq, out, max);
    pthread_mutex_unlock(&m->mu);
    return n;
}

void cf_monitor_get_status(cf_monitor *m, cf_status *out)
{
    pthread_mutex_lock(&m->mu);
    *out = m->status;
    pthread_mutex_unlock(&m->mu);
}

void cf_monitor_want_stats(cf_monitor *m)
{
    pthread_mutex_lock(&m->mu);
    m->stats_wanted = true;
    pthread_mutex_unlock(&m->mu);
}

int cf_monitor_get_stats(cf_monitor *m, cf_blob_stat *out, int max, int *iter)
{
    pthread_mutex_lock(&m->mu);
    int n = m->nstats < max ? m->nstats : max;
    memcpy(out, m->stats, (size_t)n * sizeof *out);
    if (iter) *iter = m->stats_iter;
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* A reader woken by every record of a net that runs 10,000 iterations a
 * second spends more time being woken than reading (bench/soak.yaml,
 * 200,000 iterations: 3.5 context switches and 15 µs of system time per
 * iteration; paced, 3,000 switches in all).  So a wake
 * comes at least CF_MON_WAKE_MS after the last one: the reader sleeps out
 * the rest first (a signal cuts the sleep short), and then returns at
 * once if anything was published meanwhile. */
#define CF_MON_WAKE_MS 10

void cf_monitor_wait(cf_monitor *m, int ms)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long since = (now.tv_sec - m->last_wake.tv_sec) * 1000000000LL + (now.tv_nsec - m->last_wake.tv_nsec);
    long long rest = CF_MON_WAKE_MS * 1000000LL - since;
    if (rest > 0 && rest <= CF_MON_WAKE_MS * 1000000LL) {
        struct timespec nap = {0, (long)rest};
        nanosleep(&nap, NULL);
    }
    struct timespec ts;
    deadline(&ts, ms);
    pthread_mutex_lock(&m->mu);
    while (m->npub == m->npub_seen && pthread_cond_timedwait(&m->pub_cv, &m->mu, &ts) == 0) {
    }
    m->npub_seen = m->npub;
    pthread_mutex_unlock(&m->mu);
    clock_gettime(CLOCK_MONOTONIC, &m->last_wake);
}
