/* test_tensor.c — context, arena, tape, op table, matmul/linear. */
#include "mvae_test.h"
#include "gemm_internal.h"
#include "mvae/nn.h"

static void test_op_table_complete(void **state) {
    (void)state;
    for (int op = 1; op < MVAE_OP_COUNT; op++) {
        assert_non_null(mvae_op_table[op].name);
        assert_non_null(mvae_op_table[op].backward);
    }
    assert_string_equal(mvae_op_name(MVAE_OP_LINEAR), "linear");
}

static void test_arena_no_malloc_in_steady_state(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(4096);
    uint64_t m0 = 0;
    for (int step = 0; step < 5; step++) {
        mvae_ctx_reset(ctx);
        if (step == 2) m0 = mvae_ctx_arena_mallocs(ctx);
        for (int i = 0; i < 100; i++) mvae_tensor_new(ctx, 2, (int64_t[]){10, 100});
    }
    /* after the merge on the second reset, steps allocate nothing */
    assert_int_equal(mvae_ctx_arena_mallocs(ctx), m0);
    assert_true(mvae_ctx_arena_capacity(ctx) >= 100 * 10 * 100 * sizeof(float));
    mvae_ctx_free(ctx);
}

/* the op scratch is one block: reused whatever the request below its size, grown once, aligned,
 * and outside the arena (an op's temporaries do not pile up over a step) */
static void test_scratch_reused(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(4096);
    float *a = mvae_ctx_scratch(ctx, 1000 * sizeof(float));
    assert_non_null(a);
    assert_int_equal((uintptr_t)a % 64, 0);
    for (int i = 0; i < 1000; i++) a[i] = (float)i; /* writable over the whole request */
    uint64_t m0 = mvae_ctx_arena_mallocs(ctx);
    size_t used = mvae_ctx_arena_used(ctx);
    for (int i = 0; i < 10; i++) assert_ptr_equal(mvae_ctx_scratch(ctx, (size_t)(10 + 90 * i) * sizeof(float)), a);
    assert_int_equal(mvae_ctx_arena_mallocs(ctx), m0);
    assert_int_equal(mvae_ctx_arena_used(ctx), used);
    float *b = mvae_ctx_scratch(ctx, 100000 * sizeof(float));
    assert_non_null(b);
    b[99999] = 1.0f;
    assert_int_equal(mvae_ctx_arena_mallocs(ctx), m0 + 1);
    assert_true(mvae_ctx_scratch_capacity(ctx) >= 100000 * sizeof(float));
    mvae_ctx_reset(ctx);
    assert_ptr_equal(mvae_ctx_scratch(ctx, 5), b); /* a reset keeps it */
    mvae_ctx_free(ctx);
}

/* An intermediate's gradient is recycled once its backward has run: a chain of 8 swishes of 1 MiB
 * tensors needs about 2 MiB of gradients, not 8. Gradients stay right; leaves and tensors marked
 * with mvae_retain_grad keep theirs. */
static void test_intermediate_grads_recycled(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(64 << 20);
    mvae_rng r;
    mvae_rng_seed(&r, 3);
    mvae_tensor *x = mvae_test_rand(ctx, &r, 2, (int64_t[]){256, 1024}, -1, 1, 1);
    mvae_tensor *h = x, *mid[8];
    for (int i = 0; i < 8; i++) h = mid[i] = mvae_swish(ctx, h);
    mvae_retain_grad(mid[3]);
    mvae_tensor *loss = mvae_sum(ctx, mvae_sum(ctx, h, 1, false), 0, false);
    size_t before = mvae_ctx_arena_used(ctx);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    size_t grads = mvae_ctx_arena_used(ctx) - before;
    assert_true(grads < (size_t)(3.5 * (1 << 20))); /* 1 MiB per tensor: x, the retained one, a frontier */
    assert_non_null(x->grad);
    assert_non_null(mid[3]->grad);
    for (int i = 0; i < 8; i++)
        if (i != 3) assert_null(mid[i]->grad);
    /* the retained gradient is d loss / d mid[3] = prod of swish' over mid[4..7]: check one entry by
     * the chain rule in double */
    for (int64_t k = 0; k < 5; k++) {
        int64_t e = k * 40000 + 7;
        double g = 1.0;
        for (int i = 7; i >= 4; i--) {
            double v = mid[i - 1]->data[e], sg = 1.0 / (1.0 + exp(-v));
            g *= sg * (1.0 + v * (1.0 - sg));
        }
        assert_float_equal(mid[3]->grad[e], g, 1e-4 * (1 + fabs(g)));
    }
    mvae_ctx_free(ctx);
}

