/* ops_linalg.c — matmul and linear (with an optional fused input activation) on mvae_sgemm. */
#include "ops_internal.h"

#include "gemm_internal.h"
#include <string.h>

/* a [M,K] (trans_a: stored [K,M]), b [K,N] (trans_b: stored [N,K]) -> out [M,N] */
mvae_tensor *mvae_matmul(mvae_ctx *ctx, mvae_tensor *a, mvae_tensor *b, bool trans_a, bool trans_b) {
    MVAE_CHECK_INPUT(ctx, "matmul", a);
    MVAE_CHECK_INPUT(ctx, "matmul", b);
    MVAE_CHECK_F32(ctx, "matmul", a);
    MVAE_CHECK_F32(ctx, "matmul", b);
    char sa[MVAE_SHAPE_STR_LEN], sb[MVAE_SHAPE_STR_LEN];
    if (a->ndim != 2 || b->ndim != 2)
        return mvae_ctx_fail(ctx, "matmul: a %s and b %s must both be 2-D", MVAE_SHP(a, sa), MVAE_SHP(b, sb));
    int64_t M = trans_a ? a->shape[1] : a->shape[0], Ka = trans_a ? a->shape[0] : a->shape[1];
    int64_t Kb = trans_b ? b->shape[1] : b->shape[0], N = trans_b ? b->shape[0] : b->shape[1];
    if (Ka != Kb)
        return mvae_ctx_fail(ctx, "matmul: a %s%s and b %s%s: inner sizes differ (%lld vs %lld)",
                             MVAE_SHP(a, sa), trans_a ? "^T" : "", MVAE_SHP(b, sb), trans_b ? "^T" : "",
                             (long long)Ka, (long long)Kb);
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_MATMUL, 2, (int64_t[]){M, N}, a, b, NULL, NULL);
    if (!out) return NULL;
    out->ip[0] = trans_a;
    out->ip[1] = trans_b;
    mvae_sgemm((trans_a) ? 1 : 0, (trans_b) ? 1 : 0, (int)M, (int)N, (int)Ka, 1.0f, a->data, (int)a->shape[1], b->data, (int)b->shape[1], 0.0f, out->data, (int)N);
    return out;
}

void mvae_bw_matmul(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *a = out->src[0], *b = out->src[1];
    bool ta = out->ip[0], tb = out->ip[1];
    int M = (int)out->shape[0], N = (int)out->shape[1];
    int K = (int)(ta ? a->shape[0] : a->shape[1]);
    const float *G = out->grad; /* [M,N] */
    float *ga = mvae_grad(ctx, a), *gb = mvae_grad(ctx, b);
    if (ga) {
        if (!ta) /* dA [M,K] += G [M,N] * op(B)^T */
            mvae_sgemm(0, (tb) ? 0 : 1, M, K, N, 1.0f, G, N, b->data, (int)b->shape[1], 1.0f, ga, K);
        else /* A stored [K,M]: dA [K,M] += op(B) G^T */
            mvae_sgemm((tb) ? 1 : 0, 1, K, M, N, 1.0f, b->data, (int)b->shape[1], G, N, 1.0f, ga, M);
    }
    if (gb) {
        if (!tb) /* dB [K,N] += op(A)^T G */
            mvae_sgemm((ta) ? 0 : 1, 0, K, N, M, 1.0f, a->data, (int)a->shape[1], G, N, 1.0f, gb, N);
        else /* B stored [N,K]: dB [N,K] += G^T op(A) */
            mvae_sgemm(1, (ta) ? 1 : 0, N, K, M, 1.0f, G, N, a->data, (int)a->shape[1], 1.0f, gb, K);
    }
}

