/* test_optim.c — Adam/AdamW and SGD against hand-computed updates, clipping, buffers, padding. */
#include "mvae_test.h"

#include "mvae/ops.h"
#include "mvae/optim.h"
#include "gemm_internal.h"

/* Expected values computed in double with PyTorch's update rules, for
 * p0 = (1, -2, 0.5) and gradients g1, g2, g3 below, lr 0.1. */
static const float P0[3] = {1, -2, 0.5f};
static const float G[3][3] = {{0.5f, -1, 2}, {0.1f, 0.3f, -0.4f}, {-0.2f, 0, 1}};

typedef struct store {
    mvae_params *ps;
    mvae_tensor *w, *buf, *b;
} store;

/* w [3] (param), buf [2] (buffer, 7), b [1] (param); every padding element set to a sentinel. */
static store store_new(void) {
    store s;
    mvae_error err = {0};
    s.ps = mvae_params_new();
    s.w = mvae_params_add(s.ps, "w", 1, (int64_t[]){3}, MVAE_INIT_ZEROS, 1, &err);
    s.buf = mvae_params_add_buffer(s.ps, "buf", 1, (int64_t[]){2}, 7.0f, &err);
    s.b = mvae_params_add(s.ps, "b", 1, (int64_t[]){1}, MVAE_INIT_ZEROS, 1, &err);
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    assert_int_equal(mvae_params_finalize(s.ps, &r, &err), MVAE_OK);
    for (size_t i = 0; i < s.ps->n_floats; i++) s.ps->data[i] = 123.0f;
    memcpy(s.w->data, P0, sizeof P0);
    s.buf->data[0] = s.buf->data[1] = 7.0f;
    s.b->data[0] = 3.0f;
    return s;
}

/* grads: w gets g, b gets 1, the buffer's part of the block a (bogus) nonzero value that the
 * optimizer must ignore; padding grads stay 0 */
static void set_grads(store *s, const float *g) {
    mvae_params_zero_grad(s->ps);
    memcpy(s->w->grad, g, 3 * sizeof(float));
    s->b->grad[0] = 1.0f;
    float *bg = s->ps->grad + s->ps->entries[1].offset;
    bg[0] = bg[1] = 50.0f;
}

static void check_untouched(const store *s) {
    assert_float_equal(s->buf->data[0], 7.0f, 0);
    assert_float_equal(s->buf->data[1], 7.0f, 0);
    for (int e = 0; e < s->ps->count; e++) {
        const mvae_param_entry *pe = &s->ps->entries[e];
        size_t end = e + 1 < s->ps->count ? s->ps->entries[e + 1].offset : s->ps->n_floats;
        for (size_t i = pe->offset + (size_t)pe->t->n; i < end; i++) assert_float_equal(s->ps->data[i], 123.0f, 0);
    }
}

static void check_w(const store *s, const double *expect) {
    for (int i = 0; i < 3; i++) assert_float_equal(s->w->data[i], expect[i], 2e-6);
}

static void test_adam_hand_computed(void **state) {
    (void)state;
    store s = store_new();
    mvae_optim opt = mvae_optim_adam(0.1f);
    mvae_error err = {0};
    assert_null(s.ps->m);
    const double expect[3][3] = {{0.900000002, -1.9, 0.400000001},
                                 {0.819695906, -1.85721514, 0.348897393},
                                 {0.785260532, -1.82414232, 0.285290931}};
    for (int t = 0; t < 3; t++) {
        set_grads(&s, G[t]);
        assert_int_equal(mvae_optim_step(&opt, s.ps, &err), MVAE_OK);
        assert_int_equal(opt.step, t + 1);
        check_w(&s, expect[t]);
        check_untouched(&s);
    }
    assert_non_null(s.ps->m);
    assert_non_null(s.ps->v);
    /* b had gradient 1 each step: bias-corrected Adam moves it by lr each time */
    assert_float_equal(s.b->data[0], 3.0 - 0.3, 1e-5);
    /* the buffer's moments were never written */
    const mvae_param_entry *be = &s.ps->entries[1];
    assert_float_equal(s.ps->m[be->offset], 0, 0);
    assert_float_equal(s.ps->v[be->offset], 0, 0);
    mvae_params_free(s.ps);
}

