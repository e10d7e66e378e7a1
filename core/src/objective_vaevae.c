/* objective_vaevae.c — train.objective.vaevae: the "VAEVAE" objective attributed to Wu & Goodman
 * 2019 (arXiv 1912.05075), as three public implementations in two lineages agree on it (Kutuzova
 * et al. 2021's poe-vaes, vi-lab's vaevae_elbo, TaxVAMB; ../shared/refs/compositional-objectives.md
 * §2.1). Two modalities x, y with encoders. Per sample:
 *   paired (has x and y), z ~ q(z | x,y):
 *     L_pair = E_q[w_x log p(x | z) + w_y log p(y | z)]
 *              - c beta [KL(q(z | x,y) || q(z | x)) + KL(q(z | x,y) || q(z | y))]
 *   every observed modality m, z ~ q(z | x_m):
 *     L_m = E_q[w_m log p(x_m | z)] - beta KL(q(z | x_m) || p(z))       (IWAE-K with iw_samples)
 * loss = -(1/B) sum_i [paired_i L_pair(i) + sum_m present_m(i) L_m(i)], c = cond_kl (default 1,
 * one beta for both KLs as Kutuzova et al.). No stop-gradient: q(z | x) and q(z | y) get gradients
 * from their own ELBO and from the KL where they are the second argument. q(z | x,y) is the
 * model's fusion of the two experts (PoE with the prior expert by default: Kutuzova's "SVAE"
 * posterior family), or with joint_encoder its own MLP on [x, y] (Kutuzova's "VAEVAE" family).
 * What it bounds (reading A of the sheet, §2.2): on a paired sample
 *   L_x + L_y + L_pair <= [log p(x) + log p~(y | x)] + [log p(y) + log p~(x | y)],
 *   p~(y | x) = integral p(y | z) q(z | x) dz,
 * a composite of two normalised chain-rule joints; NOT log p(x,y) of the shared-latent model
 * (reading B: it can exceed it). No M > 2 form is given by the sheet (the one three-modality file
 * it saw is broken), so exactly two modalities are required. */
#include "objective_internal.h"
#include "mvae/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const estimator_choices[] = {"iwae", "dreg", NULL};
static const mvae_option joint_encoder_schema[] = {
    {.key = "hidden", .type = MVAE_OPT_INT_LIST, .default_value = "[512, 512]", .help = "hidden layer sizes (swish between layers)", .range = "[1, 65536]"},
    {.key = NULL},
};
const mvae_option mvae_objective_vaevae_schema[] = {
    {.key = "joint_encoder", .type = MVAE_OPT_MAP, .help = "q(z | x,y) from its own MLP on [x, y] (one-hot classes) instead of the fusion of the experts: {hidden: [512, 512]}",
     .children = joint_encoder_schema},
    {.key = "cond_kl", .type = MVAE_OPT_FLOAT, .default_value = "1.0",
     .help = "c: weight (times beta) of KL(q(z | x,y) || q(z | x)) + KL(q(z | x,y) || q(z | y)) on paired samples", .range = "[0, inf)"},
    {.key = "iw_samples", .type = MVAE_OPT_INT, .default_value = "1", .help = "K > 1: the unimodal terms are IWAE-K bounds instead of ELBOs", .range = "[1, 1024]"},
    {.key = "estimator", .type = MVAE_OPT_STRING, .default_value = "iwae", .help = "with iw_samples > 1: iwae or dreg gradients", .choices = estimator_choices},
    {.key = NULL},
};

static int vaevae_configure(const mvae_model *m, const mvae_cfg_node *sec, mvae_objective *obj, mvae_error *err) {
    char where[256];
    mvae_cfg_where(sec, where, sizeof where);
    if (__builtin_popcount(m->encodable) != 2)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.vaevae needs exactly two modalities with an "
                              "encoder (this experiment has %d); no M > 2 form of VAEVAE is established (docs/objectives.md)",
                              where, __builtin_popcount(m->encodable));
    if (m->decoder_only)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.vaevae: decoder-only modalities (encoder: none) "
                              "are not supported; give them an encoder or drop them", where);
    double c = 1.0;
    if (mvae_cfg_float_or(sec, "cond_kl", 1.0, &c, err)) return err->status;
    if (!(c >= 0) || !isfinite(c))
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.vaevae.cond_kl must be a finite number >= 0",
                              mvae_cfg_where(mvae_cfg_get(sec, "cond_kl"), where, sizeof where));
    mvae_objective_vaevae_opts *o = &obj->vaevae;
    o->cond_kl = (float)c;
    o->x = __builtin_ctz(m->encodable);
    o->y = 31 - __builtin_clz(m->encodable);
    if (mvae_cfg_get(sec, "joint_encoder")) { /* the layers vaevae_declare made */
        char name[96];
        for (o->n_layers = 0; o->n_layers < MVAE_JOINT_ENCODER_MAX_LAYERS; o->n_layers++) {
            snprintf(name, sizeof name, "joint.enc.fc%d.w", o->n_layers);
            if (!(o->w[o->n_layers] = mvae_params_find(m->params, name))) break;
            snprintf(name, sizeof name, "joint.enc.fc%d.b", o->n_layers);
            o->b[o->n_layers] = mvae_params_find(m->params, name);
        }
        o->w_mu = mvae_params_find(m->params, "joint.enc.mu.w");
        o->b_mu = mvae_params_find(m->params, "joint.enc.mu.b");
        o->w_lv = mvae_params_find(m->params, "joint.enc.logvar.w");
        o->b_lv = mvae_params_find(m->params, "joint.enc.logvar.b");
        if (!o->w_mu || !o->w_lv)
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.vaevae.joint_encoder: the model was built "
                                  "without it (its parameters joint.enc.* are missing); build the model from this config",
                                  where);
    }
    return mvae_objective_read_estimator(m, sec, "vaevae", &o->iw_samples, &o->dreg, err);
}

/* Input width of the joint encoder for modality k: its values, or one-hot classes. */
static int64_t joint_width(const mvae_model *m, int k) {
    const mvae_modality_info *in = &m->mod[k].info;
    return in->type == MVAE_MOD_CATEGORICAL ? in->n_classes : mvae_modality_numel(in);
}

/* Declare joint.enc.fc<i> (the hidden layers) and joint.enc.mu / .logvar (the heads). */
static int vaevae_declare(mvae_model *m, const mvae_cfg_node *sec, mvae_error *err) {
    mvae_cfg_node *je = mvae_cfg_get(sec, "joint_encoder");
    if (!je) return MVAE_OK;
    char where[256];
    mvae_cfg_where(je, where, sizeof where);
    if (__builtin_popcount(m->encodable) != 2) return MVAE_OK; /* configure reports it */
    if (strcmp(m->fusion_desc->name, "poe") != 0)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.vaevae.joint_encoder needs fusion: {plugin: poe} "
                              "(Gaussian q(z | x) and q(z | y) for the KLs); this experiment uses '%s'", where, m->fusion_desc->name);
    int64_t in = 0;
    for (int k = 0; k < m->n_mod; k++) {
        if (!(m->encodable & (1u << k))) continue;
        if (m->mod[k].info.type == MVAE_MOD_TOKENS)
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.vaevae.joint_encoder: modality '%s' is a token "
                                  "sequence; the joint encoder reads fixed-size modalities only (or omit joint_encoder)",
                                  where, m->mod[k].info.name);
        in += joint_width(m, k);
    }
    int64_t *hidden = NULL;
    int nh = 0;
    if (mvae_cfg_get_int_list(mvae_cfg_get(je, "hidden"), &hidden, &nh, err)) return err->status;
    int rc = MVAE_OK;
    if (nh > MVAE_JOINT_ENCODER_MAX_LAYERS)
        rc = mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.vaevae.joint_encoder.hidden: at most %d layers",
                            where, MVAE_JOINT_ENCODER_MAX_LAYERS);
    mvae_linear_layer l;
    char name[32];
    for (int i = 0; !rc && i < nh; i++) {
        snprintf(name, sizeof name, "fc%d", i);
        rc = mvae_linear_layer_init(&l, m->params, "joint.enc", name, in, hidden[i], true, err);
        in = hidden[i];
    }
    if (!rc) rc = mvae_linear_layer_init(&l, m->params, "joint.enc", "mu", in, m->latent_dim, true, err);
    if (!rc) rc = mvae_linear_layer_init(&l, m->params, "joint.enc", "logvar", in, m->latent_dim, true, err);
    free(hidden);
    return rc;
}

