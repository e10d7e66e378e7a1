/* mvae/rng.h — one seedable generator (xoshiro256**), uniform and normal draws.
 *
 *   mvae_rng r; mvae_rng_seed(&r, 1);
 *   float u = mvae_rng_uniform(&r);           // [0,1)
 *   mvae_rng_normal_fill(&r, eps, n);         // N(0,1)
 *
 * The state is a plain struct: copy it to fork a stream, save it in a checkpoint to resume
 * bit-identically. Same seed + same thread count => same loss trajectory.
 */
#ifndef MVAE_RNG_H
#define MVAE_RNG_H
#include <stdint.h>
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif
typedef struct mvae_rng {
    uint64_t s[4];
} mvae_rng;
void mvae_rng_seed(mvae_rng *r, uint64_t seed);   /* splitmix64 expansion of seed */
uint64_t mvae_rng_u64(mvae_rng *r);
float mvae_rng_uniform(mvae_rng *r);              /* [0,1), 24 random bits */
uint64_t mvae_rng_below(mvae_rng *r, uint64_t n); /* uniform in [0,n), unbiased */
float mvae_rng_normal(mvae_rng *r);               /* N(0,1), Box-Muller */
void mvae_rng_normal_fill(mvae_rng *r, float *out, size_t n);
void mvae_rng_uniform_fill(mvae_rng *r, float *out, size_t n, float lo, float hi);
/* Fisher-Yates shuffle of idx[0..n) */
void mvae_rng_shuffle(mvae_rng *r, int64_t *idx, int64_t n);
/* A deterministic child stream: seeded from (parent seed material, id), parent untouched. */
mvae_rng mvae_rng_fork(const mvae_rng *r, uint64_t id);
#ifdef __cplusplus
}
#endif
#endif
