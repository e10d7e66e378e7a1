/* test_ops_basic.c — elementwise, reduction and shape ops: values, errors, stability, and a
 * finite-difference gradient check per op. */
#include "mvae_test.h"
#include "gemm_internal.h"

/* ---------------------------------------------------------------------------------------------
 * helpers
 * ------------------------------------------------------------------------------------------- */
#define SHAPE(...) (int64_t[]){__VA_ARGS__}
#define NDIM(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define TENSOR(ctx, ...) mvae_tensor_new((ctx), NDIM(__VA_ARGS__), SHAPE(__VA_ARGS__))

static mvae_tensor *from_values(mvae_ctx *ctx, int ndim, const int64_t *shape, const float *v) {
    mvae_tensor *t = mvae_tensor_new(ctx, ndim, shape);
    memcpy(t->data, v, (size_t)t->n * sizeof(float));
    return t;
}

/* |x| uniform in [lo, hi) with a random sign: keeps inputs away from kinks at 0. */
static mvae_tensor *rand_away_from_zero(mvae_ctx *ctx, mvae_rng *r, int ndim, const int64_t *shape,
                                        float lo, float hi) {
    mvae_tensor *t = mvae_test_rand(ctx, r, ndim, shape, lo, hi, 1);
    for (int64_t i = 0; i < t->n; i++)
        if (mvae_rng_uniform(r) < 0.5f) t->data[i] = -t->data[i];
    return t;
}

static void assert_values(const mvae_tensor *t, const float *expect, int64_t n, double tol) {
    assert_non_null(t);
    assert_int_equal(t->n, n);
    for (int64_t i = 0; i < n; i++) {
        if (!(fabs((double)t->data[i] - (double)expect[i]) <= tol))
            fprintf(stderr, "element %lld: got %.7g expected %.7g\n", (long long)i, t->data[i],
                    expect[i]);
        assert_true(fabs((double)t->data[i] - (double)expect[i]) <= tol);
    }
}

static void assert_shape(const mvae_tensor *t, int ndim, const int64_t *shape) {
    assert_non_null(t);
    assert_int_equal(t->ndim, ndim);
    for (int d = 0; d < ndim; d++) assert_int_equal(t->shape[d], shape[d]);
}

static void assert_error_has(mvae_ctx *ctx, const char *const *parts) {
    assert_true(mvae_ctx_failed(ctx));
    for (int i = 0; parts[i]; i++) {
        if (!strstr(mvae_ctx_error(ctx), parts[i]))
            fprintf(stderr, "error '%s' lacks '%s'\n", mvae_ctx_error(ctx), parts[i]);
        assert_non_null(strstr(mvae_ctx_error(ctx), parts[i]));
    }
}
#define ASSERT_ERROR(ctx, ...) assert_error_has((ctx), (const char *const[]){__VA_ARGS__, NULL})

/* ---------------------------------------------------------------------------------------------
 * value tests
 * ------------------------------------------------------------------------------------------- */
static void test_binary_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *a = from_values(ctx, 2, SHAPE(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    mvae_tensor *row = from_values(ctx, 1, SHAPE(3), (float[]){10, 20, 30});
    mvae_tensor *col = from_values(ctx, 2, SHAPE(2, 1), (float[]){2, 4});
    assert_values(mvae_add(ctx, a, row), (float[]){11, 22, 33, 14, 25, 36}, 6, 0);
    assert_values(mvae_sub(ctx, row, a), (float[]){9, 18, 27, 6, 15, 24}, 6, 0);
    assert_values(mvae_mul(ctx, a, col), (float[]){2, 4, 6, 16, 20, 24}, 6, 0);
    assert_values(mvae_div(ctx, a, col), (float[]){0.5f, 1, 1.5f, 1, 1.25f, 1.5f}, 6, 1e-7);
    /* [2,1] with [3] -> [2,3]: both sides expand */
    mvae_tensor *o = mvae_add(ctx, col, row);
    assert_shape(o, 2, SHAPE(2, 3));
    assert_values(o, (float[]){12, 22, 32, 14, 24, 34}, 6, 0);
    assert_values(mvae_mul(ctx, a, mvae_scalar(ctx, 3)), (float[]){3, 6, 9, 12, 15, 18}, 6, 0);
    assert_values(mvae_scale(ctx, a, -2), (float[]){-2, -4, -6, -8, -10, -12}, 6, 0);
    assert_values(mvae_add_scalar(ctx, a, 0.5f), (float[]){1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f}, 6, 0);
    assert_false(mvae_ctx_failed(ctx));
    mvae_ctx_free(ctx);
}

/* Naive reference for broadcasting: index each input by its own unravelled coordinates. */
static void ref_broadcast_add(const mvae_tensor *a, const mvae_tensor *b, const mvae_tensor *o,
                              float *out) {
    int64_t idx[MVAE_MAX_DIMS];
    for (int64_t i = 0; i < o->n; i++) {
        int64_t rem = i;
        for (int d = o->ndim - 1; d >= 0; d--) {
            idx[d] = rem % o->shape[d];
            rem /= o->shape[d];
        }
        const mvae_tensor *ts[2] = {a, b};
        float v[2];
        for (int k = 0; k < 2; k++) {
            const mvae_tensor *t = ts[k];
            int off = o->ndim - t->ndim;
            int64_t lin = 0;
            for (int d = 0; d < t->ndim; d++)
                lin = lin * t->shape[d] + (t->shape[d] == 1 ? 0 : idx[d + off]);
            v[k] = t->data[lin];
        }
        out[i] = v[0] * 10.0f + v[1]; /* compared against add(scale(a,10), b) */
    }
}

static void test_broadcast_matches_reference(void **state) {
    (void)state;
    static const struct {
        int na, nb;
        int64_t sa[4], sb[4];
    } cases[] = {
        {3, 3, {2, 3, 4}, {2, 3, 4}}, {3, 2, {2, 3, 4}, {3, 1}},    {3, 1, {2, 3, 4}, {4}},
        {3, 3, {2, 3, 4}, {2, 1, 4}}, {1, 3, {4}, {2, 3, 4}},       {2, 2, {3, 1}, {1, 4}},
        {4, 4, {2, 1, 3, 1}, {1, 5, 1, 4}}, {1, 4, {1}, {2, 3, 2, 2}}, {4, 2, {2, 3, 4, 5}, {4, 5}},
        {2, 3, {3, 4}, {2, 3, 4}},    {3, 3, {2, 3, 1}, {2, 3, 4}},
    };
    mvae_rng r;
    mvae_rng_seed(&r, 11);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_tensor *a = mvae_test_rand(ctx, &r, cases[c].na, cases[c].sa, -1, 1, 0);
        mvae_tensor *b = mvae_test_rand(ctx, &r, cases[c].nb, cases[c].sb, -1, 1, 0);
        mvae_tensor *o = mvae_add(ctx, mvae_scale(ctx, a, 10), b);
        assert_non_null(o);
        float *ref = malloc((size_t)o->n * sizeof(float));
        ref_broadcast_add(a, b, o, ref);
        assert_true(mvae_test_maxdiff(o->data, ref, o->n, NULL) < 1e-6);
        free(ref);
        mvae_ctx_free(ctx);
    }
}

static void test_unary_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *x = from_values(ctx, 1, SHAPE(4), (float[]){-2, -0.5f, 0.5f, 2});
    mvae_tensor *p = from_values(ctx, 1, SHAPE(3), (float[]){0.25f, 1, 4});
    assert_values(mvae_exp(ctx, x), (float[]){expf(-2), expf(-0.5f), expf(0.5f), expf(2)}, 4, 1e-6);
    assert_values(mvae_log(ctx, p), (float[]){logf(0.25f), 0, logf(4)}, 3, 1e-6);
    assert_values(mvae_sqrt(ctx, p), (float[]){0.5f, 1, 2}, 3, 1e-7);
    assert_values(mvae_square(ctx, x), (float[]){4, 0.25f, 0.25f, 4}, 4, 0);
    assert_values(mvae_reciprocal(ctx, p), (float[]){4, 1, 0.25f}, 3, 1e-7);
    assert_values(mvae_relu(ctx, x), (float[]){0, 0, 0.5f, 2}, 4, 0);
    assert_values(mvae_leaky_relu(ctx, x, 0.1f), (float[]){-0.2f, -0.05f, 0.5f, 2}, 4, 1e-7);
    assert_values(mvae_elu(ctx, x, 1.5f), (float[]){1.5f * expm1f(-2), 1.5f * expm1f(-0.5f), 0.5f, 2},
                  4, 1e-6);
    float sg[4], sw[4], th[4], sp[4];
    for (int i = 0; i < 4; i++) {
        double v = x->data[i];
        sg[i] = (float)(1 / (1 + exp(-v)));
        sw[i] = (float)(v / (1 + exp(-v)));
        th[i] = (float)tanh(v);
        sp[i] = (float)log1p(exp(v));
    }
    assert_values(mvae_sigmoid(ctx, x), sg, 4, 1e-6);
    assert_values(mvae_swish(ctx, x), sw, 4, 1e-6);
    assert_values(mvae_tanh(ctx, x), th, 4, 1e-6);
    assert_values(mvae_softplus(ctx, x), sp, 4, 1e-6);
    /* softplus and sigmoid stay finite and exact far out */
    mvae_tensor *big = from_values(ctx, 1, SHAPE(2), (float[]){100, -100});
    assert_values(mvae_softplus(ctx, big), (float[]){100, 0}, 2, 1e-6);
    assert_values(mvae_sigmoid(ctx, big), (float[]){1, 0}, 2, 1e-6);
    assert_false(mvae_ctx_failed(ctx));
    mvae_ctx_free(ctx);
}

static void test_reduction_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *a = from_values(ctx, 2, SHAPE(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    mvae_tensor *s0 = mvae_sum(ctx, a, 0, false);
    assert_shape(s0, 1, SHAPE(3));
    assert_values(s0, (float[]){5, 7, 9}, 3, 0);
    mvae_tensor *s1 = mvae_sum(ctx, a, -1, true);
    assert_shape(s1, 2, SHAPE(2, 1));
    assert_values(s1, (float[]){6, 15}, 2, 0);
    mvae_tensor *m1 = mvae_mean(ctx, a, 1, false);
    assert_shape(m1, 1, SHAPE(2));
    assert_values(m1, (float[]){2, 5}, 2, 1e-6);
    assert_values(mvae_mean(ctx, a, 0, true), (float[]){2.5f, 3.5f, 4.5f}, 3, 1e-6);
    assert_values(mvae_sum_all(ctx, a), (float[]){21}, 1, 0);
    mvae_tensor *ma = mvae_mean_all(ctx, a);
    assert_shape(ma, 1, SHAPE(1));
    assert_values(ma, (float[]){3.5f}, 1, 1e-6);
    /* a 1-D reduction without keepdim gives [1] */
    assert_shape(mvae_sum(ctx, s0, 0, false), 1, SHAPE(1));
    mvae_tensor *l = mvae_logsumexp(ctx, a, 1, false);
    assert_values(l, (float[]){(float)log(exp(1) + exp(2) + exp(3)), (float)log(exp(4) + exp(5) + exp(6))},
                  2, 1e-5);
    mvae_tensor *l0 = mvae_logsumexp(ctx, a, 0, true);
    assert_shape(l0, 2, SHAPE(1, 3));
    assert_values(l0, (float[]){(float)log(exp(1) + exp(4)), (float)log(exp(2) + exp(5)),
                                (float)log(exp(3) + exp(6))},
                  3, 1e-5);
    assert_false(mvae_ctx_failed(ctx));
    mvae_ctx_free(ctx);
}

static void test_softmax_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *a = from_values(ctx, 2, SHAPE(2, 3), (float[]){1, 2, 3, 1, 1, 1});
    double z = exp(1) + exp(2) + exp(3);
    float e1[] = {(float)(exp(1) / z), (float)(exp(2) / z), (float)(exp(3) / z), 1 / 3.f, 1 / 3.f, 1 / 3.f};
    assert_values(mvae_softmax(ctx, a, 1), e1, 6, 1e-6);
    float l1[6];
    for (int i = 0; i < 6; i++) l1[i] = logf(e1[i]);
    assert_values(mvae_log_softmax(ctx, a, -1), l1, 6, 1e-6);
    /* axis 0: columns */
    float e0[6];
    for (int j = 0; j < 3; j++) {
        double zz = exp(a->data[j]) + exp(a->data[3 + j]);
        e0[j] = (float)(exp(a->data[j]) / zz);
        e0[3 + j] = (float)(exp(a->data[3 + j]) / zz);
    }
    assert_values(mvae_softmax(ctx, a, 0), e0, 6, 1e-6);
    assert_false(mvae_ctx_failed(ctx));
    mvae_ctx_free(ctx);
}

