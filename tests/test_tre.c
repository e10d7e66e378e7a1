/* test_tre.c — TRE (mvae/tre.h) on synthetic representations: exactly additive in the primitives
 * -> ~0; random per item (no compositional structure) -> large; additive plus noise -> in between,
 * growing with the noise. Both distances, and the bad-input errors. */
#include "mvae_test.h"

#include "mvae/tre.h"

enum { N_ROLE = 6, N_GENDER = 3, N_TONE = 5, N_PRIMS = N_ROLE + N_GENDER + N_TONE, N_ITEMS = N_ROLE * N_GENDER * N_TONE, DIM = 16 };

/* every (role, gender, tone) combination: primitive ids role, N_ROLE + gender, N_ROLE + N_GENDER + tone */
static void items(int *prims) {
    int i = 0;
    for (int r = 0; r < N_ROLE; r++)
        for (int g = 0; g < N_GENDER; g++)
            for (int t = 0; t < N_TONE; t++, i++) {
                prims[i * 3 + 0] = r;
                prims[i * 3 + 1] = N_ROLE + g;
                prims[i * 3 + 2] = N_ROLE + N_GENDER + t;
            }
}

/* reps = sum of true primitive embeddings (U(-1,1)) + noise * U(-1,1) per value; noise < 0: random items */
static void make_reps(float *reps, const int *prims, double noise, uint64_t seed) {
    mvae_rng r;
    mvae_rng_seed(&r, seed);
    float emb[N_PRIMS * DIM];
    mvae_rng_uniform_fill(&r, emb, N_PRIMS * DIM, -1, 1);
    for (int i = 0; i < N_ITEMS; i++)
        for (int d = 0; d < DIM; d++) {
            double v = 0;
            if (noise >= 0)
                for (int s = 0; s < 3; s++) v += emb[prims[i * 3 + s] * DIM + d];
            float u;
            mvae_rng_uniform_fill(&r, &u, 1, -1, 1);
            reps[i * DIM + d] = (float)(noise >= 0 ? v + noise * u : 3.0 * u);
        }
}

static double tre_of(const float *reps, const int *prims, int dist) {
    double item[N_ITEMS], mean = -1;
    mvae_error err = {0};
    assert_int_equal(mvae_tre(reps, N_ITEMS, DIM, prims, 3, N_PRIMS, dist, NULL, item, &mean, &err), MVAE_OK);
    double s = 0;
    for (int i = 0; i < N_ITEMS; i++) {
        assert_true(item[i] >= 0);
        s += item[i];
    }
    assert_float_equal(mean, s / N_ITEMS, 1e-12);
    return mean;
}

static void test_tre_additive_vs_random(void **state) {
    (void)state;
    static int prims[N_ITEMS * 3];
    static float add[N_ITEMS * DIM], noisy[N_ITEMS * DIM], noisier[N_ITEMS * DIM], rnd[N_ITEMS * DIM];
    items(prims);
    make_reps(add, prims, 0.0, 1);
    make_reps(noisy, prims, 0.3, 1);
    make_reps(noisier, prims, 1.0, 1);
    make_reps(rnd, prims, -1, 1);
    for (int dist = 0; dist < 2; dist++) {
        double a = tre_of(add, prims, dist), n1 = tre_of(noisy, prims, dist), n2 = tre_of(noisier, prims, dist),
               r = tre_of(rnd, prims, dist);
        fprintf(stderr, "%s: additive %.4f  noise 0.3 %.4f  noise 1 %.4f  random %.4f\n", dist ? "cos" : "L1", a, n1, n2, r);
        assert_true(a < 0.05 * r);
        assert_true(a < n1 && n1 < n2 && n2 < r);
    }
    /* exactly additive, L1: ~0 relative to the representation's own scale (mean |r| summed over DIM) */
    double scale = 0;
    for (int i = 0; i < N_ITEMS * DIM; i++) scale += fabs(add[i]) / N_ITEMS;
    assert_true(tre_of(add, prims, MVAE_TRE_L1) < 0.02 * scale);
}

static void test_tre_errors(void **state) {
    (void)state;
    float reps[4] = {0};
    int prims[2] = {0, 5};
    double mean;
    mvae_error err = {0};
    assert_int_equal(mvae_tre(reps, 2, 2, prims, 1, 3, MVAE_TRE_L1, NULL, NULL, &mean, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "item 1 slot 0: primitive 5 is outside [0, 3)"));
    err = (mvae_error){0};
    assert_int_equal(mvae_tre(reps, 2, 2, prims, 1, 3, 7, NULL, NULL, &mean, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unknown distance 7"));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tre_additive_vs_random),
        cmocka_unit_test(test_tre_errors),
    };
    return mvae_test_run("tre", tests, argc, argv);
}
