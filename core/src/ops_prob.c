/* ops_prob.c — STUB: to be implemented (each constructor records "not implemented"). */
#include "ops_internal.h"

mvae_tensor *mvae_gaussian_sample(mvae_ctx *ctx, mvae_tensor *mu, mvae_tensor *logvar, mvae_tensor *eps) {
    (void)mu;
    (void)logvar;
    (void)eps;
    return mvae_ctx_fail(ctx, "gaussian_sample: not implemented");
}
void mvae_bw_gaussian_sample(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_kl_normal(mvae_ctx *ctx, mvae_tensor *mu, mvae_tensor *logvar) {
    (void)mu;
    (void)logvar;
    return mvae_ctx_fail(ctx, "kl_normal: not implemented");
}
void mvae_bw_kl_normal(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_bernoulli_logp(mvae_ctx *ctx, mvae_tensor *logits, mvae_tensor *x) {
    (void)logits;
    (void)x;
    return mvae_ctx_fail(ctx, "bernoulli_logp: not implemented");
}
void mvae_bw_bernoulli_logp(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_gaussian_logp(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *mu, mvae_tensor *logvar) {
    (void)x;
    (void)mu;
    (void)logvar;
    return mvae_ctx_fail(ctx, "gaussian_logp: not implemented");
}
void mvae_bw_gaussian_logp(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_laplace_logp(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *loc, mvae_tensor *logscale) {
    (void)x;
    (void)loc;
    (void)logscale;
    return mvae_ctx_fail(ctx, "laplace_logp: not implemented");
}
void mvae_bw_laplace_logp(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_categorical_logp(mvae_ctx *ctx, mvae_tensor *logits, mvae_tensor *idx) {
    (void)logits;
    (void)idx;
    return mvae_ctx_fail(ctx, "categorical_logp: not implemented");
}
void mvae_bw_categorical_logp(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }
