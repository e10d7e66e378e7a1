/* bench_gemm.c — GFLOP/s of every GEMM backend at the MVAE's shapes, interleaved.
 *
 *   build/bench_gemm [--threads N] [--rounds R] [--min-ms MS] [--set mlp|cnn|all] [--match TEXT] [--generic]
 *                    [--column-split]
 *
 * --column-split: mvae's threads split every product by columns of C (as before the row split of
 * products with M > N), for an A/B comparison of the two splits at 2 threads.
 *
 * Variants: mvae_sgemm with each kernel set the CPU runs (mvae-avx512, mvae-avx2; mvae-generic
 * with --generic), OpenBLAS's cblas_sgemm (whatever kernel OPENBLAS_CORETYPE selects), and BLIS's
 * bli_sgemm when libblis.so.4 loads (Debian's libblis4-*, dlopen'd with RTLD_DEEPBIND so its BLAS
 * symbols do not collide with OpenBLAS's; BLIS_ARCH_TYPE and BLIS_NUM_THREADS apply), and libxsmm
 * when the build found it (libxsmm-dev, MVAE_DEPS_OPTIONAL=libs; static, linked into this program
 * only): its JIT kernel for the shape (libxsmm_smmdispatch, one thread) where it makes one, else
 * libxsmm_sgemm, which hands products above its small-matrix limit to the BLAS (OpenBLAS here);
 * the `gemm` line says which (xsmm=jit|blas).
 *
 * For each round, each shape, each variant in turn: a batch of calls of at least --min-ms
 * (default 2) on the same operands, GFLOP/s = 2 M N K calls / time. Medians and maxima over the
 * rounds (default 21). The variants of one shape run back to back in every round, so machine load
 * hits them alike; on a loaded machine read the ratios, and the maxima (the rounds that ran
 * without being preempted) as the uncontended speed.
 *
 * Output: a `config` line (CPU, ISA, OpenBLAS core, BLIS arch, threads, load average at start
 * and end), one `gemm` line per shape and variant (key=value), then a Markdown table: GFLOP/s
 * per variant, ratio of mvae's default kernels to OpenBLAS and to BLIS, and the fastest.
 * The shapes are the distinct GEMMs of one training step of experiments/fashion_mnist_mlp.yaml and
 * fashion_mnist_cnn.yaml at batch 100 (bench_step --model prints them: forward NT B x out x in,
 * dX NN, dW TN; the CNN's im2col products), so the weights per shape class follow the step.
 */
#define _GNU_SOURCE
#include "gemm_internal.h"
#include "mvae/common.h"
#include "mvae/isa.h"
#include "mvae/rng.h"

#include <cblas.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void openblas_set_num_threads(int num_threads);
char *openblas_get_corename(void);

typedef struct shape {
    const char *set, *what;
    int ta, tb, M, N, K;
    float beta;
    int calls; /* per training step */
} shape;

