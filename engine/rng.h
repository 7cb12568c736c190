/* rng.h — the engine's random numbers: PCG32 (O'Neill 2014), small state
 * that a snapshot saves whole, so a resumed run draws the same numbers.
 * Gaussians by Box–Muller without a cached second value (state stays two
 * words). */
#ifndef CF_RNG_H
#define CF_RNG_H

#include <stdint.h>

typedef struct cf_rng { uint64_t state, inc; } cf_rng;

void cf_rng_seed(cf_rng *r, uint64_t seed);
uint32_t cf_rng_u32(cf_rng *r);
/* uniform in [0, 1) */
double cf_rng_uniform01(cf_rng *r);
float cf_rng_uniform(cf_rng *r, float lo, float hi);
float cf_rng_gaussian(cf_rng *r, float mean, float std);
/* uniform integer in [0, n) */
uint32_t cf_rng_below(cf_rng *r, uint32_t n);

#endif
