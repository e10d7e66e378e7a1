/* test_impartial.c — the impartiality block: each method's combination against hand-computed
 * values (docs/impartial.md; J = [[-4,1,1],[6,1,1]], G = [[18,-22],[-22,38]]), the methods'
 * invariants, norm restoration, `none` = the plain sum bit for bit, state save/restore, the op in a
 * graph (one backward, outside readers added unchanged, recycling), errors, and the gradcheck. */
#include "mvae_test.h"
#include "impartial_internal.h"
#include "mvae/config.h"
#include "mvae/impartial.h"

static const float J1[3] = {-4, 1, 1}, J2[3] = {6, 1, 1};

static mvae_impartial *mk(const char *spec, int K, mvae_rng *rng) {
    mvae_impartial *b = NULL;
    mvae_error err = {0};
    int rc = mvae_impartial_new(spec, K, rng, &b, &err);
    if (rc) fprintf(stderr, "%s: %s\n", spec, err.msg);
    assert_int_equal(rc, MVAE_OK);
    return b;
}

/* out = the block's combination of the given rows */
static void comb(mvae_impartial *b, int K, int64_t N, const float *const *g, float *out) {
    mvae_error err = {0};
    int rc = mvae_impartial_combine(b, K, N, g, NULL, 1, out, false, &err);
    if (rc) fprintf(stderr, "combine: %s\n", err.msg);
    assert_int_equal(rc, MVAE_OK);
}

static void near(const float *got, const double *want, int n, double tol) {
    for (int i = 0; i < n; i++) {
        if (!(fabs(got[i] - want[i]) <= tol))
            fprintf(stderr, "element %d: got %.8g want %.8g\n", i, got[i], want[i]);
        assert_true(fabs(got[i] - want[i]) <= tol);
    }
}
static void near_d(const double *got, const double *want, int n, double tol) {
    for (int i = 0; i < n; i++) {
        if (!(fabs(got[i] - want[i]) <= tol))
            fprintf(stderr, "element %d: got %.8g want %.8g\n", i, got[i], want[i]);
        assert_true(fabs(got[i] - want[i]) <= tol);
    }
}

/* The J example through `spec`: out[3], and the weights. */
static void on_J(const char *spec, float *out, double *w) {
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    mvae_impartial *b = mk(spec, 2, &r);
    const float *g[2] = {J1, J2};
    comb(b, 2, 3, g, out);
    if (w) mvae_impartial_last_weights(b, w, NULL);
    mvae_impartial_free(b);
}

static double dotf(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}
static double normf(const float *a, int n) {
    return sqrt(dotf(a, a, n));
}

static void rand_rows(mvae_rng *r, int K, int N, float *buf, const float **g) {
    mvae_rng_uniform_fill(r, buf, (size_t)K * N, -1, 1);
    for (int k = 0; k < K; k++) g[k] = buf + (size_t)k * N;
}

/* ---- none ---------------------------------------------------------------------------------- */
static void test_none_bit_exact(void **state) {
    (void)state;
    mvae_rng r;
    mvae_rng_seed(&r, 3);
    enum { K = 3, N = 1001 };
    float buf[K * N], out[N], ref[N];
    const float *g[K];
    rand_rows(&r, K, N, buf, g);
    mvae_impartial *b = mk("none", K, NULL);
    comb(b, K, N, g, out);
    for (int n = 0; n < N; n++) ref[n] = g[2][n] + g[1][n] + g[0][n];
    assert_memory_equal(out, ref, sizeof out);
    /* accumulate: ((o + g2) + g1) + g0, as the sweep adds consumers' gradients */
    mvae_error err = {0};
    for (int n = 0; n < N; n++) out[n] = ref[n] = 0.5f * (float)n;
    assert_int_equal(mvae_impartial_combine(b, K, N, g, NULL, 1, out, true, &err), MVAE_OK);
    for (int n = 0; n < N; n++) {
        ref[n] += g[2][n];
        ref[n] += g[1][n];
        ref[n] += g[0][n];
    }
    assert_memory_equal(out, ref, sizeof out);
    /* a branch without gradient counts as zero */
    const float *g2[K] = {g[0], NULL, g[2]};
    comb(b, K, N, g2, out);
    for (int n = 0; n < N; n++) ref[n] = g[2][n] + g[0][n];
    assert_memory_equal(out, ref, sizeof out);
    mvae_impartial_free(b);
}

/* ---- PCGrad -------------------------------------------------------------------------------- */
static void test_pcgrad_values(void **state) {
    (void)state;
    float out[3];
    double w[2];
    on_J("pcgrad:norm_restore=false", out, w);
    near(out, (double[]){0.5847953, 3.8011696, 3.8011696}, 3, 1e-6);
    near_d(w, (double[]){2.2222222, 1.5789474}, 2, 1e-6);
    on_J("pcgrad", out, NULL);
    near(out, (double[]){0.3746343, 2.4351231, 2.4351231}, 3, 1e-6);
    /* no conflict: unchanged */
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    mvae_impartial *b = mk("pcgrad", 2, &r);
    const float a[2] = {1, 0}, c[2] = {1, 1};
    comb(b, 2, 2, (const float *[]){a, c}, out);
    near(out, (double[]){2, 1}, 2, 1e-7);
    mvae_impartial_free(b);
}

/* K = 2, random pairs: after PCGrad no projected gradient conflicts with the other task's
 * original gradient, nor with the other projected one. (W = [[1, w2-1], [w1-1, 1]].) */
static void test_pcgrad_no_conflict(void **state) {
    (void)state;
    mvae_rng r;
    mvae_rng_seed(&r, 7);
    enum { N = 6 };
    float buf[2 * N], out[N], p1[N], p2[N];
    const float *g[2];
    mvae_impartial *b = mk("pcgrad:norm_restore=false", 2, &r);
    int conflicts_seen = 0;
    for (int trial = 0; trial < 200; trial++) {
        rand_rows(&r, 2, N, buf, g);
        conflicts_seen += dotf(g[0], g[1], N) < 0;
        comb(b, 2, N, g, out);
        double w[2];
        mvae_impartial_last_weights(b, w, NULL);
        for (int n = 0; n < N; n++) {
            p1[n] = (float)(g[0][n] + (w[1] - 1) * g[1][n]);
            p2[n] = (float)(g[1][n] + (w[0] - 1) * g[0][n]);
        }
        double tol = 1e-5 * (normf(g[0], N) * normf(g[1], N));
        assert_true(dotf(p1, g[1], N) >= -tol);
        assert_true(dotf(p2, g[0], N) >= -tol);
        assert_true(dotf(p1, p2, N) >= -tol);
    }
    assert_true(conflicts_seen > 50);
    mvae_impartial_free(b);
}

