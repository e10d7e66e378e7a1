/* gan.c — the `gan` model type: a VAE-GAN modality with its discriminator (gan_internal.h;
 * docs/model_types.md). */
#include "gan_internal.h"
#include "eval_internal.h"
#include "mvae/dist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const gan_loss_choices[] = {"ns", "hinge", NULL};
const mvae_option mvae_gan_schema[] = {
    {"discriminator", MVAE_OPT_ANY, "{plugin: mlp, hidden: [256]}",
     "the discriminator's feature network: an encoder plugin {plugin: NAME, ...options} whose mean output is the feature layer", NULL, false, NULL, NULL},
    {"features", MVAE_OPT_INT, "64", "width of the discriminator's feature layer (the reconstruction's space)", NULL, false, NULL, "[1, 65536]"},
    {"loss", MVAE_OPT_STRING, "ns", "ns (non-saturating, Goodfellow et al. 2014) | hinge", NULL, false, gan_loss_choices, NULL},
    {"n_critic", MVAE_OPT_INT, "1", "discriminator updates before each model update", NULL, false, NULL, "[1, 100]"},
    {"lr", MVAE_OPT_FLOAT, "2.0e-4", "the discriminator's Adam learning rate", NULL, false, NULL, "(0, inf)"},
    {"beta1", MVAE_OPT_FLOAT, "0.5", "the discriminator's Adam first-moment decay", NULL, false, NULL, "[0, 1)"},
    {"beta2", MVAE_OPT_FLOAT, "0.999", "the discriminator's Adam second-moment decay", NULL, false, NULL, "[0, 1)"},
    {"feature_weight", MVAE_OPT_FLOAT, "1.0", "weight of 1/2 |f(x) - f(G(z))|^2 (reconstruction in discriminator features)", NULL, false, NULL, "[0, inf)"},
    {"adversarial_weight", MVAE_OPT_FLOAT, "1.0", "weight of the generator's adversarial loss", NULL, false, NULL, "[0, inf)"},
    {"pixel_weight", MVAE_OPT_FLOAT, "0.0", "weight of the VAE's own log-likelihood of x (bernoulli / gaussian) kept beside them", NULL, false, NULL, "[0, inf)"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};

void mvae_gan_free(mvae_gan *g) {
    if (!g) return;
    if (g->disc) ((const mvae_encoder_vtable *)g->disc_desc->vtable)->destroy(g->disc);
    mvae_params_free(g->dps);
    free(g);
}

/* a stable 64-bit hash of a name (the discriminator's initialisation stream) */
static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

int mvae_gan_create(mvae_model *m, int k, mvae_cfg_node *mn, mvae_gan **out, mvae_error *err) {
    mvae_modality *md = &m->mod[k];
    mvae_cfg_node *gn = mvae_cfg_get(mn, "gan"), *dn = mvae_cfg_get(gn, "discriminator");
    char where[256], prefix[96];
    mvae_gan *g = calloc(1, sizeof *g);
    if (!g) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    g->k = k;
    int64_t n_critic = 1;
    double lr = 2e-4, b1 = 0.5, b2 = 0.999, fw = 1, aw = 1, pw = 0;
    const char *loss = "ns", *pn = NULL;
    int rc;
    if ((rc = mvae_cfg_int_or(gn, "features", 64, &g->features, err)) ||
        (rc = mvae_cfg_int_or(gn, "n_critic", 1, &n_critic, err)) ||
        (rc = mvae_cfg_string_or(gn, "loss", "ns", &loss, err)) || (rc = mvae_cfg_float_or(gn, "lr", 2e-4, &lr, err)) ||
        (rc = mvae_cfg_float_or(gn, "beta1", 0.5, &b1, err)) || (rc = mvae_cfg_float_or(gn, "beta2", 0.999, &b2, err)) ||
        (rc = mvae_cfg_float_or(gn, "feature_weight", 1, &fw, err)) ||
        (rc = mvae_cfg_float_or(gn, "adversarial_weight", 1, &aw, err)) ||
        (rc = mvae_cfg_float_or(gn, "pixel_weight", 0, &pw, err)) ||
        (rc = mvae_cfg_get_string(mvae_cfg_get(dn, "plugin"), &pn, err))) {
        free(g);
        return rc;
    }
    if (fw == 0 && aw == 0 && pw == 0) {
        free(g);
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: modalities.%s.gan: feature_weight, adversarial_weight and "
                              "pixel_weight are all 0: the generator would get no loss; give one of them a positive weight",
                              mvae_cfg_where(gn ? gn : mn, where, sizeof where), mn->key);
    }
    g->n_critic = (int)n_critic;
    g->loss = strcmp(loss, "hinge") == 0 ? MVAE_GAN_LOSS_HINGE : MVAE_GAN_LOSS_NS;
    g->feature_weight = (float)fw, g->adversarial_weight = (float)aw, g->pixel_weight = (float)pw;
    g->opt = mvae_optim_adam((float)lr);
    g->opt.beta1 = (float)b1, g->opt.beta2 = (float)b2;
    g->opt.zero_grad = true;
    g->dps = mvae_params_new();
    g->disc_desc = mvae_registry_find(m->reg, MVAE_PLUGIN_ENCODER, pn);
    if (!g->dps || !g->disc_desc) {
        mvae_gan_free(g);
        return mvae_error_set(err, g->dps ? MVAE_ERR_PLUGIN : MVAE_ERR_NOMEM, "modalities.%s.gan: %s", mn->key,
                              g->dps ? "the discriminator's plugin is not loaded" : "out of memory");
    }
    snprintf(prefix, sizeof prefix, "%s.gan.disc", mn->key);
    mvae_module_args a = {dn, &md->info, (int)g->features, prefix, g->dps};
    if ((rc = ((const mvae_encoder_vtable *)g->disc_desc->vtable)->create(&a, &g->disc, err))) {
        g->disc = NULL;
        mvae_error_prefix(err, "%s: modalities.%s.gan.discriminator (%s)", mvae_cfg_where(dn, where, sizeof where),
                          mn->key, g->disc_desc->name);
        mvae_gan_free(g);
        return rc;
    }
    mvae_rng init;
    mvae_rng_seed(&init, m->seed ^ name_hash(prefix));
    if ((rc = mvae_linear_layer_init(&g->head, g->dps, prefix, "head", g->features, 1, true, err)) ||
        (rc = mvae_params_finalize(g->dps, &init, err))) {
        mvae_gan_free(g);
        return rc;
    }
    /* the checkpointed mirror of the discriminator's state, in the model's store */
    snprintf(prefix, sizeof prefix, "%s.gan.state", mn->key);
    g->state = mvae_params_add_buffer(m->params, prefix, 1, (int64_t[]){3 * (int64_t)g->dps->n_floats + 3}, 0.0f, err);
    if (!g->state) {
        mvae_gan_free(g);
        return err->status ? err->status : MVAE_ERR_INVALID;
    }
    *out = g;
    return MVAE_OK;
}

/* moments are allocated by the optimiser on its first step; the mirror needs them before */
static bool ensure_moments(mvae_params *ps) {
    size_t n = ps->n_floats * sizeof(float);
    if (!ps->m && (ps->m = mvae_alloc_aligned(n))) memset(ps->m, 0, n);
    if (!ps->v && (ps->v = mvae_alloc_aligned(n))) memset(ps->v, 0, n);
    return ps->m && ps->v;
}

static void push(mvae_gan *g) {
    size_t n = g->dps->n_floats;
    float *s = g->state->data;
    memcpy(s, g->dps->data, n * sizeof *s);
    if (g->dps->m) memcpy(s + n, g->dps->m, n * sizeof *s);
    if (g->dps->v) memcpy(s + 2 * n, g->dps->v, n * sizeof *s);
    s[3 * n] = (float)(g->opt.step >> 24); /* both halves exact in a float */
    s[3 * n + 1] = (float)(g->opt.step & 0xFFFFFF);
    s[3 * n + 2] = 1.0f;
}

void mvae_gan_sync(mvae_gan *g) {
    size_t n = g->dps->n_floats;
    const float *s = g->state->data;
    if (s[3 * n + 2] != 1.0f || !ensure_moments(g->dps)) {
        push(g); /* a fresh model: the mirror starts as the store */
        return;
    }
    memcpy(g->dps->data, s, n * sizeof *s);
    memcpy(g->dps->m, s + n, n * sizeof *s);
    memcpy(g->dps->v, s + 2 * n, n * sizeof *s);
    g->opt.step = ((int64_t)s[3 * n] << 24) + (int64_t)s[3 * n + 1];
}

mvae_tensor *mvae_gan_disc_logits(mvae_gan *g, mvae_ctx *ctx, mvae_tensor *x, mvae_tensor **features) {
    mvae_tensor *mu = NULL, *lv = NULL;
    if (((const mvae_encoder_vtable *)g->disc_desc->vtable)->forward(g->disc, ctx, x, &mu, &lv) || !mu) {
        if (!mvae_ctx_failed(ctx)) mvae_ctx_fail(ctx, "the discriminator '%s' returned no output", g->disc_desc->name);
        return NULL;
    }
    mvae_tensor *f = mvae_leaky_relu(ctx, mu, 0.2f);
    if (features) *features = f;
    mvae_tensor *d = mvae_linear_layer_fwd(ctx, &g->head, f);
    return d ? mvae_reshape(ctx, d, 1, (int64_t[]){d->shape[0]}) : NULL;
}

/* sum(w * l) / sum(w) over rows, w NULL = mean */
static mvae_tensor *weighted_mean(mvae_ctx *ctx, mvae_tensor *l, mvae_tensor *w) {
    if (!w) return mvae_mean_all(ctx, l);
    double s = 0;
    for (int64_t i = 0; i < w->n; i++) s += w->data[i];
    return mvae_scale(ctx, mvae_sum_all(ctx, mvae_mul(ctx, l, w)), s > 0 ? (float)(1.0 / s) : 0.0f);
}

mvae_tensor *mvae_gan_disc_loss(mvae_ctx *ctx, int loss, mvae_tensor *d_real, mvae_tensor *w_real,
                                mvae_tensor *d_fake, mvae_tensor *w_fake) {
    mvae_tensor *lr, *lf;
    if (loss == MVAE_GAN_LOSS_HINGE) { /* relu(1 - d), relu(1 + d) */
        lr = mvae_relu(ctx, mvae_add_scalar(ctx, mvae_scale(ctx, d_real, -1.0f), 1.0f));
        lf = mvae_relu(ctx, mvae_add_scalar(ctx, d_fake, 1.0f));
    } else { /* -log sigmoid(d) = softplus(-d); -log(1 - sigmoid(d)) = softplus(d) */
        lr = mvae_softplus(ctx, mvae_scale(ctx, d_real, -1.0f));
        lf = mvae_softplus(ctx, d_fake);
    }
    return mvae_add(ctx, weighted_mean(ctx, lr, w_real), weighted_mean(ctx, lf, w_fake));
}

mvae_tensor *mvae_gan_gen_loss(mvae_ctx *ctx, int loss, mvae_tensor *d_fake) {
    return loss == MVAE_GAN_LOSS_HINGE ? mvae_scale(ctx, d_fake, -1.0f) : mvae_softplus(ctx, mvae_scale(ctx, d_fake, -1.0f));
}

/* G(z) in the data's range from the decoder's output p: the likelihood's mean, differentiable */
static mvae_tensor *gen_image(const mvae_modality *md, mvae_ctx *ctx, mvae_tensor *p) {
    return md->likelihood == MVAE_LIK_BERNOULLI ? mvae_sigmoid(ctx, p) : p;
}

mvae_tensor *mvae_gan_score(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_tensor *x) {
    const mvae_modality *md = &m->mod[k];
    mvae_gan *g = md->mt_self;
    mvae_gan_sync(g);
    mvae_tensor *p = mvae_model_decode_target(m, ctx, k, z, x);
    if (!p) return NULL;
    int64_t R = p->shape[0], B = x->shape[0];
    mvae_tensor *score = mvae_tensor_zeros(ctx, 1, (int64_t[]){R});
    if (g->pixel_weight > 0)
        score = mvae_add(ctx, score, mvae_scale(ctx, mvae_likelihood_logp(ctx, md->likelihood, p, x, md->lik_scale),
                                                g->pixel_weight));
    if (g->feature_weight > 0 || g->adversarial_weight > 0) {
        mvae_tensor *fg = NULL, *d = mvae_gan_disc_logits(g, ctx, gen_image(md, ctx, p), &fg);
        if (!d) return NULL;
        if (g->feature_weight > 0) {
            bool old = mvae_ctx_set_grad(ctx, false); /* f(x): a target, no gradient */
            mvae_tensor *fx = NULL;
            mvae_gan_disc_logits(g, ctx, x, &fx);
            mvae_ctx_set_grad(ctx, old);
            if (!fx) return NULL;
            if (R != B) fx = mvae_tile_rows(ctx, fx, (int)(R / B));
            mvae_tensor *rec = mvae_sum(ctx, mvae_square(ctx, mvae_sub(ctx, fg, fx)), 1, false);
            score = mvae_sub(ctx, score, mvae_scale(ctx, rec, 0.5f * g->feature_weight));
        }
        if (g->adversarial_weight > 0)
            score = mvae_sub(ctx, score, mvae_scale(ctx, mvae_gan_gen_loss(ctx, g->loss, d), g->adversarial_weight));
    }
    return score;
}

int mvae_gan_train_step(const mvae_model *m, mvae_ctx *ctx, int k, const mvae_batch *b, mvae_rng *rng) {
    const mvae_modality *md = &m->mod[k];
    mvae_gan *g = md->mt_self;
    if (mvae_dist_size() > 1) {
        mvae_ctx_fail(ctx, "modality '%s' is model: gan: the discriminator is not trained data-parallel (MPI ranks %d); "
                      "train it in one process", md->info.name, mvae_dist_size());
        return MVAE_ERR_INVALID;
    }
    mvae_gan_sync(g);
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    for (int c = 0; c < g->n_critic; c++) {
        mvae_ctx_reset(ctx);
        mvae_params_zero_grad(g->dps);
        /* generated data: G(z), z ~ q(z | every present modality with an encoder), a constant */
        bool old = mvae_ctx_set_grad(ctx, false);
        mvae_experts e;
        mvae_posterior q;
        mvae_tensor *valid = NULL, *fake = NULL;
        int any = 0;
        if (!mvae_model_encode(m, ctx, b, m->encodable, &e) &&
            !mvae_model_posterior(m, ctx, &e, m->encodable, &q, &valid, &any) && any) {
            mvae_tensor *z = mvae_eval_one_draw(ctx, &q, fv->sample(m->fusion, ctx, &q, rng), b->n, rng);
            mvae_tensor *p = z ? mvae_model_decode(m, ctx, k, z) : NULL;
            fake = p ? gen_image(md, ctx, p) : NULL;
        }
        mvae_ctx_set_grad(ctx, old);
        if (!any) break; /* no sample to encode: nothing to learn from */
        if (!fake) {
            if (!mvae_ctx_failed(ctx)) mvae_ctx_fail(ctx, "modality '%s': no generated batch", md->info.name);
            return MVAE_ERR_INVALID;
        }
        mvae_tensor *w_real = mvae_tensor_new(ctx, 1, (int64_t[]){b->n});
        double n_real = 0;
        for (int i = 0; i < b->n; i++) n_real += w_real->data[i] = b->present[i * m->n_mod + k];
        if (n_real == 0) break; /* the batch has none of this modality's data */
        mvae_tensor *x = mvae_batch_tensor(ctx, m, b, k);
        mvae_tensor *d_real = mvae_gan_disc_logits(g, ctx, x, NULL), *d_fake = mvae_gan_disc_logits(g, ctx, fake, NULL);
        mvae_tensor *loss = d_real && d_fake ? mvae_gan_disc_loss(ctx, g->loss, d_real, w_real, d_fake, valid) : NULL;
        if (!loss) return MVAE_ERR_INVALID;
        g->last_d_loss = loss->data[0];
        int rc = mvae_backward(ctx, loss);
        if (rc) return rc;
        float gnorm = mvae_grad_norm(g->dps);
        if (!isfinite(gnorm) || !isfinite(g->last_d_loss)) {
            mvae_ctx_fail(ctx, "modality '%s' (model: gan): the discriminator's %s is %s in its update %d of %d "
                          "(loss %g); its parameters were not updated (a lower gan.lr may help)", md->info.name,
                          isfinite(g->last_d_loss) ? "gradient norm" : "loss",
                          isnan(isfinite(g->last_d_loss) ? gnorm : g->last_d_loss) ? "NaN" : "infinite", c + 1,
                          g->n_critic, g->last_d_loss);
            return MVAE_ERR_NUMERIC;
        }
        mvae_error err = {0};
        if ((rc = mvae_optim_step(&g->opt, g->dps, &err))) {
            mvae_ctx_fail(ctx, "modality '%s': the discriminator's update: %s", md->info.name, err.msg);
            return rc;
        }
        push(g);
    }
    mvae_ctx_reset(ctx);
    return MVAE_OK;
}
