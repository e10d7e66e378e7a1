/* gemm.c — single-precision GEMM for the layers: mvae's own packed kernels for the instruction set
 * chosen at run time (isa.c: AVX-512F, AVX2 + FMA, portable C; one translation unit per ISA,
 * gemm_<isa>.c, each compiled with its own target flags), or OpenBLAS's cblas_sgemm.
 *
 * Which by default (measured at the MVAE's shapes, bench/README.md): the own AVX-512 kernels where
 * the CPU has AVX-512F; OpenBLAS everywhere else. On AVX2 + FMA (a Zen 2) the own AVX2 kernels
 * run at par with OpenBLAS's Zen kernels (0.93-1.05x a training step at one thread, over four
 * interleaved runs), not measurably faster, so they are there to be chosen (MVAE_ISA=avx2 or
 * MVAE_GEMM=mvae), not the default; the portable C kernels are far slower than OpenBLAS. MVAE_ISA=... forces an ISA and with it that ISA's
 * own kernels; MVAE_GEMM=blas selects OpenBLAS, MVAE_GEMM=mvae the own kernels, whatever the ISA.
 *
 * cblas_sgemm stays the reference: tests/test_gemm.c checks every kernel set the CPU runs against
 * it over every transpose combination, edge shapes and thread counts.
 *
 * Row-major: C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C. This file applies beta, splits
 * the rows or columns between the pool's threads in multiples of the kernels' register block, and keeps
 * the per-thread packing buffers; the kernel sets do the blocking, packing and micro-kernels.
 */
#define _GNU_SOURCE
#include "gemm_internal.h"
#include "mvae/common.h"
#include "mvae/isa.h"

#include <cblas.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void openblas_set_num_threads(int num_threads);

#if defined(__x86_64__)
extern const mvae_gemm_impl mvae_gemm_impl_avx2, mvae_gemm_impl_avx512;
#endif
#if defined(__aarch64__)
extern const mvae_gemm_impl mvae_gemm_impl_neon;
#endif

const mvae_gemm_impl *mvae_gemm_impl_for(int isa) {
    switch (isa) {
    case MVAE_ISA_GENERIC: return &mvae_gemm_impl_generic;
#if defined(__x86_64__)
    case MVAE_ISA_AVX2: return &mvae_gemm_impl_avx2;
    case MVAE_ISA_AVX512: return &mvae_gemm_impl_avx512;
#endif
#if defined(__aarch64__)
    case MVAE_ISA_NEON: return &mvae_gemm_impl_neon;
#endif
    default: return NULL;
    }
}

static int g_backend = -1; /* -1 unknown, 0 blas, 1 own kernels */
static int g_threads = 1;
static bool g_threads_chosen; /* mvae_gemm_set_threads was called (train.threads > 0) */

/* Own kernels by default on these ISAs: where they measurably beat OpenBLAS at the MVAE's shapes
 * (AVX-512: ~2x, OpenBLAS being held to its AVX2 kernels). AVX2: at par, not chosen by default. */
static bool own_by_default(mvae_isa_kind isa) { return isa == MVAE_ISA_AVX512; }

int mvae_gemm_backend(void) {
    int b = __atomic_load_n(&g_backend, __ATOMIC_ACQUIRE);
    if (b >= 0) return b;
    const char *e = getenv("MVAE_GEMM");
    mvae_isa_kind isa = mvae_isa();
    if (e && strcmp(e, "blas") == 0)
        b = 0;
    else if ((e && strcmp(e, "mvae") == 0) || mvae_isa_forced())
        b = mvae_gemm_impl_for(isa) ? 1 : 0;
    else
        b = own_by_default(isa) && mvae_gemm_impl_for(isa) ? 1 : 0;
    __atomic_store_n(&g_backend, b, __ATOMIC_RELEASE);
    return b;
}

const char *mvae_gemm_backend_name(void) {
    return mvae_gemm_backend() ? mvae_gemm_impl_for(mvae_isa())->name : "openblas";
}

void mvae_gemm_force_backend(int backend) { __atomic_store_n(&g_backend, backend, __ATOMIC_RELEASE); }

/* Per-thread packing buffers, kept between calls (allocated once per thread). A thread-exit
 * destructor frees them, so a caller thread that ends does not leak them. */
static __thread float *t_pa = NULL, *t_pb = NULL;
static __thread size_t t_pa_cap = 0, t_pb_cap = 0;
static pthread_key_t pack_key;
static pthread_once_t pack_once = PTHREAD_ONCE_INIT;
static void pack_free(void *unused) {
    (void)unused;
    free(t_pa);
    free(t_pb);
    t_pa = t_pb = NULL;
    t_pa_cap = t_pb_cap = 0;
}
static void pack_key_init(void) { (void)pthread_key_create(&pack_key, pack_free); }

