/* ops_conv.c — conv2d and conv_transpose2d (im2col + OpenBLAS sgemm), batchnorm, dropout.
 *
 * Convolutions run one sample at a time through a [C*kh*kw, Ho*Wo] column buffer in the arena:
 * the buffer stays small (a few hundred KiB for the MVAE's layers) while each sgemm is still
 * large enough to be efficient. Backward recomputes the columns instead of saving them, so a
 * conv layer keeps no scratch alive between forward and backward.
 * The naive nested-loop references these kernels are tested against live in tests/test_ops_conv.c.
 */
#include "ops_internal.h"

#include "gemm_internal.h"
#include <math.h>
#include <string.h>

/* ---- im2col / col2im ------------------------------------------------------------------------- */

/* img [C,H,W] -> col [C*kh*kw, oh*ow]:
 * col[(c*kh + i)*kw + j, oy*ow + ox] = img[c, oy*s - p + i, ox*s - p + j] (0 outside). */
static void im2col(const float *img, int C, int H, int W, int kh, int kw, int s, int p, int oh,
                   int ow, float *col) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                float *row = col + ((size_t)(c * kh + i) * kw + j) * (size_t)oh * ow;
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * s - p + i;
                    float *dst = row + (size_t)oy * ow;
                    if (iy < 0 || iy >= H) {
                        memset(dst, 0, (size_t)ow * sizeof(float));
                        continue;
                    }
                    const float *src = img + ((size_t)c * H + iy) * W;
                    for (int ox = 0; ox < ow; ox++) {
                        int ix = ox * s - p + j;
                        dst[ox] = (ix >= 0 && ix < W) ? src[ix] : 0.0f;
                    }
                }
            }
}

/* The adjoint of im2col: img [C,H,W] += scatter of col [C*kh*kw, oh*ow]. */
static void col2im_add(const float *col, int C, int H, int W, int kh, int kw, int s, int p, int oh,
                       int ow, float *img) {
    for (int c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                const float *row = col + ((size_t)(c * kh + i) * kw + j) * (size_t)oh * ow;
                for (int oy = 0; oy < oh; oy++) {
                    int iy = oy * s - p + i;
                    if (iy < 0 || iy >= H) continue;
                    const float *src = row + (size_t)oy * ow;
                    float *dst = img + ((size_t)c * H + iy) * W;
                    for (int ox = 0; ox < ow; ox++) {
                        int ix = ox * s - p + j;
                        if (ix >= 0 && ix < W) dst[ix] += src[ox];
                    }
                }
            }
}

/* out [B,O,P] += b[o] for every (b, p) */
static void fill_bias(float *out, const float *bias, int64_t B, int64_t O, int64_t P) {
    for (int64_t n = 0; n < B; n++)
        for (int64_t o = 0; o < O; o++) {
            float *dst = out + (n * O + o) * P;
            float v = bias ? bias[o] : 0.0f;
            for (int64_t k = 0; k < P; k++) dst[k] = v;
        }
}

/* gb[o] += sum over (b, p) of G [B,O,P] */
static void bias_grad(float *gb, const float *G, int64_t B, int64_t O, int64_t P) {
    for (int64_t n = 0; n < B; n++)
        for (int64_t o = 0; o < O; o++) {
            const float *g = G + (n * O + o) * P;
            double s = 0;
            for (int64_t k = 0; k < P; k++) s += g[k];
            gb[o] += (float)s;
        }
}

/* Shared argument checks of the two convolutions. w_in is the weight dim that must equal x's
 * channels (0 for conv_transpose2d's [C,O,kh,kw], 1 for conv2d's [O,C,kh,kw]). */
