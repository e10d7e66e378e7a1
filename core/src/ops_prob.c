/* ops_prob.c — distribution ops: the reparameterised Gaussian sample, the KL to N(0, I) and the
 * log-likelihoods (Bernoulli, Gaussian, Laplace, categorical) summed per sample -> [B].
 *
 * Per-sample sums are accumulated in double: D is often thousands (784 pixels, 3072 for CIFAR) and
 * these values feed the loss directly. */
#include "ops_internal.h"

#include <math.h>

#define MVAE_LOG_2PI 1.8378770664093454836 /* log(2 pi) */
#define MVAE_LOG_2 0.69314718055994530942

/* ---- helpers ------------------------------------------------------------------------------ */

/* The per-sample layout of a [B, ...] tensor: B rows of D elements. */
static int64_t rows_of(const mvae_tensor *t) { return t->shape[0]; }
static int64_t cols_of(const mvae_tensor *t) { return t->n / t->shape[0]; }

/* How a scale tensor (logvar, logscale) is laid out against the value tensor `ref` [B, ...]:
 * one value per element (same shape), one per feature (shape ref.shape[1:], or [D] flattened),
 * or a single value ([1]). */
enum { SCALE_NONE = 0, SCALE_FULL = 1, SCALE_FEATURE = 2, SCALE_SCALAR = 3 };

static int scale_mode(const mvae_tensor *s, const mvae_tensor *ref) {
    if (!s) return SCALE_NONE;
    if (mvae_shape_eq(s, ref)) return SCALE_FULL;
    int64_t D = cols_of(ref);
    if (s->ndim == 1 && s->shape[0] == D) return SCALE_FEATURE;
    if (s->ndim == ref->ndim - 1) {
        int same = 1;
        for (int i = 0; i < s->ndim; i++) same &= s->shape[i] == ref->shape[i + 1];
        if (same) return SCALE_FEATURE;
    }
    if (s->n == 1) return SCALE_SCALAR;
    return -1;
}

/* Index of the scale value for element i (row-major over ref, D elements per row). */
static inline int64_t scale_index(int mode, int64_t i, int64_t D) {
    return mode == SCALE_FULL ? i : mode == SCALE_FEATURE ? i % D : 0;
}

/* ---- gaussian_sample: mu + exp(0.5 logvar) * eps ------------------------------------------ */

mvae_tensor *mvae_gaussian_sample(mvae_ctx *ctx, mvae_tensor *mu, mvae_tensor *logvar,
                                  mvae_tensor *eps) {
    MVAE_CHECK_INPUT(ctx, "gaussian_sample", mu);
    MVAE_CHECK_INPUT(ctx, "gaussian_sample", logvar);
    MVAE_CHECK_INPUT(ctx, "gaussian_sample", eps);
    MVAE_CHECK_F32(ctx, "gaussian_sample", mu);
    MVAE_CHECK_F32(ctx, "gaussian_sample", logvar);
    MVAE_CHECK_F32(ctx, "gaussian_sample", eps);
    char s0[MVAE_SHAPE_STR_LEN], s1[MVAE_SHAPE_STR_LEN], s2[MVAE_SHAPE_STR_LEN];
    if (!mvae_shape_eq(mu, logvar) || !mvae_shape_eq(mu, eps))
        return mvae_ctx_fail(ctx, "gaussian_sample: mu %s, logvar %s and eps %s must have the same shape",
                             MVAE_SHP(mu, s0), MVAE_SHP(logvar, s1), MVAE_SHP(eps, s2));
    /* eps is a constant: it is kept as a source for backward but never gets a gradient */
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_GAUSSIAN_SAMPLE, mu->ndim, mu->shape, mu, logvar,
                                      NULL, NULL);
    if (!out) return NULL;
    mvae_op_attach_source(out, 2, eps);
    for (int64_t i = 0; i < mu->n; i++)
        out->data[i] = mu->data[i] + mvae_expf(0.5f * logvar->data[i]) * eps->data[i];
    return out;
}

void mvae_bw_gaussian_sample(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *mu = out->src[0], *logvar = out->src[1], *eps = out->src[2];
    const float *G = out->grad;
    float *gmu = mvae_grad(ctx, mu), *glv = mvae_grad(ctx, logvar);
    if (gmu)
        for (int64_t i = 0; i < out->n; i++) gmu[i] += G[i];
    if (glv) /* d/dlv = 0.5 exp(0.5 lv) eps */
        for (int64_t i = 0; i < out->n; i++)
            glv[i] += G[i] * 0.5f * mvae_expf(0.5f * logvar->data[i]) * eps->data[i];
}

/* ---- kl_normal: -0.5 sum(1 + lv - mu^2 - exp(lv)) -> [B] ----------------------------------- */

mvae_tensor *mvae_kl_normal(mvae_ctx *ctx, mvae_tensor *mu, mvae_tensor *logvar) {
    MVAE_CHECK_INPUT(ctx, "kl_normal", mu);
    MVAE_CHECK_INPUT(ctx, "kl_normal", logvar);
    MVAE_CHECK_F32(ctx, "kl_normal", mu);
    MVAE_CHECK_F32(ctx, "kl_normal", logvar);
    char s0[MVAE_SHAPE_STR_LEN], s1[MVAE_SHAPE_STR_LEN];
    if (!mvae_shape_eq(mu, logvar))
        return mvae_ctx_fail(ctx, "kl_normal: mu %s and logvar %s must have the same shape",
                             MVAE_SHP(mu, s0), MVAE_SHP(logvar, s1));
    int64_t B = rows_of(mu), D = cols_of(mu);
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_KL_NORMAL, 1, (int64_t[]){B}, mu, logvar, NULL, NULL);
    if (!out) return NULL;
    float *e = mvae_ctx_alloc(ctx, (size_t)D * sizeof(float));
    for (int64_t b = 0; b < B; b++) {
        const float *m = mu->data + b * D, *lv = logvar->data + b * D;
        for (int64_t j = 0; j < D; j++) e[j] = mvae_expf(lv[j]); /* vectorised; the sum in double */
        double s = 0;
        for (int64_t j = 0; j < D; j++) s += 1.0 + lv[j] - (double)m[j] * m[j] - e[j];
        out->data[b] = (float)(-0.5 * s);
    }
    return out;
}

void mvae_bw_kl_normal(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *mu = out->src[0], *logvar = out->src[1];
    int64_t B = rows_of(mu), D = cols_of(mu);
    float *gmu = mvae_grad(ctx, mu), *glv = mvae_grad(ctx, logvar); /* the same block when mu is logvar */
    const float *restrict m = mu->data, *restrict lv = logvar->data;
    for (int64_t b = 0; b < B; b++) {
        const float g = out->grad[b];
        const int64_t j0 = b * D;
        if (gmu)
            for (int64_t j = 0; j < D; j++) gmu[j0 + j] += g * m[j0 + j];
        if (glv)
            for (int64_t j = 0; j < D; j++) glv[j0 + j] += g * 0.5f * (mvae_expf(lv[j0 + j]) - 1.0f);
    }
}

/* ---- bernoulli_logp: sum(x l - softplus(l)) -> [B] ----------------------------------------- */

/* The Bernoulli kernel, shared with cbernoulli_logp (ops_divergence.c), which adds a per-element
 * log-normaliser c(l) (ops_internal.h). */
mvae_tensor *mvae_bernoulli_logp_kernel(mvae_ctx *ctx, int op, const char *name, mvae_tensor *logits,
                                        mvae_tensor *x, double (*log_norm)(double)) {
    MVAE_CHECK_INPUT(ctx, name, logits);
    MVAE_CHECK_INPUT(ctx, name, x);
    MVAE_CHECK_F32(ctx, name, logits);
    MVAE_CHECK_F32(ctx, name, x);
    char s0[MVAE_SHAPE_STR_LEN], s1[MVAE_SHAPE_STR_LEN];
    /* x may have fewer rows than logits (R = k * Bx): row r is scored against x row r mod Bx —
     * the targets of k draws per sample, without copying them k times */
    bool tail_eq = logits->ndim == x->ndim;
    for (int d = 1; tail_eq && d < x->ndim; d++) tail_eq = logits->shape[d] == x->shape[d];
    if (!tail_eq || logits->shape[0] % x->shape[0] != 0)
        return mvae_ctx_fail(ctx, "%s: logits %s and x %s must have the same shape (or x "
                             "fewer rows, dividing the logits' rows)", name, MVAE_SHP(logits, s0), MVAE_SHP(x, s1));
    int64_t B = rows_of(logits), D = cols_of(logits), Bx = rows_of(x);
    /* x is data: it is a source for backward only, so a gradient never flows into it */
    mvae_tensor *out = mvae_op_output(ctx, op, 1, (int64_t[]){B}, logits, NULL, NULL, NULL);
    if (!out) return NULL;
    mvae_op_attach_source(out, 1, x);
    if (log_norm) { /* every term in double: log C(l) is a double-precision series near l = 0 */
        for (int64_t b = 0; b < B; b++) {
            const float *l = logits->data + b * D, *xv = x->data + (b % Bx) * D;
            double s = 0;
            for (int64_t j = 0; j < D; j++) s += (double)xv[j] * l[j] - mvae_softplusf(l[j]) + log_norm(l[j]);
            out->data[b] = (float)s;
        }
        return out;
    }
    float *tmp = mvae_ctx_alloc(ctx, (size_t)D * sizeof(float));
    for (int64_t b = 0; b < B; b++) {
        const float *l = logits->data + b * D, *xv = x->data + (b % Bx) * D;
        /* elementwise terms first (a loop GCC vectorises), then a 16-lane sum */
        for (int64_t j = 0; j < D; j++) tmp[j] = xv[j] * l[j] - mvae_softplusf(l[j]);
        double s = mvae_sum_lanes(tmp, D);
        out->data[b] = (float)s;
    }
    return out;
}

void mvae_bernoulli_logp_kernel_bw(mvae_ctx *ctx, mvae_tensor *out, double (*log_norm_grad)(double)) {
    mvae_tensor *logits = out->src[0], *x = out->src[1];
    float *gl = mvae_grad(ctx, logits);
    if (!gl) return;
    int64_t B = rows_of(logits), D = cols_of(logits), Bx = rows_of(x);
    for (int64_t b = 0; b < B; b++) {
        float g = out->grad[b];
        const float *xv = x->data + (b % Bx) * D, *l = logits->data + b * D;
        float *gb = gl + b * D;
        if (log_norm_grad)
            for (int64_t j = 0; j < D; j++) gb[j] += g * (xv[j] - mvae_sigmoidf(l[j]) + (float)log_norm_grad(l[j]));
        else /* kept apart: without the call GCC vectorises it */
            for (int64_t j = 0; j < D; j++) gb[j] += g * (xv[j] - mvae_sigmoidf(l[j]));
    }
}

mvae_tensor *mvae_bernoulli_logp(mvae_ctx *ctx, mvae_tensor *logits, mvae_tensor *x) {
    return mvae_bernoulli_logp_kernel(ctx, MVAE_OP_BERNOULLI_LOGP, "bernoulli_logp", logits, x, NULL);
}

void mvae_bw_bernoulli_logp(mvae_ctx *ctx, mvae_tensor *out) { mvae_bernoulli_logp_kernel_bw(ctx, out, NULL); }

/* The shared checks of gaussian_logp and laplace_logp (x, a location and an optional log-scale
 * that broadcasts to it). Returns the scale's broadcast mode, or -1 after recording the error. */
static int loc_scale_check(mvae_ctx *ctx, const char *op, const char *loc_name, const char *scale_name,
                           mvae_tensor *x, mvae_tensor *loc, mvae_tensor *scale) {
    char s0[MVAE_SHAPE_STR_LEN], s1[MVAE_SHAPE_STR_LEN], s2[MVAE_SHAPE_STR_LEN];
    if (x->dtype != MVAE_F32 || loc->dtype != MVAE_F32 || (scale && scale->dtype != MVAE_F32)) {
        mvae_ctx_fail(ctx, "%s: x, %s and %s must be float32", op, loc_name, scale_name);
        return -1;
    }
    if (!mvae_shape_eq(x, loc)) {
        mvae_ctx_fail(ctx, "%s: x %s and %s %s must have the same shape", op, MVAE_SHP(x, s0), loc_name,
                      MVAE_SHP(loc, s1));
        return -1;
    }
    int mode = scale_mode(scale, loc);
    if (mode < 0)
        mvae_ctx_fail(ctx, "%s: %s %s does not broadcast to %s %s (expected the same shape, %s's shape "
                      "without the batch dim, [%lld] or [1])",
                      op, scale_name, MVAE_SHP(scale, s2), loc_name, MVAE_SHP(loc, s1), loc_name,
                      (long long)cols_of(loc));
    return mode;
}

/* ---- gaussian_logp: -0.5 sum(log 2pi + lv + (x-mu)^2 e^-lv) -> [B] ------------------------- */

