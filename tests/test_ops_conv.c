/* test_ops_conv.c — conv2d, conv_transpose2d, batchnorm, dropout, gru_cell.
 *
 * The im2col/sgemm convolutions are compared, forward and backward, against the naive nested-loop
 * references below on random inputs (including the MVAE's layer shapes); every op has a
 * finite-difference gradient check.
 */
#include "mvae_test.h"
#include "gemm_internal.h"
#include "mvae/nn.h"

/* ---- naive references ------------------------------------------------------------------------ */

typedef struct conv_geom {
    int B, C, H, W; /* input */
    int O, kh, kw;  /* output channels, kernel */
    int s, p, op;   /* stride, pad, output_pad (transposed only) */
} conv_geom;

static int conv_out(int n, int k, int s, int p) { return (n + 2 * p - k) / s + 1; }
static int convt_out(int n, int k, int s, int p, int op) { return (n - 1) * s - 2 * p + k + op; }

/* y [B,O,Ho,Wo] = conv2d(x [B,C,H,W], w [O,C,kh,kw]) + b; gradients with G = dL/dy when non-NULL */
static void ref_conv2d(const conv_geom *g, const float *x, const float *w, const float *b, float *y,
                       const float *G, float *gx, float *gw, float *gb) {
    int Ho = conv_out(g->H, g->kh, g->s, g->p), Wo = conv_out(g->W, g->kw, g->s, g->p);
    for (int n = 0; n < g->B; n++)
        for (int o = 0; o < g->O; o++)
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++) {
                    size_t yi = (((size_t)n * g->O + o) * Ho + oy) * Wo + ox;
                    double acc = b ? b[o] : 0.0;
                    for (int c = 0; c < g->C; c++)
                        for (int i = 0; i < g->kh; i++)
                            for (int j = 0; j < g->kw; j++) {
                                int iy = oy * g->s - g->p + i, ix = ox * g->s - g->p + j;
                                if (iy < 0 || iy >= g->H || ix < 0 || ix >= g->W) continue;
                                size_t xi = (((size_t)n * g->C + c) * g->H + iy) * g->W + ix;
                                size_t wi = (((size_t)o * g->C + c) * g->kh + i) * g->kw + j;
                                acc += (double)x[xi] * w[wi];
                                if (G) {
                                    gx[xi] += G[yi] * w[wi];
                                    gw[wi] += G[yi] * x[xi];
                                }
                            }
                    if (y) y[yi] = (float)acc;
                    if (G && gb) gb[o] += G[yi];
                }
}

/* y [B,O,Ho,Wo] = conv_transpose2d(x [B,C,H,W], w [C,O,kh,kw]) + b: every input pixel scatters
 * its kernel-weighted copy onto the output at (iy*s - p + i, ix*s - p + j). */
static void ref_convt2d(const conv_geom *g, const float *x, const float *w, const float *b, float *y,
                        const float *G, float *gx, float *gw, float *gb) {
    int Ho = convt_out(g->H, g->kh, g->s, g->p, g->op), Wo = convt_out(g->W, g->kw, g->s, g->p, g->op);
    if (y)
        for (int n = 0; n < g->B; n++)
            for (int o = 0; o < g->O; o++)
                for (int k = 0; k < Ho * Wo; k++) y[((size_t)n * g->O + o) * Ho * Wo + k] = b ? b[o] : 0.0f;
    for (int n = 0; n < g->B; n++)
        for (int c = 0; c < g->C; c++)
            for (int iy = 0; iy < g->H; iy++)
                for (int ix = 0; ix < g->W; ix++) {
                    size_t xi = (((size_t)n * g->C + c) * g->H + iy) * g->W + ix;
                    for (int o = 0; o < g->O; o++)
                        for (int i = 0; i < g->kh; i++)
                            for (int j = 0; j < g->kw; j++) {
                                int oy = iy * g->s - g->p + i, ox = ix * g->s - g->p + j;
                                if (oy < 0 || oy >= Ho || ox < 0 || ox >= Wo) continue;
                                size_t yi = (((size_t)n * g->O + o) * Ho + oy) * Wo + ox;
                                size_t wi = (((size_t)c * g->O + o) * g->kh + i) * g->kw + j;
                                if (y) y[yi] += x[xi] * w[wi];
                                if (G) {
                                    gx[xi] += G[yi] * w[wi];
                                    gw[wi] += G[yi] * x[xi];
                                }
                            }
                }
    if (G && gb)
        for (int n = 0; n < g->B; n++)
            for (int o = 0; o < g->O; o++)
                for (int k = 0; k < Ho * Wo; k++) gb[o] += G[((size_t)n * g->O + o) * Ho * Wo + k];
}

static void expect_close(const char *what, const float *fast, const float *ref, int64_t n, double rtol) {
    double scale;
    double md = mvae_test_maxdiff(fast, ref, n, &scale);
    if (md > rtol * (1.0 + scale))
        fprintf(stderr, "%s: max diff %g (scale %g)\n", what, md, scale);
    assert_true(md <= rtol * (1.0 + scale));
}

/* Run the fast op (transposed or not) on random data, seed backward with random G, compare output
 * and all three gradients against the reference. */
