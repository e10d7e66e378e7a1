/* mvae/impartial.h — impartiality blocks: a fan-out op that gives a shared tensor one gradient
 * buffer per consuming branch and combines the K branch gradients with a multi-task method
 * (PCGrad, MGDA-UB, IMTL-G, CAGrad, GradVac, NSGD, GradNorm, GradDrop, Nash-MTL, Aligned-MTL)
 * when the reverse sweep reaches it, in the same single backward pass. Javaloy, Meghdadi & Valera
 * 2022, "Mitigating Modality Collapse in Multimodal VAEs via Impartial Optimization". The op knows
 * nothing of VAEs. Methods, citations, deviations from the reference code: docs/impartial.md.
 *
 *   mvae_impartial *blk;                                  // once, before training
 *   mvae_impartial_new("pcgrad", K, &rng, &blk, &err);     // or mvae_impartial_new_cfg
 *   for (step...) {
 *       mvae_tensor *z = ...;                              // the shared tensor (latent sample)
 *       mvae_tensor **zk = mvae_impartial_fanout(ctx, blk, z); // K branches, z's values
 *       for (k...) loss += score(modality k, zk[k]);      // branch k: decoder + likelihood k
 *       loss += kl_or_prior(z);                            // outside readers use z itself
 *       mvae_backward(ctx, loss);                          // one pass: z's gradient = the
 *   }                                                      // combination + the outside ones
 *   mvae_impartial_free(blk);
 *
 * Trainer contract (how train.c wires it; nothing in the core calls this yet)
 *  - Create ONE block per shared tensor that fans out, and keep it for the whole run: for the
 *    multimodal VAEs, one block per objective term (joint, each subset, each mixture component r),
 *    K = the number of modalities that term decodes, branch k = modality k's decoder and
 *    likelihood. A block's K is fixed; a term that decodes a different number of modalities needs
 *    its own block. Blocks of different terms have separate states, as in the reference.
 *  - Each step: z = the term's latent sample; zk = mvae_impartial_fanout(ctx, blk, z); pass zk[k]
 *    (NOT z) to modality k's decoder and likelihood; pass z itself to the KL / log-prior / log-q
 *    terms (their gradient is added to z's gradient unchanged). Stacked decoders: fan out each
 *    term's z first, then stack the term's branch of the modality (the branch tensors are ordinary
 *    tensors of z's shape). Then one mvae_backward as usual; recycle_values may stay on.
 *  - Methods with randomness (pcgrad, gradvac, graddrop) draw from the mvae_rng given at creation
 *    (caller-owned, must outlive the block; NULL allowed for the other methods). The trainer
 *    should pass a stream it checkpoints (its training rng or a fork of it).
 *  - Checkpoint: mvae_impartial_state_size() floats from mvae_impartial_state() per block (0 for
 *    stateless methods); restore with mvae_impartial_set_state(), which checks the size. The
 *    diagnostics below are not state (they are per-epoch means).
 *  - Metrics: once per epoch, mvae_impartial_stats_get(), then mvae_impartial_stats_reset(); write
 *    the mean cosine per pair, norm per branch, fallbacks and degenerate counts to metrics.jsonl
 *    (mvae_impartial_stats_json formats them).
 *  - YAML: validate the `train.impartial` section against mvae_impartial_schema and
 *    mvae_impartial_check_cfg (method names and chains; also from `mvae validate`), then
 *    mvae_impartial_new_cfg(section, K, rng, &blk, &err) per block. `method: gradnorm+pcgrad`
 *    chains methods. Absent section = no block (or method none: the plain sum bit for bit).
 *
 * Memory: the K branch gradients (K x z's size) are alive together only while the sweep is
 * between the branches' first consumer and the block; they are ordinary gradient blocks and are
 * recycled after. Time: the K x K Gram matrix (K(K+1)/2 dot products over z's size) plus one
 * weighted sum; the methods' own work is O(K^3) on the Gram, except GradDrop (element-wise).
 */
