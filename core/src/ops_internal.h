/* ops_internal.h — shared by the op implementation files (not installed). */
#ifndef MVAE_OPS_INTERNAL_H
#define MVAE_OPS_INTERNAL_H
#include "mvae/ops.h"
#include "mvae/rng.h"

/* Backward kernels, one per op, referenced by the op table (ops_table.c). Each reads out->grad
 * and ACCUMULATES into the gradients of out->src[i] obtained with mvae_grad(ctx, src) (which is
 * NULL when that input needs no gradient). */
#define MVAE_X(op) void mvae_bw_##op(mvae_ctx *ctx, mvae_tensor *out);
#define MVAE_OPS_LIST(X)                                                                           \
    X(matmul) X(linear) X(add) X(sub) X(mul) X(div) X(scale) X(add_scalar) X(sum) X(mean)         \
    X(sum_all) X(mean_all) X(logsumexp) X(exp) X(log) X(sqrt) X(square) X(reciprocal) X(relu)     \
    X(leaky_relu) X(elu) X(swish) X(sigmoid) X(tanh) X(softplus) X(softmax) X(log_softmax)        \
    X(reshape) X(permute) X(concat) X(slice) X(gather) X(conv2d) X(conv_transpose2d)              \
    X(batchnorm) X(dropout) X(gru_cell) X(gaussian_sample) X(kl_normal) X(bernoulli_logp)         \
    X(gaussian_logp) X(laplace_logp) X(categorical_logp)
MVAE_OPS_LIST(MVAE_X)
#undef MVAE_X

/* Format "[a,b]" shape strings on the stack for error messages. */
#define MVAE_SHP(t, buf) mvae_shape_str((t), (buf), sizeof(buf))

/* Return NULL (silently) if any of the listed inputs is NULL: the error was recorded upstream,
 * or record "op: input is NULL" if the context has no error yet. */
#define MVAE_CHECK_INPUT(ctx, opname, t)                                                          \
    do {                                                                                           \
        if (!(t)) {                                                                                \
            if (!mvae_ctx_failed(ctx)) mvae_ctx_fail((ctx), "%s: input '%s' is NULL", opname, #t); \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)
#define MVAE_CHECK_F32(ctx, opname, t)                                                            \
    do {                                                                                           \
        if ((t)->dtype != MVAE_F32)                                                                \
            return mvae_ctx_fail((ctx), "%s: input '%s' must be float32, got int32", opname, #t);  \
    } while (0)

/* Note: <cblas.h> pulls in <complex.h>, which defines the macro I: do not name a variable I. */

/* Numerically stable helpers */
static inline float mvae_sigmoidf(float x) {
    if (x >= 0) {
        float e = __builtin_expf(-x);
        return 1.0f / (1.0f + e);
    }
    float e = __builtin_expf(x);
    return e / (1.0f + e);
}
static inline float mvae_softplusf(float x) {
    /* log(1+e^x) = max(x,0) + log1p(e^-|x|) */
    return (x > 0 ? x : 0.0f) + __builtin_log1pf(__builtin_expf(-__builtin_fabsf(x)));
}
#endif