/* ---- IMTL-G -------------------------------------------------------------------------------- */
static void test_imtl_g_values(void **state) {
    (void)state;
    float out[3];
    double w[3];
    on_J("imtl_g:norm_restore=false", out, w);
    near_d(w, (double[]){0.5923303, 0.4076697}, 2, 1e-6);
    near(out, (double[]){0.0766968, 1, 1}, 3, 1e-6);
    on_J("imtl_g", out, NULL);
    near(out, (double[]){0.1875924, 2.4458954, 2.4458954}, 3, 1e-6);
    /* K = 3 orthogonal: alpha = (6, 3, 2) / 11 */
    const float a[3] = {1, 0, 0}, b2[3] = {0, 2, 0}, c[3] = {0, 0, 3};
    mvae_impartial *b = mk("imtl_g:norm_restore=false", 3, NULL);
    comb(b, 3, 3, (const float *[]){a, b2, c}, out);
    mvae_impartial_last_weights(b, w, NULL);
    near_d(w, (double[]){6.0 / 11, 3.0 / 11, 2.0 / 11}, 3, 1e-7);
    mvae_impartial_free(b);
    /* K = 4 random: equal projections on every unit task gradient */
    mvae_rng r;
    mvae_rng_seed(&r, 5);
    enum { N = 10 };
    float buf[4 * N], o[N];
    const float *g[4];
    rand_rows(&r, 4, N, buf, g);
    b = mk("imtl_g", 4, NULL);
    comb(b, 4, N, g, o);
    double p0 = dotf(o, g[0], N) / normf(g[0], N);
    for (int k = 1; k < 4; k++)
        assert_true(fabs(dotf(o, g[k], N) / normf(g[k], N) - p0) <= 1e-5 * fabs(p0) + 1e-6);
    mvae_impartial_free(b);
}

/* ---- NSGD, GradNorm ------------------------------------------------------------------------ */
static void test_nsgd_values(void **state) {
    (void)state;
    float out[3];
    double w[2];
    on_J("nsgd", out, NULL);
    near(out, (double[]){0.1875924, 2.4458954, 2.4458954}, 3, 1e-6);
    on_J("nsgd:norm_restore=false", out, w); /* every task gradient gets the same norm */
    assert_true(fabs(w[0] * sqrt(18.0) - w[1] * sqrt(38.0)) < 1e-9);
}

static void test_gradnorm(void **state) {
    (void)state;
    /* alpha = 0 fixed point: w = K (1/n) / sum(1/n) = (1.1846606, 0.8153394); the loss is 0 there
     */
    mvae_impartial *b = mk("gradnorm:alpha=0", 2, NULL);
    float *st = mvae_impartial_state(b);
    assert_int_equal(mvae_impartial_state_size(b), 12);
    st[0] = (float)log(1.1846606);
    st[1] = (float)log(0.8153394);
    double norms[2] = {sqrt(18.0), sqrt(38.0)};
    float v0[2] = {1, 1};
    assert_true(mvae_impartial_gradnorm_loss(2, st, norms, v0, 0, -1, NULL) < 1e-6);
    float out[3], ns[3];
    double w[2];
    comb(b, 2, 3, (const float *[]){J1, J2}, out);
    mvae_impartial_last_weights(b, w, NULL);
    near_d(w, (double[]){1.1846606, 0.8153394}, 2, 1e-6);
    on_J("nsgd", ns, NULL); /* same direction as NSGD, restored to the same norm */
    near(out, (double[]){ns[0], ns[1], ns[2]}, 3, 1e-5);
    mvae_impartial_free(b);

    /* the theta gradient against central differences */
    mvae_rng r;
    mvae_rng_seed(&r, 9);
    int checked = 0;
    for (int trial = 0; trial < 20; trial++) {
        float th[3];
        double n3[3], dth[3];
        float v03[3];
        for (int k = 0; k < 3; k++) {
            th[k] = mvae_rng_uniform(&r) * 2 - 1;
            n3[k] = 0.1 + 3 * mvae_rng_uniform(&r);
            v03[k] = 0.5f + mvae_rng_uniform(&r);
        }
        /* m = mean(w n) at theta, held constant as in the reference */
        double e[3], es = 0, m = 0;
        for (int k = 0; k < 3; k++) es += e[k] = exp((double)th[k]);
        for (int k = 0; k < 3; k++) m += 3 * e[k] / es * n3[k] / 3;
        mvae_impartial_gradnorm_loss(3, th, n3, v03, 1.5, m, dth);
        for (int k = 0; k < 3; k++) {
            double nums[2];
            for (int hi = 0; hi < 2; hi++) {
                float t0 = th[k], h = hi ? 2.5e-4f : 1e-3f;
                th[k] = t0 + h;
                float tp = th[k];
                double lp = mvae_impartial_gradnorm_loss(3, th, n3, v03, 1.5, m, NULL);
                th[k] = t0 - h;
                float tm = th[k];
                double lm = mvae_impartial_gradnorm_loss(3, th, n3, v03, 1.5, m, NULL);
                th[k] = t0;
                nums[hi] = (lp - lm) / ((double)tp - tm);
            }
            if (fabs(nums[0] - nums[1]) > 0.05 * fabs(nums[1]) + 1e-3)
                continue; /* |.| kink nearby */
            checked++;
            assert_true(fabs(nums[1] - dth[k]) <= 2e-3 + 1e-2 * fabs(nums[1]));
        }
    }
    assert_true(checked >= 40);

    /* learning: with alpha = 0 the weights move to the fixed point */
    b = mk("gradnorm:alpha=0,lr=0.01", 2, NULL);
    for (int it = 0; it < 1500; it++) comb(b, 2, 3, (const float *[]){J1, J2}, out);
    mvae_impartial_last_weights(b, w, NULL);
    near_d(w, (double[]){1.1846606, 0.8153394}, 2, 2e-2);
    mvae_impartial_free(b);
}

