/* ops_conv.c — STUB: to be implemented (each constructor records "not implemented"). */
#include "ops_internal.h"

mvae_tensor *mvae_conv2d(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b, int stride, int pad) {
    (void)x;
    (void)w;
    (void)b;
    (void)stride;
    (void)pad;
    return mvae_ctx_fail(ctx, "conv2d: not implemented");
}
void mvae_bw_conv2d(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_conv_transpose2d(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b, int stride, int pad, int output_pad) {
    (void)x;
    (void)w;
    (void)b;
    (void)stride;
    (void)pad;
    (void)output_pad;
    return mvae_ctx_fail(ctx, "conv_transpose2d: not implemented");
}
void mvae_bw_conv_transpose2d(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_batchnorm(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *gamma, mvae_tensor *beta, float *running_mean, float *running_var, float momentum, float eps) {
    (void)x;
    (void)gamma;
    (void)beta;
    (void)running_mean;
    (void)running_var;
    (void)momentum;
    (void)eps;
    return mvae_ctx_fail(ctx, "batchnorm: not implemented");
}
void mvae_bw_batchnorm(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_dropout(mvae_ctx *ctx, mvae_tensor *x, float p, struct mvae_rng *rng) {
    (void)x;
    (void)p;
    (void)rng;
    return mvae_ctx_fail(ctx, "dropout: not implemented");
}
void mvae_bw_dropout(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }
