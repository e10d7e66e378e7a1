/* mvae/dist.h — data-parallel training over MPI: the process group, collectives on the parameter
 * store, and the reparameterisation noise of a rank's slice of the global batch.
 *
 *   // mvae's main, before anything else (mpirun -np 4 mvae train exp.yaml)
 *   if (mvae_dist_init(&err)) { ... }
 *   int r = mvae_dist_rank(), n = mvae_dist_size();   // 0, 1 without MPI or without a launcher
 *   ... mvae_train(...)   // splits every batch over the n ranks, all-reduces the gradients ...
 *   mvae_dist_finalize();
 *
 * Built without MPI (cmake found no MPI, or -DMVAE_MPI=OFF) the same functions exist: size 1,
 * rank 0, the collectives are no-ops, and mvae_dist_init under an MPI launcher (N > 1 ranks in
 * the environment) fails with how to enable MPI. Which is built: mvae_dist_backend().
 *
 * MPI is initialised only when the process was started by an MPI launcher (Open MPI's mpirun,
 * MPICH/Hydra, srun with PMI/PMIx: the environment says so) or when MVAE_MPI=1, so a plain
 * `mvae train` never pays for, or depends on, MPI's start-up. What the trainer synchronises and
 * what it does not is in docs/scaling.md.
 */
#ifndef MVAE_DIST_H
#define MVAE_DIST_H
#include "mvae/params.h"
#include "mvae/optim.h"
#include "mvae/tensor.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Initialise the process group (idempotent). Returns MVAE_OK with size 1 when not launched by an
 * MPI launcher; an error when launched with N > 1 ranks but built without MPI, or when MPI_Init
 * fails. */
int mvae_dist_init(mvae_error *err);
/* Finalise MPI if mvae_dist_init started it (after an idle barrier, so ranks waiting for rank 0's
 * evaluation do not spin). Idempotent. */
void mvae_dist_finalize(void);
int mvae_dist_rank(void); /* 0 .. size-1; 0 when not initialised */
int mvae_dist_size(void); /* 1 when not initialised or without MPI */
/* "Open MPI v4.1.4, ..." or "none (built without MPI: ...)". */
const char *mvae_dist_backend(void);
/* true when libmvae was built with MPI */
bool mvae_dist_compiled(void);
/* From now on this process works alone (rank 0 of 1) while MPI stays initialised until
 * mvae_dist_finalize: `mpirun -np N mvae sweep` makes each rank a shard that trains its runs by
 * itself. Read the rank and size first. */
void mvae_dist_detach(void);
/* Stop every rank (MPI_Abort) after the caller printed its message; exit(code) without MPI.
 * Only the command's main calls it. */
_Noreturn void mvae_dist_abort(int code);

/* ---- collectives (every rank MUST call them in the same order; no-ops with size 1) ---- */
int mvae_dist_allreduce_sum_f32(float *buf, size_t n, mvae_error *err);  /* in place */
int mvae_dist_allreduce_sum_f64(double *buf, size_t n, mvae_error *err); /* in place */
int mvae_dist_bcast(void *buf, size_t bytes, mvae_error *err);           /* from rank 0 */
/* gather `bytes` from every rank into out[size * bytes] on every rank */
int mvae_dist_allgather(const void *in, void *out, size_t bytes, mvae_error *err);
/* A barrier that sleeps (1 ms polls) instead of spinning: for ranks that wait while rank 0
 * writes checkpoints or evaluates, so they leave its core alone. */
int mvae_dist_barrier_idle(mvae_error *err);
/* Bytes this process has passed to all-reduce calls so far (the payload, not the wire traffic:
 * a ring all-reduce sends 2 (N-1)/N of it per rank, docs/scaling.md). */
uint64_t mvae_dist_bytes_allreduced(void);
/* MVAE_DIST_STATS=1: mvae_dist_finalize prints each rank's float all-reduce calls, bytes and the
 * seconds spent in them, and for the bucketed all-reduce the seconds not hidden behind backward
 * (bench/scaling.sh reads it). */

/* ---- the parameter store ---- */
/* Make every rank's parameters, buffers, optimizer moments and step count rank 0's (at the start
 * and after a resume). */
int mvae_dist_sync_params(mvae_params *ps, mvae_optim *opt, mvae_error *err);
/* After backward: sum the gradient block over the ranks in ONE in-place all-reduce of
 * ps->n_floats floats, then scale by 1/size (each rank's loss is the mean over its slice, so
 * this is the gradient of the mean over the global batch). Every trainable entry's gradient is
 * then written (its MVAE_T_GRAD_ZERO flag is cleared). */
int mvae_dist_allreduce_grads(mvae_params *ps, mvae_error *err);
/* The same with this rank's weight w in the global mean: every rank scales its gradient by w
 * (its share of the global batch, n_r / B, so uneven slices count by their rows) before the
 * sum; no scaling after. With w = 1/size and size a power of two the result is
 * bit-identical to mvae_dist_allreduce_grads. */
int mvae_dist_allreduce_grads_weighted(mvae_params *ps, float w, mvae_error *err);

