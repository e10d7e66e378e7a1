/* test_prob.c — distribution ops: values against hand-computed numbers, errors, gradient checks. */
#include "mvae_test.h"

#define LOG_2PI 1.8378770664093453
#define LOG_2 0.6931471805599453

static mvae_tensor *wrap(mvae_ctx *ctx, int ndim, const int64_t *shape, float *data) {
    return mvae_tensor_wrap(ctx, ndim, shape, data);
}

static mvae_tensor *idx_tensor(mvae_ctx *ctx, int ndim, const int64_t *shape, const int32_t *v) {
    mvae_tensor *t = mvae_tensor_new_i32(ctx, ndim, shape);
    memcpy(t->data, v, (size_t)t->n * sizeof(int32_t));
    return t;
}

/* ---- values ---- */

static void test_gaussian_sample_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    float mu[] = {1, -2, 0.5f, 0}, lv[] = {0, 2, -2, 0}, eps[] = {0.5f, 1, -1, 0};
    int64_t sh[] = {2, 2};
    mvae_tensor *z = mvae_gaussian_sample(ctx, wrap(ctx, 2, sh, mu), wrap(ctx, 2, sh, lv), wrap(ctx, 2, sh, eps));
    assert_non_null(z);
    assert_int_equal(z->ndim, 2);
    assert_int_equal(z->shape[0], 2);
    assert_int_equal(z->shape[1], 2);
    assert_float_equal(z->data[0], 1.5, 1e-6);
    assert_float_equal(z->data[1], -2 + exp(1.0), 1e-5);
    assert_float_equal(z->data[2], 0.5 - exp(-1.0), 1e-6);
    assert_float_equal(z->data[3], 0, 1e-6);
    mvae_ctx_free(ctx);
}

static void test_kl_normal_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    /* row 0: N(0,1) -> KL 0; row 1: mu = (1, 2), logvar = (log 2, 0) */
    float mu[] = {0, 0, 1, 2}, lv[] = {0, 0, (float)log(2.0), 0};
    int64_t sh[] = {2, 2};
    mvae_tensor *kl = mvae_kl_normal(ctx, wrap(ctx, 2, sh, mu), wrap(ctx, 2, sh, lv));
    assert_non_null(kl);
    assert_int_equal(kl->ndim, 1);
    assert_int_equal(kl->shape[0], 2);
    assert_float_equal(kl->data[0], 0, 1e-7);
    /* -0.5 [(1 + log2 - 1 - 2) + (1 + 0 - 4 - 1)] = -0.5 (log2 - 2 - 4) */
    assert_float_equal(kl->data[1], -0.5 * (log(2.0) - 6.0), 1e-5);
    /* 4-D input sums over every dim but 0 */
    mvae_tensor *m4 = mvae_tensor_fill(ctx, 4, (int64_t[]){3, 2, 2, 2}, 1.0f);
    mvae_tensor *l4 = mvae_tensor_zeros(ctx, 4, (int64_t[]){3, 2, 2, 2});
    mvae_tensor *k4 = mvae_kl_normal(ctx, m4, l4);
    assert_non_null(k4);
    assert_int_equal(k4->shape[0], 3);
    for (int b = 0; b < 3; b++) assert_float_equal(k4->data[b], 4.0, 1e-6); /* 8 * 0.5 */
    mvae_ctx_free(ctx);
}

static void test_bernoulli_logp_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    float l[] = {0, 2, -1, 0.5f}, x[] = {1, 0, 1, 0.3f};
    int64_t sh[] = {2, 2};
    mvae_tensor *lp = mvae_bernoulli_logp(ctx, wrap(ctx, 2, sh, l), wrap(ctx, 2, sh, x));
    assert_non_null(lp);
    double e0 = log(0.5) + log(1 - 1 / (1 + exp(-2.0)));
    double s = 1 / (1 + exp(-0.5));
    double e1 = log(1 / (1 + exp(1.0))) + 0.3 * log(s) + 0.7 * log(1 - s);
    assert_float_equal(lp->data[0], e0, 1e-5);
    assert_float_equal(lp->data[1], e1, 1e-5);
    mvae_ctx_free(ctx);
}

