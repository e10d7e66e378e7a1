/* test_divergence.c — the ops the objectives added (ops_divergence.c): the continuous Bernoulli's
 * log-normaliser against a numerical integral (near lambda = 1/2, across the Taylor switch and at
 * the extremes), its gradient and mean, the log-density op, the KL between two Gaussians against
 * hand-computed values, and both ops' finite-difference gradient checks. */
#include "mvae_test.h"

#include "mvae/prob.h"

/* log of the integral over [0,1] of exp(x l - softplus(l)) dx = lambda^x (1-lambda)^(1-x), the
 * unnormalised continuous Bernoulli, by composite Simpson with n intervals in double. The
 * normaliser is C = 1 / integral. */
static double log_integral(double l, int n) {
    double sp = l > 0 ? l + log1p(exp(-l)) : log1p(exp(l)); /* softplus */
    double h = 1.0 / n, s = 0;
    for (int i = 0; i <= n; i++) {
        double x = i * h, w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
        s += w * exp(x * l - sp);
    }
    return log(s * h / 3);
}

/* The mean by the same rule: integral of x p(x) dx. */
static double mean_integral(double l, int n) {
    double lc = mvae_cbernoulli_log_norm(l), sp = l > 0 ? l + log1p(exp(-l)) : log1p(exp(l));
    double h = 1.0 / n, s = 0;
    for (int i = 0; i <= n; i++) {
        double x = i * h, w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
        s += w * x * exp(x * l - sp + lc);
    }
    return s * h / 3;
}

static const double LOGITS[] = {0.0,  1e-7, -1e-7, 1e-4,  -1e-3, 0.01, 0.0999999, 0.1000001, -0.1, 0.5,
                                -0.9, 2.0,  -5.0,  10.0,  -20.0, 35.0, -60.0,     88.0,      -88.0};
#define N_LOGITS (int)(sizeof LOGITS / sizeof LOGITS[0])

static void test_cb_normaliser_vs_integral(void **state) {
    (void)state;
    for (int i = 0; i < N_LOGITS; i++) {
        double l = LOGITS[i], lc = mvae_cbernoulli_log_norm(l), num = -log_integral(l, 200000);
        double tol = 1e-10 * fmax(1.0, fabs(lc));
        if (fabs(lc - num) > tol) fprintf(stderr, "l = %g: log C %.15g, numerical %.15g\n", l, lc, num);
        assert_true(fabs(lc - num) <= tol);
    }
    /* lambda = 1/2: C = 2 exactly, and the first terms of the series just off it */
    assert_true(mvae_cbernoulli_log_norm(0.0) == log(2.0));
    assert_float_equal(mvae_cbernoulli_log_norm(2e-6), log(2.0) + 4e-12 / 12, 1e-17);
    /* the paper's form in lambda, C = 2 artanh(1 - 2 lambda) / (1 - 2 lambda), away from 1/2 */
    const double lambdas[] = {0.01, 0.2, 0.45, 0.7, 0.999};
    for (int i = 0; i < 5; i++) {
        double lam = lambdas[i], l = log(lam / (1 - lam));
        double c = 2 * atanh(1 - 2 * lam) / (1 - 2 * lam);
        assert_float_equal(mvae_cbernoulli_log_norm(l), log(c), 1e-12);
    }
    /* continuous across the Taylor switch at |l| = 0.1 and even in l */
    assert_true(fabs(mvae_cbernoulli_log_norm(0.1 - 1e-12) - mvae_cbernoulli_log_norm(0.1 + 1e-12)) < 1e-13);
    for (int i = 0; i < N_LOGITS; i++) assert_true(mvae_cbernoulli_log_norm(LOGITS[i]) == mvae_cbernoulli_log_norm(-LOGITS[i]));
}

