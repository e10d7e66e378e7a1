/* fusion/moe — mixture of experts (Shi, Siddharth, Paige & Torr 2019, "Variational
 * Mixture-of-Experts Autoencoders for Multi-Modal Deep Generative Models", MMVAE).
 *
 *   q(z | x_S) = sum_{m in S, present} (1 / |S_present|) q(z | x_m)
 *
 * per sample: an expert whose modality is absent for a sample has weight 0 there and the others
 * share the weight uniformly. Sampling is stratified (one reparameterised draw per expert, or k
 * with `k: k`, weighted by the expert's mixture weight), so the trainer's weighted sum over draws
 * is MMVAE's stratified ELBO estimator. The KL is the single-draw estimate
 * log q(z | x_S) - log N(z; 0, I) at each draw; log q is the mixture density (log-sum-exp over
 * the experts). The shared mixture code is in ../mixture.h.
 *
 * Options: `k` draws
 * per expert (averaged).
 */
#include "../mixture.h"

#include <stdlib.h>

typedef struct moe {
    int latent_dim, k;
} moe;

static int moe_create(const mvae_cfg_node *opts, int latent_dim, int n_modalities, void **self,
                      mvae_error *err) {
    if (n_modalities > MVAE_MAX_COMPONENTS)
        return mvae_error_set(err, MVAE_ERR_INVALID, "%d modalities, at most %d supported",
                              n_modalities, MVAE_MAX_COMPONENTS);
    int k = 1;
    int rc = mix_read_options(opts, &k, err);
    if (rc) return rc;
    moe *p = calloc(1, sizeof *p);
    if (!p) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    p->latent_dim = latent_dim;
    p->k = k;
    *self = p;
    return MVAE_OK;
}

static void moe_destroy(void *self) { free(self); }

static int moe_fuse(void *self, mvae_ctx *ctx, int n, mvae_tensor *const *mu,
                    mvae_tensor *const *logvar, mvae_tensor *const *mask, mvae_posterior *out) {
    moe *p = self;
    memset(out, 0, sizeof *out);
    int idx[MVAE_MAX_COMPONENTS], C = 0;
    int64_t B = -1;
    for (int m = 0; m < n; m++) {
        if (!mu[m]) continue;
        if (C == MVAE_MAX_COMPONENTS) {
            mvae_ctx_fail(ctx, "moe: more than %d experts", MVAE_MAX_COMPONENTS);
            return MVAE_ERR_INVALID;
        }
        B = mu[m]->shape[0];
        out->comp_mu[C] = mu[m];
        out->comp_logvar[C] = logvar[m];
        idx[C++] = m;
    }
    if (C == 0) {
        mvae_ctx_fail(ctx, "moe: no expert given for this subset");
        return MVAE_ERR_INVALID;
    }
    out->n_comp = C;
    float *w = mvae_ctx_alloc(ctx, (size_t)C * (size_t)B * sizeof *w);
    if (!w) return MVAE_ERR_NOMEM;
    for (int64_t i = 0; i < B; i++) {
        int present = 0;
        for (int c = 0; c < C; c++) {
            const mvae_tensor *mk = mask ? mask[idx[c]] : NULL;
            float on = !mk || mk->data[i] > 0 ? 1.0f : 0.0f;
            w[(int64_t)c * B + i] = on;
            present += on > 0;
        }
        for (int c = 0; c < C; c++) w[(int64_t)c * B + i] = present ? w[(int64_t)c * B + i] / (float)present : 0.0f;
    }
    int rc = mix_set_weights(ctx, out, B, w, p->k);
    if (rc) return rc;
    return mvae_ctx_failed(ctx) ? MVAE_ERR_INVALID : MVAE_OK;
}

static mvae_tensor *moe_sample(void *self, mvae_ctx *ctx, const mvae_posterior *q, mvae_rng *rng) {
    (void)self;
    return mix_sample(ctx, q, rng);
}

static mvae_tensor *moe_kl(void *self, mvae_ctx *ctx, const mvae_posterior *q, mvae_tensor *z) {
    (void)self;
    return mix_kl(ctx, q, z);
}

static mvae_tensor *moe_log_q(void *self, mvae_ctx *ctx, const mvae_posterior *q, mvae_tensor *z) {
    (void)self;
    return mix_log_q(ctx, q, z);
}

static mvae_tensor *moe_mean(void *self, mvae_ctx *ctx, const mvae_posterior *q) {
    (void)self;
    return mix_mean(ctx, q);
}

static const mvae_fusion_vtable vt = {
    .create = moe_create, .destroy = moe_destroy, .fuse = moe_fuse, .sample = moe_sample,
    .kl = moe_kl, .log_q = moe_log_q, .mean = moe_mean,
};
static const mvae_option opts[] = {
    {"k", MVAE_OPT_INT, "1", "reparameterised draws per expert (averaged)", NULL, false, NULL, "[1, 64]"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_FUSION, "moe", "1.0.0",
    "mixture of experts, stratified sampling (Shi et al. 2019, MMVAE)", &vt, opts);
MVAE_PLUGIN_DEFINE(fusion_moe, desc)
