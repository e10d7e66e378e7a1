/* ops_elementwise.c — STUB: to be implemented (each constructor records "not implemented"). */
#include "ops_internal.h"

mvae_tensor *mvae_add(mvae_ctx *ctx, mvae_tensor *a, mvae_tensor *b) {
    (void)a;
    (void)b;
    return mvae_ctx_fail(ctx, "add: not implemented");
}
void mvae_bw_add(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_sub(mvae_ctx *ctx, mvae_tensor *a, mvae_tensor *b) {
    (void)a;
    (void)b;
    return mvae_ctx_fail(ctx, "sub: not implemented");
}
void mvae_bw_sub(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_mul(mvae_ctx *ctx, mvae_tensor *a, mvae_tensor *b) {
    (void)a;
    (void)b;
    return mvae_ctx_fail(ctx, "mul: not implemented");
}
void mvae_bw_mul(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_div(mvae_ctx *ctx, mvae_tensor *a, mvae_tensor *b) {
    (void)a;
    (void)b;
    return mvae_ctx_fail(ctx, "div: not implemented");
}
void mvae_bw_div(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_scale(mvae_ctx *ctx, mvae_tensor *a, float s) {
    (void)a;
    (void)s;
    return mvae_ctx_fail(ctx, "scale: not implemented");
}
void mvae_bw_scale(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_add_scalar(mvae_ctx *ctx, mvae_tensor *a, float s) {
    (void)a;
    (void)s;
    return mvae_ctx_fail(ctx, "add_scalar: not implemented");
}
void mvae_bw_add_scalar(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_exp(mvae_ctx *ctx, mvae_tensor *a) {
    (void)a;
    return mvae_ctx_fail(ctx, "exp: not implemented");
}
void mvae_bw_exp(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_log(mvae_ctx *ctx, mvae_tensor *a) {
    (void)a;
    return mvae_ctx_fail(ctx, "log: not implemented");
}
void mvae_bw_log(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_sqrt(mvae_ctx *ctx, mvae_tensor *a) {
    (void)a;
    return mvae_ctx_fail(ctx, "sqrt: not implemented");
}
void mvae_bw_sqrt(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_square(mvae_ctx *ctx, mvae_tensor *a) {
    (void)a;
    return mvae_ctx_fail(ctx, "square: not implemented");
}
void mvae_bw_square(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_reciprocal(mvae_ctx *ctx, mvae_tensor *a) {
    (void)a;
    return mvae_ctx_fail(ctx, "reciprocal: not implemented");
}
void mvae_bw_reciprocal(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_relu(mvae_ctx *ctx, mvae_tensor *a) {
    (void)a;
    return mvae_ctx_fail(ctx, "relu: not implemented");
}
void mvae_bw_relu(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_leaky_relu(mvae_ctx *ctx, mvae_tensor *a, float slope) {
    (void)a;
    (void)slope;
    return mvae_ctx_fail(ctx, "leaky_relu: not implemented");
}
void mvae_bw_leaky_relu(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_elu(mvae_ctx *ctx, mvae_tensor *a, float alpha) {
    (void)a;
    (void)alpha;
    return mvae_ctx_fail(ctx, "elu: not implemented");
}
void mvae_bw_elu(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_swish(mvae_ctx *ctx, mvae_tensor *a) {
    (void)a;
    return mvae_ctx_fail(ctx, "swish: not implemented");
}
void mvae_bw_swish(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_sigmoid(mvae_ctx *ctx, mvae_tensor *a) {
    (void)a;
    return mvae_ctx_fail(ctx, "sigmoid: not implemented");
}
void mvae_bw_sigmoid(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_tanh(mvae_ctx *ctx, mvae_tensor *a) {
    (void)a;
    return mvae_ctx_fail(ctx, "tanh: not implemented");
}
void mvae_bw_tanh(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_softplus(mvae_ctx *ctx, mvae_tensor *a) {
    (void)a;
    return mvae_ctx_fail(ctx, "softplus: not implemented");
}
void mvae_bw_softplus(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_softmax(mvae_ctx *ctx, mvae_tensor *a, int axis) {
    (void)a;
    (void)axis;
    return mvae_ctx_fail(ctx, "softmax: not implemented");
}
void mvae_bw_softmax(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_log_softmax(mvae_ctx *ctx, mvae_tensor *a, int axis) {
    (void)a;
    (void)axis;
    return mvae_ctx_fail(ctx, "log_softmax: not implemented");
}
void mvae_bw_log_softmax(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }
