/* ops_elementwise.c — broadcast binary ops, scalar ops, unary activations, softmax/log_softmax.
 *
 * Binary ops broadcast like NumPy: both shapes are right-aligned into 4 dims (leading 1s), each
 * dim pair must be equal or contain a 1, and a size-1 dim gets stride 0. Three layouts get a
 * dedicated contiguous loop (same shape, one side a trailing "row" repeated over the other,
 * which includes scalars); everything else runs the strided 4-level loop. Backward kernels reduce
 * the gradient back to each input's shape by accumulating through the same (stride-0) indexing.
 */
#include "ops_internal.h"

#include "gemm_internal.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Broadcast plan
 * ------------------------------------------------------------------------------------------- */
enum { BC_SAME, BC_B_ROW, BC_A_ROW, BC_GENERIC };

typedef struct bcast {
    int kind;
    int ndim;                    /* output ndim = max(a.ndim, b.ndim) */
    int64_t out[MVAE_MAX_DIMS];  /* output shape, right-aligned in 4 dims */
    int64_t sa[MVAE_MAX_DIMS];   /* element strides of a / b in the 4-dim view (0 = broadcast) */
    int64_t sb[MVAE_MAX_DIMS];
    int64_t n;                   /* output elements */
    int64_t row;                 /* BC_B_ROW: b->n, BC_A_ROW: a->n (period of the small side) */
} bcast;

/* Right-align t's shape into 4 dims. */
static void pad4(const mvae_tensor *t, int64_t p[MVAE_MAX_DIMS]) {
    int off = MVAE_MAX_DIMS - t->ndim;
    for (int d = 0; d < MVAE_MAX_DIMS; d++) p[d] = d < off ? 1 : t->shape[d - off];
}

static void strides4(const int64_t p[MVAE_MAX_DIMS], const int64_t out[MVAE_MAX_DIMS],
                     int64_t s[MVAE_MAX_DIMS]) {
    int64_t st = 1;
    for (int d = MVAE_MAX_DIMS - 1; d >= 0; d--) {
        s[d] = (p[d] == 1 && out[d] != 1) ? 0 : st;
        st *= p[d];
    }
}

/* Is `small` (padded shape p) a trailing block of out: leading 1s then equal to out's dims? */
static bool is_trailing_row(const int64_t p[MVAE_MAX_DIMS], const int64_t out[MVAE_MAX_DIMS]) {
    int d = 0;
    while (d < MVAE_MAX_DIMS && p[d] == 1) d++;
    for (; d < MVAE_MAX_DIMS; d++)
        if (p[d] != out[d]) return false;
    return true;
}

/* Returns false if the shapes do not broadcast. */
static bool bcast_plan(const mvae_tensor *a, const mvae_tensor *b, bcast *bc) {
    int64_t pa[MVAE_MAX_DIMS], pb[MVAE_MAX_DIMS];
    pad4(a, pa);
    pad4(b, pb);
    bc->n = 1;
    for (int d = 0; d < MVAE_MAX_DIMS; d++) {
        if (pa[d] != pb[d] && pa[d] != 1 && pb[d] != 1) return false;
        bc->out[d] = pa[d] > pb[d] ? pa[d] : pb[d];
        bc->n *= bc->out[d];
    }
    bc->ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    strides4(pa, bc->out, bc->sa);
    strides4(pb, bc->out, bc->sb);
    bc->row = 0;
    if (a->n == bc->n && b->n == bc->n)
        bc->kind = BC_SAME;
    else if (a->n == bc->n && is_trailing_row(pb, bc->out)) {
        bc->kind = BC_B_ROW;
        bc->row = b->n;
    } else if (b->n == bc->n && is_trailing_row(pa, bc->out)) {
        bc->kind = BC_A_ROW;
        bc->row = a->n;
    } else
        bc->kind = BC_GENERIC;
    return true;
}