/* q(z | x,y) = N(mu, exp(logvar)) of the joint encoder, on the batch's rows (only paired rows are used). */
static int joint_posterior(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const mvae_objective_vaevae_opts *o,
                           mvae_posterior *q) {
    const int64_t B = b->n;
    mvae_tensor *parts[2];
    for (int j = 0; j < 2; j++) {
        int k = j ? o->y : o->x;
        int64_t w = joint_width(m, k);
        mvae_tensor *x = mvae_batch_tensor(ctx, m, b, k);
        if (!x) return MVAE_ERR_INVALID;
        if (m->mod[k].info.type == MVAE_MOD_CATEGORICAL) { /* one-hot, a constant */
            mvae_tensor *oh = mvae_tensor_zeros(ctx, 2, (int64_t[]){B, w});
            if (!oh) return MVAE_ERR_NOMEM;
            const int32_t *c = (const int32_t *)x->data;
            for (int64_t i = 0; i < B; i++)
                if (c[i] >= 0 && c[i] < w) oh->data[i * w + c[i]] = 1.0f;
            parts[j] = oh;
        } else {
            parts[j] = mvae_reshape(ctx, x, 2, (int64_t[]){B, w});
        }
    }
    mvae_tensor *h = mvae_concat(ctx, 2, parts, 1);
    for (int i = 0; i < o->n_layers; i++) {
        mvae_linear_layer l = {o->w[i], o->b[i]};
        h = mvae_linear_layer_fwd_act(ctx, &l, h, i ? MVAE_ACT_SWISH : MVAE_ACT_NONE);
    }
    int act = o->n_layers ? MVAE_ACT_SWISH : MVAE_ACT_NONE;
    mvae_linear_layer lm = {o->w_mu, o->b_mu}, ll = {o->w_lv, o->b_lv};
    memset(q, 0, sizeof *q);
    q->mu = mvae_linear_layer_fwd_act(ctx, &lm, h, act);
    q->logvar = mvae_linear_layer_fwd_act(ctx, &ll, h, act);
    return q->mu && q->logvar ? MVAE_OK : MVAE_ERR_INVALID;
}

/* One unimodal ELBO term for modality k: (1/B) sum_i present_k(i) [beta KL(q_k || p) - w_k log p(x_k | z)]. */
static mvae_tensor *unimodal_elbo(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const mvae_experts *e, int k,
                                  float beta, mvae_rng *rng) {
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    mvae_posterior q;
    mvae_tensor *valid;
    int any;
    if (mvae_model_posterior(m, ctx, e, 1u << k, &q, &valid, &any) || !any) return NULL;
    mvae_tensor *z = fv->sample(m->fusion, ctx, &q, rng);
    int D = q.n_draws > 1 ? q.n_draws : 1;
    mvae_tensor *per = mvae_add(ctx, mvae_scale(ctx, fv->kl(m->fusion, ctx, &q, z), beta),
                                mvae_objective_recon_nll(m, ctx, b, e, 1u << k, z, D, rng));
    return mvae_scale(ctx, mvae_sum_all(ctx, mvae_mul(ctx, per, mvae_posterior_draw_weights(ctx, &q, b->n))), 1.0f / (float)b->n);
}

