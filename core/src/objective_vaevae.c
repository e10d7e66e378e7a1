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
 * posterior family); a separate joint-encoder network is not implemented.
 * What it bounds (reading A of the sheet, §2.2): on a paired sample
 *   L_x + L_y + L_pair <= [log p(x) + log p~(y | x)] + [log p(y) + log p~(x | y)],
 *   p~(y | x) = integral p(y | z) q(z | x) dz,
 * a composite of two normalised chain-rule joints; NOT log p(x,y) of the shared-latent model
 * (reading B: it can exceed it). No M > 2 form is given by the sheet (the one three-modality file
 * it saw is broken), so exactly two modalities are required. */
#include "objective_internal.h"

#include <math.h>
#include <string.h>

static const char *const estimator_choices[] = {"iwae", "dreg", NULL};
const mvae_option mvae_objective_vaevae_schema[] = {
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
    return mvae_objective_read_estimator(m, sec, "vaevae", &o->iw_samples, &o->dreg, err);
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
                                mvae_objective_recon_nll(m, ctx, b, e, 1u << k, z, D));
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
        if ((rc = mvae_model_posterior(m, ctx, &e, xy, &qxy, &v, &any)) ||
            (rc = mvae_model_posterior(m, ctx, &e, 1u << o->x, &qx, &v, &any)) ||
            (rc = mvae_model_posterior(m, ctx, &e, 1u << o->y, &qy, &v, &any)))
            return rc;
        mvae_tensor *z = fv->sample(m->fusion, ctx, &qxy, rng);
        int D = qxy.n_draws > 1 ? qxy.n_draws : 1;
        mvae_tensor *kl = mvae_add(ctx, mvae_objective_kl_between(m, ctx, &qxy, &qx, z), mvae_objective_kl_between(m, ctx, &qxy, &qy, z));
        if (!kl) return MVAE_ERR_INVALID;
        if (kl->shape[0] != D * B) kl = mvae_tile_rows(ctx, kl, D); /* analytic: one value per sample */
        mvae_tensor *per = mvae_add(ctx, mvae_objective_recon_nll(m, ctx, b, &e, xy, z, D), mvae_scale(ctx, kl, o->cond_kl * beta));
        mvae_tensor *w = mvae_mul(ctx, mvae_posterior_draw_weights(ctx, &qxy, B), mvae_tile_rows(ctx, paired, D));
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
};