static void compare_conv(const conv_geom *g, bool transposed, bool bias, uint64_t seed) {
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, seed);
    int64_t xs[4] = {g->B, g->C, g->H, g->W};
    int64_t ws[4] = {transposed ? g->C : g->O, transposed ? g->O : g->C, g->kh, g->kw};
    mvae_tensor *x = mvae_test_rand(ctx, &r, 4, xs, -1, 1, 1);
    mvae_tensor *w = mvae_test_rand(ctx, &r, 4, ws, -0.5f, 0.5f, 1);
    mvae_tensor *b = bias ? mvae_test_rand(ctx, &r, 1, (int64_t[]){g->O}, -1, 1, 1) : NULL;
    mvae_tensor *y = transposed ? mvae_conv_transpose2d(ctx, x, w, b, g->s, g->p, g->op)
                                : mvae_conv2d(ctx, x, w, b, g->s, g->p);
    if (!y) fprintf(stderr, "%s\n", mvae_ctx_error(ctx));
    assert_non_null(y);
    int Ho = transposed ? convt_out(g->H, g->kh, g->s, g->p, g->op) : conv_out(g->H, g->kh, g->s, g->p);
    int Wo = transposed ? convt_out(g->W, g->kw, g->s, g->p, g->op) : conv_out(g->W, g->kw, g->s, g->p);
    assert_int_equal(y->ndim, 4);
    assert_int_equal(y->shape[0], g->B);
    assert_int_equal(y->shape[1], g->O);
    assert_int_equal(y->shape[2], Ho);
    assert_int_equal(y->shape[3], Wo);
    float *G = malloc((size_t)y->n * sizeof(float));
    mvae_rng_uniform_fill(&r, G, (size_t)y->n, -1, 1);
    assert_int_equal(mvae_backward_seeded(ctx, y, G), MVAE_OK);

    float *ry = malloc((size_t)y->n * sizeof(float));
    float *gx = calloc((size_t)x->n, sizeof(float)), *gw = calloc((size_t)w->n, sizeof(float));
    float *gb = calloc((size_t)g->O, sizeof(float));
    (transposed ? ref_convt2d : ref_conv2d)(g, x->data, w->data, b ? b->data : NULL, ry, G, gx, gw, gb);
    expect_close("forward", y->data, ry, y->n, 1e-5);
    expect_close("dx", x->grad, gx, x->n, 1e-5);
    expect_close("dw", w->grad, gw, w->n, 1e-5);
    if (b) expect_close("db", b->grad, gb, g->O, 1e-5);
    free(G);
    free(ry);
    free(gx);
    free(gw);
    free(gb);
    mvae_ctx_free(ctx);
}

/* ---- conv2d ---------------------------------------------------------------------------------- */

static void test_conv2d_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    float xv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, wv[4] = {1, 1, 1, 1}, bv[1] = {0.5f};
    mvae_tensor *x = mvae_tensor_wrap(ctx, 4, (int64_t[]){1, 1, 3, 3}, xv);
    mvae_tensor *w = mvae_tensor_wrap(ctx, 4, (int64_t[]){1, 1, 2, 2}, wv);
    mvae_tensor *b = mvae_tensor_wrap(ctx, 1, (int64_t[]){1}, bv);
    mvae_tensor *y = mvae_conv2d(ctx, x, w, b, 1, 0);
    assert_non_null(y);
    float e1[4] = {12.5f, 16.5f, 24.5f, 28.5f};
    for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], e1[i], 1e-5);
    /* pad 1, stride 2: 2x2 output, corners of the padded image */
    y = mvae_conv2d(ctx, x, w, NULL, 2, 1);
    assert_non_null(y);
    assert_int_equal(y->shape[2], 2);
    float e2[4] = {1, 2 + 3, 4 + 7, 5 + 6 + 8 + 9};
    for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], e2[i], 1e-5);
    mvae_ctx_free(ctx);
}

