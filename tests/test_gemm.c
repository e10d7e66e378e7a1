/* test_gemm.c — mvae's GEMM against OpenBLAS's cblas_sgemm: every kernel set this CPU runs (generic
 * and AVX2 on any AVX2 machine, AVX-512 where present; the others are skipped with a message),
 * the same products across kernel sets, MVAE_ISA's errors, the thread pool and the thread rule. */
#include "mvae_test.h"
#include "gemm_internal.h"
#include "mvae/isa.h"

#include <cblas.h>
#include <pthread.h>

/* mvae_sgemm (or mvae_sgemm_bias with a random bias row when bias) against cblas_sgemm (plus the
 * bias added row by row) */
static void check_case_b(mvae_rng *r, int ta, int tb, int M, int N, int K, float alpha, float beta, int threads,
                         bool bias) {
    int lda = ta ? M : K, ldb = tb ? K : N, ldc = N + 3; /* ldc > N: strided C */
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = malloc(na * 4), *B = malloc(nb * 4), *C1 = malloc(nc * 4), *C2 = malloc(nc * 4);
    mvae_rng_uniform_fill(r, A, na, -1, 1);
    mvae_rng_uniform_fill(r, B, nb, -1, 1);
    mvae_rng_uniform_fill(r, C1, nc, -1, 1);
    if (beta == 0.0f) C1[0] = C1[nc / 2] = NAN; /* beta = 0: C's old values are never read */
    memcpy(C2, C1, nc * 4);
    float *bv = bias ? malloc((size_t)N * 4) : NULL;
    if (bv) mvae_rng_uniform_fill(r, bv, (size_t)N, -1, 1);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
                lda, B, ldb, beta, C1, ldc);
    if (bv)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C1[(size_t)i * ldc + j] += bv[j];
    mvae_gemm_set_threads(threads);
    mvae_sgemm_bias(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc, bv);
    mvae_gemm_set_threads(1);
    double md = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            double d = fabs((double)C1[(size_t)i * ldc + j] - C2[(size_t)i * ldc + j]);
            if (j >= N) /* padding untouched (NaN included) */
                assert_true(memcmp(&C1[(size_t)i * ldc + j], &C2[(size_t)i * ldc + j], sizeof(float)) == 0);
            if (j < N) assert_true(isfinite(C2[(size_t)i * ldc + j]));
            if (d > md) md = d;
        }
    double tol = 1e-5 * (K + 1) + 1e-6;
    if (md > tol)
        fprintf(stderr, "gemm %c%c M=%d N=%d K=%d alpha=%g beta=%g threads=%d: max diff %.3g > %.3g\n", ta ? 'T' : 'N',
                tb ? 'T' : 'N', M, N, K, alpha, beta, threads, md, tol);
    assert_true(md <= tol);
    free(A);
    free(B);
    free(C1);
    free(C2);
    free(bv);
}

static void check_case(mvae_rng *r, int ta, int tb, int M, int N, int K, float alpha, float beta, int threads) {
    check_case_b(r, ta, tb, M, N, K, alpha, beta, threads, false);
}

/* Use the ISA's own kernels for the rest of the test; false (and a message) where the CPU or the
 * build cannot run them. */
static bool use_isa(mvae_isa_kind isa) {
    mvae_error err = {0};
    if (mvae_isa_set(isa, &err) != MVAE_OK) {
        fprintf(stderr, "[ SKIPPED  ] %s kernels: %s\n", mvae_isa_name(isa), err.msg);
        return false;
    }
    assert_int_equal(mvae_gemm_backend(), 1);
    char want[32];
    snprintf(want, sizeof want, "mvae-%s", mvae_isa_name(isa));
    assert_string_equal(mvae_gemm_backend_name(), want);
    return true;
}

/* back to what the environment decides */
static void restore_isa(void) {
    mvae_error err = {0};
    assert_int_equal(mvae_isa_init(&err), MVAE_OK);
    mvae_gemm_force_backend(-1);
}

