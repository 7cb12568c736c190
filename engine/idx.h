/* idx.h — the IDX files that MNIST and Fashion-MNIST ship in, plain or
 * gzip-compressed (read through zlib, which passes plain files through).
 *
 * Layout: a big-endian 32-bit magic whose low bytes say the element type
 * (0x08, unsigned byte) and the number of dimensions, then one big-endian
 * 32-bit size per dimension, then the elements.  Images have magic 2051
 * (0x0803: N × rows × cols), labels 2049 (0x0801: N).
 */
#ifndef CF_IDX_H
#define CF_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum { CF_IDX_LABELS = 2049, CF_IDX_IMAGES = 2051 };

typedef struct cf_idx {
    int magic;
    int ndims;
    int dims[3];        /* dims[0] = number of items */
    size_t item_size;   /* bytes per item (rows*cols for images, 1 for labels) */
    uint8_t *data;      /* dims[0] * item_size bytes */
} cf_idx;

/* Read a whole file whose magic must be `magic`.  Errors name the path:
 * cannot open, bad magic, truncated header or data, gzip damage. */
int cf_idx_read(const char *path, int magic, cf_idx *x, cf_error *err);
void cf_idx_free(cf_idx *x);

#endif