static void test_softmax_logsumexp_stability(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *big = from_values(ctx, 2, SHAPE(2, 3), (float[]){1000, 1001, 1002, -1000, -1001, -1002});
    mvae_tensor *sm = mvae_softmax(ctx, big, 1);
    double z = 1 + exp(1) + exp(2);
    assert_values(sm, (float[]){(float)(1 / z), (float)(exp(1) / z), (float)(exp(2) / z),
                                (float)(exp(2) / z), (float)(exp(1) / z), (float)(1 / z)},
                  6, 1e-6);
    mvae_tensor *ls = mvae_log_softmax(ctx, big, 1);
    for (int i = 0; i < 6; i++) assert_true(isfinite(ls->data[i]));
    assert_float_equal(ls->data[2], 2 - log(z), 1e-4);
    mvae_tensor *lse = mvae_logsumexp(ctx, big, 1, false);
    assert_values(lse, (float[]){(float)(1000 + log(z)), (float)(-1002 + log(z))}, 2, 1e-3);
    mvae_tensor *two = from_values(ctx, 1, SHAPE(2), (float[]){1000, 1000});
    assert_values(mvae_logsumexp(ctx, two, 0, false), (float[]){1000 + logf(2)}, 1, 1e-3);
    /* along a non-last axis too */
    mvae_tensor *col = from_values(ctx, 2, SHAPE(2, 1), (float[]){1000, 999});
    mvae_tensor *sc = mvae_softmax(ctx, col, 0);
    assert_float_equal(sc->data[0], 1 / (1 + exp(-1)), 1e-6);
    assert_false(mvae_ctx_failed(ctx));
    mvae_ctx_free(ctx);
}

static void test_shape_op_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *a = from_values(ctx, 2, SHAPE(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    mvae_tensor *r = mvae_reshape(ctx, a, 3, SHAPE(3, -1, 1));
    assert_shape(r, 3, SHAPE(3, 2, 1));
    assert_values(r, (float[]){1, 2, 3, 4, 5, 6}, 6, 0);
    mvae_tensor *t = mvae_transpose(ctx, a, 0, 1);
    assert_shape(t, 2, SHAPE(3, 2));
    assert_int_equal(t->op, MVAE_OP_PERMUTE);
    assert_values(t, (float[]){1, 4, 2, 5, 3, 6}, 6, 0);
    mvae_tensor *b = from_values(ctx, 3, SHAPE(1, 2, 3), (float[]){1, 2, 3, 4, 5, 6});
    mvae_tensor *p = mvae_permute(ctx, b, (int[]){2, 0, 1});
    assert_shape(p, 3, SHAPE(3, 1, 2));
    assert_values(p, (float[]){1, 4, 2, 5, 3, 6}, 6, 0);
    mvae_tensor *c = from_values(ctx, 2, SHAPE(2, 1), (float[]){7, 8});
    mvae_tensor *cat = mvae_concat(ctx, 2, (mvae_tensor *[]){a, c}, -1);
    assert_shape(cat, 2, SHAPE(2, 4));
    assert_values(cat, (float[]){1, 2, 3, 7, 4, 5, 6, 8}, 8, 0);
    mvae_tensor *cat0 = mvae_concat(ctx, 3, (mvae_tensor *[]){a, a, a}, 0);
    assert_shape(cat0, 2, SHAPE(6, 3));
    assert_float_equal(cat0->data[17], 6, 0);
    mvae_tensor *s = mvae_slice(ctx, a, 1, 1, 3);
    assert_shape(s, 2, SHAPE(2, 2));
    assert_values(s, (float[]){2, 3, 5, 6}, 4, 0);
    assert_values(mvae_slice(ctx, a, 1, -1, 3), (float[]){3, 6}, 2, 0);
    assert_values(mvae_slice(ctx, a, 0, 1, 2), (float[]){4, 5, 6}, 3, 0);
    mvae_tensor *idx = mvae_tensor_new_i32(ctx, 2, SHAPE(2, 2));
    int32_t iv[] = {1, 0, 1, 1};
    memcpy(mvae_i32(idx), iv, sizeof iv);
    mvae_tensor *g = mvae_gather(ctx, a, idx);
    assert_shape(g, 3, SHAPE(2, 2, 3));
    assert_values(g, (float[]){4, 5, 6, 1, 2, 3, 4, 5, 6, 4, 5, 6}, 12, 0);
    assert_false(mvae_ctx_failed(ctx));
    mvae_ctx_free(ctx);
}

/* The same tensor on both sides of a binary op and reused twice: gradients accumulate. */
static void test_gradient_accumulates(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *x = from_values(ctx, 1, SHAPE(3), (float[]){1, 2, 3});
    mvae_tensor_requires_grad(x);
    /* L = sum(x*x) + sum(3x) -> dL/dx = 2x + 3 */
    mvae_tensor *L = mvae_add(ctx, mvae_sum_all(ctx, mvae_mul(ctx, x, x)),
                              mvae_sum_all(ctx, mvae_scale(ctx, x, 3)));
    assert_int_equal(mvae_backward(ctx, L), MVAE_OK);
    float expect[] = {5, 7, 9};
    for (int i = 0; i < 3; i++) assert_float_equal(x->grad[i], expect[i], 1e-6);
    /* gather with repeated indices scatter-adds */
    mvae_ctx_reset(ctx);
    mvae_tensor *tab = from_values(ctx, 2, SHAPE(3, 2), (float[]){1, 2, 3, 4, 5, 6});
    mvae_tensor_requires_grad(tab);
    mvae_tensor *idx = mvae_tensor_new_i32(ctx, 1, SHAPE(4));
    int32_t iv[] = {2, 0, 2, 2};
    memcpy(mvae_i32(idx), iv, sizeof iv);
    assert_int_equal(mvae_backward(ctx, mvae_sum_all(ctx, mvae_gather(ctx, tab, idx))), MVAE_OK);
    assert_values(&(mvae_tensor){.data = tab->grad, .n = 6}, (float[]){1, 1, 0, 0, 3, 3}, 6, 0);
    mvae_ctx_free(ctx);
}

static void test_no_grad_mode(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 5);
    mvae_tensor *x = mvae_test_rand(ctx, &r, 2, SHAPE(3, 4), -1, 1, 1);
    mvae_ctx_set_grad(ctx, false);
    mvae_tensor *y = mvae_softmax(ctx, mvae_add(ctx, mvae_exp(ctx, x), x), 1);
    assert_non_null(y);
    assert_false(mvae_needs_grad(y));
    assert_int_equal(mvae_ctx_tape_len(ctx), 0);
    mvae_ctx_set_grad(ctx, true);
    y = mvae_sum(ctx, mvae_tanh(ctx, x), 0, false);
    assert_int_equal(mvae_ctx_tape_len(ctx), 2);
    mvae_ctx_free(ctx);
}

