/* eval.c — evaluation (ELBO, importance-sampled log-likelihoods, cross-modal accuracy) and
 * pictures (reconstructions, prior samples, conditional generation). Definitions: docs/metrics.md. */
#define _GNU_SOURCE
#include "eval_internal.h"
#include "mvae/dist.h"
#include "gemm_internal.h"
#include "mvae/audio.h"
#include "mvae/coherence.h"
#include "mvae/image.h"
#include "mvae/isa.h"
#include "mvae/train.h"
#include "mvae/translate.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct ll_term {
    uint32_t joint, cond; /* log p(x_joint) - log p(x_cond); cond = 0 for plain log p */
    char name[MVAE_SUBSET_NAME_MAX];
} ll_term;


/* log p(x_S) per sample for the batch, by importance sampling with K draws from q(z | x_S):
 *   logsumexp_k [ sum_{m in S} log p(x_m | z_k) + log p(z_k) - log q(z_k | x_S) ] - log K
 * The experts are run once and repeated K times, then fused: any fusion works unchanged. A
 * fusion that returns several weighted draws per sample (stratified mixtures) adds the log of
 * each draw's weight: p(x) ~= (1/K) sum_k sum_d w_d p(x, z_kd) / q(z_kd). */
static int iw_logp(const mvae_model *m, mvae_ctx *ctx, const mvae_batch *b,
                   uint32_t S, int K, mvae_rng *rng, double *out) {
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    mvae_experts e, et;
    int rc = mvae_model_encode(m, ctx, b, S, &e);
    if (rc) return rc;
    int64_t B = b->n;
    mvae_experts_tile(ctx, m, &e, K, &et);
    mvae_posterior q;
    mvae_tensor *valid;
    int any;
    if ((rc = mvae_model_posterior(m, ctx, &et, S, &q, &valid, &any))) return rc;
    if (!any) {
        mvae_ctx_fail(ctx, "log-likelihood: no sample has the modalities of the term");
        return MVAE_ERR_INVALID;
    }
    mvae_tensor *z = fv->sample(m->fusion, ctx, &q, rng);
    if (!z) return MVAE_ERR_INVALID;
    int D = q.n_draws > 1 ? q.n_draws : 1;
    int reps = D * K; /* rows of z = reps * B */
    mvae_tensor *dw = mvae_posterior_draw_weights(ctx, &q, B * K);
    mvae_tensor *w = mvae_sub(ctx, mvae_gaussian_logp(ctx, z, mvae_tensor_zeros(ctx, 2, z->shape), NULL),
                              fv->log_q(m->fusion, ctx, &q, z));
    for (int k = 0; k < m->n_mod; k++) {
        if (!(S & (1u << k))) continue;
        mvae_tensor *x = mvae_batch_tensor(ctx, m, b, k); /* row d*K*B + k*B + i decodes target row i */
        w = mvae_add(ctx, w, mvae_model_logp(m, ctx, k, z, x, rng));
    }
    if (!w || !dw) return MVAE_ERR_INVALID;
    /* row r = rep * B + i belongs to sample i; each row's weight is dw[r] (1 for one draw) */
    for (int64_t i = 0; i < B; i++) {
        double mx = -INFINITY;
        for (int r = 0; r < reps; r++) {
            double lw = dw->data[(int64_t)r * B + i] * (double)D;
            if (lw > 0) mx = fmax(mx, w->data[(int64_t)r * B + i] + log(lw));
        }
        double s = 0;
        for (int r = 0; r < reps; r++) {
            double lw = dw->data[(int64_t)r * B + i] * (double)D;
            if (lw > 0) s += exp(w->data[(int64_t)r * B + i] + log(lw) - mx);
        }
        /* dw already holds 1/D for unweighted draws: the D above undoes it so that the sum is
         * over K draws of the full mixture; dividing by K completes the estimate */
        out[i] = mx + log(s) - log((double)K) - log((double)D);
        /* a sample without every modality of S (natively missing data) has no estimate: NaN, which
         * the caller leaves out of the average */
        if (!(valid->data[i] > 0)) out[i] = NAN;
    }
    return MVAE_OK;
}

/* One z per sample from q: the only draw, or for several weighted draws one chosen per sample
 * with probability its weight (a draw from the mixture). */
mvae_tensor *mvae_eval_one_draw(mvae_ctx *ctx, const mvae_posterior *q, mvae_tensor *z, int64_t B, mvae_rng *rng) {
    int D = q->n_draws > 1 ? q->n_draws : 1;
    if (D == 1 || !z) return z;
    mvae_tensor *dw = mvae_posterior_draw_weights(ctx, q, B);
    int64_t L = z->shape[1];
    mvae_tensor *o = mvae_tensor_new(ctx, 2, (int64_t[]){B, L});
    for (int64_t i = 0; i < B; i++) {
        double tot = 0;
        for (int d = 0; d < D; d++) tot += dw->data[(int64_t)d * B + i];
        double u = mvae_rng_uniform(rng) * tot, c = 0;
        int pick = D - 1;
        for (int d = 0; d < D; d++) {
            c += dw->data[(int64_t)d * B + i];
            if (u < c) {
                pick = d;
                break;
            }
        }
        memcpy(o->data + i * L, z->data + ((int64_t)pick * B + i) * L, (size_t)L * sizeof(float));
    }
    return o;
}

static int parse_terms(const mvae_model *m, ll_term *terms, int *n, mvae_error *err) {
    mvae_cfg_node *tn = mvae_cfg_path(mvae_cfg_root(m->cfg), "eval.log_likelihood.terms");
    *n = 0;
    uint32_t all = (1u << m->n_mod) - 1;
    if (!tn || tn->n_items == 0) {
        /* default: every modality alone and all together */
        for (int k = 0; k < m->n_mod; k++) { /* at most 32 + all: MVAE_MAX_LL_TERMS */
            if (!(m->encodable & (1u << k))) continue; /* decoder-only: no proposal q(z | x_k) */
            terms[*n].joint = 1u << k;
            terms[*n].cond = 0;
            snprintf(terms[*n].name, sizeof terms[*n].name, "%s", m->mod[k].info.name);
            (*n)++;
        }
        if (m->n_mod > 1) {
            terms[*n].joint = all;
            terms[*n].cond = 0;
            mvae_model_subset_name(m, all, terms[*n].name, sizeof terms[*n].name);
            (*n)++;
        }
        return MVAE_OK;
    }
    if (tn->n_items > MVAE_MAX_LL_TERMS) {
        char where[256];
        return mvae_error_set(err, MVAE_ERR_INVALID, "%s: eval.log_likelihood.terms lists %d terms; at most %d",
                              mvae_cfg_where(tn, where, sizeof where), tn->n_items, MVAE_MAX_LL_TERMS);
    }
    for (int i = 0; i < tn->n_items; i++) {
        const char *s;
        if (mvae_cfg_get_string(tn->items[i], &s, err)) return err->status;
        char a[MVAE_SUBSET_NAME_MAX], c[MVAE_SUBSET_NAME_MAX] = "";
        char where[256];
        if (strlen(s) >= sizeof a)
            return mvae_error_set(err, MVAE_ERR_INVALID, "%s: eval.log_likelihood.terms: '%.40s...' is longer than %d characters",
                                  mvae_cfg_where(tn->items[i], where, sizeof where), s, (int)sizeof a - 1);
        snprintf(a, sizeof a, "%s", s);
        char *bar = strchr(a, '|');
        if (bar) {
            *bar = '\0';
            snprintf(c, sizeof c, "%s", bar + 1);
        }
        uint32_t A, C = 0;
        if (mvae_model_parse_subset(m, a, &A, err) || (c[0] && mvae_model_parse_subset(m, c, &C, err)) ||
            mvae_model_check_given(m, C, "the condition (after '|')", err)) {
            mvae_error_prefix(err, "%s: eval.log_likelihood.terms", mvae_cfg_where(tn->items[i], where, sizeof where));
            return err->status;
        }
        if (!((A | C) & m->encodable))
            return mvae_error_set(err, MVAE_ERR_INVALID,
                                  "%s: eval.log_likelihood.terms: '%s' has only decoder-only modalities: its importance "
                                  "sampling needs q(z | .) of a modality with an encoder (e.g. 'image,%s')",
                                  mvae_cfg_where(tn->items[i], where, sizeof where), s, s);
        terms[*n].joint = A | C;
        terms[*n].cond = C;
        snprintf(terms[*n].name, sizeof terms[*n].name, "%s", s);
        (*n)++;
    }
    return MVAE_OK;
}

/* The accuracy pairs of eval.accuracy: the categorical target (-1: none) and the from-sets. */
static int parse_accuracy(const mvae_model *m, int *target_out, uint32_t *froms, int *nfrom_out,
                          mvae_error *err) {
    mvae_cfg_node *an = mvae_cfg_path(mvae_cfg_root(m->cfg), "eval.accuracy");
    const char *from = "", *predict = "";
    int rc;
    if ((rc = mvae_cfg_string_or(an, "from", "", &from, err)) ||
        (rc = mvae_cfg_string_or(an, "predict", "", &predict, err)))
        return rc;
    char where[256];
    int target = -1, nfrom = 0;
    if (predict[0]) {
        target = mvae_model_find(m, predict);
        if (target < 0 || m->mod[target].info.type != MVAE_MOD_CATEGORICAL) {
            int nc = 0;
            const char *cats[MVAE_MAX_MODALITIES];
            for (int k = 0; k < m->n_mod; k++)
                if (m->mod[k].info.type == MVAE_MOD_CATEGORICAL) cats[nc++] = m->mod[k].info.name;
            const char *near = mvae_nearest(predict, cats, nc);
            return mvae_error_set(err, MVAE_ERR_INVALID,
                                  "%s: eval.accuracy.predict: '%s' is not a categorical modality of this "
                                  "experiment%s%s%s",
                                  mvae_cfg_where(mvae_cfg_get(an, "predict"), where, sizeof where), predict,
                                  near ? " (did you mean '" : nc ? "" : " (it has none: remove eval.accuracy.predict)",
                                  near ? near : "", near ? "'?)" : "");
        }
    } else {
        for (int k = 0; k < m->n_mod && target < 0; k++)
            if (m->mod[k].info.type == MVAE_MOD_CATEGORICAL) target = k;
    }
    if (target >= 0) {
        if (from[0]) {
            if ((rc = mvae_model_parse_subset(m, from, &froms[0], err)) ||
                (rc = mvae_model_check_given(m, froms[0], "given", err))) {
                mvae_error_prefix(err, "%s: eval.accuracy.from", mvae_cfg_where(mvae_cfg_get(an, "from"), where, sizeof where));
                return rc;
            }
            nfrom = 1;
        } else {
            for (int k = 0; k < m->n_mod && nfrom < 16; k++)
                if (k != target && (m->encodable & (1u << k))) froms[nfrom++] = 1u << k;
        }
    }
    *target_out = target;
    *nfrom_out = nfrom;
    return MVAE_OK;
}

int mvae_model_check_eval(const mvae_model *m, mvae_error *err) {
    ll_term terms[MVAE_MAX_LL_TERMS];
    uint32_t froms[16];
    int n, target, nfrom, rc;
    if ((rc = parse_terms(m, terms, &n, err)) || (rc = parse_accuracy(m, &target, froms, &nfrom, err)) ||
        (rc = mvae_eval_check_cross(m, err)))
        return rc;
    mvae_cfg_node *pt = mvae_cfg_path(mvae_cfg_root(m->cfg), "eval.probe.targets");
    for (int i = 0; pt && pt->kind == MVAE_CFG_SEQ && i < pt->n_items; i++) {
        const char *name = pt->items[i]->value ? pt->items[i]->value : "";
        int t = mvae_model_find(m, name);
        if (t < 0 || (m->mod[t].info.type != MVAE_MOD_CATEGORICAL && m->mod[t].info.type != MVAE_MOD_REAL)) {
            char where[256];
            return mvae_error_set(err, MVAE_ERR_INVALID,
                                  "%s: eval.probe.targets: '%s' is not a categorical or real modality of this experiment (add it "
                                  "to modalities, e.g. as decoder-only with weight 0)",
                                  mvae_cfg_where(pt->items[i], where, sizeof where), name);
        }
    }
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    if (dv->size(m->ds, MVAE_SPLIT_TEST) < 1)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "dataset '%s' has no samples in its test split: training would end with "
                              "nothing to evaluate (check the dataset's files and its options, e.g. "
                              "test_limit or the split fractions)",
                              m->ds_desc->name);
    if (dv->size(m->ds, MVAE_SPLIT_TRAIN) < 1)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "dataset '%s' has no samples in its training split (check the dataset's "
                              "files and its options, e.g. train_limit or the split fractions)",
                              m->ds_desc->name);
    return MVAE_OK;
}

int mvae_evaluate(mvae_model *m, int split, mvae_eval_result *r, bool quiet, mvae_error *err) {
    return mvae_evaluate_in(m, split, NULL, r, quiet, err);
}

/* The evaluation's progress after `done` of N test points: redrawn on a terminal, else a line at
 * every fifth (train.progress: bar, lines or none chooses as for training). The first N_ll points also get the K-sample log-likelihoods, so the ETA counts
 * their time (ll_sec so far) apart from the rest's. */
