/* test_frechet.c — the Fréchet distance (mvae/frechet.h) against hand-computed cases: two
 * Gaussians with diagonal covariances, with covariances diagonal in the same rotated basis, and
 * a non-commuting pair whose tr (S1 S2)^{1/2} is worked out from the 2x2 characteristic
 * polynomial; the PSD square root checked numerically (S S = A, S symmetric) on a random 7x7
 * SPD matrix; the running moments against a two-pass computation; the distance of two large
 * samples of one Gaussian near 0 and of a shifted one near |d mu|^2; non-finite input refused. */
#include "mvae_test.h"

#include "mvae/frechet.h"

static void test_diagonal(void **state) {
    (void)state;
    /* FD = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2 for diagonal covariances */
    double mu1[2] = {0, 1}, mu2[2] = {1, 1}, S1[4] = {1, 0, 0, 4}, S2[4] = {4, 0, 0, 9}, fd;
    assert_int_equal(mvae_frechet_gaussians(mu1, S1, mu2, S2, 2, &fd), MVAE_OK);
    assert_true(fabs(fd - 3.0) < 1e-12); /* 1 + (1-2)^2 + (2-3)^2 */
    assert_int_equal(mvae_frechet_gaussians(mu1, S1, mu1, S1, 2, &fd), MVAE_OK);
    assert_true(fabs(fd) < 1e-12);
}

static void test_same_basis(void **state) {
    (void)state;
    /* S_i = R diag(d_i) R^T with one rotation R (30 degrees): the distance is that of the
     * diagonal pair: |dmu|^2 + (sqrt 2 - sqrt 8)^2 + (sqrt 3 - sqrt 0.5)^2 */
    double c = cos(M_PI / 6), s = sin(M_PI / 6);
    double R[4] = {c, -s, s, c}, d1[2] = {2, 3}, d2[2] = {8, 0.5}, S1[4], S2[4];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            S1[i * 2 + j] = R[i * 2 + 0] * d1[0] * R[j * 2 + 0] + R[i * 2 + 1] * d1[1] * R[j * 2 + 1];
            S2[i * 2 + j] = R[i * 2 + 0] * d2[0] * R[j * 2 + 0] + R[i * 2 + 1] * d2[1] * R[j * 2 + 1];
        }
    double mu1[2] = {1, 2}, mu2[2] = {-1, 0.5}, fd;
    assert_int_equal(mvae_frechet_gaussians(mu1, S1, mu2, S2, 2, &fd), MVAE_OK);
    double want = 4 + 2.25 + pow(sqrt(2) - sqrt(8), 2) + pow(sqrt(3) - sqrt(0.5), 2);
    assert_true(fabs(fd - want) < 1e-10);
}

static void test_non_commuting(void **state) {
    (void)state;
    /* S1 = [[2,1],[1,2]], S2 = diag(1, 4): S1 S2 = [[2,4],[1,8]], trace 10, determinant 12, so
     * its eigenvalues are 5 +- sqrt(13) and tr (S1 S2)^{1/2} = sqrt(5 + sqrt 13) + sqrt(5 - sqrt 13).
     * FD = 0 + tr S1 + tr S2 - 2 tr (S1 S2)^{1/2} = 9 - 2 (sqrt(5 + sqrt 13) + sqrt(5 - sqrt 13)). */
    double mu[2] = {0.5, -0.5}, S1[4] = {2, 1, 1, 2}, S2[4] = {1, 0, 0, 4}, fd;
    assert_int_equal(mvae_frechet_gaussians(mu, S1, mu, S2, 2, &fd), MVAE_OK);
    double want = 9 - 2 * (sqrt(5 + sqrt(13)) + sqrt(5 - sqrt(13)));
    assert_true(fabs(fd - want) < 1e-10);
    /* symmetric in its arguments */
    double fd2;
    assert_int_equal(mvae_frechet_gaussians(mu, S2, mu, S1, 2, &fd2), MVAE_OK);
    assert_true(fabs(fd2 - want) < 1e-10);
    /* S1 = I: tr S2^{1/2} = sqrt 3 + 1 for S2 = [[2,1],[1,2]] (eigenvalues 3 and 1) */
    double I[4] = {1, 0, 0, 1};
    assert_int_equal(mvae_frechet_gaussians(mu, I, mu, S1, 2, &fd), MVAE_OK);
    assert_true(fabs(fd - (2 + 4 - 2 * (sqrt(3) + 1))) < 1e-10);
}

