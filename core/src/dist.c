/* dist.c — the MPI process group and the collectives data-parallel training needs (mvae/dist.h).
 * Built with MVAE_HAVE_MPI (CMake found MPI) it calls MPI; without it the same interface is a
 * process group of one. */
#define _GNU_SOURCE
#include "mvae/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef MVAE_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1;
static bool g_started = false; /* we called MPI_Init */
static uint64_t g_bytes = 0, g_calls = 0;
static double g_seconds = 0; /* in blocking all-reduce calls: waiting for the slowest rank included */
static uint64_t g_steps_bucketed = 0, g_buckets_in = 0, g_buckets_after = 0;
static double g_exposed = 0, g_window = 0; /* bucketed: not hidden / overlap window (dist.h) */
static double g_in_backward = 0;           /* bucketed: in MPI calls made by the hook during backward */
#ifdef MVAE_HAVE_MPI
static int world_barrier_idle(mvae_error *err);
#endif

/* The launcher's rank count from the environment: Open MPI's mpirun, PMI (MPICH's Hydra, srun
 * --mpi=pmi2), PMIx (srun --mpi=pmix, Open MPI 5). 0: not launched by one. */
static long launcher_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS", NULL};
    for (int i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return strtol(v, NULL, 10);
    }
    if (getenv("PMIX_RANK")) return 1; /* PMIx without a size variable: ask MPI */
    return 0;
}

bool mvae_dist_compiled(void) {
#ifdef MVAE_HAVE_MPI
    return true;
#else
    return false;
#endif
}

const char *mvae_dist_backend(void) {
#ifdef MVAE_HAVE_MPI
    static char buf[MPI_MAX_LIBRARY_VERSION_STRING + 8];
    if (!buf[0]) {
        int len = 0;
        MPI_Get_library_version(buf, &len);
        buf[strcspn(buf, "\n,")] = '\0';
    }
    return buf;
#else
    return "none (built without MPI: install libopenmpi-dev, or run scripts/deps.sh, and configure again)";
#endif
}

int mvae_dist_init(mvae_error *err) {
    if (g_started) return MVAE_OK;
    const char *force = getenv("MVAE_MPI");
    long n = launcher_size();
    bool want = n > 0 || (force && !strcmp(force, "1"));
    if (force && !strcmp(force, "0")) want = false;
#ifdef MVAE_HAVE_MPI
    if (!want) return MVAE_OK;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided = 0;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return mvae_error_set(err, MVAE_ERR_IO, "MPI_Init failed (launched by an MPI launcher with %ld ranks); "
                                  "run without mpirun, or set MVAE_MPI=0 to ignore the launcher", n);
        g_started = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    return MVAE_OK;
#else
    if (n > 1)
        return mvae_error_set(err, MVAE_ERR_INVALID, "started by an MPI launcher with %ld ranks, but this mvae "
                              "was built without MPI (every rank would train the whole model alone): install "
                              "libopenmpi-dev (bash scripts/deps.sh build does) and configure again, then check "
                              "`cmake -B build -DMVAE_MPI=ON`", n);
    (void)want;
    return MVAE_OK;
#endif
}

void mvae_dist_finalize(void) {
#ifdef MVAE_HAVE_MPI
    if (!g_started) return;
    const char *st = getenv("MVAE_DIST_STATS");
    if (st && !strcmp(st, "1") && g_calls)
        fprintf(stderr, "mvae dist: rank %d of %d: %llu float all-reduces, %llu bytes (%.0f per call), %.3f s in them "
                "(%.3f ms per call, waiting for the slowest rank included)\n", g_rank, g_size,
                (unsigned long long)g_calls, (unsigned long long)g_bytes, (double)g_bytes / (double)g_calls, g_seconds,
                1e3 * g_seconds / (double)g_calls);
    if (st && !strcmp(st, "1") && g_steps_bucketed)
        fprintf(stderr, "mvae dist: rank %d of %d: bucketed: %llu steps, %llu buckets started during backward, %llu "
                "after it; %.3f s exposed (%.3f ms per step: from backward's end to the last bucket's completion), "
                "overlap window %.3f ms per step (first bucket's start to backward's end), %.3f ms per step in "
                "MPI calls during backward (starting buckets, MPI_Testall)\n", g_rank, g_size,
                (unsigned long long)g_steps_bucketed, (unsigned long long)g_buckets_in,
                (unsigned long long)g_buckets_after, g_exposed, 1e3 * g_exposed / (double)g_steps_bucketed,
                1e3 * g_window / (double)g_steps_bucketed, 1e3 * g_in_backward / (double)g_steps_bucketed);
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) {
        world_barrier_idle(NULL); /* also after mvae_dist_detach: the world waits for its last rank */
        MPI_Finalize();
    }
    g_started = false;
    g_rank = 0;
    g_size = 1;