/* The same step with mvae_ctx_set_recycle_values on and off: identical gradients, a smaller arena
 * peak with it on (backward's gradients take dead values' blocks, linear's dx takes x's block),
 * and the recycled values read NULL afterwards while the loss keeps its value. */
static void run_recycle_graph(bool recycle, float *grads, size_t *peak, mvae_tensor **h1_out, float *loss_out) {
    mvae_ctx *ctx = mvae_ctx_new(64 << 20);
    mvae_ctx_set_recycle_values(ctx, recycle);
    mvae_rng r;
    mvae_rng_seed(&r, 21);
    mvae_tensor *x = mvae_test_rand(ctx, &r, 2, (int64_t[]){256, 512}, -1, 1, 1);
    mvae_tensor *W1 = mvae_test_rand(ctx, &r, 2, (int64_t[]){512, 512}, -0.1f, 0.1f, 1);
    mvae_tensor *W2 = mvae_test_rand(ctx, &r, 2, (int64_t[]){512, 512}, -0.1f, 0.1f, 1);
    mvae_tensor *h1 = mvae_linear_act(ctx, x, W1, NULL, MVAE_ACT_NONE);   /* dx in place of x? no: leaf */
    mvae_tensor *h2 = mvae_linear_act(ctx, h1, W2, NULL, MVAE_ACT_SWISH); /* h1's only reader */
    mvae_tensor *h3 = mvae_mul(ctx, mvae_exp(ctx, mvae_scale(ctx, h2, 0.1f)), h2);
    mvae_tensor *v = mvae_reshape(ctx, h3, 2, (int64_t[]){512, 256}); /* its gradient is h3's block */
    mvae_tensor *loss = mvae_add(ctx, mvae_sum_all(ctx, mvae_square(ctx, v)), mvae_sum_all(ctx, h3));
    size_t fwd = mvae_ctx_arena_used(ctx);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    *peak = mvae_ctx_arena_peak(ctx) - fwd;
    memcpy(grads, x->grad, (size_t)x->n * sizeof(float));
    memcpy(grads + x->n, W1->grad, (size_t)W1->n * sizeof(float));
    memcpy(grads + x->n + W1->n, W2->grad, (size_t)W2->n * sizeof(float));
    assert_non_null(x->data); /* a leaf keeps its values */
    *h1_out = recycle ? h1 : NULL;
    if (recycle) {
        assert_null(h1->data); /* taken by its gradient, then recycled */
        assert_null(h2->data);
        assert_null(h3->data);
    }
    *loss_out = loss->data[0];
    if (recycle) { /* a second pass would read recycled values: refused with a message */
        assert_int_equal(mvae_backward(ctx, loss), MVAE_ERR_INVALID);
        assert_non_null(strstr(mvae_ctx_error(ctx), "reset the context"));
    }
    mvae_ctx_free(ctx);
}

static void test_recycle_values_same_gradients(void **state) {
    (void)state;
    size_t n = 256 * 512 + 2 * 512 * 512;
    float *g0 = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float)), l0, l1;
    size_t p0, p1;
    mvae_tensor *h1;
    run_recycle_graph(false, g0, &p0, &h1, &l0);
    run_recycle_graph(true, g1, &p1, &h1, &l1);
    assert_true(l0 == l1);
    for (size_t i = 0; i < n; i++)
        if (g0[i] != g1[i]) fail_msg("gradient %zu: %.9g recycled vs %.9g", i, (double)g1[i], (double)g0[i]);
    /* backward's new arena: the leaves' gradients (x 0.5 MiB, W1 and W2 1 MiB each) plus, with
     * recycling, one 0.5 MiB intermediate gradient (the first, h3's: nothing is dead yet) and a
     * few scalars; without it, intermediate gradients pile up beyond that (measured 3.5 MiB) */
    printf("backward's extra arena: %zu KiB plain, %zu KiB recycled\n", p0 >> 10, p1 >> 10);
    assert_true(p1 <= (3u << 20) + (64u << 10));
    assert_true(p1 + (512u << 10) <= p0);
    free(g0);
    free(g1);
}