/* ---- bucketed all-reduce overlapped with backward ----
 * The gradient block is cut into buckets of bucket_bytes (the last one shorter). Armed on a
 * context (mvae_dist_buckets_arm), backward's hook (mvae_ctx_set_backward_hook) finds, on the
 * complete tape, the first op reading each parameter; after the sweep has passed the first
 * reader of every parameter overlapping a bucket, that bucket is final: it is scaled by the
 * rank's weight and its non-blocking MPI_Iallreduce (in place) starts while backward goes on.
 * Buckets start in one fixed order on every rank (from the end of the block to its start:
 * the decoders, whose gradients backward finishes first, are allocated last), so ranks whose
 * tapes differ (per-rank random subsets) still issue the same collectives in the same order.
 * Between ops the hook calls MPI_Testall, because Open MPI progresses non-blocking collectives
 * only inside MPI calls. mvae_dist_buckets_finish starts what is left and waits for all.
 * The sums are the same additions as the one-shot path (element-wise over the ranks), so the
 * result is bit-identical to it for 2 ranks (a + b = b + a); for more ranks the MPI library may
 * pick another reduction order for smaller messages (a few ulps; the epoch-end hash check then
 * keeps the ranks identical). With size 1 (or without MPI) nothing is armed: a no-op. */
typedef struct mvae_dist_buckets mvae_dist_buckets;
/* NULL when out of memory. bucket_bytes is rounded to whole floats (at least one). */
mvae_dist_buckets *mvae_dist_buckets_new(mvae_params *ps, size_t bucket_bytes);
void mvae_dist_buckets_free(mvae_dist_buckets *bk);
int mvae_dist_buckets_count(const mvae_dist_buckets *bk);
/* Install the hook on ctx for the next mvae_backward; w as in mvae_dist_allreduce_grads_weighted. */
void mvae_dist_buckets_arm(mvae_dist_buckets *bk, mvae_ctx *ctx, float w);
/* After backward: start the buckets not started yet, wait for every one, clear the gradients'
 * MVAE_T_GRAD_ZERO flags, remove the hook. Call it also when backward failed (it must: the
 * other ranks wait in the collectives). */
int mvae_dist_buckets_finish(mvae_dist_buckets *bk, mvae_ctx *ctx, mvae_error *err);
/* Totals since the start (this rank): buckets started during backward (overlapped) and after it;
 * seconds from backward's end to the last bucket's completion (communication not hidden). */
typedef struct mvae_dist_stats {
    uint64_t allreduce_calls, allreduce_bytes; /* every float all-reduce, blocking or not */
    double allreduce_seconds;                  /* in blocking float all-reduces */
    uint64_t steps_bucketed, buckets_in_backward, buckets_after;
    double exposed_seconds; /* bucketed: from backward's end until every bucket completed */
    double window_seconds;  /* bucketed: from the first bucket's start to backward's end */
    double in_backward_seconds; /* bucketed: in the MPI calls the hook made during backward */
} mvae_dist_stats;
void mvae_dist_get_stats(mvae_dist_stats *st);
/* Average the buffers (batchnorm running statistics, impartiality state) over the ranks, so every
 * rank holds what rank 0 saves; nothing to do without buffers. */
int mvae_dist_average_buffers(mvae_params *ps, mvae_error *err);
/* The same weighted by each rank's share w of the global batch (sum of w over the ranks = 1):
 * a batchnorm running mean then moves toward the global batch's mean, as one process's does;
 * the running variance toward the weighted mean of the ranks' slice variances (docs/scaling.md). */
int mvae_dist_average_buffers_weighted(mvae_params *ps, float w, mvae_error *err);
/* Compare a 64-bit hash of every rank's parameter values (they must be bit-identical: the same
 * update on the same gradients). Should they differ (an MPI whose all-reduce gives ranks
 * different sums), rank 0 warns and every rank continues from rank 0's parameters and optimizer
 * state (mvae_dist_sync_params). Errors are MPI failures only. Test hook: with
 * MVAE_TEST_DIST_PERTURB set, rank 1 adds 1 to its first parameter before its first check. */
int mvae_dist_check_params(mvae_params *ps, mvae_optim *opt, mvae_error *err);

/* ---- reparameterisation noise for a slice of the global batch ---- */
/* Fill eps with N(0, 1) draws from rng. With a batch window on ctx (mvae_ctx_set_batch_window:
 * this rank's rows are [row0, row0 + n) of a global batch of `global` rows) and eps holding
 * S * n rows (S draws per sample, draw-major: row s * n + i), the noise of S * global rows is
 * drawn and the rows of this slice are kept, so every rank's noise is exactly what one process
 * training on the global batch draws for the same samples, and every rank's rng advances
 * identically. Without a window, or another row count: mvae_rng_normal_fill. Fusion plugins
 * draw their noise with this. */
void mvae_noise_fill(mvae_ctx *ctx, mvae_rng *rng, mvae_tensor *eps);

#ifdef __cplusplus
}
#endif
#endif
