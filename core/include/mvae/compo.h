/* mvae/compo.h — the compositionality probe's measures on fixed representations
 * (docs/results/compositionality.md): items carry a representation (e.g. the mean of q(z | image))
 * and the values of n_factors factors (e.g. role, gender, skin tone); the seen items (the training
 * split) fit every measure, the unseen ones (held-out combinations) score it.
 *
 *   mvae_compo_result r;
 *   mvae_compo_probe(mu_seen, f_seen, n_seen, mu_unseen, f_unseen, n_unseen, 64, 3, n_values, &r, &e);
 *   // r.probe[a]: unseen accuracy of a linear probe for factor a; r.tre_rel: held-out TRE / baseline
 *
 * - Linear probe per factor: mvae_logreg_fit (L2 1e-4, 500 L-BFGS iterations, features standardised
 *   on the seen items) on the seen items, accuracy on the unseen ones; majority[a]: the accuracy of
 *   always answering the seen items' most frequent value.
 * - TRE (mvae/tre.h) with additive composition over the factor values (one primitive per value of
 *   each factor), on representations standardised per dimension with the seen items' mean and
 *   standard deviation (so that models with differently scaled latents compare): embeddings fitted
 *   on the seen items (L1, RMSprop, 400 steps), then tre_l1 = the unseen items' mean L1 error per
 *   dimension; tre_base = their mean L1 norm per dimension (the error of predicting the seen mean,
 *   0 after standardisation); tre_rel = tre_l1 / tre_base (0: exactly additive, 1: the factors
 *   explain nothing); tre_fit = the seen items' error per dimension; tre_cos: the same fit with the
 *   cosine distance, unseen mean.
 */
#ifndef MVAE_COMPO_H
#define MVAE_COMPO_H
#include "mvae/common.h"
#ifdef __cplusplus
extern "C" {
#endif
#define MVAE_COMPO_MAX_FACTORS 8
typedef struct mvae_compo_result {
    int n_factors;
    double probe[MVAE_COMPO_MAX_FACTORS];    /* unseen accuracy of the linear probe per factor */
    double majority[MVAE_COMPO_MAX_FACTORS]; /* unseen accuracy of the seen majority value */
    double tre_l1, tre_base, tre_rel, tre_fit, tre_cos;
} mvae_compo_result;
/* X* [n, d] row-major; f* [n, n_factors] values in [0, n_values[a]). */
int mvae_compo_probe(const float *Xs, const int32_t *fs, int64_t ns, const float *Xu, const int32_t *fu, int64_t nu, int d,
                     int n_factors, const int *n_values, mvae_compo_result *out, mvae_error *err);
#ifdef __cplusplus
}
#endif
#endif