static void test_bernoulli_logp_stable(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    /* confident and right -> ~0; confident and wrong -> -100, never -inf/NaN */
    float l[] = {100, -100, 100, -100}, x[] = {1, 0, 0, 1};
    mvae_tensor *L = wrap(ctx, 2, (int64_t[]){4, 1}, l);
    mvae_tensor_requires_grad(L);
    mvae_tensor *lp = mvae_bernoulli_logp(ctx, L, wrap(ctx, 2, (int64_t[]){4, 1}, x));
    assert_non_null(lp);
    assert_float_equal(lp->data[0], 0, 1e-6);
    assert_float_equal(lp->data[1], 0, 1e-6);
    assert_float_equal(lp->data[2], -100, 1e-4);
    assert_float_equal(lp->data[3], -100, 1e-4);
    assert_int_equal(mvae_backward_seeded(ctx, lp, NULL), MVAE_OK);
    float expect[] = {0, 0, -1, 1}; /* x - sigmoid(l) */
    for (int i = 0; i < 4; i++) {
        assert_true(isfinite(L->grad[i]));
        assert_float_equal(L->grad[i], expect[i], 1e-6);
    }
    mvae_ctx_free(ctx);
}

static void test_gaussian_logp_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    float x[] = {1, 2, 0, -1}, mu[] = {0, 2, 1, 1};
    int64_t sh[] = {2, 2};
    /* unit variance: -0.5 (2 log 2pi + sum d^2) */
    mvae_tensor *lp = mvae_gaussian_logp(ctx, wrap(ctx, 2, sh, x), wrap(ctx, 2, sh, mu), NULL);
    assert_non_null(lp);
    assert_float_equal(lp->data[0], -0.5 * (2 * LOG_2PI + 1), 1e-5);
    assert_float_equal(lp->data[1], -0.5 * (2 * LOG_2PI + 1 + 4), 1e-5);
    /* per-feature logvar [D] = (log 4, 0) */
    float lvd[] = {(float)log(4.0), 0};
    lp = mvae_gaussian_logp(ctx, wrap(ctx, 2, sh, x), wrap(ctx, 2, sh, mu), wrap(ctx, 1, (int64_t[]){2}, lvd));
    assert_non_null(lp);
    assert_float_equal(lp->data[0], -0.5 * (2 * LOG_2PI + log(4.0) + 1 / 4.0), 1e-5);
    assert_float_equal(lp->data[1], -0.5 * (2 * LOG_2PI + log(4.0) + 1 / 4.0 + 4), 1e-5);
    /* full logvar */
    float lvf[] = {0, 0, 0, (float)log(2.0)};
    lp = mvae_gaussian_logp(ctx, wrap(ctx, 2, sh, x), wrap(ctx, 2, sh, mu), wrap(ctx, 2, sh, lvf));
    assert_non_null(lp);
    assert_float_equal(lp->data[1], -0.5 * (2 * LOG_2PI + 1 + log(2.0) + 4 / 2.0), 1e-5);
    /* a logvar that does not broadcast */
    assert_null(mvae_gaussian_logp(ctx, wrap(ctx, 2, sh, x), wrap(ctx, 2, sh, mu),
                                   wrap(ctx, 1, (int64_t[]){3}, lvf)));
    assert_non_null(strstr(mvae_ctx_error(ctx), "gaussian_logp"));
    assert_non_null(strstr(mvae_ctx_error(ctx), "[3]"));
    assert_non_null(strstr(mvae_ctx_error(ctx), "[2,2]"));
    mvae_ctx_free(ctx);
}

