/* gemm_pack_scalar.h — the plain C packing routines of gemm_driver.h, shared by the kernel sets that
 * have no vector packing of their own (gemm_generic.c, gemm_neon.c). Included once per kernel set,
 * after it defines MR and NR, and compiled with that set's target flags (the compiler vectorises
 * the inner loops for the set's ISA).
 *
 * Layout (gemm_driver.h): A into MR-row panels pa[p][k][ii] (alpha applied, rows past mc zero),
 * B into NR-column panels pb[p][k][jj] (columns past nc zero).
 */
#if !defined(MR) || !defined(NR)
#error "define MR and NR before including gemm_pack_scalar.h"
#endif

/* alpha op(A)[i0:i0+mc, k0:k0+kc] into MR-row panels pa[p][k][ii], zero-padded rows */
static void pack_a(int transA, const float *A, int lda, int i0, int mc, int k0, int kc, float alpha, float *pa) {
    for (int ip = 0; ip < mc; ip += MR) {
        int mr = mc - ip < MR ? mc - ip : MR;
        float *dst = pa + (size_t)ip * kc;
        for (int k = 0; k < kc; k++)
            for (int ii = 0; ii < MR; ii++) {
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