static bool eval_progress(const mvae_model *m, int64_t done, int64_t N, int64_t N_ll, double elapsed, double ll_sec,
                          int64_t K, int64_t *next_line) {
    /* train.progress decides, as for training: bar (redrawn), lines, none, auto (bar on a terminal) */
    const char *mode = "auto";
    mvae_error e = {0};
    if (m->cfg) mvae_cfg_string_or(mvae_cfg_path(mvae_cfg_root(m->cfg), "train"), "progress", "auto", &mode, &e);
    if (!strcmp(mode, "none")) return false;
    bool tty = !strcmp(mode, "bar") || (strcmp(mode, "lines") && isatty(2));
    if (!tty && (done < *next_line || done >= N)) return false;
    if (!tty) *next_line = done + (N / 5 > 0 ? N / 5 : 1);
    int64_t ll_done = done < N_ll ? done : N_ll;
    double rest = elapsed - ll_sec; /* the time outside the log-likelihoods */
    double left = (ll_done > 0 ? ll_sec / (double)ll_done * (double)(N_ll - ll_done) : 0) +
                  rest / (double)done * (double)(N - done);
    long t = (long)(left + 0.5);
    if (!(left >= 0) || left > 1e7) t = 0;
    fprintf(stderr, "%sevaluating %lld/%lld test points (log-likelihoods with K=%lld on the first %lld)  ETA %ld:%02ld%s",
            tty ? "\r" : "", (long long)done, (long long)N, (long long)K, (long long)N_ll, t / 60, t % 60,
            tty ? "   " : "\n");
    fflush(stderr);
    return tty;
}


