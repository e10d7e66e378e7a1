/* gemm_generic.c — mvae's portable GEMM kernels: plain C, compiled for the baseline of the target
 * (on x86-64 with -mno-sse3, i.e. SSE2 only, whatever the rest of the build targets), so they run
 * on any CPU. MVAE_ISA=generic selects them; they are the reference the ISA kernels are compared
 * with in tests/test_gemm.c besides OpenBLAS. Not fast: a CPU without AVX2 uses OpenBLAS by default.
 *
 * A 4 x 8 register block (8 SSE registers of accumulators; the compiler vectorises the column
 * loop), the same loops and packing layout as the other kernel sets (gemm_driver.h).
 */
#include "gemm_internal.h"

#define MR 4
#define NR 8
#define KC 256
#define MC 64
#define NC 1024

/* alpha op(A)[i0:i0+mc, k0:k0+kc] into MR-row panels pa[p][k][ii], zero-padded rows */
static void pack_a(int transA, const float *A, int lda, int i0, int mc, int k0, int kc, float alpha, float *pa) {
    for (int ip = 0; ip < mc; ip += MR) {
        int mr = mc - ip < MR ? mc - ip : MR;
        float *dst = pa + (size_t)ip * kc;
        for (int ii = 0; ii < MR; ii++)
            for (int k = 0; k < kc; k++) {
                size_t i = (size_t)(i0 + ip + ii), kk = (size_t)(k0 + k);
                dst[k * MR + ii] = ii < mr ? alpha * (transA ? A[kk * lda + i] : A[i * lda + kk]) : 0.0f;
            }
    }
}

/* op(B)[k0:k0+kc, j0:j0+nc] into NR-column panels pb[p][k][jj], zero-padded columns */
static void pack_b(int transB, const float *B, int ldb, int k0, int kc, int j0, int nc, float *pb) {
    for (int jp = 0; jp < nc; jp += NR) {
        int nr = nc - jp < NR ? nc - jp : NR;
        float *dst = pb + (size_t)jp * kc;
        for (int k = 0; k < kc; k++)
            for (int jj = 0; jj < NR; jj++) {
                size_t j = (size_t)(j0 + jp + jj), kk = (size_t)(k0 + k);
                dst[k * NR + jj] = jj < nr ? (transB ? B[j * ldb + kk] : B[kk * ldb + j]) : 0.0f;
            }
    }
}

static void micro_kernel(int mr, int nr, int kc, const float *pa, const float *pb, float *C, int ldc, int store,
                         const float *bias) {
    float acc[MR][NR] = {{0}};
    for (int k = 0; k < kc; k++) {
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += pa[i] * pb[j];
        pa += MR;
        pb += NR;
    }
    for (int i = 0; i < mr; i++) {
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < nr; j++) {
            float v = acc[i][j] + (bias ? bias[j] : 0.0f);
            c[j] = store ? v : c[j] + v;
        }
    }
}

#define GEMM_RUN gemm_run_generic
#include "gemm_driver.h"

const mvae_gemm_impl mvae_gemm_impl_generic = {"mvae-generic", NR, gemm_run_generic};