static void test_conv2d_fast_vs_naive(void **state) {
    (void)state;
    const conv_geom cases[] = {
        {2, 1, 28, 28, 64, 4, 4, 2, 1, 0},  /* MVAE encoder layer 1: 28 -> 14 */
        {2, 64, 14, 14, 128, 4, 4, 2, 1, 0}, /* MVAE encoder layer 2: 14 -> 7 */
        {2, 3, 7, 7, 4, 3, 3, 1, 1, 0},
        {2, 3, 8, 6, 5, 3, 3, 2, 0, 0},     /* H != W, uneven coverage */
        {1, 2, 5, 5, 3, 5, 5, 1, 2, 0},
        {3, 4, 6, 6, 2, 1, 1, 1, 0, 0},     /* 1x1 stride 1: the direct path */
        {2, 3, 9, 9, 4, 2, 2, 3, 1, 0},     /* stride 3 */
        {2, 2, 7, 6, 3, 2, 3, 1, 1, 0},     /* kh != kw */
        {2, 3, 6, 6, 4, 1, 1, 2, 0, 0},     /* 1x1 stride 2 */
        {5, 2, 20, 20, 3, 3, 3, 1, 1, 0},   /* 400 columns a sample: chunks of 2, 2 and 1 samples */
        {3, 1, 48, 48, 2, 3, 3, 1, 1, 0},   /* 2304 columns (> CONV_CHUNK_COLS): a chunk per sample */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        compare_conv(&cases[k], false, k % 2 == 0, 100 + k);
}

typedef struct conv_opts { int s, p, op; } conv_opts;
static mvae_tensor *build_conv2d(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    conv_opts *o = u;
    return mvae_conv2d(ctx, in[0], in[1], in[2], o->s, o->p);
}
MVAE_GRADCHECK_OP(conv2d)
static void gradcheck_conv2d(void **state) {
    (void)state;
    const struct { int C, H, W, O, kh, kw, s, p, bias; } cases[] = {
        {2, 5, 5, 3, 3, 3, 1, 0, 1}, {3, 6, 6, 2, 3, 3, 2, 1, 0}, {2, 6, 5, 2, 4, 4, 2, 1, 1},
        {2, 5, 5, 3, 1, 1, 1, 0, 1}, {2, 5, 6, 2, 2, 3, 1, 1, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mvae_ctx *d = mvae_ctx_new(0);
        mvae_rng r;
        mvae_rng_seed(&r, 11 + k);
        mvae_tensor *in[3] = {
            mvae_test_rand(d, &r, 4, (int64_t[]){2, cases[k].C, cases[k].H, cases[k].W}, -1, 1, 1),
            mvae_test_rand(d, &r, 4, (int64_t[]){cases[k].O, cases[k].C, cases[k].kh, cases[k].kw}, -1, 1, 1),
            cases[k].bias ? mvae_test_rand(d, &r, 1, (int64_t[]){cases[k].O}, -1, 1, 1) : NULL};
        conv_opts o = {cases[k].s, cases[k].p, 0};
        assert_int_equal(mvae_gradcheck("conv2d", build_conv2d, cases[k].bias ? 3 : 2, in, &o,
                                        (mvae_gc_opts){0}),
                         0);
        mvae_ctx_free(d);
    }
}

/* ---- conv_transpose2d ------------------------------------------------------------------------ */

static void test_conv_transpose2d_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    /* stride 2, 2x2 kernel of ones: each input pixel becomes a 2x2 block */
    float xv[4] = {1, 2, 3, 4}, wv[4] = {1, 1, 1, 1}, bv[1] = {-1};
    mvae_tensor *x = mvae_tensor_wrap(ctx, 4, (int64_t[]){1, 1, 2, 2}, xv);
    mvae_tensor *w = mvae_tensor_wrap(ctx, 4, (int64_t[]){1, 1, 2, 2}, wv);
    mvae_tensor *b = mvae_tensor_wrap(ctx, 1, (int64_t[]){1}, bv);
    mvae_tensor *y = mvae_conv_transpose2d(ctx, x, w, b, 2, 0, 0);
    assert_non_null(y);
    assert_int_equal(y->shape[2], 4);
    assert_int_equal(y->shape[3], 4);
    float e[16] = {0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3};
    for (int i = 0; i < 16; i++) assert_float_equal(y->data[i], e[i], 1e-6);
    /* output_pad adds a row and column that only the bias reaches */
    y = mvae_conv_transpose2d(ctx, x, w, b, 2, 0, 1);
    assert_non_null(y);
    assert_int_equal(y->shape[2], 5);
    assert_float_equal(y->data[4], -1, 1e-6);
    assert_float_equal(y->data[24], -1, 1e-6);
    mvae_ctx_free(ctx);
}

/* conv_transpose2d is the adjoint of conv2d: <conv2d(u, w), v> == <u, conv_transpose2d(v, w)> */
static void test_conv_transpose2d_is_adjoint(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 5);
    mvae_tensor *u = mvae_test_rand(ctx, &r, 4, (int64_t[]){2, 3, 9, 9}, -1, 1, 0);
    mvae_tensor *w = mvae_test_rand(ctx, &r, 4, (int64_t[]){4, 3, 3, 3}, -1, 1, 0);
    mvae_tensor *cu = mvae_conv2d(ctx, u, w, NULL, 2, 1); /* [2,4,5,5] */
    assert_non_null(cu);
    mvae_tensor *v = mvae_test_rand(ctx, &r, 4, cu->shape, -1, 1, 0);
    mvae_tensor *tv = mvae_conv_transpose2d(ctx, v, w, NULL, 2, 1, 0); /* [2,3,9,9] */
    assert_non_null(tv);
    assert_true(mvae_shape_eq(tv, u));
    double a = 0, b = 0;
    for (int64_t i = 0; i < cu->n; i++) a += (double)cu->data[i] * v->data[i];
    for (int64_t i = 0; i < u->n; i++) b += (double)u->data[i] * tv->data[i];
    assert_true(fabs(a - b) <= 1e-4 * (1 + fabs(a)));
    mvae_ctx_free(ctx);
}

static void test_conv_transpose2d_fast_vs_naive(void **state) {
    (void)state;
    const conv_geom cases[] = {
        {2, 128, 7, 7, 64, 4, 4, 2, 1, 0}, /* MVAE decoder layer 1: 7 -> 14 */
        {2, 64, 14, 14, 1, 4, 4, 2, 1, 0}, /* MVAE decoder layer 2: 14 -> 28 */
        {2, 3, 5, 5, 4, 3, 3, 1, 1, 0},
        {2, 3, 4, 5, 2, 3, 3, 2, 1, 1},    /* output_pad, H != W */
        {1, 2, 3, 3, 3, 1, 1, 1, 0, 0},
        {2, 2, 4, 4, 3, 5, 5, 3, 2, 2},
        {2, 3, 3, 4, 2, 2, 3, 2, 0, 1},    /* kh != kw */
        {5, 2, 20, 20, 3, 3, 3, 1, 1, 0},  /* 400 input columns a sample: chunks of 2, 2 and 1 */
        {3, 2, 24, 48, 1, 4, 4, 2, 1, 0},  /* 1152: a chunk per sample */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        compare_conv(&cases[k], true, k % 2 == 0, 200 + k);
}

/* With 2 and 3 GEMM threads the chunks' im2col / col2im and GEMMs are split between threads:
 * same results as the naive loops. */
static void test_conv_threads_vs_naive(void **state) {
    (void)state;
    const conv_geom cases[] = {
        {5, 2, 30, 30, 3, 3, 3, 1, 1, 0},
        {7, 4, 14, 14, 6, 4, 4, 2, 1, 0},
    };
    for (int threads = 2; threads <= 3; threads++) {
        mvae_gemm_set_threads(threads);
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            compare_conv(&cases[k], false, true, 300 + k);
            compare_conv(&cases[k], true, true, 400 + k);
        }
    }
    mvae_gemm_set_threads(1);
}

