/* modeltype.c — the table of model types (mvae/modeltype.h): one row per kind of p(x_m | z).
 * The core reaches a modality's generative model only through its row. */
#include "flow_internal.h"
#include "gan_internal.h"
#include "mvae/model.h"

#include <string.h>

/* ------------------------------------------------------------------------------------- vae */
static bool vae_accepts(const mvae_modality_info *mi) {
    (void)mi;
    return true;
}

static int vae_create(mvae_model *m, int k, mvae_cfg_node *mn, mvae_error *err) {
    mvae_modality *md = &m->mod[k];
    mvae_cfg_node *dn = mvae_cfg_get(mn, "decoder");
    const char *pn;
    char where[256], prefix[96];
    mvae_cfg_get_string(mvae_cfg_get(dn, "plugin"), &pn, err);
    md->dec_desc = mvae_registry_find(m->reg, MVAE_PLUGIN_DECODER, pn);
    snprintf(prefix, sizeof prefix, "%s.dec", mn->key);
    mvae_module_args a = {dn, &md->info, m->latent_dim, prefix, m->params};
    int before = m->params->count;
    int rc = ((const mvae_decoder_vtable *)md->dec_desc->vtable)->create(&a, &md->dec, err);
    if (rc) {
        md->dec = NULL;
        mvae_error_prefix(err, "%s: modalities.%s.decoder (%s)", mvae_cfg_where(dn, where, sizeof where), mn->key,
                          md->dec_desc->name);
        return rc;
    }
    for (int p = before; p < m->params->count; p++)
        if (m->params->entries[p].buffer) md->dec_has_batch_stats = true;
    return MVAE_OK;
}

static void vae_destroy(mvae_modality *md) {
    if (md->dec) ((const mvae_decoder_vtable *)md->dec_desc->vtable)->destroy(md->dec);
    md->dec = NULL;
}

static mvae_tensor *vae_logp(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_tensor *x, mvae_rng *rng) {
    (void)rng;
    const mvae_modality *md = &m->mod[k];
    return mvae_likelihood_logp(ctx, md->likelihood, mvae_model_decode_target(m, ctx, k, z, x), x, md->lik_scale);
}

static int vae_generate(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_rng *rng, float *out) {
    (void)rng;
    mvae_tensor *p = mvae_model_decode(m, ctx, k, z);
    if (!p) return MVAE_ERR_INVALID;
    mvae_likelihood_mean(m->mod[k].likelihood, p, out, true);
    return MVAE_OK;
}

/* ------------------------------------------------------------------------------------ flow */
static bool flow_accepts(const mvae_modality_info *mi) { return !mvae_modality_is_index(mi); }

static int flow_create(mvae_model *m, int k, mvae_cfg_node *mn, mvae_error *err) {
    mvae_modality *md = &m->mod[k];
    char where[256], prefix[96];
    snprintf(prefix, sizeof prefix, "%s.flow", mn->key);
    mvae_cfg_node *fn = mvae_cfg_get(mn, "flow");
    mvae_flow *f = NULL;
    int rc = mvae_flow_create(fn, &md->info, m->latent_dim, m->params, prefix, &f, err);
    if (rc) {
        mvae_error_prefix(err, "%s: modalities.%s.flow", mvae_cfg_where(fn ? fn : mn, where, sizeof where), mn->key);
        return rc;
    }
    md->mt_self = f;
    MVAE_INFO("modality '%s' is model: flow (%d coupling layers, %s masks, %s): %s", mn->key, f->n_layers,
              f->mask_kind == MVAE_FLOW_MASK_HALF ? "half" : "checkerboard",
              f->levels ? "dequantised, bits/dim reported" : "continuous density", md->mtype->bound);
    return MVAE_OK;
}

static void flow_destroy(mvae_modality *md) {
    mvae_flow_free(md->mt_self);
    md->mt_self = NULL;
}

static mvae_tensor *flow_logp(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_tensor *x, mvae_rng *rng) {
    return mvae_flow_logp(m->mod[k].mt_self, ctx, z, x, rng);
}

