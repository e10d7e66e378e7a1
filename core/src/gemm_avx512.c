/* gemm_avx512.c — mvae's AVX-512 GEMM kernels (compiled with -mavx512f -mfma, whatever the rest of
 * the build targets; mvae_sgemm calls them only where cpuid reports AVX-512F: isa.c).
 *
 * BLIS-style blocking (Van Zee & van de Geijn 2015; Goto & van de Geijn 2008): B is packed in
 * KC x NR column panels (NR = 32, two zmm registers), A in MR x KC row panels (MR = 12); the
 * 12 x 32 micro-kernel keeps 24 zmm accumulators in registers and reads A through embedded
 * broadcasts. Edge tiles use the same kernel with fewer rows and masked columns; transposed
 * operands are packed through 16 x 16 register transposes.
 */
#include "gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>

#define MR 12
#define NR 32
#define KC 256
#define MC 96 /* multiple of MR */
#define NC 1024

/* r[0..15] (16 rows of 16 floats) -> its transpose, in registers: unpack pairs of rows, then pairs
 * of pairs, then exchange 128-bit lanes twice. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* r[4i+j]: rows 4i..4i+3, element 4l+j in lane l */
        __m512d a0 = _mm512_castps_pd(t[4 * i]), a1 = _mm512_castps_pd(t[4 * i + 1]);
        __m512d a2 = _mm512_castps_pd(t[4 * i + 2]), a3 = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    for (int j = 0; j < 4; j++) {
        t[j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
        t[4 + j] = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
        t[8 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
    }
    for (int j = 0; j < 4; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[4 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
        r[12 + j] = _mm512_shuffle_f32x4(t[4 + j], t[12 + j], 0xdd);
    }
}

/* dst[k * ld + i] = scale * src[i * lds + k] for i < rows (<= 16), k < kc: a [rows, kc] block
 * stored transposed, 16 x 16 tiles through registers (the strided scalar loop it replaces wrote a
 * different cache line per element). Rows past `rows` read as zero; only `rows` floats of each
 * destination row are written. */
static void pack_transposed(const float *src, size_t lds, int rows, int kc, float scale, float *dst, int ld) {
    __mmask16 mrow = (__mmask16)((1u << rows) - 1);
    __m512 sc = _mm512_set1_ps(scale);
    int k = 0;
    for (; k + 16 <= kc; k += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_loadu_ps(src + i * lds + k) : _mm512_setzero_ps();
        transpose16(r);
        for (int i = 0; i < 16; i++) _mm512_mask_storeu_ps(dst + (size_t)(k + i) * ld, mrow, _mm512_mul_ps(sc, r[i]));
    }
    for (int i = 0; i < rows; i++)
        for (int kk = k; kk < kc; kk++) dst[(size_t)kk * ld + i] = scale * src[i * lds + kk];
}

/* pack op(A)[i0:i0+mc, k0:k0+kc] * alpha into MR-row panels: pa[p][k][ii], zero-padded rows */
static void pack_a(int transA, const float *A, int lda, int i0, int mc, int k0, int kc, float alpha, float *pa) {
    for (int ip = 0; ip < mc; ip += MR) {
        int mr = mc - ip < MR ? mc - ip : MR;
        float *dst = pa + (size_t)ip * kc;
        if (!transA) {
            pack_transposed(A + (size_t)(i0 + ip) * lda + k0, (size_t)lda, mr, kc, alpha, dst, MR);
        } else {
            for (int k = 0; k < kc; k++) {
                const float *src = A + (size_t)(k0 + k) * lda + i0 + ip;
                for (int ii = 0; ii < mr; ii++) dst[k * MR + ii] = alpha * src[ii];
            }
        }
        if (mr < MR)
            for (int k = 0; k < kc; k++)
                for (int ii = mr; ii < MR; ii++) dst[k * MR + ii] = 0.0f;
    }
}

/* pack op(B)[k0:k0+kc, j0:j0+nc] into NR-column panels: pb[p][k][jj], zero-padded columns */
static void pack_b(int transB, const float *B, int ldb, int k0, int kc, int j0, int nc, float *pb) {
    for (int jp = 0; jp < nc; jp += NR) {
        int nr = nc - jp < NR ? nc - jp : NR;
        float *dst = pb + (size_t)jp * kc;
        if (!transB) {
            for (int k = 0; k < kc; k++) {
                const float *src = B + (size_t)(k0 + k) * ldb + j0 + jp;
                if (nr == NR) {
                    _mm512_storeu_ps(dst + k * NR, _mm512_loadu_ps(src));
                    _mm512_storeu_ps(dst + k * NR + 16, _mm512_loadu_ps(src + 16));
                } else {
                    for (int jj = 0; jj < nr; jj++) dst[k * NR + jj] = src[jj];
                    for (int jj = nr; jj < NR; jj++) dst[k * NR + jj] = 0.0f;
                }
            }
        } else {
            for (int h = 0; h < NR; h += 16) { /* two 16-column halves of the panel */
                int rows = nr - h < 16 ? (nr - h > 0 ? nr - h : 0) : 16;
                if (rows > 0)
                    pack_transposed(B + (size_t)(j0 + jp + h) * ldb + k0, (size_t)ldb, rows, kc, 1.0f, dst + h, NR);
            }
            for (int jj = nr; jj < NR; jj++)
                for (int k = 0; k < kc; k++) dst[k * NR + jj] = 0.0f;
        }
    }
}

/* C[0:R, 0:32] += pa (R of 12 packed rows x kc) * pb (kc x 32), columns masked by m0 (0..15)
 * and m1 (16..31). Instantiated below for every R in 1..12 with R a constant, so the compiler
 * keeps the 2R accumulators in zmm registers; full tiles use R = 12 and all-ones masks (a masked
 * store costs the same as a plain one), edge tiles their own R and masks: no temporary tile. */
static inline __attribute__((always_inline)) void kernel_rx32(const int R, int kc, const float *pa,
                                                              const float *pb, float *C, int ldc,
                                                              __mmask16 m0, __mmask16 m1, int store,
                                                              const float *bias) {
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < R; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(pb), b1 = _mm512_load_ps(pb + 16);
#pragma GCC unroll 12
        for (int i = 0; i < R; i++) {
            __m512 a = _mm512_set1_ps(pa[i]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
        pa += MR;
        pb += NR;
    }
    if (bias) { /* the first k block of a product with a bias row: every row gets it once */
        const __m512 bb0 = _mm512_maskz_loadu_ps(m0, bias), bb1 = _mm512_maskz_loadu_ps(m1, bias + 16);
#pragma GCC unroll 12
        for (int i = 0; i < R; i++) {
            c0[i] = _mm512_add_ps(c0[i], bb0);
            c1[i] = _mm512_add_ps(c1[i], bb1);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < R; i++) {
        float *c = C + (size_t)i * ldc;
        if (store) { /* the first k block of a beta = 0 product: C's old values are not read */
            _mm512_mask_storeu_ps(c, m0, c0[i]);
            _mm512_mask_storeu_ps(c + 16, m1, c1[i]);
        } else {
            _mm512_mask_storeu_ps(c, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, c), c0[i]));
            _mm512_mask_storeu_ps(c + 16, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, c + 16), c1[i]));
        }
    }
}