/* act(x) [B,in], W [out,in], b [out] -> [B,out]; ip[0] = act (MVAE_ACT_NONE: plain linear) */
mvae_tensor *mvae_linear_act(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *W, mvae_tensor *b, int act) {
    MVAE_CHECK_INPUT(ctx, "linear", x);
    MVAE_CHECK_INPUT(ctx, "linear", W);
    MVAE_CHECK_F32(ctx, "linear", x);
    char sx[MVAE_SHAPE_STR_LEN], sw[MVAE_SHAPE_STR_LEN], sb[MVAE_SHAPE_STR_LEN];
    if (x->ndim != 2 || W->ndim != 2 || x->shape[1] != W->shape[1])
        return mvae_ctx_fail(ctx, "linear: x %s and W %s: expected x [B,in] and W [out,in]",
                             MVAE_SHP(x, sx), MVAE_SHP(W, sw));
    int64_t B = x->shape[0], Din = x->shape[1], O = W->shape[0];
    if (b && (b->ndim != 1 || b->shape[0] != O))
        return mvae_ctx_fail(ctx, "linear: bias %s does not match W %s (expected [%lld])",
                             MVAE_SHP(b, sb), MVAE_SHP(W, sw), (long long)O);
    if (!mvae_act_valid(act)) return mvae_ctx_fail(ctx, "linear: x %s: unknown input activation %d", MVAE_SHP(x, sx), act);
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_LINEAR, 2, (int64_t[]){B, O}, x, W, b, NULL);
    if (!out) return NULL;
    out->ip[0] = act;
    const float *a = x->data;
    if (act != MVAE_ACT_NONE) { /* act(x) lives in scratch only while the GEMM reads it */
        float *s = mvae_ctx_scratch(ctx, (size_t)(B * Din) * sizeof(float));
        mvae_act_apply(act, x->data, s, B * Din);
        a = s;
    }
    /* out = act(x) W^T + b: the bias is added as the GEMM stores its first k block */
    mvae_sgemm_bias(0, 1, (int)B, (int)O, (int)Din, 1.0f, a, (int)Din, W->data, (int)Din, 0.0f, out->data, (int)O,
                    b ? b->data : NULL);
    return out;
}

mvae_tensor *mvae_linear(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *W, mvae_tensor *b) {
    return mvae_linear_act(ctx, x, W, b, MVAE_ACT_NONE);
}

/* dW [O,Din] += G^T a (=: a zeroed gradient block is not read back) */
static void linear_dw(mvae_ctx *ctx, mvae_tensor *W, const float *G, const float *a, int B, int Din, int O) {
    bool wfresh;
    float *gw = mvae_grad_fresh(ctx, W, &wfresh);
    if (gw) mvae_sgemm(1, 0, O, Din, B, 1.0f, G, O, a, Din, wfresh ? 0.0f : 1.0f, gw, Din);
}

void mvae_bw_linear(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *x = out->src[0], *W = out->src[1], *b = out->src[2];
    int B = (int)x->shape[0], Din = (int)x->shape[1], O = (int)W->shape[0], act = out->ip[0];
    const float *G = out->grad, *xv = x->data; /* x's values: read before dx is written */
    size_t n = (size_t)B * (size_t)Din;
    bool fresh;
    /* dx may take x's block (mvae_grad_in_place: x read by this op only, so x != W); then dW,
     * which reads x, comes first. Otherwise dx is complete before W's gradient is even taken, as
     * x may be W. */
    float *gx = mvae_grad_in_place(ctx, x, &fresh);
    const bool in_place = gx && gx == xv;
    float *gb = b ? mvae_grad(ctx, b) : NULL;
    const float *a = xv; /* the GEMMs' input: x, or act(x) recomputed with act'(x) beside it */
    float *d = NULL, *da = gx;
    if (act != MVAE_ACT_NONE && (gx || mvae_needs_grad(W))) {
        /* scratch: act(x), then act'(x) when dx is wanted; d(act x) goes to act(x)'s block (in
         * place: dW has read it), to dx itself (fresh: then multiplied in place), else to a third */
        bool third = gx && !in_place && !fresh;
        float *s = mvae_ctx_scratch(ctx, (gx ? (third ? 3 : 2) : 1) * n * sizeof(float));
        d = gx ? s + n : NULL;
        mvae_act_apply_deriv(act, xv, s, d, (int64_t)n);
        a = s;
        if (gx) da = in_place ? s : third ? s + 2 * n : gx;
    }
    if (in_place) linear_dw(ctx, W, G, a, B, Din, O);
    if (gx) { /* d(act x) [B,Din] (+)= G [B,O] W [O,Din] (= when dx is fresh, or when it goes to scratch) */
        mvae_sgemm(0, 0, B, Din, O, 1.0f, G, O, W->data, Din, fresh || d ? 0.0f : 1.0f, da, Din);
        if (d) mvae_act_mul_deriv(da, d, gx, (int64_t)n, !fresh); /* da == gx: element by element */
    }
    if (!in_place) linear_dw(ctx, W, G, a, B, Din, O);
    if (gb)
        for (int i = 0; i < B; i++) {
            const float *g = G + (size_t)i * O;
            for (int o = 0; o < O; o++) gb[o] += g[o];
        }
}
