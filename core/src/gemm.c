/* gemm.c — single-precision GEMM for the layers: a packed AVX-512 kernel (BLIS-style blocking,
 * Van Zee & van de Geijn 2015) where the CPU has AVX-512F, OpenBLAS's cblas_sgemm otherwise.
 *
 * Why our own: the environment pins OpenBLAS to its Haswell (AVX2) kernels for correctness on
 * newer CPUs (OPENBLAS_CORETYPE), which leaves half of an AVX-512 core's FMA width unused; the
 * MVAE's GEMMs are small (M = 100..300 rows) and packing dominates there, so a kernel sized for
 * them pays off. cblas_sgemm stays the reference: tests/test_gemm.c checks one against the other
 * over every transpose combination and edge shapes, and MVAE_GEMM=blas selects OpenBLAS at run
 * time (for benchmarks and as an escape hatch).
 *
 * Row-major: C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C.
 * Blocking: B is packed in KC x NR column panels (NR = 32, two zmm registers), A in MR x KC row
 * panels (MR = 12); the 12 x 32 micro-kernel keeps 24 zmm accumulators in registers and reads A
 * through embedded broadcasts. Threads: the N dimension is split between pthreads when
 * mvae_gemm_set_threads(n > 1) and the product is large enough.
 */
#define _GNU_SOURCE
#include "gemm_internal.h"
#include "mvae/common.h"

#include <cblas.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define MVAE_HAVE_AVX512 1
#else
#define MVAE_HAVE_AVX512 0
#endif

void openblas_set_num_threads(int num_threads);

static int g_backend = -1; /* -1 unknown, 0 blas, 1 avx512 */
static int g_threads = 1;
static bool g_threads_chosen; /* mvae_gemm_set_threads was called (train.threads > 0) */

int mvae_gemm_backend(void) {
    if (g_backend < 0) {
        const char *e = getenv("MVAE_GEMM");
        int want_blas = e && strcmp(e, "blas") == 0;
        int ok = 0;
#if MVAE_HAVE_AVX512
        __builtin_cpu_init();
        ok = __builtin_cpu_supports("avx512f");
#endif
        g_backend = (!want_blas && ok) ? 1 : 0;
    }
    return g_backend;
}

const char *mvae_gemm_backend_name(void) { return mvae_gemm_backend() ? "mvae-avx512" : "openblas"; }

void mvae_gemm_force_backend(int backend) { g_backend = backend; }

void mvae_gemm_set_threads(int n) {
    g_threads_chosen = true;
    g_threads = n < 1 ? 1 : (n > 64 ? 64 : n);
    openblas_set_num_threads(g_threads);
}
int mvae_gemm_threads(void) { return g_threads; }

void mvae_gemm_forget_threads(void) { g_threads_chosen = false; }

void mvae_gemm_auto_threads(void) {
    /* OpenBLAS's own threads do not speed up the MVAE's small GEMMs (100-300 rows) and, spinning
     * and yielding, make a step 2.6x slower as soon as any other process wants a core (measured:
     * docs/design.md). Unless the user asked for them (OPENBLAS_NUM_THREADS), use one. */
    if (g_threads_chosen || mvae_gemm_backend() != 0 || getenv("OPENBLAS_NUM_THREADS")) return;
    g_threads = 1;
    openblas_set_num_threads(1);
}

#if MVAE_HAVE_AVX512
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

typedef struct gemm_job {
    int transA, transB, M, N, K, lda, ldb, ldc;
    float alpha;
    const float *A, *B;
    float *C;
    int j_begin, j_end; /* column range of C this job computes */
    int overwrite;      /* beta == 0: the first k block stores into C instead of adding */
    const float *bias;  /* [N] added to every row by the first k block, or NULL */
} gemm_job;

/* Per-thread packing buffers, kept between calls (allocated once per thread). A thread-exit
 * destructor frees them, so a caller thread that ends does not leak them. */
static __thread float *pa = NULL, *pb = NULL;
static __thread size_t pa_cap = 0, pb_cap = 0;
static pthread_key_t pack_key;
static pthread_once_t pack_once = PTHREAD_ONCE_INIT;
static void pack_free(void *unused) {
    (void)unused;
    free(pa);
    free(pb);
    pa = pb = NULL;
    pa_cap = pb_cap = 0;
}
static void pack_key_init(void) { (void)pthread_key_create(&pack_key, pack_free); }