static const shape shapes[] = {
    /* MLP MVAE (encoder 784-512-512-64x2, decoders 64-512-512-512-784 and label), batch 100 */
    {"mlp", "enc fwd 784->512", 0, 1, 100, 512, 784, 0, 1},
    {"mlp", "enc fwd 512->512", 0, 1, 100, 512, 512, 0, 2},
    {"mlp", "enc fwd 512->64 (mu, logvar)", 0, 1, 100, 64, 512, 0, 4},
    {"mlp", "dec fwd 64->512 (2 terms)", 0, 1, 200, 512, 64, 0, 2},
    {"mlp", "dec fwd 512->512", 0, 1, 200, 512, 512, 0, 4},
    {"mlp", "dec fwd 512->784", 0, 1, 200, 784, 512, 0, 1},
    {"mlp", "dec dX 784->512", 0, 0, 200, 512, 784, 0, 1},
    {"mlp", "dec dW 512x784", 1, 0, 784, 512, 200, 0, 1},
    {"mlp", "dec dX 512->512", 0, 0, 200, 512, 512, 0, 4},
    {"mlp", "dec dW 512x512", 1, 0, 512, 512, 200, 0, 4},
    {"mlp", "dec dX 512->64", 0, 0, 200, 64, 512, 0, 2},
    {"mlp", "dec dW 512x64", 1, 0, 512, 64, 200, 0, 2},
    {"mlp", "enc dX 64->512", 0, 0, 100, 512, 64, 0, 2},
    {"mlp", "enc dW 64x512", 1, 0, 64, 512, 100, 0, 4},
    {"mlp", "enc dX 512->512", 0, 0, 100, 512, 512, 0, 2},
    {"mlp", "enc dW 512x512", 1, 0, 512, 512, 100, 0, 2},
    {"mlp", "enc dW 512x784", 1, 0, 512, 784, 100, 0, 1},
    {"mlp", "label dec fwd 512->10", 0, 1, 200, 10, 512, 0, 1},
    /* CNN MVAE (convs 1->64->128 k4 s2 as im2col over 980-column chunks, FC 6272->512), batch 100 */
    {"cnn", "conv1 fwd im2col", 0, 0, 64, 980, 16, 0, 60},
    {"cnn", "conv2 fwd im2col", 0, 0, 128, 980, 1024, 0, 15},
    {"cnn", "conv2 dW", 0, 1, 128, 1024, 980, 1, 13},
    {"cnn", "conv2 dcol", 1, 0, 1024, 980, 128, 0, 15},
    {"cnn", "conv1 dW", 0, 1, 64, 16, 980, 1, 58},
    {"cnn", "conv1 dcol", 1, 0, 16, 980, 64, 0, 40},
    {"cnn", "fc fwd 6272->512", 0, 1, 100, 512, 6272, 0, 1},
    {"cnn", "fc dW 512x6272", 1, 0, 512, 6272, 100, 0, 1},
    {"cnn", "deconv fc fwd 512->6272", 0, 1, 200, 6272, 512, 0, 1},
    {"cnn", "deconv fc dX", 0, 0, 200, 512, 6272, 0, 1},
    {"cnn", "deconv fc dW", 1, 0, 6272, 512, 200, 0, 1},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

/* BLIS, dlopen'd */
typedef void (*bli_sgemm_fn)(int transa, int transb, int64_t m, int64_t n, int64_t k, const float *alpha,
                             const float *a, int64_t rsa, int64_t csa, const float *b, int64_t rsb, int64_t csb,
                             const float *beta, float *c, int64_t rsc, int64_t csc);
static bli_sgemm_fn bli_sgemm_p;
static const char *blis_arch = "none";

static void blis_load(int threads) {
    void *h = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h) return;
    bli_sgemm_p = (bli_sgemm_fn)dlsym(h, "bli_sgemm");
    int (*arch_id)(void) = (int (*)(void))dlsym(h, "bli_arch_query_id");
    const char *(*arch_str)(int) = (const char *(*)(int))dlsym(h, "bli_arch_string");
    void (*set_threads)(int64_t) = (void (*)(int64_t))dlsym(h, "bli_thread_set_num_threads");
    if (arch_id && arch_str) blis_arch = arch_str(arch_id());
    if (set_threads) set_threads(threads);
}

/* row-major op(A) [M,K]: element (i, k) at A[i * lda + k], or A[k * lda + i] when transposed; BLIS
 * takes the strides directly */
static void blis_gemm(const shape *s, const float *A, int lda, const float *B, int ldb, float *C) {
    float one = 1.0f, beta = s->beta;
    bli_sgemm_p(0, 0, s->M, s->N, s->K, &one, A, s->ta ? 1 : lda, s->ta ? lda : 1, B, s->tb ? 1 : ldb,
                s->tb ? ldb : 1, &beta, C, s->N, 1);
}

#if defined(MVAE_BENCH_XSMM)
#include <libxsmm.h>
/* Row-major C [M,N] = op(A) op(B) is column-major C' [N,M] = op(B)' op(A)': libxsmm's first operand is
 * B (transposed when B is not), its second A. The JIT kernel of the current shape, or NULL. */
static libxsmm_smmfunction xsmm_kernel;
static void xsmm_prepare(const shape *s, int lda, int ldb) {
    libxsmm_blasint m = s->N, n = s->M, k = s->K, la = ldb, lb = lda, lc = s->N;
    float one = 1.0f, beta = s->beta;
    int flags = (s->tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (s->ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    int prefetch = LIBXSMM_PREFETCH_NONE;
    xsmm_kernel = libxsmm_smmdispatch(m, n, k, &la, &lb, &lc, &one, &beta, &flags, &prefetch);
}
static void xsmm_gemm(const shape *s, const float *A, int lda, const float *B, int ldb, float *C) {
    if (xsmm_kernel) {
        xsmm_kernel(B, A, C);
        return;
    }
    libxsmm_blasint m = s->N, n = s->M, k = s->K, la = ldb, lb = lda, lc = s->N;
    float one = 1.0f, beta = s->beta;
    libxsmm_sgemm(s->tb ? "T" : "N", s->ta ? "T" : "N", &m, &n, &k, &one, B, &la, A, &lb, &beta, C, &lc);
}
#endif

enum { V_GENERIC, V_AVX2, V_AVX512, V_OPENBLAS, V_BLIS, V_XSMM, V_COUNT };
static const char *vname[V_COUNT] = {"mvae-generic", "mvae-avx2", "mvae-avx512", "openblas", "blis", "libxsmm"};

static void run_variant(int v, const shape *s, const float *A, int lda, const float *B, int ldb, float *C) {
    if (v == V_OPENBLAS)
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, s->M, s->N,
                    s->K, 1.0f, A, lda, B, ldb, s->beta, C, s->N);
    else if (v == V_BLIS)
        blis_gemm(s, A, lda, B, ldb, C);
#if defined(MVAE_BENCH_XSMM)
    else if (v == V_XSMM)
        xsmm_gemm(s, A, lda, B, ldb, C);
#endif
    else
        mvae_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, s->beta, C, s->N);
}