typedef void (*kernel_fn)(int kc, const float *pa, const float *pb, float *C, int ldc, __mmask16 m0,
                          __mmask16 m1, int store, const float *bias);
#define KERNEL_R(R)                                                                                \
    static void kernel_##R(int kc, const float *pa, const float *pb, float *C, int ldc, __mmask16 m0, \
                           __mmask16 m1, int store, const float *bias) {                           \
        if (store)                                                                                 \
            kernel_rx32(R, kc, pa, pb, C, ldc, m0, m1, 1, bias);                                   \
        else                                                                                       \
            kernel_rx32(R, kc, pa, pb, C, ldc, m0, m1, 0, bias);                                   \
    }
KERNEL_R(1) KERNEL_R(2) KERNEL_R(3) KERNEL_R(4) KERNEL_R(5) KERNEL_R(6)
KERNEL_R(7) KERNEL_R(8) KERNEL_R(9) KERNEL_R(10) KERNEL_R(11) KERNEL_R(12)
#undef KERNEL_R
static const kernel_fn kernels[MR + 1] = {NULL,      kernel_1, kernel_2, kernel_3,  kernel_4,  kernel_5, kernel_6,
                                          kernel_7,  kernel_8, kernel_9, kernel_10, kernel_11, kernel_12};

static void gemm_run(const mvae_gemm_job *g) {
    float *pa, *pb;
    mvae_gemm_pack_buffers((size_t)MC * KC, (size_t)KC * NC, &pa, &pb);
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
                    __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
                    __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
                    for (int ip = 0; ip < mc; ip += MR) {
                        int mr = mc - ip < MR ? mc - ip : MR;
                        float *c = g->C + (size_t)(i0 + ip) * g->ldc + j0 + jp;
                        kernels[mr](kc, pa + (size_t)ip * kc, pb + (size_t)jp * kc, c, g->ldc, m0, m1,
                                    g->overwrite && k0 == 0, g->bias && k0 == 0 ? g->bias + j0 + jp : NULL);
                    }
                }
            }
        }
    }
}


const mvae_gemm_impl mvae_gemm_impl_avx512 = {"mvae-avx512", NR, MR, gemm_run};
#endif