static void gemm_run(const gemm_job *g) {
    size_t need_a = (size_t)MC * KC, need_b = (size_t)KC * NC;
    if (!pa_cap && !pb_cap) { /* this thread's first GEMM: have its buffers freed when it ends */
        pthread_once(&pack_once, pack_key_init);
        (void)pthread_setspecific(pack_key, (void *)1);
    }
    if (pa_cap < need_a) {
        free(pa);
        pa = aligned_alloc(64, need_a * sizeof(float));
        pa_cap = need_a;
    }
    if (pb_cap < need_b) {
        free(pb);
        pb = aligned_alloc(64, need_b * sizeof(float));
        pb_cap = need_b;
    }
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

#endif

/* A persistent pool of T-1 workers for mvae_sgemm's column split and mvae_parallel_for. The
 * caller posts one task per thread and runs the first itself; workers sleep on a condition
 * variable between calls (no spinning: 2 cores are shared with OpenBLAS and the rest of the step).
 * A task never posts tasks itself: inside a task (in_task) both entry points run serially. */
typedef struct pool_task {
    void (*fn)(void *arg, int begin, int end);
    void *arg;
    int begin, end;
} pool_task;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    int n_workers;        /* started */
    unsigned generation;  /* bumped per posted batch of tasks */
    int pending;          /* tasks not finished in this generation */
    pool_task tasks[64];
    int n_tasks;
    pthread_t tid[64];
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, {{0}}, 0, {0}};

static __thread int in_task = 0;

/* Before sleeping on a condition variable, a thread polls for a short while (~50 µs): the next
 * GEMM of a step usually comes within microseconds, and a futex wake-up costs tens of them on a
 * virtual machine. Short enough not to starve the other work on 2 cores. */
#define POOL_SPIN 4000
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}
typedef struct { int index; } worker_arg;
static worker_arg worker_args[64];

static void *worker_main(void *arg) {
    int me = ((worker_arg *)arg)->index; /* 1.. */
    unsigned seen = 0;
    in_task = 1;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        if (__atomic_load_n(&pool.generation, __ATOMIC_ACQUIRE) == seen) {
            pthread_mutex_unlock(&pool.mu);
            for (int k = 0; k < POOL_SPIN && __atomic_load_n(&pool.generation, __ATOMIC_ACQUIRE) == seen; k++)
                cpu_relax();
            pthread_mutex_lock(&pool.mu);
            while (__atomic_load_n(&pool.generation, __ATOMIC_ACQUIRE) == seen)
                pthread_cond_wait(&pool.go, &pool.mu);
        }
        seen = pool.generation;
        if (me < pool.n_tasks) {
            pool_task t = pool.tasks[me];
            pthread_mutex_unlock(&pool.mu);
            t.fn(t.arg, t.begin, t.end);
            pthread_mutex_lock(&pool.mu);
            if (__atomic_sub_fetch(&pool.pending, 1, __ATOMIC_RELEASE) == 0) pthread_cond_signal(&pool.done);
        }
    }
    return NULL;
}

static int pool_ensure(int workers) {
    while (pool.n_workers < workers) {
        int i = pool.n_workers + 1;
        worker_args[i].index = i;
        if (pthread_create(&pool.tid[i], NULL, worker_main, &worker_args[i]) != 0) break;
        pthread_detach(pool.tid[i]);
        pool.n_workers++;
    }
    return pool.n_workers;
}

/* Split [0, n) into at most T ranges (each a multiple of `align` but the last) and run
 * fn(arg_t, begin, end) on them in parallel, args[t] = (char *)args + t * arg_size (arg_size 0:
 * every task gets args). Returns when all are done. */
static pthread_mutex_t pool_caller = PTHREAD_MUTEX_INITIALIZER; /* one batch of tasks at a time:
                                                                    * callers on other threads wait */