/* ---------------------------------------------------------------------------------------------
 * error messages
 * ------------------------------------------------------------------------------------------- */
static void test_error_shape_mismatch(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *a = TENSOR(ctx, 2, 3), *b = TENSOR(ctx, 4, 3);
    assert_null(mvae_add(ctx, a, b));
    ASSERT_ERROR(ctx, "add", "[2,3]", "[4,3]", "broadcast");
    mvae_ctx_reset(ctx);
    assert_null(mvae_div(ctx, TENSOR(ctx, 2, 3, 4), TENSOR(ctx, 3, 3)));
    ASSERT_ERROR(ctx, "div", "[2,3,4]", "[3,3]");
    mvae_ctx_reset(ctx);
    a = TENSOR(ctx, 2, 3);
    b = TENSOR(ctx, 4, 3);
    assert_null(mvae_concat(ctx, 2, (mvae_tensor *[]){a, b}, 1));
    ASSERT_ERROR(ctx, "concat", "[2,3]", "[4,3]");
    mvae_ctx_reset(ctx);
    a = TENSOR(ctx, 2, 3);
    assert_null(mvae_reshape(ctx, a, 2, SHAPE(4, 2)));
    ASSERT_ERROR(ctx, "reshape", "[2,3]", "[4,2]");
    mvae_ctx_reset(ctx);
    a = TENSOR(ctx, 2, 3);
    assert_null(mvae_reshape(ctx, a, 2, SHAPE(4, -1)));
    ASSERT_ERROR(ctx, "reshape", "[2,3]");
    mvae_ctx_reset(ctx);
    a = TENSOR(ctx, 2, 3);
    assert_null(mvae_slice(ctx, a, 1, 2, 5));
    ASSERT_ERROR(ctx, "slice", "[2,3]", "2:5");
    mvae_ctx_reset(ctx);
    a = TENSOR(ctx, 2, 3);
    assert_null(mvae_permute(ctx, a, (int[]){0, 0}));
    ASSERT_ERROR(ctx, "permute", "[2,3]");
    /* NULL inputs: first error kept, later ops return NULL silently */
    mvae_ctx_reset(ctx);
    assert_null(mvae_exp(ctx, NULL));
    ASSERT_ERROR(ctx, "exp", "NULL");
    assert_null(mvae_mul(ctx, NULL, TENSOR(ctx, 2)));
    ASSERT_ERROR(ctx, "exp");
    mvae_ctx_free(ctx);
}

static void test_error_bad_axis(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *a = TENSOR(ctx, 2, 3);
    assert_null(mvae_sum(ctx, a, 3, false));
    ASSERT_ERROR(ctx, "sum", "[2,3]", "axis 3");
    mvae_ctx_reset(ctx);
    a = TENSOR(ctx, 2, 3);
    assert_null(mvae_softmax(ctx, a, -3));
    ASSERT_ERROR(ctx, "softmax", "[2,3]", "axis -3");
    mvae_ctx_reset(ctx);
    a = TENSOR(ctx, 2, 3);
    assert_null(mvae_logsumexp(ctx, a, 2, true));
    ASSERT_ERROR(ctx, "logsumexp", "[2,3]", "axis 2");
    mvae_ctx_reset(ctx);
    a = TENSOR(ctx, 2, 3);
    assert_null(mvae_transpose(ctx, a, 0, 2));
    ASSERT_ERROR(ctx, "transpose", "[2,3]");
    mvae_ctx_reset(ctx);
    a = TENSOR(ctx, 2, 3);
    assert_null(mvae_slice(ctx, a, 5, 0, 1));
    ASSERT_ERROR(ctx, "slice", "axis 5");
    mvae_ctx_free(ctx);
}