/* ---- MGDA-UB ------------------------------------------------------------------------------- */
static double brute_min_norm(int K, int N, const float *const *g, int steps) {
    double best = INFINITY;
    for (int i = 0; i <= steps; i++)
        for (int j = 0; j <= (K == 3 ? steps - i : 0); j++) {
            double a[3] = {(double)i / steps, K == 3 ? (double)j / steps : 1 - (double)i / steps,
                           0};
            if (K == 3) a[2] = 1 - a[0] - a[1];
            double s = 0;
            for (int n = 0; n < N; n++) {
                double v = 0;
                for (int k = 0; k < K; k++) v += a[k] * g[k][n];
                s += v * v;
            }
            best = fmin(best, sqrt(s));
        }
    return best;
}

static void test_mgda(void **state) {
    (void)state;
    float out[3];
    double w[3];
    on_J("mgda:norm_restore=false", out, w);
    near_d(w, (double[]){0.6, 0.4}, 2, 1e-12);
    near(out, (double[]){0, 1, 1}, 3, 1e-6);
    on_J("mgda:ref_cap=true", out, NULL); /* the reference's min(w, 1e-3): the plain sum */
    near(out, (double[]){2, 2, 2}, 3, 1e-5);
    /* K = 3: {(1,0),(0,1),(-1,-1)} -> 1/3 each, d = 0 (and the sum is 0: no NaN) */
    mvae_impartial *b = mk("mgda", 3, NULL);
    const float a[2] = {1, 0}, c[2] = {0, 1}, e[2] = {-1, -1};
    comb(b, 3, 2, (const float *[]){a, c, e}, out);
    mvae_impartial_last_weights(b, w, NULL);
    near_d(w, (double[]){1.0 / 3, 1.0 / 3, 1.0 / 3}, 3, 1e-6);
    near(out, (double[]){0, 0}, 2, 1e-6);
    mvae_impartial_free(b);
    /* {(2,0),(0,2),(3,3)} -> (1/2, 1/2, 0) */
    b = mk("mgda", 3, NULL);
    const float p[2] = {2, 0}, q[2] = {0, 2}, s[2] = {3, 3};
    comb(b, 3, 2, (const float *[]){p, q, s}, out);
    mvae_impartial_last_weights(b, w, NULL);
    near_d(w, (double[]){0.5, 0.5, 0}, 3, 1e-5);
    mvae_impartial_free(b);
    /* the min-norm point against a brute-force search of the simplex, K = 2 and 3 */
    mvae_rng r;
    mvae_rng_seed(&r, 11);
    enum { N = 5 };
    float buf[3 * N], o[N];
    const float *g[3];
    for (int K = 2; K <= 3; K++) {
        b = mk("mgda:norm_restore=false", K, NULL);
        for (int trial = 0; trial < 30; trial++) {
            rand_rows(&r, K, N, buf, g);
            comb(b, K, N, g, o);
            double mine = normf(o, N), brute = brute_min_norm(K, N, g, 300);
            assert_true(mine <= brute + 1e-4);
            assert_true(mine >= brute - 0.02); /* the grid's resolution */
        }
        mvae_impartial_stats st;
        mvae_impartial_stats_get(b, &st);
        assert_int_equal(st.fallbacks, 0);
        mvae_impartial_free(b);
    }
    /* no convergence within max_iter: the plain sum, counted */
    b = mk("mgda:max_iter=1", 3, NULL);
    const float u[3] = {1, 0.2f, 0}, v[3] = {-0.3f, 1, 0.1f}, x[3] = {0.2f, -0.7f, 1};
    comb(b, 3, 3, (const float *[]){u, v, x}, out);
    mvae_impartial_stats st;
    mvae_impartial_stats_get(b, &st);
    assert_int_equal(st.fallbacks, 1);
    near(out, (double[]){0.9, 0.5, 1.1}, 3, 1e-6);
    mvae_impartial_free(b);
}

static double cagrad_objective(const double *G, double cp, const double *z) {
    double xGb = 0, xGx = 0;
    for (int a = 0; a < 3; a++)
        for (int c = 0; c < 3; c++) {
            xGb += z[a] * G[a * 3 + c] / 3;
            xGx += z[a] * G[a * 3 + c] * z[c];
        }
    return xGb + cp * sqrt(xGx + 1e-8);
}

/* ---- CAGrad -------------------------------------------------------------------------------- */
static void test_cagrad(void **state) {
    (void)state;
    float out[3];
    double w[2];
    on_J("cagrad:c=0.5,norm_restore=false", out, w);
    near_d(w, (double[]){0.7041241, 0.5}, 2, 1e-6);
    near(out, (double[]){0.1835034, 1.2041241, 1.2041241}, 3, 1e-6);
    on_J("cagrad:c=0.5,rescale=1,norm_restore=false", out, w);
    near_d(w, (double[]){0.7041241 / 1.25, 0.5 / 1.25}, 2, 1e-6);
    on_J("cagrad:c=0,norm_restore=false", out, w); /* the mean */
    near_d(w, (double[]){0.5, 0.5}, 2, 1e-6);
    /* K = 3: the inner problem's solution is no worse than any grid point */
    mvae_rng r;
    mvae_rng_seed(&r, 13);
    enum { N = 4 };
    float buf[3 * N], o[N];
    const float *g[3];
    rand_rows(&r, 3, N, buf, g);
    mvae_impartial *b = mk("cagrad:norm_restore=false", 3, NULL);
    comb(b, 3, N, g, o);
    double G[9], meanG = 0;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) meanG += (G[i * 3 + j] = dotf(g[i], g[j], N)) / 9;
    double cp = 0.5 * sqrt(meanG + 1e-8) + 1e-8;
    /* recover x from w = 1/K + lam x (sum x = 1) */
    double ws[3], x[3];
    mvae_impartial_last_weights(b, ws, NULL);
    double lam = ws[0] + ws[1] + ws[2] - 1;
    for (int k = 0; k < 3; k++) x[k] = (ws[k] - 1.0 / 3) / lam;
    double f = cagrad_objective(G, cp, x), best = INFINITY;
    for (int i = 0; i <= 100; i++)
        for (int j = 0; j <= 100 - i; j++)
            best =
                fmin(best, cagrad_objective(
                               G, cp, (double[]){i / 100.0, j / 100.0, 1 - i / 100.0 - j / 100.0}));
    assert_true(f <= best + 1e-6);
    mvae_impartial_free(b);
}