static mvae_tensor *build_convt2d(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    conv_opts *o = u;
    return mvae_conv_transpose2d(ctx, in[0], in[1], in[2], o->s, o->p, o->op);
}
MVAE_GRADCHECK_OP(conv_transpose2d)
static void gradcheck_conv_transpose2d(void **state) {
    (void)state;
    const struct { int C, H, W, O, kh, kw, s, p, op, bias; } cases[] = {
        {2, 4, 4, 3, 3, 3, 1, 0, 0, 1}, {3, 3, 3, 2, 4, 4, 2, 1, 0, 0}, {2, 3, 4, 2, 3, 3, 2, 1, 1, 1},
        {2, 4, 4, 2, 1, 1, 1, 0, 0, 0}, {2, 3, 3, 2, 2, 3, 2, 0, 1, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mvae_ctx *d = mvae_ctx_new(0);
        mvae_rng r;
        mvae_rng_seed(&r, 31 + k);
        mvae_tensor *in[3] = {
            mvae_test_rand(d, &r, 4, (int64_t[]){2, cases[k].C, cases[k].H, cases[k].W}, -1, 1, 1),
            mvae_test_rand(d, &r, 4, (int64_t[]){cases[k].C, cases[k].O, cases[k].kh, cases[k].kw}, -1, 1, 1),
            cases[k].bias ? mvae_test_rand(d, &r, 1, (int64_t[]){cases[k].O}, -1, 1, 1) : NULL};
        conv_opts o = {cases[k].s, cases[k].p, cases[k].op};
        assert_int_equal(mvae_gradcheck("conv_transpose2d", build_convt2d, cases[k].bias ? 3 : 2, in,
                                        &o, (mvae_gc_opts){0}),
                         0);
        mvae_ctx_free(d);
    }
}

/* ---- convolutions with a fused input activation ---------------------------------------------- */

typedef struct conv_act_opts { int s, p, op, act; bool transposed; } conv_act_opts;
static mvae_tensor *build_conv_act(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    conv_act_opts *o = u;
    if (o->transposed) return mvae_conv_transpose2d_act(ctx, in[0], in[1], in[2], o->s, o->p, o->op, o->act);
    return mvae_conv2d_act(ctx, in[0], in[1], in[2], o->s, o->p, o->act);
}

static void gradcheck_conv_act(bool transposed) {
    for (int act = MVAE_ACT_RELU; act <= MVAE_ACT_SOFTPLUS; act++) {
        mvae_ctx *d = mvae_ctx_new(0);
        mvae_rng r;
        mvae_rng_seed(&r, 60 + act + 10 * transposed);
        int C = 2, O = 3, k = 3;
        mvae_tensor *in[3] = {
            mvae_test_rand(d, &r, 4, (int64_t[]){2, C, 4, 5}, -2, 2, 1),
            mvae_test_rand(d, &r, 4, transposed ? (int64_t[]){C, O, k, k} : (int64_t[]){O, C, k, k}, -1, 1, 1),
            mvae_test_rand(d, &r, 1, (int64_t[]){O}, -1, 1, 1)};
        /* away from relu's and leaky_relu's kink at 0, where finite differences straddle it */
        for (int64_t i = 0; i < in[0]->n; i++) in[0]->data[i] += in[0]->data[i] < 0 ? -0.1f : 0.1f;
        conv_act_opts o = {2, 1, transposed ? 1 : 0, act, transposed};
        assert_int_equal(mvae_gradcheck(transposed ? "conv_transpose2d_act" : "conv2d_act", build_conv_act, 3, in,
                                        &o, (mvae_gc_opts){0}),
                         0);
        mvae_ctx_free(d);
    }
}
MVAE_GRADCHECK_OP(conv2d_act)
static void gradcheck_conv2d_act(void **state) {
    (void)state;
    gradcheck_conv_act(false);
}
MVAE_GRADCHECK_OP(conv_transpose2d_act)
static void gradcheck_conv_transpose2d_act(void **state) {
    (void)state;
    gradcheck_conv_act(true);
}

/* Fused and unfused (activate, then convolve) give the same values exactly and the same gradients
 * up to the order of a product's factors (1e-6 relative), over
 * several chunks with a remainder (B = 300: 64 samples of 4x4 output positions per chunk of conv2d), 1 and 2 threads. */
static void test_conv_act_matches_unfused(void **state) {
    (void)state;
    const int acts[] = {MVAE_ACT_SWISH, MVAE_ACT_ELU, MVAE_ACT_SIGMOID};
    for (int threads = 1; threads <= 2; threads++) {
        mvae_gemm_set_threads(threads);
        for (int transposed = 0; transposed < 2; transposed++)
            for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
                float *res[2][5];
                int64_t n[5];
                for (int fused = 0; fused < 2; fused++) {
                    mvae_ctx *ctx = mvae_ctx_new(0);
                    mvae_rng r;
                    mvae_rng_seed(&r, 9 + transposed);
                    int64_t C = 3, O = 5, H = transposed ? 4 : 8;
                    mvae_tensor *x = mvae_test_rand(ctx, &r, 4, (int64_t[]){300, C, H, H}, -3, 3, 1);
                    mvae_tensor *w = mvae_test_rand(
                        ctx, &r, 4, transposed ? (int64_t[]){C, O, 4, 4} : (int64_t[]){O, C, 4, 4}, -1, 1, 1);
                    mvae_tensor *b = mvae_test_rand(ctx, &r, 1, (int64_t[]){O}, -1, 1, 1);
                    mvae_tensor *x2 = mvae_scale(ctx, x, 0.5f), *y;
                    if (fused)
                        y = transposed ? mvae_conv_transpose2d_act(ctx, x2, w, b, 2, 1, 0, acts[a])
                                       : mvae_conv2d_act(ctx, x2, w, b, 2, 1, acts[a]);
                    else
                        y = transposed ? mvae_conv_transpose2d(ctx, mvae_activate(ctx, x2, acts[a]), w, b, 2, 1, 0)
                                       : mvae_conv2d(ctx, mvae_activate(ctx, x2, acts[a]), w, b, 2, 1);
                    /* x also reaches the loss directly: its gradient accumulates from two paths */
                    mvae_tensor *L = mvae_add(ctx, mvae_sum_all(ctx, mvae_square(ctx, y)), mvae_sum_all(ctx, x));
                    assert_int_equal(mvae_backward(ctx, L), 0);
                    float *src[5] = {y->data, L->data, x->grad, w->grad, b->grad};
                    int64_t cnt[5] = {y->n, 1, x->n, w->n, b->n};
                    for (int k = 0; k < 5; k++) {
                        n[k] = cnt[k];
                        res[fused][k] = malloc((size_t)n[k] * sizeof(float));
                        memcpy(res[fused][k], src[k], (size_t)n[k] * sizeof(float));
                    }
                    mvae_ctx_free(ctx);
                }
                for (int k = 0; k < 5; k++) {
                    for (int64_t i = 0; i < n[k]; i++)
                        if (k < 2 ? res[0][k][i] != res[1][k][i] : fabsf(res[0][k][i] - res[1][k][i]) > 1e-6f * (1.0f + fabsf(res[0][k][i])))
                            fail_msg("%s act %d, %d threads, output %d [%lld]: fused %.9g vs unfused %.9g",
                                     transposed ? "conv_transpose2d" : "conv2d", acts[a], threads, k, (long long)i,
                                     (double)res[1][k][i], (double)res[0][k][i]);
                    free(res[0][k]);
                    free(res[1][k]);
                }
            }
    }
    mvae_gemm_set_threads(1);
}

