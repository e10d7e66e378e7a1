/* rng.c — xoshiro256** (Blackman & Vigna 2018) seeded with splitmix64; Box-Muller normals. */
#include "mvae/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void mvae_rng_seed(mvae_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t mvae_rng_u64(mvae_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float mvae_rng_uniform(mvae_rng *r) { return (float)(mvae_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

uint64_t mvae_rng_below(mvae_rng *r, uint64_t n) {
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = mvae_rng_u64(r);
    while (x >= limit);
    return x % n;
}

/* Box-Muller on doubles; both outputs are used by the fill routine. */
static void normal_pair(mvae_rng *r, float *a, float *b) {
    double u1 = ((double)(mvae_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0,1] */
    double u2 = (double)(mvae_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    double rad = sqrt(-2.0 * log(u1));
    double th = 6.283185307179586 * u2;
    *a = (float)(rad * cos(th));
    *b = (float)(rad * sin(th));
}

float mvae_rng_normal(mvae_rng *r) {
    float a, b;
    normal_pair(r, &a, &b);
    return a;
}

void mvae_rng_normal_fill(mvae_rng *r, float *out, size_t n) {
    size_t i = 0;
    for (; i + 1 < n; i += 2) normal_pair(r, &out[i], &out[i + 1]);
    if (i < n) out[i] = mvae_rng_normal(r);
}

void mvae_rng_uniform_fill(mvae_rng *r, float *out, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) out[i] = lo + (hi - lo) * mvae_rng_uniform(r);
}

void mvae_rng_shuffle(mvae_rng *r, int64_t *idx, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)mvae_rng_below(r, (uint64_t)i + 1);
        int64_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

mvae_rng mvae_rng_fork(const mvae_rng *r, uint64_t id) {
    mvae_rng c;
    uint64_t x = r->s[0] ^ rotl(r->s[1], 13) ^ rotl(r->s[2], 29) ^ rotl(r->s[3], 47);
    x ^= id * 0xD1B54A32D192ED03ull;
    for (int i = 0; i < 4; i++) c.s[i] = splitmix64(&x);
    return c;
}
