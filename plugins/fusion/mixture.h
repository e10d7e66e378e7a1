/* plugins/fusion/mixture.h — the parts shared by the mixture fusions (fusion/moe, fusion/mopoe):
 * a posterior that is a per-sample weighted mixture of diagonal Gaussians
 *
 *   q(z | x_S) = sum_c w_c q_c(z),   q_c = N(comp_mu[c], exp(comp_logvar[c])),
 *
 * with w [B, n_comp] (0 for components that are absent for a sample), sampled stratified (Shi et
 * al. 2019, MMVAE): `k` reparameterised draws from every component, draw d = c * k + j, weighted
 * w_c / k. Header-only: each plugin compiles its own copy (static functions).
 *
 * Absent components take log w = MIX_LOG0 (a large negative constant, not -inf) in the
 * log-sum-exp, which keeps values and gradients finite; a sample without any component
 * (valid = 0 in the core) gets a finite but meaningless log q, and the core gives it weight 0.
 */
#ifndef MVAE_PLUGINS_FUSION_MIXTURE_H
#define MVAE_PLUGINS_FUSION_MIXTURE_H
#include "mvae/dist.h"
#include "mvae/interfaces.h"

#include <math.h>
#include <string.h>

#define MIX_LOG0 (-1.0e30f)
#define MIX_LOG_2PI 1.8378770664093453

/* Concatenate n tensors along axis 0 (tree of 4-way concats; n >= 1; n == 1 returns ts[0]).
 * ts is overwritten. */
static mvae_tensor *mix_concat_rows(mvae_ctx *ctx, int n, mvae_tensor **ts) {
    while (n > 1) {
        int o = 0;
        for (int i = 0; i < n; i += 4) {
            int c = n - i < 4 ? n - i : 4;
            ts[o++] = c == 1 ? ts[i] : mvae_concat(ctx, c, ts + i, 0);
        }
        n = o;
    }
    return ts[0];
}

/* Fill q's weights from the per-sample component weights w[c * B + i] (plain floats, already
 * normalised; 0 = absent): comp_weight [B, n_comp], n_draws = n_comp * k and draw_weight. */
static int mix_set_weights(mvae_ctx *ctx, mvae_posterior *q, int64_t B, const float *w, int k) {
    int C = q->n_comp;
    q->comp_weight = mvae_tensor_new(ctx, 2, (int64_t[]){B, C});
    q->n_draws = C * k;
    q->draw_weight = mvae_tensor_new(ctx, 1, (int64_t[]){(int64_t)C * k * B});
    if (!q->comp_weight || !q->draw_weight) return MVAE_ERR_NOMEM;
    for (int c = 0; c < C; c++)
        for (int64_t i = 0; i < B; i++) {
            float wc = w[(int64_t)c * B + i];
            q->comp_weight->data[i * C + c] = wc;
            for (int j = 0; j < k; j++) q->draw_weight->data[((int64_t)c * k + j) * B + i] = wc / (float)k;
        }
    return MVAE_OK;
}

/* z [n_draws * B, D]: k reparameterised draws of every component, draw-major. */
static mvae_tensor *mix_sample(mvae_ctx *ctx, const mvae_posterior *q, mvae_rng *rng) {
    int C = q->n_comp, S = q->n_draws > 0 ? q->n_draws : 1;
    if (C < 1 || S % C) return NULL;
    int k = S / C;
    mvae_tensor **parts = mvae_ctx_alloc(ctx, (size_t)S * sizeof *parts);
    if (!parts) return NULL;
    for (int c = 0; c < C; c++)
        for (int j = 0; j < k; j++) {
            mvae_tensor *mu = q->comp_mu[c];
            mvae_tensor *eps = mvae_tensor_new(ctx, mu->ndim, mu->shape);
            if (!eps) return NULL;
            mvae_noise_fill(ctx, rng, eps); /* a rank's slice of the global batch's noise (mvae/dist.h) */
            parts[c * k + j] = mvae_gaussian_sample(ctx, mu, q->comp_logvar[c], eps);
        }
    return mix_concat_rows(ctx, S, parts);
}

