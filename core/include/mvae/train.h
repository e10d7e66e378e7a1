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
#ifdef __cplusplus
extern "C" {
#endif

#define MVAE_MAX_TERMS 64
/* eval.cross entries: room for image -> each of 30 single-attribute modalities and back */
#define MVAE_MAX_CROSS 32
#define MVAE_MAX_LL_TERMS (MVAE_MAX_MODALITIES + 2) /* eval.log_likelihood.terms: each modality + all */
/* a result's name: a subset of modalities, "->" and one or two modality names */
#define MVAE_RESULT_NAME_MAX (MVAE_SUBSET_NAME_MAX + 2 * MVAE_NAME_MAX + 4)

typedef struct mvae_objective {
    bool joint, unimodal, cross_reconstruct;
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
    /* objective.supervised {from, to}: instead of the ELBO, the NN baseline of the MVAE paper:
     * `to`'s decoder on the mean head of `from`'s expert, trained on the samples that have both
     * (core/src/objective_supervised.c). sup_from: bitmask; sup_to: modality index. */
    bool supervised;
    uint32_t sup_from;
    int sup_to;
} mvae_objective;
/* Read train.objective from the model's config. */
int mvae_objective_from_config(const mvae_model *m, mvae_objective *obj, mvae_error *err);
/* train.objective.supervised: its keys (from, to), and reading them into obj. */
extern const mvae_option mvae_objective_supervised_schema[];
int mvae_objective_supervised_from_config(const mvae_model *m, const mvae_cfg_node *sup, mvae_objective *obj,
                                          mvae_error *err);

typedef struct mvae_step_stats {
    int n_terms;
    uint32_t subset[MVAE_MAX_TERMS];
    double term_loss[MVAE_MAX_TERMS]; /* (1/B) sum_i term_S(i) */
    bool random[MVAE_MAX_TERMS];      /* the term is one of the objective's random subsets */
    double loss;
} mvae_step_stats;

/* Build the objective's loss for one batch in ctx (recording the tape). Returns MVAE_OK, or
 * MVAE_ERR_NUMERIC when a term is not finite (message names the term), or another error. */
int mvae_objective_loss(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b,
                        const mvae_objective *obj, float beta, mvae_rng *rng, mvae_tensor **loss,
                        mvae_step_stats *stats);
/* The supervised objective's loss for one batch (mvae_objective_loss calls it when
 * obj->supervised): -(1/|P|) sum over the samples P having from and to of log p(x_to | mu_from(x_from)). */
int mvae_objective_supervised_loss(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const mvae_objective *obj,
                                   mvae_tensor **loss, mvae_step_stats *stats);

/* Which training samples keep which modalities (weak supervision, dataset.paired_fraction f < 1):
 * a malloc'd [N * n_mod] keep-mask in which round(f * N) samples, chosen by the model's seed, keep
 * every modality and each other sample keeps exactly one, chosen uniformly. NULL when f is 1 or
 * the model has a single modality (or out of memory). The caller frees it. */
uint8_t *mvae_make_pairing(const mvae_model *m, int64_t N);

typedef struct mvae_train_opts {
    const char *run_dir; /* required: created if missing */
    bool resume;         /* continue from run_dir/last.ckpt */
    bool quiet;          /* no progress output */
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
    /* linear probe (eval.probe; n_probe = 0 when off): logistic regression on the mean of q */
    int n_probe;
    char probe_name[16][MVAE_RESULT_NAME_MAX]; /* "image->label", the same pairs as accuracy */
    double probe[16];
    /* eval.cross: cross-modal generation from -> to, z = mean of q(z | x_from), decoder mean */
    int n_cross;
    char cross_name[MVAE_MAX_CROSS][MVAE_SUBSET_NAME_MAX + MVAE_NAME_MAX]; /* "gray->image"; from may list many */
    char cross_metric[MVAE_MAX_CROSS][16]; /* psnr | iou | f1 | accuracy | mse */
    double cross[MVAE_MAX_CROSS][3];       /* the value; f1: {f1_macro, f1_micro, accuracy} */
} mvae_eval_result;

typedef struct mvae_train_result {
    int epochs;
    double samples_per_sec; /* median over epochs of training throughput (steady batches) */
    double last_loss;
    mvae_eval_result eval;
} mvae_train_result;

/* The training-split samples an epoch iterates over, in increasing order: 0 .. N-1 with
 * N = size - valid_size, or with dataset.paired_only: true only those the weak-supervision pairing
 * keeps complete (round(paired_fraction * size) of the split, less any that fall in the held-out
 * tail) -- the baseline "trained on the paired subset alone". *idx is malloc'd. */
int mvae_train_indices(const mvae_model *m, int64_t valid_size, int64_t **idx, int64_t *n, mvae_error *err);

/* Train as the config says, writing the run directory: config.yaml, metrics.jsonl (one line per
 * epoch), last.ckpt and best.ckpt (atomic), then evaluate on the test split and write
 * metrics.json and the PNG grids. */
int mvae_train(mvae_model *m, const mvae_train_opts *o, mvae_train_result *res, mvae_error *err);

/* Evaluate on a split as eval: in the config says. */
int mvae_evaluate(mvae_model *m, int split, mvae_eval_result *r, bool quiet, mvae_error *err);
/* The same; run_dir (may be NULL) is the last-resort cache directory for the coherence
 * classifier (see mvae_classifier_cache_dir in mvae/coherence.h). */
int mvae_evaluate_in(mvae_model *m, int split, const char *run_dir, mvae_eval_result *r, bool quiet,
                     mvae_error *err);
/* The eval.cross metrics alone (mvae_evaluate calls it; r's other fields are left alone). */
int mvae_evaluate_cross(mvae_model *m, int split, mvae_eval_result *r, bool quiet, mvae_error *err);
/* PNG grids cross_<from>.png for 8 test samples: row 1 modality `from`, then for every other image
 * modality of the same height and width its true row and its row generated from `from` alone
 * (z = mean of q). One file per modality. Grey modalities are drawn as grey RGB. */
int mvae_write_cross_pictures(mvae_model *m, const char *dir, bool quiet, mvae_error *err);

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
/* Generate n samples of image modality `target` (NULL = the first image modality) conditioned on
 * `given` ("label=3"; NULL = from the prior) into a PNG grid. */
int mvae_sample_png(mvae_model *m, const char *given, const char *target, int n, uint64_t seed,
                    const char *png_path, mvae_error *err);

#ifdef __cplusplus
}
#endif
#endif
