/* bench_expf.c — mvae's vectorisable exp and log (core/src/fastmath.h) against SLEEF's AVX2 vector
 * functions and glibc's libm, on the arrays the MVAE's elementwise ops see.
 *
 *   build/bench_expf [--n N] [--rounds R]
 *
 * Built when the configure step finds SLEEF (libsleef-dev: MVAE_DEPS_OPTIONAL=libs scripts/deps.sh);
 * the SLEEF rows run only where the CPU has AVX2 + FMA. Each round times, one after another on the
 * same input, every variant of the function over the whole array (batches of at least 1 ms) and reports ns per
 * element, median and minimum over the rounds. Accuracy: the largest error in ulp (of the float
 * result) against double-precision exp/log over the array, and the largest relative error.
 *
 * Variants: `mvae` = mvae_expf / mvae_logf (IEEE edges: what mvae_exp, mvae_log and the densities
 * call), `mvae-fast` = mvae_fast_expf / mvae_fast_logf (clamped: swish, sigmoid, the rng), each in a
 * plain loop the compiler vectorises for the build's target (-march=native by default);
 * `sleef-u10` / `sleef-u35` = Sleef_expf8_u10avx2 / Sleef_logf8_u10avx2 (1.0 ulp) and
 * Sleef_logf8_u35avx2 (3.5 ulp), eight floats per call; `libm` = expf / logf per element.
 *
 * Inputs: exp on uniform [-20, 20] (logits, log-variances), log on uniform (1e-6, 1] (probabilities
 * in log-likelihoods) and [1, 1e4].
 */
#define _GNU_SOURCE
#include "fastmath.h"
#include "mvae/common.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(MVAE_BENCH_SLEEF) && defined(__x86_64__)
#include <immintrin.h>
#include <sleef.h>
#define HAVE_SLEEF 1
#endif

typedef void (*kern)(const float *x, float *y, int n);

static void own_exp(const float *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] = mvae_expf(x[i]);
}
static void own_fast_exp(const float *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] = mvae_fast_expf(x[i]);
}
static void own_log(const float *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] = mvae_logf(x[i]);
}
static void own_fast_log(const float *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] = mvae_fast_logf(x[i]);
}
static void libm_exp(const float *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] = expf(x[i]);
}
static void libm_log(const float *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] = logf(x[i]);
}
#if HAVE_SLEEF
/* n is a multiple of 8 (main rounds it) */
__attribute__((target("avx2,fma"))) static void sleef_exp_u10(const float *x, float *y, int n) {
    for (int i = 0; i < n; i += 8) _mm256_storeu_ps(y + i, Sleef_expf8_u10avx2(_mm256_loadu_ps(x + i)));
}
__attribute__((target("avx2,fma"))) static void sleef_log_u10(const float *x, float *y, int n) {
    for (int i = 0; i < n; i += 8) _mm256_storeu_ps(y + i, Sleef_logf8_u10avx2(_mm256_loadu_ps(x + i)));
}
__attribute__((target("avx2,fma"))) static void sleef_log_u35(const float *x, float *y, int n) {
    for (int i = 0; i < n; i += 8) _mm256_storeu_ps(y + i, Sleef_logf8_u35avx2(_mm256_loadu_ps(x + i)));
}
#endif

typedef struct variant {
    const char *fn, *name;
    kern k;
    int sleef;
} variant;

static const variant variants[] = {
    {"exp", "mvae", own_exp, 0},
    {"exp", "mvae-fast", own_fast_exp, 0},
#if HAVE_SLEEF
    {"exp", "sleef-u10", sleef_exp_u10, 1},
#endif
    {"exp", "libm", libm_exp, 0},
    {"log", "mvae", own_log, 0},
    {"log", "mvae-fast", own_fast_log, 0},
#if HAVE_SLEEF
    {"log", "sleef-u10", sleef_log_u10, 1},
    {"log", "sleef-u35", sleef_log_u35, 1},
#endif
    {"log", "libm", libm_log, 0},
};
#define N_VARIANTS ((int)(sizeof variants / sizeof variants[0]))

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* distance in ulp of the float result y from the exact value r (double) */
static double ulp_err(float y, double r) {
    if (y == r) return 0;
    float rf = (float)r;
    double ulp = fabs((double)nextafterf(rf, INFINITY) - (double)rf);
    if (ulp == 0 || !isfinite(ulp)) return INFINITY;
    return fabs((double)y - r) / ulp;
}

