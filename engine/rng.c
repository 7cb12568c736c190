/* rng.c — PCG32 (XSH RR), see rng.h. */
#include "rng.h"

#include <math.h>

uint32_t cf_rng_u32(cf_rng *r)
{
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

void cf_rng_seed(cf_rng *r, uint64_t seed)
{
    r->state = 0;
    r->inc = (seed << 1u) | 1u;
    cf_rng_u32(r);
    r->state += seed ^ 0x853c49e6748fea9bULL;
    cf_rng_u32(r);
}

double cf_rng_uniform01(cf_rng *r)
{
    /* 53 random bits */
    uint64_t hi = cf_rng_u32(r) >> 5, lo = cf_rng_u32(r) >> 6;
    return (double)(hi * 67108864.0 + lo) / 9007199254740992.0;
}

float cf_rng_uniform(cf_rng *r, float lo, float hi)
{
    float v = lo + (float)((hi - lo) * cf_rng_uniform01(r));
    return v < hi ? v : lo; /* [lo, hi) even after rounding */
}

float cf_rng_gaussian(cf_rng *r, float mean, float std)
{
    double u1 = cf_rng_uniform01(r), u2 = cf_rng_uniform01(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return mean + std * (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint32_t cf_rng_below(cf_rng *r, uint32_t n)
{
    /* Lemire's rejection to avoid modulo bias */
    uint32_t threshold = (uint32_t)(-n) % n;
    for (;;) {
        uint32_t x = cf_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}