static void select_variant(int v) {
    mvae_error err = {0};
    if (v == V_GENERIC) mvae_isa_set(MVAE_ISA_GENERIC, &err);
    if (v == V_AVX2) mvae_isa_set(MVAE_ISA_AVX2, &err);
    if (v == V_AVX512) mvae_isa_set(MVAE_ISA_AVX512, &err);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double load1(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

int main(int argc, char **argv) {
    int threads = 1, rounds = 21, generic = 0;
    double min_ms = 2;
    const char *set = "all", *match = NULL; /* --match: only shapes whose description contains it */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-ms") && i + 1 < argc) min_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--set") && i + 1 < argc) set = argv[++i];
        else if (!strcmp(argv[i], "--generic")) generic = 1;
        else if (!strcmp(argv[i], "--column-split")) mvae_gemm_set_column_split(1);
        else if (!strcmp(argv[i], "--match") && i + 1 < argc) match = argv[++i];
        else {
            fprintf(stderr, "usage: bench_gemm [--threads N] [--rounds R] [--min-ms MS] [--set mlp|cnn|all] [--match TEXT] [--generic] [--column-split]\n");
            return 2;
        }
    }
    if (rounds < 1) rounds = 1;
    mvae_error err = {0};
    if (mvae_isa_init(&err) != MVAE_OK) {
        fprintf(stderr, "bench_gemm: %s\n", err.msg);
        return 2;
    }
    mvae_isa_kind default_isa = mvae_isa();
    const char *default_gemm = mvae_gemm_backend_name();
    mvae_gemm_set_threads(threads); /* mvae's pool and OpenBLAS */
    blis_load(threads);
    int have_xsmm = 0;
#if defined(MVAE_BENCH_XSMM)
    libxsmm_init();
    have_xsmm = 1;
#endif
    int on[V_COUNT] = {generic, mvae_isa_supported(MVAE_ISA_AVX2), mvae_isa_supported(MVAE_ISA_AVX512), 1,
                       bli_sgemm_p != NULL, have_xsmm};
    char cpu[128] = "?";
    FILE *ci = fopen("/proc/cpuinfo", "r");
    if (ci) {
        char line[256];
        while (fgets(line, sizeof line, ci))
            if (!strncmp(line, "model name", 10)) {
                char *c = strchr(line, ':');
                if (c) snprintf(cpu, sizeof cpu, "%s", c + 2);
                cpu[strcspn(cpu, "\n")] = '\0';
                break;
            }
        fclose(ci);
    }
    double load_start = load1();
    printf("config cpu=\"%s\" isa_detected=%s default_gemm=%s openblas_core=%s OPENBLAS_CORETYPE=%s blis_arch=%s "
           "threads=%d rounds=%d min_ms=%g load1_start=%.2f\n",
           cpu, mvae_isa_name(mvae_isa_detected()), default_gemm, openblas_get_corename(),
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "unset", blis_arch, threads, rounds, min_ms,
           load_start);

    static double gf[64][V_COUNT][64];
    double med[64][V_COUNT], mx[64][V_COUNT];
    mvae_rng r;
    mvae_rng_seed(&r, 1);
    for (int si = 0; si < N_SHAPES; si++) {
        const shape *s = &shapes[si];
        if (strcmp(set, "all") && strcmp(set, s->set)) continue;
        if (match && !strstr(s->what, match)) continue;
        int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
        size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
        float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4);
        mvae_rng_uniform_fill(&r, A, na, -1, 1);
        mvae_rng_uniform_fill(&r, B, nb, -1, 1);
        mvae_rng_uniform_fill(&r, C, nc, -1, 1);
        double flop = 2.0 * s->M * s->N * s->K;
        const char *xsmm_how = "none";
#if defined(MVAE_BENCH_XSMM)
        xsmm_prepare(s, lda, ldb);
        xsmm_how = xsmm_kernel ? "jit" : "blas";
