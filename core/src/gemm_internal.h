/* gemm_internal.h — the GEMM every layer calls (not installed). See gemm.c. */
#ifndef MVAE_GEMM_INTERNAL_H
#define MVAE_GEMM_INTERNAL_H
#include <stddef.h>
/* Row-major C[M,N] = alpha op(A) op(B) + beta C, the arguments of cblas_sgemm(CblasRowMajor,...) */
void mvae_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc);
/* The same plus bias[j] on every row of C (bias [N], or NULL): added by the kernel as it first
 * stores a tile, so a linear layer needs no pass to fill C with its bias */
void mvae_sgemm_bias(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc, const float *bias);
/* 1 = mvae's own kernels for the current ISA (mvae_isa(): avx512, avx2, generic), 0 = OpenBLAS.
 * Default: own kernels where they measurably beat OpenBLAS on this ISA (AVX-512; see gemm.c and
 * bench/README.md), or wherever MVAE_ISA forces an ISA; MVAE_GEMM=blas or MVAE_GEMM=mvae overrides. */
int mvae_gemm_backend(void);
/* "mvae-avx512", "mvae-avx2", "mvae-generic", "mvae-neon" or "openblas" */
const char *mvae_gemm_backend_name(void);
void mvae_gemm_force_backend(int backend); /* tests; -1: decide again from the environment */
/* Threads for GEMM (mvae's pool and OpenBLAS's) */
void mvae_gemm_set_threads(int n);
/* train.threads: 0 (automatic): with the OpenBLAS backend one thread unless OPENBLAS_NUM_THREADS
 * is set or a thread count was chosen (mvae_gemm_set_threads); with mvae's own GEMM unchanged. */
void mvae_gemm_auto_threads(void);
void mvae_gemm_forget_threads(void); /* tests: as if no thread count had been chosen */
int mvae_gemm_threads(void);
/* Benchmarks: 1 = threads always split the columns of C (the split before rows were split too),
 * 0 = rows where M > N (the default; see gemm.c) */
void mvae_gemm_set_column_split(int on);
/* Run fn(arg, begin, end) over ranges that split [0, n) between the GEMM threads (at most one range
 * per `grain` items; one thread runs fn(arg, 0, n) directly). Ranges must be independent. Calls
 * made from inside fn run serially. */
void mvae_parallel_for(int n, int grain, void (*fn)(void *arg, int begin, int end), void *arg);
/* Tests: 1 = the pool's workers start no task, so the caller runs every range itself (what happens
 * when a worker is not scheduled before the caller has finished its own range); 0 = normal. */
void mvae_gemm_pool_hold_workers(int on);
/* Benchmarks: called after every mvae_sgemm with its shape and wall time (NULL = off, the default;
 * then nothing is timed). */
typedef void (*mvae_gemm_observer)(int transA, int transB, int M, int N, int K, float beta,
                                   double seconds, void *user);
void mvae_gemm_set_observer(mvae_gemm_observer fn, void *user);

/* ---- the per-ISA kernels (gemm_<isa>.c), each compiled with its ISA's target flags ---- */
/* One product, or the column range [j_begin, j_end) of it, for a kernel set. C = beta C has been
 * applied already (overwrite: beta was 0, the first k block stores instead of adding). */
typedef struct mvae_gemm_job {
    int transA, transB, M, N, K, lda, ldb, ldc;
    float alpha;
    const float *A, *B;
    float *C;
    int j_begin, j_end; /* column range of C this job computes */
    int overwrite;      /* beta == 0: the first k block stores into C instead of adding */
    const float *bias;  /* [N] added to every row by the first k block, or NULL */
} mvae_gemm_job;

typedef struct mvae_gemm_impl {
    const char *name;                   /* "mvae-avx2" */
    int nr;                             /* register block width: threads split columns in multiples */
    int mr;                             /* register block height: threads split rows in multiples */
    void (*run)(const mvae_gemm_job *g); /* the job's column range, alpha op(A) op(B) (+ bias) into C */
} mvae_gemm_impl;

/* The kernel sets this build carries (NULL where it does not: avx2/avx512 off x86-64, neon off
 * AArch64). mvae_gemm_impl_for(isa) is the set mvae_sgemm uses for an ISA. */
extern const mvae_gemm_impl mvae_gemm_impl_generic;
const mvae_gemm_impl *mvae_gemm_impl_for(int isa);

/* This thread's packing buffers, at least na and nb floats (64-byte aligned, kept between calls,
 * freed when the thread ends). */
void mvae_gemm_pack_buffers(size_t na, size_t nb, float **pa, float **pb);
#endif
