/* session.c — see session.h. */
#include "session.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot.h"
#include "weights.h"

cf_flag cf_train_flags[] = {
    {"headless", false, NULL, "no TUI: progress on stderr, metrics as JSON Lines"},
    {"solver", true, NULL, "the recipe or Caffe solver file (same as the positional argument)"},
    {"max-iter", true, NULL, "override the solver's max_iter"},
    {"base-lr", true, NULL, "override the solver's base_lr"},
    {"seed", true, NULL, "override the solver's random_seed"},
    {"threads", true, NULL, "CPU threads (default: all cores)"},
    {"weights", true, NULL, "initialise from a snapshot or .caffemodel (layers matched by name)"},
    {"resume", true, NULL, "continue from a snapshot (weights and solver state)"},
    {"snapshot", true, NULL, "same as --resume (Caffe's spelling)"},
    {"run-dir", true, NULL, "where the log, metrics and snapshots go (default runs/<name>)"},
    {"metrics", true, NULL, "metrics file (default <run-dir>/metrics.jsonl)"},
    {"sigint-effect", true, NULL, "on SIGINT: stop (after a snapshot, default), snapshot, none"},
    {"sighup-effect", true, NULL, "on SIGHUP: snapshot (default), stop, none"},
    {"quiet", false, NULL, "print only test results and errors"},
    {"gpu", true, NULL, "run on GPU N (needs a --with-cuda build)"},
    {"help", false, NULL, "this help"},
    {NULL, false, NULL, NULL},
};

void cf_session_print(cf_session *s, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!s->quiet) fprintf(stderr, "%s\n", buf);
    if (s->log) {
        fprintf(s->log, "%s\n", buf);
        fflush(s->log);
    }
}

static int mkdirs(const char *path, cf_error *err)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0777) && errno != EEXIST) {
            cf_error_set(err, CF_ERUNTIME, "cannot create directory: %s", strerror(errno));
            return cf_error_at(err, tmp, 0, 0);
        }
        *p = '/';
    }
    if (mkdir(tmp, 0777) && errno != EEXIST) {
        cf_error_set(err, CF_ERUNTIME, "cannot create directory: %s", strerror(errno));
        return cf_error_at(err, tmp, 0, 0);
    }
    return 0;
}

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb");
    if (!a) return -1;
    FILE *b = fopen(to, "wb");
    if (!b) {
        fclose(a);
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    fclose(a);
    return fclose(b);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static void net_log(void *ctx, const char *line)
{
    cf_session *s = ctx;
    if (s->log) fprintf(s->log, "%s\n", line);
}

static int parse_num(const char *flag, const char *v, double lo, double *out, cf_error *err)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || d < lo)
        return cf_error_set(err, CF_EINPUT, "option --%s: '%s' is not a valid value", flag, v);
    *out = d;
    return 0;
}

int cf_session_open(cf_session *s, const char *path, const cf_flag *flags, cf_error *err)
{
    memset(s, 0, sizeof *s);
    const char *v;
    double max_iter = -1, base_lr = -1, seed = -1, threads = 0;
    if (((v = cf_flag_get(flags, "max-iter")) && parse_num("max-iter", v, 0, &max_iter, err)) ||
        ((v = cf_flag_get(flags, "base-lr")) && parse_num("base-lr", v, 0, &base_lr, err)) ||
        ((v = cf_flag_get(flags, "seed")) && parse_num("seed", v, 0, &seed, err)) ||
        ((v = cf_flag_get(flags, "threads")) && parse_num("threads", v, 1, &threads, err)))
        return CF_EINPUT;
    if (cf_flag_get(flags, "gpu")) {
        cf_error_set(err, CF_EINPUT, "option --gpu: this build has no GPU backend (rebuild with ./configure --with-cuda)");
        return CF_EINPUT;
    }
    s->sigint_effect = cf_flag_get(flags, "sigint-effect") ? cf_flag_get(flags, "sigint-effect") : "stop";
    s->sighup_effect = cf_flag_get(flags, "sighup-effect") ? cf_flag_get(flags, "sighup-effect") : "snapshot";
    const char *effects[] = {"stop", "snapshot", "none"};
    for (int k = 0; k < 2; k++) {
        const char *e = k ? s->sighup_effect : s->sigint_effect;
        if (strcmp(e, effects[0]) && strcmp(e, effects[1]) && strcmp(e, effects[2])) {
            cf_error_set(err, CF_EINPUT, "option --%s: '%s' is not one of stop, snapshot, none",
                         k ? "sighup-effect" : "sigint-effect", e);
            return CF_EINPUT;
        }
    }
    s->quiet = cf_flag_get(flags, "quiet") != NULL;

    if (cf_recipe_load(path, &s->recipe, err)) return err->code ? err->code : CF_EINPUT;
    if (!s->recipe.solver) {
        cf_error_set(err, CF_EINPUT, "this file holds a net but no solver: give a recipe with 'solver:' or a Caffe solver file");
        cf_error_at(err, path, 0, 0);
        return CF_EINPUT;
    }

    /* run directory */
    const char *name = s->recipe.name;
    char stem[256];
    if (!name) {
        snprintf(stem, sizeof stem, "%s", base_name(path));
        char *dot = strrchr(stem, '.');
        if (dot && dot != stem) *dot = 0;
        name = stem;
    }
    v = cf_flag_get(flags, "run-dir");
    snprintf(s->run_dir, sizeof s->run_dir, "%s", v ? v : "runs");
    if (!v) snprintf(s->run_dir, sizeof s->run_dir, "runs/%s", name);
    if (mkdirs(s->run_dir, err)) return CF_ERUNTIME;
    char p[1024];
    snprintf(p, sizeof p, "%s/train.log", s->run_dir);
    s->log = fopen(p, "a");
    v = cf_flag_get(flags, "metrics");
    if (v) snprintf(p, sizeof p, "%s", v);
    else snprintf(p, sizeof p, "%s/metrics.jsonl", s->run_dir);
    s->metrics = fopen(p, "a");
    if (!s->log || !s->metrics) {
        cf_error_set(err, CF_ERUNTIME, "cannot write: %s", strerror(errno));
        cf_error_at(err, p, 0, 0);
        return CF_ERUNTIME;
    }
    snprintf(p, sizeof p, "%s/%s", s->run_dir, base_name(path));
    if (strcmp(p, path)) copy_file(path, p);

    /* backend and solver */
    s->threads = (int)threads;
    s->be = cf_backend_cpu_new(s->threads);
    cf_solver_opts so = {.be = s->be, .log = net_log, .log_ctx = s, .max_iter = (long)max_iter,
                         .base_lr = base_lr, .seed = (long long)seed};
    s->solver = cf_solver_new(s->recipe.solver, s->recipe.net, &so, err);
    if (!s->solver) return err->code ? err->code : CF_EINPUT;

    const char *prefix = s->solver->snapshot_prefix;
    if (prefix && prefix[0]) snprintf(s->snapshot_prefix, sizeof s->snapshot_prefix, "%s", prefix);
    else snprintf(s->snapshot_prefix, sizeof s->snapshot_prefix, "%s/%s", s->run_dir, name);
    char dir[768];
    snprintf(dir, sizeof dir, "%s", s->snapshot_prefix);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        if (dir[0] && mkdirs(dir, err)) return CF_ERUNTIME;
    }

    const char *resume = cf_flag_get(flags, "resume");
    if (!resume) resume = cf_flag_get(flags, "snapshot");
    const char *weights = cf_flag_get(flags, "weights");
    if (resume && weights) {
        cf_error_set(err, CF_EINPUT, "give --resume or --weights, not both");
        return CF_EINPUT;
    }
    if (resume && cf_snapshot_load(s->solver, resume, err)) return err->code ? err->code : CF_EINPUT;
    if (weights && cf_net_load_weights(s->solver->net, weights, err)) return err->code ? err->code : CF_EINPUT;

    s->mon = cf_monitor_new();
    s->trainer = (cf_trainer){.solver = s->solver, .mon = s->mon, .snapshot = cf_snapshot_save,
                              .snapshot_prefix = s->snapshot_prefix};
    return 0;
}

void cf_session_close(cf_session *s)
{
    cf_solver_free(s->solver);
    cf_backend_free(s->be);
    cf_monitor_free(s->mon);
    cf_recipe_free(&s->recipe);
    if (s->log) fclose(s->log);
    if (s->metrics) fclose(s->metrics);
    memset(s, 0, sizeof *s);
}

static pthread_t worker;

static void *work(void *arg)
{
    cf_session *s = arg;
    cf_trainer_run(&s->trainer);
    return NULL;
}

int cf_session_start(cf_session *s)
{
    return pthread_create(&worker, NULL, work, s) ? -1 : 0;
}

int cf_session_join(cf_session *s)
{
    pthread_join(worker, NULL);
    return s->trainer.exit_code;
}
