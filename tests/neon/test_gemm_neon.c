/* test_gemm_neon.c — the ARM64 NEON GEMM kernels (core/src/gemm_neon.c) and the portable ones
 * (gemm_generic.c) against a naive double-precision loop, built with Debian's aarch64 cross compiler
 * and run under qemu-aarch64 by scripts/neon.sh (correctness only: qemu says nothing of speed).
 *
 * Stand-alone: no cmocka, OpenBLAS or libmvae for ARM64 are needed; it links the two kernel files
 * with its own mvae_gemm_pack_buffers. What it cannot cover here — the thread split and beta — is
 * ISA-independent code in gemm.c, tested on x86-64 by tests/test_gemm.c. Exit status 0 = pass.
 */
#include "gemm_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__aarch64__)
#error "build this for AArch64 (scripts/neon.sh)"
#endif
extern const mvae_gemm_impl mvae_gemm_impl_neon;

static float *g_pa, *g_pb;
static size_t g_na, g_nb;
void mvae_gemm_pack_buffers(size_t na, size_t nb, float **pa, float **pb) {
    if (g_na < na) {
        free(g_pa);
        g_pa = aligned_alloc(64, (na + 16) * sizeof(float));
        g_na = na;
    }
    if (g_nb < nb) {
        free(g_pb);
        g_pb = aligned_alloc(64, (nb + 16) * sizeof(float));
        g_nb = nb;
    }
    *pa = g_pa;
    *pb = g_pb;
}

static uint64_t rng = 88172645463325252ull;
static float urand(void) { /* xorshift64, uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (2.0 / 16777216.0) - 1.0);
}

static int failures, cases;

/* C = alpha op(A) op(B) (+ C when accumulate) (+ bias), by impl on columns [j_begin, j_end) split
 * in two jobs at a multiple of nr (as two threads would), against the naive loop */
static void check(const mvae_gemm_impl *impl, int ta, int tb, int M, int N, int K, float alpha, int accumulate,
                  int with_bias) {
    int lda = ta ? M : K, ldb = tb ? K : N, ldc = N + 3;
    float *A = malloc(sizeof(float) * (size_t)M * K + 4), *B = malloc(sizeof(float) * (size_t)K * N + 4);
    float *C = malloc(sizeof(float) * (size_t)M * ldc), *bias = malloc(sizeof(float) * (size_t)N);
    double *R = malloc(sizeof(double) * (size_t)M * ldc);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = urand();
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = urand();
    for (int j = 0; j < N; j++) bias[j] = urand();
    for (size_t i = 0; i < (size_t)M * ldc; i++) {
        C[i] = accumulate ? urand() : NAN; /* store mode must never read C */
        R[i] = C[i];
    }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                     (tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
            R[(size_t)i * ldc + j] = alpha * s + (with_bias ? bias[j] : 0) + (accumulate ? R[(size_t)i * ldc + j] : 0);
        }
    int split = N / 2 / impl->nr * impl->nr;
    for (int part = 0; part < 2; part++) {
        mvae_gemm_job g = {ta, tb, M, N, K, lda, ldb, ldc, alpha, A, B, C, part ? split : 0, part ? N : split,
                           !accumulate, with_bias ? bias : NULL};
        if (g.j_end > g.j_begin) impl->run(&g);
    }
    double md = 0;
    int bad_pad = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            float c = C[(size_t)i * ldc + j];
            double r = R[(size_t)i * ldc + j];
            if (j >= N) bad_pad |= memcmp(&c, &(float){(float)r}, sizeof c) != 0 && !(isnan(c) && isnan(r));
            else md = fmax(md, isfinite(c) ? fabs(c - r) : INFINITY);
        }
    double tol = 1e-5 * (K + 1) + 1e-6;
    cases++;
    if (md > tol || bad_pad) {
        failures++;
        fprintf(stderr, "FAIL %s %c%c M=%d N=%d K=%d alpha=%g acc=%d bias=%d: max diff %.3g (tol %.3g)%s\n",
                impl->name, ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, accumulate, with_bias, md, tol,
                bad_pad ? ", padding written" : "");
    }
    free(A);
    free(B);
    free(C);
    free(bias);
    free(R);
}

int main(void) {
    static const int shapes[][3] = {{1, 1, 1},     {8, 8, 1},     {9, 9, 7},      {7, 17, 300},  {100, 64, 512},
                                    {129, 70, 33}, {5, 100, 3},   {1, 300, 1},    {300, 1, 5},   {33, 1025, 257},
                                    {64, 16, 980}, {16, 98, 64},  {100, 512, 78}, {2, 2, 513},   {130, 10, 40}};
    const mvae_gemm_impl *impls[] = {&mvae_gemm_impl_neon, &mvae_gemm_impl_generic};
    for (int m = 0; m < 2; m++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++)
                    check(impls[m], ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], s % 4 == 3 ? 0.5f : 1.0f,
                          (int)(s % 2), (int)((s / 2) % 2));
    printf("gemm_neon: %d cases, %d failures (neon and generic kernels against a naive loop)\n", cases, failures);
    return failures ? 1 : 0;
}
