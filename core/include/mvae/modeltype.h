/* mvae/modeltype.h — the model type of a modality: how p(x_m | z) is built and scored.
 *
 *   modalities:
 *     image: {model: flow, encoder: {plugin: mlp, hidden: [512]}, flow: {layers: 6}}
 *     label: {encoder: {plugin: mlp}, decoder: {plugin: mlp}}        # model: vae (default)
 *
 *   mvae_tensor *lp = mvae_model_logp(m, ctx, k, z, x, rng);     // [R] log p(x_k | z), any type
 *   mvae_model_generate(m, ctx, k, z, rng, out);                 // x_k from z, any type
 *
 * A model type is one row of mvae_model_types (core/src/modeltype.c); the trainer, the
 * evaluation, pictures, coherence and sampling call only mvae_model_logp / mvae_model_generate,
 * which dispatch through the modality's row, so a new type is a new row, not a branch in them.
 * Rows today: `vae` (a decoder plugin + a likelihood of mvae/prob.h), `flow` (a conditional
 * normalising flow, core/src/flow.c) and `gan` (the decoder as a generator with a discriminator,
 * VAE-GAN style, core/src/gan.c; its logp is a training score, not a density);
 * docs/model_types.md.
 */
#ifndef MVAE_MODELTYPE_H
#define MVAE_MODELTYPE_H
#include "mvae/interfaces.h"
#ifdef __cplusplus
extern "C" {
#endif

struct mvae_model;
struct mvae_modality;
struct mvae_batch;

typedef struct mvae_model_type {
    const char *name;        /* the YAML value of `model:` */
    const char *unavailable; /* non-NULL: a reserved type, refused with this explanation */
    const char *section;     /* the modality key holding its network: "decoder" or "flow" */
    const char *takes;       /* the data it can model, for messages */
    const char *bound;       /* what the objective is with this type, one sentence */
    /* REQUIRED (for an available type): can it model this data? */
    bool (*accepts)(const mvae_modality_info *mi);
    /* REQUIRED. Make the modality's p(x | z) from its YAML node `mn` (validated by the core):
     * declare parameters under "<modality>.<section-prefix>", fill md's type fields. */
    int (*create)(struct mvae_model *m, int k, mvae_cfg_node *mn, mvae_error *err);
    void (*destroy)(struct mvae_modality *md); /* REQUIRED; frees what create made */
    /* REQUIRED. log p(x | z) per row of z -> [R]; x [B, shape...] with R a multiple of B (row r is
     * scored against x row r mod B). rng: noise the density estimate may draw (dequantisation);
     * NULL = deterministic (the bin midpoint). NULL with the error in ctx on failure. */
    mvae_tensor *(*logp)(const struct mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_tensor *x,
                         mvae_rng *rng);
    /* REQUIRED. Generate x from z [R, D] into out [R * numel] in the data's range (images
     * clamped to [0, 1]): the VAE's likelihood mean; a flow's sample at its temperature (rng NULL:
     * the base's mode, u = 0). Returns MVAE_OK or an error status (message in ctx). */
    int (*generate)(const struct mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_rng *rng,
                    float *out);
    /* ---- added with the gan row (rows that leave them 0/NULL keep the vae/flow behaviour) ---- */
    bool not_density;     /* logp is a training score, not a log-density: no bound, no log p in eval */
    bool uses_decoder;    /* the row also uses the modality's `decoder:` plugin (section != "decoder") */
    const mvae_option *schema; /* the option table of its section (to fill defaults when absent) */
    const char *plugin_key;    /* a plugin map inside its section, validated as kind plugin_kind */
    int plugin_kind;
    /* OPTIONAL. The type's own updates on batch b, before each model update (a GAN's
     * discriminator); rng: the trainer's stream. MVAE_OK, or an error status (message in ctx). */
    int (*train_step)(const struct mvae_model *m, mvae_ctx *ctx, int k, const struct mvae_batch *b, mvae_rng *rng);
} mvae_model_type;

/* Every row, ending with a row whose name is NULL. */
extern const mvae_model_type mvae_model_types[];
/* "vae, flow" (the available types) */
extern const char *const mvae_model_type_names[]; /* NULL-terminated, the YAML choices */
const mvae_model_type *mvae_model_type_find(const char *name);

/* Dispatch through modality k's row. */
mvae_tensor *mvae_model_logp(const struct mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_tensor *x,
                             mvae_rng *rng);
int mvae_model_generate(const struct mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_rng *rng,
                        float *out);
/* Every modality's train_step, in modality order (the trainer calls it before each model update;
 * a no-op without such rows). On success the context is reset. */
int mvae_model_types_train_step(const struct mvae_model *m, mvae_ctx *ctx, const struct mvae_batch *b, mvae_rng *rng);
/* Whether every modality of `subset` has a log-density (no model: gan among them). */
bool mvae_model_is_density(const struct mvae_model *m, uint32_t subset);
/* The flow and gan rows' option tables (the `flow:` / `gan:` sections; docs/model_types.md). */
extern const mvae_option mvae_flow_schema[];
extern const mvae_option mvae_gan_schema[];

#ifdef __cplusplus
}
#endif
#endif