static void test_sqrtm(void **state) {
    (void)state;
    enum { n = 7 };
    mvae_rng r;
    mvae_rng_seed(&r, 5);
    double B[n * n], A[n * n], S[n * n];
    for (int i = 0; i < n * n; i++) B[i] = mvae_rng_normal(&r);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double acc = i == j ? 0.1 : 0;
            for (int k = 0; k < n; k++) acc += B[i * n + k] * B[j * n + k];
            A[i * n + j] = acc;
        }
    assert_int_equal(mvae_sqrtm_psd(A, n, S), MVAE_OK);
    double worst = 0, asym = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int k = 0; k < n; k++) acc += S[i * n + k] * S[k * n + j];
            worst = fmax(worst, fabs(acc - A[i * n + j]));
            asym = fmax(asym, fabs(S[i * n + j] - S[j * n + i]));
        }
    assert_true(worst < 1e-9);
    assert_true(asym < 1e-12);
    /* a singular PSD matrix (rank 1): the root of [[1,1],[1,1]] is [[1,1],[1,1]] / sqrt 2 */
    double P[4] = {1, 1, 1, 1}, Q[4];
    assert_int_equal(mvae_sqrtm_psd(P, 2, Q), MVAE_OK);
    for (int i = 0; i < 4; i++) assert_true(fabs(Q[i] - 1 / sqrt(2)) < 1e-12);
    /* not finite: refused */
    double Z[4] = {1, NAN, NAN, 1};
    assert_int_equal(mvae_sqrtm_psd(Z, 2, Q), MVAE_ERR_NUMERIC);
}

static void test_stats(void **state) {
    (void)state;
    enum { d = 3, N = 20000 };
    mvae_rng r;
    mvae_rng_seed(&r, 11);
    float *x = malloc(sizeof(float) * N * d), *y = malloc(sizeof(float) * N * d), *w = malloc(sizeof(float) * N * d);
    /* x, y ~ N(mu, L L^T); w = the same shifted by (1, 0, -1) */
    const double L[9] = {1, 0, 0, 0.5, 2, 0, -0.3, 0.2, 0.7}, mu[3] = {0.2, -1, 3};
    for (int i = 0; i < N; i++) {
        double e1[3], e2[3];
        for (int k = 0; k < 3; k++) e1[k] = mvae_rng_normal(&r), e2[k] = mvae_rng_normal(&r);
        for (int a = 0; a < 3; a++) {
            double v1 = mu[a], v2 = mu[a];
            for (int k = 0; k < 3; k++) v1 += L[a * 3 + k] * e1[k], v2 += L[a * 3 + k] * e2[k];
            x[i * d + a] = (float)v1;
            y[i * d + a] = (float)v2;
            w[i * d + a] = (float)(v2 + (a == 0 ? 1 : a == 2 ? -1 : 0));
        }
    }
    mvae_feature_stats sx, sy, sw;
    assert_int_equal(mvae_feature_stats_init(&sx, d), MVAE_OK);
    assert_int_equal(mvae_feature_stats_init(&sy, d), MVAE_OK);
    assert_int_equal(mvae_feature_stats_init(&sw, d), MVAE_OK);
    mvae_feature_stats_add(&sx, x, 100, d); /* in pieces: the same sums */
    mvae_feature_stats_add(&sx, x + 100 * d, N - 100, d);
    mvae_feature_stats_add(&sy, y, N, d);
    mvae_feature_stats_add(&sw, w, N, d);
    /* moments against a two-pass computation */
    double mean[3], cov[9], m2[3] = {0}, c2[9] = {0};
    mvae_error err = {0};
    assert_int_equal(mvae_feature_stats_moments(&sx, mean, cov, &err), MVAE_OK);
    for (int i = 0; i < N; i++)
        for (int a = 0; a < d; a++) m2[a] += x[i * d + a] / (double)N;
    for (int i = 0; i < N; i++)
        for (int a = 0; a < d; a++)
            for (int b = 0; b < d; b++) c2[a * d + b] += (x[i * d + a] - m2[a]) * (x[i * d + b] - m2[b]) / (N - 1.0);
    for (int a = 0; a < d; a++) assert_true(fabs(mean[a] - m2[a]) < 1e-9);
    for (int a = 0; a < d * d; a++) assert_true(fabs(cov[a] - c2[a]) < 1e-7);
    double fd;
    assert_int_equal(mvae_feature_stats_frechet(&sx, &sy, &fd, &err), MVAE_OK);
    assert_true(fd >= -1e-9 && fd < 0.02); /* same distribution: only sampling error */
    assert_int_equal(mvae_feature_stats_frechet(&sx, &sw, &fd, &err), MVAE_OK);
    assert_true(fabs(fd - 2.0) < 0.08); /* shifted by |(1, 0, -1)|^2 = 2 */
    /* fewer than 2 rows: an error that says so */
    mvae_feature_stats one;
    assert_int_equal(mvae_feature_stats_init(&one, d), MVAE_OK);
    mvae_feature_stats_add(&one, x, 1, d);
    assert_int_equal(mvae_feature_stats_frechet(&sx, &one, &fd, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "at least 2"));
    mvae_feature_stats_free(&one);
    mvae_feature_stats_free(&sx);
    mvae_feature_stats_free(&sy);
    mvae_feature_stats_free(&sw);
    free(x);
    free(y);
    free(w);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diagonal),     cmocka_unit_test(test_same_basis), cmocka_unit_test(test_non_commuting),
        cmocka_unit_test(test_sqrtm),        cmocka_unit_test(test_stats),
    };
    return mvae_test_run("frechet", tests, argc, argv);
}
