/* fma_peak.c — the core's single-precision FMA peak: 24 independent chains of AVX-512 FMAs (or,
 * built for AVX2 + FMA without AVX-512, 14 chains of 256-bit FMAs) on registers only (no memory),
 * the ceiling any GEMM kernel on this core works under.
 *   build/fma_peak            prints the median of 5 runs in GFLOP/s and the clock it implies
 * x86-64 with AVX-512F or AVX2 + FMA (as the build targets: -march=native); elsewhere it says so
 * and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) && (defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__)))
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
#endif

int main(void) {
#if defined(__x86_64__) && defined(__AVX512F__)
    const long iters = 50000000; /* 24 FMAs of 16 lanes each per iteration */
    double g[5];
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        __asm__ volatile("vxorps %%zmm0, %%zmm0, %%zmm0\n\t"
                         "vxorps %%zmm1, %%zmm1, %%zmm1\n\t"
                         "mov %0, %%rcx\n"
                         "1:\n\t"
                         ".irp r,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25\n\t"
                         "vfmadd231ps %%zmm0, %%zmm1, %%zmm\\r\n\t"
                         ".endr\n\t"
                         "dec %%rcx\n\t"
                         "jnz 1b\n"
                         :
                         : "r"(iters)
                         : "rcx", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                           "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16",
                           "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25");
        g[r] = (double)iters * 24 * 32 / (now() - t0) / 1e9;
    }
    qsort(g, 5, sizeof g[0], cmp);
    printf("fma_peak gflops_med=%.1f gflops_min=%.1f gflops_max=%.1f ghz_at_2_fma_per_cycle=%.2f\n", g[2], g[0],
           g[4], g[2] / 64.0);
#elif defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
    /* 14 FMAs of 8 lanes each per iteration; 21 short runs (~25 ms): on a shared machine the
     * maximum is the run that was not preempted */
    const long iters = 10000000;
    double g[21];
    for (int r = 0; r < 21; r++) {
        double t0 = now();
        __asm__ volatile("vxorps %%ymm0, %%ymm0, %%ymm0\n\t"
                         "vxorps %%ymm1, %%ymm1, %%ymm1\n\t"
                         "mov %0, %%rcx\n"
                         "1:\n\t"
                         ".irp r,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\t"
                         "vfmadd231ps %%ymm0, %%ymm1, %%ymm\\r\n\t"
                         ".endr\n\t"
                         "dec %%rcx\n\t"
                         "jnz 1b\n"
                         :
                         : "r"(iters)
                         : "rcx", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                           "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
        g[r] = (double)iters * 14 * 16 / (now() - t0) / 1e9;
    }
    qsort(g, 21, sizeof g[0], cmp);
    printf("fma_peak isa=avx2 gflops_med=%.1f gflops_min=%.1f gflops_max=%.1f ghz_at_2_fma_per_cycle=%.2f (max: %.2f)\n",
           g[10], g[0], g[20], g[10] / 32.0, g[20] / 32.0);
#else
    puts("fma_peak: needs x86-64 with AVX-512F or AVX2 + FMA (build with -march=native on such a CPU)");
#endif
    return 0;
}