mvae_tensor *mvae_gaussian_logp(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *mu, mvae_tensor *logvar) {
    MVAE_CHECK_INPUT(ctx, "gaussian_logp", x);
    MVAE_CHECK_INPUT(ctx, "gaussian_logp", mu);
    int mode = loc_scale_check(ctx, "gaussian_logp", "mu", "logvar", x, mu, logvar);
    if (mode < 0) return NULL;
    int64_t B = rows_of(mu), D = cols_of(mu);
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_GAUSSIAN_LOGP, 1, (int64_t[]){B}, x, mu, logvar, NULL);
    if (!out) return NULL;
    out->ip[0] = mode;
    for (int64_t b = 0; b < B; b++) {
        double s = 0;
        for (int64_t i = b * D; i < (b + 1) * D; i++) {
            double lv = logvar ? logvar->data[scale_index(mode, i, D)] : 0.0;
            double d = (double)x->data[i] - mu->data[i];
            s += MVAE_LOG_2PI + lv + d * d * exp(-lv);
        }
        out->data[b] = (float)(-0.5 * s);
    }
    return out;
}

void mvae_bw_gaussian_logp(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *x = out->src[0], *mu = out->src[1], *logvar = out->src[2];
    int mode = out->ip[0];
    int64_t B = rows_of(mu), D = cols_of(mu);
    float *gx = mvae_grad(ctx, x), *gmu = mvae_grad(ctx, mu);
    float *glv = logvar ? mvae_grad(ctx, logvar) : NULL;
    for (int64_t b = 0; b < B; b++) {
        float g = out->grad[b];
        for (int64_t i = b * D; i < (b + 1) * D; i++) {
            int64_t k = scale_index(mode, i, D);
            float iv = logvar ? mvae_expf(-logvar->data[k]) : 1.0f; /* 1 / variance */
            float d = x->data[i] - mu->data[i];
            if (gmu) gmu[i] += g * d * iv;
            if (gx) gx[i] -= g * d * iv;
            if (glv) glv[k] += g * 0.5f * (d * d * iv - 1.0f);
        }
    }
}

/* ---- laplace_logp: sum(-log 2 - ls - |x-loc| e^-ls) -> [B] --------------------------------- */

mvae_tensor *mvae_laplace_logp(mvae_ctx *ctx, mvae_tensor *x, mvae_tensor *loc, mvae_tensor *logscale) {
    MVAE_CHECK_INPUT(ctx, "laplace_logp", x);
    MVAE_CHECK_INPUT(ctx, "laplace_logp", loc);
    int mode = loc_scale_check(ctx, "laplace_logp", "loc", "logscale", x, loc, logscale);
    if (mode < 0) return NULL;
    int64_t B = rows_of(loc), D = cols_of(loc);
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_LAPLACE_LOGP, 1, (int64_t[]){B}, x, loc, logscale, NULL);
    if (!out) return NULL;
    out->ip[0] = mode;
    for (int64_t b = 0; b < B; b++) {
        double s = 0;
        for (int64_t i = b * D; i < (b + 1) * D; i++) {
            double ls = logscale ? logscale->data[scale_index(mode, i, D)] : 0.0;
            s += -MVAE_LOG_2 - ls - fabs((double)x->data[i] - loc->data[i]) * exp(-ls);
        }
        out->data[b] = (float)s;
    }
    return out;
}

void mvae_bw_laplace_logp(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *x = out->src[0], *loc = out->src[1], *logscale = out->src[2];
    int mode = out->ip[0];
    int64_t B = rows_of(loc), D = cols_of(loc);
    float *gx = mvae_grad(ctx, x), *gloc = mvae_grad(ctx, loc);
    float *gls = logscale ? mvae_grad(ctx, logscale) : NULL;
    for (int64_t b = 0; b < B; b++) {
        float g = out->grad[b];
        for (int64_t i = b * D; i < (b + 1) * D; i++) {
            int64_t k = scale_index(mode, i, D);
            float is = logscale ? mvae_expf(-logscale->data[k]) : 1.0f; /* 1 / scale */
            float d = x->data[i] - loc->data[i];
            float sgn = d > 0 ? 1.0f : d < 0 ? -1.0f : 0.0f; /* subgradient 0 at the kink */
            if (gloc) gloc[i] += g * sgn * is;
            if (gx) gx[i] -= g * sgn * is;
            if (gls) gls[k] += g * (fabsf(d) * is - 1.0f);
        }
    }
}

/* ---- categorical_logp: log softmax(logits)[idx] -> [B] ------------------------------------- */
/* logits [B,K] + idx [B], or logits [B,T,K] + idx [B,T] summed over T (idx < 0 = padding).
 * aux keeps logsumexp per row (B*T floats) for backward. */

mvae_tensor *mvae_categorical_logp(mvae_ctx *ctx, mvae_tensor *logits, mvae_tensor *idx) {
    MVAE_CHECK_INPUT(ctx, "categorical_logp", logits);
    MVAE_CHECK_INPUT(ctx, "categorical_logp", idx);
    MVAE_CHECK_F32(ctx, "categorical_logp", logits);
    char s0[MVAE_SHAPE_STR_LEN], s1[MVAE_SHAPE_STR_LEN];
    if (idx->dtype != MVAE_I32)
        return mvae_ctx_fail(ctx, "categorical_logp: idx %s must be int32 class indices, got float32",
                             MVAE_SHP(idx, s1));
    bool seq = logits->ndim == 3;
    bool ok = (logits->ndim == 2 && idx->ndim == 1 && idx->shape[0] == logits->shape[0]) ||
              (seq && idx->ndim == 2 && idx->shape[0] == logits->shape[0] &&
               idx->shape[1] == logits->shape[1]);
    if (!ok)
        return mvae_ctx_fail(ctx, "categorical_logp: logits %s and idx %s: expected logits [B,K] with "
                             "idx [B], or logits [B,T,K] with idx [B,T]",
                             MVAE_SHP(logits, s0), MVAE_SHP(idx, s1));
    int64_t B = logits->shape[0], T = seq ? logits->shape[1] : 1, K = logits->shape[logits->ndim - 1];
    const int32_t *ix = mvae_i32(idx);
    for (int64_t r = 0; r < B * T; r++) {
        /* padding (idx < 0) only makes sense between sequence positions */
        if (ix[r] >= K || (ix[r] < 0 && !seq)) {
            if (seq)
                return mvae_ctx_fail(ctx, "categorical_logp: idx[%lld,%lld] = %d is out of range for "
                                     "logits %s (expected 0..%lld, or < 0 for padding)",
                                     (long long)(r / T), (long long)(r % T), (int)ix[r],
                                     MVAE_SHP(logits, s0), (long long)(K - 1));
            return mvae_ctx_fail(ctx, "categorical_logp: idx[%lld] = %d is out of range for logits %s "
                                 "(expected 0..%lld)",
                                 (long long)r, (int)ix[r], MVAE_SHP(logits, s0), (long long)(K - 1));
        }
    }
    mvae_tensor *out = mvae_op_output(ctx, MVAE_OP_CATEGORICAL_LOGP, 1, (int64_t[]){B}, logits, NULL,
                                      NULL, NULL);
    if (!out) return NULL;
    mvae_op_attach_source(out, 1, idx);
    float *lse = mvae_ctx_alloc(ctx, (size_t)(B * T) * sizeof(float));
    out->aux = lse;
    for (int64_t b = 0; b < B; b++) {
        double s = 0;
        for (int64_t t = 0; t < T; t++) {
            int64_t r = b * T + t;
            if (ix[r] < 0) continue;
            const float *l = logits->data + r * K;
            float mx = l[0];
            for (int64_t k = 1; k < K; k++) mx = l[k] > mx ? l[k] : mx;
            double z = 0;
            for (int64_t k = 0; k < K; k++) z += exp((double)l[k] - mx);
            double ls = mx + log(z);
            lse[r] = (float)ls;
            s += l[ix[r]] - ls;
        }
        out->data[b] = (float)s;
    }
    return out;
}

void mvae_bw_categorical_logp(mvae_ctx *ctx, mvae_tensor *out) {
    mvae_tensor *logits = out->src[0], *idx = out->src[1];
    float *gl = mvae_grad(ctx, logits);
    if (!gl) return;
    const float *lse = out->aux;
    const int32_t *ix = mvae_i32(idx);
    int64_t B = logits->shape[0], T = logits->ndim == 3 ? logits->shape[1] : 1;
    int64_t K = logits->shape[logits->ndim - 1];
    for (int64_t r = 0; r < B * T; r++) {
        if (ix[r] < 0) continue;
        float g = out->grad[r / T];
        const float *l = logits->data + r * K;
        float *gr = gl + r * K;
        /* d/dl_k = 1[k = idx] - softmax_k */
        for (int64_t k = 0; k < K; k++) gr[k] -= g * mvae_expf(l[k] - lse[r]);
        gr[ix[r]] += g;
    }
}