/* Checks shared by the four binary constructors; on success returns the output. */
static mvae_tensor *binary_out(mvae_ctx *ctx, const char *name, int op, mvae_tensor *a,
                               mvae_tensor *b, bcast *bc) {
    MVAE_CHECK_INPUT(ctx, name, a);
    MVAE_CHECK_INPUT(ctx, name, b);
    MVAE_CHECK_F32(ctx, name, a);
    MVAE_CHECK_F32(ctx, name, b);
    if (!bcast_plan(a, b, bc)) {
        char sa[MVAE_SHAPE_STR_LEN], sb[MVAE_SHAPE_STR_LEN];
        return mvae_ctx_fail(ctx, "%s: a %s and b %s: shapes cannot be broadcast together", name,
                             MVAE_SHP(a, sa), MVAE_SHP(b, sb));
    }
    return mvae_op_output(ctx, op, bc->ndim, bc->out + (MVAE_MAX_DIMS - bc->ndim), a, b, NULL, NULL);
}

/* Forward: O = EXPR(x, y) over the broadcast plan. */
#define BINARY_FORWARD(bc, A, B, O, EXPR)                                                          \
    do {                                                                                           \
        const float *A_ = (A), *B_ = (B);                                                          \
        float *O_ = (O);                                                                           \
        switch ((bc)->kind) {                                                                      \
        case BC_SAME:                                                                              \
            for (int64_t i = 0; i < (bc)->n; i++) {                                                \
                float x = A_[i], y = B_[i];                                                        \
                O_[i] = (EXPR);                                                                    \
            }                                                                                      \
            break;                                                                                 \
        case BC_B_ROW: {                                                                           \
            int64_t R_ = (bc)->row;                                                                \
            for (int64_t r = 0; r < (bc)->n; r += R_)                                              \
                for (int64_t j = 0; j < R_; j++) {                                                 \
                    float x = A_[r + j], y = B_[j];                                                \
                    O_[r + j] = (EXPR);                                                            \
                }                                                                                  \
        } break;                                                                                   \
        case BC_A_ROW: {                                                                           \
            int64_t R_ = (bc)->row;                                                                \
            for (int64_t r = 0; r < (bc)->n; r += R_)                                              \
                for (int64_t j = 0; j < R_; j++) {                                                 \
                    float x = A_[j], y = B_[r + j];                                                \
                    O_[r + j] = (EXPR);                                                            \
                }                                                                                  \
        } break;                                                                                   \
        default: {                                                                                 \
            const int64_t *s_ = (bc)->out, *ta_ = (bc)->sa, *tb_ = (bc)->sb;                       \
            int64_t o_ = 0;                                                                        \
            for (int64_t i0 = 0; i0 < s_[0]; i0++)                                                 \
                for (int64_t i1 = 0; i1 < s_[1]; i1++)                                             \
                    for (int64_t i2 = 0; i2 < s_[2]; i2++) {                                       \
                        const float *a_ = A_ + i0 * ta_[0] + i1 * ta_[1] + i2 * ta_[2];            \
                        const float *b_ = B_ + i0 * tb_[0] + i1 * tb_[1] + i2 * tb_[2];            \
                        for (int64_t i3 = 0; i3 < s_[3]; i3++, o_++) {                             \
                            float x = a_[i3 * ta_[3]], y = b_[i3 * tb_[3]];                        \
                            O_[o_] = (EXPR);                                                       \
                        }                                                                          \
                    }                                                                              \
        } break;                                                                                   \
        }                                                                                          \
    } while (0)

/* Backward for one side: GD[index of that side] += DEXPR(g, x, y, z), where z is the output.
 * `side` 0 accumulates into a's gradient, 1 into b's. */
