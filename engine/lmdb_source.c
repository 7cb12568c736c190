/* lmdb_source.c — LMDB reader and writer (see lmdb_source.h). */
#include "lmdb_source.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* LMDB forbids opening one database twice in a process (closing one
 * handle would drop the other's locks), yet a train and a test net may
 * read the same directory.  Readers therefore share one environment per
 * directory (by device and inode), counted; each has its own read
 * transaction and cursor. */
typedef struct shared_env {
    MDB_env *env;
    dev_t dev;
    ino_t ino;
    int refs;
    struct shared_env *next;
} shared_env;

static shared_env *envs;
static pthread_mutex_t envs_mu = PTHREAD_MUTEX_INITIALIZER;

struct cf_lmdb_source {
    shared_env *shared;
    MDB_env *env;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_dbi dbi;
    size_t count, index;
    MDB_val key, val;   /* the current record */
    char *path;
};

static int open_env(MDB_env **env, const char *path, unsigned flags)
{
    int rc = mdb_env_create(env);
    if (rc) return rc;
    rc = mdb_env_open(*env, path, flags, 0664);
    if (rc) {
        mdb_env_close(*env);
        *env = NULL;
    }
    return rc;
}

/* The environment for the directory `st` describes: shared when already
 * open, else opened (MDB_NOTLS: a read transaction belongs to its
 * reader, not to the thread that began it, since the prefetch thread
 * takes readers over).  Where the directory cannot be written, no lock
 * file can be kept: read without one. */
static int acquire_env(cf_lmdb_source *s, const struct stat *st)
{
    int rc = 0;
    pthread_mutex_lock(&envs_mu);
    shared_env *e = envs;
    while (e && !(e->dev == st->st_dev && e->ino == st->st_ino)) e = e->next;
    if (!e) {
        MDB_env *env;
        rc = open_env(&env, s->path, MDB_RDONLY | MDB_NOTLS);
        if (rc == EACCES || rc == EROFS || rc == EPERM) rc = open_env(&env, s->path, MDB_RDONLY | MDB_NOTLS | MDB_NOLOCK);
        if (!rc) {
            e = calloc(1, sizeof *e);
            if (!e) abort();
            *e = (shared_env){.env = env, .dev = st->st_dev, .ino = st->st_ino, .next = envs};
            envs = e;
        }
    }
    if (e) {
        e->refs++;
        s->shared = e;
        s->env = e->env;
    }
    pthread_mutex_unlock(&envs_mu);
    return rc;
}

static void release_env(cf_lmdb_source *s)
{
    if (!s->shared) return;
    pthread_mutex_lock(&envs_mu);
    if (--s->shared->refs == 0) {
        shared_env **p = &envs;
        while (*p != s->shared) p = &(*p)->next;
        *p = s->shared->next;
        mdb_env_close(s->shared->env);
        free(s->shared);
    }
    pthread_mutex_unlock(&envs_mu);
    s->shared = NULL;
    s->env = NULL;
}

/* A data.mdb cut short still has valid meta pages, but reading past its
 * end through the map would kill the process with SIGBUS: compare the
 * last page the meta page promises with the file's size first. */
static int check_size(cf_lmdb_source *s, cf_error *err)
{
    MDB_envinfo info;
    MDB_stat st;
    struct stat fst;
    char file[4096];
    snprintf(file, sizeof file, "%s/data.mdb", s->path);
    if (mdb_env_info(s->env, &info) || mdb_env_stat(s->env, &st) || stat(file, &fst)) return 0;
    unsigned long long need = ((unsigned long long)info.me_last_pgno + 1) * st.ms_psize;
    if ((unsigned long long)fst.st_size < need)
        return cf_error_set(err, CF_EINPUT, "LMDB '%s' is truncated: data.mdb has %lld bytes, needs %llu",
                            s->path, (long long)fst.st_size, need);
    return 0;
}

static int first(cf_lmdb_source *s, cf_error *err)
{
    int rc = mdb_cursor_get(s->cur, &s->key, &s->val, MDB_FIRST);
    s->index = 0;
    if (rc) return cf_error_set(err, CF_EINPUT, "LMDB '%s': cannot read the first record: %s", s->path,
                                mdb_strerror(rc));
    return 0;
}