#endif
}

int mvae_dist_rank(void) { return g_rank; }
int mvae_dist_size(void) { return g_size; }
uint64_t mvae_dist_bytes_allreduced(void) { return g_bytes; }

_Noreturn void mvae_dist_abort(int code) {
    fflush(stdout);
    fflush(stderr);
#ifdef MVAE_HAVE_MPI
    if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    exit(code);
}

#ifdef MVAE_HAVE_MPI
static int mpi_fail(mvae_error *err, int code, const char *what) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, msg, &len);
    return mvae_error_set(err, MVAE_ERR_IO, "rank %d of %d: %s failed: %s", g_rank, g_size, what, msg);
}

/* MPI counts are int: split large buffers into chunks of at most 2^30 elements */
#define MPI_CHUNK ((size_t)1 << 30)
#endif

int mvae_dist_allreduce_sum_f32(float *buf, size_t n, mvae_error *err) {
    if (g_size <= 1 || n == 0) return MVAE_OK;
    g_bytes += n * sizeof *buf;
    g_calls++;
#ifdef MVAE_HAVE_MPI
    double t0 = mvae_time_sec();
    for (size_t o = 0; o < n; o += MPI_CHUNK) {
        int c = (int)(n - o < MPI_CHUNK ? n - o : MPI_CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + o, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "MPI_Allreduce of the gradients");
    }
    g_seconds += mvae_time_sec() - t0;
#endif
    return MVAE_OK;
}

int mvae_dist_allreduce_sum_f64(double *buf, size_t n, mvae_error *err) {
    if (g_size <= 1 || n == 0) return MVAE_OK;
    g_bytes += n * sizeof *buf;
#ifdef MVAE_HAVE_MPI
    for (size_t o = 0; o < n; o += MPI_CHUNK) {
        int c = (int)(n - o < MPI_CHUNK ? n - o : MPI_CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + o, c, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "MPI_Allreduce");
    }
#endif
    return MVAE_OK;
}

int mvae_dist_bcast(void *buf, size_t bytes, mvae_error *err) {
    if (g_size <= 1 || bytes == 0) return MVAE_OK;
#ifdef MVAE_HAVE_MPI
    for (size_t o = 0; o < bytes; o += MPI_CHUNK) {
        int c = (int)(bytes - o < MPI_CHUNK ? bytes - o : MPI_CHUNK);
        int rc = MPI_Bcast((char *)buf + o, c, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "MPI_Bcast from rank 0");
    }
#endif
    return MVAE_OK;
}

int mvae_dist_allgather(const void *in, void *out, size_t bytes, mvae_error *err) {
    if (g_size <= 1) {
        memcpy(out, in, bytes);
        return MVAE_OK;
    }
#ifdef MVAE_HAVE_MPI
    if (bytes > (size_t)1 << 30) return mvae_error_set(err, MVAE_ERR_INVALID, "allgather of %zu bytes", bytes);
    int rc = MPI_Allgather(in, (int)bytes, MPI_BYTE, out, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "MPI_Allgather");
#endif
    return MVAE_OK;
}

int mvae_dist_barrier_idle(mvae_error *err) {
    if (g_size <= 1) return MVAE_OK;
#ifdef MVAE_HAVE_MPI
    return world_barrier_idle(err);
#else
    return MVAE_OK;
#endif
}