/* ---- batchnorm ------------------------------------------------------------------------------- */

static void test_batchnorm_training_and_eval_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    /* x [4,2]: channel 0 = 1,2,3,4 (mean 2.5, biased var 1.25, unbiased 5/3);
     *          channel 1 = 0,0,2,2 (mean 1, biased var 1, unbiased 4/3) */
    float xv[8] = {1, 0, 2, 0, 3, 2, 4, 2}, gv[2] = {2, 1}, bv[2] = {0.5f, -1};
    float rm[2] = {0, 0}, rv[2] = {1, 1};
    mvae_tensor *x = mvae_tensor_wrap(ctx, 2, (int64_t[]){4, 2}, xv);
    mvae_tensor *gamma = mvae_tensor_wrap(ctx, 1, (int64_t[]){2}, gv);
    mvae_tensor *beta = mvae_tensor_wrap(ctx, 1, (int64_t[]){2}, bv);
    assert_true(mvae_ctx_training(ctx));
    mvae_tensor *y = mvae_batchnorm(ctx, x, gamma, beta, rm, rv, 0.1f, 1e-5f);
    assert_non_null(y);
    /* channel 0: 2 * (x - 2.5) / sqrt(1.25 + 1e-5) + 0.5; 1/sqrt(1.25001) = 0.89442361 */
    assert_float_equal(y->data[0], 2 * -1.5 * 0.89442361 + 0.5, 1e-5);
    assert_float_equal(y->data[6], 2 * 1.5 * 0.89442361 + 0.5, 1e-5);
    /* channel 1: (x - 1) / sqrt(1 + 1e-5) - 1; 1/sqrt(1.00001) = 0.99999500 */
    assert_float_equal(y->data[1], -0.99999500 - 1, 1e-5);
    assert_float_equal(y->data[7], 0.99999500 - 1, 1e-5);
    /* running stats: r = 0.9 r + 0.1 s, unbiased variance */
    assert_float_equal(rm[0], 0.25, 1e-6);
    assert_float_equal(rm[1], 0.1, 1e-6);
    assert_float_equal(rv[0], 0.9 + 0.1 * 5.0 / 3.0, 1e-6);
    assert_float_equal(rv[1], 0.9 + 0.1 * 4.0 / 3.0, 1e-6);

    /* eval: running statistics, which stay untouched */
    mvae_ctx_set_training(ctx, false);
    float em[2] = {1, 2}, ev[2] = {4, 0.25f};
    y = mvae_batchnorm(ctx, x, gamma, beta, em, ev, 0.1f, 1e-5f);
    assert_non_null(y);
    /* channel 0: 2 (x - 1) / 2 + 0.5; channel 1: (x - 2) / 0.5 - 1 (eps shifts these by < 1e-4) */
    float e[8] = {0.5f, -5, 1.5f, -5, 2.5f, -1, 3.5f, -1};
    for (int i = 0; i < 8; i++) assert_float_equal(y->data[i], e[i], 1e-4);
    assert_float_equal(em[0], 1, 0);
    assert_float_equal(ev[1], 0.25, 0);
    mvae_ctx_free(ctx);
}

typedef struct bn_opts {
    bool eval;
    float rm[8], rv[8];
} bn_opts;
static mvae_tensor *build_batchnorm(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    bn_opts *o = u;
    mvae_ctx_set_training(ctx, !o->eval);
    return mvae_batchnorm(ctx, in[0], in[1], in[2], o->rm, o->rv, 0.1f, 1e-5f);
}
MVAE_GRADCHECK_OP(batchnorm)
static void gradcheck_batchnorm(void **state) {
    (void)state;
    const struct { int ndim; int64_t shape[4]; bool eval; } cases[] = {
        {2, {4, 3}, false}, {4, {2, 3, 3, 3}, false}, {4, {3, 2, 2, 2}, true}, {2, {5, 2}, true},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mvae_ctx *d = mvae_ctx_new(0);
        mvae_rng r;
        mvae_rng_seed(&r, 51 + k);
        int64_t C = cases[k].shape[1];
        mvae_tensor *in[3] = {mvae_test_rand(d, &r, cases[k].ndim, cases[k].shape, -2, 2, 1),
                              mvae_test_rand(d, &r, 1, (int64_t[]){C}, 0.5f, 1.5f, 1),
                              mvae_test_rand(d, &r, 1, (int64_t[]){C}, -1, 1, 1)};
        bn_opts o = {.eval = cases[k].eval};
        for (int c = 0; c < 8; c++) {
            o.rm[c] = 0.1f * (float)c - 0.2f;
            o.rv[c] = 0.5f + 0.25f * (float)c;
        }
        assert_int_equal(mvae_gradcheck("batchnorm", build_batchnorm, 3, in, &o, (mvae_gc_opts){0}), 0);
        mvae_ctx_free(d);
    }
}