/* log q(z) per row of z [k * B, D] (row r belongs to sample r mod B). */
static mvae_tensor *mix_log_q(mvae_ctx *ctx, const mvae_posterior *q, mvae_tensor *z) {
    int C = q->n_comp;
    if (!z || C < 1 || !q->comp_weight) return NULL;
    int64_t B = q->comp_mu[0]->shape[0], D = q->comp_mu[0]->shape[1];
    if (z->ndim != 2 || z->shape[1] != D || z->shape[0] % B) {
        mvae_ctx_fail(ctx, "mixture log_q: z has %lld rows of %lld, expected k * %lld rows of %lld",
                      (long long)z->shape[0], (long long)(z->ndim > 1 ? z->shape[1] : 0), (long long)B,
                      (long long)D);
        return NULL;
    }
    int64_t k = z->shape[0] / B;
    mvae_tensor *z3 = mvae_reshape(ctx, z, 3, (int64_t[]){k, B, D});
    mvae_tensor **parts = mvae_ctx_alloc(ctx, (size_t)C * sizeof *parts);
    if (!parts) return NULL;
    for (int c = 0; c < C; c++) {
        mvae_tensor *lv = q->comp_logvar[c];
        mvae_tensor *d2 = mvae_square(ctx, mvae_sub(ctx, z3, q->comp_mu[c]));      /* [k,B,D] */
        mvae_tensor *t = mvae_add(ctx, mvae_mul(ctx, d2, mvae_exp(ctx, mvae_scale(ctx, lv, -1.0f))), lv);
        mvae_tensor *lp = mvae_scale(ctx, mvae_sum(ctx, t, 2, false), -0.5f);   /* [k,B] */
        mvae_tensor *lw = mvae_tensor_new(ctx, 1, (int64_t[]){B});
        if (!lw) return NULL;
        for (int64_t i = 0; i < B; i++) {
            float w = q->comp_weight->data[i * C + c];
            lw->data[i] = w > 0 ? logf(w) - 0.5f * (float)((double)D * MIX_LOG_2PI) : MIX_LOG0;
        }
        parts[c] = mvae_reshape(ctx, mvae_add(ctx, lp, lw), 2, (int64_t[]){1, k * B});
    }
    mvae_tensor *all = mix_concat_rows(ctx, C, parts); /* [C, k*B] */
    return C == 1 ? mvae_reshape(ctx, all, 1, (int64_t[]){k * B}) : mvae_logsumexp(ctx, all, 0, false);
}

/* Single-draw estimate of KL(q || N(0, I)) per row: log q(z) - log N(z; 0, I). */
static mvae_tensor *mix_kl(mvae_ctx *ctx, const mvae_posterior *q, mvae_tensor *z) {
    mvae_tensor *lq = mix_log_q(ctx, q, z);
    if (!lq) return NULL;
    mvae_tensor *zero = mvae_tensor_zeros(ctx, z->ndim, z->shape);
    return mvae_sub(ctx, lq, mvae_gaussian_logp(ctx, z, zero, NULL));
}

/* sum_c w_c mu_c [B, D]. */
static mvae_tensor *mix_mean(mvae_ctx *ctx, const mvae_posterior *q) {
    int C = q->n_comp;
    if (C < 1 || !q->comp_weight) return NULL;
    int64_t B = q->comp_mu[0]->shape[0];
    mvae_tensor *m = NULL;
    for (int c = 0; c < C; c++) {
        mvae_tensor *w = mvae_tensor_new(ctx, 2, (int64_t[]){B, 1});
        if (!w) return NULL;
        for (int64_t i = 0; i < B; i++) w->data[i] = q->comp_weight->data[i * C + c];
        mvae_tensor *t = mvae_mul(ctx, q->comp_mu[c], w);
        m = m ? mvae_add(ctx, m, t) : t;
    }
    return m;
}

/* The `k` option, shared. (The objective — ELBO, IWAE, DReG — is the trainer's:
 * train.objective.iw_samples / estimator; it works with every fusion.)
 * Errors are reported without the plugin's name: the core prefixes "fusion 'NAME': ". */
static int mix_read_options(const mvae_cfg_node *opts, int *k, mvae_error *err) {
    int64_t kk = 1;
    if (opts && mvae_cfg_int_or(opts, "k", 1, &kk, err)) return MVAE_ERR_INVALID;
    if (kk < 1 || kk > 64)
        return mvae_error_set(err, MVAE_ERR_INVALID, "k = %lld, expected 1..64 (draws per component)",
                              (long long)kk);
    *k = (int)kk;
    return MVAE_OK;
}

#endif
