/* test_rng.c — the generator's normals: the float Box-Muller against the same formula in double,
 * the stream they consume, and their distribution. */
#include "mvae_test.h"

#include "mvae/rng.h"

#include <math.h>

/* The formula rng.c evaluates in float, in double from the same two draws: u1 as rng.c rounds
 * it to float (24 significant bits), the angle (pi/2)(q + f) exactly. */
static void normal_pair_ref(uint64_t a, uint64_t b, double *x, double *y) {
    float u1 = (float)(int64_t)((a >> 11) + 1) * 0x1p-53f;
    double rad = sqrt(-2.0 * log((double)u1));
    double th = 1.5707963267948966 * ((double)(b >> 62) + (double)((b >> 38) & 0xFFFFFF) * 0x1p-24);
    *x = rad * cos(th);
    *y = rad * sin(th);
}

/* Every value within a few float ulps of the double-precision formula (absolute error scaled by
 * the radius, since sin and cos are evaluated to absolute accuracy), over 2^20 pairs. */
static void test_normal_matches_double_formula(void **state) {
    (void)state;
    enum { N = 1 << 21 };
    float *out = malloc(N * sizeof(float));
    assert_non_null(out);
    mvae_rng r, c;
    mvae_rng_seed(&r, 12345);
    c = r;
    mvae_rng_normal_fill(&r, out, N);
    double worst = 0, worst_abs = 0;
    for (int i = 0; i < N; i += 2) {
        uint64_t a = mvae_rng_u64(&c), b = mvae_rng_u64(&c);
        double x, y;
        normal_pair_ref(a, b, &x, &y);
        double rad = sqrt(x * x + y * y), scale = rad > 1 ? rad : 1;
        double e = fmax(fabs(out[i] - x), fabs(out[i + 1] - y));
        if (e / scale > worst) worst = e / scale;
        if (e > worst_abs) worst_abs = e;
    }
    printf(" (worst error %.3g, relative to max(1, radius) %.3g)\n", worst_abs, worst);
    /* a float ulp at 1 is 1.19e-7: allow 4 */
    assert_true(worst <= 4.8e-7);
    /* both generators consumed the same stream */
    assert_true(mvae_rng_u64(&r) == mvae_rng_u64(&c));
    free(out);
}

/* fill(n) is one stream of pairs whatever n: an odd n drops the last pair's second value (two
 * draws per pair), mvae_rng_normal is a pair's first value, and a fill split at any even point or
 * across the transform's blocks gives the same numbers as one fill. */
static void test_normal_fill_stream(void **state) {
    (void)state;
    enum { N = 1201 };
    float one[N], parts[N], single[3];
    mvae_rng a, b, s;
    mvae_rng_seed(&a, 7);
    b = a;
    s = a;
    mvae_rng_normal_fill(&a, one, N);
    mvae_rng_normal_fill(&b, parts, 2);
    mvae_rng_normal_fill(&b, parts + 2, 600);
    mvae_rng_normal_fill(&b, parts + 602, N - 602);
    assert_memory_equal(one, parts, sizeof one);
    assert_true(mvae_rng_u64(&a) == mvae_rng_u64(&b)); /* N odd: (N + 1) / 2 pairs, 2 draws each */
    for (int k = 0; k < 3; k++) single[k] = mvae_rng_normal(&s);
    assert_true(single[0] == one[0] && single[1] == one[2] && single[2] == one[4]);
    float odd[1];
    mvae_rng_seed(&a, 7);
    mvae_rng_normal_fill(&a, odd, 1);
    assert_true(odd[0] == one[0]);
}

/* Distribution over 4M draws: moments, the mass within 1 and 2 sigma, the tails (the radius
 * reaches beyond 5 sigma), symmetry, and no value that is not finite. */
static void test_normal_distribution(void **state) {
    (void)state;
    enum { N = 1 << 22 };
    float *v = malloc(N * sizeof(float));
    assert_non_null(v);
    mvae_rng r;
    mvae_rng_seed(&r, 99);
    mvae_rng_normal_fill(&r, v, N);
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0, mx = 0;
    long in1 = 0, in2 = 0, neg = 0;
    for (int i = 0; i < N; i++) {
        double x = v[i];
        assert_true(isfinite(x));
        s1 += x, s2 += x * x, s3 += x * x * x, s4 += x * x * x * x;
        in1 += fabs(x) < 1, in2 += fabs(x) < 2, neg += x < 0;
        if (fabs(x) > mx) mx = fabs(x);
    }
    double mean = s1 / N, var = s2 / N - mean * mean, skew = s3 / N, kurt = s4 / N;
    printf(" (mean %.5f var %.5f skew %.5f kurt %.4f P(|x|<1) %.5f P(|x|<2) %.5f max |x| %.2f)\n", mean,
           var, skew, kurt, (double)in1 / N, (double)in2 / N, mx);
    /* 5 standard errors of each estimate at N = 4M */
    assert_true(fabs(mean) < 5 * sqrt(1.0 / N));
    assert_true(fabs(var - 1) < 5 * sqrt(2.0 / N));
    assert_true(fabs(skew) < 5 * sqrt(15.0 / N));
    assert_true(fabs(kurt - 3) < 5 * sqrt(96.0 / N));
    assert_true(fabs((double)in1 / N - 0.682689) < 5 * sqrt(0.2166 / N));
    assert_true(fabs((double)in2 / N - 0.954500) < 5 * sqrt(0.0434 / N));
    assert_true(fabs((double)neg / N - 0.5) < 5 * sqrt(0.25 / N));
    assert_true(mx > 4.5); /* P(max of 4M |x| < 4.5) = (1 - 6.8e-6)^4M, about e^-28 */
    free(v);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normal_matches_double_formula),
        cmocka_unit_test(test_normal_fill_stream),
        cmocka_unit_test(test_normal_distribution),
    };
    return mvae_test_run("rng", tests, argc, argv);
}
