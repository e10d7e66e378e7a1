/* mvae/model.h — an experiment made real: the dataset, one expert + decoder + likelihood per
 * modality, a fusion rule and the parameter store, built from a validated YAML config.
 *
 *   mvae_registry *reg = mvae_registry_new(); mvae_registry_load_default(reg, &err);
 *   mvae_cfg *cfg; mvae_cfg_load_file("experiments/fashion_mnist_mlp.yaml", &cfg, &err);
 *   mvae_model *model;
 *   if (mvae_model_build(cfg, reg, &model, &err)) { puts(err.msg); ... }
 *   ... mvae_train(model, &opts, &err) (train.h) ...
 *   mvae_model_free(model);      // closes the dataset and plugins; cfg/reg stay the caller's
 *
 * The experiment schema (every key, default and meaning) is documented in docs/experiments.md;
 * mvae_experiment_schema is the table it is checked against.
 */
#ifndef MVAE_MODEL_H
#define MVAE_MODEL_H
#include "mvae/interfaces.h"
#include "mvae/modeltype.h"
#include "mvae/prob.h"
#ifdef __cplusplus
extern "C" {
#endif

extern const mvae_option mvae_experiment_schema[];

typedef struct mvae_modality {
    mvae_modality_info info; /* copy of the dataset's (or the transform's) description */
    int ds_index;            /* source index: a dataset modality (< n_ds_modalities) or transform
                                ds_index - n_ds_modalities */
    /* enc_desc and enc are NULL for a decoder-only modality (`encoder: none`): it is decoded
     * from every objective term's z and scored, but never enters q(z | .) */
    const mvae_plugin_desc *enc_desc, *dec_desc;
    void *enc, *dec;
    int likelihood;          /* mvae_likelihood */
    float lik_scale;         /* gaussian sigma / laplace scale */
    float weight;            /* lambda_m in the objective */
    bool dec_has_batch_stats;/* the decoder declared buffers (batchnorm): never stack its batches */
    const mvae_model_type *mtype; /* `model:` (mvae/modeltype.h); dec/dec_desc are the vae row's */
    void *mt_self;           /* the type's own state (the flow), NULL for vae */
} mvae_modality;

/* A derived modality (the experiment's `transforms:` section): computed from a source modality
 * (a dataset modality or an earlier transform) when a batch is filled. */
#define MVAE_MAX_TRANSFORMS 16
typedef struct mvae_transform_inst {
    mvae_modality_info info; /* the derived modality (name = the key in `transforms:`) */
    const mvae_plugin_desc *desc;
    void *self;
    int src;                 /* source index (dataset modality, or n_ds_modalities + transform) */
    int root;                /* the dataset modality it derives from (its presence is ours) */
} mvae_transform_inst;

typedef struct mvae_model {
    mvae_cfg *cfg;           /* not owned */
    const mvae_registry *reg;/* not owned */
    const mvae_plugin_desc *ds_desc;
    void *ds;
    int n_ds_modalities;
    int n_tf;                /* transforms: source indices n_ds_modalities .. + n_tf - 1 */
    mvae_transform_inst tf[MVAE_MAX_TRANSFORMS];
    int n_mod;
    mvae_modality mod[MVAE_MAX_MODALITIES];
    const mvae_plugin_desc *fusion_desc;
    void *fusion;
    int latent_dim;
    uint64_t seed;
    mvae_params *params;
    double paired_fraction;  /* dataset.paired_fraction */
    struct mvae_impartial_set *impartial; /* train.impartial's blocks (objective_impartial.c); NULL = none */
    uint32_t encodable;      /* modalities with an encoder (the ones q(z | .) can be given) */
    uint32_t decoder_only;   /* modalities with `encoder: none` */
} mvae_model;

/* Validate cfg against the experiment schema and every named plugin's option table, open the
 * dataset, create the modules, finalize and initialise the parameters (seeded by `seed`). */
int mvae_model_build(mvae_cfg *cfg, const mvae_registry *reg, mvae_model **out, mvae_error *err);
/* Only the validation part (mvae validate): no dataset is opened, no parameters are made. */
int mvae_experiment_validate(mvae_cfg *cfg, const mvae_registry *reg, mvae_error *err);
void mvae_model_free(mvae_model *m); /* NULL is a no-op */
/* Description of source index k (a dataset modality, or a transform's derived modality). */
const mvae_modality_info *mvae_model_source_info(const mvae_model *m, int k);
/* Index of a modality by name, or -1. */
int mvae_model_find(const mvae_model *m, const char *name);
/* A subset that q(z | .) is asked to condition on (`what` names the setting in messages):
 * MVAE_OK, or an error naming the decoder-only modality it contains. */
int mvae_model_check_given(const mvae_model *m, uint32_t subset, const char *what, mvae_error *err);
/* Check the eval: section against the model's modalities and the data (log-likelihood terms,
 * accuracy from/predict, eval.cross; non-empty training and test splits), so that nothing a
 * file says fails after training. mvae_model_build calls it; defined in eval.c. */
int mvae_model_check_eval(const mvae_model *m, mvae_error *err);

/* ---- batches ---- */
/* Host buffers for one batch: per modality [cap, numel] (int32 for index modalities) and the
 * presence matrix [cap, n_mod]. Allocated once (a workspace), refilled every step. */
typedef struct mvae_batch {
    int cap, n;
    float *x[MVAE_MAX_MODALITIES];
    uint8_t *present; /* [cap * n_mod] */
    float *ds_present_tmp;
    uint8_t *ds_present; /* [cap * n_ds_modalities] */
    float *ds_bufs[MVAE_MAX_MODALITIES]; /* per source: dataset modalities, then transforms */
} mvae_batch;
int mvae_batch_init(mvae_batch *b, const mvae_model *m, int cap, mvae_error *err);
void mvae_batch_free(mvae_batch *b);
/* Fill with samples idx[0..n) of split (derived modalities are computed from their sources
 * here, by the transforms' apply, in `transforms:` order). paired (may be NULL): per-sample keep-mask row for weak
 * supervision, [N_split * n_mod] indexed by the sample index. */
int mvae_batch_fill(mvae_batch *b, const mvae_model *m, int split, const int64_t *idx, int n,
                    const uint8_t *paired, mvae_error *err);
/* Tensor view of modality k of the batch (F32 or I32 by modality type), shape [n, shape...]. */
mvae_tensor *mvae_batch_tensor(mvae_ctx *ctx, const mvae_model *m, const mvae_batch *b, int k);

/* ---- inference pieces (used by the trainer, evaluation and sampling) ---- */
typedef struct mvae_experts {
    mvae_tensor *mu[MVAE_MAX_MODALITIES], *logvar[MVAE_MAX_MODALITIES]; /* NULL if not run */
    mvae_tensor *mask[MVAE_MAX_MODALITIES]; /* [B,1] presence, NULL if all present */
    bool has[MVAE_MAX_MODALITIES]; /* the modality is in the subset and present for >= 1 sample
                                     * (also for decoder-only modalities, whose mu stays NULL) */
    int64_t B;
} mvae_experts;
/* Run the expert of every modality in `subset` (bitmask over model modalities) that is present
 * for at least one sample; decoder-only modalities get only their presence (has, mask). */
int mvae_model_encode(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, uint32_t subset,
                      mvae_experts *out);
/* q(z | x_S) for the modalities in `subset` (and present per sample). valid_out (may be NULL)
 * receives [B] 1/0: whether the sample had any modality of the subset. Returns MVAE_OK, or an
 * error status (message in ctx); *any_valid = 0 when no sample has any modality of the subset. */
int mvae_model_posterior(const mvae_model *m, mvae_ctx *ctx, const mvae_experts *e, uint32_t subset,
                         mvae_posterior *q, mvae_tensor **valid_out, int *any_valid);
/* Decode z with modality k's decoder -> likelihood parameters. */
mvae_tensor *mvae_model_decode(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z);
/* Decode z given the targets the likelihood will score (target: the batch tensor, [B, ...]; z may
 * have k*B rows, draw-major): the decoder's forward_teacher when it has one (teacher forcing for
 * sequences; the targets are then repeated to z's rows), else forward(z). target NULL =
 * mvae_model_decode. */
mvae_tensor *mvae_model_decode_target(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z,
                                      mvae_tensor *target);
/* Experts repeated k times along the batch (with no gradient): for importance sampling. */
void mvae_experts_tile(mvae_ctx *ctx, const mvae_model *m, const mvae_experts *e, int k, mvae_experts *out);
/* The weight of each draw of q for samples that are valid: draw_weight (or 1/n_draws) times
 * valid, [n_draws * B]. */
mvae_tensor *mvae_posterior_draw_weights(mvae_ctx *ctx, const mvae_posterior *q, int64_t B);

/* Room for "a,b,c": every modality of a model, each name and its comma. */
#define MVAE_SUBSET_NAME_MAX (MVAE_MAX_MODALITIES * MVAE_NAME_MAX)
/* "image,label" -> bitmask; error names the unknown modality with a hint. A list longer than
 * MVAE_SUBSET_NAME_MAX - 1 characters is an error. */
int mvae_model_parse_subset(const mvae_model *m, const char *list, uint32_t *subset, mvae_error *err);
/* bitmask -> "image,label" (a buffer of MVAE_SUBSET_NAME_MAX holds any subset) */
const char *mvae_model_subset_name(const mvae_model *m, uint32_t subset, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
