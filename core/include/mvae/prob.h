/* mvae/prob.h — the likelihood interface and the built-in likelihoods, Gaussian helpers.
 *
 *   int lik; mvae_likelihood_parse("bernoulli", &lik, &err);
 *   mvae_tensor *logits = decoder->forward(dec, ctx, z);           // [B, 1, 28, 28]
 *   mvae_tensor *lp = mvae_likelihood_logp(ctx, lik, logits, x, 1.0f);   // [B]: log p(x | z)
 *
 * Likelihoods (decoder output -> distribution):
 *   bernoulli   : logits, p = sigmoid(logits); x in [0,1] (grey levels as soft targets, like
 *                 PyTorch's binary_cross_entropy_with_logits)
 *   gaussian    : mean; fixed standard deviation `scale`
 *   laplace     : location; fixed scale `scale`
 *   continuous_bernoulli : logits; the continuous Bernoulli density on [0,1] (Loaiza-Ganem &
 *                 Cunningham 2019): bernoulli's terms plus the log-normaliser log C(lambda) per
 *                 value, so grey levels get a proper density; its mean is not sigmoid(logits)
 *   categorical : logits [B, K] over K classes; x holds class indices (int32). For token
 *                 sequences, logits [B, T, V] and x [B, T] with -1 padding (summed over T).
 */
#ifndef MVAE_PROB_H
#define MVAE_PROB_H
#include "mvae/ops.h"
#ifdef __cplusplus
extern "C" {
#endif
typedef enum mvae_likelihood {
    MVAE_LIK_BERNOULLI = 1,
    MVAE_LIK_GAUSSIAN = 2,
    MVAE_LIK_LAPLACE = 3,
    MVAE_LIK_CATEGORICAL = 4,
    MVAE_LIK_CONTINUOUS_BERNOULLI = 5,
} mvae_likelihood;
extern const char *const mvae_likelihood_names[]; /* NULL-terminated */
int mvae_likelihood_parse(const char *name, int *lik, mvae_error *err);
const char *mvae_likelihood_name(int lik);
/* log p(x | params) per sample [B]. x: F32 with params' shape (bernoulli, gaussian, laplace) or
 * I32 indices (categorical). */
mvae_tensor *mvae_likelihood_logp(mvae_ctx *ctx, int lik, mvae_tensor *params, mvae_tensor *x,
                                  float scale);
/* The distribution's mean, for pictures: sigmoid(logits) for bernoulli, the continuous Bernoulli's mean, the mean/location for
 * gaussian/laplace (clamped to [0,1] when clamp), softmax probabilities for categorical.
 * out has params->n elements. */
void mvae_likelihood_mean(int lik, const mvae_tensor *params, float *out, bool clamp);
/* argmax over the last dim: params [B, K] -> out[B]. */
void mvae_argmax_rows(const float *x, int64_t rows, int64_t k, int32_t *out);
#ifdef __cplusplus
}
#endif
#endif