static bool conv_check(mvae_ctx *ctx, const char *op, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b,
                       int w_in, int stride, int pad) {
    char sx[MVAE_SHAPE_STR_LEN], sw[MVAE_SHAPE_STR_LEN], sb[MVAE_SHAPE_STR_LEN];
    if (x->dtype != MVAE_F32 || w->dtype != MVAE_F32 || (b && b->dtype != MVAE_F32)) {
        mvae_ctx_fail(ctx, "%s: x, w and b must be float32", op);
        return false;
    }
    if (x->ndim != 4 || w->ndim != 4) {
        mvae_ctx_fail(ctx, "%s: x %s and w %s must both be 4-D (x [B,C,H,W], w %s)", op,
                      MVAE_SHP(x, sx), MVAE_SHP(w, sw), w_in ? "[O,C,kh,kw]" : "[C,O,kh,kw]");
        return false;
    }
    if (x->shape[1] != w->shape[w_in]) {
        mvae_ctx_fail(ctx, "%s: x %s and w %s: channels differ (%lld vs %lld)", op, MVAE_SHP(x, sx),
                      MVAE_SHP(w, sw), (long long)x->shape[1], (long long)w->shape[w_in]);
        return false;
    }
    int64_t O = w->shape[1 - w_in];
    if (b && (b->ndim != 1 || b->shape[0] != O)) {
        mvae_ctx_fail(ctx, "%s: bias %s does not match w %s (expected [%lld])", op, MVAE_SHP(b, sb),
                      MVAE_SHP(w, sw), (long long)O);
        return false;
    }
    if (stride < 1 || pad < 0) {
        mvae_ctx_fail(ctx, "%s: x %s, w %s: stride %d must be >= 1 and pad %d >= 0", op,
                      MVAE_SHP(x, sx), MVAE_SHP(w, sw), stride, pad);
        return false;
    }
    return true;
}

/* ---- conv2d ---------------------------------------------------------------------------------- */

/* x [B,C,H,W], w [O,C,kh,kw], b [O] -> [B,O,Ho,Wo]; ip = {stride, pad} */
mvae_tensor *mvae_conv2d(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b, int stride,
                         int pad) {
    MVAE_CHECK_INPUT(ctx, "conv2d", x);
    MVAE_CHECK_INPUT(ctx, "conv2d", w);
    if (!conv_check(ctx, "conv2d", x, w, b, 1, stride, pad)) return NULL;
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    if (H + 2 * pad < kh || W + 2 * pad < kw) {
        char sx[MVAE_SHAPE_STR_LEN], sw[MVAE_SHAPE_STR_LEN];
        return mvae_ctx_fail(ctx, "conv2d: x %s and w %s: kernel larger than the padded input (pad %d)",
                             MVAE_SHP(x, sx), MVAE_SHP(w, sw), pad);
    }
    int64_t Ho = (H + 2 * pad - kh) / stride + 1, Wo = (W + 2 * pad - kw) / stride + 1;
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_CONV2D, 4, (int64_t[]){B, O, Ho, Wo}, x, w, b, NULL);
    if (!out) return NULL;
    out->ip[0] = stride;
    out->ip[1] = pad;
    int64_t K = C * kh * kw, P = Ho * Wo;
    bool direct = kh == 1 && kw == 1 && stride == 1 && pad == 0; /* x_b is its own column matrix */
    float *col = direct ? NULL : mvae_ctx_alloc(ctx, (size_t)(K * P) * sizeof(float));
    fill_bias(out->data, b ? b->data : NULL, B, O, P);
    for (int64_t n = 0; n < B; n++) {
        const float *xb = x->data + n * C * H * W;
        if (!direct) im2col(xb, (int)C, (int)H, (int)W, (int)kh, (int)kw, stride, pad, (int)Ho, (int)Wo, col);
        /* out_b [O,P] += w [O,K] col [K,P] */
        mvae_sgemm(0, 0, (int)O, (int)P, (int)K, 1.0f, w->data, (int)K, direct ? xb : col, (int)P, 1.0f, out->data + n * O * P, (int)P);
    }
    return out;
}

void mvae_bw_conv2d(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *x = out->src[0], *w = out->src[1], *b = out->src[2];
    int stride = out->ip[0], pad = out->ip[1];
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    int64_t Ho = out->shape[2], Wo = out->shape[3], K = C * kh * kw, P = Ho * Wo;
    const float *G = out->grad; /* [B,O,P] */
    float *gx = mvae_grad(ctx, x), *gw = mvae_grad(ctx, w), *gb = b ? mvae_grad(ctx, b) : NULL;
    if (gb) bias_grad(gb, G, B, O, P);
    if (!gx && !gw) return;
    bool direct = kh == 1 && kw == 1 && stride == 1 && pad == 0;
    float *col = direct ? NULL : mvae_ctx_alloc(ctx, (size_t)(K * P) * sizeof(float));
    for (int64_t n = 0; n < B; n++) {
        const float *Gb = G + n * O * P, *xb = x->data + n * C * H * W;
        if (gw) { /* dW [O,K] += G_b [O,P] col^T [P,K] */
            if (!direct)
                im2col(xb, (int)C, (int)H, (int)W, (int)kh, (int)kw, stride, pad, (int)Ho, (int)Wo, col);
            mvae_sgemm(0, 1, (int)O, (int)K, (int)P, 1.0f, Gb, (int)P, direct ? xb : col, (int)P, 1.0f, gw, (int)K);
        }
        if (gx) { /* dcol [K,P] = w^T [K,O] G_b [O,P], scattered back onto dx_b */
            float *gxb = gx + n * C * H * W;
            mvae_sgemm(1, 0, (int)K, (int)P, (int)O, 1.0f, w->data, (int)K, Gb, (int)P, direct ? 1.0f : 0.0f, direct ? gxb : col, (int)P);
            if (!direct)
                col2im_add(col, (int)C, (int)H, (int)W, (int)kh, (int)kw, stride, pad, (int)Ho, (int)Wo, gxb);
        }
    }
}

/* ---- conv_transpose2d ------------------------------------------------------------------------ */

/* The adjoint of conv2d: x [B,C,H,W], w [C,O,kh,kw], b [O] -> [B,O,Ho,Wo] with
 * Ho = (H-1)s - 2p + kh + output_pad. ip = {stride, pad, output_pad} */
mvae_tensor *mvae_conv_transpose2d(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *w, mvae_tensor *b,
                                   int stride, int pad, int output_pad) {
    MVAE_CHECK_INPUT(ctx, "conv_transpose2d", x);
    MVAE_CHECK_INPUT(ctx, "conv_transpose2d", w);
    if (!conv_check(ctx, "conv_transpose2d", x, w, b, 0, stride, pad)) return NULL;
    char sx[MVAE_SHAPE_STR_LEN], sw[MVAE_SHAPE_STR_LEN];
    if (output_pad < 0 || output_pad >= stride)
        return mvae_ctx_fail(ctx, "conv_transpose2d: x %s, w %s: output_pad %d must be in [0, stride %d)",
                             MVAE_SHP(x, sx), MVAE_SHP(w, sw), output_pad, stride);
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[1], kh = w->shape[2], kw = w->shape[3];
    int64_t Ho = (H - 1) * stride - 2 * pad + kh + output_pad;
    int64_t Wo = (W - 1) * stride - 2 * pad + kw + output_pad;
    if (Ho < 1 || Wo < 1)
        return mvae_ctx_fail(ctx, "conv_transpose2d: x %s, w %s, stride %d, pad %d: output size %lldx%lld is empty",
                             MVAE_SHP(x, sx), MVAE_SHP(w, sw), stride, pad, (long long)Ho, (long long)Wo);
    mvae_tensor *out =
        mvae_op_output(ctx, MVAE_OP_CONV_TRANSPOSE2D, 4, (int64_t[]){B, O, Ho, Wo}, x, w, b, NULL);
    if (!out) return NULL;
    out->ip[0] = stride;
    out->ip[1] = pad;
    out->ip[2] = output_pad;
    int64_t Ko = O * kh * kw, P = H * W, Q = Ho * Wo;
    float *col = mvae_ctx_alloc(ctx, (size_t)(Ko * P) * sizeof(float));
    fill_bias(out->data, b ? b->data : NULL, B, O, Q);
    for (int64_t n = 0; n < B; n++) {
        /* col [Ko,P] = w^T [Ko,C] x_b [C,P], scattered onto out_b [O,Ho,Wo] */
        mvae_sgemm(1, 0, (int)Ko, (int)P, (int)C, 1.0f, w->data, (int)Ko, x->data + n * C * P, (int)P, 0.0f, col, (int)P);
        col2im_add(col, (int)O, (int)Ho, (int)Wo, (int)kh, (int)kw, stride, pad, (int)H, (int)W,
                   out->data + n * O * Q);
    }
    return out;
}

