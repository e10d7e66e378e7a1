/* mvae/ops.h — every differentiable op: one constructor here, one forward kernel (inside the
 * constructor), one backward kernel, one row of the op table (src/ops_table.c).
 *
 *   mvae_tensor *h = mvae_swish(ctx, mvae_linear(ctx, x, W, b));  // [B,in] -> [B,out]
 *
 * Conventions
 *  - Shapes are row-major, shape[0] outermost; images are [B, C, H, W].
 *  - Binary elementwise ops broadcast like NumPy/PyTorch (align trailing dims; size-1 dims expand).
 *  - `axis` may be negative (counts from the end).
 *  - Every constructor returns NULL (and records an error in ctx naming the op and the shapes) on a
 *    NULL input, a shape mismatch or a wrong dtype.
 *  - Index tensors (labels, token ids) are MVAE_I32.
 *  - Every op has a finite-difference gradient check in tests/ (label `gradcheck`).
 *
 * To add an op: add MVAE_OP_X to the enum (before MVAE_OP_COUNT), declare the constructor here,
 * implement constructor + backward in one src/ops_*.c file, add the row in src/ops_table.c, and a
 * MVAE_GRADCHECK_OP(x) test. The table is _Static_assert-ed against MVAE_OP_COUNT.
 */
#ifndef MVAE_OPS_H
#define MVAE_OPS_H

#include "mvae/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mvae_op {
    MVAE_OP_NONE = 0,
    /* linear algebra */
    MVAE_OP_MATMUL,
    MVAE_OP_LINEAR,
    /* broadcast binary */
    MVAE_OP_ADD,
    MVAE_OP_SUB,
    MVAE_OP_MUL,
    MVAE_OP_DIV,
    /* scalar */
    MVAE_OP_SCALE,
    MVAE_OP_ADD_SCALAR,
    /* reductions */
    MVAE_OP_SUM,
    MVAE_OP_MEAN,
    MVAE_OP_SUM_ALL,
    MVAE_OP_MEAN_ALL,
    MVAE_OP_LOGSUMEXP,
    /* unary */
    MVAE_OP_EXP,
    MVAE_OP_LOG,
    MVAE_OP_SQRT,
    MVAE_OP_SQUARE,
    MVAE_OP_RECIPROCAL,
    MVAE_OP_RELU,
    MVAE_OP_LEAKY_RELU,
    MVAE_OP_ELU,
    MVAE_OP_SWISH,
    MVAE_OP_SIGMOID,
    MVAE_OP_TANH,
    MVAE_OP_SOFTPLUS,
    MVAE_OP_SOFTMAX,
    MVAE_OP_LOG_SOFTMAX,
    /* shape */
    MVAE_OP_RESHAPE,
    MVAE_OP_PERMUTE,
    MVAE_OP_CONCAT,
    MVAE_OP_SLICE,
    MVAE_OP_GATHER,
    /* convolution and normalisation */
    MVAE_OP_CONV2D,
    MVAE_OP_CONV_TRANSPOSE2D,
    MVAE_OP_BATCHNORM,
    MVAE_OP_DROPOUT,
    MVAE_OP_GRU_CELL,
    /* distributions */
    MVAE_OP_GAUSSIAN_SAMPLE,
    MVAE_OP_KL_NORMAL,
    MVAE_OP_BERNOULLI_LOGP,
    MVAE_OP_GAUSSIAN_LOGP,
    MVAE_OP_LAPLACE_LOGP,
    MVAE_OP_CATEGORICAL_LOGP,
    MVAE_OP_IMPARTIAL, /* impartiality block (mvae/impartial.h): K branches of a shared tensor */
    MVAE_OP_KL_GAUSSIANS,
    MVAE_OP_CBERNOULLI_LOGP,
    /* normalising flows (ops_flow.c) */
    MVAE_OP_AFFINE_COUPLING,
    MVAE_OP_COUPLING_LOGDET,
    MVAE_OP_SOFT_CLAMP,
    MVAE_OP_ACTNORM,
    MVAE_OP_COUNT
} mvae_op;

typedef void (*mvae_backward_fn)(mvae_ctx *ctx, mvae_tensor *out);
typedef struct mvae_op_info {
    const char *name;
    mvae_backward_fn backward; /* NULL for MVAE_OP_NONE only */
} mvae_op_info;
extern const mvae_op_info mvae_op_table[MVAE_OP_COUNT];
const char *mvae_op_name(int op);

