/* objective_mvae.c — the MVAE's sub-sampled objective (Wu & Goodman 2018): a sum of ELBO (or
 * IWAE / DReG) terms, one per subset of modalities (joint, each modality alone, k random
 * subsets), each fused by the model's fusion rule. The `mvae` row of the objectives table
 * (objective.c). */
#include "objective_internal.h"

#include <math.h>
#include <string.h>

static int mvae_sum_configure(const mvae_model *m, const mvae_cfg_node *o, mvae_objective *obj, mvae_error *err) {
    int64_t k = 0, k2 = 1;
    if (mvae_cfg_bool_or(o, "joint", true, &obj->mvae.joint, err) ||
        mvae_cfg_bool_or(o, "unimodal", true, &obj->mvae.unimodal, err) ||
        mvae_cfg_bool_or(o, "cross_reconstruct", false, &obj->mvae.cross_reconstruct, err) ||
        mvae_cfg_bool_or(o, "all_subsets", false, &obj->mvae.all_subsets, err) ||
        mvae_cfg_int_or(o, "random_subsets", 0, &k, err) ||
        mvae_cfg_bool_or(o, "stack_decoders", true, &obj->mvae.stack_decoders, err) ||
        mvae_cfg_int_or(o, "iw_samples", 1, &k2, err))
        return err->status;
    if (k2 < 1 || k2 > 1024)
        return mvae_error_set(err, MVAE_ERR_INVALID, "train.objective.iw_samples must be in 1..1024");
    obj->mvae.iw_samples = (int)k2;
    const char *est = "iwae";
    if (mvae_cfg_string_or(o, "estimator", "iwae", &est, err)) return err->status;
    obj->mvae.dreg = strcmp(est, "dreg") == 0;
    if (obj->mvae.dreg && obj->mvae.iw_samples < 2)
        return mvae_error_set(err, MVAE_ERR_INVALID, "train.objective.estimator: dreg needs iw_samples >= 2");
    if (k < 0 || k > 32)
        return mvae_error_set(err, MVAE_ERR_INVALID, "train.objective.random_subsets must be in 0..32");
    obj->mvae.random_subsets = (int)k;
    int n_enc = __builtin_popcount(m->encodable);
    if (obj->mvae.all_subsets && (n_enc >= 31 || (1 << n_enc) - 1 > MVAE_MAX_TERMS)) {
        char where[256];
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "%s: train.objective.all_subsets: %d modalities with an encoder make 2^%d - 1 terms, more "
                              "than %d; use random_subsets (k random subsets per batch) instead",
                              mvae_cfg_where(mvae_cfg_get(o, "all_subsets"), where, sizeof where), n_enc, n_enc,
                              MVAE_MAX_TERMS);
    }
    if (!obj->mvae.joint && !obj->mvae.unimodal && !obj->mvae.random_subsets && !obj->mvae.all_subsets)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "train.objective: every term is switched off (joint, unimodal, all_subsets, random_subsets)");
    return MVAE_OK;
}

static int add_term(uint32_t *terms, int n, uint32_t s) {
    for (int i = 0; i < n; i++)
        if (terms[i] == s) return n;
    if (n < MVAE_MAX_TERMS) terms[n++] = s;
    return n;
}

/* Repeat a tensor's rows k times WITH gradient (a chain of concats): [R, ...] -> [k*R, ...]. */
static mvae_tensor *repeat_rows(mvae_ctx *ctx, mvae_tensor *t, int k) {
    if (!t || k == 1) return t;
    mvae_tensor *acc = NULL;
    for (int j = 0; j < k;) {
        mvae_tensor *parts[4];
        int c = 0;
        if (acc) parts[c++] = acc;
        while (c < 4 && j < k) parts[c++] = t, j++;
        acc = c == 1 ? parts[0] : mvae_concat(ctx, c, parts, 0);
    }
    return acc;
}

/* One importance-weighted term (Burda et al. 2016) for subset S with K samples per data point:
 *   term(i) = -valid(i) [ logsumexp_{k,d} ( log w_d + sum_{m} w_m present_m log p(x_m | z_kd)
 *                                           + beta (log p(z_kd) - log q(z_kd | x_S)) ) - log K ]
 * with d the fusion's draws (one for PoE; one per component for stratified mixtures, w_d their
 * weights). K = 1 and a Gaussian fusion give the single-sample ELBO with a sampled KL. Returns
 * (1/B) sum_i term(i), a scalar tensor. */