static void test_adam_weight_decay(void **state) {
    (void)state;
    mvae_error err = {0};
    /* coupled (torch.optim.Adam): g += wd p */
    store s = store_new();
    mvae_optim opt = mvae_optim_adam(0.1f);
    opt.weight_decay = 0.5f;
    const double coupled[2][3] = {{0.900000001, -1.9, 0.4}, {0.805420132, -1.81326758, 0.339849436}};
    for (int t = 0; t < 2; t++) {
        set_grads(&s, G[t]);
        assert_int_equal(mvae_optim_step(&opt, s.ps, &err), MVAE_OK);
        check_w(&s, coupled[t]);
        check_untouched(&s);
    }
    mvae_params_free(s.ps);
    /* decoupled (AdamW): p *= 1 - lr wd first */
    s = store_new();
    opt = mvae_optim_adam(0.1f);
    opt.weight_decay = 0.5f;
    opt.decoupled = true;
    const double adamw[2][3] = {{0.850000002, -1.8, 0.375}, {0.727195906, -1.66721514, 0.305147393}};
    for (int t = 0; t < 2; t++) {
        set_grads(&s, G[t]);
        assert_int_equal(mvae_optim_step(&opt, s.ps, &err), MVAE_OK);
        check_w(&s, adamw[t]);
        check_untouched(&s);
    }
    mvae_params_free(s.ps);
}

/* opt.zero_grad: the same update, and the trainable gradients are zero afterwards */
static void test_zero_grad_after_update(void **state) {
    (void)state;
    mvae_error err = {0};
    const double plain[2][3] = {{0.900000002, -1.9, 0.400000001}, {0.819695906, -1.85721514, 0.348897393}};
    const double coupled[2][3] = {{0.900000001, -1.9, 0.4}, {0.805420132, -1.81326758, 0.339849436}};
    const double sgd[2][3] = {{0.95, -1.9, 0.3}, {0.895, -1.84, 0.16}};
    for (int kind = 0; kind < 3; kind++) {
        store s = store_new();
        mvae_optim opt = kind == 2 ? mvae_optim_sgd(0.1f, 0.9f) : mvae_optim_adam(0.1f);
        if (kind == 1) opt.weight_decay = 0.5f;
        opt.zero_grad = true;
        const double(*expect)[3] = kind == 0 ? plain : kind == 1 ? coupled : sgd;
        for (int t = 0; t < 2; t++) {
            set_grads(&s, G[t]);
            assert_int_equal(mvae_optim_step(&opt, s.ps, &err), MVAE_OK);
            check_w(&s, expect[t]);
            check_untouched(&s);
            for (int i = 0; i < 3; i++) assert_float_equal(s.w->grad[i], 0.0f, 0);
            assert_float_equal(s.b->grad[0], 0.0f, 0);
        }
        mvae_params_free(s.ps);
    }
}

/* A parameter's zeroed gradient is overwritten by its first backward writer (no read-back of
 * the zeros) and accumulated into after that: loss = sum(x W^T), dL/dW[o,i] = sum_b x[b,i]. */
static void test_zeroed_param_grad_overwrite_then_accumulate(void **state) {
    (void)state;
    mvae_error err = {0};
    mvae_params *ps = mvae_params_new();
    mvae_tensor *W = mvae_params_add(ps, "W", 2, (int64_t[]){3, 2}, MVAE_INIT_ZEROS, 1, &err);
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    assert_int_equal(mvae_params_finalize(ps, &r, &err), MVAE_OK);
    float xv[8] = {1, 2, 3, 4, 5, 6, 7, 8}; /* column sums 16, 20 */
    mvae_ctx *ctx = mvae_ctx_new(0);
    for (int round = 0; round < 3; round++) {
        mvae_ctx_reset(ctx);
        if (round == 0) {
            for (int i = 0; i < 6; i++) W->grad[i] = 99.0f; /* stale */
            mvae_params_zero_grad(ps);
        }
        if (round == 2) mvae_grad(ctx, W)[0] += 1.0f; /* a hand-written gradient through mvae_grad */
        mvae_tensor *x = mvae_tensor_wrap(ctx, 2, (int64_t[]){4, 2}, xv);
        mvae_tensor *loss = mvae_sum(ctx, mvae_sum(ctx, mvae_linear(ctx, x, W, NULL), 1, false), 0, false);
        assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
        /* round 0: overwritten zeros; 1: accumulated onto round 0; 2: onto that plus the 1 */
        for (int o = 0; o < 3; o++)
            for (int i = 0; i < 2; i++)
                assert_float_equal(W->grad[o * 2 + i], (round + 1) * (i ? 20.0 : 16.0) + (round == 2 && o == 0 && i == 0), 1e-5);
    }
    mvae_ctx_free(ctx);
    mvae_params_free(ps);
}