/* Activations for mvae_activate (nn.h) and the fused *_act ops below. */
typedef enum mvae_activation {
    MVAE_ACT_NONE = 0,
    MVAE_ACT_RELU,
    MVAE_ACT_LEAKY_RELU, /* slope 0.2 */
    MVAE_ACT_ELU,
    MVAE_ACT_SWISH,
    MVAE_ACT_SIGMOID,
    MVAE_ACT_TANH,
    MVAE_ACT_SOFTPLUS,
} mvae_activation;

/* ---- linear algebra (mvae's GEMM) ---- */
/* a [M,K] (or [K,M] if trans_a), b [K,N] (or [N,K] if trans_b) -> [M,N] */
mvae_tensor *mvae_matmul(mvae_ctx *ctx, mvae_tensor *a, mvae_tensor *b, bool trans_a, bool trans_b);
/* x [B,in], W [out,in] (PyTorch layout), b [out] or NULL -> [B,out] = x W^T + b */
mvae_tensor *mvae_linear(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *W, mvae_tensor *b);
/* act(x) W^T + b with the activation fused in as the op's input stage: only x (the previous
 * layer's pre-activation) is kept for backward, which recomputes act(x) in scratch. The same
 * values as mvae_linear(mvae_activate(x, act), W, b) with one activation-sized tensor less alive
 * per layer. act = MVAE_ACT_NONE is mvae_linear. */
mvae_tensor *mvae_linear_act(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *W, mvae_tensor *b, int act);

/* ---- broadcast binary ---- */
mvae_tensor *mvae_add(mvae_ctx *ctx, mvae_tensor *a, mvae_tensor *b);
mvae_tensor *mvae_sub(mvae_ctx *ctx, mvae_tensor *a, mvae_tensor *b);
mvae_tensor *mvae_mul(mvae_ctx *ctx, mvae_tensor *a, mvae_tensor *b);
mvae_tensor *mvae_div(mvae_ctx *ctx, mvae_tensor *a, mvae_tensor *b);

/* ---- scalar ---- */
mvae_tensor *mvae_scale(mvae_ctx *ctx, mvae_tensor *a, float s);      /* a * s */
mvae_tensor *mvae_add_scalar(mvae_ctx *ctx, mvae_tensor *a, float s); /* a + s */

/* ---- reductions ---- */
mvae_tensor *mvae_sum(mvae_ctx *ctx, mvae_tensor *a, int axis, bool keepdim);
mvae_tensor *mvae_mean(mvae_ctx *ctx, mvae_tensor *a, int axis, bool keepdim);
mvae_tensor *mvae_sum_all(mvae_ctx *ctx, mvae_tensor *a);  /* -> [1] */
mvae_tensor *mvae_mean_all(mvae_ctx *ctx, mvae_tensor *a); /* -> [1] */
/* log(sum(exp(a), axis)), stable */
mvae_tensor *mvae_logsumexp(mvae_ctx *ctx, mvae_tensor *a, int axis, bool keepdim);

/* ---- unary ---- */
mvae_tensor *mvae_exp(mvae_ctx *ctx, mvae_tensor *a);
mvae_tensor *mvae_log(mvae_ctx *ctx, mvae_tensor *a);
mvae_tensor *mvae_sqrt(mvae_ctx *ctx, mvae_tensor *a);
mvae_tensor *mvae_square(mvae_ctx *ctx, mvae_tensor *a);
mvae_tensor *mvae_reciprocal(mvae_ctx *ctx, mvae_tensor *a);
mvae_tensor *mvae_relu(mvae_ctx *ctx, mvae_tensor *a);
mvae_tensor *mvae_leaky_relu(mvae_ctx *ctx, mvae_tensor *a, float slope);
mvae_tensor *mvae_elu(mvae_ctx *ctx, mvae_tensor *a, float alpha);
mvae_tensor *mvae_swish(mvae_ctx *ctx, mvae_tensor *a); /* x * sigmoid(x) (SiLU) */
mvae_tensor *mvae_sigmoid(mvae_ctx *ctx, mvae_tensor *a);
mvae_tensor *mvae_tanh(mvae_ctx *ctx, mvae_tensor *a);
mvae_tensor *mvae_softplus(mvae_ctx *ctx, mvae_tensor *a); /* log(1 + e^x), stable */
mvae_tensor *mvae_softmax(mvae_ctx *ctx, mvae_tensor *a, int axis);
mvae_tensor *mvae_log_softmax(mvae_ctx *ctx, mvae_tensor *a, int axis);

