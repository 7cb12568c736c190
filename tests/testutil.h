/* testutil.h — shared helpers for the Criterion tests.
 * Failures inside these helpers fail the calling test with a message. */
#ifndef CF_TESTUTIL_H
#define CF_TESTUTIL_H

#include <stdint.h>

#include "gradcheck.h"
#include "layer.h"
#include "parse.h"

/* One CPU backend (2 threads) and one RNG (seed 1701) per test process. */
cf_backend *tu_backend(void);
cf_rng *tu_rng(void);
/* Parse YAML text into a tree; the test fails on a parse error.  Trees
 * are freed at exit. */
cf_node *tu_yaml(const char *text);
/* Create a layer from YAML text (a map with name/type/..._param) and set
 * it up on the given blobs; the test fails with the error message if
 * setup fails. */
cf_layer *tu_layer(const char *yaml, cf_phase phase, cf_blob **bottom, int nb, cf_blob **top, int nt);
/* Like tu_layer but expects setup to fail; returns the message. */
const char *tu_layer_error(const char *yaml, cf_phase phase, cf_blob **bottom, int nb, cf_blob **top, int nt);
/* A blob of the given shape filled from U[lo, hi) (seeded). */
cf_blob *tu_blob(const char *name, int naxes, const int *shape, float lo, float hi, uint64_t seed);
void tu_fill(cf_blob *b, float lo, float hi, uint64_t seed);
/* Run the gradient check and assert worst error <= threshold. */
void tu_gradcheck(cf_layer *l, cf_blob **bottom, int nb, cf_blob **top, int nt, const bool *check_bottom,
                  double step, double threshold);
/* A blob of the given shape holding v (count values). */
cf_blob *tu_blob_of(const char *name, int naxes, const int *shape, const float *v);
/* 4-D blob filled from U[-1, 1) (seeded). */
cf_blob *tu_blob4(const char *name, int n, int c, int h, int w, uint64_t seed);
/* Random class indices in [0, C) as floats. */
cf_blob *tu_labels(int naxes, const int *shape, int C, uint64_t seed);
/* Distinct values 0.1 apart in random order: no ties for MAX to break and
 * none changing hands under a 1e-2 step. */
void tu_fill_permutation(cf_blob *b, uint64_t seed);
void tu_set_data(cf_blob *b, const float *v);
/* Each element within tol of want (data or diff). */
void tu_assert_data(const cf_blob *b, const float *want, double tol);
void tu_assert_diff(const cf_blob *b, const float *want, double tol);
/* reshape + forward; the test fails with the message on an error. */
void tu_forward(cf_layer *l, cf_blob **b, int nb, cf_blob **t, int nt);
/* reshape + forward expected to fail: the message. */
const char *tu_forward_error(cf_layer *l, cf_blob **b, int nb, cf_blob **t, int nt);
/* Set top[0]'s diff[0] (a loss's weight) and run backward. */
void tu_backward_with(cf_layer *l, cf_blob **t, int nt, float top_diff, const bool *prop, cf_blob **b, int nb);
/* Path of a file under the source tree (tests/fixtures/...), static buffer. */
const char *tu_src(const char *rel);
/* A fresh temporary directory (removed at exit), static buffer. */
const char *tu_tmpdir(void);
/* Writes an HDF5 file of n rows for HDF5Data: data [n][6] (sin of
 * 1000·file + 7·row + column, so that rows and files differ), label [n]
 * ((3·row + file) mod 5). */
void tu_write_h5_rows(const char *path, int n, int file);

#endif
