/* objective_common.c — what the rows of the objectives table share: the reconstruction term, the
 * KL between two posteriors, presence masks, term statistics, and the bound report (what an
 * objective bounds, and the settings that break it; docs/objectives.md). */
#include "objective_internal.h"
#include "mvae/modeltype.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

mvae_tensor *mvae_objective_recon_nll(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const mvae_experts *e,
                                      uint32_t dec, mvae_tensor *z, int n_draws, mvae_rng *rng) {
    int64_t B = b->n;
    mvae_tensor *acc = NULL;
    for (int k = 0; k < m->n_mod; k++) {
        if (!(dec & (1u << k)) || !e->has[k]) continue;
        const mvae_modality *md = &m->mod[k];
        mvae_tensor *x = mvae_batch_tensor(ctx, m, b, k); /* [B]: the likelihood repeats it per draw */
        mvae_tensor *lp = mvae_model_logp(m, ctx, k, z, x, rng); /* any model type (vae, flow) */
        mvae_tensor *nll = mvae_scale(ctx, lp, -md->weight);
        if (e->mask[k]) nll = mvae_mul(ctx, nll, mvae_tile_rows(ctx, mvae_reshape(ctx, e->mask[k], 1, (int64_t[]){B}), n_draws));
        acc = acc ? mvae_add(ctx, acc, nll) : nll;
    }
    if (!acc && !mvae_ctx_failed(ctx)) mvae_ctx_fail(ctx, "objective: no modality to reconstruct in this batch");
    return acc;
}

mvae_tensor *mvae_objective_kl_between(const mvae_model *m, mvae_ctx *ctx, const mvae_posterior *qa,
                                       const mvae_posterior *qb, mvae_tensor *z) {
    if (qa->mu && qa->logvar && qb->mu && qb->logvar && qa->n_draws <= 1)
        return mvae_kl_gaussians(ctx, qa->mu, qa->logvar, qb->mu, qb->logvar);
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    return mvae_sub(ctx, fv->log_q(m->fusion, ctx, qa, z), fv->log_q(m->fusion, ctx, qb, z));
}

mvae_tensor *mvae_objective_has_all(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, uint32_t need,
                                    int n_draws, int64_t *count) {
    int64_t B = b->n;
    mvae_tensor *t = mvae_tensor_new(ctx, 1, (int64_t[]){B * n_draws});
    if (!t) return NULL;
    int64_t c = 0;
    for (int64_t i = 0; i < B; i++) {
        bool ok = true;
        for (int k = 0; k < m->n_mod; k++)
            if ((need & (1u << k)) && !b->present[i * m->n_mod + k]) ok = false;
        c += ok;
        for (int d = 0; d < n_draws; d++) t->data[(int64_t)d * B + i] = ok ? 1.0f : 0.0f;
    }
    if (count) *count = c;
    return t;
}

int mvae_objective_stat(const mvae_model *m, mvae_ctx *ctx, mvae_step_stats *st, uint32_t subset, const char *name,
                        double v) {
    char nm[MVAE_SUBSET_NAME_MAX];
    if (st->n_terms < MVAE_MAX_TERMS) {
        int t = st->n_terms++;
        st->subset[t] = subset;
        st->term_loss[t] = v;
        snprintf(st->name[t], sizeof st->name[t], "%s", name ? name : "");
    }
    if (!isfinite(v)) {
        mvae_ctx_fail(ctx, "the loss of objective term '%s' is %s",
                      name && name[0] ? name : mvae_model_subset_name(m, subset, nm, sizeof nm), isnan(v) ? "NaN" : "infinite");
        return MVAE_ERR_NUMERIC;
    }
    return MVAE_OK;
}

/* ---------------------------------------------------------------------------- bound report */
void mvae_bound_append_logp(const mvae_model *m, uint32_t s, const char *prefix, char *buf, size_t len) {
    char nm[MVAE_SUBSET_NAME_MAX];
    size_t n = strlen(buf);
    if (n + 1 < len) snprintf(buf + n, len - n, "%s%slog p(%s)", n ? " + " : "", prefix, mvae_model_subset_name(m, s, nm, sizeof nm));
}

void mvae_bound_flag(mvae_bound_report *r, bool breaks, const char *fmt, ...) {
    if (r->n_flags >= MVAE_BOUND_MAX_FLAGS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->flag[r->n_flags], sizeof r->flag[0], fmt, ap);
    va_end(ap);
    r->breaks[r->n_flags++] = breaks;
}

/* The first value of a Bernoulli modality's training data that is neither 0 nor 1 (read from up
 * to 256 training samples), or -1 when all are binary; -2 when the data could not be read. */