static void test_error_gather(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *tab = TENSOR(ctx, 5, 3);
    mvae_tensor *idx = mvae_tensor_new_i32(ctx, 1, SHAPE(3));
    int32_t iv[] = {0, 7, 1};
    memcpy(mvae_i32(idx), iv, sizeof iv);
    assert_null(mvae_gather(ctx, tab, idx));
    ASSERT_ERROR(ctx, "gather", "index 7", "V = 5", "[5,3]");
    mvae_ctx_reset(ctx);
    tab = TENSOR(ctx, 5, 3);
    idx = mvae_tensor_new_i32(ctx, 1, SHAPE(1));
    mvae_i32(idx)[0] = -1;
    assert_null(mvae_gather(ctx, tab, idx));
    ASSERT_ERROR(ctx, "gather", "index -1");
    /* float indices */
    mvae_ctx_reset(ctx);
    tab = TENSOR(ctx, 5, 3);
    assert_null(mvae_gather(ctx, tab, TENSOR(ctx, 2)));
    ASSERT_ERROR(ctx, "gather", "int32");
    mvae_ctx_free(ctx);
}

static void test_error_int32_input(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *i = mvae_tensor_new_i32(ctx, 2, SHAPE(2, 3));
    memset(i->data, 0, 6 * sizeof(int32_t));
    mvae_tensor *f = mvae_tensor_zeros(ctx, 2, SHAPE(2, 3));
    assert_null(mvae_exp(ctx, i));
    ASSERT_ERROR(ctx, "exp", "float32");
    mvae_ctx_reset(ctx);
    i = mvae_tensor_new_i32(ctx, 2, SHAPE(2, 3));
    f = mvae_tensor_zeros(ctx, 2, SHAPE(2, 3));
    assert_null(mvae_add(ctx, f, i));
    ASSERT_ERROR(ctx, "add", "float32");
    mvae_ctx_reset(ctx);
    i = mvae_tensor_new_i32(ctx, 2, SHAPE(2, 3));
    assert_null(mvae_sum(ctx, i, 0, false));
    ASSERT_ERROR(ctx, "sum", "float32");
    mvae_ctx_reset(ctx);
    i = mvae_tensor_new_i32(ctx, 2, SHAPE(2, 3));
    assert_null(mvae_gather(ctx, i, i));
    ASSERT_ERROR(ctx, "gather", "float32");
    mvae_ctx_free(ctx);
}

/* ---------------------------------------------------------------------------------------------
 * gradient checks
 * ------------------------------------------------------------------------------------------- */
typedef mvae_tensor *(*binary_fn)(mvae_ctx *, mvae_tensor *, mvae_tensor *);
static mvae_tensor *build_binary(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    return (*(binary_fn *)u)(ctx, in[0], in[1]);
}

/* Broadcast patterns, a then b; covers the same-shape, trailing-row (either side) and generic
 * paths. b_lo/b_hi bound b (positive for div). */