static void test_cb_normaliser_grad_and_mean(void **state) {
    (void)state;
    for (int i = 0; i < N_LOGITS; i++) {
        double l = LOGITS[i], h = 1e-5;
        double fd = (mvae_cbernoulli_log_norm(l + h) - mvae_cbernoulli_log_norm(l - h)) / (2 * h);
        double g = mvae_cbernoulli_log_norm_grad(l);
        assert_true(fabs(g - fd) <= 1e-8 * fmax(1.0, fabs(g)));
        /* E[x] against the integral */
        double mi = mean_integral(l, 200000), me = mvae_cbernoulli_mean(l);
        if (fabs(mi - me) > 1e-9) fprintf(stderr, "l = %g: mean %.15g, numerical %.15g\n", l, me, mi);
        assert_true(fabs(mi - me) <= 1e-9);
    }
    assert_true(mvae_cbernoulli_log_norm_grad(0.0) == 0.0);
    assert_true(mvae_cbernoulli_mean(0.0) == 0.5);
    /* the extremes: the mean goes to 1/l's side, not to sigmoid(l) */
    assert_float_equal(mvae_cbernoulli_mean(50.0), 1.0 - 1.0 / 50, 1e-12);
}

/* The op: sum over values of x l - softplus(l) + log C(l), against the double formula; fewer
 * target rows than logit rows score row r against target row r mod Bx; the likelihood table's
 * `continuous_bernoulli` is the op. */
static void test_cb_logp_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    float l[] = {0.0f, 0.3f, -2.0f, 7.0f, 1e-4f, -0.05f, 3.0f, -30.0f};
    float x[] = {0.5f, 0.0f, 1.0f, 0.25f};
    int64_t sl[] = {2, 4}, sx[] = {1, 4};
    mvae_tensor *L = mvae_tensor_wrap(ctx, 2, sl, l), *X = mvae_tensor_wrap(ctx, 2, sx, x);
    mvae_tensor *lp = mvae_cbernoulli_logp(ctx, L, X);
    assert_non_null(lp);
    assert_int_equal(lp->shape[0], 2);
    for (int b = 0; b < 2; b++) {
        double want = 0;
        for (int j = 0; j < 4; j++) {
            double lj = l[b * 4 + j], sp = lj > 0 ? lj + log1p(exp(-lj)) : log1p(exp(lj));
            want += x[j] * lj - sp + mvae_cbernoulli_log_norm(lj);
        }
        assert_float_equal(lp->data[b], want, 1e-5 * fmax(1, fabs(want)));
    }
    int lik;
    mvae_error err = {0};
    assert_int_equal(mvae_likelihood_parse("continuous_bernoulli", &lik, &err), MVAE_OK);
    assert_int_equal(lik, MVAE_LIK_CONTINUOUS_BERNOULLI);
    assert_string_equal(mvae_likelihood_name(lik), "continuous_bernoulli");
    mvae_tensor *lp2 = mvae_likelihood_logp(ctx, lik, L, X, 1.0f);
    assert_non_null(lp2);
    for (int b = 0; b < 2; b++) assert_float_equal(lp2->data[b], lp->data[b], 0);
    /* a grey level's density can exceed 1: the logp of x = 0.5 at l = 0 is log C(0) - ... = 0 */
    float l0 = 0.0f, x0 = 0.5f;
    mvae_tensor *one = mvae_cbernoulli_logp(ctx, mvae_tensor_wrap(ctx, 2, (int64_t[]){1, 1}, &l0), mvae_tensor_wrap(ctx, 2, (int64_t[]){1, 1}, &x0));
    assert_float_equal(one->data[0], 0.0, 1e-7); /* uniform density on [0,1] */
    /* a misspelt name gets a hint that names the new likelihood */
    assert_int_not_equal(mvae_likelihood_parse("continuous_bernouli", &lik, &err), MVAE_OK);
    assert_non_null(strstr(err.msg, "did you mean 'continuous_bernoulli'"));
    /* shape errors name the op */
    assert_null(mvae_cbernoulli_logp(ctx, L, mvae_tensor_zeros(ctx, 2, (int64_t[]){1, 3})));
    assert_non_null(strstr(mvae_ctx_error(ctx), "cbernoulli_logp"));
    mvae_ctx_free(ctx);
}