void mvae_bw_conv_transpose2d(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *x = out->src[0], *w = out->src[1], *b = out->src[2];
    int stride = out->ip[0], pad = out->ip[1];
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t O = w->shape[1], kh = w->shape[2], kw = w->shape[3];
    int64_t Ho = out->shape[2], Wo = out->shape[3], Ko = O * kh * kw, P = H * W, Q = Ho * Wo;
    const float *G = out->grad; /* [B,O,Q] */
    float *gx = mvae_grad(ctx, x), *gw = mvae_grad(ctx, w), *gb = b ? mvae_grad(ctx, b) : NULL;
    if (gb) bias_grad(gb, G, B, O, Q);
    if (!gx && !gw) return;
    float *dcol = mvae_ctx_alloc(ctx, (size_t)(Ko * P) * sizeof(float));
    for (int64_t n = 0; n < B; n++) {
        /* dcol [Ko,P] = im2col(G_b): the gradient is a plain convolution of G_b with w */
        im2col(G + n * O * Q, (int)O, (int)Ho, (int)Wo, (int)kh, (int)kw, stride, pad, (int)H, (int)W, dcol);
        if (gx) /* dx_b [C,P] += w [C,Ko] dcol [Ko,P] */
            mvae_sgemm(0, 0, (int)C, (int)P, (int)Ko, 1.0f, w->data, (int)Ko, dcol, (int)P, 1.0f, gx + n * C * P, (int)P);
        if (gw) /* dW [C,Ko] += x_b [C,P] dcol^T [P,Ko] */
            mvae_sgemm(0, 1, (int)C, (int)Ko, (int)P, 1.0f, x->data + n * C * P, (int)P, dcol, (int)P, 1.0f, gw, (int)Ko);
    }
}

/* ---- batchnorm ------------------------------------------------------------------------------- */

/* aux: float[2C] = {mean[C], invstd[C]}: the statistics the output was normalised with (batch
 * statistics in training, a copy of the running ones in eval). ip[0] = 1 in training. */
mvae_tensor *mvae_batchnorm(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *gamma, mvae_tensor *beta,
                            float *running_mean, float *running_var, float momentum, float eps) {
    MVAE_CHECK_INPUT(ctx, "batchnorm", x);
    MVAE_CHECK_INPUT(ctx, "batchnorm", gamma);
    MVAE_CHECK_INPUT(ctx, "batchnorm", beta);
    MVAE_CHECK_F32(ctx, "batchnorm", x);
    MVAE_CHECK_F32(ctx, "batchnorm", gamma);
    MVAE_CHECK_F32(ctx, "batchnorm", beta);
    char sx[MVAE_SHAPE_STR_LEN], sg[MVAE_SHAPE_STR_LEN], sb[MVAE_SHAPE_STR_LEN];
    if (x->ndim != 2 && x->ndim != 4)
        return mvae_ctx_fail(ctx, "batchnorm: x %s must be [B,C] or [B,C,H,W]", MVAE_SHP(x, sx));
    int64_t B = x->shape[0], C = x->shape[1], S = x->ndim == 4 ? x->shape[2] * x->shape[3] : 1;
    if (gamma->ndim != 1 || gamma->shape[0] != C || beta->ndim != 1 || beta->shape[0] != C)
        return mvae_ctx_fail(ctx, "batchnorm: x %s, gamma %s and beta %s: expected gamma and beta [%lld]",
                             MVAE_SHP(x, sx), MVAE_SHP(gamma, sg), MVAE_SHP(beta, sb), (long long)C);
    if (!(eps > 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f))
        return mvae_ctx_fail(ctx, "batchnorm: x %s: eps %g must be > 0 and momentum %g in [0,1]",
                             MVAE_SHP(x, sx), (double)eps, (double)momentum);
    bool training = mvae_ctx_training(ctx);
    int64_t N = B * S; /* values per channel */
    if (training && N < 2)
        return mvae_ctx_fail(ctx, "batchnorm: x %s: training needs more than 1 value per channel",
                             MVAE_SHP(x, sx));
    if (!training && (!running_mean || !running_var))
        return mvae_ctx_fail(ctx, "batchnorm: x %s: eval mode needs running_mean and running_var",
                             MVAE_SHP(x, sx));
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_BATCHNORM, x->ndim, x->shape, x, gamma, beta, NULL);
    if (!out) return NULL;
    float *stats = mvae_ctx_alloc(ctx, (size_t)(2 * C) * sizeof(float));
    float *mean = stats, *invstd = stats + C;
    out->aux = stats;
    out->ip[0] = training;
    out->fp[0] = eps;
    for (int64_t c = 0; c < C; c++) {
        if (training) {
            double s = 0, ss = 0;
            for (int64_t n = 0; n < B; n++) {
                const float *xp = x->data + (n * C + c) * S;
                for (int64_t k = 0; k < S; k++) s += xp[k];
            }
            double m = s / (double)N;
            for (int64_t n = 0; n < B; n++) { /* two passes: no cancellation in the variance */
                const float *xp = x->data + (n * C + c) * S;
                for (int64_t k = 0; k < S; k++) ss += (xp[k] - m) * (xp[k] - m);
            }
            double var = ss / (double)N;
            mean[c] = (float)m;
            invstd[c] = (float)(1.0 / sqrt(var + (double)eps));
            if (running_mean) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * (float)m;
            if (running_var)
                running_var[c] = (1.0f - momentum) * running_var[c] +
                                 momentum * (float)(ss / (double)(N - 1));
        } else {
            mean[c] = running_mean[c];
            invstd[c] = 1.0f / sqrtf(running_var[c] + eps);
        }
    }
    for (int64_t n = 0; n < B; n++)
        for (int64_t c = 0; c < C; c++) {
            const float *xp = x->data + (n * C + c) * S;
            float *yp = out->data + (n * C + c) * S;
            float a = gamma->data[c] * invstd[c], m = mean[c], bt = beta->data[c];
            for (int64_t k = 0; k < S; k++) yp[k] = a * (xp[k] - m) + bt;
        }
    return out;
}