#define BINARY_BACKWARD(bc, side, GD, A, B, Z, G, DEXPR)                                           \
    do {                                                                                           \
        const float *A_ = (A), *B_ = (B), *Z_ = (Z), *G_ = (G);                                    \
        float *D_ = (GD);                                                                          \
        (void)Z_;                                                                                  \
        switch ((bc)->kind) {                                                                      \
        case BC_SAME:                                                                              \
            for (int64_t i = 0; i < (bc)->n; i++) {                                                \
                float x = A_[i], y = B_[i], z = Z_[i], g = G_[i];                                  \
                (void)x, (void)y, (void)z;                                                         \
                D_[i] += (DEXPR);                                                                  \
            }                                                                                      \
            break;                                                                                 \
        case BC_B_ROW: {                                                                           \
            int64_t R_ = (bc)->row;                                                                \
            for (int64_t r = 0; r < (bc)->n; r += R_)                                              \
                for (int64_t j = 0; j < R_; j++) {                                                 \
                    float x = A_[r + j], y = B_[j], z = Z_[r + j], g = G_[r + j];                  \
                    (void)x, (void)y, (void)z;                                                     \
                    D_[(side) ? j : r + j] += (DEXPR);                                             \
                }                                                                                  \
        } break;                                                                                   \
        case BC_A_ROW: {                                                                           \
            int64_t R_ = (bc)->row;                                                                \
            for (int64_t r = 0; r < (bc)->n; r += R_)                                              \
                for (int64_t j = 0; j < R_; j++) {                                                 \
                    float x = A_[j], y = B_[r + j], z = Z_[r + j], g = G_[r + j];                  \
                    (void)x, (void)y, (void)z;                                                     \
                    D_[(side) ? r + j : j] += (DEXPR);                                             \
                }                                                                                  \
        } break;                                                                                   \
        default: {                                                                                 \
            const int64_t *s_ = (bc)->out, *ta_ = (bc)->sa, *tb_ = (bc)->sb;                       \
            const int64_t *td_ = (side) ? tb_ : ta_;                                               \
            int64_t o_ = 0;                                                                        \
            for (int64_t i0 = 0; i0 < s_[0]; i0++)                                                 \
                for (int64_t i1 = 0; i1 < s_[1]; i1++)                                             \
                    for (int64_t i2 = 0; i2 < s_[2]; i2++) {                                       \
                        int64_t ia_ = i0 * ta_[0] + i1 * ta_[1] + i2 * ta_[2];                     \
                        int64_t ib_ = i0 * tb_[0] + i1 * tb_[1] + i2 * tb_[2];                     \
                        int64_t id_ = (side) ? ib_ : ia_;                                          \
                        for (int64_t i3 = 0; i3 < s_[3]; i3++, o_++) {                             \
                            float x = A_[ia_ + i3 * ta_[3]], y = B_[ib_ + i3 * tb_[3]];            \
                            float z = Z_[o_], g = G_[o_];                                          \
                            (void)x, (void)y, (void)z;                                             \
                            D_[id_ + i3 * td_[3]] += (DEXPR);                                      \
                        }                                                                          \
                    }                                                                              \
        } break;                                                                                   \
        }                                                                                          \
    } while (0)

/* One binary op: constructor + backward kernel. DA / DB are d(out)/d(a) * g and d(out)/d(b) * g
 * written in terms of g, x (a), y (b), z (out). */
#define DEFINE_BINARY(name, OP, FWD, DA, DB)                                                       \
    mvae_tensor *mvae_##name(mvae_ctx *ctx, mvae_tensor *a, mvae_tensor *b) {                      \
        bcast bc;                                                                                  \
        mvae_tensor *out = binary_out(ctx, #name, OP, a, b, &bc);                                  \
        if (!out) return NULL;                                                                     \
        BINARY_FORWARD(&bc, a->data, b->data, out->data, FWD);                                     \
        return out;                                                                                \
    }                                                                                              \
    void mvae_bw_##name(mvae_ctx *ctx, mvae_tensor *out) {                                         \
        mvae_tensor *a = out->src[0], *b = out->src[1];                                            \
        bcast bc;                                                                                  \
        bcast_plan(a, b, &bc);                                                                     \
        float *ga = mvae_grad(ctx, a);                                                             \
        if (ga) BINARY_BACKWARD(&bc, 0, ga, a->data, b->data, out->data, out->grad, DA);           \
        float *gb = mvae_grad(ctx, b);                                                             \
        if (gb) BINARY_BACKWARD(&bc, 1, gb, a->data, b->data, out->data, out->grad, DB);           \
    }

DEFINE_BINARY(add, MVAE_OP_ADD, x + y, g, g)
DEFINE_BINARY(sub, MVAE_OP_SUB, x - y, g, -g)
DEFINE_BINARY(mul, MVAE_OP_MUL, x *y, g *y, g *x)
/* d(x/y)/dy = -x/y^2 = -z/y */
DEFINE_BINARY(div, MVAE_OP_DIV, x / y, g / y, -g * z / y)

/* ---------------------------------------------------------------------------------------------
 * Scalar and unary ops. Each output has its input's shape; backward reads x = src data,
 * y = out data, g = out grad.
 * ------------------------------------------------------------------------------------------- */