/* A reshape view's writers write its source's gradient: the same gradients as with the view's
 * own block (retain_grad on the view turns the aliasing off), with the source read twice. */
static void test_reshape_gradient_alias(void **state) {
    (void)state;
    float res[2][64 * 24];
    for (int keep = 0; keep < 2; keep++) {
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_rng r;
        mvae_rng_seed(&r, 8);
        mvae_tensor *x = mvae_test_rand(ctx, &r, 2, (int64_t[]){64, 24}, -1, 1, 1);
        mvae_tensor *W = mvae_test_rand(ctx, &r, 2, (int64_t[]){5, 48}, -1, 1, 1);
        mvae_tensor *h = mvae_exp(ctx, x);
        mvae_tensor *v = mvae_reshape(ctx, h, 2, (int64_t[]){32, 48});
        if (keep) mvae_retain_grad(v);
        mvae_tensor *y = mvae_linear(ctx, v, W, NULL);
        mvae_tensor *loss = mvae_add(ctx, mvae_sum_all(ctx, mvae_square(ctx, y)), mvae_sum_all(ctx, mvae_square(ctx, h)));
        assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
        if (keep) assert_non_null(v->grad);
        else assert_null(v->grad);
        memcpy(res[keep], x->grad, sizeof res[keep]);
        mvae_ctx_free(ctx);
    }
    for (int i = 0; i < 64 * 24; i++) assert_true(res[0][i] == res[1][i]);
}

/* linear(x, x): x is both the input and the weight; its gradient has two parts that share one
 * block (checked by finite differences, with and without a fused activation), and recycling
 * must not take x's values in place (x has two readers). */
static mvae_tensor *build_linear_self(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    return mvae_linear_act(ctx, in[0], in[0], NULL, *(int *)u);
}
static void test_linear_self(void **state) {
    (void)state;
    for (int act = MVAE_ACT_NONE; act <= MVAE_ACT_SWISH; act += MVAE_ACT_SWISH) {
        mvae_ctx *d = mvae_ctx_new(0);
        mvae_rng r;
        mvae_rng_seed(&r, 17);
        mvae_tensor *in[1] = {mvae_test_rand(d, &r, 2, (int64_t[]){5, 5}, -1, 1, 1)};
        assert_int_equal(mvae_gradcheck("linear(x, x)", build_linear_self, 1, in, &act, (mvae_gc_opts){0}), 0);
        float g[2][25];
        for (int recycle = 0; recycle < 2; recycle++) {
            mvae_ctx *ctx = mvae_ctx_new(0);
            mvae_ctx_set_recycle_values(ctx, recycle);
            mvae_tensor *x = mvae_tensor_new(ctx, 2, (int64_t[]){5, 5});
            memcpy(x->data, in[0]->data, sizeof g[0]);
            mvae_tensor_requires_grad(x);
            mvae_tensor *h = mvae_scale(ctx, x, 1.5f); /* an op output: a candidate for in place */
            mvae_tensor *L = mvae_sum_all(ctx, mvae_square(ctx, mvae_linear_act(ctx, h, h, NULL, act)));
            assert_int_equal(mvae_backward(ctx, L), MVAE_OK);
            memcpy(g[recycle], x->grad, sizeof g[0]);
            mvae_ctx_free(ctx);
        }
        for (int i = 0; i < 25; i++) assert_true(g[0][i] == g[1][i]);
        mvae_ctx_free(d);
    }
}

/* backward seeded at a reshape view: the view keeps its gradient and its values, recycling or
 * not (its values are its source's block, which must not be recycled) */
static void test_backward_from_view(void **state) {
    (void)state;
    for (int recycle = 0; recycle < 2; recycle++) {
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_ctx_set_recycle_values(ctx, recycle);
        mvae_rng r;
        mvae_rng_seed(&r, 4);
        mvae_tensor *x = mvae_test_rand(ctx, &r, 2, (int64_t[]){32, 32}, -1, 1, 1);
        mvae_tensor *v = mvae_reshape(ctx, mvae_exp(ctx, mvae_scale(ctx, x, 2.0f)), 2, (int64_t[]){16, 64});
        float before[1024], seed[1024];
        memcpy(before, v->data, sizeof before);
        for (int i = 0; i < 1024; i++) seed[i] = (float)(i % 7) - 3.0f;
        assert_int_equal(mvae_backward_seeded(ctx, v, seed), MVAE_OK);
        assert_non_null(v->grad);
        assert_non_null(v->data);
        for (int i = 0; i < 1024; i++) {
            assert_true(v->data[i] == before[i]);
            assert_true(v->grad[i] == seed[i]);
            /* d/dx of exp(2x) seeded: 2 exp(2x) seed */
            assert_float_equal(x->grad[i], 2.0f * before[i] * seed[i], 1e-5f * (1.0f + fabsf(x->grad[i])));
        }
        mvae_ctx_free(ctx);
    }
}