cf_lmdb_source *cf_lmdb_open(const char *dir, cf_error *err)
{
    struct stat st;
    if (stat(dir, &st)) {
        cf_error_set(err, CF_EINPUT, "cannot open LMDB '%s': %s", dir, strerror(errno));
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        cf_error_set(err, CF_EINPUT, "cannot open LMDB '%s': not a directory (an LMDB is a directory holding data.mdb)",
                     dir);
        return NULL;
    }
    char file[4096];
    snprintf(file, sizeof file, "%s/data.mdb", dir);
    if (stat(file, &st)) {
        cf_error_set(err, CF_EINPUT, "cannot open LMDB '%s': it holds no data.mdb", dir);
        return NULL;
    }
    cf_lmdb_source *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(dir))) abort();
    if (stat(dir, &st)) {
        cf_error_set(err, CF_EINPUT, "cannot open LMDB '%s': %s", dir, strerror(errno));
        goto fail;
    }
    int rc = acquire_env(s, &st);
    if (rc) {
        cf_error_set(err, CF_EINPUT, "cannot open LMDB '%s': %s", dir, mdb_strerror(rc));
        goto fail;
    }
    if (check_size(s, err)) goto fail;
    MDB_stat ms;
    if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->txn)) || (rc = mdb_dbi_open(s->txn, NULL, 0, &s->dbi)) ||
        (rc = mdb_stat(s->txn, s->dbi, &ms)) || (rc = mdb_cursor_open(s->txn, s->dbi, &s->cur))) {
        cf_error_set(err, CF_EINPUT, "cannot read LMDB '%s': %s", dir, mdb_strerror(rc));
        goto fail;
    }
    s->count = ms.ms_entries;
    if (!s->count) {
        cf_error_set(err, CF_EINPUT, "LMDB '%s' holds no records", dir);
        goto fail;
    }
    if (first(s, err)) goto fail;
    return s;
fail:
    cf_lmdb_close(s);
    return NULL;
}

void cf_lmdb_close(cf_lmdb_source *s)
{
    if (!s) return;
    if (s->cur) mdb_cursor_close(s->cur);
    if (s->txn) mdb_txn_abort(s->txn);
    release_env(s);
    free(s->path);
    free(s);
}

const char *cf_lmdb_path(const cf_lmdb_source *s) { return s->path; }
size_t cf_lmdb_count(const cf_lmdb_source *s) { return s->count; }
size_t cf_lmdb_index(const cf_lmdb_source *s) { return s->index; }

void cf_lmdb_get(const cf_lmdb_source *s, const void **key, size_t *klen, const void **val, size_t *vlen)
{
    *key = s->key.mv_data;
    *klen = s->key.mv_size;
    *val = s->val.mv_data;
    *vlen = s->val.mv_size;
}

int cf_lmdb_advance(cf_lmdb_source *s, cf_error *err)
{
    int rc = mdb_cursor_get(s->cur, &s->key, &s->val, MDB_NEXT);
    if (rc == MDB_NOTFOUND) return first(s, err);
    if (rc) return cf_error_set(err, CF_EINPUT, "LMDB '%s': cannot read record %zu: %s", s->path, s->index + 1,
                                mdb_strerror(rc));
    s->index++;
    return 0;
}

int cf_lmdb_seek(cf_lmdb_source *s, size_t index, cf_error *err)
{
    if (first(s, err)) return -1;
    for (size_t i = index % s->count; i > 0; i--)
        if (cf_lmdb_advance(s, err)) return -1;
    return 0;
}

/* ---- writer ---- */

/* Caffe's converters commit every 1000 records; so do we. */
enum { PUTS_PER_COMMIT = 1000 };

struct cf_lmdb_writer {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    size_t pending;
    char *path;
};

cf_lmdb_writer *cf_lmdb_create(const char *dir, size_t bytes, cf_error *err)
{
    cf_lmdb_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(dir))) abort();
    /* Room for the records twice over (B-tree pages are not full) and a
     * margin; the map is only address space, the file grows as needed. */
    size_t map = (bytes * 2 + ((size_t)64 << 20) + 4095) & ~(size_t)4095;
    int rc = mdb_env_create(&w->env);
    if (!rc) rc = mdb_env_set_mapsize(w->env, map);
    if (!rc) rc = mdb_env_open(w->env, dir, 0, 0664);
    if (!rc) rc = mdb_txn_begin(w->env, NULL, 0, &w->txn);
    if (!rc) rc = mdb_dbi_open(w->txn, NULL, 0, &w->dbi);
    if (rc) {
        cf_error_set(err, CF_ERUNTIME, "cannot create LMDB '%s': %s", dir, mdb_strerror(rc));
        cf_lmdb_abort(w);
        return NULL;
    }
    return w;
}

int cf_lmdb_put(cf_lmdb_writer *w, const void *key, size_t klen, const void *val, size_t vlen, cf_error *err)
{
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = mdb_put(w->txn, w->dbi, &k, &v, 0);
    if (!rc && ++w->pending == PUTS_PER_COMMIT) {
        rc = mdb_txn_commit(w->txn);
        w->txn = NULL;
        w->pending = 0;
        if (!rc) rc = mdb_txn_begin(w->env, NULL, 0, &w->txn);
    }
    if (rc) return cf_error_set(err, CF_ERUNTIME, "writing LMDB '%s': %s", w->path, mdb_strerror(rc));
    return 0;
}

int cf_lmdb_finish(cf_lmdb_writer *w, cf_error *err)
{
    int rc = mdb_txn_commit(w->txn);
    w->txn = NULL;
    if (!rc) rc = mdb_env_sync(w->env, 1);
    if (rc) cf_error_set(err, CF_ERUNTIME, "writing LMDB '%s': %s", w->path, mdb_strerror(rc));
    cf_lmdb_abort(w);
    return rc ? -1 : 0;
}

void cf_lmdb_abort(cf_lmdb_writer *w)
{
    if (!w) return;
    if (w->txn) mdb_txn_abort(w->txn);
    if (w->env) mdb_env_close(w->env);
    free(w->path);
    free(w);
}
