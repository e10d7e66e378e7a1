/* mvae/train.h — the sub-sampled ELBO, the trainer, evaluation and pictures.
 *
 *   mvae_train_opts o = {.run_dir = "runs/exp1"};
 *   mvae_train_result r;
 *   if (mvae_train(model, &o, &r, &err)) fprintf(stderr, "%s\n", err.msg);
 *
 * The objective (Wu & Goodman 2018, eq. 4-5) for one batch is a sum of terms, one per subset S
 * of modalities: the joint set, each single modality, and k random subsets drawn per batch. For
 * sample i, with D(S) the modalities that term reconstructs (S itself, or every present modality
 * with objective.cross_reconstruct):
 *   term_S(i) = valid_S(i) * [ sum_{m in D(S)} w_m * present_m(i) * -log p(x_m(i) | z)
 *                              + beta * KL(q(z | x_S(i)) || N(0, I)) ],   z ~ q(z | x_S(i))
 * where q uses only the modalities of S that sample i has, and valid_S(i) = 1 if it has any.
 * loss = sum_S (1/B) sum_i term_S(i). beta rises linearly per batch from 0 to train.beta over
 * train.kl_anneal_epochs epochs.
 */
#ifndef MVAE_TRAIN_H
#define MVAE_TRAIN_H
#include "mvae/model.h"
#include "mvae/optim.h"
#ifdef __cplusplus
extern "C" {
#endif

#define MVAE_MAX_TERMS 64
/* eval.cross entries: room for image -> each of 30 single-attribute modalities and back */
#define MVAE_MAX_CROSS 32
#define MVAE_MAX_SUBSET_ROWS 63   /* eval.subsets: 2^6 - 1 given subsets */
#define MVAE_SUBSET_TABLE_MODS 8  /* eval.subsets: columns (the first 8 modalities) */
#define MVAE_MAX_LL_TERMS (MVAE_MAX_MODALITIES + 2) /* eval.log_likelihood.terms: each modality + all */
/* a result's name: a subset of modalities, "->" and one or two modality names */
#define MVAE_RESULT_NAME_MAX (MVAE_SUBSET_NAME_MAX + 2 * MVAE_NAME_MAX + 4)

typedef struct mvae_objective_kind mvae_objective_kind;

/* Each kind's own settings (the union member named after the kind). */
typedef struct mvae_objective_mvae_opts { /* the `mvae` kind: the sub-sampled sum (objective_mvae.c) */
    bool joint, unimodal, cross_reconstruct;
    bool all_subsets; /* every non-empty subset of the modalities with an encoder (2^M - 1 terms) */
    int random_subsets;
    /* Decode the z's of all terms that reconstruct a modality as one stacked batch (larger GEMMs,
     * same loss and gradients). Off: one decoder call per term (the reference path). Decoders
     * with batch statistics (batchnorm) always run per term. */
    bool stack_decoders;
    /* K > 1: each term is the importance-weighted bound (IWAE, Burda et al. 2016) with K samples
     * per data point instead of the ELBO; works with every fusion (mixtures add their draw
     * weights). 1 (default): the ELBO. */
    int iw_samples;
    /* with iw_samples > 1: false = the IWAE gradient; true = DReG (Tucker et al. 2019), the same
     * bound with doubly-reparameterised, lower-variance encoder gradients */
    bool dreg;
} mvae_objective_mvae_opts;
typedef struct mvae_objective_supervised_opts { /* the NN baseline (objective_supervised.c) */
    uint32_t from; /* bitmask of the modalities the predictor reads */
    int to;        /* the modality it predicts */
} mvae_objective_supervised_opts;
typedef struct mvae_objective_jmvae_opts { /* JMVAE-kl (objective_jmvae.c) */
    float alpha;    /* weight of sum_m KL(q(z | X) || q(z | x_m)) */
    int iw_samples; /* > 1: the joint term is IWAE-K (or DReG) instead of the ELBO */
    bool dreg;
} mvae_objective_jmvae_opts;
#define MVAE_JOINT_ENCODER_MAX_LAYERS 8
typedef struct mvae_objective_vaevae_opts { /* VAEVAE (objective_vaevae.c) */
    float cond_kl;  /* weight of KL(q(z | x,y) || q(z | x)) + KL(q(z | x,y) || q(z | y)), times beta */
    int iw_samples; /* > 1: the unimodal terms are IWAE-K (or DReG) instead of ELBOs */
    bool dreg;
    int x, y;       /* the two modalities */
    /* joint_encoder: q(z | x,y) from its own MLP on [x, y] (parameters joint.enc.*, declared by
     * the row's `declare` hook) instead of the fusion of the two experts: n_layers linear layers
     * (swish between them) then the mu and logvar heads. n_layers = 0: the fusion. */
    int n_layers;
    mvae_tensor *w[MVAE_JOINT_ENCODER_MAX_LAYERS], *b[MVAE_JOINT_ENCODER_MAX_LAYERS];
    mvae_tensor *w_mu, *b_mu, *w_lv, *b_lv;
} mvae_objective_vaevae_opts;

typedef struct mvae_objective {
    const mvae_objective_kind *kind; /* the row of the objectives table (objective.c) */
    union { /* the settings of `kind` only */
        mvae_objective_mvae_opts mvae;
        mvae_objective_supervised_opts supervised;
        mvae_objective_jmvae_opts jmvae;
        mvae_objective_vaevae_opts vaevae;
    };
} mvae_objective;

#define MVAE_TERM_NAME_MAX (MVAE_NAME_MAX + 32) /* an objective's own term name: "alpha*kl(joint||<modality>)" */
typedef struct mvae_step_stats {
    int n_terms;
    uint32_t subset[MVAE_MAX_TERMS];
    double term_loss[MVAE_MAX_TERMS]; /* (1/B) sum_i term_S(i) */
    bool random[MVAE_MAX_TERMS];      /* the term is one of the objective's random subsets */
    char name[MVAE_MAX_TERMS][MVAE_TERM_NAME_MAX]; /* the term's name in logs and metrics.jsonl; "" = the subset's */
    double loss;
} mvae_step_stats;

/* What a training objective bounds, given the settings (metrics.json's "bound", docs/objectives.md).
 * Filled by the kind's `bounds` hook. */
typedef enum mvae_bound_kind {
    MVAE_BOUND_NOTHING = 0,   /* not a likelihood bound at all (the supervised baseline) */
    MVAE_BOUND_LOG_P = 1,     /* a lower bound on log p(X) of the model (one likelihood) */
    MVAE_BOUND_COMPOSITE = 2, /* a lower bound on a sum of log-likelihoods (a composite likelihood) */
} mvae_bound_kind;
#define MVAE_BOUND_MAX_FLAGS 12
typedef struct mvae_bound_report {
    int kind;          /* mvae_bound_kind, with every setting as it should be */
    char what[512];    /* the quantity bounded, e.g. "log p(image,label)" */
    bool valid;        /* no flag breaks the bound */
    int n_flags;
    bool breaks[MVAE_BOUND_MAX_FLAGS]; /* true: breaks the bound; false: a note (looser, or unchecked) */
    char flag[MVAE_BOUND_MAX_FLAGS][256];
} mvae_bound_report;
/* Add a flag (breaks: the bound no longer holds) to r; beyond MVAE_BOUND_MAX_FLAGS they are dropped. */
void mvae_bound_flag(mvae_bound_report *r, bool breaks, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The checks every likelihood-based objective shares, for the modalities in `scored` (those whose
 * log-likelihood enters the objective): a weight != 1 (>= 1 on a discrete likelihood only
 * loosens), beta at the end of training (< 1 breaks, > 1 loosens), train.impartial (gradients
 * changed), and -- when check_data and the dataset is open -- bernoulli on data that are not
 * binary (the first training samples are read). */
void mvae_bound_check_settings(const mvae_model *m, uint32_t scored, bool check_data, mvae_bound_report *r);
/* The report of obj for model m (the kind's hook). */
void mvae_objective_bounds(const mvae_model *m, const mvae_objective *obj, mvae_bound_report *r);
/* One line: "bounds log p(image,label) (valid)" or "... (NOT valid: why; why)". */
const char *mvae_bound_summary(const mvae_bound_report *r, char *buf, size_t len);

/* One row of the objectives table: the trainer, the validation loss and the docs only go
 * through these hooks, so a new objective is a new row (core/src/objective_<name>.c plus its
 * line in objective.c's table), not a case in the trainer.
 *   key:       the train.objective key whose presence selects this kind (its options are that
 *              key's map, validated by `schema`); NULL for the default kind (`mvae`)
 *   configure: read the options into obj's member for this kind (sec: the kind's own map, or
 *              train.objective for the default); errors name file:line:col
 *   loss:      one batch's loss (a scalar tensor on ctx's tape, minimised) and its per-term stats
 *   bounds:    fill r: what the objective bounds with obj's settings and the model's, and what
 *              breaks it (mvae_bound_check_settings does the shared checks)
 *   summary:   one sentence for the docs and `mvae` help: what it bounds in general */
struct mvae_objective_kind {
    const char *name;
    const char *key;
    const mvae_option *schema;
    int (*configure)(const mvae_model *m, const mvae_cfg_node *sec, mvae_objective *obj, mvae_error *err);
    int (*loss)(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const mvae_objective *obj, float beta,
                mvae_rng *rng, mvae_tensor **loss, mvae_step_stats *stats);
    void (*bounds)(const mvae_model *m, const mvae_objective *obj, mvae_bound_report *r);
    const char *summary;
    /* MAY be NULL. Declare the objective's own parameters (a joint encoder) in m->params; called
     * by mvae_model_build before the parameters are finalised (sec as for configure). */
    int (*declare)(mvae_model *m, const mvae_cfg_node *sec, mvae_error *err);
};
/* The table, NULL-terminated (objective.c). */
extern const mvae_objective_kind *const mvae_objective_kinds[];
/* Read train.objective from the model's config: picks the kind (at most one kind's key may be
 * present) and lets it read its options. */
int mvae_objective_from_config(const mvae_model *m, mvae_objective *obj, mvae_error *err);
/* The selected kind's `declare` hook, if it has one (mvae_model_build calls it). */
int mvae_objective_declare(mvae_model *m, mvae_error *err);
/* One batch's loss under obj's kind. */
int mvae_objective_loss(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b,
                        const mvae_objective *obj, float beta, mvae_rng *rng, mvae_tensor **loss,
                        mvae_step_stats *stats);
/* train.impartial (objective_impartial.c): impartiality blocks on each term's latent sample.
 * The model owns them: mvae_model_build declares their state buffers before the parameters are
 * finalised (declare) and binds the blocks to them after (bind); mvae_model_free frees them. */
int mvae_impartial_set_declare(mvae_model *m, mvae_error *err);
void mvae_impartial_set_bind(mvae_model *m);
void mvae_impartial_set_free(struct mvae_impartial_set *set);
/* Once per step, before the first fan-out: the blocks' draws follow the trainer's rng state
 * (read, not advanced). */
void mvae_impartial_set_reseed(const mvae_model *m, mvae_rng *rng);
/* branch[k] = the tensor modality k's decoder reads for this term: its branch of z's block (for a
 * mixture of n_comp > 1 components, of each component's block, its rows concatenated back), or z
 * itself without a block (set off, or a term with one branch). */
int mvae_impartial_set_branches(const mvae_model *m, mvae_ctx *ctx, uint32_t subset, uint32_t dec, mvae_tensor *z,
                                int n_comp, mvae_tensor **branch);
/* train.impartial.decoder_params: whether modality k's parameters have a block for the term of
 * `subset` (a mixture term: its components share the decoder). */
bool mvae_impartial_set_has_decoder_block(const mvae_model *m, uint32_t subset, int k);
/* log p(x_k | z) [rows of z] for the term of `subset`, z holding its n_comp components' draws
 * component by component: with a decoder-parameter block, each component is decoded on its own
 * with its branch of the block standing in for modality k's parameters (one backward combines
 * the components' parameter gradients); otherwise mvae_model_logp. */
mvae_tensor *mvae_impartial_set_logp(const mvae_model *m, mvae_ctx *ctx, uint32_t subset, int k, mvae_tensor *z,
                                     int n_comp, mvae_tensor *x, mvae_rng *rng);
/* The blocks' diagnostics since the last call as JSON members ("impartial.<term>.cos.a-b": ..),
 * then reset; "" without blocks. Returns the length. */
int mvae_impartial_set_stats_json(const mvae_model *m, char *buf, size_t len);
/* The blocks' time in their combines since the last stats reset, their number and calls. */
double mvae_impartial_set_seconds(const mvae_model *m, int *blocks, int64_t *calls);

/* train.objective.supervised's keys (from, to), .jmvae's and .vaevae's: the experiment schema nests them. */
extern const mvae_option mvae_objective_supervised_schema[];
extern const mvae_option mvae_objective_jmvae_schema[];
extern const mvae_option mvae_objective_vaevae_schema[];

/* Which training samples keep which modalities (weak supervision, dataset.paired_fraction f < 1):
 * a malloc'd [N * n_mod] keep-mask in which round(f * N) samples, chosen by the model's seed, keep
 * every modality and each other sample keeps exactly one, chosen uniformly. NULL when f is 1 or
 * the model has a single modality (or out of memory). The caller frees it. */
uint8_t *mvae_make_pairing(const mvae_model *m, int64_t N);

typedef struct mvae_train_opts {
    const char *run_dir; /* required: created if missing */
    bool resume;         /* continue from run_dir/last.ckpt */
    bool quiet;          /* no progress output */
    /* with resume: continue even from a checkpoint whose experiment fingerprint is not this
     * experiment's (`mvae train --resume DIR --force`); a warning says so */
    bool force;
    /* OPTIONAL hooks (mvae/api.h's training, the Python package); NULL = none. They run on the
     * calling thread. A nonzero return stops training: mvae_train returns MVAE_ERR_INTERRUPTED and
     * the run directory holds the last completed epoch, from which `resume` continues.
     *   on_batch: after each optimizer step (batch counts from 1; loss: the epoch's running mean)
     *   on_epoch: after the epoch's metrics.jsonl line and checkpoints are on disk (line: that
     *             JSON line without its newline) */
    int (*on_batch)(void *user, int epoch, int64_t batch, int64_t n_batches, double loss);
    int (*on_epoch)(void *user, const char *line);
    void *hook_user;
} mvae_train_opts;

typedef struct mvae_eval_result {
    double elbo;        /* mean over the split of the joint ELBO (unit weights, beta 1, 1 sample) */
    int n_ll;
    char ll_name[MVAE_MAX_LL_TERMS][MVAE_SUBSET_NAME_MAX]; /* "image,label", "image|label" */
    double ll[MVAE_MAX_LL_TERMS]; /* importance-sampled log p, nats per sample */
    int n_acc;
    char acc_name[16][MVAE_RESULT_NAME_MAX];
    double acc[16];     /* fraction correct, z ~ q */
    double acc_mean[16];/* fraction correct, z = mean of q */
    int n_bleu;
    char bleu_name[8][MVAE_RESULT_NAME_MAX]; /* "en->vi" */
    double bleu[8];        /* corpus BLEU-4 in [0, 1] of translations between text modalities */
    int64_t n_test, n_ll_test;
    int ll_samples;
    double seconds;
    double ll_seconds;  /* of which spent on the importance-sampled log-likelihoods */
    /* coherence of conditional generation (eval.coherence; n_coh = 0 when off) */
    int n_coh;
    char coh_name[16][MVAE_RESULT_NAME_MAX]; /* "label->image" */
    double coh[16];        /* fraction of generated images classified as the conditioning class */
    int n_clf;
    char clf_name[8][MVAE_RESULT_NAME_MAX];  /* image modality ("image"; "image:label" with several categoricals) */
    double clf_acc[8];     /* the classifier's own test accuracy */
    /* linear probe (eval.probe; n_probe = 0 when off): logistic regression on the mean of q
     * (accuracy); for a real-valued target a ridge regression, named "from->target:r2" (R^2) */
    int n_probe;
    char probe_name[32][MVAE_RESULT_NAME_MAX]; /* "image->label", the same pairs as accuracy */
    double probe[32];
    /* eval.cross: cross-modal generation from -> to, z = mean of q(z | x_from), decoder mean */
    int n_cross;
    char cross_name[MVAE_MAX_CROSS][MVAE_SUBSET_NAME_MAX + MVAE_NAME_MAX]; /* "gray->image"; from may list many */
    char cross_metric[MVAE_MAX_CROSS][16]; /* psnr | iou | f1 | accuracy | mse */
    double cross[MVAE_MAX_CROSS][3];       /* the value; f1: {f1_macro, f1_micro, accuracy} */
    /* eval.subsets (n_sub = 0 when off): for every non-empty subset of the modalities with an
     * encoder (row) and each of the first MVAE_SUBSET_TABLE_MODS modalities of nonzero weight
     * (column, named by sub_mod_name), the mean
     * -log p(x_k | z = mean q(z | x_given)) and, for a categorical k, the arg-max accuracy; NaN
     * where no test sample has both */
    int n_sub, n_sub_mod;
    uint32_t sub_given[MVAE_MAX_SUBSET_ROWS];
    char sub_name[MVAE_MAX_SUBSET_ROWS][6 * (MVAE_NAME_MAX + 1)]; /* the given subset, "a,b" (<= 6 names) */
    char sub_mod_name[MVAE_SUBSET_TABLE_MODS][MVAE_NAME_MAX];  /* the columns */
    double sub_nll[MVAE_MAX_SUBSET_ROWS][MVAE_SUBSET_TABLE_MODS];
    double sub_acc[MVAE_MAX_SUBSET_ROWS][MVAE_SUBSET_TABLE_MODS];
    /* bits per dimension -ll / (D ln 2) of log-likelihood term t (ll_name[t]) when its scored
     * modalities (the term's minus the conditioning ones) are all model: flow, D their total
     * size; NAN for the other terms. With dequantisation it is the discrete bits/dim of the
     * 8-bit data (docs/model_types.md). */
    double bpd[MVAE_MAX_LL_TERMS];
    /* Fréchet distances (eval.coherence.frechet; n_fd = 0 when off): between the coherence
     * classifier's penultimate features of the real test images and of images generated from
     * "prior" (z ~ N(0, I)) or from a conditioning set ("label->image"); docs/metrics.md */
    int n_fd;
    char fd_name[16][MVAE_RESULT_NAME_MAX];
    double fd[16];
} mvae_eval_result;

typedef struct mvae_train_result {
    int epochs;
    double samples_per_sec; /* median over epochs of training throughput (steady batches) */
    double last_loss;
    mvae_eval_result eval;
    bool has_bound;          /* bound: what the training objective bounds (metrics.json "bound") */
    mvae_bound_report bound;
} mvae_train_result;

/* The training-split samples an epoch iterates over, in increasing order: 0 .. N-1 with
 * N = size - valid_size, or with dataset.paired_only: true only those the weak-supervision pairing
 * keeps complete (round(paired_fraction * size) of the split, less any that fall in the held-out
 * tail) -- the baseline "trained on the paired subset alone". *idx is malloc'd. */
int mvae_train_indices(const mvae_model *m, int64_t valid_size, int64_t **idx, int64_t *n, mvae_error *err);

/* Train as the config says, writing the run directory: config.yaml, metrics.jsonl (one line per
 * epoch), last.ckpt and best.ckpt (atomic), then evaluate on the test split and write
 * metrics.json and the PNG grids. What a run directory promises after a crash at any point, and
 * how resume restores it (docs/reliability.md, "Run directories"):
 *  - run_dir/lock is held (flock) for the whole call: a second trainer on the same directory
 *    fails at once with MVAE_ERR_IO naming the holder's PID and host;
 *  - per epoch: the metrics.jsonl line (fsynced), then best.ckpt when the epoch improved, then
 *    last.ckpt, so a last.ckpt that records a best implies best.ckpt holds it;
 *  - resume loads last.ckpt (metadata range-checked, fingerprint checked unless o->force),
 *    takes the best value from best.ckpt's own metadata, trims metrics.jsonl to last.ckpt's
 *    epoch (dropping a torn line) and removes leftover temporary files.
 * train.epochs is at most MVAE_MAX_EPOCHS. */
int mvae_train(mvae_model *m, const mvae_train_opts *o, mvae_train_result *res, mvae_error *err);

/* ---- run directories: lock, checkpoint metadata, experiment fingerprint ---- */
#define MVAE_MAX_EPOCHS 1000000000 /* train.epochs above this is refused */
/* The longest run directory path (`--out`): file paths inside it are built in buffers of
 * MVAE_RUN_DIR_MAX + 200 bytes, and Linux refuses paths beyond PATH_MAX (4096) anyway. */
#define MVAE_RUN_DIR_MAX 3900

/* Where a run directory comes from, as `mvae train|eval` and mvae/api.h both need it
 * (core/src/rundir.c). The messages name the place and the fix in the caller's words: the
 * command's flags (--out, --resume, --set) with MVAE_RUN_DIR_CLI, the C API's (run directory,
 * resume, set) with MVAE_RUN_DIR_API. */
typedef enum mvae_run_dir_voice { MVAE_RUN_DIR_CLI = 0, MVAE_RUN_DIR_API = 1 } mvae_run_dir_voice;
/* The default run directory: runs/<name>-<YYYYmmdd-HHMMSS> (local time), <name> the config's
 * name ("experiment" without one). *dir is malloc'd (NULL on out-of-memory: MVAE_ERR_NOMEM). */
int mvae_run_dir_default(mvae_cfg *cfg, char **dir, mvae_error *err);
/* The directory a new training writes: `out` (copied), or the default when NULL. Refused
 * (MVAE_ERR_INVALID) when its path is longer than MVAE_RUN_DIR_MAX or it already holds a trained
 * run (a last.ckpt: "continue it with `mvae train --resume DIR`"). *dir is malloc'd, also when
 * refused (the caller frees it; NULL only on out-of-memory). */
int mvae_run_dir_new(mvae_cfg *cfg, const char *out, mvae_run_dir_voice voice, char **dir, mvae_error *err);
/* A run to resume: run_dir must be a directory (MVAE_ERR_IO otherwise). *dir (a copy of run_dir)
 * and *cfg_path (run_dir/config.yaml) are malloc'd on success, NULL on failure. */
int mvae_run_dir_resume(const char *run_dir, mvae_run_dir_voice voice, char **dir, char **cfg_path,
                        mvae_error *err);
/* An existing run to open (eval, sample, mvae_run_open): run_dir must be a directory
 * (MVAE_ERR_IO: "'D' is not a run directory (made by `mvae train`)"). */
int mvae_run_dir_check_existing(const char *run_dir, mvae_error *err);
/* KEY=VALUE overrides on an existing run: the run keeps its config.yaml, so only eval.* may
 * change (MVAE_ERR_INVALID naming the first other one; a NULL entry is refused too). */
int mvae_run_dir_check_sets(const char *const *sets, int n, mvae_run_dir_voice voice, mvae_error *err);

/* An exclusive lock on a run directory: the file run_dir/lock, flock'ed for as long as it is
 * held and holding "pid <PID> host <HOST> started <ISO time>". The kernel drops the lock when
 * the holder dies, so a lock file left by a killed process never blocks; the file itself stays. */
typedef struct mvae_run_lock {
    int fd; /* -1 when not held */
} mvae_run_lock;
/* Take the lock or fail at once (MVAE_ERR_IO): "D is in use by PID 1234 on host X (started
 * ...); wait for it or pick another --out". run_dir must exist. */
int mvae_run_lock_acquire(const char *run_dir, mvae_run_lock *lk, mvae_error *err);
void mvae_run_lock_release(mvae_run_lock *lk); /* not held: no-op */

/* The experiment fingerprint: 16 hex digits of a 64-bit FNV-1a hash over the resolved config's
 * model-defining sections -- dataset, modalities, transforms, fusion, latent_dim, seed -- with
 * map keys sorted, so key order does not matter. The train: and eval: sections are left out:
 * the training length and evaluation settings may change on resume. */
#define MVAE_FINGERPRINT_HEX 16
void mvae_experiment_fingerprint(const mvae_model *m, char out[MVAE_FINGERPRINT_HEX + 1]);

/* The metadata the trainer writes into every checkpoint (the extra string, JSON):
 *   {"epoch": 3, "best": 123.4 | null, "best_epoch": 2, "loss": 125.1, "fingerprint": "..."} */
typedef struct mvae_run_meta {
    int64_t epoch;      /* epochs completed */
    bool has_best;      /* false: "best" is null (or inf, as older files wrote it) */
    double best;        /* the lowest selection criterion so far (finite) */
    int64_t best_epoch; /* its epoch, 0 when unknown (older files) or no best */
    bool has_loss;
    double loss;        /* the epoch's mean training loss */
    bool has_fingerprint;
    char fingerprint[MVAE_FINGERPRINT_HEX + 1];
} mvae_run_meta;
/* Parse and range-check checkpoint metadata: epoch an integer in [0, max_epochs], best finite
 * or null/inf, best_epoch in [1, epoch] with a best, loss finite, fingerprint 16 hex digits.
 * Errors (MVAE_ERR_FORMAT) name the file and the field. */
int mvae_run_meta_parse(const char *path, const char *extra, int64_t max_epochs, mvae_run_meta *meta,
                        mvae_error *err);
/* Load a run's checkpoint into m's parameters (opt, rng: NULL = not restored) after checking its
 * metadata (max epochs: the config's train.epochs) and that it was written for this experiment:
 * a different fingerprint is an error (MVAE_ERR_INVALID) unless force, which loads it with a
 * warning; a file without a fingerprint (older mvae) loads. meta may be NULL. On any error m is
 * unchanged. `mvae eval|sample|translate RUN --checkpoint W [--force]` call
 *   mvae_run_checkpoint_load(m, "RUN/W.ckpt", NULL, NULL, force, NULL, &err); */
int mvae_run_checkpoint_load(mvae_model *m, const char *path, mvae_optim *opt, mvae_rng *rng, bool force,
                             mvae_run_meta *meta, mvae_error *err);

/* Evaluate on a split as eval: in the config says. */
int mvae_evaluate(mvae_model *m, int split, mvae_eval_result *r, bool quiet, mvae_error *err);
/* The same; run_dir (may be NULL) is the last-resort cache directory for the coherence
 * classifier (see mvae_classifier_cache_dir in mvae/coherence.h). Each batch of eval.batch_size
 * draws from its own stream. Collective under MPI (mvae/dist.h, size > 1): every rank must call
 * it; rank r evaluates the batches j with j mod size = r, the ELBO, accuracy and log-likelihood
 * sums (and coherence's) are all-reduced, and only rank 0 computes the rest and fills r completely
 * (the other ranks' r holds those shared metrics only). */
int mvae_evaluate_in(mvae_model *m, int split, const char *run_dir, mvae_eval_result *r, bool quiet,
                     mvae_error *err);
/* The eval.cross metrics alone (mvae_evaluate calls it; r's other fields are left alone). */
int mvae_evaluate_cross(mvae_model *m, int split, mvae_eval_result *r, bool quiet, mvae_error *err);
/* PNG grids cross_<from>.png for 8 test samples: row 1 modality `from`, then for every other image
 * modality of the same height and width its true row and its row generated from `from` alone
 * (z = mean of q). One file per modality. Grey modalities are drawn as grey RGB. */
int mvae_write_cross_pictures(mvae_model *m, const char *dir, bool quiet, mvae_error *err);
/* With eval.subsets (eval_figures.c; nothing otherwise, or with fewer than two image or spectrogram
 * modalities [1, H, W] that have an encoder): subsets.png, 4 test tuples (row 1) and, for each
 * non-empty subset S of the encodable modalities (one row each, in the order of the subset table),
 * every shown modality generated from z = mean of q(z | x_S), the given ones marked (a white
 * corner square); and traverse_<modality>.png: the 8 latent dimensions whose posterior mean varies
 * most over the first 200 test samples (rows), each set to 9 values from its mean -3 to +3 of its
 * standard deviation there, in z = mean of q(z | test tuple 0, all given). */
int mvae_write_subset_pictures(mvae_model *m, const char *dir, bool quiet, mvae_error *err);

/* ---- metrics (definitions in docs/metrics.md) ---- */
/* PSNR in dB of pred vs target (n values in [0,1], peak 1): 10 log10(1 / mse), at most 100. */
double mvae_psnr(const float *pred, const float *target, int64_t n);
/* Intersection over union of (pred > t) and (target > 0.5); 1 when both are empty. */
double mvae_iou(const float *pred, const float *target, int64_t n, float t);
/* Add the confusion counts of binary attributes: pred, target [n, K]; pred > 0.5 is a positive,
 * target > 0.5 too. tp, fp, fn, tn: [K] each, accumulated. */
void mvae_binary_counts(const float *pred, const float *target, int64_t n, int64_t K, int64_t *tp,
                        int64_t *fp, int64_t *fn, int64_t *tn);
/* F1 = 2 tp / (2 tp + fp + fn); NAN when tp + fp + fn = 0 (no positive predicted or true). */
double mvae_f1(int64_t tp, int64_t fp, int64_t fn);

/* Write metrics.json for a finished run. */
int mvae_write_metrics_json(const char *path, const mvae_eval_result *e, const mvae_train_result *t,
                            mvae_error *err);
/* PNG grids into dir: reconstructions, prior samples, generation from each class. Prints each
 * path written unless quiet. */
int mvae_write_pictures(mvae_model *m, const char *dir, bool quiet, mvae_error *err);
/* The run's training curves from its metrics.jsonl (plot_training.c): terms.png (each objective
 * term's loss per epoch) and, with train.impartial, conflict.png (the mean cosine between the
 * modalities' gradients at each block's z per epoch). No metrics.jsonl: nothing. */
int mvae_plot_training(const char *run_dir, bool quiet, mvae_error *err);
/* Generate n samples of image modality `target` (NULL = the first image modality) conditioned on
 * `given` ("label=3"; NULL = from the prior) into a PNG grid. */
int mvae_sample_png(mvae_model *m, const char *given, const char *target, int n, uint64_t seed,
                    const char *png_path, mvae_error *err);
/* The same, generalised: target may be an image or a spectrogram ([1, mels, frames], drawn with
 * low frequencies at the bottom); given may also be MODALITY=test:N (that modality of test sample
 * N, for any modality with an encoder) or A,B=test:N (those modalities of it together); wav_dir (may be NULL): each generated spectrogram
 * turned back into sound (mvae/audio.h's default framing, Griffin-Lim) as
 * wav_dir/<modality>_<i>.wav. */
int mvae_sample(mvae_model *m, const char *given, const char *target, int n, uint64_t seed, const char *png_path,
                const char *wav_dir, mvae_error *err);
/* The same with each pixel drawn as a scale x scale square (mvae_png_write_grid_scaled; 0, what
 * mvae_sample uses: automatic, small images scaled up to tiles of at least 28 pixels). */
int mvae_sample_scaled(mvae_model *m, const char *given, const char *target, int n, uint64_t seed,
                       const char *png_path, const char *wav_dir, int scale, mvae_error *err);

#ifdef __cplusplus
}
#endif
#endif