static int vaevae_loss(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const mvae_objective *obj, float beta,
                       mvae_rng *rng, mvae_tensor **loss, mvae_step_stats *stats) {
    const mvae_objective_vaevae_opts *o = &obj->vaevae;
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    const uint32_t xy = m->encodable;
    const int64_t B = b->n;
    memset(stats, 0, sizeof *stats);
    mvae_experts e;
    int rc = mvae_model_encode(m, ctx, b, xy, &e);
    if (rc) return rc;
    mvae_tensor *total = NULL;
    /* 1. the paired term, on samples with both modalities */
    int64_t n_pair = 0;
    mvae_tensor *paired = mvae_objective_has_all(m, ctx, b, xy, 1, &n_pair);
    if (!paired) return MVAE_ERR_NOMEM;
    if (n_pair > 0) {
        mvae_posterior qxy, qx, qy;
        mvae_tensor *v;
        int any;
        if ((rc = o->w_mu ? joint_posterior(m, ctx, b, o, &qxy) : mvae_model_posterior(m, ctx, &e, xy, &qxy, &v, &any)) ||
            (rc = mvae_model_posterior(m, ctx, &e, 1u << o->x, &qx, &v, &any)) ||
            (rc = mvae_model_posterior(m, ctx, &e, 1u << o->y, &qy, &v, &any)))
            return rc;
        mvae_tensor *z;
        if (o->w_mu) { /* the joint encoder's Gaussian, reparameterised */
            mvae_tensor *eps = mvae_tensor_new(ctx, 2, qxy.mu->shape);
            if (!eps) return MVAE_ERR_NOMEM;
            mvae_rng_normal_fill(rng, eps->data, (size_t)eps->n);
            z = mvae_gaussian_sample(ctx, qxy.mu, qxy.logvar, eps);
        } else {
            z = fv->sample(m->fusion, ctx, &qxy, rng);
        }
        int D = qxy.n_draws > 1 ? qxy.n_draws : 1;
        mvae_tensor *kl = mvae_add(ctx, mvae_objective_kl_between(m, ctx, &qxy, &qx, z), mvae_objective_kl_between(m, ctx, &qxy, &qy, z));
        if (!kl) return MVAE_ERR_INVALID;
        if (kl->shape[0] != D * B) kl = mvae_tile_rows(ctx, kl, D); /* analytic: one value per sample */
        mvae_tensor *per = mvae_add(ctx, mvae_objective_recon_nll(m, ctx, b, &e, xy, z, D, rng), mvae_scale(ctx, kl, o->cond_kl * beta));
        mvae_tensor *w = o->w_mu ? paired : mvae_mul(ctx, mvae_posterior_draw_weights(ctx, &qxy, B), mvae_tile_rows(ctx, paired, D));
        mvae_tensor *term = mvae_scale(ctx, mvae_sum_all(ctx, mvae_mul(ctx, per, w)), 1.0f / (float)B);
        if (!term) return MVAE_ERR_INVALID;
        if ((rc = mvae_objective_stat(m, ctx, stats, xy, "paired", term->data[0]))) return rc;
        total = term;
    }
    /* 2. every observed modality's own ELBO (or IWAE) */
    for (int j = 0; j < 2; j++) {
        int k = j ? o->y : o->x;
        if (!e.has[k]) continue;
        mvae_tensor *term;
        double v;
        if (o->iw_samples > 1) {
            int skipped = 0;
            term = mvae_objective_iw_term(m, ctx, b, &e, 1u << k, 1u << k, o->iw_samples, o->dreg, beta, rng, &skipped, &v);
            if (skipped) continue;
        } else {
            term = unimodal_elbo(m, ctx, b, &e, k, beta, rng);
            v = term ? term->data[0] : NAN;
        }
        if (!term) return MVAE_ERR_INVALID;
        if ((rc = mvae_objective_stat(m, ctx, stats, 1u << k, "", v))) return rc;
        total = total ? mvae_add(ctx, total, term) : term;
    }
    if (!total) {
        mvae_ctx_fail(ctx, "vaevae: no objective term had any data in this batch");
        return MVAE_ERR_INVALID;
    }
    for (int t = 0; t < stats->n_terms; t++) stats->loss += stats->term_loss[t];
    *loss = total;
    return mvae_ctx_failed(ctx) ? MVAE_ERR_INVALID : MVAE_OK;
}

static void vaevae_bounds(const mvae_model *m, const mvae_objective *obj, mvae_bound_report *r) {
    const mvae_objective_vaevae_opts *o = &obj->vaevae;
    const char *x = m->mod[o->x].info.name, *y = m->mod[o->y].info.name;
    r->kind = MVAE_BOUND_COMPOSITE;
    snprintf(r->what, sizeof r->what,
             "paired samples: log p(%s) + log p~(%s|%s) + log p(%s) + log p~(%s|%s), p~(b|a) = integral p(b|z) q(z|a) dz; "
             "unpaired: log p of the observed modality", x, y, x, y, x, y);
    mvae_bound_flag(r, false, "not a bound on log p(%s,%s) of the shared-latent model (it can exceed it; "
                              "docs/objectives.md)", x, y);
    mvae_bound_flag(r, false, "q(z|%s,%s): %s", x, y, o->w_mu ? "the joint encoder (joint.enc.*)" : "the fusion of the two experts");
    if (o->cond_kl < 1.0f)
        mvae_bound_flag(r, true, "vaevae.cond_kl %g < 1: the KLs to q(z|%s) and q(z|%s) are down-weighted", o->cond_kl, x, y);
    else if (o->cond_kl > 1.0f)
        mvae_bound_flag(r, false, "vaevae.cond_kl %g > 1: a valid, looser bound", o->cond_kl);
    mvae_bound_check_settings(m, m->encodable, true, r);
}

const mvae_objective_kind mvae_objective_vaevae = {
    .name = "vaevae",
    .key = "vaevae",
    .schema = mvae_objective_vaevae_schema,
    .configure = vaevae_configure,
    .loss = vaevae_loss,
    .bounds = vaevae_bounds,
    .summary = "a composite: log p(x) + log p~(y|x) + log p(y) + log p~(x|y) on paired samples, with p~(y|x) = "
               "integral p(y|z) q(z|x) dz; not log p(x,y) of the shared-latent model",
    .declare = vaevae_declare,
};