static mvae_tensor *unary_out(mvae_ctx *ctx, const char *name, int op, mvae_tensor *a) {
    MVAE_CHECK_INPUT(ctx, name, a);
    MVAE_CHECK_F32(ctx, name, a);
    return mvae_op_output(ctx, op, a->ndim, a->shape, a, NULL, NULL, NULL);
}

/* The loops of a unary op over [begin, end), split between the GEMM threads for large tensors
 * (UNARY_GRAIN elements or more per thread): x = X[i], y = Y[i], g = G[i], p. */
#define UNARY_GRAIN 16384
typedef struct unary_job {
    const float *X, *Y, *G;
    float *D; /* forward: Y; backward: the input's gradient */
    float p;
    bool fresh; /* backward: write instead of accumulate */
} unary_job;

static void unary_run(void (*task)(void *, int, int), void *job, int64_t n) {
    if (n >= 2 * UNARY_GRAIN && n <= INT32_MAX)
        mvae_parallel_for((int)n, UNARY_GRAIN, task, job);
    else
        task(job, 0, (int)n);
}

/* Constructor computing y = FWD(x) (p = out->fp[0]) and backward accumulating DX(x, y, g, p). */
#define DEFINE_UNARY_P(name, OP, FWD, DX)                                                          \
    static void name##_fwd_task(void *arg, int begin, int end) {                                   \
        const unary_job *j_ = arg;                                                                 \
        const float *X_ = j_->X, p = j_->p;                                                        \
        float *Y_ = j_->D;                                                                         \
        (void)p;                                                                                   \
        for (int64_t i = begin; i < end; i++) {                                                    \
            float x = X_[i];                                                                       \
            Y_[i] = (FWD);                                                                         \
        }                                                                                          \
    }                                                                                              \
    static void name##_bwd_task(void *arg, int begin, int end) {                                   \
        const unary_job *j_ = arg;                                                                 \
        const float *X_ = j_->X, *Y_ = j_->Y, *G_ = j_->G, p = j_->p;                              \
        float *gx = j_->D;                                                                         \
        (void)p;                                                                                   \
        if (j_->fresh)                                                                             \
            for (int64_t i = begin; i < end; i++) {                                                \
                float x = X_[i], y = Y_[i], g = G_[i];                                             \
                (void)x, (void)y;                                                                  \
                gx[i] = (DX);                                                                      \
            }                                                                                      \
        else                                                                                       \
            for (int64_t i = begin; i < end; i++) {                                                \
                float x = X_[i], y = Y_[i], g = G_[i];                                             \
                (void)x, (void)y;                                                                  \
                gx[i] += (DX);                                                                     \
            }                                                                                      \
    }                                                                                              \
    static mvae_tensor *name##_impl(mvae_ctx *ctx, mvae_tensor *a, float p) {                      \
        mvae_tensor *out = unary_out(ctx, #name, OP, a);                                           \
        if (!out) return NULL;                                                                     \
        out->fp[0] = p;                                                                            \
        unary_job j_ = {a->data, NULL, NULL, out->data, p, false};                                 \
        unary_run(name##_fwd_task, &j_, out->n);                                                   \
        return out;                                                                                \
    }                                                                                              \
    void mvae_bw_##name(mvae_ctx *ctx, mvae_tensor *out) {                                         \
        bool fresh_;                                                                               \
        float *gx = mvae_grad_fresh(ctx, out->src[0], &fresh_);                                    \
        if (!gx) return;                                                                           \
        unary_job j_ = {out->src[0]->data, out->data, out->grad, gx, out->fp[0], fresh_};          \
        unary_run(name##_bwd_task, &j_, out->n);                                                   \
    }

#define DEFINE_UNARY(name, OP, FWD, DX)                                                            \
    DEFINE_UNARY_P(name, OP, FWD, DX)                                                              \
    mvae_tensor *mvae_##name(mvae_ctx *ctx, mvae_tensor *a) { return name##_impl(ctx, a, 0.0f); }

DEFINE_UNARY_P(scale, MVAE_OP_SCALE, x *p, g *p)
mvae_tensor *mvae_scale(mvae_ctx *ctx, mvae_tensor *a, float s) { return scale_impl(ctx, a, s); }

DEFINE_UNARY_P(add_scalar, MVAE_OP_ADD_SCALAR, x + p, g)
mvae_tensor *mvae_add_scalar(mvae_ctx *ctx, mvae_tensor *a, float s) {
    return add_scalar_impl(ctx, a, s);
}

DEFINE_UNARY(exp, MVAE_OP_EXP, mvae_expf(x), g *y)
DEFINE_UNARY(log, MVAE_OP_LOG, mvae_logf(x), g / x)
DEFINE_UNARY(sqrt, MVAE_OP_SQRT, sqrtf(x), 0.5f * g / y)
DEFINE_UNARY(square, MVAE_OP_SQUARE, x *x, 2.0f * g * x)
DEFINE_UNARY(reciprocal, MVAE_OP_RECIPROCAL, 1.0f / x, -g * y * y)
/* ---- activations: one definition each, for the unary ops and the array kernels ----------------
 * act_<name>_f(x, p) = act(x) and act_<name>_d(x, p) = act'(x), both from x alone (so a fused
 * op's backward needs only the pre-activation); s is a temporary shared by the two (the compiler
 * merges it where both are inlined together); p: leaky_relu's slope, elu's alpha. */
#define DEFINE_ACT_FN(name, AS, AF, AD)                                                            \
    static inline float act_##name##_f(float x, float p) {                                         \
        float s = (AS);                                                                            \
        (void)s, (void)p;                                                                          \
        return (AF);                                                                               \
    }                                                                                              \
    static inline float act_##name##_d(float x, float p) {                                         \
        float s = (AS);                                                                            \
        (void)s, (void)p;                                                                          \
        return (AD);                                                                               \
    }
