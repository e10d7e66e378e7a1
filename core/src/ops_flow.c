/* ops_flow.c — the ops of normalising flows (RealNVP: Dinh et al. 2017; Glow: Kingma & Dhariwal
 * 2018): the affine coupling, its log-determinant, the bounded scale and actnorm, each with its
 * inverse as a plain function (no gradient: sampling runs the flow backwards without a tape).
 *
 * Layout: every tensor is [R, ...] with D = n / R features per row; a mask or a per-feature
 * parameter holds D values (any shape with D elements). Per-row sums are accumulated in double,
 * as the likelihoods do (D is 784 for a Fashion-MNIST image). */
#include "ops_internal.h"

#include <math.h>

static int64_t cols(const mvae_tensor *t) { return t->n / t->shape[0]; }

/* ---- affine_coupling: y = m x + (1 - m) (x e^s + t) ----------------------------------------- */

mvae_tensor *mvae_affine_coupling(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *s, mvae_tensor *t,
                                  mvae_tensor *mask) {
    MVAE_CHECK_INPUT(ctx, "affine_coupling", x);
    MVAE_CHECK_INPUT(ctx, "affine_coupling", s);
    MVAE_CHECK_INPUT(ctx, "affine_coupling", t);
    MVAE_CHECK_INPUT(ctx, "affine_coupling", mask);
    MVAE_CHECK_F32(ctx, "affine_coupling", x);
    MVAE_CHECK_F32(ctx, "affine_coupling", s);
    MVAE_CHECK_F32(ctx, "affine_coupling", t);
    MVAE_CHECK_F32(ctx, "affine_coupling", mask);
    char s0[MVAE_SHAPE_STR_LEN], s1[MVAE_SHAPE_STR_LEN], s2[MVAE_SHAPE_STR_LEN], s3[MVAE_SHAPE_STR_LEN];
    if (!mvae_shape_eq(x, s) || !mvae_shape_eq(x, t) || mask->n != cols(x))
        return mvae_ctx_fail(ctx, "affine_coupling: x %s, s %s and t %s must have the same shape and the mask %s "
                             "one value per feature of a row",
                             MVAE_SHP(x, s0), MVAE_SHP(s, s1), MVAE_SHP(t, s2), MVAE_SHP(mask, s3));
    if (mvae_needs_grad(mask)) return mvae_ctx_fail(ctx, "affine_coupling: the mask is a constant (no gradient)");
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_AFFINE_COUPLING, x->ndim, x->shape, x, s, t, NULL);
    if (!out) return NULL;
    mvae_op_attach_source(out, 3, mask);
    const int64_t R = x->shape[0], D = cols(x);
    const float *m = mask->data;
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x->data + r * D, *sr = s->data + r * D, *tr = t->data + r * D;
        float *yr = out->data + r * D;
        for (int64_t j = 0; j < D; j++)
            yr[j] = m[j] * xr[j] + (1.0f - m[j]) * (xr[j] * mvae_expf(sr[j]) + tr[j]);
    }
    return out;
}

void mvae_bw_affine_coupling(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *x = out->src[0], *s = out->src[1], *t = out->src[2], *mask = out->src[3];
    float *gx = mvae_grad(ctx, x), *gs = mvae_grad(ctx, s), *gt = mvae_grad(ctx, t);
    const int64_t R = x->shape[0], D = cols(x);
    const float *m = mask->data, *G = out->grad;
    for (int64_t r = 0; r < R; r++) {
        const int64_t o = r * D;
        for (int64_t j = 0; j < D; j++) {
            const float g = G[o + j], e = mvae_expf(s->data[o + j]), u = 1.0f - m[j];
            if (gx) gx[o + j] += g * (m[j] + u * e);         /* dy/dx */
            if (gs) gs[o + j] += g * u * x->data[o + j] * e; /* dy/ds */
            if (gt) gt[o + j] += g * u;                      /* dy/dt */
        }
    }
}

mvae_tensor *mvae_affine_coupling_inverse(mvae_ctx *ctx, mvae_tensor *y, mvae_tensor *s, mvae_tensor *t,
                                          mvae_tensor *mask) {
    MVAE_CHECK_INPUT(ctx, "affine_coupling_inverse", y);
    MVAE_CHECK_INPUT(ctx, "affine_coupling_inverse", s);
    MVAE_CHECK_INPUT(ctx, "affine_coupling_inverse", t);
    MVAE_CHECK_INPUT(ctx, "affine_coupling_inverse", mask);
    char s0[MVAE_SHAPE_STR_LEN], s1[MVAE_SHAPE_STR_LEN], s2[MVAE_SHAPE_STR_LEN], s3[MVAE_SHAPE_STR_LEN];
    if (!mvae_shape_eq(y, s) || !mvae_shape_eq(y, t) || mask->n != cols(y))
        return mvae_ctx_fail(ctx, "affine_coupling_inverse: y %s, s %s and t %s must have the same shape and the "
                             "mask %s one value per feature of a row",
                             MVAE_SHP(y, s0), MVAE_SHP(s, s1), MVAE_SHP(t, s2), MVAE_SHP(mask, s3));
    mvae_tensor *out = mvae_tensor_new(ctx, y->ndim, y->shape);
    if (!out) return NULL;
    const int64_t R = y->shape[0], D = cols(y);
    const float *m = mask->data;
    for (int64_t r = 0; r < R; r++) {
        const float *yr = y->data + r * D, *sr = s->data + r * D, *tr = t->data + r * D;
        float *xr = out->data + r * D;
        /* the masked half passes through, so s and t (computed from it) are the forward's */
        for (int64_t j = 0; j < D; j++)
            xr[j] = m[j] * yr[j] + (1.0f - m[j]) * ((yr[j] - tr[j]) * mvae_expf(-sr[j]));
    }
    return out;
}

/* ---- coupling_logdet: ld[r] = sum_j (1 - m_j) s[r, j] -> [R] ------------------------------- */

mvae_tensor *mvae_coupling_logdet(mvae_ctx *ctx, mvae_tensor *s, mvae_tensor *mask) {
    MVAE_CHECK_INPUT(ctx, "coupling_logdet", s);
    MVAE_CHECK_INPUT(ctx, "coupling_logdet", mask);
    MVAE_CHECK_F32(ctx, "coupling_logdet", s);
    MVAE_CHECK_F32(ctx, "coupling_logdet", mask);
    char s0[MVAE_SHAPE_STR_LEN], s1[MVAE_SHAPE_STR_LEN];
    if (mask->n != cols(s))
        return mvae_ctx_fail(ctx, "coupling_logdet: s %s and the mask %s: the mask needs one value per feature of a row",
                             MVAE_SHP(s, s0), MVAE_SHP(mask, s1));
    if (mvae_needs_grad(mask)) return mvae_ctx_fail(ctx, "coupling_logdet: the mask is a constant (no gradient)");
    const int64_t R = s->shape[0], D = cols(s);
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_COUPLING_LOGDET, 1, (int64_t[]){R}, s, NULL, NULL, NULL);
    if (!out) return NULL;
    mvae_op_attach_source(out, 1, mask);
    for (int64_t r = 0; r < R; r++) {
        double acc = 0;
        for (int64_t j = 0; j < D; j++) acc += (double)(1.0f - mask->data[j]) * s->data[r * D + j];
        out->data[r] = (float)acc;
    }
    return out;
}

void mvae_bw_coupling_logdet(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *s = out->src[0], *mask = out->src[1];
    float *gs = mvae_grad(ctx, s);
    if (!gs) return;
    const int64_t R = s->shape[0], D = cols(s);
    for (int64_t r = 0; r < R; r++)
        for (int64_t j = 0; j < D; j++) gs[r * D + j] += out->grad[r] * (1.0f - mask->data[j]);
}

/* ---- soft_clamp: c tanh(x / c), a scale bounded to (-c, c) and ~x near 0 -------------------- */

mvae_tensor *mvae_soft_clamp(mvae_ctx *ctx, mvae_tensor *a, float bound) {
    MVAE_CHECK_INPUT(ctx, "soft_clamp", a);
    MVAE_CHECK_F32(ctx, "soft_clamp", a);
    if (!(bound > 0.0f) || !isfinite(bound))
        return mvae_ctx_fail(ctx, "soft_clamp: the bound must be a positive finite number, got %g", (double)bound);
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_SOFT_CLAMP, a->ndim, a->shape, a, NULL, NULL, NULL);
    if (!out) return NULL;
    out->fp[0] = bound;
    for (int64_t i = 0; i < a->n; i++) out->data[i] = bound * tanhf(a->data[i] / bound);
    return out;
}

void mvae_bw_soft_clamp(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *a = out->src[0];
    float *ga = mvae_grad(ctx, a);
    if (!ga) return;
    const float c = out->fp[0];
    for (int64_t i = 0; i < a->n; i++) { /* d/dx c tanh(x/c) = 1 - tanh^2(x/c), from x (out may be recycled) */
        const float th = tanhf(a->data[i] / c);
        ga[i] += out->grad[i] * (1.0f - th * th);
    }
}

/* ---- actnorm: y = (x + b) e^logs, per feature ----------------------------------------------- */

mvae_tensor *mvae_actnorm(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *bias, mvae_tensor *logscale) {
    MVAE_CHECK_INPUT(ctx, "actnorm", x);
    MVAE_CHECK_INPUT(ctx, "actnorm", bias);
    MVAE_CHECK_INPUT(ctx, "actnorm", logscale);
    MVAE_CHECK_F32(ctx, "actnorm", x);
    MVAE_CHECK_F32(ctx, "actnorm", bias);
    MVAE_CHECK_F32(ctx, "actnorm", logscale);
    char s0[MVAE_SHAPE_STR_LEN], s1[MVAE_SHAPE_STR_LEN], s2[MVAE_SHAPE_STR_LEN];
    if (bias->n != cols(x) || logscale->n != cols(x))
        return mvae_ctx_fail(ctx, "actnorm: x %s, bias %s and logscale %s: bias and logscale need one value per "
                             "feature of a row", MVAE_SHP(x, s0), MVAE_SHP(bias, s1), MVAE_SHP(logscale, s2));
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_ACTNORM, x->ndim, x->shape, x, bias, logscale, NULL);
    if (!out) return NULL;
    const int64_t R = x->shape[0], D = cols(x);
    float *e = mvae_ctx_alloc(ctx, (size_t)D * sizeof(float));
    for (int64_t j = 0; j < D; j++) e[j] = mvae_expf(logscale->data[j]);
    for (int64_t r = 0; r < R; r++)
        for (int64_t j = 0; j < D; j++) out->data[r * D + j] = (x->data[r * D + j] + bias->data[j]) * e[j];
    return out;
}

void mvae_bw_actnorm(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *x = out->src[0], *bias = out->src[1], *logscale = out->src[2];
    float *gx = mvae_grad(ctx, x), *gb = mvae_grad(ctx, bias), *gl = mvae_grad(ctx, logscale);
    const int64_t R = x->shape[0], D = cols(x);
    for (int64_t j = 0; j < D; j++) {
        const float e = mvae_expf(logscale->data[j]), b = bias->data[j];
        double sb = 0, sl = 0;
        for (int64_t r = 0; r < R; r++) {
            const float g = out->grad[r * D + j];
            if (gx) gx[r * D + j] += g * e;
            sb += (double)g * e;
            sl += (double)g * (x->data[r * D + j] + b) * e;
        }
        if (gb) gb[j] += (float)sb;
        if (gl) gl[j] += (float)sl;
    }
}

mvae_tensor *mvae_actnorm_inverse(mvae_ctx *ctx, mvae_tensor *y, mvae_tensor *bias, mvae_tensor *logscale) {
    MVAE_CHECK_INPUT(ctx, "actnorm_inverse", y);
    MVAE_CHECK_INPUT(ctx, "actnorm_inverse", bias);
    MVAE_CHECK_INPUT(ctx, "actnorm_inverse", logscale);
    char s0[MVAE_SHAPE_STR_LEN], s1[MVAE_SHAPE_STR_LEN];
    if (bias->n != cols(y) || logscale->n != cols(y))
        return mvae_ctx_fail(ctx, "actnorm_inverse: y %s and bias %s: one value per feature of a row",
                             MVAE_SHP(y, s0), MVAE_SHP(bias, s1));
    mvae_tensor *out = mvae_tensor_new(ctx, y->ndim, y->shape);
    if (!out) return NULL;
    const int64_t R = y->shape[0], D = cols(y);
    for (int64_t r = 0; r < R; r++)
        for (int64_t j = 0; j < D; j++)
            out->data[r * D + j] = y->data[r * D + j] * mvae_expf(-logscale->data[j]) - bias->data[j];
    return out;
}