/* ---- GradVac ------------------------------------------------------------------------------- */
static void gradvac_target(double phi, double want_cos, const double *want_g1) {
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    mvae_impartial *b = mk("gradvac:beta=0,norm_restore=false", 2, &r);
    float *st = mvae_impartial_state(b);
    st[0 * 2 + 1] = (float)phi; /* target of g1 against g2 */
    st[1 * 2 + 0] = -1;         /* g2 is never adjusted */
    float out[3], g1p[3];
    comb(b, 2, 3, (const float *[]){J1, J2}, out);
    for (int i = 0; i < 3; i++) g1p[i] = out[i] - J2[i];
    if (want_g1) near(g1p, want_g1, 3, 1e-5);
    double c = dotf(g1p, J2, 3) / (normf(g1p, 3) * normf(J2, 3));
    assert_true(fabs(c - want_cos) < 1e-5);
    mvae_impartial_free(b);
}

static void test_gradvac(void **state) {
    (void)state;
    gradvac_target(0.3, 0.3, (double[]){0.1759204, 1.6959867, 1.6959867});
    gradvac_target(-0.2, -0.2, NULL);
    gradvac_target(0, 0, (double[]){-0.5263158, 1.5789474, 1.5789474}); /* = PCGrad's g1' */
    /* reset (the reference): PCGrad */
    float a[3], p[3];
    on_J("gradvac:reset=true", a, NULL);
    on_J("pcgrad", p, NULL);
    near(a, (double[]){p[0], p[1], p[2]}, 3, 1e-6);
    /* the EMA: phi <- (1 - beta) phi + beta cos */
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    mvae_impartial *b = mk("gradvac:beta=0.5", 2, &r);
    float *st = mvae_impartial_state(b);
    st[1] = 0.3f;
    comb(b, 2, 3, (const float *[]){J1, J2}, a);
    double c = -22 / sqrt(18.0 * 38.0);
    assert_true(fabs(st[1] - (0.5 * 0.3 + 0.5 * c)) < 1e-6);
    assert_true(fabs(st[2] - 0.5 * c) < 1e-6);
    mvae_impartial_free(b);
}

/* ---- GradDrop ------------------------------------------------------------------------------ */
static void test_graddrop(void **state) {
    (void)state;
    mvae_rng r;
    mvae_rng_seed(&r, 21);
    /* leak 1: identity */
    enum { K = 2, ROWS = 2, COLS = 3, N = ROWS * COLS };
    float g1[N] = {1, -2, 3, 0.5f, 1, -1}, g2[N] = {2, 1, -1, 0.5f, -3, 2},
          x[N] = {1, 1, 1, 1, 1, 1};
    float out[N];
    mvae_impartial *b = mk("graddrop:leak=1,norm_restore=false", K, &r);
    mvae_error err = {0};
    assert_int_equal(
        mvae_impartial_combine(b, K, N, (const float *[]){g1, g2}, x, ROWS, out, false, &err), 0);
    for (int n = 0; n < N; n++) assert_true(out[n] == g1[n] + g2[n]);
    mvae_impartial_free(b);
    /* leak 0 with the draws replayed: s_k = column sums (input all positive) */
    b = mk("graddrop:norm_restore=false", K, &r);
    mvae_rng copy = r;
    float U[COLS];
    mvae_rng_uniform_fill(&copy, U, COLS, 0, 1);
    assert_int_equal(
        mvae_impartial_combine(b, K, N, (const float *[]){g1, g2}, x, ROWS, out, false, &err), 0);
    float s1[COLS], s2[COLS];
    for (int c = 0; c < COLS; c++) {
        s1[c] = g1[c] + g1[COLS + c];
        s2[c] = g2[c] + g2[COLS + c];
    }
    for (int c = 0; c < COLS; c++) {
        float P = 0.5f * (1 + (s1[c] + s2[c]) / (fabsf(s1[c]) + fabsf(s2[c]) + 1e-15f));
        float m1 = (P > U[c] && s1[c] > 0) || (P < U[c] && s1[c] < 0);
        float m2 = (P > U[c] && s2[c] > 0) || (P < U[c] && s2[c] < 0);
        for (int rr = 0; rr < ROWS; rr++)
            assert_true(fabsf(out[rr * COLS + c] -
                              (m1 * g1[rr * COLS + c] + m2 * g2[rr * COLS + c])) < 1e-6f);
    }
    /* column 0: both sums positive (P = 1): kept by both whatever U */
    assert_true(out[0] == g1[0] + g2[0] && out[COLS] == g1[COLS] + g2[COLS]);
    /* input_sign: a negative input flips the sign purity */
    float xn[N] = {-1, -1, -1, -1, -1, -1};
    mvae_impartial_free(b);
    b = mk("graddrop:norm_restore=false", K, &r);
    assert_int_equal(
        mvae_impartial_combine(b, K, N, (const float *[]){g1, g2}, xn, ROWS, out, false, &err), 0);
    assert_true(out[0] == g1[0] + g2[0]); /* both -s > 0... both negative: P = 0 < U: kept */
    mvae_impartial_free(b);
}

/* ---- Nash-MTL, Aligned-MTL ----------------------------------------------------------------- */
static void test_nash_mtl(void **state) {
    (void)state;
    float out[3];
    double w[2];
    on_J("nash_mtl:norm_restore=false", out, w);
    near_d(w, (double[]){0.5914612, 0.4070715}, 2, 1e-4);
    assert_true(fabs(w[0] * (18 * w[0] - 22 * w[1]) - 1) < 1e-5);
    assert_true(fabs(w[1] * (-22 * w[0] + 38 * w[1]) - 1) < 1e-5);
    near(out, (double[]){0.0765843, 0.9985326, 0.9985326}, 3, 1e-4);
    /* K = 4 random independent gradients: alpha_i (G alpha)_i = 1 */
    mvae_rng r;
    mvae_rng_seed(&r, 17);
    enum { N = 8 };
    float buf[4 * N], o[N];
    const float *g[4];
    mvae_impartial *b = mk("nash_mtl", 4, NULL);
    for (int trial = 0; trial < 20; trial++) {
        rand_rows(&r, 4, N, buf, g);
        for (int k = 0; k < 4; k++) buf[k * N + k] += 3; /* mostly aligned with their own axis */
        comb(b, 4, N, g, o);
        double a[4];
        mvae_impartial_last_weights(b, a, NULL);
        for (int i = 0; i < 4; i++) {
            double Ga = 0;
            for (int j = 0; j < 4; j++) Ga += dotf(g[i], g[j], N) * a[j];
            assert_true(a[i] > 0);
            assert_true(fabs(a[i] * Ga - 1) < 1e-5);
        }
    }
    mvae_impartial_stats st;
    mvae_impartial_stats_get(b, &st);
    assert_int_equal(st.fallbacks, 0);
    mvae_impartial_free(b);
    /* opposite gradients: no positive solution -> plain sum, counted, no NaN */
    b = mk("nash_mtl", 2, NULL);
    const float p[3] = {1, 2, 3}, q[3] = {-1, -2, -3}, z[3] = {0, 0, 0};
    comb(b, 2, 3, (const float *[]){p, q}, out);
    near(out, (double[]){0, 0, 0}, 3, 0);
    comb(b, 2, 3, (const float *[]){p, z}, out); /* a zero task gradient */
    near(out, (double[]){1, 2, 3}, 3, 1e-6);
    mvae_impartial_stats_get(b, &st);
    assert_int_equal(st.fallbacks, 2);
    mvae_impartial_free(b);
}

static void test_aligned_mtl(void **state) {
    (void)state;
    float out[3];
    double w[2];
    on_J("aligned_mtl:norm_restore=false", out, w);
    near_d(w, (double[]){0.5590719, 0.4082611}, 2, 1e-6);
    near(out, (double[]){0.2132787, 0.9673330, 0.9673330}, 3, 1e-6);
    on_J("aligned_mtl:scale=rmse,norm_restore=false", out, w);
    assert_true(w[0] > 0.5590719 && w[1] > 0.4082611);
}

/* ---- every method: norm restoration, finite output ------------------------------------------ */
static void test_norm_restoration(void **state) {
    (void)state;
    mvae_rng r;
    mvae_rng_seed(&r, 23);
    enum { K = 3, N = 40 };
    float buf[K * N], out[N], sum[N], x[N];
    const float *g[K];
    for (int m = 0; m < mvae_impartial_method_count; m++) {
        mvae_impartial *b = mk(mvae_impartial_methods[m].name, K, &r);
        for (int trial = 0; trial < 10; trial++) {
            rand_rows(&r, K, N, buf, g);
            mvae_rng_uniform_fill(&r, x, N, -1, 1);
            mvae_error err = {0};
            assert_int_equal(mvae_impartial_combine(b, K, N, g, x, 4, out, false, &err), MVAE_OK);
            for (int n = 0; n < N; n++) {
                sum[n] = g[0][n] + g[1][n] + g[2][n];
                assert_true(isfinite(out[n]));
            }
            double want = normf(sum, N), got = normf(out, N);
            if (fabs(got - want) > 1e-5 * want)
                fprintf(stderr, "%s: norm %.8g, plain sum's %.8g\n", mvae_impartial_methods[m].name,
                        got, want);
            assert_true(fabs(got - want) <= 1e-5 * want);
        }
        mvae_impartial_free(b);
    }
}

/* ---- state: saved and restored, the same results --------------------------------------------- */
static void test_state_roundtrip(void **state) {
    (void)state;
    static const char *const specs[] = {"gradvac:beta=0.1", "nsgd:update_at=3",
                                        "gradnorm:update_at=3,lr=0.05",
                                        "gradnorm:update_at=3+gradvac:beta=0.2"};
    enum { K = 3, N = 20 };
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
        mvae_rng r, data;
        mvae_rng_seed(&r, 31);
        mvae_rng_seed(&data, 32);
        mvae_impartial *a = mk(specs[s], K, &r);
        float buf[K * N], out[N], outs[5][N];
        const float *g[K];
        for (int it = 0; it < 6; it++) {
            rand_rows(&data, K, N, buf, g);
            comb(a, K, N, g, out);
        }
        size_t n = mvae_impartial_state_size(a);
        assert_true(n > 0);
        float *saved = malloc(n * sizeof *saved);
        memcpy(saved, mvae_impartial_state(a), n * sizeof *saved);
        mvae_rng r_saved = r, data_saved = data;
        for (int it = 0; it < 5; it++) {
            rand_rows(&data, K, N, buf, g);
            comb(a, K, N, g, outs[it]);
        }
        mvae_rng r2 = r_saved;
        mvae_impartial *b = mk(specs[s], K, &r2);
        mvae_error err = {0};
        assert_int_equal(mvae_impartial_set_state(b, saved, n, &err), MVAE_OK);
        data = data_saved;
        for (int it = 0; it < 5; it++) {
            rand_rows(&data, K, N, buf, g);
            comb(b, K, N, g, out);
            assert_memory_equal(out, outs[it], sizeof out);
        }
        assert_int_not_equal(mvae_impartial_set_state(b, saved, n - 1, &err), MVAE_OK);
        assert_non_null(strstr(err.msg, "another method"));
        free(saved);
        mvae_impartial_free(a);
        mvae_impartial_free(b);
    }
}

/* ---- diagnostics --------------------------------------------------------------------------- */
static void test_diagnostics(void **state) {
    (void)state;
    mvae_impartial *b = mk("none", 2, NULL);
    float out[3];
    for (int i = 0; i < 4; i++) comb(b, 2, 3, (const float *[]){J1, J2}, out);
    mvae_impartial_stats st;
    mvae_impartial_stats_get(b, &st);
    assert_int_equal(st.calls, 4);
    assert_true(fabs(st.cos_mean[1] - (-22 / sqrt(18.0 * 38.0))) < 1e-9);
    assert_true(fabs(st.norm_mean[0] - sqrt(18.0)) < 1e-9 &&
                fabs(st.norm_mean[1] - sqrt(38.0)) < 1e-9);
    assert_true(st.conflict_frac == 1);
    char json[512];
    mvae_impartial_stats_json(&st, "impartial.", (const char *const[]){"image", "label"}, json,
                              sizeof json);
    assert_non_null(strstr(json, "\"impartial.cos.image-label\": -0.841"));
    assert_non_null(strstr(json, "\"impartial.calls\": 4"));
    mvae_impartial_stats_reset(b);
    mvae_impartial_stats_get(b, &st);
    assert_int_equal(st.calls, 0);
    mvae_impartial_free(b);
}

/* ---- errors -------------------------------------------------------------------------------- */
static void expect_new_error(const char *spec, int K, mvae_rng *rng, const char *part) {
    mvae_impartial *b = (mvae_impartial *)1;
    mvae_error err = {0};
    assert_int_not_equal(mvae_impartial_new(spec, K, rng, &b, &err), MVAE_OK);
    assert_null(b);
    if (!strstr(err.msg, part)) fprintf(stderr, "'%s' lacks '%s'\n", err.msg, part);
    assert_non_null(strstr(err.msg, part));
}