static void test_kl_gaussians_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    /* row 0: identical -> 0; row 1: hand-computed; second argument N(0, I): kl_normal's value */
    float m1[] = {0.3f, -1.0f, 1.0f, 0.5f}, v1[] = {0.2f, -0.4f, log(2.0f), 0.0f};
    float m2[] = {0.3f, -1.0f, -1.0f, 0.0f}, v2[] = {0.2f, -0.4f, 0.0f, log(4.0f)};
    int64_t sh[] = {2, 2};
    mvae_tensor *kl = mvae_kl_gaussians(ctx, mvae_tensor_wrap(ctx, 2, sh, m1), mvae_tensor_wrap(ctx, 2, sh, v1),
                                        mvae_tensor_wrap(ctx, 2, sh, m2), mvae_tensor_wrap(ctx, 2, sh, v2));
    assert_non_null(kl);
    assert_float_equal(kl->data[0], 0.0, 1e-7);
    /* dim 0: 0.5 (0 - log 2 + (2 + 4) / 1 - 1); dim 1: 0.5 (log 4 - 0 + (1 + 0.25) / 4 - 1) */
    double want = 0.5 * (-log(2.0) + 6 - 1) + 0.5 * (log(4.0) + 1.25 / 4 - 1);
    assert_float_equal(kl->data[1], want, 1e-5);
    mvae_tensor *z = mvae_tensor_zeros(ctx, 2, sh);
    mvae_tensor *a = mvae_kl_gaussians(ctx, mvae_tensor_wrap(ctx, 2, sh, m1), mvae_tensor_wrap(ctx, 2, sh, v1), z, z);
    mvae_tensor *b = mvae_kl_normal(ctx, mvae_tensor_wrap(ctx, 2, sh, m1), mvae_tensor_wrap(ctx, 2, sh, v1));
    for (int i = 0; i < 2; i++) assert_float_equal(a->data[i], b->data[i], 1e-6);
    assert_null(mvae_kl_gaussians(ctx, z, z, z, mvae_tensor_zeros(ctx, 2, (int64_t[]){2, 3})));
    assert_non_null(strstr(mvae_ctx_error(ctx), "kl_gaussians"));
    mvae_ctx_free(ctx);
}

/* ---- gradient checks ---- */
static mvae_tensor *build_cbernoulli_logp(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_cbernoulli_logp(ctx, in[0], in[1]);
}
MVAE_GRADCHECK_OP(cbernoulli_logp)
static void gradcheck_cbernoulli_logp(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 17);
    int64_t sh[] = {3, 6};
    mvae_tensor *in[2] = {mvae_test_rand(d, &r, 2, sh, -5, 5, 1), mvae_test_rand(d, &r, 2, sh, 0, 1, 0)};
    in[0]->data[0] = 0.0f;   /* lambda = 1/2 */
    in[0]->data[1] = 0.02f;  /* inside the series */
    in[0]->data[2] = -0.12f; /* just outside it */
    in[1]->data[3] = 0.0f;
    in[1]->data[4] = 1.0f;
    assert_int_equal(mvae_gradcheck("cbernoulli_logp", build_cbernoulli_logp, 2, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

static mvae_tensor *build_kl_gaussians(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_kl_gaussians(ctx, in[0], in[1], in[2], in[3]);
}
MVAE_GRADCHECK_OP(kl_gaussians)
static void gradcheck_kl_gaussians(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 18);
    int64_t sh[] = {3, 4};
    mvae_tensor *in[4] = {mvae_test_rand(d, &r, 2, sh, -1, 1, 1), mvae_test_rand(d, &r, 2, sh, -1, 1, 1),
                          mvae_test_rand(d, &r, 2, sh, -1, 1, 1), mvae_test_rand(d, &r, 2, sh, -1, 1, 1)};
    assert_int_equal(mvae_gradcheck("kl_gaussians", build_kl_gaussians, 4, in, NULL, (mvae_gc_opts){0}), 0);
    /* the same tensor in both places (a posterior against itself): gradients accumulate */
    mvae_tensor *same[4] = {in[0], in[1], in[0], in[1]};
    assert_int_equal(mvae_gradcheck("kl_gaussians", build_kl_gaussians, 4, same, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cb_normaliser_vs_integral),
        cmocka_unit_test(test_cb_normaliser_grad_and_mean),
        cmocka_unit_test(test_cb_logp_values),
        cmocka_unit_test(test_kl_gaussians_values),
        cmocka_unit_test(gradcheck_cbernoulli_logp),
        cmocka_unit_test(gradcheck_kl_gaussians),
    };
    return mvae_test_run("divergence", tests, argc, argv);
}
