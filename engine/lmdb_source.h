/* lmdb_source.h — reading (and writing) the LMDB databases that Caffe's
 * tools make: a directory holding data.mdb (and lock.mdb), records in key
 * order, values serialized Datums.
 *
 * Reader: one read-only snapshot for its whole life, a cursor that walks
 * the records in key order and wraps around to the first after the last
 * (an epoch), and the index of the current record so that a run can be
 * resumed at the same place.  Opening takes the usual reader lock; where
 * the directory cannot be written (a read-only tree, a dataset installed
 * by root) it reads without locking, so do not write a database while it
 * is being read.  A reader is used by one thread at a time (it may be
 * handed from one thread to another).  Readers of the same directory
 * share one LMDB environment, since LMDB allows only one per process.
 *
 * Writer: a fresh database in a new directory, filled with put(), one
 * commit per `batch` puts, as Caffe's converters do.
 */
#ifndef CF_LMDB_SOURCE_H
#define CF_LMDB_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef struct cf_lmdb_source cf_lmdb_source;

/* Errors name the path: missing, not a directory, not an LMDB, empty. */
cf_lmdb_source *cf_lmdb_open(const char *dir, cf_error *err);
void cf_lmdb_close(cf_lmdb_source *s);
const char *cf_lmdb_path(const cf_lmdb_source *s);
/* Number of records (fixed: the snapshot does not change). */
size_t cf_lmdb_count(const cf_lmdb_source *s);
/* Index (0-based, in key order) of the current record. */
size_t cf_lmdb_index(const cf_lmdb_source *s);
/* The current record; key and value stay valid until the cursor moves. */
void cf_lmdb_get(const cf_lmdb_source *s, const void **key, size_t *klen, const void **val, size_t *vlen);
/* Move to the next record, wrapping to the first after the last. */
int cf_lmdb_advance(cf_lmdb_source *s, cf_error *err);
/* Move to record `index` modulo the count (walks from the start). */
int cf_lmdb_seek(cf_lmdb_source *s, size_t index, cf_error *err);

typedef struct cf_lmdb_writer cf_lmdb_writer;

/* Create `dir` (which must not exist) sized for about `bytes` of
 * records. */
cf_lmdb_writer *cf_lmdb_create(const char *dir, size_t bytes, cf_error *err);
int cf_lmdb_put(cf_lmdb_writer *w, const void *key, size_t klen, const void *val, size_t vlen, cf_error *err);
/* Commit what is pending and close; returns -1 when the final commit
 * fails.  Either way the writer is freed. */
int cf_lmdb_finish(cf_lmdb_writer *w, cf_error *err);
/* Close without committing what is pending. */
void cf_lmdb_abort(cf_lmdb_writer *w);

#endif