/* A source an op attaches after recording (gaussian_sample's noise) counts as a reader: here the
 * noise needs a gradient and a linear layer reads it too, so that layer must not take its
 * values in place (gaussian_sample's backward reads them afterwards). */
static void test_attached_source_counted(void **state) {
    (void)state;
    float g[2][8 * 6];
    for (int recycle = 0; recycle < 2; recycle++) {
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_ctx_set_recycle_values(ctx, recycle);
        mvae_rng r;
        mvae_rng_seed(&r, 6);
        mvae_tensor *z = mvae_test_rand(ctx, &r, 2, (int64_t[]){8, 6}, -1, 1, 1);
        mvae_tensor *W = mvae_test_rand(ctx, &r, 2, (int64_t[]){6, 6}, -1, 1, 1);
        mvae_tensor *mu = mvae_test_rand(ctx, &r, 2, (int64_t[]){8, 6}, -1, 1, 1);
        mvae_tensor *lv = mvae_test_rand(ctx, &r, 2, (int64_t[]){8, 6}, -1, 1, 1);
        mvae_tensor *eps = mvae_linear(ctx, z, W, NULL);
        mvae_tensor *s = mvae_gaussian_sample(ctx, mu, lv, eps);
        mvae_tensor *L = mvae_add(ctx, mvae_sum_all(ctx, mvae_square(ctx, s)),
                                  mvae_sum_all(ctx, mvae_square(ctx, mvae_linear(ctx, eps, W, NULL))));
        assert_int_equal(mvae_backward(ctx, L), MVAE_OK);
        memcpy(g[recycle], lv->grad, sizeof g[0]);
        mvae_ctx_free(ctx);
    }
    for (int i = 0; i < 48; i++) assert_true(g[0][i] == g[1][i]);
}

static void test_matmul_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    float a[] = {1, 2, 3, 4, 5, 6};     /* [2,3] */
    float b[] = {1, 0, 0, 1, 1, 1};     /* [3,2] */
    mvae_tensor *A = mvae_tensor_wrap(ctx, 2, (int64_t[]){2, 3}, a);
    mvae_tensor *B = mvae_tensor_wrap(ctx, 2, (int64_t[]){3, 2}, b);
    mvae_tensor *C = mvae_matmul(ctx, A, B, false, false);
    assert_non_null(C);
    float expect[] = {4, 5, 10, 11};
    for (int i = 0; i < 4; i++) assert_float_equal(C->data[i], expect[i], 1e-6);
    /* A^T [3,2] x A [2,3] -> [3,3] */
    mvae_tensor *D = mvae_matmul(ctx, A, A, true, false);
    assert_non_null(D);
    assert_float_equal(D->data[0], 17, 1e-6); /* 1*1 + 4*4 */
    mvae_ctx_free(ctx);
}

static void test_shape_mismatch_message(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *x = mvae_tensor_zeros(ctx, 2, (int64_t[]){100, 784});
    mvae_tensor *W = mvae_tensor_zeros(ctx, 2, (int64_t[]){512, 700});
    assert_null(mvae_linear(ctx, x, W, NULL));
    assert_true(mvae_ctx_failed(ctx));
    assert_non_null(strstr(mvae_ctx_error(ctx), "linear"));
    assert_non_null(strstr(mvae_ctx_error(ctx), "[100,784]"));
    assert_non_null(strstr(mvae_ctx_error(ctx), "[512,700]"));
    /* a NULL input propagates without overwriting the first error */
    assert_null(mvae_matmul(ctx, NULL, W, false, false));
    assert_non_null(strstr(mvae_ctx_error(ctx), "linear"));
    mvae_ctx_reset(ctx);
    assert_false(mvae_ctx_failed(ctx));
    assert_null(mvae_matmul(ctx, NULL, W, false, false));
    assert_non_null(strstr(mvae_ctx_error(ctx), "NULL"));
    mvae_ctx_free(ctx);
}

