/* fastmath.h — vectorisable float exp and log for the core's kernels (not installed). Shared by
 * the ops and by the rng's Box-Muller transform. */
#ifndef MVAE_FASTMATH_H
#define MVAE_FASTMATH_H
#include <stdint.h>

/* Vectorisable exp and log (no calls, no branches: GCC turns loops over them into AVX2/AVX-512
 * code). Cephes-style range reduction and minimax polynomials; relative error about 2 ulp over
 * the float range. exp clamps its argument to [-87.3, 88.3] (no inf, no denormal surprises). */
static inline float mvae_fast_expf(float x0) {
    /* clamped to [-87.3, 88.3] by two compare-selects GCC turns into max/min instructions: a NaN
     * fails both comparisons, is computed as -87.3 and returned as itself at the end */
    float x = x0 > -87.3f ? x0 : -87.3f;
    x = x < 88.3f ? x : 88.3f;
    /* t = 1.5 * 2^23 + round(x / ln2) (round-to-nearest by the addition); n = that integer, also
     * read from t's low mantissa bits for the exponent below (no float->int conversion) */
    float t = x * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f;
    int32_t tb;
    __builtin_memcpy(&tb, &t, sizeof tb);
    float r = x - n * 0.693359375f; /* ln2 split hi/lo for exact reduction */
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t e = (uint32_t)(tb - 0x4B400000 + 127) << 23; /* 2^n; n in [-126, 127] */
    float scale;
    __builtin_memcpy(&scale, &e, sizeof scale);
    return x0 == x0 ? p * scale : x0;
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
    float x = x0 < -87.3365479f ? -87.3365479f : (x0 > 88.7228391f ? 88.7228391f : x0);
    x = x == x ? x : 0.0f;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* in [-126, 128] */
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* 2^n as two normal factors 2^(n/2) 2^(n - n/2): n = 128 (x up to 88.72) does not overflow */
    int32_t ni = (int32_t)n, h = ni / 2;
    uint32_t e1 = (uint32_t)(h + 127) << 23, e2 = (uint32_t)(ni - h + 127) << 23;
    float s1, s2;
    __builtin_memcpy(&s1, &e1, sizeof s1);
    __builtin_memcpy(&s2, &e2, sizeof s2);
    float y = p * s1 * s2;
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