static void pool_run(void (*fn)(void *, int, int), void *args, size_t arg_size, int n, int T, int align) {
    pthread_mutex_lock(&pool_caller);
    pthread_mutex_lock(&pool.mu);
    T = 1 + (pool_ensure(T - 1) < T - 1 ? pool.n_workers : T - 1);
    int per = ((n + T - 1) / T + align - 1) / align * align;
    int nt = 0;
    for (int t = 0; t < T && t * per < n; t++) {
        pool.tasks[t] = (pool_task){fn, (char *)args + (size_t)t * arg_size, t * per, (t + 1) * per < n ? (t + 1) * per : n};
        nt++;
    }
    pool.n_tasks = nt;
    __atomic_store_n(&pool.pending, nt - 1, __ATOMIC_RELAXED);
    __atomic_store_n(&pool.generation, pool.generation + 1, __ATOMIC_RELEASE);
    pool_task mine = pool.tasks[0];
    if (nt > 1) pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.mu);
    in_task = 1;
    mine.fn(mine.arg, mine.begin, mine.end);
    in_task = 0;
    for (int k = 0; k < POOL_SPIN && __atomic_load_n(&pool.pending, __ATOMIC_ACQUIRE) > 0; k++) cpu_relax();
    pthread_mutex_lock(&pool.mu);
    while (__atomic_load_n(&pool.pending, __ATOMIC_ACQUIRE) > 0) pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool_caller);
}

void mvae_parallel_for(int n, int grain, void (*fn)(void *arg, int begin, int end), void *arg) {
    if (n <= 0) return;
    int T = g_threads;
    if (grain < 1) grain = 1;
    if (T > n / grain) T = n / grain;
    if (T <= 1 || in_task) {
        fn(arg, 0, n);
        return;
    }
    pool_run(fn, arg, 0, n, T, 1);
}

#if MVAE_HAVE_AVX512
static void gemm_task(void *arg, int begin, int end) {
    gemm_job g = *(gemm_job *)arg;
    g.j_begin = begin;
    g.j_end = end;
    gemm_run(&g);
}

static void run_parallel(const gemm_job *g, int T) {
    if (in_task) {
        gemm_run(g);
        return;
    }
    gemm_job job = *g;
    pool_run(gemm_task, &job, 0, g->N, T, NR);
}
#endif

static mvae_gemm_observer g_observer = NULL;
static void *g_observer_user = NULL;
void mvae_gemm_set_observer(mvae_gemm_observer fn, void *user) {
    g_observer = fn;
    g_observer_user = user;
}

static void sgemm_impl(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc, const float *bias);

void mvae_sgemm_bias(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc, const float *bias) {
    if (!g_observer) {
        sgemm_impl(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias);
        return;
    }
    double t0 = mvae_time_sec();
    sgemm_impl(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias);
    g_observer(transA, transB, M, N, K, beta, mvae_time_sec() - t0, g_observer_user);
}

void mvae_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc) {
    mvae_sgemm_bias(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
}

/* C[i, :] += bias for every row */
static void add_bias_rows(int M, int N, float *C, int ldc, const float *bias) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] += bias[j];
}

static void sgemm_impl(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc, const float *bias) {
    if (M <= 0 || N <= 0) return;
#if MVAE_HAVE_AVX512
    if (mvae_gemm_backend() == 1) {
        /* C = beta C first (beta = 0: the kernels' first k block stores instead of adding); the
         * kernels then accumulate alpha op(A) op(B) */
        bool zero_first = beta == 0.0f && K > 0 && alpha != 0.0f;
        if (beta == 0.0f && !zero_first) {
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof(float));
        } else if (beta != 1.0f && beta != 0.0f) {
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] *= beta;
        }
        if (K <= 0 || alpha == 0.0f) {
            if (bias) add_bias_rows(M, N, C, ldc, bias);
            return;
        }
        gemm_job g = {transA, transB, M, N, K, lda, ldb, ldc, alpha, A, B, C, 0, N, zero_first, bias};
        int T = g_threads;
        /* threads split the columns in NR multiples; small products stay on one thread */
        if (T > 1 && (double)M * N * K >= 4e6 && N >= 2 * NR)
            run_parallel(&g, T);
        else
            gemm_run(&g);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (bias) add_bias_rows(M, N, C, ldc, bias);
}
