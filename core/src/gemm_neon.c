/* gemm_neon.c — mvae's ARM64 NEON GEMM kernels (AArch64 only; compiles to nothing elsewhere).
 * MVAE_ISA=neon selects them on an ARM64 CPU; by default an ARM64 build uses OpenBLAS, since no
 * speed of these kernels has been measured on ARM hardware (correctness is tested under
 * qemu-aarch64: scripts/neon.sh).
 *
 * An 8 x 8 micro-kernel: 16 q-register accumulators (8 rows x two 4-float vectors), two vectors of
 * the packed B row, each A element applied with a multiply-add by scalar (vfmaq_n_f32); the same
 * loops as the other kernel sets (gemm_driver.h, Goto & van de Geijn 2008), the scalar packing shared with
 * gemm_generic.c (gemm_pack_scalar.h).
 */
#include "gemm_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define MR 8
#define NR 8
#define KC 256
#define MC 128
#define NC 1024

#include "gemm_pack_scalar.h" /* pack_a, pack_b */

/* C[0:R, 0:nr] (+)= pa * pb for R rows (a constant in each instantiation), see gemm_driver.h */
static inline __attribute__((always_inline)) void kernel_rx8(const int R, int nr, int kc, const float *pa,
                                                             const float *pb, float *C, int ldc, int store,
                                                             const float *bias) {
    float32x4_t c0[MR], c1[MR];
    for (int i = 0; i < R; i++) c0[i] = c1[i] = vdupq_n_f32(0.0f);
    for (int k = 0; k < kc; k++) {
        const float32x4_t b0 = vld1q_f32(pb), b1 = vld1q_f32(pb + 4);
        for (int i = 0; i < R; i++) {
            c0[i] = vfmaq_n_f32(c0[i], b0, pa[i]);
            c1[i] = vfmaq_n_f32(c1[i], b1, pa[i]);
        }
        pa += MR;
        pb += NR;
    }
    if (nr == NR) {
        const float32x4_t z = vdupq_n_f32(0.0f);
        const float32x4_t bb0 = bias ? vld1q_f32(bias) : z, bb1 = bias ? vld1q_f32(bias + 4) : z;
        for (int i = 0; i < R; i++) {
            float *c = C + (size_t)i * ldc;
            float32x4_t v0 = vaddq_f32(c0[i], bb0), v1 = vaddq_f32(c1[i], bb1);
            if (!store) {
                v0 = vaddq_f32(vld1q_f32(c), v0);
                v1 = vaddq_f32(vld1q_f32(c + 4), v1);
            }
            vst1q_f32(c, v0);
            vst1q_f32(c + 4, v1);
        }
        return;
    }
    float tile[MR][NR];
    for (int i = 0; i < R; i++) {
        vst1q_f32(tile[i], c0[i]);
        vst1q_f32(tile[i] + 4, c1[i]);
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
        kernel_rx8(R, nr, kc, pa, pb, C, ldc, store, bias);                                             \
    }
KERNEL_R(1) KERNEL_R(2) KERNEL_R(3) KERNEL_R(4) KERNEL_R(5) KERNEL_R(6) KERNEL_R(7) KERNEL_R(8)
#undef KERNEL_R
static const kernel_fn kernels[MR + 1] = {NULL,     kernel_1, kernel_2, kernel_3, kernel_4,
                                          kernel_5, kernel_6, kernel_7, kernel_8};

static inline void micro_kernel(int mr, int nr, int kc, const float *pa, const float *pb, float *C, int ldc,
                                int store, const float *bias) {
    kernels[mr](nr, kc, pa, pb, C, ldc, store, bias);
}

#define GEMM_RUN gemm_run_neon
#include "gemm_driver.h"

const mvae_gemm_impl mvae_gemm_impl_neon = {"mvae-neon", NR, MR, gemm_run_neon};
#endif
