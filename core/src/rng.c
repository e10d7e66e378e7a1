/* rng.c — xoshiro256** (Blackman & Vigna 2018) seeded with splitmix64; Box-Muller normals. */
#include "mvae/rng.h"

#include "fastmath.h"


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

static inline uint64_t next(uint64_t *s) {
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

uint64_t mvae_rng_u64(mvae_rng *r) { return next(r->s); }

float mvae_rng_uniform(mvae_rng *r) { return (float)(next(r->s) >> 40) * (1.0f / 16777216.0f); }

uint64_t mvae_rng_below(mvae_rng *r, uint64_t n) {
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next(r->s);
    while (x >= limit);
    return x % n;
}

/* Box-Muller in float arithmetic that GCC vectorises (Box & Muller 1958): the two 64-bit draws
 * a, b of a pair give
 *   u1 = ((a >> 11) + 1) / 2^53 in (0, 1]  (converted to float with its full relative precision,
 *        so the radius reaches sqrt(-2 ln 2^-53) = 8.57 as with doubles),
 *   theta = 2 pi u2, whose quadrant is b's top 2 bits and whose position within the quadrant is
 *        b's next 24 bits: the angle needs no range reduction.
 * sin and cos inside the quadrant come from minimax polynomials on [-pi/4, pi/4] (the Cephes
 * sinf/cosf coefficients) of t = r - pi/4, rotated back by pi/4. Against the same formula in
 * double precision the outputs differ by a few float ulps (tests/test_rng.c checks it). The
 * fill draws the uniforms serially (one xoshiro stream) and transforms them in blocks. */
static inline void normal_pair_f(uint64_t a, uint64_t b, float *x, float *y) {
    float u1 = (float)(int64_t)((a >> 11) + 1) * 0x1p-53f;
    float rad = __builtin_sqrtf(-2.0f * mvae_fast_logf(u1));
    uint32_t q = (uint32_t)(b >> 62);
    float t = ((float)(int32_t)((b >> 38) & 0xFFFFFF) * 0x1p-24f - 0.5f) * 1.57079632679489662f, t2 = t * t;
    float st = t + t * t2 * (-1.6666654611e-1f + t2 * (8.3321608736e-3f + t2 * -1.9515295891e-4f));
    float ct = 1.0f - 0.5f * t2 + t2 * t2 * (4.166664568298827e-2f + t2 * (-1.388731625493765e-3f + t2 * 2.443315711809948e-5f));
    const float h = 0.707106781186547524f; /* r = t + pi/4: cos r = (ct - st) h, sin r = (ct + st) h */
    float cr = (ct - st) * h, sr = (ct + st) * h;
    float xc = (q & 1) ? sr : cr, xs = (q & 1) ? cr : sr; /* theta = q pi/2 + r */
    *x = rad * (((q + 1) & 2) ? -xc : xc);
    *y = rad * ((q & 2) ? -xs : xs);
}

float mvae_rng_normal(mvae_rng *r) {
    uint64_t a = next(r->s), b = next(r->s);
    float x, y;
    normal_pair_f(a, b, &x, &y);
    return x;
}

#define NORMAL_BLOCK 256 /* pairs transformed per block */
void mvae_rng_normal_fill(mvae_rng *r, float *out, size_t n) {
    uint64_t ua[NORMAL_BLOCK], ub[NORMAL_BLOCK];
    float x[NORMAL_BLOCK], y[NORMAL_BLOCK];
    for (size_t i = 0; i < n;) {
        size_t pairs = (n - i + 1) / 2 < NORMAL_BLOCK ? (n - i + 1) / 2 : NORMAL_BLOCK;
        uint64_t st[4] = {r->s[0], r->s[1], r->s[2], r->s[3]}; /* the state in registers */
        for (size_t k = 0; k < pairs; k++) {
            ua[k] = next(st);
            ub[k] = next(st);
        }
        for (int j = 0; j < 4; j++) r->s[j] = st[j];
        for (size_t k = 0; k < pairs; k++) normal_pair_f(ua[k], ub[k], &x[k], &y[k]);
        for (size_t k = 0; k < pairs; k++, i += 2) { /* an odd n drops the last pair's second value */
            out[i] = x[k];
            if (i + 1 < n) out[i + 1] = y[k];
        }
    }
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
