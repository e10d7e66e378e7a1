/* objective_supervised.c — train.objective.supervised: the MVAE paper's "NN" baseline.
 *
 * The model's own networks, trained as a plain supervised predictor: z = the mean head of
 * `from`'s expert (the fusion's mean when `from` lists several modalities; no sampling, no KL),
 * decoded by `to`'s decoder and scored by its likelihood. Per batch, with P the samples that have both `from` and `to`:
 *   loss = -(1/|P|) sum_{i in P} log p(x_to(i) | mu_from(x_from(i)))
 * (0, with zero gradients, for a batch without such a sample). Unweighted: modality weights
 * scale the ELBO's terms, not this single term. */
#include "mvae/train.h"

#include <math.h>
#include <string.h>

const mvae_option mvae_objective_supervised_schema[] = {
    {.key = "from", .type = MVAE_OPT_STRING, .help = "modality (or a,b) the predictor reads: z = mean of q(z | from)", .required = true},
    {.key = "to", .type = MVAE_OPT_STRING, .help = "modality it predicts with its decoder and likelihood", .required = true},
    {.key = NULL},
};

static int supervised_configure(const mvae_model *m, const mvae_cfg_node *sup, mvae_objective *obj, mvae_error *err) {
    char where[256];
    const char *from = "", *to = "";
    if (mvae_cfg_string_or(sup, "from", "", &from, err) || mvae_cfg_string_or(sup, "to", "", &to, err))
        return err->status;
    uint32_t s = 0;
    if (!from[0] || !to[0])
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.supervised needs `from` and `to` (modality names)",
                              mvae_cfg_where(sup, where, sizeof where));
    if (mvae_model_parse_subset(m, from, &s, err) || mvae_model_check_given(m, s, "from", err)) {
        mvae_error_prefix(err, "%s: train.objective.supervised.from", mvae_cfg_where(mvae_cfg_get(sup, "from"), where, sizeof where));
        return err->status;
    }
    int k = mvae_model_find(m, to);
    if (k < 0)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.supervised.to: '%s' is not a modality of this experiment",
                              mvae_cfg_where(mvae_cfg_get(sup, "to"), where, sizeof where), to);
    if (s & (1u << k))
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: train.objective.supervised: `to` (%s) must not be one of `from` (%s)",
                              mvae_cfg_where(sup, where, sizeof where), to, from);
    obj->supervised.from = s;
    obj->supervised.to = k;
    return MVAE_OK;
}

static int supervised_loss(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const mvae_objective *obj,
                           float beta, mvae_rng *rng, mvae_tensor **loss, mvae_step_stats *stats) {
    (void)beta; /* no KL, no sampling (rng: a flow modality's dequantisation noise) */
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    const int to = obj->supervised.to;
    const int64_t B = b->n;
    memset(stats, 0, sizeof *stats);
    mvae_experts e;
    int rc = mvae_model_encode(m, ctx, b, obj->supervised.from, &e);
    if (rc) return rc;
    mvae_posterior q;
    mvae_tensor *valid;
    int any;
    if ((rc = mvae_model_posterior(m, ctx, &e, obj->supervised.from, &q, &valid, &any))) return rc;
    /* which samples count: a `from` modality present (valid) and the target present */
    mvae_tensor *use = mvae_tensor_new(ctx, 1, (int64_t[]){B});
    if (!use) return MVAE_ERR_NOMEM;
    int64_t n_use = 0;
    for (int64_t i = 0; i < B; i++) {
        bool ok = any && valid->data[i] > 0 && b->present[i * m->n_mod + to];
        use->data[i] = ok ? 1.0f : 0.0f;
        n_use += ok;
    }
    /* a batch without such a sample still records the whole path (multiplied by 0), so that
     * backward reaches the parameters: zero gradients, and Adam then moves nothing */
    /* one `from` modality: its expert's mean head. Not the fusion's mean: with PoE's prior expert
     * that is mu * sigmoid(-logvar), whose gate the loss drives open until exp(-logvar) overflows
     * (a NaN after ~5,000 steps on Fashion-MNIST); use fusion.prior_expert: false so that the
     * evaluation's mean z is the same z. Several: the fusion's mean. */
    int one = __builtin_popcount(obj->supervised.from) == 1 ? __builtin_ctz(obj->supervised.from) : -1;
    mvae_tensor *z = !any     ? mvae_tensor_zeros(ctx, 2, (int64_t[]){B, m->latent_dim}) /* no `from` in the batch */
                     : one >= 0 ? e.mu[one]
                                : fv->mean(m->fusion, ctx, &q); /* [B, D] */
    mvae_tensor *x = mvae_batch_tensor(ctx, m, b, to);
    mvae_tensor *lp = mvae_model_logp(m, ctx, to, z, x, rng);
    mvae_tensor *total = mvae_scale(ctx, mvae_sum_all(ctx, mvae_mul(ctx, lp, use)), -1.0f / (float)(n_use > 0 ? n_use : 1));
    if (!total) return MVAE_ERR_INVALID;
    double v = total->data[0];
    stats->n_terms = 1;
    stats->subset[0] = obj->supervised.from | (1u << to);
    stats->term_loss[0] = v;
    stats->loss = v;
    if (!isfinite(v)) {
        mvae_ctx_fail(ctx, "the loss of train.objective.supervised is %s", isnan(v) ? "NaN" : "infinite");
        return MVAE_ERR_NUMERIC;
    }
    *loss = total;
    return mvae_ctx_failed(ctx) ? MVAE_ERR_INVALID : MVAE_OK;
}

static void supervised_bounds(const mvae_model *m, const mvae_objective *obj, mvae_bound_report *r) {
    char f[MVAE_SUBSET_NAME_MAX];
    r->kind = MVAE_BOUND_NOTHING;
    snprintf(r->what, sizeof r->what, "nothing: log p(%s | mean of q(z | %s)) of a deterministic predictor",
             m->mod[obj->supervised.to].info.name, mvae_model_subset_name(m, obj->supervised.from, f, sizeof f));
    r->valid = false;
}

const mvae_objective_kind mvae_objective_supervised = {
    .name = "supervised",
    .key = "supervised",
    .schema = mvae_objective_supervised_schema,
    .configure = supervised_configure,
    .loss = supervised_loss,
    .bounds = supervised_bounds,
    .summary = "nothing: a supervised predictor's cross-entropy (the other objective keys are ignored)",
};
