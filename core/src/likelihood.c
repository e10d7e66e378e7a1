/* likelihood.c — the built-in likelihoods over the distribution ops. */
#include "mvae/prob.h"

#include <math.h>
#include <string.h>


const char *const mvae_likelihood_names[] = {"bernoulli", "gaussian", "laplace", "categorical", "continuous_bernoulli", NULL};

int mvae_likelihood_parse(const char *name, int *lik, mvae_error *err) {
    for (int i = 0; mvae_likelihood_names[i]; i++)
        if (strcmp(name, mvae_likelihood_names[i]) == 0) {
            *lik = i + 1;
            return MVAE_OK;
        }
    const char *near = mvae_nearest(name, mvae_likelihood_names, MVAE_LIK_CONTINUOUS_BERNOULLI);
    return mvae_error_set(err, MVAE_ERR_INVALID,
                          "unknown likelihood '%s'%s%s%s; choose one of bernoulli, gaussian, laplace, "
                          "categorical, continuous_bernoulli", name, near ? " (did you mean '" : "", near ? near : "",
                          near ? "'?)" : "");
}

const char *mvae_likelihood_name(int lik) {
    return (lik >= 1 && lik <= MVAE_LIK_CONTINUOUS_BERNOULLI) ? mvae_likelihood_names[lik - 1] : "?";
}

mvae_tensor *mvae_likelihood_logp(mvae_ctx *ctx, int lik, mvae_tensor *params, mvae_tensor *x,
                                  float scale) {
    if (!params || !x) return mvae_ctx_fail(ctx, "likelihood: NULL input");
    /* Targets may have fewer rows than the parameters (k draws per sample, draw-major): Bernoulli
     * scores them in place; the other likelihoods get the targets repeated. */
    int64_t Rp = params->shape[0], Rx = x->shape[0];
    if (Rx != Rp && (Rx < 1 || Rp % Rx != 0))
        return mvae_ctx_fail(ctx, "likelihood: %lld parameter rows for %lld target rows", (long long)Rp, (long long)Rx);
    int64_t per = params->n / Rp;
    switch (lik) {
    case MVAE_LIK_BERNOULLI:
    case MVAE_LIK_CONTINUOUS_BERNOULLI: {
        if (x->n / Rx != per)
            return mvae_ctx_fail(ctx, "%s likelihood: targets have %lld values per row, the decoder "
                                 "gives %lld", mvae_likelihood_name(lik), (long long)(x->n / Rx), (long long)per);
        int64_t shape[4];
        for (int d = 0; d < params->ndim; d++) shape[d] = params->shape[d];
        shape[0] = Rx;
        mvae_tensor *xv = mvae_tensor_wrap(ctx, params->ndim, shape, x->data);
        return lik == MVAE_LIK_BERNOULLI ? mvae_bernoulli_logp(ctx, params, xv) : mvae_cbernoulli_logp(ctx, params, xv);
    }
    case MVAE_LIK_GAUSSIAN:
    case MVAE_LIK_LAPLACE: {
        mvae_tensor *xv = Rx != Rp ? mvae_tile_rows(ctx, x, (int)(Rp / Rx)) : x;
        if (xv && xv->n == params->n && !mvae_shape_eq(xv, params))
            xv = mvae_tensor_wrap(ctx, params->ndim, params->shape, xv->data);
        float lv = 2.0f * logf(scale > 0 ? scale : 1.0f);
        if (lik == MVAE_LIK_GAUSSIAN) {
            mvae_tensor *logvar = mvae_tensor_fill(ctx, 1, (int64_t[]){params->shape[params->ndim - 1]}, lv);
            return mvae_gaussian_logp(ctx, xv, params, logvar);
        }
        mvae_tensor *ls = mvae_tensor_fill(ctx, 1, (int64_t[]){params->shape[params->ndim - 1]}, 0.5f * lv);
        return mvae_laplace_logp(ctx, xv, params, ls);
    }
    case MVAE_LIK_CATEGORICAL: {
        if (x->dtype != MVAE_I32) return mvae_ctx_fail(ctx, "categorical likelihood: targets must be int32 class indices");
        if (Rx != Rp) x = mvae_tile_rows(ctx, x, (int)(Rp / Rx));
        if (!x) return NULL;
        mvae_tensor *idx = x;
        if (params->ndim == 2 && x->n == params->shape[0] && x->ndim != 1) {
            idx = mvae_tensor_wrap(ctx, 1, (int64_t[]){params->shape[0]}, x->data);
            idx->dtype = MVAE_I32;
        }
        return mvae_categorical_logp(ctx, params, idx);
    }
    default: return mvae_ctx_fail(ctx, "likelihood: unknown kind %d", lik);
    }
}

void mvae_likelihood_mean(int lik, const mvae_tensor *params, float *out, bool clamp) {
    const float *p = params->data;
    int64_t n = params->n;
    switch (lik) {
    case MVAE_LIK_BERNOULLI:
        for (int64_t i = 0; i < n; i++) out[i] = 1.0f / (1.0f + expf(-p[i]));
        break;
    case MVAE_LIK_CONTINUOUS_BERNOULLI: /* its mean is not sigmoid(l): lambda is not the mean */
        for (int64_t i = 0; i < n; i++) out[i] = (float)mvae_cbernoulli_mean(p[i]);
        break;
    case MVAE_LIK_CATEGORICAL: {
        int64_t k = params->shape[params->ndim - 1], rows = n / k;
        for (int64_t r = 0; r < rows; r++) {
            const float *row = p + r * k;
            float m = row[0], s = 0;
            for (int64_t j = 1; j < k; j++) m = row[j] > m ? row[j] : m;
            for (int64_t j = 0; j < k; j++) s += (out[r * k + j] = expf(row[j] - m));
            for (int64_t j = 0; j < k; j++) out[r * k + j] /= s;
        }
        break;
    }
    default:
        for (int64_t i = 0; i < n; i++) {
            float v = p[i];
            if (clamp) v = v < 0 ? 0 : (v > 1 ? 1 : v);
            out[i] = v;
        }
    }
}

void mvae_argmax_rows(const float *x, int64_t rows, int64_t k, int32_t *out) {
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * k;
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (row[j] > row[best]) best = j;
        out[r] = (int32_t)best;
    }
}