/* ---- shape ---- */
/* New shape with the same number of elements; one entry may be -1. */
mvae_tensor *mvae_reshape(mvae_ctx *ctx, mvae_tensor *a, int ndim, const int64_t *shape);
/* out.shape[i] = a.shape[perm[i]] */
mvae_tensor *mvae_permute(mvae_ctx *ctx, mvae_tensor *a, const int *perm);
mvae_tensor *mvae_transpose(mvae_ctx *ctx, mvae_tensor *a, int d0, int d1); /* via permute */
/* n tensors (n <= 4 per call) equal except along axis */
mvae_tensor *mvae_concat(mvae_ctx *ctx, int n, mvae_tensor **ts, int axis);
/* a[..., start:end, ...] along axis */
mvae_tensor *mvae_slice(mvae_ctx *ctx, mvae_tensor *a, int axis, int64_t start, int64_t end);
/* Rows of table [V, D] picked by idx (I32, any shape S, values in [0,V)) -> [S..., D].
 * Embedding lookup; backward scatters-adds into table. */
mvae_tensor *mvae_gather(mvae_ctx *ctx, mvae_tensor *table, mvae_tensor *idx);

/* ---- convolution and normalisation ---- */
/* x [B,C,H,W], w [O,C,kh,kw], b [O] or NULL -> [B,O,Ho,Wo], Ho = (H + 2p - kh)/s + 1 */
mvae_tensor *mvae_conv2d(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b,
                         int stride, int pad);
/* x [B,C,H,W], w [C,O,kh,kw] (PyTorch layout), b [O] or NULL -> [B,O,Ho,Wo],
 * Ho = (H-1)s - 2p + kh + output_pad */
mvae_tensor *mvae_conv_transpose2d(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b,
                                   int stride, int pad, int output_pad);
/* The same with act applied to x first, fused as for mvae_linear_act (x kept, act(x) recomputed
 * chunk by chunk in backward). */
mvae_tensor *mvae_conv2d_act(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b, int stride,
                             int pad, int act);
mvae_tensor *mvae_conv_transpose2d_act(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b,
                                       int stride, int pad, int output_pad, int act);
/* Batch normalisation over every dim but 1 (x [B,C] or [B,C,H,W]); gamma, beta [C].
 * Training (mvae_ctx_training): normalise by batch statistics (biased variance) and update
 * running_mean/running_var in place (unbiased variance, PyTorch's momentum convention:
 * r = (1-m) r + m s). Eval: use the running statistics. running_* are caller-owned float[C]. */
mvae_tensor *mvae_batchnorm(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *gamma, mvae_tensor *beta,
                            float *running_mean, float *running_var, float momentum, float eps);
/* Inverted dropout: in training, zero with probability p and scale by 1/(1-p); identity in eval. */
struct mvae_rng;
mvae_tensor *mvae_dropout(mvae_ctx *ctx, mvae_tensor *x, float p, struct mvae_rng *rng);
/* One GRU step with PyTorch's equations:
 *   r = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
 *   z = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
 *   n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
 *   h' = (1 - z) * n + z * h
 * x [B,I], h [B,H], w_ih [3H,I], w_hh [3H,H] (rows in r,z,n order), b_ih, b_hh [3H] -> [B,H] */
mvae_tensor *mvae_gru_cell(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *h, mvae_tensor *w_ih,
                           mvae_tensor *w_hh, mvae_tensor *b_ih, mvae_tensor *b_hh);

/* ---- distributions (per-sample sums over every dim but 0 -> [B]) ---- */
/* Reparameterised sample: mu + exp(0.5 logvar) * eps; eps caller-filled N(0,1) of mu's shape. */
mvae_tensor *mvae_gaussian_sample(mvae_ctx *ctx, mvae_tensor *mu, mvae_tensor *logvar,
                                  mvae_tensor *eps);
/* KL(N(mu, exp(logvar)) || N(0, I)) = -0.5 sum(1 + logvar - mu^2 - exp(logvar)) -> [B] */
mvae_tensor *mvae_kl_normal(mvae_ctx *ctx, mvae_tensor *mu, mvae_tensor *logvar);
/* log Bernoulli(x | sigmoid(logits)) = sum(x*l - softplus(l)), stable; x in [0,1] (soft targets
 * allowed, as PyTorch's BCE-with-logits). Gradient flows to logits only. */
mvae_tensor *mvae_bernoulli_logp(mvae_ctx *ctx, mvae_tensor *logits, mvae_tensor *x);
/* log N(x | mu, exp(logvar)) summed -> [B]; logvar may be NULL (= 0, unit variance) or
 * broadcast ([D] or same shape). Gradient to mu and logvar. */