#endif
        for (int v = 0; v < V_COUNT; v++) /* warm-up, and the batch size for min_ms */
            if (on[v]) {
                select_variant(v);
                run_variant(v, s, A, lda, B, ldb, C);
            }
        for (int rd = 0; rd < rounds && rd < 64; rd++)
            for (int v = 0; v < V_COUNT; v++) {
                if (!on[v]) continue;
                select_variant(v);
                int calls = 0;
                double t0 = mvae_time_sec(), t;
                do {
                    run_variant(v, s, A, lda, B, ldb, C);
                    calls++;
                    t = mvae_time_sec() - t0;
                } while (t < min_ms * 1e-3);
                gf[si][v][rd] = flop * calls / t * 1e-9;
            }
        for (int v = 0; v < V_COUNT; v++) {
            if (!on[v]) continue;
            int n = rounds < 64 ? rounds : 64;
            qsort(gf[si][v], (size_t)n, sizeof(double), cmp_double);
            med[si][v] = gf[si][v][n / 2];
            printf("gemm set=%s what=\"%s\" op=%c%c M=%d N=%d K=%d beta=%g calls_per_step=%d variant=%s gflops_med=%.1f "
                   "gflops_p10=%.1f gflops_p90=%.1f gflops_max=%.1f%s%s\n",
                   s->set, s->what, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N, s->K, s->beta, s->calls, vname[v],
                   med[si][v], gf[si][v][n / 10], gf[si][v][n - 1 - n / 10], gf[si][v][n - 1],
                   v == V_XSMM ? " xsmm=" : "", v == V_XSMM ? xsmm_how : "");
            mx[si][v] = gf[si][v][n - 1];
        }
        free(A);
        free(B);
        free(C);
    }
    mvae_error e2 = {0};
    mvae_isa_set(default_isa, &e2);
    double load_end = load1();
    printf("load load1_start=%.2f load1_end=%.2f\n\n", load_start, load_end);

    /* the table; step time per backend = sum over shapes of calls x time at the median speed */
    int own = default_isa == MVAE_ISA_AVX512 ? V_AVX512 : default_isa == MVAE_ISA_AVX2 ? V_AVX2 : V_GENERIC;
    printf("| set | shape (op M x N x K) | calls/step |");
    for (int v = 0; v < V_COUNT; v++)
        if (on[v]) printf(" %s |", vname[v]);
    printf(" %s / openblas (of medians, of maxima) |%s fastest (maxima) |\n|---|---|---|", vname[own],
           on[V_BLIS] ? " mvae / blis (medians, maxima) |" : "");
    for (int v = 0; v < V_COUNT; v++)
        if (on[v]) printf("---|");
    printf("---|%s---|\n", on[V_BLIS] ? "---|" : "");
    double step_ms[2][V_COUNT] = {{0}}, step_ms_max[2][V_COUNT] = {{0}};
    for (int si = 0; si < N_SHAPES; si++) {
        const shape *s = &shapes[si];
        if (strcmp(set, "all") && strcmp(set, s->set)) continue;
        if (match && !strstr(s->what, match)) continue;
        int set_i = strcmp(s->set, "mlp") ? 1 : 0, best = -1;
        printf("| %s | %s %c%c %d x %d x %d | %d |", s->set, s->what, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N,
               s->K, s->calls);
        for (int v = 0; v < V_COUNT; v++) {
            if (!on[v]) continue;
            printf(" %.1f (%.1f) |", med[si][v], mx[si][v]);
            step_ms[set_i][v] += s->calls * 2.0 * s->M * s->N * s->K / (med[si][v] * 1e9) * 1e3;
            step_ms_max[set_i][v] += s->calls * 2.0 * s->M * s->N * s->K / (mx[si][v] * 1e9) * 1e3;
            if (best < 0 || mx[si][v] > mx[si][best]) best = v;
        }
        printf(" %.2f, %.2f |", med[si][own] / med[si][V_OPENBLAS], mx[si][own] / mx[si][V_OPENBLAS]);
        if (on[V_BLIS]) printf(" %.2f, %.2f |", med[si][own] / med[si][V_BLIS], mx[si][own] / mx[si][V_BLIS]);
        printf(" %s |\n", vname[best]);
    }
    printf("\nGEMM time of one step (ms; sum over shapes of calls x time at the median, and at the maximum speed):\n");
    for (int st = 0; st < 2; st++) {
        if (strcmp(set, "all") && strcmp(set, st ? "cnn" : "mlp")) continue;
        printf("step set=%s", st ? "cnn" : "mlp");
        for (int v = 0; v < V_COUNT; v++)
            if (on[v]) printf(" %s_ms=%.2f %s_ms_at_max=%.2f", vname[v], step_ms[st][v], vname[v], step_ms_max[st][v]);
        printf(" speedup_over_openblas=%.3f speedup_over_openblas_at_max=%.3f\n", step_ms[st][V_OPENBLAS] / step_ms[st][own],
               step_ms_max[st][V_OPENBLAS] / step_ms_max[st][own]);
    }
    return 0;
}
