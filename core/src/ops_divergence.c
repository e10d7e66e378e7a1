/* ops_divergence.c — the distribution ops the objectives table added (objective_jmvae.c,
 * objective_vaevae.c, the continuous_bernoulli likelihood): the KL between two diagonal Gaussians
 * and the continuous Bernoulli log-density, each summed per sample -> [B].
 *
 * Per-sample sums are accumulated in double, as in ops_prob.c. */
#include "ops_internal.h"

#include <math.h>

#define LN2 0.69314718055994530942

static int64_t rows_of(const mvae_tensor *t) { return t->shape[0]; }
static int64_t cols_of(const mvae_tensor *t) { return t->n / t->shape[0]; }

/* ---- kl_gaussians: 0.5 sum(lv2 - lv1 + (e^lv1 + (mu1-mu2)^2) e^-lv2 - 1) -> [B] ----------- */

mvae_tensor *mvae_kl_gaussians(mvae_ctx *ctx, mvae_tensor *mu1, mvae_tensor *lv1, mvae_tensor *mu2,
                               mvae_tensor *lv2) {
    MVAE_CHECK_INPUT(ctx, "kl_gaussians", mu1);
    MVAE_CHECK_INPUT(ctx, "kl_gaussians", lv1);
    MVAE_CHECK_INPUT(ctx, "kl_gaussians", mu2);
    MVAE_CHECK_INPUT(ctx, "kl_gaussians", lv2);
    MVAE_CHECK_F32(ctx, "kl_gaussians", mu1);
    MVAE_CHECK_F32(ctx, "kl_gaussians", lv1);
    MVAE_CHECK_F32(ctx, "kl_gaussians", mu2);
    MVAE_CHECK_F32(ctx, "kl_gaussians", lv2);
    char s0[MVAE_SHAPE_STR_LEN], s1[MVAE_SHAPE_STR_LEN], s2[MVAE_SHAPE_STR_LEN], s3[MVAE_SHAPE_STR_LEN];
    if (!mvae_shape_eq(mu1, lv1) || !mvae_shape_eq(mu1, mu2) || !mvae_shape_eq(mu1, lv2))
        return mvae_ctx_fail(ctx, "kl_gaussians: mu1 %s, logvar1 %s, mu2 %s and logvar2 %s must have the same shape",
                             MVAE_SHP(mu1, s0), MVAE_SHP(lv1, s1), MVAE_SHP(mu2, s2), MVAE_SHP(lv2, s3));
    int64_t B = rows_of(mu1), D = cols_of(mu1);
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_KL_GAUSSIANS, 1, (int64_t[]){B}, mu1, lv1, mu2, lv2);
    if (!out) return NULL;
    for (int64_t b = 0; b < B; b++) {
        double s = 0;
        for (int64_t i = b * D; i < (b + 1) * D; i++) {
            double d = (double)mu1->data[i] - mu2->data[i], a = lv1->data[i], c = lv2->data[i];
            s += c - a + (exp(a) + d * d) * exp(-c) - 1.0;
        }
        out->data[b] = (float)(0.5 * s);
    }
    return out;
}

void mvae_bw_kl_gaussians(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *mu1 = out->src[0], *lv1 = out->src[1], *mu2 = out->src[2], *lv2 = out->src[3];
    int64_t B = rows_of(mu1), D = cols_of(mu1);
    /* any two inputs may be the same tensor: each write accumulates into whatever block it gets */
    float *g1 = mvae_grad(ctx, mu1), *gl1 = mvae_grad(ctx, lv1), *g2 = mvae_grad(ctx, mu2), *gl2 = mvae_grad(ctx, lv2);
    for (int64_t b = 0; b < B; b++) {
        const float g = out->grad[b];
        for (int64_t i = b * D; i < (b + 1) * D; i++) {
            float d = mu1->data[i] - mu2->data[i], ic = expf(-lv2->data[i]), ea = expf(lv1->data[i]);
            if (g1) g1[i] += g * d * ic;                                 /* dKL/dmu1 = (mu1 - mu2) / var2 */
            if (g2) g2[i] -= g * d * ic;
            if (gl1) gl1[i] += g * 0.5f * (ea * ic - 1.0f);              /* 0.5 (var1 / var2 - 1) */
            if (gl2) gl2[i] += g * 0.5f * (1.0f - (ea + d * d) * ic);    /* 0.5 (1 - (var1 + d^2) / var2) */
        }
    }
}

/* ---- cbernoulli_logp: sum(x l - softplus(l) + log C(l)) -> [B] ----------------------------- */

/* With lambda = sigmoid(l): 1 - 2 lambda = -tanh(l/2) and artanh(1 - 2 lambda) = -l/2, so the
 * normaliser C(lambda) = 2 artanh(1 - 2 lambda) / (1 - 2 lambda) (Loaiza-Ganem & Cunningham 2019,
 * eq. 7) is l / tanh(l/2), an even function of l with C = 2 at l = 0. In lambda the formula is
 * 0/0 at 1/2 and loses every digit near it; in logits only l = 0 itself is 0/0, and the series
 *   log(u / tanh u) = u^2/3 - 7 u^4/90 + 62 u^6/2835 - 127 u^8/18900 + ...,   u = l/2
 * takes over below |u| = 0.05, where its first omitted term is < 1e-13 of the value. */
double mvae_cbernoulli_log_norm(double l) {
    double u = 0.5 * fabs(l);
    if (u < 0.05) {
        double u2 = u * u;
        return LN2 + u2 * (1.0 / 3 + u2 * (-7.0 / 90 + u2 * (62.0 / 2835 - u2 * 127.0 / 18900)));
    }
    /* u / tanh u for u >= 0.05: tanh is accurate; for large u tanh -> 1 and the value is log(l) */
    return LN2 + log(u / tanh(u));
}

/* d log C / dl = 1/l - 1/sinh(l) (odd in l); near 0 its series l/6 - 7 l^3/360 + 31 l^5/15120. */
double mvae_cbernoulli_log_norm_grad(double l) {
    double a = fabs(l);
    if (a < 0.1) {
        double l2 = l * l;
        return l * (1.0 / 6 + l2 * (-7.0 / 360 + l2 * (31.0 / 15120)));
    }
    return 1.0 / l - 1.0 / sinh(l); /* sinh overflows to inf above ~710: 1/inf = 0, the limit */
}

/* E[x] = lambda / (2 lambda - 1) + 1 / (2 artanh(1 - 2 lambda)) = 1/2 + (coth(l/2) - 2/l) / 2;
 * near 0: 1/2 + l/12 - l^3/720. */
double mvae_cbernoulli_mean(double l) {
    if (fabs(l) < 1e-2) return 0.5 + l / 12.0 - l * l * l / 720.0;
    return 0.5 + 0.5 * (1.0 / tanh(0.5 * l) - 2.0 / l);
}

/* the Bernoulli kernel of ops_prob.c with log C(l) added per element (and d log C / dl to the
 * gradient) */
mvae_tensor *mvae_cbernoulli_logp(mvae_ctx *ctx, mvae_tensor *logits, mvae_tensor *x) {
    return mvae_bernoulli_logp_kernel(ctx, MVAE_OP_CBERNOULLI_LOGP, "cbernoulli_logp", logits, x,
                                      mvae_cbernoulli_log_norm);
}

void mvae_bw_cbernoulli_logp(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_bernoulli_logp_kernel_bw(ctx, out, mvae_cbernoulli_log_norm_grad);
}