static double first_grey_value(const mvae_model *m, int k) {
    if (!m->ds || !m->ds_desc) return -2;
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    int64_t N = dv->size(m->ds, MVAE_SPLIT_TRAIN);
    int n = N < 256 ? (int)N : 256;
    if (n < 1) return -2;
    mvae_batch b;
    mvae_error err = {0};
    memset(&b, 0, sizeof b);
    int64_t idx[256];
    for (int i = 0; i < n; i++) idx[i] = i;
    double found = -2;
    if (!mvae_batch_init(&b, m, n, &err) && !mvae_batch_fill(&b, m, MVAE_SPLIT_TRAIN, idx, n, NULL, &err)) {
        int64_t numel = 1;
        for (int d = 0; d < m->mod[k].info.ndim; d++) numel *= m->mod[k].info.shape[d];
        found = -1;
        for (int64_t i = 0; i < (int64_t)n * numel && found < 0; i++) {
            float v = b.x[k][i];
            if (v != 0.0f && v != 1.0f) found = v;
        }
    }
    mvae_batch_free(&b);
    return found;
}

void mvae_bound_check_settings(const mvae_model *m, uint32_t scored, bool check_data, mvae_bound_report *r) {
    for (int k = 0; k < m->n_mod; k++) {
        if (!(scored & (1u << k))) continue;
        const mvae_modality *md = &m->mod[k];
        bool vae = !md->mtype || strcmp(md->mtype->name, "vae") == 0; /* a flow is a density of its own */
        const char *name = md->info.name, *lik = vae ? mvae_likelihood_name(md->likelihood) : md->mtype->name;
        double grey = -1;
        if (md->mtype && md->mtype->not_density)
            mvae_bound_flag(r, true, "modality '%s': model: %s: %s", name, md->mtype->name, md->mtype->bound);
        if (vae && md->likelihood == MVAE_LIK_BERNOULLI) {
            grey = check_data ? first_grey_value(m, k) : -2;
            if (grey >= 0)
                mvae_bound_flag(r, true, "modality '%s': bernoulli likelihood on grey levels (e.g. %.4g, neither 0 nor 1): "
                                         "not a normalised density on [0,1]; use likelihood: continuous_bernoulli or "
                                         "binarised data", name, grey);
            else if (grey == -2)
                mvae_bound_flag(r, false, "modality '%s': bernoulli likelihood: whether its data are binary was not checked", name);
        }
        bool discrete = vae && (md->likelihood == MVAE_LIK_CATEGORICAL || (md->likelihood == MVAE_LIK_BERNOULLI && grey == -1));
        float w = md->weight;
        if (w == 1.0f) continue;
        if (w == 0.0f)
            mvae_bound_flag(r, false, "modality '%s': weight 0: not modelled, its log-likelihood is left out of the bound", name);
        else if (discrete && w > 1.0f)
            mvae_bound_flag(r, false, "modality '%s': weight %g > 1 on a discrete likelihood (%s, log p <= 0): a valid, "
                                      "looser bound", name, w, lik);
        else
            mvae_bound_flag(r, true, "modality '%s': weight %g != 1 on %s %s likelihood: the weighted objective bounds no "
                                     "normalised likelihood", name, w, discrete ? "a discrete" : "a", lik);
    }
    /* beta at the end of training: train.beta once the linear ramp over kl_anneal_epochs is done */
    const mvae_cfg_node *t = mvae_cfg_path(mvae_cfg_root(m->cfg), "train");
    double beta = 1, anneal = 0;
    int64_t epochs = 10;
    mvae_error err = {0};
    if (!mvae_cfg_float_or(t, "beta", 1.0, &beta, &err) && !mvae_cfg_float_or(t, "kl_anneal_epochs", 0, &anneal, &err) &&
        !mvae_cfg_int_or(t, "epochs", 10, &epochs, &err)) {
        double end = anneal > 0 && (double)epochs < anneal ? beta * (double)epochs / anneal : beta;
        if (end < 1.0)
            mvae_bound_flag(r, true, "KL weight beta = %.4g at the end of training (train.beta %g, kl_anneal_epochs %g, "
                                     "epochs %lld): beta < 1 breaks the bound", end, beta, anneal, (long long)epochs);
        else if (end > 1.0)
            mvae_bound_flag(r, false, "KL weight beta = %g > 1: a valid, looser bound", end);
    }
    if (m->impartial)
        mvae_bound_flag(r, false, "train.impartial changes the gradients: training does not follow this bound's gradient");
}

void mvae_objective_bounds(const mvae_model *m, const mvae_objective *obj, mvae_bound_report *r) {
    memset(r, 0, sizeof *r);
    MVAE_ASSERT(obj->kind && obj->kind->bounds);
    obj->kind->bounds(m, obj, r);
    r->valid = r->kind != MVAE_BOUND_NOTHING;
    for (int i = 0; i < r->n_flags; i++) r->valid = r->valid && !r->breaks[i];
}

const char *mvae_bound_summary(const mvae_bound_report *r, char *buf, size_t len) {
    static const char *const kinds[] = {"nothing", "log p(X)", "a composite likelihood"};
    int n = snprintf(buf, len, "bounds %s [%s]: %s", kinds[r->kind], r->what, r->valid ? "valid" : "NOT valid");
    int shown = 0;
    for (int i = 0; i < r->n_flags && n > 0 && (size_t)n < len; i++) {
        if (!r->breaks[i]) continue;
        n += snprintf(buf + n, len - (size_t)n, "%s%s", shown++ ? "; " : " (", r->flag[i]);
    }
    if (shown && n > 0 && (size_t)n + 1 < len) snprintf(buf + n, len - (size_t)n, ")");
    return buf;
}