/* ---- dropout --------------------------------------------------------------------------------- */

static void test_dropout_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 9);
    mvae_tensor *x = mvae_test_rand(ctx, &r, 2, (int64_t[]){100, 100}, 0.5f, 1.5f, 1);
    mvae_tensor *y = mvae_dropout(ctx, x, 0.25f, &r);
    assert_non_null(y);
    int64_t zeros = 0;
    for (int64_t i = 0; i < y->n; i++) {
        if (y->data[i] == 0.0f)
            zeros++;
        else
            assert_float_equal(y->data[i], x->data[i] / 0.75f, 1e-5);
    }
    assert_true(zeros > 2300 && zeros < 2700); /* 2500 expected, sd 43 */
    /* backward routes the gradient through the same mask */
    assert_int_equal(mvae_backward_seeded(ctx, y, NULL), MVAE_OK);
    for (int64_t i = 0; i < y->n; i++)
        assert_float_equal(x->grad[i], y->data[i] == 0.0f ? 0.0f : 1.0f / 0.75f, 1e-6);
    /* eval and p = 0: identity */
    assert_ptr_equal(mvae_dropout(ctx, x, 0.0f, &r), x);
    mvae_ctx_set_training(ctx, false);
    assert_ptr_equal(mvae_dropout(ctx, x, 0.5f, NULL), x);
    assert_false(mvae_ctx_failed(ctx));
    mvae_ctx_free(ctx);
}