static void test_laplace_logp_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    float x[] = {1, -2, 0.5f}, loc[] = {0, 0, 0.5f};
    int64_t sh[] = {1, 3};
    mvae_tensor *lp = mvae_laplace_logp(ctx, wrap(ctx, 2, sh, x), wrap(ctx, 2, sh, loc), NULL);
    assert_non_null(lp);
    assert_float_equal(lp->data[0], -3 * LOG_2 - 3, 1e-5);
    float ls[] = {(float)log(2.0)};
    lp = mvae_laplace_logp(ctx, wrap(ctx, 2, sh, x), wrap(ctx, 2, sh, loc), wrap(ctx, 1, (int64_t[]){1}, ls));
    assert_non_null(lp);
    assert_float_equal(lp->data[0], 3 * (-LOG_2 - log(2.0)) - 3 / 2.0, 1e-5);
    mvae_ctx_free(ctx);
}

static void test_categorical_logp_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    float l[] = {0, 0, 0, 1, 2, 3}; /* [2,3] */
    mvae_tensor *lp = mvae_categorical_logp(ctx, wrap(ctx, 2, (int64_t[]){2, 3}, l),
                                            idx_tensor(ctx, 1, (int64_t[]){2}, (int32_t[]){1, 2}));
    assert_non_null(lp);
    assert_float_equal(lp->data[0], -log(3.0), 1e-6);
    assert_float_equal(lp->data[1], 3 - log(exp(1.0) + exp(2.0) + exp(3.0)), 1e-5);
    /* large logits stay finite */
    float big[] = {1000, 0, -1000};
    lp = mvae_categorical_logp(ctx, wrap(ctx, 2, (int64_t[]){1, 3}, big),
                               idx_tensor(ctx, 1, (int64_t[]){1}, (int32_t[]){1}));
    assert_non_null(lp);
    assert_float_equal(lp->data[0], -1000, 1e-3);
    mvae_ctx_free(ctx);
}

static void test_categorical_logp_sequence_padding(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    /* logits [2,3,2]; idx [2,3] with padding (-1) at the ends */
    float l[] = {0, 0, 1, 0, 5, 5, /* b0 */ 0, 2, 3, 3, 7, -7};
    int32_t ix[] = {0, 0, -1, 1, -1, -1};
    mvae_tensor *L = wrap(ctx, 3, (int64_t[]){2, 3, 2}, l);
    mvae_tensor_requires_grad(L);
    mvae_tensor *lp = mvae_categorical_logp(ctx, L, idx_tensor(ctx, 2, (int64_t[]){2, 3}, ix));
    assert_non_null(lp);
    assert_int_equal(lp->ndim, 1);
    assert_int_equal(lp->shape[0], 2);
    double e0 = -log(2.0) + (1 - log(exp(1.0) + 1));
    double e1 = 2 - log(1 + exp(2.0));
    assert_float_equal(lp->data[0], e0, 1e-5);
    assert_float_equal(lp->data[1], e1, 1e-5);
    /* padded positions get no gradient */
    assert_int_equal(mvae_backward_seeded(ctx, lp, NULL), MVAE_OK);
    for (int k = 0; k < 2; k++) {
        assert_float_equal(L->grad[2 * 2 + k], 0, 0);  /* b0 t2 */
        assert_float_equal(L->grad[4 * 2 + k], 0, 0);  /* b1 t1 */
        assert_float_equal(L->grad[5 * 2 + k], 0, 0);  /* b1 t2 */
    }
    assert_float_equal(L->grad[0], 0.5, 1e-6);
    assert_float_equal(L->grad[1], -0.5, 1e-6);
    mvae_ctx_free(ctx);
}