void mvae_bw_batchnorm(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *x = out->src[0], *gamma = out->src[1], *beta = out->src[2];
    const float *stats = out->aux;
    int64_t B = x->shape[0], C = x->shape[1], S = x->ndim == 4 ? x->shape[2] * x->shape[3] : 1;
    int64_t N = B * S;
    bool training = out->ip[0];
    const float *G = out->grad;
    float *gx = mvae_grad(ctx, x), *gg = mvae_grad(ctx, gamma), *gbt = mvae_grad(ctx, beta);
    for (int64_t c = 0; c < C; c++) {
        float m = stats[c], is = stats[C + c];
        double sg = 0, sgx = 0; /* sum g, sum g * xhat */
        for (int64_t n = 0; n < B; n++) {
            const float *gp = G + (n * C + c) * S, *xp = x->data + (n * C + c) * S;
            for (int64_t k = 0; k < S; k++) {
                sg += gp[k];
                sgx += gp[k] * (xp[k] - m) * is;
            }
        }
        if (gbt) gbt[c] += (float)sg;
        if (gg) gg[c] += (float)sgx;
        if (!gx) continue;
        float a = gamma->data[c] * is;
        /* training: dx = gamma*invstd/N * (N g - sum g - xhat sum(g xhat)); eval: affine */
        float mg = training ? (float)(sg / (double)N) : 0.0f;
        float mgx = training ? (float)(sgx / (double)N) : 0.0f;
        for (int64_t n = 0; n < B; n++) {
            const float *gp = G + (n * C + c) * S, *xp = x->data + (n * C + c) * S;
            float *dp = gx + (n * C + c) * S;
            for (int64_t k = 0; k < S; k++) dp[k] += a * (gp[k] - mg - (xp[k] - m) * is * mgx);
        }
    }
}

/* ---- dropout --------------------------------------------------------------------------------- */

/* aux: float mask [n], each 0 or 1/(1-p). Eval mode and p == 0 return x itself. */
mvae_tensor *mvae_dropout(mvae_ctx *ctx, mvae_tensor *x, float p, struct mvae_rng *rng) {
    MVAE_CHECK_INPUT(ctx, "dropout", x);
    MVAE_CHECK_F32(ctx, "dropout", x);
    char sx[MVAE_SHAPE_STR_LEN];
    if (!(p >= 0.0f && p < 1.0f))
        return mvae_ctx_fail(ctx, "dropout: x %s: p = %g must be in [0,1)", MVAE_SHP(x, sx), (double)p);
    if (!mvae_ctx_training(ctx) || p == 0.0f) return x;
    if (!rng) return mvae_ctx_fail(ctx, "dropout: x %s: training mode needs an rng", MVAE_SHP(x, sx));
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_DROPOUT, x->ndim, x->shape, x, NULL, NULL, NULL);
    if (!out) return NULL;
    float *mask = mvae_ctx_alloc(ctx, (size_t)x->n * sizeof(float));
    float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < x->n; i++) {
        mask[i] = mvae_rng_uniform(rng) < p ? 0.0f : scale;
        out->data[i] = x->data[i] * mask[i];
    }
    out->aux = mask;
    out->fp[0] = p;
    return out;
}

void mvae_bw_dropout(mvae_ctx *ctx, mvae_tensor *out) {
    float *gx = mvae_grad(ctx, out->src[0]);
    if (!gx) return;
    const float *mask = out->aux, *G = out->grad;
    for (int64_t i = 0; i < out->n; i++) gx[i] += G[i] * mask[i];
}