static mvae_tensor *build_dropout(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    mvae_rng r;
    mvae_rng_seed(&r, 1234); /* the same mask in every evaluation */
    return mvae_dropout(ctx, in[0], 0.4f, &r);
}
MVAE_GRADCHECK_OP(dropout)
static void gradcheck_dropout(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 61);
    mvae_tensor *in[1] = {mvae_test_rand(d, &r, 3, (int64_t[]){2, 3, 5}, -1, 1, 1)};
    assert_int_equal(mvae_gradcheck("dropout", build_dropout, 1, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

/* ---- gru_cell -------------------------------------------------------------------------------- */

static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

/* h' [B,H] from PyTorch's equations, one scalar at a time */
static void ref_gru(int B, int In, int Hd, const float *x, const float *h, const float *wi,
                    const float *wh, const float *bi, const float *bh, float *out) {
    for (int b = 0; b < B; b++)
        for (int j = 0; j < Hd; j++) {
            double a[3], c[3];
            for (int g = 0; g < 3; g++) {
                int row = g * Hd + j;
                a[g] = bi ? bi[row] : 0;
                c[g] = bh ? bh[row] : 0;
                for (int k = 0; k < In; k++) a[g] += (double)x[b * In + k] * wi[row * In + k];
                for (int k = 0; k < Hd; k++) c[g] += (double)h[b * Hd + k] * wh[row * Hd + k];
            }
            double r = sigm(a[0] + c[0]), z = sigm(a[1] + c[1]), n = tanh(a[2] + r * c[2]);
            out[b * Hd + j] = (float)((1 - z) * n + z * h[b * Hd + j]);
        }
}

static void test_gru_cell_values(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 71);
    int B = 4, In = 6, Hd = 5;
    mvae_tensor *x = mvae_test_rand(ctx, &r, 2, (int64_t[]){B, In}, -1, 1, 0);
    mvae_tensor *h = mvae_test_rand(ctx, &r, 2, (int64_t[]){B, Hd}, -1, 1, 0);
    mvae_tensor *wi = mvae_test_rand(ctx, &r, 2, (int64_t[]){3 * Hd, In}, -1, 1, 0);
    mvae_tensor *wh = mvae_test_rand(ctx, &r, 2, (int64_t[]){3 * Hd, Hd}, -1, 1, 0);
    mvae_tensor *bi = mvae_test_rand(ctx, &r, 1, (int64_t[]){3 * Hd}, -1, 1, 0);
    mvae_tensor *bh = mvae_test_rand(ctx, &r, 1, (int64_t[]){3 * Hd}, -1, 1, 0);
    float ref[20];
    mvae_tensor *y = mvae_gru_cell(ctx, x, h, wi, wh, bi, bh);
    assert_non_null(y);
    assert_int_equal(y->shape[0], B);
    assert_int_equal(y->shape[1], Hd);
    ref_gru(B, In, Hd, x->data, h->data, wi->data, wh->data, bi->data, bh->data, ref);
    expect_close("gru", y->data, ref, B * Hd, 1e-5);
    /* no biases (PyTorch's bias=False) */
    y = mvae_gru_cell(ctx, x, h, wi, wh, NULL, NULL);
    assert_non_null(y);
    ref_gru(B, In, Hd, x->data, h->data, wi->data, wh->data, NULL, NULL, ref);
    expect_close("gru no bias", y->data, ref, B * Hd, 1e-5);
    mvae_ctx_free(ctx);
}

static mvae_tensor *build_gru(mvae_ctx *ctx, mvae_tensor **in, void *u) {
    (void)u;
    return mvae_gru_cell(ctx, in[0], in[1], in[2], in[3], in[4], in[5]);
}
MVAE_GRADCHECK_OP(gru_cell)
static void gradcheck_gru_cell(void **state) {
    (void)state;
    mvae_ctx *d = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 81);
    int64_t B = 3, In = 4, Hd = 3;
    mvae_tensor *in[6] = {mvae_test_rand(d, &r, 2, (int64_t[]){B, In}, -1, 1, 1),
                          mvae_test_rand(d, &r, 2, (int64_t[]){B, Hd}, -1, 1, 1),
                          mvae_test_rand(d, &r, 2, (int64_t[]){3 * Hd, In}, -1, 1, 1),
                          mvae_test_rand(d, &r, 2, (int64_t[]){3 * Hd, Hd}, -1, 1, 1),
                          mvae_test_rand(d, &r, 1, (int64_t[]){3 * Hd}, -1, 1, 1),
                          mvae_test_rand(d, &r, 1, (int64_t[]){3 * Hd}, -1, 1, 1)};
    assert_int_equal(mvae_gradcheck("gru_cell", build_gru, 6, in, NULL, (mvae_gc_opts){0}), 0);
    /* only the biases need a gradient: the op must still be recorded (they are not in src) */
    for (int k = 0; k < 4; k++) in[k]->flags &= ~(uint32_t)MVAE_T_NEEDS_GRAD;
    assert_int_equal(mvae_gradcheck("gru_cell biases", build_gru, 6, in, NULL, (mvae_gc_opts){0}), 0);
    mvae_ctx_free(d);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void expect_error(mvae_ctx *ctx, mvae_tensor *res, const char *needle) {
    assert_null(res);
    assert_true(mvae_ctx_failed(ctx));
    if (!strstr(mvae_ctx_error(ctx), needle))
        fprintf(stderr, "error '%s' lacks '%s'\n", mvae_ctx_error(ctx), needle);
    assert_non_null(strstr(mvae_ctx_error(ctx), needle));
    mvae_ctx_reset(ctx);
}

static void test_error_messages(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    for (int round = 0; round < 2; round++) { /* tensors are remade after each reset */
        mvae_tensor *x = mvae_tensor_zeros(ctx, 4, (int64_t[]){2, 3, 8, 8});
        mvae_tensor *w = mvae_tensor_zeros(ctx, 4, (int64_t[]){4, 2, 3, 3});
        expect_error(ctx, mvae_conv2d(ctx, x, w, NULL, 1, 0),
                     "conv2d: x [2,3,8,8] and w [4,2,3,3]: channels differ (3 vs 2)");
    }
    mvae_tensor *x = mvae_tensor_zeros(ctx, 4, (int64_t[]){2, 3, 8, 8});
    mvae_tensor *w = mvae_tensor_zeros(ctx, 4, (int64_t[]){4, 3, 3, 3});
    mvae_tensor *b5 = mvae_tensor_zeros(ctx, 1, (int64_t[]){5});
    expect_error(ctx, mvae_conv2d(ctx, x, w, b5, 1, 0), "conv2d: bias [5] does not match w [4,3,3,3]");
    x = mvae_tensor_zeros(ctx, 4, (int64_t[]){2, 3, 8, 8});
    w = mvae_tensor_zeros(ctx, 4, (int64_t[]){4, 3, 3, 3});
    expect_error(ctx, mvae_conv2d(ctx, x, w, NULL, 0, 0), "stride 0");
    x = mvae_tensor_zeros(ctx, 2, (int64_t[]){2, 3});
    w = mvae_tensor_zeros(ctx, 4, (int64_t[]){4, 3, 3, 3});
    expect_error(ctx, mvae_conv2d(ctx, x, w, NULL, 1, 0), "conv2d: x [2,3] and w [4,3,3,3] must both be 4-D");
    x = mvae_tensor_zeros(ctx, 4, (int64_t[]){1, 3, 2, 2});
    w = mvae_tensor_zeros(ctx, 4, (int64_t[]){4, 3, 3, 3});
    expect_error(ctx, mvae_conv2d(ctx, x, w, NULL, 1, 0), "kernel larger than the padded input");
    x = mvae_tensor_new_i32(ctx, 4, (int64_t[]){2, 3, 8, 8});
    w = mvae_tensor_zeros(ctx, 4, (int64_t[]){4, 3, 3, 3});
    expect_error(ctx, mvae_conv2d(ctx, x, w, NULL, 1, 0), "float32");
    w = mvae_tensor_zeros(ctx, 4, (int64_t[]){4, 3, 3, 3});
    expect_error(ctx, mvae_conv2d(ctx, NULL, w, NULL, 1, 0), "conv2d: input 'x' is NULL");

    x = mvae_tensor_zeros(ctx, 4, (int64_t[]){2, 128, 7, 7});
    w = mvae_tensor_zeros(ctx, 4, (int64_t[]){64, 128, 4, 4}); /* conv2d layout by mistake */
    expect_error(ctx, mvae_conv_transpose2d(ctx, x, w, NULL, 2, 1, 0),
                 "conv_transpose2d: x [2,128,7,7] and w [64,128,4,4]: channels differ (128 vs 64)");
    x = mvae_tensor_zeros(ctx, 4, (int64_t[]){2, 128, 7, 7});
    w = mvae_tensor_zeros(ctx, 4, (int64_t[]){128, 64, 4, 4});
    expect_error(ctx, mvae_conv_transpose2d(ctx, x, w, NULL, 2, 1, 2), "output_pad 2 must be in [0, stride 2)");
    x = mvae_tensor_zeros(ctx, 4, (int64_t[]){2, 128, 7, 7});
    w = mvae_tensor_zeros(ctx, 4, (int64_t[]){128, 64, 4, 4});
    b5 = mvae_tensor_zeros(ctx, 1, (int64_t[]){128});
    expect_error(ctx, mvae_conv_transpose2d(ctx, x, w, b5, 2, 1, 0), "bias [128] does not match w [128,64,4,4]");

    float rm[3] = {0}, rv[3] = {1, 1, 1};
    x = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 3});
    mvae_tensor *g2 = mvae_tensor_zeros(ctx, 1, (int64_t[]){2});
    mvae_tensor *b3 = mvae_tensor_zeros(ctx, 1, (int64_t[]){3});
    expect_error(ctx, mvae_batchnorm(ctx, x, g2, b3, rm, rv, 0.1f, 1e-5f),
                 "batchnorm: x [4,3], gamma [2] and beta [3]");
    x = mvae_tensor_zeros(ctx, 3, (int64_t[]){4, 3, 2});
    mvae_tensor *g3 = mvae_tensor_zeros(ctx, 1, (int64_t[]){3});
    b3 = mvae_tensor_zeros(ctx, 1, (int64_t[]){3});
    expect_error(ctx, mvae_batchnorm(ctx, x, g3, b3, rm, rv, 0.1f, 1e-5f), "batchnorm: x [4,3,2] must be");
    x = mvae_tensor_zeros(ctx, 2, (int64_t[]){1, 3});
    g3 = mvae_tensor_zeros(ctx, 1, (int64_t[]){3});
    b3 = mvae_tensor_zeros(ctx, 1, (int64_t[]){3});
    expect_error(ctx, mvae_batchnorm(ctx, x, g3, b3, rm, rv, 0.1f, 1e-5f), "more than 1 value per channel");

    x = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 3});
    expect_error(ctx, mvae_dropout(ctx, x, 1.0f, NULL), "dropout: x [4,3]: p = 1 must be in [0,1)");
    x = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 3});
    expect_error(ctx, mvae_dropout(ctx, x, -0.5f, NULL), "p = -0.5");
    x = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 3});
    expect_error(ctx, mvae_dropout(ctx, x, 0.5f, NULL), "needs an rng");

    x = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 6});
    mvae_tensor *h = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 5});
    mvae_tensor *wi = mvae_tensor_zeros(ctx, 2, (int64_t[]){15, 7});
    mvae_tensor *wh = mvae_tensor_zeros(ctx, 2, (int64_t[]){15, 5});
    expect_error(ctx, mvae_gru_cell(ctx, x, h, wi, wh, NULL, NULL),
                 "gru_cell: x [4,6], h [4,5] and w_ih [15,7]: expected w_ih [15,6]");
    x = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 6});
    h = mvae_tensor_zeros(ctx, 2, (int64_t[]){3, 5});
    wi = mvae_tensor_zeros(ctx, 2, (int64_t[]){15, 6});
    wh = mvae_tensor_zeros(ctx, 2, (int64_t[]){15, 5});
    expect_error(ctx, mvae_gru_cell(ctx, x, h, wi, wh, NULL, NULL), "gru_cell: x [4,6] and h [3,5]");
    x = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 6});
    h = mvae_tensor_zeros(ctx, 2, (int64_t[]){4, 5});
    wi = mvae_tensor_zeros(ctx, 2, (int64_t[]){15, 6});
    wh = mvae_tensor_zeros(ctx, 2, (int64_t[]){15, 5});
    mvae_tensor *bb = mvae_tensor_zeros(ctx, 1, (int64_t[]){10});
    expect_error(ctx, mvae_gru_cell(ctx, x, h, wi, wh, bb, NULL), "b_ih [10] and b_hh (null): expected biases [15]");
    mvae_ctx_free(ctx);
}

