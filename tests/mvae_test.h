/* mvae_test.h — shared helpers for the cmocka tests (header-only).
 *
 *   int main(int argc, char **argv) {
 *       const struct CMUnitTest tests[] = { cmocka_unit_test(test_x), ... };
 *       return mvae_test_run("ops", tests, argc, argv);
 *   }
 *
 * Argument handling: `test_exe gradcheck_<op>` runs only that test (CTest's gradcheck.<op>);
 * `test_exe --no-gradcheck` runs all tests whose name does not start with gradcheck_.
 */
#ifndef MVAE_TEST_H
#define MVAE_TEST_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mvae/ops.h"
#include "mvae/rng.h"

#define mvae_test_run(group, tests, argc, argv)                                                    \
    (mvae_test_filters_((argc), (argv)), cmocka_run_group_tests_name((group), (tests), NULL, NULL))

static inline void mvae_test_filters_(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-gradcheck") == 0)
            cmocka_set_skip_filter("gradcheck_*");
        else
            cmocka_set_test_filter(argv[i]);
    }
}

/* Marker for CMake: registers CTest test gradcheck.<op> running the cmocka test gradcheck_<op>.
 * Write it at the start of a line, once per op, e.g.  MVAE_GRADCHECK_OP(swish)
 * It expands to nothing. */
#define MVAE_GRADCHECK_OP(op)

/* Assert that `text` contains `needle`; when not, print both (the failure names the caller's
 * line). */
#define mvae_assert_has(text, needle) mvae_assert_has_((text), (needle), __FILE__, __LINE__)
static inline void mvae_assert_has_(const char *text, const char *needle, const char *file, int line) {
    bool has = text && strstr(text, needle);
    if (!has) fprintf(stderr, "text:\n%s\nexpected to contain: %s\n", text ? text : "(null)", needle);
    _assert_true(has, "text contains needle", file, line);
}

/* A tensor in ctx filled from the rng: uniform in [lo, hi), optionally needing a gradient. */
static inline mvae_tensor *mvae_test_rand(mvae_ctx *ctx, mvae_rng *r, int ndim, const int64_t *shape,
                                          float lo, float hi, int requires_grad) {
    mvae_tensor *t = mvae_tensor_new(ctx, ndim, shape);
    mvae_rng_uniform_fill(r, t->data, (size_t)t->n, lo, hi);
    if (requires_grad) mvae_tensor_requires_grad(t);
    return t;
}

/* ---------------------------------------------------------------------------------------------
 * Finite-difference gradient check.
 *
 * `build` makes the op's output from the inputs, in the work context. The check computes the
 * scalar L = sum(out * R) for a fixed random R, the analytic gradient of L w.r.t. every input that
 * needs a gradient (one backward pass seeded with R), and the central difference
 * (L(x+h) - L(x-h)) / 2h per element (accumulated in double), and asserts
 *   |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|)
 * for each element. Inputs live in their own context (data ctx) and are perturbed in place.
 * ------------------------------------------------------------------------------------------- */
typedef mvae_tensor *(*mvae_gc_build)(mvae_ctx *ctx, mvae_tensor **in, void *user);

typedef struct mvae_gc_opts {
    float h;    /* step (default 1e-3) */
    float atol; /* default 2e-3 */
    float rtol; /* default 2e-2 */
} mvae_gc_opts;

static inline double mvae_gc_eval_(mvae_gc_build build, mvae_tensor **in, void *user,
                                   const float *R, int64_t n_out) {
    mvae_ctx *w = mvae_ctx_new(1 << 20);
    bool old = mvae_ctx_set_grad(w, false);
    mvae_tensor *out = build(w, in, user);
    assert_non_null(out);
    assert_int_equal(out->n, n_out);
    double L = 0;
    for (int64_t i = 0; i < out->n; i++) L += (double)out->data[i] * R[i];
    mvae_ctx_set_grad(w, old);
    mvae_ctx_free(w);
    return L;
}

/* Returns the number of mismatching elements (0 = pass); prints the first few. */
static inline int mvae_gradcheck(const char *name, mvae_gc_build build, int n_in, mvae_tensor **in,
                                 void *user, mvae_gc_opts opts) {
    if (opts.h == 0) opts.h = 1e-3f;
    if (opts.atol == 0) opts.atol = 2e-3f;
    if (opts.rtol == 0) opts.rtol = 2e-2f;
    mvae_ctx *w = mvae_ctx_new(1 << 20);
    mvae_tensor *out = build(w, in, user);
    if (!out) fprintf(stderr, "gradcheck %s: build failed: %s\n", name, mvae_ctx_error(w));
    assert_non_null(out);
    int64_t n_out = out->n;
    float *R = malloc((size_t)n_out * sizeof(float));
    mvae_rng r;
    mvae_rng_seed(&r, 4242);
    mvae_rng_uniform_fill(&r, R, (size_t)n_out, -1.0f, 1.0f);
    /* analytic: input grads are arena memory of w; clear stale grads first */
    for (int k = 0; k < n_in; k++) in[k]->grad = NULL;
    int rc = mvae_backward_seeded(w, out, R);
    if (rc != MVAE_OK) fprintf(stderr, "gradcheck %s: backward failed: %s\n", name, mvae_ctx_error(w));
    assert_int_equal(rc, MVAE_OK);
    int bad = 0, checked = 0;
    for (int k = 0; k < n_in; k++) {
        mvae_tensor *t = in[k];
        if (!mvae_needs_grad(t)) continue;
        float *ga = malloc((size_t)t->n * sizeof(float));
        if (t->grad)
            memcpy(ga, t->grad, (size_t)t->n * sizeof(float));
        else
            memset(ga, 0, (size_t)t->n * sizeof(float));
        for (int64_t i = 0; i < t->n; i++) {
            float x0 = t->data[i];
            t->data[i] = x0 + opts.h;
            double lp = mvae_gc_eval_(build, in, user, R, n_out);
            t->data[i] = x0 - opts.h;
            double lm = mvae_gc_eval_(build, in, user, R, n_out);
            t->data[i] = x0;
            double num = (lp - lm) / (2.0 * opts.h);
            double an = ga[i];
            double tol = opts.atol + opts.rtol * fmax(fabs(an), fabs(num));
            checked++;
            if (!(fabs(an - num) <= tol)) {
                if (bad < 8)
                    fprintf(stderr, "gradcheck %s: input %d element %lld: analytic %.6g numeric %.6g\n",
                            name, k, (long long)i, an, num);
                bad++;
            }
        }
        free(ga);
    }
    assert_true(checked > 0);
    free(R);
    for (int k = 0; k < n_in; k++) in[k]->grad = NULL;
    mvae_ctx_free(w);
    return bad;
}

/* Compare two float arrays; prints the worst element. Returns max abs diff. */
static inline double mvae_test_maxdiff(const float *a, const float *b, int64_t n, double *scale) {
    double md = 0, ms = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > md) md = d;
        if (fabs(b[i]) > ms) ms = fabs(b[i]);
    }
    if (scale) *scale = ms;
    return md;
}
#endif