DEFINE_ACT_FN(none, 0.0f, x, 1.0f)
DEFINE_ACT_FN(relu, 0.0f, x > 0.0f ? x : 0.0f, x > 0.0f ? 1.0f : 0.0f)
DEFINE_ACT_FN(leaky_relu, 0.0f, x > 0.0f ? x : p * x, x > 0.0f ? 1.0f : p)
/* elu: x > 0 ? x : alpha (e^x - 1); for x <= 0 the derivative alpha e^x */
DEFINE_ACT_FN(elu, x > 0.0f ? 0.0f : expm1f(x), x > 0.0f ? x : p * s, x > 0.0f ? 1.0f : p * (s + 1.0f))
/* swish' = s + x s (1 - s), s = sigmoid(x) */
DEFINE_ACT_FN(swish, mvae_sigmoidf(x), x *s, s *(1.0f + x * (1.0f - s)))
DEFINE_ACT_FN(sigmoid, mvae_sigmoidf(x), s, s *(1.0f - s))
DEFINE_ACT_FN(tanh, tanhf(x), s, 1.0f - s * s)
DEFINE_ACT_FN(softplus, 0.0f, mvae_softplusf(x), mvae_sigmoidf(x))

DEFINE_UNARY(relu, MVAE_OP_RELU, act_relu_f(x, p), g *act_relu_d(x, p))
DEFINE_UNARY_P(leaky_relu, MVAE_OP_LEAKY_RELU, act_leaky_relu_f(x, p), g *act_leaky_relu_d(x, p))
mvae_tensor *mvae_leaky_relu(mvae_ctx *ctx, mvae_tensor *a, float slope) {
    return leaky_relu_impl(ctx, a, slope);
}
DEFINE_UNARY_P(elu, MVAE_OP_ELU, act_elu_f(x, p), g *act_elu_d(x, p))
mvae_tensor *mvae_elu(mvae_ctx *ctx, mvae_tensor *a, float alpha) { return elu_impl(ctx, a, alpha); }
DEFINE_UNARY(swish, MVAE_OP_SWISH, act_swish_f(x, p), g *act_swish_d(x, p))
DEFINE_UNARY(sigmoid, MVAE_OP_SIGMOID, act_sigmoid_f(x, p), g *act_sigmoid_d(x, p))
DEFINE_UNARY(tanh, MVAE_OP_TANH, act_tanh_f(x, p), g *act_tanh_d(x, p))
DEFINE_UNARY(softplus, MVAE_OP_SOFTPLUS, act_softplus_f(x, p), g *act_softplus_d(x, p))

/* ---- activations as array kernels (ops_internal.h) ------------------------------------------ */

bool mvae_act_valid(int act) { return act >= MVAE_ACT_NONE && act <= MVAE_ACT_SOFTPLUS; }