/* A large entry's update is split between the GEMM threads: 2 threads give the 1-thread result
 * bit for bit (plain and decoupled Adam). */
static void test_adam_threads_match(void **state) {
    (void)state;
    const int64_t n = 300007;
    float *res[2];
    for (int decoupled = 0; decoupled < 2; decoupled++) {
        for (int t = 0; t < 2; t++) {
            mvae_gemm_set_threads(t + 1);
            mvae_error err = {0};
            mvae_params *ps = mvae_params_new();
            mvae_tensor *w = mvae_params_add(ps, "w", 1, (int64_t[]){n}, MVAE_INIT_ZEROS, 1, &err);
            mvae_rng r;
            mvae_rng_seed(&r, 2);
            assert_int_equal(mvae_params_finalize(ps, &r, &err), MVAE_OK);
            mvae_rng_uniform_fill(&r, w->data, (size_t)n, -1, 1);
            mvae_optim opt = mvae_optim_adam(0.01f);
            opt.zero_grad = true;
            if (decoupled) opt.weight_decay = 0.1f, opt.decoupled = true;
            for (int step = 0; step < 3; step++) {
                mvae_rng_uniform_fill(&r, w->grad, (size_t)n, -1, 1);
                assert_int_equal(mvae_optim_step(&opt, ps, &err), MVAE_OK);
                assert_float_equal(w->grad[n - 1], 0.0f, 0);
            }
            res[t] = malloc((size_t)n * sizeof(float));
            memcpy(res[t], w->data, (size_t)n * sizeof(float));
            mvae_params_free(ps);
        }
        assert_memory_equal(res[0], res[1], (size_t)n * sizeof(float));
        free(res[0]);
        free(res[1]);
    }
    mvae_gemm_set_threads(1);
}

static void test_sgd_hand_computed(void **state) {
    (void)state;
    mvae_error err = {0};
    store s = store_new();
    mvae_optim opt = mvae_optim_sgd(0.1f, 0.9f);
    const double mom[3][3] = {{0.95, -1.9, 0.3}, {0.895, -1.84, 0.16}, {0.8655, -1.786, -0.066}};
    for (int t = 0; t < 3; t++) {
        set_grads(&s, G[t]);
        assert_int_equal(mvae_optim_step(&opt, s.ps, &err), MVAE_OK);
        check_w(&s, mom[t]);
        check_untouched(&s);
    }
    /* b: buffers 1, 1.9, 2.71 -> 3 - 0.1 * 5.61 */
    assert_float_equal(s.b->data[0], 3.0 - 0.561, 1e-5);
    mvae_params_free(s.ps);

    s = store_new();
    opt = mvae_optim_sgd(0.1f, 0.9f);
    opt.weight_decay = 0.1f;
    const double wd[2][3] = {{0.94, -1.88, 0.295}, {0.8666, -1.7832, 0.14755}};
    for (int t = 0; t < 2; t++) {
        set_grads(&s, G[t]);
        assert_int_equal(mvae_optim_step(&opt, s.ps, &err), MVAE_OK);
        check_w(&s, wd[t]);
        check_untouched(&s);
    }
    mvae_params_free(s.ps);

    s = store_new();
    opt = mvae_optim_sgd(0.1f, 0.0f);
    const double plain[2][3] = {{0.95, -1.9, 0.3}, {0.94, -1.93, 0.34}};
    for (int t = 0; t < 2; t++) {
        set_grads(&s, G[t]);
        assert_int_equal(mvae_optim_step(&opt, s.ps, &err), MVAE_OK);
        check_w(&s, plain[t]);
    }
    mvae_params_free(s.ps);
}

