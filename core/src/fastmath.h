/* fastmath.h — vectorisable float exp and log for the core's kernels (not installed). Shared by
 * the ops and by the rng's Box-Muller transform. */
#ifndef MVAE_FASTMATH_H
#define MVAE_FASTMATH_H
#include <stdint.h>

/* Vectorisable exp and log (no calls, no branches: GCC turns loops over them into AVX2/AVX-512
 * code). Cephes-style range reduction and minimax polynomials; relative error about 2 ulp over
 * the float range. */

/* e^x = p * 2^n for x already clamped (and not NaN): returns p, with n = round(x / ln2) stored in
 * *n. t = 1.5 * 2^23 + n (round-to-nearest by the addition); n is also read from t's low mantissa
 * bits (no float->int conversion). */
static inline float mvae_exp_reduced(float x, int32_t *n) {
    float t = x * 1.44269504088896341f + 12582912.0f;
    float nf = t - 12582912.0f;
    int32_t tb;
    __builtin_memcpy(&tb, &t, sizeof tb);
    *n = tb - 0x4B400000;
    float r = x - nf * 0.693359375f; /* ln2 split hi/lo for exact reduction */
    r = r + nf * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    return p * r * r + r + 1.0f;
}
static inline float mvae_pow2f(int32_t n) { /* 2^n for n in [-126, 127] */
    uint32_t e = (uint32_t)(n + 127) << 23;
    float s;
    __builtin_memcpy(&s, &e, sizeof s);
    return s;
}

/* exp clamping its argument to [-87.3, 88.3] (no inf, no denormal surprises), by two
 * compare-selects GCC turns into max/min instructions: a NaN fails both comparisons, is computed
 * as -87.3 and returned as itself at the end */
static inline float mvae_fast_expf(float x0) {
    float x = x0 > -87.3f ? x0 : -87.3f;
    x = x < 88.3f ? x : 88.3f;
    int32_t n;
    float p = mvae_exp_reduced(x, &n);
    return x0 == x0 ? p * mvae_pow2f(n) : x0;
}
/* natural log for x > 0 (finite, normal) */
static inline float mvae_fast_logf(float x) {
    int32_t bits;
    __builtin_memcpy(&bits, &x, sizeof bits);
    int32_t e = ((bits >> 23) & 0xff) - 127;
    int32_t mb = (bits & 0x007fffff) | 0x3f800000; /* mantissa in [1,2) */
    float m;
    __builtin_memcpy(&m, &mb, sizeof m);
    /* move m into [sqrt(1/2), sqrt(2)) */
    int big = m > 1.41421356f;
    m = big ? m * 0.5f : m;
    float fe = (float)(e + big);
    float f = m - 1.0f, z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return f + y + 0.693359375f * fe;
}
/* exp and log with IEEE results at the edges, for the ops (mvae_exp, mvae_log, the densities):
 * exp overflows to +inf above 88.72 and flushes to 0 below -87.33 (where the result would be a
 * denormal float), NaN stays NaN; log gives -inf at 0, NaN below 0 and for NaN, +inf at +inf, and
 * handles denormal inputs. Selects only: loops over them still vectorise. Within ~2 ulp of libm
 * elsewhere. */
static inline float mvae_expf(float x0) {
    float x = x0 > -87.3365479f ? x0 : -87.3365479f; /* NaN: computed as -87.34, returned as NaN */
    x = x < 88.7228391f ? x : 88.7228391f;
    int32_t n, h;
    float p = mvae_exp_reduced(x, &n); /* n in [-126, 128] */
    /* 2^n as two normal factors 2^(n/2) 2^(n - n/2): n = 128 (x up to 88.72) does not overflow */
    h = n / 2;
    float y = p * mvae_pow2f(h) * mvae_pow2f(n - h);
    y = x0 > 88.7228391f ? __builtin_inff() : y;
    y = x0 < -87.3365479f ? 0.0f : y;
    return x0 == x0 ? y : x0;
}
static inline float mvae_logf(float x) {
    int denorm = x < 1.17549435e-38f; /* FLT_MIN; also true for x <= 0, replaced below */
    float y = mvae_fast_logf(denorm ? x * 8388608.0f : x) - (denorm ? 15.9423851528787f : 0.0f); /* 23 ln 2 */
    y = x == 0.0f ? -__builtin_inff() : y;
    y = x < 0.0f ? __builtin_nanf("") : y;
    y = x == __builtin_inff() ? x : y;
    return x != x ? x : y;
}
#endif
