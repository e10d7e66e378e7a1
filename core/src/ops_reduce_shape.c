/* ops_reduce_shape.c — STUB: to be implemented (each constructor records "not implemented"). */
#include "ops_internal.h"

mvae_tensor *mvae_sum(mvae_ctx *ctx, mvae_tensor *a, int axis, bool keepdim) {
    (void)a;
    (void)axis;
    (void)keepdim;
    return mvae_ctx_fail(ctx, "sum: not implemented");
}
void mvae_bw_sum(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_mean(mvae_ctx *ctx, mvae_tensor *a, int axis, bool keepdim) {
    (void)a;
    (void)axis;
    (void)keepdim;
    return mvae_ctx_fail(ctx, "mean: not implemented");
}
void mvae_bw_mean(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_sum_all(mvae_ctx *ctx, mvae_tensor *a) {
    (void)a;
    return mvae_ctx_fail(ctx, "sum_all: not implemented");
}
void mvae_bw_sum_all(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_mean_all(mvae_ctx *ctx, mvae_tensor *a) {
    (void)a;
    return mvae_ctx_fail(ctx, "mean_all: not implemented");
}
void mvae_bw_mean_all(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_logsumexp(mvae_ctx *ctx, mvae_tensor *a, int axis, bool keepdim) {
    (void)a;
    (void)axis;
    (void)keepdim;
    return mvae_ctx_fail(ctx, "logsumexp: not implemented");
}
void mvae_bw_logsumexp(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_reshape(mvae_ctx *ctx, mvae_tensor *a, int ndim, const int64_t *shape) {
    (void)a;
    (void)ndim;
    (void)shape;
    return mvae_ctx_fail(ctx, "reshape: not implemented");
}
void mvae_bw_reshape(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_permute(mvae_ctx *ctx, mvae_tensor *a, const int *perm) {
    (void)a;
    (void)perm;
    return mvae_ctx_fail(ctx, "permute: not implemented");
}
void mvae_bw_permute(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_transpose(mvae_ctx *ctx, mvae_tensor *a, int d0, int d1) {
    (void)a;
    (void)d0;
    (void)d1;
    return mvae_ctx_fail(ctx, "transpose: not implemented");
}

mvae_tensor *mvae_concat(mvae_ctx *ctx, int n, mvae_tensor **ts, int axis) {
    (void)n;
    (void)ts;
    (void)axis;
    return mvae_ctx_fail(ctx, "concat: not implemented");
}
void mvae_bw_concat(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_slice(mvae_ctx *ctx, mvae_tensor *a, int axis, int64_t start, int64_t end) {
    (void)a;
    (void)axis;
    (void)start;
    (void)end;
    return mvae_ctx_fail(ctx, "slice: not implemented");
}
void mvae_bw_slice(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }

mvae_tensor *mvae_gather(mvae_ctx *ctx, mvae_tensor *table, mvae_tensor *idx) {
    (void)table;
    (void)idx;
    return mvae_ctx_fail(ctx, "gather: not implemented");
}
void mvae_bw_gather(mvae_ctx *ctx, mvae_tensor *out) { (void)ctx; (void)out; }
