/* gemm_avx2.c — mvae's AVX2 + FMA GEMM kernels (compiled with -mavx2 -mfma, whatever the rest of
 * the build targets; mvae_sgemm calls them only where cpuid reports AVX2 and FMA: isa.c).
 *
 * A 6 x 16 micro-kernel, the register block BLIS uses for Haswell and Zen (bli_sgemm_haswell_asm_6x16,
 * Van Zee & van de Geijn 2015): 12 ymm accumulators (6 rows x two 8-float vectors), two vectors of
 * the packed B row and one broadcast of A: 15 of the 16 ymm registers, 12 FMAs per 2 loads + 6
 * broadcasts, enough independent FMAs to cover their latency on two FMA pipes. Edge tiles: the
 * same kernel compiled for each row count 1..6 (a constant, so the accumulators stay in
 * registers) and a scalar store loop for a partial column block. Transposed operands are packed through
 * 8 x 8 register transposes. Loops and blocking: gemm_driver.h.
 */
#include "gemm_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MR 6
#define NR 16
#define KC 256  /* a 6 x 256 A panel (6 KiB) and a 256 x 16 B panel (16 KiB) share the 32 KiB L1 */
#define MC 120  /* 120 x 256 A block: 120 KiB of a Zen 2 core's 512 KiB L2 */
#define NC 1024 /* 256 x 1024 B block: 1 MiB, in L2 + L3 */

/* r[0..7] (8 rows of 8 floats) -> its transpose, in registers */
static inline __attribute__((always_inline)) void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* dst[k * ld + i] = scale * src[i * lds + k] for i < width (6 or 8), k < kc: a [rows, kc] block
 * (rows <= width; rows past it read as zero, so the padding is written too) stored transposed,
 * 8 x 8 tiles through registers. */
static void pack_transposed(const float *src, size_t lds, int rows, int kc, float scale, float *dst, int ld,
                            int width) {
    const __m256 sc = _mm256_set1_ps(scale);
    int k = 0;
    for (; k + 8 <= kc; k += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; i++) r[i] = i < rows ? _mm256_loadu_ps(src + i * lds + k) : _mm256_setzero_ps();
        transpose8(r);
        for (int i = 0; i < 8; i++) {
            __m256 v = _mm256_mul_ps(sc, r[i]);
            float *d = dst + (size_t)(k + i) * ld;
            if (width == 8) {
                _mm256_storeu_ps(d, v);
            } else { /* 6: four floats, then two */
                _mm_storeu_ps(d, _mm256_castps256_ps128(v));
                _mm_storel_pi((__m64 *)(d + 4), _mm256_extractf128_ps(v, 1));
            }
        }
    }
    for (; k < kc; k++)
        for (int i = 0; i < width; i++) dst[(size_t)k * ld + i] = i < rows ? scale * src[i * lds + k] : 0.0f;
}

/* Row-major operands read along their rows (A transposed, B not): groups of KG rows, and within a
 * group every panel in turn, so the reads are KG sequential streams. Panel by panel down all kc
 * rows instead, a row stride that is a multiple of 2 KiB (512 or 1024 floats: the MVAE's widths)
 * lands every row on the same few L1 sets. */
#define KG 8

/* alpha op(A)[i0:i0+mc, k0:k0+kc] into MR-row panels pa[p][k][ii], zero-padded rows */
static void pack_a(int transA, const float *A, int lda, int i0, int mc, int k0, int kc, float alpha, float *pa) {
    if (!transA) {
        for (int ip = 0; ip < mc; ip += MR) {
            int mr = mc - ip < MR ? mc - ip : MR;
            pack_transposed(A + (size_t)(i0 + ip) * lda + k0, (size_t)lda, mr, kc, alpha, pa + (size_t)ip * kc, MR, MR);
        }
        return;
    }
    for (int kb = 0; kb < kc; kb += KG) {
        int ke = kb + KG < kc ? kb + KG : kc;
        for (int ip = 0; ip < mc; ip += MR) {
            int mr = mc - ip < MR ? mc - ip : MR;
            float *dst = pa + (size_t)ip * kc;
            if (mr == MR) { /* 6 floats: a 4-vector and a pair, scaled (the dW products' A = dY^T) */
                const __m128 al = _mm_set1_ps(alpha);
                for (int k = kb; k < ke; k++) {
                    const float *src = A + (size_t)(k0 + k) * lda + i0 + ip;
                    _mm_storeu_ps(dst + k * MR, _mm_mul_ps(al, _mm_loadu_ps(src)));
                    const __m128 pair = _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(src + 4)));
                    _mm_storel_pi((__m64 *)(dst + k * MR + 4), _mm_mul_ps(al, pair));
                }
                continue;
            }
            for (int k = kb; k < ke; k++) {
                const float *src = A + (size_t)(k0 + k) * lda + i0 + ip;
                for (int ii = 0; ii < MR; ii++) dst[k * MR + ii] = ii < mr ? alpha * src[ii] : 0.0f;
            }
        }
    }
}

