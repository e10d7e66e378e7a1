/* test_fastmath.c — the core's vectorisable exp and log (core/src/fastmath.h) against libm: ulps
 * over the float range, and the IEEE results at the edges that mvae_exp and mvae_log promise. */
#include "mvae_test.h"

#include "fastmath.h"

#include <float.h>
#include <math.h>

/* distance in units in the last place between two finite floats of the same sign */
static double ulps(float a, float b) {
    if (a == b) return 0;
    double d = fabs((double)a - (double)b), u = (double)nextafterf(fabsf(b), INFINITY) - fabsf(b);
    return d / u;
}

static void test_exp_accuracy(void **state) {
    (void)state;
    double worst = 0;
    float at = 0;
    for (float x = -87.0f; x <= 88.5f; x += 0.00137f) {
        double u = ulps(mvae_expf(x), (float)exp((double)x));
        if (u > worst) worst = u, at = x;
    }
    printf(" (worst %.2f ulp at %g)\n", worst, at);
    assert_true(worst <= 3.0);
}

static void test_log_accuracy(void **state) {
    (void)state;
    double worst = 0;
    float at = 0;
    /* normal floats from FLT_MIN up, a geometric sweep, and the denormals below FLT_MIN */
    for (float x = FLT_MIN; x < 1e38f; x *= 1.0007f) {
        double u = ulps(mvae_logf(x), (float)log((double)x));
        if (u > worst) worst = u, at = x;
    }
    for (float x = 1e-45f; x < FLT_MIN; x = fmaxf(x * 1.01f, nextafterf(x, 1.0f))) {
        double u = ulps(mvae_logf(x), (float)log((double)x));
        if (u > worst) worst = u, at = x;
    }
    /* close to 1, where log is small and relative accuracy is hardest */
    for (float x = 0.99f; x < 1.01f; x = nextafterf(x, 2.0f) + 1e-7f) {
        if (x == 1.0f) continue;
        double u = ulps(mvae_logf(x), (float)log((double)x));
        if (u > worst) worst = u, at = x;
    }
    printf(" (worst %.2f ulp at %g)\n", worst, at);
    assert_true(worst <= 3.0);
    assert_true(mvae_logf(1.0f) == 0.0f);
}

static void test_edges(void **state) {
    (void)state;
    assert_true(isinf(mvae_expf(89.0f)) && mvae_expf(89.0f) > 0);
    assert_true(isinf(mvae_expf(INFINITY)));
    assert_true(mvae_expf(-88.0f) == 0.0f); /* the denormal range flushes to 0 */
    assert_true(mvae_expf(-INFINITY) == 0.0f);
    assert_true(isnan(mvae_expf(NAN)));
    assert_true(mvae_expf(88.7f) > 3.3e38f && isfinite(mvae_expf(88.7f)));
    assert_true(mvae_expf(-87.3f) >= FLT_MIN);
    assert_true(mvae_expf(0.0f) == 1.0f);

    assert_true(isinf(mvae_logf(0.0f)) && mvae_logf(0.0f) < 0);
    assert_true(isinf(mvae_logf(-0.0f)) && mvae_logf(-0.0f) < 0);
    assert_true(isnan(mvae_logf(-1.0f)));
    assert_true(isnan(mvae_logf(-INFINITY)));
    assert_true(isnan(mvae_logf(NAN)));
    assert_true(isinf(mvae_logf(INFINITY)) && mvae_logf(INFINITY) > 0);
    assert_true(fabsf(mvae_logf(1e-45f) - logf(1e-45f)) < 1e-5f); /* the smallest denormal */
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp_accuracy),
        cmocka_unit_test(test_log_accuracy),
        cmocka_unit_test(test_edges),
    };
    return mvae_test_run("fastmath", tests, argc, argv);
}