/* y = act(x) and, when d is given, d = act'(x), over [begin, end); p from the job */
#define DEFINE_ACT_TASK(name)                                                                      \
    static void act_##name##_task(void *arg, int begin, int end) {                                 \
        const unary_job *j_ = arg;                                                                 \
        const float *X_ = j_->X, p = j_->p;                                                        \
        float *Y_ = j_->D, *D_ = (float *)j_->G;                                                   \
        if (D_)                                                                                    \
            for (int64_t i = begin; i < end; i++) {                                                \
                float x = X_[i];                                                                   \
                Y_[i] = act_##name##_f(x, p);                                                      \
                D_[i] = act_##name##_d(x, p);                                                      \
            }                                                                                      \
        else                                                                                       \
            for (int64_t i = begin; i < end; i++) Y_[i] = act_##name##_f(X_[i], p);                \
    }
DEFINE_ACT_TASK(none)
DEFINE_ACT_TASK(relu)
DEFINE_ACT_TASK(leaky_relu)
DEFINE_ACT_TASK(elu)
DEFINE_ACT_TASK(swish)
DEFINE_ACT_TASK(sigmoid)
DEFINE_ACT_TASK(tanh)
DEFINE_ACT_TASK(softplus)

void mvae_act_apply_deriv(int act, const float *x, float *y, float *d, int64_t n) {
    static void (*const task[])(void *, int, int) = {
        [MVAE_ACT_NONE] = act_none_task,       [MVAE_ACT_RELU] = act_relu_task,
        [MVAE_ACT_LEAKY_RELU] = act_leaky_relu_task, [MVAE_ACT_ELU] = act_elu_task,
        [MVAE_ACT_SWISH] = act_swish_task,     [MVAE_ACT_SIGMOID] = act_sigmoid_task,
        [MVAE_ACT_TANH] = act_tanh_task,       [MVAE_ACT_SOFTPLUS] = act_softplus_task};
    /* the parameters mvae_activate gives leaky_relu (slope) and elu (alpha) */
    static const float param[] = {[MVAE_ACT_LEAKY_RELU] = 0.2f, [MVAE_ACT_ELU] = 1.0f, [MVAE_ACT_SOFTPLUS] = 0.0f};
    MVAE_ASSERT_MSG(mvae_act_valid(act), "unknown activation");
    unary_job j = {x, NULL, d, y, param[act], false};
    unary_run(task[act], &j, n);
}

void mvae_act_apply(int act, const float *x, float *y, int64_t n) { mvae_act_apply_deriv(act, x, y, NULL, n); }

static void mul_deriv_task(void *arg, int begin, int end) {
    const unary_job *j = arg;
    const float *g = j->X, *d = j->Y;
    float *dx = j->D;
    if (j->fresh)
        for (int64_t i = begin; i < end; i++) dx[i] = g[i] * d[i];
    else
        for (int64_t i = begin; i < end; i++) dx[i] += g[i] * d[i];
}

void mvae_act_mul_deriv(const float *g, const float *d, float *dx, int64_t n, bool accumulate) {
    unary_job j = {g, d, NULL, dx, 0.0f, !accumulate};
    unary_run(mul_deriv_task, &j, n);
}

/* ---------------------------------------------------------------------------------------------
 * softmax / log_softmax along any axis. The tensor is viewed as [outer, K, inner] with K the
 * axis size; inner == 1 (last axis) runs over contiguous rows, otherwise the loops run over the
 * contiguous inner dimension with a per-column running max / sum in scratch.
 * ------------------------------------------------------------------------------------------- */
static void axis_split(const mvae_tensor *t, int axis, int64_t *outer, int64_t *K, int64_t *inner) {
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < axis; d++) *outer *= t->shape[d];
    for (int d = axis + 1; d < t->ndim; d++) *inner *= t->shape[d];
    *K = t->shape[axis];
}