static void test_errors(void **state) {
    (void)state;
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    expect_new_error("pcgard", 2, &r, "did you mean 'pcgrad'?");
    expect_new_error("imtl-g", 2, &r, "did you mean 'imtl_g'?");
    expect_new_error("pcgrad", 1, &r, "K = 1");
    expect_new_error("pcgrad", 2, NULL, "mvae_rng");
    expect_new_error("cagrad:cc=1", 2, NULL, "did you mean 'c'?");
    expect_new_error("cagrad:c=-1", 2, NULL, "outside [0, inf)");
    expect_new_error("cagrad:c=abc", 2, NULL, "not a number");
    expect_new_error("mgda:max_iter=2.5", 2, NULL, "not an integer");
    expect_new_error("aligned_mtl:scale=mim", 2, NULL, "did you mean 'min'?");
    expect_new_error("mgda:norm_restore", 2, NULL, "key=value");
    /* combine: K and shapes */
    mvae_impartial *b = mk("pcgrad", 3, &r);
    float out[4];
    const float a[4] = {1, 2, 3, 4};
    mvae_error err = {0};
    assert_int_not_equal(
        mvae_impartial_combine(b, 2, 4, (const float *[]){a, a}, NULL, 1, out, false, &err), 0);
    assert_non_null(strstr(err.msg, "K = 3"));
    mvae_error_clear(&err);
    assert_int_not_equal(
        mvae_impartial_combine(b, 3, 4, (const float *[]){a, a, a}, NULL, 3, out, false, &err), 0);
    assert_non_null(strstr(err.msg, "rows"));
    mvae_impartial_free(b);
    /* the op: NULL, int32, no block */
    mvae_ctx *ctx = mvae_ctx_new(0);
    b = mk("none", 2, NULL);
    assert_null(mvae_impartial_fanout(ctx, b, NULL));
    assert_true(mvae_ctx_failed(ctx));
    mvae_ctx_reset(ctx);
    mvae_tensor *xi = mvae_tensor_new_i32(ctx, 1, (int64_t[]){3});
    assert_null(mvae_impartial_fanout(ctx, b, xi));
    assert_non_null(strstr(mvae_ctx_error(ctx), "float32"));
    mvae_ctx_reset(ctx);
    mvae_tensor *x = mvae_tensor_zeros(ctx, 1, (int64_t[]){3});
    assert_null(mvae_impartial_fanout(ctx, NULL, x));
    assert_non_null(strstr(mvae_ctx_error(ctx), "no block"));
    mvae_impartial_free(b);
    mvae_ctx_free(ctx);
}

static void expect_new_error(const char *spec, int K, mvae_rng *rng, const char *part);
static void test_yaml(void **state) {
    (void)state;
    const char *text = "impartial:\n  method: cagrad\n  norm_restore: false\n  cagrad: {c: 0.4}\n";
    mvae_cfg *cfg = NULL;
    mvae_error err = {0};
    assert_int_equal(mvae_cfg_load_string(text, "t.yaml", &cfg, &err), MVAE_OK);
    mvae_cfg_node *sec = mvae_cfg_get(mvae_cfg_root(cfg), "impartial");
    assert_int_equal(
        mvae_cfg_validate(cfg, sec, mvae_impartial_schema, "train.impartial", NULL, &err), MVAE_OK);
    mvae_impartial *b = NULL;
    assert_int_equal(mvae_impartial_new_cfg(sec, 3, NULL, &b, &err), MVAE_OK);
    assert_string_equal(mvae_impartial_method_of(b)->name, "cagrad");
    assert_true(mvae_impartial_setting(b, "c") == 0.4);
    assert_true(mvae_impartial_setting(b, "max_iter") == 500);
    assert_true(mvae_impartial_setting(b, "norm_restore") == 0);
    mvae_impartial_free(b);
    mvae_cfg_free(cfg);
    /* a chain with per-method settings */
    text = "impartial:\n  method: gradnorm+pcgrad\n  gradnorm: {alpha: 0}\n";
    assert_int_equal(mvae_cfg_load_string(text, "t.yaml", &cfg, &err), MVAE_OK);
    sec = mvae_cfg_get(mvae_cfg_root(cfg), "impartial");
    assert_int_equal(
        mvae_cfg_validate(cfg, sec, mvae_impartial_schema, "train.impartial", NULL, &err), MVAE_OK);
    assert_int_equal(mvae_impartial_check_cfg(sec, &err), MVAE_OK);
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    assert_int_equal(mvae_impartial_new_cfg(sec, 3, &r, &b, &err), MVAE_OK);
    assert_string_equal(mvae_impartial_name(b), "gradnorm+pcgrad");
    assert_true(mvae_impartial_setting(b, "gradnorm.alpha") == 0);
    assert_true(mvae_impartial_setting(b, "alpha") == 0);
    mvae_impartial_free(b);
    mvae_cfg_free(cfg);
    /* a typo in the method (caught by check_cfg), a value out of range (by the schema), a setting
     * of another method, each with file:line:col */
    const char *bad[] = {
        "impartial:\n  method: pcgard\n", "impartial:\n  method: cagrad\n  cagrad: {c: -2}\n",
        "impartial:\n  method: gradnorm+pcgard\n",
        "impartial:\n  method: nsgd\n  nsgd: {update_at: 3}\n  gradnorm: {alph: 1}\n"};
    const char *want[] = {
        "t.yaml:2:11: impartial: unknown method 'pcgard' (did you mean 'pcgrad'?)", "t.yaml:3",
        "did you mean 'pcgrad'?", "did you mean 'alpha'?"};
    for (int i = 0; i < 4; i++) {
        mvae_error_clear(&err);
        assert_int_equal(mvae_cfg_load_string(bad[i], "t.yaml", &cfg, &err), MVAE_OK);
        sec = mvae_cfg_get(mvae_cfg_root(cfg), "impartial");
        int rc = mvae_cfg_validate(cfg, sec, mvae_impartial_schema, "train.impartial", NULL, &err);
        if (!rc) rc = mvae_impartial_check_cfg(sec, &err);
        assert_int_not_equal(rc, MVAE_OK);
        if (!strstr(err.msg, want[i])) fprintf(stderr, "'%s' lacks '%s'\n", err.msg, want[i]);
        assert_non_null(strstr(err.msg, want[i]));
        mvae_cfg_free(cfg);
    }
}

