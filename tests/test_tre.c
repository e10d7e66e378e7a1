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

/* held-out TRE: fitted on ~80 % of the combinations, evaluated on the rest (each of whose
 * primitives the fitted items have): ~0 for an exactly additive representation, large for random
 * items; an unseen primitive keeps a zero embedding; the fitted part equals mvae_tre's mean */
static void test_tre_heldout(void **state) {
    (void)state;
    static int prims[N_ITEMS * 3], pf[N_ITEMS * 3], pe[N_ITEMS * 3];
    static float add[N_ITEMS * DIM], rnd[N_ITEMS * DIM], ff[N_ITEMS * DIM], fe[N_ITEMS * DIM], gf[N_ITEMS * DIM],
        ge[N_ITEMS * DIM];
    items(prims);
    make_reps(add, prims, 0.0, 3);
    make_reps(rnd, prims, -1, 3);
    int nf = 0, ne = 0;
    for (int i = 0; i < N_ITEMS; i++) { /* every 7th combination held out (7 is prime to the
                                        * factor sizes: every primitive stays seen) */
        bool held = i % 7 == 2;
        memcpy(held ? pe + ne * 3 : pf + nf * 3, prims + i * 3, 3 * sizeof(int));
        memcpy(held ? fe + ne * DIM : ff + nf * DIM, add + i * DIM, DIM * sizeof(float));
        memcpy(held ? ge + ne * DIM : gf + nf * DIM, rnd + i * DIM, DIM * sizeof(float));
        held ? ne++ : nf++;
    }
    mvae_error err = {0};
    double fit, ev, rfit, rev, item[N_ITEMS], ref;
    mvae_tre_opts o = {.steps = 2000, .lr = 0.01};
    assert_int_equal(mvae_tre_heldout(ff, pf, nf, fe, pe, ne, DIM, 3, N_PRIMS, MVAE_TRE_L1, &o, item, &fit, &ev, &err), MVAE_OK);
    assert_int_equal(mvae_tre_heldout(gf, pf, nf, ge, pe, ne, DIM, 3, N_PRIMS, MVAE_TRE_L1, &o, NULL, &rfit, &rev, &err), MVAE_OK);
    fprintf(stderr, "held-out L1: additive fit %.4f eval %.4f; random fit %.4f eval %.4f\n", fit, ev, rfit, rev);
    assert_true(ev < 0.05 * rev);
    assert_true(rev > rfit); /* random items: nothing carries over to unseen combinations */
    double s = 0;
    for (int i = 0; i < ne; i++) s += item[i];
    assert_float_equal(ev, s / ne, 1e-9);
    assert_int_equal(mvae_tre(ff, nf, DIM, pf, 3, N_PRIMS, MVAE_TRE_L1, &o, NULL, &ref, &err), MVAE_OK);
    assert_float_equal(fit, ref, 1e-12);
    /* a primitive no fitted item has: its embedding stays 0, so the prediction of an item made
     * of it alone is 0 and the error is |r|_1 */
    int only[1] = {N_PRIMS - 1}, fit1[1] = {0};
    float r0[2] = {1.0f, 2.0f}, r1[2] = {-0.5f, 3.0f};
    double e1[1];
    assert_int_equal(mvae_tre_heldout(r0, fit1, 1, r1, only, 1, 2, 1, N_PRIMS, MVAE_TRE_L1, NULL, e1, NULL, &ev, &err), MVAE_OK);
    assert_float_equal(e1[0], 3.5, 1e-9);
    /* bad held-out ids name the held-out item */
    int bad[1] = {N_PRIMS};
    err = (mvae_error){0};
    assert_int_equal(mvae_tre_heldout(r0, fit1, 1, r1, bad, 1, 2, 1, N_PRIMS, MVAE_TRE_L1, NULL, NULL, NULL, &ev, &err),
                     MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "held-out item 0 slot 0"));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tre_additive_vs_random),
        cmocka_unit_test(test_tre_heldout),
        cmocka_unit_test(test_tre_errors),
    };
    return mvae_test_run("tre", tests, argc, argv);
}