static void test_no_grad_records_nothing(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    mvae_tensor *a = mvae_test_rand(ctx, &r, 2, (int64_t[]){3, 4}, -1, 1, 1);
    mvae_tensor *b = mvae_test_rand(ctx, &r, 2, (int64_t[]){4, 2}, -1, 1, 1);
    mvae_ctx_set_grad(ctx, false);
    mvae_tensor *c = mvae_matmul(ctx, a, b, false, false);
    assert_int_equal(mvae_ctx_tape_len(ctx), 0);
    assert_false(mvae_needs_grad(c));
    mvae_ctx_set_grad(ctx, true);
    c = mvae_matmul(ctx, a, b, false, false);
    assert_int_equal(mvae_ctx_tape_len(ctx), 1);
    mvae_ctx_free(ctx);
}

/* ---- gradchecks ---- */
typedef struct { bool ta, tb; } mm_opts;
static mvae_tensor *build_matmul(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    mm_opts *o = u;
    return mvae_matmul(ctx, in[0], in[1], o->ta, o->tb);
}
MVAE_GRADCHECK_OP(matmul)
static void gradcheck_matmul(void **state) {
    (void)state;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            mvae_ctx *d = mvae_ctx_new(0);
            mvae_rng r;
            mvae_rng_seed(&r, 7 + ta * 2 + tb);
            int64_t M = 3, K = 5, N = 4;
            mvae_tensor *in[2];
            in[0] = mvae_test_rand(d, &r, 2, ta ? (int64_t[]){K, M} : (int64_t[]){M, K}, -1, 1, 1);
            in[1] = mvae_test_rand(d, &r, 2, tb ? (int64_t[]){N, K} : (int64_t[]){K, N}, -1, 1, 1);
            mm_opts o = {ta, tb};
            assert_int_equal(mvae_gradcheck("matmul", build_matmul, 2, in, &o, (mvae_gc_opts){0}), 0);
            mvae_ctx_free(d);
        }
}