static void check_binary(const char *name, binary_fn fn, float b_lo, float b_hi) {
    static const struct {
        int na, nb;
        int64_t sa[4], sb[4];
    } cases[] = {
        {3, 3, {2, 3, 4}, {2, 3, 4}}, {3, 2, {2, 3, 4}, {3, 1}}, {3, 1, {2, 3, 4}, {4}},
        {3, 3, {2, 3, 4}, {2, 1, 4}}, {1, 3, {4}, {2, 3, 4}},    {2, 2, {3, 1}, {1, 4}},
        {2, 1, {2, 3}, {1}},          {4, 4, {2, 1, 3, 1}, {1, 2, 1, 2}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mvae_ctx *d = mvae_ctx_new(0);
        mvae_rng r;
        mvae_rng_seed(&r, 100 + c);
        mvae_tensor *in[2] = {mvae_test_rand(d, &r, cases[c].na, cases[c].sa, -1, 1, 1),
                              mvae_test_rand(d, &r, cases[c].nb, cases[c].sb, b_lo, b_hi, 1)};
        int bad = mvae_gradcheck(name, build_binary, 2, in, &fn, (mvae_gc_opts){0});
        if (bad) fprintf(stderr, "%s: broadcast case %zu failed\n", name, c);
        assert_int_equal(bad, 0);
        mvae_ctx_free(d);
    }
}

MVAE_GRADCHECK_OP(add)
static void gradcheck_add(void **state) {
    (void)state;
    check_binary("add", mvae_add, -1, 1);
}
MVAE_GRADCHECK_OP(sub)
static void gradcheck_sub(void **state) {
    (void)state;
    check_binary("sub", mvae_sub, -1, 1);
}
MVAE_GRADCHECK_OP(mul)
static void gradcheck_mul(void **state) {
    (void)state;
    check_binary("mul", mvae_mul, -1, 1);
}
MVAE_GRADCHECK_OP(div)
static void gradcheck_div(void **state) {
    (void)state;
    check_binary("div", mvae_div, 0.5f, 1.5f);
}

/* Unary ops (with an optional float parameter) on a [2,3,4] input. */
typedef struct {
    mvae_tensor *(*f)(mvae_ctx *, mvae_tensor *);
    mvae_tensor *(*fp)(mvae_ctx *, mvae_tensor *, float);
    float p;
} unary_call;
static mvae_tensor *build_unary(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    unary_call *c = u;
    return c->f ? c->f(ctx, in[0]) : c->fp(ctx, in[0], c->p);
}
/* mode 0: uniform [lo,hi); mode 1: |x| in [lo,hi) with random sign (away from a kink at 0) */
static void check_unary(const char *name, unary_call call, int mode, float lo, float hi) {
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 77);
    mvae_tensor *in[1] = {mode ? rand_away_from_zero(d, &r, 3, SHAPE(2, 3, 4), lo, hi)
                               : mvae_test_rand(d, &r, 3, SHAPE(2, 3, 4), lo, hi, 1)};
    assert_int_equal(mvae_gradcheck(name, build_unary, 1, in, &call, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

MVAE_GRADCHECK_OP(scale)
static void gradcheck_scale(void **state) {
    (void)state;
    check_unary("scale", (unary_call){.fp = mvae_scale, .p = -1.7f}, 0, -2, 2);
}
MVAE_GRADCHECK_OP(add_scalar)
static void gradcheck_add_scalar(void **state) {
    (void)state;
    check_unary("add_scalar", (unary_call){.fp = mvae_add_scalar, .p = 0.3f}, 0, -2, 2);
}
MVAE_GRADCHECK_OP(exp)
static void gradcheck_exp(void **state) {
    (void)state;
    check_unary("exp", (unary_call){.f = mvae_exp}, 0, -2, 2);
}
MVAE_GRADCHECK_OP(log)
static void gradcheck_log(void **state) {
    (void)state;
    check_unary("log", (unary_call){.f = mvae_log}, 0, 0.3f, 3);
}
MVAE_GRADCHECK_OP(sqrt)
static void gradcheck_sqrt(void **state) {
    (void)state;
    check_unary("sqrt", (unary_call){.f = mvae_sqrt}, 0, 0.3f, 3);
}
MVAE_GRADCHECK_OP(square)
static void gradcheck_square(void **state) {
    (void)state;
    check_unary("square", (unary_call){.f = mvae_square}, 0, -2, 2);
}
MVAE_GRADCHECK_OP(reciprocal)
static void gradcheck_reciprocal(void **state) {
    (void)state;
    check_unary("reciprocal", (unary_call){.f = mvae_reciprocal}, 0, 0.5f, 2);
}
MVAE_GRADCHECK_OP(relu)
static void gradcheck_relu(void **state) {
    (void)state;
    check_unary("relu", (unary_call){.f = mvae_relu}, 1, 0.05f, 2);
}
MVAE_GRADCHECK_OP(leaky_relu)
static void gradcheck_leaky_relu(void **state) {
    (void)state;
    check_unary("leaky_relu", (unary_call){.fp = mvae_leaky_relu, .p = 0.2f}, 1, 0.05f, 2);
}
MVAE_GRADCHECK_OP(elu)
static void gradcheck_elu(void **state) {
    (void)state;
    check_unary("elu", (unary_call){.fp = mvae_elu, .p = 1.3f}, 1, 0.05f, 2);
}
MVAE_GRADCHECK_OP(swish)
static void gradcheck_swish(void **state) {
    (void)state;
    check_unary("swish", (unary_call){.f = mvae_swish}, 0, -4, 4);
}
MVAE_GRADCHECK_OP(sigmoid)
static void gradcheck_sigmoid(void **state) {
    (void)state;
    check_unary("sigmoid", (unary_call){.f = mvae_sigmoid}, 0, -4, 4);
}
MVAE_GRADCHECK_OP(tanh)
static void gradcheck_tanh(void **state) {
    (void)state;
    check_unary("tanh", (unary_call){.f = mvae_tanh}, 0, -2, 2);
}
MVAE_GRADCHECK_OP(softplus)
static void gradcheck_softplus(void **state) {
    (void)state;
    check_unary("softplus", (unary_call){.f = mvae_softplus}, 0, -5, 5);
}

/* Ops with an axis on [2,3,4] (and a 4-D input), every axis, negative too. */
typedef struct {
    int which; /* 0 softmax, 1 log_softmax, 2 sum, 3 mean, 4 logsumexp */
    int axis;
    bool keepdim;
} axis_call;
static mvae_tensor *build_axis(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    axis_call *c = u;
    switch (c->which) {
    case 0: return mvae_softmax(ctx, in[0], c->axis);
    case 1: return mvae_log_softmax(ctx, in[0], c->axis);
    case 2: return mvae_sum(ctx, in[0], c->axis, c->keepdim);
    case 3: return mvae_mean(ctx, in[0], c->axis, c->keepdim);
    default: return mvae_logsumexp(ctx, in[0], c->axis, c->keepdim);
    }
}
static void check_axis(const char *name, int which) {
    const int axes[] = {0, 1, 2, -1};
    for (int k = 0; k < 2; k++)
        for (size_t a = 0; a < sizeof axes / sizeof axes[0]; a++) {
            mvae_ctx *d = mvae_ctx_new(0);
            mvae_rng r;
            mvae_rng_seed(&r, 31 + a);
            mvae_tensor *in[1] = {mvae_test_rand(d, &r, 3, SHAPE(2, 3, 4), -2, 2, 1)};
            axis_call c = {which, axes[a], k == 1};
            int bad = mvae_gradcheck(name, build_axis, 1, in, &c, (mvae_gc_opts){0});
            if (bad) fprintf(stderr, "%s: axis %d keepdim %d failed\n", name, axes[a], k);
            assert_int_equal(bad, 0);
            mvae_ctx_free(d);
        }
    /* a 4-D input, inner axis */
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 99);
    mvae_tensor *in[1] = {mvae_test_rand(d, &r, 4, SHAPE(2, 2, 3, 2), -2, 2, 1)};
    axis_call c = {which, 2, false};
    assert_int_equal(mvae_gradcheck(name, build_axis, 1, in, &c, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

MVAE_GRADCHECK_OP(softmax)
static void gradcheck_softmax(void **state) {
    (void)state;
    check_axis("softmax", 0);
}
MVAE_GRADCHECK_OP(log_softmax)
static void gradcheck_log_softmax(void **state) {
    (void)state;
    check_axis("log_softmax", 1);
}
MVAE_GRADCHECK_OP(sum)
static void gradcheck_sum(void **state) {
    (void)state;
    check_axis("sum", 2);
}
MVAE_GRADCHECK_OP(mean)
static void gradcheck_mean(void **state) {
    (void)state;
    check_axis("mean", 3);
}
MVAE_GRADCHECK_OP(logsumexp)
static void gradcheck_logsumexp(void **state) {
    (void)state;
    check_axis("logsumexp", 4);
}

static mvae_tensor *build_sum_all(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_sum_all(ctx, in[0]);
}
MVAE_GRADCHECK_OP(sum_all)
static void gradcheck_sum_all(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 8);
    mvae_tensor *in[1] = {mvae_test_rand(d, &r, 3, SHAPE(2, 3, 4), -1, 1, 1)};
    assert_int_equal(mvae_gradcheck("sum_all", build_sum_all, 1, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

static mvae_tensor *build_mean_all(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_mean_all(ctx, in[0]);
}
MVAE_GRADCHECK_OP(mean_all)
static void gradcheck_mean_all(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 9);
    mvae_tensor *in[1] = {mvae_test_rand(d, &r, 2, SHAPE(3, 4), -1, 1, 1)};
    assert_int_equal(mvae_gradcheck("mean_all", build_mean_all, 1, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

/* reshape then a non-trivial op so that each output element's gradient differs */
static mvae_tensor *build_reshape(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_reshape(ctx, in[0], 3, SHAPE(4, -1, 2));
}
MVAE_GRADCHECK_OP(reshape)
static void gradcheck_reshape(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 10);
    mvae_tensor *in[1] = {mvae_test_rand(d, &r, 3, SHAPE(2, 3, 4), -1, 1, 1)};
    assert_int_equal(mvae_gradcheck("reshape", build_reshape, 1, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

/* perm given as 4 ints; ndim from the input. transpose (perm[0] < 0) goes through permute. */
typedef struct {
    int perm[4];
    int t0, t1;
} perm_call;
static mvae_tensor *build_permute(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    perm_call *c = u;
    if (c->perm[0] < 0) return mvae_transpose(ctx, in[0], c->t0, c->t1);
    return mvae_permute(ctx, in[0], c->perm);
}
MVAE_GRADCHECK_OP(permute)
static void gradcheck_permute(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 12);
    mvae_tensor *x3 = mvae_test_rand(d, &r, 3, SHAPE(2, 3, 4), -1, 1, 1);
    mvae_tensor *x4 = mvae_test_rand(d, &r, 4, SHAPE(2, 3, 2, 2), -1, 1, 1);
    mvae_tensor *x2 = mvae_test_rand(d, &r, 2, SHAPE(3, 5), -1, 1, 1);
    const struct {
        mvae_tensor *x;
        perm_call c;
    } cases[] = {
        {x3, {{2, 0, 1, 0}, 0, 0}},  {x3, {{1, 2, 0, 0}, 0, 0}}, {x4, {{3, 1, 0, 2}, 0, 0}},
        {x2, {{1, 0, 0, 0}, 0, 0}},  {x3, {{-1, 0, 0, 0}, 0, 2}}, /* transpose(0,2) */
        {x4, {{-1, 0, 0, 0}, -1, 1}},                            /* transpose(-1,1) */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mvae_tensor *in[1] = {cases[k].x};
        perm_call c = cases[k].c;
        assert_int_equal(mvae_gradcheck("permute", build_permute, 1, in, &c, (mvae_gc_opts){0}), 0);
    }
    mvae_ctx_free(d);
}

typedef struct {
    int n, axis;
} concat_call;
static mvae_tensor *build_concat(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    concat_call *c = u;
    return mvae_concat(ctx, c->n, in, c->axis);
}
MVAE_GRADCHECK_OP(concat)
static void gradcheck_concat(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 13);
    /* axis 1: [2,1,3] [2,2,3] [2,3,3] */
    mvae_tensor *in[4] = {mvae_test_rand(d, &r, 3, SHAPE(2, 1, 3), -1, 1, 1),
                          mvae_test_rand(d, &r, 3, SHAPE(2, 2, 3), -1, 1, 0), /* no grad */
                          mvae_test_rand(d, &r, 3, SHAPE(2, 3, 3), -1, 1, 1), NULL};
    concat_call c = {3, 1};
    assert_int_equal(mvae_gradcheck("concat", build_concat, 3, in, &c, (mvae_gc_opts){0}), 0);
    /* axis 0 and axis -1 with 4 and 2 inputs */
    mvae_tensor *in0[4] = {mvae_test_rand(d, &r, 2, SHAPE(1, 3), -1, 1, 1),
                           mvae_test_rand(d, &r, 2, SHAPE(2, 3), -1, 1, 1),
                           mvae_test_rand(d, &r, 2, SHAPE(1, 3), -1, 1, 1),
                           mvae_test_rand(d, &r, 2, SHAPE(3, 3), -1, 1, 1)};
    c = (concat_call){4, 0};
    assert_int_equal(mvae_gradcheck("concat", build_concat, 4, in0, &c, (mvae_gc_opts){0}), 0);
    mvae_tensor *in1[2] = {mvae_test_rand(d, &r, 2, SHAPE(3, 2), -1, 1, 1),
                           mvae_test_rand(d, &r, 2, SHAPE(3, 4), -1, 1, 1)};
    c = (concat_call){2, -1};
    assert_int_equal(mvae_gradcheck("concat", build_concat, 2, in1, &c, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

typedef struct {
    int axis;
    int64_t start, end;
} slice_call;
static mvae_tensor *build_slice(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    slice_call *c = u;
    return mvae_slice(ctx, in[0], c->axis, c->start, c->end);
}
MVAE_GRADCHECK_OP(slice)
static void gradcheck_slice(void **state) {
    (void)state;
    const slice_call cases[] = {{0, 1, 2}, {1, 1, 3}, {2, 0, 3}, {-1, -2, 4}, {1, 0, 3}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mvae_ctx *d = mvae_ctx_new(0);
        mvae_rng r;
        mvae_rng_seed(&r, 14 + k);
        mvae_tensor *in[1] = {mvae_test_rand(d, &r, 3, SHAPE(2, 3, 4), -1, 1, 1)};
        slice_call c = cases[k];
        assert_int_equal(mvae_gradcheck("slice", build_slice, 1, in, &c, (mvae_gc_opts){0}), 0);
        mvae_ctx_free(d);
    }
}

static mvae_tensor *build_gather(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_gather(ctx, in[0], in[1]);
}
MVAE_GRADCHECK_OP(gather)
static void gradcheck_gather(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 15);
    mvae_tensor *table = mvae_test_rand(d, &r, 2, SHAPE(5, 3), -1, 1, 1);
    mvae_tensor *idx = mvae_tensor_new_i32(d, 2, SHAPE(2, 3));
    int32_t iv[] = {4, 0, 4, 2, 2, 4}; /* repeats: the backward must scatter-add; row 1, 3 unused */
    memcpy(mvae_i32(idx), iv, sizeof iv);
    mvae_tensor *in[2] = {table, idx};
    assert_int_equal(mvae_gradcheck("gather", build_gather, 2, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

/* Large unary ops are split between the GEMM threads: with 2 threads, swish and its gradient
 * (written fresh, then accumulated) equal the 1-thread results bit for bit. */
static void test_unary_threads_match(void **state) {
    (void)state;
    const int64_t n = 300001; /* not a multiple of the split */
    float *res[2][3];
    for (int t = 0; t < 2; t++) {
        mvae_gemm_set_threads(t + 1);
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_rng r;
        mvae_rng_seed(&r, 5);
        mvae_tensor *x = mvae_test_rand(ctx, &r, 1, (int64_t[]){n}, -4, 4, 1);
        mvae_tensor *y = mvae_swish(ctx, x);
        /* x feeds two ops: its gradient is written by the first backward and added to by the second */
        mvae_tensor *loss = mvae_add(ctx, mvae_sum(ctx, mvae_mul(ctx, y, y), 0, false), mvae_sum(ctx, mvae_sigmoid(ctx, x), 0, false));
        assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
        res[t][0] = malloc((size_t)n * sizeof(float));
        res[t][1] = malloc((size_t)n * sizeof(float));
        memcpy(res[t][0], y->data, (size_t)n * sizeof(float));
        memcpy(res[t][1], x->grad, (size_t)n * sizeof(float));
        res[t][2] = NULL;
        mvae_ctx_free(ctx);
    }
    mvae_gemm_set_threads(1);
    for (int k = 0; k < 2; k++) {
        assert_memory_equal(res[0][k], res[1][k], (size_t)n * sizeof(float));
        free(res[0][k]);
        free(res[1][k]);
    }
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_values),
        cmocka_unit_test(test_broadcast_matches_reference),
        cmocka_unit_test(test_unary_values),
        cmocka_unit_test(test_unary_threads_match),
        cmocka_unit_test(test_reduction_values),
        cmocka_unit_test(test_softmax_values),
        cmocka_unit_test(test_softmax_logsumexp_stability),
        cmocka_unit_test(test_shape_op_values),
        cmocka_unit_test(test_gradient_accumulates),
        cmocka_unit_test(test_no_grad_mode),
        cmocka_unit_test(test_error_shape_mismatch),
        cmocka_unit_test(test_error_bad_axis),
        cmocka_unit_test(test_error_gather),
        cmocka_unit_test(test_error_int32_input),
        cmocka_unit_test(gradcheck_add),
        cmocka_unit_test(gradcheck_sub),
        cmocka_unit_test(gradcheck_mul),
        cmocka_unit_test(gradcheck_div),
        cmocka_unit_test(gradcheck_scale),
        cmocka_unit_test(gradcheck_add_scalar),
        cmocka_unit_test(gradcheck_exp),
        cmocka_unit_test(gradcheck_log),
        cmocka_unit_test(gradcheck_sqrt),
        cmocka_unit_test(gradcheck_square),
        cmocka_unit_test(gradcheck_reciprocal),
        cmocka_unit_test(gradcheck_relu),
        cmocka_unit_test(gradcheck_leaky_relu),
        cmocka_unit_test(gradcheck_elu),
        cmocka_unit_test(gradcheck_swish),
        cmocka_unit_test(gradcheck_sigmoid),
        cmocka_unit_test(gradcheck_tanh),
        cmocka_unit_test(gradcheck_softplus),
        cmocka_unit_test(gradcheck_softmax),
        cmocka_unit_test(gradcheck_log_softmax),
        cmocka_unit_test(gradcheck_sum),
        cmocka_unit_test(gradcheck_mean),
        cmocka_unit_test(gradcheck_sum_all),
        cmocka_unit_test(gradcheck_mean_all),
        cmocka_unit_test(gradcheck_logsumexp),
        cmocka_unit_test(gradcheck_reshape),
        cmocka_unit_test(gradcheck_permute),
        cmocka_unit_test(gradcheck_concat),
        cmocka_unit_test(gradcheck_slice),
        cmocka_unit_test(gradcheck_gather),
    };
    return mvae_test_run("ops_basic", tests, argc, argv);
}