static void gemm_matches_blas(mvae_isa_kind isa) {
    if (!use_isa(isa)) {
        restore_isa();
        skip();
    }
    mvae_rng r;
    mvae_rng_seed(&r, 11);
    /* edge shapes around every kernel set's tiles (12 x 32, 6 x 16, 4 x 8) and blocks (MC 96 / 120
     * / 64, KC 256, NC 1024), k = 1, and the MVAE's shapes (MLP: 100 x 784 x 512 and its backward;
     * CNN im2col: 64 x 784 x 16, 128 x 4900 x 1024 cut down) */
    static const int shapes[][3] = {{1, 1, 1},       {12, 32, 1},     {13, 33, 7},     {11, 31, 300},
                                    {100, 512, 784}, {100, 784, 512}, {512, 784, 100}, {200, 512, 64},
                                    {97, 1025, 257}, {300, 10, 512},  {5, 100, 3},     {1000, 64, 512},
                                    {120, 40, 20},   {121, 40, 20},   {23, 33, 9},     {241, 70, 260},
                                    {6, 16, 8},      {7, 17, 9},      {1, 300, 1},     {300, 1, 5},
                                    {5, 9, 1},       {64, 784, 16},   {128, 490, 1024}, {2, 2, 513}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                check_case(&r, ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, (s % 3) ? 1.0f : 0.0f, 1);
    check_case(&r, 0, 1, 50, 70, 40, 0.5f, -2.0f, 1); /* alpha, beta */
    check_case(&r, 1, 0, 64, 128, 33, 1.0f, 0.25f, 1);
    check_case(&r, 1, 1, 9, 7, 5, -1.5f, 0.0f, 1);
    /* threads split the columns (in multiples of the register block), every transpose */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_case(&r, ta, tb, 100, 512, 784, 1.0f, 0.0f, 2);
            check_case(&r, ta, tb, 512, 784, 100, 1.0f, 1.0f, 2);
            check_case(&r, ta, tb, 61, 333, 200, 1.0f, 0.0f, 2); /* odd columns: a partial last block */
        }
    check_case(&r, 0, 0, 200, 100, 512, 1.0f, 1.0f, 3);
    /* threads split the rows where M > N (dW with out > in, the CNN's dcol): row counts that are and
     * are not multiples of the register block, alpha != 1 on a transposed A, 2 and 3 threads */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_case(&r, ta, tb, 784, 512, 200, 1.0f, 0.0f, 2);
            check_case(&r, ta, tb, 1000, 64, 512, 1.0f, 1.0f, 2);
            check_case(&r, ta, tb, 517, 33, 300, -0.5f, 0.0f, 3);
            check_case(&r, ta, tb, 1024, 980, 128, 1.0f, 0.0f, 2);
        }
    /* a bias row added by the kernels' first store: edge tiles, several k blocks, beta 0 and 1,
     * 1 and 2 threads, K = 0 */
    for (int threads = 1; threads <= 2; threads++) {
        check_case_b(&r, 0, 1, 100, 512, 784, 1.0f, 0.0f, threads, true);
        check_case_b(&r, 0, 1, 13, 33, 7, 1.0f, 0.0f, threads, true);
        check_case_b(&r, 1, 0, 97, 1025, 257, 0.5f, 1.0f, threads, true);
        check_case_b(&r, 0, 0, 200, 100, 600, 1.0f, 0.0f, threads, true);
        check_case_b(&r, 1, 1, 7, 21, 1, 1.0f, 1.0f, threads, true);
        check_case_b(&r, 1, 0, 785, 300, 100, 1.0f, 0.0f, threads, true); /* rows split */
    }
    check_case_b(&r, 0, 1, 7, 9, 0, 1.0f, 0.0f, 1, true);
    restore_isa();
}

static void test_gemm_generic_matches_blas(void **state) {
    (void)state;
    gemm_matches_blas(MVAE_ISA_GENERIC);
}
static void test_gemm_avx2_matches_blas(void **state) {
    (void)state;
    gemm_matches_blas(MVAE_ISA_AVX2);
}
static void test_gemm_avx512_matches_blas(void **state) {
    (void)state;
    gemm_matches_blas(MVAE_ISA_AVX512);
}
static void test_gemm_neon_matches_blas(void **state) {
    (void)state;
    gemm_matches_blas(MVAE_ISA_NEON);
}

static void test_gemm_blas_backend_bias(void **state) {
    (void)state;
    mvae_rng r;
    mvae_rng_seed(&r, 13);
    mvae_gemm_force_backend(0);
    assert_string_equal(mvae_gemm_backend_name(), "openblas");
    check_case_b(&r, 0, 1, 30, 40, 50, 1.0f, 0.0f, 1, true);
    mvae_gemm_force_backend(-1);
}

/* The same products from every kernel set the CPU runs agree within float rounding: |C_isa -
 * C_generic| <= 2e-6 (K + 1) max|C| elementwise (sums of K products in different orders and with
 * or without fused multiply-adds), on the MVAE's forward, dX and dW shapes (the last one split by
 * rows), 1 and 2 threads. */
static void test_gemm_isas_agree(void **state) {
    (void)state;
    mvae_rng r;
    mvae_rng_seed(&r, 14);
    static const int cases[][5] = {{0, 1, 100, 512, 784}, {0, 0, 100, 784, 512}, {1, 0, 512, 784, 100},
                                   {1, 1, 37, 65, 129},   {0, 1, 100, 64, 512},  {0, 0, 64, 1024, 16},
                                   {1, 0, 784, 512, 200}};
    int compared = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int ta = cases[c][0], tb = cases[c][1], M = cases[c][2], N = cases[c][3], K = cases[c][4];
        int lda = ta ? M : K, ldb = tb ? K : N;
        size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
        float *A = malloc(na * 4), *B = malloc(nb * 4), *ref = malloc(nc * 4), *C = malloc(nc * 4);
        mvae_rng_uniform_fill(&r, A, na, -1, 1);
        mvae_rng_uniform_fill(&r, B, nb, -1, 1);
        mvae_error err = {0};
        assert_int_equal(mvae_isa_set(MVAE_ISA_GENERIC, &err), MVAE_OK);
        mvae_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, ref, N);
        double amax = 0;
        for (size_t i = 0; i < nc; i++) amax = fmax(amax, fabs(ref[i]));
        for (int isa = MVAE_ISA_AVX2; isa < MVAE_ISA_COUNT; isa++) {
            if (!mvae_isa_supported((mvae_isa_kind)isa)) continue;
            assert_int_equal(mvae_isa_set((mvae_isa_kind)isa, &err), MVAE_OK);
            for (int threads = 1; threads <= 2; threads++) {
                mvae_gemm_set_threads(threads);
                mvae_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
                mvae_gemm_set_threads(1);
                double md = 0;
                for (size_t i = 0; i < nc; i++) md = fmax(md, fabs((double)C[i] - ref[i]));
                if (md > 2e-6 * (K + 1) * amax)
                    fprintf(stderr, "%s vs generic %c%c %dx%dx%d threads %d: max diff %.3g\n",
                            mvae_isa_name((mvae_isa_kind)isa), ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, threads, md);
                assert_true(md <= 2e-6 * (K + 1) * amax);
                compared++;
            }
        }
        free(A);
        free(B);
        free(ref);
        free(C);
    }
    restore_isa();
    if (!compared) {
        fprintf(stderr, "[ SKIPPED  ] only the generic kernels run on this CPU: nothing to compare\n");
        skip();
    }
}

/* MVAE_ISA: an unknown name and an ISA the CPU cannot run are errors naming the variable (and leave
 * the choice as it was); a runnable one is taken, and its kernels run. */
