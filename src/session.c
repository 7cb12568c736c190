/* session.c — see session.h. */
#include "session.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cuda/gpu.h"
#include "model.h"
#include "snapshot.h"
#include "weights.h"

cf_flag cf_train_flags[] = {
    {"headless", false, NULL, "no TUI: progress on stderr, metrics as JSON Lines"},
    {"solver", true, NULL, "the recipe or Caffe solver file (same as the positional argument)"},
    {"max-iter", true, NULL, "override the solver's max_iter"},
    {"base-lr", true, NULL, "override the solver's base_lr"},
    {"seed", true, NULL, "override the solver's random_seed"},
    {"threads", true, NULL, "CPU threads (default: all cores; under mpirun, the cores of each rank)"},
    {"weights", true, NULL, "initialise from a snapshot or .caffemodel (layers matched by name)"},
    {"resume", true, NULL, "continue from a snapshot (weights and solver state)"},
    {"snapshot", true, NULL, "same as --resume (Caffe's spelling)"},
    {"run-dir", true, NULL, "where the log, metrics and snapshots go (default runs/<name>)"},
    {"metrics", true, NULL, "metrics file (default <run-dir>/metrics.jsonl)"},
    {"sigint-effect", true, NULL, "on SIGINT: stop (after a snapshot, default), snapshot, none"},
    {"sighup-effect", true, NULL, "on SIGHUP: snapshot (default), stop, none"},
    {"on-snapshot-error", true, NULL, "when a periodic snapshot fails (a full disk): stop (default) or continue"},
    {"quiet", false, NULL, "print only test results and errors"},
    {"gpu", true, NULL, "run on GPU N (needs a --with-cuda build and a CUDA device)"},
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

_Noreturn void cf_session_abort_now(cf_session *s, const char *signame)
{
    bool quiet = s->quiet;
    s->quiet = false; /* this line is for the user even under --quiet */
    cf_session_print(s, "%s again: stopping now, without waiting for the snapshot (exit status 130)", signame);
    s->quiet = quiet;
    if (s->metrics) fflush(s->metrics);
    fflush(stderr);
    /* _exit: the worker may be inside HDF5 or a layer; exit() would run
     * the libraries' atexit handlers under its feet. */
    _exit(130);
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

/* The backend: GPU `gpu` when --gpu gave one; else the GPU the solver's
 * solver_mode GPU (and device_id) asks for when it can be used, and the
 * CPU with a notice when it cannot (Caffe's example solvers all say GPU).
 * device_note says which, for the front end to print. */
static cf_backend *make_backend(cf_session *s, int gpu, cf_error *err)
{
    static const char *const modes[] = {"CPU", "GPU", NULL};
    int mode = 0;
    long dev = 0;
    if (gpu < 0 && !cf_get_enum(s->recipe.solver, "solver_mode", modes, 0, &mode, NULL) && mode == 1 &&
        !cf_get_int(s->recipe.solver, "device_id", 0, &dev, NULL)) {
        cf_error why;
        if (!cf_gpu_built()) snprintf(why.msg, sizeof why.msg, "this build has no GPU backend");
        else if (dev < 0 || dev > INT_MAX) cf_error_set(&why, CF_EINPUT, "device_id %ld is not a GPU number", dev);
        else if (cf_gpu_check((int)dev, &why) == 0) gpu = (int)dev;
        if (gpu < 0)
            snprintf(s->device_note, sizeof s->device_note, "notice: solver_mode GPU: %s; running on the CPU", why.msg);
    }
    if (gpu < 0) return cf_backend_cpu_new(s->threads);
    /* several processes on a host: its k-th rank takes the k-th GPU from there */
    if (cf_dist_size(s->dist) > 1) gpu += cf_dist_local_rank();
    cf_backend *be = cf_backend_gpu_new((int)gpu, s->threads, err);
    if (be) {
        char d[300];
        snprintf(s->device_note, sizeof s->device_note,
                 "cafetui: running on %s; layers without a GPU implementation run on the CPU (%d threads)",
                 cf_gpu_describe(be, d, sizeof d), be->nthreads);
    }
    return be;
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

/* Threads when --threads is not given: all cores, or under mpirun the
 * cores this rank is bound to, shared with the other ranks on this host
 * (Open MPI says how many). */
static int default_threads(const cf_dist *d)
{
    if (cf_dist_size(d) <= 1) return 0;
    cpu_set_t set;
    long online = sysconf(_SC_NPROCESSORS_ONLN), mine = online;
    if (sched_getaffinity(0, sizeof set, &set) == 0) mine = CPU_COUNT(&set);
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    long per = local && atol(local) > 0 ? online / atol(local) : online;
    long n = mine < per ? mine : per;
    return n > 0 ? (int)n : 1;
}

/* Ranks > 0 write nothing: the snapshot writer is a no-op there. */
static int no_snapshot(cf_solver *s, const char *path, cf_error *err) { return 0; }

static int open_local(cf_session *s, const char *path, const cf_flag *flags, cf_error *err);

/* After each rank opened its session: did every rank?  Each contributes
 * its exit code; the failed ranks keep their own message, the others say
 * who failed; all return the worst code. */
static int agree(cf_session *s, int rc, cf_error *err)
{
    cf_dist *d = s->dist;
    float *codes = calloc((size_t)d->size, sizeof *codes);
    if (!codes) abort();
    codes[d->rank] = (float)rc;
    cf_error cerr;
    if (cf_dist_allreduce_sum(d, codes, (size_t)d->size, &cerr)) {
        free(codes);
        if (!rc) *err = cerr;
        return rc ? rc : CF_ERUNTIME;
    }
    int worst = 0, nfail = 0;
    char who[256] = "";
    for (int r = 0; r < d->size; r++) {
        if (codes[r] == 0) continue;
        if ((int)codes[r] > worst) worst = (int)codes[r];
        size_t len = strlen(who);
        if (nfail++ < 8 && len + 16 < sizeof who) snprintf(who + len, sizeof who - len, "%s%d", len ? ", " : "", r);
    }
    free(codes);
    if (!rc && worst)
        cf_error_set(err, worst, "rank %d of %d: stopping: rank%s %s%s failed to start (see %s message)", d->rank,
                     d->size, nfail > 1 ? "s" : "", who, nfail > 8 ? ", ..." : "", nfail > 1 ? "their" : "its");
    return rc ? rc : worst;
}

int cf_session_open(cf_session *s, const char *path, const cf_flag *flags, cf_error *err)
{
    int rc = open_local(s, path, flags, err);
    if (cf_dist_size(s->dist) <= 1) return rc;
    rc = agree(s, rc, err);
    if (rc) return rc;
    /* on GPUs, with NCCL in the build: the gradients are summed on the GPUs */
    if (cf_dist_attach_gpu(s->dist, s->be, err)) return CF_ERUNTIME;
    return cf_solver_dist_sync(s->solver, err) ? CF_ERUNTIME : 0;
}

static int open_local(cf_session *s, const char *path, const cf_flag *flags, cf_error *err)
{
    memset(s, 0, sizeof *s);
    s->dist = cf_dist_world();
    bool rank0 = cf_dist_rank(s->dist) == 0;
    const char *v;
    double max_iter = -1, base_lr = -1, seed = -1, threads = 0;
    if (((v = cf_flag_get(flags, "max-iter")) && parse_num("max-iter", v, 0, &max_iter, err)) ||
        ((v = cf_flag_get(flags, "base-lr")) && parse_num("base-lr", v, 0, &base_lr, err)) ||
        ((v = cf_flag_get(flags, "seed")) && parse_num("seed", v, 0, &seed, err)) ||
        ((v = cf_flag_get(flags, "threads")) && parse_num("threads", v, 1, &threads, err)))
        return CF_EINPUT;
    /* --gpu is checked at once, so a run that cannot have its GPU stops
     * before anything else, with one line saying why */
    int gpu;
    if (cf_model_gpu_flag(cf_flag_get(flags, "gpu"), &gpu, err)) return CF_EINPUT;
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
    if (!rank0) { /* rank 0 speaks and listens for the job */
        s->quiet = true;
        s->sigint_effect = s->sighup_effect = "none";
    }

    const char *on_snap_err = cf_flag_get(flags, "on-snapshot-error");
    if (on_snap_err && strcmp(on_snap_err, "stop") && strcmp(on_snap_err, "continue")) {
        cf_error_set(err, CF_EINPUT, "option --on-snapshot-error: '%s' is not one of stop, continue", on_snap_err);
        return CF_EINPUT;
    }
    /* a file grown past ulimit -f fails its write (EFBIG), which the
     * snapshot writer reports, instead of killing the run */
    signal(SIGXFSZ, SIG_IGN);

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
    char p[1024];
    if (!rank0) {
        s->metrics = fopen("/dev/null", "w");
        if (!s->metrics) {
            cf_error_set(err, CF_ERUNTIME, "cannot write: %s", strerror(errno));
            return cf_error_at(err, "/dev/null", 0, 0), CF_ERUNTIME;
        }
    }
    if (rank0 && mkdirs(s->run_dir, err)) return CF_ERUNTIME;
    snprintf(p, sizeof p, "%s/train.log", s->run_dir);
    if (rank0) s->log = fopen(p, "a");
    v = cf_flag_get(flags, "metrics");
    if (v) snprintf(p, sizeof p, "%s", v);
    else snprintf(p, sizeof p, "%s/metrics.jsonl", s->run_dir);
    if (rank0) s->metrics = fopen(p, "a");
    if ((rank0 && !s->log) || !s->metrics) {
        cf_error_set(err, CF_ERUNTIME, "cannot write: %s", strerror(errno));
        cf_error_at(err, p, 0, 0);
        return CF_ERUNTIME;
    }
    snprintf(p, sizeof p, "%s/%s", s->run_dir, base_name(path));
    if (rank0 && strcmp(p, path)) copy_file(path, p);

    /* backend and solver */
    s->threads = threads > 0 ? (int)threads : default_threads(s->dist);
    s->be = make_backend(s, gpu, err);
    if (!s->be) return err->code ? err->code : CF_ERUNTIME;
    /* CAFETUI_BUCKET_KB: the gradient bucket size over several processes */
    const char *bkb = getenv("CAFETUI_BUCKET_KB");
    cf_solver_opts so = {.be = s->be, .log = net_log, .log_ctx = s, .max_iter = (long)max_iter,
                         .base_lr = base_lr, .seed = (long long)seed, .dist = s->dist,
                         .bucket_bytes = bkb && atol(bkb) > 0 ? (size_t)atol(bkb) * 1024 : 0};
    s->solver = cf_solver_new(s->recipe.solver, s->recipe.net, &so, err);
    if (!s->solver) return err->code ? err->code : CF_EINPUT;

    const char *prefix = s->solver->snapshot_prefix;
    if (prefix && prefix[0]) snprintf(s->snapshot_prefix, sizeof s->snapshot_prefix, "%s", prefix);
    else snprintf(s->snapshot_prefix, sizeof s->snapshot_prefix, "%s/%s", s->run_dir, name);
    char dir[768];
    snprintf(dir, sizeof dir, "%s", s->snapshot_prefix);
    char *slash = strrchr(dir, '/');
    if (slash && rank0) {
        *slash = 0;
        if (dir[0] && mkdirs(dir, err)) return CF_ERUNTIME;
    }

    /* temporary files of saves killed half-way (never snapshots: only
     * the rename makes one) are removed before this run writes its own */
    int stale = rank0 ? cf_snapshot_clean_temps(s->snapshot_prefix) : 0;

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
    s->trainer = (cf_trainer){.solver = s->solver, .mon = s->mon, .snapshot = rank0 ? cf_snapshot_save : no_snapshot,
                              .snapshot_prefix = s->snapshot_prefix};
    s->trainer.snapshot_errors_continue = on_snap_err && !strcmp(on_snap_err, "continue");
    if (stale > 0)
        cf_monitor_logf(s->mon, 1, "removed %d temporary file%s left by an interrupted snapshot (%s_iter_N.h5.tmp-*)",
                        stale, stale > 1 ? "s" : "", s->snapshot_prefix);
    return 0;
}

/* Several processes, after training: a failed rank ends the job (the
 * others may be waiting for it in a collective); rank 0 having stopped
 * early lets the others go. */
static void end_job(cf_session *s)
{
    cf_dist *d = s->dist;
    if (cf_dist_size(d) <= 1 || !s->started || !s->solver) return;
    if (s->trainer.exit_code != 0 && !s->solver->dist_stopped) {
        fprintf(stderr, "cafetui: rank %d of %d failed; stopping every rank\n", d->rank, d->size);
        cf_dist_abort(d, s->trainer.exit_code);
    }
    cf_error err;
    if (d->rank == 0 && s->solver->iter < s->solver->max_iter && cf_solver_dist_leave(s->solver, &err)) {
        char buf[1400];
        fprintf(stderr, "cafetui: %s\n", cf_error_str(&err, buf, sizeof buf));
        cf_dist_abort(d, 1);
    }
}

void cf_session_close(cf_session *s)
{
    end_job(s);
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
    if (pthread_create(&worker, NULL, work, s)) return -1;
    s->started = true;
    return 0;
}

int cf_session_join(cf_session *s)
{
    pthread_join(worker, NULL);
    return s->trainer.exit_code;
}