static void test_grad_norm_and_clip(void **state) {
    (void)state;
    store s = store_new();
    mvae_params_zero_grad(s.ps);
    s.w->grad[0] = 3.0f;
    s.b->grad[0] = 4.0f;
    float *bg = s.ps->grad + s.ps->entries[1].offset;
    bg[0] = 100.0f; /* the buffer's part of the block is not a gradient */
    assert_float_equal(mvae_grad_norm(s.ps), 5.0, 1e-6);
    /* no clipping when under the limit or max_norm <= 0 */
    assert_float_equal(mvae_clip_grad_norm(s.ps, 10.0f), 5.0, 1e-6);
    assert_float_equal(mvae_clip_grad_norm(s.ps, 0.0f), 5.0, 1e-6);
    assert_float_equal(s.w->grad[0], 3.0, 0);
    /* clip to 1 */
    assert_float_equal(mvae_clip_grad_norm(s.ps, 1.0f), 5.0, 1e-6);
    assert_float_equal(s.w->grad[0], 0.6, 1e-6);
    assert_float_equal(s.b->grad[0], 0.8, 1e-6);
    assert_float_equal(mvae_grad_norm(s.ps), 1.0, 1e-5);
    assert_float_equal(bg[0], 100.0, 0);
    /* NaN propagates and nothing is scaled */
    s.w->grad[1] = NAN;
    assert_true(isnan(mvae_clip_grad_norm(s.ps, 1.0f)));
    assert_float_equal(s.b->grad[0], 0.8, 1e-6);
    mvae_params_free(s.ps);
}

static void test_errors(void **state) {
    (void)state;
    mvae_error err = {0};
    mvae_params *ps = mvae_params_new();
    mvae_params_add(ps, "w", 1, (int64_t[]){2}, MVAE_INIT_ZEROS, 1, &err);
    mvae_optim opt = mvae_optim_adam(1e-3f);
    assert_int_equal(mvae_optim_step(&opt, ps, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "finalize"));
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    assert_int_equal(mvae_params_finalize(ps, &r, &err), MVAE_OK);
    mvae_error_clear(&err);
    opt.lr = -1.0f;
    assert_int_equal(mvae_optim_step(&opt, ps, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "learning rate"));
    mvae_error_clear(&err);
    opt = mvae_optim_adam(1e-3f);
    opt.beta1 = 1.0f;
    assert_int_equal(mvae_optim_step(&opt, ps, &err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "betas"));
    assert_int_equal(opt.step, 0);
    mvae_params_free(ps);
}

/* f(p) = sum_i c_i (p_i - t_i)^2, gradients by hand */
static void minimise(mvae_optim opt, int steps, float tol) {
    mvae_error err = {0};
    mvae_params *ps = mvae_params_new();
    mvae_tensor *p = mvae_params_add(ps, "p", 2, (int64_t[]){2, 3}, MVAE_INIT_KAIMING_UNIFORM, 3, &err);
    mvae_rng r;
    mvae_rng_seed(&r, 9);
    assert_int_equal(mvae_params_finalize(ps, &r, &err), MVAE_OK);
    const float target[6] = {1, -2, 3, 0.5f, -0.25f, 4}, c[6] = {1, 2, 0.5f, 3, 1, 0.25f};
    for (int s = 0; s < steps; s++) {
        mvae_params_zero_grad(ps);
        for (int i = 0; i < 6; i++) p->grad[i] = 2 * c[i] * (p->data[i] - target[i]);
        assert_int_equal(mvae_optim_step(&opt, ps, &err), MVAE_OK);
    }
    for (int i = 0; i < 6; i++) assert_float_equal(p->data[i], target[i], tol);
    mvae_params_free(ps);
}

static void test_minimise_quadratic(void **state) {
    (void)state;
    minimise(mvae_optim_adam(0.05f), 3000, 1e-3f);
    mvae_optim adamw = mvae_optim_adam(0.05f);
    adamw.decoupled = true;
    minimise(adamw, 3000, 1e-3f);
    minimise(mvae_optim_sgd(0.02f, 0.9f), 2000, 1e-4f);
    minimise(mvae_optim_sgd(0.05f, 0.0f), 2000, 1e-4f);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_hand_computed),
        cmocka_unit_test(test_adam_weight_decay),
        cmocka_unit_test(test_zero_grad_after_update),
        cmocka_unit_test(test_adam_threads_match),
        cmocka_unit_test(test_zeroed_param_grad_overwrite_then_accumulate),
        cmocka_unit_test(test_sgd_hand_computed),
        cmocka_unit_test(test_grad_norm_and_clip),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_minimise_quadratic),
    };
    return mvae_test_run("optim", tests, argc, argv);
}