/* ---- chains (the reference's Compose) ------------------------------------------------------ */
static void test_chains(void **state) {
    (void)state;
    /* gradnorm (alpha 0, at its fixed point) then pcgrad = pcgrad on the reweighted gradients */
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    mvae_impartial *b = mk("gradnorm:alpha=0+pcgrad:norm_restore=false", 2, &r);
    assert_int_equal(mvae_impartial_state_size(b), 12);
    float *st = mvae_impartial_state(b);
    st[0] = (float)log(1.1846606);
    st[1] = (float)log(0.8153394);
    float out[3], h1[3], h2[3], want[3];
    comb(b, 2, 3, (const float *[]){J1, J2}, out);
    mvae_impartial_free(b);
    for (int i = 0; i < 3; i++) {
        h1[i] = (float)(1.1846606 * J1[i]);
        h2[i] = (float)(0.8153394 * J2[i]);
    }
    b = mk("pcgrad:norm_restore=false", 2, &r);
    comb(b, 2, 3, (const float *[]){h1, h2}, want);
    mvae_impartial_free(b);
    near(out, (double[]){want[0], want[1], want[2]}, 3, 1e-5);
    /* nsgd then pcgrad, restored: pcgrad on the unit gradients, restored */
    on_J("nsgd+pcgrad", out, NULL);
    float u1[3], u2[3];
    for (int i = 0; i < 3; i++) {
        u1[i] = J1[i] / (float)sqrt(18.0);
        u2[i] = J2[i] / (float)sqrt(38.0);
    }
    b = mk("pcgrad", 2, &r);
    comb(b, 2, 3, (const float *[]){u1, u2}, want);
    mvae_impartial_free(b);
    double n = normf(want, 3);
    for (int i = 0; i < 3; i++)
        want[i] = (float)(want[i] / n * sqrt(12.0)); /* ||g1 + g2|| = sqrt(12) */
    near(out, (double[]){want[0], want[1], want[2]}, 3, 1e-5);
    /* a one-method chain is the method; none in a chain is the identity */
    float a[3], c[3];
    on_J("none+imtl_g", a, NULL);
    on_J("imtl_g", c, NULL);
    near(a, (double[]){c[0], c[1], c[2]}, 3, 1e-6);
    expect_new_error("graddrop+pcgrad", 2, &r, "cannot be chained");
    b = mk("cagrad:c=1e+1+pcgrad", 2, &r); /* an exponent's sign is not a '+' of the chain */
    assert_true(mvae_impartial_setting(b, "c") == 10);
    assert_string_equal(mvae_impartial_name(b), "cagrad+pcgrad");
    mvae_impartial_free(b);
    expect_new_error("gradnorm+pcgrd", 2, &r, "did you mean 'pcgrad'?");
    expect_new_error("nsgd+gradnorm:update_at=3.5", 2, &r, "gradnorm.update_at");
}

/* ---- the op in a graph ---------------------------------------------------------------------- */
static const float *cval(mvae_ctx *ctx, int n, float base) {
    float *p = mvae_ctx_alloc(ctx, (size_t)n * sizeof *p);
    for (int i = 0; i < n; i++) p[i] = base + 0.37f * (float)((i * 7) % 5) - 0.5f;
    return p;
}

/* loss = sum_k sum(branch_k * a_k)^2-ish terms + an outside reader of z: sum(z * z) */
static mvae_tensor *graph_loss(mvae_ctx *ctx, mvae_tensor *x, mvae_impartial *blk, bool with_block,
                               bool outside, mvae_tensor **z_out, mvae_tensor ***br_out) {
    int64_t sh[2] = {x->shape[0], x->shape[1]};
    mvae_tensor *c = mvae_tensor_wrap(ctx, 2, sh, (float *)cval(ctx, (int)x->n, 1.0f));
    mvae_tensor *z = mvae_mul(ctx, x, c);
    mvae_tensor **br = NULL;
    if (with_block) br = mvae_impartial_fanout(ctx, blk, z);
    mvae_tensor *loss = NULL;
    for (int k = 0; k < 3; k++) {
        mvae_tensor *zk = with_block ? br[k] : z;
        mvae_tensor *a = mvae_tensor_wrap(ctx, 2, sh, (float *)cval(ctx, (int)x->n, (float)k - 1));
        mvae_tensor *t = k == 1 ? mvae_sum_all(ctx, mvae_square(ctx, mvae_add(ctx, zk, a)))
                                : mvae_sum_all(ctx, mvae_mul(ctx, zk, a));
        loss = loss ? mvae_add(ctx, loss, t) : t;
    }
    if (outside) loss = mvae_add(ctx, loss, mvae_sum_all(ctx, mvae_mul(ctx, z, z)));
    if (z_out) *z_out = z;
    if (br_out) *br_out = br;
    return loss;
}

static void test_graph_none_equals_plain(void **state) {
    (void)state;
    mvae_rng r;
    mvae_rng_seed(&r, 41);
    for (int outside = 0; outside < 2; outside++) {
        float grads[2][12];
        for (int with = 0; with < 2; with++) {
            mvae_ctx *ctx = mvae_ctx_new(0);
            mvae_rng rr = r;
            mvae_tensor *x = mvae_test_rand(ctx, &rr, 2, (int64_t[]){4, 3}, -1, 1, 1);
            mvae_impartial *blk = mk("none", 3, NULL);
            mvae_tensor *loss = graph_loss(ctx, x, blk, with, outside, NULL, NULL);
            assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
            memcpy(grads[with], x->grad, sizeof grads[with]);
            mvae_impartial_free(blk);
            mvae_ctx_free(ctx);
        }
        assert_memory_equal(grads[0], grads[1], sizeof grads[0]);
    }
}

/* pcgrad in the graph: z's gradient = combine(branch gradients) + the outside reader's 2z,
 * x's = c * that; one backward. */