static void test_isa_env(void **state) {
    (void)state;
    char *old = getenv("MVAE_ISA") ? strdup(getenv("MVAE_ISA")) : NULL;
    mvae_error err = {0};
    mvae_isa_kind before = mvae_isa();
    setenv("MVAE_ISA", "avx3000", 1);
    assert_int_equal(mvae_isa_init(&err), MVAE_ERR_INVALID);
    assert_non_null(strstr(err.msg, "MVAE_ISA=avx3000"));
    assert_int_equal(mvae_isa(), before);
    for (int isa = 0; isa < MVAE_ISA_COUNT; isa++) {
        mvae_error_clear(&err);
        setenv("MVAE_ISA", mvae_isa_name((mvae_isa_kind)isa), 1);
        int rc = mvae_isa_init(&err);
        if (mvae_isa_supported((mvae_isa_kind)isa)) {
            assert_int_equal(rc, MVAE_OK);
            assert_int_equal(mvae_isa(), isa);
            assert_true(mvae_isa_forced());
            assert_int_equal(mvae_gemm_backend(), 1);
        } else { /* neon on x86-64, avx2/avx512 on ARM, avx512 on an AVX2 CPU */
            assert_int_equal(rc, MVAE_ERR_INVALID);
            assert_non_null(strstr(err.msg, "MVAE_ISA="));
            assert_non_null(strstr(err.msg, "cannot run"));
        }
    }
    if (old) setenv("MVAE_ISA", old, 1); else unsetenv("MVAE_ISA");
    restore_isa();
    if (!old) { /* unset again: the detected ISA, not forced */
        assert_int_equal(mvae_isa(), mvae_isa_detected());
        assert_false(mvae_isa_forced());
        /* the default backend: own kernels on AVX-512 only (bench/README.md: at par on AVX2) */
        if (!getenv("MVAE_GEMM")) assert_int_equal(mvae_gemm_backend(), mvae_isa_detected() == MVAE_ISA_AVX512);
    }
    free(old);
    assert_true(mvae_isa_supported(MVAE_ISA_GENERIC));
    assert_true(mvae_isa_supported(mvae_isa_detected()));
}

/* Two caller threads using the 2-thread pool at once: each product still equals OpenBLAS's. */
typedef struct caller_job { float *A, *B, *C; int M, N, K, reps; } caller_job;
static void *caller_main(void *arg) {
    caller_job *j = arg;
    for (int r = 0; r < j->reps; r++)
        mvae_sgemm(0, 1, j->M, j->N, j->K, 1.0f, j->A, j->K, j->B, j->K, 0.0f, j->C, j->N);
    return NULL;
}

static void test_gemm_concurrent_callers(void **state) {
    (void)state;
    mvae_rng r;
    mvae_rng_seed(&r, 12);
    const int M = 120, N = 512, K = 300;
    caller_job jobs[2];
    float *ref[2];
    for (int t = 0; t < 2; t++) {
        jobs[t] = (caller_job){malloc((size_t)M * K * 4), malloc((size_t)N * K * 4), malloc((size_t)M * N * 4), M, N, K, 300};
        mvae_rng_uniform_fill(&r, jobs[t].A, (size_t)M * K, -1, 1);
        mvae_rng_uniform_fill(&r, jobs[t].B, (size_t)N * K, -1, 1);
        ref[t] = malloc((size_t)M * N * 4);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, jobs[t].A, K, jobs[t].B, K, 0.0f, ref[t], N);
    }
    mvae_gemm_set_threads(2);
    pthread_t tid[2];
    for (int t = 0; t < 2; t++) assert_int_equal(pthread_create(&tid[t], NULL, caller_main, &jobs[t]), 0);
    for (int t = 0; t < 2; t++) pthread_join(tid[t], NULL);
    mvae_gemm_set_threads(1);
    for (int t = 0; t < 2; t++) {
        for (size_t i = 0; i < (size_t)M * N; i++) assert_true(fabs((double)jobs[t].C[i] - ref[t][i]) <= 1e-5 * (K + 1));
        free(jobs[t].A);
        free(jobs[t].B);
        free(jobs[t].C);
        free(ref[t]);
    }
}

/* A worker that has not started its range when the caller finishes its own does not hold the call
 * up: the caller runs that range itself (gemm.c, pool_run). With the workers held, every range of a
 * 2-thread mvae_parallel_for runs once, on the calling thread, and 2-thread products (a row and a
 * column split) still equal OpenBLAS's; released, the workers run their ranges again. */
