/* mvae/interfaces.h — what each plugin kind implements: dataset, encoder (expert), decoder,
 * fusion, transform, classifier. The core owns the likelihoods (mvae/prob.h) and the trainer.
 *
 * Data flow for one batch (see docs/design.md):
 *   dataset.get_batch -> x_m [B, ...] per modality + presence[B, M]
 *   encoder_m.forward(x_m) -> (mu_m, logvar_m) [B, D]         once per batch
 *   fusion.fuse({mu_m, logvar_m, mask_m}) -> q(z | x_S)        once per objective term
 *   fusion.sample(q) -> z [B, D];  fusion.kl(q, z) -> [B]
 *   decoder_m.forward(z) -> likelihood parameters; mvae_likelihood_logp -> [B]
 *
 * Hooks marked REQUIRED must be non-NULL (the registry rejects the plugin otherwise).
 * Every hook that can fail returns MVAE_OK or an error status with a message (in err, or in the
 * step context for forward passes). Plugins never exit().
 */
#ifndef MVAE_INTERFACES_H
#define MVAE_INTERFACES_H
#include "mvae/config.h"
#include "mvae/ops.h"
#include "mvae/params.h"
#include "mvae/plugin.h"
#include "mvae/rng.h"
#include <stddef.h>
#ifdef __cplusplus
extern "C" {
#endif

/* ---- modalities ---- */
typedef enum mvae_modality_type {
    MVAE_MOD_IMAGE = 1,       /* float [C,H,W] in [0,1] */
    MVAE_MOD_BINARY = 2,      /* float [K] in {0,1} (attributes) */
    MVAE_MOD_CATEGORICAL = 3, /* int32 [1], value in [0, n_classes) */
    MVAE_MOD_TOKENS = 4,      /* int32 [max_len], token ids, -1 = padding */
    MVAE_MOD_AUDIO = 5,       /* float [C,H,W] spectrogram */
    MVAE_MOD_REAL = 6,        /* float [K] real vector */
} mvae_modality_type;
const char *mvae_modality_type_name(int type);

#define MVAE_NAME_MAX 32
typedef struct mvae_modality_info {
    char name[MVAE_NAME_MAX]; /* "image", "label", ... */
    int type;                 /* mvae_modality_type */
    int ndim;                 /* per-sample dims (1..3) */
    int64_t shape[3];         /* per-sample shape: image [1,28,28]; label [1]; tokens [T] */
    int n_classes;            /* categorical classes / token vocabulary size */
    const char *const *class_names; /* optional, n_classes entries (labels), owned by the plugin */
} mvae_modality_info;
/* Elements per sample (product of shape). */
int64_t mvae_modality_numel(const mvae_modality_info *m);
/* Integer-valued modalities (categorical, tokens) travel as int32 in the float-sized buffers. */
static inline int mvae_modality_is_index(const mvae_modality_info *m) {
    return m->type == MVAE_MOD_CATEGORICAL || m->type == MVAE_MOD_TOKENS;
}

/* ---- dataset ---- */
typedef enum { MVAE_SPLIT_TRAIN = 0, MVAE_SPLIT_TEST = 1, MVAE_SPLIT_VALID = 2 } mvae_split;
#define MVAE_MAX_MODALITIES 32

typedef struct mvae_dataset_vtable {
    /* REQUIRED. opts: the validated `dataset:` map (the plugin's options). */
    int (*open)(const mvae_cfg_node *opts, void **self, mvae_error *err);
    void (*close)(void *self); /* REQUIRED */
    int (*n_modalities)(void *self); /* REQUIRED */
    const mvae_modality_info *(*modality)(void *self, int m); /* REQUIRED */
    int64_t (*size)(void *self, int split); /* REQUIRED; 0 if the split does not exist */
    /* REQUIRED. Copy samples idx[0..n) of `split` into out[m] (n * numel(m) elements per modality;
     * index modalities write int32) and present[i * M + m] = 1 if sample i has modality m
     * (a dataset with natively missing data writes 0 and MAY leave out[m] unset for it). */
    int (*get_batch)(void *self, int split, const int64_t *idx, int n, float **out,
                     uint8_t *present, mvae_error *err);
} mvae_dataset_vtable;

/* ---- encoder (expert) and decoder ---- */
typedef struct mvae_module_args {
    const mvae_cfg_node *opts;          /* validated plugin options */
    const mvae_modality_info *modality; /* the modality it encodes / decodes */
    int latent_dim;
    const char *prefix;                 /* parameter name prefix, e.g. "image.enc" */
    mvae_params *params;                /* declare parameters here (mvae_params_add) */
} mvae_module_args;

typedef struct mvae_encoder_vtable {
    /* REQUIRED. Declare parameters (not finalized yet: do not touch their data). */
    int (*create)(const mvae_module_args *a, void **self, mvae_error *err);
    void (*destroy)(void *self); /* REQUIRED */
    /* REQUIRED. x: [B, shape...] (I32 for index modalities). Sets *mu, *logvar [B, D].
     * Returns MVAE_OK, or an error status with the message in ctx. */
    int (*forward)(void *self, mvae_ctx *ctx, mvae_tensor *x, mvae_tensor **mu,
                   mvae_tensor **logvar);
} mvae_encoder_vtable;

typedef struct mvae_decoder_vtable {
    int (*create)(const mvae_module_args *a, void **self, mvae_error *err); /* REQUIRED */
    void (*destroy)(void *self);                                            /* REQUIRED */
    /* REQUIRED. z [B, D] -> likelihood parameters: logits [B, shape...] for bernoulli; means for
     * gaussian/laplace; [B, n_classes] logits for categorical; [B, T, V] for tokens. */
    mvae_tensor *(*forward)(void *self, mvae_ctx *ctx, mvae_tensor *z);
    /* ---- OPTIONAL trailing hooks (ABI 1.2). A plugin built against 1.0 or 1.1 has a smaller vtable:
     * read them only through mvae_decoder_hook (below), never directly. ---- */
    /* Like forward, given the targets the likelihood will score: target has z's rows (tiled like
     * z) and the modality's per-sample shape (I32 for index modalities). Sequence decoders use it
     * for teacher forcing: logits [B, T, V] where position t predicts target[:, t]. When set, the
     * trainer and the evaluator call it instead of forward wherever a target exists. */
    mvae_tensor *(*forward_teacher)(void *self, mvae_ctx *ctx, mvae_tensor *z, mvae_tensor *target);
    /* Decode z [B, D] into token ids without gradients: out_tokens [B, max_len] (I32 ids, -1
     * after the end-of-sequence token, which is included); beam <= 1 = greedy. Token decoders
     * only. Returns MVAE_OK or an error status (message in ctx). */
    int (*generate)(void *self, mvae_ctx *ctx, mvae_tensor *z, int beam, int32_t *out_tokens,
                    int max_len);
} mvae_decoder_vtable;
/* An optional trailing hook of a decoder descriptor, or NULL when the plugin's vtable is too old
 * to have it (or leaves it NULL): mvae_decoder_hook(desc, forward_teacher). */
#define mvae_decoder_hook(desc, hook)                                                              \
    (((desc)->vtable_size >= offsetof(mvae_decoder_vtable, hook) + sizeof(void (*)(void)))           \
         ? ((const mvae_decoder_vtable *)(desc)->vtable)->hook                                     \
         : NULL)

/* ---- fusion ---- */
#define MVAE_MAX_COMPONENTS 64
/* q(z | x_S) as the fusion made it. Gaussian fusions (PoE) fill mu/logvar; mixtures (MoE, MoPoE)
 * fill the components and MAY leave mu/logvar NULL.
 *
 * Draws: `sample` returns n_draws draws per sample, z [n_draws * B, D], draw-major (rows
 * d*B .. d*B+B-1 are draw d of every sample). n_draws 0 or 1 means one draw ([B, D]). A
 * stratified mixture (Shi et al. 2019) sets n_draws = number of components and draw_weight
 * [n_draws * B] = the mixture weight of the component each draw came from, so that
 * sum_d draw_weight * f(z_d) estimates E_q[f(z)]. draw_weight NULL = 1 / n_draws for every draw.
 * The trainer and the evaluator use only these fields, sample, kl, log_q and mean: a fusion
 * needs no special case anywhere else. */
typedef struct mvae_posterior {
    mvae_tensor *mu, *logvar; /* [B, D] */
    int n_comp;
    mvae_tensor *comp_mu[MVAE_MAX_COMPONENTS], *comp_logvar[MVAE_MAX_COMPONENTS];
    mvae_tensor *comp_weight; /* [B, n_comp] mixture weights per sample (0 for absent components) */
    int n_draws;              /* draws per sample returned by sample (0 = 1) */
    mvae_tensor *draw_weight; /* [n_draws * B] or NULL */
    mvae_tensor *valid;       /* [B] 1 if at least one expert was present for the sample (set by the core) */
} mvae_posterior;

typedef struct mvae_fusion_vtable {
    /* REQUIRED. opts: the validated `fusion:` map; n_modalities: how many modalities have an
     * encoder (the experts fuse can be given; fuse's n counts every modality). */
    int (*create)(const mvae_cfg_node *opts, int latent_dim, int n_modalities, void **self,
                  mvae_error *err);
    void (*destroy)(void *self); /* REQUIRED */
    /* REQUIRED. mu[m], logvar[m]: [B, D] expert outputs, NULL when modality m is not in the
     * subset; mask[m]: [B, 1] 1/0 presence per sample (NULL = present for every sample). */
    int (*fuse)(void *self, mvae_ctx *ctx, int n, mvae_tensor *const *mu,
                mvae_tensor *const *logvar, mvae_tensor *const *mask, mvae_posterior *out);
    /* REQUIRED. Reparameterised z ~ q: [max(1, q->n_draws) * B, D] (rng supplies the noise). */
    mvae_tensor *(*sample)(void *self, mvae_ctx *ctx, const mvae_posterior *q, mvae_rng *rng);
    /* REQUIRED. KL(q || N(0, I)) per draw, same rows as z: analytic when possible (then the same
     * value for every draw of a sample), else the single-draw estimate log q(z) - log p(z). */
    mvae_tensor *(*kl)(void *self, mvae_ctx *ctx, const mvae_posterior *q, mvae_tensor *z);
    /* REQUIRED. log q(z) per row of z (z has k * B rows for any k >= 1, draw-major), for
     * importance weights. */
    mvae_tensor *(*log_q)(void *self, mvae_ctx *ctx, const mvae_posterior *q, mvae_tensor *z);
    /* REQUIRED. A point estimate of z (the mean) [B, D] for prediction. */
    mvae_tensor *(*mean)(void *self, mvae_ctx *ctx, const mvae_posterior *q);
} mvae_fusion_vtable;

/* ---- transform: derive one modality from another at load time ---- */
typedef struct mvae_transform_vtable {
    /* REQUIRED. src: the source modality; fill *out with the derived modality's info. */
    int (*create)(const mvae_cfg_node *opts, const mvae_modality_info *src,
                  mvae_modality_info *out, void **self, mvae_error *err);
    void (*destroy)(void *self); /* REQUIRED */
    /* REQUIRED. n samples: src [n, numel(src)] -> dst [n, numel(out)]. */
    int (*apply)(void *self, const float *src, float *dst, int n, mvae_error *err);
} mvae_transform_vtable;

/* ---- classifier: an evaluation network image -> class (coherence, docs/metrics.md) ----
 * Not part of the model: the core trains one per (dataset, image modality, label modality) on the
 * training split, caches its parameters and uses it to classify generated images. (ABI 1.1) */
typedef struct mvae_classifier_vtable {
    /* REQUIRED. opts: the validated `eval.coherence.classifier:` map; input: the modality it
     * classifies (any [C,H,W] image); declare parameters in params under `prefix` (not finalized
     * yet: do not touch their data). */
    int (*create)(const mvae_cfg_node *opts, const mvae_modality_info *input, int n_classes,
                  mvae_params *params, const char *prefix, void **self, mvae_error *err);
    void (*destroy)(void *self); /* REQUIRED */
    /* REQUIRED. x [B, shape...] in [0,1] -> logits [B, n_classes] (NULL with the error in ctx).
     * mvae_ctx_training(ctx) tells training from evaluation (dropout, batchnorm). */
    mvae_tensor *(*forward)(void *self, mvae_ctx *ctx, mvae_tensor *x);
    /* ---- OPTIONAL trailing hook (ABI 2.1): read it only through mvae_classifier_hook. ---- */
    /* x [B, shape...] in [0,1] -> the activations of the layer before the output layer [B, F]
     * (F fixed per classifier): the feature space of the Fréchet distance (docs/metrics.md). */
    mvae_tensor *(*features)(void *self, mvae_ctx *ctx, mvae_tensor *x);
} mvae_classifier_vtable;
/* An optional trailing hook of a classifier descriptor, or NULL (older vtable, or left NULL). */
#define mvae_classifier_hook(desc, hook)                                                           \
    (((desc)->vtable_size >= offsetof(mvae_classifier_vtable, hook) + sizeof(void (*)(void)))        \
         ? ((const mvae_classifier_vtable *)(desc)->vtable)->hook                                  \
         : NULL)

#ifdef __cplusplus
}
#endif
#endif
