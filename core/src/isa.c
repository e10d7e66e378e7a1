/* isa.c — which instruction set mvae's own kernels use: cpuid detection, MVAE_ISA, the choice.
 * See mvae/isa.h. */
#include "mvae/isa.h"
#include "gemm_internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const isa_names[MVAE_ISA_COUNT] = {"generic", "avx2", "avx512", "neon"};
_Static_assert(sizeof isa_names / sizeof isa_names[0] == MVAE_ISA_COUNT, "one name per ISA");

const char *mvae_isa_name(mvae_isa_kind isa) {
    return (int)isa >= 0 && isa < MVAE_ISA_COUNT ? isa_names[isa] : NULL;
}

bool mvae_isa_supported(mvae_isa_kind isa) {
    switch (isa) {
    case MVAE_ISA_GENERIC: return true;
#if defined(__x86_64__)
    /* __builtin_cpu_supports also checks that the OS saves the registers (XGETBV) */
    case MVAE_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case MVAE_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#elif defined(__aarch64__)
    case MVAE_ISA_NEON: return true; /* Advanced SIMD is mandatory in AArch64 */
#endif
    default: return false;
    }
}

mvae_isa_kind mvae_isa_detected(void) {
    static const mvae_isa_kind best_first[] = {MVAE_ISA_AVX512, MVAE_ISA_AVX2, MVAE_ISA_NEON};
    for (size_t i = 0; i < sizeof best_first / sizeof best_first[0]; i++)
        if (mvae_isa_supported(best_first[i])) return best_first[i];
    return MVAE_ISA_GENERIC;
}

static int g_isa = -1;      /* -1: not chosen yet */
static bool g_isa_forced; /* by MVAE_ISA or mvae_isa_set */

bool mvae_isa_forced(void) {
    (void)mvae_isa();
    return __atomic_load_n(&g_isa_forced, __ATOMIC_ACQUIRE);
}

int mvae_isa_set(mvae_isa_kind isa, mvae_error *err) {
    if (!mvae_isa_name(isa) || !mvae_isa_supported(isa))
        return mvae_error_set(err, MVAE_ERR_INVALID, "ISA '%s' is not supported on this CPU (supported: %s%s%s%s)",
                              mvae_isa_name(isa) ? mvae_isa_name(isa) : "?",
                              mvae_isa_supported(MVAE_ISA_AVX512) ? "avx512, " : "",
                              mvae_isa_supported(MVAE_ISA_AVX2) ? "avx2, " : "",
                              mvae_isa_supported(MVAE_ISA_NEON) ? "neon, " : "", "generic");
    __atomic_store_n(&g_isa_forced, true, __ATOMIC_RELEASE);
    __atomic_store_n(&g_isa, (int)isa, __ATOMIC_RELEASE);
    mvae_gemm_force_backend(-1); /* decide again: a chosen ISA runs its own kernels */
    return MVAE_OK;
}

int mvae_isa_init(mvae_error *err) {
    const char *e = getenv("MVAE_ISA");
    if (!e || !*e) {
        __atomic_store_n(&g_isa_forced, false, __ATOMIC_RELEASE);
        __atomic_store_n(&g_isa, (int)mvae_isa_detected(), __ATOMIC_RELEASE);
        mvae_gemm_force_backend(-1);
        return MVAE_OK;
    }
    for (int i = 0; i < MVAE_ISA_COUNT; i++) {
        if (strcmp(e, isa_names[i]) != 0) continue;
        if (!mvae_isa_supported((mvae_isa_kind)i))
            return mvae_error_set(err, MVAE_ERR_INVALID,
                                  "MVAE_ISA=%s: this CPU (or this build) cannot run %s kernels; the best it runs "
                                  "is '%s' (unset MVAE_ISA to use it)",
                                  e, e, isa_names[mvae_isa_detected()]);
        __atomic_store_n(&g_isa_forced, true, __ATOMIC_RELEASE);
        __atomic_store_n(&g_isa, i, __ATOMIC_RELEASE);
        mvae_gemm_force_backend(-1);
        return MVAE_OK;
    }
    return mvae_error_set(err, MVAE_ERR_INVALID, "MVAE_ISA=%s: unknown instruction set (use avx512, avx2, generic "
                          "or neon, or unset it for the best this CPU runs: '%s')", e, isa_names[mvae_isa_detected()]);
}

mvae_isa_kind mvae_isa(void) {
    int v = __atomic_load_n(&g_isa, __ATOMIC_ACQUIRE);
    if (v >= 0) return (mvae_isa_kind)v;
    mvae_error err = {0};
    if (mvae_isa_init(&err) != MVAE_OK) {
        MVAE_WARN("%s; using '%s'", err.msg, isa_names[mvae_isa_detected()]);
        __atomic_store_n(&g_isa, (int)mvae_isa_detected(), __ATOMIC_RELEASE);
    }
    return (mvae_isa_kind)__atomic_load_n(&g_isa, __ATOMIC_ACQUIRE);
}

const char *mvae_isa_gemm_name(void) { return mvae_gemm_backend_name(); }