static void test_graph_outside_reader(void **state) {
    (void)state;
    mvae_rng r, rd;
    mvae_rng_seed(&r, 43);
    mvae_rng_seed(&rd, 44);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_tensor *x = mvae_test_rand(ctx, &rd, 2, (int64_t[]){4, 3}, -1, 1, 1);
    mvae_rng r_before = r;
    mvae_impartial *blk = mk("pcgrad", 3, &r);
    mvae_tensor *z, **br;
    mvae_tensor *loss = graph_loss(ctx, x, blk, true, true, &z, &br);
    mvae_retain_grad(z);
    for (int k = 0; k < 3; k++) mvae_retain_grad(br[k]);
    size_t tape = mvae_ctx_tape_len(ctx);
    assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
    assert_int_equal(mvae_ctx_tape_len(ctx), tape); /* one pass, nothing re-recorded */
    const float *g[3] = {br[0]->grad, br[1]->grad, br[2]->grad};
    float want[12];
    mvae_rng r2 = r_before;
    mvae_impartial *ref = mk("pcgrad", 3, &r2);
    comb(ref, 3, 12, g, want);
    for (int i = 0; i < 12; i++) want[i] += 2 * z->data[i];
    for (int i = 0; i < 12; i++) {
        assert_true(fabsf(z->grad[i] - want[i]) <= 1e-5f * (1 + fabsf(want[i])));
        float c = z->data[i] / x->data[i];
        assert_true(fabsf(x->grad[i] - c * want[i]) <= 1e-4f * (1 + fabsf(want[i])));
    }
    /* the combination really changed something here (the branches conflict) */
    float plain[12];
    for (int i = 0; i < 12; i++) plain[i] = g[0][i] + g[1][i] + g[2][i] + 2 * z->data[i];
    double diff = 0;
    for (int i = 0; i < 12; i++) diff += fabs(plain[i] - z->grad[i]);
    mvae_impartial_stats st;
    mvae_impartial_stats_get(blk, &st);
    assert_int_equal(st.calls, 1);
    if (st.conflict_frac > 0) assert_true(diff > 1e-4);
    mvae_impartial_free(ref);
    mvae_impartial_free(blk);
    mvae_ctx_free(ctx);
}

/* linear layers around the block: the same gradients with recycle_values on and off; a second
 * backward over the same tape (no recycling) combines again. */
static void test_graph_recycle_and_repeat(void **state) {
    (void)state;
    float gW[2][6 * 4];
    for (int rec = 0; rec < 2; rec++) {
        mvae_ctx *ctx = mvae_ctx_new(0);
        mvae_ctx_set_recycle_values(ctx, rec);
        mvae_rng rd;
        mvae_rng_seed(&rd, 51);
        mvae_tensor *x = mvae_test_rand(ctx, &rd, 2, (int64_t[]){5, 4}, -1, 1, 0);
        mvae_tensor *W = mvae_test_rand(ctx, &rd, 2, (int64_t[]){6, 4}, -1, 1, 1);
        mvae_tensor *V[2];
        for (int k = 0; k < 2; k++) V[k] = mvae_test_rand(ctx, &rd, 2, (int64_t[]){3, 6}, -1, 1, 1);
        mvae_impartial *blk = mk("imtl_g", 2, NULL);
        mvae_tensor *h = mvae_linear(ctx, x, W, NULL);
        mvae_tensor **br = mvae_impartial_fanout(ctx, blk, h);
        mvae_tensor *loss =
            mvae_add(ctx, mvae_sum_all(ctx, mvae_square(ctx, mvae_linear(ctx, br[0], V[0], NULL))),
                     mvae_mean_all(ctx, mvae_tanh(ctx, mvae_linear(ctx, br[1], V[1], NULL))));
        loss = mvae_add(ctx, loss, mvae_mean_all(ctx, mvae_square(ctx, h)));
        assert_non_null(loss);
        assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
        memcpy(gW[rec], W->grad, sizeof gW[rec]);
        if (!rec) { /* second pass: the seed is added again (loss grad 2), so W's grad triples */
            assert_int_equal(mvae_backward(ctx, loss), MVAE_OK);
            for (int i = 0; i < 24; i++)
                assert_true(fabsf(W->grad[i] - 3 * gW[0][i]) <= 1e-5f * (1 + fabsf(gW[0][i])));
        }
        mvae_impartial_free(blk);
        mvae_ctx_free(ctx);
    }
    assert_memory_equal(gW[0], gW[1], sizeof gW[0]);
}

/* ---- gradcheck: through the node with method none -------------------------------------------- */
static mvae_tensor *gc_build(mvae_ctx *ctx, mvae_tensor **in, void *user) {
    mvae_impartial *blk = user;
    mvae_tensor **br = mvae_impartial_fanout(ctx, blk, in[0]);
    if (!br) return NULL;
    mvae_tensor *t0 = mvae_mul(ctx, br[0], in[1]);
    mvae_tensor *t1 = mvae_square(ctx, br[1]);
    mvae_tensor *t2 = mvae_tanh(ctx, br[2]);
    return mvae_add(ctx, mvae_add(ctx, t0, t1), mvae_add(ctx, t2, mvae_exp(ctx, in[0])));
}

MVAE_GRADCHECK_OP(impartial)
static void gradcheck_impartial(void **state) {
    (void)state;
    mvae_ctx *data = mvae_ctx_new(0);
    mvae_rng r;
    mvae_rng_seed(&r, 61);
    mvae_tensor *in[2] = {mvae_test_rand(data, &r, 2, (int64_t[]){3, 4}, -1, 1, 1),
                          mvae_test_rand(data, &r, 2, (int64_t[]){3, 4}, -1, 1, 1)};
    mvae_impartial *blk = mk("none", 3, NULL);
    assert_int_equal(mvae_gradcheck("impartial", gc_build, 2, in, blk, (mvae_gc_opts){0}), 0);
    mvae_impartial_free(blk);
    mvae_ctx_free(data);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none_bit_exact),
        cmocka_unit_test(test_pcgrad_values),
        cmocka_unit_test(test_pcgrad_no_conflict),
        cmocka_unit_test(test_imtl_g_values),
        cmocka_unit_test(test_nsgd_values),
        cmocka_unit_test(test_gradnorm),
        cmocka_unit_test(test_mgda),
        cmocka_unit_test(test_cagrad),
        cmocka_unit_test(test_gradvac),
        cmocka_unit_test(test_graddrop),
        cmocka_unit_test(test_nash_mtl),
        cmocka_unit_test(test_aligned_mtl),
        cmocka_unit_test(test_norm_restoration),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_diagnostics),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_yaml),
        cmocka_unit_test(test_chains),
        cmocka_unit_test(test_graph_none_equals_plain),
        cmocka_unit_test(test_graph_outside_reader),
        cmocka_unit_test(test_graph_recycle_and_repeat),
        cmocka_unit_test(gradcheck_impartial),
    };
    return mvae_test_run("impartial", tests, argc, argv);
}