typedef struct range_log { int hits[1000]; int off_caller; pthread_t caller; } range_log;
static void log_range(void *arg, int begin, int end) {
    range_log *l = arg;
    for (int i = begin; i < end; i++) __atomic_add_fetch(&l->hits[i], 1, __ATOMIC_RELAXED);
    if (!pthread_equal(pthread_self(), l->caller)) __atomic_add_fetch(&l->off_caller, 1, __ATOMIC_RELAXED);
}
static void test_gemm_caller_takes_unstarted(void **state) {
    (void)state;
    mvae_rng r;
    mvae_rng_seed(&r, 15);
    mvae_error err = {0};
    assert_int_equal(mvae_isa_set(mvae_isa_detected(), &err), MVAE_OK); /* own kernels: the pool */
    mvae_gemm_set_threads(2);
    for (int hold = 1; hold >= 0; hold--) {
        mvae_gemm_pool_hold_workers(hold);
        for (int rep = 0; rep < 20; rep++) {
            static range_log l;
            memset(&l, 0, sizeof l);
            l.caller = pthread_self();
            mvae_parallel_for(1000, 1, log_range, &l);
            for (int i = 0; i < 1000; i++) assert_int_equal(l.hits[i], 1);
            if (hold) assert_int_equal(l.off_caller, 0);
        }
        check_case(&r, 1, 0, 784, 512, 200, 1.0f, 0.0f, 2); /* rows */
        check_case(&r, 0, 1, 100, 512, 784, 1.0f, 1.0f, 2); /* columns */
    }
    mvae_gemm_set_threads(1);
    restore_isa();
}

static void test_gemm_backend_reported(void **state) {
    (void)state;
    const char *name = mvae_gemm_backend_name();
    assert_true(strcmp(name, "mvae-avx512") == 0 || strcmp(name, "mvae-avx2") == 0 ||
                strcmp(name, "mvae-generic") == 0 || strcmp(name, "mvae-neon") == 0 || strcmp(name, "openblas") == 0);
    /* forcing OpenBLAS gives the reference result exactly */
    int old = mvae_gemm_backend();
    mvae_gemm_force_backend(0);
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1}, C[4];
    mvae_sgemm(0, 0, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2);
    assert_true(C[0] == 4 && C[1] == 5 && C[2] == 10 && C[3] == 11);
    mvae_gemm_force_backend(old);
}

/* threads: 0 on the OpenBLAS backend is one OpenBLAS thread, unless OPENBLAS_NUM_THREADS is set or
 * a thread count was chosen (docs/design.md: its threads only slowed the MVAE's small GEMMs). */
int openblas_get_num_threads(void);
static void test_gemm_auto_threads(void **state) {
    (void)state;
    int old = mvae_gemm_backend();
    mvae_gemm_force_backend(0);
    if (!getenv("OPENBLAS_NUM_THREADS")) {
        mvae_gemm_forget_threads();
        openblas_set_num_threads(2);
        mvae_gemm_auto_threads();
        assert_int_equal(openblas_get_num_threads(), 1);
        assert_int_equal(mvae_gemm_threads(), 1);
    }
    mvae_gemm_set_threads(2); /* chosen: auto leaves it */
    mvae_gemm_auto_threads();
    assert_int_equal(mvae_gemm_threads(), 2);
    mvae_gemm_set_threads(1);
    mvae_gemm_force_backend(old);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_generic_matches_blas),
        cmocka_unit_test(test_gemm_avx2_matches_blas),
        cmocka_unit_test(test_gemm_avx512_matches_blas),
        cmocka_unit_test(test_gemm_neon_matches_blas),
        cmocka_unit_test(test_gemm_blas_backend_bias),
        cmocka_unit_test(test_gemm_isas_agree),
        cmocka_unit_test(test_isa_env),
        cmocka_unit_test(test_gemm_concurrent_callers),
        cmocka_unit_test(test_gemm_backend_reported),
        cmocka_unit_test(test_gemm_auto_threads),
        cmocka_unit_test(test_gemm_caller_takes_unstarted),
    };
    return mvae_test_run("gemm", tests, argc, argv);
}