int mvae_evaluate_in(mvae_model *m, int split, const char *run_dir, mvae_eval_result *r, bool quiet,
                     mvae_error *err) {
    memset(r, 0, sizeof *r);
    mvae_gemm_auto_threads(); /* `mvae eval` alone: as training's threads: 0 */
    double t0 = mvae_time_sec();
    mvae_cfg_node *ev = mvae_cfg_path(mvae_cfg_root(m->cfg), "eval");
    int64_t bs = 100, K = 1000, max_test = 0;
    int rc;
    if ((rc = mvae_cfg_int_or(ev, "batch_size", 100, &bs, err)) ||
        (rc = mvae_cfg_int_or(mvae_cfg_get(ev, "log_likelihood"), "samples", 1000, &K, err)) ||
        (rc = mvae_cfg_int_or(mvae_cfg_get(ev, "log_likelihood"), "max_test", 0, &max_test, err)))
        return rc;
    if (bs < 1 || bs > INT32_MAX / 2 || K < 1) /* the schema's ranges keep configs inside these */
        return mvae_error_set(err, MVAE_ERR_INVALID, "eval.batch_size %lld or eval.log_likelihood.samples %lld out of range",
                              (long long)bs, (long long)K);
    ll_term terms[MVAE_MAX_LL_TERMS];
    int nterms;
    if ((rc = parse_terms(m, terms, &nterms, err))) return rc;
    /* accuracy pairs: from-set -> categorical target */
    int target = -1;
    uint32_t froms[16];
    int nfrom = 0;
    if ((rc = parse_accuracy(m, &target, froms, &nfrom, err))) return rc;
    const mvae_dataset_vtable *dv = m->ds_desc->vtable;
    int64_t N = dv->size(m->ds, split);
    if (N < 1) return mvae_error_set(err, MVAE_ERR_INVALID, "evaluation: the dataset has no samples in this split");
    int64_t N_ll = (max_test > 0 && max_test < N) ? max_test : N;
    r->n_test = N;
    r->n_ll_test = N_ll;
    r->ll_samples = (int)K;
    /* importance sampling chunks: K * chunk rows at a time, at most ~2048 rows (large enough for
     * efficient GEMMs, small enough to keep the step arena near 70 MB) */
    int chunk = (int)(2048 / K);
    if (chunk < 1) chunk = 1;
    if (chunk > bs) chunk = (int)bs;
    mvae_batch b;
    mvae_ctx *ctx = mvae_ctx_new(0);
    int64_t *idx = malloc((size_t)bs * sizeof *idx);
    double *lp = malloc((size_t)bs * sizeof *lp), *lp2 = malloc((size_t)bs * sizeof *lp2);
    int32_t *ps = malloc((size_t)bs * sizeof *ps), *pm = malloc((size_t)bs * sizeof *pm);
    memset(&b, 0, sizeof b);
    if (!ctx || !idx || !lp || !lp2 || !ps || !pm || (rc = mvae_batch_init(&b, m, (int)bs, err))) {
        rc = rc ? rc : mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        goto done;
    }
    mvae_ctx_set_grad(ctx, false);
    mvae_ctx_set_training(ctx, false);
    /* each batch of eval.batch_size draws from its own stream (forked by the batch's number), so
     * the metrics do not depend on which process evaluates which batch: under mpirun (mvae/dist.h)
     * rank r evaluates the batches j with j mod N = r and the sums are added up (docs/scaling.md) */
    mvae_rng rng, rng_base;
    mvae_rng_seed(&rng_base, m->seed + 12345);
    const int d_rank = mvae_dist_rank(), d_size = mvae_dist_size();
    if (d_rank > 0) quiet = true;
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    uint32_t all = (1u << m->n_mod) - 1;
    double elbo_sum = 0, acc_s[16] = {0}, acc_m[16] = {0}, acc_n[16] = {0}, ll_n[MVAE_MAX_LL_TERMS] = {0};
    const double t_eval = mvae_time_sec();
    int64_t next_line = N / 5; /* without a terminal: a line at every fifth of the test set */
    bool redrawn = false;      /* a progress line was redrawn with \r: end it */
    for (int64_t s = 0; s < N; s += bs) {
        if ((s / bs) % d_size != d_rank) continue; /* another rank's batch */
        rng = mvae_rng_fork(&rng_base, (uint64_t)(s / bs));
        int n = (int)((N - s) < bs ? (N - s) : bs);
        for (int i = 0; i < n; i++) idx[i] = s + i;
        if ((rc = mvae_batch_fill(&b, m, split, idx, n, NULL, err))) goto done;
        mvae_ctx_reset(ctx);
        /* joint ELBO with unit weights, beta 1, one sample */
        mvae_experts e;
        mvae_posterior q;
        mvae_tensor *valid;
        int any;
        if ((rc = mvae_model_encode(m, ctx, &b, all, &e)) || (rc = mvae_model_posterior(m, ctx, &e, all, &q, &valid, &any)))
            goto ctxfail;
        mvae_tensor *z = fv->sample(m->fusion, ctx, &q, &rng);
        mvae_tensor *el = mvae_scale(ctx, fv->kl(m->fusion, ctx, &q, z), -1.0f);
        for (int k = 0; k < m->n_mod; k++) {
            if (m->mod[k].weight == 0.0f) continue; /* weight 0: probed, not modelled (docs/metrics.md) */
            mvae_tensor *x = mvae_batch_tensor(ctx, m, &b, k); /* repeated per draw by the likelihood */
            mvae_tensor *lpk = mvae_model_logp(m, ctx, k, z, x, &rng);
            /* natively missing data: a sample is scored on the modalities it has (as in training) */
            if (e.mask[k]) lpk = mvae_mul(ctx, lpk, mvae_tile_rows(ctx, mvae_reshape(ctx, e.mask[k], 1, (int64_t[]){n}), q.n_draws > 1 ? q.n_draws : 1));
            el = mvae_add(ctx, el, lpk);
        }
        el = mvae_mul(ctx, el, mvae_posterior_draw_weights(ctx, &q, n));
        if (!el) goto ctxfail;
        for (int64_t i = 0; i < el->n; i++) elbo_sum += el->data[i];
        /* accuracy: decode the target from z ~ q(z | x_from) and from its mean */
        for (int a = 0; a < nfrom; a++) {
            mvae_posterior qa;
            if ((rc = mvae_model_posterior(m, ctx, &e, froms[a], &qa, &valid, &any))) goto ctxfail;
            mvae_tensor *za = mvae_eval_one_draw(ctx, &qa, fv->sample(m->fusion, ctx, &qa, &rng), n, &rng);
            mvae_tensor *zm = fv->mean(m->fusion, ctx, &qa);
            mvae_tensor *ls = mvae_model_decode(m, ctx, target, za), *lm = mvae_model_decode(m, ctx, target, zm);
            if (!ls || !lm) goto ctxfail;
            int64_t Kc = ls->shape[1];
            const int32_t *lab = (const int32_t *)(const void *)b.x[target];
            mvae_argmax_rows(ls->data, n, Kc, ps);
            mvae_argmax_rows(lm->data, n, Kc, pm);
            for (int i = 0; i < n; i++) {
                bool has = b.present[(size_t)i * m->n_mod + target];
                for (int k = 0; k < m->n_mod; k++)
                    if (froms[a] & (1u << k)) has = has && b.present[(size_t)i * m->n_mod + k];
                if (!has) continue; /* natively missing data: not a test of this prediction */
                acc_n[a]++;
                acc_s[a] += ps[i] == lab[i];
                acc_m[a] += pm[i] == lab[i];
            }
        }
        /* importance-sampled log-likelihoods on the first N_ll samples */
        if (s < N_ll) {
            double t_ll = mvae_time_sec();
            int n_ll = (int)((N_ll - s) < n ? (N_ll - s) : n);
            for (int c = 0; c < n_ll; c += chunk) {
                int cn = n_ll - c < chunk ? n_ll - c : chunk;
                mvae_batch sub = b; /* a view of rows [c, c+cn) */
                sub.n = cn;
                for (int k = 0; k < m->n_mod; k++) sub.x[k] = b.x[k] + (size_t)c * (size_t)mvae_modality_numel(&m->mod[k].info);
                sub.present = b.present + (size_t)c * (size_t)m->n_mod;
                for (int t = 0; t < nterms; t++) {
                    if (!mvae_model_is_density(m, terms[t].joint & ~terms[t].cond)) continue; /* model: gan: NaN */
                    mvae_ctx_reset(ctx);
                    if ((rc = iw_logp(m, ctx, &sub, terms[t].joint, (int)K, &rng, lp))) goto ctxfail;
                    if (terms[t].cond) {
                        mvae_ctx_reset(ctx);
                        if ((rc = iw_logp(m, ctx, &sub, terms[t].cond, (int)K, &rng, lp2))) goto ctxfail;
                        for (int i = 0; i < cn; i++) lp[i] -= lp2[i];
                    }
                    for (int i = 0; i < cn; i++)
                        if (!isnan(lp[i])) r->ll[t] += lp[i], ll_n[t]++;
                }
            }
            r->ll_seconds += mvae_time_sec() - t_ll;
        }
        if (!quiet) redrawn |= eval_progress(m, s + n, N, N_ll, mvae_time_sec() - t_eval, r->ll_seconds, K, &next_line);
    }
    if (redrawn) fputc('\n', stderr);
    if (d_size > 1) { /* every rank's sums and counts, added up */
        double sums[1 + 3 * 16 + 2 * MVAE_MAX_LL_TERMS];
        int k = 0;
        sums[k++] = elbo_sum;
        for (int a = 0; a < 16; a++) sums[k++] = acc_s[a], sums[k++] = acc_m[a], sums[k++] = acc_n[a];
        for (int t = 0; t < MVAE_MAX_LL_TERMS; t++) sums[k++] = r->ll[t], sums[k++] = ll_n[t];
        if ((rc = mvae_dist_allreduce_sum_f64(sums, (size_t)k, err))) goto done;
        k = 0;
        elbo_sum = sums[k++];
        for (int a = 0; a < 16; a++) acc_s[a] = sums[k++], acc_m[a] = sums[k++], acc_n[a] = sums[k++];
        for (int t = 0; t < MVAE_MAX_LL_TERMS; t++) r->ll[t] = sums[k++], ll_n[t] = sums[k++];
    }
    r->elbo = elbo_sum / (double)N;
    r->n_ll = nterms;
    for (int t = 0; t < nterms; t++) {
        r->ll[t] = ll_n[t] > 0 ? r->ll[t] / ll_n[t] : NAN; /* NaN: no test sample has the term's modalities */
        snprintf(r->ll_name[t], sizeof r->ll_name[t], "%s", terms[t].name);
        /* bits/dim of the scored modalities, when every one is a flow (an exact density) */
        uint32_t scored = terms[t].joint & ~terms[t].cond;
        int64_t dims = 0;
        bool flows = scored != 0;
        for (int k = 0; k < m->n_mod; k++)
            if (scored & (1u << k)) {
                flows = flows && strcmp(m->mod[k].mtype->name, "flow") == 0;
                dims += mvae_modality_numel(&m->mod[k].info);
            }
        r->bpd[t] = flows ? -r->ll[t] / ((double)dims * log(2.0)) : NAN;
    }
    r->n_acc = nfrom;
    char nm[MVAE_SUBSET_NAME_MAX];
    for (int a = 0; a < nfrom; a++) {
        r->acc[a] = acc_n[a] > 0 ? acc_s[a] / acc_n[a] : NAN;
        r->acc_mean[a] = acc_n[a] > 0 ? acc_m[a] / acc_n[a] : NAN;
        snprintf(r->acc_name[a], sizeof r->acc_name[a], "%s->%s", mvae_model_subset_name(m, froms[a], nm, sizeof nm),
                 m->mod[target].info.name);
    }
    /* coherence is split over the ranks too; the rest (probes, BLEU, cross-generation, subsets) is
     * rank 0's (docs/scaling.md) */
    if (d_rank > 0) {
        if ((rc = mvae_eval_coherence(m, split, run_dir, r, true, err))) goto done;
        r->seconds = mvae_time_sec() - t0;
        rc = MVAE_OK;
        goto done;
    }
    /* linear probe on the same pairs, then coherence (each reads its own eval: section) */
    if (target >= 0 && nfrom > 0 && (rc = mvae_eval_probe(m, split, target, froms, nfrom, r, quiet, err))) goto done;
    /* eval.probe.targets: what else z holds (style metadata, say), from the same modalities */
    bool probe_on = true;
    mvae_cfg_node *pt = mvae_cfg_path(mvae_cfg_root(m->cfg), "eval.probe.targets");
    if ((rc = mvae_cfg_bool_or(mvae_cfg_path(mvae_cfg_root(m->cfg), "eval.probe"), "enabled", true, &probe_on, err))) goto done;
    for (int i = 0; probe_on && nfrom > 0 && pt && pt->kind == MVAE_CFG_SEQ && i < pt->n_items; i++) {
        int t = mvae_model_find(m, pt->items[i]->value ? pt->items[i]->value : "");
        if (t < 0 || t == target) continue; /* checked when the model was built */
        uint32_t fr[16];
        int nf = 0;
        for (int a = 0; a < nfrom; a++)
            if (!(froms[a] & (1u << t))) fr[nf++] = froms[a];
        if (nf && (rc = mvae_eval_probe(m, split, t, fr, nf, r, quiet, err))) goto done;
    }
    if ((rc = mvae_eval_coherence(m, split, run_dir, r, quiet, err))) goto done;
    /* BLEU between every two text modalities whose target decoder can generate */
    {
        int64_t bmax = 500, beam = 1;
        mvae_cfg_node *bn = mvae_cfg_get(ev, "bleu");
        if ((rc = mvae_cfg_int_or(bn, "max_test", 500, &bmax, err)) || (rc = mvae_cfg_int_or(bn, "beam", 1, &beam, err))) goto done;
        for (int f = 0; f < m->n_mod; f++)
            for (int t = 0; t < m->n_mod; t++) {
                if (f == t || r->n_bleu >= 8 || m->mod[f].info.type != MVAE_MOD_TOKENS ||
                    m->mod[t].info.type != MVAE_MOD_TOKENS || !mvae_decoder_hook(m->mod[t].dec_desc, generate))
                    continue;
                double bl;
                if ((rc = mvae_translate_bleu(m, split, f, t, bmax, (int)beam, &bl, err))) goto done;
                snprintf(r->bleu_name[r->n_bleu], sizeof r->bleu_name[0], "%s->%s", m->mod[f].info.name, m->mod[t].info.name);
                r->bleu[r->n_bleu++] = bl;
            }
    }
    r->seconds = mvae_time_sec() - t0;
    if (!quiet) {
        fprintf(stderr, "test: elbo %.3f", r->elbo);
        for (int t = 0; t < r->n_ll; t++) {
            fprintf(stderr, "  log p(%s) %.3f", r->ll_name[t], r->ll[t]);
            if (isfinite(r->bpd[t])) fprintf(stderr, " (%.4f bits/dim)", r->bpd[t]);
        }
        for (int a = 0; a < r->n_acc; a++) fprintf(stderr, "  accuracy %s %.4f (mean z %.4f)", r->acc_name[a], r->acc[a], r->acc_mean[a]);
        for (int a = 0; a < r->n_probe; a++) fprintf(stderr, "  probe %s %.4f", r->probe_name[a], r->probe[a]);
        for (int a = 0; a < r->n_coh; a++) fprintf(stderr, "  coherence %s %.4f", r->coh_name[a], r->coh[a]);
        for (int a = 0; a < r->n_fd; a++) fprintf(stderr, "  frechet %s %.3f", r->fd_name[a], r->fd[a]);
        for (int a = 0; a < r->n_clf; a++) fprintf(stderr, "  classifier %s %.4f", r->clf_name[a], r->clf_acc[a]);
        for (int a = 0; a < r->n_bleu; a++) fprintf(stderr, "  BLEU %s %.2f", r->bleu_name[a], 100.0 * r->bleu[a]);
        fprintf(stderr, "  [K=%d, %lld samples for log p, %.1f s", r->ll_samples, (long long)N_ll, r->seconds);
        if (d_size > 1) fprintf(stderr, ", test batches split over %d ranks", d_size);
        fputs("]\n", stderr);
    }
    if ((rc = mvae_evaluate_cross(m, split, r, quiet, err))) goto done;
    if ((rc = mvae_evaluate_subsets(m, split, r, quiet, err))) goto done;
    r->seconds = mvae_time_sec() - t0;
    rc = MVAE_OK;
    goto done;
ctxfail:
    rc = mvae_error_set(err, rc ? rc : MVAE_ERR_INVALID, "evaluation: %s", mvae_ctx_error(ctx));
done:
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    free(idx);
    free(lp);
    free(lp2);
    free(ps);
    free(pm);
    return rc;
}

/* a number, or null where there is none (NaN: e.g. no test sample had the modalities) */
static void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, ": %.6f", v);
    else fprintf(f, ": null");
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int mvae_write_metrics_json(const char *path, const mvae_eval_result *e, const mvae_train_result *t,
                            mvae_error *err) {
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp", path) < 0) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int rc = mvae_error_set(err, MVAE_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    fprintf(f, "{\n  \"test\": {\n    \"elbo\": %.6f,\n    \"log_p\": {", e->elbo);
    for (int i = 0; i < e->n_ll; i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_str(f, e->ll_name[i]);
        json_num(f, e->ll[i]);
    }
    fprintf(f, "},\n    \"bits_per_dim\": {");
    for (int i = 0, c = 0; i < e->n_ll; i++) {
        if (!isfinite(e->bpd[i])) continue;
        fprintf(f, "%s", c++ ? ", " : "");
        json_str(f, e->ll_name[i]);
        fprintf(f, ": %.6f", e->bpd[i]);
    }
    fprintf(f, "},\n    \"accuracy\": {");
    for (int i = 0; i < e->n_acc; i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_str(f, e->acc_name[i]);
        json_num(f, e->acc[i]);
    }
    fprintf(f, "},\n    \"accuracy_mean_z\": {");
    for (int i = 0; i < e->n_acc; i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_str(f, e->acc_name[i]);
        json_num(f, e->acc_mean[i]);
    }
    fprintf(f, "},\n    \"probe\": {");
    for (int i = 0; i < e->n_probe; i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_str(f, e->probe_name[i]);
        fprintf(f, ": %.6f", e->probe[i]);
    }
    fprintf(f, "},\n    \"coherence\": {");
    for (int i = 0; i < e->n_coh; i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_str(f, e->coh_name[i]);
        fprintf(f, ": %.6f", e->coh[i]);
    }
    fprintf(f, "},\n    \"frechet\": {");
    for (int i = 0; i < e->n_fd; i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_str(f, e->fd_name[i]);
        fprintf(f, ": %.6f", e->fd[i]);
    }
    fprintf(f, "},\n    \"classifier_accuracy\": {");
    for (int i = 0; i < e->n_clf; i++) {
        fprintf(f, "%s", i ? ", " : "");
        json_str(f, e->clf_name[i]);
        fprintf(f, ": %.6f", e->clf_acc[i]);
    }
    fprintf(f, "}");
    if (e->n_cross) { /* entries with the same from->to share one object */
        fprintf(f, ",\n    \"cross\": {");
        int shown = 0;
        for (int i = 0; i < e->n_cross; i++) {
            bool seen = false;
            for (int j = 0; j < i; j++) seen = seen || strcmp(e->cross_name[j], e->cross_name[i]) == 0;
            if (seen) continue;
            fprintf(f, "%s", shown++ ? ", " : "");
            json_str(f, e->cross_name[i]);
            fprintf(f, ": {");
            int k = 0;
            for (int j = i; j < e->n_cross; j++) {
                if (strcmp(e->cross_name[j], e->cross_name[i]) != 0) continue;
                const char *const f1[] = {"f1_macro", "f1_micro", "accuracy"};
                bool is_f1 = strcmp(e->cross_metric[j], "f1") == 0;
                for (int v = 0; v < (is_f1 ? 3 : 1); v++) {
                    fprintf(f, "%s", k++ ? ", " : "");
                    json_str(f, is_f1 ? f1[v] : e->cross_metric[j]);
                    if (isfinite(e->cross[j][v])) fprintf(f, ": %.6f", e->cross[j][v]); else fprintf(f, ": null");
                }
            }
            fprintf(f, "}");
        }
        fprintf(f, "}");
    }
    if (e->n_sub) { /* "subsets": {"given": {"nll": {"k": v, ...}, "accuracy": {"label": v}}, ...} */
        fprintf(f, ",\n    \"subsets\": {");
        for (int ri = 0; ri < e->n_sub; ri++) {
            fprintf(f, "%s\n      ", ri ? "," : "");
            json_str(f, e->sub_name[ri]);
            fprintf(f, ": {\"nll\": {");
            int k2 = 0;
            for (int k = 0; k < e->n_sub_mod; k++) {
                if (!isfinite(e->sub_nll[ri][k])) continue;
                fprintf(f, "%s", k2++ ? ", " : "");
                json_str(f, e->sub_mod_name[k]);
                fprintf(f, ": %.6f", e->sub_nll[ri][k]);
            }
            fprintf(f, "}, \"accuracy\": {");
            k2 = 0;
            for (int k = 0; k < e->n_sub_mod; k++) {
                if (!isfinite(e->sub_acc[ri][k])) continue;
                fprintf(f, "%s", k2++ ? ", " : "");
                json_str(f, e->sub_mod_name[k]);
                fprintf(f, ": %.6f", e->sub_acc[ri][k]);
            }
            fprintf(f, "}}");
        }
        fprintf(f, "}");
    }
    if (e->n_bleu) {
        fprintf(f, ",\n    \"bleu\": {");
        for (int i = 0; i < e->n_bleu; i++) {
            fprintf(f, "%s", i ? ", " : "");
            json_str(f, e->bleu_name[i]);
            fprintf(f, ": %.6f", e->bleu[i]);
        }
        fprintf(f, "}");
    }
    fprintf(f, ",\n    \"log_p_samples\": %d,\n    \"log_p_test_points\": %lld,\n    \"test_points\": %lld,\n"
               "    \"seconds\": %.3f\n  }", e->ll_samples, (long long)e->n_ll_test, (long long)e->n_test, e->seconds);
    if (t) {
        fprintf(f, ",\n  \"train\": {\"samples_per_sec\": ");
        if (isfinite(t->samples_per_sec)) fprintf(f, "%.1f", t->samples_per_sec); else fprintf(f, "null");
        fprintf(f, ", \"epochs\": %d, \"last_loss\": %.6f}", t->epochs, t->last_loss);
    }
    if (t && t->has_bound) { /* what the training objective bounds, and what breaks it (docs/objectives.md) */
        static const char *const kinds[] = {"nothing", "log p(X)", "composite"};
        const mvae_bound_report *b = &t->bound;
        fprintf(f, ",\n  \"bound\": {\"bounds\": \"%s\", \"what\": ", kinds[b->kind]);
        json_str(f, b->what);
        fprintf(f, ", \"valid\": %s, \"broken_by\": [", b->valid ? "true" : "false");
        for (int i = 0, n = 0; i < b->n_flags; i++)
            if (b->breaks[i]) fprintf(f, "%s", n++ ? ", " : ""), json_str(f, b->flag[i]);
        fprintf(f, "], \"notes\": [");
        for (int i = 0, n = 0; i < b->n_flags; i++)
            if (!b->breaks[i]) fprintf(f, "%s", n++ ? ", " : ""), json_str(f, b->flag[i]);
        fprintf(f, "]}");
    }
    /* the kernels that ran: instruction set (MVAE_ISA or cpuid) and GEMM backend */
    fprintf(f, ",\n  \"environment\": {\"isa\": \"%s\", \"gemm\": \"%s\"}", mvae_isa_name(mvae_isa()),
            mvae_gemm_backend_name());
    fprintf(f, "\n}\n");
    int rc = MVAE_OK;
    if (ferror(f) | (fclose(f) != 0))
        rc = mvae_error_set(err, MVAE_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    else if (rename(tmp, path) != 0)
        rc = mvae_error_set(err, MVAE_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

/* ----------------------------------------------------------------------------------- pictures */
static int first_image(const mvae_model *m) {
    for (int k = 0; k < m->n_mod; k++)
        if (m->mod[k].info.type == MVAE_MOD_IMAGE && (m->mod[k].info.shape[0] == 1 || m->mod[k].info.shape[0] == 3))
            return k;
    return -1;
}

/* image modality k generated from z into out [B, numel]: a VAE's likelihood mean, a flow's
 * sample at its temperature (mvae_model_generate) */
static int decode_mean(const mvae_model *m, mvae_ctx *ctx, int k, mvae_tensor *z, mvae_rng *rng, float *out) {
    return mvae_model_generate(m, ctx, k, z, rng, out);
}

/* tiles of small images scaled up to a readable size (mvae_png_write_grid_scaled, scale 0) */
static int grid_scaled(const mvae_model *m, int k, const char *path, const float *imgs, int n, int cols, int scale,
                       mvae_error *err) {
    const mvae_modality_info *mi = &m->mod[k].info;
    return mvae_png_write_grid_scaled(path, imgs, n, (int)mi->shape[0], (int)mi->shape[1], (int)mi->shape[2], cols, 2,
                                      scale, err);
}

static int grid(const mvae_model *m, int k, const char *path, const float *imgs, int n, int cols, mvae_error *err) {
    return grid_scaled(m, k, path, imgs, n, cols, 0, err);
}

int mvae_write_pictures(mvae_model *m, const char *dir, bool quiet, mvae_error *err) {
    int img = first_image(m);
    if (img < 0) return MVAE_OK;
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    const mvae_modality_info *mi = &m->mod[img].info;
    int64_t E = mvae_modality_numel(mi);
    int ncol = 16;
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_batch b;
    int rc = mvae_batch_init(&b, m, ncol, err);
    float *buf = malloc((size_t)E * 160 * sizeof(float));
    char path[4200]; /* run_dir (--out is at most MVAE_RUN_DIR_MAX) + a file name */
    mvae_rng rng;
    mvae_rng_seed(&rng, m->seed + 999);
    mvae_ctx_set_grad(ctx, false);
    mvae_ctx_set_training(ctx, false);
    uint32_t all = (1u << m->n_mod) - 1;
    if (rc || !buf || !ctx) goto done;
    /* 1. reconstructions: row 1 test images, row 2 from all modalities, row 3 from the image alone */
    int64_t idx[16];
    for (int i = 0; i < ncol; i++) idx[i] = i;
    if ((rc = mvae_batch_fill(&b, m, MVAE_SPLIT_TEST, idx, ncol, NULL, err))) goto done;
    memcpy(buf, b.x[img], (size_t)(E * ncol) * sizeof(float));
    mvae_experts e;
    mvae_posterior q;
    mvae_tensor *valid;
    int any;
    uint32_t sets[2] = {all, 1u << img};
    for (int r = 0; r < 2; r++) {
        mvae_ctx_reset(ctx);
        if (mvae_model_encode(m, ctx, &b, all, &e) || mvae_model_posterior(m, ctx, &e, sets[r], &q, &valid, &any) ||
            decode_mean(m, ctx, img, fv->mean(m->fusion, ctx, &q), &rng, buf + (size_t)((r + 1) * ncol) * (size_t)E))
            goto ctxfail;
    }
    snprintf(path, sizeof path, "%s/reconstructions.png", dir);
    if ((rc = grid(m, img, path, buf, 3 * ncol, ncol, err))) goto done;
    if (!quiet) MVAE_INFO("wrote %s (rows: test %s, reconstructed from all modalities, from %s alone)", path, mi->name, mi->name);
    /* 2. samples from the prior */
    mvae_ctx_reset(ctx);
    mvae_tensor *z = mvae_tensor_new(ctx, 2, (int64_t[]){64, m->latent_dim});
    mvae_rng_normal_fill(&rng, z->data, (size_t)z->n);
    if (decode_mean(m, ctx, img, z, &rng, buf)) goto ctxfail;
    snprintf(path, sizeof path, "%s/prior_samples.png", dir);
    if ((rc = grid(m, img, path, buf, 64, 8, err))) goto done;
    if (!quiet) MVAE_INFO("wrote %s (64 %s samples from z ~ N(0, I))", path, mi->name);
    /* 3. generation from each class of each categorical modality: one row per class */
    for (int c = 0; c < m->n_mod; c++) {
        if (m->mod[c].info.type != MVAE_MOD_CATEGORICAL || !(m->encodable & (1u << c))) continue;
        int ncls = m->mod[c].info.n_classes > 16 ? 16 : m->mod[c].info.n_classes;
        for (int cls = 0; cls < ncls; cls++) {
            char given[96];
            snprintf(given, sizeof given, "%s=%d", m->mod[c].info.name, cls);
            /* reuse the batch: label rows set to cls, only modality c present */
            b.n = 10;
            memset(b.present, 0, (size_t)b.cap * (size_t)m->n_mod);
            for (int i = 0; i < 10; i++) {
                ((int32_t *)(void *)b.x[c])[i] = cls;
                b.present[i * m->n_mod + c] = 1;
            }
            mvae_ctx_reset(ctx);
            if (mvae_model_encode(m, ctx, &b, 1u << c, &e) || mvae_model_posterior(m, ctx, &e, 1u << c, &q, &valid, &any))
                goto ctxfail;
            mvae_tensor *zs = fv->sample(m->fusion, ctx, &q, &rng);
            if (decode_mean(m, ctx, img, zs, &rng, buf + (size_t)(cls * 10) * (size_t)E)) goto ctxfail;
        }
        snprintf(path, sizeof path, "%s/%s_from_%s.png", dir, mi->name, m->mod[c].info.name);
        if ((rc = grid(m, img, path, buf, ncls * 10, 10, err))) goto done;
        if (!quiet) MVAE_INFO("wrote %s (row k: %s generated from %s = %s)", path, mi->name, m->mod[c].info.name,
                              m->mod[c].info.class_names ? "class k (see the dataset's class names)" : "k");
    }
    if ((rc = mvae_write_cross_pictures(m, dir, quiet, err))) goto done;
    if ((rc = mvae_write_subset_pictures(m, dir, quiet, err))) goto done; /* eval.subsets: eval_figures.c */
    rc = MVAE_OK;
    goto done;
ctxfail:
    rc = mvae_error_set(err, MVAE_ERR_INVALID, "pictures: %s", mvae_ctx_error(ctx));
done:
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    free(buf);
    return rc;
}

/* A spectrogram [1, mels, frames] shown as a picture: rows flipped so that low frequencies are
 * at the bottom, as people read spectrograms. */
static void flip_rows(float *x, int64_t n, int64_t H, int64_t W) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t r = 0; r < H / 2; r++) {
            float *a = x + i * H * W + r * W, *c = x + i * H * W + (H - 1 - r) * W;
            for (int64_t j = 0; j < W; j++) {
                float t = a[j];
                a[j] = c[j];
                c[j] = t;
            }
        }
}

int mvae_sample_png(mvae_model *m, const char *given, const char *target, int n, uint64_t seed,
                    const char *png_path, mvae_error *err) {
    return mvae_sample(m, given, target, n, seed, png_path, NULL, err);
}

int mvae_sample(mvae_model *m, const char *given, const char *target, int n, uint64_t seed, const char *png_path,
                const char *wav_dir, mvae_error *err) {
    return mvae_sample_scaled(m, given, target, n, seed, png_path, wav_dir, 0, err);
}

int mvae_sample_scaled(mvae_model *m, const char *given, const char *target, int n, uint64_t seed,
                       const char *png_path, const char *wav_dir, int scale, mvae_error *err) {
    if (scale < 0 || scale > MVAE_PNG_GRID_MAX_SCALE)
        return mvae_error_set(err, MVAE_ERR_INVALID, "sample: --scale %d must be in 1..%d (0 or none: automatic)", scale,
                              MVAE_PNG_GRID_MAX_SCALE);
    int img = target ? mvae_model_find(m, target) : first_image(m);
    if (img < 0 || (m->mod[img].info.type != MVAE_MOD_IMAGE && m->mod[img].info.type != MVAE_MOD_AUDIO) ||
        m->mod[img].info.ndim != 3)
        return mvae_error_set(err, MVAE_ERR_INVALID, "sample: %s is not an image or spectrogram modality of this model",
                              target ? target : "(none)");
    const bool audio = m->mod[img].info.type == MVAE_MOD_AUDIO;
    if (wav_dir && !audio)
        return mvae_error_set(err, MVAE_ERR_INVALID, "sample: --wav needs a spectrogram modality (--modality NAME); '%s' is an image",
                              m->mod[img].info.name);
    if (n < 1 || n > 4096) return mvae_error_set(err, MVAE_ERR_INVALID, "sample: -n must be in 1..4096");
    const mvae_fusion_vtable *fv = m->fusion_desc->vtable;
    const mvae_modality_info *mi = &m->mod[img].info;
    int64_t E = mvae_modality_numel(mi);
    mvae_ctx *ctx = mvae_ctx_new(0);
    mvae_batch b;
    memset(&b, 0, sizeof b);
    float *buf = malloc((size_t)E * (size_t)n * sizeof(float));
    mvae_rng rng;
    mvae_rng_seed(&rng, seed);
    mvae_ctx_set_grad(ctx, false);
    mvae_ctx_set_training(ctx, false);
    int rc = mvae_batch_init(&b, m, n, err);
    if (rc || !ctx || !buf) {
        rc = rc ? rc : mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        goto done;
    }
    mvae_tensor *z;
    if (given) {
        char name[64];
        const char *eq = strchr(given, '=');
        if (!eq || eq == given || (size_t)(eq - given) >= sizeof name) {
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "sample: --given wants MODALITY=VALUE, e.g. label=3 or image=test:17; got '%s'", given);
            goto done;
        }
        memcpy(name, given, (size_t)(eq - given));
        name[eq - given] = '\0';
        /* NAME or, with test:N, a list a,b (those modalities of one test sample together) */
        uint32_t gmask = 0;
        int c = -1;
        for (char *save = NULL, *tok = strtok_r(name, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            int k = mvae_model_find(m, tok);
            if (k < 0) {
                rc = mvae_error_set(err, MVAE_ERR_INVALID, "sample: --given %s: '%s' is not a modality of this model", given, tok);
                goto done;
            }
            if (c < 0) c = k;
            gmask |= 1u << k;
        }
        if (c < 0) {
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "sample: --given wants MODALITY=VALUE, e.g. label=3 or image=test:17; got '%s'", given);
            goto done;
        }
        if ((rc = mvae_model_check_given(m, gmask, "sample: --given", err))) goto done;
        const char *val = eq + 1;
        if (__builtin_popcount(gmask) > 1 && strncmp(val, "test:", 5) != 0) {
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "sample: --given %s: several modalities only with test:N (e.g. a,b=test:17)", given);
            goto done;
        }
        if (strncmp(val, "test:", 5) == 0) { /* the modality of one test sample, n times */
            char *end;
            errno = 0;
            long long t = strtoll(val + 5, &end, 10);
            int64_t N = ((const mvae_dataset_vtable *)m->ds_desc->vtable)->size(m->ds, MVAE_SPLIT_TEST);
            if (!val[5] || *end || errno || t < 0 || t >= N) {
                rc = mvae_error_set(err, MVAE_ERR_INVALID, "sample: --given %s: test:N needs N in 0..%lld (the test split)", given,
                                    (long long)N - 1);
                goto done;
            }
            int64_t *idx = malloc((size_t)n * sizeof *idx);
            if (!idx) {
                rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
                goto done;
            }
            for (int i = 0; i < n; i++) idx[i] = t;
            rc = mvae_batch_fill(&b, m, MVAE_SPLIT_TEST, idx, n, NULL, err);
            free(idx);
            if (rc) goto done;
            for (int i = 0; i < n; i++)
                for (int k = 0; k < m->n_mod; k++)
                    b.present[i * m->n_mod + k] = b.present[i * m->n_mod + k] && ((gmask >> k) & 1u);
            for (int k = 0; k < m->n_mod; k++)
                if (((gmask >> k) & 1u) && !b.present[k]) {
                    rc = mvae_error_set(err, MVAE_ERR_INVALID, "sample: --given %s: test sample %lld has no '%s'", given, t,
                                        m->mod[k].info.name);
                    goto done;
                }
        } else {
            if (m->mod[c].info.type != MVAE_MOD_CATEGORICAL) {
                rc = mvae_error_set(err, MVAE_ERR_INVALID,
                                    "sample: --given %s: '%s' is not categorical: give one of its test samples, %s=test:N", given,
                                    name, name);
                goto done;
            }
            char *end;
            long v = strtol(val, &end, 10);
            if (*end || !*val) { /* a class name */
                v = -1;
                for (int k = 0; m->mod[c].info.class_names && k < m->mod[c].info.n_classes; k++)
                    if (strcasecmp(m->mod[c].info.class_names[k], val) == 0) v = k;
            }
            if (v < 0 || v >= m->mod[c].info.n_classes) {
                rc = mvae_error_set(err, MVAE_ERR_INVALID, "sample: --given %s: value must be a class index in 0..%d, a class name or test:N",
                                    given, m->mod[c].info.n_classes - 1);
                goto done;
            }
            b.n = n;
            memset(b.present, 0, (size_t)n * (size_t)m->n_mod);
            for (int i = 0; i < n; i++) {
                ((int32_t *)(void *)b.x[c])[i] = (int32_t)v;
                b.present[i * m->n_mod + c] = 1;
            }
        }
        mvae_experts e;
        mvae_posterior q;
        mvae_tensor *valid;
        int any;
        if (mvae_model_encode(m, ctx, &b, gmask, &e) || mvae_model_posterior(m, ctx, &e, gmask, &q, &valid, &any)) goto ctxfail;
        z = fv->sample(m->fusion, ctx, &q, &rng);
    } else {
        z = mvae_tensor_new(ctx, 2, (int64_t[]){n, m->latent_dim});
        mvae_rng_normal_fill(&rng, z->data, (size_t)z->n);
    }
    if (decode_mean(m, ctx, img, z, &rng, buf)) goto ctxfail;
    if (wav_dir) { /* each spectrogram back to sound: the audio helpers' default framing (8 kHz, 32 x 32) */
        mvae_logmel_cfg lc;
        mvae_logmel_default(&lc);
        int mels = (int)mi->shape[1], frames = (int)mi->shape[2];
        if (mels != lc.n_mels) {
            rc = mvae_error_set(err, MVAE_ERR_INVALID, "sample: --wav: '%s' has %d mel bands; the audio helpers' framing has %d",
                                mi->name, mels, lc.n_mels);
            goto done;
        }
        if ((rc = mvae_mkdir_p(wav_dir, err))) goto done;
        int64_t ns = (int64_t)(frames - 1) * lc.hop;
        float *spec = malloc((size_t)E * sizeof *spec), *wav = malloc((size_t)ns * sizeof *wav);
        for (int i = 0; !rc && i < n && spec && wav; i++) {
            memcpy(spec, buf + (size_t)i * (size_t)E, (size_t)E * sizeof *spec);
            mvae_logmel_denormalize(spec, E, 80.0f);
            char path[4200];
            snprintf(path, sizeof path, "%s/%s_%03d.wav", wav_dir, mi->name, i);
            if (!(rc = mvae_logmel_to_audio(&lc, spec, frames, 64, seed + (uint64_t)i, wav, ns, err)))
                rc = mvae_wav_write(path, wav, ns, lc.sample_rate, err);
        }
        if (!rc && (!spec || !wav)) rc = mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
        free(spec);
        free(wav);
        if (rc) goto done;
    }
    if (audio) flip_rows(buf, n, mi->shape[1], mi->shape[2]);
    int cols = 1;
    while (cols * cols < n) cols++;
    rc = grid_scaled(m, img, png_path, buf, n, cols, scale, err);
    goto done;
ctxfail:
    rc = mvae_error_set(err, MVAE_ERR_INVALID, "sample: %s", mvae_ctx_error(ctx));
done:
    mvae_batch_free(&b);
    mvae_ctx_free(ctx);
    free(buf);
    return rc;
}