static int flow_generate(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_rng *rng, float *out) {
    return mvae_flow_generate(m->mod[k].mt_self, ctx, z, rng, out);
}

/* ------------------------------------------------------------------------------------- gan */
static int gan_create(mvae_model *m, int k, mvae_cfg_node *mn, mvae_error *err) {
    int rc = vae_create(m, k, mn, err); /* the decoder is the generator */
    if (rc) return rc;
    mvae_gan *g = NULL;
    if ((rc = mvae_gan_create(m, k, mn, &g, err))) return rc;
    m->mod[k].mt_self = g;
    MVAE_INFO("modality '%s' is model: gan (decoder '%s' as the generator, discriminator '%s' with %zu parameters, "
              "%s loss, n_critic %d): %s", mn->key, m->mod[k].dec_desc->name, g->disc_desc->name,
              mvae_params_count_trainable(g->dps), g->loss == MVAE_GAN_LOSS_HINGE ? "hinge" : "non-saturating",
              g->n_critic, m->mod[k].mtype->bound);
    return MVAE_OK;
}

static void gan_destroy(mvae_modality *md) {
    vae_destroy(md);
    mvae_gan_free(md->mt_self);
    md->mt_self = NULL;
}

static mvae_tensor *gan_logp(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_tensor *x, mvae_rng *rng) {
    (void)rng;
    return mvae_gan_score(m, ctx, k, z, x);
}

static int gan_train_step(const mvae_model *m, mvae_ctx *ctx, int k, const mvae_batch *b, mvae_rng *rng) {
    return mvae_gan_train_step(m, ctx, k, b, rng);
}

/* ------------------------------------------------------------------------------------ table */
const mvae_model_type mvae_model_types[] = {
    {"vae", NULL, "decoder", "any data (the likelihood is chosen by `likelihood:`)",
     "the ELBO term of this modality bounds log p(x | z) through the decoder's likelihood", vae_accepts, vae_create,
     vae_destroy, vae_logp, vae_generate, false, false, NULL, NULL, 0, NULL},
    {"flow", NULL, "flow", "float data: image, binary, real or audio modalities",
     "the flow's log p(x | z) is exact (change of variables), so every term stays a bound; with dequantisation "
     "it bounds the probability of the discrete levels",
     flow_accepts, flow_create, flow_destroy, flow_logp, flow_generate, false, false, NULL, NULL, 0, NULL},
    {"gan", NULL, "gan", "float data: image, binary, real or audio modalities",
     "an adversarial loss and a reconstruction in discriminator features replace log p(x | z): the objective is "
     "no longer a likelihood bound",
     flow_accepts, gan_create, gan_destroy, gan_logp, vae_generate, .not_density = true, .uses_decoder = true,
     .schema = mvae_gan_schema, .plugin_key = "discriminator", .plugin_kind = MVAE_PLUGIN_ENCODER,
     .train_step = gan_train_step},
    {.name = NULL},
};
const char *const mvae_model_type_names[] = {"vae", "flow", "gan", NULL};

const mvae_model_type *mvae_model_type_find(const char *name) {
    for (const mvae_model_type *t = mvae_model_types; name && t->name; t++)
        if (strcmp(t->name, name) == 0) return t;
    return NULL;
}

mvae_tensor *mvae_model_logp(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_tensor *x, mvae_rng *rng) {
    return m->mod[k].mtype->logp(m, ctx, k, z, x, rng);
}

int mvae_model_generate(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_rng *rng, float *out) {
    return m->mod[k].mtype->generate(m, ctx, k, z, rng, out);
}

int mvae_model_types_train_step(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, mvae_rng *rng) {
    for (int k = 0; k < m->n_mod; k++) {
        if (!m->mod[k].mtype->train_step) continue;
        int rc = m->mod[k].mtype->train_step(m, ctx, k, b, rng);
        if (rc) return rc;
    }
    return MVAE_OK;
}

bool mvae_model_is_density(const mvae_model *m, uint32_t subset) {
    for (int k = 0; k < m->n_mod; k++)
        if ((subset & (1u << k)) && m->mod[k].mtype->not_density) return false;
    return true;
}
