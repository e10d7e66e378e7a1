/* gemm_driver.h — the BLIS loop nest around a micro-kernel, included once by each kernel set that
 * uses it (gemm_avx2.c, gemm_generic.c, gemm_neon.c), compiled with that set's target flags.
 *
 * The five loops of Goto & van de Geijn 2008 ("Anatomy of high-performance matrix
 * multiplication") as BLIS arranges them (Van Zee & van de Geijn 2015): for each NC-column block
 * of C, for each KC-deep slice, pack op(B)[KC, NC] into NR-column panels (stays in L2/L3); for each
 * MC-row block pack alpha op(A)[MC, KC] into MR-row panels (stays in L2); then every NR-column
 * panel of B (in L1 while it is reused) meets every MR-row panel of A in the micro-kernel, which
 * keeps the MR x NR tile of C in registers for the whole KC loop.
 *
 * The includer defines MR, NR, KC, MC (a multiple of MR), NC, GEMM_RUN (the function's name) and
 *   static void pack_a(int transA, const float *A, int lda, int i0, int mc, int k0, int kc,
 *                      float alpha, float *pa);  // MR-row panels pa[p][k][ii], zero-padded rows
 *   static void pack_b(int transB, const float *B, int ldb, int k0, int kc, int j0, int nc,
 *                      float *pb);               // NR-column panels pb[p][k][jj], zero-padded
 *   static void micro_kernel(int mr, int nr, int kc, const float *pa, const float *pb, float *C,
 *                            int ldc, int store, const float *bias);
 * micro_kernel: C[0:mr, 0:nr] (+)= pa (MR x kc panel) * pb (kc x NR panel); store = write instead of
 * add (the first k block of a beta = 0 product); bias (NULL or [nr]) is added to every row once.
 */
#ifndef GEMM_RUN
#error "define GEMM_RUN and the kernel set's functions before including gemm_driver.h"
#endif
_Static_assert(MC % MR == 0, "MC is a multiple of MR");

static void GEMM_RUN(const mvae_gemm_job *g) {
    float *pa, *pb;
    mvae_gemm_pack_buffers((size_t)MC * KC, (size_t)KC * (NC + NR), &pa, &pb);
    for (int j0 = g->j_begin; j0 < g->j_end; j0 += NC) {
        int nc = g->j_end - j0 < NC ? g->j_end - j0 : NC;
        for (int k0 = 0; k0 < g->K; k0 += KC) {
            int kc = g->K - k0 < KC ? g->K - k0 : KC;
            pack_b(g->transB, g->B, g->ldb, k0, kc, j0, nc, pb);
            for (int i0 = 0; i0 < g->M; i0 += MC) {
                int mc = g->M - i0 < MC ? g->M - i0 : MC;
                pack_a(g->transA, g->A, g->lda, i0, mc, k0, kc, g->alpha, pa);
                for (int jp = 0; jp < nc; jp += NR) {
                    int nr = nc - jp < NR ? nc - jp : NR;
                    const float *bias = g->bias && k0 == 0 ? g->bias + j0 + jp : NULL;
                    for (int ip = 0; ip < mc; ip += MR) {
                        int mr = mc - ip < MR ? mc - ip : MR;
                        float *c = g->C + (size_t)(i0 + ip) * g->ldc + j0 + jp;
                        micro_kernel(mr, nr, kc, pa + (size_t)ip * kc, pb + (size_t)jp * kc, c, g->ldc,
                                     g->overwrite && k0 == 0, bias);
                    }
                }
            }
        }
    }
}