mvae_tensor *mvae_objective_iw_term(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const mvae_experts *e,
                                    uint32_t S, uint32_t dec, int K, bool dreg, float beta, mvae_rng *rng,
                                    int *skipped, double *value) {
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    int64_t B = b->n;
    mvae_experts et = *e;
    et.B = B * K;
    for (int k = 0; k < m->n_mod; k++) {
        et.mu[k] = repeat_rows(ctx, e->mu[k], K);
        et.logvar[k] = repeat_rows(ctx, e->logvar[k], K);
        et.mask[k] = mvae_tile_rows(ctx, e->mask[k], K);
    }
    mvae_posterior q;
    mvae_tensor *valid;
    int any;
    *skipped = 0;
    if (mvae_model_posterior(m, ctx, &et, S, &q, &valid, &any)) return NULL;
    if (!any) {
        *skipped = 1;
        return NULL;
    }
    mvae_tensor *z = fv->sample(m->fusion, ctx, &q, rng);
    if (!z) return NULL;
    int D = q.n_draws > 1 ? q.n_draws : 1, R = D * K; /* rows of z = R * B, (d, k, i) order */
    mvae_tensor *zeros = mvae_tensor_zeros(ctx, 2, z->shape);
    mvae_tensor *lw = mvae_scale(ctx, mvae_sub(ctx, mvae_gaussian_logp(ctx, z, zeros, NULL), fv->log_q(m->fusion, ctx, &q, z)), beta);
    mvae_tensor *zb[MVAE_MAX_MODALITIES]; /* each modality's branch of z (train.impartial) */
    if (mvae_impartial_set_branches(m, ctx, S, dec, z, q.n_comp, zb)) return NULL;
    for (int k = 0; k < m->n_mod; k++) {
        if (!(dec & (1u << k)) || !e->has[k]) continue;
        const mvae_modality *md = &m->mod[k];
        mvae_tensor *x = mvae_batch_tensor(ctx, m, b, k); /* [B]: the likelihood repeats it per draw */
        mvae_tensor *lp = mvae_scale(ctx, mvae_impartial_set_logp(m, ctx, S, k, zb[k], q.n_comp, x, rng), md->weight);
        if (e->mask[k]) lp = mvae_mul(ctx, lp, mvae_tile_rows(ctx, mvae_reshape(ctx, e->mask[k], 1, (int64_t[]){B}), R));
        lw = mvae_add(ctx, lw, lp);
    }
    /* the log of each draw's weight (a constant); weight 0 (absent component, invalid sample) -> -1e30 */
    mvae_tensor *dw = mvae_posterior_draw_weights(ctx, &q, B * K);
    if (!lw || !dw) return NULL;
    mvae_tensor *ldw = mvae_tensor_new(ctx, 1, (int64_t[]){(int64_t)R * B});
    for (int64_t r = 0; r < ldw->n; r++) {
        float v = dw->data[r] * (float)D; /* dw sums to 1 over d: undo the 1/D of the mean over draws */
        ldw->data[r] = v > 0 ? logf(v) : -1e30f;
    }
    mvae_tensor *lse = mvae_logsumexp(ctx, mvae_reshape(ctx, mvae_add(ctx, lw, ldw), 2, (int64_t[]){R, B}), 0, false);
    /* per sample: -(lse - log(K D)); valid is the first B rows of the tiled validity */
    mvae_tensor *v0 = mvae_tensor_new(ctx, 1, (int64_t[]){B});
    for (int64_t i = 0; i < B; i++) v0->data[i] = valid->data[i];
    mvae_tensor *per = mvae_mul(ctx, mvae_add_scalar(ctx, lse, -logf((float)R)), v0);
    mvae_tensor *iwae = mvae_scale(ctx, mvae_sum_all(ctx, per), -1.0f / (float)B);
    if (!iwae) return NULL;
    *value = iwae->data[0];
    if (!dreg) return iwae;
    /* DReG (Tucker et al. 2019): the same bound, lower-variance encoder gradients. With the
     * normalised weights wt = softmax over the draws of a sample of (lw + log draw weight):
     *   encoder: sum_r wt_r^2 * lw_r, where log q is evaluated with STOPPED posterior parameters
     *            (gradients reach the encoder through z only);
     *   decoder: sum_r wt_r * grad log p(x | z_r), made up as wt^2 (above) + (wt - wt^2) times
     *            log p(x | stop(z_r)).
     * Returned as a surrogate for backward; *value keeps the bound. */
    mvae_experts ed = et; /* the experts with their gradients cut */
    for (int k = 0; k < m->n_mod; k++) {
        ed.mu[k] = mvae_tile_rows(ctx, et.mu[k], 1);
        ed.logvar[k] = mvae_tile_rows(ctx, et.logvar[k], 1);
    }
    mvae_posterior qd;
    mvae_tensor *vd;
    int anyd;
    if (mvae_model_posterior(m, ctx, &ed, S, &qd, &vd, &anyd)) return NULL;
    mvae_tensor *lw_enc = mvae_scale(ctx, mvae_sub(ctx, mvae_gaussian_logp(ctx, z, zeros, NULL), fv->log_q(m->fusion, ctx, &qd, z)), beta);
    mvae_tensor *zs = mvae_tile_rows(ctx, z, 1); /* stop(z) */
    mvae_tensor *lp_dec = NULL;
    for (int k = 0; k < m->n_mod; k++) {
        if (!(dec & (1u << k)) || !e->has[k]) continue;
        const mvae_modality *md = &m->mod[k];
        mvae_tensor *x = mvae_batch_tensor(ctx, m, b, k);
        mvae_tensor *mk = e->mask[k] ? mvae_tile_rows(ctx, mvae_reshape(ctx, e->mask[k], 1, (int64_t[]){B}), R) : NULL;
        mvae_rng same = *rng; /* the same dequantisation noise (a flow modality) for both */
        mvae_tensor *lp = mvae_scale(ctx, mvae_model_logp(m, ctx, k, z, x, rng), md->weight);
        mvae_tensor *lpd = mvae_scale(ctx, mvae_model_logp(m, ctx, k, zs, x, &same), md->weight);
        if (mk) lp = mvae_mul(ctx, lp, mk), lpd = mvae_mul(ctx, lpd, mk);
        lw_enc = mvae_add(ctx, lw_enc, lp);
        lp_dec = lp_dec ? mvae_add(ctx, lp_dec, lpd) : lpd;
    }
    if (!lw_enc) return NULL;
    /* normalised weights from the values (constants) */
    mvae_tensor *w2 = mvae_tensor_new(ctx, 1, (int64_t[]){(int64_t)R * B});
    mvae_tensor *wd = mvae_tensor_new(ctx, 1, (int64_t[]){(int64_t)R * B});
    for (int64_t i = 0; i < B; i++) {
        double mx = -INFINITY, sum = 0;
        for (int r = 0; r < R; r++) mx = fmax(mx, (double)lw->data[(int64_t)r * B + i] + ldw->data[(int64_t)r * B + i]);
        for (int r = 0; r < R; r++) sum += exp((double)lw->data[(int64_t)r * B + i] + ldw->data[(int64_t)r * B + i] - mx);
        for (int r = 0; r < R; r++) {
            int64_t j = (int64_t)r * B + i;
            double wt = exp((double)lw->data[j] + ldw->data[j] - mx) / sum * v0->data[i];
            w2->data[j] = (float)(wt * wt);
            wd->data[j] = (float)(wt - wt * wt);
        }
    }
    mvae_tensor *sur = mvae_sum_all(ctx, mvae_mul(ctx, lw_enc, w2));
    if (lp_dec) sur = mvae_add(ctx, sur, mvae_sum_all(ctx, mvae_mul(ctx, lp_dec, wd)));
    return mvae_scale(ctx, sur, -1.0f / (float)B);
}

