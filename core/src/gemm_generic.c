/* gemm_generic.c — mvae's portable GEMM kernels: plain C, compiled for the baseline of the target
 * (on x86-64 with -mno-sse3, i.e. SSE2 only, whatever the rest of the build targets), so they run
 * on any CPU. MVAE_ISA=generic selects them; they are the reference the ISA kernels are compared
 * with in tests/test_gemm.c besides OpenBLAS. Not fast: a CPU without AVX2 uses OpenBLAS by default.
 *
 * A 4 x 8 register block (8 SSE registers of accumulators; the compiler vectorises the column
 * loop), the same loops and packing layout as the other kernel sets (gemm_driver.h), the scalar packing
 * shared with gemm_neon.c (gemm_pack_scalar.h).
 */
#include "gemm_internal.h"

#define MR 4
#define NR 8
#define KC 256
#define MC 64
#define NC 1024

#include "gemm_pack_scalar.h" /* pack_a, pack_b */

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

const mvae_gemm_impl mvae_gemm_impl_generic = {"mvae-generic", NR, MR, gemm_run_generic};
