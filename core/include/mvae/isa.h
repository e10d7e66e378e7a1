/* mvae/isa.h — the instruction set mvae's own kernels use, chosen at run time.
 *
 *   mvae_error err = {0};
 *   if (mvae_isa_init(&err) != MVAE_OK) {           // reads MVAE_ISA
 *       fprintf(stderr, "%s\n", err.msg);           // "MVAE_ISA=avx512: this CPU cannot run it ..."
 *       return 2;
 *   }
 *   printf("isa %s\n", mvae_isa_name(mvae_isa()));  // "avx2"
 *
 * Each ISA's kernels (GEMM micro-kernels and packing) are compiled in their own translation unit
 * with that ISA's target flags, so one binary carries all of them and runs on any x86-64: cpuid
 * picks the best one the CPU runs (AVX-512F, else AVX2 + FMA, else the portable C path), and
 * MVAE_ISA=avx512|avx2|generic|neon forces one. The rest of the library is compiled for the build
 * machine when MVAE_NATIVE is on (the default); configure with -DMVAE_NATIVE=OFF for a binary that
 * runs on any x86-64 (docs/design.md, "Kernels per instruction set").
 */
#ifndef MVAE_ISA_H
#define MVAE_ISA_H

#include "mvae/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mvae_isa_kind {
    MVAE_ISA_GENERIC = 0, /* portable C, any CPU */
    MVAE_ISA_AVX2 = 1,    /* x86-64 with AVX2 and FMA */
    MVAE_ISA_AVX512 = 2,  /* x86-64 with AVX-512F (and DQ, BW, VL) */
    MVAE_ISA_NEON = 3,    /* ARM64 (NEON is part of AArch64) */
    MVAE_ISA_COUNT
} mvae_isa_kind;

/* "generic", "avx2", "avx512", "neon"; NULL for an out-of-range kind */
const char *mvae_isa_name(mvae_isa_kind isa);
/* true when this build carries the ISA's kernels and the CPU can run them */
bool mvae_isa_supported(mvae_isa_kind isa);
/* the best supported ISA (what mvae_isa() is unless MVAE_ISA or mvae_isa_set says otherwise) */
mvae_isa_kind mvae_isa_detected(void);
/* Read MVAE_ISA (unset or empty: the detected ISA). An unknown name, or an ISA this CPU or build
 * cannot run, returns MVAE_ERR_INVALID with a message naming the variable, and leaves the choice
 * as it was. Programs call it once at start; mvae_isa() calls it lazily otherwise (and, on error,
 * logs the message and keeps the detected ISA). */
int mvae_isa_init(mvae_error *err);
/* true when MVAE_ISA or mvae_isa_set chose the ISA: mvae's GEMM then runs that ISA's own kernels
 * (unless MVAE_GEMM=blas), instead of the per-ISA default (src/gemm.c) */
bool mvae_isa_forced(void);
/* the ISA the kernels use now */
mvae_isa_kind mvae_isa(void);
/* The GEMM the layers use now: "mvae-avx512", "mvae-avx2", "mvae-generic", "mvae-neon" (mvae's own
 * kernels for that ISA) or "openblas". Default: own kernels on AVX-512, OpenBLAS elsewhere (the
 * AVX2 kernels are at par with OpenBLAS on a Zen 2: bench/README.md); a forced ISA runs its own
 * kernels; MVAE_GEMM=blas|mvae overrides both. */
const char *mvae_isa_gemm_name(void);
/* Use `isa` from now on (tests, benchmarks): MVAE_ERR_INVALID if it is not supported. Not
 * thread-safe against kernels running at the same time. */
int mvae_isa_set(mvae_isa_kind isa, mvae_error *err);

#ifdef __cplusplus
}
#endif
#endif