static int mvae_sum_loss(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b, const mvae_objective *obj,
                         float beta, mvae_rng *rng, mvae_tensor **loss, mvae_step_stats *stats) {
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    uint32_t all = (m->n_mod >= 32) ? 0xFFFFFFFFu : ((1u << m->n_mod) - 1);
    /* terms are subsets of the modalities q can be given; decoder-only modalities are decoded
     * from every term's z (when present) */
    const uint32_t enc = m->encodable, dec_only = m->decoder_only;
    uint32_t terms[MVAE_MAX_TERMS];
    int nt = 0;
    if (obj->mvae.joint) nt = add_term(terms, nt, enc);
    if (obj->mvae.unimodal)
        for (int k = 0; k < m->n_mod; k++)
            if (enc & (1u << k)) nt = add_term(terms, nt, 1u << k);
    if (obj->mvae.all_subsets) { /* every non-empty subset, smallest first (configure checked the count) */
        uint32_t sub[MVAE_MAX_TERMS];
        int ns = 0;
        for (uint32_t s = enc; s && ns < MVAE_MAX_TERMS; s = (s - 1) & enc) sub[ns++] = s;
        for (int i = ns - 1; i >= 0; i--) nt = add_term(terms, nt, sub[i]);
    }
    const int n_fixed = nt; /* joint, unimodal, all subsets; the random subsets come after them */
    for (int r = 0; r < obj->mvae.random_subsets; r++) {
        uint32_t s = 0;
        while (!s) s = (uint32_t)mvae_rng_u64(rng) & enc;
        terms[nt < MVAE_MAX_TERMS ? nt++ : nt - 1] = s; /* random subsets may repeat: they are samples */
    }
    mvae_experts e;
    int rc = mvae_model_encode(m, ctx, b, all, &e);
    if (rc) return rc;
    memset(stats, 0, sizeof *stats);
    mvae_impartial_set_reseed(m, rng);
    if (obj->mvae.iw_samples > 1) { /* importance-weighted terms */
        mvae_tensor *total = NULL;
        char nm[256];
        for (int t = 0; t < nt; t++) {
            uint32_t dec = (obj->mvae.cross_reconstruct && __builtin_popcount(terms[t]) == 1 ? all : terms[t]) | dec_only;
            int skipped;
            double v = 0;
            mvae_tensor *term = mvae_objective_iw_term(m, ctx, b, &e, terms[t], dec, obj->mvae.iw_samples, obj->mvae.dreg, beta, rng,
                                        &skipped, &v);
            if (skipped) continue;
            if (!term) return MVAE_ERR_INVALID;
            stats->subset[stats->n_terms] = terms[t];
            stats->random[stats->n_terms] = t >= n_fixed;
            stats->term_loss[stats->n_terms++] = v;
            if (!isfinite(v)) {
                mvae_ctx_fail(ctx, "the loss of objective term '%s' is %s",
                              mvae_model_subset_name(m, terms[t], nm, sizeof nm), isnan(v) ? "NaN" : "infinite");
                return MVAE_ERR_NUMERIC;
            }
            total = total ? mvae_add(ctx, total, term) : term;
        }
        if (!total) {
            mvae_ctx_fail(ctx, "no objective term had any data in this batch");
            return MVAE_ERR_INVALID;
        }
        stats->loss = 0;
        for (int t = 0; t < stats->n_terms; t++) stats->loss += stats->term_loss[t]; /* the bound, also for DReG */
        *loss = total;
        return mvae_ctx_failed(ctx) ? MVAE_ERR_INVALID : MVAE_OK;
    }
    float invB = 1.0f / (float)b->n;
    int64_t B = b->n;
    mvae_tensor *total = NULL;
    memset(stats, 0, sizeof *stats);
    char name[256];
    /* 1. per term: posterior, z, beta * KL (all z's are drawn before any decoding, so the stacked
     *    and the per-term paths consume the rng identically) */
    mvae_tensor *z[MVAE_MAX_TERMS] = {0}, *per[MVAE_MAX_TERMS] = {0}, *w[MVAE_MAX_TERMS] = {0};
    mvae_tensor *zb[MVAE_MAX_TERMS][MVAE_MAX_MODALITIES]; /* term t's z as modality k's decoder reads it */
    int S[MVAE_MAX_TERMS] = {0}, ncomp[MVAE_MAX_TERMS] = {0};
    uint32_t dec[MVAE_MAX_TERMS] = {0};
    for (int t = 0; t < nt; t++) {
        mvae_posterior q;
        mvae_tensor *valid;
        int any;
        rc = mvae_model_posterior(m, ctx, &e, terms[t], &q, &valid, &any);
        if (rc) return rc;
        if (!any) continue;
        z[t] = fv->sample(m->fusion, ctx, &q, rng);
        S[t] = q.n_draws > 1 ? q.n_draws : 1;
        if (!z[t] || z[t]->shape[0] != S[t] * B) {
            if (!mvae_ctx_failed(ctx))
                mvae_ctx_fail(ctx, "fusion '%s': sample returned %lld rows, expected n_draws * B = %lld",
                              m->fusion_desc->name, z[t] ? (long long)z[t]->shape[0] : 0LL, (long long)S[t] * B);
            return MVAE_ERR_INVALID;
        }
        /* per-draw weights: the draw's weight in the estimate times the sample's validity */
        w[t] = mvae_posterior_draw_weights(ctx, &q, B); /* [S*B] */
        mvae_tensor *kl = fv->kl(m->fusion, ctx, &q, z[t]);
        per[t] = mvae_mul(ctx, mvae_scale(ctx, kl, beta), w[t]);
        dec[t] = (obj->mvae.cross_reconstruct && __builtin_popcount(terms[t]) == 1 ? all : terms[t]) | dec_only;
        /* with train.impartial, each decoded modality reads its own branch of z (the KL above
         * read z itself); the block combines their gradients at z */
        if ((rc = mvae_impartial_set_branches(m, ctx, terms[t], dec[t], z[t], q.n_comp, zb[t]))) return rc;
        ncomp[t] = q.n_comp;
    }
    /* 2. reconstruction: for each modality, decode the z's of every term that reconstructs it —
     *    stacked into one batch (one larger GEMM per layer), or term by term */
    for (int k = 0; k < m->n_mod; k++) {
        if (!e.has[k]) continue;
        const mvae_modality *md = &m->mod[k];
        int tk[MVAE_MAX_TERMS], n = 0, rows = 0;
        mvae_tensor *x = mvae_batch_tensor(ctx, m, b, k);
        for (int t = 0; t < nt; t++) {
            if (!z[t] || !(dec[t] & (1u << k))) continue;
            if (mvae_impartial_set_has_decoder_block(m, terms[t], k)) { /* train.impartial.decoder_params */
                mvae_tensor *lp = mvae_impartial_set_logp(m, ctx, terms[t], k, zb[t][k], ncomp[t], x, rng);
                mvae_tensor *nll = mvae_mul(ctx, mvae_scale(ctx, lp, -md->weight), w[t]);
                if (e.mask[k]) nll = mvae_mul(ctx, nll, mvae_tile_rows(ctx, mvae_reshape(ctx, e.mask[k], 1, (int64_t[]){B}), S[t]));
                per[t] = mvae_add(ctx, per[t], nll);
                continue;
            }
            tk[n++] = t, rows += S[t];
        }
        if (!n) continue;
        bool stack = obj->mvae.stack_decoders && n > 1 && !m->mod[k].dec_has_batch_stats;
        if (stack) {
            mvae_tensor *zs = NULL;
            for (int j = 0; j < n;) { /* concat takes up to 4 tensors at a time */
                mvae_tensor *parts[4];
                int c = 0;
                if (zs) parts[c++] = zs;
                while (c < 4 && j < n) parts[c++] = zb[tk[j]][k], j++;
                zs = c == 1 ? parts[0] : mvae_concat(ctx, c, parts, 0);
            }
            /* the targets are the batch's: the model scores row r against target row r mod B */
            mvae_tensor *lp = mvae_model_logp(m, ctx, k, zs, x, rng);
            mvae_tensor *nll = mvae_scale(ctx, lp, -md->weight); /* [rows*B] */
            int64_t off = 0;
            for (int j = 0; j < n; j++) {
                int t = tk[j];
                mvae_tensor *nj = mvae_slice(ctx, nll, 0, off, off + S[t] * B);
                off += S[t] * B;
                nj = mvae_mul(ctx, nj, w[t]);
                if (e.mask[k]) nj = mvae_mul(ctx, nj, mvae_tile_rows(ctx, mvae_reshape(ctx, e.mask[k], 1, (int64_t[]){B}), S[t]));
                per[t] = mvae_add(ctx, per[t], nj);
            }
        } else {
            for (int j = 0; j < n; j++) {
                int t = tk[j];
                mvae_tensor *lp = mvae_model_logp(m, ctx, k, zb[t][k], x, rng);
                mvae_tensor *nll = mvae_mul(ctx, mvae_scale(ctx, lp, -md->weight), w[t]);
                if (e.mask[k]) nll = mvae_mul(ctx, nll, mvae_tile_rows(ctx, mvae_reshape(ctx, e.mask[k], 1, (int64_t[]){B}), S[t]));
                per[t] = mvae_add(ctx, per[t], nll);
            }
        }
    }
    /* 3. each term's mean over the batch; the loss is their sum */
    for (int t = 0; t < nt; t++) {
        if (!per[t]) continue;
        mvae_tensor *term = mvae_scale(ctx, mvae_sum_all(ctx, per[t]), invB);
        if (!term) return MVAE_ERR_INVALID;
        double v = term->data[0];
        stats->subset[stats->n_terms] = terms[t];
        stats->random[stats->n_terms] = t >= n_fixed;
        stats->term_loss[stats->n_terms++] = v;
        if (!isfinite(v)) {
            mvae_ctx_fail(ctx, "the loss of objective term '%s' is %s",
                          mvae_model_subset_name(m, terms[t], name, sizeof name), isnan(v) ? "NaN" : "infinite");
            return MVAE_ERR_NUMERIC;
        }
        total = total ? mvae_add(ctx, total, term) : term;
    }
    if (!total) {
        mvae_ctx_fail(ctx, "no objective term had any data in this batch");
        return MVAE_ERR_INVALID;
    }
    stats->loss = total->data[0];
    *loss = total;
    return mvae_ctx_failed(ctx) ? MVAE_ERR_INVALID : MVAE_OK;
}


/* Each term S is an ELBO (or IWAE) of log p(x_dec(S)), the modalities it reconstructs: the joint
 * term bounds log p(X); the sum bounds the sum of its terms' log-likelihoods (a composite
 * likelihood) -- one likelihood only when the joint term is the only one. */
static void mvae_sum_bounds(const mvae_model *m, const mvae_objective *obj, mvae_bound_report *r) {
    const mvae_objective_mvae_opts *o = &obj->mvae;
    uint32_t all = (1u << m->n_mod) - 1, enc = m->encodable, dec_only = m->decoder_only;
    uint32_t terms[MVAE_MAX_TERMS];
    int nt = 0;
    if (o->joint) nt = add_term(terms, nt, enc);
    if (o->unimodal)
        for (int k = 0; k < m->n_mod; k++)
            if (enc & (1u << k)) nt = add_term(terms, nt, 1u << k);
    if (o->all_subsets)
        for (uint32_t s = enc; s; s = (s - 1) & enc) nt = add_term(terms, nt, s);
    uint32_t scored = 0;
    for (int t = 0; t < nt; t++) {
        uint32_t dec = (o->cross_reconstruct && __builtin_popcount(terms[t]) == 1 ? all : terms[t]) | dec_only;
        scored |= dec;
        mvae_bound_append_logp(m, dec, "", r->what, sizeof r->what);
    }
    if (o->random_subsets) {
        size_t n = strlen(r->what);
        snprintf(r->what + n, sizeof r->what - n, "%s%d x E_S[log p(x_S)] over random subsets S", n ? " + " : "",
                 o->random_subsets);
        scored |= enc | dec_only;
    }
    r->kind = (nt == 1 && !o->random_subsets) ? MVAE_BOUND_LOG_P : MVAE_BOUND_COMPOSITE;
    if (r->kind == MVAE_BOUND_COMPOSITE)
        mvae_bound_flag(r, false, "a composite likelihood: the sum of the terms' log-likelihoods, not log p of all "
                                  "modalities (Wu & Goodman 2018's sub-sampled sum)");
    if (m->paired_fraction < 1)
        mvae_bound_flag(r, false, "dataset.paired_fraction %g: each unpaired sample's terms bound the log-likelihood "
                                  "of the modalities it has", m->paired_fraction);
    mvae_bound_check_settings(m, scored, true, r);
}

const mvae_objective_kind mvae_objective_mvae = {
    .name = "mvae",
    .key = NULL, /* the default: selected when no other kind's key is present */
    .configure = mvae_sum_configure,
    .loss = mvae_sum_loss,
    .bounds = mvae_sum_bounds,
    .summary = "a sum of bounds: each term bounds log p of the modalities it reconstructs (the joint term bounds "
               "log p(x_1..x_M)); the sum bounds a composite likelihood, not one log p",
};
