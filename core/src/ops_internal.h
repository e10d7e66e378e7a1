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
    X(gaussian_logp) X(laplace_logp) X(categorical_logp) X(impartial)       \
    X(affine_coupling) X(coupling_logdet) X(soft_clamp) X(actnorm) X(kl_gaussians) X(cbernoulli_logp)
MVAE_OPS_LIST(MVAE_X)
#undef MVAE_X

/* out->src[k] = t for a source an op attaches after mvae_op_output (one it reads in backward
 * without being recorded through it: noise, targets, the GRU's real inputs), counted as a reader
 * (`uses`) as op_record counts the others. */
void mvae_op_attach_source(mvae_tensor *out, int k, mvae_tensor *t);

/* mvae_grad_fresh for an op whose backward reads each element of x before it writes the same
 * element of x's gradient (a chunk's values are consumed before the chunk's gradient is stored):
 * when x's values are dead after this backward (recycle_values on, this op x's only reader, x an
 * op output whose own backward ignores its values), the gradient takes x's block in place (the
 * caller keeps its own pointer to the values; x->data reads NULL from here on) and *fresh is set. */
float *mvae_grad_in_place(mvae_ctx *ctx, mvae_tensor *x, bool *fresh);

/* Activations as array kernels, for the ops that apply one to their input (mvae_linear_act,
 * mvae_conv2d_act, mvae_conv_transpose2d_act); split between the GEMM threads for large n.
 * Same formulas as the unary ops (leaky_relu slope 0.2, elu alpha 1, as mvae_activate).
 *   mvae_act_apply:        y = act(x)
 *   mvae_act_apply_deriv:  y = act(x) and d = act'(x) in one pass (d may be NULL)
 *   mvae_act_mul_deriv:    dx (=, or += when accumulate) g * d */
bool mvae_act_valid(int act);
void mvae_act_apply(int act, const float *x, float *y, int64_t n);
void mvae_act_apply_deriv(int act, const float *x, float *y, float *d, int64_t n);
void mvae_act_mul_deriv(const float *g, const float *d, float *dx, int64_t n, bool accumulate);

/* The Bernoulli log-probability kernel (ops_prob.c), shared by bernoulli_logp and
 * cbernoulli_logp: out[b] = sum_j (x l - softplus(l) + c(l)) over row b of logits [B, ...] against
 * row b mod Bx of x [Bx, ...] (Bx divides B), recorded as op `op` with errors naming `name`.
 * log_norm = c, a per-element log-normaliser, or NULL for none (plain Bernoulli: the terms are
 * summed as floats in 16 lanes; with c every term is summed in double). The backward adds
 * g (x - sigmoid(l) + c'(l)) to the logits' gradient; log_norm_grad = c', NULL with c NULL. */
mvae_tensor *mvae_bernoulli_logp_kernel(mvae_ctx *ctx, int op, const char *name, mvae_tensor *logits,
                                        mvae_tensor *x, double (*log_norm)(double));
void mvae_bernoulli_logp_kernel_bw(mvae_ctx *ctx, mvae_tensor *out, double (*log_norm_grad)(double));

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

#include "fastmath.h"

/* Sum of n floats in 16 independent lanes (vectorised; error like a pairwise sum for n ~ 1e3). */
static inline double mvae_sum_lanes(const float *x, int64_t n) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += x[i + k];
    double s = 0;
    for (; i < n; i++) s += x[i];
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}

/* Numerically stable helpers (built on the vectorisable exp/log) */
static inline float mvae_sigmoidf(float x) { return 1.0f / (1.0f + mvae_fast_expf(-x)); }
static inline float mvae_softplusf(float x) {
    /* log(1+e^x) = max(x,0) + log(1 + e^-|x|) */
    float ax = x < 0 ? -x : x;
    float u = mvae_fast_expf(-ax), t = 1.0f + u;
    /* log1p(u) = log(t) * u / (t - 1) corrects the rounding of 1 + u (Goldberg 1991) */
    float d = t - 1.0f;
    float q = u / (d == 0.0f ? 1.0f : d); /* both branches computed: a select, no trap, vectorises */
    float l1p = d == 0.0f ? u : mvae_fast_logf(t) * q;
    return (x > 0 ? x : 0.0f) + l1p;
}
#endif
