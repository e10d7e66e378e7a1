/* test_compo.c — the compositionality probe's measures (mvae/compo.h) on a tiny fixture: items of
 * 3 factors (4 x 3 x 3 values), every 5th combination unseen. A representation that is exactly
 * additive in the factor values (plus a random scale per dimension, which the standardisation
 * removes) gives held-out TRE ~0 and linear probes that name every factor of every unseen item; a
 * random representation gives relative TRE ~1 or more and probes near chance. Also bad input. */
#include "mvae_test.h"

#include "mvae/compo.h"

enum { NR = 4, NG = 3, NT = 3, NI = NR * NG * NT, D = 12 };

static void fixture(float *X, int32_t *f, bool additive, uint64_t seed) {
    mvae_rng r;
    mvae_rng_seed(&r, seed);
    float emb[(NR + NG + NT) * D], scale[D];
    mvae_rng_uniform_fill(&r, emb, (NR + NG + NT) * D, -1, 1);
    mvae_rng_uniform_fill(&r, scale, D, 0.1f, 10.0f);
    int i = 0;
    for (int a = 0; a < NR; a++)
        for (int b = 0; b < NG; b++)
            for (int c = 0; c < NT; c++, i++) {
                f[i * 3] = a, f[i * 3 + 1] = b, f[i * 3 + 2] = c;
                for (int d = 0; d < D; d++) {
                    float u;
                    mvae_rng_uniform_fill(&r, &u, 1, -1, 1);
                    float v = emb[a * D + d] + emb[(NR + b) * D + d] + emb[(NR + NG + c) * D + d];
                    X[i * D + d] = scale[d] * (additive ? v : 2.0f * u) + 5.0f;
                }
            }
}

static void split(const float *X, const int32_t *f, float *Xs, int32_t *fs, int *ns, float *Xu, int32_t *fu, int *nu) {
    *ns = *nu = 0;
    for (int i = 0; i < NI; i++) {
        bool u = i % 5 == 3;
        memcpy(u ? Xu + *nu * D : Xs + *ns * D, X + i * D, D * sizeof(float));
        memcpy(u ? fu + *nu * 3 : fs + *ns * 3, f + i * 3, 3 * sizeof(int32_t));
        u ? (*nu)++ : (*ns)++;
    }
}

static void test_compo_additive_vs_random(void **state) {
    (void)state;
    static float X[NI * D], Xs[NI * D], Xu[NI * D];
    static int32_t f[NI * 3], fs[NI * 3], fu[NI * 3];
    const int nv[3] = {NR, NG, NT};
    int ns, nu;
    mvae_error err = {0};
    mvae_compo_result add, rnd;
    fixture(X, f, true, 7);
    split(X, f, Xs, fs, &ns, Xu, fu, &nu);
    assert_int_equal(mvae_compo_probe(Xs, fs, ns, Xu, fu, nu, D, 3, nv, &add, &err), MVAE_OK);
    fixture(X, f, false, 7);
    split(X, f, Xs, fs, &ns, Xu, fu, &nu);
    assert_int_equal(mvae_compo_probe(Xs, fs, ns, Xu, fu, nu, D, 3, nv, &rnd, &err), MVAE_OK);
    fprintf(stderr, "additive: probe %.2f %.2f %.2f tre_rel %.4f tre_cos %.4f | random: probe %.2f %.2f %.2f tre_rel %.4f\n",
            add.probe[0], add.probe[1], add.probe[2], add.tre_rel, add.tre_cos, rnd.probe[0], rnd.probe[1], rnd.probe[2],
            rnd.tre_rel);
    assert_int_equal(add.n_factors, 3);
    for (int a = 0; a < 3; a++) assert_float_equal(add.probe[a], 1.0, 1e-12);
    assert_true(add.tre_rel < 0.05);
    assert_true(add.tre_cos < 0.01);
    assert_true(rnd.tre_rel > 0.8);
    assert_true(rnd.tre_rel > 20 * add.tre_rel);
    assert_true(rnd.probe[0] + rnd.probe[1] + rnd.probe[2] < 2.0);
    /* the bookkeeping: tre_rel = tre_l1 / tre_base, tre_base = the unseen items' mean |z|_1 / D */
    assert_float_equal(add.tre_rel, add.tre_l1 / add.tre_base, 1e-9);
    assert_true(add.tre_base > 0.1 && add.tre_fit >= 0);
    /* majority baseline: the seen items' most frequent value scored on the unseen ones */
    for (int a = 0; a < 3; a++) assert_true(add.majority[a] >= 0 && add.majority[a] <= 1);
}

static void test_compo_errors(void **state) {
    (void)state;
    float X[4] = {0, 1, 2, 3};
    int32_t f[2] = {0, 3};
    const int nv[1] = {2};
    mvae_compo_result r;
    mvae_error err = {0};
    assert_int_equal(mvae_compo_probe(X, f, 1, X + 2, f + 1, 1, 2, 1, nv, &r, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "unseen item 0: factor 0 value 3 is outside [0, 2)"));
    err = (mvae_error){0};
    assert_int_equal(mvae_compo_probe(X, f, 0, X, f, 1, 2, 1, nv, &r, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "need seen and unseen items"));
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compo_additive_vs_random),
        cmocka_unit_test(test_compo_errors),
    };
    return mvae_test_run("compo", tests, argc, argv);
}
