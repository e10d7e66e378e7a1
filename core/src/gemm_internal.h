/* gemm_internal.h — the GEMM every layer calls (not installed). See gemm.c. */
#ifndef MVAE_GEMM_INTERNAL_H
#define MVAE_GEMM_INTERNAL_H
/* Row-major C[M,N] = alpha op(A) op(B) + beta C, the arguments of cblas_sgemm(CblasRowMajor,...) */
void mvae_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc);
/* The same plus bias[j] on every row of C (bias [N], or NULL): added by the kernel as it first
 * stores a tile, so a linear layer needs no pass to fill C with its bias */
void mvae_sgemm_bias(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc, const float *bias);
/* 1 = mvae's AVX-512 kernels, 0 = OpenBLAS (no AVX-512, or MVAE_GEMM=blas in the environment) */
int mvae_gemm_backend(void);
const char *mvae_gemm_backend_name(void);
void mvae_gemm_force_backend(int backend); /* tests */
/* Threads for GEMM (mvae's pool and OpenBLAS's) */
void mvae_gemm_set_threads(int n);
/* train.threads: 0 (automatic): with the OpenBLAS backend one thread unless OPENBLAS_NUM_THREADS
 * is set or a thread count was chosen (mvae_gemm_set_threads); with mvae's own GEMM unchanged. */
void mvae_gemm_auto_threads(void);
void mvae_gemm_forget_threads(void); /* tests: as if no thread count had been chosen */
int mvae_gemm_threads(void);
/* Run fn(arg, begin, end) over ranges that split [0, n) between the GEMM threads (at most one range
 * per `grain` items; one thread runs fn(arg, 0, n) directly). Ranges must be independent. Calls
 * made from inside fn run serially. */
void mvae_parallel_for(int n, int grain, void (*fn)(void *arg, int begin, int end), void *arg);
/* Benchmarks: called after every mvae_sgemm with its shape and wall time (NULL = off, the default;
 * then nothing is timed). */
typedef void (*mvae_gemm_observer)(int transA, int transB, int M, int N, int K, float beta,
                                   double seconds, void *user);
void mvae_gemm_set_observer(mvae_gemm_observer fn, void *user);
#endif
