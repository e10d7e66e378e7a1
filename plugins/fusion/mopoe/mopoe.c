/* fusion/mopoe — mixture of products of experts (Sutter, Daunhawer & Vogt 2021, "Generalized
 * Multimodal ELBO", ICLR 2021).
 *
 *   q(z | x_S) = sum_{s subset of S, s non-empty} w_s PoE_s(z),
 *   PoE_s = N(0, I) * prod_{m in s} q(z | x_m)   (the prior expert with `prior_expert: true`)
 *
 * Per sample, only the subsets whose modalities are all present get weight, uniformly: a sample
 * with n present modalities of S has 2^n - 1 components of weight 1 / (2^n - 1). The products of
 * the other subsets are still computed (finite: absent inputs are zeros) and weighted 0. At most
 * 6 modalities (63 components). Sampling, KL estimate, log q and mean as fusion/moe (stratified:
 * one draw per component, or k with `k: k`; shared code in ../mixture.h).
 */
#include "../mixture.h"

#include <stdlib.h>

#define MOPOE_MAX_MOD 6

typedef struct mopoe {
    int latent_dim, k;
    bool prior_expert;
} mopoe;

static int mopoe_create(const mvae_cfg_node *opts, int latent_dim, int n_modalities, void **self,
                        mvae_error *err) {
    if (n_modalities > MOPOE_MAX_MOD)
        return mvae_error_set(err, MVAE_ERR_INVALID,
                              "%d modalities, at most %d supported (2^M - 1 = %d "
                              "subsets would be mixture components); use fusion moe or poe",
                              n_modalities, MOPOE_MAX_MOD, (1 << (n_modalities < 30 ? n_modalities : 30)) - 1);
    int k = 1;
    bool prior = true;
    int rc = mix_read_options(opts, &k, err);
    if (rc) return rc;
    if (opts && mvae_cfg_bool_or(opts, "prior_expert", true, &prior, err)) return MVAE_ERR_INVALID;
    mopoe *p = calloc(1, sizeof *p);
    if (!p) return mvae_error_set(err, MVAE_ERR_NOMEM, "out of memory");
    p->latent_dim = latent_dim;
    p->k = k;
    p->prior_expert = prior;
    *self = p;
    return MVAE_OK;
}

static void mopoe_destroy(void *self) { free(self); }

static int mopoe_fuse(void *self, mvae_ctx *ctx, int n, mvae_tensor *const *mu,
                      mvae_tensor *const *logvar, mvae_tensor *const *mask, mvae_posterior *out) {
    mopoe *p = self;
    memset(out, 0, sizeof *out);
    int idx[MOPOE_MAX_MOD], M = 0;
    int64_t B = -1;
    mvae_tensor *T[MOPOE_MAX_MOD], *muT[MOPOE_MAX_MOD];
    for (int m = 0; m < n; m++) {
        if (!mu[m]) continue;
        if (M == MOPOE_MAX_MOD) {
            mvae_ctx_fail(ctx, "mopoe: more than %d experts in one subset", MOPOE_MAX_MOD);
            return MVAE_ERR_INVALID;
        }
        B = mu[m]->shape[0];
        T[M] = mvae_exp(ctx, mvae_scale(ctx, logvar[m], -1.0f)); /* precision */
        muT[M] = mvae_mul(ctx, mu[m], T[M]);
        idx[M++] = m;
    }
    if (M == 0) {
        mvae_ctx_fail(ctx, "mopoe: no expert given for this subset");
        return MVAE_ERR_INVALID;
    }
    int C = (1 << M) - 1;
    out->n_comp = C;
    for (int s = 1; s <= C; s++) {
        int c = s - 1;
        if (__builtin_popcount((unsigned)s) == 1 && !p->prior_expert) {
            int j = __builtin_ctz((unsigned)s); /* a single expert: itself */
            out->comp_mu[c] = mu[idx[j]];
            out->comp_logvar[c] = logvar[idx[j]];
            continue;
        }
        mvae_tensor *Ts = NULL, *num = NULL;
        for (int j = 0; j < M; j++) {
            if (!(s & (1 << j))) continue;
            Ts = Ts ? mvae_add(ctx, Ts, T[j]) : T[j];
            num = num ? mvae_add(ctx, num, muT[j]) : muT[j];
        }
        if (p->prior_expert) Ts = mvae_add_scalar(ctx, Ts, 1.0f);
        out->comp_mu[c] = mvae_div(ctx, num, Ts);
        out->comp_logvar[c] = mvae_scale(ctx, mvae_log(ctx, Ts), -1.0f);
    }
    float *w = mvae_ctx_alloc(ctx, (size_t)C * (size_t)B * sizeof *w);
    if (!w) return MVAE_ERR_NOMEM;
    for (int64_t i = 0; i < B; i++) {
        unsigned have = 0;
        for (int j = 0; j < M; j++) {
            const mvae_tensor *mk = mask ? mask[idx[j]] : NULL;
            if (!mk || mk->data[i] > 0) have |= 1u << j;
        }
        int cnt = (1 << __builtin_popcount(have)) - 1;
        for (int s = 1; s <= C; s++)
            w[(int64_t)(s - 1) * B + i] = cnt && ((unsigned)s & ~have) == 0 ? 1.0f / (float)cnt : 0.0f;
    }
    int rc = mix_set_weights(ctx, out, B, w, p->k);
    if (rc) return rc;
    return mvae_ctx_failed(ctx) ? MVAE_ERR_INVALID : MVAE_OK;
}

static mvae_tensor *mopoe_sample(void *self, mvae_ctx *ctx, const mvae_posterior *q, mvae_rng *rng) {
    (void)self;
    return mix_sample(ctx, q, rng);
}

static mvae_tensor *mopoe_kl(void *self, mvae_ctx *ctx, const mvae_posterior *q, mvae_tensor *z) {
    (void)self;
    return mix_kl(ctx, q, z);
}

static mvae_tensor *mopoe_log_q(void *self, mvae_ctx *ctx, const mvae_posterior *q, mvae_tensor *z) {
    (void)self;
    return mix_log_q(ctx, q, z);
}

static mvae_tensor *mopoe_mean(void *self, mvae_ctx *ctx, const mvae_posterior *q) {
    (void)self;
    return mix_mean(ctx, q);
}

static const mvae_fusion_vtable vt = {
    .create = mopoe_create, .destroy = mopoe_destroy, .fuse = mopoe_fuse, .sample = mopoe_sample,
    .kl = mopoe_kl, .log_q = mopoe_log_q, .mean = mopoe_mean,
};
static const mvae_option opts[] = {
    {"prior_expert", MVAE_OPT_BOOL, "true", "multiply a N(0, I) prior expert into every product",
     NULL, false, NULL, NULL},
    {"k", MVAE_OPT_INT, "1", "reparameterised draws per component (averaged)", NULL, false, NULL, "[1, 64]"},
    {NULL, 0, NULL, NULL, NULL, false, NULL, NULL},
};
static const mvae_plugin_desc desc = MVAE_PLUGIN_DESC(
    MVAE_PLUGIN_FUSION, "mopoe", "1.0.0",
    "mixture of products of experts over all subsets (Sutter et al. 2021)", &vt, opts);
MVAE_PLUGIN_DEFINE(fusion_mopoe, desc)