/* No grad recording: no tape entries and no aux scratch needed by backward. */
static void test_no_grad_records_nothing(void **state) {
    (void)state;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 3);
    mvae_tensor *x = mvae_test_rand(ctx, &r, 4, (int64_t[]){2, 3, 6, 6}, -1, 1, 1);
    mvae_tensor *w = mvae_test_rand(ctx, &r, 4, (int64_t[]){4, 3, 3, 3}, -1, 1, 1);
    mvae_ctx_set_grad(ctx, false);
    assert_non_null(mvae_conv2d(ctx, x, w, NULL, 1, 1));
    mvae_tensor *h = mvae_test_rand(ctx, &r, 2, (int64_t[]){2, 3}, -1, 1, 1);
    mvae_tensor *wi = mvae_test_rand(ctx, &r, 2, (int64_t[]){9, 3}, -1, 1, 1);
    mvae_tensor *wh = mvae_test_rand(ctx, &r, 2, (int64_t[]){9, 3}, -1, 1, 1);
    mvae_tensor *y = mvae_gru_cell(ctx, h, h, wi, wh, NULL, NULL);
    assert_non_null(y);
    assert_null(y->aux);
    assert_int_equal(mvae_ctx_tape_len(ctx), 0);
    mvae_ctx_free(ctx);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_values),
        cmocka_unit_test(test_conv2d_fast_vs_naive),
        cmocka_unit_test(test_conv_transpose2d_values),
        cmocka_unit_test(test_conv_transpose2d_is_adjoint),
        cmocka_unit_test(test_conv_transpose2d_fast_vs_naive),
        cmocka_unit_test(test_conv_threads_vs_naive),
        cmocka_unit_test(test_batchnorm_training_and_eval_values),
        cmocka_unit_test(test_dropout_values),
        cmocka_unit_test(test_gru_cell_values),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_no_grad_records_nothing),
        cmocka_unit_test(gradcheck_conv2d),
        cmocka_unit_test(gradcheck_conv_transpose2d),
        cmocka_unit_test(gradcheck_conv2d_act),
        cmocka_unit_test(gradcheck_conv_transpose2d_act),
        cmocka_unit_test(test_conv_act_matches_unfused),
        cmocka_unit_test(gradcheck_batchnorm),
        cmocka_unit_test(gradcheck_dropout),
        cmocka_unit_test(gradcheck_gru_cell),
    };
    return mvae_test_run("ops_conv", tests, argc, argv);
}