/* op(B)[k0:k0+kc, j0:j0+nc] into NR-column panels pb[p][k][jj], zero-padded columns */
static void pack_b(int transB, const float *B, int ldb, int k0, int kc, int j0, int nc, float *pb) {
    if (transB) {
        for (int jp = 0; jp < nc; jp += NR) {
            int nr = nc - jp < NR ? nc - jp : NR;
            for (int h = 0; h < NR; h += 8) { /* two 8-column halves of the panel */
                int rows = nr - h < 8 ? (nr - h > 0 ? nr - h : 0) : 8;
                pack_transposed(B + (size_t)(j0 + jp + h) * ldb + k0, (size_t)ldb, rows, kc, 1.0f,
                                pb + (size_t)jp * kc + h, NR, 8);
            }
        }
        return;
    }
    for (int kb = 0; kb < kc; kb += KG) {
        int ke = kb + KG < kc ? kb + KG : kc;
        for (int jp = 0; jp < nc; jp += NR) {
            int nr = nc - jp < NR ? nc - jp : NR;
            float *dst = pb + (size_t)jp * kc;
            for (int k = kb; k < ke; k++) {
                const float *src = B + (size_t)(k0 + k) * ldb + j0 + jp;
                if (nr == NR) {
                    _mm256_store_ps(dst + k * NR, _mm256_loadu_ps(src));
                    _mm256_store_ps(dst + k * NR + 8, _mm256_loadu_ps(src + 8));
                } else {
                    for (int jj = 0; jj < NR; jj++) dst[k * NR + jj] = jj < nr ? src[jj] : 0.0f;
                }
            }
        }
    }
}

/* C[0:R, 0:nr] (+)= pa * pb for R rows (a constant: the instantiations below), see gemm_driver.h.
 * Full column blocks use plain vector loads and stores, a partial block a scalar loop over a
 * buffer. */
static inline __attribute__((always_inline)) void kernel_rx16(const int R, int nr, int kc, const float *pa,
                                                              const float *pb, float *C, int ldc, int store,
                                                              const float *bias) {
    __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) c0[i] = c1[i] = _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(pb), b1 = _mm256_load_ps(pb + 8);
#pragma GCC unroll 6
        for (int i = 0; i < R; i++) {
            const __m256 a = _mm256_broadcast_ss(pa + i);
            c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
        }
        pa += MR;
        pb += NR;
    }
    if (nr == NR) {
        if (bias) {
            const __m256 bb0 = _mm256_loadu_ps(bias), bb1 = _mm256_loadu_ps(bias + 8);
#pragma GCC unroll 6
            for (int i = 0; i < R; i++) {
                c0[i] = _mm256_add_ps(c0[i], bb0);
                c1[i] = _mm256_add_ps(c1[i], bb1);
            }
        }
#pragma GCC unroll 6
        for (int i = 0; i < R; i++) {
            float *c = C + (size_t)i * ldc;
            if (!store) {
                c0[i] = _mm256_add_ps(c0[i], _mm256_loadu_ps(c));
                c1[i] = _mm256_add_ps(c1[i], _mm256_loadu_ps(c + 8));
            }
            _mm256_storeu_ps(c, c0[i]);
            _mm256_storeu_ps(c + 8, c1[i]);
        }
        return;
    }
    /* a partial column block: through a small buffer (vmaskmovps stores are microcoded on Zen) */
    float tile[MR][NR] __attribute__((aligned(32)));
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
        _mm256_store_ps(tile[i], c0[i]);
        _mm256_store_ps(tile[i] + 8, c1[i]);
    }
    for (int i = 0; i < R; i++) {
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < nr; j++) {
            float v = tile[i][j] + (bias ? bias[j] : 0.0f);
            c[j] = store ? v : c[j] + v;
        }
    }
}

typedef void (*kernel_fn)(int nr, int kc, const float *pa, const float *pb, float *C, int ldc, int store,
                          const float *bias);
#define KERNEL_R(R)                                                                                     \
    static void kernel_##R(int nr, int kc, const float *pa, const float *pb, float *C, int ldc, int store, \
                           const float *bias) {                                                         \
        kernel_rx16(R, nr, kc, pa, pb, C, ldc, store, bias);                                            \
    }
KERNEL_R(1) KERNEL_R(2) KERNEL_R(3) KERNEL_R(4) KERNEL_R(5) KERNEL_R(6)
#undef KERNEL_R
static const kernel_fn kernels[MR + 1] = {NULL, kernel_1, kernel_2, kernel_3, kernel_4, kernel_5, kernel_6};

static inline void micro_kernel(int mr, int nr, int kc, const float *pa, const float *pb, float *C, int ldc,
                                int store, const float *bias) {
    kernels[mr](nr, kc, pa, pb, C, ldc, store, bias);
}

#define GEMM_RUN gemm_run_avx2
#include "gemm_driver.h"

const mvae_gemm_impl mvae_gemm_impl_avx2 = {"mvae-avx2", NR, MR, gemm_run_avx2};
#endif