#ifndef MVAE_IMPARTIAL_H
#define MVAE_IMPARTIAL_H
#include "mvae/config.h"
#include "mvae/rng.h"
#include "mvae/tensor.h"
#ifdef __cplusplus
extern "C" {
#endif

#define MVAE_IMPARTIAL_MAX_K 32
#define MVAE_IMPARTIAL_MAX_CHAIN 4 /* methods applied one after the other: "gradnorm+pcgrad" */

typedef struct mvae_impartial mvae_impartial;

/* ---- the methods table ---- */

/* What a method's combine sees. g[k] is branch k's gradient (N floats; NULL = zero: the branch
 * got no gradient; all NULL for the second and later methods of a chain, which see only the Gram
 * of the previous method's per-task outputs); gram[i*K+j] = g_i . g_j in double. opt[] holds the
 * method's settings in the order of its options table (bools 0/1, string choices as their index).
 * state is the method's persistent state (state_floats(K) floats; NULL when 0). input/rows: the
 * shared tensor's values and leading dimension (GradDrop only; input may be NULL otherwise). work:
 * scratch of 8*K*K + 8*K doubles. */
typedef struct mvae_impartial_job {
    int K;
    int64_t N, rows;
    const float *const *g;
    const double *gram;
    const double *opt;
    float *state;
    mvae_rng *rng;
    const float *input;
    double *work;
    float *fwork;       /* GradDrop: (K + 2) * (N / rows) floats */
    int64_t *fallbacks; /* incremented when a solver gives up and the plain sum is used */
} mvae_impartial_job;

enum {
    MVAE_IMPARTIAL_WEIGHTS =
        0, /* combine filled W[K*K]: task i's output is sum_l W_il g_l (a
            * diagonal W for methods that weight tasks; PCGrad's projections,
            * CAGrad's shared term fill the rest); the result is the sum over i */
    MVAE_IMPARTIAL_DIRECT =
        1, /* combine wrote out[N] itself (element-wise methods; not chainable) */
};

typedef struct mvae_impartial_method {
    const char *name;     /* YAML/spec name: "pcgrad" */
    const char *citation; /* "Yu et al. 2020, Gradient Surgery for Multi-Task Learning (NeurIPS)" */
    const mvae_option
        *options; /* settings with defaults and ranges, NULL-terminated (may be NULL) */
    int (*state_floats)(int K); /* NULL = stateless */
    void (*state_init)(float *state, int K, const double *opt);
    bool needs_rng;
    /* Returns MVAE_IMPARTIAL_WEIGHTS (W filled) or MVAE_IMPARTIAL_DIRECT (out filled). Never
     * fails: a solver that does not converge uses W = I (the plain sum) and counts it; the engine
     * does the same with a non-finite W. */
    int (*combine)(const mvae_impartial_job *job, double *W, float *out);
} mvae_impartial_method;

extern const mvae_impartial_method mvae_impartial_methods[];
extern const int mvae_impartial_method_count;
/* The row named `name`, or NULL. */
const mvae_impartial_method *mvae_impartial_find_method(const char *name);

/* Schema of the `train.impartial` YAML section: method (default none; a method or a chain
 * "gradnorm+pcgrad"), norm_restore (default true), diagnostics (default true), and one map per
 * method with settings, keyed by the method's name (e.g. `cagrad: {c: 0.4}`), each with defaults
 * and ranges. The method names are not in the schema's choices (chains); mvae_impartial_check_cfg
 * checks them, with "did you mean" and file:line:col. */
extern const mvae_option mvae_impartial_schema[];
/* Check a section validated against the schema: method names, chains, every setting. For
 * `mvae validate`, before any data is read. */
int mvae_impartial_check_cfg(const mvae_cfg_node *section, mvae_error *err);

/* ---- blocks ---- */

/* spec: "method" or "method:key=value,key=value" with the method's settings and the common
 * ones (norm_restore, diagnostics), e.g. "cagrad:c=0.4", "mgda:max_iter=100,norm_restore=false";
 * or a chain of up to MVAE_IMPARTIAL_MAX_CHAIN methods applied in order, as the reference's
 * Compose: "gradnorm:alpha=0+pcgrad" (each method transforms the per-task gradients the previous
 * one produced; graddrop only alone). The chain's state is the methods' states end to end.
 * K in [2, MVAE_IMPARTIAL_MAX_K]. rng: caller-owned, required by pcgrad, gradvac and graddrop.
 * Errors name the fix ("unknown method 'pcgard' (did you mean 'pcgrad'?)", "K = 1: ..."). */
int mvae_impartial_new(const char *spec, int K, mvae_rng *rng, mvae_impartial **out,
                       mvae_error *err);
/* The same from a `train.impartial` section validated against mvae_impartial_schema (absent keys
 * take the defaults). */
int mvae_impartial_new_cfg(const mvae_cfg_node *section, int K, mvae_rng *rng, mvae_impartial **out,
                           mvae_error *err);
void mvae_impartial_free(mvae_impartial *blk); /* NULL is a no-op */
int mvae_impartial_k(const mvae_impartial *blk);
const mvae_impartial_method *mvae_impartial_method_of(const mvae_impartial *blk); /* the first */
const char *mvae_impartial_name(const mvae_impartial *blk); /* "pcgrad", "gradnorm+pcgrad" */
/* Setting `key` ("alpha", or "gradnorm.alpha" in a chain; norm_restore / diagnostics) as a
 * double; NAN if unknown. */
double mvae_impartial_setting(const mvae_impartial *blk, const char *key);

/* The op. Returns an arena array of K tensors of x's shape that share x's values (no copy), each
 * with its own gradient; branch k's consumers write branch k's gradient. When the reverse sweep
 * reaches the block (after every consumer of every branch), the K gradients are combined by the
 * block's method, norm-restored, and added to x's gradient, which also receives, unchanged, the
 * gradients of x's other readers. NULL (error in ctx) on a NULL or int32 x, a NULL block. When x
 * needs no gradient the branches are plain views. The op's table name is "impartial". */
mvae_tensor **mvae_impartial_fanout(mvae_ctx *ctx, mvae_impartial *blk, mvae_tensor *x);

/* The combination itself (what the op's backward calls), for tests and for callers with their own
 * per-branch gradients: g[K] rows of N floats (NULL = zero); input/rows as in the job (rows >= 1
 * and divides N). Writes out[N] (or adds to it when accumulate). Records the diagnostics and
 * advances the state and the rng as a step does. K must be the block's K. */
int mvae_impartial_combine(mvae_impartial *blk, int K, int64_t N, const float *const *g,
                           const float *input, int64_t rows, float *out, bool accumulate,
                           mvae_error *err);
/* The weights of the last combine: the result before norm restoration is sum_k w_k g_k (K
 * doubles; all 1 for none and for a fallback and graddrop) and the norm-restoration factor applied
 * (1 when off). */
void mvae_impartial_last_weights(const mvae_impartial *blk, double *w, double *scale);

/* ---- state for checkpoints ---- */
size_t mvae_impartial_state_size(const mvae_impartial *blk); /* floats; 0 = stateless */
float *mvae_impartial_state(mvae_impartial *blk);            /* the block's own buffer, or NULL */
/* Keep the state in caller memory from now on (state_size floats, which receive the current
 * state): e.g. a buffer of the parameter store, so that checkpoints save and restore it with the
 * parameters and nothing has to be copied around a save or a load. mem must outlive the block. */
void mvae_impartial_bind_state(mvae_impartial *blk, float *mem);
/* Copy n floats in; error if n differs from the state size (a checkpoint of another method/K). */
int mvae_impartial_set_state(mvae_impartial *blk, const float *state, size_t n, mvae_error *err);

/* ---- diagnostics (accumulated per combine; reset by the caller, e.g. per epoch) ---- */
typedef struct mvae_impartial_stats {
    int K;
    int64_t calls;      /* combines since the last reset */
    int64_t fallbacks;  /* solver failures that used the plain sum (mgda, nash_mtl) */
    int64_t degenerate; /* combined direction numerically zero: not rescaled to the sum's norm */
    double norm_mean[MVAE_IMPARTIAL_MAX_K];                       /* mean ||g_k|| */
    double cos_mean[MVAE_IMPARTIAL_MAX_K * MVAE_IMPARTIAL_MAX_K]; /* mean cos(g_i, g_j), [i*K+j] */
    double conflict_frac; /* mean fraction of pairs with cos < 0 */
    double scale_mean;    /* mean norm-restoration factor */
    double seconds;       /* wall time spent in mvae_impartial_combine (Gram, method, weighted sum) */
} mvae_impartial_stats;
void mvae_impartial_stats_get(const mvae_impartial *blk, mvae_impartial_stats *out);
void mvae_impartial_stats_reset(mvae_impartial *blk);
/* The stats as JSON object members (no braces), keys prefixed by `prefix` and named by
 * branch_names (K names, or NULL for "0", "1", ...): "<p>cos.a-b": .., "<p>norm.a": ..,
 * "<p>conflict_frac", "<p>scale", "<p>fallbacks", "<p>degenerate", "<p>calls". Returns the length
 * written (truncated to len-1 like snprintf). */
int mvae_impartial_stats_json(const mvae_impartial_stats *s, const char *prefix,
                              const char *const *branch_names, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
