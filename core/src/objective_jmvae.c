/* objective_jmvae.c — train.objective.jmvae: JMVAE-kl (Suzuki, Nakayama & Matsuo 2016).
 *
 * Per sample, with X the modalities it has (every modality with an encoder, on paired data) and
 * z ~ q(z | X) (the fusion of the present experts):
 *   L(X) = E_q[ sum_m w_m log p(x_m | z) ] - beta KL(q(z | X) || p(z))
 *          - alpha sum_{m in X} KL(q(z | X) || q(z | x_m))        (only when |X| >= 2)
 * loss = -(1/B) sum_i L(X_i). With two modalities this is Suzuki et al.'s JMVAE-kl; with M > 2
 * one KL per modality against the joint posterior, as MultiVae's JMVAE sums them (the reference
 * sheet gives no M > 2 form; the sum keeps the bound, since every KL is >= 0). q(z | X) is the
 * PoE (or whatever fusion the experiment names), not a separate joint-encoder network.
 * With iw_samples K > 1 the first two terms are the IWAE-K bound (DReG gradients with
 * estimator: dreg) of log p(X); the KLs stay analytic. What it bounds: log p(X), looser than the
 * joint ELBO by the alpha-weighted KLs (docs/objectives.md). */
#include "objective_internal.h"

#include <math.h>
#include <string.h>

static const char *const estimator_choices[] = {"iwae", "dreg", NULL};
const mvae_option mvae_objective_jmvae_schema[] = {
    {.key = "alpha", .type = MVAE_OPT_FLOAT, .default_value = "0.1", .help = "weight of sum_m KL(q(z | X) || q(z | x_m)) (MultiVae's default)", .range = "[0, inf)"},
    {.key = "iw_samples", .type = MVAE_OPT_INT, .default_value = "1", .help = "K > 1: the joint term is the IWAE-K bound instead of the ELBO", .range = "[1, 1024]"},
    {.key = "estimator", .type = MVAE_OPT_STRING, .default_value = "iwae", .help = "with iw_samples > 1: iwae or dreg gradients", .choices = estimator_choices},
    {.key = NULL},
};

/* Shared with vaevae (objective_internal.h): the estimator keys; train.impartial is refused (its blocks are
 * wired into the mvae objective's terms only). */
int mvae_objective_read_estimator(const mvae_model *m, const mvae_cfg_node *sec, const char *kind, int *K, bool *dreg,
                                  mvae_error *err) {
    char where[256];
    int64_t k = 1;
    const char *est = "iwae";
    if (mvae_cfg_int_or(sec, "iw_samples", 1, &k, err) || mvae_cfg_string_or(sec, "estimator", "iwae", &est, err))
        return err->status;
    *K = (int)k;
    *dreg = strcmp(est, "dreg") == 0;
    if (*dreg && *K < 2)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.%s.estimator: dreg needs iw_samples >= 2",
                              mvae_cfg_where(mvae_cfg_get(sec, "estimator"), where, sizeof where), kind);
    if (m->impartial)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.%s: train.impartial works with the default "
                              "(mvae) objective only; remove train.impartial or this key",
                              mvae_cfg_where(sec, where, sizeof where), kind);
    return MVAE_OK;
}

static int jmvae_configure(const mvae_model *m, const mvae_cfg_node *sec, mvae_objective *obj, mvae_error *err) {
    char where[256];
    double a = 0.1;
    if (mvae_cfg_float_or(sec, "alpha", 0.1, &a, err)) return err->status;
    if (!(a >= 0) || !isfinite(a))
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.jmvae.alpha must be a finite number >= 0",
                              mvae_cfg_where(mvae_cfg_get(sec, "alpha"), where, sizeof where));
    if (__builtin_popcount(m->encodable) < 2)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.jmvae needs at least two modalities with an "
                              "encoder (it compares q(z | X) with each q(z | x_m))", mvae_cfg_where(sec, where, sizeof where));
    obj->jmvae.alpha = (float)a;
    return mvae_objective_read_estimator(m, sec, "jmvae", &obj->jmvae.iw_samples, &obj->jmvae.dreg, err);
}

static int jmvae_loss(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const mvae_objective *obj, float beta,
                      mvae_rng *rng, mvae_tensor **loss, mvae_step_stats *stats) {
    const mvae_objective_jmvae_opts *o = &obj->jmvae;
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    const uint32_t enc = m->encodable, dec = enc | m->decoder_only;
    const int64_t B = b->n;
    const float invB = 1.0f / (float)B;
    memset(stats, 0, sizeof *stats);
    mvae_experts e;
    int rc = mvae_model_encode(m, ctx, b, dec, &e);
    if (rc) return rc;
    mvae_posterior qX;
    mvae_tensor *valid, *z = NULL;
    int any;
    if ((rc = mvae_model_posterior(m, ctx, &e, enc, &qX, &valid, &any))) return rc;
    if (!any) {
        mvae_ctx_fail(ctx, "jmvae: no sample of the batch has any modality");
        return MVAE_ERR_INVALID;
    }
    int D = 1;
    mvae_tensor *joint;
    double v;
    if (o->iw_samples > 1) { /* IWAE-K (or DReG) of log p(X) */
        int skipped = 0;
        joint = mvae_objective_iw_term(m, ctx, b, &e, enc, dec, o->iw_samples, o->dreg, beta, rng, &skipped, &v);
        if (!joint) return MVAE_ERR_INVALID;
    } else { /* the ELBO: beta KL(q || p) + sum_m -w_m log p(x_m | z), per draw, times the draw's weight */
        z = fv->sample(m->fusion, ctx, &qX, rng);
        D = qX.n_draws > 1 ? qX.n_draws : 1;
        mvae_tensor *w = mvae_posterior_draw_weights(ctx, &qX, B);
        mvae_tensor *per = mvae_add(ctx, mvae_scale(ctx, fv->kl(m->fusion, ctx, &qX, z), beta),
                                    mvae_objective_recon_nll(m, ctx, b, &e, dec, z, D, rng));
        joint = mvae_scale(ctx, mvae_sum_all(ctx, mvae_mul(ctx, per, w)), invB);
        if (!joint) return MVAE_ERR_INVALID;
        v = joint->data[0];
    }
    if ((rc = mvae_objective_stat(m, ctx, stats, enc, "", v))) return rc;
    mvae_tensor *total = joint;
    /* the KLs need z only when a posterior is not Gaussian (the estimate log qX(z) - log qm(z)) */
    if (!z && !(qX.mu && qX.logvar && qX.n_draws <= 1)) {
        z = fv->sample(m->fusion, ctx, &qX, rng);
        D = qX.n_draws > 1 ? qX.n_draws : 1;
    }
    /* rows with at least two modalities: KL(q(z | X) || q(z | x_m)) for each present m */
    mvae_tensor *multi = mvae_tensor_new(ctx, 1, (int64_t[]){B});
    if (!multi) return MVAE_ERR_NOMEM;
    for (int64_t i = 0; i < B; i++) {
        int c = 0;
        for (int k = 0; k < m->n_mod; k++) c += (enc >> k & 1u) && b->present[i * m->n_mod + k];
        multi->data[i] = c >= 2 ? 1.0f : 0.0f;
    }
    for (int k = 0; k < m->n_mod; k++) {
        if (!(enc & (1u << k)) || !e.has[k]) continue;
        mvae_posterior qm;
        mvae_tensor *vm;
        if ((rc = mvae_model_posterior(m, ctx, &e, 1u << k, &qm, &vm, &any))) return rc;
        mvae_tensor *kl = mvae_objective_kl_between(m, ctx, &qX, &qm, z);
        if (!kl) return MVAE_ERR_INVALID;
        int rows = (int)(kl->shape[0] / B); /* 1 (analytic) or D draws */
        mvae_tensor *mask = mvae_mul(ctx, mvae_tile_rows(ctx, multi, rows), mvae_tile_rows(ctx, vm, rows));
        if (rows > 1) mask = mvae_mul(ctx, mask, mvae_posterior_draw_weights(ctx, &qX, B));
        mvae_tensor *term = mvae_scale(ctx, mvae_sum_all(ctx, mvae_mul(ctx, kl, mask)), o->alpha * invB);
        if (!term) return MVAE_ERR_INVALID;
        char name[MVAE_TERM_NAME_MAX];
        snprintf(name, sizeof name, "alpha*kl(joint||%s)", m->mod[k].info.name);
        if ((rc = mvae_objective_stat(m, ctx, stats, 1u << k, name, term->data[0]))) return rc;
        total = mvae_add(ctx, total, term);
    }
    if (!total) return MVAE_ERR_INVALID;
    for (int t = 0; t < stats->n_terms; t++) stats->loss += stats->term_loss[t]; /* the bound, also for DReG */
    *loss = total;
    return mvae_ctx_failed(ctx) ? MVAE_ERR_INVALID : MVAE_OK;
}

static void jmvae_bounds(const mvae_model *m, const mvae_objective *obj, mvae_bound_report *r) {
    uint32_t dec = m->encodable | m->decoder_only;
    r->kind = MVAE_BOUND_LOG_P;
    mvae_bound_append_logp(m, dec, "", r->what, sizeof r->what);
    if (obj->jmvae.alpha > 0)
        mvae_bound_flag(r, false, "alpha %g: looser than the joint ELBO by alpha times the KLs to the unimodal posteriors",
                        obj->jmvae.alpha);
    if (m->paired_fraction < 1)
        mvae_bound_flag(r, false, "dataset.paired_fraction %g: an unpaired sample's term bounds log p of the modalities it has",
                        m->paired_fraction);
    mvae_bound_check_settings(m, dec, true, r);
}

const mvae_objective_kind mvae_objective_jmvae = {
    .name = "jmvae",
    .key = "jmvae",
    .schema = mvae_objective_jmvae_schema,
    .configure = jmvae_configure,
    .loss = jmvae_loss,
    .bounds = jmvae_bounds,
    .summary = "log p(X): the joint ELBO (or IWAE) less alpha times sum_m KL(q(z | X) || q(z | x_m))",
};