static void test_categorical_logp_errors(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *L = mvae_tensor_zeros(ctx, 2, (int64_t[]){2, 5});
    assert_null(mvae_categorical_logp(ctx, L, idx_tensor(ctx, 1, (int64_t[]){2}, (int32_t[]){1, 5})));
    assert_non_null(strstr(mvae_ctx_error(ctx), "categorical_logp"));
    assert_non_null(strstr(mvae_ctx_error(ctx), "idx[1] = 5"));
    assert_non_null(strstr(mvae_ctx_error(ctx), "[2,5]"));
    mvae_ctx_reset(ctx);
    L = mvae_tensor_zeros(ctx, 2, (int64_t[]){2, 5});
    assert_null(mvae_categorical_logp(ctx, L, idx_tensor(ctx, 1, (int64_t[]){2}, (int32_t[]){-1, 0})));
    assert_non_null(strstr(mvae_ctx_error(ctx), "out of range"));
    mvae_ctx_reset(ctx);
    /* sequence: idx >= K */
    L = mvae_tensor_zeros(ctx, 3, (int64_t[]){1, 2, 3});
    assert_null(mvae_categorical_logp(ctx, L, idx_tensor(ctx, 2, (int64_t[]){1, 2}, (int32_t[]){0, 3})));
    assert_non_null(strstr(mvae_ctx_error(ctx), "idx[0,1] = 3"));
    mvae_ctx_reset(ctx);
    /* shape and dtype */
    L = mvae_tensor_zeros(ctx, 2, (int64_t[]){2, 5});
    assert_null(mvae_categorical_logp(ctx, L, idx_tensor(ctx, 1, (int64_t[]){3}, (int32_t[]){0, 0, 0})));
    assert_non_null(strstr(mvae_ctx_error(ctx), "[3]"));
    mvae_ctx_reset(ctx);
    L = mvae_tensor_zeros(ctx, 2, (int64_t[]){2, 5});
    assert_null(mvae_categorical_logp(ctx, L, mvae_tensor_zeros(ctx, 1, (int64_t[]){2})));
    assert_non_null(strstr(mvae_ctx_error(ctx), "int32"));
    mvae_ctx_free(ctx);
}

static void test_shape_errors(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *a = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 3});
    mvae_tensor *b = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 2});
    assert_null(mvae_kl_normal(ctx, a, b));
    assert_non_null(strstr(mvae_ctx_error(ctx), "kl_normal: mu [4,3] and logvar [4,2]"));
    mvae_ctx_reset(ctx);
    a = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 3});
    b = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 2});
    assert_null(mvae_bernoulli_logp(ctx, a, b));
    assert_non_null(strstr(mvae_ctx_error(ctx), "bernoulli_logp"));
    mvae_ctx_reset(ctx);
    a = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 3});
    b = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 2});
    assert_null(mvae_gaussian_sample(ctx, a, a, b));
    assert_non_null(strstr(mvae_ctx_error(ctx), "gaussian_sample"));
    mvae_ctx_reset(ctx);
    assert_null(mvae_laplace_logp(ctx, NULL, NULL, NULL));
    assert_non_null(strstr(mvae_ctx_error(ctx), "laplace_logp"));
    mvae_ctx_free(ctx);
}

static void test_no_grad_into_data(void **state) {
    (void)state;
    /* eps and the Bernoulli targets are data: no gradient even when they ask for one */
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 5);
    int64_t sh[] = {2, 3};
    mvae_tensor *mu = mvae_test_rand(ctx, &r, 2, sh, -1, 1, 1);
    mvae_tensor *lv = mvae_test_rand(ctx, &r, 2, sh, -1, 1, 1);
    mvae_tensor *eps = mvae_test_rand(ctx, &r, 2, sh, -1, 1, 0);
    mvae_tensor *x = mvae_test_rand(ctx, &r, 2, sh, 0, 1, 1);
    mvae_tensor *z = mvae_gaussian_sample(ctx, mu, lv, eps);
    mvae_tensor *lp = mvae_bernoulli_logp(ctx, z, x);
    assert_int_equal(mvae_backward_seeded(ctx, lp, NULL), MVAE_OK);
    assert_null(eps->grad);
    assert_null(x->grad);
    assert_non_null(mu->grad);
    assert_non_null(lv->grad);
    mvae_ctx_free(ctx);
}