#ifdef MVAE_HAVE_MPI
static int world_barrier_idle(mvae_error *err) {
    MPI_Request req;
    int rc = MPI_Ibarrier(MPI_COMM_WORLD, &req);
    if (rc != MPI_SUCCESS) return err ? mpi_fail(err, rc, "MPI_Ibarrier") : MVAE_ERR_IO;
    for (int done = 0;;) {
        rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return err ? mpi_fail(err, rc, "MPI_Test") : MVAE_ERR_IO;
        if (done) break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return MVAE_OK;
}
#endif

void mvae_dist_detach(void) {
    g_rank = 0;
    g_size = 1;
}

/* ------------------------------------------------------------------------ parameter store */
int mvae_dist_sync_params(mvae_params *ps, mvae_optim *opt, mvae_error *err) {
    if (g_size <= 1) return MVAE_OK;
    int rc;
    /* rank 0's moments may exist (a resumed run) where the others' do not yet */
    struct { int64_t step; int32_t moments; int32_t pad; } h = {opt ? opt->step : 0, ps->m && ps->v, 0};
    if ((rc = mvae_dist_bcast(&h, sizeof h, err))) return rc;
    if ((rc = mvae_dist_bcast(ps->data, ps->n_floats * sizeof(float), err))) return rc;
    if (opt) opt->step = h.step;
    if (h.moments) {
        size_t bytes = (ps->n_floats ? ps->n_floats : 16) * sizeof(float);
        if (!ps->m) ps->m = mvae_alloc_aligned(bytes);
        if (!ps->v) ps->v = mvae_alloc_aligned(bytes);
        if (!ps->m || !ps->v)
            return mvae_error_set(err, MVAE_ERR_NOMEM, "rank %d: out of memory for the optimizer moments", g_rank);
        if ((rc = mvae_dist_bcast(ps->m, ps->n_floats * sizeof(float), err)) ||
            (rc = mvae_dist_bcast(ps->v, ps->n_floats * sizeof(float), err)))
            return rc;
    }
    return MVAE_OK;
}

void mvae_dist_get_stats(mvae_dist_stats *st) {
    memset(st, 0, sizeof *st);
    st->allreduce_calls = g_calls;
    st->allreduce_bytes = g_bytes;
    st->allreduce_seconds = g_seconds;
    st->steps_bucketed = g_steps_bucketed;
    st->buckets_in_backward = g_buckets_in;
    st->buckets_after = g_buckets_after;
    st->exposed_seconds = g_exposed;
    st->window_seconds = g_window;
    st->in_backward_seconds = g_in_backward;
}

static void grads_written(mvae_params *ps) {
    for (int i = 0; i < ps->count; i++)
        if (!ps->entries[i].buffer) ps->entries[i].t->flags &= ~(uint32_t)MVAE_T_GRAD_ZERO;
}

int mvae_dist_allreduce_grads_weighted(mvae_params *ps, float w, mvae_error *err) {
    if (g_size <= 1) return MVAE_OK;
    float *g = ps->grad;
    if (w != 1.0f)
        for (size_t i = 0; i < ps->n_floats; i++) g[i] *= w;
    int rc = mvae_dist_allreduce_sum_f32(ps->grad, ps->n_floats, err);
    if (rc) return rc;
    grads_written(ps);
    return MVAE_OK;
}

int mvae_dist_allreduce_grads(mvae_params *ps, mvae_error *err) {
    if (g_size <= 1) return MVAE_OK;
    int rc = mvae_dist_allreduce_sum_f32(ps->grad, ps->n_floats, err);
    if (rc) return rc;
    const float s = 1.0f / (float)g_size;
    float *g = ps->grad;
    for (size_t i = 0; i < ps->n_floats; i++) g[i] *= s;
    for (int i = 0; i < ps->count; i++)
        if (!ps->entries[i].buffer) ps->entries[i].t->flags &= ~(uint32_t)MVAE_T_GRAD_ZERO;
    return MVAE_OK;
}

int mvae_dist_average_buffers(mvae_params *ps, mvae_error *err) {
    return mvae_dist_average_buffers_weighted(ps, 1.0f / (float)g_size, err);
}

int mvae_dist_average_buffers_weighted(mvae_params *ps, float w, mvae_error *err) {
    if (g_size <= 1) return MVAE_OK;
    for (int i = 0; i < ps->count; i++) {
        const mvae_param_entry *e = &ps->entries[i];
        if (!e->buffer) continue;
        for (int64_t k = 0; k < e->t->n; k++) e->t->data[k] *= w;
        int rc = mvae_dist_allreduce_sum_f32(e->t->data, (size_t)e->t->n, err);
        if (rc) return rc;
    }
    return MVAE_OK;
}

int mvae_dist_check_params(mvae_params *ps, mvae_optim *opt, mvae_error *err) {
    if (g_size <= 1) return MVAE_OK;
    static bool perturbed = false; /* test hook: rank 1's parameters made to differ, once */
    if (!perturbed && g_rank == 1 && getenv("MVAE_TEST_DIST_PERTURB") && ps->n_floats) ps->data[0] += 1.0f, perturbed = true;
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *p = (const unsigned char *)ps->data;
    for (size_t i = 0; i < ps->n_floats * sizeof(float); i++) h = (h ^ p[i]) * 0x100000001b3ull;
    uint64_t *all = malloc((size_t)g_size * sizeof *all);
    if (!all) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    int rc = mvae_dist_allgather(&h, all, sizeof h, err), differ = 0;
    for (int r = 1; !rc && r < g_size; r++)
        if (all[r] != all[0]) {
            if (!differ && g_rank == 0)
                MVAE_WARN("the parameters of rank %d differ from rank 0's (hash %016llx, rank 0 %016llx): an MPI "
                          "whose all-reduce does not give every rank the same sum? Every rank continues from rank "
                          "0's parameters and optimizer state; please report this with the MPI library and version",
                          r, (unsigned long long)all[r], (unsigned long long)all[0]);
            differ++;
        }
    free(all);
    if (!rc && differ) rc = mvae_dist_sync_params(ps, opt, err);
    return rc;
}

/* ------------------------------------------------------- bucketed, overlapped with backward */
struct mvae_dist_buckets {
    mvae_params *ps;
    size_t bucket_floats;
    int n;              /* buckets */
    size_t *ready;      /* per bucket: the first tape position reading one of its parameters */
    int next;           /* the next bucket to start (n-1 down to 0); -1: all started */
    float w;
    bool armed, in_backward;
    int fail;           /* the first MPI error code (reported by finish) */
    double t_first;     /* when the first bucket started */
#ifdef MVAE_HAVE_MPI
    MPI_Request *req;
#endif
};

mvae_dist_buckets *mvae_dist_buckets_new(mvae_params *ps, size_t bucket_bytes) {
    mvae_dist_buckets *bk = calloc(1, sizeof *bk);
    if (!bk) return NULL;
    bk->ps = ps;
    bk->bucket_floats = bucket_bytes / sizeof(float);
    if (bk->bucket_floats < 1) bk->bucket_floats = 1;
    if (bk->bucket_floats > ((size_t)1 << 30)) bk->bucket_floats = (size_t)1 << 30; /* MPI counts are int */
    size_t n = ps->n_floats ? (ps->n_floats + bk->bucket_floats - 1) / bk->bucket_floats : 0;
    if (n > (size_t)1 << 30) n = (size_t)1 << 30, bk->bucket_floats = (ps->n_floats + n - 1) / n;
    bk->n = (int)n;
    bk->ready = calloc(n ? n : 1, sizeof *bk->ready);
#ifdef MVAE_HAVE_MPI
    bk->req = malloc((n ? n : 1) * sizeof *bk->req);
    if (bk->req)
        for (size_t i = 0; i < n; i++) bk->req[i] = MPI_REQUEST_NULL;
    if (!bk->req) {
        free(bk->ready);
        bk->ready = NULL;
    }
#endif
    if (!bk->ready) {
        free(bk);
        return NULL;
    }
    return bk;
}

void mvae_dist_buckets_free(mvae_dist_buckets *bk) {
    if (!bk) return;
    free(bk->ready);
#ifdef MVAE_HAVE_MPI
    free(bk->req);
#endif
    free(bk);
}

int mvae_dist_buckets_count(const mvae_dist_buckets *bk) { return bk ? bk->n : 0; }

#ifdef MVAE_HAVE_MPI
static void bucket_start(mvae_dist_buckets *bk, int b) {
    size_t o = (size_t)b * bk->bucket_floats, c = bk->ps->n_floats - o;
    if (c > bk->bucket_floats) c = bk->bucket_floats;
    float *g = bk->ps->grad + o;
    if (bk->w != 1.0f)
        for (size_t i = 0; i < c; i++) g[i] *= bk->w;
    if (b == bk->n - 1) bk->t_first = mvae_time_sec();
    g_bytes += c * sizeof(float);
    g_calls++;
    if (bk->in_backward) g_buckets_in++;
    else g_buckets_after++;
    double t0 = mvae_time_sec();
    int rc = MPI_Iallreduce(MPI_IN_PLACE, g, (int)c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &bk->req[b]);
    if (bk->in_backward) g_in_backward += mvae_time_sec() - t0;
    if (rc != MPI_SUCCESS && !bk->fail) bk->fail = rc;
}

/* mvae_backward_hook: see mvae_dist_buckets in dist.h */
static void buckets_hook(mvae_ctx *ctx, void *user, size_t pos, size_t end) {
    mvae_dist_buckets *bk = user;
    if (pos == end) { /* the complete tape: each bucket's first reader */
        for (int b = 0; b < bk->n; b++) bk->ready[b] = end; /* no reader: final already */
        const float *g0 = bk->ps->grad, *g1 = g0 + bk->ps->n_floats;
        for (size_t i = 0; i < end; i++) {
            const mvae_tensor *t = mvae_ctx_tape_at(ctx, i);
            for (int k = 0; k < 4; k++) {
                const mvae_tensor *s = t->src[k];
                while (s && (s->flags & MVAE_T_VIEW) && !(s->flags & MVAE_T_PARAM) && s->src[0]) s = s->src[0];
                if (!s || !(s->flags & MVAE_T_PARAM) || !s->grad || s->grad < g0 || s->grad >= g1) continue;
                size_t o = (size_t)(s->grad - g0), last = o + (size_t)s->n - 1;
                for (size_t b = o / bk->bucket_floats; b <= last / bk->bucket_floats && b < (size_t)bk->n; b++)
                    if (i < bk->ready[b]) bk->ready[b] = i;
            }
        }
        bk->in_backward = true;
    }
    bool started = false;
    while (bk->next >= 0 && bk->ready[bk->next] >= pos) {
        bucket_start(bk, bk->next--);
        started = true;
    }
    /* Open MPI progresses non-blocking collectives only inside MPI calls: poll between ops */
    if (!started && bk->next < bk->n - 1) {
        int done = 0;
        double t0 = mvae_time_sec();
        MPI_Testall(bk->n - 1 - bk->next, bk->req + bk->next + 1, &done, MPI_STATUSES_IGNORE);
        g_in_backward += mvae_time_sec() - t0;
    }
}
#endif

void mvae_dist_buckets_arm(mvae_dist_buckets *bk, mvae_ctx *ctx, float w) {
    if (g_size <= 1 || !bk) return;
    bk->w = w;
    bk->next = bk->n - 1;
    bk->fail = 0;
    bk->armed = true;
    bk->in_backward = false;
#ifdef MVAE_HAVE_MPI
    mvae_ctx_set_backward_hook(ctx, buckets_hook, bk);
#else
    (void)ctx;
#endif
}

int mvae_dist_buckets_finish(mvae_dist_buckets *bk, mvae_ctx *ctx, mvae_error *err) {
    if (g_size <= 1 || !bk || !bk->armed) return MVAE_OK;
    mvae_ctx_set_backward_hook(ctx, NULL, NULL);
    bk->armed = false;
#ifdef MVAE_HAVE_MPI
    double t_end = mvae_time_sec();
    bool any_in = bk->next < bk->n - 1 && bk->in_backward;
    bk->in_backward = false;
    while (bk->next >= 0) bucket_start(bk, bk->next--);
    int rc = MPI_Waitall(bk->n, bk->req, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS && !bk->fail) bk->fail = rc;
    g_steps_bucketed++;
    g_exposed += mvae_time_sec() - t_end;
    if (any_in) g_window += t_end - bk->t_first;
    if (bk->fail) return mpi_fail(err, bk->fail, "MPI_Iallreduce of a gradient bucket");
#else
    (void)err;
#endif
    grads_written(bk->ps);
    return MVAE_OK;
}

/* --------------------------------------------------------------------------------- noise */
void mvae_noise_fill(mvae_ctx *ctx, mvae_rng *rng, mvae_tensor *eps) {
    int64_t row0, n, global;
    int64_t rows = eps->ndim > 0 ? eps->shape[0] : 0;
    if (!mvae_ctx_batch_window(ctx, &row0, &n, &global) || rows < n || rows % n != 0) {
        mvae_rng_normal_fill(rng, eps->data, (size_t)eps->n);
        return;
    }
    const int64_t S = rows / n, D = eps->n / rows;
    /* the global batch's noise, S * global rows, in the order one process would draw it */
    float *all = mvae_ctx_scratch(ctx, (size_t)(S * global * D) * sizeof(float));
    if (!all) { /* out of memory: the ctx records it; fall back to local draws */
        mvae_rng_normal_fill(rng, eps->data, (size_t)eps->n);
        return;
    }
    mvae_rng_normal_fill(rng, all, (size_t)(S * global * D));
    for (int64_t s = 0; s < S; s++)
        memcpy(eps->data + s * n * D, all + (s * global + row0) * D, (size_t)(n * D) * sizeof(float));
}