/* 16 floats of slack past the end: a kernel may store a full vector into the last packed row */
void mvae_gemm_pack_buffers(size_t na, size_t nb, float **pa, float **pb) {
    if (!t_pa_cap && !t_pb_cap) { /* this thread's first GEMM: have its buffers freed when it ends */
        pthread_once(&pack_once, pack_key_init);
        (void)pthread_setspecific(pack_key, (void *)1);
    }
    if (t_pa_cap < na) {
        free(t_pa);
        t_pa = aligned_alloc(64, (na + 16) * sizeof(float));
        t_pa_cap = na;
    }
    if (t_pb_cap < nb) {
        free(t_pb);
        t_pb = aligned_alloc(64, (nb + 16) * sizeof(float));
        t_pb_cap = nb;
    }
    MVAE_ASSERT(t_pa && t_pb);
    *pa = t_pa;
    *pb = t_pb;
}

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


/* A persistent pool of T-1 workers for mvae_sgemm's row or column split and mvae_parallel_for. The
 * caller posts one task per thread and runs the first itself; workers sleep on a condition
 * variable between calls (no spinning: 2 cores are shared with OpenBLAS and the rest of the step).
 * A task never posts tasks itself: inside a task (in_task) both entry points run serially. */
typedef struct pool_task {
    void (*fn)(void *arg, int begin, int end);
    void *arg;
    int begin, end;
    int taken; /* under pool.mu: 0 = not started, 1 = started by its worker, 2 = taken by the caller */
} pool_task;

/* A worker that is not running when its task is posted (on a machine with more runnable
 * processes than cores it may wait milliseconds for a time slice) does not hold the product up:
 * once the caller has finished its own task it takes every task no worker has started and runs it
 * itself, then waits only for the tasks that workers did start. */
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
static int g_hold_workers; /* tests: workers start no task, the caller takes them all */
void mvae_gemm_pool_hold_workers(int on) { __atomic_store_n(&g_hold_workers, on, __ATOMIC_RELEASE); }

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
        if (me < pool.n_tasks && !pool.tasks[me].taken && !__atomic_load_n(&g_hold_workers, __ATOMIC_ACQUIRE)) {
            pool.tasks[me].taken = 1;
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
        pool.tasks[t] = (pool_task){fn, (char *)args + (size_t)t * arg_size, t * per, (t + 1) * per < n ? (t + 1) * per : n, 0};
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
    /* the tasks no worker has started yet: run them here */
    for (;;) {
        pool_task steal = {0};
        pthread_mutex_lock(&pool.mu);
        for (int t = 1; t < nt && !steal.fn; t++)
            if (!pool.tasks[t].taken) {
                pool.tasks[t].taken = 2;
                steal = pool.tasks[t];
            }
        pthread_mutex_unlock(&pool.mu);
        if (!steal.fn) break;
        steal.fn(steal.arg, steal.begin, steal.end);
        __atomic_sub_fetch(&pool.pending, 1, __ATOMIC_RELEASE);
    }
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

typedef struct gemm_task_arg {
    mvae_gemm_job job;
    const mvae_gemm_impl *impl;
} gemm_task_arg;

static void gemm_task(void *arg, int begin, int end) {
    const gemm_task_arg *t = arg;
    mvae_gemm_job g = t->job;
    g.j_begin = begin;
    g.j_end = end;
    t->impl->run(&g);
}

/* rows [begin, end) of C: the same job on the sub-matrices (A's rows are its columns when transposed) */
static void gemm_rows_task(void *arg, int begin, int end) {
    const gemm_task_arg *t = arg;
    mvae_gemm_job g = t->job;
    g.A += g.transA ? (size_t)begin : (size_t)begin * g.lda;
    g.C += (size_t)begin * g.ldc;
    g.M = end - begin;
    t->impl->run(&g);
}

/* Split a product between T threads. Every thread packs its own panels of both operands: a split
 * of the columns of C makes each thread pack all of op(A) (M x K), a split of the rows all of op(B)
 * (K x N). Rows are split where op(A) is the larger (M > N: the backward products dW = dY^T X with
 * out > in, and the CNN's dcol), columns otherwise; in multiples of the register block. */
static int g_column_split; /* mvae_gemm_set_column_split */
void mvae_gemm_set_column_split(int on) { g_column_split = on; }
static bool split_rows(const mvae_gemm_job *g, const mvae_gemm_impl *impl) {
    return !g_column_split && g->M > g->N && g->M >= 2 * impl->mr;
}

static void run_parallel(const mvae_gemm_job *g, const mvae_gemm_impl *impl, int T) {
    if (in_task) {
        impl->run(g);
        return;
    }
    gemm_task_arg t = {*g, impl};
    if (split_rows(g, impl))
        pool_run(gemm_rows_task, &t, 0, g->M, T, impl->mr);
    else
        pool_run(gemm_task, &t, 0, g->N, T, impl->nr);
}

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
    if (mvae_gemm_backend() == 1) {
        const mvae_gemm_impl *impl = mvae_gemm_impl_for(mvae_isa());
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
        mvae_gemm_job g = {transA, transB, M, N, K, lda, ldb, ldc, alpha, A, B, C, 0, N, zero_first, bias};
        int T = g_threads;
        /* threads split the rows or the columns in multiples of the register block (run_parallel);
         * small products stay on one thread */
        if (T > 1 && (double)M * N * K >= 4e6 && (N >= 2 * impl->nr || split_rows(&g, impl)))
            run_parallel(&g, impl, T);
        else
            impl->run(&g);
        return;
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (bias) add_bias_rows(M, N, C, ldc, bias);
}