static mvae_tensor *softmax_common(mvae_ctx *ctx, const char *name, int op, mvae_tensor *a, int axis,
                                   bool log_out) {
    MVAE_CHECK_INPUT(ctx, name, a);
    MVAE_CHECK_F32(ctx, name, a);
    int ax = axis < 0 ? axis + a->ndim : axis;
    if (ax < 0 || ax >= a->ndim) {
        char sa[MVAE_SHAPE_STR_LEN];
        return mvae_ctx_fail(ctx, "%s: a %s: axis %d out of range for %d dims", name, MVAE_SHP(a, sa),
                             axis, a->ndim);
    }
    mvae_tensor *out = mvae_op_output(ctx, op, a->ndim, a->shape, a, NULL, NULL, NULL);
    if (!out) return NULL;
    out->ip[0] = ax;
    int64_t outer, K, inner;
    axis_split(a, ax, &outer, &K, &inner);
    if (inner == 1) {
        for (int64_t o = 0; o < outer; o++) {
            const float *x = a->data + o * K;
            float *y = out->data + o * K;
            float m = x[0];
            for (int64_t k = 1; k < K; k++) m = x[k] > m ? x[k] : m;
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                y[k] = mvae_expf(x[k] - m);
                s += y[k];
            }
            if (log_out) {
                float ls = m + logf(s);
                for (int64_t k = 0; k < K; k++) y[k] = x[k] - ls;
            } else {
                float inv = 1.0f / s;
                for (int64_t k = 0; k < K; k++) y[k] *= inv;
            }
        }
        return out;
    }
    float *m = mvae_ctx_alloc(ctx, 2 * (size_t)inner * sizeof(float)), *s = m + inner;
    for (int64_t o = 0; o < outer; o++) {
        const float *x = a->data + o * K * inner;
        float *y = out->data + o * K * inner;
        memcpy(m, x, (size_t)inner * sizeof(float));
        for (int64_t k = 1; k < K; k++)
            for (int64_t j = 0; j < inner; j++) m[j] = x[k * inner + j] > m[j] ? x[k * inner + j] : m[j];
        memset(s, 0, (size_t)inner * sizeof(float));
        for (int64_t k = 0; k < K; k++)
            for (int64_t j = 0; j < inner; j++) {
                y[k * inner + j] = mvae_expf(x[k * inner + j] - m[j]);
                s[j] += y[k * inner + j];
            }
        if (log_out) {
            for (int64_t j = 0; j < inner; j++) s[j] = m[j] + logf(s[j]);
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < inner; j++) y[k * inner + j] = x[k * inner + j] - s[j];
        } else {
            for (int64_t j = 0; j < inner; j++) s[j] = 1.0f / s[j];
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < inner; j++) y[k * inner + j] *= s[j];
        }
    }
    return out;
}

mvae_tensor *mvae_softmax(mvae_ctx *ctx, mvae_tensor *a, int axis) {
    return softmax_common(ctx, "softmax", MVAE_OP_SOFTMAX, a, axis, false);
}
mvae_tensor *mvae_log_softmax(mvae_ctx *ctx, mvae_tensor *a, int axis) {
    return softmax_common(ctx, "log_softmax", MVAE_OP_LOG_SOFTMAX, a, axis, true);
}

/* softmax:     dx = y (g - sum_k g y)
 * log_softmax: dx = g - e^y sum_k g */
static void softmax_backward(mvae_ctx *ctx, mvae_tensor *out, bool log_out) {
    float *gx = mvae_grad(ctx, out->src[0]);
    if (!gx) return;
    int64_t outer, K, inner;
    axis_split(out, out->ip[0], &outer, &K, &inner);
    float *dot = mvae_ctx_alloc(ctx, (size_t)inner * sizeof(float));
    for (int64_t o = 0; o < outer; o++) {
        const float *y = out->data + o * K * inner, *g = out->grad + o * K * inner;
        float *dx = gx + o * K * inner;
        memset(dot, 0, (size_t)inner * sizeof(float));
        if (log_out) {
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < inner; j++) dot[j] += g[k * inner + j];
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < inner; j++)
                    dx[k * inner + j] += g[k * inner + j] - mvae_expf(y[k * inner + j]) * dot[j];
        } else {
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < inner; j++) dot[j] += g[k * inner + j] * y[k * inner + j];
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < inner; j++)
                    dx[k * inner + j] += y[k * inner + j] * (g[k * inner + j] - dot[j]);
        }
    }
}

void mvae_bw_softmax(mvae_ctx *ctx, mvae_tensor *out) { softmax_backward(ctx, out, false); }
void mvae_bw_log_softmax(mvae_ctx *ctx, mvae_tensor *out) { softmax_backward(ctx, out, true); }