/* ---- gradchecks ---- */

static mvae_tensor *build_gaussian_sample(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_gaussian_sample(ctx, in[0], in[1], in[2]);
}
MVAE_GRADCHECK_OP(gaussian_sample)
static void gradcheck_gaussian_sample(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 11);
    int64_t sh[] = {3, 4};
    mvae_tensor *in[3] = {mvae_test_rand(d, &r, 2, sh, -1, 1, 1), mvae_test_rand(d, &r, 2, sh, -1, 1, 1),
                          mvae_test_rand(d, &r, 2, sh, -2, 2, 0)};
    assert_int_equal(mvae_gradcheck("gaussian_sample", build_gaussian_sample, 3, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

static mvae_tensor *build_kl_normal(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_kl_normal(ctx, in[0], in[1]);
}
MVAE_GRADCHECK_OP(kl_normal)
static void gradcheck_kl_normal(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 12);
    int64_t sh[] = {3, 2, 3};
    mvae_tensor *in[2] = {mvae_test_rand(d, &r, 3, sh, -1, 1, 1), mvae_test_rand(d, &r, 3, sh, -1.5f, 1, 1)};
    assert_int_equal(mvae_gradcheck("kl_normal", build_kl_normal, 2, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

static mvae_tensor *build_bernoulli_logp(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_bernoulli_logp(ctx, in[0], in[1]);
}
MVAE_GRADCHECK_OP(bernoulli_logp)
static void gradcheck_bernoulli_logp(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 13);
    int64_t sh[] = {3, 5};
    mvae_tensor *in[2] = {mvae_test_rand(d, &r, 2, sh, -4, 4, 1), mvae_test_rand(d, &r, 2, sh, 0, 1, 0)};
    in[1]->data[0] = 0.0f; /* hard targets too */
    in[1]->data[1] = 1.0f;
    assert_int_equal(mvae_gradcheck("bernoulli_logp", build_bernoulli_logp, 2, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

static mvae_tensor *build_gaussian_logp(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_gaussian_logp(ctx, in[0], in[1], in[2]);
}
static mvae_tensor *build_gaussian_logp_unit(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_gaussian_logp(ctx, in[0], in[1], NULL);
}
MVAE_GRADCHECK_OP(gaussian_logp)
static void gradcheck_gaussian_logp(void **state) {
    (void)state;
    /* logvar: same shape, per-feature [C,W] (mu's shape without the batch dim), flattened [D], [1] */
    const int64_t lv_shapes[4][3] = {{3, 2, 3}, {2, 3, 0}, {6, 0, 0}, {1, 0, 0}};
    const int lv_ndim[4] = {3, 2, 1, 1};
    for (int c = 0; c < 4; c++) {
        mvae_ctx *d = mvae_ctx_new(0);
        mvae_rng r;
        mvae_rng_seed(&r, 14 + c);
        int64_t sh[] = {3, 2, 3};
        mvae_tensor *in[3] = {mvae_test_rand(d, &r, 3, sh, -1, 1, 1), mvae_test_rand(d, &r, 3, sh, -1, 1, 1),
                              mvae_test_rand(d, &r, lv_ndim[c], lv_shapes[c], -1, 1, 1)};
        assert_int_equal(mvae_gradcheck("gaussian_logp", build_gaussian_logp, 3, in, NULL, (mvae_gc_opts){0}), 0);
        mvae_ctx_free(d);
    }
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 20);
    int64_t sh[] = {4, 3};
    mvae_tensor *in[2] = {mvae_test_rand(d, &r, 2, sh, -1, 1, 0), mvae_test_rand(d, &r, 2, sh, -1, 1, 1)};
    assert_int_equal(mvae_gradcheck("gaussian_logp", build_gaussian_logp_unit, 2, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

static mvae_tensor *build_laplace_logp(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    return u ? mvae_laplace_logp(ctx, in[0], in[1], NULL) : mvae_laplace_logp(ctx, in[0], in[1], in[2]);
}
MVAE_GRADCHECK_OP(laplace_logp)
static void gradcheck_laplace_logp(void **state) {
    (void)state;
    for (int c = 0; c < 3; c++) {
        mvae_ctx *d = mvae_ctx_new(0);
        mvae_rng r;
        mvae_rng_seed(&r, 30 + c);
        int64_t sh[] = {3, 4};
        mvae_tensor *x = mvae_test_rand(d, &r, 2, sh, -1, 1, 1);
        mvae_tensor *loc = mvae_tensor_new(d, 2, sh);
        /* keep |x - loc| in [0.1, 0.6]: away from the kink at x = loc */
        for (int64_t i = 0; i < x->n; i++)
            loc->data[i] = x->data[i] + (i % 2 ? 1.0f : -1.0f) * (0.1f + 0.5f * mvae_rng_uniform(&r));
        mvae_tensor_requires_grad(loc);
        mvae_tensor *ls = c == 0 ? mvae_test_rand(d, &r, 2, sh, -1, 1, 1)
                                 : mvae_test_rand(d, &r, 1, (int64_t[]){4}, -1, 1, 1);
        mvae_tensor *in[3] = {x, loc, ls};
        int n_in = c == 2 ? 2 : 3;
        assert_int_equal(mvae_gradcheck("laplace_logp", build_laplace_logp, n_in, in, c == 2 ? (void *)1 : NULL,
                                        (mvae_gc_opts){0}), 0);
        mvae_ctx_free(d);
    }
}

static mvae_tensor *build_categorical_logp(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_categorical_logp(ctx, in[0], in[1]);
}
MVAE_GRADCHECK_OP(categorical_logp)
static void gradcheck_categorical_logp(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 40);
    /* [B,K] */
    mvae_tensor *in[2] = {mvae_test_rand(d, &r, 2, (int64_t[]){3, 5}, -2, 2, 1),
                          idx_tensor(d, 1, (int64_t[]){3}, (int32_t[]){4, 0, 2})};
    assert_int_equal(mvae_gradcheck("categorical_logp", build_categorical_logp, 2, in, NULL, (mvae_gc_opts){0}), 0);
    /* [B,T,K] with padding */
    mvae_tensor *seq[2] = {mvae_test_rand(d, &r, 3, (int64_t[]){2, 4, 3}, -2, 2, 1),
                           idx_tensor(d, 2, (int64_t[]){2, 4}, (int32_t[]){0, 2, 1, -1, 1, -1, -1, -1})};
    assert_int_equal(mvae_gradcheck("categorical_logp", build_categorical_logp, 2, seq, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gaussian_sample_values),
        cmocka_unit_test(test_kl_normal_values),
        cmocka_unit_test(test_bernoulli_logp_values),
        cmocka_unit_test(test_bernoulli_logp_stable),
        cmocka_unit_test(test_gaussian_logp_values),
        cmocka_unit_test(test_laplace_logp_values),
        cmocka_unit_test(test_categorical_logp_values),
        cmocka_unit_test(test_categorical_logp_sequence_padding),
        cmocka_unit_test(test_categorical_logp_errors),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_no_grad_into_data),
        cmocka_unit_test(gradcheck_gaussian_sample),
        cmocka_unit_test(gradcheck_kl_normal),
        cmocka_unit_test(gradcheck_bernoulli_logp),
        cmocka_unit_test(gradcheck_gaussian_logp),
        cmocka_unit_test(gradcheck_laplace_logp),
        cmocka_unit_test(gradcheck_categorical_logp),
    };
    return mvae_test_run("prob", tests, argc, argv);
}