int main(int argc, char **argv) {
    int n = 78400, rounds = 21; /* 100 x 784: one batch of image logits */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_expf [--n N] [--rounds R]\n");
            return 2;
        }
    }
    n = (n + 7) / 8 * 8;
    if (n < 8 || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "bench_expf: --n must be >= 1 and --rounds in 1..1000\n");
        return 2;
    }
    int sleef_ok = 0;
#if HAVE_SLEEF
    __builtin_cpu_init();
    sleef_ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    float *xe = malloc((size_t)n * 4), *xl = malloc((size_t)n * 4), *xh = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
    double *t = malloc((size_t)rounds * N_VARIANTS * sizeof(double));
    if (!xe || !xl || !xh || !y || !t) return 1;
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double u = (double)(s >> 11) / 9007199254740992.0; /* [0, 1) */
        xe[i] = (float)(-20 + 40 * u);
        xl[i] = (float)(1e-6 + (1 - 1e-6) * u);
        xh[i] = (float)(1 + 9999 * u);
    }
    FILE *f = fopen("/proc/loadavg", "r");
    double load = -1;
    if (f) {
        if (fscanf(f, "%lf", &load) != 1) load = -1;
        fclose(f);
    }
    printf("config n=%d rounds=%d sleef=%s load1=%.2f\n", n, rounds,
#if HAVE_SLEEF
           sleef_ok ? "avx2" : "no-avx2-cpu",
#else
           "not-built",
#endif
           load);
    printf("| function | input | variant | ns/element (median) | ns/element (min) | max error, ulp | max relative error |\n");
    printf("|---|---|---|---|---|---|---|\n");
    for (int in = 0; in < 3; in++) {
        const char *fn = in == 0 ? "exp" : "log";
        const float *x = in == 0 ? xe : in == 1 ? xl : xh;
        const char *range = in == 0 ? "[-20, 20]" : in == 1 ? "(1e-6, 1]" : "[1, 1e4]";
        int on[N_VARIANTS];
        double worst_ulp[N_VARIANTS] = {0}, worst_rel[N_VARIANTS] = {0};
        for (int v = 0; v < N_VARIANTS; v++) {
            on[v] = !strcmp(variants[v].fn, fn) && !(variants[v].sleef && !sleef_ok);
            if (!on[v]) continue;
            variants[v].k(x, y, n); /* warm-up, and the accuracy */
            for (int i = 0; i < n; i++) {
                double r = in == 0 ? exp((double)x[i]) : log((double)x[i]);
                double u = ulp_err(y[i], r), rel = r != 0 ? fabs((y[i] - r) / r) : fabs(y[i]);
                worst_ulp[v] = u > worst_ulp[v] ? u : worst_ulp[v];
                worst_rel[v] = rel > worst_rel[v] ? rel : worst_rel[v];
            }
        }
        for (int rd = 0; rd < rounds; rd++) /* the variants in turn within each round */
            for (int v = 0; v < N_VARIANTS; v++) {
                if (!on[v]) continue;
                int calls = 0;
                double t0 = mvae_time_sec(), dt;
                do {
                    variants[v].k(x, y, n);
                    calls++;
                    dt = mvae_time_sec() - t0;
                } while (dt < 1e-3);
                t[(size_t)v * rounds + rd] = dt / calls / n * 1e9;
            }
        for (int v = 0; v < N_VARIANTS; v++) {
            if (!on[v]) continue;
            double *tv = t + (size_t)v * rounds;
            qsort(tv, (size_t)rounds, sizeof(double), cmp_double);
            printf("| %s | %s | %s | %.3f | %.3f | %.2f | %.2e |\n", fn, range, variants[v].name, tv[rounds / 2], tv[0],
                   worst_ulp[v], worst_rel[v]);
        }
    }
    free(xe);
    free(xl);
    free(xh);
    free(y);
    free(t);
    return 0;
}