mvae_tensor *mvae_gaussian_logp(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *mu,
                                mvae_tensor *logvar);
/* log Laplace(x | loc, exp(logscale)) summed -> [B]; logscale NULL = 0. Gradient to loc, logscale. */
mvae_tensor *mvae_laplace_logp(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *loc,
                               mvae_tensor *logscale);
/* log softmax(logits)[idx] -> [B] for logits [B,K], idx I32 [B]; also logits [B,T,K] with idx
 * [B,T] summed over T, positions with idx < 0 skipped (padding). Gradient to logits. */
mvae_tensor *mvae_categorical_logp(mvae_ctx *ctx, mvae_tensor *logits, mvae_tensor *idx);
/* KL(N(mu1, exp(lv1)) || N(mu2, exp(lv2))) = 0.5 sum(lv2 - lv1 + (exp(lv1) + (mu1 - mu2)^2) exp(-lv2) - 1)
 * -> [B]; all four of the same shape. Gradient to all four (JMVAE-kl and VAEVAE's KL between a
 * joint and a unimodal posterior). */
mvae_tensor *mvae_kl_gaussians(mvae_ctx *ctx, mvae_tensor *mu1, mvae_tensor *lv1, mvae_tensor *mu2,
                               mvae_tensor *lv2);
/* log ContinuousBernoulli(x | sigmoid(logits)) (Loaiza-Ganem & Cunningham 2019) summed -> [B]:
 * sum(x*l - softplus(l) + log C(l)), with the log-normaliser in logits
 *   log C(l) = log(l / tanh(l / 2))   (= log 2 at l = 0, i.e. lambda = 1/2),
 * a Taylor series near l = 0. x in [0,1], with the logits' shape or fewer rows (as bernoulli_logp).
 * Gradient to logits only. */
mvae_tensor *mvae_cbernoulli_logp(mvae_ctx *ctx, mvae_tensor *logits, mvae_tensor *x);
/* The scalar pieces, in double (tests, the likelihood's mean): log C(l) and d log C / dl. */
double mvae_cbernoulli_log_norm(double l);
double mvae_cbernoulli_log_norm_grad(double l);
/* The mean of ContinuousBernoulli(sigmoid(l)): 1/2 + (coth(l/2) - 2/l) / 2 (Taylor near l = 0). */
double mvae_cbernoulli_mean(double l);

/* ---- normalising flows (RealNVP, Dinh et al. 2017; Glow, Kingma & Dhariwal 2018) ----
 * Tensors are [R, ...] with D = n / R features per row; mask, bias and logscale hold D values
 * (any shape). The *_inverse functions compute the exact inverse WITHOUT a gradient (nothing is
 * recorded): they are for sampling, which runs the flow backwards. */
/* Affine coupling: y = m x + (1 - m) (x exp(s) + t), m a constant 0/1 mask (the half that
 * conditions s and t passes through). x, s, t the same shape. Gradient to x, s, t. */
mvae_tensor *mvae_affine_coupling(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *s, mvae_tensor *t,
                                  mvae_tensor *mask);
/* x = m y + (1 - m) (y - t) exp(-s): the inverse of mvae_affine_coupling for the same s, t. */
mvae_tensor *mvae_affine_coupling_inverse(mvae_ctx *ctx, mvae_tensor *y, mvae_tensor *s, mvae_tensor *t,
                                          mvae_tensor *mask);
/* log|det dy/dx| of the coupling: sum_j (1 - m_j) s[r, j] -> [R]. Gradient to s. */
mvae_tensor *mvae_coupling_logdet(mvae_ctx *ctx, mvae_tensor *s, mvae_tensor *mask);
/* bound * tanh(a / bound): a bounded log-scale, ~a near 0 (a stable scale for couplings). */
mvae_tensor *mvae_soft_clamp(mvae_ctx *ctx, mvae_tensor *a, float bound);
/* Actnorm (Glow), per feature: y = (x + bias) exp(logscale); log|det| per row = sum(logscale).
 * Gradient to x, bias, logscale. */
mvae_tensor *mvae_actnorm(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *bias, mvae_tensor *logscale);
/* x = y exp(-logscale) - bias. */
mvae_tensor *mvae_actnorm_inverse(mvae_ctx *ctx, mvae_tensor *y, mvae_tensor *bias, mvae_tensor *logscale);

#ifdef __cplusplus
}
#endif
#endif
