/* fusion/poe — product of Gaussian experts (Wu & Goodman 2018, "Multimodal Generative Models for
 * Scalable Weakly-Supervised Learning", section 2).
 *
 * q(z | x_S) is proportional to p(z) * prod_{m in S} q(z | x_m) with diagonal Gaussians:
 *   T_m = mask_m / (var_m + 1e-8)   (precision, capped at 1e8 as in the original code; an absent
 *                                     expert contributes zero)
 *   T   = 1 + sum_m T_m       (the N(0, I) prior expert has precision 1; without it T = sum T_m)
 *   mu  = (sum_m mu_m T_m) / T,   var = 1 / T
 * computed per sample and per latent dimension. Without the prior expert, a sample with no expert
 * present gets T = 1 (mu = 0, logvar = 0) instead of 0/0; the core gives it weight 0.
 */
#include "mvae/dist.h"
#include "mvae/interfaces.h"

#include <stdlib.h>
#include <string.h>

typedef struct poe {
    int latent_dim;
    bool prior_expert;
} poe;

static int poe_create(const mvae_cfg_node *opts, int latent_dim, int n_modalities, void **self,
                      mvae_error *err) {
    (void)n_modalities;
    poe *p = calloc(1, sizeof *p);
    if (!p) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    p->latent_dim = latent_dim;
    p->prior_expert = true;
    if (opts && mvae_cfg_bool_or(opts, "prior_expert", true, &p->prior_expert, err)) {
        free(p);
        return MVAE_ERR_INVALID;
    }
    *self = p;
    return MVAE_OK;
}

static void poe_destroy(void *self) { free(self); }

static int poe_fuse(void *self, mvae_ctx *ctx, int n, mvae_tensor *const *mu,
                    mvae_tensor *const *logvar, mvae_tensor *const *mask, mvae_posterior *out) {
    poe *p = self;
    mvae_tensor *T = NULL, *num = NULL;
    int64_t B = -1;
    for (int m = 0; m < n; m++) {
        if (!mu[m]) continue;
        B = mu[m]->shape[0];
        /* precision of expert m: 1 / (exp(logvar) + 1e-8), as in the original code, zeroed where
         * the modality is absent. The eps caps it at 1e8: exp(-logvar) overflowed to inf once an
         * expert's logvar passed -88, and inf / inf made the 1 % run of the recipe NaN at epoch
         * 75. Written as 1e8 * sigmoid(ln(1e-8) - logvar), the same function, so that neither
         * the value nor the gradient meets inf for any finite logvar (the reciprocal of exp + eps
         * gave 0 * inf = NaN gradients once logvar passed +88) */
        mvae_tensor *t = mvae_scale(ctx, mvae_sigmoid(ctx, mvae_add_scalar(ctx, mvae_scale(ctx, logvar[m], -1.0f), -18.420681f)), 1e8f);
        if (mask && mask[m]) t = mvae_mul(ctx, t, mask[m]); /* mask [B,1] broadcasts over D */
        mvae_tensor *mt = mvae_mul(ctx, mu[m], t);
        T = T ? mvae_add(ctx, T, t) : t;
        num = num ? mvae_add(ctx, num, mt) : mt;
    }
    if (B < 0) {
        mvae_ctx_fail(ctx, "poe: no expert given for this subset");
        return MVAE_ERR_INVALID;
    }
    if (p->prior_expert) {
        T = mvae_add_scalar(ctx, T, 1.0f);
    } else if (mask) {
        /* without the prior expert a sample with no expert present has T = 0 (0/0 below): give
         * such rows T = 1 (mu = 0, logvar = 0). The core marks them invalid (weight 0). */
        mvae_tensor *fix = mvae_tensor_new(ctx, 2, (int64_t[]){B, 1});
        int n_fix = 0;
        if (!fix) return MVAE_ERR_NOMEM;
        for (int64_t i = 0; i < B; i++) {
            bool any = false;
            for (int m = 0; m < n && !any; m++)
                if (mu[m]) any = !mask[m] || mask[m]->data[i] > 0;
            fix->data[i] = any ? 0.0f : 1.0f;
            n_fix += !any;
        }
        if (n_fix) T = mvae_add(ctx, T, fix);
    }
    memset(out, 0, sizeof *out);
    out->mu = mvae_div(ctx, num, T);
    out->logvar = mvae_scale(ctx, mvae_log(ctx, T), -1.0f);
    return mvae_ctx_failed(ctx) ? MVAE_ERR_INVALID : MVAE_OK;
}

static mvae_tensor *poe_sample(void *self, mvae_ctx *ctx, const mvae_posterior *q, mvae_rng *rng) {
    (void)self;
    if (!q->mu) return NULL;
    mvae_tensor *eps = mvae_tensor_new(ctx, q->mu->ndim, q->mu->shape);
    mvae_noise_fill(ctx, rng, eps); /* a rank's slice of the global batch's noise (mvae/dist.h) */
    return mvae_gaussian_sample(ctx, q->mu, q->logvar, eps);
}

static mvae_tensor *poe_kl(void *self, mvae_ctx *ctx, const mvae_posterior *q, mvae_tensor *z) {
    (void)self;
    (void)z;
    return mvae_kl_normal(ctx, q->mu, q->logvar);
}

static mvae_tensor *poe_log_q(void *self, mvae_ctx *ctx, const mvae_posterior *q, mvae_tensor *z) {
    (void)self;
    return mvae_gaussian_logp(ctx, z, q->mu, q->logvar);
}

static mvae_tensor *poe_mean(void *self, mvae_ctx *ctx, const mvae_posterior *q) {
    (void)self;
    (void)ctx;
    return q->mu;
}

static const mvae_fusion_vtable vt = {
    .create = poe_create, .destroy = poe_destroy, .fuse = poe_fuse, .sample = poe_sample,
    .kl = poe_kl, .log_q = poe_log_q, .mean = poe_mean,
};
static const mvae_option opts[] = {
    {"prior_expert", MVAE_OPT_BOOL, "true", "multiply in a N(0, I) prior expert", NULL, false, NULL, NULL},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_FUSION, "poe", "1.0.0",
    "product of Gaussian experts with a N(0,I) prior expert (Wu & Goodman 2018)", &vt, opts);
MVAE_PLUGIN_DEFINE(fusion_poe, desc)