static mvae_tensor *build_linear(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_linear(ctx, in[0], in[1], in[2]);
}
MVAE_GRADCHECK_OP(linear)
static void gradcheck_linear(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 3);
    mvae_tensor *in[3] = {mvae_test_rand(d, &r, 2, (int64_t[]){4, 6}, -1, 1, 1),
                          mvae_test_rand(d, &r, 2, (int64_t[]){5, 6}, -1, 1, 1),
                          mvae_test_rand(d, &r, 1, (int64_t[]){5}, -1, 1, 1)};
    assert_int_equal(mvae_gradcheck("linear", build_linear, 3, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

/* ---- linear with a fused input activation ---- */
typedef struct { int act; } act_opts;
static mvae_tensor *build_linear_act(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    return mvae_linear_act(ctx, in[0], in[1], in[2], ((act_opts *)u)->act);
}
MVAE_GRADCHECK_OP(linear_act)
static void gradcheck_linear_act(void **state) {
    (void)state;
    for (int act = MVAE_ACT_RELU; act <= MVAE_ACT_SOFTPLUS; act++) {
        mvae_ctx *d = mvae_ctx_new(0);
        mvae_rng r;
        mvae_rng_seed(&r, 40 + act);
        mvae_tensor *in[3] = {mvae_test_rand(d, &r, 2, (int64_t[]){4, 6}, -2, 2, 1),
                              mvae_test_rand(d, &r, 2, (int64_t[]){5, 6}, -1, 1, 1),
                              mvae_test_rand(d, &r, 1, (int64_t[]){5}, -1, 1, 1)};
        /* away from relu's and leaky_relu's kink at 0, where finite differences straddle it */
        for (int64_t i = 0; i < in[0]->n; i++) in[0]->data[i] += in[0]->data[i] < 0 ? -0.1f : 0.1f;
        act_opts o = {act};
        assert_int_equal(mvae_gradcheck("linear_act", build_linear_act, 3, in, &o, (mvae_gc_opts){0}), 0);
        mvae_ctx_free(d);
    }
}

/* the fused op gives exactly the values of activate-then-linear, and its gradients up to the
 * order of a product's factors (1e-6 relative) (x's gradient
 * accumulated onto an existing one too), with 1 and 2 threads */
static void test_linear_act_matches_unfused(void **state) {
    (void)state;
    const int acts[] = {MVAE_ACT_SWISH, MVAE_ACT_ELU, MVAE_ACT_TANH, MVAE_ACT_LEAKY_RELU};
    for (int threads = 1; threads <= 2; threads++) {
        mvae_gemm_set_threads(threads);
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
            float *res[2][5];
            for (int fused = 0; fused < 2; fused++) {
                mvae_ctx *ctx = mvae_ctx_new(0);
                mvae_rng r;
                mvae_rng_seed(&r, 5);
                /* 300 x 200: large enough for the threaded activation kernels */
                mvae_tensor *x = mvae_test_rand(ctx, &r, 2, (int64_t[]){300, 200}, -3, 3, 1);
                mvae_tensor *W = mvae_test_rand(ctx, &r, 2, (int64_t[]){23, 200}, -1, 1, 1);
                mvae_tensor *b = mvae_test_rand(ctx, &r, 1, (int64_t[]){23}, -1, 1, 1);
                mvae_tensor *x2 = mvae_scale(ctx, x, 0.5f); /* a second path into x: accumulation */
                mvae_tensor *y = fused ? mvae_linear_act(ctx, x2, W, b, acts[a])
                                       : mvae_linear(ctx, mvae_activate(ctx, x2, acts[a]), W, b);
                /* x2 is also read after the linear layer: its gradient exists when the layer's
                 * backward runs, which then accumulates onto it */
                mvae_tensor *L = mvae_add(ctx, mvae_add(ctx, mvae_sum_all(ctx, mvae_square(ctx, y)), mvae_sum_all(ctx, x)),
                                          mvae_sum_all(ctx, mvae_square(ctx, x2)));
                assert_int_equal(mvae_backward(ctx, L), 0);
                float *src[5] = {y->data, L->data, x->grad, W->grad, b->grad};
                int64_t n[5] = {y->n, 1, x->n, W->n, b->n};
                for (int k = 0; k < 5; k++) {
                    res[fused][k] = malloc((size_t)n[k] * sizeof(float));
                    memcpy(res[fused][k], src[k], (size_t)n[k] * sizeof(float));
                }
                if (fused) {
                    for (int k = 0; k < 5; k++) {
                        for (int64_t i = 0; i < n[k]; i++)
                            if (k < 2 ? res[0][k][i] != res[1][k][i] : fabsf(res[0][k][i] - res[1][k][i]) > 1e-6f * (1.0f + fabsf(res[0][k][i])))
                                fail_msg("act %d, %d threads, output %d [%lld]: fused %.9g vs unfused %.9g", acts[a],
                                         threads, k, (long long)i, (double)res[1][k][i], (double)res[0][k][i]);
                        free(res[0][k]);
                        free(res[1][k]);
                    }
                }
                mvae_ctx_free(ctx);
            }
        }
    }
    mvae_gemm_set_threads(1);
}

static void test_linear_act_rejects_unknown_activation(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    mvae_tensor *x = mvae_test_rand(ctx, &r, 2, (int64_t[]){2, 3}, -1, 1, 0);
    mvae_tensor *W = mvae_test_rand(ctx, &r, 2, (int64_t[]){4, 3}, -1, 1, 0);
    assert_null(mvae_linear_act(ctx, x, W, NULL, 99));
    assert_non_null(strstr(mvae_ctx_error(ctx), "unknown input activation 99"));
    mvae_ctx_free(ctx);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_table_complete),
        cmocka_unit_test(test_arena_no_malloc_in_steady_state),
        cmocka_unit_test(test_scratch_reused),
        cmocka_unit_test(test_intermediate_grads_recycled),
        cmocka_unit_test(test_recycle_values_same_gradients),
        cmocka_unit_test(test_reshape_gradient_alias),
        cmocka_unit_test(test_linear_self),
        cmocka_unit_test(test_backward_from_view),
        cmocka_unit_test(test_attached_source_counted),
        cmocka_unit_test(test_matmul_values),
        cmocka_unit_test(test_shape_mismatch_message),
        cmocka_unit_test(test_no_grad_records_nothing),
        cmocka_unit_test(gradcheck_matmul),
        cmocka_unit_test(gradcheck_linear),
        cmocka_unit_test(gradcheck_linear_act),
        cmocka_unit_test(test_linear_act_matches_unfused),
        cmocka_unit_test(test_linear_act_rejects_unknown_activation),
    };
    return mvae_test_run("tensor", tests, argc, argv);
}
